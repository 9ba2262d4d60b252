//===- Passes.h - helper passes of the moe pipelines ------------*- C++ -*-===//

#ifndef MOE_PIPELINES_PASSES_H
#define MOE_PIPELINES_PASSES_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Pass/Pass.h"

#include "llvm/ADT/StringRef.h"

namespace moe {

/// Discardable attribute (a TypeAttr holding the tensor FunctionType) that
/// moe-prepare-entry-points puts on each entry point and that the LLVM
/// lowering carries over to the llvm.func.
inline constexpr llvm::StringLiteral kEntrySignatureAttrName =
    "moe.entry_signature";

#define GEN_PASS_DECL
#include "moe/Pipelines/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "moe/Pipelines/Passes.h.inc"

} // namespace moe

#endif // MOE_PIPELINES_PASSES_H
