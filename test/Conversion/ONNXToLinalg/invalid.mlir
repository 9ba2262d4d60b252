// RUN: moe-opt %s --convert-onnx-to-linalg --split-input-file --verify-diagnostics

func.func @unknown_op(%a: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{onnx node '' (com.microsoft Foo): no CPU lowering for this op}}
  %0 = onnx.node "Foo"(%a) {domain = "com.microsoft"} : (tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @untyped(%a: tensor<4xf32>) -> () {
  // expected-error @+1 {{onnx node '' (Relu): result #0 has type '!onnx.unknown'; the CPU lowering needs ranked tensors (run --onnx-infer-shapes first)}}
  %0 = onnx.node "Relu"(%a) : (tensor<4xf32>) -> !onnx.unknown
  return
}

// -----

func.func @negative_step(%a: tensor<4xf32>) -> tensor<?xf32> {
  %s = onnx.constant dense<[3]> : tensor<1xi64>
  %e = onnx.constant dense<[0]> : tensor<1xi64>
  %ax = onnx.constant dense<[0]> : tensor<1xi64>
  %st = onnx.constant dense<[-1]> : tensor<1xi64>
  // The conversion driver adds its own note that the node stayed illegal.
  // expected-error @+2 {{onnx node '' (Slice): negative steps have no CPU lowering}}
  // expected-error @+1 {{failed to legalize}}
  %0 = onnx.node "Slice"(%a, %s, %e, %ax, %st) : (tensor<4xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<?xf32>
  return %0 : tensor<?xf32>
}
