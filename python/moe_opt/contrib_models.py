"""Builders for onnxruntime's com.microsoft.MoE graphs, and their mapping to
the moe dialect's attributes.

Facts pinned by test/e2e/test_reference_vs_onnxruntime.py against
onnxruntime's CPU kernel:
* weights are [E, out, in] (fc1 [E, fusion*I, H], fc2 [E, H, I]);
* `gelu` is the tanh approximation (moe `gelu_tanh`), not the erf form;
* `swiglu` computes g * sigmoid(alpha * g) * (u + beta) after clamping
  g <= limit and -limit <= u <= limit (moe `silu` + gate layout + alpha,
  beta, limit); the CPU kernel accepts only swiglu_fusion = 1 (interleaved).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from onnx import TensorProto, helper, numpy_helper

# onnxruntime activation_type -> moe.experts activation.
ORT_ACTIVATIONS = {
    "relu": "relu",
    "gelu": "gelu_tanh",
    "silu": "silu",
    "identity": "identity",
    "swiglu": "silu",
}
ORT_SWIGLU_LAYOUTS = {0: "separate", 1: "interleaved", 2: "concatenated"}


@dataclass
class ContribMoE:
    """One com.microsoft.MoE layer with random weights."""

    tokens: int
    hidden: int
    inter: int
    experts: int
    k: int = 2
    activation_type: str = "relu"
    swiglu_fusion: int = 1
    normalize_routing_weights: int = 1
    with_bias: bool = False
    activation_alpha: float | None = None
    activation_beta: float | None = None
    swiglu_limit: float | None = None
    seed: int = 0
    tensors: dict = field(default_factory=dict, init=False)

    def __post_init__(self):
        rng = np.random.default_rng(self.seed)
        gated = self.activation_type == "swiglu"
        separate = gated and self.swiglu_fusion == 0
        fused_width = (2 if gated and not separate else 1) * self.inter
        E, H, I = self.experts, self.hidden, self.inter

        def rand(*shape):
            return (rng.standard_normal(shape) / np.sqrt(shape[-1])).astype(np.float32)

        self.tensors["fc1"] = rand(E, fused_width, H)
        self.tensors["fc2"] = rand(E, H, I)
        if separate:
            self.tensors["fc3"] = rand(E, I, H)
        if self.with_bias:
            self.tensors["fc1_bias"] = rand(E, fused_width)
            self.tensors["fc2_bias"] = rand(E, H)
            if separate:
                self.tensors["fc3_bias"] = rand(E, I)

    @property
    def separate(self):
        return self.activation_type == "swiglu" and self.swiglu_fusion == 0

    def model(self):
        bias = (lambda n: n if self.with_bias else "")
        inputs = ["input", "router_probs", "fc1", bias("fc1_bias"), "fc2", bias("fc2_bias")]
        if self.separate:
            inputs += ["fc3", bias("fc3_bias")]
        attrs = dict(k=self.k, activation_type=self.activation_type,
                     normalize_routing_weights=self.normalize_routing_weights)
        if self.activation_type == "swiglu":
            attrs["swiglu_fusion"] = self.swiglu_fusion
        for name in ("activation_alpha", "activation_beta", "swiglu_limit"):
            if getattr(self, name) is not None:
                attrs[name] = getattr(self, name)
        node = helper.make_node("MoE", inputs, ["output"], domain="com.microsoft", **attrs)
        graph = helper.make_graph(
            [node], "contrib_moe",
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["T", self.hidden]),
             helper.make_tensor_value_info("router_probs", TensorProto.FLOAT, ["T", self.experts])],
            [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["T", self.hidden])],
            initializer=[numpy_helper.from_array(v, n) for n, v in self.tensors.items()])
        return helper.make_model(graph, opset_imports=[
            helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])

    def moe_experts_args(self):
        """(weights, biases, attributes) for reference.experts in the moe
        dialect's terms (transposed [E, out, in] weights)."""
        t = self.tensors
        stages = ["fc1", "fc3", "fc2"] if self.separate else ["fc1", "fc2"]
        weights = [t[s] for s in stages]
        biases = [t[s + "_bias"] for s in stages] if self.with_bias else None
        attrs = dict(transposed_weights=True,
                     activation=ORT_ACTIVATIONS[self.activation_type])
        if self.activation_type == "swiglu":
            attrs["gate_layout"] = ORT_SWIGLU_LAYOUTS[self.swiglu_fusion]
            for ort_name, name in (("activation_alpha", "alpha"),
                                   ("activation_beta", "beta"),
                                   ("swiglu_limit", "limit")):
                if getattr(self, ort_name) is not None:
                    attrs[name] = getattr(self, ort_name)
        return weights, biases, attrs
