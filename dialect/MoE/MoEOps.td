//===- MoEOps.td - moe dialect operations ------------------*- tablegen -*-===//
//
// Every op is pure and value-semantic. Shape relations between operands are
// checked by the C++ verifiers (lib/Dialect/MoE/IR/MoEOps.cpp), each with a
// message that names the relation that failed.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_OPS_TD
#define MOE_OPS_TD

include "MoEDialect.td"
include "MoEAttrs.td"
include "mlir/IR/BuiltinAttributes.td"
include "mlir/IR/CommonAttrConstraints.td"
include "mlir/IR/CommonTypeConstraints.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

def MoE_FloatTensor : RankedTensorOf<[AnyFloat]>;
def MoE_IndexTensor : RankedTensorOf<[I32, I64]>;

// The activation of an expert FFN, shared by moe.experts and moe.activation.
// For a gated FFN (gate_layout present) with gate g and up u:
//   if limit:  g = min(g, limit), u = clamp(u, -limit, limit)
//   out = act(g) * (u + beta)
// otherwise out = act(h). alpha scales the sigmoid argument of silu
// (x * sigmoid(alpha * x)), kappa and lambda parametrize apa / aglu.
defvar MoE_ActivationArgs = (ins
  MoE_ActivationAttr:$activation,
  OptionalAttr<MoE_GateLayoutAttr>:$gate_layout,
  OptionalAttr<F64Attr>:$alpha,
  OptionalAttr<F64Attr>:$beta,
  OptionalAttr<F64Attr>:$limit,
  OptionalAttr<F64Attr>:$kappa,
  OptionalAttr<F64Attr>:$lambda
);

// The routing attributes, shared by moe.route and moe.fused_route; their
// meaning is documented with moe.route.
defvar MoE_RoutingArgs = (ins
  MoE_RoutingModeAttr:$mode,
  MoE_ScoreFunctionAttr:$score,
  OptionalAttr<ConfinedAttr<I64Attr, [IntPositive]>>:$k,
  UnitAttr:$renormalize,
  OptionalAttr<F64Attr>:$epsilon,
  UnitAttr:$renormalize_clamp,
  OptionalAttr<F64Attr>:$jitter_eps,
  OptionalAttr<F64Attr>:$scaling_factor,
  OptionalAttr<ConfinedAttr<I64Attr, [IntPositive]>>:$num_groups,
  OptionalAttr<ConfinedAttr<I64Attr, [IntPositive]>>:$topk_groups,
  OptionalAttr<ConfinedAttr<I64Attr, [IntPositive]>>:$group_topk,
  OptionalAttr<F64Attr>:$top_p,
  OptionalAttr<F64Attr>:$capacity_factor,
  OptionalAttr<DenseBoolArrayAttr>:$expert_mask,
  OptionalAttr<F64Attr>:$skip_ratio
);

// Accessors with the documented defaults, shared by the routing ops.
defvar MoE_RoutingAccessors = [{
    /// Experts per group considered for a group's score (default 2).
    int64_t getGroupTopKOrDefault() { return getGroupTopk().value_or(2); }
    double getScalingFactorOrDefault() {
      auto attr = getScalingFactorAttr();
      return attr ? attr.getValueAsDouble() : 1.0;
    }
    double getEpsilonOrDefault() {
      auto attr = getEpsilonAttr();
      return attr ? attr.getValueAsDouble() : 0.0;
    }
}];

//===----------------------------------------------------------------------===//
// moe.gate
//===----------------------------------------------------------------------===//

def MoE_GateOp : MoE_Op<"gate", [Pure]> {
  let summary = "router linear layer: logits = x * W^T (+ bias)";
  let description = [{
    Computes router logits `[T, E]` from tokens `x[T, H]` and the router
    weight, stored `[E, H]` (torch `nn.Linear` layout) or, with
    `weight_transposed`, `[H, E]` (ONNX `MatMul` layout), plus an optional
    bias `[E]` (gpt-oss). The op owns the router weight so that pruning and
    merging passes can edit router rows locally. Several gates may feed
    routes that share one expert set (multi-gate MoE).

    ```mlir
    %logits = moe.gate %x, %wr : (tensor<?x4096xf32>, tensor<8x4096xf32>) -> tensor<?x8xf32>
    ```
  }];
  let arguments = (ins MoE_FloatTensor:$input, MoE_FloatTensor:$weight,
                       Optional<MoE_FloatTensor>:$bias,
                       UnitAttr:$weight_transposed);
  let results = (outs MoE_FloatTensor:$logits);
  let assemblyFormat = [{
    $input `,` $weight (`,` $bias^)? attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// Number of experts the router scores.
    int64_t getNumExperts();
    /// Hidden size the router reads.
    int64_t getHiddenSize();
  }];
}

//===----------------------------------------------------------------------===//
// moe.route
//===----------------------------------------------------------------------===//

def MoE_RouteOp : MoE_Op<"route", [Pure]> {
  let summary = "router scores, expert selection and routing weights";
  let description = [{
    Turns router logits `[T, E]` into routing weights and selected indices.

    Scores: `softmax` over all experts, `sigmoid` per expert,
    `softmax_after_topk` (select on the raw logits, softmax over the chosen),
    or `sparsemixer` (PhiMoE, inference mode; token_choice with k = 2 only,
    no renormalization, selection bias or groups): slot 1 takes the best
    logit `m1 = l[i1]`, slot 2 the best `m2 = l[i2]` of the others; slot j's
    weight is the softmax at `i_j` over the experts `e` (other than `i1` for
    slot 2) with `(m_j - l[e]) / max(|l[e]|, m_j) <= 2 * jitter_eps`
    (`jitter_eps` default 0).
    `expert_mask` (one bool per expert) removes experts before anything else:
    their logits count as -inf (pruned experts, exclusive experts of
    multi-gate models).

    Selection runs on `score + selection_bias` when the bias operand is
    given (aux-loss-free balancing) while weights always come from the
    unbiased scores. With `num_groups` / `topk_groups`, experts are split into
    `num_groups` equal groups, a group scores the sum of its `group_topk`
    (default 2) best selection scores, and only the `topk_groups` best groups
    stay selectable. Ties pick the lower index.

    Weights: the scores of the chosen experts; with `renormalize` divided by
    `(sum + epsilon)`, or with `renormalize_clamp` by `max(sum, epsilon)`
    (Ernie 4.5); then multiplied by `scaling_factor` (default 1).

    `skip_ratio` = β (token choice, k >= 2; dynamic expert skipping,
    MOE_REFERENCE §5): after the weights are computed, every slot s >= 1
    whose weight is below β times the first slot's (`w_s < β * w_0`) is
    dropped: id -1 and weight 0, so `moe.dispatch` gives it no row and the
    expert is not computed for that token. The other weights are not
    renormalized (as in the paper). Renormalization and scaling multiply all
    of a token's weights alike, so the test is the same on the raw scores.
    For k = 2 this is "drop the second expert when w_1 < β * w_0"; β = 0
    skips nothing, β = 1 keeps only the first slot unless others tie it.

    Modes and result shapes:
    * `token_choice`: `k` experts per token; weights `[T, k]` float,
      indices `[T, k]` expert ids in descending score order.
    * `top_p`: per token the shortest descending prefix whose score sum
      reaches `top_p`, at most `k` experts; weights are not renormalized;
      unused slots hold id -1 and weight 0. Shapes as for token choice.
    * `expert_choice`: each expert takes its best `C = min(T, ceil(T *
      capacity_factor / E))` tokens; indices `[E, C]` are token ids,
      weights `[T, E]` are the dense gate (the score where the expert took
      the token, 0 elsewhere). Each expert ranks the tokens by their plain
      scores, ties to the lower token, and lists them best first; an
      `expert_mask` or `scaling_factor` is accepted only in its trivial
      form (all experts, 1).

    ```mlir
    // DeepSeek-V3
    %w, %ids = moe.route <token_choice> <sigmoid> %logits bias(%b : tensor<256xf32>)
        {k = 8 : i64, renormalize, epsilon = 1.0e-20 : f64, scaling_factor = 2.5 : f64,
         num_groups = 8 : i64, topk_groups = 4 : i64}
        : tensor<?x256xf32> -> tensor<?x8xf32>, tensor<?x8xi32>
    ```
  }];
  let arguments = !con((ins
    MoE_FloatTensor:$logits,
    Optional<MoE_FloatTensor>:$selection_bias),
    MoE_RoutingArgs);
  let results = (outs MoE_FloatTensor:$weights, MoE_IndexTensor:$indices);
  let assemblyFormat = [{
    $mode $score $logits (`bias` `(` $selection_bias^ `:` type($selection_bias) `)`)?
    attr-dict `:` type($logits) `->` type($weights) `,` type($indices)
  }];
  let hasVerifier = 1;
  let hasCanonicalizer = 1;
  let extraClassDeclaration = MoE_RoutingAccessors # [{
    int64_t getNumExperts();
    /// Expert-choice capacity for `numTokens` tokens.
    static int64_t getExpertCapacity(int64_t numTokens, int64_t numExperts,
                                     double capacityFactor);
  }];
}

//===----------------------------------------------------------------------===//
// moe.fused_route
//===----------------------------------------------------------------------===//

def MoE_FusedRouteOp : MoE_Op<"fused_route",
                              [Pure, AttrSizedOperandSegments]> {
  let summary = "router linear layer and routing in one op";
  let description = [{
    `moe.gate` followed by `moe.route`, as one op so that one kernel
    computes the router logits of a token, its scores, the selection and the
    weights without materializing the `[T, E]` logits (`--moe-fuse-gating`
    forms it). Operands: the tokens `input[T, H]`, the router `weight`
    (`[E, H]`, or `[H, E]` with `weight_transposed`), an optional router
    `bias[E]` and an optional `selection_bias[E]`; attributes and results
    are those of `moe.route`.

    ```mlir
    %w, %ids = moe.fused_route <token_choice> <softmax> %x, %wr
        {k = 2 : i64, renormalize}
        : tensor<?x4096xbf16>, tensor<8x4096xbf16> -> tensor<?x2xf32>, tensor<?x2xi64>
    ```
  }];
  let arguments = !con((ins
    MoE_FloatTensor:$input,
    MoE_FloatTensor:$weight,
    Optional<MoE_FloatTensor>:$bias,
    Optional<MoE_FloatTensor>:$selection_bias,
    UnitAttr:$weight_transposed),
    MoE_RoutingArgs);
  let results = (outs MoE_FloatTensor:$weights, MoE_IndexTensor:$indices);
  let assemblyFormat = [{
    $mode $score $input `,` $weight (`,` $bias^ `:` type($bias))?
    (`selection_bias` `(` $selection_bias^ `:` type($selection_bias) `)`)?
    attr-dict `:` type($input) `,` type($weight) `->` type($weights) `,`
    type($indices)
  }];
  let hasVerifier = 1;
  let hasCanonicalizer = 1;
  let extraClassDeclaration = MoE_RoutingAccessors # [{
    int64_t getNumExperts();
    /// The [T, E] type of the logits this op computes internally.
    mlir::RankedTensorType getLogitsType();
  }];
}

//===----------------------------------------------------------------------===//
// moe.dispatch
//===----------------------------------------------------------------------===//

def MoE_DispatchOp : MoE_Op<"dispatch", [Pure, AttrSizedOperandSegments]> {
  let summary = "gather token rows grouped by expert";
  let description = [{
    Permutes token rows `input[T, H]` so that rows routed to the same expert
    are contiguous, in ascending expert order and, within an expert, in
    ascending token order (then slot order).

    Token choice (default): `indices[T, k]` holds expert ids (-1 = unused
    slot). Results: `rows[T*k, H]`, `offsets[E+1]` (rows of expert e are
    `offsets[e] .. offsets[e+1]`, rows past `offsets[E]` are zero), and
    `row_map[T, k]` (row of each slot, -1 for unused or dropped slots).

    With `capacity`, an expert keeps at most that many rows; `drop_policy`
    says which: `in_order` keeps the earliest tokens, `by_weight` the largest
    routing weights (given by the `weights[T, k]` operand). Dropped slots
    get row -1, so `moe.combine` adds nothing for them.

    With `group_size` (an `index` operand G > 0, in_order only), the
    capacity is counted per group of G consecutive tokens instead of over
    all of them: token t is ranked only among tokens `t - t mod G ..` of its
    group, so every group may send up to `capacity` rows to each expert.
    Switch Transformers counts capacity per sequence this way: the tokens
    are the flattened `[batch, seq]` and G is the (run-time) sequence
    length. Rows keep the order above (experts ascending, tokens ascending).

    Expert choice (`expert_choice`): `indices[E, C]` holds the token ids each
    expert chose; `rows[E*C, H]`, `offsets[e] = e*C`, `row_map[T, E]`.

    With `scale_rows` (token choice only), each row is the token scaled by
    its slot's routing weight: `rows[row_map[t, s]] = weights[t, s] *
    input[t]`, the weight rounded to the rows' type first and the product
    rounded once. Llama 4 scales the experts' input this way instead of
    their output; its `moe.combine` then has no weights. The scaling happens
    in the gather, so the scaled tokens are never materialized.

    `expert_map` (token choice only) renames the ids of `indices` before
    grouping: a slot with id `i >= 0` goes to expert `expert_map[i]`. Its
    size is the router's expert count, its values are in
    `[0, num_experts)`. Merged experts use it (`--moe-merge-experts`: every
    original id of a group maps to the merged expert); two slots of one token
    that map to the same expert stay two rows, so `moe.combine` still adds
    both routing weights.

    ```mlir
    %rows, %offsets, %map = moe.dispatch %x, %ids {num_experts = 8 : i64}
        : tensor<?x4096xf32>, tensor<?x2xi64> -> tensor<?x4096xf32>, tensor<9xi64>, tensor<?x2xi64>
    ```
  }];
  let arguments = (ins
    MoE_FloatTensor:$input,
    MoE_IndexTensor:$indices,
    Optional<MoE_FloatTensor>:$weights,
    Optional<Index>:$group_size,
    ConfinedAttr<I64Attr, [IntPositive]>:$num_experts,
    UnitAttr:$expert_choice,
    UnitAttr:$scale_rows,
    OptionalAttr<ConfinedAttr<I64Attr, [IntPositive]>>:$capacity,
    OptionalAttr<MoE_DropPolicyAttr>:$drop_policy,
    OptionalAttr<DenseI64ArrayAttr>:$expert_map
  );
  let results = (outs MoE_FloatTensor:$rows, MoE_IndexTensor:$offsets,
                      MoE_IndexTensor:$row_map);
  let assemblyFormat = [{
    $input `,` $indices (`weights` `(` $weights^ `:` type($weights) `)`)?
    (`group_size` `(` $group_size^ `)`)?
    attr-dict `:` type($input) `,` type($indices) `->` type($rows) `,`
    type($offsets) `,` type($row_map)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// moe.experts
//===----------------------------------------------------------------------===//

def MoE_ExpertsOp : MoE_Op<"experts", [Pure, AttrSizedOperandSegments]> {
  let summary = "the expert FFNs over rows grouped by expert";
  let description = [{
    Applies expert `e`'s FFN to rows `offsets[e] .. offsets[e+1]` of
    `rows[N, H]`; rows past `offsets[E]` produce zeros.

    Weights are listed per FFN stage: `up, down` for an ungated FFN or a
    fused gated one (`interleaved` / `concatenated`), `gate, up, down` for
    `gate_layout = separate`. Each stage is either one stacked tensor
    `[E, in, out]` for all experts, or one tensor `[in, out]` per expert
    (expert-major: e0's stages, then e1's, ...), which allows experts of
    different widths (heterogeneous MoE). `transposed_weights` means every
    weight is stored `[.., out, in]` instead (torch / onnxruntime layout).
    Biases are optional, one per weight: `[E, out]` stacked or `[out]`.

    The activation attributes are described with `moe.activation`.

    ```mlir
    // Mixtral: SwiGLU with separate gate and up projections
    %y = moe.experts %rows, %offsets weights(%wg, %wu, %wd)
        {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<separate>}
        : (tensor<?x4096xf32>, tensor<9xi64>, tensor<8x4096x14336xf32>,
           tensor<8x4096x14336xf32>, tensor<8x14336x4096xf32>) -> tensor<?x4096xf32>
    ```
  }];
  let arguments = !con((ins
    MoE_FloatTensor:$rows,
    MoE_IndexTensor:$offsets,
    Variadic<MoE_FloatTensor>:$weights,
    Variadic<MoE_FloatTensor>:$biases,
    UnitAttr:$transposed_weights),
    MoE_ActivationArgs);
  let results = (outs MoE_FloatTensor:$result);
  let assemblyFormat = [{
    $rows `,` $offsets `weights` `(` $weights `)` (`biases` `(` $biases^ `)`)?
    attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
  let hasCanonicalizer = 1;
  let extraClassDeclaration = [{
    int64_t getNumExperts();
    /// True when every stage is one [E, ...] tensor.
    bool isStacked();
    /// Weights per expert: 3 for a separate gated FFN, 2 otherwise.
    unsigned getNumStages();
    /// Weight of `stage` for `expert`; for stacked experts the stacked tensor.
    mlir::Value getStageWeight(unsigned expert, unsigned stage);
  }];
}

//===----------------------------------------------------------------------===//
// moe.dequantize
//===----------------------------------------------------------------------===//

def MoE_DequantizeOp : MoE_Op<"dequantize", [Pure]> {
  let summary = "integer-quantized weights to floats";
  let description = [{
    Expands quantized weights, stored `[..., N, ceil(K * bits / 8)]` bytes,
    into floats `[..., N, K]`, so that `moe.experts` can read quantized
    expert weights while the packed bytes stay what the model file holds
    (onnxruntime's `com.microsoft.QMoE` layout):

    `result[..., n, k] = (q[..., n, k] - zp[..., n, b]) * scales[..., n, b]`

    where `q[..., n, k]` is bits `(k % (8 / bits)) * bits` and up of byte
    `k / (8 / bits)` of row `n` (low bits first), and `b = k / block_size`
    (block-wise scales `[..., N, ceil(K / block_size)]`) or, without
    `block_size`, `b` is dropped (one scale per row: `scales[..., N]`).
    `zero_points`, when given, has the shape of `scales` with its last dim
    packed like the weights (`ceil(last * bits / 8)` bytes, low bits first);
    without it every zero point is `2^(bits - 1)` (128 for 8 bits, 8 for 4).
    Bytes are signless `i8` read as unsigned (the raising of `uint8`
    initializers reinterprets their bytes without copying them).

    ```mlir
    %w = moe.dequantize %q, %scales {bits = 4 : i64}
        : (tensor<8x1024x2048xi8>, tensor<8x1024xf32>) -> tensor<8x1024x4096xf32>
    ```
  }];
  let arguments = (ins
    RankedTensorOf<[I8]>:$weight,
    MoE_FloatTensor:$scales,
    Optional<RankedTensorOf<[I8]>>:$zero_points,
    ConfinedAttr<I64Attr, [IntIsOneOf<[2, 4, 8]>]>:$bits,
    OptionalAttr<ConfinedAttr<I64Attr, [IntPositive]>>:$block_size);
  let results = (outs MoE_FloatTensor:$result);
  let assemblyFormat = [{
    $weight `,` $scales (`zero_points` `(` $zero_points^ `)`)? attr-dict `:`
    functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// moe.grouped_matmul
//===----------------------------------------------------------------------===//

def MoE_GroupedMatmulOp : MoE_Op<"grouped_matmul",
                                 [Pure, AttrSizedOperandSegments]> {
  let summary = "row groups times per-group matrices";
  let description = [{
    `result[r, :] = lhs[r, :K_e] * rhs_e (+ bias_e)` for every row `r` in
    `offsets[e] .. offsets[e+1]`; rows past `offsets[E]` are zero.

    `rhs` is one stacked tensor `[E, K, M]` or one `[K_e, M_e]` tensor per
    group (different widths). Then `lhs` has `max K_e` columns (group e reads
    the first `K_e`) and the result `max M_e` columns (columns past `M_e`
    are zero). `transpose_rhs` stores each matrix `[M, K]`. Biases, if
    any, are `[E, M]` or one `[M_e]` per group.

    `group_extents = array<i64: K_0, M_0, K_1, M_1, ...>` (stacked rhs only)
    gives each group's own `[K_e, M_e]`: group `e` reads the first `K_e`
    columns of its rows and the leading `[K_e, M_e]` block of its matrix
    (`[M_e, K_e]` with `transpose_rhs`), and writes the first `M_e` columns
    of the result, zeros past them; the rest of the matrix and of its bias
    row is not read. Heterogeneous experts stored zero-padded in one stacked
    tensor (moe-prepare-gpu-layers) carry them, so that kernels skip the
    padding.

    `panels` stores the rhs in column panels: one stacked `[E, M / P, K, P]`
    or one `[M / P, K, P]` per group (all of one shape). Panel `p` of a
    group is columns `p * P .. p * P + P` of its `[K, M]` matrix, a
    contiguous row-major `[K, P]` block (the CPU lowering walks the
    reduction of one panel at a time; see moe-pack-panels). Biases are as
    for a stacked or per-group rhs.

    ```mlir
    %y = moe.grouped_matmul %x, %w offsets(%off) {panels}
        : (tensor<?x1024xf32>, tensor<8x88x1024x64xf32>, tensor<9xi64>)
        -> tensor<?x5632xf32>
    ```
  }];
  let arguments = (ins
    MoE_FloatTensor:$lhs,
    Variadic<MoE_FloatTensor>:$rhs,
    MoE_IndexTensor:$offsets,
    Variadic<MoE_FloatTensor>:$bias,
    UnitAttr:$transpose_rhs,
    UnitAttr:$panels,
    OptionalAttr<DenseI64ArrayAttr>:$group_extents);
  let results = (outs MoE_FloatTensor:$result);
  let assemblyFormat = [{
    $lhs `,` $rhs `offsets` `(` $offsets `)` (`bias` `(` $bias^ `)`)?
    attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    int64_t getNumGroups();
    mlir::LogicalResult verifyPanels(int64_t groups);
    mlir::LogicalResult verifyGroupExtents(int64_t groups);
    /// One [E, K, M] (or [E, M, K]) rhs; panel layouts are not stacked.
    bool isStacked() { return !getPanels() && getRhs().size() == 1 &&
        mlir::cast<mlir::RankedTensorType>(getRhs()[0].getType()).getRank() == 3; }
  }];
}

//===----------------------------------------------------------------------===//
// moe.scatter_columns
//===----------------------------------------------------------------------===//

def MoE_ScatterColumnsOp : MoE_Op<"scatter_columns", [Pure]> {
  let summary = "add each group's columns into chosen columns of a tensor";
  let description = [{
    `result = dest`, then for every group `e`, every row `r` in
    `offsets[e] .. offsets[e+1]` and every `j` with `columns[e, j] >= 0`:
    `result[r, columns[e, j]] += source[r, j]`. Rows past `offsets[E]` are
    `dest`'s. `columns[E, m]` has one row per group and one entry per column
    of `source[N, m]`; -1 skips a column (groups with fewer columns), a
    repeated index adds twice.

    `unique_columns` says that no group repeats an index (other than -1),
    so a row's adds touch distinct columns and may run in parallel (the GPU
    kernel adds them with one thread per column instead of one per row).
    `--moe-compress-experts` sets it; the verifier checks it on constant
    columns.

    It adds the row-sparse residual of a compressed expert
    (`--moe-compress-experts`): `source` is the grouped matmul of the rows
    with the kept rows of each expert's residual, `columns` the output
    neurons they belong to, `dest` the low-rank product.

    ```mlir
    %y = moe.scatter_columns %s into %lr columns(%idx) offsets(%offsets)
        : (tensor<?x6xf32>, tensor<?x64xf32>, tensor<4x6xi32>, tensor<5xi64>)
        -> tensor<?x64xf32>
    ```
  }];
  let arguments = (ins MoE_FloatTensor:$source, MoE_FloatTensor:$dest,
                       MoE_IndexTensor:$columns, MoE_IndexTensor:$offsets,
                       UnitAttr:$unique_columns);
  let results = (outs MoE_FloatTensor:$result);
  let assemblyFormat = [{
    $source `into` $dest `columns` `(` $columns `)` `offsets` `(` $offsets `)`
    attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// moe.activation
//===----------------------------------------------------------------------===//

def MoE_ActivationOp : MoE_Op<"activation", [Pure, AttrSizedOperandSegments]> {
  let summary = "expert activation between the two grouped matmuls";
  let description = [{
    Element-wise activation of the first projection's rows.

    Ungated: `result = act(input)`, same shape. Gated (`gate_layout`): with
    `separate`, `input` is the gate and `up` the up projection; with
    `interleaved` columns alternate gate/up; with `concatenated` the first
    half of the columns is gate. Then, if `limit` is set,
    `g = min(g, limit)` and `u = clamp(u, -limit, limit)`, and
    `result = act(g) * (u + beta)` (`beta` default 0): SwiGLU is `silu`,
    GeGLU `gelu`, gpt-oss's clamped SwiGLU `silu` with `alpha = 1.702`,
    `beta = 1`, `limit = 7`.

    `silu` is `x * sigmoid(alpha * x)` (alpha default 1). `apa` is
    `(lambda * exp(-kappa * x) + 1) ^ (-1 / lambda)` and `aglu` is
    `x * apa(x)` (kappa, lambda default 1).

    Heterogeneous experts pass `offsets` and `widths` (the output width of
    each group); columns past a group's width are zero.
  }];
  let arguments = !con((ins
    MoE_FloatTensor:$input,
    Optional<MoE_FloatTensor>:$up,
    Optional<MoE_IndexTensor>:$offsets,
    OptionalAttr<DenseI64ArrayAttr>:$widths),
    MoE_ActivationArgs);
  let results = (outs MoE_FloatTensor:$result);
  let assemblyFormat = [{
    $input (`,` $up^)? (`offsets` `(` $offsets^ `)`)? attr-dict `:`
    functional-type(operands, results)
  }];
  let hasVerifier = 1;
  let hasCanonicalizer = 1;
}

//===----------------------------------------------------------------------===//
// moe.combine
//===----------------------------------------------------------------------===//

def MoE_CombineOp : MoE_Op<"combine", [Pure]> {
  let summary = "weighted sum of each token's expert rows";
  let description = [{
    `result[t, :] = sum_s weights[t, s] * rows[row_map[t, s], :]` over the
    slots `s` with `row_map[t, s] >= 0`; tokens without a valid slot get 0.
    `row_map` comes from `moe.dispatch`; `weights` from `moe.route` (`[T, k]`
    for token choice and top-p, `[T, E]` for expert choice).

    Without `weights` every valid slot adds with weight 1: the routing
    weights were applied to the experts' input (`moe.dispatch scale_rows`,
    Llama 4).
  }];
  let arguments = (ins MoE_FloatTensor:$rows, MoE_IndexTensor:$row_map,
                       Optional<MoE_FloatTensor>:$weights);
  let results = (outs MoE_FloatTensor:$result);
  let assemblyFormat = [{
    $rows `,` $row_map (`,` $weights^)? attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

#endif // MOE_OPS_TD
