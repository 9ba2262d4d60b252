// Grouped matmuls on [E, N, K] weights (transpose_rhs, nn.Linear's layout)
// as the GPU pipeline takes them: Mixtral's down projection, f16 with a
// bias and K = 72 (no multiple of the decode kernel's 16-value loads), and
// SwiGLU fused with separate and concatenated gate/up weights.
func.func @mixtral_down(%x: tensor<?x14336xbf16>, %w: tensor<8x4096x14336xbf16>, %off: tensor<9xi64>) -> tensor<?x4096xbf16> {
  %y = moe.grouped_matmul %x, %w offsets(%off) {transpose_rhs} : (tensor<?x14336xbf16>, tensor<8x4096x14336xbf16>, tensor<9xi64>) -> tensor<?x4096xbf16>
  return %y : tensor<?x4096xbf16>
}

func.func @f16_bias_k72(%x: tensor<?x72xf16>, %w: tensor<4x200x72xf16>, %b: tensor<4x200xf32>, %off: tensor<5xi32>) -> tensor<?x200xf16> {
  %y = moe.grouped_matmul %x, %w offsets(%off) bias(%b) {transpose_rhs} : (tensor<?x72xf16>, tensor<4x200x72xf16>, tensor<5xi32>, tensor<4x200xf32>) -> tensor<?x200xf16>
  return %y : tensor<?x200xf16>
}

func.func @swiglu_separate(%x: tensor<?x2048xbf16>, %wg: tensor<128x768x2048xbf16>, %wu: tensor<128x768x2048xbf16>, %off: tensor<129xi64>) -> tensor<?x768xbf16> {
  %g = moe.grouped_matmul %x, %wg offsets(%off) {transpose_rhs} : (tensor<?x2048xbf16>, tensor<128x768x2048xbf16>, tensor<129xi64>) -> tensor<?x768xbf16>
  %u = moe.grouped_matmul %x, %wu offsets(%off) {transpose_rhs} : (tensor<?x2048xbf16>, tensor<128x768x2048xbf16>, tensor<129xi64>) -> tensor<?x768xbf16>
  %a = moe.activation %g, %u {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<separate>} : (tensor<?x768xbf16>, tensor<?x768xbf16>) -> tensor<?x768xbf16>
  return %a : tensor<?x768xbf16>
}

func.func @swiglu_concatenated(%x: tensor<?x2048xbf16>, %w: tensor<128x1536x2048xbf16>, %off: tensor<129xi64>) -> tensor<?x768xbf16> {
  %h = moe.grouped_matmul %x, %w offsets(%off) {transpose_rhs} : (tensor<?x2048xbf16>, tensor<128x1536x2048xbf16>, tensor<129xi64>) -> tensor<?x1536xbf16>
  %a = moe.activation %h {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<concatenated>} : (tensor<?x1536xbf16>) -> tensor<?x768xbf16>
  return %a : tensor<?x768xbf16>
}
