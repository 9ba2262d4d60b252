//===- ONNXTypes.td - onnx import dialect types ------------*- tablegen -*-===//

#ifndef ONNX_TYPES_TD
#define ONNX_TYPES_TD

include "ONNXDialect.td"
include "mlir/IR/AttrTypeBase.td"

def ONNX_UnknownType : TypeDef<ONNX_Dialect, "Unknown"> {
  let mnemonic = "unknown";
  let summary = "a value whose ONNX type the model does not record";
  let description = [{
    ONNX models need not carry a `value_info` for intermediate values. The
    importer does not guess: such values get `!onnx.unknown`, and shape
    inference (a later pass) replaces it with a tensor type. Graph inputs
    always have a declared type.
  }];
}

#endif // ONNX_TYPES_TD
