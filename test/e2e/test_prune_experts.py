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
from moe_run import first_result  # noqa: E402

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

    y_full = first_result(full, x, tmp_path)
    y_pruned = first_result(pruned, x, tmp_path)
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
    y_full = first_result(full, x, tmp_path)
    y_pruned = first_result(pruned, x, tmp_path)
    assert compare(y_pruned, y_full) is not None


# criterion=enumeration ---------------------------------------------------------

# export -> manifest name (no shared expert: Z is the routed output)
ENUM_EXPORTS = {
    "mixtral_loop.ts17": "mixtral_loop",  # per-expert weights, top-2
    "hf_mixtral.batched_mm.ts17": "hf_mixtral.batched_mm",  # stacked, concatenated gate/up
    "gpt_oss_gathered.ts17": "gpt_oss_gathered",  # biases, clamped SwiGLU, softmax over top-4
}
_ENUM_RE = re.compile(r"enumeration of (\d+) subsets on (\d+) sample tokens: kept \[([0-9, ]*)\]")


def numpy_layer(name, x, expert_mask=None):
    """The model's output from its saved weights (moe_opt.reference), with
    only the experts of `expert_mask` selectable."""
    import copy
    import json

    from moe_opt.models import numpy_check

    with open(os.path.join(MODELS, "MANIFEST.json")) as f:
        entry = copy.deepcopy({e["name"]: e for e in json.load(f)["models"]}[name])
    if expert_mask is not None:
        entry["route"]["expert_mask"] = expert_mask
    params = dict(np.load(os.path.join(MODELS, entry["params"])))
    return numpy_check.reference_output(entry, params, x)


def brute_force(name, x, count):
    """Every count-subset of experts (lexicographic order) with its
    ||Z_full - Z_pruned||_F on x, the layer output with the others masked."""
    import itertools

    full = numpy_layer(name, x)
    errors = {}
    e = _num_experts(name)
    for subset in itertools.combinations(range(e), count):
        mask = [i in subset for i in range(e)]
        errors[subset] = float(np.linalg.norm(full - numpy_layer(name, x, mask)))
    return errors, float(np.linalg.norm(full))


def _num_experts(name):
    import json

    with open(os.path.join(MODELS, "MANIFEST.json")) as f:
        return {e["name"]: e for e in json.load(f)["models"]}[name]["E"]


@pytest.mark.parametrize("export", sorted(ENUM_EXPORTS))
def test_enumeration_matches_numpy_brute_force(export, tmp_path):
    name = ENUM_EXPORTS[export]
    model = os.path.join(MODELS, export + ".onnx")
    x = np.random.default_rng(3).standard_normal((1, 12, 16)).astype(np.float32)
    stats = cal.calibrate(model, [{"hidden_states": x}], MOE_OPT, input_sample=12)
    np.testing.assert_array_equal(np.array(stats["layers"][0]["input_sample"], np.float32),
                                  x.reshape(12, 16))
    path = tmp_path / "stats.json"
    path.write_text(cal.json.dumps(stats))
    pruned = str(tmp_path / "pruned.mlir")
    log = moe_opt(model, pruned,
                  f"--moe-prune-experts=stats={path} keep-fraction=0.5 criterion=enumeration")
    subsets, rows, kept = _ENUM_RE.search(log).groups()
    kept = tuple(int(i) for i in kept.split(", "))
    assert int(rows) == 12

    errors, norm = brute_force(name, x, len(kept))
    assert int(subsets) == len(errors)
    best = min(errors.values())
    # The compiler's choice is the numpy optimum (up to float32 rounding of
    # the compiler's expert outputs); it is the first optimum in id order
    # unless another set is within rounding.
    assert errors[kept] <= best + 1e-5 * norm
    runner_up = sorted(errors.values())[1]
    if runner_up - best > 1e-4 * norm:
        assert errors[kept] == best

    # The pruned model computes the model with the pruned experts masked.
    xt = np.random.default_rng(4).standard_normal((1, 6, 16)).astype(np.float32)
    got = first_result(pruned, xt, tmp_path)
    mask = [i in kept for i in range(_num_experts(name))]
    np.testing.assert_allclose(got, numpy_layer(name, xt, mask), rtol=1e-4, atol=1e-5)


def test_enumeration_keeps_the_used_experts(tmp_path):
    """With as many kept experts as the sample tokens use, the used set has
    error 0 (up to rounding) and every other set does not: enumeration prunes exactly the
    never-selected experts and the outputs on those tokens do not change."""
    model = os.path.join(MODELS, "mixtral_loop.ts17.onnx")
    x = np.random.default_rng(1).standard_normal((1, 3, 16)).astype(np.float32)
    stats = cal.calibrate(model, [{"hidden_states": x}], MOE_OPT, input_sample=3)
    usage = stats["layers"][0]["usage"]
    used = [e for e, u in enumerate(usage) if u > 0]
    assert len(used) < len(usage)
    path = tmp_path / "stats.json"
    path.write_text(cal.json.dumps(stats))
    full, pruned = str(tmp_path / "full.mlir"), str(tmp_path / "pruned.mlir")
    moe_opt(model, full)
    log = moe_opt(model, pruned, f"--moe-prune-experts=stats={path} keep={len(used)} "
                                 "criterion=enumeration")
    found = re.search(r"kept \[([0-9, ]*)\], output error (\S+) \(\|\|Z_full\|\| = (\S+)\)", log)
    assert found.group(1) == ", ".join(map(str, used))
    # Softmax over fewer experts rounds differently: zero up to rounding.
    assert float(found.group(2)) < 1e-12 * float(found.group(3))
    assert compare(first_result(pruned, x, tmp_path), first_result(full, x, tmp_path)) is None


# The compiler's layer evaluation (LayerEvaluator: router, every activation,
# gated layout, biases, transposed and per-expert weights; routing replayed
# by RoutingEvaluator) against moe_opt.reference, through the numbers the
# enumeration remark prints, on layers written in the dialect with constant
# weights; the pruned layer then runs in moe-run.
EVAL_LAYERS = {
    "gelu_biases_transposed": dict(k=2, renormalize=True, activation="gelu", transposed=True,
                                   expert_biases=True),
    "gelu_tanh_separate": dict(k=2, activation="gelu_tanh", gate_layout="separate"),
    "gpt_oss": dict(router_bias=True, score="softmax_after_topk", k=2, activation="silu",
                    gate_layout="interleaved", alpha=1.702, beta=1.0, limit=7.0,
                    transposed=True, expert_biases=True),
    "hmoe_aglu": dict(inter=[8, 16, 24, 40], k=2, activation="aglu", kappa=0.8, lam=1.5),
    "apa": dict(k=2, activation="apa", lam=0.5),
    "sigmoid_bias_relu": dict(score="sigmoid", k=2, selection_bias=True, activation="relu",
                              expert_biases=True),
    # Ernie's clamped renormalization and PhiMoE's sparsemixer rounds.
    "ernie_clamp": dict(k=2, renormalize=True, epsilon=0.9, renormalize_clamp=True,
                        activation="silu", gate_layout="concatenated"),
    "phimoe_sparsemixer": dict(score="sparsemixer", k=2, jitter_eps=0.4, scaling_factor=1.5,
                               activation="silu", gate_layout="concatenated"),
    "skip_top3": dict(experts=6, k=3, renormalize=True, skip_ratio=0.4, activation="silu",
                      gate_layout="concatenated"),
}
_REMARK_RE = re.compile(r"kept \[([0-9, ]*)\], output error (\S+) \(\|\|Z_full\|\| = (\S+)\); "
                        r"the frequency choice \[([0-9, ]*)\] has error (\S+)")


@pytest.mark.parametrize("name", sorted(EVAL_LAYERS))
def test_layer_evaluation_matches_reference(name, tmp_path):
    import itertools
    import zlib

    from moe_opt.layers import Layer

    layer = Layer(seed=zlib.crc32(name.encode()) % 1000, **EVAL_LAYERS[name])
    E = layer.experts
    x = np.random.default_rng(5).standard_normal((10, layer.hidden)).astype(np.float32)
    src = tmp_path / "layer.mlir"
    src.write_text(layer.mlir_with_constants())
    stats = tmp_path / "stats.json"
    # Usage makes frequency keep experts 0 .. E-2.
    stats.write_text(cal.json.dumps({
        "format": "moe-opt.calibration", "version": 1,
        "layers": [{"num_experts": E, "tokens": 10, "usage": list(range(E + 1, 1, -1)),
                    "input_sample": x.tolist()}]}))
    pruned = str(tmp_path / "pruned.mlir")
    log = moe_opt(str(src), pruned,
                  f"--moe-prune-experts=stats={stats} keep={E - 1} criterion=enumeration")
    kept, error, norm, frequency, frequency_error = _REMARK_RE.search(log).groups()
    kept = tuple(int(i) for i in kept.split(", "))
    assert frequency == ", ".join(map(str, range(E - 1)))

    full = layer.reference(x)
    errors = {s: float(np.linalg.norm(full - _masked_at(layer, x, s)))
              for s in itertools.combinations(range(E), E - 1)}
    scale = np.linalg.norm(full)
    # The remark prints 4 significant digits.
    np.testing.assert_allclose(float(norm), scale, rtol=1e-3)
    np.testing.assert_allclose(float(frequency_error), errors[tuple(range(E - 1))],
                               rtol=1e-3, atol=1e-5 * scale)
    np.testing.assert_allclose(float(error), min(errors.values()), rtol=1e-3, atol=1e-5 * scale)
    assert errors[kept] <= min(errors.values()) + 1e-5 * scale

    xt = np.random.default_rng(6).standard_normal((1, 5, layer.hidden)).astype(np.float32)
    got = first_result(pruned, xt[0], tmp_path)
    np.testing.assert_allclose(got, _masked_at(layer, xt[0], kept), rtol=1e-4,
                               atol=1e-5 * max(1.0, np.abs(full).max()))


def _masked_at(layer, x, kept):
    """The layer's reference output with only the experts `kept` selectable."""
    layer.expert_mask = [i in kept for i in range(layer.experts)]
    try:
        return layer.reference(x)
    finally:
        layer.expert_mask = None
