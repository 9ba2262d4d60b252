//===- ONNXOps.td - onnx import dialect operations ---------*- tablegen -*-===//
//
// Three ops are enough to hold any ONNX graph: a generic node, the absent
// optional input, and constants. Verifiers check only what the import itself
// guarantees; operator semantics belong to later passes.
//
//===----------------------------------------------------------------------===//

#ifndef ONNX_OPS_TD
#define ONNX_OPS_TD

include "ONNXDialect.td"
include "ONNXTypes.td"
include "mlir/IR/BuiltinAttributeInterfaces.td"
include "mlir/IR/CommonAttrConstraints.td"
include "mlir/IR/CommonTypeConstraints.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

//===----------------------------------------------------------------------===//
// onnx.node
//===----------------------------------------------------------------------===//

def ONNX_NodeOp : ONNX_Op<"node"> {
  let summary = "one ONNX node, kept verbatim";
  let description = [{
    Any ONNX node: operator type `op_type` in operator set `domain` (`""` is
    the default `ai.onnx` set), its ONNX attributes in `attributes`, its
    inputs in ONNX order (an absent optional input is the value of
    `onnx.none`) and its outputs in ONNX order (an unused optional output has
    type `none`). The node name is the op's location (`loc("name")`); the
    importer records the ONNX names of its output tensors in the discardable
    `onnx.outputs` array, so that reports can point back into the model.

    ONNX attributes map to MLIR attributes as follows: `INT` -> `i64`,
    `FLOAT` -> `f32`, `STRING` -> string, `TENSOR` -> elements attribute,
    `TYPE_PROTO` -> type, `INTS` -> `array<i64: ...>`,
    `FLOATS` -> `array<f32: ...>`, `STRINGS`/`TENSORS`/`TYPE_PROTOS` ->
    array of those.

    The op makes no claim about side effects: ONNX nodes such as
    `RandomNormal` must not be CSE'd or folded before they are understood.

    ```mlir
    %y = onnx.node "MatMul"(%a, %b) : (tensor<?x4xf32>, tensor<4x8xf32>) -> tensor<?x8xf32>
    %z = onnx.node "FusedMatMul"(%a, %b) attributes {alpha = 1.0 : f32} {domain = "com.microsoft"}
        : (tensor<?x4xf32>, tensor<4x8xf32>) -> !onnx.unknown
    ```
  }];
  let arguments = (ins
    Variadic<AnyType>:$inputs,
    StrAttr:$op_type,
    DefaultValuedStrAttr<StrAttr, "">:$domain,
    DefaultValuedAttr<DictionaryAttr, "{}">:$onnx_attrs
  );
  let results = (outs Variadic<AnyType>:$outputs);
  let assemblyFormat = [{
    $op_type `(` $inputs `)` (`attributes` $onnx_attrs^)? attr-dict
    `:` functional-type($inputs, $outputs)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// True if the node is `opType` of the default (`ai.onnx`) operator set.
    bool isStandard(::llvm::StringRef opType);
    /// The ONNX attribute `name`, or null.
    ::mlir::Attribute getONNXAttr(::llvm::StringRef name) {
      return getOnnxAttrs().get(name);
    }
  }];
}

//===----------------------------------------------------------------------===//
// onnx.none
//===----------------------------------------------------------------------===//

def ONNX_NoneOp : ONNX_Op<"none", [Pure]> {
  let summary = "the absent optional input";
  let description = [{
    ONNX marks a skipped optional input with an empty name. The importer
    passes this op's `none` value in that position so that later inputs keep
    their index.

    ```mlir
    %none = onnx.none
    %y = onnx.node "Clip"(%x, %none, %max) : (tensor<4xf32>, none, tensor<f32>) -> tensor<4xf32>
    ```
  }];
  let results = (outs NoneType:$result);
  let assemblyFormat = "attr-dict";
  let builders = [
    OpBuilder<(ins), [{ build($_builder, $_state, $_builder.getNoneType()); }]>
  ];
}

//===----------------------------------------------------------------------===//
// onnx.constant
//===----------------------------------------------------------------------===//

def ONNX_ConstantOp : ONNX_Op<"constant",
    [ConstantLike, Pure, AllTypesMatch<["value", "output"]>]> {
  let summary = "an initializer or the value of a Constant node";
  let description = [{
    Graph initializers are `dense_resource` blobs that reference the model
    file (or its external data file) in place, so weights are never copied;
    small `Constant` node values are inline `dense` attributes. The
    initializer or output name is the op's location.

    ```mlir
    %w = onnx.constant dense_resource<experts.w1> : tensor<8x4096x14336xbf16>
    %axes = onnx.constant dense<[0, 1]> : tensor<2xi64>
    ```
  }];
  let arguments = (ins ElementsAttr:$value);
  let results = (outs AnyTensor:$output);
  let assemblyFormat = "attr-dict $value";
  let hasFolder = 1;
  let builders = [
    OpBuilder<(ins "::mlir::ElementsAttr":$value),
              [{ build($_builder, $_state, value.getType(), value); }]>
  ];
}

#endif // ONNX_OPS_TD
