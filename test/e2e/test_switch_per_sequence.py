"""Switch top-1 layers whose router reads the tokens as [batch, seq, hidden]
and counts the expert capacity per sequence (CumSum over the sequence
axis), as transformers' SwitchTransformersSparseMLP does: raised with
moe.dispatch group_size = seq (a run-time value), then run by moe-run and
compared with onnxruntime at several batch sizes and sequence lengths."""

import os
import subprocess

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from moe_run import BUILD_DIR, run_mlir  # noqa: E402

MOE_OPT = os.path.join(BUILD_DIR, "bin", "moe-opt")
INPUTS = os.path.join(os.path.dirname(__file__), "..", "Conversion", "ONNXToMoE", "Inputs")
CAPACITY, EXPERTS = 2, 3
# Model -> input shape for (batch, seq): 2 sequences of a [T, H] input
# reshaped by the model, or a [B, S, H] input.
MODELS = {
    "switch_capacity_per_sequence": lambda b, s: (2 * s, 4),
    "switch_capacity_per_sequence_3d": lambda b, s: (b, s, 4),
}


def raise_model(name):
    r = subprocess.run([MOE_OPT, os.path.join(INPUTS, name + ".onnx"), "--onnx-infer-shapes",
                        "--onnx-raise-moe"], capture_output=True, text=True, check=True)
    assert "group_size(" in r.stdout, r.stdout
    assert "CumSum" not in r.stdout and "NonZero" not in r.stdout
    return r.stdout


@pytest.mark.parametrize("name", sorted(MODELS))
def test_per_sequence_capacity_matches_onnxruntime(name):
    raised = raise_model(name)
    session = ort.InferenceSession(os.path.join(INPUTS, name + ".onnx"),
                                   providers=["CPUExecutionProvider"])
    for batch, seq in [(1, 1), (2, 3), (3, 7)]:
        x = np.random.default_rng(seq).standard_normal(MODELS[name](batch, seq))
        x = x.astype(np.float32)
        expected = session.run(None, {"x": x})[0]
        if seq == 7:
            # More tokens of one expert in a sequence than its capacity:
            # some are dropped (output 0), and more would be over the batch.
            dropped = np.all(expected.reshape(-1, 4) == 0, axis=1)
            assert dropped.any() and (~dropped).sum() > CAPACITY * EXPERTS
        (out,) = run_mlir(raised, [x])
        np.testing.assert_allclose(out, expected, rtol=1e-5,
                                   atol=1e-5 * max(1.0, np.abs(expected).max()))


@pytest.mark.parametrize("name", sorted(MODELS))
def test_gpu_layers_refuse_per_sequence_capacity(name):
    """The per-sequence capacity has no GPU dispatch yet: preparing GPU
    layers says so at the dispatch and exits 1 (it used to crash)."""
    r = subprocess.run([MOE_OPT, os.path.join(INPUTS, name + ".onnx"), "--onnx-infer-shapes",
                        "--onnx-raise-moe", "--moe-fuse-gating", "--moe-expand-experts",
                        "--moe-prepare-gpu-layers", "-o", os.devnull],
                       capture_output=True, text=True)
    assert r.returncode == 1, r.stderr
    assert "'moe.dispatch' op moe-prepare-gpu-layers: operand 2 ('index') is not a tensor" \
        in r.stderr, r.stderr
    assert "does not count capacity per group_size yet" in r.stderr
