// RUN: moe-opt %s --convert-moe-to-gpu=chip=sm_90a -verify-diagnostics | FileCheck %s

// On sm_90a quantized weights take the mma.sync tile kernel (which expands
// them into shared memory), not the wgmma one, whose TMA loads would copy
// the packed bytes as they are; a remark says so.
// CHECK-LABEL: func.func @int4_blocks(
// CHECK: scf.if
// CHECK: @moe_kernels::@grouped_matmul_decode_bf16_bf16_i64_e8_k256_n512_q4_b32_f16_zp
// CHECK: } else {
// CHECK: @moe_kernels::@grouped_matmul_bf16_bf16_i64_e8_k256_n512_q4_b32_f16_zp
// CHECK-NOT: wgmma
// CHECK: gpu.func @grouped_matmul_bf16_bf16_i64_e8_k256_n512_q4_b32_f16_zp(
// CHECK: nvvm.mma.sync
func.func @int4_blocks(%x: tensor<?x256xbf16>, %q: tensor<8x512x128xi8>, %s: tensor<8x512x8xf16>, %zp: tensor<8x512x4xi8>, %off: tensor<9xi64>) -> tensor<?x512xbf16> {
  %w = moe.dequantize %q, %s zero_points(%zp) {bits = 4 : i64, block_size = 32 : i64} : (tensor<8x512x128xi8>, tensor<8x512x8xf16>, tensor<8x512x4xi8>) -> tensor<8x512x256xbf16>
  // expected-remark @below {{sm_90a: quantized weights are expanded in shared memory by the mma.sync kernel, not read by TMA}}
  %y = moe.grouped_matmul %x, %w offsets(%off) {transpose_rhs} : (tensor<?x256xbf16>, tensor<8x512x256xbf16>, tensor<9xi64>) -> tensor<?x512xbf16>
  return %y : tensor<?x512xbf16>
}
