// A QMoE layer from the tokens with packed weights, as
// moe-prepare-gpu-layers makes it: fused router + top-2 routing, dispatch,
// the 4-bit gate/up matmul (blocks of 32, f16 scales and zero points) with
// an interleaved SwiGLU, the 8-bit down matmul (per-row f32 scales), combine
// (E = 8, H = 256, I = 512), a layer entry of moe-gpu-aot (moe.gpu_layer).
func.func @qmoe(%x: tensor<?x256xbf16>, %wr: tensor<8x256xbf16>, %q1: tensor<8x1024x128xi8>, %s1: tensor<8x1024x8xf16>, %z1: tensor<8x1024x4xi8>, %q2: tensor<8x256x512xi8>, %s2: tensor<8x256xf32>) -> tensor<?x256xbf16> attributes {moe.gpu_layer} {
  %w, %ids = moe.fused_route <token_choice> <softmax> %x, %wr {k = 2 : i64, renormalize} : tensor<?x256xbf16>, tensor<8x256xbf16> -> tensor<?x2xf32>, tensor<?x2xi64>
  %rows, %off, %map = moe.dispatch %x, %ids {num_experts = 8 : i64} : tensor<?x256xbf16>, tensor<?x2xi64> -> tensor<?x256xbf16>, tensor<9xi64>, tensor<?x2xi64>
  %w1 = moe.dequantize %q1, %s1 zero_points(%z1) {bits = 4 : i64, block_size = 32 : i64} : (tensor<8x1024x128xi8>, tensor<8x1024x8xf16>, tensor<8x1024x4xi8>) -> tensor<8x1024x256xbf16>
  %h = moe.grouped_matmul %rows, %w1 offsets(%off) {transpose_rhs} : (tensor<?x256xbf16>, tensor<8x1024x256xbf16>, tensor<9xi64>) -> tensor<?x1024xbf16>
  %a = moe.activation %h {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<interleaved>} : (tensor<?x1024xbf16>) -> tensor<?x512xbf16>
  %w2 = moe.dequantize %q2, %s2 {bits = 8 : i64} : (tensor<8x256x512xi8>, tensor<8x256xf32>) -> tensor<8x256x512xbf16>
  %y = moe.grouped_matmul %a, %w2 offsets(%off) {transpose_rhs} : (tensor<?x512xbf16>, tensor<8x256x512xbf16>, tensor<9xi64>) -> tensor<?x256xbf16>
  %o = moe.combine %y, %map, %w : (tensor<?x256xbf16>, tensor<?x2xi64>, tensor<?x2xf32>) -> tensor<?x256xbf16>
  return %o : tensor<?x256xbf16>
}
