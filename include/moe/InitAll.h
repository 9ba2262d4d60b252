//===- InitAll.h - register every moe-opt dialect and pass ------*- C++ -*-===//

#ifndef MOE_INITALL_H
#define MOE_INITALL_H

namespace mlir {
class DialectRegistry;
} // namespace mlir

namespace moe {

/// Adds the moe dialect and the upstream dialects our pipelines use.
void registerAllDialects(mlir::DialectRegistry &registry);

/// Registers every moe-opt pass and pipeline with the global registry.
void registerAllPasses();

} // namespace moe

#endif // MOE_INITALL_H
