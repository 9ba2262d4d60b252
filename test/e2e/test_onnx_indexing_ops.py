"""Indexing ONNX operators end to end (ConstantOfShape, OneHot, NonZero,
GatherElements, GatherND, ScatterElements, ScatterND, CumSum, Split, Tile,
Einsum): one-node graphs with a dynamic dim, imported by moe-opt, lowered
and run by moe-run, compared with onnxruntime at several sizes including 1."""

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper  # noqa: E402

from test_onnx_ops import F, I64, check, make_model, vi  # noqa: E402

RNG = np.random.default_rng(1)
SIZES = (1, 3, 7)
TOL = dict(rtol=1e-5, atol=1e-6)


def f32(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def ints(low, high, *shape):
    return RNG.integers(low, high, shape).astype(np.int64)


def const(name, values, dtype=TensorProto.INT64):
    arr = np.asarray(values)
    return helper.make_node("Constant", [], [name], value=helper.make_tensor(
        name + "_v", dtype, arr.shape, arr.flatten().tolist()))


def test_constant_of_shape():
    model = make_model(
        [helper.make_node("Shape", ["x"], ["s"]),
         helper.make_node("ConstantOfShape", ["s"], ["y"],
                          value=helper.make_tensor("v", F, [1], [2.5]))],
        [vi("x", F, ["n", 3])], [vi("y", F, ["n", 3])])
    check(model, lambda n: [f32(n, 3)], **TOL)


@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_one_hot(axis):
    out = {-1: ["n", 5, 6], 0: [6, "n", 5], 1: ["n", 6, 5]}[axis]
    model = make_model(
        [const("depth", 6), const("values", [-1.0, 3.0], F),
         helper.make_node("OneHot", ["i", "depth", "values"], ["y"], axis=axis)],
        [vi("i", I64, ["n", 5])], [vi("y", F, out)])
    # Negative indices count from the end; -7 and 6 are out of range.
    check(model, lambda n: [ints(-7, 7, n, 5)], sizes=SIZES, **TOL)


@pytest.mark.parametrize("elem", [F, TensorProto.BOOL])
def test_non_zero(elem):
    model = make_model([helper.make_node("NonZero", ["x"], ["y"])],
                       [vi("x", elem, ["n", 4])], [vi("y", I64, [2, "m"])])

    def feeds(n):
        x = f32(n, 4) * (RNG.random((n, 4)) < 0.4)
        return [x if elem == F else x != 0]
    check(model, feeds, sizes=SIZES + (0,), **TOL)


def test_non_zero_then_gather_nd():
    """torch.where + x[rows]: NonZero -> Transpose -> GatherND."""
    model = make_model(
        [helper.make_node("NonZero", ["m"], ["nz"]),
         helper.make_node("Transpose", ["nz"], ["idx"], perm=[1, 0]),
         helper.make_node("GatherND", ["x", "idx"], ["y"])],
        [vi("m", TensorProto.BOOL, ["n", 3]), vi("x", F, ["n", 3, 8])],
        [vi("y", F, ["k", 8])])
    check(model, lambda n: [RNG.random((n, 3)) < 0.5, f32(n, 3, 8)], **TOL)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_gather_elements(axis):
    model = make_model(
        [helper.make_node("GatherElements", ["x", "i"], ["y"], axis=axis)],
        [vi("x", F, ["n", 6]), vi("i", I64, ["n", 4])], [vi("y", F, ["n", 4])])

    def feeds(n):
        size = n if axis == 0 else 6
        return [f32(n, 6), ints(-size, size, n, 4)]
    check(model, feeds, **TOL)


@pytest.mark.parametrize("batch_dims,k", [(0, 1), (0, 2), (1, 1)])
def test_gather_nd(batch_dims, k):
    out = {(0, 1): ["n", 5, 8], (0, 2): ["n", 8], (1, 1): [4, "n", 8]}[(batch_dims, k)]
    ind = {(0, 1): ["n", 1], (0, 2): ["n", 2], (1, 1): [4, "n", 1]}[(batch_dims, k)]
    model = make_model(
        [helper.make_node("GatherND", ["x", "i"], ["y"], batch_dims=batch_dims)],
        [vi("x", F, [4, 5, 8]), vi("i", I64, ind)], [vi("y", F, out)])

    def feeds(n):
        if batch_dims == 1:
            return [f32(4, 5, 8), ints(-5, 5, 4, n, 1)]
        i = ints(-4, 4, n, k)
        if k == 2:
            i[:, 1] = ints(-5, 5, n)
        return [f32(4, 5, 8), i]
    check(model, feeds, **TOL)


@pytest.mark.parametrize("reduction", [None, "add", "mul", "max", "min"])
@pytest.mark.parametrize("axis", [0, 1])
def test_scatter_elements(reduction, axis):
    attrs = {"axis": axis}
    if reduction:
        attrs["reduction"] = reduction
    model = make_model(
        [helper.make_node("ScatterElements", ["x", "i", "u"], ["y"], **attrs)],
        [vi("x", F, [6, 5]), vi("i", I64, ["n", 5] if axis == 0 else [6, "n"]),
         vi("u", F, ["n", 5] if axis == 0 else [6, "n"])],
        [vi("y", F, [6, 5])], opset=18)

    def feeds(n):
        shape = (n, 5) if axis == 0 else (6, n)
        size = 6 if axis == 0 else 5
        if reduction is None:
            # Unique targets per lane: a permutation along the axis.
            i = np.stack([RNG.permutation(size)[:n] for _ in range(shape[1 - axis])],
                         axis=1 - axis)
            i = np.where(RNG.random(i.shape) < 0.5, i - size, i).astype(np.int64)
            return [f32(6, 5), i, f32(*shape)]
        return [f32(6, 5), ints(-size, size, *shape), f32(*shape)]
    sizes = (1, 3, 5) if reduction is None else SIZES
    check(model, feeds, sizes=sizes, **TOL)


def test_scatter_elements_index_add():
    """torchscript index_add_: Add(acc, ScatterElements(zeros, Expand(idx), v))."""
    model = make_model(
        [helper.make_node("Shape", ["acc"], ["s"]),
         helper.make_node("ConstantOfShape", ["s"], ["z"],
                          value=helper.make_tensor("v", F, [1], [0.0])),
         helper.make_node("ScatterElements", ["z", "i", "u"], ["sc"], axis=0),
         helper.make_node("Add", ["acc", "sc"], ["y"])],
        [vi("acc", F, ["t", 8]), vi("i", I64, ["n", 8]), vi("u", F, ["n", 8])],
        [vi("y", F, ["t", 8])])

    def feeds(n):
        rows = RNG.permutation(9)[:n]
        return [f32(9, 8), np.repeat(rows[:, None], 8, 1).astype(np.int64), f32(n, 8)]
    check(model, feeds, **TOL)


@pytest.mark.parametrize("reduction", [None, "add"])
def test_scatter_nd(reduction):
    attrs = {"reduction": reduction} if reduction else {}
    model = make_model(
        [helper.make_node("ScatterND", ["x", "i", "u"], ["y"], **attrs)],
        [vi("x", F, ["t", 8]), vi("i", I64, ["n", 1]), vi("u", F, ["n", 8])],
        [vi("y", F, ["t", 8])], opset=18)

    def feeds(n):
        if reduction is None:
            i = RNG.permutation(9)[:n][:, None] - 9 * (RNG.random((n, 1)) < 0.5)
        else:
            i = ints(-9, 9, n, 1)
        return [f32(9, 8), i.astype(np.int64), f32(n, 8)]
    check(model, feeds, **TOL)


def test_scatter_nd_full_index():
    model = make_model(
        [helper.make_node("ScatterND", ["x", "i", "u"], ["y"], reduction="add")],
        [vi("x", F, [4, 6]), vi("i", I64, ["n", 2]), vi("u", F, ["n"])],
        [vi("y", F, [4, 6])], opset=18)
    check(model, lambda n: [f32(4, 6), np.stack([ints(0, 4, n), ints(-6, 6, n)], 1),
                            f32(n)], **TOL)


@pytest.mark.parametrize("exclusive", [0, 1])
@pytest.mark.parametrize("reverse", [0, 1])
@pytest.mark.parametrize("axis", [0, -1])
@pytest.mark.parametrize("elem", [F, I64])
def test_cumsum(exclusive, reverse, axis, elem):
    model = make_model(
        [const("axis", axis),
         helper.make_node("CumSum", ["x", "axis"], ["y"], exclusive=exclusive,
                          reverse=reverse)],
        [vi("x", elem, ["n", 5])], [vi("y", elem, ["n", 5])])
    data = (lambda n: [f32(n, 5)]) if elem == F else (lambda n: [ints(-9, 9, n, 5)])
    check(model, data, **TOL)


@pytest.mark.parametrize("split", [None, [2, 4]])
def test_split(split):
    nodes = []
    inputs = ["x"]
    if split:
        nodes.append(const("sp", split))
        inputs.append("sp")
    nodes.append(helper.make_node("Split", inputs, ["a", "b"], axis=1))
    model = make_model(nodes, [vi("x", F, ["n", 6])],
                       [vi("a", F, ["n", None]), vi("b", F, ["n", None])])
    check(model, lambda n: [f32(n, 6)], **TOL)


def test_split_uneven_opset18():
    model = make_model(
        [helper.make_node("Split", ["x"], ["a", "b", "c"], axis=0, num_outputs=3)],
        [vi("x", F, ["n", 2])],
        [vi(o, F, [None, 2]) for o in "abc"], opset=18)
    check(model, lambda n: [f32(n + 5, 2)], **TOL)


def test_tile():
    model = make_model(
        [const("r", [2, 3]), helper.make_node("Tile", ["x", "r"], ["y"])],
        [vi("x", F, ["n", 4])], [vi("y", F, [None, 12])])
    check(model, lambda n: [f32(n, 4)], **TOL)


@pytest.mark.parametrize("equation,shapes", [
    ("ech,ehi->eci", [(4, "n", 6), (4, 6, 5)]),
    ("eci,eih->ech", [(4, "n", 5), (4, 5, 6)]),
    ("bh,bhi->bi", [("n", 6), ("n", 6, 5)]),
    ("beck,bk->bec", [("n", 3, 4, 5), ("n", 5)]),
    ("beck,bek->bec", [("n", 3, 4, 5), ("n", 3, 5)]),
    ("bec,be->bc", [("n", 3, 4), ("n", 3)]),
    ("ij,jk", [("n", 6), (6, 5)]),
    ("bk,bkc,b->bc", [("n", 3), ("n", 3, 4), ("n",)]),
])
def test_einsum(equation, shapes):
    names = [f"x{i}" for i in range(len(shapes))]
    lhs = equation.split("->")[0].replace(",", "")
    out_rank = (len(equation.split("->")[1]) if "->" in equation
                else sum(lhs.count(c) == 1 for c in set(lhs)))
    model = make_model(
        [helper.make_node("Einsum", names, ["y"], equation=equation)],
        [vi(nm, F, list(s)) for nm, s in zip(names, shapes)],
        [vi("y", F, [None] * out_rank)])

    def feeds(n):
        return [f32(*[n if d == "n" else d for d in s]) for s in shapes]
    check(model, feeds, **TOL)
