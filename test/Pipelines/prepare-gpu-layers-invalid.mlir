// RUN: moe-opt %s --moe-prepare-gpu-layers -split-input-file -verify-diagnostics
// RUN: not moe-opt %s --moe-prepare-gpu-layers=element-type=f32 -split-input-file 2>&1 | FileCheck %s --check-prefix=TYPE
// TYPE: error: moe-prepare-gpu-layers: element-type must be bf16, f16 or empty, not 'f32'

// The gate and its route must be one moe.fused_route first.
func.func @gate(%x: tensor<?x16xbf16>, %wr: tensor<4x16xbf16>, %w: tensor<4x16x16xbf16>) -> tensor<?x16xbf16> {
  // expected-error @below {{'moe.gate' op moe-prepare-gpu-layers: run --moe-fuse-gating first, so that the gate and its route become one moe.fused_route}}
  %logits = moe.gate %x, %wr : (tensor<?x16xbf16>, tensor<4x16xbf16>) -> tensor<?x4xbf16>
  %wt, %ids = moe.route <token_choice> <softmax> %logits {k = 1 : i64} : tensor<?x4xbf16> -> tensor<?x1xbf16>, tensor<?x1xi64>
  %rows, %off, %map = moe.dispatch %x, %ids {num_experts = 4 : i64} : tensor<?x16xbf16>, tensor<?x1xi64> -> tensor<?x16xbf16>, tensor<5xi64>, tensor<?x1xi64>
  %h = moe.grouped_matmul %rows, %w offsets(%off) : (tensor<?x16xbf16>, tensor<4x16x16xbf16>, tensor<5xi64>) -> tensor<?x16xbf16>
  %y = moe.combine %h, %map, %wt : (tensor<?x16xbf16>, tensor<?x1xi64>, tensor<?x1xbf16>) -> tensor<?x16xbf16>
  return %y : tensor<?x16xbf16>
}

// -----

// moe.experts must be expanded into grouped matmuls and activations first.
func.func @experts(%x: tensor<?x16xf32>, %logits: tensor<?x4xf32>, %w1: tensor<4x16x32xf32>, %w2: tensor<4x16x16xf32>) -> tensor<?x16xf32> {
  %wt, %ids = moe.route <token_choice> <softmax> %logits {k = 1 : i64} : tensor<?x4xf32> -> tensor<?x1xf32>, tensor<?x1xi64>
  %rows, %off, %map = moe.dispatch %x, %ids {num_experts = 4 : i64} : tensor<?x16xf32>, tensor<?x1xi64> -> tensor<?x16xf32>, tensor<5xi64>, tensor<?x1xi64>
  // expected-error @below {{'moe.experts' op moe-prepare-gpu-layers: run --moe-expand-experts first (the GPU layers take grouped matmuls and activations)}}
  %h = moe.experts %rows, %off weights(%w1, %w2) {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<concatenated>} : (tensor<?x16xf32>, tensor<5xi64>, tensor<4x16x32xf32>, tensor<4x16x16xf32>) -> tensor<?x16xf32>
  %y = moe.combine %h, %map, %wt : (tensor<?x16xf32>, tensor<?x1xi64>, tensor<?x1xf32>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// -----

// A layer value used past the combine (here the routing weights) cannot
// stay inside the outlined function.
func.func @escapes(%x: tensor<?x16xf32>, %logits: tensor<?x4xf32>, %w: tensor<4x16x16xf32>) -> (tensor<?x16xf32>, tensor<?x1xf32>) {
  // expected-error @below {{'moe.route' op moe-prepare-gpu-layers: a result is used outside the MoE layer (only the moe.combine's may be)}}
  %wt, %ids = moe.route <token_choice> <softmax> %logits {k = 1 : i64} : tensor<?x4xf32> -> tensor<?x1xf32>, tensor<?x1xi64>
  %rows, %off, %map = moe.dispatch %x, %ids {num_experts = 4 : i64} : tensor<?x16xf32>, tensor<?x1xi64> -> tensor<?x16xf32>, tensor<5xi64>, tensor<?x1xi64>
  %h = moe.grouped_matmul %rows, %w offsets(%off) : (tensor<?x16xf32>, tensor<4x16x16xf32>, tensor<5xi64>) -> tensor<?x16xf32>
  %y = moe.combine %h, %map, %wt : (tensor<?x16xf32>, tensor<?x1xi64>, tensor<?x1xf32>) -> tensor<?x16xf32>
  // expected-note @below {{used here}}
  return %y, %wt : tensor<?x16xf32>, tensor<?x1xf32>
}
