"""python -m moe_opt.calibrate on committed test models: the statistics it
records from onnxruntime's router logits (found through --moe-report) must
equal an independent numpy computation of the same routing from the saved
PyTorch parameters (moe_opt.models.numpy_check's recipe, the manifest's
routing attributes)."""

import json
import os

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from model_runs import MANIFEST, MODELS, MOE_OPT  # noqa: E402

from moe_opt import calibrate as cal  # noqa: E402
from moe_opt import reference as ref  # noqa: E402
from moe_opt.models import numpy_check  # noqa: E402

# export -> (manifest name, router weight in params.npz)
MODELS_UNDER_TEST = {
    "hf_mixtral.batched_mm.ts17": ("hf_mixtral.batched_mm", "block.gate.weight"),
    "mixtral_loop.ts17": ("mixtral_loop", "gate.weight"),
    "hf_qwen3_moe.batched_mm.ts17": ("hf_qwen3_moe.batched_mm", "block.gate.weight"),
    # sigmoid, group-limited, selection bias read from the reported initializer
    "hf_deepseek_v3.batched_mm.ts17": ("hf_deepseek_v3.batched_mm", "block.gate.weight"),
}
# manifest name -> selection bias in params.npz
SELECTION_BIAS = {"hf_deepseek_v3.batched_mm": "block.gate.e_score_correction_bias"}


def entry(name):
    return next(m for m in MANIFEST["models"] if m["name"] == name)


def calib_runs(hidden, runs=3, tokens=(4, 9), seed=0):
    rng = np.random.default_rng(seed)
    return [{"hidden_states": rng.standard_normal((1, t, hidden)).astype(np.float32)}
            for t in rng.integers(*tokens, size=runs) for _ in [0]]


def expected_layer(model_entry, params, runs, router):
    """usage, logits gram and top-2 ratios by plain numpy."""
    kw = numpy_check._route_kwargs(model_entry, params,
                                   SELECTION_BIAS.get(model_entry["name"]))
    E = model_entry["E"]
    usage = np.zeros(E, np.int64)
    logits_all, ratios, sels = [], [], []
    for run in runs:
        x = run["hidden_states"].reshape(-1, run["hidden_states"].shape[-1]).astype(np.float64)
        logits = x @ params[router].astype(np.float64).T
        w, ids = ref.route(logits, **kw)
        usage += np.bincount(ids[ids >= 0], minlength=E)
        sel = np.stack([(ids == e).sum(axis=1) for e in range(E)], axis=1)
        sels.append(sel)
        logits_all.append(logits)
        ratios.extend(w[:, 1] / w[:, 0])
    L = np.concatenate(logits_all)
    Ln = L / np.linalg.norm(L, axis=0, keepdims=True)
    return usage, Ln.T @ Ln, float(np.median(ratios)), sels


@pytest.mark.parametrize("export", sorted(MODELS_UNDER_TEST))
def test_counts_match_numpy(export):
    name, router = MODELS_UNDER_TEST[export]
    model_entry = entry(name)
    params = dict(np.load(os.path.join(MODELS, model_entry["params"])))
    runs = calib_runs(model_entry["input"]["hidden"])
    stats = cal.calibrate(os.path.join(MODELS, export + ".onnx"), runs, MOE_OPT,
                          logits_sample=5)
    assert stats["format"] == cal.FORMAT and stats["version"] == cal.VERSION
    (layer,) = stats["layers"]
    usage, cos, median, _ = expected_layer(model_entry, params, runs, router)
    total = sum(r["hidden_states"].shape[1] for r in runs)
    assert layer["tokens"] == total
    assert layer["usage"] == usage.tolist()
    assert sum(layer["usage"]) == total * model_entry["k"]
    np.testing.assert_allclose(layer["logit_similarity"], cos, atol=1e-5)
    assert layer["top2_ratio_median"] == pytest.approx(median, rel=1e-5)
    assert len(layer["router_logits"]) == 5
    assert stats["transitions"] == []
    json.dumps(stats)  # JSON-ready


def chained(model, times=2):
    """`times` copies of a one-layer model, each feeding the next."""
    from onnx import compose

    out = model.graph.output[0].name
    inp = model.graph.input[0].name
    result = compose.add_prefix(model, "l0/")
    for i in range(1, times):
        nxt = compose.add_prefix(model, f"l{i}/")
        result = compose.merge_models(result, nxt, io_map=[(f"l{i-1}/{out}", f"l{i}/{inp}")])
    # merge_models lists the default domain as both "" and "ai.onnx".
    opsets = {}
    for o in result.opset_import:
        domain = "" if o.domain == "ai.onnx" else o.domain
        opsets[domain] = max(opsets.get(domain, 0), o.version)
    del result.opset_import[:]
    result.opset_import.extend(onnx.helper.make_opsetid(d, v) for d, v in opsets.items())
    return result


def test_transitions_two_layers(tmp_path):
    name, router = MODELS_UNDER_TEST["mixtral_loop.ts17"]
    model_entry = entry(name)
    params = dict(np.load(os.path.join(MODELS, model_entry["params"])))
    path = str(tmp_path / "two.onnx")
    onnx.save(chained(onnx.load(os.path.join(MODELS, "mixtral_loop.ts17.onnx"))), path)
    runs = calib_runs(16, runs=2)
    feeds = [{"l0/hidden_states": r["hidden_states"]} for r in runs]
    stats = cal.calibrate(path, feeds, MOE_OPT)
    assert len(stats["layers"]) == 2
    # Layer 1 sees layer 0's output: compute both with the numpy reference.
    second = [{"hidden_states": numpy_check.reference_output(model_entry, params,
                                                             r["hidden_states"])}
              for r in runs]
    usage0, _, _, sel0 = expected_layer(model_entry, params, runs, router)
    usage1, _, _, sel1 = expected_layer(model_entry, params, second, router)
    assert stats["layers"][0]["usage"] == usage0.tolist()
    assert stats["layers"][1]["usage"] == usage1.tolist()
    expected = sum(a.T @ b for a, b in zip(sel0, sel1))
    (t,) = stats["transitions"]
    assert (t["from_layer"], t["to_layer"]) == (0, 1)
    assert t["counts"] == expected.tolist()
    assert np.sum(t["counts"]) == sum(r["hidden_states"].shape[1] for r in runs) * 4


def test_cli_progress_and_runs(tmp_path, capfd):
    data = tmp_path / "calib.npz"
    runs = calib_runs(16, runs=3)
    np.savez(data, **{f"b{i}.hidden_states": r["hidden_states"] for i, r in enumerate(runs)})
    out = tmp_path / "stats.json"
    rc = cal.main([os.path.join(MODELS, "mixtral_loop.ts17.onnx"), "--data", str(data),
                   "-o", str(out), "--moe-opt", MOE_OPT, "--activations",
                   str(tmp_path / "act.npz")])
    assert rc == 0
    assert "run 3/3" in capfd.readouterr().err
    stats = json.loads(out.read_text())
    assert stats["runs"] == 3
    act = np.load(tmp_path / "act.npz")
    total = sum(r["hidden_states"].shape[1] for r in runs)
    assert act["layer0.input"].shape == (total, 16)
    assert act["layer0.output"].shape == (total, 16)
