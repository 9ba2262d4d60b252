// RUN: moe-opt %s --convert-moe-to-gpu="chip=sm_90a wgmma-tile=128x128" -verify-diagnostics -split-input-file | FileCheck %s

// On sm_90a [E, N, K] weights take the wgmma kernel as [E, K, N] ones do
// (and no remark, which -verify-diagnostics would report): the weights map
// covers them as [E * N, K] (the host collapses the buffer), so a box is 64
// columns' (N rows') 64 K values, 128-byte rows as the rows map's are, and
// B is K-major in shared memory. The launch reads the column tiles from the
// kernel (the rhs's last dim is K).
// CHECK-LABEL: func.func @plain(
// CHECK: @moe_kernels::@grouped_matmul_decode_bf16_bf16_i64_e8_k256_n512_t blocks
// CHECK: } else {
// CHECK: nvgpu.tma.create.descriptor
// CHECK: %[[FLAT:.*]] = memref.collapse_shape %{{.*}} {{\[\[}}0, 1], [2]] : memref<8x512x256xbf16> into memref<4096x256xbf16>
// CHECK: %[[FLATU:.*]] = memref.cast %[[FLAT]]
// CHECK: nvgpu.tma.create.descriptor %[[FLATU]] box[%c64, %c64]
// CHECK: gpu.launch_func async {{.*}} @moe_kernels::@grouped_matmul_wgmma_bf16_bf16_i64_e8_k256_n512_t blocks in (%c4,
//
// In the kernel the group's rows of the map start at g * N (g * 512); a box
// is loaded at (k0, g * N + n0 + 64 h), K innermost.
// CHECK-LABEL: gpu.func @grouped_matmul_wgmma_bf16_bf16_i64_e8_k256_n512_t(
// CHECK-SAME: memref<8x512x256xbf16>
// CHECK-SAME: moe.column_tiles = 4 : i64
// CHECK: %[[N0:.*]] = arith.muli %block_id_x, %c128 : index
// CHECK: %[[G:.*]] = arith.minui %{{.*}}, %c7 : index
// CHECK: %[[ROW0:.*]] = arith.muli %[[G]], %c512 : index
// CHECK: %[[K0:.*]] = arith.muli %c0, %c64 : index
// CHECK: nvgpu.tma.async.load %{{.*}}[%[[K0]], %{{.*}}], %{{.*}}[%c0] to %{{.*}} : <tensor = memref<128x64xbf16, 3>
// CHECK: %[[C0:.*]] = arith.addi %[[N0]], %c0 : index
// CHECK: %[[R0:.*]] = arith.addi %[[ROW0]], %[[C0]] : index
// CHECK: nvgpu.tma.async.load %{{.*}}[%[[K0]], %[[R0]]], %{{.*}}[%c0] to %{{.*}} : <tensor = memref<64x64xbf16, 3>
// CHECK: %[[C1:.*]] = arith.addi %[[N0]], %c64 : index
// CHECK: %[[R1:.*]] = arith.addi %[[ROW0]], %[[C1]] : index
// CHECK: nvgpu.tma.async.load %{{.*}}[%[[K0]], %[[R1]]], %{{.*}}[%c0] to %{{.*}} : <tensor = memref<64x64xbf16, 3>
//
// Each k step: the B descriptor of the [128 (N), 64 (K)] tile; per 64-row
// chunk four k16 wgmmas with A and B K-major (B column-major: no transpose),
// A advancing 32 bytes a slice and 8 KB a chunk (2 and 512 in 16-byte
// units), B 32 bytes a slice; the group waits for the previous step's.
// CHECK: scf.for {{.*}} -> (!llvm.struct<(struct<(f32,
// CHECK: nvgpu.mbarrier.try_wait.parity
// CHECK-NOT: nvvm.fence.proxy
// CHECK: %[[DA:.*]] = builtin.unrealized_conversion_cast %{{.*}} : !nvgpu.warpgroup.descriptor<tensor = memref<128x64xbf16, #gpu.address_space<workgroup>>> to i64
// CHECK: %[[DB:.*]] = builtin.unrealized_conversion_cast %{{.*}} : !nvgpu.warpgroup.descriptor<tensor = memref<128x64xbf16, #gpu.address_space<workgroup>>> to i64
// CHECK: nvvm.wgmma.fence.aligned
// CHECK: nvvm.wgmma.mma_async %[[DA]], %[[DB]], %{{.*}}, <m = 64, n = 128, k = 16>, D[<f32>, <one>], A[<bf16>, <one>, <row>], B[<bf16>, <one>, <col>]
// CHECK: %[[A1:.*]] = llvm.add %[[DA]], %[[TWO:.*]] : i64
// CHECK: %[[B1:.*]] = llvm.add %[[DB]], %[[TWO]] : i64
// CHECK: nvvm.wgmma.mma_async %[[A1]], %[[B1]]
// CHECK-COUNT-2: nvvm.wgmma.mma_async
// CHECK: %[[A4:.*]] = llvm.add %[[DA]], %[[C512:.*]] : i64
// CHECK: nvvm.wgmma.mma_async %[[A4]], %[[DB]]
// CHECK-COUNT-3: nvvm.wgmma.mma_async
// CHECK-NOT: nvvm.wgmma.mma_async
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// CHECK-NEXT: nvvm.wgmma.wait.group.sync.aligned 1
// CHECK: nvvm.wgmma.wait.group.sync.aligned 0
func.func @plain(%x: tensor<?x256xbf16>, %w: tensor<8x512x256xbf16>, %off: tensor<9xi64>) -> tensor<?x512xbf16> {
  %y = moe.grouped_matmul %x, %w offsets(%off) {transpose_rhs} : (tensor<?x256xbf16>, tensor<8x512x256xbf16>, tensor<9xi64>) -> tensor<?x512xbf16>
  return %y : tensor<?x512xbf16>
}

// -----

// K = 72 ends in a partial step (ceil(72 / 64) = 2 steps), but nothing is
// zeroed: both maps' rows end at K, and the TMA fills the columns past it
// with zeros.
// CHECK-LABEL: gpu.func @grouped_matmul_wgmma_f16_f16_i32_e4_k72_n200_bias_f32_t(
// CHECK-SAME: moe.column_tiles = 2 : i64
// CHECK-NOT: nvvm.fence.proxy
// CHECK: %[[UP:.*]] = arith.addi %c72, %c63 : index
// CHECK: arith.divui %[[UP]], %c64 : index
// CHECK-NOT: vector.store
// CHECK: nvvm.wgmma.mma_async {{.*}} A[<f16>, <one>, <row>], B[<f16>, <one>, <col>]
// CHECK-NOT: nvvm.fence.proxy
// CHECK: gpu.return
func.func @f16_bias_k72(%x: tensor<?x72xf16>, %w: tensor<4x200x72xf16>, %b: tensor<4x200xf32>, %off: tensor<5xi32>) -> tensor<?x200xf16> {
  %y = moe.grouped_matmul %x, %w offsets(%off) bias(%b) {transpose_rhs} : (tensor<?x72xf16>, tensor<4x200x72xf16>, tensor<5xi32>, tensor<4x200xf32>) -> tensor<?x200xf16>
  return %y : tensor<?x200xf16>
}

// -----

// Separate gate/up weights: the B tile's second box comes from the up
// weight's map, at the same rows (g * 256 + n0) as the gate box; a block owns
// 64 outputs.
// CHECK-LABEL: gpu.func @grouped_matmul_wgmma_bf16_bf16_i64_e8_k256_n256_silu_separate_t(
// CHECK-SAME: %{{[^:]*}}: memref<8x256x256xbf16>, %{{[^:]*}}: memref<8x256x256xbf16>
// CHECK-SAME: %[[MAPG:[^:]*]]: !llvm.ptr, %[[MAPU:[^:]*]]: !llvm.ptr)
// CHECK-SAME: moe.column_tiles = 4 : i64
// CHECK-DAG: %[[G:.*]] = builtin.unrealized_conversion_cast %[[MAPG]]
// CHECK-DAG: %[[U:.*]] = builtin.unrealized_conversion_cast %[[MAPU]]
// CHECK: %[[N0:.*]] = arith.muli %block_id_x, %c64 : index
// CHECK: %[[ROW0:.*]] = arith.muli %{{.*}}, %c256 : index
// CHECK: %[[R0:.*]] = arith.addi %[[ROW0]], %[[N0]] : index
// CHECK: nvgpu.tma.async.load %[[G]][%c0, %[[R0]]]
// CHECK: %[[R1:.*]] = arith.addi %[[ROW0]], %[[N0]] : index
// CHECK: nvgpu.tma.async.load %[[U]][%c0, %[[R1]]]
func.func @swiglu_separate(%x: tensor<?x256xbf16>, %wg: tensor<8x256x256xbf16>, %wu: tensor<8x256x256xbf16>, %off: tensor<9xi64>) -> tensor<?x256xbf16> {
  %g = moe.grouped_matmul %x, %wg offsets(%off) {transpose_rhs} : (tensor<?x256xbf16>, tensor<8x256x256xbf16>, tensor<9xi64>) -> tensor<?x256xbf16>
  %u = moe.grouped_matmul %x, %wu offsets(%off) {transpose_rhs} : (tensor<?x256xbf16>, tensor<8x256x256xbf16>, tensor<9xi64>) -> tensor<?x256xbf16>
  %a = moe.activation %g, %u {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<separate>} : (tensor<?x256xbf16>, tensor<?x256xbf16>) -> tensor<?x256xbf16>
  return %a : tensor<?x256xbf16>
}

// -----

// Concatenated gate/up columns of one [E, 2I, K] weight: the up box's rows
// are I (512) past the gate box's.
// CHECK-LABEL: gpu.func @grouped_matmul_wgmma_bf16_bf16_i64_e8_k256_n1024_silu_concatenated_t(
// CHECK-SAME: moe.column_tiles = 8 : i64
// CHECK: %[[N0:.*]] = arith.muli %block_id_x, %c64 : index
// CHECK: %[[ROW0:.*]] = arith.muli %{{.*}}, %c1024 : index
// CHECK: %[[R0:.*]] = arith.addi %[[ROW0]], %[[N0]] : index
// CHECK: nvgpu.tma.async.load %[[MAP:.*]][%c0, %[[R0]]]
// CHECK: %[[C1:.*]] = arith.addi %[[N0]], %c512 : index
// CHECK: %[[R1:.*]] = arith.addi %[[ROW0]], %[[C1]] : index
// CHECK: nvgpu.tma.async.load %[[MAP]][%c0, %[[R1]]]
func.func @swiglu_concatenated(%x: tensor<?x256xbf16>, %w: tensor<8x1024x256xbf16>, %off: tensor<9xi64>) -> tensor<?x512xbf16> {
  %h = moe.grouped_matmul %x, %w offsets(%off) {transpose_rhs} : (tensor<?x256xbf16>, tensor<8x1024x256xbf16>, tensor<9xi64>) -> tensor<?x1024xbf16>
  %a = moe.activation %h {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<concatenated>} : (tensor<?x1024xbf16>) -> tensor<?x512xbf16>
  return %a : tensor<?x512xbf16>
}
