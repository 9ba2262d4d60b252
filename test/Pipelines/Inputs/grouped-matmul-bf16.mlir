// A Qwen3-30B-A3B-like down projection: E = 128 experts, K = 768, N = 2048,
// bf16 rows and weights, bf16 result.
func.func @down(%x: tensor<?x768xbf16>, %w: tensor<128x768x2048xbf16>, %off: tensor<129xi64>) -> tensor<?x2048xbf16> {
  %y = moe.grouped_matmul %x, %w offsets(%off) : (tensor<?x768xbf16>, tensor<128x768x2048xbf16>, tensor<129xi64>) -> tensor<?x2048xbf16>
  return %y : tensor<?x2048xbf16>
}
