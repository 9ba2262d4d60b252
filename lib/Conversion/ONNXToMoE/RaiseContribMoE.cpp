//===- RaiseContribMoE.cpp - com.microsoft.MoE -> moe ops -----------------===//
//
// onnxruntime's MoE contrib op is an MoE layer already; raising it is a
// matter of reading its attributes right (see python/moe_opt/contrib_models.py
// for the facts pinned against onnxruntime): router_probs are logits that
// get softmax -> top-k -> optional renormalization; `gelu` is the tanh form;
// `swiglu` is g * sigmoid(alpha g) * (u + beta) after clamping to `limit`.
//
//===----------------------------------------------------------------------===//

#include "Match.h"

#include "moe/Dialect/MoE/IR/MoE.h"
#include "moe/Dialect/ONNX/IR/ONNX.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace moe;
using namespace moe::detail;

namespace {

/// Operand positions of com.microsoft.MoE.
enum ContribInput {
  kInput = 0,
  kRouterProbs = 1,
  kFc1 = 2,
  kFc1Bias = 3,
  kFc2 = 4,
  kFc2Bias = 5,
  kFc3 = 6,
  kFc3Bias = 7,
};

std::optional<double> floatAttr(onnx::NodeOp node, StringRef name) {
  if (auto attr = dyn_cast_or_null<FloatAttr>(node.getONNXAttr(name)))
    return attr.getValueAsDouble();
  return std::nullopt;
}

/// The router in front of the MoE node, as onnxruntime-genai's model builder
/// writes it: MatMul(input, W[H, E]) (+ Add(bias[E])) (-> Reshape).
struct Router {
  Value weight, bias;
  /// The router's nodes, consumers first, to erase once they are unused.
  SmallVector<Operation *> nodes;
};

std::optional<Router> matchRouter(Value probs, Value input, int64_t hidden,
                                  int64_t numExperts) {
  Router router;
  Value v = probs;
  if (onnx::NodeOp reshape = producer(v, "Reshape")) {
    router.nodes.push_back(reshape);
    v = reshape.getInputs()[0];
  }
  if (onnx::NodeOp add = producer(v, "Add")) {
    auto isBias = [&](Value b) {
      RankedTensorType t = rankedType(b);
      return t && t.getRank() == 1 && t.getDimSize(0) == numExperts;
    };
    Value lhs = add.getInputs()[0], rhs = add.getInputs()[1];
    if (isBias(rhs)) {
      router.bias = rhs;
      v = lhs;
    } else if (isBias(lhs)) {
      router.bias = lhs;
      v = rhs;
    } else {
      return std::nullopt;
    }
    router.nodes.push_back(add);
  }
  onnx::NodeOp matmul = producer(v, "MatMul");
  if (!matmul || matmul.getInputs()[0] != input)
    return std::nullopt;
  RankedTensorType w = rankedType(matmul.getInputs()[1]);
  if (!w || w.getRank() != 2 || w.getDimSize(0) != hidden ||
      w.getDimSize(1) != numExperts)
    return std::nullopt;
  router.weight = matmul.getInputs()[1];
  router.nodes.push_back(matmul);
  return router;
}

} // namespace

LogicalResult
moe::detail::raiseContribMoE(onnx::NodeOp node, RewriterBase &rewriter,
                             bool remarks,
                             SmallVectorImpl<RaisedLayer> &layers) {
  if (node.getDomain() != "com.microsoft" ||
      (node.getOpType() != "MoE" && node.getOpType() != "QMoE"))
    return failure();
  NearMiss miss(node, remarks);
  if (node.getOpType() == "QMoE")
    return miss("quantized experts (QMoE) are not raised yet");
  if (intAttr(node, "use_sparse_mixer", 0) != 0)
    return miss("use_sparse_mixer = 1 (SparseMixer routing) is not "
                "supported");
  if (node.getOutputs().size() != 1)
    return miss("expected exactly one output");

  Value input = optionalInput(node, kInput);
  Value probs = optionalInput(node, kRouterProbs);
  Value fc1 = optionalInput(node, kFc1), fc2 = optionalInput(node, kFc2);
  Value fc3 = optionalInput(node, kFc3);
  RankedTensorType inType = rankedType(input), probsType = rankedType(probs);
  RankedTensorType fc1Type = rankedType(fc1), fc2Type = rankedType(fc2);
  if (!inType || !probsType || !fc1Type || !fc2Type)
    return miss("input, router_probs, fc1 and fc2 need ranked tensor types "
                "(run --onnx-infer-shapes first)");
  if (inType.getRank() != 2 && inType.getRank() != 3)
    return miss("input must be [tokens, hidden] or [batch, seq, hidden]");
  if (probsType.getRank() != 2)
    return miss("router_probs must be [tokens, experts]");
  if (fc1Type.getRank() != 3 || fc2Type.getRank() != 3)
    return miss("fc1 and fc2 must be stacked [experts, ., .] weights");
  int64_t hidden = inType.getShape().back();
  int64_t numExperts = fc1Type.getDimSize(0);
  if (ShapedType::isDynamic(hidden) ||
      llvm::any_of(fc1Type.getShape(), ShapedType::isDynamic) ||
      llvm::any_of(fc2Type.getShape(), ShapedType::isDynamic))
    return miss("hidden size and expert weights must be static");
  if (probsType.getDimSize(1) != numExperts)
    return miss("router_probs has " + std::to_string(probsType.getDimSize(1)) +
                " experts but fc1 has " + std::to_string(numExperts));

  // Weight layout: current onnxruntime stores [E, out, in], older models
  // [E, in, out]; fc1 reads the hidden size, which tells them apart.
  bool outIn = fc1Type.getDimSize(2) == hidden;
  bool inOut = fc1Type.getDimSize(1) == hidden;
  if (!outIn && !inOut)
    return miss("fc1 " + typeStr(fc1Type) +
                " reads neither dim 1 nor dim "
                "2 as the hidden size " +
                std::to_string(hidden));
  // A square fc1 (intermediate size == hidden size) fits both layouts.
  bool ambiguousLayout = outIn && inOut;
  bool transposed = outIn;

  // Activation.
  StringRef act = "relu";
  if (auto s =
          dyn_cast_or_null<StringAttr>(node.getONNXAttr("activation_type")))
    act = s.getValue();
  std::optional<Activation> activation =
      llvm::StringSwitch<std::optional<Activation>>(act)
          .Case("relu", Activation::Relu)
          .Case("gelu", Activation::GeluTanh)
          .Case("silu", Activation::Silu)
          .Case("swiglu", Activation::Silu)
          .Case("identity", Activation::Identity)
          .Default(std::nullopt);
  if (!activation)
    return miss(("activation_type '" + act + "' is not supported").str());
  std::optional<GateLayout> layout;
  if (act == "swiglu") {
    int64_t fusion = intAttr(node, "swiglu_fusion", 0);
    if (fusion == 1)
      layout = GateLayout::Interleaved;
    else if (fusion == 2)
      layout = GateLayout::Concatenated;
    else if (fusion == 0)
      layout = GateLayout::Separate;
    else
      return miss("swiglu_fusion must be 0, 1 or 2");
  } else if (fc3) {
    // A third projection makes any activation gated: act(fc1 x) * fc3 x.
    layout = GateLayout::Separate;
  }
  if (layout == GateLayout::Separate && !fc3)
    return miss("a separate gate/up layout needs fc3_experts_weights");

  int64_t k = intAttr(node, "k", 1);
  if (k < 1 || k > numExperts)
    return miss("k = " + std::to_string(k) + " must be in [1, " +
                std::to_string(numExperts) + "]");

  SmallVector<Value> weights = {fc1};
  SmallVector<int> biasIndex = {kFc1Bias};
  if (layout == GateLayout::Separate) {
    weights.push_back(fc3);
    biasIndex.push_back(kFc3Bias);
  }
  weights.push_back(fc2);
  biasIndex.push_back(kFc2Bias);
  // moe.experts takes a bias for every weight or none: zeros fill in.
  bool hasBias = llvm::any_of(
      biasIndex, [&](int i) { return bool(optionalInput(node, i)); });
  SmallVector<RankedTensorType> biasTypes;
  for (auto [w, i] : llvm::zip(weights, biasIndex)) {
    auto wType = cast<RankedTensorType>(w.getType());
    int64_t out = wType.getDimSize(transposed ? 1 : 2);
    auto biasType =
        RankedTensorType::get({numExperts, out}, wType.getElementType());
    Value bias = optionalInput(node, i);
    if (bias && bias.getType() != biasType)
      return miss("bias " + typeStr(bias.getType()) + " should be " +
                  typeStr(biasType));
    biasTypes.push_back(biasType);
  }

  LayerSpec spec;
  spec.kind = "contrib_moe";
  spec.tokens = input;
  spec.output = node.getOutputs()[0];
  spec.anchor = node;
  // The router becomes moe.gate so that the logits can be fused with the
  // routing (moe-fuse-gating) and the router rows edited by compression.
  std::optional<Router> router = matchRouter(probs, input, hidden, numExperts);
  if (router) {
    spec.router.weight = router->weight;
    spec.router.bias = router->bias;
  } else {
    spec.router.logits = probs;
  }
  spec.route.k = k;
  spec.route.renormalize = intAttr(node, "normalize_routing_weights", 0) != 0;
  ExpertsSpec &experts = spec.experts;
  experts.numExperts = numExperts;
  experts.weights = weights;
  experts.transposed = transposed;
  experts.activation = *activation;
  experts.gateLayout = layout;
  for (auto [i, biasType] : llvm::zip(biasIndex, biasTypes)) {
    if (!hasBias)
      break;
    Value bias = optionalInput(node, i);
    if (!bias) {
      rewriter.setInsertionPoint(node);
      bias = arith::ConstantOp::create(rewriter, node.getLoc(),
                                       rewriter.getZeroAttr(biasType));
    }
    experts.biases.push_back(bias);
  }
  auto setIf = [](std::optional<double> v, double unset) {
    return v && *v != unset ? v : std::nullopt;
  };
  bool gated = layout.has_value();
  if (gated && *activation == Activation::Silu)
    experts.alpha = setIf(floatAttr(node, "activation_alpha"), 1.0);
  if (gated) {
    experts.beta = setIf(floatAttr(node, "activation_beta"), 0.0);
    experts.limit = setIf(floatAttr(node, "swiglu_limit"), 0.0);
    if (experts.limit && !std::isfinite(*experts.limit))
      experts.limit = std::nullopt;
  }
  if (ambiguousLayout)
    node.emitWarning("fc1 is square, so its layout is ambiguous; assumed "
                     "the current onnxruntime layout [E, out, in]");
  if (remarks)
    node.emitRemark() << "raised com.microsoft.MoE: " << numExperts
                      << " experts, top-" << k << ", " << act
                      << ", weights read as [E, "
                      << (transposed ? "out, in" : "in, out") << "]"
                      << (router ? ", router MatMul raised to moe.gate" : "");
  layers.push_back(buildLayer(spec, rewriter));
  return success();
}
