// RUN: moe-opt %s --split-input-file --verify-diagnostics

func.func @empty_op_type(%x: tensor<4xf32>) {
  // expected-error @below {{'onnx.node' op needs a non-empty op_type}}
  onnx.node ""(%x) : (tensor<4xf32>) -> ()
  return
}

// -----

func.func @bad_attr_kind(%x: tensor<4xf32>) {
  // expected-error @below {{ONNX attribute 'axis' must be an integer, f32, string, elements, type, array<i64>, array<f32> or a list of strings, elements or types; got unit}}
  onnx.node "Softmax"(%x) attributes {axis} : (tensor<4xf32>) -> ()
  return
}

// -----

func.func @mixed_list(%x: tensor<4xf32>) {
  // expected-error @below {{ONNX attribute 'l' must be}}
  onnx.node "Foo"(%x) attributes {l = ["a", 1 : i64]} : (tensor<4xf32>) -> ()
  return
}

// -----

func.func @constant_type_mismatch() -> tensor<2xf32> {
  // expected-error @below {{'onnx.constant' op failed to verify that all of {value, output} have same type}}
  %c = "onnx.constant"() {value = dense<1.0> : tensor<3xf32>} : () -> tensor<2xf32>
  return %c : tensor<2xf32>
}
