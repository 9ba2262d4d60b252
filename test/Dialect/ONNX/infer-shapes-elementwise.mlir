// RUN: moe-opt %s --onnx-infer-shapes=fold-known-ints=false | FileCheck %s

// Unary ops keep the type; binary ops broadcast numpy-style; dynamic dims
// match the other side unless it is 1.
// CHECK-LABEL: func.func @elementwise
func.func @elementwise(%a: tensor<?x1x8xf32>, %b: tensor<4x1xf32>, %c: tensor<?xi1>, %i: tensor<3xi64>) -> () {
  // CHECK: "Exp"{{.*}} -> tensor<?x1x8xf32>
  %0 = onnx.node "Exp"(%a) : (tensor<?x1x8xf32>) -> !onnx.unknown
  // CHECK: "Add"{{.*}} -> tensor<?x4x8xf32>
  %1 = onnx.node "Add"(%0, %b) : (!onnx.unknown, tensor<4x1xf32>) -> !onnx.unknown
  // CHECK: "Pow"{{.*}} -> tensor<?x4x8xf32>
  %2 = onnx.node "Pow"(%1, %b) : (!onnx.unknown, tensor<4x1xf32>) -> !onnx.unknown
  // CHECK: "Less"{{.*}} -> tensor<?x4x8xi1>
  %3 = onnx.node "Less"(%2, %a) : (!onnx.unknown, tensor<?x1x8xf32>) -> !onnx.unknown
  // CHECK: "Not"{{.*}} -> tensor<?x4x8xi1>
  %4 = onnx.node "Not"(%3) : (!onnx.unknown) -> !onnx.unknown
  // CHECK: "Where"{{.*}} -> tensor<?x4x8xf32>
  %5 = onnx.node "Where"(%4, %a, %b) : (!onnx.unknown, tensor<?x1x8xf32>, tensor<4x1xf32>) -> !onnx.unknown
  // CHECK: "Cast"{{.*}} -> tensor<?x4x8xf16>
  %6 = onnx.node "Cast"(%5) attributes {to = 10 : i64} : (!onnx.unknown) -> !onnx.unknown
  // CHECK: "Cast"{{.*}} -> tensor<3xf32>
  %7 = onnx.node "Cast"(%i) attributes {to = 1 : i64} : (tensor<3xi64>) -> !onnx.unknown
  // CHECK: "Softmax"{{.*}} -> tensor<?x4x8xf32>
  %8 = onnx.node "Softmax"(%5) attributes {axis = -1 : i64} : (!onnx.unknown) -> !onnx.unknown
  // CHECK: "Dropout"{{.*}} -> (tensor<?x1x8xf32>, tensor<?x1x8xi1>)
  %9:2 = onnx.node "Dropout"(%a) : (tensor<?x1x8xf32>) -> (!onnx.unknown, !onnx.unknown)
  // A dynamic dim against a static one (not 1) is that size.
  // CHECK: "Mul"{{.*}} -> tensor<?x1x8xf32>
  %10 = onnx.node "Mul"(%a, %c) : (tensor<?x1x8xf32>, tensor<?xi1>) -> !onnx.unknown
  // CHECK: "Identity"{{.*}} -> tensor<3xi64>
  %11 = onnx.node "Identity"(%i) : (tensor<3xi64>) -> !onnx.unknown
  return
}

// Nodes whose inputs are still unknown, and unknown operators, stay as
// they are.
// CHECK-LABEL: func.func @unknown
func.func @unknown(%a: tensor<4xf32>) -> () {
  // CHECK: "Foo"{{.*}} -> !onnx.unknown
  %0 = onnx.node "Foo"(%a) {domain = "com.example"} : (tensor<4xf32>) -> !onnx.unknown
  // CHECK: "Relu"{{.*}} -> !onnx.unknown
  %1 = onnx.node "Relu"(%0) : (!onnx.unknown) -> !onnx.unknown
  // An ai.onnx op name in another domain is not that op.
  // CHECK: "Relu"{{.*}}domain = "com.example"{{.*}} -> !onnx.unknown
  %2 = onnx.node "Relu"(%a) {domain = "com.example"} : (tensor<4xf32>) -> !onnx.unknown
  // Known result types that agree are kept as they are (less static here).
  // CHECK: "Relu"{{.*}} -> tensor<?xf32>
  %3 = onnx.node "Relu"(%a) : (tensor<4xf32>) -> tensor<?xf32>
  return
}

// CHECK-LABEL: func.func @contractions
func.func @contractions(%a: tensor<2x?x8xf32>, %b: tensor<8x16xf32>, %v: tensor<8xf32>, %bb: tensor<3x1x8x5xf32>, %c: tensor<16xf32>) -> () {
  // CHECK: "MatMul"{{.*}} -> tensor<2x?x16xf32>
  %0 = onnx.node "MatMul"(%a, %b) : (tensor<2x?x8xf32>, tensor<8x16xf32>) -> !onnx.unknown
  // CHECK: "MatMul"{{.*}} -> tensor<2x?xf32>
  %1 = onnx.node "MatMul"(%a, %v) : (tensor<2x?x8xf32>, tensor<8xf32>) -> !onnx.unknown
  // CHECK: "MatMul"{{.*}} -> tensor<16xf32>
  %2 = onnx.node "MatMul"(%v, %b) : (tensor<8xf32>, tensor<8x16xf32>) -> !onnx.unknown
  // CHECK: "MatMul"{{.*}} -> tensor<3x2x?x5xf32>
  %3 = onnx.node "MatMul"(%a, %bb) : (tensor<2x?x8xf32>, tensor<3x1x8x5xf32>) -> !onnx.unknown
  // CHECK: "Gemm"{{.*}} -> tensor<4x16xf32>
  %x = onnx.constant dense<1.0> : tensor<8x4xf32>
  %none = onnx.none
  %4 = onnx.node "Gemm"(%x, %b, %c) attributes {transA = 1 : i64} : (tensor<8x4xf32>, tensor<8x16xf32>, tensor<16xf32>) -> !onnx.unknown
  // CHECK: "Gemm"{{.*}} -> tensor<16x16xf32>
  %5 = onnx.node "Gemm"(%b, %b, %none) attributes {transA = 1 : i64} : (tensor<8x16xf32>, tensor<8x16xf32>, none) -> !onnx.unknown
  return
}
