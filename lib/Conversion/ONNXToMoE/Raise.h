//===- Raise.h - shared pieces of the MoE raising patterns ------*- C++ -*-===//

#ifndef MOE_LIB_CONVERSION_ONNXTOMOE_RAISE_H
#define MOE_LIB_CONVERSION_ONNXTOMOE_RAISE_H

#include "moe/Dialect/ONNX/IR/ONNX.h"

#include "mlir/IR/PatternMatch.h"
#include "llvm/Support/raw_ostream.h"

#include <string>

namespace moe {
namespace detail {

/// Reports why `node`, which looked like an MoE layer, was not raised: as a
/// remark on the node when remarks are on. Always yields failure().
class NearMiss {
public:
  NearMiss(mlir::Operation *node, bool remarks)
      : node(node), remarks(remarks) {}

  mlir::LogicalResult operator()(const llvm::Twine &reason) const {
    if (remarks)
      node->emitRemark("not raised: ") << reason;
    return mlir::failure();
  }

private:
  mlir::Operation *node;
  bool remarks;
};

/// A type as it prints, for messages.
inline std::string typeStr(mlir::Type type) {
  std::string s;
  llvm::raw_string_ostream os(s);
  type.print(os);
  return s;
}

/// Raises one com.microsoft.MoE node; failure leaves the IR unchanged.
mlir::LogicalResult raiseContribMoE(onnx::NodeOp node,
                                    mlir::RewriterBase &rewriter, bool remarks);

} // namespace detail
} // namespace moe

#endif // MOE_LIB_CONVERSION_ONNXTOMOE_RAISE_H
