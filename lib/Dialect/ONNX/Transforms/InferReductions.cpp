//===- InferReductions.cpp - operators that reduce or select along axes ---===//

#include "InferenceContext.h"

#include "mlir/IR/Builders.h"

using namespace mlir;
using namespace moe::onnx;
using namespace moe::onnx::infer;

/// The opset in which each Reduce* operator's axes became an input.
static int64_t axesInputSince(StringRef opType) {
  return opType == "ReduceSum" ? 13 : 18;
}

/// Reduce*(data, axes?) with keepdims and noop_with_empty_axes.
static LogicalResult inferReduce(InferenceContext &ctx) {
  auto data = ctx.getRanked(0);
  if (!data)
    return success();
  int64_t rank = data.getRank();
  IntList axes = ctx.getIntsAttrOrInput(
      "axes", 1, axesInputSince(ctx.getNode().getOpType()));
  bool keepDims = ctx.getIntAttr("keepdims", 1) != 0;
  if (axes.present && !axes.isKnown()) {
    if (keepDims)
      ctx.setResult(0, SmallVector<int64_t>(rank, ShapedType::kDynamic),
                    data.getElementType());
    return success();
  }
  SmallVector<int64_t> reduced;
  if (axes.present && !axes.values->empty()) {
    for (int64_t axis : *axes.values) {
      auto a = ctx.normalizeAxis(axis, rank);
      if (failed(a))
        return failure();
      reduced.push_back(*a);
    }
  } else if (ctx.getIntAttr("noop_with_empty_axes", 0) == 0) {
    reduced = llvm::to_vector(llvm::seq<int64_t>(0, rank));
  }
  SmallVector<int64_t> shape;
  for (auto [i, d] : llvm::enumerate(data.getShape())) {
    if (!llvm::is_contained(reduced, (int64_t)i))
      shape.push_back(d);
    else if (keepDims)
      shape.push_back(1);
  }
  ctx.setResult(0, shape, data.getElementType());
  return success();
}

/// ArgMax/ArgMin: one axis, keepdims, int64 indices.
static LogicalResult inferArgReduce(InferenceContext &ctx) {
  auto data = ctx.getRanked(0);
  if (!data)
    return success();
  auto axis = ctx.normalizeAxis(ctx.getIntAttr("axis", 0), data.getRank());
  if (failed(axis))
    return failure();
  SmallVector<int64_t> shape(data.getShape());
  if (ctx.getIntAttr("keepdims", 1) != 0)
    shape[*axis] = 1;
  else
    shape.erase(shape.begin() + *axis);
  ctx.setResult(0, shape, IntegerType::get(data.getContext(), 64));
  return success();
}

/// TopK(X, K): values and int64 indices with `axis` cut to K.
static LogicalResult inferTopK(InferenceContext &ctx) {
  auto data = ctx.getRanked(0);
  if (!data)
    return success();
  auto axis = ctx.normalizeAxis(ctx.getIntAttr("axis", -1), data.getRank());
  if (failed(axis))
    return failure();
  int64_t k = ShapedType::kDynamic;
  // K was an attribute in opset 1 and is a 1-element input since opset 10.
  if (ctx.getOpset() < 10 || !ctx.hasInput(1)) {
    k = ctx.getIntAttr("k", ShapedType::kDynamic);
  } else if (auto values = ctx.getStaticInts(1)) {
    if (values->size() != 1)
      return ctx.emitError()
             << "K must have one element, it has " << values->size();
    k = (*values)[0];
  }
  int64_t dim = data.getDimSize(*axis);
  if (!ShapedType::isDynamic(k) && !ShapedType::isDynamic(dim) && k > dim)
    return ctx.emitError() << "K = " << k << " exceeds the axis size " << dim;
  SmallVector<int64_t> shape(data.getShape());
  shape[*axis] = k;
  ctx.setResult(0, shape, data.getElementType());
  ctx.setResult(1, shape, IntegerType::get(data.getContext(), 64));
  return success();
}

/// LayerNormalization and SimplifiedLayerNormalization: Y like X; the
/// statistics keep the leading dims and are 1 from `axis` on, in the stash
/// type (f32 by default).
static LogicalResult inferLayerNorm(InferenceContext &ctx) {
  auto data = ctx.getRanked(0);
  if (!data)
    return success();
  auto axis = ctx.normalizeAxis(ctx.getIntAttr("axis", -1), data.getRank());
  if (failed(axis))
    return failure();
  ctx.setResult(0, data);
  SmallVector<int64_t> stats(data.getShape());
  for (int64_t i = *axis; i < data.getRank(); ++i)
    stats[i] = 1;
  Type stash = getElementTypeForONNXCode(data.getContext(),
                                         ctx.getIntAttr("stash_type", 1));
  if (!stash)
    return ctx.emitError() << "unsupported stash_type";
  // LayerNormalization has Mean and InvStdDev, SimplifiedLayerNormalization
  // (RMSNorm) only the inverse standard deviation.
  for (unsigned i = 1, e = ctx.getNode().getOutputs().size(); i < e; ++i)
    ctx.setResult(i, stats, stash);
  return success();
}

void moe::onnx::infer::registerReductionInference(InferenceTable &table) {
  table.add({"ReduceMax", "ReduceMin", "ReduceSum", "ReduceMean", "ReduceProd",
             "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp",
             "ReduceSumSquare"},
            inferReduce);
  table.add({"ArgMax", "ArgMin"}, inferArgReduce);
  table.add({"TopK"}, inferTopK);
  table.add({"LayerNormalization"}, inferLayerNorm);
  // onnxruntime registers SimplifiedLayerNormalization in the default
  // domain; some exporters put it in com.microsoft.
  table.add({"SimplifiedLayerNormalization"}, inferLayerNorm);
  table.add("com.microsoft", "SimplifiedLayerNormalization", inferLayerNorm);
}
