"""Switch top-1 layers whose router reads the tokens as [batch, seq, hidden]
and counts the expert capacity per sequence (CumSum over the sequence
axis), as transformers' SwitchTransformersSparseMLP does: raised with
moe.dispatch group_size = seq (a run-time value), then run by moe-run and
compared with onnxruntime at several batch sizes and sequence lengths."""

import ctypes
import os
import shutil
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


def test_gpu_layer_counts_capacity_per_sequence(tmp_path, capfd):
    """The per-sequence capacity as a GPU layer (the [B, S, 16] model: the
    GPU kernels take widths that are multiples of 8): the sequence length
    becomes the layer's index argument, which the report derives from the
    input's shape; the prepared module (layer in bf16) matches onnxruntime
    on the CPU; gpu_layers makes the layer's buffers and dims (the index
    last, in argument order); moe-gpu-aot compiles it."""
    import json

    from moe_opt import gpu_layers
    from moe_run import gpu_aot, run_model

    name = "switch_capacity_per_sequence_3d_h16"
    path = os.path.join(INPUTS, name + ".onnx")
    prepared, report = tmp_path / "p.mlir", tmp_path / "p.json"
    r = subprocess.run([MOE_OPT, path, "--onnx-infer-shapes", "--onnx-raise-moe",
                        "--moe-fuse-gating", "--moe-expand-experts",
                        f"--moe-prepare-gpu-layers=report={report}",
                        "--mlir-elide-resource-strings-if-larger=100000000", "-o", str(prepared)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    (layer,) = json.loads(report.read_text())["layers"]
    (index,) = [b for b in layer["buffers"] if b["element_type"] == "index"]
    assert index["source"] == {"kind": "dim", "dim": 1,
                               "of": {"kind": "argument", "index": 0, "name": "x"}}
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(7).standard_normal((3, 7, 16)).astype(np.float32)
    expected = session.run(None, {"x": x})[0]
    dropped = np.all(expected.reshape(-1, 16) == 0, axis=1)
    assert dropped.any() and (~dropped).sum() > CAPACITY * EXPERTS
    (out,) = run_model(str(prepared), [x], 1, None, (), str(tmp_path))
    # bf16 experts; a dropped token stays exactly 0.
    assert np.max(np.abs(out - expected)) <= 2e-2 * np.max(np.abs(expected))
    np.testing.assert_array_equal(out.reshape(-1, 16)[dropped], 0)

    buffers = gpu_layers.layer_buffers(layer, gpu_layers.ModelData(path), {"x": x})
    assert gpu_layers.dims(layer, buffers) == [21, 21, 7]
    lib = tmp_path / "p.so"
    gpu_aot(prepared, lib, "sm_80")

    # Called through gpu_layers against the fake driver: the sequence length
    # travels in `dims`, not as a buffer, and reaches the grouped dispatch
    # kernels (3 groups of 7 tokens: 3 chunks, 9 counts).
    cc = shutil.which("clang-22") or shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler for the fake driver")
    fake = tmp_path / "libcuda.so"
    subprocess.run([cc, "-shared", "-fPIC", os.path.join(os.path.dirname(__file__), "..",
                                                         "Runtime", "Inputs", "fake-libcuda.c"),
                    "-o", str(fake)], check=True)
    os.environ["MOE_CUDA_DRIVER"] = str(fake)
    try:
        layers = gpu_layers.GPULayers(str(lib))
        leading = gpu_layers.dims(layer, buffers)
        workspace = np.zeros(layers.workspace_size(layer["layer"], leading), np.uint8)
        out = np.zeros((21, 16), dtype=gpu_layers.DTYPES[layer["result"]["element_type"]])
        layers.forward(layer["layer"], buffers + [out], leading, workspace)
        ctypes.CDLL(None).fflush(None)
        printed = capfd.readouterr().out
    finally:
        del os.environ["MOE_CUDA_DRIVER"]
    lines = printed.splitlines()
    count = next(i for i, line in enumerate(lines)
                 if line.startswith("cuLaunchKernel: dispatch_count_") and "_grouped " in line)
    # ids [21, 1], counts [9], then G = 7 (the last parameter, in hex).
    assert lines[count + 1].split()[-1] == "7", printed
    assert lines[count + 1].split()[-3] == "9", printed
