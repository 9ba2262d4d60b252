"""python/moe_opt/gpu_layers.py on committed exports: the buffers it builds
from a --moe-prepare-gpu-layers report (initializers, model inputs,
onnxruntime's intermediate values, stacked per-expert weights, transposes,
bf16) make the layer function, run alone by moe-run, give what the layer
gives inside the prepared model; and GPULayers queues the layer of a
moe-gpu-aot library against the fake driver of test/Runtime."""

import ctypes
import os
import shutil
import subprocess
import sys

import ml_dtypes
import numpy as np
import pytest

from model_runs import CASES, EXPORTS, MODELS, MOE_OPT, export_id  # noqa: E402
from moe_run import MOE_RUN, gpu_aot  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "python"))
from moe_opt import gpu_layers  # noqa: E402

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
EXAMPLE = os.path.join(ROOT, "examples", "moe_layer.onnx")
PREPARE = ["--onnx-infer-shapes", "--onnx-raise-moe", "--moe-fuse-gating",
           "--moe-expand-experts"]


def model(key):
    """(path, {input: array}, output name) of an export's first case, or
    of the bundled example with random tokens."""
    if key == "example":
        x = np.random.default_rng(0).standard_normal((37, 32)).astype(np.float32)
        return EXAMPLE, {"hidden_states": x}
    rec = next(rec for n, t, rec in EXPORTS if export_id(n, t) == key)
    data = np.load(os.path.join(MODELS, rec["data"]))
    case = [i for i, c in enumerate(CASES) if list(c) in rec.get("cases_ok", [CASES[0]])][0]
    prefix = f"case{case}.input."
    feeds = {k[len(prefix):]: data[k] for k in data.files if k.startswith(prefix)}
    return os.path.join(MODELS, rec["file"]), feeds


def prepare(tmp_path, path):
    prepared, report = tmp_path / "layers.mlir", tmp_path / "layers.json"
    subprocess.run([MOE_OPT, path, *PREPARE,
                    f"--moe-prepare-gpu-layers=public report={report}",
                    "--mlir-elide-resource-strings-if-larger=100000000", "-o", str(prepared)],
                   check=True, capture_output=True)
    return prepared, gpu_layers.load_report(report)


def run(tmp_path, module, arrays, tag, function=None):
    """moe-run -O0 of `module` (its entry, or `function`) on `arrays`; the
    first result (bf16 comes back as its raw uint16 bits)."""
    args = [MOE_RUN, str(module), "-O0"]
    for i, a in enumerate(arrays):
        p = tmp_path / f"{tag}.in{i}.npy"
        np.save(p, a.view(np.uint16) if a.dtype == ml_dtypes.bfloat16 else a)
        args.append(f"--input=@{p}")
    out = tmp_path / f"{tag}.out.npy"
    args.append(f"--output=@{out}")
    if function:
        args.append(f"--function={function}")
    subprocess.run(args, check=True, capture_output=True)
    return np.load(out)


@pytest.mark.parametrize("key", ["example", "mixtral_loop.ts17", "hmoe_loop.dynamo18",
                                 "hf_qwen3_moe.batched_mm.ts17"])
def test_buffers_reproduce_the_layer(tmp_path, key):
    path, feeds = model(key)
    prepared, report = prepare(tmp_path, path)
    assert len(report) == 1
    layer = report[0]
    whole = run(tmp_path, prepared, list(feeds.values()), "whole")
    buffers = gpu_layers.layer_buffers(layer, gpu_layers.ModelData(path), feeds)
    assert [str(b.dtype) for b in buffers] == [
        {"bf16": "bfloat16", "f32": "float32"}[b["element_type"]] for b in layer["buffers"]]
    alone = run(tmp_path, prepared, buffers, "alone", function=layer["layer"])
    alone = alone.view(ml_dtypes.bfloat16).astype(np.float32)
    # The caller only converts the layer's bf16 result to f32 (and reshapes
    # it back to the model's output shape).
    np.testing.assert_array_equal(alone.reshape(-1), whole.reshape(-1))


def test_padded_buffer_keeps_its_fill():
    # Column indices of a scatter padded from 3 to 8 columns with -1.
    columns = np.arange(6, dtype=np.int32).reshape(2, 3)
    source = {"kind": "padded", "fill": -1, "shape": [2, 8],
              "pieces": [{"source": {"kind": "argument", "index": 0, "name": "c"},
                          "from": [0, 0], "size": [2, 3], "to": [0, 0]}]}
    layer = {"buffers": [{"source": source, "shape": [2, 8], "element_type": "i32",
                          "transposed": False}]}
    (got,) = gpu_layers.layer_buffers(layer, None, {"c": columns})
    expected = np.full((2, 8), -1, np.int32)
    expected[:, :3] = columns
    np.testing.assert_array_equal(got, expected)


def test_value_without_onnx_name_is_refused():
    layer = {"buffers": [{"source": {"kind": "value", "op": "linalg.generic"},
                          "shape": [None, 4], "element_type": "f32", "transposed": False}]}
    with pytest.raises(ValueError, match="computes with linalg.generic"):
        gpu_layers.layer_buffers(layer, None, {})


def compiler():
    for name in ("clang-22", "clang", "cc"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def test_gpu_layers_call_against_the_fake_driver(tmp_path, capfd):
    prepared, report = prepare(tmp_path, EXAMPLE)
    lib = tmp_path / "layers.so"
    gpu_aot(prepared, lib, "sm_80")
    cc = compiler()
    if cc is None:
        pytest.skip("no C compiler for the fake driver")
    fake = tmp_path / "libcuda.so"
    subprocess.run([cc, "-shared", "-fPIC",
                    os.path.join(ROOT, "test", "Runtime", "Inputs", "fake-libcuda.c"),
                    "-o", str(fake)], check=True)
    os.environ["MOE_CUDA_DRIVER"] = str(fake)
    try:
        layers = gpu_layers.GPULayers(str(lib))
        layer = report[0]
        _, feeds = model("example")
        buffers = gpu_layers.layer_buffers(layer, gpu_layers.ModelData(EXAMPLE), feeds)
        out = np.zeros((37, 32), dtype=ml_dtypes.bfloat16)
        leading = gpu_layers.dims(layer, buffers)
        assert leading == [37, 37]  # the tokens, f32 for the routing and bf16
        size = layers.workspace_size(layer["layer"], leading)
        workspace = np.zeros(size, dtype=np.uint8)
        layers.forward(layer["layer"], buffers + [out], leading, workspace)
        ctypes.CDLL(None).fflush(None)
        printed = capfd.readouterr().out
        with pytest.raises(KeyError):
            layers.find("missing")
    finally:
        del os.environ["MOE_CUDA_DRIVER"]
    launches = [line.split()[1] for line in printed.splitlines()
                if line.startswith("cuLaunchKernel:")]
    assert launches[0].startswith("fused_route_f32_f32_h32_e8_k2"), printed
    # 37 tokens of k = 2: one block counts, scans and scatters.
    assert [name.split("_")[1] for name in launches[1:3]] == ["rank", "gather"]
    assert launches[-1].startswith("combine_bf16"), printed
