"""--moe-prune-experts through moe-run: pruning the experts that calibration
never saw selected changes no output on that data (MOE_REFERENCE §5 with
renormalized top-k softmax routing: the kept experts' weights are the same
ratios of the same scores; softmax over the top k (gpt-oss) never sees the
others). Stacked and per-expert weights, with and without biases, are
covered."""

import os
import re
import subprocess

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from model_runs import MODELS, MOE_OPT, compare  # noqa: E402
from moe_run import MOE_RUN  # noqa: E402

from moe_opt import calibrate as cal  # noqa: E402

# export -> calibration tokens: few enough that some experts stay unused.
EXPORTS = {
    "hf_mixtral.batched_mm.ts17": 1,  # stacked, transposed, fused gate/up
    "mixtral_loop.ts17": 3,  # one weight set per expert
    "gpt_oss_gathered.ts17": 1,  # router bias, expert biases, softmax over the top k
    "dense_masked.ts17": 1,  # per-expert weights with biases
}


def moe_opt(model, out, *passes):
    r = subprocess.run([MOE_OPT, model, "--onnx-infer-shapes", "--onnx-raise-moe", *passes,
                        "--mlir-elide-resource-strings-if-larger=100000000", "-o", out],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stderr


def moe_run(model, x, tmp_path, tag):
    inp, out = tmp_path / f"{tag}.in.npy", tmp_path / f"{tag}.out.npy"
    np.save(inp, x)
    r = subprocess.run([MOE_RUN, model, f"--input=@{inp}", f"--output=@{out}"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return np.load(out)


@pytest.mark.parametrize("export", sorted(EXPORTS))
def test_pruning_unused_experts_changes_nothing(export, tmp_path):
    model = os.path.join(MODELS, export + ".onnx")
    x = np.random.default_rng(1).standard_normal((1, EXPORTS[export], 16)).astype(np.float32)
    stats = cal.calibrate(model, [{"hidden_states": x}], MOE_OPT)
    usage = stats["layers"][0]["usage"]
    used = sum(1 for u in usage if u > 0)
    assert used < len(usage), f"every expert used: {usage}"
    path = tmp_path / "stats.json"
    path.write_text(cal.json.dumps(stats))

    full, pruned = str(tmp_path / "full.mlir"), str(tmp_path / "pruned.mlir")
    moe_opt(model, full)
    log = moe_opt(model, pruned, f"--moe-prune-experts=stats={path} keep={used}")
    removed = [e for e, u in enumerate(usage) if u == 0]
    assert f"pruned experts [{', '.join(map(str, removed))}] of {len(usage)}" in log
    assert f"num_experts = {used} : i64" in open(pruned).read()

    y_full = moe_run(full, x, tmp_path, "full")
    y_pruned = moe_run(pruned, x, tmp_path, "pruned")
    assert compare(y_pruned, y_full) is None


def test_pruning_used_experts_changes_outputs(tmp_path):
    """The check above is not vacuous: pruning a used expert does change them."""
    export = "mixtral_loop.ts17"
    model = os.path.join(MODELS, export + ".onnx")
    x = np.random.default_rng(1).standard_normal((1, 2, 16)).astype(np.float32)
    stats = cal.calibrate(model, [{"hidden_states": x}], MOE_OPT)
    stats["layers"][0]["usage"] = [1] * stats["layers"][0]["num_experts"]  # ties: keep 0, 1
    path = tmp_path / "stats.json"
    path.write_text(cal.json.dumps(stats))
    full, pruned = str(tmp_path / "full.mlir"), str(tmp_path / "pruned.mlir")
    moe_opt(model, full)
    moe_opt(model, pruned, f"--moe-prune-experts=stats={path} keep=2")
    y_full = moe_run(full, x, tmp_path, "full")
    y_pruned = moe_run(pruned, x, tmp_path, "pruned")
    assert compare(y_pruned, y_full) is not None
