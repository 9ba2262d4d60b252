"""Numpy reference semantics of every `moe` dialect op.

Each function computes exactly what the op's documentation in
dialect/MoE/MoEOps.td says, with the same attribute names, in float64 unless
the caller passes something else. Tests use it as the oracle for the CPU and
GPU backends and check it against onnxruntime's com.microsoft.MoE.
"""

from __future__ import annotations

import math

import numpy as np

# Router ---------------------------------------------------------------------


def gate(x, weight, bias=None, weight_transposed=False):
    """moe.gate: logits[T, E] = x[T, H] . W (W stored [E, H] or [H, E])."""
    logits = x @ (weight if weight_transposed else weight.T)
    return logits if bias is None else logits + bias


def _softmax(z, axis=-1):
    z = z - np.max(z, axis=axis, keepdims=True)
    e = np.exp(z)
    return e / np.sum(e, axis=axis, keepdims=True)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _topk_desc(values, k, axis=-1):
    """Indices of the k largest values along `axis`, descending; ties pick the
    lower index (a stable sort of the negated values)."""
    order = np.argsort(-values, axis=axis, kind="stable")
    return np.take(order, np.arange(k), axis=axis)


def route(
    logits,
    mode="token_choice",
    score="softmax",
    k=None,
    renormalize=False,
    epsilon=0.0,
    renormalize_clamp=False,
    jitter_eps=None,
    scaling_factor=1.0,
    selection_bias=None,
    num_groups=None,
    topk_groups=None,
    group_topk=2,
    top_p=None,
    capacity_factor=None,
    expert_mask=None,
    skip_ratio=None,
):
    """moe.route. Returns (weights, indices) shaped as the op documents."""
    logits = np.asarray(logits, dtype=np.float64)
    num_tokens, num_experts = logits.shape
    if expert_mask is not None:
        logits = np.where(np.asarray(expert_mask, bool)[None, :], logits, -np.inf)

    if mode == "expert_choice":
        scores = _softmax(logits) if score == "softmax" else _sigmoid(logits)
        capacity = expert_capacity(num_tokens, num_experts, capacity_factor)
        # Each expert takes its best tokens: top-C along the token axis.
        token_ids = _topk_desc(scores.T, capacity, axis=1)  # [E, C]
        dense = np.zeros_like(scores)
        for e in range(num_experts):
            dense[token_ids[e], e] = scores[token_ids[e], e]
        return dense, token_ids

    if score == "sparsemixer":
        weights, indices = _sparsemixer(logits, 0.0 if jitter_eps is None else jitter_eps)
        return weights * scaling_factor, indices
    if score == "softmax":
        scores = _softmax(logits)
    elif score == "sigmoid":
        scores = _sigmoid(logits)
    elif score == "softmax_after_topk":
        scores = logits
    else:
        raise ValueError(f"unknown score function {score}")

    choice = scores if selection_bias is None else scores + selection_bias[None, :]
    if expert_mask is not None:
        # A masked expert's score is 0 after softmax / sigmoid; its bias must
        # not make it selectable (the CPU kernel masks the choice too).
        choice = np.where(np.asarray(expert_mask, bool)[None, :], choice, -np.inf)
    if num_groups is not None:
        per_group = num_experts // num_groups
        grouped = choice.reshape(num_tokens, num_groups, per_group)
        best = -np.sort(-grouped, axis=2)[:, :, :group_topk]
        group_scores = best.sum(axis=2)
        kept = _topk_desc(group_scores, topk_groups, axis=1)
        group_mask = np.zeros((num_tokens, num_groups), bool)
        np.put_along_axis(group_mask, kept, True, axis=1)
        choice = np.where(np.repeat(group_mask, per_group, axis=1), choice, -np.inf)

    if mode == "top_p":
        order = _topk_desc(choice, k, axis=1)
        probs = np.take_along_axis(scores, order, axis=1)
        cumulative = np.cumsum(probs, axis=1)
        # Keep the shortest prefix whose sum reaches p: slot j is kept when
        # the sum before it is still below p.
        before = cumulative - probs
        keep = before < top_p
        weights = np.where(keep, probs, 0.0)
        indices = np.where(keep, order, -1)
        return weights * scaling_factor, indices

    indices = _topk_desc(choice, k, axis=1)
    weights = np.take_along_axis(scores, indices, axis=1)
    if score == "softmax_after_topk":
        weights = _softmax(weights)
    if renormalize:
        total = weights.sum(axis=1, keepdims=True)
        weights = weights / (np.maximum(total, epsilon) if renormalize_clamp
                             else total + epsilon)
    weights = weights * scaling_factor
    if skip_ratio is not None:
        return skip_slots(weights, indices, skip_ratio)
    return weights, indices


def skip_slots(weights, indices, beta):
    """skip_ratio: slots s >= 1 with w_s < beta * w_0 get id -1 and weight 0;
    the remaining weights are not renormalized."""
    skip = np.zeros(weights.shape, bool)
    skip[:, 1:] = weights[:, 1:] < beta * weights[:, :1]
    return np.where(skip, 0.0, weights), np.where(skip, -1, indices)


def _sparsemixer(logits, jitter_eps):
    """PhiMoE's sparsemixer in inference mode (transformers' modeling_phimoe
    with training=False): k = 2 argmax rounds; each slot's weight is the
    softmax at its expert over the logits within the jitter of the round's
    best (the first round's expert left out of the second)."""
    weights, indices = [], []
    remaining = logits.copy()
    for _ in range(2):
        best = np.argmax(remaining, axis=1)[:, None]
        m = np.take_along_axis(remaining, best, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            far = (m - logits) / np.maximum(np.abs(logits), m) > 2 * jitter_eps
        masked = np.where(far, -np.inf, remaining)
        weights.append(np.take_along_axis(_softmax(masked), best, axis=1))
        indices.append(best)
        np.put_along_axis(remaining, best, -np.inf, axis=1)
    return np.concatenate(weights, axis=1), np.concatenate(indices, axis=1)


def expert_capacity(num_tokens, num_experts, capacity_factor):
    """C = min(T, ceil(T * c / E)), at least 1 when there are tokens."""
    if num_tokens <= 0:
        return 0
    capacity = math.ceil(num_tokens * capacity_factor / num_experts)
    return min(max(capacity, 1), num_tokens)


# Dispatch and combine -------------------------------------------------------


def dispatch(
    x,
    indices,
    num_experts,
    expert_choice=False,
    capacity=None,
    drop_policy=None,
    weights=None,
    expert_map=None,
    group_size=None,
):
    """moe.dispatch. Returns (rows, offsets, row_map). `expert_map` renames
    the ids of token-choice indices (merged experts) before grouping;
    `group_size` G counts an in-order capacity per run of G consecutive
    tokens (Switch Transformers: per sequence of the flattened batch)."""
    num_tokens, hidden = x.shape
    if expert_map is not None:
        assert not expert_choice, "expert_map renames token-choice ids only"
        expert_map = np.asarray(expert_map, dtype=np.int64)
        indices = np.where(indices >= 0, expert_map[np.maximum(indices, 0)], indices)
    if expert_choice:
        capacity = indices.shape[1]
        rows = x[indices.reshape(-1)]
        offsets = np.arange(num_experts + 1, dtype=np.int64) * capacity
        row_map = np.full((num_tokens, num_experts), -1, dtype=np.int64)
        for e in range(num_experts):
            for c in range(capacity):
                row_map[indices[e, c], e] = e * capacity + c
        return rows, offsets, row_map

    slots = indices.shape[1]
    rows = np.zeros((num_tokens * slots, hidden), dtype=x.dtype)
    row_map = np.full(indices.shape, -1, dtype=np.int64)
    offsets = np.zeros(num_experts + 1, dtype=np.int64)
    next_row = 0
    for e in range(num_experts):
        members = [(t, s) for t in range(num_tokens) for s in range(slots)
                   if indices[t, s] == e]
        if capacity is not None and group_size is not None:
            assert drop_policy == "in_order", "group_size counts in token order"
            seen = np.zeros(-(-num_tokens // group_size), dtype=np.int64)
            kept = []
            for t, s in members:
                seen[t // group_size] += 1
                if seen[t // group_size] <= capacity:
                    kept.append((t, s))
            members = kept
        elif capacity is not None and len(members) > capacity:
            if drop_policy == "by_weight":
                members = sorted(members, key=lambda ts: (-weights[ts], ts[0]))
                members = sorted(members[:capacity])
            else:
                members = members[:capacity]
        for t, s in members:
            rows[next_row] = x[t]
            row_map[t, s] = next_row
            next_row += 1
        offsets[e + 1] = next_row
    return rows, offsets, row_map


def combine(rows, row_map, weights):
    """moe.combine: out[t] = sum over valid slots of weight * row."""
    out = np.zeros((row_map.shape[0], rows.shape[1]), dtype=rows.dtype)
    for t in range(row_map.shape[0]):
        for s in range(row_map.shape[1]):
            if row_map[t, s] >= 0:
                out[t] += weights[t, s] * rows[row_map[t, s]]
    return out


# Experts ----------------------------------------------------------------------


def _erf(z):
    return np.vectorize(math.erf)(z)


def _act(z, activation, alpha=None, kappa=None, lam=None):
    if activation == "identity":
        return z
    if activation == "relu":
        return np.maximum(z, 0)
    if activation == "gelu":
        return 0.5 * z * (1.0 + _erf(z / math.sqrt(2.0)))
    if activation == "gelu_tanh":
        return 0.5 * z * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (z + 0.044715 * z**3)))
    if activation == "silu":
        return z * _sigmoid((1.0 if alpha is None else alpha) * z)
    if activation in ("apa", "aglu"):
        kappa = 1.0 if kappa is None else kappa
        lam = max(1.0 if lam is None else lam, 1e-4)
        # Stable form: exp(-(1/lambda) * softplus(ln(lambda) - kappa * z)).
        apa = np.exp(-np.logaddexp(0.0, math.log(lam) - kappa * z) / lam)
        return apa if activation == "apa" else z * apa
    raise ValueError(f"unknown activation {activation}")


def apply_activation(h, up=None, activation="silu", gate_layout=None, alpha=None,
               beta=None, limit=None, kappa=None, lam=None):
    """moe.activation on one group's rows (no padding)."""
    if gate_layout is None:
        return _act(h, activation, alpha, kappa, lam)
    if gate_layout == "separate":
        g, u = h, up
    elif gate_layout == "interleaved":
        g, u = h[:, 0::2], h[:, 1::2]
    elif gate_layout == "concatenated":
        half = h.shape[1] // 2
        g, u = h[:, :half], h[:, half:]
    else:
        raise ValueError(f"unknown gate layout {gate_layout}")
    if limit is not None:
        g = np.minimum(g, limit)
        u = np.clip(u, -limit, limit)
    return _act(g, activation, alpha, kappa, lam) * (u + (0.0 if beta is None else beta))


def experts(rows, offsets, weights, biases=None, transposed_weights=False,
            activation="silu", gate_layout=None, **act_attrs):
    """moe.experts. `weights` is the op's weight list: stacked stage tensors
    [E, in, out] or per-expert [in, out] tensors, expert-major."""
    num_experts = len(offsets) - 1
    stages = 3 if gate_layout == "separate" else 2
    stacked = len(weights) == stages and all(w.ndim == 3 for w in weights)

    def stage(values, e, s):
        if values is None:
            return None
        v = values[s][e] if stacked else values[e * stages + s]
        return v.T if (transposed_weights and v.ndim == 2) else v

    out_width = (stage(weights, 0, stages - 1)).shape[1]
    out = np.zeros((rows.shape[0], out_width), dtype=rows.dtype)
    for e in range(num_experts):
        lo, hi = int(offsets[e]), int(offsets[e + 1])
        if lo == hi:
            continue
        r = rows[lo:hi]

        def linear(s):
            y = r @ stage(weights, e, s)
            b = stage(biases, e, s) if biases else None
            return y if b is None else y + b

        h = linear(0)
        up = linear(1) if stages == 3 else None
        a = apply_activation(h, up, activation, gate_layout, **act_attrs)
        y = a @ stage(weights, e, stages - 1)
        if biases:
            y = y + stage(biases, e, stages - 1)
        out[lo:hi] = y
    return out


def scatter_columns(source, dest, columns, offsets):
    """moe.scatter_columns: dest with source[r, j] added into column
    columns[e, j] for the rows r of group e (entries -1 are skipped)."""
    out = np.array(dest, copy=True)
    for e in range(len(offsets) - 1):
        lo, hi = int(offsets[e]), int(offsets[e + 1])
        for j, c in enumerate(columns[e]):
            if c >= 0:
                out[lo:hi, c] += source[lo:hi, j]
    return out


def compress_matrix(w, rank, keep_fraction, dtype=np.float32):
    """--moe-compress-experts on one matrix W [out, in] (torch layout):
    L [out, r] = U_r sqrt(sigma), R [r, in] = sqrt(sigma) V_r^T from
    numpy's SVD, rounded to `dtype`; S = W - L R keeps its
    ceil(keep_fraction * out) rows of largest L2 norm (ties to the lower
    row), rounded to `dtype`. Returns (L, R, S_kept [m, in], kept rows
    ascending)."""
    w = np.asarray(w, dtype=np.float64)
    u, s, vt = np.linalg.svd(w, full_matrices=False)
    root = np.sqrt(s[:rank])
    lo = (u[:, :rank] * root).astype(dtype)
    ro = (root[:, None] * vt[:rank]).astype(dtype)
    residual = w - lo.astype(np.float64) @ ro.astype(np.float64)
    kept = min(w.shape[0], math.ceil(keep_fraction * w.shape[0] - 1e-9))
    norms = np.linalg.norm(residual, axis=1)
    order = np.lexsort((np.arange(len(norms)), -norms))
    rows = np.sort(order[:kept])
    return lo, ro, residual[rows].astype(dtype), rows


def compressed_matrix(w, rank, keep_fraction, dtype=np.float32):
    """The matrix L R + S that compress_matrix's factors stand for (in
    float64), to put in place of W in a reference model."""
    lo, ro, s_kept, rows = compress_matrix(w, rank, keep_fraction, dtype)
    approx = lo.astype(np.float64) @ ro.astype(np.float64)
    approx[rows] += s_kept.astype(np.float64)
    return approx


# Quantized weights --------------------------------------------------------------


def _unpack(packed, bits, count):
    """Values of `bits` bits packed low bits first along the last axis."""
    packed = np.asarray(packed).view(np.uint8)
    per_byte = 8 // bits
    shifts = np.arange(per_byte, dtype=np.uint8) * bits
    values = (packed[..., :, None] >> shifts) & ((1 << bits) - 1)
    return values.reshape(*packed.shape[:-1], -1)[..., :count]


def dequantize(weight, scales, zero_points=None, bits=8, block_size=None,
               columns=None):
    """moe.dequantize: packed bytes [..., N, ceil(K * bits / 8)] -> floats
    [..., N, K] (K = columns, default every packed value)."""
    columns = weight.shape[-1] * 8 // bits if columns is None else columns
    q = _unpack(weight, bits, columns).astype(np.float64)
    scales = np.asarray(scales, dtype=np.float64)
    if zero_points is None:
        zero = np.full(scales.shape, float(1 << (bits - 1)))
    else:
        # The scales' shape, its last dim packed like the weights.
        zero = _unpack(zero_points, bits, scales.shape[-1]).astype(np.float64)
    if block_size is None:
        scales, zero = scales[..., None], zero[..., None]
    else:
        # One scale per block of block_size values of a row.
        block = np.arange(columns) // block_size
        scales, zero = scales[..., block], zero[..., block]
    return (q - zero) * scales
