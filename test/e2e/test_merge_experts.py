"""--moe-merge-experts through moe-run (MOE_REFERENCE §4 steps 1-6).

Layers are written in the moe dialect (moe_opt.layers) with their weights
as constants, statistics are computed from their routing on calibration
tokens exactly as `python -m moe_opt.calibrate` does (LayerStats), and the
merged module's outputs are compared with numpy:
(a) experts that are copies of one expert up to a neuron permutation merge
    losslessly with alignment (and not without it);
(b) aligning without merging (align-only) keeps every expert's function, on
    committed ONNX exports calibrated with moe_opt.calibrate;
(c) the merged output equals a numpy merge (dominant choice, grouping by
    logit similarity, alignment by brute force over all permutations of a
    tiny hidden width, frequency / uniform averaging, id remap);
(d) every original expert id stays routable: expert_map covers all ids.
"""

import itertools
import os
import re
import subprocess

import numpy as np
import pytest

from model_runs import MODELS, MOE_OPT, compare  # noqa: E402
from moe_run import first_result, gpu_aot  # noqa: E402

from moe_opt import calibrate as cal  # noqa: E402
from moe_opt import reference as ref  # noqa: E402
from moe_opt.layers import Layer  # noqa: E402

RTOL = 1e-5


def run_tool(args):
    r = subprocess.run(args, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stderr


def close(got, expected, rtol=RTOL):
    scale = max(float(np.max(np.abs(expected))), 1e-30)
    return float(np.max(np.abs(got.astype(np.float64) - expected))) <= rtol * scale


# -- layers with constant weights ----------------------------------------------


def constant_mlir(layer):
    """layer.mlir() with every parameter an arith.constant instead of an
    argument, so that the pass can read and rewrite the weights."""
    lines = layer.mlir().splitlines()
    head = re.match(r"func.func @layer\((%x: [^,]*), .*\) -> (.*) \{", lines[0])
    body = [f"func.func @layer({head.group(1)}) -> {head.group(2)} {{"]
    for name, value in layer.params.items():
        shape = "x".join(map(str, value.shape))
        raw = np.ascontiguousarray(value, dtype="<f4").tobytes().hex().upper()
        body.append(f'  %{name} = arith.constant dense<"0x{raw}"> : tensor<{shape}xf32>')
    return "\n".join(body + lines[1:]) + "\n"


def route_kw(layer):
    return dict(mode=layer.mode, score=layer.score, k=layer.k, renormalize=layer.renormalize)


def layer_stats(layer, x):
    """The statistics file calibrate would write for `layer` on tokens `x`."""
    stats = cal.LayerStats({"index": 0, "num_experts": layer.experts}, route_kw(layer), 0)
    stats.add(ref.gate(x.astype(np.float64), layer.params["router"].astype(np.float64)))
    return {"format": cal.FORMAT, "version": cal.VERSION, "layers": [stats.to_json()]}


def merge(layer, x, tmp_path, options, stats=None):
    """Writes the layer and its statistics, runs the pass; returns (merged
    module path, remarks, statistics)."""
    stats = stats or layer_stats(layer, x)
    src, out, path = tmp_path / "layer.mlir", tmp_path / "merged.mlir", tmp_path / "stats.json"
    src.write_text(constant_mlir(layer))
    path.write_text(cal.json.dumps(stats))
    log = run_tool([MOE_OPT, str(src), f"--moe-merge-experts=stats={path} {options}",
                    "-o", str(out)])
    return src, out, log, stats


# -- numpy merge ------------------------------------------------------------------


def expert_stages(layer, e):
    """Expert e's weights and biases in [in, out] layout."""
    p = layer.params
    ws = [p[n][e] if p[n].ndim == 3 else p[n] for n in layer.weight_names]
    ws = [w.T if layer.transposed else w for w in ws]
    bs = [p[n][e] for n in layer.bias_names]
    return [w.astype(np.float64) for w in ws], [b.astype(np.float64) for b in bs]


def neuron_columns(layout, width, neurons):
    """First-stage columns of `neurons` per gate/up part."""
    if layout == "interleaved":
        return [[2 * j for j in neurons], [2 * j + 1 for j in neurons]]
    if layout == "concatenated":
        return [list(neurons), [width + j for j in neurons]]
    return [list(neurons)]


def permuted(layer, ws, bs, perm):
    """Neuron i of the result is neuron perm[i]."""
    width = ws[-1].shape[0]
    parts = neuron_columns(layer.gate_layout, width, perm)
    slots = neuron_columns(layer.gate_layout, width, range(width))
    cols = np.zeros(sum(len(p) for p in parts), np.int64)
    for part, slot in zip(parts, slots):
        cols[slot] = part
    ws = [w[:, cols] for w in ws[:-1]] + [ws[-1][list(perm), :]]
    bs = [b[cols] for b in bs[:-1]] + bs[-1:] if bs else []
    return ws, bs


def neuron_vectors(layer, ws):
    """[F, ...]: everything of each hidden neuron that the cost compares."""
    width = ws[-1].shape[0]
    blocks = [ws[0][:, c].T for c in neuron_columns(layer.gate_layout, width, range(width))]
    if layer.gate_layout == "separate":
        blocks.append(ws[1].T)
    return np.concatenate(blocks + [ws[-1]], axis=1)


def best_permutation(layer, ref_ws, ws):
    """Brute force over all permutations: the one maximizing
    sum_i <ref neuron i, member neuron perm[i]>."""
    cost = neuron_vectors(layer, ref_ws) @ neuron_vectors(layer, ws).T
    width = cost.shape[0]
    perms = np.array(list(itertools.permutations(range(width))))
    totals = cost[np.arange(width), perms].sum(axis=1)
    return tuple(perms[int(np.argmax(totals))])


def numpy_merge(layer, stats, keep, align=True, weighting="frequency"):
    """(expert_map, merged weight list, merged bias list, groups)."""
    entry = stats["layers"][0]
    usage = np.array(entry["usage"], np.float64)
    sim = np.array(entry["logit_similarity"])
    E = layer.experts
    dominant = sorted(np.argsort(-usage, kind="stable")[:keep].tolist())
    reference = {e: (e if e in dominant else max(dominant, key=lambda d: (sim[e, d], -d)))
                 for e in range(E)}
    groups = [[d] + [e for e in range(E) if reference[e] == d and e != d] for d in dominant]
    expert_map = [next(n for n, g in enumerate(groups) if reference[e] == g[0]) for e in range(E)]
    merged_w, merged_b = [], []
    for group in groups:
        ref_ws, ref_bs = expert_stages(layer, group[0])
        members = [(ref_ws, ref_bs)]
        for m in group[1:]:
            ws, bs = expert_stages(layer, m)
            if align:
                ws, bs = permuted(layer, ws, bs, best_permutation(layer, ref_ws, ws))
            members.append((ws, bs))
        f = np.ones(len(group)) if weighting == "uniform" else usage[group]
        if f.sum() == 0:
            f = np.ones(len(group))
        merged_w.append([sum(fi * ws[s] for fi, (ws, _) in zip(f, members)) / f.sum()
                         for s in range(len(ref_ws))])
        merged_b.append([sum(fi * bs[s] for fi, (_, bs) in zip(f, members)) / f.sum()
                         for s in range(len(ref_bs))])
    stages = len(layer.weight_names)
    weights = [np.stack([merged_w[n][s] for n in range(len(groups))]) for s in range(stages)]
    biases = [np.stack([merged_b[n][s] for n in range(len(groups))])
              for s in range(len(layer.bias_names))]
    return expert_map, weights, biases, groups


def merged_reference(layer, x, expert_map, weights, biases):
    """The layer's output with the router unchanged and experts merged."""
    x64 = x.astype(np.float64)
    logits = ref.gate(x64, layer.params["router"].astype(np.float64))
    w, ids = ref.route(logits, **route_kw(layer))
    rows, offsets, row_map = ref.dispatch(x64, ids, len(weights[0]), expert_map=expert_map)
    act = {k: getattr(layer, k) for k in ("alpha", "beta", "limit") if getattr(layer, k) is not None}
    y = ref.experts(rows, offsets, weights, biases or None, activation=layer.activation,
                    gate_layout=layer.gate_layout, **act)
    return ref.combine(y, row_map, w)


def ir_expert_map(path):
    text = open(path).read()
    found = re.search(r"expert_map = array<i64: ([0-9, ]+)>, num_experts = (\d+)", text)
    assert found, "no expert_map in the merged module"
    return [int(v) for v in found.group(1).split(",")], int(found.group(2))


# Routing / FFN variants: separate SwiGLU (Mixtral), interleaved clamped
# SwiGLU with biases and [E, out, in] weights (gpt-oss), concatenated GeGLU,
# ungated ReLU.
CONFIGS = {
    "separate": dict(activation="silu", gate_layout="separate", renormalize=True),
    "gpt_oss": dict(activation="silu", gate_layout="interleaved", transposed=True,
                    expert_biases=True, alpha=1.702, beta=1.0, limit=7.0,
                    score="softmax_after_topk"),
    "concatenated": dict(activation="gelu", gate_layout="concatenated", renormalize=True),
    "relu": dict(activation="relu", renormalize=True),
}


def tokens(n, hidden, seed):
    return np.random.default_rng(seed).standard_normal((n, hidden)).astype(np.float32)


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_merging_permuted_copies_is_lossless(config, tmp_path):
    """(a) Every expert is expert 0 with its hidden neurons permuted: aligned
    merging reproduces the original layer; plain averaging does not."""
    layer = Layer(hidden=8, experts=6, inter=5, k=2, seed=3, **CONFIGS[config])
    rng = np.random.default_rng(7)
    base_ws, base_bs = expert_stages(layer, 0)
    for e in range(1, layer.experts):
        ws, bs = permuted(layer, base_ws, base_bs, rng.permutation(5))
        for name, w in zip(layer.weight_names, ws):
            layer.params[name][e] = w.T if layer.transposed else w
        for name, b in zip(layer.bias_names, bs):
            layer.params[name][e] = b
    x = tokens(40, 8, 11)
    src, out, log, stats = merge(layer, x, tmp_path, "keep=2")
    assert "merged 6 experts into 2 (aligned, frequency weights)" in log
    moved = int(re.search(r"alignment moved (\d+) hidden neurons", log).group(1))
    assert moved > 0
    original = layer.reference(x)
    assert close(first_result(out, x, tmp_path), original)

    _, plain, _, _ = merge(layer, x, tmp_path, "keep=2 align=false", stats)
    assert not close(first_result(plain, x, tmp_path), original, 1e-3)


@pytest.mark.parametrize("config", sorted(CONFIGS))
@pytest.mark.parametrize("options", ["keep=2", "keep=3 weighting=uniform", "keep=2 align=false"])
def test_merge_matches_numpy(config, options, tmp_path):
    """(c) Random experts, hidden width 5: the pass's merge (dlib Hungarian)
    equals numpy's (brute force over the 120 permutations). (d) The remap
    covers every original id, and the calibration tokens use every id."""
    layer = Layer(hidden=8, experts=6, inter=5, k=2, seed=5, **CONFIGS[config])
    x = tokens(60, 8, 13)
    src, out, log, stats = merge(layer, x, tmp_path, options)
    opts = dict(o.split("=") for o in options.split())
    keep = int(opts["keep"])
    expert_map, weights, biases, groups = numpy_merge(
        layer, stats, keep, align=opts.get("align", "true") == "true",
        weighting=opts.get("weighting", "frequency"))

    ir_map, merged_count = ir_expert_map(out)
    assert ir_map == expert_map
    assert merged_count == keep and sorted(set(ir_map)) == list(range(keep))
    assert len(ir_map) == layer.experts
    assert all(u > 0 for u in stats["layers"][0]["usage"]), "some id is never routed"
    summary = ", ".join(f"{n} = [{', '.join(map(str, g))}]" for n, g in enumerate(groups))
    assert summary in log

    # Some token sends both slots to one merged expert: two rows, both weights.
    _, ids = ref.route(ref.gate(x.astype(np.float64), layer.params["router"].astype(np.float64)),
                       **route_kw(layer))
    assert np.any(np.array(expert_map)[ids[:, 0]] == np.array(expert_map)[ids[:, 1]])

    got = first_result(out, x, tmp_path)
    assert close(got, merged_reference(layer, x, expert_map, weights, biases))
    assert not close(got, layer.reference(x), 1e-3)


@pytest.mark.parametrize("options,num_dominant", [("keep-fraction=0.34 dominant=global", 3),
                                                   ("keep=1", 1)])
def test_heterogeneous_widths(options, num_dominant, tmp_path):
    """Per-expert weights of widths 4, 4, 6, 6, 4, 6: an expert only joins a
    dominant expert of its width, or stays its own (keep=1: the dominant
    expert 5 has width 6); the result still matches numpy."""
    layer = Layer(hidden=8, experts=6, inter=[4, 4, 6, 6, 4, 6], k=2, activation="relu",
                  renormalize=True, seed=2)
    x = tokens(60, 8, 17)
    src, out, log, stats = merge(layer, x, tmp_path, options)
    usage = stats["layers"][0]["usage"]
    sim = np.array(stats["layers"][0]["logit_similarity"])
    widths = [4, 4, 6, 6, 4, 6]
    dominant = sorted(np.argsort(-np.array(usage), kind="stable")[:num_dominant].tolist())
    ir_map, merged_count = ir_expert_map(out)
    for e in range(6):
        same = [d for d in dominant if widths[d] == widths[e]]
        if e in dominant:
            continue
        if not same:
            assert f"expert {e} (hidden width {widths[e]}) cannot be merged" in log
            assert ir_map.count(ir_map[e]) == 1
            continue
        best = max(same, key=lambda d: (sim[e, d], -d))
        assert ir_map[e] == ir_map[best]
    got = first_result(out, x, tmp_path)
    # The merged experts' functions, applied per original id: numpy merge of
    # each group (alignment by brute force over at most 6! permutations).
    p = layer.params
    per_id = {}
    for n in range(merged_count):
        group = [e for e in range(6) if ir_map[e] == n]
        refe = next(e for e in group if e in dominant) if any(e in dominant for e in group) else group[0]
        members = []
        ref_ws = [p[f"w{refe}_{s}"].astype(np.float64) for s in range(2)]
        for m in [refe] + [e for e in group if e != refe]:
            ws = [p[f"w{m}_{s}"].astype(np.float64) for s in range(2)]
            if m != refe:
                ws, _ = permuted(layer, ws, [], best_permutation(layer, ref_ws, ws))
            members.append((usage[m], ws))
        f = np.array([u for u, _ in members], np.float64)
        f = f if f.sum() > 0 else np.ones_like(f)
        per_id[n] = [sum(fi * ws[s] for fi, (_, ws) in zip(f, members)) / f.sum() for s in range(2)]
    weights = [w for n in range(merged_count) for w in per_id[n]]
    x64 = x.astype(np.float64)
    w, ids = ref.route(ref.gate(x64, p["router"].astype(np.float64)), **route_kw(layer))
    rows, offsets, row_map = ref.dispatch(x64, ids, merged_count, expert_map=ir_map)
    y = ref.experts(rows, offsets, weights, None, activation="relu")
    assert close(got, ref.combine(y, row_map, w))


# -- align-only on committed exports ---------------------------------------------

EXPORTS = {
    "hf_mixtral.batched_mm.ts17": 3,  # stacked, transposed, fused gate/up
    "mixtral_loop.ts17": 3,  # one weight set per expert
    "gpt_oss_gathered.ts17": 3,  # router bias, expert biases, interleaved
}


def moe_opt_model(model, out, *passes):
    return run_tool([MOE_OPT, model, "--onnx-infer-shapes", "--onnx-raise-moe", *passes,
                     "--mlir-elide-resource-strings-if-larger=100000000", "-o", out])


def calibrated_align_only(model, x, tmp_path):
    """Calibrates `model` on `x`, aligns its experts (keep=2, align-only);
    returns (aligned module, full output, aligned output)."""
    stats = cal.calibrate(model, [{"hidden_states": x}], MOE_OPT)
    path = tmp_path / "stats.json"
    path.write_text(cal.json.dumps(stats))
    full, aligned = str(tmp_path / "full.mlir"), str(tmp_path / "aligned.mlir")
    moe_opt_model(model, full)
    log = moe_opt_model(model, aligned, f"--moe-merge-experts=stats={path} keep=2 align-only")
    assert int(re.search(r"alignment moved (\d+) hidden neurons", log).group(1)) > 0
    return aligned, first_result(full, x, tmp_path), first_result(aligned, x, tmp_path)


@pytest.mark.parametrize("export", sorted(EXPORTS))
def test_alignment_keeps_every_expert(export, tmp_path):
    """(b) Grouped and aligned but not merged: the weights are permuted
    (alignment moved neurons) and every output stays what it was."""
    model = os.path.join(MODELS, export + ".onnx")
    x = np.random.default_rng(1).standard_normal((1, EXPORTS[export], 16)).astype(np.float32)
    _, y_full, y_aligned = calibrated_align_only(model, x, tmp_path)
    assert compare(y_aligned, y_full) is None


@pytest.mark.parametrize("export", ["hf_mixtral.batched_mm.ts17", "mixtral_loop.ts17"])
def test_merged_export_routes_every_id(export, tmp_path):
    """(d) On an export: the merged model runs with the router unchanged and
    every original id mapped."""
    model = os.path.join(MODELS, export + ".onnx")
    x = np.random.default_rng(2).standard_normal((1, 3, 16)).astype(np.float32)
    stats = cal.calibrate(model, [{"hidden_states": x}], MOE_OPT)
    E = stats["layers"][0]["num_experts"]
    path = tmp_path / "stats.json"
    path.write_text(cal.json.dumps(stats))
    merged = str(tmp_path / "merged.mlir")
    log = moe_opt_model(model, merged, f"--moe-merge-experts=stats={path} keep-fraction=0.5")
    assert f"merged {E} experts into {(E + 1) // 2}" in log
    ir_map, count = ir_expert_map(merged)
    assert len(ir_map) == E and sorted(set(ir_map)) == list(range(count))
    y = first_result(merged, x, tmp_path)
    assert y.shape == x.shape and np.all(np.isfinite(y))
    # The merged layer is a GPU layer: its dispatch renames the ids on the
    # device (moe-gpu-aot compiles it; no GPU needed).
    prepared = str(tmp_path / "prepared.mlir")
    run_tool([MOE_OPT, merged, "--moe-fuse-gating", "--moe-expand-experts",
              "--moe-prepare-gpu-layers",
              "--mlir-elide-resource-strings-if-larger=100000000", "-o", prepared])
    gpu_aot(prepared, tmp_path / "merged.so", "sm_80")


def test_alignment_keeps_half_precision_experts(tmp_path):
    """(b) on f16 weights: read as f32, permuted, written back as f16 (exact);
    only the order of the hidden-neuron sums changes, so outputs agree to a
    few f16 ulps."""
    model = os.path.join(MODELS, "half", "mixtral_loop.f16.ts17.onnx")
    data = np.load(model[:-len(".onnx")] + ".npz")
    x = data["case0.input.hidden_states"]
    assert x.dtype == np.float16
    aligned, y_full, y_aligned = calibrated_align_only(model, x, tmp_path)
    assert re.search(r'dense_resource<"[^"]*\.merged"> : tensor<\d+x\d+xf16>',
                     open(aligned).read()), "no rewritten f16 weight"
    y_full, y_aligned = y_full.astype(np.float64), y_aligned.astype(np.float64)
    assert np.max(np.abs(y_aligned - y_full)) <= 8 * 2.0 ** -10 * np.max(np.abs(y_full))
