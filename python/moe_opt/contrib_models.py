"""Builders for onnxruntime's com.microsoft.MoE graphs, and their mapping to
the moe dialect's attributes.

Facts pinned by test/e2e/test_reference_vs_onnxruntime.py against
onnxruntime's CPU kernel:
* weights are [E, out, in] (fc1 [E, fusion*I, H], fc2 [E, H, I]);
* `gelu` is the tanh approximation (moe `gelu_tanh`), not the erf form;
* `swiglu` computes g * sigmoid(alpha * g) * (u + beta) after clamping
  g <= limit and -limit <= u <= limit (moe `silu` + gate layout + alpha,
  beta, limit); the CPU kernel accepts only swiglu_fusion = 1 (interleaved).

com.microsoft.QMoE (test/e2e/test_onnx_contrib_qmoe.py) stores the same
[E, out, in] weights as uint8 bytes [E, out, ceil(in * bits / 8)], values
packed low bits first, dequantized as (q - zero_point) * scale with one
scale per row (or per block of `block_size` inputs of a row) and zero point
2^(bits-1) unless fc*_zero_points (scales' shape, last dim packed) are given.
Block-wise 8-bit experts run with int8 activations on onnxruntime's CPU
unless ORT_QMOE_CPU_QNBIT_GEMM=fp32.
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
        return self._model("MoE", inputs, self.node_attrs(), self.tensors)

    def node_attrs(self):
        attrs = dict(k=self.k, activation_type=self.activation_type,
                     normalize_routing_weights=self.normalize_routing_weights)
        if self.activation_type == "swiglu":
            attrs["swiglu_fusion"] = self.swiglu_fusion
        for name in ("activation_alpha", "activation_beta", "swiglu_limit"):
            if getattr(self, name) is not None:
                attrs[name] = getattr(self, name)
        return attrs

    def _model(self, op, inputs, attrs, initializers):
        node = helper.make_node(op, inputs, ["output"], domain="com.microsoft", **attrs)
        graph = helper.make_graph(
            [node], "contrib_" + op.lower(),
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["T", self.hidden]),
             helper.make_tensor_value_info("router_probs", TensorProto.FLOAT, ["T", self.experts])],
            [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["T", self.hidden])],
            initializer=[numpy_helper.from_array(v, n) for n, v in initializers.items()])
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


def quantize(w, bits, block_size=None, zero_points=False, rng=None):
    """Quantizes float weights [E, N, K] the way onnxruntime's QMoE reads
    them: per row (or per block of `block_size` values of a row) a scale and
    a zero point (default 2^(bits-1)); values packed low bits first along K.
    Returns (packed uint8, scales float32, packed zero points or None)."""
    E, N, K = w.shape
    qmax = (1 << bits) - 1
    groups = w.reshape(E, N, K // block_size, block_size) if block_size else w[:, :, None, :]
    if zero_points:
        # Asymmetric: a zero point per group that need not be the midpoint.
        zero = rng.integers(qmax // 4, 3 * qmax // 4 + 1, groups.shape[:-1]).astype(np.float64)
    else:
        zero = np.full(groups.shape[:-1], float(1 << (bits - 1)))
    span = np.maximum(np.abs(groups).max(-1), 1e-6)
    scales = (span / np.minimum(zero, qmax - zero)).astype(np.float32)
    q = np.clip(np.round(groups / scales[..., None]) + zero[..., None], 0, qmax)
    q = q.astype(np.uint8).reshape(E, N, K)

    def pack(values):
        per_byte = 8 // bits
        pad = (-values.shape[-1]) % per_byte
        values = np.concatenate(
            [values, np.zeros(values.shape[:-1] + (pad,), np.uint8)], axis=-1)
        values = values.reshape(*values.shape[:-1], -1, per_byte)
        shifts = (np.arange(per_byte) * bits).astype(np.uint8)
        return np.bitwise_or.reduce(values << shifts, axis=-1).astype(np.uint8)

    if not block_size:
        scales, zero = scales[..., 0], zero[..., 0]
    return pack(q), scales, (pack(zero.astype(np.uint8)) if zero_points else None)


@dataclass
class ContribQMoE(ContribMoE):
    """One com.microsoft.QMoE layer: ContribMoE's weights quantized to
    `bits`; the float tensors become the dequantized weights (what
    onnxruntime computes with)."""

    bits: int = 8
    block_size: int | None = None
    zero_points: bool = False

    def __post_init__(self):
        super().__post_init__()
        from moe_opt import reference as ref

        rng = np.random.default_rng(self.seed + 1)
        self.quantized = {}
        for name in ("fc1", "fc2", "fc3"):
            if name not in self.tensors:
                continue
            packed, scales, zp = quantize(self.tensors[name], self.bits, self.block_size,
                                          self.zero_points, rng)
            self.quantized[name] = (packed, scales, zp)
            self.tensors[name] = ref.dequantize(
                packed, scales, zp, self.bits, self.block_size,
                columns=self.tensors[name].shape[-1]).astype(np.float32)

    def model(self):
        bias = (lambda n: n if self.with_bias else "")
        inputs = ["input", "router_probs"]
        initializers = {}
        for name in ("fc1", "fc2", "fc3"):
            if name in self.quantized:
                packed, scales, zp = self.quantized[name]
                initializers[name] = packed
                initializers[name + "_scales"] = scales
                if zp is not None:
                    initializers[name + "_zero_points"] = zp
                if self.with_bias:
                    initializers[name + "_bias"] = self.tensors[name + "_bias"]
                inputs += [name, name + "_scales", bias(name + "_bias")]
            else:
                inputs += ["", "", ""]
        if self.zero_points:
            inputs += [n + "_zero_points" if n in self.quantized else ""
                       for n in ("fc1", "fc2", "fc3")]
        while inputs[-1] == "":
            inputs.pop()
        attrs = dict(self.node_attrs(), expert_weight_bits=self.bits)
        if self.block_size:
            attrs["block_size"] = self.block_size
        return self._model("QMoE", inputs, attrs, initializers)
