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

#endif // MOE_PASSES_TD
