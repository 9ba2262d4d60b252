"""The committed real ONNX MoE exports as GPU layers: moe-opt raises them,
fuses the gating, expands the experts and outlines every MoE layer with
--moe-prepare-gpu-layers (docs/GPU.md). The prepared module still runs on
the CPU, the layer at the layer's element type, so its numbers are checked
against the saved onnxruntime outputs: as tight as the raised model's with
the model's own type (element-type=), within bf16 rounding with bf16 (the
routing keeps the model's type, so no expert choice flips). Then moe-gpu-aot
compiles the prepared module for sm_90a: one moe_layer_forward entry per
layer, with as many buffers as the report lists, or a clear error for the
layers the GPU kernels do not cover yet. No GPU is needed."""

import ctypes
import json
import os
import subprocess

import numpy as np
import pytest

from model_runs import (CASES, EXPORTS, MODELS, MOE_OPT, assert_matches,  # noqa: E402
                        export_id, run_all)
from moe_run import gpu_aot  # noqa: E402
from test_models_raised import ONE_EXPORT_PER_MODEL, RAISED  # noqa: E402

PREPARE = ["--onnx-infer-shapes", "--onnx-raise-moe", "--moe-fuse-gating",
           "--moe-expand-experts"]
# Max |difference| over max |onnxruntime| with a bf16 layer: its inputs,
# weights, rows and activations rounded to 8-bit mantissas (measured on
# these exports: at most 1.2e-2).
BF16_TOLERANCE = 2.5e-2
# moe-gpu-aot on one export per MoE form: the layers it compiles, or the
# reason it refuses them.
AOT = {
    "mixtral_loop.ts17": None,  # per-expert weights, stacked by the pass
    "hmoe_loop.ts17": None,  # experts of different widths, padded by the pass
    "switch_top1_capacity.ts17": None,  # top-1 with a capacity
    "deepseek_v3_stacked.ts17": None,  # groups, selection bias
    "gpt_oss_gathered.ts17": None,  # clamped SwiGLU, biases
    "hf_qwen3_moe.batched_mm.dynamo18": None,
    "expert_choice.ts17": None,  # each expert picks its tokens
    "hf_phimoe.batched_mm.ts17": None,  # sparsemixer routing
    "hf_llama4.eager.dynamo18": None,  # routing weights scale the rows
}


# bf16 layers of one export per model: both exporters' layers raise to the
# same moe ops, which the model's own type checks on every export.
BF16_KEYS = ONE_EXPORT_PER_MODEL


@pytest.fixture(scope="module")
def outcomes():
    return {
        element: run_all(PREPARE + [f"--moe-prepare-gpu-layers=element-type={element}"],
                         only=set(keys))
        for element, keys in (("", RAISED), ("bf16", BF16_KEYS))
    }


def layer_count(text):
    return text.count("attributes {moe.gpu_layer}")


@pytest.mark.parametrize("element,key", [("", key) for key in sorted(RAISED)]
                         + [("bf16", key) for key in BF16_KEYS])
def test_prepared_model_matches_onnxruntime(outcomes, key, element):
    error, results, text = outcomes[element][key]
    assert error is None, error
    assert layer_count(text) == RAISED[key], text[:2000]
    if not element:
        assert_matches(results)
        return
    assert results, "no cases ran"
    for (case, _), pairs in results.items():
        for got, expected in pairs:
            if not np.issubdtype(expected.dtype, np.floating):
                assert np.array_equal(got, expected)
                continue
            scale = float(np.max(np.abs(expected)))
            err = float(np.max(np.abs(got.astype(np.float64) - expected)))
            assert err <= BF16_TOLERANCE * scale, (CASES[case], err / scale)


def model_path(key):
    rec = next(rec for n, t, rec in EXPORTS if export_id(n, t) == key)
    return os.path.join(MODELS, rec["file"])


@pytest.mark.parametrize("key", sorted(AOT))
def test_gpu_library_has_the_layers(tmp_path, key):
    prepared, report = tmp_path / "layers.mlir", tmp_path / "layers.json"
    subprocess.run([MOE_OPT, model_path(key), *PREPARE,
                    f"--moe-prepare-gpu-layers=report={report}",
                    "--mlir-elide-resource-strings-if-larger=100000000", "-o", str(prepared)],
                   check=True, capture_output=True)
    layers = json.loads(report.read_text())["layers"]
    assert len(layers) == RAISED[key]
    lib = tmp_path / "layers.so"
    r = gpu_aot(prepared, lib, check=False)
    if AOT[key]:
        assert r.returncode != 0 and AOT[key] in r.stderr, r.stderr
        return
    assert r.returncode == 0, r.stderr
    # Loading needs no GPU (the module load fails quietly without a driver).
    env = os.environ.get("MOE_CUDA_DRIVER")
    os.environ["MOE_CUDA_DRIVER"] = str(tmp_path / "no-driver" / "libcuda.so.1")
    try:
        so = ctypes.CDLL(str(lib))
    finally:
        if env is None:
            del os.environ["MOE_CUDA_DRIVER"]
        else:
            os.environ["MOE_CUDA_DRIVER"] = env
    so.moe_layer_find.argtypes = [ctypes.c_char_p]
    assert so.moe_layer_count() == len(layers)
    for layer in layers:
        index = so.moe_layer_find(layer["layer"].encode())
        assert index >= 0, layer["layer"]
        # One buffer per tensor argument, then the result; a dim per
        # dynamic leading size and per index argument.
        tensors = [b for b in layer["buffers"] if b["element_type"] != "index"]
        assert so.moe_layer_num_buffers(index) == len(tensors) + 1
        dims = sum(1 for b in layer["buffers"]
                   if b["element_type"] == "index" or b["shape"][0] is None)
        assert so.moe_layer_num_dims(index) == dims


# Exports whose layers read [out, in] expert weights (transpose_rhs): HF's
# batched weights, gathered ones, and a per-expert loop.
KEEP_TRANSPOSED = ["hf_mixtral.batched_mm.ts17", "hf_qwen3_moe.batched_mm.dynamo18",
                   "gpt_oss_gathered.ts17", "mixtral_loop.dynamo18"]


@pytest.fixture(scope="module")
def kept_transposed():
    return run_all(PREPARE + ["--moe-prepare-gpu-layers=element-type=bf16 keep-transposed=true"],
                   only=set(KEEP_TRANSPOSED))


@pytest.mark.parametrize("key", KEEP_TRANSPOSED)
def test_keep_transposed_layers(kept_transposed, tmp_path, key):
    """keep-transposed: the layers take the [out, in] weights as the model
    stores them (matmuls keep transpose_rhs; the report says not
    transposed), still match onnxruntime within bf16 rounding on the CPU,
    and moe-gpu-aot compiles them into the kernels that read weights along
    K (named `_t`)."""
    import re

    error, results, text = kept_transposed[key]
    assert error is None, error
    assert "{transpose_rhs}" in text
    assert results, "no cases ran"
    for (case, _), pairs in results.items():
        for got, expected in pairs:
            if not np.issubdtype(expected.dtype, np.floating):
                continue
            scale = float(np.max(np.abs(expected)))
            err = float(np.max(np.abs(got.astype(np.float64) - expected)))
            assert err <= BF16_TOLERANCE * scale, (CASES[case], err / scale)
    prepared, report = tmp_path / "layers.mlir", tmp_path / "layers.json"
    subprocess.run([MOE_OPT, model_path(key), *PREPARE,
                    f"--moe-prepare-gpu-layers=keep-transposed=true report={report}",
                    "--mlir-elide-resource-strings-if-larger=100000000", "-o", str(prepared)],
                   check=True, capture_output=True)
    buffers = [b for layer in json.loads(report.read_text())["layers"] for b in layer["buffers"]]
    assert not [b for b in buffers if b["transposed"] and len(b["shape"]) == 3], buffers
    lib = tmp_path / "layers.so"
    gpu_aot(prepared, lib)
    assert re.search(rb"grouped_matmul_[a-z0-9_]*_t\x00", lib.read_bytes())
