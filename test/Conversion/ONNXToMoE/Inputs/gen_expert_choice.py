"""Writes the small expert-choice models (each expert takes its top-C tokens:
TopK along the token axis, stacked experts, scatter-add back) that
raise-expert-choice.test reads: one that raises and near misses that must
not.

Run from this folder: /work/main/.venv/bin/python gen_expert_choice.py
"""

import numpy as np

from graph_builder import GraphBuilder

E, H, I = 3, 4, 6


def capacity_of(g, tokens, capacity):
    """C from the token count: "ceil" (T + 1) // 2 (factor 1.5 for 3
    experts), "floor" T // 2, "const" 2."""
    two = g.const("two", np.array(2))
    if capacity == "ceil":
        t1 = g.node("Add", [tokens, g.const("one", np.array(1))], ["t1"])
        return g.node("Div", [t1, two], ["count"])
    if capacity == "floor":
        return g.node("Div", [tokens, two], ["count"])
    return g.const("count", np.array(2))


def choice_model(name, capacity="ceil", rows_from="x"):
    """rows_from: the tensor the experts' rows are gathered from."""
    g = GraphBuilder()
    logits = g.node("MatMul", ["x", g.const("wr", g.rand(H, E))], ["logits"])
    probs = g.node("Softmax", [logits], ["probs"], axis=-1)
    probs_t = g.node("Transpose", [probs], ["probs_t"], perm=[1, 0])
    shape = g.node("Shape", ["x"], ["xshape"])
    tokens = g.node("Gather", [shape, g.const("zero", np.array(0))], ["tokens"], axis=0)
    count = capacity_of(g, tokens, capacity)
    c = g.node("Reshape", [count, g.const("shape1", np.array([1]))], ["c"])
    vals, ids = g.node("TopK", [probs_t, c], ["vals", "ids"], axis=1, name="choice_topk")
    g.node("Mul", ["x", g.const("twof", np.array(2.0, np.float32))], ["x2"])
    rows = g.node("Gather", [rows_from, ids], ["rows"], axis=0)
    up = g.node("MatMul", [rows, g.const("w1", g.rand(E, H, I))], ["up"])
    hid = g.node("Relu", [up], ["act"])
    out = g.node("MatMul", [hid, g.const("w2", g.rand(E, I, H))], ["down"])
    gate = g.node("Unsqueeze", [vals, g.const("last", np.array([-1]))], ["gate"])
    scaled = g.node("Mul", [out, gate], ["scaled"])
    flat = g.node("Reshape", [scaled, g.const("rowshape", np.array([-1, H]))], ["flat"])
    idcol = g.node("Reshape", [ids, g.const("colshape", np.array([-1, 1]))], ["idcol"])
    idx = g.node("Expand", [idcol, g.const("bshape", np.array([1, H]))], ["idx"])
    zeros = g.fill(g.node("Shape", ["x"], ["xshape2"]), "zeros", 0.0)
    g.node("ScatterElements", [zeros, idx, flat], ["y"], axis=0, reduction="add")
    g.save(name, H)


# C = ceil(T * 1.5 / 3): raises with capacity_factor 1.5.
choice_model("choice_relu")
# Near misses: C rounds down; C is a constant for any T; the experts read
# rows of 2 * x, not of the router's tokens.
choice_model("choice_floor", capacity="floor")
choice_model("choice_const", capacity="const")
choice_model("choice_other_rows", rows_from="x2")
