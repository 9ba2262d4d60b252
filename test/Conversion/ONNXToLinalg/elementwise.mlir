// RUN: moe-opt %s --convert-onnx-to-linalg | FileCheck %s

// Broadcasting reads a static 1 at index 0; dynamic sizes come from the
// first input that does not broadcast there.
// CHECK-DAG: #[[ID:.*]] = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-DAG: #[[ROW:.*]] = affine_map<(d0, d1) -> (0, d1)>
// CHECK-DAG: #[[VEC:.*]] = affine_map<(d0, d1) -> (d1)>
// CHECK-DAG: #[[BT:.*]] = affine_map<(d0, d1, d2) -> (d1, d2)>
// CHECK-LABEL: func.func @add
// CHECK: %[[D:.*]] = tensor.dim %arg0, %c0
// CHECK: %[[E:.*]] = tensor.empty(%[[D]]) : tensor<?x8xf32>
// CHECK: linalg.generic {indexing_maps = [#[[ID]], #[[ROW]], #[[ID]]]
// CHECK: arith.addf
// CHECK: linalg.generic {indexing_maps = [#[[ID]], #[[VEC]], #[[ID]]]
// CHECK: arith.cmpf olt
func.func @add(%a: tensor<?x8xf32>, %b: tensor<1x8xf32>, %c: tensor<8xf32>) -> tensor<?x8xi1> {
  %0 = onnx.node "Add"(%a, %b) : (tensor<?x8xf32>, tensor<1x8xf32>) -> tensor<?x8xf32>
  %1 = onnx.node "Less"(%0, %c) : (tensor<?x8xf32>, tensor<8xf32>) -> tensor<?x8xi1>
  return %1 : tensor<?x8xi1>
}

// Weights stay resources: onnx.constant becomes arith.constant with the
// same attribute. Small resources (shapes, axes, scalars) become inline
// dense attributes that folders can read.
// CHECK-LABEL: func.func @weights
// CHECK-DAG: arith.constant dense_resource<w> : tensor<8x9xf32>
// CHECK-DAG: arith.constant dense<[8, 9]> : tensor<2xi64>
// CHECK-NOT: onnx.
func.func @weights(%x: tensor<9x8xf32>) -> tensor<8x9xf32> {
  %w = onnx.constant dense_resource<w> : tensor<8x9xf32>
  %s = onnx.constant dense_resource<s> : tensor<2xi64>
  %r = onnx.node "Reshape"(%x, %s) : (tensor<9x8xf32>, tensor<2xi64>) -> tensor<8x9xf32>
  %0 = onnx.node "Add"(%r, %w) : (tensor<8x9xf32>, tensor<8x9xf32>) -> tensor<8x9xf32>
  return %0 : tensor<8x9xf32>
}

// Gemm with transB reads B through a transposed map, no copy.
// CHECK-LABEL: func.func @gemm
// CHECK: arith.mulf %{{.*}}, %cst
// CHECK: linalg.generic {indexing_maps = [#{{.*}}, #[[BT]], #{{.*}}], iterator_types = ["parallel", "parallel", "reduction"]}
func.func @gemm(%a: tensor<?x4xf32>, %b: tensor<3x4xf32>, %c: tensor<3xf32>) -> tensor<?x3xf32> {
  %0 = onnx.node "Gemm"(%a, %b, %c) attributes {transB = 1 : i64, beta = 2.0 : f32} : (tensor<?x4xf32>, tensor<3x4xf32>, tensor<3xf32>) -> tensor<?x3xf32>
  return %0 : tensor<?x3xf32>
}

// CHECK-LABEL: func.func @cast_where
// CHECK: arith.sitofp
// CHECK: arith.select
func.func @cast_where(%i: tensor<4xi64>, %c: tensor<4xi1>, %y: tensor<f32>) -> tensor<4xf32> {
  %0 = onnx.node "Cast"(%i) attributes {to = 1 : i64} : (tensor<4xi64>) -> tensor<4xf32>
  %1 = onnx.node "Where"(%c, %0, %y) : (tensor<4xi1>, tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  return %1 : tensor<4xf32>
}

{-#
  dialect_resources: {
    builtin: {
      w: "0x040000000000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F",
      s: "0x0800000008000000000000000900000000000000"
    }
  }
#-}
