// Grouped matmuls on quantized (QMoE) weights: 4-bit blocks of 32 with f16
// scales and zero points at Mixtral's down projection (K = 14336, N =
// 4096), 8-bit per-row scales with a bias, masked K and N edges, 4-bit
// blocks of 16, Qwen3's gate/up with the interleaved and the concatenated
// SwiGLU fused, 2-bit blocks of 16 with zero points, and 2-bit concatenated
// halves of 760 columns (the last block's chunks past the weight clamped).
func.func @int4_blocks(%x: tensor<?x14336xbf16>, %q: tensor<8x4096x7168xi8>, %s: tensor<8x4096x448xf16>, %zp: tensor<8x4096x224xi8>, %off: tensor<9xi64>) -> tensor<?x4096xbf16> {
  %w = moe.dequantize %q, %s zero_points(%zp) {bits = 4 : i64, block_size = 32 : i64} : (tensor<8x4096x7168xi8>, tensor<8x4096x448xf16>, tensor<8x4096x224xi8>) -> tensor<8x4096x14336xbf16>
  %y = moe.grouped_matmul %x, %w offsets(%off) {transpose_rhs} : (tensor<?x14336xbf16>, tensor<8x4096x14336xbf16>, tensor<9xi64>) -> tensor<?x4096xbf16>
  return %y : tensor<?x4096xbf16>
}

func.func @int8_rows(%x: tensor<?x80xf16>, %q: tensor<4x72x80xi8>, %s: tensor<4x72xf32>, %b: tensor<4x72xf32>, %off: tensor<5xi32>) -> tensor<?x72xf16> {
  %w = moe.dequantize %q, %s {bits = 8 : i64} : (tensor<4x72x80xi8>, tensor<4x72xf32>) -> tensor<4x72x80xf16>
  %y = moe.grouped_matmul %x, %w offsets(%off) bias(%b) {transpose_rhs} : (tensor<?x80xf16>, tensor<4x72x80xf16>, tensor<5xi32>, tensor<4x72xf32>) -> tensor<?x72xf16>
  return %y : tensor<?x72xf16>
}

func.func @int4_small_blocks(%x: tensor<?x2048xbf16>, %q: tensor<128x768x1024xi8>, %s: tensor<128x768x128xbf16>, %zp: tensor<128x768x64xi8>, %off: tensor<129xi64>) -> tensor<?x768xbf16> {
  %w = moe.dequantize %q, %s zero_points(%zp) {bits = 4 : i64, block_size = 16 : i64} : (tensor<128x768x1024xi8>, tensor<128x768x128xbf16>, tensor<128x768x64xi8>) -> tensor<128x768x2048xbf16>
  %y = moe.grouped_matmul %x, %w offsets(%off) {transpose_rhs} : (tensor<?x2048xbf16>, tensor<128x768x2048xbf16>, tensor<129xi64>) -> tensor<?x768xbf16>
  return %y : tensor<?x768xbf16>
}

func.func @int4_swiglu(%x: tensor<?x2048xbf16>, %q: tensor<128x1536x1024xi8>, %s: tensor<128x1536x64xf16>, %off: tensor<129xi64>) -> tensor<?x768xbf16> {
  %w = moe.dequantize %q, %s {bits = 4 : i64, block_size = 32 : i64} : (tensor<128x1536x1024xi8>, tensor<128x1536x64xf16>) -> tensor<128x1536x2048xbf16>
  %h = moe.grouped_matmul %x, %w offsets(%off) {transpose_rhs} : (tensor<?x2048xbf16>, tensor<128x1536x2048xbf16>, tensor<129xi64>) -> tensor<?x1536xbf16>
  %a = moe.activation %h {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<interleaved>} : (tensor<?x1536xbf16>) -> tensor<?x768xbf16>
  return %a : tensor<?x768xbf16>
}

func.func @int2_blocks(%x: tensor<?x2048xbf16>, %q: tensor<128x768x512xi8>, %s: tensor<128x768x128xf16>, %zp: tensor<128x768x32xi8>, %off: tensor<129xi64>) -> tensor<?x768xbf16> {
  %w = moe.dequantize %q, %s zero_points(%zp) {bits = 2 : i64, block_size = 16 : i64} : (tensor<128x768x512xi8>, tensor<128x768x128xf16>, tensor<128x768x32xi8>) -> tensor<128x768x2048xbf16>
  %y = moe.grouped_matmul %x, %w offsets(%off) {transpose_rhs} : (tensor<?x2048xbf16>, tensor<128x768x2048xbf16>, tensor<129xi64>) -> tensor<?x768xbf16>
  return %y : tensor<?x768xbf16>
}

func.func @int4_concatenated(%x: tensor<?x2048xbf16>, %q: tensor<128x1536x1024xi8>, %s: tensor<128x1536x64xf16>, %off: tensor<129xi64>) -> tensor<?x768xbf16> {
  %w = moe.dequantize %q, %s {bits = 4 : i64, block_size = 32 : i64} : (tensor<128x1536x1024xi8>, tensor<128x1536x64xf16>) -> tensor<128x1536x2048xbf16>
  %h = moe.grouped_matmul %x, %w offsets(%off) {transpose_rhs} : (tensor<?x2048xbf16>, tensor<128x1536x2048xbf16>, tensor<129xi64>) -> tensor<?x1536xbf16>
  %a = moe.activation %h {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<concatenated>} : (tensor<?x1536xbf16>) -> tensor<?x768xbf16>
  return %a : tensor<?x768xbf16>
}

func.func @int2_concatenated_odd(%x: tensor<?x2048xbf16>, %q: tensor<128x1520x512xi8>, %s: tensor<128x1520x128xf16>, %zp: tensor<128x1520x32xi8>, %off: tensor<129xi64>) -> tensor<?x760xbf16> {
  %w = moe.dequantize %q, %s zero_points(%zp) {bits = 2 : i64, block_size = 16 : i64} : (tensor<128x1520x512xi8>, tensor<128x1520x128xf16>, tensor<128x1520x32xi8>) -> tensor<128x1520x2048xbf16>
  %h = moe.grouped_matmul %x, %w offsets(%off) {transpose_rhs} : (tensor<?x2048xbf16>, tensor<128x1520x2048xbf16>, tensor<129xi64>) -> tensor<?x1520xbf16>
  %a = moe.activation %h {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<concatenated>} : (tensor<?x1520xbf16>) -> tensor<?x760xbf16>
  return %a : tensor<?x760xbf16>
}

// Mixtral's fc1 and fc3 as two 4-bit weights with zero points (QMoE without
// swiglu_fusion), 14336 outputs each: one kernel, each lane or thread reading
// the gate or the up weight.
func.func @int4_separate(%x: tensor<?x4096xbf16>, %q: tensor<8x14336x2048xi8>, %s: tensor<8x14336x128xf16>, %zp: tensor<8x14336x64xi8>, %qu: tensor<8x14336x2048xi8>, %su: tensor<8x14336x128xf16>, %zpu: tensor<8x14336x64xi8>, %off: tensor<9xi64>) -> tensor<?x14336xbf16> {
  %w = moe.dequantize %q, %s zero_points(%zp) {bits = 4 : i64, block_size = 32 : i64} : (tensor<8x14336x2048xi8>, tensor<8x14336x128xf16>, tensor<8x14336x64xi8>) -> tensor<8x14336x4096xbf16>
  %wu = moe.dequantize %qu, %su zero_points(%zpu) {bits = 4 : i64, block_size = 32 : i64} : (tensor<8x14336x2048xi8>, tensor<8x14336x128xf16>, tensor<8x14336x64xi8>) -> tensor<8x14336x4096xbf16>
  %g = moe.grouped_matmul %x, %w offsets(%off) {transpose_rhs} : (tensor<?x4096xbf16>, tensor<8x14336x4096xbf16>, tensor<9xi64>) -> tensor<?x14336xbf16>
  %u = moe.grouped_matmul %x, %wu offsets(%off) {transpose_rhs} : (tensor<?x4096xbf16>, tensor<8x14336x4096xbf16>, tensor<9xi64>) -> tensor<?x14336xbf16>
  %a = moe.activation %g, %u {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<separate>} : (tensor<?x14336xbf16>, tensor<?x14336xbf16>) -> tensor<?x14336xbf16>
  return %a : tensor<?x14336xbf16>
}

// Qwen3's gate and up as two 4-bit weights with blocks of 16 and zero
// points: a lane's 32 values span two blocks of the weight it reads.
func.func @int4_separate_small_blocks(%x: tensor<?x2048xbf16>, %q: tensor<128x768x1024xi8>, %s: tensor<128x768x128xf16>, %zp: tensor<128x768x64xi8>, %qu: tensor<128x768x1024xi8>, %su: tensor<128x768x128xf16>, %zpu: tensor<128x768x64xi8>, %off: tensor<129xi64>) -> tensor<?x768xbf16> {
  %w = moe.dequantize %q, %s zero_points(%zp) {bits = 4 : i64, block_size = 16 : i64} : (tensor<128x768x1024xi8>, tensor<128x768x128xf16>, tensor<128x768x64xi8>) -> tensor<128x768x2048xbf16>
  %wu = moe.dequantize %qu, %su zero_points(%zpu) {bits = 4 : i64, block_size = 16 : i64} : (tensor<128x768x1024xi8>, tensor<128x768x128xf16>, tensor<128x768x64xi8>) -> tensor<128x768x2048xbf16>
  %g = moe.grouped_matmul %x, %w offsets(%off) {transpose_rhs} : (tensor<?x2048xbf16>, tensor<128x768x2048xbf16>, tensor<129xi64>) -> tensor<?x768xbf16>
  %u = moe.grouped_matmul %x, %wu offsets(%off) {transpose_rhs} : (tensor<?x2048xbf16>, tensor<128x768x2048xbf16>, tensor<129xi64>) -> tensor<?x768xbf16>
  %a = moe.activation %g, %u {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<separate>} : (tensor<?x768xbf16>, tensor<?x768xbf16>) -> tensor<?x768xbf16>
  return %a : tensor<?x768xbf16>
}
