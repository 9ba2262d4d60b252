//===- ONNXDialect.td - The onnx import dialect ------------*- tablegen -*-===//
//
// The target of the ONNX importer: a faithful, loss-free image of an ONNX
// graph. Operator semantics live in later passes, not here.
//
//===----------------------------------------------------------------------===//

#ifndef ONNX_DIALECT_TD
#define ONNX_DIALECT_TD

include "mlir/IR/OpBase.td"

def ONNX_Dialect : Dialect {
  let name = "onnx";
  let cppNamespace = "::moe::onnx";
  let summary = "ONNX graphs as imported, one generic op per node";
  let description = [{
    The importer (lib/Import/ONNX) turns each ONNX graph into a `func.func`
    whose arguments and results are the graph inputs and outputs. Every ONNX
    node becomes one `onnx.node` that carries its operator type, domain and
    attributes verbatim, so that no node is ever lost because the compiler
    does not know it yet (the torch-mlir approach). Raising passes give the
    nodes meaning; a pass that meets an `onnx.node` it needs but does not
    understand reports it by name.

    Initializers and `Constant` nodes become `onnx.constant`; weights are
    `dense_resource` blobs that reference the memory-mapped model file.
    Absent optional inputs are the `none` value of `onnx.none`, so input
    positions are preserved. Values whose type the model does not record
    (no `value_info`) have type `!onnx.unknown` until shape inference runs.

    ```mlir
    func.func @main_graph(%x: tensor<?x4xf32> {onnx.name = "x"}) -> ... {
      %w = onnx.constant dense_resource<w> : tensor<4x8xf32>
      %none = onnx.none
      %y = onnx.node "Gemm"(%x, %w, %none) attributes {transB = 0 : i64}
          : (tensor<?x4xf32>, tensor<4x8xf32>, none) -> tensor<?x8xf32>
      ...
    }
    ```
  }];
  let useDefaultTypePrinterParser = 1;
}

class ONNX_Op<string mnemonic, list<Trait> traits = []>
    : Op<ONNX_Dialect, mnemonic, traits>;

#endif // ONNX_DIALECT_TD
