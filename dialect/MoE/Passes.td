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

#endif // MOE_PASSES_TD
