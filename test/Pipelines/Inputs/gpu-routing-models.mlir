// Routing of two real models for the routing-kernel pipeline tests.

// DeepSeek-V3: sigmoid scores, selection bias, 8 groups of which 4 stay,
// top-8 of 256 renormalized and scaled; H = 7168 (the router is split over
// expert slices).
func.func @deepseek_v3(%x: tensor<?x7168xbf16>, %w: tensor<256x7168xbf16>, %b: tensor<256xf32>) -> (tensor<?x8xf32>, tensor<?x8xi64>) {
  %wt, %ids = moe.fused_route <token_choice> <sigmoid> %x, %w selection_bias(%b : tensor<256xf32>)
      {k = 8 : i64, renormalize, epsilon = 1.0e-20 : f64, scaling_factor = 2.5 : f64,
       num_groups = 8 : i64, topk_groups = 4 : i64}
      : tensor<?x7168xbf16>, tensor<256x7168xbf16> -> tensor<?x8xf32>, tensor<?x8xi64>
  return %wt, %ids : tensor<?x8xf32>, tensor<?x8xi64>
}

// Qwen3-30B-A3B: softmax, top-8 of 128 renormalized, H = 2048.
func.func @qwen3(%x: tensor<?x2048xbf16>, %w: tensor<128x2048xbf16>) -> (tensor<?x8xf32>, tensor<?x8xi64>) {
  %wt, %ids = moe.fused_route <token_choice> <softmax> %x, %w {k = 8 : i64, renormalize}
      : tensor<?x2048xbf16>, tensor<128x2048xbf16> -> tensor<?x8xf32>, tensor<?x8xi64>
  return %wt, %ids : tensor<?x8xf32>, tensor<?x8xi64>
}

// PhiMoE (Phi-3.5-MoE): sparsemixer, top-2 of 16, H = 4096.
func.func @phimoe(%x: tensor<?x4096xbf16>, %w: tensor<16x4096xbf16>) -> (tensor<?x2xf32>, tensor<?x2xi64>) {
  %wt, %ids = moe.fused_route <token_choice> <sparsemixer> %x, %w {k = 2 : i64, jitter_eps = 0.01 : f64}
      : tensor<?x4096xbf16>, tensor<16x4096xbf16> -> tensor<?x2xf32>, tensor<?x2xi64>
  return %wt, %ids : tensor<?x2xf32>, tensor<?x2xi64>
}
