//===- RaiseContribMoE.cpp - com.microsoft.MoE -> moe ops -----------------===//
//
// onnxruntime's MoE contrib op is an MoE layer already; raising it is a
// matter of reading its attributes right (see python/moe_opt/contrib_models.py
// for the facts pinned against onnxruntime): router_probs are logits that
// get softmax -> top-k -> optional renormalization; `gelu` is the tanh form;
// `swiglu` is g * sigmoid(alpha g) * (u + beta) after clamping to `limit`.
// com.microsoft.QMoE is the same layer over integer-quantized [E, out, in]
// weights, which become moe.dequantize of the model's bytes.
//
//===----------------------------------------------------------------------===//

#include "Match.h"
#include "QuantizedWeights.h"

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

/// Operand positions of com.microsoft.QMoE (projection p in 0..2 is fc1,
/// fc2, fc3).
enum QuantizedInput {
  kQWeights = 2,     // + 3 p
  kQScales = 3,      // + 3 p
  kQBias = 4,        // + 3 p
  kQZeroPoints = 11, // + p
  kQRouterWeights = 14,
};

/// One expert projection (fc1, fc2, fc3): float weights, or quantized ones
/// that are dequantized once the node is known to raise.
struct Projection {
  Value weight, bias;
  /// [E, ., .] of the float weights the experts compute with.
  RankedTensorType type;
  std::optional<QuantizedWeight> quantized;
};

/// fc1, fc2, fc3 of com.microsoft.MoE.
void readProjections(onnx::NodeOp node, Projection (&fc)[3]) {
  int weights[3] = {kFc1, kFc2, kFc3},
      biases[3] = {kFc1Bias, kFc2Bias, kFc3Bias};
  for (int p = 0; p < 3; ++p) {
    fc[p].weight = optionalInput(node, weights[p]);
    fc[p].bias = optionalInput(node, biases[p]);
    fc[p].type = rankedType(fc[p].weight);
  }
}

/// fc1, fc2, fc3 of com.microsoft.QMoE, checked against moe.dequantize.
LogicalResult readQuantizedProjections(onnx::NodeOp node, Type elementType,
                                       Projection (&fc)[3],
                                       const NearMiss &miss) {
  if (auto quantType =
          dyn_cast_or_null<StringAttr>(node.getONNXAttr("quant_type")))
    if (quantType.getValue() != "int")
      return miss(("quant_type '" + quantType.getValue() +
                   "' is not supported (only 'int')")
                      .str());
  if (intAttr(node, "weights_prepacked", -1) == 1)
    return miss("weights_prepacked = 1 (a provider-specific layout) is not "
                "supported");
  if (intAttr(node, "swiglu_limit_after_activation", 0) != 0)
    return miss("swiglu_limit_after_activation = 1 is not supported");
  if (optionalInput(node, kQRouterWeights))
    return miss("router_weights (separate selection and mixing weights) is "
                "not supported");
  for (unsigned i = kQRouterWeights + 1; i < node.getInputs().size(); ++i)
    if (optionalInput(node, i))
      return miss("input " + std::to_string(i) +
                  " (global or activation scales) is not supported");
  std::optional<int64_t> blockSize;
  if (int64_t b = intAttr(node, "block_size", 0); b > 0)
    blockSize = b;
  int64_t defaultBits = intAttr(node, "expert_weight_bits", 4);
  static const char *names[3] = {"fc1", "fc2", "fc3"};
  for (int p = 0; p < 3; ++p) {
    Value weight = optionalInput(node, kQWeights + 3 * p);
    fc[p].bias = optionalInput(node, kQBias + 3 * p);
    if (!weight)
      continue;
    std::string bitsName = std::string(names[p]) + "_expert_weight_bits";
    int64_t bits = intAttr(node, bitsName, defaultBits);
    if (bits != 2 && bits != 4 && bits != 8)
      return miss(std::string(names[p]) + " has " + std::to_string(bits) +
                  "-bit weights; only 2, 4 and 8 bits are supported");
    FailureOr<QuantizedWeight> q = readQuantizedWeight(
        names[p], weight, optionalInput(node, kQScales + 3 * p),
        optionalInput(node, kQZeroPoints + p), bits, blockSize, elementType,
        miss);
    if (failed(q))
      return failure();
    fc[p].weight = weight;
    fc[p].type = q->floatType;
    fc[p].quantized = *q;
  }
  return success();
}

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
  bool quantized = node.getOpType() == "QMoE";
  if (intAttr(node, "use_sparse_mixer", 0) != 0)
    return miss("use_sparse_mixer = 1 (SparseMixer routing) is not "
                "supported");
  if (node.getOutputs().size() != 1)
    return miss("expected exactly one output");

  Value input = optionalInput(node, kInput);
  Value probs = optionalInput(node, kRouterProbs);
  RankedTensorType inType = rankedType(input), probsType = rankedType(probs);
  Projection fc[3];
  if (!quantized)
    readProjections(node, fc);
  else if (!inType || failed(readQuantizedProjections(
                          node, inType.getElementType(), fc, miss)))
    return inType ? failure()
                  : miss("input needs a ranked tensor type (run "
                         "--onnx-infer-shapes first)");
  Value fc3 = fc[2].weight;
  RankedTensorType fc1Type = fc[0].type, fc2Type = fc[1].type;
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
  // Quantized weights only ever had the current layout.
  bool outIn = fc1Type.getDimSize(2) == hidden;
  bool inOut = !quantized && fc1Type.getDimSize(1) == hidden;
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

  SmallVector<Projection *> stages = {&fc[0]};
  if (layout == GateLayout::Separate)
    stages.push_back(&fc[2]);
  stages.push_back(&fc[1]);
  for (Projection *stage : stages)
    if (!stage->type || stage->type.getRank() != 3 ||
        stage->type.getDimSize(0) != numExperts)
      return miss("every expert weight must be [" + std::to_string(numExperts) +
                  ", ., .]");
  // moe.experts takes a bias for every weight or none: zeros fill in.
  bool hasBias =
      llvm::any_of(stages, [](Projection *p) { return bool(p->bias); });
  SmallVector<RankedTensorType> biasTypes;
  for (Projection *stage : stages) {
    RankedTensorType wType = stage->type;
    int64_t out = wType.getDimSize(transposed ? 1 : 2);
    auto biasType =
        RankedTensorType::get({numExperts, out}, wType.getElementType());
    Value bias = stage->bias;
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
  rewriter.setInsertionPoint(node);
  for (Projection *stage : stages)
    experts.weights.push_back(
        stage->quantized
            ? materializeDequantize(*stage->quantized, rewriter, node.getLoc())
            : stage->weight);
  experts.transposed = transposed;
  experts.activation = *activation;
  experts.gateLayout = layout;
  for (auto [stage, biasType] : llvm::zip(stages, biasTypes)) {
    if (!hasBias)
      break;
    Value bias = stage->bias;
    if (!bias) {
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
    node.emitRemark() << "raised com.microsoft." << node.getOpType() << ": "
                      << numExperts << " experts, top-" << k << ", " << act
                      << ", weights read as [E, "
                      << (transposed ? "out, in" : "in, out") << "]"
                      << (router ? ", router MatMul raised to moe.gate" : "")
                      << (quantized ? ", quantized weights dequantized by "
                                      "moe.dequantize"
                                    : "");
  layers.push_back(buildLayer(spec, rewriter));
  return success();
}
