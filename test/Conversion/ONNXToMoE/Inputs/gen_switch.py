"""Writes the small Switch top-1 models that raise-switch.test reads: one
that raises (rows assigned whole, Equal(ids, e) masks) and near misses that
must not (a capacity whose dropped tokens keep their input, a capacity
counted exclusively, rows written to another expert's tokens) plus an
argmax classifier head that must be left alone without a word; and layers
whose router reads [batch, seq, hidden] tokens and counts the capacity per
sequence (transformers' SwitchTransformersSparseMLP), with a near miss.

Run from this folder: /work/main/.venv/bin/python gen_switch.py
"""

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from graph_builder import GraphBuilder

E, H, I = 3, 4, 6
rng = np.random.default_rng(0)


def rand(*shape):
    return rng.standard_normal(shape).astype(np.float32)


class Graph(GraphBuilder):
    def save(self, name, elem=TensorProto.FLOAT):
        super().save(name, H, out_elem=elem, out_dims=["T", None])

    def save_3d(self, name):
        """Input x and output y as [B, S, hidden]."""
        io = [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["B", "S", H]) for n in "xy"]
        graph = helper.make_graph(self.nodes, name, io[:1], io[1:], initializer=[
            numpy_helper.from_array(v, n) for n, v in self.inits.items()])
        onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]),
                  name + ".onnx")


def router(g, x="x", sequences=None):
    logits = g.node("MatMul", [x, g.const("wr", rand(H, E))], ["logits"])
    if sequences:
        logits = g.node("Reshape", [logits, g.const("bse", np.array([sequences, -1, E], np.int64))],
                        ["logits3"])
    probs = g.node("Softmax", [logits], ["probs"], axis=-1)
    ids = g.node("ArgMax", [probs], ["ids"], axis=-1, keepdims=0, name="router_argmax")
    return probs, ids


def capacity_mask(g, ids, capacity, exclusive=0, axis=0):
    """one_hot(ids) * (cumsum(one_hot, axis) <= capacity), as bool [T, E]
    (axis 1 of [batch, seq, E]: per sequence, flattened to [T, E])."""
    onehot = g.node("OneHot", [ids, g.const("depth", np.array(E, np.int64)),
                               g.const("onoff", np.array([0, 1], np.int64))], ["onehot"], axis=-1)
    prio = g.node("CumSum", [onehot, g.const("axis0", np.array(axis, np.int64))], ["prio"],
                  exclusive=exclusive)
    keep = g.node("LessOrEqual", [prio, g.const("cap", np.array(capacity, np.int64))], ["keep"])
    kept = g.node("Mul", [onehot, g.node("Cast", [keep], ["keep_i"], to=TensorProto.INT64)],
                  ["kept"])
    mask = g.node("Cast", [kept], ["mask"], to=TensorProto.BOOL)
    if axis == 0:
        return mask
    return g.node("Reshape", [mask, g.const("flat", np.array([-1, E], np.int64))], ["mask2"])


def switch_model(name, capacity=None, exclusive=0, start="zeros", scatter_by=None,
                 gather="GatherND", sequences=None, input_3d=False, logits_3d=False):
    """Whole-row assignment out[mask_e] = relu-ffn_e(x[mask_e]); scatter_by(e):
    the expert whose rows expert e's output is written to (default e);
    gather: GatherND(x, [n, 1]) or Gather(x, [n]) rows; sequences: route the
    tokens as [sequences, seq, H] and count the capacity per sequence."""
    g = Graph()
    if input_3d:
        # transformers' form: route [B, S, H], compute on x.view(-1, H).
        probs, ids = router(g)
        g.node("Reshape", ["x", g.const("rowsh", np.array([-1, H], np.int64))], ["x2"])
    elif logits_3d:
        probs, ids = router(g, sequences=sequences)
    elif sequences is None:
        probs, ids = router(g)
    else:
        shape = g.const("bsh", np.array([sequences, -1, H], np.int64))
        probs, ids = router(g, g.node("Reshape", ["x", shape], ["x3"]))
    if capacity is None:
        columns = [g.node("Equal", [ids, g.const(f"e{e}", np.array(e, np.int64))], [f"m{e}"])
                   for e in range(E)]
    else:
        per_seq = sequences is not None or input_3d
        mask = capacity_mask(g, ids, capacity, exclusive, axis=1 if per_seq else 0)
        columns = [g.node("Gather", [mask, g.const(f"e{e}", np.array(e, np.int64))], [f"m{e}"],
                          axis=1) for e in range(E)]
    coords = [g.node("Transpose", [g.node("NonZero", [m], [f"nz{e}"])], [f"rows{e}_idx"],
                     perm=[1, 0]) for e, m in enumerate(columns)]
    xs = "x2" if input_3d else "x"
    acc = xs if start == "x" else g.node(
        "ConstantOfShape", [g.node("Shape", [xs], ["xshape"])], ["zeros"],
        value=helper.make_tensor("z", TensorProto.FLOAT, [1], [0.0]))
    for e in range(E):
        if gather == "GatherND":
            rows = g.node("GatherND", [xs, coords[e]], [f"rows{e}"])
        else:
            ids_e = g.node("Squeeze", [coords[e], g.const("axis1", np.array([1], np.int64))],
                           [f"tok{e}"])
            rows = g.node("Gather", [xs, ids_e], [f"rows{e}"], axis=0)
        hid = g.node("Relu", [g.node("MatMul", [rows, g.const(f"wi{e}", rand(H, I))], [f"up{e}"])],
                     [f"act{e}"])
        out = g.node("MatMul", [hid, g.const(f"wo{e}", rand(I, H))], [f"down{e}"])
        target = coords[e if scatter_by is None else scatter_by(e)]
        acc = g.node("ScatterND", [acc, target, out], [f"acc{e}"])
    pmax = g.node("ReduceMax", [probs], ["pmax"], axes=[-1], keepdims=1)
    if sequences is not None or input_3d:
        pmax = g.node("Reshape", [pmax, g.const("col", np.array([-1, 1], np.int64))], ["pmax2"])
    if not input_3d:
        g.node("Mul", [pmax, acc], ["y"])
        g.save(name)
        return
    y2 = g.node("Mul", [pmax, acc], ["y2"])
    g.node("Reshape", [y2, g.node("Shape", ["x"], ["x3shape"])], ["y"])
    g.save_3d(name)


def argmax_classifier():
    """softmax + argmax + one-hot of a prediction, with no experts."""
    g = Graph()
    _, ids = router(g)
    g.node("OneHot", [ids, g.const("depth", np.array(E, np.int64)),
                      g.const("onoff", np.array([0, 1], np.int64))], ["y"], axis=-1)
    g.save("argmax_classifier", TensorProto.INT64)


switch_model("switch_rows")
switch_model("switch_rows_capacity", capacity=2, gather="Gather")
# HF's older SparseMLP: dropped tokens keep x (then scaled), not 0.
switch_model("switch_capacity_passthrough", capacity=2, start="x")
# An exclusive count keeps capacity + 1 tokens.
switch_model("switch_capacity_exclusive", capacity=2, exclusive=1)
# Expert 1's output goes to expert 2's rows.
switch_model("switch_crossed", scatter_by=lambda e: {1: 2}.get(e, e))
argmax_classifier()
# transformers' SparseMLP: capacity counted per sequence of 2 sequences.
switch_model("switch_capacity_per_sequence", capacity=2, sequences=2)
# The same as transformers writes it: [B, S, H] in and out.
switch_model("switch_capacity_per_sequence_3d", capacity=2, input_3d=True)
# Near miss: the sequences are cut from the router logits, not its tokens.
switch_model("switch_capacity_per_sequence_logits", capacity=2, sequences=2, logits_3d=True)
# The 3-D layer with widths the GPU kernels take (multiples of 8), for the
# GPU layer of the per-sequence capacity.
H, I = 16, 16
switch_model("switch_capacity_per_sequence_3d_h16", capacity=2, input_3d=True)
