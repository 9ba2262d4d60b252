//===- InferContractions.cpp - MatMul and Gemm ----------------------------===//

#include "InferenceContext.h"

using namespace mlir;
using namespace moe::onnx;
using namespace moe::onnx::infer;

/// Static dims that must agree (a contraction's K): error if both static
/// and different.
static LogicalResult checkSame(InferenceContext &ctx, int64_t a, int64_t b,
                               StringRef what) {
  if (!ShapedType::isDynamic(a) && !ShapedType::isDynamic(b) && a != b)
    return ctx.emitError() << what << " " << a << " vs " << b;
  return success();
}

/// numpy matmul: 1-D operands gain and lose a dim, batch dims broadcast.
static LogicalResult inferMatMul(InferenceContext &ctx) {
  auto a = ctx.getRanked(0), b = ctx.getRanked(1);
  if (!a || !b)
    return success();
  if (a.getRank() == 0 || b.getRank() == 0)
    return ctx.emitError() << "operands must have rank >= 1";
  SmallVector<int64_t> aShape(a.getShape()), bShape(b.getShape());
  bool vecA = aShape.size() == 1, vecB = bShape.size() == 1;
  if (vecA)
    aShape.insert(aShape.begin(), 1);
  if (vecB)
    bShape.push_back(1);
  int64_t m = aShape[aShape.size() - 2], k = aShape.back();
  int64_t kb = bShape[bShape.size() - 2], n = bShape.back();
  if (failed(checkSame(ctx, k, kb, "inner dimensions differ:")))
    return failure();
  auto batch = broadcastShapes(ArrayRef(aShape).drop_back(2),
                               ArrayRef(bShape).drop_back(2));
  if (failed(batch))
    return ctx.emitError() << "batch dimensions of " << a << " and " << b
                           << " do not broadcast";
  SmallVector<int64_t> shape(*batch);
  if (!vecA)
    shape.push_back(m);
  if (!vecB)
    shape.push_back(n);
  ctx.setResult(0, shape, a.getElementType());
  return success();
}

/// Gemm: alpha * A' B' + beta * C with A' [M,K], B' [K,N]; C broadcasts.
static LogicalResult inferGemm(InferenceContext &ctx) {
  auto a = ctx.getRanked(0), b = ctx.getRanked(1);
  if (!a || !b)
    return success();
  if (a.getRank() != 2 || b.getRank() != 2)
    return ctx.emitError() << "A and B must be 2-D, they are " << a << " and "
                           << b;
  bool transA = ctx.getIntAttr("transA", 0),
       transB = ctx.getIntAttr("transB", 0);
  int64_t m = a.getDimSize(transA ? 1 : 0), k = a.getDimSize(transA ? 0 : 1);
  int64_t kb = b.getDimSize(transB ? 1 : 0), n = b.getDimSize(transB ? 0 : 1);
  if (failed(checkSame(ctx, k, kb, "inner dimensions differ:")))
    return failure();
  SmallVector<int64_t> shape = {m, n};
  if (auto c = ctx.getRanked(2)) {
    auto out = broadcastShapes(shape, c.getShape());
    if (failed(out) || out->size() != 2)
      return ctx.emitError() << "C " << c << " does not broadcast to [" << m
                             << ", " << n << "]";
    shape = *out;
  }
  ctx.setResult(0, shape, a.getElementType());
  return success();
}

void moe::onnx::infer::registerContractionInference(InferenceTable &table) {
  table.add({"MatMul"}, inferMatMul);
  table.add({"Gemm"}, inferGemm);
}
