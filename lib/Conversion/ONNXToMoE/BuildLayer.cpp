//===- BuildLayer.cpp - a recognized layer becomes moe ops ----------------===//
//
// route -> dispatch -> experts -> combine, with the router linear as
// moe.gate so that gating can be fused and router rows edited by the
// compression passes. The graph nodes that only fed the replaced output are
// erased, so that nothing of the exporter's dispatch plumbing survives.
//
//===----------------------------------------------------------------------===//

#include "Match.h"

#include "moe/Dialect/ONNX/Transforms/NodeUtils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinDialect.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/TypeUtilities.h"
#include "mlir/Interfaces/FunctionInterfaces.h"

using namespace mlir;
using namespace moe;
using namespace moe::detail;

namespace {

/// tensor.reshape rather than collapse/expand_shape: upstream's
/// expand-strided-metadata crashes on the memref form of a dynamic
/// expand_shape.
Value reshapeTo(RewriterBase &rewriter, Location loc, Value v,
                ArrayRef<OpFoldResult> shape, RankedTensorType resultType) {
  Type i64 = rewriter.getI64Type();
  SmallVector<Value> dims;
  for (OpFoldResult d : shape)
    dims.push_back(arith::IndexCastOp::create(
        rewriter, loc, i64, getValueOrCreateConstantIndexOp(rewriter, loc, d)));
  Value shapeTensor = tensor::FromElementsOp::create(
      rewriter, loc, RankedTensorType::get({int64_t(dims.size())}, i64), dims);
  return tensor::ReshapeOp::create(rewriter, loc, resultType, v, shapeTensor);
}

/// `v` converted elementwise to float type `to` (a mixed-precision layer
/// whose router reads fp32 tokens and experts fp16 ones).
Value castFloats(RewriterBase &rewriter, Location loc, Value v, Type to) {
  auto type = cast<RankedTensorType>(v.getType());
  if (type.getElementType() == to)
    return v;
  SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(rewriter, loc, v);
  Value init = tensor::EmptyOp::create(rewriter, loc, sizes, to);
  bool widen = cast<FloatType>(to).getWidth() >
               cast<FloatType>(type.getElementType()).getWidth();
  auto map = linalg::MapOp::create(
      rewriter, loc, ValueRange{v}, init,
      [&](OpBuilder &b, Location l, ValueRange args) {
        Value out =
            widen ? arith::ExtFOp::create(b, l, to, args[0]).getResult()
                  : arith::TruncFOp::create(b, l, to, args[0]).getResult();
        linalg::YieldOp::create(b, l, out);
      });
  return map.getResult().front();
}

/// A constant [1, N] bias as the [N] vector the moe ops take.
Value asVector(RewriterBase &rewriter, Location loc, Value bias) {
  auto type = cast<RankedTensorType>(bias.getType());
  if (type.getRank() == 1)
    return bias;
  auto vecType =
      RankedTensorType::get({type.getNumElements()}, type.getElementType());
  return tensor::CollapseShapeOp::create(
      rewriter, loc, vecType, bias, SmallVector<ReassociationIndices>{{0, 1}});
}

/// The ONNX name of a graph value: a graph input's onnx.name, an
/// initializer's resource key, or the name recorded for a node output.
std::string tensorName(Value v) {
  if (auto arg = dyn_cast<BlockArgument>(v)) {
    auto func = dyn_cast<FunctionOpInterface>(arg.getOwner()->getParentOp());
    if (func)
      if (auto name = func.getArgAttrOfType<StringAttr>(arg.getArgNumber(),
                                                        "onnx.name"))
        return name.str();
    return "";
  }
  Operation *op = v.getDefiningOp();
  if (auto constant = dyn_cast<onnx::ConstantOp>(op))
    if (auto res = dyn_cast<DenseResourceElementsAttr>(constant.getValueAttr()))
      return res.getRawHandle().getKey().str();
  if (auto names = op->getAttrOfType<ArrayAttr>("onnx.outputs")) {
    unsigned index = cast<OpResult>(v).getResultNumber();
    if (index < names.size())
      if (auto name = dyn_cast<StringAttr>(names[index]))
        return name.str();
  }
  return "";
}

/// Erases `root` and everything that only fed it, back to the graph inputs.
void eraseDeadSlice(RewriterBase &rewriter, Operation *root) {
  SmallVector<Operation *> worklist = {root};
  // An op whose users are all erased can be on the worklist once per user;
  // only its first visit may touch it.
  llvm::DenseSet<Operation *> erased;
  while (!worklist.empty()) {
    Operation *op = worklist.pop_back_val();
    if (!op || erased.contains(op) || !op->use_empty() ||
        !isa<onnx::NodeOp, onnx::ConstantOp, onnx::NoneOp>(op))
      continue;
    // Other domains may have effects; only the replaced root is known dead.
    if (auto node = dyn_cast<onnx::NodeOp>(op);
        node && op != root && !onnx::isDefaultDomain(node.getDomain()))
      continue;
    SmallVector<Operation *> operands;
    for (Value operand : op->getOperands())
      if (Operation *def = operand.getDefiningOp())
        operands.push_back(def);
    erased.insert(op);
    rewriter.eraseOp(op);
    llvm::append_range(worklist, operands);
  }
}

} // namespace

RaisedLayer moe::detail::buildLayer(const LayerSpec &spec,
                                    RewriterBase &rewriter) {
  RaisedLayer layer;
  layer.kind = spec.kind;
  layer.numExperts = spec.experts.numExperts;
  layer.inputName = tensorName(spec.tokens);
  layer.outputName = tensorName(spec.output);
  if (spec.router.weight) {
    layer.routerWeightName = tensorName(spec.router.weight);
    // The logits are the router linear's output (the Add of its bias, if
    // any): the first graph value computed from the router weight.
    Value logits;
    for (Operation *user : spec.router.weight.getUsers())
      if (user->getNumResults() == 1 && !logits)
        logits = user->getResult(0);
    if (auto add = logits ? logits.getDefiningOp() : nullptr;
        add && spec.router.bias && add->hasOneUse())
      if (auto node = dyn_cast<onnx::NodeOp>(*add->getUsers().begin());
          node && node.isStandard("Add"))
        logits = node.getOutputs()[0];
    if (logits)
      layer.logitsName = tensorName(logits);
  }
  if (spec.router.logits)
    layer.logitsName = tensorName(spec.router.logits);
  for (Value w : spec.experts.weights)
    layer.weightNames.push_back(tensorName(w));
  if (spec.route.selectionBias)
    layer.selectionBiasName = tensorName(spec.route.selectionBias);

  Operation *outputOp = spec.output.getDefiningOp();
  rewriter.setInsertionPoint(outputOp);
  Location loc = spec.anchor ? spec.anchor->getLoc() : outputOp->getLoc();
  auto inType = cast<RankedTensorType>(spec.tokens.getType());
  Type elt = inType.getElementType();
  int64_t hidden = inType.getShape().back();
  int64_t dyn = ShapedType::kDynamic;
  auto type = [](ArrayRef<int64_t> shape, Type e) {
    return RankedTensorType::get(shape, e);
  };

  // [batch, seq, hidden] inputs are routed as [batch * seq, hidden] tokens.
  Value tokens = spec.tokens;
  if (inType.getRank() == 3) {
    int64_t b = inType.getDimSize(0), s = inType.getDimSize(1);
    int64_t t =
        ShapedType::isDynamic(b) || ShapedType::isDynamic(s) ? dyn : b * s;
    Value count = arith::MulIOp::create(
        rewriter, loc, tensor::DimOp::create(rewriter, loc, spec.tokens, 0),
        tensor::DimOp::create(rewriter, loc, spec.tokens, 1));
    tokens = reshapeTo(rewriter, loc, spec.tokens,
                       {count, rewriter.getIndexAttr(hidden)},
                       type({t, hidden}, elt));
  }
  int64_t numTokens = cast<RankedTensorType>(tokens.getType()).getDimSize(0);
  int64_t numExperts = spec.experts.numExperts;
  const RouteSpec &r = spec.route;
  int64_t k = r.k.value_or(1);
  int64_t slots = ShapedType::isDynamic(numTokens) ? dyn : numTokens * k;
  // Expert choice: route yields the dense gate [T, E] and each expert's
  // token ids [E, C], so there are E * C rows and one row_map column per
  // expert.
  bool expertChoice = r.mode == RoutingMode::ExpertChoice;
  int64_t perToken = expertChoice ? numExperts : k;
  int64_t capacity = dyn;
  if (expertChoice && !ShapedType::isDynamic(numTokens))
    capacity = RouteOp::getExpertCapacity(numTokens, numExperts,
                                          r.capacityFactor.value_or(1.0));
  if (expertChoice)
    slots = ShapedType::isDynamic(capacity) ? dyn : numExperts * capacity;
  auto indicesType = expertChoice
                         ? type({numExperts, capacity}, rewriter.getI64Type())
                         : type({numTokens, k}, rewriter.getI64Type());

  Value logits = spec.router.logits;
  if (spec.router.weight) {
    Value bias =
        spec.router.bias ? asVector(rewriter, loc, spec.router.bias) : Value();
    Type logitElt =
        cast<RankedTensorType>(spec.router.weight.getType()).getElementType();
    logits =
        GateOp::create(rewriter, loc, type({numTokens, numExperts}, logitElt),
                       tokens, spec.router.weight, bias,
                       /*weight_transposed=*/!spec.router.transposed);
  }
  Type scoreElt = cast<RankedTensorType>(logits.getType()).getElementType();
  auto f64 = [&](double v, double unset) -> FloatAttr {
    return v == unset ? nullptr : rewriter.getF64FloatAttr(v);
  };
  auto i64 = [&](std::optional<int64_t> v) -> IntegerAttr {
    return v ? rewriter.getI64IntegerAttr(*v) : nullptr;
  };
  Value selectionBias =
      r.selectionBias ? asVector(rewriter, loc, r.selectionBias) : Value();
  auto route = RouteOp::create(
      rewriter, loc, type({numTokens, perToken}, scoreElt), indicesType, logits,
      selectionBias, r.mode, r.score, i64(r.k), r.renormalize,
      r.renormalize ? f64(r.epsilon, 0.0) : nullptr,
      r.renormalize && r.clampSum,
      r.jitterEps ? rewriter.getF64FloatAttr(*r.jitterEps) : nullptr,
      f64(r.scaling, 1.0), i64(r.numGroups), i64(r.topkGroups),
      i64(r.groupTopk), nullptr,
      r.capacityFactor ? rewriter.getF64FloatAttr(*r.capacityFactor) : nullptr,
      nullptr, /*skip_ratio=*/nullptr);
  // The experts compute in their weights' type (an fp16 model may route in
  // fp32).
  const ExpertsSpec &e = spec.experts;
  elt = cast<RankedTensorType>(e.weights.front().getType()).getElementType();
  Value expertTokens = castFloats(rewriter, loc, tokens, elt);
  // Llama 4 scales the experts' input, not their output: the dispatch
  // scales each row and the combine adds the rows unweighted.
  auto dispatch = DispatchOp::create(
      rewriter, loc, type({slots, hidden}, elt),
      type({numExperts + 1}, rewriter.getI64Type()),
      type({numTokens, perToken}, rewriter.getI64Type()), expertTokens,
      route.getIndices(),
      /*weights=*/spec.scaleInput ? route.getWeights() : Value(),
      /*group_size=*/Value(), numExperts, expertChoice, spec.scaleInput,
      spec.capacity ? rewriter.getI64IntegerAttr(*spec.capacity) : nullptr,
      spec.capacity
          ? DropPolicyAttr::get(rewriter.getContext(), spec.dropPolicy)
          : nullptr,
      /*expert_map=*/nullptr);

  SmallVector<Value> biases;
  for (Value b : e.biases)
    biases.push_back(
        cast<RankedTensorType>(b.getType()).getRank() == 2 &&
                cast<RankedTensorType>(b.getType()).getDimSize(0) == 1 &&
                !e.weights.empty() &&
                cast<RankedTensorType>(e.weights.front().getType()).getRank() ==
                    2
            ? asVector(rewriter, loc, b)
            : b);
  auto opt = [&](std::optional<double> v) -> FloatAttr {
    return v ? rewriter.getF64FloatAttr(*v) : nullptr;
  };
  auto experts = ExpertsOp::create(
      rewriter, loc, type({slots, hidden}, elt), dispatch.getRows(),
      dispatch.getOffsets(), e.weights, biases,
      e.transposed ? rewriter.getUnitAttr() : nullptr,
      ActivationAttr::get(rewriter.getContext(), e.activation),
      e.gateLayout ? GateLayoutAttr::get(rewriter.getContext(), *e.gateLayout)
                   : nullptr,
      opt(e.alpha), opt(e.beta), opt(e.limit), nullptr, nullptr);
  Value out = CombineOp::create(
      rewriter, loc, type({numTokens, hidden}, elt), experts.getResult(),
      dispatch.getRowMap(),
      spec.scaleInput ? Value()
                      : castFloats(rewriter, loc, route.getWeights(), elt));
  auto outType = dyn_cast<RankedTensorType>(spec.output.getType());
  if (outType && outType.getRank() == 3 && inType.getRank() == 3)
    out = reshapeTo(rewriter, loc, out,
                    {tensor::getMixedSize(rewriter, loc, spec.tokens, 0),
                     tensor::getMixedSize(rewriter, loc, spec.tokens, 1),
                     rewriter.getIndexAttr(hidden)},
                    inType);
  if (auto outElt = getElementTypeOrSelf(spec.output.getType());
      isa<FloatType>(outElt))
    out = castFloats(rewriter, loc, out, outElt);
  if (out.getType() != spec.output.getType())
    out = tensor::CastOp::create(rewriter, loc, spec.output.getType(), out);

  layer.route = route;
  layer.experts = experts;
  rewriter.replaceAllUsesWith(spec.output, out);
  eraseDeadSlice(rewriter, outputOp);
  return layer;
}
