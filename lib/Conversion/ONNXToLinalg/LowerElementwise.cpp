//===- LowerElementwise.cpp - broadcasting elementwise operators ----------===//
//
// One linalg.generic per node over the result's shape; each input is read
// through its numpy broadcast map, the body is the operator's scalar op.
//
//===----------------------------------------------------------------------===//

#include "Lowering.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace moe;
using namespace moe::onnx_to_linalg;

namespace {
/// The scalar computation: block arguments (one per present input), the
/// node, and the result element type.
using ScalarFn = Value (*)(OpBuilder &b, Location loc, ValueRange args,
                           onnx::NodeOp node, Type resultElement);
} // namespace

/// Lowers `node` as one elementwise generic computing `fn`.
static LogicalResult lowerElementwise(onnx::NodeOp node, ValueRange operands,
                                      ConversionPatternRewriter &rewriter,
                                      ScalarFn fn) {
  Location loc = node.getLoc();
  RankedTensorType type = getResultType(node);
  SmallVector<Value> inputs;
  for (Value operand : operands)
    if (!isa<NoneType>(operand.getType()))
      inputs.push_back(operand);
  MLIRContext *ctx = rewriter.getContext();
  SmallVector<AffineMap> maps;
  for (Value input : inputs)
    maps.push_back(
        broadcastMap(ctx, cast<RankedTensorType>(input.getType()), type));
  maps.push_back(rewriter.getMultiDimIdentityMap(type.getRank()));
  SmallVector<Value> sizes = broadcastDynamicSizes(rewriter, loc, type, inputs);
  checkBroadcastAtRunTime(rewriter, loc, node,
                          resultDims(rewriter, loc, type, sizes), inputs);
  Value init = createEmpty(rewriter, loc, type, sizes);
  SmallVector<utils::IteratorType> iterators(type.getRank(),
                                             utils::IteratorType::parallel);
  auto generic = linalg::GenericOp::create(
      rewriter, loc, type, inputs, init, maps, iterators,
      [&](OpBuilder &b, Location loc, ValueRange args) {
        Value result =
            fn(b, loc, args.drop_back(), node, type.getElementType());
        linalg::YieldOp::create(b, loc, result);
      });
  rewriter.replaceOp(node, generic.getResults());
  return success();
}

template <ScalarFn Fn>
static LogicalResult lower(onnx::NodeOp node, ValueRange operands,
                           ConversionPatternRewriter &rewriter) {
  return lowerElementwise(node, operands, rewriter, Fn);
}

//===--- Scalar bodies ----------------------------------------------------===//

static bool isFloat(Value v) { return isa<FloatType>(v.getType()); }

template <typename FOp, typename IOp>
static Value binary(OpBuilder &b, Location loc, ValueRange args, onnx::NodeOp,
                    Type) {
  if (isFloat(args[0]))
    return FOp::create(b, loc, args[0], args[1]);
  return IOp::create(b, loc, args[0], args[1]);
}

/// Max/Min/Sum/Mean fold any number of inputs.
template <typename FOp, typename IOp>
static Value variadic(OpBuilder &b, Location loc, ValueRange args,
                      onnx::NodeOp node, Type type) {
  Value acc = args[0];
  for (Value v : args.drop_front())
    acc = isFloat(acc) ? Value(FOp::create(b, loc, acc, v))
                       : Value(IOp::create(b, loc, acc, v));
  if (node.getOpType() == "Mean") {
    Value n = arith::ConstantOp::create(
        b, loc, b.getFloatAttr(type, double(args.size())));
    acc = arith::DivFOp::create(b, loc, acc, n);
  }
  return acc;
}

template <typename FOp>
static Value unaryFloat(OpBuilder &b, Location loc, ValueRange args,
                        onnx::NodeOp, Type) {
  return FOp::create(b, loc, args[0]);
}

static Value one(OpBuilder &b, Location loc, Type type) {
  return arith::ConstantOp::create(b, loc, b.getOneAttr(type));
}
static Value zero(OpBuilder &b, Location loc, Type type) {
  return arith::ConstantOp::create(b, loc, b.getZeroAttr(type));
}

static Value neg(OpBuilder &b, Location loc, ValueRange args, onnx::NodeOp,
                 Type type) {
  if (isFloat(args[0]))
    return arith::NegFOp::create(b, loc, args[0]);
  return arith::SubIOp::create(b, loc, zero(b, loc, type), args[0]);
}

static Value abs(OpBuilder &b, Location loc, ValueRange args, onnx::NodeOp,
                 Type) {
  if (isFloat(args[0]))
    return math::AbsFOp::create(b, loc, args[0]);
  return math::AbsIOp::create(b, loc, args[0]);
}

static Value reciprocal(OpBuilder &b, Location loc, ValueRange args,
                        onnx::NodeOp, Type type) {
  return arith::DivFOp::create(b, loc, one(b, loc, type), args[0]);
}

static Value sigmoid(OpBuilder &b, Location loc, ValueRange args, onnx::NodeOp,
                     Type type) {
  Value e = math::ExpOp::create(b, loc, arith::NegFOp::create(b, loc, args[0]));
  Value d = arith::AddFOp::create(b, loc, one(b, loc, type), e);
  return arith::DivFOp::create(b, loc, one(b, loc, type), d);
}

static Value relu(OpBuilder &b, Location loc, ValueRange args, onnx::NodeOp,
                  Type type) {
  if (isFloat(args[0]))
    return arith::MaximumFOp::create(b, loc, args[0], zero(b, loc, type));
  return arith::MaxSIOp::create(b, loc, args[0], zero(b, loc, type));
}

/// Gelu (opset 20): exact erf form or the tanh approximation.
static Value gelu(OpBuilder &b, Location loc, ValueRange args,
                  onnx::NodeOp node, Type type) {
  auto c = [&](double v) {
    return arith::ConstantOp::create(b, loc, b.getFloatAttr(type, v));
  };
  Value x = args[0];
  Value inner;
  auto approx = dyn_cast_or_null<StringAttr>(node.getONNXAttr("approximate"));
  if (approx && approx.getValue() == "tanh") {
    Value x3 =
        arith::MulFOp::create(b, loc, x, arith::MulFOp::create(b, loc, x, x));
    Value t = arith::AddFOp::create(
        b, loc, x, arith::MulFOp::create(b, loc, c(0.044715), x3));
    inner = math::TanhOp::create(
        b, loc, arith::MulFOp::create(b, loc, c(0.7978845608028654), t));
  } else {
    inner = math::ErfOp::create(
        b, loc, arith::MulFOp::create(b, loc, x, c(0.7071067811865476)));
  }
  Value half = arith::MulFOp::create(b, loc, c(0.5), x);
  return arith::MulFOp::create(b, loc, half,
                               arith::AddFOp::create(b, loc, c(1.0), inner));
}

static Value pow(OpBuilder &b, Location loc, ValueRange args, onnx::NodeOp,
                 Type type) {
  Value exponent = castScalar(b, loc, args[1], type);
  if (isFloat(args[0]))
    return math::PowFOp::create(b, loc, args[0], exponent);
  return math::IPowIOp::create(b, loc, args[0], exponent);
}

template <arith::CmpFPredicate FP, arith::CmpIPredicate IP>
static Value compare(OpBuilder &b, Location loc, ValueRange args, onnx::NodeOp,
                     Type) {
  if (isFloat(args[0]))
    return arith::CmpFOp::create(b, loc, FP, args[0], args[1]);
  return arith::CmpIOp::create(b, loc, IP, args[0], args[1]);
}

static Value logicalNot(OpBuilder &b, Location loc, ValueRange args,
                        onnx::NodeOp, Type type) {
  return arith::XOrIOp::create(b, loc, args[0], one(b, loc, type));
}

static Value where(OpBuilder &b, Location loc, ValueRange args, onnx::NodeOp,
                   Type) {
  return arith::SelectOp::create(b, loc, args[0], args[1], args[2]);
}

static Value cast(OpBuilder &b, Location loc, ValueRange args, onnx::NodeOp,
                  Type type) {
  return castScalar(b, loc, args[0], type);
}

/// Clip(x, min?, max?) since opset 11; before, min and max are attributes.
static Value clip(OpBuilder &b, Location loc, ValueRange args,
                  onnx::NodeOp node, Type type) {
  Value x = args[0];
  auto bound = [&](StringRef name, size_t index) -> Value {
    if (auto attr = dyn_cast_or_null<FloatAttr>(node.getONNXAttr(name)))
      return arith::ConstantOp::create(
          b, loc, b.getFloatAttr(type, attr.getValueAsDouble()));
    // Absent optional inputs are not block arguments: count present ones.
    unsigned present = 0;
    for (unsigned i = 1; i <= index && i < node.getInputs().size(); ++i)
      present += !isa<NoneType>(node.getInputs()[i].getType());
    if (index < node.getInputs().size() &&
        !isa<NoneType>(node.getInputs()[index].getType()))
      return args[present];
    return {};
  };
  if (Value lo = bound("min", 1))
    x = isFloat(x) ? Value(arith::MaximumFOp::create(b, loc, x, lo))
                   : Value(arith::MaxSIOp::create(b, loc, x, lo));
  if (Value hi = bound("max", 2))
    x = isFloat(x) ? Value(arith::MinimumFOp::create(b, loc, x, hi))
                   : Value(arith::MinSIOp::create(b, loc, x, hi));
  return x;
}

/// Identity (and Dropout at inference) forward the input.
static LogicalResult lowerIdentity(onnx::NodeOp node, ValueRange operands,
                                   ConversionPatternRewriter &rewriter) {
  SmallVector<Value> results = {operands[0]};
  for (unsigned i = 1, e = node->getNumResults(); i < e; ++i) {
    if (!node->getResult(i).use_empty())
      return emitNodeError(node) << "the mask output has no CPU lowering";
    results.push_back(Value());
  }
  rewriter.replaceOp(node, results);
  return success();
}

void moe::onnx_to_linalg::registerElementwiseLowerings(LoweringTable &t) {
  t["Add"] = lower<binary<arith::AddFOp, arith::AddIOp>>;
  t["Sub"] = lower<binary<arith::SubFOp, arith::SubIOp>>;
  t["Mul"] = lower<binary<arith::MulFOp, arith::MulIOp>>;
  t["Div"] = lower<binary<arith::DivFOp, arith::DivSIOp>>;
  t["Max"] = lower<variadic<arith::MaximumFOp, arith::MaxSIOp>>;
  t["Min"] = lower<variadic<arith::MinimumFOp, arith::MinSIOp>>;
  t["Sum"] = lower<variadic<arith::AddFOp, arith::AddIOp>>;
  t["Mean"] = lower<variadic<arith::AddFOp, arith::AddIOp>>;
  t["And"] = lower<binary<arith::AndIOp, arith::AndIOp>>;
  t["Or"] = lower<binary<arith::OrIOp, arith::OrIOp>>;
  t["Xor"] = lower<binary<arith::XOrIOp, arith::XOrIOp>>;
  t["Pow"] = lower<pow>;
  t["Sqrt"] = lower<unaryFloat<math::SqrtOp>>;
  t["Exp"] = lower<unaryFloat<math::ExpOp>>;
  t["Log"] = lower<unaryFloat<math::LogOp>>;
  t["Erf"] = lower<unaryFloat<math::ErfOp>>;
  t["Tanh"] = lower<unaryFloat<math::TanhOp>>;
  t["Floor"] = lower<unaryFloat<math::FloorOp>>;
  t["Ceil"] = lower<unaryFloat<math::CeilOp>>;
  t["Sin"] = lower<unaryFloat<math::SinOp>>;
  t["Cos"] = lower<unaryFloat<math::CosOp>>;
  t["Neg"] = lower<neg>;
  t["Abs"] = lower<abs>;
  t["Reciprocal"] = lower<reciprocal>;
  t["Sigmoid"] = lower<sigmoid>;
  t["Relu"] = lower<relu>;
  t["Gelu"] = lower<gelu>;
  t["Equal"] =
      lower<compare<arith::CmpFPredicate::OEQ, arith::CmpIPredicate::eq>>;
  t["Less"] =
      lower<compare<arith::CmpFPredicate::OLT, arith::CmpIPredicate::slt>>;
  t["LessOrEqual"] =
      lower<compare<arith::CmpFPredicate::OLE, arith::CmpIPredicate::sle>>;
  t["Greater"] =
      lower<compare<arith::CmpFPredicate::OGT, arith::CmpIPredicate::sgt>>;
  t["GreaterOrEqual"] =
      lower<compare<arith::CmpFPredicate::OGE, arith::CmpIPredicate::sge>>;
  t["Not"] = lower<logicalNot>;
  t["Where"] = lower<where>;
  t["Cast"] = lower<cast>;
  t["Clip"] = lower<clip>;
  t["Identity"] = lowerIdentity;
  t["Dropout"] = lowerIdentity;
}
