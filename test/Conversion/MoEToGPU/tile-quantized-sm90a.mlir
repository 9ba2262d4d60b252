// RUN: moe-opt %s --convert-moe-to-gpu=chip=sm_90a -verify-diagnostics -split-input-file | FileCheck %s

// On sm_90a quantized weights take the wgmma kernel (no remark, which
// -verify-diagnostics would report). TMA brings only the rows (one map,
// 16 KB a stage); the packed weights are expanded by the threads into the
// stage's K-major B tile: thread t owns tile column t (weight column
// n0 + t), loads its 64 packed values of a k step (two 16-byte loads of 32
// 4-bit values) and their block scales and zero points, expands them (as
// moe.dequantize rounds) and stores 8 chunks of 8 values at their 128-byte
// swizzled places (chunk j of row t at j ^ (t % 8)); a fence for the async
// proxy and a barrier publish the stage before the wgmma reads it.
// CHECK-LABEL: func.func @int4_blocks(
// CHECK: @moe_kernels::@grouped_matmul_decode_bf16_bf16_i64_e8_k256_n512_q4_b32_f16_zp
// CHECK: } else {
// CHECK: nvgpu.tma.create.descriptor
// CHECK-NOT: nvgpu.tma.create.descriptor
// CHECK: gpu.launch_func async {{.*}} @moe_kernels::@grouped_matmul_wgmma_bf16_bf16_i64_e8_k256_n512_q4_b32_f16_zp blocks in (%c4, {{.*}} args(%{{.*}} : memref<?x256xbf16>, %{{.*}} : memref<8x512x128xi8>, %{{.*}} : memref<8x512x8xf16>, %{{.*}} : memref<8x512x4xi8>, %{{.*}} : memref<9xi64>, %{{.*}} : memref<?x512xbf16>, %{{.*}} : !llvm.ptr)
//
// CHECK-LABEL: gpu.func @grouped_matmul_wgmma_bf16_bf16_i64_e8_k256_n512_q4_b32_f16_zp(
// CHECK-SAME: %[[SCALES:[^:]*]]: memref<8x512x8xf16>, %[[ZP:[^:]*]]: memref<8x512x4xi8>
// CHECK-SAME: moe.column_tiles = 4 : i64, moe.dynamic_shared_memory = 99456 : i64, moe.tensor_map_params = 1 : i64
// CHECK: %[[N0:.*]] = arith.muli %block_id_x, %c128 : index
// CHECK: %[[G:.*]] = arith.minui %{{.*}}, %c7 : index
// CHECK: %[[COL:.*]] = arith.addi %[[N0]], %[[TID:.*]] : index
// CHECK: %[[IN:.*]] = arith.cmpi ult, %[[COL]], %c512 : index
// CHECK: %[[C:.*]] = arith.select %[[IN]], %[[COL]], %c0 : index
// CHECK: %[[WORDS:.*]] = memref.view %{{.*}}[%c0][] : memref<524288xi8> to memref<131072xi32>
// CHECK: vector.load %[[WORDS]][%{{.*}}] {alignment = 16 : i64} : memref<131072xi32>, vector<4xi32>
// CHECK: vector.load %[[WORDS]][%{{.*}}] {alignment = 16 : i64} : memref<131072xi32>, vector<4xi32>
// CHECK: memref.load %[[SCALES]][%[[G]], %[[C]], %{{.*}}] : memref<8x512x8xf16>
// CHECK: memref.load %[[ZP]][%[[G]], %[[C]], %{{.*}}] : memref<8x512x4xi8>
// CHECK: memref.load %[[SCALES]][%[[G]], %[[C]], %{{.*}}] : memref<8x512x8xf16>
// CHECK: %[[SW:.*]] = arith.remui %[[TID]], %c8 : index
// CHECK: %[[X0:.*]] = arith.xori %c0, %[[SW]] : index
// CHECK: %[[AT0:.*]] = arith.muli %[[X0]], %c8 : index
// CHECK: vector.store %{{.*}}, %{{.*}}[%[[TID]], %[[AT0]]] {alignment = 16 : i64} : memref<128x64xbf16, #gpu.address_space<workgroup>>, vector<8xbf16>
// CHECK: %[[X1:.*]] = arith.xori %c1, %[[SW]] : index
// CHECK: %[[AT1:.*]] = arith.muli %[[X1]], %c8 : index
// CHECK: vector.store %{{.*}}, %{{.*}}[%[[TID]], %[[AT1]]]
// CHECK: %[[X2:.*]] = arith.xori %c2, %[[SW]] : index
// CHECK: %[[AT2:.*]] = arith.muli %[[X2]], %c8 : index
// CHECK: vector.store %{{.*}}, %{{.*}}[%[[TID]], %[[AT2]]]
// CHECK: %[[X3:.*]] = arith.xori %c3, %[[SW]] : index
// CHECK: %[[AT3:.*]] = arith.muli %[[X3]], %c8 : index
// CHECK: vector.store %{{.*}}, %{{.*}}[%[[TID]], %[[AT3]]]
// CHECK: %[[X4:.*]] = arith.xori %c4, %[[SW]] : index
// CHECK: %[[AT4:.*]] = arith.muli %[[X4]], %c8 : index
// CHECK: vector.store %{{.*}}, %{{.*}}[%[[TID]], %[[AT4]]]
// CHECK: %[[X5:.*]] = arith.xori %c5, %[[SW]] : index
// CHECK: %[[AT5:.*]] = arith.muli %[[X5]], %c8 : index
// CHECK: vector.store %{{.*}}, %{{.*}}[%[[TID]], %[[AT5]]]
// CHECK: %[[X6:.*]] = arith.xori %c6, %[[SW]] : index
// CHECK: %[[AT6:.*]] = arith.muli %[[X6]], %c8 : index
// CHECK: vector.store %{{.*}}, %{{.*}}[%[[TID]], %[[AT6]]]
// CHECK: %[[X7:.*]] = arith.xori %c7, %[[SW]] : index
// CHECK: %[[AT7:.*]] = arith.muli %[[X7]], %c8 : index
// CHECK: vector.store %{{.*}}, %{{.*}}[%[[TID]], %[[AT7]]]
// CHECK: nvvm.fence.proxy {kind = #nvvm.proxy_kind<async.shared>, space = #nvvm.shared_space<cta>}
// CHECK-NEXT: gpu.barrier
// CHECK: nvgpu.mbarrier.arrive.expect_tx %{{.*}}[%c0], %c16384
// CHECK: nvgpu.tma.async.load
// CHECK-NOT: nvgpu.tma.async.load
// CHECK: nvgpu.mbarrier.arrive.expect_tx %{{.*}}[%c1], %c16384
// CHECK: nvgpu.tma.async.load
// CHECK-NOT: nvgpu.tma.async.load
// CHECK-NOT: nvgpu.mbarrier.arrive.expect_tx %{{.*}}[%c2]
//
// In the loop the next step's packed values are loaded before the wait for
// this step's rows, clamped to the row's last load (the step after the
// last one is loaded too, and K = 256 ends there: never the next row's
// bytes); after the wgmmas they are expanded into the next step's stage
// (the one step - 2 read).
// CHECK: scf.for %[[STEP:[^ ]*]] =
// CHECK: %[[NEXT:.*]] = arith.addi %[[STEP]], %c1 : index
// CHECK: %[[IN0:.*]] = arith.cmpi ult, %{{.*}}, %c256 : index
// CHECK: arith.select %[[IN0]], %{{.*}}, %c224 : index
// CHECK: vector.load %[[WORDS]]
// CHECK: %[[IN1:.*]] = arith.cmpi ult, %{{.*}}, %c256 : index
// CHECK: arith.select %[[IN1]], %{{.*}}, %c224 : index
// CHECK: vector.load %[[WORDS]]
// CHECK: nvgpu.mbarrier.try_wait.parity
// CHECK: nvvm.wgmma.fence.aligned
// CHECK-COUNT-8: nvvm.wgmma.mma_async {{.*}} B[<bf16>, <one>, <col>]
// CHECK: nvvm.wgmma.wait.group.sync.aligned 1
// CHECK: scf.if
// CHECK: %[[NS:.*]] = arith.remui %[[NEXT]], %c3 : index
// CHECK: %[[NSB:.*]] = arith.muli %[[NS]], %c16384 : index
// CHECK: %[[NSO:.*]] = arith.addi %c49152, %[[NSB]] : index
// CHECK: %[[NSA:.*]] = arith.addi %{{.*}}, %[[NSO]] : index
// CHECK: %[[NSV:.*]] = memref.view %{{.*}}[%[[NSA]]][] : memref<?xi8, #gpu.address_space<workgroup>> to memref<128x64xbf16
// CHECK-COUNT-8: vector.store %{{.*}}, %[[NSV]][%[[TID]], %{{.*}}] {alignment = 16 : i64} : memref<128x64xbf16
// CHECK: nvvm.fence.proxy
// CHECK-NEXT: gpu.barrier
func.func @int4_blocks(%x: tensor<?x256xbf16>, %q: tensor<8x512x128xi8>, %s: tensor<8x512x8xf16>, %zp: tensor<8x512x4xi8>, %off: tensor<9xi64>) -> tensor<?x512xbf16> {
  %w = moe.dequantize %q, %s zero_points(%zp) {bits = 4 : i64, block_size = 32 : i64} : (tensor<8x512x128xi8>, tensor<8x512x8xf16>, tensor<8x512x4xi8>) -> tensor<8x512x256xbf16>
  %y = moe.grouped_matmul %x, %w offsets(%off) {transpose_rhs} : (tensor<?x256xbf16>, tensor<8x512x256xbf16>, tensor<9xi64>) -> tensor<?x512xbf16>
  return %y : tensor<?x512xbf16>
}

// -----

// K = 288 ends in a partial step (ceil(288 / 64) = 5): a load at or past K
// reads the last one (K - 32) and its values are stored as zeros; the
// scale index is clamped to K's last block. Per-row scales are loaded once.
// CHECK-LABEL: gpu.func @grouped_matmul_wgmma_bf16_bf16_i64_e4_k288_n128_q4_f32(
// CHECK: %[[UP:.*]] = arith.addi %c288, %c63 : index
// CHECK: arith.divui %[[UP]], %c64 : index
// CHECK: memref.load %{{.*}} : memref<4x128xf32>
// CHECK-NOT: memref.load %{{.*}} : memref<4x128xf32>
// CHECK: %[[INSIDE:.*]] = arith.cmpi ult, %[[K:.*]], %c288 : index
// CHECK: arith.select %[[INSIDE]], %[[K]], %c256 : index
// CHECK: arith.select %[[INSIDE]], %{{.*}}, %cst{{.*}} : f32
func.func @int4_ragged(%x: tensor<?x288xbf16>, %q: tensor<4x128x144xi8>, %s: tensor<4x128xf32>, %off: tensor<5xi64>) -> tensor<?x128xbf16> {
  %w = moe.dequantize %q, %s {bits = 4 : i64} : (tensor<4x128x144xi8>, tensor<4x128xf32>) -> tensor<4x128x288xbf16>
  %y = moe.grouped_matmul %x, %w offsets(%off) {transpose_rhs} : (tensor<?x288xbf16>, tensor<4x128x288xbf16>, tensor<5xi64>) -> tensor<?x128xbf16>
  return %y : tensor<?x128xbf16>
}

// -----

// Separate gate and up weights packed alike (QMoE's fc1 and fc3): tile
// columns 0-63 are gate columns n0.., 64-127 the up weight's columns of the
// same outputs (a block owns 64 outputs); SwiGLU in the epilogue.
// CHECK-LABEL: gpu.func @grouped_matmul_wgmma_bf16_bf16_i64_e8_k256_n256_silu_separate_q8_f16(
// CHECK-SAME: %[[GATE:[^:]*]]: memref<8x256x256xi8>, %{{[^:]*}}: memref<8x256xf16>, %[[UPW:[^:]*]]: memref<8x256x256xi8>, %{{[^:]*}}: memref<8x256xf16>
// CHECK-SAME: moe.column_tiles = 4 : i64, moe.dynamic_shared_memory = 99456 : i64, moe.tensor_map_params = 1 : i64
// CHECK: %[[N0:.*]] = arith.muli %block_id_x, %c64 : index
// CHECK: %[[J:.*]] = arith.remui %[[TID:.*]], %c64 : index
// CHECK: %[[OUT:.*]] = arith.addi %[[N0]], %[[J]] : index
// CHECK: %[[ISUP:.*]] = arith.cmpi uge, %[[TID]], %c64 : index
// CHECK: arith.cmpi ult, %[[OUT]], %c256 : index
// CHECK: arith.select %[[ISUP]], %[[UPW]], %[[GATE]] : memref<8x256x256xi8>
func.func @swiglu_separate(%x: tensor<?x256xbf16>, %qg: tensor<8x256x256xi8>, %sg: tensor<8x256xf16>, %qu: tensor<8x256x256xi8>, %su: tensor<8x256xf16>, %off: tensor<9xi64>) -> tensor<?x256xbf16> {
  %wg = moe.dequantize %qg, %sg {bits = 8 : i64} : (tensor<8x256x256xi8>, tensor<8x256xf16>) -> tensor<8x256x256xbf16>
  %wu = moe.dequantize %qu, %su {bits = 8 : i64} : (tensor<8x256x256xi8>, tensor<8x256xf16>) -> tensor<8x256x256xbf16>
  %g = moe.grouped_matmul %x, %wg offsets(%off) {transpose_rhs} : (tensor<?x256xbf16>, tensor<8x256x256xbf16>, tensor<9xi64>) -> tensor<?x256xbf16>
  %u = moe.grouped_matmul %x, %wu offsets(%off) {transpose_rhs} : (tensor<?x256xbf16>, tensor<8x256x256xbf16>, tensor<9xi64>) -> tensor<?x256xbf16>
  %a = moe.activation %g, %u {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<separate>} : (tensor<?x256xbf16>, tensor<?x256xbf16>) -> tensor<?x256xbf16>
  return %a : tensor<?x256xbf16>
}

// -----

// Concatenated gate/up columns of one packed weight (QMoE's fused SwiGLU
// with gate and up halves): tile column t >= 64 is the up column N / 2
// (512) further.
// CHECK-LABEL: gpu.func @grouped_matmul_wgmma_bf16_bf16_i64_e8_k256_n1024_silu_concatenated_q4_b32_f16(
// CHECK-SAME: moe.column_tiles = 8 : i64, moe.dynamic_shared_memory = 99456 : i64, moe.tensor_map_params = 1 : i64
// CHECK: %[[N0:.*]] = arith.muli %block_id_x, %c64 : index
// CHECK: %[[J:.*]] = arith.remui %[[TID:.*]], %c64 : index
// CHECK: %[[OUT:.*]] = arith.addi %[[N0]], %[[J]] : index
// CHECK: %[[ISUP:.*]] = arith.cmpi uge, %[[TID]], %c64 : index
// CHECK: %[[IN:.*]] = arith.cmpi ult, %[[OUT]], %c512 : index
// CHECK: %[[SHIFT:.*]] = arith.select %[[ISUP]], %c512, %c0 : index
// CHECK: %[[COL:.*]] = arith.addi %[[OUT]], %[[SHIFT]] : index
// CHECK: arith.select %[[IN]], %[[COL]], %c0 : index
func.func @swiglu_concatenated(%x: tensor<?x256xbf16>, %q: tensor<8x1024x128xi8>, %s: tensor<8x1024x8xf16>, %off: tensor<9xi64>) -> tensor<?x512xbf16> {
  %w = moe.dequantize %q, %s {bits = 4 : i64, block_size = 32 : i64} : (tensor<8x1024x128xi8>, tensor<8x1024x8xf16>) -> tensor<8x1024x256xbf16>
  %h = moe.grouped_matmul %x, %w offsets(%off) {transpose_rhs} : (tensor<?x256xbf16>, tensor<8x1024x256xbf16>, tensor<9xi64>) -> tensor<?x1024xbf16>
  %a = moe.activation %h {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<concatenated>} : (tensor<?x1024xbf16>) -> tensor<?x512xbf16>
  return %a : tensor<?x512xbf16>
}
