func.func @mixtral(%x: tensor<?x16xf32>, %wr: tensor<4x16xf32>, %wg: tensor<4x16x32xf32>, %wu: tensor<4x16x32xf32>, %wd: tensor<4x32x16xf32>) -> tensor<?x16xf32> {
  %logits = moe.gate %x, %wr : (tensor<?x16xf32>, tensor<4x16xf32>) -> tensor<?x4xf32>
  %w, %ids = moe.route <token_choice> <softmax> %logits {k = 2, renormalize} : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  %rows, %off, %map = moe.dispatch %x, %ids {num_experts = 4} : tensor<?x16xf32>, tensor<?x2xi64> -> tensor<?x16xf32>, tensor<5xi64>, tensor<?x2xi64>
  %y = moe.experts %rows, %off weights(%wg, %wu, %wd) {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<separate>} : (tensor<?x16xf32>, tensor<5xi64>, tensor<4x16x32xf32>, tensor<4x16x32xf32>, tensor<4x32x16xf32>) -> tensor<?x16xf32>
  %out = moe.combine %y, %map, %w : (tensor<?x16xf32>, tensor<?x2xi64>, tensor<?x2xf32>) -> tensor<?x16xf32>
  return %out : tensor<?x16xf32>
}
