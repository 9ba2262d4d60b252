// The expert half of a MoE layer from the dispatched rows on (E = 8,
// H = 256, I = 512, k = 2): SwiGLU FFN with separate gate/up weights, then
// the weighted combine into the tokens; moe.gpu_layer makes it a layer
// entry of moe-gpu-aot.
func.func @ffn(%x: tensor<?x256xbf16>, %wg: tensor<8x256x512xbf16>, %wu: tensor<8x256x512xbf16>, %wd: tensor<8x512x256xbf16>, %off: tensor<9xi64>, %map: tensor<?x2xi64>, %w: tensor<?x2xf32>) -> tensor<?x256xbf16> attributes {moe.gpu_layer} {
  %g = moe.grouped_matmul %x, %wg offsets(%off) : (tensor<?x256xbf16>, tensor<8x256x512xbf16>, tensor<9xi64>) -> tensor<?x512xbf16>
  %u = moe.grouped_matmul %x, %wu offsets(%off) : (tensor<?x256xbf16>, tensor<8x256x512xbf16>, tensor<9xi64>) -> tensor<?x512xbf16>
  %a = moe.activation %g, %u {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<separate>} : (tensor<?x512xbf16>, tensor<?x512xbf16>) -> tensor<?x512xbf16>
  %y = moe.grouped_matmul %a, %wd offsets(%off) : (tensor<?x512xbf16>, tensor<8x512x256xbf16>, tensor<9xi64>) -> tensor<?x256xbf16>
  %o = moe.combine %y, %map, %w : (tensor<?x256xbf16>, tensor<?x2xi64>, tensor<?x2xf32>) -> tensor<?x256xbf16>
  return %o : tensor<?x256xbf16>
}
