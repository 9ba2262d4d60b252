"""Writes the small Llama-4-style models that raise-scaled-input.test reads:
every expert on all tokens scaled by sigmoid(top-k logits scattered into
-inf). With top-1 it raises; with top-2 it must not, since scaling an
expert's input by one of two weights is not a scaled dispatch.

Run from this folder: /work/main/.venv/bin/python gen_scaled_input.py
"""

import numpy as np
from graph_builder import GraphBuilder

E, H, I = 3, 4, 6


def scaled_input(name, k):
    g = GraphBuilder()
    logits = g.node("MatMul", ["x", g.const("wr", g.rand(H, E))], ["logits"])
    vals, ids = g.node("TopK", [logits, g.const("k", np.array([k], np.int64))],
                       ["vals", "ids"], axis=-1)
    minf = g.fill(g.node("Shape", [logits], ["shape"]), "minf", -np.inf)
    scores = g.node("Sigmoid", [g.node("ScatterElements", [minf, ids, vals], ["sc"], axis=1)],
                    ["scores"])
    columns = g.node("Reshape", [g.node("Transpose", [scores], ["st"], perm=[1, 0]),
                                 g.const("col", np.array([-1, 1], np.int64))], ["cols"])
    rep = g.node("Tile", ["x", g.const("reps", np.array([E, 1], np.int64))], ["rep"])
    rows = g.node("Reshape", [g.node("Mul", [rep, columns], ["scaled"]),
                              g.const("ETH", np.array([E, -1, H], np.int64))], ["rows"])
    up = g.node("MatMul", [rows, g.const("w1", g.rand(E, H, I))], ["up"])
    act = g.node("Relu", [up], ["act"])
    down = g.node("MatMul", [act, g.const("w2", g.rand(E, I, H))], ["down"])
    g.node("ReduceSum", [down, g.const("axis0", np.array([0], np.int64))], ["y"], keepdims=0)
    g.save(name, H)


scaled_input("scaled_top1", 1)
scaled_input("scaled_top2", 2)
