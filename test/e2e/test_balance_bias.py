"""--moe-balance-bias on recorded router logits: the bias it writes into
moe.route lowers MaxVio on those logits, checked independently with the numpy
reference routing (moe_opt.reference.route with the new selection bias), and
the remark's before/after numbers are what numpy measures."""

import os
import re
import subprocess

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from model_runs import MODELS, MOE_OPT  # noqa: E402

from moe_opt import calibrate as cal  # noqa: E402
from moe_opt import reference as ref  # noqa: E402


def max_violation(logits, kw, bias):
    _, ids = ref.route(logits, **kw, selection_bias=bias)
    load = np.bincount(ids[ids >= 0], minlength=logits.shape[1])
    mean = load.mean()
    return (load.max() - mean) / mean


def bias_values(text):
    """The selection bias constant of the (only) moe.route in `text`."""
    name = re.search(r"moe\.route .* bias\((%\w+) :", text).group(1)
    dense = re.search(re.escape(name) + r" = onnx\.constant dense<\[([^\]]*)\]>", text).group(1)
    return np.array([float(v) for v in dense.split(",")])


@pytest.mark.parametrize("export,hidden", [("hf_mixtral.batched_mm.ts17", 16),
                                           ("hf_deepseek_v3.batched_mm.ts17", None)])
def test_bias_lowers_max_violation(export, hidden, tmp_path):
    model = os.path.join(MODELS, export + ".onnx")
    graph = onnx.load(model).graph
    dims = [d.dim_value for d in graph.input[0].type.tensor_type.shape.dim]
    rng = np.random.default_rng(3)
    # Skewed inputs: a shared offset makes some experts win far more often.
    x = (rng.standard_normal((1, 200, dims[-1])) + 1.5).astype(np.float32)
    stats = cal.calibrate(model, [{graph.input[0].name: x}], MOE_OPT, logits_sample=200)
    path = tmp_path / "stats.json"
    path.write_text(cal.json.dumps(stats))
    layer = stats["layers"][0]
    logits = np.array(layer["router_logits"], np.float64)
    kw = cal.route_kwargs(cal.layer_report(model, MOE_OPT)["layers"][0], onnx.load(model))
    start = kw.pop("selection_bias", np.zeros(layer["num_experts"]))

    out = tmp_path / "balanced.mlir"
    r = subprocess.run([MOE_OPT, model, "--onnx-infer-shapes", "--onnx-raise-moe",
                        f"--moe-balance-bias=stats={path} target=0.02 max-iterations=3000",
                        "-o", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    m = re.search(r"MaxVio ([\d.]+) -> ([\d.]+) on 200 recorded tokens", r.stderr)
    assert m, r.stderr
    before, after = float(m.group(1)), float(m.group(2))
    bias = bias_values(out.read_text())

    assert before == pytest.approx(max_violation(logits, kw, start), abs=1e-4)
    assert after == pytest.approx(max_violation(logits, kw, bias), abs=1e-4)
    assert after < before
