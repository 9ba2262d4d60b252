// RUN: moe-opt %s --convert-moe-to-gpu -split-input-file -verify-diagnostics

// Quantized weights the decode kernel cannot read packed are refused with
// the reason, before anything is rewritten.
func.func @two_bits_odd_k(%x: tensor<?x48xbf16>, %q: tensor<4x64x12xi8>, %s: tensor<4x64xf32>, %off: tensor<5xi64>) -> tensor<?x64xbf16> {
  %w = moe.dequantize %q, %s {bits = 2 : i64} : (tensor<4x64x12xi8>, tensor<4x64xf32>) -> tensor<4x64x48xbf16>
  // expected-error @+1 {{'moe.grouped_matmul' op K (48) of 2-bit weights must be a multiple of 32 on the GPU: the kernel reads 32 values of a row at a time}}
  %y = moe.grouped_matmul %x, %w offsets(%off) {transpose_rhs} : (tensor<?x48xbf16>, tensor<4x64x48xbf16>, tensor<5xi64>) -> tensor<?x64xbf16>
  return %y : tensor<?x64xbf16>
}

// -----

func.func @k_not_whole_chunks(%x: tensor<?x48xbf16>, %q: tensor<4x64x24xi8>, %s: tensor<4x64xf32>, %off: tensor<5xi64>) -> tensor<?x64xbf16> {
  %w = moe.dequantize %q, %s {bits = 4 : i64} : (tensor<4x64x24xi8>, tensor<4x64xf32>) -> tensor<4x64x48xbf16>
  // expected-error @+1 {{'moe.grouped_matmul' op K (48) of 4-bit weights must be a multiple of 32 on the GPU: the kernel reads 32 values of a row at a time}}
  %y = moe.grouped_matmul %x, %w offsets(%off) {transpose_rhs} : (tensor<?x48xbf16>, tensor<4x64x48xbf16>, tensor<5xi64>) -> tensor<?x64xbf16>
  return %y : tensor<?x64xbf16>
}

// -----

func.func @odd_block(%x: tensor<?x64xbf16>, %q: tensor<4x64x64xi8>, %s: tensor<4x64x11xf32>, %off: tensor<5xi64>) -> tensor<?x64xbf16> {
  %w = moe.dequantize %q, %s {bits = 8 : i64, block_size = 6 : i64} : (tensor<4x64x64xi8>, tensor<4x64x11xf32>) -> tensor<4x64x64xbf16>
  // expected-error @+1 {{'moe.grouped_matmul' op block_size (6) must be a multiple of 4 on the GPU: the kernel expands 4 consecutive values with one scale}}
  %y = moe.grouped_matmul %x, %w offsets(%off) {transpose_rhs} : (tensor<?x64xbf16>, tensor<4x64x64xbf16>, tensor<5xi64>) -> tensor<?x64xbf16>
  return %y : tensor<?x64xbf16>
}

// -----

func.func @f64_scales(%x: tensor<?x64xbf16>, %q: tensor<4x64x64xi8>, %s: tensor<4x64xf64>, %off: tensor<5xi64>) -> tensor<?x64xbf16> {
  %w = moe.dequantize %q, %s {bits = 8 : i64} : (tensor<4x64x64xi8>, tensor<4x64xf64>) -> tensor<4x64x64xbf16>
  // expected-error @+1 {{'moe.grouped_matmul' op scales must be f32, f16 or bf16 on the GPU, not f64}}
  %y = moe.grouped_matmul %x, %w offsets(%off) {transpose_rhs} : (tensor<?x64xbf16>, tensor<4x64x64xbf16>, tensor<5xi64>) -> tensor<?x64xbf16>
  return %y : tensor<?x64xbf16>
}
