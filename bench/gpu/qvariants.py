"""The kernel forms of bench/gpu/bench.py that read weights along K, for
numerics: small layers, one per form the GPU kernels read packed (QMoE: 2,
4 and 8 bits; per-row and block scales of f32, f16 and bf16; zero points;
K a half step past the tile kernel's 32; N no multiple of 64; SwiGLU fused
with interleaved, concatenated and separate gate/up weights) or as 16-bit
[E, N, K] weights (transpose_rhs: K a multiple of 16 and K = 72; SwiGLU
with separate weights), each at a decode row count (the decode kernel:
rows <= 16 E) and a prefill one (the tile kernel). Each is checked against the numpy reference (python/moe_opt:
reference.dequantize, which the CPU tests pin to onnxruntime) on NaN-poisoned
outputs, then timed once; the timings are for reading, not goals."""

import itertools
import os
import sys

import numpy as np

from layer import checked_call, fail

# The repository's python/ (numpy only): there on the GPU machine too.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "python"))

GEMM = "qv"
EXPERTS = 8
ROWS = (64, 1000)
# The scales' types: numpy's (bf16 scales are float32 arrays of bf16
# values), torch's.
SCALE_TYPES = {"f32": ("float32", "float32"), "f16": ("float16", "float16"),
               "bf16": ("float32", "bfloat16")}

# name, bits (16: bf16 [E, N, K] weights, no scales), block size (None: per
# row), scale type, zero points, K, N (of each weight), gate/up layout
# (None: no activation).
VARIANTS = [
    ("q4_b32_f16", 4, 32, "f16", False, 256, 256, None),
    ("q8_rows_f32_zp", 8, None, "f32", True, 272, 72, None),
    ("q2_b16_f16_zp", 2, 16, "f16", True, 256, 192, None),
    ("q8_b16_bf16", 8, 16, "bf16", False, 272, 128, None),
    ("q4_b32_f16_interleaved", 4, 32, "f16", False, 256, 256, "interleaved"),
    ("q4_b32_f16_concatenated", 4, 32, "f16", False, 256, 256, "concatenated"),
    ("q4_b16_f16_zp_separate", 4, 16, "f16", True, 256, 128, "separate"),
    ("t16", 16, None, None, False, 256, 192, None),
    ("t16_k72_n200", 16, None, None, False, 72, 200, None),
    ("t16_separate", 16, None, None, False, 256, 128, "separate"),
]


def layer_name(v):
    return f"qv_{v[0]}"


def output_width(v):
    _, _, _, _, _, _, n, layout = v
    return n // 2 if layout in ("interleaved", "concatenated") else n


def weight_types(v):
    """The MLIR types of one weight's bytes, scales and zero points (None);
    of a 16-bit weight, its [E, N, K] type and two Nones."""
    _, bits, block, stype, zp, k, n, _ = v
    e = EXPERTS
    if bits == 16:
        return f"tensor<{e}x{n}x{k}xbf16>", None, None
    blocks = [] if block is None else [-(-k // block)]
    scales = [e, n] + blocks
    zps = scales[:-1] + [-(-scales[-1] * bits // 8)]
    fmt = lambda shape, t: "tensor<" + "x".join(map(str, shape)) + f"x{t}>"  # noqa: E731
    return (fmt([e, n, k * bits // 8], "i8"), fmt(scales, stype),
            fmt(zps, "i8") if zp else None)


def emit_mlir(variants=VARIANTS):
    """One layer entry per form (of `variants`): the dequantization(s), the
    grouped matmul(s) on rows x [R, K] and, for SwiGLU, the activation."""
    lines = []
    for v in variants:
        name, bits, block, _, zp, k, n, layout = v
        e = EXPERTS
        q, s, z = weight_types(v)
        x, off = f"tensor<?x{k}xbf16>", f"tensor<{e + 1}xi64>"
        w, h = f"tensor<{e}x{n}x{k}xbf16>", f"tensor<?x{n}xbf16>"
        y = f"tensor<?x{output_width(v)}xbf16>"
        attrs = f"bits = {bits} : i64" + (f", block_size = {block} : i64" if block else "")
        weights = ["g"] + (["u"] if layout == "separate" else [])
        args = [f"%x: {x}"]
        for p in weights:
            if bits == 16:
                args.append(f"%w{p}: {w}")
                continue
            args += [f"%q{p}: {q}", f"%s{p}: {s}"] + ([f"%z{p}: {z}"] if zp else [])
        args.append(f"%off: {off}")
        lines.append(f"func.func @{layer_name(v)}({', '.join(args)}) -> {y} "
                     "attributes {moe.gpu_layer} {")
        for p in weights:
            if bits != 16:
                zps, ztype = (f" zero_points(%z{p})", f", {z}") if zp else ("", "")
                lines.append(f"  %w{p} = moe.dequantize %q{p}, %s{p}{zps} {{{attrs}}} : "
                             f"({q}, {s}{ztype}) -> {w}")
            lines.append(f"  %h{p} = moe.grouped_matmul %x, %w{p} offsets(%off) "
                         f"{{transpose_rhs}} : ({x}, {w}, {off}) -> {h}")
        if layout is None:
            lines.append(f"  return %hg : {y}")
        else:
            up = ", %hu" if layout == "separate" else ""
            types = f"{h}, {h}" if layout == "separate" else h
            lines += [
                f"  %a = moe.activation %hg{up} {{activation = #moe.activation<silu>, "
                f"gate_layout = #moe.gate_layout<{layout}>}} : ({types}) -> {y}",
                f"  return %a : {y}",
            ]
        lines.append("}")
    return lines


def random_weight(rng, v):
    """[bytes, scales, zero points (absent without)] of one random weight as
    numpy arrays (uint8; the scales of their type's values, SCALE_TYPES),
    scaled so that the products stay O(1)."""
    _, bits, block, stype, zp, k, n, _ = v
    if bits == 16:
        return [to_bf16(rng.standard_normal((EXPERTS, n, k)) * k ** -0.5)]
    q = rng.integers(0, 256, (EXPERTS, n, k * bits // 8), dtype=np.uint8)
    blocks = () if block is None else (-(-k // block),)
    s = (rng.random((EXPERTS, n) + blocks) + 0.5) * k ** -0.5 / (1 << (bits - 1))
    s = to_bf16(s) if stype == "bf16" else s.astype(SCALE_TYPES[stype][0])
    weight = [q, s]
    if zp:
        # Packed along the scales' last dim.
        shape = s.shape[:-1] + (-(-s.shape[-1] * bits // 8),)
        weight.append(rng.integers(0, 256, shape, dtype=np.uint8))
    return weight


def to_bf16(a):
    """`a` (finite) rounded to bf16, nearest even, as float32 (numpy only:
    the GPU machine may lack ml_dtypes)."""
    bits = np.asarray(a, np.float32).view(np.uint32).astype(np.uint64)
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16 << 16
    return bits.astype(np.uint32).view(np.float32)


def reference(v, x, weights, offsets):
    """The layer in fp32 (numpy) on moe.dequantize's weights (the numpy
    reference's, rounded to bf16 as the layer's element type): [R,
    output_width]. x: [R, K] (bf16 values), offsets: [E + 1]."""
    from moe_opt import reference as ref
    _, bits, block, _, _, k, _, layout = v
    xs = np.asarray(x, np.float32)
    hs = []
    for weight in weights:
        z = weight[2] if len(weight) > 2 else None
        w = weight[0] if bits == 16 else to_bf16(ref.dequantize(
            weight[0].view(np.int8), np.asarray(weight[1], np.float32),
            None if z is None else z.view(np.int8), bits, block, columns=k))
        h = np.zeros((xs.shape[0], w.shape[1]), np.float32)
        for g in range(EXPERTS):
            lo, hi = int(offsets[g]), int(offsets[g + 1])
            h[lo:hi] = xs[lo:hi] @ w[g].T
        hs.append(h)
    if layout is None:
        return hs[0]
    if layout == "separate":
        gate, up = hs
    elif layout == "interleaved":
        gate, up = hs[0][:, 0::2], hs[0][:, 1::2]
    else:
        half = hs[0].shape[1] // 2
        gate, up = hs[0][:, :half], hs[0][:, half:]
    return gate / (1 + np.exp(-gate)) * up


def inputs(v, rows, seed):
    """(rows x [R, K] as bf16 values in float32, weights, offsets [E + 1]
    int64): random rows spread over the experts, one expert left empty."""
    rng = np.random.default_rng(seed)
    cuts = np.sort(rng.integers(0, rows + 1, EXPERTS - 1))
    cuts[EXPERTS // 2] = cuts[EXPERTS // 2 - 1]  # an empty group
    offsets = np.array([0, *cuts.tolist(), rows], dtype=np.int64)
    x = to_bf16(rng.standard_normal((rows, v[5])))
    weights = [random_weight(rng, v) for _ in range(2 if v[7] == "separate" else 1)]
    return x, weights, offsets


def device_weight(torch, v, weight, device):
    """One weight's arrays as the layer takes them: bytes and zero points as
    int8, the scales in their type; a 16-bit weight as bf16."""
    if v[1] == 16:
        return [torch.from_numpy(weight[0]).to(torch.bfloat16).to(device)]
    q, s = weight[:2]
    tensors = [torch.from_numpy(q).view(torch.int8),
               torch.from_numpy(s).to(getattr(torch, SCALE_TYPES[v[3]][1]))]
    tensors += [torch.from_numpy(z).view(torch.int8) for z in weight[2:]]
    return [t.to(device) for t in tensors]


def run(torch, bench, dev, libraries, reps, flush):
    """One row per library (a (name, layers) pair: on Hopper the sm_90a
    library, whose tile kernel is wgmma, and the sm_90 one, mma.sync), form
    and row count: numerics, then our time."""
    stream = dev.stream()
    for (library, layers), (i, v) in itertools.product(libraries, enumerate(VARIANTS)):
        for rows in ROWS:
            print(f"qv {library} {v[0]} rows={rows}", flush=True)
            row = {"model": v[0], "gemm": GEMM, "T": rows, "rows": rows, "library": library,
                   "kernel": "decode" if rows <= 16 * EXPERTS else "tile"}
            try:
                x, weights, offsets = inputs(v, rows, 1000 * i + rows)
                ref = torch.from_numpy(reference(v, x, weights, offsets)).to(dev.name)
                tensors = ([torch.from_numpy(x).to(torch.bfloat16).to(dev.name)] +
                           [t for w in weights for t in device_weight(torch, v, w, dev.name)] +
                           [torch.from_numpy(offsets).to(dev.name)])
                fn, unwritten, err, ok = checked_call(
                    torch, bench, dev, layers, layer_name(v), tensors, [rows], ref, stream,
                    f" {library} {v[0]} rows={rows}")
                row.update(ok=bool(ok), unwritten=unwritten, rel_err=err)
                # Timed briefly: the forms are here for their numbers.
                row["ours_ms"] = bench.time_ms(dev, fn, flush, reps, budget_s=0.2)
            except Exception as exc:  # noqa: BLE001 - a failing form must not stop the run
                fail(row, exc)
            yield row


def table(rows):
    """The forms' numerics (markdown; "" without rows)."""
    rows = [r for r in rows if r.get("gemm") == GEMM]
    if not rows:
        return ""
    out = ["\nKernel forms reading weights along K (packed and [E, N, K]; numerics "
           "against the numpy reference; E = "
           f"{EXPERTS}, one expert empty):\n",
           "| form | rows | kernel | ok | rel err | ours ms | library |",
           "|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            out.append(f"| {r['model']} | {r['rows']} | {r['kernel']} | ERROR: "
                       f"{r['error'][:120]} | | | {r['library']} |")
            continue
        out.append(f"| {r['model']} | {r['rows']} | {r['kernel']} | "
                   f"{'yes' if r['ok'] else 'NO'} | {r['rel_err']:.1e} | {r['ours_ms']:.4f} | "
                   f"{r['library']} |")
    return "\n".join(out) + "\n"


class StandIn:
    """--simulate: each layer computed by the reference itself."""

    def forward_fn(self, torch, name, tensors, out, dims, device, stream):
        v = next(v for v in VARIANTS if layer_name(v) == name)
        host = [t.cpu() for t in tensors]
        x, offsets = host[0].float().numpy(), host[-1].numpy()
        if v[1] == 16:
            weights = [[t.float().numpy()] for t in host[1:-1]]
        else:
            per = 3 if v[4] else 2
            weights = [[host[1 + i * per].view(torch.uint8).numpy(),
                        host[2 + i * per].float().numpy()] +
                       ([host[3 + i * per].view(torch.uint8).numpy()] if v[4] else [])
                       for i in range((len(host) - 2) // per)]

        def fn():
            out.copy_(torch.from_numpy(reference(v, x, weights, offsets)).to(out.dtype))
        fn.workspace_bytes = 0
        return fn


def dry_run(layer_libraries):
    """Every library holds every form."""
    ok = True
    for path, layers in layer_libraries:
        absent = [layer_name(v) for v in VARIANTS if layers.find(layer_name(v)) < 0]
        if absent:
            print(f"FAIL {path}: quantized forms not compiled {absent}")
            ok = False
    return ok
