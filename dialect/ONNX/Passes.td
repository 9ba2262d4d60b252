//===- Passes.td - onnx dialect passes ---------------------*- tablegen -*-===//

#ifndef ONNX_PASSES_TD
#define ONNX_PASSES_TD

include "mlir/Pass/PassBase.td"

def ONNXInferShapes : Pass<"onnx-infer-shapes", "mlir::ModuleOp"> {
  let summary = "Give every onnx.node result a ranked tensor type";
  let description = [{
    Replaces the `!onnx.unknown` result types of `onnx.node` ops with ranked
    tensor types computed from the operator's semantics, in the operator set
    version the module imports (`onnx.opset_import`): inputs that moved from
    attributes to operands across versions (Split, Squeeze, Unsqueeze,
    Reduce*, Clip, ...) are read from wherever that version keeps them.
    Unknown dimensions are dynamic.

    Small integer tensors are followed through `Shape`, `Gather`, `Concat`,
    `Unsqueeze`, `Squeeze`, `Cast` and elementwise arithmetic, so a
    `Reshape` whose shape is computed from another tensor's shape still gets
    the static dimensions that are known.

    Results whose type is already known (the graph's `value_info` or
    outputs) are checked against the inference: a disagreement is an error
    that names the node and the relation that fails. Nodes whose operator
    the pass does not know are left as they are.

    With `fold-known-ints` (the default), an integer result whose every
    element is known this way becomes an `onnx.constant`, and nodes left
    without users are erased: the shape arithmetic that exporters spell out
    (`Shape`, `Gather`, `Div`, ..., even `OneHot` for repeat counts)
    collapses to the constants it computes, which later passes can read.
  }];
  let options = [
    Option<"foldKnownInts", "fold-known-ints", "bool", /*default=*/"true",
           "Replace fully known integer results with constants">
  ];
  let dependentDialects = ["moe::onnx::ONNXDialect"];
}

#endif // ONNX_PASSES_TD
