//===- Passes.td - moe dialect transformation passes -------*- tablegen -*-===//

#ifndef MOE_PASSES_TD
#define MOE_PASSES_TD

include "mlir/Pass/PassBase.td"

def MoEExpandExperts : Pass<"moe-expand-experts"> {
  let summary = "Rewrite moe.experts as grouped matmuls around moe.activation";
  let description = [{
    Expands every `moe.experts` into
    `moe.grouped_matmul` (up, or gate and up) -> `moe.activation` ->
    `moe.grouped_matmul` (down), the form that the CPU and GPU backends
    lower. Stacked, per-expert (heterogeneous) and transposed weights and
    biases carry over unchanged: no weight is copied or re-laid out.
  }];
  let dependentDialects = [];
}

def MoEFuseGating : Pass<"moe-fuse-gating"> {
  let summary = "Fuse the router linear layer with routing (moe.fused_route)";
  let description = [{
    Replaces `moe.gate` + `moe.route` by one `moe.fused_route` when the
    route is the only user of the logits, so that the backends compute the
    router logits, scores, selection and weights of a token in one kernel
    without writing the `[T, E]` logits to memory. Logits that are used
    elsewhere (an auxiliary loss, a returned value) keep the unfused form.
  }];
}

def MoEPruneExperts : Pass<"moe-prune-experts", "mlir::ModuleOp"> {
  let summary = "Remove rarely used experts, as measured on calibration data";
  let description = [{
    Frequency pruning (MOE_REFERENCE §5): in every raised layer keep the
    experts that calibration (`python -m moe_opt.calibrate`, file `stats`)
    saw used most, ties to the lower index. A pruned expert's router row
    (and router / selection bias entry, `expert_mask` entry) and its weights
    are removed: new constants hold the kept slices of stacked weights, and
    per-expert weights are dropped. Kept experts are renumbered in their
    original order (`moe.original_experts` on the route lists the original
    id of each; pruning again composes; experts that `expert_mask` removes
    go first), so routing over the rest is routing with the pruned
    logits at -inf: with softmax scores the weights of the chosen experts are
    unchanged when the route renormalizes over k, or when scores are
    per-expert (sigmoid), so pruning never-selected experts changes no
    output; without renormalization softmax scores grow over the smaller set.

    The statistics must describe the module (layer count, expert counts,
    router and expert weight initializer names); otherwise the pass fails,
    says what differs and leaves the IR unchanged. Layers with group-limited
    routing or expert-choice routing are refused (their groups and capacity
    depend on the expert count). One remark per layer lists the pruned
    experts.

    `criterion=enumeration` (Lu et al. 2024) needs the layer inputs that
    `python -m moe_opt.calibrate --input-sample N` records. Per layer it
    tries every set of kept experts of the requested size (among the
    selectable ones; masked-out experts are pruned first) and keeps the set
    with the lowest ||Z_full - Z_pruned||_F over the sample tokens, where Z
    is the routed layer output (sum over slots of routing weight times
    expert FFN output; a shared expert cancels out, dispatch capacity is
    not modelled) and Z_pruned routes with the pruned experts' logits at
    -inf exactly as moe.route does with expert_mask. Near ties (within 1e-9
    of ||Z_full||) go to the first set in id order. More than `max-subsets`
    sets (C(64, 32) for 64 experts keeping 32) is refused with an error
    rather than approximated. A second remark per layer gives the chosen
    set, its error, and the error of the set frequency pruning would keep.
  }];
  let options = [
    Option<"stats", "stats", "std::string", "",
           "calibration statistics (JSON, docs/Calibration.md)">,
    Option<"keep", "keep", "int64_t", "0",
           "experts to keep per layer (0: use keep-fraction)">,
    Option<"keepFraction", "keep-fraction", "double", "0.0",
           "fraction of each layer's experts to keep, rounded up">,
    Option<"criterion", "criterion", "std::string", "\"frequency\"",
           "how the kept experts are chosen: frequency (usage count) or "
           "enumeration (least layer output error)">,
    Option<"maxSubsets", "max-subsets", "int64_t", "100000",
           "criterion=enumeration refuses a layer with more subsets to try">,
  ];
}

def MoECompressExperts : Pass<"moe-compress-experts", "mlir::ModuleOp"> {
  let summary = "Low-rank plus row-sparse expert weights (MC-SMoE compression)";
  let description = [{
    MOE_REFERENCE §4 step 7. Every expert weight matrix W of the chosen
    stages, per expert, in torch layout `[out, in]`, becomes
    `W ~ L * R + S`: `L = U_r * diag(sqrt(sigma))` `[out, r]` and
    `R = diag(sqrt(sigma)) * V_r^T` `[r, in]` from the truncated SVD of W
    (Eigen's `BDCSVD` in double precision), and `S = W - L * R` (with L and
    R as stored) keeps only its `ceil(keep-fraction * out)` rows of largest
    L2 norm, per expert (ties to the lower row); a row of W is one output
    neuron. A fused gate/up projection (`interleaved` / `concatenated`) is
    one W; `separate` gate and up are two.

    The layer is expanded (as `--moe-expand-experts` does) and a compressed
    stage's product `x * W^T (+ b)` becomes
    `moe.grouped_matmul(moe.grouped_matmul(x, R^T [E, in, r]), L^T [E, r, out], b)`
    plus `moe.scatter_columns` of `moe.grouped_matmul(x, S_kept^T [E, in, m])`
    into the output columns `columns [E, m]` (i32) of each expert. Per-expert
    (heterogeneous) weights give per-expert factors (columns padded with
    -1). New weights keep the element type of W (f16 / bf16 are compressed
    in f32 arithmetic and rounded once) and are resources when W was one.

    A stage is skipped (the remark says so) unless its compressed bytes
    `r * (in + out) + m * in` elements plus 4 bytes per kept index are below
    `(1 - min-saving)` times the bytes of W. One remark per layer gives, per
    stage, the bytes before and after and the relative Frobenius error
    `||W - (L * R + S)|| / ||W||` over all experts of the stage.

    Refused, with the IR unchanged: non-constant weights of a chosen stage,
    `rank >= min(in, out)` of any matrix, bad options.
  }];
  let options = [
    Option<"rank", "rank", "int64_t", "0",
           "rank r of the low-rank factors (required, >= 1)">,
    Option<"keepFraction", "keep-fraction", "double", "0.0",
           "fraction of each expert's output rows of S kept, rounded up "
           "(0: low rank only)">,
    Option<"stages", "stages", "std::string", "\"all\"",
           "stages to compress: all, up (gate and up) or down">,
    Option<"minSaving", "min-saving", "double", "0.0",
           "compress a stage only if it saves more than this fraction of "
           "its bytes (negative: allow growth)">,
  ];
  let dependentDialects = ["mlir::arith::ArithDialect"];
}

def MoEBalanceBias : Pass<"moe-balance-bias", "mlir::ModuleOp"> {
  let summary = "Aux-loss-free balancing bias from recorded router logits";
  let description = [{
    Runs the aux-loss-free bias update (MOE_REFERENCE §3) offline on the
    router logits recorded by `python -m moe_opt.calibrate --logits-sample N`:
    each iteration routes every recorded token with the layer's own routing
    (selection on score + bias), counts the load c_i of every expert and
    updates `b_i += u * sign(mean(c) - c_i)` for sigmoid scores,
    `b_i += u * (mean(c) - c_i)` for the others, until
    MaxVio = (max_i c_i - mean(c)) / mean(c) is at most `target` or
    `max-iterations` updates were made. The update starts from the route's
    selection bias when it has a constant one. The bias with the lowest
    MaxVio seen becomes `moe.route`'s selection-bias operand (created if
    absent), so the routing weights still come from the unbiased scores.
    A remark per layer reports MaxVio before and after.

    The proportional (non-sigmoid) step is in tokens, so it grows with the
    number of recorded tokens: past a few hundred tokens, lower
    `update-rate` (about 0.1 / tokens); the best bias is kept either way.
  }];
  let options = [
    Option<"stats", "stats", "std::string", "",
           "calibration statistics with router_logits (docs/Calibration.md)">,
    Option<"target", "target", "double", "0.05",
           "stop once MaxVio on the recorded tokens is at most this">,
    Option<"maxIterations", "max-iterations", "int64_t", "1000",
           "stop after this many bias updates">,
    Option<"updateRate", "update-rate", "double", "1e-3",
           "the bias update speed u">,
  ];
  let dependentDialects = ["::moe::onnx::ONNXDialect"];
}

def MoEMergeExperts : Pass<"moe-merge-experts", "mlir::ModuleOp"> {
  let summary = "Merge experts into their most similar dominant expert (MC-SMoE)";
  let description = [{
    MC-SMoE merging (MOE_REFERENCE §4 steps 1-6) from calibration statistics
    (`python -m moe_opt.calibrate`, file `stats`: `usage` and
    `logit_similarity`, docs/Calibration.md):

    1. Dominant experts: the `keep` (or `ceil(keep-fraction * E)`) most used
       experts of each layer, ties to the lower index (`dominant=per-layer`);
       or, with `dominant=global`, one threshold on usage normalized by the
       layer's selections over all layers: each layer's most used expert,
       then the most used of the rest, `keep` (or `ceil(keep-fraction *
       all experts)`) in total. Experts that `expert_mask` removes rank last.
    2. Grouping: every other expert joins the dominant expert whose
       router-logit column is most similar (cosine, `logit_similarity`), ties
       to the lower index.
    3. Alignment (`align=true`): each member's hidden neurons are permuted to
       match the group's dominant expert, maximizing
       `C = W_in,ref W_in,tgt^T + W_out,ref^T W_out,tgt` (gated experts add
       the gate, up and down terms) with the Hungarian method
       (`dlib::max_cost_assignment`, Debian libdlib-dev; it solves integer
       problems, so the costs are scaled to int64 with 2^40 for the largest
       magnitude). Gate/up columns, their biases and down rows move
       together, which leaves the member's function unchanged.
    4. Merge: every weight and bias of a group becomes
       `sum_i f_i W_i / sum_i f_i` with the usage counts `f_i`
       (`weighting=frequency`) or 1 (`weighting=uniform`). A group whose
       members were never selected is averaged uniformly (a remark says so).
       A group of one expert keeps its weights bit for bit.
    5. The router is unchanged: `moe.dispatch` gets `num_experts` = the
       merged count and an `expert_map` sending every original id of a group
       to the merged expert; `moe.experts` gets the merged weights (new
       constants, resources named `NAME.merged` when the originals were
       resources) and `moe.merged_experts`, the original ids of each merged
       expert (through `moe.original_experts` of an earlier pruning).

    Deviations from the reference: experts of different hidden widths
    (heterogeneous MoE) cannot be averaged, so an expert joins the most
    similar dominant expert of its own width, and stays its own expert (a
    remark says which and why) when there is none. `align-only` is a debug
    mode: experts are grouped and aligned but not merged, so the module must
    compute exactly what it did.

    One remark per layer lists the groups (new expert = [reference,
    members...]) and how many hidden neurons alignment moved. Refused, with
    the IR unchanged: statistics that do not describe the module or lack
    `logit_similarity`, expert-choice or group-limited routing, a
    capacity-limited dispatch, a layer merged before, and weights or biases
    that are not f32/f16/bf16 constants. The router logits may have other
    users: merging does not change them. Run `--moe-prune-experts` before
    merging (it refuses merged layers).
  }];
  let options = [
    Option<"stats", "stats", "std::string", "",
           "calibration statistics (JSON, docs/Calibration.md)">,
    Option<"keep", "keep", "int64_t", "0",
           "dominant experts per layer (global: in total; 0: use "
           "keep-fraction)">,
    Option<"keepFraction", "keep-fraction", "double", "0.0",
           "fraction of the experts that are dominant, rounded up">,
    Option<"dominant", "dominant", "std::string", "\"per-layer\"",
           "how dominant experts are chosen: per-layer or global">,
    Option<"align", "align", "bool", "true",
           "permute hidden neurons to the group's reference before "
           "averaging">,
    Option<"weighting", "weighting", "std::string", "\"frequency\"",
           "merge weights: frequency (usage counts) or uniform">,
    Option<"alignOnly", "align-only", "bool", "false",
           "debug: group and align the experts but keep every one">,
  ];
}

def MoESkipExperts : Pass<"moe-skip-experts", "mlir::ModuleOp"> {
  let summary = "Dynamic expert skipping with calibrated per-layer thresholds";
  let description = [{
    Dynamic skipping (MOE_REFERENCE §5): with a token's top-2 routing weights
    w0 >= w1, the second expert is dropped when w1 < beta_l * w0. The pass
    sets `skip_ratio = beta_l` on every layer's routing op (`moe.route`, or
    `moe.fused_route` when no statistics are given); the op documents the
    k > 2 generalization (every slot s >= 1 with w_s < beta * w_0 is
    dropped) and that the kept weights are not renormalized, as in the
    paper. A dropped slot gets expert id -1, so the expert is not computed
    for that token.

    beta_l is the layer's `top2_ratio_median` from the calibration
    statistics `stats` (docs/Calibration.md): half of the calibration tokens
    would lose their second expert. `beta=` sets one value for every layer
    instead (then `stats` is optional). Layers that are not token-choice
    routing with k >= 2, a statistics file without a median for a layer and
    a beta outside [0, 1] are refused before anything changes. One remark
    per layer gives beta and, when the statistics hold recorded router
    logits (`--logits-sample`), the fraction of those tokens' second slots
    that would be skipped.
  }];
  let options = [
    Option<"stats", "stats", "std::string", "",
           "calibration statistics (JSON, docs/Calibration.md)">,
    Option<"beta", "beta", "double", "-1.0",
           "skip ratio for every layer, in [0, 1] (default: each layer's "
           "top2_ratio_median from stats)">,
  ];
}

#endif // MOE_PASSES_TD
