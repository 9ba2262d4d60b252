// Biased decode matmuls: gpt-oss's down projection (a plain bias) and
// onnxruntime MoE's SwiGLU with fc1 and fc3 biases (separate weights).
func.func @down(%x: tensor<?x2880xbf16>, %w: tensor<32x2880x2880xbf16>, %off: tensor<33xi64>, %b: tensor<32x2880xf32>) -> tensor<?x2880xbf16> {
  %y = moe.grouped_matmul %x, %w offsets(%off) bias(%b) : (tensor<?x2880xbf16>, tensor<32x2880x2880xbf16>, tensor<33xi64>, tensor<32x2880xf32>) -> tensor<?x2880xbf16>
  return %y : tensor<?x2880xbf16>
}

func.func @swiglu(%x: tensor<?x2048xbf16>, %wg: tensor<16x2048x1024xbf16>, %wu: tensor<16x2048x1024xbf16>, %bg: tensor<16x1024xbf16>, %bu: tensor<16x1024xbf16>, %off: tensor<17xi64>) -> tensor<?x1024xbf16> {
  %g = moe.grouped_matmul %x, %wg offsets(%off) bias(%bg) : (tensor<?x2048xbf16>, tensor<16x2048x1024xbf16>, tensor<17xi64>, tensor<16x1024xbf16>) -> tensor<?x1024xbf16>
  %u = moe.grouped_matmul %x, %wu offsets(%off) bias(%bu) : (tensor<?x2048xbf16>, tensor<16x2048x1024xbf16>, tensor<17xi64>, tensor<16x1024xbf16>) -> tensor<?x1024xbf16>
  %a = moe.activation %g, %u {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<separate>} : (tensor<?x1024xbf16>, tensor<?x1024xbf16>) -> tensor<?x1024xbf16>
  return %a : tensor<?x1024xbf16>
}
