//===- Passes.td - moe-opt conversion passes ---------------*- tablegen -*-===//

#ifndef MOE_CONVERSION_PASSES_TD
#define MOE_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertMoEToLinalg : Pass<"convert-moe-to-linalg", "mlir::ModuleOp"> {
  let summary = "Lower moe ops to linalg, tensor, scf, arith and math on tensors";
  let description = [{
    The CPU path's MoE lowering. Computes sparsely: each expert only runs on
    the rows routed to it.

    * `moe.gate`, `moe.activation`, `moe.combine`: `linalg.generic`.
    * `moe.grouped_matmul`: a loop over groups, each a matmul on the slice
      of rows `offsets[e] .. offsets[e+1]` (groups of different widths are
      unrolled, one matmul per group).
    * `moe.experts`: expanded first (see `moe-expand-experts`).
    * `moe.route` and `moe.dispatch`: calls to private kernel functions
      (`__moe_route`, `__moe_dispatch_<type>`, ...) written with scf and
      tensor ops, inserted into the module on first use. The op's
      attributes become constant call operands, so inlining followed by
      canonicalization specializes each call site.

    Routing math runs in f32 whatever the logits' type (as Mixtral does);
    the results are converted to the op's result types.
  }];
  let dependentDialects = [
    "mlir::arith::ArithDialect", "mlir::func::FuncDialect",
    "mlir::linalg::LinalgDialect", "mlir::math::MathDialect",
    "mlir::memref::MemRefDialect", "mlir::scf::SCFDialect",
    "mlir::tensor::TensorDialect"
  ];
}

#endif // MOE_CONVERSION_PASSES_TD
