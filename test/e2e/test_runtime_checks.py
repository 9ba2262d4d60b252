"""Inputs that the ONNX graph's types allow but its data does not (split
sizes fixed for an export's sample, a Reshape to a fixed element count,
indices out of range, k past the axis, negative sizes from data, dynamic
dims that must agree in elementwise ops, Concat and Einsum): where
onnxruntime refuses them, moe-run must too, with an error naming the node
and exit code 1, never a crash or numbers read past a tensor. The same
graph on inputs that fit must match onnxruntime."""

import os
import subprocess
import tempfile

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import helper  # noqa: E402

from moe_run import MOE_RUN  # noqa: E402
from test_onnx_ops import F, I64, make_model, vi  # noqa: E402
from test_onnx_indexing_ops import const  # noqa: E402

RNG = np.random.default_rng(3)


def f32(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def run_both(model, inputs):
    """(onnxruntime's outputs or None if it refused, moe-run's
    CompletedProcess, moe-run's outputs or None)."""
    names = [i.name for i in model.graph.input]
    session = ort.InferenceSession(model.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    try:
        expected = session.run(None, dict(zip(names, inputs)))
    except Exception:  # onnxruntime's own error types differ by version
        expected = None
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.onnx")
        onnx.save(model, path)
        args = [MOE_RUN, path, "-O0"]
        for i, value in enumerate(inputs):
            np.save(os.path.join(tmp, f"in{i}.npy"), value)
            args.append(f"--input=@{os.path.join(tmp, f'in{i}.npy')}")
        outs = [os.path.join(tmp, f"out{i}.npy") for i in range(len(model.graph.output))]
        args += [f"--output=@{o}" for o in outs]
        r = subprocess.run(args, capture_output=True, text=True)
        got = [np.load(o) for o in outs] if r.returncode == 0 else None
    return expected, r, got


def split_model():
    # A TorchScript export's per-expert split: sizes fixed for its sample.
    return make_model([const("sizes", [2, 3]),
                       helper.make_node("Split", ["x", "sizes"], ["a", "b"], name="/experts/Split")],
                      [vi("x", F, ["n", 4])], [vi("a", F, ["m", 4]), vi("b", F, ["k", 4])], opset=18)


def reshape_model():
    return make_model([const("shape", [-1, 8]),
                       helper.make_node("Reshape", ["x", "shape"], ["y"], name="/Reshape")],
                      [vi("x", F, ["n", 4])], [vi("y", F, ["m", 8])])


def gather_model():
    return make_model([helper.make_node("Gather", ["table", "ids"], ["y"], name="/embed/Gather")],
                      [vi("table", F, ["v", 4]), vi("ids", I64, ["n"])], [vi("y", F, ["n", 4])])


def top_k_model():
    return make_model([helper.make_node("TopK", ["x", "k"], ["v", "i"], name="/TopK")],
                      [vi("x", F, ["n", "e"]), vi("k", I64, [1])],
                      [vi("v", F, ["n", "j"]), vi("i", I64, ["n", "j"])])


def add_model():
    return make_model([helper.make_node("Add", ["x", "y"], ["z"], name="/Add")],
                      [vi("x", F, ["n", 4]), vi("y", F, ["m", 4])], [vi("z", F, ["n", 4])])


def concat_model():
    return make_model([helper.make_node("Concat", ["x", "y"], ["z"], axis=1, name="/Concat")],
                      [vi("x", F, ["n", 3]), vi("y", F, ["m", 5])], [vi("z", F, ["n", 8])])


def einsum_model():
    return make_model([helper.make_node("Einsum", ["x", "w"], ["y"], equation="ch,hi->ci",
                                        name="/experts/Einsum")],
                      [vi("x", F, ["c", "h"]), vi("w", F, ["k", 6])], [vi("y", F, ["c", 6])])


def constant_of_shape_model():
    return make_model([helper.make_node("ConstantOfShape", ["s"], ["y"], name="/ConstantOfShape",
                                        value=helper.make_tensor("v", F, [1], [1.5]))],
                      [vi("s", I64, [2])], [vi("y", F, ["a", "b"])])


def tile_model():
    return make_model([helper.make_node("Tile", ["x", "r"], ["y"], name="/Tile")],
                      [vi("x", F, ["n", 4]), vi("r", I64, [2])], [vi("y", F, ["a", "b"])])


def one_hot_model():
    return make_model([helper.make_node("OneHot", ["i", "d", "v"], ["y"], name="/OneHot")],
                      [vi("i", I64, ["n"]), vi("d", I64, []), vi("v", F, [2])],
                      [vi("y", F, ["n", "k"])])


def expand_model():
    return make_model([helper.make_node("Expand", ["x", "s"], ["y"], name="/Expand")],
                      [vi("x", F, [1, 4]), vi("s", I64, [2])], [vi("y", F, ["a", 4])])


CASES = {
    # name: (model, inputs that fit, inputs that do not, message)
    "split": (split_model, [f32(5, 4)], [f32(4, 4)],
              "onnx node '/experts/Split' (Split): the split sizes must be non-negative and add up"),
    "reshape": (reshape_model, [f32(6, 4)], [f32(3, 4)],
                "onnx node '/Reshape' (Reshape): the requested shape does not fit the input"),
    "gather": (gather_model, [f32(10, 4), np.array([0, 9, -10, 3])],
               [f32(10, 4), np.array([0, 10])],
               "onnx node '/embed/Gather' (Gather): an index is out of range"),
    "gather_negative": (gather_model, [f32(10, 4), np.array([-1])],
                        [f32(10, 4), np.array([2, -11])],
                        "onnx node '/embed/Gather' (Gather): an index is out of range"),
    "top_k": (top_k_model, [f32(3, 6), np.array([6])], [f32(3, 6), np.array([7])],
              "onnx node '/TopK' (TopK): k must be in [0, n]"),
    "add": (add_model, [f32(3, 4), f32(3, 4)], [f32(3, 4), f32(2, 4)],
            "onnx node '/Add' (Add): the inputs' shapes do not agree"),
    "einsum": (einsum_model, [f32(3, 4), f32(4, 6)], [f32(3, 4), f32(5, 6)],
               "onnx node '/experts/Einsum' (Einsum): the operands' shapes do not agree"),
    "constant_of_shape": (constant_of_shape_model, [np.array([2, 3])], [np.array([-1, 3])],
                          "onnx node '/ConstantOfShape' (ConstantOfShape): the shape's dims "
                          "must not be negative"),
    "tile": (tile_model, [f32(2, 4), np.array([3, 1])], [f32(2, 4), np.array([-1, 1])],
             "onnx node '/Tile' (Tile): the input's dims times the repeats must not be negative"),
    "one_hot": (one_hot_model, [np.array([0, 2, -1]), np.array(3), np.array([0.0, 1.0], np.float32)],
                [np.array([0, 1]), np.array(-3), np.array([0.0, 1.0], np.float32)],
                "onnx node '/OneHot' (OneHot): the depth and the indices' dims must not be negative"),
    "expand": (expand_model, [f32(1, 4), np.array([3, 4])], [f32(1, 4), np.array([-2, 4])],
               "onnx node '/Expand' (Expand): the broadcast shape's dims must not be negative"),
    "concat": (concat_model, [f32(3, 3), f32(3, 5)], [f32(3, 3), f32(4, 5)],
               "onnx node '/Concat' (Concat): the inputs' shapes do not agree"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_inputs_that_fit_match_onnxruntime(name):
    build, good, _, _ = CASES[name]
    expected, r, got = run_both(build(), good)
    assert expected is not None, "onnxruntime refused the inputs that fit"
    assert r.returncode == 0, r.stderr
    for e, g in zip(expected, got):
        np.testing.assert_allclose(g, e, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", sorted(CASES))
def test_inputs_that_do_not_fit_are_an_error(name):
    build, _, bad, message = CASES[name]
    expected, r, _ = run_both(build(), bad)
    assert expected is None, "onnxruntime accepted the inputs that do not fit"
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert f"moe-run: error: {message}" in r.stderr, r.stderr
