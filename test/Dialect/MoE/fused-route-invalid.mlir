// RUN: moe-opt %s -split-input-file -verify-diagnostics

// The router relations of moe.gate hold for moe.fused_route.
func.func @hidden_mismatch(%x: tensor<?x16xf32>, %w: tensor<8x12xf32>) {
  // expected-error @+1 {{'moe.fused_route' op router weight hidden size (12) must match input hidden size (16)}}
  %rw, %ri = moe.fused_route <token_choice> <softmax> %x, %w {k = 2}
      : tensor<?x16xf32>, tensor<8x12xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  return
}

// -----

func.func @router_bias_shape(%x: tensor<?x16xf32>, %w: tensor<8x16xf32>, %b: tensor<4xf32>) {
  // expected-error @+1 {{'moe.fused_route' op router bias must have shape [8], got 'tensor<4xf32>'}}
  %rw, %ri = moe.fused_route <token_choice> <softmax> %x, %w, %b : tensor<4xf32> {k = 2}
      : tensor<?x16xf32>, tensor<8x16xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  return
}

// -----

func.func @dynamic_experts(%x: tensor<?x16xf32>, %w: tensor<?x16xf32>) {
  // expected-error @+1 {{'moe.fused_route' op router weight must have a static expert dimension}}
  %rw, %ri = moe.fused_route <token_choice> <softmax> %x, %w {k = 2}
      : tensor<?x16xf32>, tensor<?x16xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  return
}

// -----

// And so do the routing relations of moe.route, on the implied [T, E] logits.
func.func @k_too_large(%x: tensor<?x16xf32>, %w: tensor<16x4xf32>) {
  // expected-error @+1 {{'moe.fused_route' op k (5) must not exceed the number of experts (4)}}
  %rw, %ri = moe.fused_route <token_choice> <softmax> %x, %w {k = 5, weight_transposed}
      : tensor<?x16xf32>, tensor<16x4xf32> -> tensor<?x5xf32>, tensor<?x5xi64>
  return
}

// -----

func.func @token_mismatch(%x: tensor<7x16xf32>, %w: tensor<8x16xf32>) {
  // expected-error @+1 {{'moe.fused_route' op weights must have shape [7, 2] ([tokens, k]), got 'tensor<6x2xf32>'}}
  %rw, %ri = moe.fused_route <token_choice> <softmax> %x, %w {k = 2}
      : tensor<7x16xf32>, tensor<8x16xf32> -> tensor<6x2xf32>, tensor<7x2xi64>
  return
}

// -----

func.func @expert_choice_capacity(%x: tensor<10x16xf32>, %w: tensor<4x16xf32>) {
  // expected-error @+1 {{'moe.fused_route' op indices must have shape [4, 5] (token ids [experts, ceil(tokens * capacity_factor / experts)]), got 'tensor<4x4xi64>'}}
  %rw, %ri = moe.fused_route <expert_choice> <softmax> %x, %w {capacity_factor = 2.0 : f64}
      : tensor<10x16xf32>, tensor<4x16xf32> -> tensor<10x4xf32>, tensor<4x4xi64>
  return
}

// -----

// skip_ratio (shared routing attribute) holds for moe.fused_route.
func.func @skip_top1(%x: tensor<?x16xf32>, %w: tensor<8x16xf32>) {
  // expected-error @+1 {{'moe.fused_route' op skip_ratio needs k >= 2 (it drops slots after the first), got k = 1}}
  %rw, %ri = moe.fused_route <token_choice> <softmax> %x, %w {k = 1, skip_ratio = 0.25}
      : tensor<?x16xf32>, tensor<8x16xf32> -> tensor<?x1xf32>, tensor<?x1xi64>
  return
}
