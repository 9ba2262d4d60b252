"""Writes examples/moe_layer.onnx: an onnxruntime com.microsoft.MoE layer
(8 experts, top-2, SwiGLU as in gpt-oss) the way onnxruntime-genai's model
builder emits it: router MatMul -> MoE. Regenerate with
.venv/bin/python examples/make_example.py."""

import os
import sys

import numpy as np
from onnx import TensorProto, helper, numpy_helper, save

E, H, I, K = 8, 32, 64, 2
rng = np.random.default_rng(2026)


def rand(*shape):
    return (rng.standard_normal(shape) / np.sqrt(shape[-1])).astype(np.float32)


nodes = [
    helper.make_node("MatMul", ["hidden_states", "router_weight"], ["router_logits"],
                     name="router"),
    helper.make_node("MoE", ["hidden_states", "router_logits", "fc1", "fc1_bias", "fc2",
                             "fc2_bias"], ["output"], name="moe", domain="com.microsoft",
                     k=K, activation_type="swiglu", swiglu_fusion=1,
                     activation_alpha=1.702, activation_beta=1.0, swiglu_limit=7.0,
                     normalize_routing_weights=1),
]
inits = {"router_weight": rand(H, E), "fc1": rand(E, 2 * I, H), "fc1_bias": rand(E, 2 * I),
         "fc2": rand(E, H, I), "fc2_bias": rand(E, H)}
graph = helper.make_graph(
    nodes, "moe_layer",
    [helper.make_tensor_value_info("hidden_states", TensorProto.FLOAT, ["tokens", H])],
    [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["tokens", H])],
    initializer=[numpy_helper.from_array(v, n) for n, v in inits.items()])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                helper.make_opsetid("com.microsoft", 1)])
save(model, os.path.join(os.path.dirname(os.path.abspath(sys.argv[0])), "moe_layer.onnx"))
