// An expert-choice layer's routing and dispatch (64 experts, H = 4096,
// capacity factor 2) for the expert-choice pipeline tests.
func.func @route(%x: tensor<?x4096xbf16>, %w: tensor<64x4096xbf16>) -> (tensor<?x64xf32>, tensor<64x?xi64>) {
  %g, %ids = moe.fused_route <expert_choice> <softmax> %x, %w {capacity_factor = 2.0 : f64}
      : tensor<?x4096xbf16>, tensor<64x4096xbf16> -> tensor<?x64xf32>, tensor<64x?xi64>
  return %g, %ids : tensor<?x64xf32>, tensor<64x?xi64>
}

func.func @dispatch(%x: tensor<?x4096xbf16>, %ids: tensor<64x?xi64>) -> (tensor<?x4096xbf16>, tensor<65xi64>, tensor<?x64xi64>) {
  %r, %o, %m = moe.dispatch %x, %ids {num_experts = 64 : i64, expert_choice}
      : tensor<?x4096xbf16>, tensor<64x?xi64> -> tensor<?x4096xbf16>, tensor<65xi64>, tensor<?x64xi64>
  return %r, %o, %m : tensor<?x4096xbf16>, tensor<65xi64>, tensor<?x64xi64>
}
