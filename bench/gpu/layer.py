"""Whole-layer rows of bench/gpu/bench.py: moe_layer_forward (include/moe-c/GPU.h).

Two kinds of layer per model, bf16:
- the expert half, from the dispatched rows on (routing and dispatch in
  torch): the SwiGLU FFN with separate gate and up weights (the activation
  in the first grouped matmul's epilogue), the down grouped matmul and the
  weighted combine into the tokens, twice: combine as a separate gather
  kernel (`layer_<model>_kernel`) and in the down matmul's epilogue with
  fp32 atomics (`layer_<model>_epilogue`);
- the whole layer from the tokens (`full_<model>`): the fused routing
  kernel (the model's routing: routing.py's, and Mixtral's softmax top-2),
  the device dispatch, the same FFN and the combine kernel, one call.

Per model and T:
1. numerics: output poisoned with NaN, relative Frobenius error against an
   fp32 torch reference of the same layer (no TF32) <= 1e-2; for the whole
   layer, tokens whose reference top-k has a near-tie at its boundary are
   left out (the kernel may pick either expert, routing.TIE_TOLERANCE);
2. CUDA-event medians (L2 flushed) against a torch layer (torch._grouped_mm
   for the three projections, silu * up, gather-combine; for the whole
   layer also torch's routing and a stable sort for the dispatch); the
   whole layer also captured in a CUDA graph (which fails if the call
   allocates, copies or waits), its replay checked and timed.
"""

import ctypes
import math

import routing

# name, hidden H, expert intermediate I, experts E, top-k (bench.py's MODELS).
COMBINES = ["kernel", "epilogue"]
# DeepSeek-V3 at T = 16384 (131072 rows, 22.5 GB of weights) is left out to
# stay within run.sh's 8 minutes.
SKIP = {("deepseek-v3", 16384)}


# The whole layer's routing per model: routing.py's, and Mixtral's softmax
# over 8 experts, top-2, renormalized.
FULL_ROUTINGS = {r[0]: r for r in routing.ROUTINGS}
FULL_ROUTINGS["mixtral-8x7b"] = ("mixtral-8x7b", 4096, 8, 2, "softmax", False, None, 0.0, 1.0)
# T = 16384 is left out of the whole-layer rows to stay within run.sh's 8
# minutes (the expert half has it).
FULL_TOKENS = [1, 64, 4096]


# HMoE (MOE_REFERENCE.md section 6): eight experts of the paper's widths 864
# to 2208 (step 192) at Mixtral's hidden size, top-2. The library's layer
# takes the weights zero-padded to the widest expert with group_extents
# (docs/GPU.md), so its kernels stream each expert's own block; the torch
# layer runs torch._grouped_mm on the same padded weights, what a torch user
# without heterogeneous kernels runs. FLOPs count the experts' own widths.
HMOE = ("hmoe-8x", 4096, [864 + 192 * j for j in range(8)], 2)
HMOE_LAYER = "layer_hmoe"
HMOE_TOKENS = [1, 64, 4096]


# Expert choice (Zhou et al. 2022): softmax scores, each of 64 experts takes
# its C = min(T, ceil(2 T / 64)) best tokens, SwiGLU experts at H = 4096,
# I = 2048; the gate is the dense [T, E] of the chosen scores. One layer
# from the tokens: the scoring and selection kernels, the expert-choice
# dispatch, the FFN and the combine over E slots.
CHOICE = ("expert-choice-64", 4096, 2048, 64, 2.0)
CHOICE_LAYER = "full_expert_choice"
CHOICE_TOKENS = [64, 4096]


# Llama 4 Scout (16 experts, sigmoid top-1 not renormalized, H = 5120,
# I = 8192): the routing weight scales each expert's input (moe.dispatch
# scale_rows, the scaled gather) and the combine adds the rows unweighted.
# The shared expert runs outside the MoE layer and is left out.
LLAMA4 = ("llama4-scout", 5120, 8192, 16, 1)
LLAMA4_LAYER = "full_llama4_scout"
LLAMA4_TOKENS = [1, 64, 4096]


def layer_name(model, combine):
    return f"layer_{model[0].replace('-', '_')}_{combine}"


def full_name(model):
    return f"full_{model[0].replace('-', '_')}"


def emit_full_mlir(models):
    """One function per model from the tokens: x [T, H], router [E, H], the
    selection bias [E] if the routing has one, gate/up [E, H, I], down
    [E, I, H] -> [T, H]."""
    lines = []
    for model in models:
        name, h, i, e, k = model
        r = FULL_ROUTINGS[name]
        x, wr, b = f"tensor<?x{h}xbf16>", f"tensor<{e}x{h}xbf16>", f"tensor<{e}xf32>"
        wgu, wd = f"tensor<{e}x{h}x{i}xbf16>", f"tensor<{e}x{i}x{h}xbf16>"
        off, rmap, wts = f"tensor<{e + 1}xi64>", f"tensor<?x{k}xi64>", f"tensor<?x{k}xf32>"
        act = f"tensor<?x{i}xbf16>"
        bias = f", %b: {b}" if r[5] else ""
        lines += [
            f"func.func @{full_name(model)}(%x: {x}, %wr: {wr}{bias}, %wg: {wgu}, %wu: {wgu}, "
            f"%wd: {wd}) -> {x} attributes {{moe.gpu_layer}} {{",
            *routing.fused_route_lines(r, "%x", "%wr", "%b", "%w, %ids"),
            f"  %rows, %off, %map = moe.dispatch %x, %ids {{num_experts = {e} : i64}}",
            f"      : {x}, {rmap} -> {x}, {off}, {rmap}",
            *ffn_lines(x, wgu, wgu, wd, off, act, x),
            f"  %o = moe.combine %y, %map, %w : ({x}, {rmap}, {wts}) -> {x}",
            f"  return %o : {x}",
            "}",
        ]
    return lines


def emit_mlir(models):
    """One function per model and combine variant (moe-gpu-aot makes each a
    layer entry): x [R, H], gate/up [E, H, I], down [E, I, H], offsets
    [E + 1], row map [T, k], weights [T, k] -> [T, H]."""
    lines = []
    for model in models:
        _, h, i, e, k = model
        x, wgu, wd = f"tensor<?x{h}xbf16>", f"tensor<{e}x{h}x{i}xbf16>", f"tensor<{e}x{i}x{h}xbf16>"
        off, rmap, wts = f"tensor<{e + 1}xi64>", f"tensor<?x{k}xi64>", f"tensor<?x{k}xf32>"
        act, out = f"tensor<?x{i}xbf16>", f"tensor<?x{h}xbf16>"
        for combine in COMBINES:
            lines += [
                f'func.func @{layer_name(model, combine)}(%x: {x}, %wg: {wgu}, %wu: {wgu}, '
                f'%wd: {wd}, %off: {off}, %map: {rmap}, %w: {wts}) -> {out} '
                f'attributes {{moe.gpu_combine = "{combine}", moe.gpu_layer}} {{',
                f"  %g = moe.grouped_matmul %x, %wg offsets(%off) : ({x}, {wgu}, {off}) -> {act}",
                f"  %u = moe.grouped_matmul %x, %wu offsets(%off) : ({x}, {wgu}, {off}) -> {act}",
                f"  %a = moe.activation %g, %u {{activation = #moe.activation<silu>, "
                f"gate_layout = #moe.gate_layout<separate>}} : ({act}, {act}) -> {act}",
                f"  %y = moe.grouped_matmul %a, %wd offsets(%off) : ({act}, {wd}, {off}) -> {out}",
                f"  %o = moe.combine %y, %map, %w : ({out}, {rmap}, {wts}) -> {out}",
                f"  return %o : {out}",
                "}",
            ]
    return lines


def ffn_lines(rows, wg, wu, wd, off, act, out):
    """The SwiGLU experts on `rows` (types: rows, gate/up and down weights,
    offsets, activations, result): %g, %u, %a, then %y."""
    return [
        f"  %g = moe.grouped_matmul %rows, %wg offsets(%off) : ({rows}, {wg}, {off}) -> {act}",
        f"  %u = moe.grouped_matmul %rows, %wu offsets(%off) : ({rows}, {wu}, {off}) -> {act}",
        f"  %a = moe.activation %g, %u {{activation = #moe.activation<silu>, "
        f"gate_layout = #moe.gate_layout<separate>}} : ({act}, {act}) -> {act}",
        f"  %y = moe.grouped_matmul %a, %wd offsets(%off) : ({act}, {wd}, {off}) -> {out}",
    ]


def emit_choice_mlir():
    """The expert-choice layer from the tokens: x [T, H], router [E, H],
    gate/up [E, H, I], down [E, I, H] -> [T, H]."""
    _, h, i, e, c = CHOICE
    x, wr = f"tensor<?x{h}xbf16>", f"tensor<{e}x{h}xbf16>"
    wgu, wd = f"tensor<{e}x{h}x{i}xbf16>", f"tensor<{e}x{i}x{h}xbf16>"
    gate, ids = f"tensor<?x{e}xf32>", f"tensor<{e}x?xi64>"
    off, rmap, act = f"tensor<{e + 1}xi64>", f"tensor<?x{e}xi64>", f"tensor<?x{i}xbf16>"
    return [
        f"func.func @{CHOICE_LAYER}(%x: {x}, %wr: {wr}, %wg: {wgu}, %wu: {wgu}, %wd: {wd}) "
        f"-> {x} attributes {{moe.gpu_layer}} {{",
        f"  %w, %ids = moe.fused_route <expert_choice> <softmax> %x, %wr "
        f"{{capacity_factor = {c!r} : f64}} : {x}, {wr} -> {gate}, {ids}",
        f"  %rows, %off, %map = moe.dispatch %x, %ids {{expert_choice, num_experts = {e} : i64}}",
        f"      : {x}, {ids} -> {x}, {off}, {rmap}",
        *ffn_lines(x, wgu, wgu, wd, off, act, x),
        f"  %o = moe.combine %y, %map, %w : ({x}, {rmap}, {gate}) -> {x}",
        f"  return %o : {x}",
        "}",
    ]


def choice_capacity(t, e, c):
    """moe.route's expert-choice capacity."""
    return 0 if t == 0 else min(t, max(1, math.ceil(t * c / e)))


def choice_routing(torch, x, wr, c):
    """(gate [T, E], token ids [E, C], near-tie tokens [T]) in fp32 from the
    same bf16 inputs: softmax scores, each expert's top-C tokens. A token
    is a near tie when some expert's C-th and (C+1)-th scores are within
    routing.TIE_TOLERANCE and its own score for that expert is as close:
    the kernel may take either."""
    t, e = x.shape[0], wr.shape[0]
    scores = torch.softmax(x.float() @ wr.float().T, dim=-1)
    cap = choice_capacity(t, e, c)
    top = scores.T.topk(min(cap + 1, t), dim=1)
    ids = top.indices[:, :cap]
    gate = torch.zeros_like(scores)
    gate.scatter_(0, ids.T, scores.gather(0, ids.T))
    ties = torch.zeros(t, dtype=torch.bool, device=x.device)
    if cap < t:
        kth, nxt = top.values[:, cap - 1], top.values[:, cap]
        tol = routing.TIE_TOLERANCE * kth.abs().clamp(min=1.0)
        near = ((scores - kth).abs() <= tol) & (kth - nxt <= tol)
        ties = near.any(dim=1)
    return gate, ids, ties


def choice_dispatch(torch, x, ids):
    """Rows e * C + c = x[ids[e, c]], offsets e * C, row map [T, E]."""
    e, cap = ids.shape
    t = x.shape[0]
    offsets = torch.arange(e + 1, device=x.device) * cap
    row_map = torch.full((t, e), -1, dtype=torch.int64, device=x.device)
    row_map.scatter_(0, ids.T, torch.arange(e * cap, device=x.device).view(e, cap).T)
    return x[ids.flatten()], offsets, row_map


def choice_reference(torch, c, x, wr, wg, wu, wd):
    """(output, near-tie tokens): the expert-choice layer in fp32."""
    gate, ids, ties = choice_routing(torch, x, wr, c)
    rows, offsets, row_map = choice_dispatch(torch, x, ids)
    # Slots an expert did not take have row -1 and gate 0.
    out = reference(torch, rows, wg, wu, wd, offsets, row_map.clamp(min=0), gate)
    return out, ties


def torch_choice_layer_fn(torch, grouped_mm_fn, c, x, wr, wg, wu, wd):
    """The expert-choice layer in torch: routing and dispatch as
    choice_routing / choice_dispatch, torch._grouped_mm FFN, dense-gate
    combine."""
    e, cap = wr.shape[0], choice_capacity(x.shape[0], wr.shape[0], c)
    offsets0 = torch.arange(e + 1, device=x.device) * cap
    probe = torch.zeros(e * cap, x.shape[1], dtype=x.dtype, device=x.device)
    label, mm, (wg, wu, wd) = torch_mm(torch, grouped_mm_fn, probe, [wg, wu, wd], offsets0)

    def fn():
        gate, ids, _ = choice_routing(torch, x, wr, c)
        rows, offsets, row_map = choice_dispatch(torch, x, ids)
        a = torch.nn.functional.silu(mm(rows, wg, offsets)) * mm(rows, wu, offsets)
        y = mm(a, wd, offsets)
        wts = gate.to(x.dtype).unsqueeze(-1)
        return (y[row_map.clamp(min=0)] * wts).sum(1, dtype=torch.float32).to(x.dtype)
    return label.replace("torch._grouped_mm", "torch routing + torch._grouped_mm layer"), fn


def checked_tokens_call(torch, bench, dev, lib, name, tensors, ref, ties, stream, row):
    """(call, output, kept tokens): layer `name` from the tokens (tensors[0],
    [T, H]) run once into a NaN-poisoned output and compared with `ref`
    except on the near-tie tokens; ok, unwritten, rel_err, near_ties and
    workspace go into `row`."""
    t, h = tensors[0].shape
    out = torch.full((t, h), float("nan"), dtype=torch.bfloat16, device=dev.name)
    fn = lib.forward_fn(torch, name, tensors, out, [t], dev.name, stream)
    fn()
    dev.sync()
    unwritten = int(torch.isnan(out).sum().item())
    keep = ~ties
    err = bench.rel_err(torch, out[keep], ref[keep]) if bool(keep.any()) else 0.0
    ok = unwritten == 0 and err <= bench.TOLERANCE
    if not ok:
        print(f"  NUMERICS FAIL: {unwritten} unwritten, rel. err {err:.3g}")
    row.update(ok=bool(ok), unwritten=unwritten, rel_err=err,
               near_ties=int(ties.sum().item()), workspace=fn.workspace_bytes)
    return fn, out, keep


def run_from_tokens(torch, bench, dev, lib, scale, tokens, reps, flush, spec):
    """Rows of a layer from the tokens with a router (x, router, gate, up,
    down), one per T in spec.tokens: spec.reference(c, x, wr, wg, wu, wd)
    gives (fp32 output, near-tie tokens), spec.torch_fn the torch layer,
    spec.rows(t) the rows the experts compute."""
    name, h, i, e = spec.name, spec.hidden, spec.inter, spec.experts
    h, i = max(16, h // scale), max(16, i // scale)
    wr = (torch.randn(e, h, device=dev.name) * h ** -0.5).to(torch.bfloat16)
    wg = torch.randn(e, h, i, dtype=torch.bfloat16, device=dev.name).mul_(h ** -0.5)
    wu = torch.randn(e, h, i, dtype=torch.bfloat16, device=dev.name).mul_(h ** -0.5)
    wd = torch.randn(e, i, h, dtype=torch.bfloat16, device=dev.name).mul_(i ** -0.5)
    stream = dev.stream()
    for t in [t for t in tokens if t in spec.tokens]:
        print(f"{name} layer T={t}", flush=True)
        rows = spec.rows(t)
        row = {"model": name, "gemm": spec.gemm, "T": t, "E": e, "K": h, "N": i,
               "rows": rows, "flops": 2 * rows * 3 * h * i}
        try:
            x = torch.randn(t, h, dtype=torch.bfloat16, device=dev.name)
            ref, ties = spec.reference(torch, x, wr, wg, wu, wd)
            fn, _, _ = checked_tokens_call(torch, bench, dev, lib, spec.layer,
                                           [x, wr, wg, wu, wd], ref, ties, stream, row)
            row["ours_ms"] = bench.time_ms(dev, fn, flush, reps)
            del ref
            time_torch(row, bench, dev, flush, reps, lambda: spec.torch_fn(
                torch, bench.grouped_mm_fn, x, wr, wg, wu, wd))
        except Exception as exc:  # noqa: BLE001 - a failing case must not stop the run
            fail(row, exc)
        yield row


class ChoiceSpec:
    """run_from_tokens' view of the expert-choice layer (CHOICE)."""
    name, hidden, inter, experts, factor = CHOICE
    layer, tokens, gemm = CHOICE_LAYER, CHOICE_TOKENS, "choice"
    title = ("Expert-choice layer from the tokens (64 experts, capacity factor 2: scoring and "
             "per-expert selection kernels, expert-choice dispatch, SwiGLU FFN, combine over "
             "the dense gate), bf16:")

    def rows(self, t):
        return self.experts * choice_capacity(t, self.experts, self.factor)

    def reference(self, torch, x, wr, wg, wu, wd):
        return choice_reference(torch, self.factor, x, wr, wg, wu, wd)

    def torch_fn(self, torch, grouped_mm_fn, x, wr, wg, wu, wd):
        return torch_choice_layer_fn(torch, grouped_mm_fn, self.factor, x, wr, wg, wu, wd)


def emit_llama4_mlir():
    """The Llama 4 Scout layer from the tokens: x [T, H], router [E, H],
    gate/up [E, H, I], down [E, I, H] -> [T, H]."""
    name, h, i, e, k = LLAMA4
    r = FULL_ROUTINGS[name]
    x, wr = f"tensor<?x{h}xbf16>", f"tensor<{e}x{h}xbf16>"
    wgu, wd = f"tensor<{e}x{h}x{i}xbf16>", f"tensor<{e}x{i}x{h}xbf16>"
    off, rmap, wts = f"tensor<{e + 1}xi64>", f"tensor<?x{k}xi64>", f"tensor<?x{k}xf32>"
    act = f"tensor<?x{i}xbf16>"
    return [
        f"func.func @{LLAMA4_LAYER}(%x: {x}, %wr: {wr}, %wg: {wgu}, %wu: {wgu}, %wd: {wd}) "
        f"-> {x} attributes {{moe.gpu_layer}} {{",
        *routing.fused_route_lines(r, "%x", "%wr", "%b", "%w, %ids"),
        f"  %rows, %off, %map = moe.dispatch %x, %ids weights(%w : {wts}) "
        f"{{num_experts = {e} : i64, scale_rows}}",
        f"      : {x}, {rmap} -> {x}, {off}, {rmap}",
        *ffn_lines(x, wgu, wgu, wd, off, act, x),
        f"  %o = moe.combine %y, %map : ({x}, {rmap}) -> {x}",
        f"  return %o : {x}",
        "}",
    ]


def llama4_routing(torch, x, wr):
    """(weights [T, 1], ids [T, 1], near-tie tokens, scaled tokens): Llama 4
    Scout's routing in fp32 and each token times its weight, the weight
    rounded to bf16 first and the product rounded once (moe.dispatch
    scale_rows)."""
    r = FULL_ROUTINGS[LLAMA4[0]]
    weights, ids, choice = routing.reference(torch, r, x, wr, None)
    top = choice.topk(2, dim=-1).values
    ties = (top[:, 0] - top[:, 1]).abs() <= routing.TIE_TOLERANCE * top[:, 0].abs().clamp(min=1.0)
    scaled = (x.float() * weights.to(torch.bfloat16).float()).to(torch.bfloat16)
    return weights, ids, ties, scaled


def llama4_reference(torch, x, wr, wg, wu, wd):
    """(output, near-tie tokens): the Llama 4 Scout layer in fp32."""
    _, ids, ties, scaled = llama4_routing(torch, x, wr)
    rows, offsets, row_map = routing.dispatch_reference(torch, LLAMA4[3], scaled, ids)
    ones = torch.ones(ids.shape, dtype=torch.float32, device=x.device)
    return reference(torch, rows, wg, wu, wd, offsets, row_map, ones), ties


def torch_llama4_layer_fn(torch, grouped_mm_fn, x, wr, wg, wu, wd):
    """The Llama 4 Scout layer in torch: the routing reference's math,
    the scaled tokens, a stable sort for the dispatch, torch._grouped_mm
    FFN, an unweighted sum."""
    e = LLAMA4[3]
    offsets0 = torch.zeros(e + 1, dtype=torch.int64, device=x.device)
    offsets0[1:] = x.shape[0] // e  # only for the layout probe
    label, mm, (wg, wu, wd) = torch_mm(torch, grouped_mm_fn, x, [wg, wu, wd], offsets0)

    def fn():
        _, ids, _, scaled = llama4_routing(torch, x, wr)
        rows, offsets, row_map = routing.dispatch_reference(torch, e, scaled, ids)
        a = torch.nn.functional.silu(mm(rows, wg, offsets)) * mm(rows, wu, offsets)
        y = mm(a, wd, offsets)
        return y[row_map].sum(1, dtype=torch.float32).to(x.dtype)
    return label.replace("torch._grouped_mm", "torch routing + torch._grouped_mm layer"), fn


class Llama4Spec:
    """run_from_tokens' view of the Llama 4 Scout layer (LLAMA4)."""
    name, hidden, inter, experts, k = LLAMA4
    layer, tokens, gemm = LLAMA4_LAYER, LLAMA4_TOKENS, "llama4"
    title = ("Llama 4 Scout layer from the tokens (sigmoid top-1 of 16, the routing weight "
             "scaling the experts' input in the gather, SwiGLU FFN, unweighted combine; no "
             "shared expert), bf16:")

    def rows(self, t):
        return t * self.k

    def reference(self, torch, x, wr, wg, wu, wd):
        return llama4_reference(torch, x, wr, wg, wu, wd)

    def torch_fn(self, torch, grouped_mm_fn, x, wr, wg, wu, wd):
        return torch_llama4_layer_fn(torch, grouped_mm_fn, x, wr, wg, wu, wd)


def tokens_table(rows, spec):
    """The rows of `spec` (run_from_tokens) against torch."""
    return markdown(rows, spec.gemm, spec.title, ["near-tie tokens", "ours ms"],
                    lambda r: [str(r["near_ties"]), f"{r['ours_ms']:.3f}"])


def emit_hmoe_mlir():
    """The HMoE layer from the dispatched rows: x [R, H], gate/up [E, H, I],
    down [E, I, H] (I the widest expert, zero-padded), offsets, row map,
    weights -> [T, H]; each matmul with the experts' own extents."""
    _, h, widths, k = HMOE
    e, i = len(widths), max(widths)
    x, wgu, wd = f"tensor<?x{h}xbf16>", f"tensor<{e}x{h}x{i}xbf16>", f"tensor<{e}x{i}x{h}xbf16>"
    off, rmap, wts = f"tensor<{e + 1}xi64>", f"tensor<?x{k}xi64>", f"tensor<?x{k}xf32>"
    act = f"tensor<?x{i}xbf16>"
    up = ", ".join(f"{h}, {w}" for w in widths)
    down = ", ".join(f"{w}, {h}" for w in widths)
    return [
        f"func.func @{HMOE_LAYER}(%x: {x}, %wg: {wgu}, %wu: {wgu}, %wd: {wd}, %off: {off}, "
        f"%map: {rmap}, %w: {wts}) -> {x} attributes {{moe.gpu_layer}} {{",
        f"  %g = moe.grouped_matmul %x, %wg offsets(%off) {{group_extents = array<i64: {up}>}}"
        f" : ({x}, {wgu}, {off}) -> {act}",
        f"  %u = moe.grouped_matmul %x, %wu offsets(%off) {{group_extents = array<i64: {up}>}}"
        f" : ({x}, {wgu}, {off}) -> {act}",
        f"  %a = moe.activation %g, %u {{activation = #moe.activation<silu>, "
        f"gate_layout = #moe.gate_layout<separate>}} : ({act}, {act}) -> {act}",
        f"  %y = moe.grouped_matmul %a, %wd offsets(%off) {{group_extents = array<i64: {down}>}}"
        f" : ({act}, {wd}, {off}) -> {x}",
        f"  %o = moe.combine %y, %map, %w : ({x}, {rmap}, {wts}) -> {x}",
        f"  return %o : {x}",
        "}",
    ]


def hmoe_weights(torch, h, widths, device):
    """Gate, up [E, H, I] and down [E, I, H] in bf16, zero past each
    expert's width (I the widest)."""
    e, i = len(widths), max(widths)
    wg, wu = (torch.zeros(e, h, i, dtype=torch.bfloat16, device=device) for _ in range(2))
    wd = torch.zeros(e, i, h, dtype=torch.bfloat16, device=device)
    for g, w in enumerate(widths):
        wg[g, :, :w] = torch.randn(h, w, device=device) * h ** -0.5
        wu[g, :, :w] = torch.randn(h, w, device=device) * h ** -0.5
        wd[g, :w, :] = torch.randn(w, h, device=device) * w ** -0.5
    return wg, wu, wd


def run_hmoe(torch, bench, dev, lib, scale, tokens, reps, flush):
    """HMoE rows (from the dispatched rows), one per T in HMOE_TOKENS."""
    name, h, widths, k = HMOE
    # Shrunk widths stay multiples of 8 (torch._grouped_mm's 16-byte strides).
    h = max(16, h // scale)
    widths = [max(8, w // scale // 8 * 8) for w in widths]
    e, i = len(widths), max(widths)
    wg, wu, wd = hmoe_weights(torch, h, widths, dev.name)
    stream = dev.stream()
    for t in [t for t in tokens if t in HMOE_TOKENS]:
        print(f"{name} layer T={t}", flush=True)
        row = {"model": name, "gemm": "hmoe", "T": t, "E": e, "K": h, "N": i}
        try:
            token_of_row, offsets, row_map, weights, counts = dispatch(torch, t, e, k, dev.name)
            rows = int(offsets[-1].item())
            x = torch.randn(t, h, dtype=torch.bfloat16, device=dev.name)[token_of_row]
            used = sum(int(c) * w for c, w in zip(counts.tolist(), widths))
            row.update(rows=rows, flops=2 * 3 * h * used, padded_flops=2 * 3 * h * i * rows)
            ref = reference(torch, x, wg, wu, wd, offsets, row_map, weights)
            tensors = [x, wg, wu, wd, offsets, row_map, weights]
            fn, unwritten, err, ok = checked_call(torch, bench, dev, lib, HMOE_LAYER, tensors,
                                                  [rows, t, t], ref, stream)
            row.update(ok=bool(ok), unwritten=unwritten, rel_err=err)
            row["ours_ms"] = bench.time_ms(dev, fn, flush, reps)
            del ref
            time_torch(row, bench, dev, flush, reps, lambda: torch_layer_fn(
                torch, bench.grouped_mm_fn, x, wg, wu, wd, offsets, row_map, weights))
        except Exception as exc:  # noqa: BLE001 - a failing case must not stop the run
            fail(row, exc)
        yield row


def hmoe_table(rows):
    """HMoE rows: ours (the experts' own widths) against torch on the padded
    weights."""
    return markdown(rows, "hmoe", "HMoE layer (eight experts of widths 864..2208 at H = 4096, "
                    "top-2; from dispatched rows), bf16; TFLOP/s of the experts' own widths:",
                    ["ours ms", "TFLOP/s", "padded / used FLOPs"],
                    lambda r: [f"{r['ours_ms']:.3f}", f"{r['flops'] / r['ours_ms'] / 1e9:.1f}",
                               f"{r['padded_flops'] / max(r['flops'], 1):.2f}"])


class LayerLibrary:
    """The layer entries of a library made by moe-gpu-aot (ctypes)."""

    SYMBOLS = ["moe_layer_count", "moe_layer_find", "moe_layer_workspace_size",
               "moe_layer_forward", "moe_layer_num_buffers", "moe_layer_num_dims"]

    def __init__(self, lib):
        self.lib = lib
        i64p, ptr = ctypes.POINTER(ctypes.c_int64), ctypes.c_void_p
        lib.moe_layer_find.argtypes = [ctypes.c_char_p]
        lib.moe_layer_workspace_size.argtypes = [ctypes.c_int, i64p]
        lib.moe_layer_workspace_size.restype = ctypes.c_int64
        lib.moe_layer_forward.argtypes = [ctypes.c_int, ctypes.POINTER(ptr), i64p, ptr, ptr]

    def find(self, name):
        return self.lib.moe_layer_find(name.encode())

    def set_dependent_launch(self, enabled):
        """Programmatic dependent launches on or off; False where the library
        cannot switch them (built before moe_gpu_set_dependent_launch)."""
        if not hasattr(self.lib, "moe_gpu_set_dependent_launch"):
            return False
        self.lib.moe_gpu_set_dependent_launch.argtypes = [ctypes.c_int]
        self.lib.moe_gpu_set_dependent_launch(1 if enabled else 0)
        return True

    def forward_fn(self, torch, name, tensors, out, dims, device, stream):
        """A callable queuing the layer on `stream` (`dims`: the leading
        sizes of its dynamic arguments); its workspace is allocated here,
        once, as a caller would."""
        layer = self.find(name)
        if layer < 0:
            raise RuntimeError(f"layer {name} not in the library")
        dims = (ctypes.c_int64 * len(dims))(*dims)
        size = self.lib.moe_layer_workspace_size(layer, dims)
        # Zeroed, though nothing needs it: the layer memsets what it must
        # (the routing kernel's arrival counters) on every call.
        workspace = torch.zeros(max(size, 1), dtype=torch.uint8, device=device)
        buffers = (ctypes.c_void_p * (len(tensors) + 1))(
            *[t.data_ptr() for t in tensors + [out]])
        error = self.lib.moe_gpu_last_error
        error.restype = ctypes.c_char_p

        def fn():
            code = self.lib.moe_layer_forward(layer, buffers, dims, workspace.data_ptr(), stream)
            if code != 0:
                raise RuntimeError(f"moe_layer_forward({name}) returned {code}: "
                                   f"{error().decode()}")
        fn.keep = (dims, buffers, workspace)
        fn.workspace_bytes = size
        return fn


def dispatch(torch, t, e, k, device):
    """Routing and dispatch in torch: top-k of random logits, softmax
    weights over the k, rows grouped by expert (stable: token order)."""
    logits = torch.randn(t, e, device=device)
    top = torch.topk(logits, k, dim=1)
    weights = torch.softmax(top.values, dim=1).float()
    experts = top.indices.flatten()
    order = torch.argsort(experts, stable=True)
    row_map = torch.empty(t * k, dtype=torch.int64, device=device)
    row_map[order] = torch.arange(t * k, device=device)
    counts = torch.bincount(experts, minlength=e)
    offsets = torch.zeros(e + 1, dtype=torch.int64, device=device)
    offsets[1:] = torch.cumsum(counts, 0)
    token_of_row = order // k
    return token_of_row, offsets, row_map.view(t, k), weights, counts


def reference(torch, x, wg, wu, wd, offsets, row_map, weights):
    """fp32 layer from the same bf16 inputs (per expert, TF32 off)."""
    y = torch.zeros(x.shape[0], wd.shape[2], dtype=torch.float32, device=x.device)
    bounds = offsets.tolist()
    for g in range(wg.shape[0]):
        s, t = bounds[g], bounds[g + 1]
        if t > s:
            xs = x[s:t].float()
            a = torch.nn.functional.silu(xs @ wg[g].float()) * (xs @ wu[g].float())
            y[s:t] = a @ wd[g].float()
    return (y[row_map] * weights.unsqueeze(-1)).sum(1)


def torch_mm(torch, grouped_mm_fn, x, ws, offsets):
    """(label, mm(a, w, offsets), ws in the layout mm wants): torch._grouped_mm
    (the layout bench.py's probe finds), else a per-expert loop."""
    label, _ = grouped_mm_fn(torch, x, ws[0], offsets)
    if label.startswith("torch._grouped_mm"):
        if "[E,N,K]" in label:
            ws = [w.transpose(1, 2).contiguous().transpose(1, 2) for w in ws]

        def mm(a, w, offs):
            return torch._grouped_mm(a, w, offs=offs[1:].to(torch.int32))
    else:
        def mm(a, w, offs):
            return grouped_mm_fn(torch, a, w, offs)[1]()
    return label, mm, ws


def torch_layer_fn(torch, grouped_mm_fn, x, wg, wu, wd, offsets, row_map, weights):
    """The same layer in torch: torch._grouped_mm for the three projections,
    else a per-expert loop."""
    label, mm, (wg, wu, wd) = torch_mm(torch, grouped_mm_fn, x, [wg, wu, wd], offsets)
    wts = weights.to(x.dtype).unsqueeze(-1)

    def fn():
        a = torch.nn.functional.silu(mm(x, wg, offsets)) * mm(x, wu, offsets)
        y = mm(a, wd, offsets)
        return (y[row_map] * wts).sum(1, dtype=torch.float32).to(x.dtype)
    return label.replace("torch._grouped_mm", "torch._grouped_mm layer"), fn


def full_reference(torch, r, x, wr, bias, wg, wu, wd):
    """(output, tokens whose top-k has a near-tie at its boundary): the
    whole layer in fp32 from the same bf16 inputs."""
    weights, ids, choice = routing.reference(torch, r, x, wr, bias)
    rows, offsets, row_map = routing.dispatch_reference(torch, r[2], x, ids)
    out = reference(torch, rows, wg, wu, wd, offsets, row_map, weights)
    top = choice.topk(min(r[3] + 1, r[2]), dim=-1).values
    gap = (top[:, -2] - top[:, -1]).abs() if r[3] < r[2] else torch.full_like(top[:, 0], 1.0)
    ties = gap <= routing.TIE_TOLERANCE * top[:, -2].abs().clamp(min=1.0)
    return out, ties


def torch_full_layer_fn(torch, grouped_mm_fn, r, x, wr, bias, wg, wu, wd):
    """The whole layer in torch: the routing reference's math in fp32, a
    stable sort for the dispatch, then torch_layer_fn's FFN and combine."""
    e, k = r[2], r[3]
    offsets0 = torch.zeros(e + 1, dtype=torch.int64, device=x.device)
    offsets0[1:] = x.shape[0] * k // e  # only for the layout probe
    label, mm, (wg, wu, wd) = torch_mm(torch, grouped_mm_fn, x, [wg, wu, wd], offsets0)

    def fn():
        weights, ids, _ = routing.reference(torch, r, x, wr, bias)
        rows, offsets, row_map = routing.dispatch_reference(torch, e, x, ids)
        a = torch.nn.functional.silu(mm(rows, wg, offsets)) * mm(rows, wu, offsets)
        y = mm(a, wd, offsets)
        wts = weights.to(x.dtype).unsqueeze(-1)
        return (y[row_map] * wts).sum(1, dtype=torch.float32).to(x.dtype)
    return label.replace("torch._grouped_mm", "torch routing + torch._grouped_mm layer"), fn


class TorchLayerStandIn:
    """--simulate: the library's layer computed by the fp32 reference."""

    def __init__(self, torch):
        self.torch = torch

    def find(self, name):
        return 0

    def set_dependent_launch(self, enabled):
        return True

    def forward_fn(self, torch, name, tensors, out, dims, device, stream):
        if name == CHOICE_LAYER:
            def fn():
                out.copy_(choice_reference(torch, CHOICE[4], *tensors)[0])
        elif name == LLAMA4_LAYER:
            def fn():
                out.copy_(llama4_reference(torch, *tensors)[0])
        elif name.startswith("full_"):
            model = next(m for m in FULL_ROUTINGS.values() if full_name(m) == name)
            r = shrunk_routing(model, tensors[0].shape[1])

            def fn():
                x, wr, *rest = tensors
                bias = rest.pop(0) if r[5] else None
                out.copy_(full_reference(torch, r, x, wr, bias, *rest)[0])
        else:
            def fn():
                out.copy_(reference(torch, *tensors[:5], tensors[5], tensors[6]))
        fn.workspace_bytes = 0
        return fn


def shrunk_routing(r, h):
    """Routing `r` on hidden size h (--simulate shrinks H)."""
    return (r[0], h, *r[2:])


def checked_call(torch, bench, dev, lib, name, tensors, dims, ref, stream, label=""):
    """(call, unwritten elements, rel. err, ok): layer `name` run once on
    `tensors` into a NaN-poisoned [T, H] output and compared with `ref`."""
    t, h = ref.shape
    out = torch.full((t, h), float("nan"), dtype=torch.bfloat16, device=dev.name)
    fn = lib.forward_fn(torch, name, tensors, out, dims, dev.name, stream)
    fn()
    dev.sync()
    unwritten = int(torch.isnan(out).sum().item())
    err = bench.rel_err(torch, out, ref)
    ok = unwritten == 0 and err <= bench.TOLERANCE
    if not ok:
        print(f"  NUMERICS FAIL{label}: {unwritten} unwritten, rel. err {err:.3g}")
    return fn, unwritten, err, ok


def run_layer(torch, bench, dev, lib, model, scale, tokens, reps, flush):
    """Rows (one per T) for one model; bench is bench.py (time_ms, rel_err,
    grouped_mm_fn, TOLERANCE)."""
    name, h, i, e, k = model
    h, i = max(16, h // scale), max(16, i // scale)
    wg = torch.randn(e, h, i, dtype=torch.bfloat16, device=dev.name).mul_(h ** -0.5)
    wu = torch.randn(e, h, i, dtype=torch.bfloat16, device=dev.name).mul_(h ** -0.5)
    wd = torch.randn(e, i, h, dtype=torch.bfloat16, device=dev.name).mul_(i ** -0.5)
    stream = dev.stream()
    for t in tokens:
        if (name, t) in SKIP and scale == 1:
            continue
        print(f"{name} layer T={t}", flush=True)
        row = {"model": name, "gemm": "layer", "T": t, "E": e, "K": h, "N": i}
        try:
            token_of_row, offsets, row_map, weights, counts = dispatch(torch, t, e, k, dev.name)
            rows = int(offsets[-1].item())
            active = int((counts > 0).sum().item())
            # Rows dispatched as moe.dispatch does: x[token_of_row].
            x = torch.randn(t, h, dtype=torch.bfloat16, device=dev.name)[token_of_row]
            row.update(rows=rows, active_experts=active,
                       flops=2 * rows * 3 * h * i,
                       bytes=2 * (rows * h + 3 * active * h * i + t * h))
            ref = reference(torch, x, wg, wu, wd, offsets, row_map, weights)
            tensors = [x, wg, wu, wd, offsets, row_map, weights]
            errs, ok = {}, True
            for combine in COMBINES:
                fn, _, err, good = checked_call(torch, bench, dev, lib,
                                                layer_name(model, combine), tensors,
                                                [rows, t, t], ref, stream, f" ({combine})")
                errs[combine] = err
                ok &= good
                row[f"{combine}_ms"] = bench.time_ms(dev, fn, flush, reps)
                row[f"{combine}_workspace"] = fn.workspace_bytes
            row.update(ok=bool(ok), unwritten=0, rel_err=max(errs.values()))
            row["ours_ms"] = min(row[f"{c}_ms"] for c in COMBINES)
            del ref
            time_torch(row, bench, dev, flush, reps, lambda: torch_layer_fn(
                torch, bench.grouped_mm_fn, x, wg, wu, wd, offsets, row_map, weights))
        except Exception as exc:  # noqa: BLE001 - a failing case must not stop the run
            fail(row, exc)
        yield row


def time_torch(row, bench, dev, flush, reps, make):
    """The torch layer's label and time (make() -> (label, fn)) into `row`,
    or why it failed."""
    try:
        label, fn = make()
        row["torch_label"] = label
        row["torch_ms"] = bench.time_ms(dev, fn, flush, reps)
    except Exception as exc:  # noqa: BLE001 - report and go on
        row["torch_error"] = str(exc).splitlines()[0]


def fail(row, exc):
    row["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    print("  ERROR " + row["error"], flush=True)


def run_full_layer(torch, bench, dev, lib, model, scale, tokens, reps, flush):
    """Whole-layer rows (from the tokens), one per T in FULL_TOKENS."""
    name, h, i, e, k = model
    h, i = max(16, h // scale), max(16, i // scale)
    r = shrunk_routing(FULL_ROUTINGS[name], h)
    wr = (torch.randn(e, h, device=dev.name) * h ** -0.5).to(torch.bfloat16)
    bias = (torch.randn(e, device=dev.name) * 0.1) if r[5] else None
    wg = torch.randn(e, h, i, dtype=torch.bfloat16, device=dev.name).mul_(h ** -0.5)
    wu = torch.randn(e, h, i, dtype=torch.bfloat16, device=dev.name).mul_(h ** -0.5)
    wd = torch.randn(e, i, h, dtype=torch.bfloat16, device=dev.name).mul_(i ** -0.5)
    stream = dev.stream()
    for t in [t for t in tokens if t in FULL_TOKENS]:
        print(f"{name} full layer T={t}", flush=True)
        row = {"model": name, "gemm": "full", "T": t, "E": e, "K": h, "N": i,
               "rows": t * k, "flops": 2 * t * k * 3 * h * i}
        try:
            x = torch.randn(t, h, dtype=torch.bfloat16, device=dev.name)
            ref, ties = full_reference(torch, r, x, wr, bias, wg, wu, wd)
            tensors = [x, wr] + ([bias] if bias is not None else []) + [wg, wu, wd]
            fn, out, keep = checked_tokens_call(torch, bench, dev, lib, full_name(model),
                                                tensors, ref, ties, stream, row)
            row["ours_ms"] = bench.time_ms(dev, fn, flush, reps)
            # The same call with each kernel launched only once the one
            # before it has finished (sm_90a libraries launch them as
            # programmatic dependent launches by default).
            if lib.set_dependent_launch(False):
                try:
                    row["serial_ms"] = bench.time_ms(dev, fn, flush, reps)
                finally:
                    lib.set_dependent_launch(True)
            # The same call captured in a CUDA graph (no allocation, copy or
            # wait in it), replayed: numerics, then time.
            try:
                replay = dev.capture(lambda s: lib.forward_fn(
                    torch, full_name(model), tensors, out, [t], dev.name, s))
                out.fill_(float("nan"))
                replay()
                dev.sync()
                graph_err = bench.rel_err(torch, out[keep], ref[keep]) if bool(keep.any()) else 0.0
                row["graph_ok"] = bool(not torch.isnan(out).any() and
                                       graph_err <= bench.TOLERANCE)
                row["graph_ms"] = bench.time_ms(dev, replay, flush, reps)
            except Exception as exc:  # noqa: BLE001 - report and go on
                row["graph_error"] = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                print("  GRAPH ERROR " + row["graph_error"], flush=True)
            # The layer entry promises a capturable call: a failed capture or
            # a wrong replay fails the row.
            row["ok"] = row["ok"] and row.get("graph_ok", False)
            del ref
            time_torch(row, bench, dev, flush, reps, lambda: torch_full_layer_fn(
                torch, bench.grouped_mm_fn, r, x, wr, bias, wg, wu, wd))
        except Exception as exc:  # noqa: BLE001 - a failing case must not stop the run
            fail(row, exc)
        yield row


def markdown(rows, gemm, title, headers, cells):
    """The markdown table of the rows of kind `gemm`: model, T, rows, ok and
    rel err, then `headers` with `cells(row)`, then torch ms and our
    speedup over torch."""
    rows = [r for r in rows if r.get("gemm") == gemm]
    if not rows:
        return ""
    headers = ["model", "T", "rows", "ok", "rel err"] + headers + ["torch ms", "ours vs torch"]
    out = [f"\n{title}\n", "| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for r in rows:
        if "error" in r:
            out.append(f"| {r['model']} | {r['T']} | | ERROR: {r['error'][:120]} |" +
                       " |" * (len(headers) - 4))
            continue
        tms = r.get("torch_ms")
        out.append("| " + " | ".join([
            r["model"], str(r["T"]), str(r["rows"]), "yes" if r["ok"] else "NO",
            f"{r['rel_err']:.1e}", *cells(r),
            f"{tms:.3f}" if tms else "err: " + r.get("torch_error", "")[:60],
            f"{tms / r['ours_ms']:.2f}×" if tms else "",
        ]) + " |")
    return "\n".join(out) + "\n"


def full_table(rows):
    """Whole-layer rows from the tokens against torch."""
    return markdown(rows, "full", "Whole layer from the tokens (fused routing, device dispatch, "
                    "SwiGLU FFN, down matmul, combine; one moe_layer_forward), bf16:",
                    ["near-tie tokens", "ours ms", "serial launches ms", "CUDA graph ms"],
                    lambda r: [str(r["near_ties"]), f"{r['ours_ms']:.3f}",
                               f"{r['serial_ms']:.3f}" if "serial_ms" in r else "",
                               graph_cell(r)])


def graph_cell(r):
    """The CUDA-graph replay's time, or why there is none."""
    if "graph_error" in r:
        return "capture failed: " + r["graph_error"][:60]
    if "graph_ms" not in r:
        return ""
    return f"{r['graph_ms']:.3f}" + ("" if r.get("graph_ok") else " (WRONG)")


def table(rows):
    """Layer rows: both combine variants against the torch layer."""
    return markdown(rows, "layer", "Whole layer (from dispatched rows: SwiGLU FFN with the "
                    "activation in the first matmul's epilogue, down matmul, combine), bf16:",
                    ["combine kernel ms", "combine epilogue ms", "faster"],
                    lambda r: [f"{r['kernel_ms']:.3f}", f"{r['epilogue_ms']:.3f}",
                               "kernel" if r["kernel_ms"] <= r["epilogue_ms"] else "epilogue"])


def dry_run(torch, bench, lib_path_list):
    """No GPU: the libraries hold every layer entry; with torch, the
    reference and the torch layer agree on small CPU shapes."""
    ok = True
    for path, lib in lib_path_list:
        layers = LayerLibrary(lib)
        missing = [s for s in LayerLibrary.SYMBOLS if not hasattr(lib, s)]
        absent = [layer_name(m, c) for m in bench.MODELS for c in COMBINES
                  if layers.find(layer_name(m, c)) < 0]
        absent += [full_name(m) for m in bench.MODELS if layers.find(full_name(m)) < 0]
        absent += [HMOE_LAYER] if layers.find(HMOE_LAYER) < 0 else []
        absent += [name for name in (CHOICE_LAYER, LLAMA4_LAYER) if layers.find(name) < 0]
        print(f"{path}: {lib.moe_layer_count()} layers")
        if missing or absent:
            print(f"FAIL missing symbols {missing}, layers not compiled {absent}")
            ok = False
    if torch is None:
        return ok
    for model in bench.MODELS:
        name, h, i, e, k = model
        h, i = max(16, h // 64), max(16, i // 64)
        token_of_row, offsets, row_map, weights, _ = dispatch(torch, 64, e, k, "cpu")
        assert int(offsets[-1]) == 64 * k
        assert bool((token_of_row[row_map] == torch.arange(64).unsqueeze(1)).all())
        x = torch.randn(64, h, dtype=torch.bfloat16)[token_of_row]
        ws = [torch.randn(e, a, b, dtype=torch.bfloat16) * a ** -0.5
              for a, b in ((h, i), (h, i), (i, h))]
        ref = reference(torch, x, *ws, offsets, row_map, weights)
        label, fn = torch_layer_fn(torch, bench.grouped_mm_fn, x, *ws, offsets, row_map, weights)
        err = bench.rel_err(torch, fn().float(), ref)
        print(f"{name} layer (H/64, I/64 on the CPU): {label} rel. err {err:.1e}")
        ok &= err <= bench.TOLERANCE
        # The whole layer: torch's against the fp32 reference (tokens at
        # near-ties left out), and the reference against itself with one
        # token's expert changed (the check must see it).
        r = shrunk_routing(FULL_ROUTINGS[name], h)
        wr = (torch.randn(e, h) * h ** -0.5).to(torch.bfloat16)
        bias = torch.randn(e) * 0.1 if r[5] else None
        x = torch.randn(64, h, dtype=torch.bfloat16)
        ref, ties = full_reference(torch, r, x, wr, bias, *ws)
        label, fn = torch_full_layer_fn(torch, bench.grouped_mm_fn, r, x, wr, bias, *ws)
        keep = ~ties
        err = bench.rel_err(torch, fn().float()[keep], ref[keep])
        wrong = ref.clone()
        wrong[3] = wrong[5]
        caught = bench.rel_err(torch, wrong[keep], ref[keep]) > bench.TOLERANCE
        print(f"{name} full layer (H/64, I/64 on the CPU): {label} rel. err {err:.1e}, "
              f"{int(ties.sum())} near-tie tokens, wrong token caught {caught}")
        ok &= err <= bench.TOLERANCE and caught
    # HMoE: the torch layer on the padded weights against the reference.
    name, h, widths, k = HMOE
    h, widths = h // 64, [max(8, w // 64 // 8 * 8) for w in widths]
    wg, wu, wd = hmoe_weights(torch, h, widths, "cpu")
    token_of_row, offsets, row_map, weights, _ = dispatch(torch, 64, len(widths), k, "cpu")
    x = torch.randn(64, h, dtype=torch.bfloat16)[token_of_row]
    ref = reference(torch, x, wg, wu, wd, offsets, row_map, weights)
    label, fn = torch_layer_fn(torch, bench.grouped_mm_fn, x, wg, wu, wd, offsets, row_map,
                               weights)
    err = bench.rel_err(torch, fn().float(), ref)
    padding_zero = all(bool((wg[g, :, w:] == 0).all()) and bool((wd[g, w:, :] == 0).all())
                       for g, w in enumerate(widths))
    print(f"{name} layer (H/64, widths/64 on the CPU): {label} rel. err {err:.1e}, "
          f"padding zero {padding_zero}")
    ok &= err <= bench.TOLERANCE and padding_zero
    # Expert choice: torch's layer against the reference, the capacity, and
    # a changed token caught.
    name, h, i, e, c = CHOICE
    h, i = h // 64, i // 64
    wr = (torch.randn(e, h) * h ** -0.5).to(torch.bfloat16)
    ws = [torch.randn(e, a, b, dtype=torch.bfloat16) * a ** -0.5
          for a, b in ((h, i), (h, i), (i, h))]
    x = torch.randn(64, h, dtype=torch.bfloat16)
    ref, ties = choice_reference(torch, c, x, wr, *ws)
    gate, ids, _ = choice_routing(torch, x, wr, c)
    label, fn = torch_choice_layer_fn(torch, bench.grouped_mm_fn, c, x, wr, *ws)
    keep = ~ties
    err = bench.rel_err(torch, fn().float()[keep], ref[keep])
    wrong = ref.clone()
    wrong[3] = wrong[5]
    caught = bench.rel_err(torch, wrong[keep], ref[keep]) > bench.TOLERANCE
    shaped = ids.shape == (e, choice_capacity(64, e, c)) and int((gate > 0).sum()) == ids.numel()
    print(f"{name} layer (H/64, I/64 on the CPU): {label} rel. err {err:.1e}, "
          f"{int(ties.sum())} near-tie tokens, wrong token caught {caught}, capacity ok {shaped}")
    ok &= err <= bench.TOLERANCE and caught and shaped
    # Llama 4 Scout: torch's layer against the reference, which must see the
    # routing weight scale the input (not the output: with the SwiGLU
    # expert the two differ).
    name, h, i, e, _ = LLAMA4
    h, i = h // 64, i // 64
    wr = (torch.randn(e, h) * h ** -0.5).to(torch.bfloat16)
    ws = [torch.randn(e, a, b, dtype=torch.bfloat16) * a ** -0.5
          for a, b in ((h, i), (h, i), (i, h))]
    x = torch.randn(64, h, dtype=torch.bfloat16)
    ref, ties = llama4_reference(torch, x, wr, *ws)
    label, fn = torch_llama4_layer_fn(torch, bench.grouped_mm_fn, x, wr, *ws)
    keep = ~ties
    err = bench.rel_err(torch, fn().float()[keep], ref[keep])
    weights, ids, _, _ = llama4_routing(torch, x, wr)
    rows, offsets, row_map = routing.dispatch_reference(torch, e, x, ids)
    scaled_output = reference(torch, rows, *ws, offsets, row_map, weights)
    caught = bench.rel_err(torch, scaled_output[keep], ref[keep]) > bench.TOLERANCE
    print(f"{name} layer (H/64, I/64 on the CPU): {label} rel. err {err:.1e}, "
          f"{int(ties.sum())} near-tie tokens, output scaling instead caught {caught}")
    ok &= err <= bench.TOLERANCE and caught
    return ok
