"""Runs one grouped-matmul case in the emulator: random 16-bit inputs
(uneven groups with an empty one and a tail of rows past offsets[E]), the
float64 reference on the same values, and what the emulated kernels wrote."""
import numpy as np

from moe_opt import reference

from . import host, kernel, lowering

# A case's options for the sm_80 mma.sync tile kernel (forced: the row
# count would take the decode kernel for few rows).
SM80_TILE = dict(chip="sm_80", kernel="tile", rows=140)


def _offsets(e, rows):
    """Uneven groups, group 1 empty, 10 rows past offsets[E]."""
    real = rows - 10
    if e == 2:
        return np.array([0, 70, real])
    if e == 3:
        return np.array([0, 130, 130, real])
    cuts = list(np.linspace(0, real, e + 1).astype(int))
    cuts[2] = cuts[1]
    return np.array(cuts)


def run(c, workdir, tag, seed=1, mutate=None):
    """{"bad": elements off by more than a bf16 ulp, "max_rel", "problems":
    what the emulator reported (out-of-bounds accesses, ordering faults,
    result elements not written exactly once), "wgmmas": the warpgroups'
    wgmma instructions issued} of case `c` (see
    lowering.case_mlir; also rows, offsets, nan_pad: NaN in the weights,
    bias and rows past each group's extents, which must not reach the
    result; inf_empty_group: Inf in the empty group's weights, which a
    partial k step of group 0 reads as its rows past K and must zero;
    rounded_matmuls: the matmuls' results rounded to the element type before
    the activation, as where the activation runs as a kernel of its own;
    sms: the SM count the host's launches see, the persistent grid's bound).
    `mutate` edits the kernels' text before they run (to show the checks
    catch a fault)."""
    e, k, n = c["E"], c["K"], c["N"]
    dt = kernel.DT[c.get("elt", "bf16")]
    rng = np.random.default_rng(seed)
    rows = c.get("rows", 300 if e >= 3 else 200)
    off = np.array(c["offsets"]) if "offsets" in c else _offsets(e, rows)
    x = rng.uniform(-1, 1, (rows, k)).astype(np.float32).astype(dt)
    bits = c.get("bits")
    trans = c.get("trans", False) or bool(bits)
    w_shape = (e, n, k) if trans else (e, k, n)
    layout = c.get("layout")
    packed = []  # the packed weights' kernel inputs, gate then up

    def weight():
        if not bits:
            return (rng.uniform(-1, 1, w_shape) / 4).astype(np.float32).astype(dt)
        # Random bytes, scales and zero points; the reference takes what
        # moe.dequantize makes of them, rounded to the element type.
        block = c.get("block")
        q = rng.integers(0, 256, (e, n, k * bits // 8), dtype=np.uint8)
        scale_shape = (e, n, -(-k // block)) if block else (e, n)
        scales = (rng.uniform(0.5, 1.5, scale_shape) / (4 << bits)).astype(
            kernel.DT[c.get("scale", "f16")])
        zp = None
        if c.get("zp"):
            zp_shape = scale_shape[:-1] + (-(-scale_shape[-1] * bits // 8),)
            zp = rng.integers(0, 256, zp_shape, dtype=np.uint8)
        packed.extend([q, scales] + ([zp] if zp is not None else []))
        return reference.dequantize(q.view(np.int8), scales.astype(np.float64),
                                    None if zp is None else zp.view(np.int8), bits, block,
                                    columns=k).astype(np.float32).astype(dt)
    w = weight()
    wu = weight() if layout == "separate" else None
    bias = rng.uniform(-1, 1, (e, n)).astype(kernel.DT[c["bias"]]) if c.get("bias") else None
    # Separate gate and up weights each have their own bias.
    up_bias = (rng.uniform(-1, 1, (e, n)).astype(bias.dtype)
               if bias is not None and layout == "separate" else None)
    extents = c.get("extents")
    if c.get("nan_pad") and extents:
        for g, (kg, ng) in enumerate(extents):
            for weight in [w] + ([wu] if wu is not None else []):
                weight[g, kg:, :] = np.nan
                weight[g, :, ng:] = np.nan
            for b in (bias, up_bias):
                if b is not None:
                    b[g, ng:] = np.nan
            # A K_g inside an 8-column chunk is documented as unzeroed.
            if kg % 8 == 0:
                x[off[g]:off[g + 1], kg:] = np.nan
    if c.get("inf_empty_group"):
        w[1] = np.inf
        if wu is not None:
            wu[1] = np.inf
    off_type = np.int64 if c.get("off", "i64") == "i64" else np.int32
    weights = packed if bits else [w] + ([wu] if wu is not None else [])
    inputs = [x] + weights + [off.astype(off_type)]
    inputs += [b for b in (bias, up_bias) if b is not None]
    slots = c.get("combine")
    if slots:
        tokens = rows // slots
        real = int(off[-1])
        row_map = np.full((tokens, slots), -1, np.int64)
        flat = row_map.reshape(-1)
        flat[:real] = rng.permutation(real)
        flat[rng.choice(real, 7, replace=False)] = -1  # dropped slots
        rng.shuffle(row_map)
        weights = rng.uniform(0, 1, (tokens, slots)).astype(np.float32)
        inputs += [row_map, weights]

    def matmul(weight, bias):
        y = np.zeros((rows, n), np.float64)
        for g in range(e):
            kg, ng = extents[g] if extents else (k, n)
            wg = weight[g].astype(np.float64)
            if trans:
                wg = wg.T
            lo, hi = off[g], off[g + 1]
            y[lo:hi, :ng] = x[lo:hi, :kg].astype(np.float64) @ wg[:kg, :ng]
            if bias is not None:
                y[lo:hi, :ng] += bias[g, :ng].astype(np.float64)
        return y
    y = matmul(w, bias)
    if c.get("rounded_matmuls"):
        y = y.astype(dt).astype(np.float64)
    act = c.get("act", "silu")
    params = {p: c[p] for p in ("alpha", "beta", "limit") if p in c}
    if layout == "separate":
        u = matmul(wu, up_bias)
        if c.get("rounded_matmuls"):
            u = u.astype(dt).astype(np.float64)
        y = reference.apply_activation(y, u, activation=act, gate_layout="separate",
                                       **params)
    elif layout in ("interleaved", "concatenated"):
        y = reference.apply_activation(y, None, activation=act, gate_layout=layout, **params)
    elif layout == "plain_act":
        y = reference.apply_activation(y, None, activation=act, **params)
    if slots:
        y = reference.combine(y, row_map, weights.astype(np.float64))

    old_base, old_sms = kernel.DYN_BASE, host.MULTIPROCESSORS
    kernel.DYN_BASE = c.get("dyn_base", 48)
    host.MULTIPROCESSORS = c.get("sms", old_sms)
    try:
        host_file, kernels_file = lowering.lower(
            {key: v for key, v in c.items()
             if key not in ("offsets", "rows", "dyn_base", "rounded_matmuls", "sms")},
            workdir, tag)
        if mutate:
            lowering.mutate_file(kernels_file, mutate)
        got, problems, launches, buffers = host.run_host(
            host_file, kernels_file, inputs, seed=seed, log=lambda *a: None)
    finally:
        kernel.DYN_BASE, host.MULTIPROCESSORS = old_base, old_sms
    got = got.astype(np.float64)
    if not slots:
        # Every result element written exactly once.
        writes = buffers.writes.get(launches[-1]["result"])
        if writes is None:
            problems.append("result never written")
        else:
            per_byte = writes.reshape(-1, np.dtype(dt).itemsize)
            if not (per_byte == per_byte[:, :1]).all():
                problems.append("result elements written in part")
            counts = per_byte[:, 0].reshape(got.shape)
            if (counts != 1).any():
                problems.append(f"{int((counts != 1).sum())} result elements not written once")
    diff = np.abs(got - y)
    bad = ~(diff <= np.maximum(np.abs(y), 1e-3) * 2 ** -7 + 1e-3)
    return {"bad": int(bad.sum()), "problems": problems,
            "wgmmas": sum(launch.get("wgmmas", 0) for launch in launches),
            "max_rel": float(np.nanmax(diff / np.maximum(np.abs(y), 1e-2))),
            "examples": [(int(r), int(col), float(got[r, col]), float(y[r, col]))
                         for r, col in np.argwhere(bad)[:6]]}
