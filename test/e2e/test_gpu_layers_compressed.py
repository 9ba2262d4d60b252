"""Compressed experts (moe-compress-experts: a low-rank product plus the
sparse columns it misses, added back by moe.scatter_columns) as GPU layers.
--moe-prepare-gpu-layers outlines them like any layer; the prepared module,
run on the CPU, must give what the compressed model gives (within 1e-5
with the model's type, within bf16 rounding with bf16), and moe-gpu-aot
compiles the layer, the scatter-columns kernel included, for sm_80 and
sm_90a. No GPU is needed."""

import os
import re
import subprocess
import tempfile

import numpy as np
import pytest

from model_runs import CASES, EXPORTS, MODELS, export_id  # noqa: E402
from moe_run import BUILD_DIR, MOE_RUN, gpu_aot  # noqa: E402

MOE_OPT = os.path.join(BUILD_DIR, "bin", "moe-opt")
ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
RAISE = ["--onnx-infer-shapes", "--onnx-raise-moe", "--moe-fuse-gating"]
# Ranks and kept columns that are multiples of 8, as the kernels need (they
# copy 16-byte chunks of K and N), and ones that are not: rank 4 and 39 / 10
# kept columns, which --moe-prepare-gpu-layers pads to 8, 40 and 16.
COMPRESS = "--moe-compress-experts=rank=8 keep-fraction=0.5 min-saving=-10"
NARROW = "--moe-compress-experts=rank=4 keep-fraction=0.3 min-saving=-10"
EXPAND = ["--moe-expand-experts"]
BF16_TOLERANCE = 2.5e-2


def inputs(key):
    if key == "example":
        x = np.random.default_rng(0).standard_normal((37, 32)).astype(np.float32)
        return os.path.join(ROOT, "examples", "moe_layer.onnx"), [x]
    rec = next(rec for n, t, rec in EXPORTS if export_id(n, t) == key)
    data = np.load(os.path.join(MODELS, rec["data"]))
    case = [i for i, c in enumerate(CASES) if list(c) in rec.get("cases_ok", [CASES[0]])][0]
    prefix = f"case{case}.input."
    return (os.path.join(MODELS, rec["file"]),
            [data[k] for k in data.files if k.startswith(prefix)])


def compile_and_run(tmp, model, passes, arrays, tag):
    out = os.path.join(tmp, f"{tag}.mlir")
    subprocess.run([MOE_OPT, model, *passes, "-o", out,
                    "--mlir-elide-resource-strings-if-larger=100000000"],
                   check=True, capture_output=True, text=True)
    args = [MOE_RUN, out, "-O0"]  # numbers only: the fastest compile
    for i, a in enumerate(arrays):
        path = os.path.join(tmp, f"{tag}.in{i}.npy")
        np.save(path, a)
        args.append(f"--input=@{path}")
    result = os.path.join(tmp, f"{tag}.out.npy")
    subprocess.run(args + [f"--output=@{result}"], check=True, capture_output=True)
    return out, np.load(result)


# Both chips' libraries on one case; the others build one each, as the
# kernels a chip gets do not depend on the compression's ranks.
@pytest.mark.parametrize("key,compress,chips", [("example", COMPRESS, ("sm_80", "sm_90a")),
                                                ("mixtral_loop.ts17", COMPRESS, ("sm_90a",)),
                                                ("example", NARROW, ("sm_80",))])
def test_compressed_layer_on_gpu_path(key, compress, chips):
    model, arrays = inputs(key)
    with tempfile.TemporaryDirectory() as tmp:
        _, compressed = compile_and_run(tmp, model, RAISE + [compress] + EXPAND, arrays, "c")
        text = None
        for element, tolerance in (("", 1e-5), ("bf16", BF16_TOLERANCE)):
            prepared, got = compile_and_run(
                tmp, model, RAISE + [compress] + EXPAND +
                [f"--moe-prepare-gpu-layers=element-type={element}"], arrays, f"p{element}")
            scale = float(np.abs(compressed).max())
            err = float(np.abs(got.astype(np.float64) - compressed).max())
            assert err <= tolerance * scale, (element, err / scale)
            text = open(prepared).read()
        layer = text[text.index("attributes {moe.gpu_layer}"):]
        assert "moe.scatter_columns" in layer
        # Every matmul's K and N are multiples of 8 once prepared.
        for k, n in re.findall(r"moe\.grouped_matmul .*: \(tensor<\?x(\d+)x\w+>, "
                               r"tensor<\d+x\d+x(\d+)x", layer):
            assert int(k) % 8 == 0 and int(n) % 8 == 0, (k, n)
        for chip in chips:
            lib = os.path.join(tmp, f"{chip}.so")
            gpu_aot(prepared, lib, chip)
            symbols = subprocess.run(["nm", "-D", lib], capture_output=True,
                                     text=True).stdout
            assert "moe_layer_forward" in symbols
