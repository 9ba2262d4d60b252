"""Writes the small dense masked models (every expert on every token,
combined through top-k weights scattered into a [T, E] gate matrix) that
raise-dense.test reads: one that raises and near misses that must not.

Run from this folder: /work/main/.venv/bin/python gen_dense.py
"""

import numpy as np

from graph_builder import GraphBuilder

E, K, H, I = 3, 2, 4, 6


def dense_model(name, columns=range(E), act=lambda e: "Relu", reads=lambda e: "x"):
    """columns: the gate column each term uses, in expert order (an expert
    per entry); act(e), reads(e): expert e's activation and rows."""
    g = GraphBuilder()
    g.const("k", np.array([K], np.int64))
    g.const("axis1", np.array([1], np.int64))
    logits = g.node("MatMul", ["x", g.const("wr", g.rand(H, E))], ["logits"])
    probs = g.node("Softmax", [logits], ["probs"], axis=-1)
    vals, ids = g.node("TopK", [probs, "k"], ["vals", "ids"], axis=-1, name="router_topk")
    base = g.fill(g.node("Shape", [probs], ["pshape"]), "base", 0.0)
    gates = g.node("ScatterElements", [base, ids, vals], ["gates"], axis=1)
    g.node("Mul", ["x", g.const("two", np.array(2.0, np.float32))], ["x2"])
    terms = []
    for e, col in enumerate(columns):
        up = g.node("MatMul", [reads(e), g.const(f"w1_{e}", g.rand(H, I))], [f"up{e}"])
        hid = g.node(act(e), [up], [f"act{e}"])
        out = g.node("MatMul", [hid, g.const(f"w2_{e}", g.rand(I, H))], [f"down{e}"])
        start = g.const(f"s{e}", np.array([col], np.int64))
        end = g.const(f"t{e}", np.array([col + 1], np.int64))
        column = g.node("Slice", [gates, start, end, "axis1"], [f"g{e}"])
        terms.append(g.node("Mul", [column, out], [f"term{e}"]))
    acc = terms[0]
    for e, t in enumerate(terms[1:], 1):
        acc = g.node("Add", [acc, t], [f"sum{e}"])
    g.node("Identity", [acc], ["y"])
    g.save(name, H)


# y = sum_e gates[:, e:e+1] * expert_e(x): raises.
dense_model("dense_columns")
# Near misses: expert 2 has no term; column 0 scales two experts; expert 1
# is not an FFN the experts op has (tanh); expert 1 reads 2 * x.
dense_model("dense_missing_expert", columns=range(E - 1))
dense_model("dense_column_twice", columns=[0, 0, 2])
dense_model("dense_tanh_expert", act=lambda e: "Tanh" if e == 1 else "Relu")
dense_model("dense_other_rows", reads=lambda e: "x2" if e == 1 else "x")
