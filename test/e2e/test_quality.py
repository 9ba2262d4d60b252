"""The quality report (python -m moe_opt.quality.report) in its quick mode:
frequency pruning of the committed trained digits model at 100% and 50% of
the experts, measured through moe-opt and moe-run, checked against
onnxruntime and against numbers recomputed here from the logits."""

import json
import os

import numpy as np
import pytest

ort = pytest.importorskip("onnxruntime")

from model_runs import compare  # noqa: E402  (skips without moe-opt/moe-run)

from moe_opt.quality import report  # noqa: E402


@pytest.fixture(scope="module")
def splits():
    return report.load_splits()


@pytest.fixture(scope="module")
def measured():
    return report.run(methods=[report.METHODS[0]], fractions=(1.0, 0.5))


def ort_logits(x, model=report.MODEL):
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


@pytest.mark.parametrize("model", [report.MODEL, report.MODEL_UPCYCLED])
def test_committed_model_accuracy_is_the_recorded_one(splits, model):
    with open(os.path.splitext(model)[0] + ".json") as f:
        recorded = json.load(f)
    for split in ("calib", "test"):
        x, labels = splits[split]
        assert (report.accuracy(ort_logits(x, model), labels)
                == recorded[f"{split}_accuracy_onnxruntime"])


def test_original_and_full_keep_reproduce_onnxruntime(splits, measured):
    original, rows = measured
    expected = ort_logits(splits["test"][0])
    assert compare(original.logits, expected) is None
    full = rows[0]
    assert full.status is None and full.fraction == 1.0
    assert full.experts == original.experts == [8, 8]
    assert compare(full.logits, expected) is None
    assert full.error < 1e-5


def test_numbers_come_from_the_logits(splits, measured):
    original, rows = measured
    labels = splits["test"][1]
    for row in (original, *rows):
        assert row.accuracy == np.mean(row.logits.argmax(-1) == labels)
        assert row.error == pytest.approx(
            np.linalg.norm(row.logits - original.logits) / np.linalg.norm(original.logits))


def test_half_of_the_experts(measured):
    """Every expert is used on the calibration data (balanced training), so
    pruning half changes the outputs; weights halve, FLOPs per token (k
    experts of the same size) do not."""
    original, rows = measured
    half = rows[1]
    assert half.status is None and half.experts == [4, 4]
    assert half.error > 1e-3
    assert half.bytes * 2 == original.bytes
    # 2 layers x k=2 x 2 FLOPs x (gate_up 32x32 + down 32x16) per expert.
    assert original.flops == half.flops == 2 * 2 * 2 * (32 * 32 + 32 * 16)
    assert original.bytes == 2 * 8 * (32 * 32 + 32 * 16) * 4


def test_missing_pass_is_reported_not_measured(splits, tmp_path):
    missing = report.Method("no such pass", lambda s, a, f: ["--moe-no-such-pass"])
    row = report.measure(report.MODEL, missing.passes("", "", 0.5), *splits["test"],
                         str(tmp_path), "missing")
    assert row.status == report.NOT_AVAILABLE
    assert row.accuracy is None and row.logits is None
    row.method, row.fraction = missing.name, 0.5
    assert f"| no such pass | 50% | {report.NOT_AVAILABLE} |" in report.table(row, [row])


def test_costs_of_expanded_experts_are_the_same(measured, tmp_path):
    """Bytes and FLOPs read from moe.grouped_matmul (the form compression
    leaves) agree with those read from moe.experts."""
    original, _ = measured
    out = str(tmp_path / "expanded.mlir")
    status, _ = report.compile_model(report.MODEL, ["--moe-expand-experts"], out)
    assert status is None
    with open(out) as f:
        text = f.read()
    assert "moe.experts" not in text and "moe.grouped_matmul" in text
    layers = report.ir_costs(text)
    assert [l["experts"] for l in layers] == original.experts
    assert sum(l["bytes"] for l in layers) == original.bytes
    assert sum(l["flops_per_token"] for l in layers) == original.flops


def test_merging_at_full_keep_changes_nothing(splits, measured, tmp_path):
    """MC-SMoE merging with every expert dominant leaves each group one expert
    (weights kept bit for bit): the report measures the original model."""
    original, _ = measured
    merge = next(m for m in report.METHODS if m.name == "MC-SMoE merge")
    stats, acts = report.calibrate(report.MODEL, splits["calib"][0], str(tmp_path))
    row = report.measure(report.MODEL, merge.passes(stats, acts, 1.0), *splits["test"],
                         str(tmp_path), "merge100", original.logits)
    assert row.status is None
    assert compare(row.logits, original.logits) is None
    assert (row.experts, row.bytes, row.flops) == (original.experts, original.bytes,
                                                    original.flops)
