"""Heterogeneous experts (HMoE: experts of different widths) as GPU layers:
--moe-prepare-gpu-layers zero-pads their per-expert weights into the
stacked tensors the GPU kernels read, and makes the activation between two
padded matmuls uniform (docs/GPU.md). The prepared layer, run on the CPU,
must still give the numpy reference for every gate/up layout, with
[out, in] weights and biases, and with activations whose act(0) is not zero
(the padding's columns then hold act(0) and meet zero rows of the down
weights). moe-gpu-aot then compiles the bf16 layer for sm_80 and sm_90a."""

import os
import subprocess
import tempfile
import zlib

import numpy as np
import pytest

from moe_opt.layers import Layer
from moe_run import BUILD_DIR, gpu_aot, run_model

MOE_OPT = os.path.join(BUILD_DIR, "bin", "moe-opt")

LAYERS = {
    "separate": dict(inter=[16, 24, 8, 40], k=2, renormalize=True, activation="silu",
                     gate_layout="separate"),
    "concatenated": dict(inter=[8, 24, 16], experts=3, k=2, activation="silu",
                         gate_layout="concatenated", transposed=True, expert_biases=True),
    "interleaved": dict(inter=[16, 8, 32, 24], k=2, activation="silu", gate_layout="interleaved",
                        alpha=1.702, beta=1.0, limit=7.0, expert_biases=True),
    "gelu": dict(inter=[8, 16, 24, 40], k=1, activation="gelu", transposed=True),
    # apa(0) = (lambda + 1) ^ (-1 / lambda) != 0.
    "apa": dict(inter=[24, 8, 16, 8], k=2, activation="apa", kappa=0.8, lam=1.5,
                expert_biases=True),
}


def prepare(source, tmp, element):
    src, out = os.path.join(tmp, "layer.mlir"), os.path.join(tmp, f"prepared{element}.mlir")
    with open(src, "w") as f:
        f.write(source)
    subprocess.run([MOE_OPT, src, "--moe-expand-experts",
                    f"--moe-prepare-gpu-layers=element-type={element}", "-o", out],
                   check=True, capture_output=True, text=True)
    return out


def layer_function(text):
    return text[text.index("attributes {moe.gpu_layer}"):]


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_padded_layer_matches_reference(name):
    layer = Layer(seed=zlib.crc32(name.encode()) % 1000, fused=True, hidden=16, **LAYERS[name])
    rng = np.random.default_rng(3)
    x = rng.standard_normal((29, layer.hidden)).astype(np.float32)
    expected = layer.reference(x)
    with tempfile.TemporaryDirectory() as tmp:
        prepared = prepare(layer.mlir(), tmp, "")
        body = layer_function(open(prepared).read())
        # GPU-ready: stacked weights, an activation without widths.
        assert "widths" not in body
        assert body.count("moe.grouped_matmul") == layer.stages
        widest = max(layer.inter)
        assert f"tensor<{layer.experts}x{layer.hidden}x" in body and str(widest) in body
        (out,) = run_model(prepared, [x] + list(layer.params.values()), 1, None, (), tmp)
    np.testing.assert_allclose(out, expected, rtol=1e-5,
                               atol=1e-5 * max(1.0, np.abs(expected).max()))


@pytest.mark.parametrize("chip", ["sm_80", "sm_90a"])
@pytest.mark.parametrize("name", ["concatenated", "apa"])
def test_padded_layer_compiles(name, chip):
    layer = Layer(seed=1, fused=True, hidden=64, **LAYERS[name])
    with tempfile.TemporaryDirectory() as tmp:
        prepared = prepare(layer.mlir(), tmp, "bf16")
        lib = os.path.join(tmp, "layer.so")
        gpu_aot(prepared, lib, chip)
        assert os.path.getsize(lib) > 0
