"""onnxruntime's com.microsoft.QMoE models, end to end: moe-run raises the
node to moe.dequantize + moe ops over the model's packed bytes and runs it;
onnxruntime runs the same file. The numpy reference (reference.dequantize
feeding the moe ops' reference) is pinned against onnxruntime too."""

import os

import numpy as np
import pytest

from moe_opt import reference as ref
from moe_opt.contrib_models import ContribQMoE
from moe_run import run_onnx, run_onnx_calls
from test_onnx_contrib_moe import onnxruntime_output

# Block-wise 8-bit experts otherwise run with int8 activations on the CPU
# (read when a session is created).
os.environ["ORT_QMOE_CPU_QNBIT_GEMM"] = "fp32"

CASES = {
    "int8_relu": dict(bits=8, activation_type="relu"),
    "int8_swiglu": dict(bits=8, activation_type="swiglu", swiglu_fusion=1),
    "int8_block32_gelu": dict(bits=8, block_size=32, activation_type="gelu"),
    "int8_zero_points": dict(bits=8, zero_points=True, activation_type="silu"),
    "int4_relu": dict(bits=4, activation_type="relu"),
    "int4_swiglu": dict(bits=4, activation_type="swiglu", swiglu_fusion=1,
                        activation_alpha=1.702, activation_beta=1.0, swiglu_limit=7.0),
    "int4_block16_swiglu": dict(bits=4, block_size=16, activation_type="swiglu",
                                swiglu_fusion=1),
    "int2_block16_swiglu": dict(bits=2, block_size=16, activation_type="swiglu",
                                swiglu_fusion=1),
    "int4_block16_zero_points": dict(bits=4, block_size=16, zero_points=True,
                                     activation_type="relu"),
}


def layer(name, with_bias=False):
    return ContribQMoE(tokens=0, hidden=32, inter=64, experts=4, k=2,
                       with_bias=with_bias, seed=len(name), **CASES[name])


def inputs(qmoe, tokens):
    rng = np.random.default_rng(tokens)
    x = rng.standard_normal((tokens, qmoe.hidden)).astype(np.float32)
    logits = rng.standard_normal((tokens, qmoe.experts)).astype(np.float32)
    return x, logits


@pytest.mark.parametrize("name", sorted(CASES))
def test_reference_matches_onnxruntime(name):
    """reference.dequantize reads the bytes as onnxruntime does."""
    qmoe = layer(name, with_bias=True)
    x, logits = inputs(qmoe, 11)
    weights, ids = ref.route(logits, k=qmoe.k, renormalize=True)
    rows, offsets, row_map = ref.dispatch(x.astype(np.float64), ids, qmoe.experts)
    stage_weights, biases, attrs = qmoe.moe_experts_args()
    y = ref.experts(rows, offsets, [w.astype(np.float64) for w in stage_weights],
                    biases, **attrs)
    expected = ref.combine(y, row_map, weights)
    actual = onnxruntime_output(qmoe.model(), x, logits)
    np.testing.assert_allclose(actual, expected, rtol=1e-5,
                               atol=1e-5 * np.abs(expected).max())


@pytest.mark.parametrize("with_bias", [False, True])
@pytest.mark.parametrize("name", sorted(CASES))
def test_qmoe_matches_onnxruntime(name, with_bias):
    qmoe = layer(name, with_bias)
    model = qmoe.model()
    calls = [list(inputs(qmoe, tokens)) for tokens in (1, 17)]
    for (x, logits), (out,) in zip(calls, run_onnx_calls(model, calls)):
        expected = onnxruntime_output(model, x, logits)
        np.testing.assert_allclose(out, expected, rtol=1e-5,
                                   atol=1e-5 * np.abs(expected).max(),
                                   err_msg=f"{len(x)} tokens")


def test_packed_weights_stay_parameters():
    """The packed bytes, not floats, are what the compiled code is given:
    with every constant passed as a parameter, the numbers still match."""
    qmoe = layer("int4_block16_swiglu", with_bias=True)
    model = qmoe.model()
    x, logits = inputs(qmoe, 9)
    expected = onnxruntime_output(model, x, logits)
    (out,) = run_onnx(model, [x, logits], extra_args=["--parameter-min-bytes=1"])
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())


DEQUANTIZE = """
func.func @main(%q: tensor<?x6x{packed}xi8>, %s: tensor<?x6x{blocks}xf16>,
                %z: tensor<?x6x{zp}xi8>) -> tensor<?x6x20xf32> {{
  %w = moe.dequantize %q, %s zero_points(%z) {{bits = {bits} : i64, block_size = 8 : i64}}
      : (tensor<?x6x{packed}xi8>, tensor<?x6x{blocks}xf16>, tensor<?x6x{zp}xi8>) -> tensor<?x6x20xf32>
  return %w : tensor<?x6x20xf32>
}}
"""


@pytest.mark.parametrize("bits", [2, 4, 8])
def test_dequantize_op_matches_reference(bits):
    """moe.dequantize on the CPU, every bit width, a row length (20) that
    fills neither its last byte nor its last block, f16 scales."""
    from moe_run import run_mlir

    rng = np.random.default_rng(bits)
    packed, blocks = -(-20 * bits // 8), 3
    zp = -(-blocks * bits // 8)
    q = rng.integers(0, 256, (3, 6, packed), dtype=np.uint8).view(np.int8)
    s = rng.standard_normal((3, 6, blocks)).astype(np.float16)
    z = rng.integers(0, 256, (3, 6, zp), dtype=np.uint8).view(np.int8)
    expected = ref.dequantize(q, s, z, bits, block_size=8, columns=20)
    (out,) = run_mlir(DEQUANTIZE.format(packed=packed, blocks=blocks, zp=zp, bits=bits),
                      [q, s, z])
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)


def prepare_gpu_layer(model, tmp_path):
    """Saves `model` and prepares it as a bf16 GPU layer: returns the paths
    of the model, the prepared module and the layer report."""
    import subprocess

    import onnx
    from moe_run import BUILD_DIR

    path, prepared, report = tmp_path / "q.onnx", tmp_path / "q.mlir", tmp_path / "q.json"
    onnx.save(model, path)
    r = subprocess.run([os.path.join(BUILD_DIR, "bin", "moe-opt"), str(path), "--onnx-infer-shapes",
                        "--onnx-raise-moe", "--moe-fuse-gating", "--moe-expand-experts",
                        f"--moe-prepare-gpu-layers=element-type=bf16 report={report}",
                        "--mlir-elide-resource-strings-if-larger=100000000", "-o", str(prepared)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return path, prepared, report


@pytest.mark.parametrize("name,hidden", [("int4_block16_swiglu", 32), ("int8_zero_points", 32),
                                         ("int2_block16_swiglu", 32),
                                         ("int4_block16_swiglu", 48)])
def test_qmoe_gpu_layer(name, hidden, tmp_path):
    """QMoE as a bf16 GPU layer. Weights whose rows the decode kernel reads
    packed (2, 4 or 8 bits, K a multiple of its 32 or 16 values a load) go
    to the layer as they are: the report names the packed initializers.
    Others (here fc1 with K = hidden = 48) are dequantized by the caller
    (once, not per call), and the report says how to make the floats.
    Either way the prepared module matches onnxruntime on the CPU within
    bf16 rounding, gpu_layers rebuilds the buffers from the initializers
    exactly, and moe-gpu-aot compiles the layer."""
    import json

    from moe_opt import gpu_layers
    from moe_run import gpu_aot, run_model

    qmoe = ContribQMoE(tokens=0, hidden=hidden, inter=64, experts=4, k=2, seed=len(name),
                       **CASES[name])
    model = qmoe.model()
    path, prepared, report = prepare_gpu_layer(model, tmp_path)
    x, logits = inputs(qmoe, 17)
    expected = onnxruntime_output(model, x, logits)
    (out,) = run_model(str(prepared), [x, logits], 1, None, (), str(tmp_path))
    assert np.max(np.abs(out - expected)) <= 2.5e-2 * np.max(np.abs(expected))

    (entry,) = json.loads(report.read_text())["layers"]
    buffers = gpu_layers.layer_buffers(entry, gpu_layers.ModelData(str(path)),
                                       {"input": x, "router_probs": logits})
    # fc1 reads K = hidden values a row, fc2 K = inter = 64.
    per_load = 16 if qmoe.bits == 8 else 32
    packed = {n for n in qmoe.quantized if (hidden if n == "fc1" else 64) % per_load == 0}
    dequantized = [b for b in entry["buffers"] if b["source"]["kind"] == "dequantized"]
    assert len(dequantized) == len(qmoe.quantized) - len(packed)
    initializers = {n: a for n, (q, s, z) in qmoe.quantized.items() if n in packed
                    for n, a in ((n, q), (n + "_scales", s), (n + "_zero_points", z))
                    if a is not None}
    seen = set()
    for b, buf in zip(entry["buffers"], buffers):
        source = b["source"]
        if source["kind"] == "dequantized":
            weight = source["weight"]["resource"]
            want = qmoe.tensors[weight]
            want = np.swapaxes(want, -1, -2) if b["transposed"] else want
            np.testing.assert_array_equal(buf, want.astype(buf.dtype))
            seen.add(weight)
        elif source["kind"] == "constant" and source["resource"] in initializers:
            want = initializers[source["resource"]]
            assert not b["transposed"] and buf.shape == want.shape
            # The bytes as stored (uint8 read as signless i8), the scales as
            # they are.
            np.testing.assert_array_equal(buf.view(want.dtype) if buf.dtype.itemsize == 1
                                          else buf, want)
            seen.add(source["resource"])
    assert seen == set(initializers) | (set(qmoe.quantized) - packed)

    gpu_aot(prepared, tmp_path / "q.so")


def test_qmoe_separate_gpu_layer(tmp_path):
    """QMoE with fc1 (gate) and fc3 (up) as two 4-bit weights (swiglu_fusion
    0, which onnxruntime's CPU kernel does not run: the numpy reference is
    the oracle): the GPU layer takes the three packed weights as they are,
    matches the reference on the CPU within bf16 rounding, and moe-gpu-aot
    compiles gate and up into one kernel of each kind that reads both packed
    weights (no activation kernel)."""
    import json
    import re

    from moe_run import gpu_aot, run_model

    qmoe = ContribQMoE(tokens=0, hidden=32, inter=64, experts=4, k=2, seed=5, bits=4,
                       block_size=32, activation_type="swiglu", swiglu_fusion=0)
    model = qmoe.model()
    path, prepared, report = prepare_gpu_layer(model, tmp_path)
    x, logits = inputs(qmoe, 17)
    weights, ids = ref.route(logits, k=qmoe.k, renormalize=True)
    rows, offsets, row_map = ref.dispatch(x.astype(np.float64), ids, qmoe.experts)
    stage_weights, biases, attrs = qmoe.moe_experts_args()
    y = ref.experts(rows, offsets, [w.astype(np.float64) for w in stage_weights], biases,
                    **attrs)
    expected = ref.combine(y, row_map, weights)
    (out,) = run_model(str(prepared), [x, logits], 1, None, (), str(tmp_path))
    assert np.max(np.abs(out - expected)) <= 2.5e-2 * np.max(np.abs(expected))

    (entry,) = json.loads(report.read_text())["layers"]
    resources = {b["source"].get("resource") for b in entry["buffers"]}
    assert {"fc1", "fc3", "fc2"} <= resources
    assert not [b for b in entry["buffers"] if b["source"]["kind"] == "dequantized"]

    gpu_aot(prepared, tmp_path / "q.so")
    library = (tmp_path / "q.so").read_bytes()
    kernels = {name.decode() for name in re.findall(rb"grouped_matmul_\w+_separate_q4_b32_\w+",
                                                    library)}
    assert {k.startswith("grouped_matmul_decode_") for k in kernels} == {True, False}, kernels
    assert b"activation_" not in library
