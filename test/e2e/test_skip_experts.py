"""--moe-skip-experts through moe-run: the skipped model computes what the
numpy reference (moe_opt.reference.route with skip_ratio, then dispatch,
experts and combine from the saved weights) computes with beta = the
calibrated top2_ratio_median, and beta = 0 leaves every output as it was.
Top-2 (Mixtral, per-expert and stacked weights) and top-4 (gpt-oss, slots
s >= 1 dropped when w_s < beta * w_0)."""

import copy
import json
import os

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from model_runs import MODELS, MOE_OPT  # noqa: E402
from moe_run import first_result  # noqa: E402
from test_prune_experts import moe_opt  # noqa: E402

from moe_opt import calibrate as cal  # noqa: E402
from moe_opt import reference as ref  # noqa: E402
from moe_opt.models import numpy_check  # noqa: E402

with open(os.path.join(MODELS, "MANIFEST.json")) as _f:
    ENTRIES = {e["name"]: e for e in json.load(_f)["models"]}

# export -> manifest name
EXPORTS = {
    "mixtral_loop.ts17": "mixtral_loop",
    "hf_mixtral.batched_mm.ts17": "hf_mixtral.batched_mm",
    "gpt_oss_gathered.ts17": "gpt_oss_gathered",
}


def reference(name, x, **route):
    entry = copy.deepcopy(ENTRIES[name])
    entry["route"].update(route)
    params = dict(np.load(os.path.join(MODELS, entry["params"])))
    return numpy_check.reference_output(entry, params, x)


def calibrated_stats(model, tmp_path):
    calib = np.random.default_rng(0).standard_normal((1, 32, 16)).astype(np.float32)
    stats = cal.calibrate(model, [{"hidden_states": calib}], MOE_OPT, logits_sample=32)
    path = tmp_path / "stats.json"
    path.write_text(json.dumps(stats))
    return path, stats["layers"][0]["top2_ratio_median"]


@pytest.mark.parametrize("export", sorted(EXPORTS))
def test_skipping_matches_reference(export, tmp_path):
    name = EXPORTS[export]
    model = os.path.join(MODELS, export + ".onnx")
    path, beta = calibrated_stats(model, tmp_path)
    assert 0 < beta < 1
    skipped = str(tmp_path / "skipped.mlir")
    log = moe_opt(model, skipped, f"--moe-skip-experts=stats={path}")
    # beta is the median of the 32 calibration tokens' w1 / w0, so the
    # compiler's replay of their routing (RoutingEvaluator) drops the second
    # slot of the 16 below it.
    assert f"skip_ratio {beta:.4f}; skips 16 of 32 second slots (0.500)" in log
    assert "skip_ratio = " in open(skipped).read()

    x = np.random.default_rng(1).standard_normal((1, 24, 16)).astype(np.float32)
    got = first_result(skipped, x, tmp_path)
    want = reference(name, x, skip_ratio=beta)
    plain = reference(name, x)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    # Some tokens did lose an expert: the comparison is not vacuous.
    assert np.abs(want - plain).max() > 1e-3


def test_reference_skips_by_ratio_without_renormalizing():
    logits = np.log(np.array([[0.5, 0.3, 0.2, 0.0001], [0.4, 0.35, 0.25, 0.0001]]))
    w, ids = ref.route(logits, k=3, skip_ratio=0.65)
    plain_w, _ = ref.route(logits, k=3)
    # Token 0: 0.3 / 0.5 = 0.6 and 0.4 drop; token 1: 0.875 stays, 0.625 drops.
    np.testing.assert_array_equal(ids, [[0, -1, -1], [0, 1, -1]])
    np.testing.assert_allclose(w[:, 0], plain_w[:, 0])
    np.testing.assert_allclose(w[1, 1], plain_w[1, 1])
    assert w[0, 1] == w[0, 2] == w[1, 2] == 0.0


def test_beta_zero_changes_nothing(tmp_path):
    model = os.path.join(MODELS, "hf_mixtral.batched_mm.ts17.onnx")
    full, skipped = str(tmp_path / "full.mlir"), str(tmp_path / "skipped.mlir")
    moe_opt(model, full)
    moe_opt(model, skipped, "--moe-skip-experts=beta=0")
    assert "skip_ratio = 0.000000e+00" in open(skipped).read()
    x = np.random.default_rng(2).standard_normal((1, 24, 16)).astype(np.float32)
    np.testing.assert_array_equal(first_result(skipped, x, tmp_path),
                                  first_result(full, x, tmp_path))
