// RUN: moe-opt %s --moe-fuse-gating -split-input-file | FileCheck %s

// gpt-oss: router with bias, top-k on logits then softmax; every routing
// attribute and the selection bias carry over.
// CHECK-LABEL: func.func @fuse_with_biases
// CHECK-SAME: (%[[X:.*]]: tensor<?x16xf32>, %[[W:.*]]: tensor<8x16xf32>, %[[B:.*]]: tensor<8xf32>, %[[S:.*]]: tensor<8xf32>)
// CHECK-NEXT: %[[RW:.*]], %[[RI:.*]] = moe.fused_route <token_choice> <sigmoid> %[[X]], %[[W]], %[[B]] : tensor<8xf32> selection_bias(%[[S]] : tensor<8xf32>) {k = 2 : i64, num_groups = 4 : i64, renormalize, scaling_factor = 2.500000e+00 : f64, topk_groups = 2 : i64} : tensor<?x16xf32>, tensor<8x16xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
// CHECK-NEXT: return %[[RW]], %[[RI]]
func.func @fuse_with_biases(%x: tensor<?x16xf32>, %w: tensor<8x16xf32>, %b: tensor<8xf32>,
                            %s: tensor<8xf32>) -> (tensor<?x2xf32>, tensor<?x2xi32>) {
  %l = moe.gate %x, %w, %b : (tensor<?x16xf32>, tensor<8x16xf32>, tensor<8xf32>) -> tensor<?x8xf32>
  %rw, %ri = moe.route <token_choice> <sigmoid> %l bias(%s : tensor<8xf32>)
      {k = 2, renormalize, scaling_factor = 2.5 : f64, num_groups = 4, topk_groups = 2}
      : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return %rw, %ri : tensor<?x2xf32>, tensor<?x2xi32>
}

// -----

// The [H, E] router layout is kept.
// CHECK-LABEL: func.func @fuse_transposed
// CHECK: moe.fused_route <top_p> <softmax> %{{.*}}, %{{.*}} {k = 3 : i64, top_p = 4.000000e-01 : f64, weight_transposed}
func.func @fuse_transposed(%x: tensor<5x16xbf16>, %w: tensor<16x8xbf16>)
    -> (tensor<5x3xbf16>, tensor<5x3xi64>) {
  %l = moe.gate %x, %w {weight_transposed} : (tensor<5x16xbf16>, tensor<16x8xbf16>) -> tensor<5x8xbf16>
  %rw, %ri = moe.route <top_p> <softmax> %l {k = 3, top_p = 0.4 : f64}
      : tensor<5x8xbf16> -> tensor<5x3xbf16>, tensor<5x3xi64>
  return %rw, %ri : tensor<5x3xbf16>, tensor<5x3xi64>
}

// -----

// Logits used elsewhere stay materialized: no fusion.
// CHECK-LABEL: func.func @logits_returned
// CHECK: moe.gate
// CHECK: moe.route
// CHECK-NOT: moe.fused_route
func.func @logits_returned(%x: tensor<?x16xf32>, %w: tensor<8x16xf32>)
    -> (tensor<?x8xf32>, tensor<?x2xf32>) {
  %l = moe.gate %x, %w : (tensor<?x16xf32>, tensor<8x16xf32>) -> tensor<?x8xf32>
  %rw, %ri = moe.route <token_choice> <softmax> %l {k = 2}
      : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  return %l, %rw : tensor<?x8xf32>, tensor<?x2xf32>
}

// -----

// A gate that changes the element type (bf16 tokens, f32 logits) is left
// alone: the fused op computes logits in the tokens' type.
// CHECK-LABEL: func.func @gate_changes_type
// CHECK: moe.gate
// CHECK-NOT: moe.fused_route
func.func @gate_changes_type(%x: tensor<?x16xbf16>, %w: tensor<8x16xbf16>)
    -> tensor<?x2xf32> {
  %l = moe.gate %x, %w : (tensor<?x16xbf16>, tensor<8x16xbf16>) -> tensor<?x8xf32>
  %rw, %ri = moe.route <token_choice> <softmax> %l {k = 2}
      : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  return %rw : tensor<?x2xf32>
}

// -----

// Logits from elsewhere (a raised ONNX MoE takes them as an input) stay.
// CHECK-LABEL: func.func @no_gate
// CHECK: moe.route
func.func @no_gate(%l: tensor<?x8xf32>) -> tensor<?x2xf32> {
  %rw, %ri = moe.route <token_choice> <softmax> %l {k = 2}
      : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  return %rw : tensor<?x2xf32>
}
