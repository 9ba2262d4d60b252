// RUN: moe-opt %s --moe-prepare-gpu-layers -split-input-file | FileCheck %s
// RUN: moe-opt %s --moe-prepare-gpu-layers="report=-" -split-input-file -o /dev/null | FileCheck %s --check-prefix=REPORT

// QMoE (onnxruntime's quantized experts): packed 4-bit weights that the GPU
// decode kernel reads go into the layer packed, with their moe.dequantize:
// the layer takes the bytes and the scales as the model stores them (no
// transpose, no conversion), the dequantization yields the layer's bf16,
// and the grouped matmul keeps transpose_rhs ([E, N, K], as packed).
// CHECK-LABEL: func.func @qmoe(
// CHECK-NOT: moe.dequantize
// CHECK: call @qmoe_moe_layer0(%arg2, %arg3, %{{.*}}, %{{.*}}) : (tensor<4x32x16xi8>, tensor<4x32x2xf32>, tensor<?x4xf32>, tensor<?x32xbf16>) -> tensor<?x32xbf16>
// CHECK: func.func private @qmoe_moe_layer0(%[[Q:[^:]*]]: tensor<4x32x16xi8>, %[[S:[^:]*]]: tensor<4x32x2xf32>, %{{.*}}: tensor<?x4xf32>, %{{.*}}: tensor<?x32xbf16>) -> tensor<?x32xbf16> attributes {moe.gpu_layer}
// CHECK: %[[W:.*]] = moe.dequantize %[[Q]], %[[S]] {bits = 4 : i64, block_size = 16 : i64} : (tensor<4x32x16xi8>, tensor<4x32x2xf32>) -> tensor<4x32x32xbf16>
// CHECK: moe.grouped_matmul %{{.*}}, %[[W]] offsets(%{{.*}}) {transpose_rhs} : (tensor<?x32xbf16>, tensor<4x32x32xbf16>, tensor<5xi64>) -> tensor<?x32xbf16>
// CHECK: moe.combine
// REPORT: "element_type": "i8",
// REPORT-NEXT: "shape": [
// REPORT-NEXT: 4,
// REPORT-NEXT: 32,
// REPORT-NEXT: 16
// REPORT-NEXT: ],
// REPORT-NEXT: "source": {
// REPORT-NEXT: "index": 2,
// REPORT-NEXT: "kind": "argument"
// REPORT-NEXT: },
// REPORT-NEXT: "transposed": false
// REPORT: "element_type": "f32",
// REPORT: "source": {
// REPORT-NEXT: "index": 3,
// REPORT-NEXT: "kind": "argument"
func.func @qmoe(%x: tensor<?x32xf32>, %logits: tensor<?x4xf32>, %q: tensor<4x32x16xi8>, %s: tensor<4x32x2xf32>) -> tensor<?x32xf32> {
  %w = moe.dequantize %q, %s {bits = 4 : i64, block_size = 16 : i64} : (tensor<4x32x16xi8>, tensor<4x32x2xf32>) -> tensor<4x32x32xf32>
  %wt, %ids = moe.route <token_choice> <softmax> %logits {k = 2 : i64} : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  %rows, %off, %map = moe.dispatch %x, %ids {num_experts = 4 : i64} : tensor<?x32xf32>, tensor<?x2xi64> -> tensor<?x32xf32>, tensor<5xi64>, tensor<?x2xi64>
  %h = moe.grouped_matmul %rows, %w offsets(%off) {transpose_rhs} : (tensor<?x32xf32>, tensor<4x32x32xf32>, tensor<5xi64>) -> tensor<?x32xf32>
  %y = moe.combine %h, %map, %wt : (tensor<?x32xf32>, tensor<?x2xi64>, tensor<?x2xf32>) -> tensor<?x32xf32>
  return %y : tensor<?x32xf32>
}

// -----

// K = 48 is no multiple of the 32 values of a 16-byte chunk of 4-bit
// values: the caller dequantizes (once per load), and the layer takes the
// floats, transposed and in bf16 like any [out, in] weight; the report says
// how to make them from the packed weight and its scales.
// CHECK-LABEL: func.func @expanded(
// CHECK: %[[W:.*]] = moe.dequantize %{{.*}}, %{{.*}} {bits = 4 : i64} : (tensor<4x32x24xi8>, tensor<4x32xf32>) -> tensor<4x32x48xf32>
// CHECK: %[[WT:.*]] = linalg.transpose ins(%[[W]] : tensor<4x32x48xf32>)
// CHECK: %[[WB:.*]] = linalg.generic {{.*}} ins(%[[WT]] : tensor<4x48x32xf32>)
// CHECK: arith.truncf %{{.*}} : f32 to bf16
// CHECK: call @expanded_moe_layer0(%{{.*}}, %{{.*}}, %[[WB]])
// CHECK: func.func private @expanded_moe_layer0(%{{.*}}: tensor<?x4xf32>, %{{.*}}: tensor<?x48xbf16>, %{{.*}}: tensor<4x48x32xbf16>) -> tensor<?x32xbf16> attributes {moe.gpu_layer}
// CHECK-NOT: moe.dequantize
// CHECK: moe.combine
// REPORT: "bits": 4,
// REPORT-NEXT: "columns": 48,
// REPORT-NEXT: "kind": "dequantized",
// REPORT-NEXT: "scales": {
// REPORT-NEXT: "index": 3,
// REPORT-NEXT: "kind": "argument"
// REPORT: "weight": {
// REPORT-NEXT: "index": 2,
// REPORT-NEXT: "kind": "argument"
// REPORT: "transposed": true
func.func @expanded(%x: tensor<?x48xf32>, %logits: tensor<?x4xf32>, %q: tensor<4x32x24xi8>, %s: tensor<4x32xf32>) -> tensor<?x32xf32> {
  %w = moe.dequantize %q, %s {bits = 4 : i64} : (tensor<4x32x24xi8>, tensor<4x32xf32>) -> tensor<4x32x48xf32>
  %wt, %ids = moe.route <token_choice> <softmax> %logits {k = 2 : i64} : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  %rows, %off, %map = moe.dispatch %x, %ids {num_experts = 4 : i64} : tensor<?x48xf32>, tensor<?x2xi64> -> tensor<?x48xf32>, tensor<5xi64>, tensor<?x2xi64>
  %h = moe.grouped_matmul %rows, %w offsets(%off) {transpose_rhs} : (tensor<?x48xf32>, tensor<4x32x48xf32>, tensor<5xi64>) -> tensor<?x32xf32>
  %y = moe.combine %h, %map, %wt : (tensor<?x32xf32>, tensor<?x2xi64>, tensor<?x2xf32>) -> tensor<?x32xf32>
  return %y : tensor<?x32xf32>
}
