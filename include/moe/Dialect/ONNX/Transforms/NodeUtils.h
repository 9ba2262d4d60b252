//===- NodeUtils.h - what passes over onnx.node need to know ----*- C++ -*-===//
//
// Shared by shape inference and the lowerings: the operator set version a
// node is written in, and how to name a node in a diagnostic.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_DIALECT_ONNX_TRANSFORMS_NODEUTILS_H
#define MOE_DIALECT_ONNX_TRANSFORMS_NODEUTILS_H

#include "moe/Dialect/ONNX/IR/ONNX.h"

#include <optional>
#include <string>

namespace moe::onnx {

/// The newest default-domain operator set whose semantics the passes know.
/// A module without `onnx.opset_import` (hand-written IR) is read as this.
inline constexpr int64_t kLatestOpset = 23;

/// The version of `node`'s domain that the enclosing module imports, or
/// nullopt if the module does not say.
std::optional<int64_t> getOpsetVersion(NodeOp node);

/// The ONNX node name: the op's location name, or "" if it has none.
std::string getNodeName(NodeOp node);

/// "onnx node 'name' (domain OpType)" (no domain for the default set), the
/// prefix of every diagnostic about a node.
std::string describeNode(NodeOp node);

/// The values of a constant integer tensor (an onnx.constant, an
/// arith.constant or anything else that folds to one), or nullopt when it
/// is not a constant or its data is not available (an elided resource).
std::optional<llvm::SmallVector<int64_t>> getConstantInts(mlir::Value value);

/// The values of a constant floating-point tensor, like getConstantInts.
std::optional<llvm::SmallVector<double>> getConstantFloats(mlir::Value value);

} // namespace moe::onnx

#endif // MOE_DIALECT_ONNX_TRANSFORMS_NODEUTILS_H
