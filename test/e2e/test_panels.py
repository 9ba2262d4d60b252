"""Expert weights stored in column panels (moe-pack-panels, packed once by
moe-run, walked panel by panel by the grouped matmul), end to end against
onnxruntime or the numpy reference: groups of 1, 7 and 130 rows (none a
multiple of the register tile), empty groups, biases, both weight layouts,
and widths that are not a whole number of panels (which keep the plain
layout)."""

import os
import subprocess
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from moe_opt import reference as ref
from moe_opt.contrib_models import ContribMoE
from moe_run import BUILD_DIR, run_onnx, run_onnx_calls
from test_onnx_contrib_moe import onnxruntime_output

HIDDEN = 64


def lowered_signature(model):
    """The entry point's signature and parameters after moe-pack-parameters."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.onnx")
        onnx.save(model, path)
        result = subprocess.run(
            [os.path.join(BUILD_DIR, "bin", "moe-opt"), path, "--moe-cpu-pipeline",
             "--mlir-print-ir-before=moe-prepare-entry-points",
             "--mlir-elide-resource-strings-if-larger=1", "-o", os.devnull],
            capture_output=True, text=True, check=True)
    return [line for line in result.stderr.splitlines() if "moe.parameters" in line][0]


def routed_to(groups, experts, rng):
    """Top-1 logits that send groups[e] tokens to expert e, tokens shuffled."""
    owner = np.concatenate([np.full(n, e) for e, n in enumerate(groups)])
    rng.shuffle(owner)
    logits = rng.standard_normal((owner.size, experts)).astype(np.float32)
    logits[np.arange(owner.size), owner] += 20.0
    return logits


# Rows per expert: 1, 7 and 130 (130 = 32 full 4-row tiles and 2 rows), an
# empty expert in the middle and one at the end.
GROUPS = [1, 7, 0, 130, 0]


@pytest.mark.parametrize("activation,inter,with_bias,panels", [
    # fc1 [E, 2 * 96, 64]: 3 panels; fc2 narrows and keeps its layout.
    ("swiglu", 96, False, 3),
    ("swiglu", 96, True, 3),
    # 128 wide: 2 panels.
    ("relu", 128, True, 2),
    # 96 wide is not a whole number of panels: the plain layout.
    ("relu", 96, False, 0),
])
def test_panels_match_onnxruntime(activation, inter, with_bias, panels):
    experts = len(GROUPS)
    layer = ContribMoE(tokens=0, hidden=HIDDEN, inter=inter, experts=experts, k=1,
                       activation_type=activation, swiglu_fusion=1, with_bias=with_bias,
                       seed=inter + with_bias)
    model = layer.model()
    signature = lowered_signature(model)
    panel_type = f"tensor<{experts}x{panels}x{HIDDEN}x64xf32>"
    assert (panel_type in signature) == (panels > 0), signature
    rng = np.random.default_rng(panels)
    logits = routed_to(GROUPS, experts, rng)
    x = rng.standard_normal((logits.shape[0], HIDDEN)).astype(np.float32)
    expected = onnxruntime_output(model, x, logits)
    for extra in ([], ["--pack-panels=0"]):
        (out,) = run_onnx(model, [x, logits], extra_args=extra)
        np.testing.assert_allclose(out, expected, rtol=1e-5,
                                   atol=1e-5 * np.abs(expected).max())


@pytest.mark.parametrize("tokens", [1, 33])
def test_panels_top2_any_token_count(tokens):
    """Top-2 routing of random logits: every group size the router makes."""
    layer = ContribMoE(tokens=0, hidden=HIDDEN, inter=64, experts=4, k=2,
                       activation_type="swiglu", swiglu_fusion=1, seed=tokens)
    model = layer.model()
    rng = np.random.default_rng(tokens)
    x = rng.standard_normal((tokens, HIDDEN)).astype(np.float32)
    logits = rng.standard_normal((tokens, 4)).astype(np.float32)
    expected = onnxruntime_output(model, x, logits)
    (out,) = run_onnx(model, [x, logits])
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())


def test_panels_from_plain_layout():
    """[E, in, out] weights (the older contrib layout) become panels by a
    permutation that keeps each panel row contiguous, not by a transpose;
    onnxruntime reads every model as [E, out, in], so the oracle is the
    numpy reference."""
    experts, inter = len(GROUPS), 128
    layer = ContribMoE(tokens=0, hidden=HIDDEN, inter=inter, experts=experts, k=1,
                       activation_type="relu", seed=5)
    for name in ("fc1", "fc2"):
        layer.tensors[name] = np.ascontiguousarray(layer.tensors[name].transpose(0, 2, 1))
    model = layer.model()
    signature = lowered_signature(model)
    assert "permutation = array<i64: 0, 2, 1, 3>" in signature, signature
    rng = np.random.default_rng(6)
    logits = routed_to(GROUPS, experts, rng)
    x = rng.standard_normal((logits.shape[0], HIDDEN)).astype(np.float32)
    weights, ids = ref.route(logits, k=1)
    rows, offsets, row_map = ref.dispatch(x.astype(np.float64), ids, experts)
    y = ref.experts(rows, offsets, [layer.tensors["fc1"].astype(np.float64),
                                    layer.tensors["fc2"].astype(np.float64)],
                    activation="relu")
    expected = ref.combine(y, row_map, weights)
    (out,) = run_onnx(model, [x, logits])
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())


@pytest.mark.parametrize("tag", ["ts17", "dynamo18"])
def test_panels_per_expert_loop_export(tag, tmp_path):
    """A PyTorch per-expert loop (MixtralSparseMoe) exported to ONNX keeps one
    [in, out] MatMul weight per expert; raised, gate and up become grouped
    matmuls over per-group weights, which go to one panel stack per expert.
    moe-run matches onnxruntime on the same file with a few rows per expert
    (1 token) and with many (48 tokens, top-2 over 4 experts)."""
    torch = pytest.importorskip("torch")
    if tag == "dynamo18":
        # torch.onnx.export(dynamo=True) needs it; torch does not require it.
        pytest.importorskip("onnxscript")
    from moe_opt.models import blocks, generate

    torch.manual_seed(0)
    # [128, 256] f32 weights: 128 KiB, parameters (at least 64 KiB).
    hidden = 128
    module = blocks.build("mixtral_loop", seed=4, hidden=hidden, inter=256, experts=4, top_k=2)
    path = str(tmp_path / "loop.onnx")
    sample = generate.make_inputs("hidden", 2, 5, hidden, seed=0)
    with torch.no_grad():
        generate.export_file(tag, module, sample, ["y"], "hidden", path)
    model = onnx.load(path)
    signature = lowered_signature(model)
    # Gate and up of 4 experts, 256 columns: 4 panels [128, 64] each.
    assert signature.count(": tensor<4x128x64xf32>") == 8, signature
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    xs = [np.random.default_rng(tokens).standard_normal((1, tokens, hidden)).astype(np.float32)
          for tokens in (1, 48)]
    # One moe-run (one compile) for both token counts.
    for x, (out,) in zip(xs, run_onnx_calls(model, [[x] for x in xs])):
        expected = session.run(None, {name: x})[0]
        np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())
