"""Weight-only quantized expert GEMMs (onnxruntime's QMoE layout) for
bench/gpu/bench.py: 4-bit packed weights (blocks of 32, f16 scales, the
default zero point 8) against torch._grouped_mm on the same weights
dequantized to bf16 (equal FLOPs). At decode sizes (T <= 64) the layer runs
the decode kernel, which expands the weights in registers; at T = 4096 the
tile kernel, which expands them into shared memory: wgmma on Hopper (timed
there against the sm_90 library's mma.sync one, where build.sh made it),
mma.sync on Ampere."""

import os
import sys

from layer import checked_call, fail, markdown, time_torch

BITS, BLOCK = 4, 32
TOKENS = (1, 64, 4096)
GEMM = "q4"


def layer_name(e, k, n):
    return f"q{BITS}_e{e}_k{k}_n{n}"


def emit_mlir(bench):
    """One layer entry per shape: the dequantization and the grouped matmul
    on rows x [R, K], packed [E, N, K / 2] bytes, scales [E, N, K / 32] f16,
    offsets [E + 1] -> [R, N]."""
    lines = []
    for e, k, n in bench.all_shapes():
        x, y = f"tensor<?x{k}xbf16>", f"tensor<?x{n}xbf16>"
        q, s = f"tensor<{e}x{n}x{k * BITS // 8}xi8>", f"tensor<{e}x{n}x{k // BLOCK}xf16>"
        w, off = f"tensor<{e}x{n}x{k}xbf16>", f"tensor<{e + 1}xi64>"
        lines += [
            f"func.func @{layer_name(e, k, n)}(%x: {x}, %q: {q}, %s: {s}, %off: {off}) -> {y} "
            "attributes {moe.gpu_layer} {",
            f"  %w = moe.dequantize %q, %s {{bits = {BITS} : i64, block_size = {BLOCK} : i64}}"
            f" : ({q}, {s}) -> {w}",
            f"  %y = moe.grouped_matmul %x, %w offsets(%off) {{transpose_rhs}} : ({x}, {w}, {off})"
            f" -> {y}",
            f"  return %y : {y}",
            "}",
        ]
    return lines


def quantize_random(torch, e, k, n, device):
    """(packed uint8 [E, N, K / 2], scales f16 [E, N, K / 32]) of random
    4-bit weights, scaled so that the products stay O(1)."""
    q = torch.randint(0, 256, (e, n, k * BITS // 8), dtype=torch.uint8, device=device)
    s = (torch.rand(e, n, k // BLOCK, device=device) + 0.5).mul_(k ** -0.5 / 4).half()
    return q, s


def dequantize(torch, q, s, k):
    """moe.dequantize of `q` with scales `s` (zero point 8), as [E, K, N]
    bf16: each value (q - 8) * scale in f32, rounded once."""
    b = q.to(torch.int32)
    values = torch.stack([b & 15, b >> 4], -1).reshape(*q.shape[:-1], k)
    scales = s.float().repeat_interleave(BLOCK, -1)[..., :k]
    return ((values.float() - 8) * scales).to(torch.bfloat16).transpose(1, 2)


def run(torch, bench, dev, layers, model, scale, tokens, reps, flush, alt_layers=None):
    """Rows (one per GEMM of `model` and decode T): numerics against the
    fp32 product of the dequantized weights, then our time and torch's, and
    with `alt_layers` (the sm_90 library on Hopper) its numerics and time."""
    stream = dev.stream()
    model, top_k = model[0], model[4]
    for _, e, k, n in bench.gemms(next(m for m in bench.MODELS if m[0] == model)):
        # --simulate: K and N shrunk, K kept a multiple of the block.
        k, n = max(BLOCK, k // scale // BLOCK * BLOCK), max(16, n // scale)
        q, s = quantize_random(torch, e, k, n, dev.name)
        w = dequantize(torch, q, s, k)
        for t in [t for t in tokens if t in TOKENS]:
            print(f"{model} q{BITS} {e}x{k}x{n} T={t}", flush=True)
            counts, offsets = bench.route(torch, t, e, top_k, dev.name)
            rows = int(offsets[-1].item())
            active = int((counts > 0).sum().item())
            row = {"model": model, "gemm": GEMM, "T": t, "E": e, "K": k, "N": n, "rows": rows,
                   "active_experts": active, "flops": 2 * rows * k * n,
                   "bytes": active * n * (k * BITS // 8 + 2 * (k // BLOCK)) + 2 * rows * (k + n)}
            try:
                x = torch.randn(rows, k, dtype=torch.bfloat16, device=dev.name)
                ref = bench.reference(torch, x, w, offsets)
                fn, unwritten, err, ok = checked_call(
                    torch, bench, dev, layers, layer_name(e, k, n), [x, q, s, offsets],
                    [rows], ref, stream)
                row.update(ok=bool(ok), unwritten=unwritten, rel_err=err)
                row["ours_ms"] = bench.time_ms(dev, fn, flush, reps)
                if alt_layers is not None:
                    alt_fn, _, alt_err, alt_ok = checked_call(
                        torch, bench, dev, alt_layers, layer_name(e, k, n), [x, q, s, offsets],
                        [rows], ref, stream, label=" (sm_90)")
                    row.update(alt_ok=bool(alt_ok), alt_rel_err=alt_err,
                               alt_ms=bench.time_ms(dev, alt_fn, flush, reps))
                del ref
                time_torch(row, bench, dev, flush, reps,
                           lambda: bench.grouped_mm_fn(torch, x, w, offsets))
            except Exception as exc:  # noqa: BLE001 - a failing case must not stop the run
                fail(row, exc)
            yield row


def table(rows, peaks):
    """The quantized rows against torch on bf16 weights."""
    copy = (peaks or {}).get("copy_tbps")

    def cells(r):
        seconds = r["ours_ms"] * 1e-3
        tbs = r["bytes"] / seconds / 1e12
        alt = r.get("alt_ms")
        return [f"{r['E']}x{r['K']}x{r['N']}", f"{r['ours_ms']:.4f}",
                f"{r['flops'] / seconds / 1e12:.1f}", f"{tbs:.2f}",
                f"{100 * tbs / copy:.0f}%" if copy else "",
                "" if alt is None else f"{alt:.4f}" + ("" if r["alt_ok"] else " (NO)"),
                "" if alt is None else f"{alt / r['ours_ms']:.2f}×"]
    return markdown(rows, GEMM, f"Quantized expert GEMMs ({BITS}-bit weights, blocks of {BLOCK}, "
                    "f16 scales, read packed: the decode kernel at T <= 64, the tile kernel "
                    "above; on Hopper also the sm_90 library, whose tile kernel is the "
                    "mma.sync one) against torch._grouped_mm on the bf16 dequantized weights:",
                    ["E x K x N", "ours ms", "TFLOP/s", "packed TB/s", "of copy BW",
                     "sm_90 ms", "vs sm_90"], cells)


class StandIn:
    """--simulate: the layer computed by the reference."""

    def __init__(self, bench):
        self.bench = bench

    def forward_fn(self, torch, name, tensors, out, dims, device, stream):
        x, q, s, offsets = tensors

        def fn():
            out.copy_(self.bench.reference(torch, x, dequantize(torch, q, s, x.shape[1]),
                                           offsets))
        fn.workspace_bytes = 0
        return fn


def dry_run(torch, bench, layer_libraries):
    """The libraries hold every quantized layer; with torch, the
    dequantization matches numpy's reference (moe_opt.reference) and a
    flipped nibble is caught."""
    ok = True
    for path, layers in layer_libraries:
        absent = [layer_name(*s) for s in bench.all_shapes() if layers.find(layer_name(*s)) < 0]
        if absent:
            print(f"FAIL {path}: quantized layers not compiled {absent}")
            ok = False
    if torch is None:
        return ok
    try:
        import numpy as np
        # The repository's python/ (numpy only): there on the GPU machine too.
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                        "..", "..", "python"))
        from moe_opt import reference as ref
    except ImportError:
        print("moe_opt not importable: the dequantization is not checked against it")
        return ok
    q, s = quantize_random(torch, 2, 64, 16, "cpu")
    w = dequantize(torch, q, s, 64)
    want = ref.dequantize(q.numpy().view(np.int8), s.float().numpy(), None, BITS, BLOCK,
                          columns=64)
    exact = bool((w.transpose(1, 2).float() ==
                  torch.from_numpy(np.asarray(want, np.float32)).to(torch.bfloat16).float()).all())
    q[0, 0, 0] ^= 0x0F
    caught = not bool((dequantize(torch, q, s, 64) == w).all())
    print(f"q{BITS} dequantization: equals moe_opt.reference {exact}, flipped nibble caught "
          f"{caught}")
    return ok and exact and caught
