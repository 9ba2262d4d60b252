"""The numpy reference of the moe dialect (moe_opt.reference), composed as
gate -> route -> dispatch -> experts -> combine, computes exactly what
onnxruntime's com.microsoft.MoE computes. This pins our reading of the
contrib op (weight layout, gelu flavour, SwiGLU details) before the importer
and backends rely on it."""

import numpy as np
import onnxruntime as ort
import pytest

from moe_opt import reference as ref
from moe_opt.contrib_models import ContribMoE


def run_onnxruntime(layer, x, logits):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(layer.model().SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    return session.run(None, {"input": x, "router_probs": logits})[0]


def run_reference(layer, x, logits):
    weights, ids = ref.route(logits, k=layer.k,
                             renormalize=bool(layer.normalize_routing_weights))
    rows, offsets, row_map = ref.dispatch(x.astype(np.float64), ids, layer.experts)
    w, b, attrs = layer.moe_experts_args()
    y = ref.experts(rows, offsets, [v.astype(np.float64) for v in w],
                    None if b is None else [v.astype(np.float64) for v in b], **attrs)
    return ref.combine(y, row_map, weights)


CASES = [
    dict(activation_type="relu", k=2),
    dict(activation_type="relu", k=1),
    dict(activation_type="relu", k=2, normalize_routing_weights=0),
    dict(activation_type="gelu", k=2),
    dict(activation_type="silu", k=2),
    dict(activation_type="identity", k=3),
    dict(activation_type="swiglu", swiglu_fusion=1, k=2),
    # gpt-oss's clamped SwiGLU.
    dict(activation_type="swiglu", swiglu_fusion=1, k=2, activation_alpha=1.702,
         activation_beta=1.0, swiglu_limit=7.0),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
@pytest.mark.parametrize("with_bias", [False, True])
@pytest.mark.parametrize("tokens", [1, 7])
def test_matches_onnxruntime(case, with_bias, tokens):
    layer = ContribMoE(tokens=tokens, hidden=8, inter=12, experts=5,
                       with_bias=with_bias, seed=tokens, **case)
    rng = np.random.default_rng(100 + tokens)
    x = rng.standard_normal((tokens, layer.hidden)).astype(np.float32)
    logits = rng.standard_normal((tokens, layer.experts)).astype(np.float32)
    expected = run_onnxruntime(layer, x, logits)
    actual = run_reference(layer, x, logits)
    # onnxruntime computes in fp32, the reference in fp64.
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())


def test_gelu_is_the_tanh_form():
    """onnxruntime's MoE gelu differs measurably from the erf form."""
    layer = ContribMoE(tokens=16, hidden=8, inter=12, experts=4, activation_type="gelu")
    rng = np.random.default_rng(3)
    x = (3 * rng.standard_normal((16, 8))).astype(np.float32)
    logits = rng.standard_normal((16, 4)).astype(np.float32)
    expected = run_onnxruntime(layer, x, logits)
    w, b, attrs = layer.moe_experts_args()
    assert attrs["activation"] == "gelu_tanh"
    erf_layer_out = run_reference_with_activation(layer, x, logits, "gelu")
    assert np.abs(erf_layer_out - expected).max() > 1e-5 * np.abs(expected).max()


def run_reference_with_activation(layer, x, logits, activation):
    weights, ids = ref.route(logits, k=layer.k, renormalize=True)
    rows, offsets, row_map = ref.dispatch(x.astype(np.float64), ids, layer.experts)
    w, b, attrs = layer.moe_experts_args()
    attrs["activation"] = activation
    return ref.combine(ref.experts(rows, offsets, w, b, **attrs), row_map, weights)
