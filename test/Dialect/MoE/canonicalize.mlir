// RUN: moe-opt %s -canonicalize -split-input-file | FileCheck %s

// Each canonicalization in lib/Dialect/MoE/IR/MoECanonicalize.cpp, with the
// cases it must leave alone. Results are returned so that nothing is dead.

// A zero-splat constant selection bias selects like no bias: dropped, and the
// constant with it.
// CHECK-LABEL: func.func @zero_splat_bias_dropped(
// CHECK-SAME: %[[L:[^:]+]]: tensor<?x16xf32>)
// CHECK-NOT: arith.constant
// CHECK: moe.route <token_choice> <sigmoid> %[[L]] {k = 2 : i64} : tensor<?x16xf32>
// CHECK-NOT: bias(
func.func @zero_splat_bias_dropped(%l: tensor<?x16xf32>) -> (tensor<?x2xf32>, tensor<?x2xi64>) {
  %zero = arith.constant dense<0.0> : tensor<16xf32>
  %w, %i = moe.route <token_choice> <sigmoid> %l bias(%zero : tensor<16xf32>) {k = 2}
      : tensor<?x16xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  return %w, %i : tensor<?x2xf32>, tensor<?x2xi64>
}

// -----

// A non-splat constant bias of (signed) zeros is dropped too; the other
// attributes stay.
// CHECK-LABEL: func.func @zero_dense_bias_dropped(
// CHECK-SAME: %[[L:[^:]+]]: tensor<?x4xbf16>)
// CHECK-NOT: arith.constant
// CHECK: moe.route <token_choice> <sigmoid> %[[L]] {epsilon = 9.9999999999999995E-21 : f64, k = 2 : i64, renormalize, scaling_factor = 2.500000e+00 : f64} : tensor<?x4xbf16>
func.func @zero_dense_bias_dropped(%l: tensor<?x4xbf16>) -> (tensor<?x2xbf16>, tensor<?x2xi32>) {
  %zero = arith.constant dense<[0.0, -0.0, 0.0, -0.0]> : tensor<4xbf16>
  %w, %i = moe.route <token_choice> <sigmoid> %l bias(%zero : tensor<4xbf16>)
      {k = 2, renormalize, epsilon = 1.0e-20, scaling_factor = 2.5}
      : tensor<?x4xbf16> -> tensor<?x2xbf16>, tensor<?x2xi32>
  return %w, %i : tensor<?x2xbf16>, tensor<?x2xi32>
}

// -----

// A non-zero splat bias changes the selection: kept.
// CHECK-LABEL: func.func @nonzero_splat_bias_kept(
// CHECK-SAME: %[[L:[^:]+]]: tensor<?x16xf32>)
// CHECK: %[[B:.*]] = arith.constant dense<1.000000e-03> : tensor<16xf32>
// CHECK: moe.route <token_choice> <sigmoid> %[[L]] bias(%[[B]] : tensor<16xf32>) {k = 2 : i64}
func.func @nonzero_splat_bias_kept(%l: tensor<?x16xf32>) -> (tensor<?x2xf32>, tensor<?x2xi64>) {
  %b = arith.constant dense<1.0e-3> : tensor<16xf32>
  %w, %i = moe.route <token_choice> <sigmoid> %l bias(%b : tensor<16xf32>) {k = 2}
      : tensor<?x16xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  return %w, %i : tensor<?x2xf32>, tensor<?x2xi64>
}

// -----

// A constant bias with one non-zero entry: kept.
// CHECK-LABEL: func.func @mostly_zero_bias_kept(
// CHECK-SAME: %[[L:[^:]+]]: tensor<?x4xf32>)
// CHECK: %[[B:.*]] = arith.constant dense<[0.000000e+00, 0.000000e+00, 5.000000e-01, 0.000000e+00]> : tensor<4xf32>
// CHECK: moe.route <token_choice> <sigmoid> %[[L]] bias(%[[B]] : tensor<4xf32>) {k = 1 : i64}
func.func @mostly_zero_bias_kept(%l: tensor<?x4xf32>) -> (tensor<?x1xf32>, tensor<?x1xi64>) {
  %b = arith.constant dense<[0.0, 0.0, 0.5, 0.0]> : tensor<4xf32>
  %w, %i = moe.route <token_choice> <sigmoid> %l bias(%b : tensor<4xf32>) {k = 1}
      : tensor<?x4xf32> -> tensor<?x1xf32>, tensor<?x1xi64>
  return %w, %i : tensor<?x1xf32>, tensor<?x1xi64>
}

// -----

// A bias that is not a constant (a function argument): kept.
// CHECK-LABEL: func.func @argument_bias_kept(
// CHECK-SAME: %[[L:[^:]+]]: tensor<?x256xf32>, %[[B:[^:]+]]: tensor<256xf32>)
// CHECK: moe.route <token_choice> <sigmoid> %[[L]] bias(%[[B]] : tensor<256xf32>) {epsilon = 9.9999999999999995E-21 : f64, k = 8 : i64, num_groups = 8 : i64, renormalize, scaling_factor = 2.500000e+00 : f64, topk_groups = 4 : i64}
func.func @argument_bias_kept(%l: tensor<?x256xf32>, %b: tensor<256xf32>) -> (tensor<?x8xf32>, tensor<?x8xi32>) {
  %w, %i = moe.route <token_choice> <sigmoid> %l bias(%b : tensor<256xf32>)
      {k = 8, renormalize, epsilon = 1.0e-20, scaling_factor = 2.5, num_groups = 8, topk_groups = 4}
      : tensor<?x256xf32> -> tensor<?x8xf32>, tensor<?x8xi32>
  return %w, %i : tensor<?x8xf32>, tensor<?x8xi32>
}

// -----

// An expert_mask that keeps every expert removes nothing: dropped, in every
// mode.
// CHECK-LABEL: func.func @full_mask_dropped(
// CHECK-SAME: %[[L:[^:]+]]: tensor<?x4xf32>)
// CHECK: moe.route <token_choice> <softmax> %[[L]] {k = 2 : i64} :
// CHECK: moe.route <top_p> <softmax> %[[L]] {k = 2 : i64, top_p = 5.000000e-01 : f64} :
// CHECK: moe.route <expert_choice> <sigmoid> %[[L]] {capacity_factor = 2.000000e+00 : f64} :
// CHECK-NOT: expert_mask
func.func @full_mask_dropped(%l: tensor<?x4xf32>)
    -> (tensor<?x2xf32>, tensor<?x2xi64>, tensor<?x2xf32>, tensor<?x2xi64>, tensor<?x4xf32>, tensor<4x?xi64>) {
  %w0, %i0 = moe.route <token_choice> <softmax> %l {k = 2, expert_mask = array<i1: true, true, true, true>}
      : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  %w1, %i1 = moe.route <top_p> <softmax> %l {k = 2, top_p = 0.5, expert_mask = array<i1: true, true, true, true>}
      : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  %w2, %i2 = moe.route <expert_choice> <sigmoid> %l {capacity_factor = 2.0, expert_mask = array<i1: true, true, true, true>}
      : tensor<?x4xf32> -> tensor<?x4xf32>, tensor<4x?xi64>
  return %w0, %i0, %w1, %i1, %w2, %i2
      : tensor<?x2xf32>, tensor<?x2xi64>, tensor<?x2xf32>, tensor<?x2xi64>, tensor<?x4xf32>, tensor<4x?xi64>
}

// -----

// A mask that removes an expert: kept.
// CHECK-LABEL: func.func @partial_mask_kept(
// CHECK-SAME: %[[L:[^:]+]]: tensor<?x4xf32>)
// CHECK: moe.route <token_choice> <softmax> %[[L]] {expert_mask = array<i1: true, true, false, true>, k = 2 : i64}
func.func @partial_mask_kept(%l: tensor<?x4xf32>) -> (tensor<?x2xf32>, tensor<?x2xi64>) {
  %w, %i = moe.route <token_choice> <softmax> %l {k = 2, expert_mask = array<i1: true, true, false, true>}
      : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  return %w, %i : tensor<?x2xf32>, tensor<?x2xi64>
}

// -----

// top_p with k = 1 always picks the best expert with its raw score: it
// becomes token_choice top-1 and top_p goes; the other attributes stay.
// CHECK-LABEL: func.func @top_p_k1_is_top1(
// CHECK-SAME: %[[L:[^:]+]]: tensor<?x16xf16>)
// CHECK: moe.route <token_choice> <softmax> %[[L]] {k = 1 : i64} : tensor<?x16xf16> -> tensor<?x1xf16>, tensor<?x1xi32>
// CHECK: moe.route <token_choice> <sigmoid> %[[L]] {expert_mask = array<i1: true, true, true, true, true, true, true, true, false, false, false, false, false, false, false, false>, k = 1 : i64, scaling_factor = 2.000000e+00 : f64} : tensor<?x16xf16> -> tensor<?x1xf16>, tensor<?x1xi64>
// CHECK-NOT: top_p
func.func @top_p_k1_is_top1(%l: tensor<?x16xf16>)
    -> (tensor<?x1xf16>, tensor<?x1xi32>, tensor<?x1xf16>, tensor<?x1xi64>) {
  %w0, %i0 = moe.route <top_p> <softmax> %l {k = 1, top_p = 0.4}
      : tensor<?x16xf16> -> tensor<?x1xf16>, tensor<?x1xi32>
  %w1, %i1 = moe.route <top_p> <sigmoid> %l
      {k = 1, top_p = 0.9, scaling_factor = 2.0,
       expert_mask = array<i1: true, true, true, true, true, true, true, true,
                               false, false, false, false, false, false, false, false>}
      : tensor<?x16xf16> -> tensor<?x1xf16>, tensor<?x1xi64>
  return %w0, %i0, %w1, %i1 : tensor<?x1xf16>, tensor<?x1xi32>, tensor<?x1xf16>, tensor<?x1xi64>
}

// -----

// top_p with k = 2 may pick one or two experts: kept.
// CHECK-LABEL: func.func @top_p_k2_kept(
// CHECK-SAME: %[[L:[^:]+]]: tensor<?x16xf16>)
// CHECK: moe.route <top_p> <softmax> %[[L]] {k = 2 : i64, top_p = 4.000000e-01 : f64}
func.func @top_p_k2_kept(%l: tensor<?x16xf16>) -> (tensor<?x2xf16>, tensor<?x2xi32>) {
  %w, %i = moe.route <top_p> <softmax> %l {k = 2, top_p = 0.4}
      : tensor<?x16xf16> -> tensor<?x2xf16>, tensor<?x2xi32>
  return %w, %i : tensor<?x2xf16>, tensor<?x2xi32>
}

// -----

// token_choice with k = 1 is left as is.
// CHECK-LABEL: func.func @token_choice_k1_kept(
// CHECK-SAME: %[[L:[^:]+]]: tensor<?x16xf32>)
// CHECK: moe.route <token_choice> <sigmoid> %[[L]] {k = 1 : i64}
func.func @token_choice_k1_kept(%l: tensor<?x16xf32>) -> (tensor<?x1xf32>, tensor<?x1xi64>) {
  %w, %i = moe.route <token_choice> <sigmoid> %l {k = 1} : tensor<?x16xf32> -> tensor<?x1xf32>, tensor<?x1xi64>
  return %w, %i : tensor<?x1xf32>, tensor<?x1xi64>
}

// -----

// route: scaling_factor = 1, epsilon = 0 and group_topk = 2 are the defaults:
// dropped (renormalize and the groups stay).
// CHECK-LABEL: func.func @route_defaults_dropped(
// CHECK-SAME: %[[L:[^:]+]]: tensor<?x256xf32>)
// CHECK: moe.route <token_choice> <sigmoid> %[[L]] {k = 8 : i64, num_groups = 8 : i64, renormalize, topk_groups = 4 : i64} :
// CHECK: moe.route <expert_choice> <softmax> %[[L]] {capacity_factor = 2.000000e+00 : f64} :
// CHECK: moe.route <top_p> <softmax> %[[L]] {k = 4 : i64, top_p = 4.000000e-01 : f64} :
func.func @route_defaults_dropped(%l: tensor<?x256xf32>)
    -> (tensor<?x8xf32>, tensor<?x8xi32>, tensor<?x256xf32>, tensor<256x?xi32>, tensor<?x4xf32>, tensor<?x4xi32>) {
  %w0, %i0 = moe.route <token_choice> <sigmoid> %l
      {k = 8, renormalize, epsilon = 0.0, scaling_factor = 1.0, num_groups = 8, topk_groups = 4, group_topk = 2}
      : tensor<?x256xf32> -> tensor<?x8xf32>, tensor<?x8xi32>
  %w1, %i1 = moe.route <expert_choice> <softmax> %l {capacity_factor = 2.0, scaling_factor = 1.0}
      : tensor<?x256xf32> -> tensor<?x256xf32>, tensor<256x?xi32>
  %w2, %i2 = moe.route <top_p> <softmax> %l {k = 4, top_p = 0.4, scaling_factor = 1.0}
      : tensor<?x256xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  return %w0, %i0, %w1, %i1, %w2, %i2
      : tensor<?x8xf32>, tensor<?x8xi32>, tensor<?x256xf32>, tensor<256x?xi32>, tensor<?x4xf32>, tensor<?x4xi32>
}

// -----

// route: non-default scaling_factor, epsilon and group_topk: kept.
// CHECK-LABEL: func.func @route_non_defaults_kept(
// CHECK-SAME: %[[L:[^:]+]]: tensor<?x256xf32>)
// CHECK: moe.route <token_choice> <sigmoid> %[[L]] {epsilon = 9.9999999999999995E-21 : f64, group_topk = 3 : i64, k = 8 : i64, num_groups = 8 : i64, renormalize, scaling_factor = 2.500000e+00 : f64, topk_groups = 4 : i64} :
// CHECK: moe.route <token_choice> <sigmoid> %[[L]] {group_topk = 1 : i64, k = 8 : i64, num_groups = 8 : i64, scaling_factor = 1.000000e-01 : f64, topk_groups = 4 : i64} :
func.func @route_non_defaults_kept(%l: tensor<?x256xf32>)
    -> (tensor<?x8xf32>, tensor<?x8xi32>, tensor<?x8xf32>, tensor<?x8xi32>) {
  %w0, %i0 = moe.route <token_choice> <sigmoid> %l
      {k = 8, renormalize, epsilon = 1.0e-20, scaling_factor = 2.5, num_groups = 8, topk_groups = 4, group_topk = 3}
      : tensor<?x256xf32> -> tensor<?x8xf32>, tensor<?x8xi32>
  %w1, %i1 = moe.route <token_choice> <sigmoid> %l
      {k = 8, scaling_factor = 0.1, num_groups = 8, topk_groups = 4, group_topk = 1}
      : tensor<?x256xf32> -> tensor<?x8xf32>, tensor<?x8xi32>
  return %w0, %i0, %w1, %i1 : tensor<?x8xf32>, tensor<?x8xi32>, tensor<?x8xf32>, tensor<?x8xi32>
}

// -----

// experts: alpha = 1, beta = 0, kappa = 1 and lambda = 1 are the defaults:
// dropped. limit has no default and stays.
// CHECK-LABEL: func.func @experts_defaults_dropped(
// CHECK-SAME: %[[ROWS:[^:]+]]: tensor<?x64xf32>, %[[OFF:[^:]+]]: tensor<5xi64>, %[[UP:[^:]+]]: tensor<4x64x128xf32>, %[[FUSED:[^:]+]]: tensor<4x64x256xf32>, %[[DOWN:[^:]+]]: tensor<4x128x64xf32>)
// CHECK: moe.experts %[[ROWS]], %[[OFF]] weights(%[[FUSED]], %[[DOWN]]) {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<interleaved>, limit = 7.000000e+00 : f64} :
// CHECK: moe.experts %[[ROWS]], %[[OFF]] weights(%[[UP]], %[[DOWN]]) {activation = #moe.activation<apa>} :
// CHECK: moe.experts %[[ROWS]], %[[OFF]] weights(%[[UP]], %[[DOWN]]) {activation = #moe.activation<aglu>} :
func.func @experts_defaults_dropped(%rows: tensor<?x64xf32>, %off: tensor<5xi64>, %up: tensor<4x64x128xf32>,
                                    %fused: tensor<4x64x256xf32>, %down: tensor<4x128x64xf32>)
    -> (tensor<?x64xf32>, tensor<?x64xf32>, tensor<?x64xf32>) {
  %0 = moe.experts %rows, %off weights(%fused, %down)
      {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<interleaved>,
       alpha = 1.0, beta = 0.0, limit = 7.0}
      : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x256xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
  %1 = moe.experts %rows, %off weights(%up, %down) {activation = #moe.activation<apa>, kappa = 1.0, lambda = 1.0}
      : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x128xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
  %2 = moe.experts %rows, %off weights(%up, %down) {activation = #moe.activation<aglu>, lambda = 1.0}
      : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x128xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
  return %0, %1, %2 : tensor<?x64xf32>, tensor<?x64xf32>, tensor<?x64xf32>
}

// -----

// experts: non-default alpha, beta, kappa and lambda: kept; only the default
// next to them goes.
// CHECK-LABEL: func.func @experts_non_defaults_kept(
// CHECK-SAME: %[[ROWS:[^:]+]]: tensor<?x64xf32>, %[[OFF:[^:]+]]: tensor<5xi64>, %[[UP:[^:]+]]: tensor<4x64x128xf32>, %[[FUSED:[^:]+]]: tensor<4x64x256xf32>, %[[DOWN:[^:]+]]: tensor<4x128x64xf32>)
// CHECK: moe.experts %[[ROWS]], %[[OFF]] weights(%[[FUSED]], %[[DOWN]]) {activation = #moe.activation<silu>, alpha = 1.702000e+00 : f64, beta = 1.000000e+00 : f64, gate_layout = #moe.gate_layout<interleaved>, limit = 7.000000e+00 : f64} :
// CHECK: moe.experts %[[ROWS]], %[[OFF]] weights(%[[UP]], %[[DOWN]]) {activation = #moe.activation<apa>, kappa = 1.500000e+00 : f64} :
// CHECK: moe.experts %[[ROWS]], %[[OFF]] weights(%[[UP]], %[[DOWN]]) {activation = #moe.activation<aglu>, lambda = 5.000000e-01 : f64} :
func.func @experts_non_defaults_kept(%rows: tensor<?x64xf32>, %off: tensor<5xi64>, %up: tensor<4x64x128xf32>,
                                     %fused: tensor<4x64x256xf32>, %down: tensor<4x128x64xf32>)
    -> (tensor<?x64xf32>, tensor<?x64xf32>, tensor<?x64xf32>) {
  %0 = moe.experts %rows, %off weights(%fused, %down)
      {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<interleaved>,
       alpha = 1.702, beta = 1.0, limit = 7.0}
      : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x256xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
  %1 = moe.experts %rows, %off weights(%up, %down) {activation = #moe.activation<apa>, kappa = 1.5, lambda = 1.0}
      : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x128xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
  %2 = moe.experts %rows, %off weights(%up, %down) {activation = #moe.activation<aglu>, kappa = 1.0, lambda = 0.5}
      : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x128xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
  return %0, %1, %2 : tensor<?x64xf32>, tensor<?x64xf32>, tensor<?x64xf32>
}

// -----

// activation: the same defaults dropped (alpha, beta, kappa, lambda).
// CHECK-LABEL: func.func @activation_defaults_dropped(
// CHECK-SAME: %[[G:[^:]+]]: tensor<?x128xf32>, %[[U:[^:]+]]: tensor<?x128xf32>, %[[H:[^:]+]]: tensor<?x256xf32>)
// CHECK: moe.activation %[[G]], %[[U]] {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<separate>} :
// CHECK: moe.activation %[[H]] {activation = #moe.activation<aglu>, gate_layout = #moe.gate_layout<concatenated>, limit = 1.000000e+01 : f64} :
// CHECK: moe.activation %[[H]] {activation = #moe.activation<silu>} :
func.func @activation_defaults_dropped(%g: tensor<?x128xf32>, %u: tensor<?x128xf32>, %h: tensor<?x256xf32>)
    -> (tensor<?x128xf32>, tensor<?x128xf32>, tensor<?x256xf32>) {
  %0 = moe.activation %g, %u
      {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<separate>, alpha = 1.0, beta = 0.0}
      : (tensor<?x128xf32>, tensor<?x128xf32>) -> tensor<?x128xf32>
  %1 = moe.activation %h
      {activation = #moe.activation<aglu>, gate_layout = #moe.gate_layout<concatenated>,
       kappa = 1.0, lambda = 1.0, beta = 0.0, limit = 10.0}
      : (tensor<?x256xf32>) -> tensor<?x128xf32>
  %2 = moe.activation %h {activation = #moe.activation<silu>, alpha = 1.0} : (tensor<?x256xf32>) -> tensor<?x256xf32>
  return %0, %1, %2 : tensor<?x128xf32>, tensor<?x128xf32>, tensor<?x256xf32>
}

// -----

// activation: non-default values kept (gpt-oss clamped SwiGLU, APA).
// CHECK-LABEL: func.func @activation_non_defaults_kept(
// CHECK-SAME: %[[H:[^:]+]]: tensor<?x256xf32>, %[[OFF:[^:]+]]: tensor<3xi32>)
// CHECK: moe.activation %[[H]] {activation = #moe.activation<silu>, alpha = 1.702000e+00 : f64, beta = 1.000000e+00 : f64, gate_layout = #moe.gate_layout<interleaved>, limit = 7.000000e+00 : f64} :
// CHECK: moe.activation %[[H]] offsets(%[[OFF]]) {activation = #moe.activation<apa>, kappa = 2.000000e+00 : f64, lambda = 2.500000e-01 : f64, widths = array<i64: 128, 256>} :
// CHECK: moe.activation %[[H]] {activation = #moe.activation<silu>, beta = -1.000000e+00 : f64, gate_layout = #moe.gate_layout<concatenated>} :
func.func @activation_non_defaults_kept(%h: tensor<?x256xf32>, %off: tensor<3xi32>)
    -> (tensor<?x128xf32>, tensor<?x256xf32>, tensor<?x128xf32>) {
  %0 = moe.activation %h
      {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<interleaved>,
       alpha = 1.702, beta = 1.0, limit = 7.0}
      : (tensor<?x256xf32>) -> tensor<?x128xf32>
  %1 = moe.activation %h offsets(%off)
      {activation = #moe.activation<apa>, kappa = 2.0, lambda = 0.25, widths = array<i64: 128, 256>}
      : (tensor<?x256xf32>, tensor<3xi32>) -> tensor<?x256xf32>
  %2 = moe.activation %h {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<concatenated>, beta = -1.0}
      : (tensor<?x256xf32>) -> tensor<?x128xf32>
  return %0, %1, %2 : tensor<?x128xf32>, tensor<?x256xf32>, tensor<?x128xf32>
}

// -----

// Nothing to drop: every op comes back unchanged (and canonicalization
// terminates).
// CHECK-LABEL: func.func @nothing_to_drop(
// CHECK-SAME: %[[L:[^:]+]]: tensor<?x8xf32>, %[[ROWS:[^:]+]]: tensor<?x64xf32>, %[[OFF:[^:]+]]: tensor<9xi64>, %[[UP:[^:]+]]: tensor<8x64x128xf32>, %[[DOWN:[^:]+]]: tensor<8x128x64xf32>, %[[H:[^:]+]]: tensor<?x128xf32>)
// CHECK-NEXT: %[[W:.*]], %[[I:.*]] = moe.route <token_choice> <softmax> %[[L]] {k = 2 : i64, renormalize} : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
// CHECK-NEXT: %[[Y:.*]] = moe.experts %[[ROWS]], %[[OFF]] weights(%[[UP]], %[[DOWN]]) {activation = #moe.activation<gelu>} : (tensor<?x64xf32>, tensor<9xi64>, tensor<8x64x128xf32>, tensor<8x128x64xf32>) -> tensor<?x64xf32>
// CHECK-NEXT: %[[A:.*]] = moe.activation %[[H]] {activation = #moe.activation<relu>} : (tensor<?x128xf32>) -> tensor<?x128xf32>
// CHECK-NEXT: return %[[W]], %[[I]], %[[Y]], %[[A]]
func.func @nothing_to_drop(%l: tensor<?x8xf32>, %rows: tensor<?x64xf32>, %off: tensor<9xi64>,
                           %up: tensor<8x64x128xf32>, %down: tensor<8x128x64xf32>, %h: tensor<?x128xf32>)
    -> (tensor<?x2xf32>, tensor<?x2xi64>, tensor<?x64xf32>, tensor<?x128xf32>) {
  %w, %i = moe.route <token_choice> <softmax> %l {k = 2, renormalize}
      : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  %y = moe.experts %rows, %off weights(%up, %down) {activation = #moe.activation<gelu>}
      : (tensor<?x64xf32>, tensor<9xi64>, tensor<8x64x128xf32>, tensor<8x128x64xf32>) -> tensor<?x64xf32>
  %a = moe.activation %h {activation = #moe.activation<relu>} : (tensor<?x128xf32>) -> tensor<?x128xf32>
  return %w, %i, %y, %a : tensor<?x2xf32>, tensor<?x2xi64>, tensor<?x64xf32>, tensor<?x128xf32>
}
