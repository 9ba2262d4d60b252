// RUN: moe-opt %s --moe-prepare-gpu-layers -split-input-file | FileCheck %s
// RUN: moe-opt %s --moe-prepare-gpu-layers="report=-" -split-input-file -o /dev/null | FileCheck %s --check-prefix=REPORT

// QMoE (onnxruntime's quantized experts): the packed 4-bit weights are
// dequantized by the caller, so the GPU layer takes the floats (transposed
// and in bf16 like any [out, in] weight); moe.dequantize, which has no GPU
// kernel, stays out of the layer, and the report says how to make the
// buffer from the packed weight and its scales.
// CHECK-LABEL: func.func @qmoe(
// CHECK: %[[W:.*]] = moe.dequantize %{{.*}}, %{{.*}} {bits = 4 : i64, block_size = 16 : i64} : (tensor<4x32x16xi8>, tensor<4x32x2xf32>) -> tensor<4x32x32xf32>
// CHECK: %[[WT:.*]] = linalg.transpose ins(%[[W]] : tensor<4x32x32xf32>)
// CHECK: %[[WB:.*]] = linalg.generic {{.*}} ins(%[[WT]] : tensor<4x32x32xf32>)
// CHECK: arith.truncf %{{.*}} : f32 to bf16
// CHECK: call @qmoe_moe_layer0(%{{.*}}, %{{.*}}, %[[WB]])
// CHECK: func.func private @qmoe_moe_layer0(%{{.*}}: tensor<?x4xf32>, %{{.*}}: tensor<?x32xbf16>, %{{.*}}: tensor<4x32x32xbf16>) -> tensor<?x32xbf16> attributes {moe.gpu_layer}
// CHECK-NOT: moe.dequantize
// CHECK: moe.combine
// REPORT: "bits": 4,
// REPORT-NEXT: "block_size": 16,
// REPORT-NEXT: "columns": 32,
// REPORT-NEXT: "kind": "dequantized",
// REPORT-NEXT: "scales": {
// REPORT-NEXT: "index": 3,
// REPORT-NEXT: "kind": "argument"
// REPORT: "weight": {
// REPORT-NEXT: "index": 2,
// REPORT-NEXT: "kind": "argument"
// REPORT: "transposed": true
func.func @qmoe(%x: tensor<?x32xf32>, %logits: tensor<?x4xf32>, %q: tensor<4x32x16xi8>, %s: tensor<4x32x2xf32>) -> tensor<?x32xf32> {
  %w = moe.dequantize %q, %s {bits = 4 : i64, block_size = 16 : i64} : (tensor<4x32x16xi8>, tensor<4x32x2xf32>) -> tensor<4x32x32xf32>
  %wt, %ids = moe.route <token_choice> <softmax> %logits {k = 2 : i64} : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  %rows, %off, %map = moe.dispatch %x, %ids {num_experts = 4 : i64} : tensor<?x32xf32>, tensor<?x2xi64> -> tensor<?x32xf32>, tensor<5xi64>, tensor<?x2xi64>
  %h = moe.grouped_matmul %rows, %w offsets(%off) {transpose_rhs} : (tensor<?x32xf32>, tensor<4x32x32xf32>, tensor<5xi64>) -> tensor<?x32xf32>
  %y = moe.combine %h, %map, %wt : (tensor<?x32xf32>, tensor<?x2xi64>, tensor<?x2xf32>) -> tensor<?x32xf32>
  return %y : tensor<?x32xf32>
}
