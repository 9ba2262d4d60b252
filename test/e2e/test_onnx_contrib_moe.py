"""onnxruntime's com.microsoft.MoE models, end to end: moe-run imports the
.onnx file, raises the MoE node to moe ops (--onnx-raise-moe inside the CPU
pipeline), compiles and runs it; onnxruntime runs the same file."""

import numpy as np
import onnxruntime as ort
import pytest

from moe_opt.contrib_models import ContribMoE
from moe_run import run_onnx

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
    for tokens in (1, 7, 33):
        rng = np.random.default_rng(tokens)
        x = rng.standard_normal((tokens, layer.hidden)).astype(np.float32)
        logits = rng.standard_normal((tokens, layer.experts)).astype(np.float32)
        expected = onnxruntime_output(model, x, logits)
        (out,) = run_onnx(model, [x, logits])
        np.testing.assert_allclose(out, expected, rtol=1e-5,
                                   atol=1e-5 * np.abs(expected).max())
