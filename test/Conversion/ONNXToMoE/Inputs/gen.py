"""Writes the small com.microsoft.MoE models the raising tests read.

Run from this folder: ../../../../.venv/bin/python gen.py
"""

import numpy as np
from onnx import TensorProto, helper, numpy_helper, save

E, H, I = 4, 8, 6
rng = np.random.default_rng(0)


def rand(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def model(name, inputs, attrs, inits, x_shape=("T", H), op="MoE", extra_inputs=()):
    node = helper.make_node(op, inputs, ["y"], domain="com.microsoft", name=name, **attrs)
    graph = helper.make_graph(
        [node], name,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x_shape)),
         helper.make_tensor_value_info("r", TensorProto.FLOAT, ["T", E])] + list(extra_inputs),
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(x_shape))],
        initializer=[numpy_helper.from_array(v, n) for n, v in inits.items()])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                helper.make_opsetid("com.microsoft", 1)])
    save(m, name + ".onnx")


# relu experts, current [E, out, in] layout, top-2 renormalized, fc1 bias only.
model("relu_top2", ["x", "r", "w1", "b1", "w2"],
      dict(k=2, activation_type="relu", normalize_routing_weights=1),
      {"w1": rand(E, I, H), "b1": rand(E, I), "w2": rand(E, H, I)})
# Older [E, in, out] layout, gelu (the tanh form), top-1 without renormalization.
model("gelu_legacy_layout", ["x", "r", "w1", "", "w2"],
      dict(k=1, activation_type="gelu"),
      {"w1": rand(E, H, I), "w2": rand(E, I, H)})
# gpt-oss style clamped SwiGLU, interleaved, with biases, on [batch, seq, H].
model("swiglu_interleaved_3d", ["x", "r", "w1", "b1", "w2", "b2"],
      dict(k=2, activation_type="swiglu", swiglu_fusion=1, activation_alpha=1.702,
           activation_beta=1.0, swiglu_limit=7.0, normalize_routing_weights=1),
      {"w1": rand(E, 2 * I, H), "b1": rand(E, 2 * I), "w2": rand(E, H, I), "b2": rand(E, H)},
      x_shape=("B", "S", H))
# Separate gate (fc1) and up (fc3) projections.
model("swiglu_separate", ["x", "r", "w1", "", "w2", "", "w3"],
      dict(k=2, activation_type="swiglu", swiglu_fusion=0),
      {"w1": rand(E, I, H), "w2": rand(E, H, I), "w3": rand(E, I, H)})
# Near misses.
model("sparse_mixer", ["x", "r", "w1", "", "w2"],
      dict(k=2, activation_type="relu", use_sparse_mixer=1),
      {"w1": rand(E, I, H), "w2": rand(E, H, I)})
model("k_too_large", ["x", "r", "w1", "", "w2"],
      dict(k=5, activation_type="relu"),
      {"w1": rand(E, I, H), "w2": rand(E, H, I)})
model("qmoe", ["x", "r", "w1", "s1", "", "w2", "s2"],
      dict(k=2, activation_type="relu", expert_weight_bits=8),
      {"w1": rng.integers(0, 255, (E, I, H), dtype=np.uint8), "s1": rand(E, I),
       "w2": rng.integers(0, 255, (E, H, I), dtype=np.uint8), "s2": rand(E, H)},
      op="QMoE")
# Square fc1 (intermediate size == hidden size): the layout is ambiguous.
model("square", ["x", "r", "w1", "", "w2"], dict(k=2, activation_type="silu"),
      {"w1": rand(E, H, H), "w2": rand(E, H, H)})


def router_model(name, with_reshape):
    """onnxruntime-genai's layout: router MatMul + Add (bias) [+ Reshape] -> MoE."""
    nodes = [helper.make_node("MatMul", ["x", "router_w"], ["mm"], name="router_matmul"),
             helper.make_node("Add", ["mm", "router_b"], ["logits"], name="router_add")]
    probs = "logits"
    inits = {"router_w": rand(H, E), "router_b": rand(E), "w1": rand(E, I, H),
             "w2": rand(E, H, I)}
    if with_reshape:
        nodes.append(helper.make_node("Reshape", ["logits", "shape"], ["probs"],
                                      name="router_reshape"))
        inits["shape"] = np.array([-1, E], dtype=np.int64)
        probs = "probs"
    nodes.append(helper.make_node("MoE", ["x", probs, "w1", "", "w2"], ["y"],
                                  domain="com.microsoft", name=name, k=2,
                                  activation_type="relu", normalize_routing_weights=1))
    graph = helper.make_graph(
        nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["T", H])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["T", H])],
        initializer=[numpy_helper.from_array(v, n) for n, v in inits.items()])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                helper.make_opsetid("com.microsoft", 1)])
    save(m, name + ".onnx")


router_model("router_matmul_add", with_reshape=False)
router_model("router_matmul_add_reshape", with_reshape=True)


def u8(*shape):
    return rng.integers(0, 256, shape, dtype=np.uint8)


# QMoE, 4-bit, block-wise (blocks of 2 inputs), swiglu
# interleaved, with zero points: two 4-bit values per byte.
model("qmoe_int4_block", ["x", "r", "w1", "s1", "", "w2", "s2", "", "", "", "", "z1", "z2"],
      dict(k=2, activation_type="swiglu", swiglu_fusion=1, expert_weight_bits=4,
           block_size=2),
      {"w1": u8(E, 2 * I, H // 2), "s1": rand(E, 2 * I, H // 2),
       "w2": u8(E, H, I // 2), "s2": rand(E, H, I // 2),
       "z1": u8(E, 2 * I, H // 4), "z2": u8(E, H, (I // 2 + 1) // 2)},
      op="QMoE")
# Refused: 3-bit weights, scales of the wrong shape, a non-constant
# weight, separate router weights.
model("qmoe_3bit", ["x", "r", "w1", "s1", "", "w2", "s2"],
      dict(k=2, activation_type="relu", expert_weight_bits=3),
      {"w1": u8(E, I, 3), "s1": rand(E, I), "w2": u8(E, H, 3), "s2": rand(E, H)},
      op="QMoE")
model("qmoe_bad_scales", ["x", "r", "w1", "s1", "", "w2", "s2"],
      dict(k=2, activation_type="relu", expert_weight_bits=8),
      {"w1": u8(E, I, H), "s1": rand(E, H), "w2": u8(E, H, I), "s2": rand(E, H)},
      op="QMoE")
model("qmoe_weight_input", ["x", "r", "w1", "s1", "", "w2", "s2"],
      dict(k=2, activation_type="relu", expert_weight_bits=8),
      {"s1": rand(E, I), "w2": u8(E, H, I), "s2": rand(E, H)}, op="QMoE",
      extra_inputs=[helper.make_tensor_value_info("w1", TensorProto.UINT8, [E, I, H])])
model("qmoe_router_weights",
      ["x", "r", "w1", "s1", "", "w2", "s2", "", "", "", "", "", "", "", "r"],
      dict(k=2, activation_type="relu", expert_weight_bits=8),
      {"w1": u8(E, I, H), "s1": rand(E, I), "w2": u8(E, H, I), "s2": rand(E, H)},
      op="QMoE")
