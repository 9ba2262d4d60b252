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
  }];
  let options = [
    Option<"stats", "stats", "std::string", "",
           "calibration statistics (JSON, docs/Calibration.md)">,
    Option<"keep", "keep", "int64_t", "0",
           "experts to keep per layer (0: use keep-fraction)">,
    Option<"keepFraction", "keep-fraction", "double", "0.0",
           "fraction of each layer's experts to keep, rounded up">,
    Option<"criterion", "criterion", "std::string", "\"frequency\"",
           "how experts are ranked: frequency (usage count)">,
  ];
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

#endif // MOE_PASSES_TD
