//===- Passes.td - helper passes of the moe pipelines ------*- tablegen -*-===//
//
// Small passes that only the end-to-end pipelines need; dialect passes live in
// dialect/*/Passes.td.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_PIPELINES_PASSES
#define MOE_PIPELINES_PASSES

include "mlir/Pass/PassBase.td"

def MoEPrepareEntryPoints
    : Pass<"moe-prepare-entry-points", "mlir::ModuleOp"> {
  let summary = "Fix the host calling convention of public functions";
  let description = [{
    Every public `func.func` with a body is an entry point that `moe-run` (or
    any C caller) may call. This pass, run while the functions are still on
    tensors, gives each of them:

    - `llvm.emit_c_interface`, so that the LLVM lowering emits
      `_mlir_ciface_<name>`, which takes every memref as a pointer to its
      descriptor and returns the results through a pointer to a struct of
      descriptors passed first;
    - `moe.entry_signature`, the tensor function type, which survives the
      lowering to the LLVM dialect (where types are only pointers) so that a
      runner can check its inputs against an already lowered module;
    - `bufferization.writable = false` on every tensor argument, so that
      bufferization copies instead of writing into a caller's input buffer:
      inputs are read-only, and running a function twice gives the same result.
  }];
}

def MoETileAndVectorize
    : Pass<"moe-tile-and-vectorize", "mlir::func::FuncOp"> {
  let summary = "Tile matmul-like linalg ops and vectorize the tiles";
  let description = [{
    Tiles every `linalg.matmul` and `linalg.batch_matmul` (on tensors) into
    register-sized tiles with `scf.for` loops and vectorizes each tile with
    masked vector ops, so that dynamic sizes (the token count) need no
    remainder loop. Other linalg ops are left for `convert-linalg-to-loops`.
  }];
  let options = [
    ListOption<"tileSizes", "tile-sizes", "int64_t",
               "Tile sizes of the (batch,) M, N and K loops of a matmul">,
  ];
  let dependentDialects = ["mlir::scf::SCFDialect",
                           "mlir::vector::VectorDialect",
                           "mlir::tensor::TensorDialect",
                           "mlir::arith::ArithDialect"];
}

#endif // MOE_PIPELINES_PASSES
