// RUN: not moe-opt %s --onnx-infer-shapes 2>&1 | FileCheck %s

// Diagnostics name the ONNX node (the op's location) and its operator,
// also when the importer fused the name with the file position.
// CHECK: error: {{.*}}onnx node 'layers.0/mm' (MatMul): inner dimensions differ: 8 vs 4
// CHECK: error: {{.*}}onnx node 'cast' (Cast): result #0 has type 'tensor<3xf32>' but the operator gives 'tensor<3xi64>'
func.func @names(%a: tensor<2x8xf32>, %b: tensor<4x16xf32>, %c: tensor<3xf32>) -> tensor<3xf32> {
  %0 = onnx.node "MatMul"(%a, %b) : (tensor<2x8xf32>, tensor<4x16xf32>) -> !onnx.unknown loc("layers.0/mm")
  %1 = onnx.node "Cast"(%c) attributes {to = 7 : i64} : (tensor<3xf32>) -> tensor<3xf32> loc(fused["model.onnx":0:0, "cast"])
  return %1 : tensor<3xf32>
}
