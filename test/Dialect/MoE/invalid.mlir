// RUN: moe-opt %s -split-input-file -verify-diagnostics

// One case per verifier diagnostic in lib/Dialect/MoE/IR/MoEOps.cpp, in
// source order, then the ODS constraints (attribute ranges, operand types).

//===----------------------------------------------------------------------===//
// moe.gate
//===----------------------------------------------------------------------===//

// gate: input must be rank 2
func.func @gate_input_rank(%x: tensor<2x8x16xf32>, %w: tensor<4x16xf32>) {
  // expected-error @+1 {{'moe.gate' op input [tokens, hidden] must have rank 2, got 3}}
  %0 = moe.gate %x, %w : (tensor<2x8x16xf32>, tensor<4x16xf32>) -> tensor<?x4xf32>
  return
}

// -----

// gate: router weight must be rank 2
func.func @gate_weight_rank(%x: tensor<?x16xf32>, %w: tensor<1x4x16xf32>) {
  // expected-error @+1 {{'moe.gate' op router weight must have rank 2, got 3}}
  %0 = moe.gate %x, %w : (tensor<?x16xf32>, tensor<1x4x16xf32>) -> tensor<?x4xf32>
  return
}

// -----

// gate: logits must be rank 2
func.func @gate_logits_rank(%x: tensor<?x16xf32>, %w: tensor<4x16xf32>) {
  // expected-error @+1 {{'moe.gate' op logits [tokens, experts] must have rank 2, got 1}}
  %0 = moe.gate %x, %w : (tensor<?x16xf32>, tensor<4x16xf32>) -> tensor<?xf32>
  return
}

// -----

// gate: the expert dimension of the router weight must be static
func.func @gate_dynamic_experts(%x: tensor<?x16xf32>, %w: tensor<?x16xf32>) {
  // expected-error @+1 {{'moe.gate' op router weight must have a static expert dimension}}
  %0 = moe.gate %x, %w : (tensor<?x16xf32>, tensor<?x16xf32>) -> tensor<?x4xf32>
  return
}

// -----

// gate: with weight_transposed the expert dimension is dim 1
func.func @gate_dynamic_experts_transposed(%x: tensor<?x16xf32>, %w: tensor<16x?xf32>) {
  // expected-error @+1 {{'moe.gate' op router weight must have a static expert dimension}}
  %0 = moe.gate %x, %w {weight_transposed} : (tensor<?x16xf32>, tensor<16x?xf32>) -> tensor<?x4xf32>
  return
}

// -----

// gate: router weight hidden size must match the input
func.func @gate_hidden_mismatch(%x: tensor<?x16xf32>, %w: tensor<4x32xf32>) {
  // expected-error @+1 {{'moe.gate' op router weight hidden size (32) must match input hidden size (16)}}
  %0 = moe.gate %x, %w : (tensor<?x16xf32>, tensor<4x32xf32>) -> tensor<?x4xf32>
  return
}

// -----

// gate: an [E, H] weight marked weight_transposed reads E as the hidden size
func.func @gate_transposed_wrong_layout(%x: tensor<?x16xf32>, %w: tensor<4x16xf32>) {
  // expected-error @+1 {{'moe.gate' op router weight hidden size (4) must match input hidden size (16)}}
  %0 = moe.gate %x, %w {weight_transposed} : (tensor<?x16xf32>, tensor<4x16xf32>) -> tensor<?x16xf32>
  return
}

// -----

// gate: logits token count must match the input
func.func @gate_token_mismatch(%x: tensor<8x16xf32>, %w: tensor<4x16xf32>) {
  // expected-error @+1 {{'moe.gate' op logits token count (4) must match input token count (8)}}
  %0 = moe.gate %x, %w : (tensor<8x16xf32>, tensor<4x16xf32>) -> tensor<4x4xf32>
  return
}

// -----

// gate: logits expert count must match the router weight
func.func @gate_expert_mismatch(%x: tensor<?x16xf32>, %w: tensor<4x16xf32>) {
  // expected-error @+1 {{'moe.gate' op logits expert count (8) must match router weight expert count (4)}}
  %0 = moe.gate %x, %w : (tensor<?x16xf32>, tensor<4x16xf32>) -> tensor<?x8xf32>
  return
}

// -----

// gate: the logits expert count must be static as well
func.func @gate_logits_dynamic_experts(%x: tensor<?x16xf32>, %w: tensor<4x16xf32>) {
  // expected-error @+1 {{'moe.gate' op logits expert count (?) must match router weight expert count (4)}}
  %0 = moe.gate %x, %w : (tensor<?x16xf32>, tensor<4x16xf32>) -> tensor<?x?xf32>
  return
}

// -----

// gate: router bias must be [E]
func.func @gate_bias_shape(%x: tensor<?x16xf32>, %w: tensor<4x16xf32>, %b: tensor<1x4xf32>) {
  // expected-error @+1 {{'moe.gate' op router bias must have shape [4], got 'tensor<1x4xf32>'}}
  %0 = moe.gate %x, %w, %b : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<1x4xf32>) -> tensor<?x4xf32>
  return
}

// -----

//===----------------------------------------------------------------------===//
// moe.route
//===----------------------------------------------------------------------===//

// route: logits must be rank 2
func.func @route_logits_rank(%l: tensor<8xf32>) {
  // expected-error @+1 {{'moe.route' op logits must be [tokens, experts] with a static, non-zero expert count, got 'tensor<8xf32>'}}
  %w, %i = moe.route <token_choice> <softmax> %l {k = 2} : tensor<8xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  return
}

// -----

// route: zero experts
func.func @route_no_experts(%l: tensor<4x0xf32>) {
  // expected-error @+1 {{'moe.route' op logits must be [tokens, experts] with a static, non-zero expert count, got 'tensor<4x0xf32>'}}
  %w, %i = moe.route <expert_choice> <softmax> %l {capacity_factor = 2.0 : f64} : tensor<4x0xf32> -> tensor<4x0xf32>, tensor<0x1xi64>
  return
}

// -----

// route: the expert count must be static
func.func @route_logits_dynamic_experts(%l: tensor<?x?xf32>) {
  // expected-error @+1 {{'moe.route' op logits must be [tokens, experts] with a static, non-zero expert count, got 'tensor<?x?xf32>'}}
  %w, %i = moe.route <token_choice> <softmax> %l {k = 2} : tensor<?x?xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  return
}

// -----

// route: selection bias outside token_choice (top_p)
func.func @route_bias_top_p(%l: tensor<?x8xf32>, %b: tensor<8xf32>) {
  // expected-error @+1 {{'moe.route' op selection bias is only supported in token_choice mode, not top_p}}
  %w, %i = moe.route <top_p> <softmax> %l bias(%b : tensor<8xf32>) {k = 2, top_p = 0.5}
      : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  return
}

// -----

// route: selection bias outside token_choice (expert_choice)
func.func @route_bias_expert_choice(%l: tensor<?x8xf32>, %b: tensor<8xf32>) {
  // expected-error @+1 {{'moe.route' op selection bias is only supported in token_choice mode, not expert_choice}}
  %w, %i = moe.route <expert_choice> <sigmoid> %l bias(%b : tensor<8xf32>) {capacity_factor = 2.0}
      : tensor<?x8xf32> -> tensor<?x8xf32>, tensor<8x?xi64>
  return
}

// -----

// route: group-limited selection outside token_choice (top_p)
func.func @route_groups_top_p(%l: tensor<?x8xf32>) {
  // expected-error @+1 {{'moe.route' op group-limited selection is only supported in token_choice mode, not top_p}}
  %w, %i = moe.route <top_p> <softmax> %l {k = 2, top_p = 0.5, num_groups = 4, topk_groups = 2}
      : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  return
}

// -----

// route: group_topk alone also counts as group-limited selection
func.func @route_group_topk_expert_choice(%l: tensor<?x8xf32>) {
  // expected-error @+1 {{'moe.route' op group-limited selection is only supported in token_choice mode, not expert_choice}}
  %w, %i = moe.route <expert_choice> <softmax> %l {capacity_factor = 1.0, group_topk = 2}
      : tensor<?x8xf32> -> tensor<?x8xf32>, tensor<8x?xi64>
  return
}

// -----

// route: top_p outside top_p mode
func.func @route_top_p_in_token_choice(%l: tensor<?x8xf32>) {
  // expected-error @+1 {{'moe.route' op top_p is only valid in top_p mode}}
  %w, %i = moe.route <token_choice> <softmax> %l {k = 2, top_p = 0.5}
      : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  return
}

// -----

// route: capacity_factor outside expert_choice mode
func.func @route_capacity_factor_in_token_choice(%l: tensor<?x8xf32>) {
  // expected-error @+1 {{'moe.route' op capacity_factor is only valid in expert_choice mode}}
  %w, %i = moe.route <token_choice> <softmax> %l {k = 1, capacity_factor = 1.25}
      : tensor<?x8xf32> -> tensor<?x1xf32>, tensor<?x1xi64>
  return
}

// -----

// route: renormalize in top_p mode (top-p weights are raw probabilities)
func.func @route_renormalize_top_p(%l: tensor<?x8xf32>) {
  // expected-error @+1 {{'moe.route' op renormalize is only valid in token_choice mode, not top_p}}
  %w, %i = moe.route <top_p> <softmax> %l {k = 4, top_p = 0.4, renormalize}
      : tensor<?x8xf32> -> tensor<?x4xf32>, tensor<?x4xi64>
  return
}

// -----

// route: renormalize in expert_choice mode
func.func @route_renormalize_expert_choice(%l: tensor<?x8xf32>) {
  // expected-error @+1 {{'moe.route' op renormalize is only valid in token_choice mode, not expert_choice}}
  %w, %i = moe.route <expert_choice> <softmax> %l {capacity_factor = 2.0, renormalize}
      : tensor<?x8xf32> -> tensor<?x8xf32>, tensor<8x?xi64>
  return
}

// -----

// route: renormalize_clamp without renormalize
func.func @route_clamp_without_renormalize(%l: tensor<?x8xf32>) {
  // expected-error @+1 {{'moe.route' op renormalize_clamp requires renormalize}}
  %w, %i = moe.route <token_choice> <softmax> %l {k = 2, renormalize_clamp}
      : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  return
}

// -----

// route: jitter_eps with another score function
func.func @route_jitter_without_sparsemixer(%l: tensor<?x8xf32>) {
  // expected-error @+1 {{'moe.route' op jitter_eps is only valid with sparsemixer scores}}
  %w, %i = moe.route <token_choice> <softmax> %l {k = 2, jitter_eps = 0.01}
      : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  return
}

// -----

// route: negative jitter_eps
func.func @route_negative_jitter(%l: tensor<?x8xf32>) {
  // expected-error @+1 {{'moe.route' op jitter_eps must be finite and non-negative}}
  %w, %i = moe.route <token_choice> <sparsemixer> %l {k = 2, jitter_eps = -0.01}
      : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  return
}

// -----

// route: sparsemixer picks exactly two experts per token
func.func @route_sparsemixer_k3(%l: tensor<?x8xf32>) {
  // expected-error @+1 {{'moe.route' op sparsemixer scores need token_choice mode with k = 2}}
  %w, %i = moe.route <token_choice> <sparsemixer> %l {k = 3}
      : tensor<?x8xf32> -> tensor<?x3xf32>, tensor<?x3xi64>
  return
}

// -----

// route: sparsemixer weights are not renormalized
func.func @route_sparsemixer_renormalize(%l: tensor<?x8xf32>) {
  // expected-error @+1 {{'moe.route' op sparsemixer scores take no renormalize, selection bias, groups, expert_mask or skip_ratio}}
  %w, %i = moe.route <token_choice> <sparsemixer> %l {k = 2, renormalize}
      : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  return
}

// -----

// route: epsilon without renormalize
func.func @route_epsilon_without_renormalize(%l: tensor<?x8xf32>) {
  // expected-error @+1 {{'moe.route' op epsilon requires renormalize}}
  %w, %i = moe.route <token_choice> <sigmoid> %l {k = 2, epsilon = 1.0e-20}
      : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  return
}

// -----

// route: negative epsilon
func.func @route_epsilon_negative(%l: tensor<?x8xf32>) {
  // expected-error @+1 {{'moe.route' op epsilon must be finite and non-negative}}
  %w, %i = moe.route <token_choice> <sigmoid> %l {k = 2, renormalize, epsilon = -1.0e-20}
      : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  return
}

// -----

// route: infinite epsilon
func.func @route_epsilon_inf(%l: tensor<?x8xf32>) {
  // expected-error @+1 {{'moe.route' op epsilon must be finite and non-negative}}
  %w, %i = moe.route <token_choice> <sigmoid> %l {k = 2, renormalize, epsilon = 0x7FF0000000000000 : f64}
      : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  return
}

// -----

// route: zero scaling_factor
func.func @route_scaling_zero(%l: tensor<?x8xf32>) {
  // expected-error @+1 {{'moe.route' op scaling_factor must be finite and positive}}
  %w, %i = moe.route <token_choice> <sigmoid> %l {k = 2, scaling_factor = 0.0}
      : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  return
}

// -----

// route: NaN scaling_factor
func.func @route_scaling_nan(%l: tensor<?x8xf32>) {
  // expected-error @+1 {{'moe.route' op scaling_factor must be finite and positive}}
  %w, %i = moe.route <top_p> <softmax> %l {k = 2, top_p = 0.5, scaling_factor = 0x7FF8000000000000 : f64}
      : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  return
}

// -----

// route: selection bias must be [E]
func.func @route_bias_shape(%l: tensor<?x256xf32>, %b: tensor<128xf32>) {
  // expected-error @+1 {{'moe.route' op selection bias must have shape [256] (one per expert), got 'tensor<128xf32>'}}
  %w, %i = moe.route <token_choice> <sigmoid> %l bias(%b : tensor<128xf32>) {k = 8}
      : tensor<?x256xf32> -> tensor<?x8xf32>, tensor<?x8xi32>
  return
}

// -----

// route: skip_ratio drops token-choice slots after the first
func.func @route_skip_expert_choice(%l: tensor<?x4xf32>) {
  // expected-error @+1 {{'moe.route' op skip_ratio is only valid in token_choice mode, not expert_choice}}
  %w, %i = moe.route <expert_choice> <softmax> %l {capacity_factor = 1.0, skip_ratio = 0.5}
      : tensor<?x4xf32> -> tensor<?x4xf32>, tensor<4x?xi64>
  return
}

// -----

// route: skip_ratio needs a second slot
func.func @route_skip_top1(%l: tensor<?x4xf32>) {
  // expected-error @+1 {{'moe.route' op skip_ratio needs k >= 2 (it drops slots after the first), got k = 1}}
  %w, %i = moe.route <token_choice> <softmax> %l {k = 1, skip_ratio = 0.5}
      : tensor<?x4xf32> -> tensor<?x1xf32>, tensor<?x1xi64>
  return
}

// -----

// route: skip_ratio is a fraction of the first weight
func.func @route_skip_range(%l: tensor<?x4xf32>) {
  // expected-error @+1 {{'moe.route' op skip_ratio must be in [0, 1]}}
  %w, %i = moe.route <token_choice> <softmax> %l {k = 2, skip_ratio = 1.5}
      : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  return
}

// -----

// route: expert_mask needs one entry per expert
func.func @route_mask_size(%l: tensor<?x8xf32>) {
  // expected-error @+1 {{'moe.route' op expert_mask has 4 entries but there are 8 experts}}
  %w, %i = moe.route <token_choice> <softmax> %l {k = 2, expert_mask = array<i1: true, true, false, true>}
      : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  return
}

// -----

// route: expert_mask must keep an expert
func.func @route_mask_empty(%l: tensor<?x4xf32>) {
  // expected-error @+1 {{'moe.route' op expert_mask removes every expert}}
  %w, %i = moe.route <expert_choice> <softmax> %l {capacity_factor = 1.0, expert_mask = array<i1: false, false, false, false>}
      : tensor<?x4xf32> -> tensor<?x4xf32>, tensor<4x?xi64>
  return
}

// -----

// route: k in expert_choice mode
func.func @route_k_expert_choice(%l: tensor<?x8xf32>) {
  // expected-error @+1 {{'moe.route' op k is not used in expert_choice mode (capacity comes from capacity_factor)}}
  %w, %i = moe.route <expert_choice> <softmax> %l {k = 2, capacity_factor = 2.0}
      : tensor<?x8xf32> -> tensor<?x8xf32>, tensor<8x?xi64>
  return
}

// -----

// route: softmax_after_topk in expert_choice mode
func.func @route_softmax_after_topk_expert_choice(%l: tensor<?x8xf32>) {
  // expected-error @+1 {{'moe.route' op softmax_after_topk scores need token_choice or top_p mode}}
  %w, %i = moe.route <expert_choice> <softmax_after_topk> %l {capacity_factor = 2.0}
      : tensor<?x8xf32> -> tensor<?x8xf32>, tensor<8x?xi64>
  return
}

// -----

// route: expert_choice without capacity_factor
func.func @route_expert_choice_no_capacity_factor(%l: tensor<?x8xf32>) {
  // expected-error @+1 {{'moe.route' op expert_choice mode requires capacity_factor}}
  %w, %i = moe.route <expert_choice> <softmax> %l : tensor<?x8xf32> -> tensor<?x8xf32>, tensor<8x?xi64>
  return
}

// -----

// route: an expert_mask that removes experts in expert_choice mode (each
// expert ranks the tokens by their plain scores)
func.func @route_expert_choice_mask(%l: tensor<?x4xf32>) {
  // expected-error @+1 {{'moe.route' op expert_mask cannot remove experts in expert_choice mode}}
  %w, %i = moe.route <expert_choice> <softmax> %l {capacity_factor = 2.0, expert_mask = array<i1: true, false, true, true>}
      : tensor<?x4xf32> -> tensor<?x4xf32>, tensor<4x?xi64>
  return
}

// -----

// route: a scaling_factor other than 1 in expert_choice mode
func.func @route_expert_choice_scale(%l: tensor<?x4xf32>) {
  // expected-error @+1 {{'moe.route' op scaling_factor must be 1 in expert_choice mode}}
  %w, %i = moe.route <expert_choice> <sigmoid> %l {capacity_factor = 2.0, scaling_factor = 2.5}
      : tensor<?x4xf32> -> tensor<?x4xf32>, tensor<4x?xi64>
  return
}

// -----

// route: non-positive capacity_factor
func.func @route_capacity_factor_negative(%l: tensor<?x8xf32>) {
  // expected-error @+1 {{'moe.route' op capacity_factor must be finite and positive}}
  %w, %i = moe.route <expert_choice> <softmax> %l {capacity_factor = -2.0}
      : tensor<?x8xf32> -> tensor<?x8xf32>, tensor<8x?xi64>
  return
}

// -----

// route: infinite capacity_factor
func.func @route_capacity_factor_inf(%l: tensor<?x8xf32>) {
  // expected-error @+1 {{'moe.route' op capacity_factor must be finite and positive}}
  %w, %i = moe.route <expert_choice> <softmax> %l {capacity_factor = 0x7FF0000000000000 : f64}
      : tensor<?x8xf32> -> tensor<?x8xf32>, tensor<8x?xi64>
  return
}

// -----

// route: expert_choice weights are the dense [T, E] gate
func.func @route_expert_choice_weights(%l: tensor<64x8xf32>) {
  // expected-error @+1 {{'moe.route' op weights must have shape [64, 8] (dense gate [tokens, experts]), got 'tensor<64x16xf32>'}}
  %w, %i = moe.route <expert_choice> <softmax> %l {capacity_factor = 2.0}
      : tensor<64x8xf32> -> tensor<64x16xf32>, tensor<8x16xi64>
  return
}

// -----

// route: expert_choice indices are [E, C] with C = ceil(10 * 2 / 8) = 3
func.func @route_expert_choice_indices(%l: tensor<10x8xf32>) {
  // expected-error @+1 {{'moe.route' op indices must have shape [8, 3] (token ids [experts, ceil(tokens * capacity_factor / experts)]), got 'tensor<8x2xi64>'}}
  %w, %i = moe.route <expert_choice> <softmax> %l {capacity_factor = 2.0}
      : tensor<10x8xf32> -> tensor<10x8xf32>, tensor<8x2xi64>
  return
}

// -----

// route: expert_choice capacity is at most the token count
func.func @route_expert_choice_capacity_clamped(%l: tensor<4x8xf32>) {
  // expected-error @+1 {{'moe.route' op indices must have shape [8, 4] (token ids [experts, ceil(tokens * capacity_factor / experts)]), got 'tensor<8x16xi64>'}}
  %w, %i = moe.route <expert_choice> <softmax> %l {capacity_factor = 32.0}
      : tensor<4x8xf32> -> tensor<4x8xf32>, tensor<8x16xi64>
  return
}

// -----

// route: C = min(T, ceil(T * c / E)) stays T when T * c / E overflows int64
func.func @route_expert_choice_capacity_overflow(%l: tensor<4x8xf32>) {
  // expected-error @+1 {{'moe.route' op indices must have shape [8, 4] (token ids [experts, ceil(tokens * capacity_factor / experts)]), got 'tensor<8x1xi64>'}}
  %w, %i = moe.route <expert_choice> <softmax> %l {capacity_factor = 1.0e308}
      : tensor<4x8xf32> -> tensor<4x8xf32>, tensor<8x1xi64>
  return
}

// -----

// route: token_choice needs k
func.func @route_token_choice_no_k(%l: tensor<?x8xf32>) {
  // expected-error @+1 {{'moe.route' op token_choice mode requires k}}
  %w, %i = moe.route <token_choice> <softmax> %l : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  return
}

// -----

// route: top_p needs k (the most experts per token)
func.func @route_top_p_no_k(%l: tensor<?x8xf32>) {
  // expected-error @+1 {{'moe.route' op top_p mode requires k}}
  %w, %i = moe.route <top_p> <softmax> %l {top_p = 0.4} : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  return
}

// -----

// route: k larger than the expert count
func.func @route_k_too_large(%l: tensor<?x8xf32>) {
  // expected-error @+1 {{'moe.route' op k (9) must not exceed the number of experts (8)}}
  %w, %i = moe.route <token_choice> <softmax> %l {k = 9} : tensor<?x8xf32> -> tensor<?x9xf32>, tensor<?x9xi64>
  return
}

// -----

// route: k larger than the experts the mask keeps
func.func @route_mask_fewer_than_k(%l: tensor<?x8xf32>) {
  // expected-error @+1 {{'moe.route' op expert_mask keeps 3 experts, fewer than k (4)}}
  %w, %i = moe.route <token_choice> <softmax> %l
      {k = 4, expert_mask = array<i1: true, false, true, false, false, true, false, false>}
      : tensor<?x8xf32> -> tensor<?x4xf32>, tensor<?x4xi64>
  return
}

// -----

// route: top_p mode without top_p
func.func @route_top_p_missing(%l: tensor<?x8xf32>) {
  // expected-error @+1 {{'moe.route' op top_p mode requires top_p}}
  %w, %i = moe.route <top_p> <softmax> %l {k = 4} : tensor<?x8xf32> -> tensor<?x4xf32>, tensor<?x4xi64>
  return
}

// -----

// route: top_p = 0 is outside (0, 1]
func.func @route_top_p_zero(%l: tensor<?x8xf32>) {
  // expected-error @+1 {{'moe.route' op top_p must be in (0, 1]}}
  %w, %i = moe.route <top_p> <softmax> %l {k = 4, top_p = 0.0} : tensor<?x8xf32> -> tensor<?x4xf32>, tensor<?x4xi64>
  return
}

// -----

// route: top_p > 1 is outside (0, 1]
func.func @route_top_p_above_one(%l: tensor<?x8xf32>) {
  // expected-error @+1 {{'moe.route' op top_p must be in (0, 1]}}
  %w, %i = moe.route <top_p> <softmax> %l {k = 4, top_p = 1.5} : tensor<?x8xf32> -> tensor<?x4xf32>, tensor<?x4xi64>
  return
}

// -----

// route: num_groups without topk_groups
func.func @route_num_groups_alone(%l: tensor<?x256xf32>) {
  // expected-error @+1 {{'moe.route' op num_groups and topk_groups must be given together}}
  %w, %i = moe.route <token_choice> <sigmoid> %l {k = 8, num_groups = 8}
      : tensor<?x256xf32> -> tensor<?x8xf32>, tensor<?x8xi32>
  return
}

// -----

// route: topk_groups without num_groups
func.func @route_topk_groups_alone(%l: tensor<?x256xf32>) {
  // expected-error @+1 {{'moe.route' op num_groups and topk_groups must be given together}}
  %w, %i = moe.route <token_choice> <sigmoid> %l {k = 8, topk_groups = 4}
      : tensor<?x256xf32> -> tensor<?x8xf32>, tensor<?x8xi32>
  return
}

// -----

// route: group_topk without groups
func.func @route_group_topk_alone(%l: tensor<?x256xf32>) {
  // expected-error @+1 {{'moe.route' op group_topk requires num_groups and topk_groups}}
  %w, %i = moe.route <token_choice> <sigmoid> %l {k = 8, group_topk = 2}
      : tensor<?x256xf32> -> tensor<?x8xf32>, tensor<?x8xi32>
  return
}

// -----

// route: num_groups must divide the expert count
func.func @route_groups_not_dividing(%l: tensor<?x60xf32>) {
  // expected-error @+1 {{'moe.route' op num_groups (8) must divide the number of experts (60)}}
  %w, %i = moe.route <token_choice> <sigmoid> %l {k = 4, num_groups = 8, topk_groups = 4}
      : tensor<?x60xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  return
}

// -----

// route: more kept groups than groups
func.func @route_topk_groups_too_large(%l: tensor<?x256xf32>) {
  // expected-error @+1 {{'moe.route' op topk_groups (9) must not exceed num_groups (8)}}
  %w, %i = moe.route <token_choice> <sigmoid> %l {k = 8, num_groups = 8, topk_groups = 9}
      : tensor<?x256xf32> -> tensor<?x8xf32>, tensor<?x8xi32>
  return
}

// -----

// route: k larger than the experts of the kept groups (1 group of 4)
func.func @route_k_exceeds_kept_groups(%l: tensor<?x32xf32>) {
  // expected-error @+1 {{'moe.route' op k (8) exceeds the experts in the kept groups (topk_groups * experts per group = 4)}}
  %w, %i = moe.route <token_choice> <sigmoid> %l {k = 8, num_groups = 8, topk_groups = 1}
      : tensor<?x32xf32> -> tensor<?x8xf32>, tensor<?x8xi32>
  return
}

// -----

// route: explicit group_topk larger than a group
func.func @route_group_topk_too_large(%l: tensor<?x32xf32>) {
  // expected-error @+1 {{'moe.route' op group_topk (5) exceeds the experts per group (4)}}
  %w, %i = moe.route <token_choice> <sigmoid> %l {k = 8, num_groups = 8, topk_groups = 4, group_topk = 5}
      : tensor<?x32xf32> -> tensor<?x8xf32>, tensor<?x8xi32>
  return
}

// -----

// route: the default group_topk (2) needs at least 2 experts per group
func.func @route_default_group_topk_too_large(%l: tensor<?x8xf32>) {
  // expected-error @+1 {{'moe.route' op group_topk (2, the default) exceeds the experts per group (1)}}
  %w, %i = moe.route <token_choice> <sigmoid> %l {k = 2, num_groups = 8, topk_groups = 4}
      : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

// route: token_choice weights are [T, k]
func.func @route_weights_shape(%l: tensor<16x8xf32>) {
  // expected-error @+1 {{'moe.route' op weights must have shape [16, 2] ([tokens, k]), got 'tensor<16x8xf32>'}}
  %w, %i = moe.route <token_choice> <softmax> %l {k = 2} : tensor<16x8xf32> -> tensor<16x8xf32>, tensor<16x2xi64>
  return
}

// -----

// route: top_p indices are [T, k]
func.func @route_indices_shape(%l: tensor<?x8xf32>) {
  // expected-error @+1 {{'moe.route' op indices must have shape [?, 4] ([tokens, k]), got 'tensor<?x2xi64>'}}
  %w, %i = moe.route <top_p> <softmax> %l {k = 4, top_p = 0.4} : tensor<?x8xf32> -> tensor<?x4xf32>, tensor<?x2xi64>
  return
}

// -----

//===----------------------------------------------------------------------===//
// moe.dispatch
//===----------------------------------------------------------------------===//

// dispatch: input must be rank 2
func.func @dispatch_input_rank(%x: tensor<?xf32>, %ids: tensor<?x2xi64>) {
  // expected-error @+1 {{'moe.dispatch' op input [tokens, hidden] must have rank 2, got 1}}
  %r:3 = moe.dispatch %x, %ids {num_experts = 8}
      : tensor<?xf32>, tensor<?x2xi64> -> tensor<?x16xf32>, tensor<9xi64>, tensor<?x2xi64>
  return
}

// -----

// dispatch: indices must be rank 2
func.func @dispatch_indices_rank(%x: tensor<?x16xf32>, %ids: tensor<?xi64>) {
  // expected-error @+1 {{'moe.dispatch' op indices must have rank 2, got 1}}
  %r:3 = moe.dispatch %x, %ids {num_experts = 8}
      : tensor<?x16xf32>, tensor<?xi64> -> tensor<?x16xf32>, tensor<9xi64>, tensor<?x2xi64>
  return
}

// -----

// dispatch: rows must be rank 2
func.func @dispatch_rows_rank(%x: tensor<?x16xf32>, %ids: tensor<?x2xi64>) {
  // expected-error @+1 {{'moe.dispatch' op rows must have rank 2, got 3}}
  %r:3 = moe.dispatch %x, %ids {num_experts = 8}
      : tensor<?x16xf32>, tensor<?x2xi64> -> tensor<?x2x16xf32>, tensor<9xi64>, tensor<?x2xi64>
  return
}

// -----

// dispatch: row_map must be rank 2
func.func @dispatch_row_map_rank(%x: tensor<?x16xf32>, %ids: tensor<?x2xi64>) {
  // expected-error @+1 {{'moe.dispatch' op row_map must have rank 2, got 1}}
  %r:3 = moe.dispatch %x, %ids {num_experts = 8}
      : tensor<?x16xf32>, tensor<?x2xi64> -> tensor<?x16xf32>, tensor<9xi64>, tensor<?xi64>
  return
}

// -----

// dispatch: rows keep the input element type
func.func @dispatch_rows_element_type(%x: tensor<?x16xf32>, %ids: tensor<?x2xi64>) {
  // expected-error @+1 {{'moe.dispatch' op rows element type must match the input element type}}
  %r:3 = moe.dispatch %x, %ids {num_experts = 8}
      : tensor<?x16xf32>, tensor<?x2xi64> -> tensor<?x16xbf16>, tensor<9xi64>, tensor<?x2xi64>
  return
}

// -----

// dispatch: rows keep the hidden size
func.func @dispatch_rows_width(%x: tensor<?x16xf32>, %ids: tensor<?x2xi64>) {
  // expected-error @+1 {{'moe.dispatch' op rows width (32) must match the input hidden size (16)}}
  %r:3 = moe.dispatch %x, %ids {num_experts = 8}
      : tensor<?x16xf32>, tensor<?x2xi64> -> tensor<?x32xf32>, tensor<9xi64>, tensor<?x2xi64>
  return
}

// -----

// dispatch: offsets are [E + 1]
func.func @dispatch_offsets_shape(%x: tensor<?x16xf32>, %ids: tensor<?x2xi64>) {
  // expected-error @+1 {{'moe.dispatch' op offsets must have shape [num_experts + 1] = [9], got 'tensor<8xi64>'}}
  %r:3 = moe.dispatch %x, %ids {num_experts = 8}
      : tensor<?x16xf32>, tensor<?x2xi64> -> tensor<?x16xf32>, tensor<8xi64>, tensor<?x2xi64>
  return
}

// -----

// dispatch: expert_map targets are merged experts
func.func @dispatch_expert_map_range(%x: tensor<?x16xf32>, %ids: tensor<?x2xi64>) {
  // expected-error @+1 {{'moe.dispatch' op expert_map sends id 2 to expert 3, outside [0, 3)}}
  %r:3 = moe.dispatch %x, %ids {num_experts = 3, expert_map = array<i64: 0, 1, 3, 2>}
      : tensor<?x16xf32>, tensor<?x2xi64> -> tensor<?x16xf32>, tensor<4xi64>, tensor<?x2xi64>
  return
}

// -----

// dispatch: expert_map has one entry per expert the router scores
func.func @dispatch_expert_map_size(%x: tensor<?x16xf32>, %logits: tensor<?x4xf32>) {
  %w, %ids = moe.route <token_choice> <softmax> %logits {k = 2 : i64}
      : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  // expected-error @+1 {{'moe.dispatch' op expert_map has 3 entries but the router scores 4 experts}}
  %r:3 = moe.dispatch %x, %ids {num_experts = 2, expert_map = array<i64: 0, 1, 1>}
      : tensor<?x16xf32>, tensor<?x2xi64> -> tensor<?x16xf32>, tensor<3xi64>, tensor<?x2xi64>
  return
}

// -----

// dispatch: expert_map is not empty
func.func @dispatch_expert_map_empty(%x: tensor<?x16xf32>, %ids: tensor<?x2xi64>) {
  // expected-error @+1 {{'moe.dispatch' op expert_map must have one entry per routed expert}}
  %r:3 = moe.dispatch %x, %ids {num_experts = 3, expert_map = array<i64>}
      : tensor<?x16xf32>, tensor<?x2xi64> -> tensor<?x16xf32>, tensor<4xi64>, tensor<?x2xi64>
  return
}

// -----

// dispatch: expert_map renames expert ids, expert-choice indices are tokens
func.func @dispatch_expert_map_expert_choice(%x: tensor<?x16xf32>, %tok: tensor<4x3xi64>) {
  // expected-error @+1 {{'moe.dispatch' op expert_map renames token-choice expert ids; expert-choice indices are token ids}}
  %r:3 = moe.dispatch %x, %tok {num_experts = 4, expert_choice, expert_map = array<i64: 0, 1, 2, 3>}
      : tensor<?x16xf32>, tensor<4x3xi64> -> tensor<12x16xf32>, tensor<5xi64>, tensor<?x4xi64>
  return
}

// -----

// dispatch: capacity without drop_policy
func.func @dispatch_capacity_alone(%x: tensor<?x16xf32>, %ids: tensor<?x1xi32>) {
  // expected-error @+1 {{'moe.dispatch' op capacity requires a drop_policy}}
  %r:3 = moe.dispatch %x, %ids {num_experts = 8, capacity = 10}
      : tensor<?x16xf32>, tensor<?x1xi32> -> tensor<?x16xf32>, tensor<9xi32>, tensor<?x1xi32>
  return
}

// -----

// dispatch: drop_policy without capacity
func.func @dispatch_drop_policy_alone(%x: tensor<?x16xf32>, %ids: tensor<?x1xi32>) {
  // expected-error @+1 {{'moe.dispatch' op drop_policy requires a capacity}}
  %r:3 = moe.dispatch %x, %ids {num_experts = 8, drop_policy = #moe.drop_policy<in_order>}
      : tensor<?x16xf32>, tensor<?x1xi32> -> tensor<?x16xf32>, tensor<9xi32>, tensor<?x1xi32>
  return
}

// -----

// dispatch: by_weight without the weights operand
func.func @dispatch_by_weight_no_weights(%x: tensor<?x16xf32>, %ids: tensor<?x2xi32>) {
  // expected-error @+1 {{'moe.dispatch' op drop_policy by_weight requires the weights operand}}
  %r:3 = moe.dispatch %x, %ids {num_experts = 8, capacity = 10, drop_policy = #moe.drop_policy<by_weight>}
      : tensor<?x16xf32>, tensor<?x2xi32> -> tensor<?x16xf32>, tensor<9xi32>, tensor<?x2xi32>
  return
}

// -----

// dispatch: weights operand with drop_policy in_order
func.func @dispatch_weights_in_order(%x: tensor<?x16xf32>, %ids: tensor<?x2xi32>, %w: tensor<?x2xf32>) {
  // expected-error @+1 {{'moe.dispatch' op the weights operand is only used by drop_policy by_weight and scale_rows}}
  %r:3 = moe.dispatch %x, %ids weights(%w : tensor<?x2xf32>)
      {num_experts = 8, capacity = 10, drop_policy = #moe.drop_policy<in_order>}
      : tensor<?x16xf32>, tensor<?x2xi32> -> tensor<?x16xf32>, tensor<9xi32>, tensor<?x2xi32>
  return
}

// -----

// dispatch: scale_rows without the weights operand
func.func @dispatch_scale_rows_no_weights(%x: tensor<?x16xf32>, %ids: tensor<?x1xi32>) {
  // expected-error @+1 {{'moe.dispatch' op scale_rows requires the weights operand}}
  %r:3 = moe.dispatch %x, %ids {num_experts = 8, scale_rows}
      : tensor<?x16xf32>, tensor<?x1xi32> -> tensor<?x16xf32>, tensor<9xi32>, tensor<?x1xi32>
  return
}

// -----

// dispatch: scale_rows with expert-choice indices
func.func @dispatch_scale_rows_expert_choice(%x: tensor<?x16xf32>, %ids: tensor<8x4xi64>, %w: tensor<?x8xf32>) {
  // expected-error @+1 {{'moe.dispatch' op scale_rows applies to token-choice dispatch}}
  %r:3 = moe.dispatch %x, %ids weights(%w : tensor<?x8xf32>) {num_experts = 8, expert_choice, scale_rows}
      : tensor<?x16xf32>, tensor<8x4xi64> -> tensor<32x16xf32>, tensor<9xi64>, tensor<?x8xi64>
  return
}

// -----

// dispatch: scale_rows weights not shaped like the indices
func.func @dispatch_scale_rows_shape(%x: tensor<?x16xf32>, %ids: tensor<?x2xi32>, %w: tensor<?x1xf32>) {
  // expected-error @+1 {{'moe.dispatch' op weights must have shape [?, 2] (same as indices [tokens, k]), got 'tensor<?x1xf32>'}}
  %r:3 = moe.dispatch %x, %ids weights(%w : tensor<?x1xf32>) {num_experts = 8, scale_rows}
      : tensor<?x16xf32>, tensor<?x2xi32> -> tensor<?x16xf32>, tensor<9xi32>, tensor<?x2xi32>
  return
}

// -----

// dispatch: group_size without a capacity
func.func @dispatch_group_no_capacity(%x: tensor<?x16xf32>, %ids: tensor<?x1xi32>, %g: index) {
  // expected-error @+1 {{'moe.dispatch' op group_size groups the tokens of a capacity; it requires one}}
  %r:3 = moe.dispatch %x, %ids group_size(%g) {num_experts = 8}
      : tensor<?x16xf32>, tensor<?x1xi32> -> tensor<?x16xf32>, tensor<9xi32>, tensor<?x1xi32>
  return
}

// -----

// dispatch: group_size with drop_policy by_weight
func.func @dispatch_group_by_weight(%x: tensor<?x16xf32>, %ids: tensor<?x1xi32>, %w: tensor<?x1xf32>, %g: index) {
  // expected-error @+1 {{'moe.dispatch' op group_size counts capacity in token order; it requires drop_policy in_order}}
  %r:3 = moe.dispatch %x, %ids weights(%w : tensor<?x1xf32>) group_size(%g)
      {num_experts = 8, capacity = 2, drop_policy = #moe.drop_policy<by_weight>}
      : tensor<?x16xf32>, tensor<?x1xi32> -> tensor<?x16xf32>, tensor<9xi32>, tensor<?x1xi32>
  return
}

// -----

// dispatch: a constant group_size of 0
func.func @dispatch_group_zero(%x: tensor<?x16xf32>, %ids: tensor<?x1xi32>) {
  %g = arith.constant 0 : index
  // expected-error @+1 {{'moe.dispatch' op group_size must be positive, got 0}}
  %r:3 = moe.dispatch %x, %ids group_size(%g)
      {num_experts = 8, capacity = 2, drop_policy = #moe.drop_policy<in_order>}
      : tensor<?x16xf32>, tensor<?x1xi32> -> tensor<?x16xf32>, tensor<9xi32>, tensor<?x1xi32>
  return
}

// -----

// dispatch: weights operand without any capacity
func.func @dispatch_weights_no_capacity(%x: tensor<?x16xf32>, %ids: tensor<?x2xi32>, %w: tensor<?x2xf32>) {
  // expected-error @+1 {{'moe.dispatch' op the weights operand is only used by drop_policy by_weight and scale_rows}}
  %r:3 = moe.dispatch %x, %ids weights(%w : tensor<?x2xf32>) {num_experts = 8}
      : tensor<?x16xf32>, tensor<?x2xi32> -> tensor<?x16xf32>, tensor<9xi32>, tensor<?x2xi32>
  return
}

// -----

// dispatch: expert choice with a capacity
func.func @dispatch_expert_choice_capacity(%x: tensor<64x16xf32>, %ids: tensor<8x16xi64>) {
  // expected-error @+1 {{'moe.dispatch' op capacity is implied by the indices in expert_choice dispatch}}
  %r:3 = moe.dispatch %x, %ids
      {num_experts = 8, expert_choice, capacity = 16, drop_policy = #moe.drop_policy<in_order>}
      : tensor<64x16xf32>, tensor<8x16xi64> -> tensor<128x16xf32>, tensor<9xi64>, tensor<64x8xi64>
  return
}

// -----

// dispatch: expert-choice indices are [E, C]
func.func @dispatch_expert_choice_indices(%x: tensor<64x16xf32>, %ids: tensor<64x2xi64>) {
  // expected-error @+1 {{'moe.dispatch' op expert-choice indices must be [num_experts, capacity] with num_experts = 8, got 'tensor<64x2xi64>'}}
  %r:3 = moe.dispatch %x, %ids {num_experts = 8, expert_choice}
      : tensor<64x16xf32>, tensor<64x2xi64> -> tensor<128x16xf32>, tensor<9xi64>, tensor<64x8xi64>
  return
}

// -----

// dispatch: expert choice makes E * C rows
func.func @dispatch_expert_choice_rows(%x: tensor<64x16xf32>, %ids: tensor<8x16xi64>) {
  // expected-error @+1 {{'moe.dispatch' op rows must have num_experts * capacity = 128 rows, got 64}}
  %r:3 = moe.dispatch %x, %ids {num_experts = 8, expert_choice}
      : tensor<64x16xf32>, tensor<8x16xi64> -> tensor<64x16xf32>, tensor<9xi64>, tensor<64x8xi64>
  return
}

// -----

// dispatch: expert-choice row_map is [T, E]
func.func @dispatch_expert_choice_row_map(%x: tensor<64x16xf32>, %ids: tensor<8x16xi64>) {
  // expected-error @+1 {{'moe.dispatch' op row_map must have shape [64, 8] ([tokens, num_experts] for expert choice), got 'tensor<64x16xi64>'}}
  %r:3 = moe.dispatch %x, %ids {num_experts = 8, expert_choice}
      : tensor<64x16xf32>, tensor<8x16xi64> -> tensor<128x16xf32>, tensor<9xi64>, tensor<64x16xi64>
  return
}

// -----

// dispatch: token-choice indices have one row per token
func.func @dispatch_indices_tokens(%x: tensor<32x16xf32>, %ids: tensor<16x2xi64>) {
  // expected-error @+1 {{'moe.dispatch' op indices must have one row per token (32), got 16}}
  %r:3 = moe.dispatch %x, %ids {num_experts = 8}
      : tensor<32x16xf32>, tensor<16x2xi64> -> tensor<32x16xf32>, tensor<9xi64>, tensor<16x2xi64>
  return
}

// -----

// dispatch: token choice makes T * k rows
func.func @dispatch_rows_count(%x: tensor<32x16xf32>, %ids: tensor<32x2xi64>) {
  // expected-error @+1 {{'moe.dispatch' op rows must have tokens * k = 64 rows, got 32}}
  %r:3 = moe.dispatch %x, %ids {num_experts = 8}
      : tensor<32x16xf32>, tensor<32x2xi64> -> tensor<32x16xf32>, tensor<9xi64>, tensor<32x2xi64>
  return
}

// -----

// dispatch: token-choice row_map is shaped like the indices
func.func @dispatch_row_map_shape(%x: tensor<?x16xf32>, %ids: tensor<?x2xi64>) {
  // expected-error @+1 {{'moe.dispatch' op row_map must have shape [?, 2] (same as indices [tokens, k]), got 'tensor<?x8xi64>'}}
  %r:3 = moe.dispatch %x, %ids {num_experts = 8}
      : tensor<?x16xf32>, tensor<?x2xi64> -> tensor<?x16xf32>, tensor<9xi64>, tensor<?x8xi64>
  return
}

// -----

// dispatch: by_weight weights are shaped like the indices
func.func @dispatch_weights_shape(%x: tensor<?x16xf32>, %ids: tensor<?x2xi32>, %w: tensor<?x8xf32>) {
  // expected-error @+1 {{'moe.dispatch' op weights must have shape [?, 2] (same as indices [tokens, k]), got 'tensor<?x8xf32>'}}
  %r:3 = moe.dispatch %x, %ids weights(%w : tensor<?x8xf32>)
      {num_experts = 8, capacity = 10, drop_policy = #moe.drop_policy<by_weight>}
      : tensor<?x16xf32>, tensor<?x2xi32> -> tensor<?x16xf32>, tensor<9xi32>, tensor<?x2xi32>
  return
}

// -----

//===----------------------------------------------------------------------===//
// moe.experts
//===----------------------------------------------------------------------===//

// experts: rows must be rank 2
func.func @experts_rows_rank(%rows: tensor<?xf32>, %off: tensor<5xi64>, %w1: tensor<4x64x128xf32>, %w2: tensor<4x128x64xf32>) {
  // expected-error @+1 {{'moe.experts' op rows must have rank 2, got 1}}
  %0 = moe.experts %rows, %off weights(%w1, %w2) {activation = #moe.activation<relu>}
      : (tensor<?xf32>, tensor<5xi64>, tensor<4x64x128xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
  return
}

// -----

// experts: result must be rank 2
func.func @experts_result_rank(%rows: tensor<?x64xf32>, %off: tensor<5xi64>, %w1: tensor<4x64x128xf32>, %w2: tensor<4x128x64xf32>) {
  // expected-error @+1 {{'moe.experts' op result must have rank 2, got 3}}
  %0 = moe.experts %rows, %off weights(%w1, %w2) {activation = #moe.activation<relu>}
      : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x128xf32>, tensor<4x128x64xf32>) -> tensor<?x1x64xf32>
  return
}

// -----

// experts: offsets must have a static size
func.func @experts_offsets_dynamic(%rows: tensor<?x64xf32>, %off: tensor<?xi64>, %w1: tensor<4x64x128xf32>, %w2: tensor<4x128x64xf32>) {
  // expected-error @+1 {{'moe.experts' op offsets must be a static 1-D tensor of (num_experts + 1) >= 2 elements, got 'tensor<?xi64>'}}
  %0 = moe.experts %rows, %off weights(%w1, %w2) {activation = #moe.activation<relu>}
      : (tensor<?x64xf32>, tensor<?xi64>, tensor<4x64x128xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
  return
}

// -----

// experts: offsets with a single element name no expert
func.func @experts_offsets_too_short(%rows: tensor<?x64xf32>, %off: tensor<1xi64>, %w1: tensor<64x128xf32>, %w2: tensor<128x64xf32>) {
  // expected-error @+1 {{'moe.experts' op offsets must be a static 1-D tensor of (num_experts + 1) >= 2 elements, got 'tensor<1xi64>'}}
  %0 = moe.experts %rows, %off weights(%w1, %w2) {activation = #moe.activation<relu>}
      : (tensor<?x64xf32>, tensor<1xi64>, tensor<64x128xf32>, tensor<128x64xf32>) -> tensor<?x64xf32>
  return
}

// -----

// experts: offsets must be 1-D
func.func @experts_offsets_rank(%rows: tensor<?x64xf32>, %off: tensor<5x1xi64>, %w1: tensor<4x64x128xf32>, %w2: tensor<4x128x64xf32>) {
  // expected-error @+1 {{'moe.experts' op offsets must be a static 1-D tensor of (num_experts + 1) >= 2 elements, got 'tensor<5x1xi64>'}}
  %0 = moe.experts %rows, %off weights(%w1, %w2) {activation = #moe.activation<relu>}
      : (tensor<?x64xf32>, tensor<5x1xi64>, tensor<4x64x128xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
  return
}

// -----

// experts: an infinite alpha
func.func @experts_alpha_inf(%rows: tensor<?x64xf32>, %off: tensor<5xi64>, %w1: tensor<4x64x128xf32>, %w2: tensor<4x128x64xf32>) {
  // expected-error @+1 {{'moe.experts' op alpha must be finite}}
  %0 = moe.experts %rows, %off weights(%w1, %w2) {activation = #moe.activation<silu>, alpha = 0x7FF0000000000000 : f64}
      : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x128xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
  return
}

// -----

// experts: a NaN beta
func.func @experts_beta_nan(%rows: tensor<?x64xf32>, %off: tensor<5xi64>, %w1: tensor<4x64x256xf32>, %w2: tensor<4x128x64xf32>) {
  // expected-error @+1 {{'moe.experts' op beta must be finite}}
  %0 = moe.experts %rows, %off weights(%w1, %w2) {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<concatenated>, beta = 0x7FF8000000000000 : f64}
      : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x256xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
  return
}

// -----

// experts: an infinite limit
func.func @experts_limit_inf(%rows: tensor<?x64xf32>, %off: tensor<5xi64>, %w1: tensor<4x64x256xf32>, %w2: tensor<4x128x64xf32>) {
  // expected-error @+1 {{'moe.experts' op limit must be finite}}
  %0 = moe.experts %rows, %off weights(%w1, %w2) {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<concatenated>, limit = 0x7FF0000000000000 : f64}
      : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x256xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
  return
}

// -----

// experts: an infinite kappa
func.func @experts_kappa_inf(%rows: tensor<?x64xf32>, %off: tensor<5xi64>, %w1: tensor<4x64x128xf32>, %w2: tensor<4x128x64xf32>) {
  // expected-error @+1 {{'moe.experts' op kappa must be finite}}
  %0 = moe.experts %rows, %off weights(%w1, %w2) {activation = #moe.activation<apa>, kappa = 0x7FF0000000000000 : f64}
      : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x128xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
  return
}

// -----

// experts: a NaN lambda
func.func @experts_lambda_nan(%rows: tensor<?x64xf32>, %off: tensor<5xi64>, %w1: tensor<4x64x128xf32>, %w2: tensor<4x128x64xf32>) {
  // expected-error @+1 {{'moe.experts' op lambda must be finite}}
  %0 = moe.experts %rows, %off weights(%w1, %w2) {activation = #moe.activation<aglu>, lambda = 0x7FF8000000000000 : f64}
      : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x128xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
  return
}

// -----

// experts: alpha on an activation other than silu
func.func @experts_alpha_not_silu(%rows: tensor<?x64xf32>, %off: tensor<5xi64>, %w1: tensor<4x64x128xf32>, %w2: tensor<4x128x64xf32>) {
  // expected-error @+1 {{'moe.experts' op alpha applies only to the silu activation}}
  %0 = moe.experts %rows, %off weights(%w1, %w2) {activation = #moe.activation<gelu>, alpha = 1.702}
      : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x128xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
  return
}

// -----

// experts: beta without gate_layout
func.func @experts_beta_ungated(%rows: tensor<?x64xf32>, %off: tensor<5xi64>, %w1: tensor<4x64x128xf32>, %w2: tensor<4x128x64xf32>) {
  // expected-error @+1 {{'moe.experts' op beta applies only to gated activations (set gate_layout)}}
  %0 = moe.experts %rows, %off weights(%w1, %w2) {activation = #moe.activation<silu>, beta = 1.0}
      : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x128xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
  return
}

// -----

// experts: limit without gate_layout
func.func @experts_limit_ungated(%rows: tensor<?x64xf32>, %off: tensor<5xi64>, %w1: tensor<4x64x128xf32>, %w2: tensor<4x128x64xf32>) {
  // expected-error @+1 {{'moe.experts' op limit applies only to gated activations (set gate_layout)}}
  %0 = moe.experts %rows, %off weights(%w1, %w2) {activation = #moe.activation<silu>, limit = 7.0}
      : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x128xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
  return
}

// -----

// experts: limit = 0
func.func @experts_limit_zero(%rows: tensor<?x64xf32>, %off: tensor<5xi64>, %w1: tensor<4x64x256xf32>, %w2: tensor<4x128x64xf32>) {
  // expected-error @+1 {{'moe.experts' op limit must be positive}}
  %0 = moe.experts %rows, %off weights(%w1, %w2) {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<concatenated>, limit = 0.0}
      : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x256xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
  return
}

// -----

// experts: a negative limit
func.func @experts_limit_negative(%rows: tensor<?x64xf32>, %off: tensor<5xi64>, %w1: tensor<4x64x256xf32>, %w2: tensor<4x128x64xf32>) {
  // expected-error @+1 {{'moe.experts' op limit must be positive}}
  %0 = moe.experts %rows, %off weights(%w1, %w2) {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<concatenated>, limit = -7.0}
      : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x256xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
  return
}

// -----

// experts: kappa on an activation other than apa / aglu
func.func @experts_kappa_not_apa(%rows: tensor<?x64xf32>, %off: tensor<5xi64>, %w1: tensor<4x64x128xf32>, %w2: tensor<4x128x64xf32>) {
  // expected-error @+1 {{'moe.experts' op kappa and lambda apply only to apa and aglu}}
  %0 = moe.experts %rows, %off weights(%w1, %w2) {activation = #moe.activation<silu>, kappa = 1.5}
      : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x128xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
  return
}

// -----

// experts: lambda on an activation other than apa / aglu
func.func @experts_lambda_not_apa(%rows: tensor<?x64xf32>, %off: tensor<5xi64>, %w1: tensor<4x64x256xf32>, %w2: tensor<4x128x64xf32>) {
  // expected-error @+1 {{'moe.experts' op kappa and lambda apply only to apa and aglu}}
  %0 = moe.experts %rows, %off weights(%w1, %w2) {activation = #moe.activation<gelu>, gate_layout = #moe.gate_layout<concatenated>, lambda = 0.5}
      : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x256xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
  return
}

// -----

// experts: lambda = 0
func.func @experts_lambda_zero(%rows: tensor<?x64xf32>, %off: tensor<5xi64>, %w1: tensor<4x64x128xf32>, %w2: tensor<4x128x64xf32>) {
  // expected-error @+1 {{'moe.experts' op lambda must be positive}}
  %0 = moe.experts %rows, %off weights(%w1, %w2) {activation = #moe.activation<apa>, lambda = 0.0}
      : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x128xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
  return
}

// -----

// experts: a negative lambda
func.func @experts_lambda_negative(%rows: tensor<?x64xf32>, %off: tensor<5xi64>, %w1: tensor<4x64x256xf32>, %w2: tensor<4x128x64xf32>) {
  // expected-error @+1 {{'moe.experts' op lambda must be positive}}
  %0 = moe.experts %rows, %off weights(%w1, %w2) {activation = #moe.activation<aglu>, gate_layout = #moe.gate_layout<concatenated>, kappa = 1.0, lambda = -1.0}
      : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x256xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
  return
}

// -----

// experts: result keeps the rows element type
func.func @experts_result_element_type(%rows: tensor<?x64xf32>, %off: tensor<5xi64>, %w1: tensor<4x64x128xf32>, %w2: tensor<4x128x64xf32>) {
  // expected-error @+1 {{'moe.experts' op result element type must match the rows element type}}
  %0 = moe.experts %rows, %off weights(%w1, %w2) {activation = #moe.activation<relu>}
      : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x128xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf16>
  return
}

// -----

// experts: result keeps the row count
func.func @experts_result_rows(%rows: tensor<32x64xf32>, %off: tensor<5xi64>, %w1: tensor<4x64x128xf32>, %w2: tensor<4x128x64xf32>) {
  // expected-error @+1 {{'moe.experts' op result must have as many rows as the input rows}}
  %0 = moe.experts %rows, %off weights(%w1, %w2) {activation = #moe.activation<relu>}
      : (tensor<32x64xf32>, tensor<5xi64>, tensor<4x64x128xf32>, tensor<4x128x64xf32>) -> tensor<16x64xf32>
  return
}

// -----

// experts: separate gating needs 3 stacked weights (gate, up, down)
func.func @experts_weight_count_stacked(%rows: tensor<?x64xf32>, %off: tensor<5xi64>, %w1: tensor<4x64x128xf32>, %w2: tensor<4x128x64xf32>) {
  // expected-error @+1 {{'moe.experts' op expected 3 stacked weights [E, in, out] or 12 per-expert weights [in, out] (E = 4 experts x 3 stages), got 2}}
  %0 = moe.experts %rows, %off weights(%w1, %w2)
      {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<separate>}
      : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x128xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
  return
}

// -----

// experts: per-expert weights must come in E * stages
func.func @experts_weight_count_per_expert(%rows: tensor<?x64xf32>, %off: tensor<3xi64>, %u0: tensor<64x96xf32>, %d0: tensor<96x64xf32>, %u1: tensor<64x160xf32>) {
  // expected-error @+1 {{'moe.experts' op expected 2 stacked weights [E, in, out] or 4 per-expert weights [in, out] (E = 2 experts x 2 stages), got 3}}
  %0 = moe.experts %rows, %off weights(%u0, %d0, %u1) {activation = #moe.activation<gelu>}
      : (tensor<?x64xf32>, tensor<3xi64>, tensor<64x96xf32>, tensor<96x64xf32>, tensor<64x160xf32>) -> tensor<?x64xf32>
  return
}

// -----

// experts: no weights at all
func.func @experts_no_weights(%rows: tensor<?x64xf32>, %off: tensor<5xi64>) {
  // expected-error @+1 {{'moe.experts' op expected 2 stacked weights [E, in, out] or 8 per-expert weights [in, out] (E = 4 experts x 2 stages), got 0}}
  %0 = moe.experts %rows, %off weights() {activation = #moe.activation<gelu>}
      : (tensor<?x64xf32>, tensor<5xi64>) -> tensor<?x64xf32>
  return
}

// -----

// experts: per-expert weights are rank 2 (a stacked tensor mixed in)
func.func @experts_weight_rank(%rows: tensor<?x64xf32>, %off: tensor<2xi64>, %w1: tensor<1x64x128xf32>, %w2: tensor<128x64xf32>) {
  // expected-error @+1 {{'moe.experts' op weight #0 must have rank 2, got 'tensor<1x64x128xf32>'}}
  %0 = moe.experts %rows, %off weights(%w1, %w2) {activation = #moe.activation<relu>}
      : (tensor<?x64xf32>, tensor<2xi64>, tensor<1x64x128xf32>, tensor<128x64xf32>) -> tensor<?x64xf32>
  return
}

// -----

// experts: weights must have a static shape
func.func @experts_weight_dynamic(%rows: tensor<?x64xf32>, %off: tensor<5xi64>, %w1: tensor<4x64x?xf32>, %w2: tensor<4x128x64xf32>) {
  // expected-error @+1 {{'moe.experts' op weight #0 must have a static shape}}
  %0 = moe.experts %rows, %off weights(%w1, %w2) {activation = #moe.activation<relu>}
      : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x?xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
  return
}

// -----

// experts: stacked weights hold E experts
func.func @experts_stacked_count(%rows: tensor<?x64xf32>, %off: tensor<5xi64>, %w1: tensor<4x64x128xf32>, %w2: tensor<8x128x64xf32>) {
  // expected-error @+1 {{'moe.experts' op stacked weight #1 holds 8 experts but offsets imply 4}}
  %0 = moe.experts %rows, %off weights(%w1, %w2) {activation = #moe.activation<relu>}
      : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x128xf32>, tensor<8x128x64xf32>) -> tensor<?x64xf32>
  return
}

// -----

// experts: the first weight reads the hidden size
func.func @experts_first_weight_in(%rows: tensor<?x64xf32>, %off: tensor<5xi64>, %w1: tensor<4x32x128xf32>, %w2: tensor<4x128x64xf32>) {
  // expected-error @+1 {{'moe.experts' op expert 0's first weight reads 32 features but rows have 64}}
  %0 = moe.experts %rows, %off weights(%w1, %w2) {activation = #moe.activation<relu>}
      : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x32x128xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
  return
}

// -----

// experts: [in, out] weights flagged transposed_weights read the wrong dim
func.func @experts_transposed_wrong_layout(%rows: tensor<?x64xf32>, %off: tensor<5xi64>, %w1: tensor<4x64x128xf32>, %w2: tensor<4x128x64xf32>) {
  // expected-error @+1 {{'moe.experts' op expert 0's first weight reads 128 features but rows have 64}}
  %0 = moe.experts %rows, %off weights(%w1, %w2) {activation = #moe.activation<relu>, transposed_weights}
      : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x128xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
  return
}

// -----

// experts: a per-expert first weight (expert 1) reads the wrong width
func.func @experts_per_expert_first_weight_in(%rows: tensor<?x64xf32>, %off: tensor<3xi64>, %u0: tensor<64x96xf32>, %d0: tensor<96x64xf32>, %u1: tensor<32x160xf32>, %d1: tensor<160x64xf32>) {
  // expected-error @+1 {{'moe.experts' op expert 1's first weight reads 32 features but rows have 64}}
  %0 = moe.experts %rows, %off weights(%u0, %d0, %u1, %d1) {activation = #moe.activation<gelu>}
      : (tensor<?x64xf32>, tensor<3xi64>, tensor<64x96xf32>, tensor<96x64xf32>, tensor<32x160xf32>, tensor<160x64xf32>) -> tensor<?x64xf32>
  return
}

// -----

// experts: a fused gate/up weight has an even output width
func.func @experts_fused_odd(%rows: tensor<?x64xf32>, %off: tensor<5xi64>, %w1: tensor<4x64x255xf32>, %w2: tensor<4x127x64xf32>) {
  // expected-error @+1 {{'moe.experts' op expert 0's fused gate/up weight has an odd output width (255)}}
  %0 = moe.experts %rows, %off weights(%w1, %w2)
      {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<interleaved>}
      : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x255xf32>, tensor<4x127x64xf32>) -> tensor<?x64xf32>
  return
}

// -----

// experts: separate gate and up weights have the same type
func.func @experts_gate_up_type(%rows: tensor<?x64xf32>, %off: tensor<5xi64>, %wg: tensor<4x64x128xf32>, %wu: tensor<4x64x128xf16>, %wd: tensor<4x128x64xf32>) {
  // expected-error @+1 {{'moe.experts' op expert 0's gate and up weights must have the same type}}
  %0 = moe.experts %rows, %off weights(%wg, %wu, %wd)
      {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<separate>}
      : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x128xf32>, tensor<4x64x128xf16>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
  return
}

// -----

// experts: the down weight reads the activation's width (half a fused weight)
func.func @experts_down_in(%rows: tensor<?x64xf32>, %off: tensor<5xi64>, %w1: tensor<4x64x256xf32>, %w2: tensor<4x256x64xf32>) {
  // expected-error @+1 {{'moe.experts' op expert 0's down weight reads 256 features but the activation yields 128}}
  %0 = moe.experts %rows, %off weights(%w1, %w2)
      {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<concatenated>}
      : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x256xf32>, tensor<4x256x64xf32>) -> tensor<?x64xf32>
  return
}

// -----

// experts: a per-expert down weight (expert 1) reads the wrong width
func.func @experts_per_expert_down_in(%rows: tensor<?x64xf32>, %off: tensor<3xi64>, %u0: tensor<64x96xf32>, %d0: tensor<96x64xf32>, %u1: tensor<64x160xf32>, %d1: tensor<96x64xf32>) {
  // expected-error @+1 {{'moe.experts' op expert 1's down weight reads 96 features but the activation yields 160}}
  %0 = moe.experts %rows, %off weights(%u0, %d0, %u1, %d1) {activation = #moe.activation<gelu>}
      : (tensor<?x64xf32>, tensor<3xi64>, tensor<64x96xf32>, tensor<96x64xf32>, tensor<64x160xf32>, tensor<96x64xf32>) -> tensor<?x64xf32>
  return
}

// -----

// experts: the down weight produces the result width
func.func @experts_down_out(%rows: tensor<?x64xf32>, %off: tensor<5xi64>, %w1: tensor<4x64x128xf32>, %w2: tensor<4x128x32xf32>) {
  // expected-error @+1 {{'moe.experts' op expert 0 produces 32 features but the result has 64}}
  %0 = moe.experts %rows, %off weights(%w1, %w2) {activation = #moe.activation<relu>}
      : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x128xf32>, tensor<4x128x32xf32>) -> tensor<?x64xf32>
  return
}

// -----

// experts: one bias per weight or none
func.func @experts_bias_count(%rows: tensor<?x64xf32>, %off: tensor<5xi64>, %w1: tensor<4x64x128xf32>, %w2: tensor<4x128x64xf32>, %b1: tensor<4x128xf32>) {
  // expected-error @+1 {{'moe.experts' op expected one bias per weight (2) or none, got 1}}
  %0 = moe.experts %rows, %off weights(%w1, %w2) biases(%b1) {activation = #moe.activation<relu>}
      : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x128xf32>, tensor<4x128x64xf32>, tensor<4x128xf32>) -> tensor<?x64xf32>
  return
}

// -----

// experts: a stacked bias is [E, out] of its weight
func.func @experts_bias_shape_stacked(%rows: tensor<?x64xf32>, %off: tensor<5xi64>, %w1: tensor<4x64x256xf32>, %w2: tensor<4x128x64xf32>, %b1: tensor<4x128xf32>, %b2: tensor<4x64xf32>) {
  // expected-error @+1 {{'moe.experts' op bias #0 must have shape [4, 256] to match its weight, got 'tensor<4x128xf32>'}}
  %0 = moe.experts %rows, %off weights(%w1, %w2) biases(%b1, %b2)
      {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<interleaved>}
      : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x256xf32>, tensor<4x128x64xf32>, tensor<4x128xf32>, tensor<4x64xf32>) -> tensor<?x64xf32>
  return
}

// -----

// experts: a per-expert bias is [out] of its (transposed) weight
func.func @experts_bias_shape_per_expert(%rows: tensor<?x64xf32>, %off: tensor<3xi64>, %u0: tensor<96x64xf32>, %d0: tensor<64x96xf32>, %u1: tensor<160x64xf32>, %d1: tensor<64x160xf32>, %b96: tensor<96xf32>, %b64: tensor<64xf32>, %b160: tensor<160xf32>) {
  // expected-error @+1 {{'moe.experts' op bias #3 must have shape [64] to match its weight, got 'tensor<160xf32>'}}
  %0 = moe.experts %rows, %off weights(%u0, %d0, %u1, %d1) biases(%b96, %b64, %b160, %b160)
      {activation = #moe.activation<gelu>, transposed_weights}
      : (tensor<?x64xf32>, tensor<3xi64>, tensor<96x64xf32>, tensor<64x96xf32>, tensor<160x64xf32>, tensor<64x160xf32>,
         tensor<96xf32>, tensor<64xf32>, tensor<160xf32>, tensor<160xf32>) -> tensor<?x64xf32>
  return
}

// -----

//===----------------------------------------------------------------------===//
// moe.grouped_matmul
//===----------------------------------------------------------------------===//

// grouped_matmul: lhs must be rank 2
func.func @gmm_lhs_rank(%l: tensor<?x4x64xf32>, %r: tensor<4x64x128xf32>, %off: tensor<5xi64>) {
  // expected-error @+1 {{'moe.grouped_matmul' op lhs must have rank 2, got 3}}
  %0 = moe.grouped_matmul %l, %r offsets(%off) : (tensor<?x4x64xf32>, tensor<4x64x128xf32>, tensor<5xi64>) -> tensor<?x128xf32>
  return
}

// -----

// grouped_matmul: result must be rank 2
func.func @gmm_result_rank(%l: tensor<?x64xf32>, %r: tensor<4x64x128xf32>, %off: tensor<5xi64>) {
  // expected-error @+1 {{'moe.grouped_matmul' op result must have rank 2, got 1}}
  %0 = moe.grouped_matmul %l, %r offsets(%off) : (tensor<?x64xf32>, tensor<4x64x128xf32>, tensor<5xi64>) -> tensor<?xf32>
  return
}

// -----

// grouped_matmul: group_extents need a stacked rhs
func.func @gmm_extents_per_group(%l: tensor<?x8xf32>, %r0: tensor<8x4xf32>, %r1: tensor<8x8xf32>, %off: tensor<3xi64>) {
  // expected-error @+1 {{'moe.grouped_matmul' op group_extents needs one stacked rhs [E, K, M]}}
  %0 = moe.grouped_matmul %l, %r0, %r1 offsets(%off) {group_extents = array<i64: 8, 4, 8, 8>} : (tensor<?x8xf32>, tensor<8x4xf32>, tensor<8x8xf32>, tensor<3xi64>) -> tensor<?x8xf32>
  return
}

// -----

// grouped_matmul: two group_extents per group
func.func @gmm_extents_count(%l: tensor<?x8xf32>, %r: tensor<2x8x16xf32>, %off: tensor<3xi64>) {
  // expected-error @+1 {{'moe.grouped_matmul' op group_extents has 3 entries, expected 2 per group (4)}}
  %0 = moe.grouped_matmul %l, %r offsets(%off) {group_extents = array<i64: 8, 4, 8>} : (tensor<?x8xf32>, tensor<2x8x16xf32>, tensor<3xi64>) -> tensor<?x16xf32>
  return
}

// -----

// grouped_matmul: group_extents within the stacked matrices ([M, K] when
// transposed: K = 8, M = 16 here)
func.func @gmm_extents_range(%l: tensor<?x8xf32>, %r: tensor<2x16x8xf32>, %off: tensor<3xi64>) {
  // expected-error @+1 {{'moe.grouped_matmul' op group_extents of group 1 ([16, 8]) must lie within [1..8, 1..16]}}
  %0 = moe.grouped_matmul %l, %r offsets(%off) {transpose_rhs, group_extents = array<i64: 8, 16, 16, 8>} : (tensor<?x8xf32>, tensor<2x16x8xf32>, tensor<3xi64>) -> tensor<?x16xf32>
  return
}

// -----

// grouped_matmul: extents of zero
func.func @gmm_extents_zero(%l: tensor<?x8xf32>, %r: tensor<2x8x16xf32>, %off: tensor<3xi64>) {
  // expected-error @+1 {{'moe.grouped_matmul' op group_extents of group 0 ([0, 4]) must lie within [1..8, 1..16]}}
  %0 = moe.grouped_matmul %l, %r offsets(%off) {group_extents = array<i64: 0, 4, 8, 16>} : (tensor<?x8xf32>, tensor<2x8x16xf32>, tensor<3xi64>) -> tensor<?x16xf32>
  return
}

// -----

// grouped_matmul: offsets must be a static 1-D tensor
func.func @gmm_offsets(%l: tensor<?x64xf32>, %r: tensor<4x64x128xf32>, %off: tensor<?xi32>) {
  // expected-error @+1 {{'moe.grouped_matmul' op offsets must be a static 1-D tensor of (num_experts + 1) >= 2 elements, got 'tensor<?xi32>'}}
  %0 = moe.grouped_matmul %l, %r offsets(%off) : (tensor<?x64xf32>, tensor<4x64x128xf32>, tensor<?xi32>) -> tensor<?x128xf32>
  return
}

// -----

// grouped_matmul: result keeps the lhs element type
func.func @gmm_result_element_type(%l: tensor<?x64xbf16>, %r: tensor<4x64x128xbf16>, %off: tensor<5xi64>) {
  // expected-error @+1 {{'moe.grouped_matmul' op result element type must match the lhs element type}}
  %0 = moe.grouped_matmul %l, %r offsets(%off) : (tensor<?x64xbf16>, tensor<4x64x128xbf16>, tensor<5xi64>) -> tensor<?x128xf32>
  return
}

// -----

// grouped_matmul: result keeps the row count
func.func @gmm_result_rows(%l: tensor<8x64xf32>, %r: tensor<4x64x128xf32>, %off: tensor<5xi64>) {
  // expected-error @+1 {{'moe.grouped_matmul' op result must have as many rows as lhs}}
  %0 = moe.grouped_matmul %l, %r offsets(%off) : (tensor<8x64xf32>, tensor<4x64x128xf32>, tensor<5xi64>) -> tensor<4x128xf32>
  return
}

// -----

// grouped_matmul: per-group rhs count must equal the group count
func.func @gmm_rhs_count(%l: tensor<?x64xf32>, %r0: tensor<64x32xf32>, %r1: tensor<64x48xf32>, %off: tensor<5xi64>) {
  // expected-error @+1 {{'moe.grouped_matmul' op expected one stacked rhs [E, K, M] or one rhs [K, M] per group (4), got 2}}
  %0 = moe.grouped_matmul %l, %r0, %r1 offsets(%off) : (tensor<?x64xf32>, tensor<64x32xf32>, tensor<64x48xf32>, tensor<5xi64>) -> tensor<?x48xf32>
  return
}

// -----

// grouped_matmul: per-group rhs are rank 2
func.func @gmm_rhs_rank(%l: tensor<?x64xf32>, %r0: tensor<1x64x32xf32>, %r1: tensor<1x64x48xf32>, %off: tensor<3xi64>) {
  // expected-error @+1 {{'moe.grouped_matmul' op rhs #0 must have rank 2, got 'tensor<1x64x32xf32>'}}
  %0 = moe.grouped_matmul %l, %r0, %r1 offsets(%off) : (tensor<?x64xf32>, tensor<1x64x32xf32>, tensor<1x64x48xf32>, tensor<3xi64>) -> tensor<?x48xf32>
  return
}

// -----

// grouped_matmul: rhs must have a static shape
func.func @gmm_rhs_dynamic(%l: tensor<?x64xf32>, %r: tensor<4x64x?xf32>, %off: tensor<5xi64>) {
  // expected-error @+1 {{'moe.grouped_matmul' op rhs #0 must have a static shape}}
  %0 = moe.grouped_matmul %l, %r offsets(%off) : (tensor<?x64xf32>, tensor<4x64x?xf32>, tensor<5xi64>) -> tensor<?x128xf32>
  return
}

// -----

// grouped_matmul: a stacked rhs holds E groups
func.func @gmm_stacked_count(%l: tensor<?x64xf32>, %r: tensor<8x64x128xf32>, %off: tensor<5xi64>) {
  // expected-error @+1 {{'moe.grouped_matmul' op stacked rhs holds 8 groups but offsets imply 4}}
  %0 = moe.grouped_matmul %l, %r offsets(%off) : (tensor<?x64xf32>, tensor<8x64x128xf32>, tensor<5xi64>) -> tensor<?x128xf32>
  return
}

// -----

// grouped_matmul: lhs columns match the reduction dim (stacked, transposed)
func.func @gmm_lhs_columns(%l: tensor<?x64xf32>, %r: tensor<4x64x128xf32>, %off: tensor<5xi64>) {
  // expected-error @+1 {{'moe.grouped_matmul' op lhs has 64 columns but the rhs reduce over 128}}
  %0 = moe.grouped_matmul %l, %r offsets(%off) {transpose_rhs} : (tensor<?x64xf32>, tensor<4x64x128xf32>, tensor<5xi64>) -> tensor<?x64xf32>
  return
}

// -----

// grouped_matmul: per-group lhs has the largest K
func.func @gmm_lhs_columns_per_group(%l: tensor<?x64xf32>, %r0: tensor<32x16xf32>, %r1: tensor<80x16xf32>, %off: tensor<3xi64>) {
  // expected-error @+1 {{'moe.grouped_matmul' op lhs has 64 columns but the rhs reduce over 80 (largest group)}}
  %0 = moe.grouped_matmul %l, %r0, %r1 offsets(%off) : (tensor<?x64xf32>, tensor<32x16xf32>, tensor<80x16xf32>, tensor<3xi64>) -> tensor<?x16xf32>
  return
}

// -----

// grouped_matmul: result columns match the rhs output dim
func.func @gmm_result_columns(%l: tensor<?x64xf32>, %r: tensor<4x64x128xf32>, %off: tensor<5xi64>) {
  // expected-error @+1 {{'moe.grouped_matmul' op result has 64 columns but the rhs produce 128}}
  %0 = moe.grouped_matmul %l, %r offsets(%off) : (tensor<?x64xf32>, tensor<4x64x128xf32>, tensor<5xi64>) -> tensor<?x64xf32>
  return
}

// -----

// grouped_matmul: per-group result has the largest M
func.func @gmm_result_columns_per_group(%l: tensor<?x64xf32>, %r0: tensor<64x32xf32>, %r1: tensor<64x48xf32>, %off: tensor<3xi64>) {
  // expected-error @+1 {{'moe.grouped_matmul' op result has 32 columns but the rhs produce 48 (largest group)}}
  %0 = moe.grouped_matmul %l, %r0, %r1 offsets(%off) : (tensor<?x64xf32>, tensor<64x32xf32>, tensor<64x48xf32>, tensor<3xi64>) -> tensor<?x32xf32>
  return
}

// -----

// grouped_matmul: one bias per rhs or none
func.func @gmm_bias_count(%l: tensor<?x64xf32>, %r0: tensor<64x32xf32>, %r1: tensor<64x48xf32>, %off: tensor<3xi64>, %b0: tensor<32xf32>) {
  // expected-error @+1 {{'moe.grouped_matmul' op expected one bias per rhs (2) or none, got 1}}
  %0 = moe.grouped_matmul %l, %r0, %r1 offsets(%off) bias(%b0) : (tensor<?x64xf32>, tensor<64x32xf32>, tensor<64x48xf32>, tensor<3xi64>, tensor<32xf32>) -> tensor<?x48xf32>
  return
}

// -----

// grouped_matmul: a stacked bias is [E, M]
func.func @gmm_bias_shape_stacked(%l: tensor<?x64xf32>, %r: tensor<4x128x64xf32>, %off: tensor<5xi64>, %b: tensor<4x64xf32>) {
  // expected-error @+1 {{'moe.grouped_matmul' op bias #0 must have shape [4, 128], got 'tensor<4x64xf32>'}}
  %0 = moe.grouped_matmul %l, %r offsets(%off) bias(%b) {transpose_rhs} : (tensor<?x64xf32>, tensor<4x128x64xf32>, tensor<5xi64>, tensor<4x64xf32>) -> tensor<?x128xf32>
  return
}

// -----

// grouped_matmul: a per-group bias is [M_e]
func.func @gmm_bias_shape_per_group(%l: tensor<?x64xf32>, %r0: tensor<64x32xf32>, %r1: tensor<64x48xf32>, %off: tensor<3xi64>, %b0: tensor<32xf32>) {
  // expected-error @+1 {{'moe.grouped_matmul' op bias #1 must have shape [48], got 'tensor<32xf32>'}}
  %0 = moe.grouped_matmul %l, %r0, %r1 offsets(%off) bias(%b0, %b0) : (tensor<?x64xf32>, tensor<64x32xf32>, tensor<64x48xf32>, tensor<3xi64>, tensor<32xf32>, tensor<32xf32>) -> tensor<?x48xf32>
  return
}

// -----

//===----------------------------------------------------------------------===//
// moe.scatter_columns
//===----------------------------------------------------------------------===//

// scatter_columns: source must be rank 2
func.func @scatter_0(%s: tensor<?x2x3xf32>, %d: tensor<?x8xf32>, %c: tensor<4x3xi32>, %off: tensor<5xi64>) {
  // expected-error @+1 {{'moe.scatter_columns' op source must have rank 2, got 3}}
  %0 = moe.scatter_columns %s into %d columns(%c) offsets(%off) : (tensor<?x2x3xf32>, tensor<?x8xf32>, tensor<4x3xi32>, tensor<5xi64>) -> tensor<?x8xf32>
  return
}

// -----

// scatter_columns: dest must be rank 2
func.func @scatter_1(%s: tensor<?x3xf32>, %d: tensor<8xf32>, %c: tensor<4x3xi32>, %off: tensor<5xi64>) {
  // expected-error @+1 {{'moe.scatter_columns' op dest must have rank 2, got 1}}
  %0 = moe.scatter_columns %s into %d columns(%c) offsets(%off) : (tensor<?x3xf32>, tensor<8xf32>, tensor<4x3xi32>, tensor<5xi64>) -> tensor<8xf32>
  return
}

// -----

// scatter_columns: columns must be rank 2
func.func @scatter_2(%s: tensor<?x3xf32>, %d: tensor<?x8xf32>, %c: tensor<12xi32>, %off: tensor<5xi64>) {
  // expected-error @+1 {{'moe.scatter_columns' op columns must have rank 2, got 1}}
  %0 = moe.scatter_columns %s into %d columns(%c) offsets(%off) : (tensor<?x3xf32>, tensor<?x8xf32>, tensor<12xi32>, tensor<5xi64>) -> tensor<?x8xf32>
  return
}

// -----

// scatter_columns: offsets must be static 1-D
func.func @scatter_3(%s: tensor<?x3xf32>, %d: tensor<?x8xf32>, %c: tensor<4x3xi32>, %off: tensor<?xi64>) {
  // expected-error @+1 {{'moe.scatter_columns' op offsets must be a static 1-D tensor of (num_experts + 1) >= 2 elements, got 'tensor<?xi64>'}}
  %0 = moe.scatter_columns %s into %d columns(%c) offsets(%off) : (tensor<?x3xf32>, tensor<?x8xf32>, tensor<4x3xi32>, tensor<?xi64>) -> tensor<?x8xf32>
  return
}

// -----

// scatter_columns: element types must match
func.func @scatter_4(%s: tensor<?x3xf16>, %d: tensor<?x8xf32>, %c: tensor<4x3xi32>, %off: tensor<5xi64>) {
  // expected-error @+1 {{'moe.scatter_columns' op source and dest element types must match}}
  %0 = moe.scatter_columns %s into %d columns(%c) offsets(%off) : (tensor<?x3xf16>, tensor<?x8xf32>, tensor<4x3xi32>, tensor<5xi64>) -> tensor<?x8xf32>
  return
}

// -----

// scatter_columns: result type is dest's
func.func @scatter_5(%s: tensor<?x3xf32>, %d: tensor<?x8xf32>, %c: tensor<4x3xi32>, %off: tensor<5xi64>) {
  // expected-error @+1 {{'moe.scatter_columns' op result type must be the dest type 'tensor<?x8xf32>'}}
  %0 = moe.scatter_columns %s into %d columns(%c) offsets(%off) : (tensor<?x3xf32>, tensor<?x8xf32>, tensor<4x3xi32>, tensor<5xi64>) -> tensor<?x9xf32>
  return
}

// -----

// scatter_columns: rows must agree
func.func @scatter_6(%s: tensor<6x3xf32>, %d: tensor<7x8xf32>, %c: tensor<4x3xi32>, %off: tensor<5xi64>) {
  // expected-error @+1 {{'moe.scatter_columns' op source must have as many rows as dest}}
  %0 = moe.scatter_columns %s into %d columns(%c) offsets(%off) : (tensor<6x3xf32>, tensor<7x8xf32>, tensor<4x3xi32>, tensor<5xi64>) -> tensor<7x8xf32>
  return
}

// -----

// scatter_columns: columns must be static
func.func @scatter_7(%s: tensor<?x3xf32>, %d: tensor<?x8xf32>, %c: tensor<4x?xi32>, %off: tensor<5xi64>) {
  // expected-error @+1 {{'moe.scatter_columns' op columns must have a static shape}}
  %0 = moe.scatter_columns %s into %d columns(%c) offsets(%off) : (tensor<?x3xf32>, tensor<?x8xf32>, tensor<4x?xi32>, tensor<5xi64>) -> tensor<?x8xf32>
  return
}

// -----

// scatter_columns: one row of columns per group
func.func @scatter_8(%s: tensor<?x3xf32>, %d: tensor<?x8xf32>, %c: tensor<3x3xi32>, %off: tensor<5xi64>) {
  // expected-error @+1 {{'moe.scatter_columns' op columns has 3 rows but offsets imply 4 groups}}
  %0 = moe.scatter_columns %s into %d columns(%c) offsets(%off) : (tensor<?x3xf32>, tensor<?x8xf32>, tensor<3x3xi32>, tensor<5xi64>) -> tensor<?x8xf32>
  return
}

// -----

// scatter_columns: one column index per source column
func.func @scatter_9(%s: tensor<?x2xf32>, %d: tensor<?x8xf32>, %c: tensor<4x3xi32>, %off: tensor<5xi64>) {
  // expected-error @+1 {{'moe.scatter_columns' op source has 2 columns but columns lists 3 per group}}
  %0 = moe.scatter_columns %s into %d columns(%c) offsets(%off) : (tensor<?x2xf32>, tensor<?x8xf32>, tensor<4x3xi32>, tensor<5xi64>) -> tensor<?x8xf32>
  return
}

// -----

// scatter_columns: constant column indices must lie in [-1, width)
func.func @scatter_index_range(%s: tensor<?x2xf32>, %d: tensor<?x8xf32>, %off: tensor<3xi64>) {
  %c = arith.constant dense<[[0, -1], [7, 8]]> : tensor<2x2xi32>
  // expected-error @+1 {{'moe.scatter_columns' op column index 8 (group 1) is outside [-1, 8)}}
  %0 = moe.scatter_columns %s into %d columns(%c) offsets(%off) : (tensor<?x2xf32>, tensor<?x8xf32>, tensor<2x2xi32>, tensor<3xi64>) -> tensor<?x8xf32>
  return
}

// -----

// scatter_columns: unique_columns with a group that repeats a column (-1
// may repeat; another group may use the same column)
func.func @scatter_unique_repeated(%s: tensor<?x3xf32>, %d: tensor<?x8xf32>, %off: tensor<3xi64>) {
  %c = arith.constant dense<[[0, -1, -1], [0, 5, 5]]> : tensor<2x3xi32>
  // expected-error @+1 {{'moe.scatter_columns' op has unique_columns, but group 1 repeats column 5}}
  %0 = moe.scatter_columns %s into %d columns(%c) offsets(%off) {unique_columns} : (tensor<?x3xf32>, tensor<?x8xf32>, tensor<2x3xi32>, tensor<3xi64>) -> tensor<?x8xf32>
  return
}

// -----

//===----------------------------------------------------------------------===//
// moe.activation
//===----------------------------------------------------------------------===//

// activation: input must be rank 2
func.func @activation_input_rank(%h: tensor<?xf32>) {
  // expected-error @+1 {{'moe.activation' op input must have rank 2, got 1}}
  %0 = moe.activation %h {activation = #moe.activation<relu>} : (tensor<?xf32>) -> tensor<?x128xf32>
  return
}

// -----

// activation: result must be rank 2
func.func @activation_result_rank(%h: tensor<?x128xf32>) {
  // expected-error @+1 {{'moe.activation' op result must have rank 2, got 3}}
  %0 = moe.activation %h {activation = #moe.activation<relu>} : (tensor<?x128xf32>) -> tensor<?x128x1xf32>
  return
}

// -----

// activation: an infinite alpha
func.func @activation_alpha_inf(%h: tensor<?x128xf32>) {
  // expected-error @+1 {{'moe.activation' op alpha must be finite}}
  %0 = moe.activation %h {activation = #moe.activation<silu>, alpha = 0x7FF0000000000000 : f64} : (tensor<?x128xf32>) -> tensor<?x128xf32>
  return
}

// -----

// activation: a NaN beta
func.func @activation_beta_nan(%h: tensor<?x128xf32>) {
  // expected-error @+1 {{'moe.activation' op beta must be finite}}
  %0 = moe.activation %h {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<concatenated>, beta = 0x7FF8000000000000 : f64} : (tensor<?x128xf32>) -> tensor<?x64xf32>
  return
}

// -----

// activation: an infinite limit
func.func @activation_limit_inf(%h: tensor<?x128xf32>) {
  // expected-error @+1 {{'moe.activation' op limit must be finite}}
  %0 = moe.activation %h {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<concatenated>, limit = 0x7FF0000000000000 : f64} : (tensor<?x128xf32>) -> tensor<?x64xf32>
  return
}

// -----

// activation: an infinite kappa
func.func @activation_kappa_inf(%h: tensor<?x128xf32>) {
  // expected-error @+1 {{'moe.activation' op kappa must be finite}}
  %0 = moe.activation %h {activation = #moe.activation<apa>, kappa = 0x7FF0000000000000 : f64} : (tensor<?x128xf32>) -> tensor<?x128xf32>
  return
}

// -----

// activation: a NaN lambda
func.func @activation_lambda_nan(%h: tensor<?x128xf32>) {
  // expected-error @+1 {{'moe.activation' op lambda must be finite}}
  %0 = moe.activation %h {activation = #moe.activation<aglu>, lambda = 0x7FF8000000000000 : f64} : (tensor<?x128xf32>) -> tensor<?x128xf32>
  return
}

// -----

// activation: alpha on an activation other than silu
func.func @activation_alpha_not_silu(%h: tensor<?x128xf32>) {
  // expected-error @+1 {{'moe.activation' op alpha applies only to the silu activation}}
  %0 = moe.activation %h {activation = #moe.activation<gelu>, alpha = 1.702} : (tensor<?x128xf32>) -> tensor<?x128xf32>
  return
}

// -----

// activation: beta without gate_layout
func.func @activation_beta_ungated(%h: tensor<?x128xf32>) {
  // expected-error @+1 {{'moe.activation' op beta applies only to gated activations (set gate_layout)}}
  %0 = moe.activation %h {activation = #moe.activation<silu>, beta = 1.0} : (tensor<?x128xf32>) -> tensor<?x128xf32>
  return
}

// -----

// activation: limit without gate_layout
func.func @activation_limit_ungated(%h: tensor<?x128xf32>) {
  // expected-error @+1 {{'moe.activation' op limit applies only to gated activations (set gate_layout)}}
  %0 = moe.activation %h {activation = #moe.activation<silu>, limit = 7.0} : (tensor<?x128xf32>) -> tensor<?x128xf32>
  return
}

// -----

// activation: limit = 0
func.func @activation_limit_zero(%h: tensor<?x128xf32>) {
  // expected-error @+1 {{'moe.activation' op limit must be positive}}
  %0 = moe.activation %h {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<concatenated>, limit = 0.0} : (tensor<?x128xf32>) -> tensor<?x64xf32>
  return
}

// -----

// activation: a negative limit
func.func @activation_limit_negative(%h: tensor<?x128xf32>) {
  // expected-error @+1 {{'moe.activation' op limit must be positive}}
  %0 = moe.activation %h {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<concatenated>, limit = -7.0} : (tensor<?x128xf32>) -> tensor<?x64xf32>
  return
}

// -----

// activation: kappa on an activation other than apa / aglu
func.func @activation_kappa_not_apa(%h: tensor<?x128xf32>) {
  // expected-error @+1 {{'moe.activation' op kappa and lambda apply only to apa and aglu}}
  %0 = moe.activation %h {activation = #moe.activation<silu>, kappa = 1.5} : (tensor<?x128xf32>) -> tensor<?x128xf32>
  return
}

// -----

// activation: lambda on an activation other than apa / aglu
func.func @activation_lambda_not_apa(%h: tensor<?x128xf32>) {
  // expected-error @+1 {{'moe.activation' op kappa and lambda apply only to apa and aglu}}
  %0 = moe.activation %h {activation = #moe.activation<gelu>, gate_layout = #moe.gate_layout<concatenated>, lambda = 0.5} : (tensor<?x128xf32>) -> tensor<?x64xf32>
  return
}

// -----

// activation: lambda = 0
func.func @activation_lambda_zero(%h: tensor<?x128xf32>) {
  // expected-error @+1 {{'moe.activation' op lambda must be positive}}
  %0 = moe.activation %h {activation = #moe.activation<apa>, lambda = 0.0} : (tensor<?x128xf32>) -> tensor<?x128xf32>
  return
}

// -----

// activation: a negative lambda
func.func @activation_lambda_negative(%h: tensor<?x128xf32>) {
  // expected-error @+1 {{'moe.activation' op lambda must be positive}}
  %0 = moe.activation %h {activation = #moe.activation<aglu>, gate_layout = #moe.gate_layout<concatenated>, kappa = 1.0, lambda = -1.0} : (tensor<?x128xf32>) -> tensor<?x64xf32>
  return
}

// -----

// activation: result keeps the input element type
func.func @activation_result_element_type(%h: tensor<?x128xf16>) {
  // expected-error @+1 {{'moe.activation' op result element type must match the input element type}}
  %0 = moe.activation %h {activation = #moe.activation<relu>} : (tensor<?x128xf16>) -> tensor<?x128xf32>
  return
}

// -----

// activation: result keeps the row count
func.func @activation_result_rows(%h: tensor<16x128xf32>) {
  // expected-error @+1 {{'moe.activation' op result must have as many rows as the input}}
  %0 = moe.activation %h {activation = #moe.activation<relu>} : (tensor<16x128xf32>) -> tensor<8x128xf32>
  return
}

// -----

// activation: separate gating needs the up operand
func.func @activation_separate_no_up(%g: tensor<?x128xf32>) {
  // expected-error @+1 {{'moe.activation' op gate_layout separate requires the up operand}}
  %0 = moe.activation %g {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<separate>}
      : (tensor<?x128xf32>) -> tensor<?x128xf32>
  return
}

// -----

// activation: up operand without gating
func.func @activation_up_ungated(%g: tensor<?x128xf32>, %u: tensor<?x128xf32>) {
  // expected-error @+1 {{'moe.activation' op the up operand is only used with gate_layout separate}}
  %0 = moe.activation %g, %u {activation = #moe.activation<silu>}
      : (tensor<?x128xf32>, tensor<?x128xf32>) -> tensor<?x128xf32>
  return
}

// -----

// activation: up operand with a fused layout
func.func @activation_up_interleaved(%g: tensor<?x256xf32>, %u: tensor<?x256xf32>) {
  // expected-error @+1 {{'moe.activation' op the up operand is only used with gate_layout separate}}
  %0 = moe.activation %g, %u {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<interleaved>}
      : (tensor<?x256xf32>, tensor<?x256xf32>) -> tensor<?x128xf32>
  return
}

// -----

// activation: gate and up have the same type
func.func @activation_gate_up_type(%g: tensor<?x128xf32>, %u: tensor<?x64xf32>) {
  // expected-error @+1 {{'moe.activation' op gate and up operands must have the same type}}
  %0 = moe.activation %g, %u {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<separate>}
      : (tensor<?x128xf32>, tensor<?x64xf32>) -> tensor<?x128xf32>
  return
}

// -----

// activation: widths without offsets
func.func @activation_widths_alone(%h: tensor<?x128xf32>) {
  // expected-error @+1 {{'moe.activation' op widths and offsets must be given together}}
  %0 = moe.activation %h {activation = #moe.activation<gelu>, widths = array<i64: 32, 64, 96, 128>}
      : (tensor<?x128xf32>) -> tensor<?x128xf32>
  return
}

// -----

// activation: offsets without widths
func.func @activation_offsets_alone(%h: tensor<?x128xf32>, %off: tensor<5xi64>) {
  // expected-error @+1 {{'moe.activation' op widths and offsets must be given together}}
  %0 = moe.activation %h offsets(%off) {activation = #moe.activation<gelu>}
      : (tensor<?x128xf32>, tensor<5xi64>) -> tensor<?x128xf32>
  return
}

// -----

// activation: offsets must be a static 1-D tensor
func.func @activation_offsets_dynamic(%h: tensor<?x128xf32>, %off: tensor<?xi64>) {
  // expected-error @+1 {{'moe.activation' op offsets must be a static 1-D tensor of (num_experts + 1) >= 2 elements, got 'tensor<?xi64>'}}
  %0 = moe.activation %h offsets(%off) {activation = #moe.activation<gelu>, widths = array<i64: 32, 64, 96, 128>}
      : (tensor<?x128xf32>, tensor<?xi64>) -> tensor<?x128xf32>
  return
}

// -----

// activation: one width per group
func.func @activation_widths_count(%h: tensor<?x128xf32>, %off: tensor<5xi64>) {
  // expected-error @+1 {{'moe.activation' op widths has 3 entries but offsets imply 4 groups}}
  %0 = moe.activation %h offsets(%off) {activation = #moe.activation<gelu>, widths = array<i64: 64, 96, 128>}
      : (tensor<?x128xf32>, tensor<5xi64>) -> tensor<?x128xf32>
  return
}

// -----

// activation: widths are positive
func.func @activation_widths_positive(%h: tensor<?x128xf32>, %off: tensor<5xi64>) {
  // expected-error @+1 {{'moe.activation' op widths must be positive}}
  %0 = moe.activation %h offsets(%off) {activation = #moe.activation<gelu>, widths = array<i64: 32, 0, 96, 128>}
      : (tensor<?x128xf32>, tensor<5xi64>) -> tensor<?x128xf32>
  return
}

// -----

// activation: the result is as wide as the widest group
func.func @activation_widths_result(%h: tensor<?x128xf32>, %off: tensor<5xi64>) {
  // expected-error @+1 {{'moe.activation' op result width (128) must be the largest group width (96)}}
  %0 = moe.activation %h offsets(%off) {activation = #moe.activation<gelu>, widths = array<i64: 32, 64, 96, 96>}
      : (tensor<?x128xf32>, tensor<5xi64>) -> tensor<?x128xf32>
  return
}

// -----

// activation: a fused input is twice the widest group
func.func @activation_widths_input(%h: tensor<?x128xf32>, %off: tensor<5xi64>) {
  // expected-error @+1 {{'moe.activation' op input width (128) must be 2 x the largest group width (128)}}
  %0 = moe.activation %h offsets(%off)
      {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<concatenated>, widths = array<i64: 32, 64, 96, 128>}
      : (tensor<?x128xf32>, tensor<5xi64>) -> tensor<?x128xf32>
  return
}

// -----

// activation: an ungated input is as wide as the widest group
func.func @activation_widths_input_ungated(%h: tensor<?x256xf32>, %off: tensor<5xi64>) {
  // expected-error @+1 {{'moe.activation' op input width (256) must be 1 x the largest group width (128)}}
  %0 = moe.activation %h offsets(%off) {activation = #moe.activation<gelu>, widths = array<i64: 32, 64, 96, 128>}
      : (tensor<?x256xf32>, tensor<5xi64>) -> tensor<?x128xf32>
  return
}

// -----

// activation: a fused input has an even width
func.func @activation_fused_odd(%h: tensor<?x255xf32>) {
  // expected-error @+1 {{'moe.activation' op fused gate/up input width (255) must be even}}
  %0 = moe.activation %h {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<interleaved>}
      : (tensor<?x255xf32>) -> tensor<?x127xf32>
  return
}

// -----

// activation: a fused result is half the input width
func.func @activation_fused_result(%h: tensor<?x256xf32>) {
  // expected-error @+1 {{'moe.activation' op result width (256) must be half the fused input width (128)}}
  %0 = moe.activation %h {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<concatenated>}
      : (tensor<?x256xf32>) -> tensor<?x256xf32>
  return
}

// -----

// activation: an ungated (or separate) result is as wide as the input
func.func @activation_result_width(%g: tensor<?x128xf32>, %u: tensor<?x128xf32>) {
  // expected-error @+1 {{'moe.activation' op result width (64) must be the input width (128)}}
  %0 = moe.activation %g, %u {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<separate>}
      : (tensor<?x128xf32>, tensor<?x128xf32>) -> tensor<?x64xf32>
  return
}

// -----

//===----------------------------------------------------------------------===//
// moe.dequantize
//===----------------------------------------------------------------------===//

// dequantize: weight rank
func.func @dq_rank(%q: tensor<16xi8>, %s: tensor<4xf32>) {
  // expected-error @+1 {{'moe.dequantize' op weight must have rank >= 2 ([..., N, packed K]), got 1}}
  %0 = moe.dequantize %q, %s {bits = 8 : i64} : (tensor<16xi8>, tensor<4xf32>) -> tensor<16xf32>
  return
}

// -----

// dequantize: result rank
func.func @dq_result_rank(%q: tensor<4x16xi8>, %s: tensor<4xf32>) {
  // expected-error @+1 {{'moe.dequantize' op result must have the weight's rank (2), got 3}}
  %0 = moe.dequantize %q, %s {bits = 8 : i64} : (tensor<4x16xi8>, tensor<4xf32>) -> tensor<1x4x16xf32>
  return
}

// -----

// dequantize: leading dims
func.func @dq_rows(%q: tensor<4x16xi8>, %s: tensor<4xf32>) {
  // expected-error @+1 {{'moe.dequantize' op result dim 0 (8) must match weight dim 0 (4)}}
  %0 = moe.dequantize %q, %s {bits = 8 : i64} : (tensor<4x16xi8>, tensor<4xf32>) -> tensor<8x16xf32>
  return
}

// -----

// dequantize: packed width
func.func @dq_packed(%q: tensor<4x16xi8>, %s: tensor<4xf32>) {
  // expected-error @+1 {{'moe.dequantize' op weight's last dim (16) must hold 16 values of 4 bits (8 bytes)}}
  %0 = moe.dequantize %q, %s {bits = 4 : i64} : (tensor<4x16xi8>, tensor<4xf32>) -> tensor<4x16xf32>
  return
}

// -----

// dequantize: per-row scales
func.func @dq_row_scales(%q: tensor<2x4x16xi8>, %s: tensor<2x8xf32>) {
  // expected-error @+1 {{'moe.dequantize' op scales 'tensor<2x8xf32>' must be [2, 4] (one per row without block_size)}}
  %0 = moe.dequantize %q, %s {bits = 8 : i64} : (tensor<2x4x16xi8>, tensor<2x8xf32>) -> tensor<2x4x16xf32>
  return
}

// -----

// dequantize: block scales
func.func @dq_block_scales(%q: tensor<2x4x16xi8>, %s: tensor<2x4x4xf32>) {
  // expected-error @+1 {{'moe.dequantize' op scales 'tensor<2x4x4xf32>' must be [2, 4, 2] (one per block of block_size values)}}
  %0 = moe.dequantize %q, %s {bits = 4 : i64, block_size = 16 : i64} : (tensor<2x4x16xi8>, tensor<2x4x4xf32>) -> tensor<2x4x32xf32>
  return
}

// -----

// dequantize: zero points
func.func @dq_zero_points(%q: tensor<2x4x16xi8>, %s: tensor<2x4x3xf32>, %z: tensor<2x4x3xi8>) {
  // expected-error @+1 {{'moe.dequantize' op zero_points 'tensor<2x4x3xi8>' must be [2, 4, 2] (the scales' shape, last dim packed to 4 bits)}}
  %0 = moe.dequantize %q, %s zero_points(%z) {bits = 4 : i64, block_size = 11 : i64} : (tensor<2x4x16xi8>, tensor<2x4x3xf32>, tensor<2x4x3xi8>) -> tensor<2x4x32xf32>
  return
}

// -----

//===----------------------------------------------------------------------===//
// moe.combine
//===----------------------------------------------------------------------===//

// combine: rows must be rank 2
func.func @combine_rows_rank(%y: tensor<?xf32>, %m: tensor<?x2xi64>, %w: tensor<?x2xf32>) {
  // expected-error @+1 {{'moe.combine' op rows must have rank 2, got 1}}
  %0 = moe.combine %y, %m, %w : (tensor<?xf32>, tensor<?x2xi64>, tensor<?x2xf32>) -> tensor<?x64xf32>
  return
}

// -----

// combine: row_map must be rank 2
func.func @combine_row_map_rank(%y: tensor<?x64xf32>, %m: tensor<?xi64>, %w: tensor<?x2xf32>) {
  // expected-error @+1 {{'moe.combine' op row_map must have rank 2, got 1}}
  %0 = moe.combine %y, %m, %w : (tensor<?x64xf32>, tensor<?xi64>, tensor<?x2xf32>) -> tensor<?x64xf32>
  return
}

// -----

// combine: result must be rank 2
func.func @combine_result_rank(%y: tensor<?x64xf32>, %m: tensor<?x2xi64>, %w: tensor<?x2xf32>) {
  // expected-error @+1 {{'moe.combine' op result [tokens, hidden] must have rank 2, got 3}}
  %0 = moe.combine %y, %m, %w : (tensor<?x64xf32>, tensor<?x2xi64>, tensor<?x2xf32>) -> tensor<?x2x64xf32>
  return
}

// -----

// combine: weights are shaped like row_map
func.func @combine_weights_shape(%y: tensor<?x64xf32>, %m: tensor<16x2xi64>, %w: tensor<16x8xf32>) {
  // expected-error @+1 {{'moe.combine' op weights must have shape [16, 2] (same as row_map), got 'tensor<16x8xf32>'}}
  %0 = moe.combine %y, %m, %w : (tensor<?x64xf32>, tensor<16x2xi64>, tensor<16x8xf32>) -> tensor<16x64xf32>
  return
}

// -----

// combine: result keeps the rows element type
func.func @combine_result_element_type(%y: tensor<?x64xbf16>, %m: tensor<?x2xi64>, %w: tensor<?x2xbf16>) {
  // expected-error @+1 {{'moe.combine' op result element type must match the rows element type}}
  %0 = moe.combine %y, %m, %w : (tensor<?x64xbf16>, tensor<?x2xi64>, tensor<?x2xbf16>) -> tensor<?x64xf32>
  return
}

// -----

// combine: one result row per token of row_map
func.func @combine_result_tokens(%y: tensor<?x64xf32>, %m: tensor<16x2xi64>, %w: tensor<16x2xf32>) {
  // expected-error @+1 {{'moe.combine' op result token count (32) must match row_map (16)}}
  %0 = moe.combine %y, %m, %w : (tensor<?x64xf32>, tensor<16x2xi64>, tensor<16x2xf32>) -> tensor<32x64xf32>
  return
}

// -----

// combine: result keeps the rows width
func.func @combine_result_width(%y: tensor<?x64xf32>, %m: tensor<?x2xi64>, %w: tensor<?x2xf32>) {
  // expected-error @+1 {{'moe.combine' op result width (128) must match rows width (64)}}
  %0 = moe.combine %y, %m, %w : (tensor<?x64xf32>, tensor<?x2xi64>, tensor<?x2xf32>) -> tensor<?x128xf32>
  return
}

// -----

// combine: an unweighted combine (after a scale_rows dispatch) is checked too
func.func @combine_unweighted_tokens(%y: tensor<?x64xf32>, %m: tensor<16x1xi64>) {
  // expected-error @+1 {{'moe.combine' op result token count (8) must match row_map (16)}}
  %0 = moe.combine %y, %m : (tensor<?x64xf32>, tensor<16x1xi64>) -> tensor<8x64xf32>
  return
}

// -----

//===----------------------------------------------------------------------===//
// ODS constraints
//===----------------------------------------------------------------------===//

// route: k = 0 violates IntPositive
func.func @route_k_zero(%l: tensor<?x8xf32>) {
  // expected-error @+1 {{'moe.route' op attribute 'k' failed to satisfy constraint: 64-bit signless integer attribute whose value is positive}}
  %w, %i = moe.route <token_choice> <softmax> %l {k = 0} : tensor<?x8xf32> -> tensor<?x0xf32>, tensor<?x0xi64>
  return
}

// -----

// route: num_groups = 0 violates IntPositive
func.func @route_num_groups_zero(%l: tensor<?x8xf32>) {
  // expected-error @+1 {{'moe.route' op attribute 'num_groups' failed to satisfy constraint: 64-bit signless integer attribute whose value is positive}}
  %w, %i = moe.route <token_choice> <sigmoid> %l {k = 2, num_groups = 0, topk_groups = 1} : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  return
}

// -----

// route: negative topk_groups violates IntPositive
func.func @route_topk_groups_negative(%l: tensor<?x8xf32>) {
  // expected-error @+1 {{'moe.route' op attribute 'topk_groups' failed to satisfy constraint: 64-bit signless integer attribute whose value is positive}}
  %w, %i = moe.route <token_choice> <sigmoid> %l {k = 2, num_groups = 2, topk_groups = -1} : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  return
}

// -----

// route: group_topk = 0 violates IntPositive
func.func @route_group_topk_zero(%l: tensor<?x8xf32>) {
  // expected-error @+1 {{'moe.route' op attribute 'group_topk' failed to satisfy constraint: 64-bit signless integer attribute whose value is positive}}
  %w, %i = moe.route <token_choice> <sigmoid> %l {k = 2, num_groups = 2, topk_groups = 1, group_topk = 0} : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  return
}

// -----

// route: integer logits
func.func @route_integer_logits(%l: tensor<?x8xi32>) {
  // expected-error @+1 {{'moe.route' op operand #0 must be ranked tensor of floating-point values, but got 'tensor<?x8xi32>'}}
  %w, %i = moe.route <token_choice> <softmax> %l {k = 2} : tensor<?x8xi32> -> tensor<?x2xf32>, tensor<?x2xi64>
  return
}

// -----

// route: float indices
func.func @route_float_indices(%l: tensor<?x8xf32>) {
  // expected-error @+1 {{'moe.route' op result #1 must be ranked tensor of 32-bit signless integer or 64-bit signless integer values, but got 'tensor<?x2xf32>'}}
  %w, %i = moe.route <token_choice> <softmax> %l {k = 2} : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xf32>
  return
}

// -----

// route: i16 indices
func.func @route_i16_indices(%l: tensor<?x8xf32>) {
  // expected-error @+1 {{'moe.route' op result #1 must be ranked tensor of 32-bit signless integer or 64-bit signless integer values, but got 'tensor<?x2xi16>'}}
  %w, %i = moe.route <token_choice> <softmax> %l {k = 2} : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi16>
  return
}

// -----

// route: an expert_mask that is not an i1 array
func.func @route_mask_type(%l: tensor<?x4xf32>) {
  // expected-error @+1 {{'moe.route' op attribute 'expert_mask' failed to satisfy constraint: i1 dense array attribute}}
  %w, %i = moe.route <token_choice> <softmax> %l {k = 2, expert_mask = array<i64: 1, 1, 0, 1>} : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  return
}

// -----

// route: float attributes are f64
func.func @route_top_p_f32(%l: tensor<?x8xf32>) {
  // expected-error @+1 {{'moe.route' op attribute 'top_p' failed to satisfy constraint: 64-bit float attribute}}
  %w, %i = moe.route <top_p> <softmax> %l {k = 2, top_p = 0.5 : f32} : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  return
}

// -----

// gate: integer router weight
func.func @gate_integer_weight(%x: tensor<?x16xf32>, %w: tensor<4x16xi8>) {
  // expected-error @+1 {{'moe.gate' op operand #1 must be ranked tensor of floating-point values, but got 'tensor<4x16xi8>'}}
  %0 = moe.gate %x, %w : (tensor<?x16xf32>, tensor<4x16xi8>) -> tensor<?x4xf32>
  return
}

// -----

// gate: unranked input
func.func @gate_unranked(%x: tensor<*xf32>, %w: tensor<4x16xf32>) {
  // expected-error @+1 {{'moe.gate' op operand #0 must be ranked tensor of floating-point values, but got 'tensor<*xf32>'}}
  %0 = moe.gate %x, %w : (tensor<*xf32>, tensor<4x16xf32>) -> tensor<?x4xf32>
  return
}

// -----

// dispatch: num_experts = 0 violates IntPositive
func.func @dispatch_num_experts_zero(%x: tensor<?x16xf32>, %ids: tensor<?x2xi64>) {
  // expected-error @+1 {{'moe.dispatch' op attribute 'num_experts' failed to satisfy constraint: 64-bit signless integer attribute whose value is positive}}
  %r:3 = moe.dispatch %x, %ids {num_experts = 0}
      : tensor<?x16xf32>, tensor<?x2xi64> -> tensor<?x16xf32>, tensor<1xi64>, tensor<?x2xi64>
  return
}

// -----

// dispatch: num_experts is required
func.func @dispatch_num_experts_missing(%x: tensor<?x16xf32>, %ids: tensor<?x2xi64>) {
  // expected-error @+1 {{'moe.dispatch' op requires attribute 'num_experts'}}
  %r:3 = moe.dispatch %x, %ids : tensor<?x16xf32>, tensor<?x2xi64> -> tensor<?x16xf32>, tensor<9xi64>, tensor<?x2xi64>
  return
}

// -----

// dispatch: capacity = 0 violates IntPositive
func.func @dispatch_capacity_zero(%x: tensor<?x16xf32>, %ids: tensor<?x1xi32>) {
  // expected-error @+1 {{'moe.dispatch' op attribute 'capacity' failed to satisfy constraint: 64-bit signless integer attribute whose value is positive}}
  %r:3 = moe.dispatch %x, %ids {num_experts = 8, capacity = 0, drop_policy = #moe.drop_policy<in_order>}
      : tensor<?x16xf32>, tensor<?x1xi32> -> tensor<?x16xf32>, tensor<9xi32>, tensor<?x1xi32>
  return
}

// -----

// dispatch: float indices
func.func @dispatch_float_indices(%x: tensor<?x16xf32>, %ids: tensor<?x2xf32>) {
  // expected-error @+1 {{'moe.dispatch' op operand #1 must be ranked tensor of 32-bit signless integer or 64-bit signless integer values, but got 'tensor<?x2xf32>'}}
  %r:3 = moe.dispatch %x, %ids {num_experts = 8}
      : tensor<?x16xf32>, tensor<?x2xf32> -> tensor<?x16xf32>, tensor<9xi64>, tensor<?x2xi64>
  return
}

// -----

// experts: activation is required
func.func @experts_activation_missing(%rows: tensor<?x64xf32>, %off: tensor<5xi64>, %w1: tensor<4x64x128xf32>, %w2: tensor<4x128x64xf32>) {
  // expected-error @+1 {{'moe.experts' op requires attribute 'activation'}}
  %0 = moe.experts %rows, %off weights(%w1, %w2)
      : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x128xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
  return
}

// -----

// experts: integer offsets only
func.func @experts_float_offsets(%rows: tensor<?x64xf32>, %off: tensor<5xf32>, %w1: tensor<4x64x128xf32>, %w2: tensor<4x128x64xf32>) {
  // expected-error @+1 {{'moe.experts' op operand #1 must be ranked tensor of 32-bit signless integer or 64-bit signless integer values, but got 'tensor<5xf32>'}}
  %0 = moe.experts %rows, %off weights(%w1, %w2) {activation = #moe.activation<relu>}
      : (tensor<?x64xf32>, tensor<5xf32>, tensor<4x64x128xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
  return
}

// -----

// activation: widths must be an i64 array
func.func @activation_widths_type(%h: tensor<?x128xf32>, %off: tensor<3xi64>) {
  // expected-error @+1 {{'moe.activation' op attribute 'widths' failed to satisfy constraint: i64 dense array attribute}}
  %0 = moe.activation %h offsets(%off) {activation = #moe.activation<gelu>, widths = array<i32: 64, 128>}
      : (tensor<?x128xf32>, tensor<3xi64>) -> tensor<?x128xf32>
  return
}

// -----

// combine: integer weights
func.func @combine_integer_weights(%y: tensor<?x64xf32>, %m: tensor<?x2xi64>, %w: tensor<?x2xi64>) {
  // expected-error @+1 {{'moe.combine' op operand #2 must be ranked tensor of floating-point values, but got 'tensor<?x2xi64>'}}
  %0 = moe.combine %y, %m, %w : (tensor<?x64xf32>, tensor<?x2xi64>, tensor<?x2xi64>) -> tensor<?x64xf32>
  return
}

// -----

// dequantize: bit widths other than 2, 4, 8
func.func @dq_bits(%q: tensor<4x16xi8>, %s: tensor<4xf32>) {
  // expected-error @+1 {{'moe.dequantize' op attribute 'bits' failed to satisfy constraint: 64-bit signless integer attribute whose value is one of {2, 4, 8}}}
  %0 = moe.dequantize %q, %s {bits = 3 : i64} : (tensor<4x16xi8>, tensor<4xf32>) -> tensor<4x32xf32>
  return
}

// -----

// dequantize: bytes are signless i8
func.func @dq_unsigned(%q: tensor<4x16xui8>, %s: tensor<4xf32>) {
  // expected-error @+1 {{'moe.dequantize' op operand #0 must be ranked tensor of 8-bit signless integer values, but got 'tensor<4x16xui8>'}}
  %0 = moe.dequantize %q, %s {bits = 8 : i64} : (tensor<4x16xui8>, tensor<4xf32>) -> tensor<4x16xf32>
  return
}

// -----

// grouped_matmul panels: the rhs must be [E, M / P, K, P] (or one per group)
func.func @gmm_panels_rank(%l: tensor<?x64xf32>, %r: tensor<4x64x128xf32>, %off: tensor<5xi64>) {
  // expected-error @+1 {{'moe.grouped_matmul' op panels need one stacked rhs [E, M / P, K, P] or one rhs [M / P, K, P] per group (4), got 1 of 'tensor<4x64x128xf32>'}}
  %0 = moe.grouped_matmul %l, %r offsets(%off) {panels} : (tensor<?x64xf32>, tensor<4x64x128xf32>, tensor<5xi64>) -> tensor<?x128xf32>
  return
}

// -----

// grouped_matmul panels: panels hold [K, P] blocks, never transposed ones
func.func @gmm_panels_transposed(%l: tensor<?x64xf32>, %r: tensor<4x2x64x64xf32>, %off: tensor<5xi64>) {
  // expected-error @+1 {{'moe.grouped_matmul' op panels hold [K, P] blocks; transpose_rhs does not apply to them}}
  %0 = moe.grouped_matmul %l, %r offsets(%off) {panels, transpose_rhs} : (tensor<?x64xf32>, tensor<4x2x64x64xf32>, tensor<5xi64>) -> tensor<?x128xf32>
  return
}

// -----

// grouped_matmul panels: the panels' columns must add up to the result's
func.func @gmm_panels_width(%l: tensor<?x64xf32>, %r: tensor<4x3x64x64xf32>, %off: tensor<5xi64>) {
  // expected-error @+1 {{'moe.grouped_matmul' op result has 128 columns but the panels hold 3 x 64 = 192}}
  %0 = moe.grouped_matmul %l, %r offsets(%off) {panels} : (tensor<?x64xf32>, tensor<4x3x64x64xf32>, tensor<5xi64>) -> tensor<?x128xf32>
  return
}

// -----

// grouped_matmul panels: each panel reduces over the lhs columns
func.func @gmm_panels_k(%l: tensor<?x32xf32>, %r: tensor<4x2x64x64xf32>, %off: tensor<5xi64>) {
  // expected-error @+1 {{'moe.grouped_matmul' op lhs has 32 columns but the panels reduce over 64}}
  %0 = moe.grouped_matmul %l, %r offsets(%off) {panels} : (tensor<?x32xf32>, tensor<4x2x64x64xf32>, tensor<5xi64>) -> tensor<?x128xf32>
  return
}

// -----

// grouped_matmul panels: one panel stack per group
func.func @gmm_panels_groups(%l: tensor<?x64xf32>, %r: tensor<3x2x64x64xf32>, %off: tensor<5xi64>) {
  // expected-error @+1 {{'moe.grouped_matmul' op panel rhs holds 3 groups but offsets imply 4}}
  %0 = moe.grouped_matmul %l, %r offsets(%off) {panels} : (tensor<?x64xf32>, tensor<3x2x64x64xf32>, tensor<5xi64>) -> tensor<?x128xf32>
  return
}

// -----

// grouped_matmul panels: one rhs per group, all of one shape
func.func @gmm_panels_list(%l: tensor<?x64xf32>, %r: tensor<2x64x64xf32>, %q: tensor<1x64x128xf32>, %off: tensor<3xi64>) {
  // expected-error @+1 {{'moe.grouped_matmul' op panel rhs #1 must have the type of rhs #0 ('tensor<2x64x64xf32>'), got 'tensor<1x64x128xf32>'}}
  %0 = moe.grouped_matmul %l, %r, %q offsets(%off) {panels} : (tensor<?x64xf32>, tensor<2x64x64xf32>, tensor<1x64x128xf32>, tensor<3xi64>) -> tensor<?x128xf32>
  return
}

// -----

// grouped_matmul panels: one rhs per group
func.func @gmm_panels_list_count(%l: tensor<?x64xf32>, %r: tensor<2x64x64xf32>, %off: tensor<4xi64>) {
  // expected-error @+1 {{'moe.grouped_matmul' op panels need one stacked rhs [E, M / P, K, P] or one rhs [M / P, K, P] per group (3), got 2 of 'tensor<2x64x64xf32>'}}
  %0 = moe.grouped_matmul %l, %r, %r offsets(%off) {panels} : (tensor<?x64xf32>, tensor<2x64x64xf32>, tensor<2x64x64xf32>, tensor<4xi64>) -> tensor<?x128xf32>
  return
}

// -----

// grouped_matmul panels: the bias covers all of a group's columns
func.func @gmm_panels_bias(%l: tensor<?x64xf32>, %r: tensor<4x2x64x64xf32>, %off: tensor<5xi64>, %b: tensor<4x64xf32>) {
  // expected-error @+1 {{'moe.grouped_matmul' op bias #0 must have shape [4, 128], got 'tensor<4x64xf32>'}}
  %0 = moe.grouped_matmul %l, %r offsets(%off) bias(%b) {panels} : (tensor<?x64xf32>, tensor<4x2x64x64xf32>, tensor<5xi64>, tensor<4x64xf32>) -> tensor<?x128xf32>
  return
}
