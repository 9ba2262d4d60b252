//===- MoEAttrs.td - moe dialect enums and attributes ------*- tablegen -*-===//

#ifndef MOE_ATTRS_TD
#define MOE_ATTRS_TD

include "MoEDialect.td"
include "mlir/IR/EnumAttr.td"

//===----------------------------------------------------------------------===//
// Routing
//===----------------------------------------------------------------------===//

def MoE_ScoreFunction : I32EnumAttr<"ScoreFunction",
    "how router logits become expert scores", [
  // softmax over all experts, then select (Mixtral, Qwen, OLMoE, Switch).
  I32EnumAttrCase<"Softmax", 0, "softmax">,
  // element-wise sigmoid, then select (DeepSeek-V3, Llama4).
  I32EnumAttrCase<"Sigmoid", 1, "sigmoid">,
  // select on raw logits, softmax over the chosen k only (gpt-oss).
  I32EnumAttrCase<"SoftmaxAfterTopK", 2, "softmax_after_topk">,
  // PhiMoE's sparsemixer in inference mode: two argmax rounds, each weight a
  // softmax over the logits within jitter_eps of that round's best.
  I32EnumAttrCase<"SparseMixer", 3, "sparsemixer">
]> {
  let genSpecializedAttr = 0;
  let cppNamespace = "::moe";
}
def MoE_ScoreFunctionAttr : EnumAttr<MoE_Dialect, MoE_ScoreFunction, "score"> {
  let assemblyFormat = "`<` $value `>`";
}

def MoE_RoutingMode : I32EnumAttr<"RoutingMode",
    "who chooses: tokens choose experts, or experts choose tokens", [
  // each token takes its k best experts.
  I32EnumAttrCase<"TokenChoice", 0, "token_choice">,
  // each expert takes its C best tokens, C = min(T, ceil(T * c / E)).
  I32EnumAttrCase<"ExpertChoice", 1, "expert_choice">,
  // each token takes the shortest score-sorted prefix whose sum reaches p,
  // at most k experts; unused slots hold id -1 and weight 0.
  I32EnumAttrCase<"TopP", 2, "top_p">
]> {
  let genSpecializedAttr = 0;
  let cppNamespace = "::moe";
}
def MoE_RoutingModeAttr : EnumAttr<MoE_Dialect, MoE_RoutingMode, "mode"> {
  let assemblyFormat = "`<` $value `>`";
}

def MoE_DropPolicy : I32EnumAttr<"DropPolicy",
    "which routed rows an expert drops once it is over capacity", [
  // keep the first `capacity` rows in token order (Switch Transformer).
  I32EnumAttrCase<"InOrder", 0, "in_order">,
  // keep the `capacity` rows with the largest routing weight (ties: lower
  // token index first).
  I32EnumAttrCase<"ByWeight", 1, "by_weight">
]> {
  let genSpecializedAttr = 0;
  let cppNamespace = "::moe";
}
def MoE_DropPolicyAttr : EnumAttr<MoE_Dialect, MoE_DropPolicy, "drop_policy"> {
  let assemblyFormat = "`<` $value `>`";
}

//===----------------------------------------------------------------------===//
// Expert FFNs
//===----------------------------------------------------------------------===//

def MoE_Activation : I32EnumAttr<"Activation",
    "element-wise activation of an expert FFN", [
  I32EnumAttrCase<"Identity", 0, "identity">,
  I32EnumAttrCase<"Relu", 1, "relu">,
  // x * Phi(x) with the exact erf form.
  I32EnumAttrCase<"Gelu", 2, "gelu">,
  // the tanh approximation of GELU.
  I32EnumAttrCase<"GeluTanh", 3, "gelu_tanh">,
  // x * sigmoid(alpha * x); alpha defaults to 1.
  I32EnumAttrCase<"Silu", 4, "silu">,
  // APA(x; kappa, lambda) = (lambda * exp(-kappa * x) + 1) ^ (-1 / lambda).
  I32EnumAttrCase<"Apa", 5, "apa">,
  // AGLU(x) = x * APA(x; kappa, lambda).
  I32EnumAttrCase<"Aglu", 6, "aglu">
]> {
  let genSpecializedAttr = 0;
  let cppNamespace = "::moe";
}
def MoE_ActivationAttr : EnumAttr<MoE_Dialect, MoE_Activation, "activation"> {
  let assemblyFormat = "`<` $value `>`";
}

def MoE_GateLayout : I32EnumAttr<"GateLayout",
    "where a gated FFN (GLU) keeps its gate and up projections", [
  // two weights: gate and up, then down.
  I32EnumAttrCase<"Separate", 0, "separate">,
  // one fused weight, columns alternate gate, up, gate, up, ...
  I32EnumAttrCase<"Interleaved", 1, "interleaved">,
  // one fused weight, the first half of the columns is gate, the second up.
  I32EnumAttrCase<"Concatenated", 2, "concatenated">
]> {
  let genSpecializedAttr = 0;
  let cppNamespace = "::moe";
}
def MoE_GateLayoutAttr : EnumAttr<MoE_Dialect, MoE_GateLayout, "gate_layout"> {
  let assemblyFormat = "`<` $value `>`";
}

#endif // MOE_ATTRS_TD
