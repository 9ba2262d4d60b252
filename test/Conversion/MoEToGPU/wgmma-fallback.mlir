// RUN: moe-opt %s --convert-moe-to-gpu=chip=sm_90a -split-input-file -verify-diagnostics | FileCheck %s

// sm_90a uses the wgmma kernel only where K is a multiple of 64 (a TMA box
// of weights must stay inside its group of the stacked [E * K, N] map);
// other shapes get the mma.sync kernel, and a remark says why.
// CHECK-LABEL: func.func @odd_k(
// CHECK: gpu.launch_func async {{.*}} @moe_kernels::@grouped_matmul_bf16_bf16_i64_e8_k72_n512 blocks
// CHECK-NOT: nvgpu.tma.create.descriptor
// CHECK: gpu.func @grouped_matmul_bf16_bf16_i64_e8_k72_n512(
// CHECK-NOT: gpu.func @grouped_matmul_wgmma
func.func @odd_k(%x: tensor<?x72xbf16>, %w: tensor<8x72x512xbf16>, %off: tensor<9xi64>) -> tensor<?x512xbf16> {
  // expected-remark @below {{sm_90a: K (72) is not a multiple of 64, so the mma.sync kernel is used}}
  %y = moe.grouped_matmul %x, %w offsets(%off) : (tensor<?x72xbf16>, tensor<8x72x512xbf16>, tensor<9xi64>) -> tensor<?x512xbf16>
  return %y : tensor<?x512xbf16>
}

// -----

// What no sm_90a kernel takes is refused as on sm_80.
func.func @f32_rows(%x: tensor<?x64xf32>, %w: tensor<2x64x64xf32>, %off: tensor<3xi64>) -> tensor<?x64xf32> {
  // expected-error @below {{element type 'f32' has no m16n8k16 tensor-core form}}
  %y = moe.grouped_matmul %x, %w offsets(%off) : (tensor<?x64xf32>, tensor<2x64x64xf32>, tensor<3xi64>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// -----

// The same rule for a matmul with the activation in its epilogue: the
// mma.sync kernel with the fused activation, and the remark at the
// activation.
// CHECK-LABEL: func.func @odd_k_fused(
// CHECK: gpu.launch_func async {{.*}} @moe_kernels::@grouped_matmul_bf16_bf16_i64_e8_k72_n512_silu_separate blocks
// CHECK-NOT: gpu.func @grouped_matmul_wgmma
func.func @odd_k_fused(%x: tensor<?x72xbf16>, %wg: tensor<8x72x512xbf16>, %wu: tensor<8x72x512xbf16>, %off: tensor<9xi64>) -> tensor<?x512xbf16> {
  %g = moe.grouped_matmul %x, %wg offsets(%off) : (tensor<?x72xbf16>, tensor<8x72x512xbf16>, tensor<9xi64>) -> tensor<?x512xbf16>
  %u = moe.grouped_matmul %x, %wu offsets(%off) : (tensor<?x72xbf16>, tensor<8x72x512xbf16>, tensor<9xi64>) -> tensor<?x512xbf16>
  // expected-remark @below {{sm_90a: K (72) is not a multiple of 64, so the mma.sync kernel is used}}
  %a = moe.activation %g, %u {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<separate>} : (tensor<?x512xbf16>, tensor<?x512xbf16>) -> tensor<?x512xbf16>
  return %a : tensor<?x512xbf16>
}
