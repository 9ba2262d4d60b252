"""fp16 and bf16 exports (test/models/half, written by
python -m moe_opt.models.half_precision) raise like their fp32 originals and
run: raised and unraised compilations agree with torch's half-precision
output about as well as torch's half precision agrees with fp32. The
DeepSeek block routes in fp32 and runs its experts in half precision.

Tolerance: max |ours - torch_half| <= 2 * max |torch_half - torch_fp32| +
4 ulp(1) * max |torch_half|, since the raised layer rounds at other points
(it computes in its operands' types) than the exported graph does."""

import glob
import os
import re
import subprocess
import tempfile

import numpy as np
import pytest

from model_runs import MOE_OPT  # noqa: E402
from moe_run import run_model_calls  # noqa: E402

HALF = os.path.join(os.path.dirname(__file__), "..", "models", "half")
FILES = sorted(glob.glob(os.path.join(HALF, "*.onnx")))
EPS = {"f16": 2.0 ** -10, "bf16": 2.0 ** -7}
PASSES = {
    "raised": ["--onnx-infer-shapes", "--onnx-raise-moe"],
    "unraised": ["--onnx-infer-shapes", "--convert-onnx-to-linalg"],
}


def as_float(a):
    return (a.astype(np.uint32) << 16).view(np.float32) if a.dtype == np.uint16 else a


@pytest.mark.parametrize("mode", sorted(PASSES))
@pytest.mark.parametrize("path", FILES, ids=[os.path.basename(f) for f in FILES])
def test_half_precision_model(path, mode):
    tag = os.path.basename(path).split(".")[1]
    data = np.load(path[:-len(".onnx")] + ".npz")
    with tempfile.TemporaryDirectory() as tmp:
        lowered = os.path.join(tmp, "m.mlir")
        r = subprocess.run([MOE_OPT, path, *PASSES[mode],
                            "--mlir-elide-resource-strings-if-larger=100000000",
                            "-o", lowered], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        with open(lowered) as f:
            raised = len(re.findall(r"= moe\.route ", f.read()))
        assert raised == (1 if mode == "raised" else 0)
        # One moe-run (one compile) for the three cases.
        cases = range(3)
        outputs = run_model_calls(
            lowered, [[data[f"case{case}.input.hidden_states"]] for case in cases], 1,
            None, (), tmp)
        for case, (y,) in zip(cases, outputs):
            got = as_float(y)
            half, full = data[f"case{case}.torch.y"], data[f"case{case}.fp32.y"]
            scale = float(np.abs(half).max())
            tol = 2 * float(np.abs(half - full).max()) + 4 * EPS[tag] * scale
            err = float(np.abs(got - half).max())
            assert err <= tol, f"case {case}: max |diff| {err:.3g} > {tol:.3g}"
