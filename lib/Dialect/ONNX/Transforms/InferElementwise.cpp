//===- InferElementwise.cpp - unary, broadcasting and cast operators ------===//
//
// Elementwise operators keep or broadcast their inputs' shapes. The integer
// ones also compute on KnownInts, so that arithmetic on a tensor's shape
// (seq * heads, dim / 2) stays known.
//
//===----------------------------------------------------------------------===//

#include "InferenceContext.h"

#include "mlir/IR/Builders.h"

using namespace mlir;
using namespace moe::onnx;
using namespace moe::onnx::infer;

/// Result 0 is input 0's type (also for unranked tensors).
static LogicalResult inferSameAsInput(InferenceContext &ctx) {
  if (auto type = ctx.getRanked(0))
    ctx.setResult(0, type);
  if (auto ints = ctx.getInts(0))
    ctx.setResultInts(0, *ints);
  return success();
}

/// Dropout: the data and, if asked for, a boolean mask of the same shape.
static LogicalResult inferDropout(InferenceContext &ctx) {
  auto type = ctx.getRanked(0);
  if (!type)
    return success();
  ctx.setResult(0, type);
  ctx.setResult(1, type.getShape(), IntegerType::get(type.getContext(), 1));
  return success();
}

/// The broadcast shape of every present input, or nullopt if some input is
/// not ranked yet.
static FailureOr<std::optional<SmallVector<int64_t>>>
broadcastInputs(InferenceContext &ctx, unsigned first = 0) {
  SmallVector<int64_t> shape;
  for (unsigned i = first, e = ctx.getNumInputs(); i < e; ++i) {
    if (!ctx.hasInput(i))
      continue;
    auto type = ctx.getRanked(i);
    if (!type)
      return std::optional<SmallVector<int64_t>>();
    auto next = broadcastShapes(shape, type.getShape());
    if (failed(next)) {
      return ctx.emitError()
             << "input shapes [" << shape << "] and [" << type.getShape()
             << "] (input #" << i << ") do not broadcast";
    }
    shape = *next;
  }
  return std::optional<SmallVector<int64_t>>(shape);
}

/// Integer arithmetic on known elements, numpy-broadcast over 1-D lists.
static std::optional<SmallVector<int64_t>>
foldKnownInts(InferenceContext &ctx, int64_t (*fn)(int64_t, int64_t)) {
  auto lhs = ctx.getInts(0), rhs = ctx.getInts(1);
  if (!lhs || !rhs || lhs->empty() || rhs->empty())
    return std::nullopt;
  if (lhs->size() != rhs->size() && lhs->size() != 1 && rhs->size() != 1)
    return std::nullopt;
  size_t n = std::max(lhs->size(), rhs->size());
  SmallVector<int64_t> out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t a = (*lhs)[lhs->size() == 1 ? 0 : i];
    int64_t b = (*rhs)[rhs->size() == 1 ? 0 : i];
    out[i] = ShapedType::isDynamic(a) || ShapedType::isDynamic(b)
                 ? ShapedType::kDynamic
                 : fn(a, b);
  }
  return out;
}

template <int64_t (*Fn)(int64_t, int64_t)>
static LogicalResult inferArithmetic(InferenceContext &ctx) {
  auto shape = broadcastInputs(ctx);
  if (failed(shape))
    return failure();
  if (*shape)
    ctx.setResult(0, **shape, ctx.getElementType(0));
  if (ctx.getElementType(0) && ctx.getElementType(0).isInteger(64))
    if (auto ints = foldKnownInts(ctx, Fn))
      ctx.setResultInts(0, *ints);
  return success();
}

static int64_t addInts(int64_t a, int64_t b) { return a + b; }
static int64_t subInts(int64_t a, int64_t b) { return a - b; }
static int64_t mulInts(int64_t a, int64_t b) { return a * b; }
static int64_t divInts(int64_t a, int64_t b) {
  return b == 0 ? ShapedType::kDynamic : a / b;
}
/// Pow, Max, ...: no shape arithmetic uses them; their elements are unknown.
static int64_t noFold(int64_t, int64_t) { return ShapedType::kDynamic; }

/// Comparisons and logic produce booleans of the broadcast shape.
static LogicalResult inferPredicate(InferenceContext &ctx) {
  auto shape = broadcastInputs(ctx);
  if (failed(shape))
    return failure();
  if (*shape)
    ctx.setResult(0, **shape, IntegerType::get(ctx.getNode().getContext(), 1));
  return success();
}

/// Where(cond, x, y): the broadcast of all three, x's element type.
static LogicalResult inferWhere(InferenceContext &ctx) {
  auto shape = broadcastInputs(ctx);
  if (failed(shape))
    return failure();
  Type x = ctx.getElementType(1), y = ctx.getElementType(2);
  if (x && y && x != y)
    return ctx.emitError() << "X has element type " << x << " but Y has " << y;
  if (*shape)
    ctx.setResult(0, **shape, x ? x : y);
  return success();
}

/// Cast: the input's shape, the element type of attribute `to`.
static LogicalResult inferCast(InferenceContext &ctx) {
  auto to = ctx.getIntAttr("to");
  if (!to)
    return ctx.emitError() << "needs the attribute 'to'";
  Type element = getElementTypeForONNXCode(ctx.getNode().getContext(), *to);
  if (!element)
    return ctx.emitError() << "casts to ONNX data type " << *to
                           << ", which has no tensor element type here";
  if (auto type = ctx.getRanked(0))
    ctx.setResult(0, type.getShape(), element);
  // Casting shape arithmetic between integer types keeps the values.
  if (isa<IntegerType>(element))
    if (auto ints = ctx.getInts(0))
      ctx.setResultInts(0, *ints);
  return success();
}

/// CastLike: the input's shape, the second input's element type.
static LogicalResult inferCastLike(InferenceContext &ctx) {
  if (auto type = ctx.getRanked(0))
    ctx.setResult(0, type.getShape(), ctx.getElementType(1));
  return success();
}

void moe::onnx::infer::registerElementwiseInference(InferenceTable &table) {
  table.add({"Sqrt",       "Exp",        "Log",      "Neg",      "Abs",
             "Reciprocal", "Erf",        "Tanh",     "Sigmoid",  "Relu",
             "Softmax",    "LogSoftmax", "Identity", "Floor",    "Ceil",
             "Round",      "Sin",        "Cos",      "Sign",     "Gelu",
             "LeakyRelu",  "Elu",        "Selu",     "Softplus", "HardSigmoid",
             "HardSwish",  "Mish",       "Clip",     "CumSum",   "Not",
             "BitwiseNot", "Trilu"},
            inferSameAsInput);
  // IsNaN/IsInf answer booleans.
  table.add({"IsNaN", "IsInf"}, [](InferenceContext &ctx) {
    if (auto type = ctx.getRanked(0))
      ctx.setResult(0, type.getShape(),
                    IntegerType::get(ctx.getNode().getContext(), 1));
    return success();
  });
  table.add({"Dropout"}, inferDropout);
  table.add({"Add"}, inferArithmetic<addInts>);
  table.add({"Sub"}, inferArithmetic<subInts>);
  table.add({"Mul"}, inferArithmetic<mulInts>);
  table.add({"Div"}, inferArithmetic<divInts>);
  table.add({"Pow", "Mod", "Max", "Min", "Mean", "Sum", "BitwiseAnd",
             "BitwiseOr", "BitwiseXor", "PRelu"},
            inferArithmetic<noFold>);
  table.add({"Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And",
             "Or", "Xor"},
            inferPredicate);
  table.add({"Where"}, inferWhere);
  table.add({"Cast"}, inferCast);
  table.add({"CastLike"}, inferCastLike);
}
