func.func @too_many(%logits: tensor<3x4xf32>) -> tensor<3x5xf32> {
  %w, %ids = moe.route <token_choice> <softmax> %logits {k = 5}
      : tensor<3x4xf32> -> tensor<3x5xf32>, tensor<3x5xi64>
  return %w : tensor<3x5xf32>
}
