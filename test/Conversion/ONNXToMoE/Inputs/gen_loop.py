"""Writes the small per-expert loop models (Mixtral / OLMoE style, as the
dynamo exporter writes them) that raise-loop.test reads: one that raises and
near misses that must not.

Run from this folder: /work/main/.venv/bin/python gen_loop.py
"""

import numpy as np
from onnx import TensorProto, helper, numpy_helper, save

E, K, H, I = 3, 2, 4, 6
rng = np.random.default_rng(0)


def rand(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def loop_model(name, experts=range(E), scatter_by=None):
    """experts: the loop bodies written; scatter_by(e) -> the expert whose
    token coordinates expert e's rows are scattered to (default: e)."""
    nodes, inits = [], {}

    def const(n, v):
        inits[n] = np.asarray(v)
        return n

    def node(op, ins, outs, **attrs):
        nodes.append(helper.make_node(op, ins, outs, **attrs))
        return outs[0] if len(outs) == 1 else outs

    const("wr", rand(H, E))
    const("k", np.array([K], np.int64))
    const("last", np.array([-1], np.int64))
    const("one", np.array([1], np.int64))
    const("split11", np.array([1, 1], np.int64))
    logits = node("MatMul", ["x", "wr"], ["logits"])
    probs = node("Softmax", [logits], ["probs"], axis=-1)
    vals, ids = node("TopK", [probs, "k"], ["vals", "ids"], axis=-1, name="router_topk")
    zeros = node("ConstantOfShape", [node("Shape", ["x"], ["xshape"])], ["zeros"],
                 value=helper.make_tensor("z", TensorProto.FLOAT, [1], [0.0]))
    tokens = {}
    for e in range(E):
        mask = node("Equal", [ids, const(f"e{e}", np.array(e, np.int64))], [f"mask{e}"])
        nz = node("Transpose", [node("NonZero", [mask], [f"nz{e}"])], [f"nzt{e}"], perm=[1, 0])
        tok, slot = node("Split", [nz, "split11"], [f"tok{e}_", f"slot{e}_"], axis=1)
        tokens[e] = (node("Squeeze", [tok, "one"], [f"tok{e}"]),
                     node("Squeeze", [slot, "one"], [f"slot{e}"]))
    acc = zeros
    for e in experts:
        tok, slot = tokens[e]
        rows = node("Gather", ["x", tok], [f"rows{e}"], axis=0)
        hid = node("Relu", [node("MatMul", [rows, const(f"w1_{e}", rand(H, I))], [f"up{e}"])],
                   [f"act{e}"])
        out = node("MatMul", [hid, const(f"w2_{e}", rand(I, H))], [f"down{e}"])
        tok2 = node("Unsqueeze", [tok, "last"], [f"tok2_{e}"])
        slot2 = node("Unsqueeze", [slot, "last"], [f"slot2_{e}"])
        coords = node("Concat", [tok2, slot2], [f"coords{e}"], axis=-1)
        w = node("Unsqueeze", [node("GatherND", [vals, coords], [f"w{e}_"]), "last"], [f"w{e}"])
        scaled = node("Mul", [out, w], [f"scaled{e}"])
        target = tok2 if scatter_by is None else node(
            "Unsqueeze", [tokens[scatter_by(e)][0], "last"], [f"target{e}"])
        acc = node("ScatterND", [acc, target, scaled], [f"acc{e}"], reduction="add")
    node("Identity", [acc], ["y"])
    graph = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["T", H])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["T", H])],
        initializer=[numpy_helper.from_array(v, n) for n, v in inits.items()])
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]),
         name + ".onnx")


loop_model("loop_relu")
# Expert 1's rows are scattered to expert 0's tokens.
loop_model("loop_crossed_scatter", scatter_by=lambda e: 0)
# The router has 3 experts, the loop runs 2.
loop_model("loop_missing_expert", experts=range(E - 1))
