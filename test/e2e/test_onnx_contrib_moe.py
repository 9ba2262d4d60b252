"""onnxruntime's com.microsoft.MoE models, end to end: moe-run imports the
.onnx file, raises the MoE node to moe ops (--onnx-raise-moe inside the CPU
pipeline), compiles and runs it; onnxruntime runs the same file."""

import os

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from moe_opt.contrib_models import ContribMoE
from moe_run import run_onnx, run_onnx_calls

CASES = {
    "relu_top2": dict(activation_type="relu", k=2),
    "relu_top1": dict(activation_type="relu", k=1),
    "relu_no_norm": dict(activation_type="relu", k=2, normalize_routing_weights=0),
    "gelu": dict(activation_type="gelu", k=2),
    "silu_top3": dict(activation_type="silu", k=3),
    "identity": dict(activation_type="identity", k=2),
    "swiglu": dict(activation_type="swiglu", swiglu_fusion=1, k=2),
    "gpt_oss_clamped_swiglu": dict(activation_type="swiglu", swiglu_fusion=1, k=2,
                                   activation_alpha=1.702, activation_beta=1.0,
                                   swiglu_limit=7.0),
}


def onnxruntime_output(model, x, logits):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    return session.run(None, {"input": x, "router_probs": logits})[0]


@pytest.mark.parametrize("with_bias", [False, True])
@pytest.mark.parametrize("name", sorted(CASES))
def test_contrib_moe_matches_onnxruntime(name, with_bias):
    layer = ContribMoE(tokens=0, hidden=16, inter=24, experts=6, with_bias=with_bias,
                       seed=len(name), **CASES[name])
    model = layer.model()
    # One compiled model, several token counts (the token axis is dynamic),
    # including 1 and counts that are not multiples of any tile.
    assert_matches_onnxruntime(model, layer, (1, 7, 33))


def assert_matches_onnxruntime(model, layer, token_counts, extra_args=()):
    """Runs `model` through moe-run once for all `token_counts` and
    compares each with onnxruntime."""
    calls = []
    for tokens in token_counts:
        rng = np.random.default_rng(tokens)
        calls.append([rng.standard_normal((tokens, layer.hidden)).astype(np.float32),
                      rng.standard_normal((tokens, layer.experts)).astype(np.float32)])
    for (x, logits), (out,) in zip(calls, run_onnx_calls(model, calls, extra_args=extra_args)):
        expected = onnxruntime_output(model, x, logits)
        np.testing.assert_allclose(out, expected, rtol=1e-5,
                                   atol=1e-5 * np.abs(expected).max(),
                                   err_msg=f"{len(x)} tokens")


@pytest.mark.parametrize("pack", [False, True])
@pytest.mark.parametrize("name", ["gelu", "swiglu"])
def test_contrib_moe_weights_as_parameters(name, pack):
    """Every weight (biases and the [E, out, in] expert weights included)
    passed to the compiled code as a parameter bound to the model's bytes,
    as is or transposed once by moe-run for the matmuls, gives onnxruntime's
    results."""
    layer = ContribMoE(tokens=0, hidden=16, inter=24, experts=6, with_bias=True,
                       seed=len(name), **CASES[name])
    model = layer.model()
    assert_matches_onnxruntime(model, layer, (1, 33), extra_args=[
        "--parameter-min-bytes=1", f"--pack-parameters={int(pack)}"])


LIT_INPUTS = os.path.join(os.path.dirname(__file__), "..", "Conversion", "ONNXToMoE", "Inputs")


@pytest.mark.parametrize("name", ["router_matmul_add", "router_matmul_add_reshape",
                                  "relu_top2", "swiglu_interleaved_3d"])
def test_lit_models_match_onnxruntime(name):
    """The raising tests' models (router subgraphs, the older weight layout,
    [batch, seq, hidden] inputs) also compute what onnxruntime computes."""
    model = onnx.load(os.path.join(LIT_INPUTS, name + ".onnx"))
    session = ort.InferenceSession(model.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(3)
    feeds = {}
    for graph_input in session.get_inputs():
        # T = 6 tokens, as batch 2 x seq 3 for 3-D inputs.
        shape = [{"T": 6, "B": 2, "S": 3}.get(d, d) for d in graph_input.shape]
        feeds[graph_input.name] = rng.standard_normal(shape).astype(np.float32)
    expected = session.run(None, feeds)[0]
    (out,) = run_onnx(model, [feeds[i.name] for i in session.get_inputs()])
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())


def test_legacy_weight_layout_matches_reference():
    """Older models store [E, in, out] weights. onnxruntime 1.32's CPU kernel
    reads every model as [E, out, in] without checking the shapes, so the
    oracle here is the numpy reference."""
    from onnx import numpy_helper

    from moe_opt import reference as ref

    model = onnx.load(os.path.join(LIT_INPUTS, "gelu_legacy_layout.onnx"))
    w = {t.name: numpy_helper.to_array(t).astype(np.float64) for t in model.graph.initializer}
    rng = np.random.default_rng(4)
    x = rng.standard_normal((9, 8)).astype(np.float32)
    logits = rng.standard_normal((9, 4)).astype(np.float32)
    weights, ids = ref.route(logits, k=1)
    rows, offsets, row_map = ref.dispatch(x.astype(np.float64), ids, 4)
    y = ref.experts(rows, offsets, [w["w1"], w["w2"]], activation="gelu_tanh")
    expected = ref.combine(y, row_map, weights)
    (out,) = run_onnx(model, [x, logits])
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())
