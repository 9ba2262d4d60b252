"""bench/gpu/qvariants.py's numpy reference (what the quantized GPU kernel
forms are checked against on the H200) agrees with moe-opt's CPU lowering of
the same layer functions: every form at 40 rows. The functions run in f32
here (bf16 replaced, the inputs the same bf16 values), so what is left is
the reference's bf16 rounding of the dequantized weights: relative
Frobenius error <= 1e-2, the GPU check's bound. A wrong layout, bit order
or zero-point reading would be off by O(1)."""

import os
import subprocess
import sys

import numpy as np
import pytest

from moe_run import MOE_RUN

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bench", "gpu"))
import qvariants  # noqa: E402


def raw(a):
    """What moe-run reads for `a` in the f32 functions: bytes as int8 (bf16
    scales are float32 arrays already)."""
    a = np.asarray(a)
    return a.view(np.int8) if a.dtype == np.uint8 else a


@pytest.mark.parametrize("v", qvariants.VARIANTS, ids=[v[0] for v in qvariants.VARIANTS])
def test_reference_matches_cpu_lowering(v, tmp_path):
    x, weights, offsets = qvariants.inputs(v, 40, seed=3)
    module = tmp_path / "qv.mlir"
    # Types only (bf16 in the functions' names stays); this form's function
    # alone, so moe-run compiles no other.
    module.write_text("\n".join(qvariants.emit_mlir([v])).replace("xbf16>", "xf32>") + "\n")
    arrays = [x] + [a for w in weights for a in w] + [offsets]
    args = [MOE_RUN, str(module), f"--function={qvariants.layer_name(v)}"]
    for i, a in enumerate(arrays):
        path = tmp_path / f"in{i}.npy"
        np.save(path, raw(a))
        args.append(f"--input=@{path}")
    out = tmp_path / "out.npy"
    args.append(f"--output=@{out}")
    r = subprocess.run(args, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    got = np.load(out)
    want = qvariants.reference(v, x, weights, offsets)
    assert got.shape == want.shape
    err = np.linalg.norm(got - want) / np.linalg.norm(want)
    assert err <= 1e-2, err


def test_bf16_rounding_matches_ml_dtypes():
    """qvariants.to_bf16 (numpy only, for the GPU machine) rounds as
    ml_dtypes' bfloat16 does: nearest, ties to even."""
    import ml_dtypes

    rng = np.random.default_rng(0)
    magnitudes = 10.0 ** rng.integers(-30, 30, 100000)
    ties = [0.0, -0.0, 1.0 + 2.0 ** -8, 1.0 + 3 * 2.0 ** -8]
    a = np.concatenate([rng.standard_normal(100000) * magnitudes, ties]).astype(np.float32)
    np.testing.assert_array_equal(qvariants.to_bf16(a),
                                  a.astype(ml_dtypes.bfloat16).astype(np.float32))
