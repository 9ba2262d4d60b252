"""bench/gpu/routing.py's torch references (what the GPU routing kernel is
checked against on the H200) agree with moe-opt's CPU routing kernels, which
the exports check against onnxruntime: every routing of the benchmark at a
small hidden size, same ids, weights within 1e-5. Needs torch (skipped
without it, as in CI)."""

import os
import sys

import numpy as np
import pytest

from moe_run import run_mlir

torch = pytest.importorskip("torch")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bench", "gpu"))
import routing  # noqa: E402


@pytest.mark.parametrize("r", routing.ROUTINGS, ids=[r[0] for r in routing.ROUTINGS])
def test_reference_matches_cpu_kernel(r):
    name, _, e, k, score, has_bias = r[:6]
    h, t = 64, 40
    r = (name, h) + tuple(r[2:])
    rng = np.random.default_rng(1)
    x = rng.standard_normal((t, h)).astype(np.float32)
    w = (rng.standard_normal((e, h)) * h ** -0.5).astype(np.float32)
    bias = (rng.standard_normal(e) * 0.1).astype(np.float32) if has_bias else None
    ref_w, ref_ids, _ = routing.reference(torch, r, torch.tensor(x), torch.tensor(w),
                                          None if bias is None else torch.tensor(bias))
    lines = routing.fused_route_lines(r, "%x", "%w", "%b", "%wt, %ids")
    text = "\n".join(lines).replace("bf16", "f32")
    b_arg = f", %b: tensor<{e}xf32>" if has_bias else ""
    outs = f"tensor<?x{k}xf32>, tensor<?x{k}xi64>"
    src = (f"func.func @f(%x: tensor<?x{h}xf32>, %w: tensor<{e}x{h}xf32>{b_arg}) -> ({outs}) {{\n"
           f"{text}\n  return %wt, %ids : {outs}\n}}\n")
    got_w, got_ids = run_mlir(src, [x, w] + ([bias] if has_bias else []), num_outputs=2)
    np.testing.assert_array_equal(got_ids, ref_ids.numpy())
    np.testing.assert_allclose(got_w, ref_w.numpy(), rtol=1e-5, atol=1e-6)
