//===- InferContribOps.cpp - onnxruntime contrib ops and GatherND ---------===//
//
// The com.microsoft operators MoE exports use: MoE and QMoE keep the input's
// type (SimplifiedLayerNormalization shares LayerNormalization's rule).
// GatherND lives here as the other gather that MoE exports (dynamo's row
// selection) produce.
//
//===----------------------------------------------------------------------===//

#include "InferenceContext.h"

#include "mlir/IR/BuiltinTypes.h"

#include <algorithm>

using namespace mlir;
using namespace moe::onnx::infer;

static std::string dimString(int64_t d) {
  return ShapedType::isDynamic(d) ? std::string("?") : std::to_string(d);
}

/// com.microsoft MoE / QMoE: input [T, H] or [B, S, H], router_probs [T, E],
/// fc1 [E, ., .]; the output has the input's type.
static LogicalResult inferContribMoE(InferenceContext &ctx) {
  RankedTensorType input = ctx.getRanked(0);
  RankedTensorType probs = ctx.getRanked(1);
  RankedTensorType fc1 = ctx.getRanked(2);
  if (!input)
    return success();
  if (input.getRank() != 2 && input.getRank() != 3)
    return ctx.emitError() << "input must be [tokens, hidden] or [batch, seq, "
                              "hidden], got rank "
                           << input.getRank();
  if (probs && probs.getRank() != 2)
    return ctx.emitError()
           << "router_probs must be [tokens, experts], got rank "
           << probs.getRank();
  if (fc1 && fc1.getRank() != 3)
    return ctx.emitError() << "fc1_experts_weights must be [experts, ., .], "
                              "got rank "
                           << fc1.getRank();
  int64_t hidden = input.getShape().back();
  bool quantized = ctx.getNode().getOpType() == "QMoE";
  int64_t bits = ctx.getIntAttr("expert_weight_bits", 4);
  if (quantized && bits != 2 && bits != 4 && bits != 8)
    return ctx.emitError() << "expert_weight_bits must be 2, 4 or 8, got "
                           << bits;
  // QMoE packs 8 / bits weights per byte along the input dimension.
  int64_t pack = quantized ? 8 / bits : 1;
  if (quantized && fc1 && !ShapedType::isDynamic(hidden) &&
      !ShapedType::isDynamic(fc1.getDimSize(2)) &&
      fc1.getDimSize(2) * pack != hidden)
    return ctx.emitError() << "fc1_experts_weights " << fc1 << " packs "
                           << fc1.getDimSize(2) * pack
                           << " inputs per row but the hidden size is "
                           << hidden;
  if (!quantized && fc1 && !ShapedType::isDynamic(hidden) &&
      !ShapedType::isDynamic(fc1.getDimSize(1)) &&
      !ShapedType::isDynamic(fc1.getDimSize(2)) &&
      fc1.getDimSize(1) != hidden && fc1.getDimSize(2) != hidden)
    return ctx.emitError() << "fc1_experts_weights " << fc1
                           << " reads the hidden size " << hidden
                           << " in neither layout ([E, out, in] or [E, in, "
                              "out])";
  if (probs && fc1) {
    int64_t experts = fc1.getDimSize(0), routed = probs.getDimSize(1);
    if (!ShapedType::isDynamic(experts) && !ShapedType::isDynamic(routed) &&
        experts != routed)
      return ctx.emitError()
             << "router_probs scores " << routed
             << " experts but fc1_experts_weights holds " << experts;
    int64_t k = ctx.getIntAttr("k", 1);
    if (!ShapedType::isDynamic(routed) && (k < 1 || k > routed))
      return ctx.emitError()
             << "k = " << k << " must be in [1, " << routed << "]";
  }
  ctx.setResult(0, input);
  return success();
}

/// GatherND(data [r], indices [q], batch_dims b):
/// indices.shape[:-1] + data.shape[b + indices.shape[-1]:].
static LogicalResult inferGatherND(InferenceContext &ctx) {
  RankedTensorType data = ctx.getRanked(0);
  RankedTensorType indices = ctx.getRanked(1);
  if (!data || !indices)
    return success();
  int64_t batch = ctx.getIntAttr("batch_dims", 0);
  if (indices.getRank() < 1)
    return ctx.emitError() << "indices must have rank >= 1";
  if (batch < 0 || batch >= std::min(data.getRank(), indices.getRank()))
    return ctx.emitError() << "batch_dims = " << batch
                           << " must be less than both ranks ("
                           << data.getRank() << ", " << indices.getRank()
                           << ")";
  int64_t last = indices.getShape().back();
  if (ShapedType::isDynamic(last))
    return success();
  if (batch + last > data.getRank())
    return ctx.emitError() << "indices address " << last
                           << " dims after batch_dims = " << batch
                           << " but data has rank " << data.getRank();
  for (int64_t i = 0; i < batch; ++i) {
    int64_t a = data.getDimSize(i), b = indices.getDimSize(i);
    if (!ShapedType::isDynamic(a) && !ShapedType::isDynamic(b) && a != b)
      return ctx.emitError()
             << "batch dim " << i << " differs: " << dimString(a) << " vs "
             << dimString(b);
  }
  SmallVector<int64_t> shape(indices.getShape().drop_back());
  llvm::append_range(shape, data.getShape().drop_front(batch + last));
  ctx.setResult(0, shape, data.getElementType());
  return success();
}

void moe::onnx::infer::registerContribInference(InferenceTable &table) {
  table.add("com.microsoft", "MoE", inferContribMoE);
  table.add("com.microsoft", "QMoE", inferContribMoE);
  table.add({"GatherND"}, inferGatherND);
}
