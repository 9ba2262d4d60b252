// RUN: moe-opt %s --convert-moe-to-gpu="chip=sm_90a wgmma-tile=128x128" -split-input-file -verify-diagnostics | FileCheck %s

// sm_90a takes the wgmma kernel for any K (a multiple of 8). K = 72 is one
// whole 64-deep k step and a partial one: ceil(72 / 64) steps. The partial
// step's weights box holds, past K, the next group's rows (the stacked
// [E * K, N] map); after its mbarrier wait every thread zeroes its share
// of the B rows from K on (4 per 64-column box: 64 rows x 8 chunks of 16
// bytes over 128 threads, whole rows whatever the swizzle), fences them for
// the async proxy and meets the others at a barrier before the wgmma reads
// the stage. The rows box's columns past K are the TMA's zeros: A is not
// touched.
// CHECK-LABEL: func.func @odd_k(
// CHECK: nvgpu.tma.create.descriptor
// CHECK: gpu.launch_func async {{.*}} @moe_kernels::@grouped_matmul_wgmma_bf16_bf16_i64_e8_k72_n512 blocks
// CHECK-LABEL: gpu.func @grouped_matmul_wgmma_bf16_bf16_i64_e8_k72_n512(
// CHECK: %[[UP:.*]] = arith.addi %c72, %c63 : index
// CHECK: %[[STEPS:.*]] = arith.divui %[[UP]], %c64 : index
// CHECK: scf.for %[[STEP:.*]] = %c0 to %{{.*}} step %c1 iter_args(
// CHECK: nvgpu.mbarrier.try_wait.parity
// CHECK: %[[DONE:.*]] = arith.muli %[[STEP]], %c64 : index
// CHECK: %[[VALID:.*]] = arith.subi %c72, %[[DONE]] : index
// CHECK: %[[PARTIAL:.*]] = arith.cmpi ult, %[[VALID]], %c64 : index
// CHECK: scf.if %[[PARTIAL]] {
// CHECK: %[[ROW:.*]] = arith.divui %{{.*}}, %c8 : index
// CHECK: %[[PAST:.*]] = arith.cmpi uge, %[[ROW]], %[[VALID]] : index
// CHECK: scf.if %[[PAST]] {
// CHECK: memref.view {{.*}} to memref<64x64xbf16, #gpu.address_space<workgroup>>
// CHECK: vector.store %[[ZERO:.*]], %{{.*}}[%[[ROW]], %{{.*}}] {alignment = 16 : i64} : memref<64x64xbf16, #gpu.address_space<workgroup>>, vector<8xbf16>
// CHECK-COUNT-7: vector.store %[[ZERO]], %{{.*}} {alignment = 16 : i64} : memref<64x64xbf16, #gpu.address_space<workgroup>>, vector<8xbf16>
// CHECK-NOT: vector.store
// CHECK: nvvm.fence.proxy {kind = #nvvm.proxy_kind<async.shared>, space = #nvvm.shared_space<cta>}
// CHECK-NEXT: gpu.barrier
// CHECK-NEXT: }
// CHECK: nvgpu.warpgroup.generate.descriptor
// CHECK: nvgpu.warpgroup.mma
func.func @odd_k(%x: tensor<?x72xbf16>, %w: tensor<8x72x512xbf16>, %off: tensor<9xi64>) -> tensor<?x512xbf16> {
  %y = moe.grouped_matmul %x, %w offsets(%off) : (tensor<?x72xbf16>, tensor<8x72x512xbf16>, tensor<9xi64>) -> tensor<?x512xbf16>
  return %y : tensor<?x512xbf16>
}

// -----

// Group 1's K_g = 96 < K = 128 (group_extents): its partial step's rows
// box holds the rows' real columns 96..127, so the A chunks whose 8
// columns start at or past K_g are zeroed too (8 a thread: 128 rows x 8
// chunks), at their swizzled place: the 128-byte swizzle stores chunk j of
// row r as chunk j ^ (r % 8).
// CHECK-LABEL: gpu.func @grouped_matmul_wgmma_bf16_bf16_i64_e2_k128_n256_x
// CHECK: nvgpu.mbarrier.try_wait.parity
// CHECK: %[[VALID:.*]] = arith.subi
// CHECK: scf.if
// CHECK-COUNT-8: vector.store {{.*}} : memref<64x64xbf16, #gpu.address_space<workgroup>>, vector<8xbf16>
// CHECK: %[[AROW:.*]] = arith.divui %{{.*}}, %c8 : index
// CHECK: %[[CHUNK:.*]] = arith.remui %{{.*}}, %c8 : index
// CHECK: %[[RMOD:.*]] = arith.remui %[[AROW]], %c8 : index
// CHECK: %[[SWZ:.*]] = arith.xori %[[CHUNK]], %[[RMOD]] : index
// CHECK: %[[FIRST:.*]] = arith.muli %[[CHUNK]], %c8 : index
// CHECK: %[[APAST:.*]] = arith.cmpi uge, %[[FIRST]], %[[VALID]] : index
// CHECK: scf.if %[[APAST]] {
// CHECK: %[[ACOL:.*]] = arith.muli %[[SWZ]], %c8 : index
// CHECK: vector.store %{{.*}}, %{{.*}}[%[[AROW]], %[[ACOL]]] {alignment = 16 : i64} : memref<128x64xbf16, #gpu.address_space<workgroup>>, vector<8xbf16>
// CHECK-COUNT-7: vector.store {{.*}} : memref<128x64xbf16, #gpu.address_space<workgroup>>, vector<8xbf16>
// CHECK-NOT: vector.store
// CHECK: nvvm.fence.proxy
func.func @short_k(%x: tensor<?x128xbf16>, %w: tensor<2x128x256xbf16>, %off: tensor<3xi64>) -> tensor<?x256xbf16> {
  %y = moe.grouped_matmul %x, %w offsets(%off) {group_extents = array<i64: 128, 256, 96, 256>} : (tensor<?x128xbf16>, tensor<2x128x256xbf16>, tensor<3xi64>) -> tensor<?x256xbf16>
  return %y : tensor<?x256xbf16>
}

// -----

// K a multiple of 64: whole steps (ceil(128 / 64)), nothing zeroed.
// CHECK-LABEL: gpu.func @grouped_matmul_wgmma_bf16_bf16_i64_e8_k128_n512(
// CHECK: %[[UP:.*]] = arith.addi %c128, %c63 : index
// CHECK: arith.divui %[[UP]], %c64 : index
// CHECK-NOT: nvvm.fence.proxy
// CHECK: gpu.return
func.func @whole_k(%x: tensor<?x128xbf16>, %w: tensor<8x128x512xbf16>, %off: tensor<9xi64>) -> tensor<?x512xbf16> {
  %y = moe.grouped_matmul %x, %w offsets(%off) : (tensor<?x128xbf16>, tensor<8x128x512xbf16>, tensor<9xi64>) -> tensor<?x512xbf16>
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

// With the activation in its epilogue (separate gate and up weights, K =
// 72): the wgmma kernel with the fused activation and the partial step.
// CHECK-LABEL: func.func @odd_k_fused(
// CHECK: gpu.launch_func async {{.*}} @moe_kernels::@grouped_matmul_wgmma_bf16_bf16_i64_e8_k72_n512_silu_separate blocks
// CHECK-LABEL: gpu.func @grouped_matmul_wgmma_bf16_bf16_i64_e8_k72_n512_silu_separate(
// CHECK: nvvm.fence.proxy
func.func @odd_k_fused(%x: tensor<?x72xbf16>, %wg: tensor<8x72x512xbf16>, %wu: tensor<8x72x512xbf16>, %off: tensor<9xi64>) -> tensor<?x512xbf16> {
  %g = moe.grouped_matmul %x, %wg offsets(%off) : (tensor<?x72xbf16>, tensor<8x72x512xbf16>, tensor<9xi64>) -> tensor<?x512xbf16>
  %u = moe.grouped_matmul %x, %wu offsets(%off) : (tensor<?x72xbf16>, tensor<8x72x512xbf16>, tensor<9xi64>) -> tensor<?x512xbf16>
  %a = moe.activation %g, %u {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<separate>} : (tensor<?x512xbf16>, tensor<?x512xbf16>) -> tensor<?x512xbf16>
  return %a : tensor<?x512xbf16>
}
