// RUN: moe-opt %s --convert-moe-to-gpu="kernel=tile mma-tile=64x64" -split-input-file | FileCheck %s --check-prefix=TILE
// RUN: moe-opt %s --convert-moe-to-gpu=kernel=decode -split-input-file | FileCheck %s --check-prefix=DECODE
// RUN: moe-opt %s --convert-moe-to-gpu="chip=sm_90a kernel=tile wgmma-tile=128x128" -split-input-file -verify-diagnostics | FileCheck %s --check-prefix=WGMMA

// group_extents (heterogeneous experts, zero-padded by
// moe-prepare-gpu-layers): each group's K_g and N_g come from a constant
// table in the kernel module (pairs K_g, N_g), and the kernels read only
// that block of the group's weight.
//
// mma.sync: rows past K_g and columns past N_g copy zero bytes, the K loop
// stops at K_g, and a block past N_g runs no k step; past N_g the bias is
// not added either.
// TILE-LABEL: func.func @down(
// TILE: gpu.launch_func async {{.*}} @moe_kernels::@grouped_matmul_bf16_bf16_i64_e4_k512_n256_bias_f32_x[[HASH:[0-9a-f]+]] blocks in (%c4,
// TILE: memref.global "private" constant @moe_group_extents_x[[HASH]] : memref<8xi32> = dense<[128, 128, 256, 256, 384, 128, 512, 256]>
// TILE: gpu.func @grouped_matmul_bf16_bf16_i64_e4_k512_n256_bias_f32_x[[HASH]](
// TILE: %[[N0:.*]] = arith.muli %block_id_x, %c64 : index
// TILE: %[[G:.*]] = arith.minui %{{.*}}, %c3 : index
// TILE: %[[T:.*]] = memref.get_global @moe_group_extents_x[[HASH]] : memref<8xi32>
// TILE: %[[KI:.*]] = arith.muli %[[G]], %c2 : index
// TILE: %[[KV:.*]] = memref.load %[[T]][%[[KI]]] : memref<8xi32>
// TILE: %[[K:.*]] = arith.index_castui %[[KV]] : i32 to index
// TILE: %[[NI:.*]] = arith.addi %[[KI]], %c1 : index
// TILE: %[[NV:.*]] = memref.load %[[T]][%[[NI]]] : memref<8xi32>
// TILE: %[[N:.*]] = arith.index_castui %[[NV]] : i32 to index
// TILE: %[[TAIL:.*]] = arith.cmpi eq, %{{.*}}, %c4 : index
// TILE: %[[KT:.*]] = arith.select %[[TAIL]], %c0, %[[K]] : index
// TILE: %[[IN:.*]] = arith.cmpi ult, %[[N0]], %[[N]] : index
// TILE: %[[KEND:.*]] = arith.select %[[IN]], %[[KT]], %c0 : index
// The A tile's columns and the B tile's rows stop at K_g, its columns at N_g.
// TILE: arith.cmpi ult, %{{.*}}, %[[K]] : index
// TILE: nvgpu.device_async_copy %arg0
// TILE: nvgpu.device_async_copy %arg0
// TILE: %[[BROW:.*]] = arith.cmpi ult, %{{.*}}, %[[K]] : index
// TILE: %[[BCOL:.*]] = arith.cmpi ult, %{{.*}}, %[[N]] : index
// TILE: arith.andi %[[BROW]], %[[BCOL]] : i1
// TILE: nvgpu.device_async_copy %arg1
// TILE: scf.for %{{.*}} = %c0 to %[[KEND]] step %c32
// TILE: memref.load %arg4
// TILE: %[[BON:.*]] = arith.cmpi ult, %{{.*}}, %[[N]] : index
// TILE: %[[ON:.*]] = arith.andi %{{.*}}, %[[BON]] : i1
// TILE: arith.select %[[ON]], %{{.*}}, %{{.*}} : f32
//
// Decode: the weight columns past N_g load as zeros, the loop stops at K_g
// (or at once for a block past N_g), and N_g waits in shared memory for the
// bias (one more register across the loop would spill).
// DECODE-LABEL: func.func @down(
// DECODE: gpu.func @grouped_matmul_decode_bf16_bf16_i64_e4_k512_n256_bias_f32_x{{[0-9a-f]+}}({{.*}}) workgroup(%{{.*}} : memref<4x32x36xf32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %[[SLOT:.*]] : memref<132xindex, #gpu.address_space<workgroup>> {llvm.align = 16 : i64})
// DECODE: memref.get_global @moe_group_extents_x
// DECODE: %[[K:.*]] = arith.index_castui %{{.*}} : i32 to index
// DECODE: %[[N:.*]] = arith.index_castui %{{.*}} : i32 to index
// DECODE: memref.store %[[N]], %[[SLOT]][%c1] : memref<132xindex, #gpu.address_space<workgroup>>
// DECODE: %[[CIN:.*]] = arith.cmpi ult, %{{.*}}, %[[N]] : index
// DECODE: %[[IN:.*]] = arith.cmpi ult, %{{.*}}, %[[N]] : index
// DECODE: %[[KEND:.*]] = arith.select %[[IN]], %[[K]], %c0 : index
// DECODE: scf.for %{{.*}} = %{{.*}} to %[[KEND]] step %c256
// DECODE: arith.select %[[CIN]], %{{.*}}, %{{.*}} : vector<8xbf16>
// DECODE: %[[NB:.*]] = memref.load %[[SLOT]][%c1] : memref<132xindex, #gpu.address_space<workgroup>>
// DECODE: %[[BON:.*]] = arith.cmpi ult, %{{.*}}, %[[NB]] : index
// DECODE: arith.select %[[BON]], %{{.*}}, %{{.*}} : f32
//
// wgmma: K_g and N_g are whole boxes here, so the k steps are
// ceil(K_g / 64) = K_g / 64 and a block past N_g runs none.
// WGMMA-LABEL: func.func @down(
// WGMMA: gpu.func @grouped_matmul_wgmma_bf16_bf16_i64_e4_k512_n256_bias_f32_x
// WGMMA: %[[N0:.*]] = arith.muli %block_id_x, %c128 : index
// WGMMA: memref.get_global @moe_group_extents_x
// WGMMA: %[[K:.*]] = arith.index_castui %{{.*}} : i32 to index
// WGMMA: %[[N:.*]] = arith.index_castui %{{.*}} : i32 to index
// WGMMA: %[[G:.*]] = arith.cmpi ult, %{{.*}}, %c4 : index
// WGMMA: %[[IN:.*]] = arith.cmpi ult, %[[N0]], %[[N]] : index
// WGMMA: %[[ON:.*]] = arith.andi %[[G]], %[[IN]] : i1
// WGMMA: %[[UP:.*]] = arith.addi %[[K]], %c63 : index
// WGMMA: %[[STEPS:.*]] = arith.divui %[[UP]], %c64 : index
// WGMMA: arith.select %[[ON]], %[[STEPS]], %c0 : index
func.func @down(%x: tensor<?x512xbf16>, %w: tensor<4x512x256xbf16>, %off: tensor<5xi64>, %b: tensor<4x256xf32>) -> tensor<?x256xbf16> {
  %y = moe.grouped_matmul %x, %w offsets(%off) bias(%b) {group_extents = array<i64: 128, 128, 256, 256, 384, 128, 512, 256>} : (tensor<?x512xbf16>, tensor<4x512x256xbf16>, tensor<5xi64>, tensor<4x256xf32>) -> tensor<?x256xbf16>
  return %y : tensor<?x256xbf16>
}

// -----

// A K_g that is not whole wgmma boxes (K_1 = 96) ends in a partial k step
// (ceil(K_g / 64) steps) whose shared rows past K_g are zeroed
// (wgmma-ragged-k.mlir). An N_g that ends inside a block's 128 columns
// (192): the block computes all its columns and the epilogue zeroes each
// value whose column is at or past N_g. The kernels' names tell two tables
// apart.
// WGMMA-LABEL: func.func @odd_extents(
// WGMMA: @moe_kernels::@grouped_matmul_wgmma_bf16_bf16_i64_e2_k128_n256_x[[A:[0-9a-f]+]] blocks
// WGMMA: @moe_kernels::@grouped_matmul_wgmma_bf16_bf16_i64_e2_k128_n256_x[[B:[0-9a-f]+]] blocks
// WGMMA-DAG: memref.global "private" constant @moe_group_extents_x[[A]] : memref<4xi32> = dense<[128, 256, 96, 256]>
// WGMMA-DAG: memref.global "private" constant @moe_group_extents_x[[B]] : memref<4xi32> = dense<[128, 256, 128, 192]>
// WGMMA: gpu.func @grouped_matmul_wgmma_bf16_bf16_i64_e2_k128_n256_x[[B]](
// WGMMA: %[[TABLE:.*]] = memref.get_global @moe_group_extents_x[[B]]
// WGMMA: memref.load %[[TABLE]][%{{.*}}] : memref<4xi32>
// WGMMA: %[[N:.*]] = memref.load %[[TABLE]][%{{.*}}] : memref<4xi32>
// WGMMA: %[[NG:.*]] = arith.index_castui %[[N]] : i32 to index
// WGMMA-NOT: nvvm.fence.proxy
// WGMMA: %[[V:.*]] = llvm.extractvalue %{{.*}}[0] : !llvm.struct<(f32,
// WGMMA: %[[OWNED:.*]] = arith.cmpi ult, %{{.*}}, %[[NG]] : index
// WGMMA: %[[Z:.*]] = arith.select %[[OWNED]], %[[V]], %{{.*}} : f32
// WGMMA: arith.truncf %[[Z]] : f32 to bf16
// WGMMA: gpu.func @grouped_matmul_wgmma_bf16_bf16_i64_e2_k128_n256_x[[A]](
// WGMMA: %[[KA:.*]] = arith.index_castui %{{.*}} : i32 to index
// WGMMA: %[[UP:.*]] = arith.addi %[[KA]], %c63 : index
// WGMMA: arith.divui %[[UP]], %c64 : index
// WGMMA: nvgpu.mbarrier.try_wait.parity
// WGMMA: %[[DONE:.*]] = arith.muli %{{.*}}, %c64 : index
// WGMMA: %[[VALID:.*]] = arith.subi %[[KA]], %[[DONE]] : index
// WGMMA: %[[PARTIAL:.*]] = arith.cmpi ult, %[[VALID]], %c64 : index
// WGMMA: scf.if %[[PARTIAL]] {
// WGMMA: nvvm.fence.proxy {kind = #nvvm.proxy_kind<async.shared>, space = #nvvm.shared_space<cta>}
// WGMMA: gpu.barrier
// WGMMA: nvgpu.warpgroup.mma
func.func @odd_extents(%x: tensor<?x128xbf16>, %w: tensor<2x128x256xbf16>, %off: tensor<3xi64>) -> (tensor<?x256xbf16>, tensor<?x256xbf16>) {
  %y = moe.grouped_matmul %x, %w offsets(%off) {group_extents = array<i64: 128, 256, 96, 256>} : (tensor<?x128xbf16>, tensor<2x128x256xbf16>, tensor<3xi64>) -> tensor<?x256xbf16>
  %z = moe.grouped_matmul %x, %w offsets(%off) {group_extents = array<i64: 128, 256, 128, 192>} : (tensor<?x128xbf16>, tensor<2x128x256xbf16>, tensor<3xi64>) -> tensor<?x256xbf16>
  return %y, %z : tensor<?x256xbf16>, tensor<?x256xbf16>
}

// -----

// Separate gate/up weights with the same extents fuse into one kernel with
// the activation; with different extents, or with a concatenated gate/up
// weight (its up half starts at N / 2, not at N_g), the activation has its
// own kernel.
// TILE-LABEL: func.func @fusion(
// TILE: @moe_kernels::@grouped_matmul_bf16_bf16_i64_e2_k128_n256_silu_separate_x{{[0-9a-f]+}} blocks
// TILE: @moe_kernels::@grouped_matmul_bf16_bf16_i64_e2_k128_n256_x{{[0-9a-f]+}} blocks
// TILE: @moe_kernels::@grouped_matmul_bf16_bf16_i64_e2_k128_n256_x{{[0-9a-f]+}} blocks
// TILE: @moe_kernels::@activation_
// TILE: @moe_kernels::@grouped_matmul_bf16_bf16_i64_e2_k128_n256_x{{[0-9a-f]+}} blocks
// TILE: @moe_kernels::@activation_
func.func @fusion(%x: tensor<?x128xbf16>, %wg: tensor<2x128x256xbf16>, %wu: tensor<2x128x256xbf16>, %off: tensor<3xi64>)
    -> (tensor<?x256xbf16>, tensor<?x256xbf16>, tensor<?x128xbf16>) {
  %g = moe.grouped_matmul %x, %wg offsets(%off) {group_extents = array<i64: 128, 128, 128, 256>} : (tensor<?x128xbf16>, tensor<2x128x256xbf16>, tensor<3xi64>) -> tensor<?x256xbf16>
  %u = moe.grouped_matmul %x, %wu offsets(%off) {group_extents = array<i64: 128, 128, 128, 256>} : (tensor<?x128xbf16>, tensor<2x128x256xbf16>, tensor<3xi64>) -> tensor<?x256xbf16>
  %a = moe.activation %g, %u {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<separate>} : (tensor<?x256xbf16>, tensor<?x256xbf16>) -> tensor<?x256xbf16>
  %g2 = moe.grouped_matmul %x, %wg offsets(%off) {group_extents = array<i64: 128, 128, 128, 256>} : (tensor<?x128xbf16>, tensor<2x128x256xbf16>, tensor<3xi64>) -> tensor<?x256xbf16>
  %u2 = moe.grouped_matmul %x, %wu offsets(%off) {group_extents = array<i64: 128, 256, 128, 128>} : (tensor<?x128xbf16>, tensor<2x128x256xbf16>, tensor<3xi64>) -> tensor<?x256xbf16>
  %a2 = moe.activation %g2, %u2 {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<separate>} : (tensor<?x256xbf16>, tensor<?x256xbf16>) -> tensor<?x256xbf16>
  %h = moe.grouped_matmul %x, %wg offsets(%off) {group_extents = array<i64: 128, 128, 128, 256>} : (tensor<?x128xbf16>, tensor<2x128x256xbf16>, tensor<3xi64>) -> tensor<?x256xbf16>
  %a3 = moe.activation %h {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<concatenated>} : (tensor<?x256xbf16>) -> tensor<?x128xbf16>
  return %a, %a2, %a3 : tensor<?x256xbf16>, tensor<?x256xbf16>, tensor<?x128xbf16>
}
