// RUN: moe-opt %s --onnx-infer-shapes --split-input-file --verify-diagnostics
// The node name is the op's location name (none here; see
// infer-shapes-names.mlir).

func.func @matmul_inner(%a: tensor<2x8xf32>, %b: tensor<4x16xf32>) -> () {
  // expected-error @+1 {{onnx node '' (MatMul): inner dimensions differ: 8 vs 4}}
  %0 = onnx.node "MatMul"(%a, %b) : (tensor<2x8xf32>, tensor<4x16xf32>) -> !onnx.unknown
  return
}

// -----

func.func @broadcast(%a: tensor<3xf32>, %b: tensor<4xf32>) -> () {
  // expected-error @+1 {{onnx node '' (Add): input shapes [3] and [4] (input #1) do not broadcast}}
  %0 = onnx.node "Add"(%a, %b) : (tensor<3xf32>, tensor<4xf32>) -> !onnx.unknown
  return
}

// -----

// A known result type that contradicts the operator.
func.func @disagree(%a: tensor<3x4xf32>) -> tensor<4x4xf32> {
  // expected-error @+1 {{onnx node '' (Transpose): result #0 has type 'tensor<4x4xf32>' but the operator gives 'tensor<4x3xf32>'}}
  %0 = onnx.node "Transpose"(%a) : (tensor<3x4xf32>) -> tensor<4x4xf32>
  return %0 : tensor<4x4xf32>
}

// -----

func.func @element_type(%a: tensor<3xf32>) -> tensor<3xf32> {
  // expected-error @+1 {{onnx node '' (Cast): result #0 has type 'tensor<3xf32>' but the operator gives 'tensor<3xi64>'}}
  %0 = onnx.node "Cast"(%a) attributes {to = 7 : i64} : (tensor<3xf32>) -> tensor<3xf32>
  return %0 : tensor<3xf32>
}

// -----

func.func @reshape_count(%a: tensor<3x4xf32>) -> () {
  %s = onnx.constant dense<[5, -1]> : tensor<2xi64>
  // expected-error @+1 {{onnx node '' (Reshape): cannot reshape 12 elements to [5, -1]}}
  %0 = onnx.node "Reshape"(%a, %s) : (tensor<3x4xf32>, tensor<2xi64>) -> !onnx.unknown
  return
}

// -----

func.func @axis(%a: tensor<3x4xf32>) -> () {
  // expected-error @+1 {{onnx node '' (ArgMax): axis 2 is out of range for rank 2}}
  %0 = onnx.node "ArgMax"(%a) attributes {axis = 2 : i64} : (tensor<3x4xf32>) -> !onnx.unknown
  return
}

// -----

func.func @squeeze(%a: tensor<3x4xf32>) -> () {
  %axes = onnx.constant dense<[1]> : tensor<1xi64>
  // expected-error @+1 {{onnx node '' (Squeeze): squeezes axis 1 of size 4}}
  %0 = onnx.node "Squeeze"(%a, %axes) : (tensor<3x4xf32>, tensor<1xi64>) -> !onnx.unknown
  return
}

// -----

func.func @topk(%a: tensor<3x4xf32>) -> () {
  %k = onnx.constant dense<5> : tensor<1xi64>
  // expected-error @+1 {{onnx node '' (TopK): K = 5 exceeds the axis size 4}}
  %0:2 = onnx.node "TopK"(%a, %k) : (tensor<3x4xf32>, tensor<1xi64>) -> (!onnx.unknown, !onnx.unknown)
  return
}

// -----

func.func @concat(%a: tensor<3x4xf32>, %b: tensor<2x5xf32>) -> () {
  // expected-error @+1 {{onnx node '' (Concat): input #1 has size 5 in dim 1 where input #0 has 4}}
  %0 = onnx.node "Concat"(%a, %b) attributes {axis = 0 : i64} : (tensor<3x4xf32>, tensor<2x5xf32>) -> !onnx.unknown
  return
}

// -----

func.func @gemm(%a: tensor<3x4xf32>, %b: tensor<3x5xf32>) -> () {
  %none = onnx.none
  // expected-error @+1 {{onnx node '' (Gemm): inner dimensions differ: 4 vs 3}}
  %0 = onnx.node "Gemm"(%a, %b, %none) : (tensor<3x4xf32>, tensor<3x5xf32>, none) -> !onnx.unknown
  return
}
