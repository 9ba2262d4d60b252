// A whole MoE layer from the tokens: fused router + top-2 routing, dispatch,
// SwiGLU expert FFN, combine (E = 8, H = 256, I = 512), a layer entry of
// moe-gpu-aot (moe.gpu_layer).
func.func @moe(%x: tensor<?x256xbf16>, %wr: tensor<8x256xbf16>, %wg: tensor<8x256x512xbf16>, %wu: tensor<8x256x512xbf16>, %wd: tensor<8x512x256xbf16>) -> tensor<?x256xbf16> attributes {moe.gpu_layer} {
  %w, %ids = moe.fused_route <token_choice> <softmax> %x, %wr {k = 2 : i64, renormalize} : tensor<?x256xbf16>, tensor<8x256xbf16> -> tensor<?x2xf32>, tensor<?x2xi64>
  %rows, %off, %map = moe.dispatch %x, %ids {num_experts = 8 : i64} : tensor<?x256xbf16>, tensor<?x2xi64> -> tensor<?x256xbf16>, tensor<9xi64>, tensor<?x2xi64>
  %g = moe.grouped_matmul %rows, %wg offsets(%off) : (tensor<?x256xbf16>, tensor<8x256x512xbf16>, tensor<9xi64>) -> tensor<?x512xbf16>
  %u = moe.grouped_matmul %rows, %wu offsets(%off) : (tensor<?x256xbf16>, tensor<8x256x512xbf16>, tensor<9xi64>) -> tensor<?x512xbf16>
  %a = moe.activation %g, %u {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<separate>} : (tensor<?x512xbf16>, tensor<?x512xbf16>) -> tensor<?x512xbf16>
  %y = moe.grouped_matmul %a, %wd offsets(%off) : (tensor<?x512xbf16>, tensor<8x512x256xbf16>, tensor<9xi64>) -> tensor<?x256xbf16>
  %o = moe.combine %y, %map, %w : (tensor<?x256xbf16>, tensor<?x2xi64>, tensor<?x2xf32>) -> tensor<?x256xbf16>
  return %o : tensor<?x256xbf16>
}
