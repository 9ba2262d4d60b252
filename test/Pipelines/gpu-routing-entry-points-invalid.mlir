// moe-gpu-entry-points refuses routings and dispatches that the moe_route
// and moe_dispatch C ABI cannot call, with an error at the op, and leaves
// the module as it was.
// RUN: moe-opt %s --moe-gpu-entry-points -split-input-file -verify-diagnostics
// RUN: moe-opt %s --moe-gpu-entry-points -split-input-file -verify-diagnostics -mlir-print-ir-after-failure 2>&1 | FileCheck %s --check-prefix=KEPT

// KEPT: func.func @twice
// KEPT-NOT: gpu.module

func.func @bf16_weights(%x: tensor<?x64xbf16>, %w: tensor<8x64xbf16>) -> (tensor<?x2xbf16>, tensor<?x2xi64>) {
  // expected-error @+1 {{'moe.fused_route' op moe-gpu-entry-points: moe_route returns f32 weights and i64 ids}}
  %wt, %ids = moe.fused_route <token_choice> <softmax> %x, %w {k = 2 : i64}
      : tensor<?x64xbf16>, tensor<8x64xbf16> -> tensor<?x2xbf16>, tensor<?x2xi64>
  return %wt, %ids : tensor<?x2xbf16>, tensor<?x2xi64>
}

// -----

func.func @mixed(%x: tensor<?x64xf32>, %w: tensor<8x64xbf16>) -> (tensor<?x2xf32>, tensor<?x2xi64>) {
  // expected-error @+1 {{'moe.fused_route' op moe-gpu-entry-points: moe_route takes tokens and router weight of one type}}
  %wt, %ids = moe.fused_route <token_choice> <softmax> %x, %w {k = 2 : i64}
      : tensor<?x64xf32>, tensor<8x64xbf16> -> tensor<?x2xf32>, tensor<?x2xi64>
  return %wt, %ids : tensor<?x2xf32>, tensor<?x2xi64>
}

// -----

func.func @bf16_bias(%x: tensor<?x64xbf16>, %w: tensor<8x64xbf16>, %b: tensor<8xbf16>) -> (tensor<?x2xf32>, tensor<?x2xi64>) {
  // expected-error @+1 {{'moe.fused_route' op moe-gpu-entry-points: moe_route takes f32 biases}}
  %wt, %ids = moe.fused_route <token_choice> <sigmoid> %x, %w selection_bias(%b : tensor<8xbf16>) {k = 2 : i64}
      : tensor<?x64xbf16>, tensor<8x64xbf16> -> tensor<?x2xf32>, tensor<?x2xi64>
  return %wt, %ids : tensor<?x2xf32>, tensor<?x2xi64>
}

// -----

// Two routings that the C key (dtype, experts, hidden, k) cannot tell apart.
func.func @twice(%x: tensor<?x64xbf16>, %w: tensor<8x64xbf16>) -> (tensor<?x2xf32>, tensor<?x2xi64>, tensor<?x2xf32>, tensor<?x2xi64>) {
  %wt, %ids = moe.fused_route <token_choice> <softmax> %x, %w {k = 2 : i64}
      : tensor<?x64xbf16>, tensor<8x64xbf16> -> tensor<?x2xf32>, tensor<?x2xi64>
  // expected-error @+1 {{'moe.fused_route' op moe-gpu-entry-points: two routings with the same (dtype, experts, hidden, k) but different attributes}}
  %wt2, %ids2 = moe.fused_route <token_choice> <sigmoid> %x, %w {k = 2 : i64}
      : tensor<?x64xbf16>, tensor<8x64xbf16> -> tensor<?x2xf32>, tensor<?x2xi64>
  return %wt, %ids, %wt2, %ids2 : tensor<?x2xf32>, tensor<?x2xi64>, tensor<?x2xf32>, tensor<?x2xi64>
}

// -----

func.func @i32_ids(%x: tensor<?x64xbf16>, %ids: tensor<?x2xi32>) -> (tensor<?x64xbf16>, tensor<9xi64>, tensor<?x2xi64>) {
  // expected-error @+1 {{'moe.dispatch' op moe-gpu-entry-points: moe_dispatch takes i64 ids and returns i64 offsets and row map}}
  %r, %o, %m = moe.dispatch %x, %ids {num_experts = 8 : i64}
      : tensor<?x64xbf16>, tensor<?x2xi32> -> tensor<?x64xbf16>, tensor<9xi64>, tensor<?x2xi64>
  return %r, %o, %m : tensor<?x64xbf16>, tensor<9xi64>, tensor<?x2xi64>
}

// -----

// moe_route returns [T, k] token-choice ids and moe_dispatch reads them:
// expert choice ([E, C] token ids, a dense [T, E] gate) runs in a layer
// entry only.
func.func @expert_choice_route(%x: tensor<?x64xbf16>, %w: tensor<8x64xbf16>) -> (tensor<?x8xf32>, tensor<8x?xi64>) {
  // expected-error @+1 {{'moe.fused_route' op moe-gpu-entry-points: moe_route returns [T, k] token-choice ids; expert-choice routing runs in a layer entry (moe-gpu-layer-entries)}}
  %g, %ids = moe.fused_route <expert_choice> <softmax> %x, %w {capacity_factor = 2.0 : f64}
      : tensor<?x64xbf16>, tensor<8x64xbf16> -> tensor<?x8xf32>, tensor<8x?xi64>
  return %g, %ids : tensor<?x8xf32>, tensor<8x?xi64>
}

// -----

func.func @expert_choice_dispatch(%x: tensor<?x64xbf16>, %ids: tensor<8x?xi64>) -> (tensor<?x64xbf16>, tensor<9xi64>, tensor<?x8xi64>) {
  // expected-error @+1 {{'moe.dispatch' op moe-gpu-entry-points: moe_dispatch takes [T, k] token-choice ids; an expert-choice dispatch runs in a layer entry}}
  %r, %o, %m = moe.dispatch %x, %ids {num_experts = 8 : i64, expert_choice}
      : tensor<?x64xbf16>, tensor<8x?xi64> -> tensor<?x64xbf16>, tensor<9xi64>, tensor<?x8xi64>
  return %r, %o, %m : tensor<?x64xbf16>, tensor<9xi64>, tensor<?x8xi64>
}

// -----

// moe_dispatch takes the experts' own ids: a merged layer's expert_map runs
// in a layer entry.
func.func @merged(%x: tensor<?x64xbf16>, %ids: tensor<?x2xi64>) -> (tensor<?x64xbf16>, tensor<3xi64>, tensor<?x2xi64>) {
  // expected-error @+1 {{'moe.dispatch' op moe-gpu-entry-points: moe_dispatch takes the experts' own ids; a merged layer's expert_map runs in a layer entry}}
  %r, %o, %m = moe.dispatch %x, %ids {num_experts = 2 : i64, expert_map = array<i64: 0, 1, 1, 0>}
      : tensor<?x64xbf16>, tensor<?x2xi64> -> tensor<?x64xbf16>, tensor<3xi64>, tensor<?x2xi64>
  return %r, %o, %m : tensor<?x64xbf16>, tensor<3xi64>, tensor<?x2xi64>
}

// -----

// moe_dispatch takes no routing weights, so a dispatch that scales its rows
// by them (Llama 4) has a GPU form only inside a layer entry.
func.func @scaled_rows(%x: tensor<?x64xbf16>, %ids: tensor<?x1xi64>, %w: tensor<?x1xf32>) -> (tensor<?x64xbf16>, tensor<9xi64>, tensor<?x1xi64>) {
  // expected-error @+1 {{'moe.dispatch' op moe-gpu-entry-points: moe_dispatch takes no routing weights, so it cannot scale_rows (a layer entry can)}}
  %r, %o, %m = moe.dispatch %x, %ids weights(%w : tensor<?x1xf32>) {num_experts = 8 : i64, scale_rows}
      : tensor<?x64xbf16>, tensor<?x1xi64> -> tensor<?x64xbf16>, tensor<9xi64>, tensor<?x1xi64>
  return %r, %o, %m : tensor<?x64xbf16>, tensor<9xi64>, tensor<?x1xi64>
}

// -----

func.func @two_dispatches(%x: tensor<?x64xbf16>, %ids: tensor<?x2xi64>) -> (tensor<?x64xbf16>, tensor<?x64xbf16>) {
  %r, %o, %m = moe.dispatch %x, %ids {num_experts = 8 : i64}
      : tensor<?x64xbf16>, tensor<?x2xi64> -> tensor<?x64xbf16>, tensor<9xi64>, tensor<?x2xi64>
  // expected-error @+1 {{'moe.dispatch' op moe-gpu-entry-points: two dispatches with the same (dtype, experts, hidden, k) but different attributes; moe_dispatch could not tell them apart}}
  %r2, %o2, %m2 = moe.dispatch %x, %ids {num_experts = 8 : i64, capacity = 4 : i64, drop_policy = #moe.drop_policy<in_order>}
      : tensor<?x64xbf16>, tensor<?x2xi64> -> tensor<?x64xbf16>, tensor<9xi64>, tensor<?x2xi64>
  return %r, %r2 : tensor<?x64xbf16>, tensor<?x64xbf16>
}
