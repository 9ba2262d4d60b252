// RUN: moe-opt %s --onnx-infer-shapes --split-input-file --verify-diagnostics

func.func @moe_experts_mismatch(%x: tensor<?x16xf32>, %r: tensor<?x4xf32>,
                                %w1: tensor<8x32x16xf32>, %w2: tensor<8x16x32xf32>) {
  %none = onnx.none
  // expected-error @+1 {{onnx node '' (com.microsoft MoE): router_probs scores 4 experts but fc1_experts_weights holds 8}}
  %0 = onnx.node "MoE"(%x, %r, %w1, %none, %w2) {domain = "com.microsoft"}
      : (tensor<?x16xf32>, tensor<?x4xf32>, tensor<8x32x16xf32>, none, tensor<8x16x32xf32>) -> !onnx.unknown
  return
}

// -----

func.func @moe_k(%x: tensor<?x16xf32>, %r: tensor<?x8xf32>,
                 %w1: tensor<8x32x16xf32>, %w2: tensor<8x16x32xf32>) {
  %none = onnx.none
  // expected-error @+1 {{k = 9 must be in [1, 8]}}
  %0 = onnx.node "MoE"(%x, %r, %w1, %none, %w2) attributes {k = 9 : i64} {domain = "com.microsoft"}
      : (tensor<?x16xf32>, tensor<?x8xf32>, tensor<8x32x16xf32>, none, tensor<8x16x32xf32>) -> !onnx.unknown
  return
}

// -----

func.func @moe_hidden(%x: tensor<?x12xf32>, %r: tensor<?x8xf32>,
                      %w1: tensor<8x32x16xf32>, %w2: tensor<8x16x32xf32>) {
  %none = onnx.none
  // expected-error @+1 {{reads the hidden size 12 in neither layout ([E, out, in] or [E, in, out])}}
  %0 = onnx.node "MoE"(%x, %r, %w1, %none, %w2) {domain = "com.microsoft"}
      : (tensor<?x12xf32>, tensor<?x8xf32>, tensor<8x32x16xf32>, none, tensor<8x16x32xf32>) -> !onnx.unknown
  return
}

// -----

func.func @moe_rank(%x: tensor<16xf32>, %r: tensor<?x8xf32>) {
  // expected-error @+1 {{input must be [tokens, hidden] or [batch, seq, hidden], got rank 1}}
  %0 = onnx.node "MoE"(%x, %r) {domain = "com.microsoft"} : (tensor<16xf32>, tensor<?x8xf32>) -> !onnx.unknown
  return
}

// -----

func.func @qmoe_bits(%x: tensor<?x16xf32>, %r: tensor<?x8xf32>) {
  // expected-error @+1 {{expert_weight_bits must be 2, 4 or 8, got 3}}
  %0 = onnx.node "QMoE"(%x, %r) attributes {expert_weight_bits = 3 : i64} {domain = "com.microsoft"}
      : (tensor<?x16xf32>, tensor<?x8xf32>) -> !onnx.unknown
  return
}

// -----

func.func @gather_nd_too_deep(%data: tensor<4x16xf32>, %i: tensor<5x3xi64>) {
  // expected-error @+1 {{onnx node '' (GatherND): indices address 3 dims after batch_dims = 0 but data has rank 2}}
  %0 = onnx.node "GatherND"(%data, %i) : (tensor<4x16xf32>, tensor<5x3xi64>) -> !onnx.unknown
  return
}

// -----

func.func @gather_nd_batch(%data: tensor<3x4xf32>, %i: tensor<2x1xi64>) {
  // expected-error @+1 {{batch dim 0 differs: 3 vs 2}}
  %0 = onnx.node "GatherND"(%data, %i) attributes {batch_dims = 1 : i64} : (tensor<3x4xf32>, tensor<2x1xi64>) -> !onnx.unknown
  return
}

// -----

func.func @qmoe_packing(%x: tensor<?x16xf32>, %r: tensor<?x8xf32>, %w1: tensor<8x32x16xui8>) {
  // expected-error @+1 {{packs 32 inputs per row but the hidden size is 16}}
  %0 = onnx.node "QMoE"(%x, %r, %w1) attributes {expert_weight_bits = 4 : i64} {domain = "com.microsoft"}
      : (tensor<?x16xf32>, tensor<?x8xf32>, tensor<8x32x16xui8>) -> !onnx.unknown
  return
}

// -----

func.func @einsum_mismatch(%a: tensor<4x8xf32>, %b: tensor<6x2xf32>) {
  // expected-error @+1 {{onnx node '' (Einsum): dimension 'k' is 8 in one input and 6 in input #1}}
  %0 = onnx.node "Einsum"(%a, %b) attributes {equation = "ik,kj->ij"} : (tensor<4x8xf32>, tensor<6x2xf32>) -> !onnx.unknown
  return
}

// -----

func.func @einsum_rank(%a: tensor<4x8xf32>) {
  // expected-error @+1 {{term 'ijk' has 3 letters but input #0 has rank 2}}
  %0 = onnx.node "Einsum"(%a) attributes {equation = "ijk->i"} : (tensor<4x8xf32>) -> !onnx.unknown
  return
}
