// RUN: moe-opt %s --convert-onnx-to-linalg --split-input-file --verify-diagnostics | FileCheck %s

// Output labels are the parallel loops in output order, the summed labels
// the reduction loops after them.
// CHECK-DAG: #[[A:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>
// CHECK-DAG: #[[B:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d3, d2)>
// CHECK-DAG: #[[O:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
// CHECK-LABEL: func.func @experts
// CHECK: %[[C:.*]] = tensor.dim %arg0, %c1 : tensor<4x?x16xf32>
// CHECK: %[[E:.*]] = tensor.empty(%[[C]]) : tensor<4x?x32xf32>
// CHECK: %[[Z:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%[[E]]
// CHECK: linalg.generic {indexing_maps = [#[[A]], #[[B]], #[[O]]], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%arg0, %arg1 : tensor<4x?x16xf32>, tensor<4x16x32xf32>) outs(%[[Z]]
// CHECK: arith.mulf
// CHECK: arith.addf
func.func @experts(%x: tensor<4x?x16xf32>, %w: tensor<4x16x32xf32>) -> tensor<4x?x32xf32> {
  %0 = onnx.node "Einsum"(%x, %w) attributes {equation = "ech,ehi->eci"} : (tensor<4x?x16xf32>, tensor<4x16x32xf32>) -> tensor<4x?x32xf32>
  return %0 : tensor<4x?x32xf32>
}

// -----

// Implicit output: the labels that appear once, sorted ("ij,jk" -> "ik").
// CHECK-DAG: #[[A2:.*]] = affine_map<(d0, d1, d2) -> (d0, d2)>
// CHECK-DAG: #[[B2:.*]] = affine_map<(d0, d1, d2) -> (d2, d1)>
// CHECK-LABEL: func.func @implicit
// CHECK: linalg.generic {indexing_maps = [#[[A2]], #[[B2]], #{{.*}}], iterator_types = ["parallel", "parallel", "reduction"]}
func.func @implicit(%a: tensor<3x5xf32>, %b: tensor<5x2xf32>) -> tensor<3x2xf32> {
  %0 = onnx.node "Einsum"(%a, %b) attributes {equation = "ij,jk"} : (tensor<3x5xf32>, tensor<5x2xf32>) -> tensor<3x2xf32>
  return %0 : tensor<3x2xf32>
}

// -----

// Three operands multiply together; a fully summed label is a reduction.
// CHECK-LABEL: func.func @three
// CHECK: iterator_types = ["parallel", "parallel", "reduction"]
// CHECK: arith.mulf
// CHECK: arith.mulf
// CHECK: arith.addf
func.func @three(%a: tensor<2x3xf32>, %b: tensor<2x3x4xf32>, %c: tensor<2xf32>) -> tensor<2x4xf32> {
  %0 = onnx.node "Einsum"(%a, %b, %c) attributes {equation = "bk,bkc,b->bc"} : (tensor<2x3xf32>, tensor<2x3x4xf32>, tensor<2xf32>) -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

func.func @ellipsis(%a: tensor<2x3xf32>, %b: tensor<3x4xf32>) -> tensor<2x4xf32> {
  // The conversion driver adds its own note that the node stayed illegal.
  // expected-error @+2 {{onnx node '' (Einsum): equation '...j,jk->...k': ellipsis ('...') in the equation is not supported}}
  // expected-error @+1 {{failed to legalize}}
  %0 = onnx.node "Einsum"(%a, %b) attributes {equation = "...j,jk->...k"} : (tensor<2x3xf32>, tensor<3x4xf32>) -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

func.func @diagonal(%a: tensor<3x3xf32>) -> tensor<3xf32> {
  // expected-error @+2 {{onnx node '' (Einsum): equation 'ii->i': label 'i' repeats within one operand (diagonal)}}
  // expected-error @+1 {{failed to legalize}}
  %0 = onnx.node "Einsum"(%a) attributes {equation = "ii->i"} : (tensor<3x3xf32>) -> tensor<3xf32>
  return %0 : tensor<3xf32>
}
