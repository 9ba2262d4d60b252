//===- RaiseExpertLoop.cpp - per-expert loops -> moe ops ------------------===//

#include "Match.h"

using namespace mlir;
using namespace moe;
using namespace moe::detail;

LogicalResult
moe::detail::raiseExpertLoop(onnx::NodeOp topk, RewriterBase &rewriter,
                             bool remarks,
                             SmallVectorImpl<RaisedLayer> &layers) {
  return failure();
}
