// RUN: moe-opt %s --convert-moe-to-gpu=chip=sm_90a -verify-diagnostics | FileCheck %s

// On sm_90a [E, N, K] weights take the decode and mma.sync tile kernels of
// sm_80 (which read along K), not the wgmma one; a remark says so.
// CHECK-LABEL: func.func @plain(
// CHECK: @moe_kernels::@grouped_matmul_decode_bf16_bf16_i64_e8_k256_n512_t blocks
// CHECK: @moe_kernels::@grouped_matmul_bf16_bf16_i64_e8_k256_n512_t blocks
// CHECK-NOT: wgmma
func.func @plain(%x: tensor<?x256xbf16>, %w: tensor<8x512x256xbf16>, %off: tensor<9xi64>) -> tensor<?x512xbf16> {
  // expected-remark @below {{sm_90a: transposed [E, N, K] weights take the mma.sync kernel}}
  %y = moe.grouped_matmul %x, %w offsets(%off) {transpose_rhs} : (tensor<?x256xbf16>, tensor<8x512x256xbf16>, tensor<9xi64>) -> tensor<?x512xbf16>
  return %y : tensor<?x512xbf16>
}
