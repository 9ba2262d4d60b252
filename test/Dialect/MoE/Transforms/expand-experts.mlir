// RUN: moe-opt %s --moe-expand-experts -split-input-file | FileCheck %s

// Mixtral: stacked SwiGLU with separate gate and up weights becomes two first
// grouped matmuls, the gated activation, and the down grouped matmul.
// CHECK-LABEL: func.func @stacked_separate
// CHECK-SAME: (%[[ROWS:.*]]: tensor<?x16xf32>, %[[OFF:.*]]: tensor<5xi64>, %[[WG:.*]]: tensor<4x16x32xf32>, %[[WU:.*]]: tensor<4x16x32xf32>, %[[WD:.*]]: tensor<4x32x16xf32>)
// CHECK: %[[G:.*]] = moe.grouped_matmul %[[ROWS]], %[[WG]] offsets(%[[OFF]]) : (tensor<?x16xf32>, tensor<4x16x32xf32>, tensor<5xi64>) -> tensor<?x32xf32>
// CHECK: %[[U:.*]] = moe.grouped_matmul %[[ROWS]], %[[WU]] offsets(%[[OFF]]) : (tensor<?x16xf32>, tensor<4x16x32xf32>, tensor<5xi64>) -> tensor<?x32xf32>
// CHECK: %[[A:.*]] = moe.activation %[[G]], %[[U]] {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<separate>} : (tensor<?x32xf32>, tensor<?x32xf32>) -> tensor<?x32xf32>
// CHECK: %[[Y:.*]] = moe.grouped_matmul %[[A]], %[[WD]] offsets(%[[OFF]]) : (tensor<?x32xf32>, tensor<4x32x16xf32>, tensor<5xi64>) -> tensor<?x16xf32>
// CHECK: return %[[Y]]
// CHECK-NOT: moe.experts
func.func @stacked_separate(%rows: tensor<?x16xf32>, %off: tensor<5xi64>,
    %wg: tensor<4x16x32xf32>, %wu: tensor<4x16x32xf32>,
    %wd: tensor<4x32x16xf32>) -> tensor<?x16xf32> {
  %y = moe.experts %rows, %off weights(%wg, %wu, %wd)
      {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<separate>}
      : (tensor<?x16xf32>, tensor<5xi64>, tensor<4x16x32xf32>,
         tensor<4x16x32xf32>, tensor<4x32x16xf32>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// -----

// gpt-oss: transposed [E, out, in] weights with biases and an interleaved,
// clamped SwiGLU. The fused first matmul is twice the inner width; every
// activation attribute and the transposed layout carry over.
// CHECK-LABEL: func.func @gpt_oss_interleaved_biases
// CHECK-SAME: (%[[ROWS:.*]]: tensor<7x8xbf16>, %[[OFF:.*]]: tensor<3xi32>, %[[W1:.*]]: tensor<2x12x8xbf16>, %[[B1:.*]]: tensor<2x12xbf16>, %[[W2:.*]]: tensor<2x8x6xbf16>, %[[B2:.*]]: tensor<2x8xbf16>)
// CHECK: %[[H:.*]] = moe.grouped_matmul %[[ROWS]], %[[W1]] offsets(%[[OFF]]) bias(%[[B1]]) {transpose_rhs} : {{.*}} -> tensor<7x12xbf16>
// CHECK: %[[A:.*]] = moe.activation %[[H]] {activation = #moe.activation<silu>, alpha = 1.702000e+00 : f64, beta = 1.000000e+00 : f64, gate_layout = #moe.gate_layout<interleaved>, limit = 7.000000e+00 : f64} : (tensor<7x12xbf16>) -> tensor<7x6xbf16>
// CHECK: moe.grouped_matmul %[[A]], %[[W2]] offsets(%[[OFF]]) bias(%[[B2]]) {transpose_rhs} : {{.*}} -> tensor<7x8xbf16>
func.func @gpt_oss_interleaved_biases(%rows: tensor<7x8xbf16>, %off: tensor<3xi32>,
    %w1: tensor<2x12x8xbf16>, %b1: tensor<2x12xbf16>,
    %w2: tensor<2x8x6xbf16>, %b2: tensor<2x8xbf16>) -> tensor<7x8xbf16> {
  %y = moe.experts %rows, %off weights(%w1, %w2) biases(%b1, %b2)
      {transposed_weights, activation = #moe.activation<silu>,
       gate_layout = #moe.gate_layout<interleaved>,
       alpha = 1.702 : f64, beta = 1.0 : f64, limit = 7.0 : f64}
      : (tensor<7x8xbf16>, tensor<3xi32>, tensor<2x12x8xbf16>, tensor<2x8x6xbf16>,
         tensor<2x12xbf16>, tensor<2x8xbf16>) -> tensor<7x8xbf16>
  return %y : tensor<7x8xbf16>
}

// -----

// Heterogeneous experts (HMoE): per-expert weights of different widths become
// per-group grouped matmuls padded to the widest expert, and the activation
// learns each group's width so that the concatenated gate/up halves are found
// per group.
// CHECK-LABEL: func.func @heterogeneous_concatenated
// CHECK-SAME: (%[[ROWS:.*]]: tensor<?x8xf32>, %[[OFF:.*]]: tensor<4xi64>, %[[U0:.*]]: tensor<8x4xf32>, %[[D0:.*]]: tensor<2x8xf32>, %[[U1:.*]]: tensor<8x8xf32>, %[[D1:.*]]: tensor<4x8xf32>, %[[U2:.*]]: tensor<8x12xf32>, %[[D2:.*]]: tensor<6x8xf32>)
// CHECK: %[[H:.*]] = moe.grouped_matmul %[[ROWS]], %[[U0]], %[[U1]], %[[U2]] offsets(%[[OFF]]) : {{.*}} -> tensor<?x12xf32>
// CHECK: %[[A:.*]] = moe.activation %[[H]] offsets(%[[OFF]]) {activation = #moe.activation<gelu>, gate_layout = #moe.gate_layout<concatenated>, widths = array<i64: 2, 4, 6>} : (tensor<?x12xf32>, tensor<4xi64>) -> tensor<?x6xf32>
// CHECK: moe.grouped_matmul %[[A]], %[[D0]], %[[D1]], %[[D2]] offsets(%[[OFF]]) : {{.*}} -> tensor<?x8xf32>
func.func @heterogeneous_concatenated(%rows: tensor<?x8xf32>, %off: tensor<4xi64>,
    %u0: tensor<8x4xf32>, %d0: tensor<2x8xf32>,
    %u1: tensor<8x8xf32>, %d1: tensor<4x8xf32>,
    %u2: tensor<8x12xf32>, %d2: tensor<6x8xf32>) -> tensor<?x8xf32> {
  %y = moe.experts %rows, %off weights(%u0, %d0, %u1, %d1, %u2, %d2)
      {activation = #moe.activation<gelu>, gate_layout = #moe.gate_layout<concatenated>}
      : (tensor<?x8xf32>, tensor<4xi64>, tensor<8x4xf32>, tensor<2x8xf32>,
         tensor<8x8xf32>, tensor<4x8xf32>, tensor<8x12xf32>, tensor<6x8xf32>)
      -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Per-expert weights of equal width need no widths: the activation stays a
// plain element-wise op.
// CHECK-LABEL: func.func @per_expert_uniform_relu
// CHECK: moe.grouped_matmul %{{.*}}, %{{.*}}, %{{.*}} offsets(%{{.*}}) : {{.*}} -> tensor<5x16xf32>
// CHECK: moe.activation %{{.*}} {activation = #moe.activation<relu>} : (tensor<5x16xf32>) -> tensor<5x16xf32>
// CHECK: moe.grouped_matmul %{{.*}}, %{{.*}}, %{{.*}} offsets(%{{.*}}) : {{.*}} -> tensor<5x4xf32>
func.func @per_expert_uniform_relu(%rows: tensor<5x4xf32>, %off: tensor<3xi64>,
    %u0: tensor<4x16xf32>, %d0: tensor<16x4xf32>,
    %u1: tensor<4x16xf32>, %d1: tensor<16x4xf32>) -> tensor<5x4xf32> {
  %y = moe.experts %rows, %off weights(%u0, %d0, %u1, %d1)
      {activation = #moe.activation<relu>}
      : (tensor<5x4xf32>, tensor<3xi64>, tensor<4x16xf32>, tensor<16x4xf32>,
         tensor<4x16xf32>, tensor<16x4xf32>) -> tensor<5x4xf32>
  return %y : tensor<5x4xf32>
}

// -----

// Ops other than moe.experts are left alone.
// CHECK-LABEL: func.func @nothing_to_expand
// CHECK-NEXT: moe.grouped_matmul
// CHECK-NEXT: return
func.func @nothing_to_expand(%a: tensor<3x4xf32>, %off: tensor<2xi64>,
    %w: tensor<1x4x4xf32>) -> tensor<3x4xf32> {
  %y = moe.grouped_matmul %a, %w offsets(%off)
      : (tensor<3x4xf32>, tensor<1x4x4xf32>, tensor<2xi64>) -> tensor<3x4xf32>
  return %y : tensor<3x4xf32>
}
