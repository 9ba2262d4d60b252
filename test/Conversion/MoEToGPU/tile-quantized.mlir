// RUN: moe-opt %s --convert-moe-to-gpu=mma-tile=64x64 -split-input-file | FileCheck %s
// RUN: moe-opt %s --convert-moe-to-gpu="kernel=tile mma-tile=64x64" -split-input-file | FileCheck %s --check-prefix=TILE
// RUN: moe-opt %s --convert-moe-to-gpu=kernel=tile -split-input-file | FileCheck %s --check-prefix=LARGE

// The 128x128 tile (mma-tile=auto) takes packed weights of at least 128
// columns too: its 256 threads fill the 128 columns of B, two a column,
// and expand step i + 1's bits into stage (i + 1) % 4 after step i's mma
// (which step i - 3 read before the barrier).
// LARGE-LABEL: func.func @int4_blocks(
// LARGE: gpu.launch_func async {{.*}} @moe_kernels::@grouped_matmul_bf16_bf16_i64_e8_k256_n512_q4_b32_f16_zp_128x128 blocks in (%c4, %{{.*}}, %c1) threads in (%c256, %c1, %c1) dynamic_shared_memory_size %c81920_i32
// LARGE-LABEL: gpu.func @grouped_matmul_bf16_bf16_i64_e8_k256_n512_q4_b32_f16_zp_128x128(
// LARGE: memref.view {{.*}} to memref<4x128x40xbf16
// LARGE: %[[SB:.*]] = memref.view %{{.*}}[%c40960][] {{.*}} to memref<4x128x40xbf16
// LARGE: %[[COL:.*]] = arith.divui %thread_id_x, %c2 : index
// LARGE: scf.for %[[K0:[^ ]*]] = %c0 to %{{.*}} step %c32 iter_args(
// LARGE: %[[STEP:.*]] = arith.divui %[[K0]], %c32
// LARGE: nvgpu.device_async_wait %{{.*}} {numGroups = 2 : i32}
// LARGE: nvvm.mma.sync
// LARGE: %[[NEXT:.*]] = arith.addi %[[STEP]], %c1
// LARGE: %[[NS:.*]] = arith.remui %[[NEXT]], %c4
// LARGE-COUNT-2: vector.store %{{.*}}, %[[SB]][%[[NS]], %[[COL]], %{{.*}}]
// LARGE-NEXT: scf.yield
// Fewer than 128 columns: the 64x64 tile.
// LARGE-LABEL: func.func @int8_rows(
// LARGE: @moe_kernels::@grouped_matmul_f16_f16_i32_e4_k80_n72_bias_f32_q8_f32 blocks

// Quantized weights (QMoE's packed rows) have both kernels: the decode
// kernel while a group has at most 16 rows on average (rows <= 16 E), else
// the mma.sync tile kernel, on the same packed bytes, scales and zero
// points. On sm_90a the tile kernel is the mma.sync one too
// (tile-quantized-sm90a.mlir).
// CHECK-LABEL: func.func @int4_blocks(
// CHECK-NOT: moe.dequantize
// CHECK: %[[ROWS:.*]] = memref.dim %{{.*}}, %c0 : memref<?x256xbf16>
// CHECK: %[[SMALL:.*]] = arith.cmpi ule, %[[ROWS]], %c128 : index
// CHECK: scf.if %[[SMALL]] {
// CHECK: gpu.launch_func async {{.*}} @moe_kernels::@grouped_matmul_decode_bf16_bf16_i64_e8_k256_n512_q4_b32_f16_zp
// CHECK: } else {
// CHECK: %[[SLACK:.*]] = arith.addi %[[ROWS]], %c567 : index
// CHECK: %[[GY:.*]] = arith.divui %[[SLACK]], %c64 : index
// CHECK: gpu.launch_func async {{.*}} @moe_kernels::@grouped_matmul_bf16_bf16_i64_e8_k256_n512_q4_b32_f16_zp blocks in (%c8, %[[GY]], %c1) threads in (%c128, %c1, %c1) args(%{{.*}} : memref<?x256xbf16>, %{{.*}} : memref<8x512x128xi8>, %{{.*}} : memref<8x512x8xf16>, %{{.*}} : memref<8x512x4xi8>, %{{.*}} : memref<9xi64>, %{{.*}} : memref<?x512xbf16>)

// The tile kernel holds B n-major in shared memory ([stage][n][k]: a
// column's K values contiguous, as the packed rows have them). Thread t
// fills column t / 2, 16 K values from 16 (t % 2) of each k step: one 8-byte
// load of 4-bit values, its block's scale and zero point, each value
// expanded through the float 2^23 + q (0x4B000000 = 1258291200; the zero
// point too, so 17 of them), rounded
// to bf16 and stored as two 16-byte chunks. The prologue fills stage 0;
// each step loads the next step's bits before its mma and expands them into
// the other stage after it; B is read by the non-transposing ldmatrix.
// CHECK-LABEL: gpu.func @grouped_matmul_bf16_bf16_i64_e8_k256_n512_q4_b32_f16_zp(
// CHECK-SAME: %[[Q:[^:]*]]: memref<8x512x128xi8>, %[[S:[^:]*]]: memref<8x512x8xf16>, %[[ZP:[^:]*]]: memref<8x512x4xi8>
// CHECK-SAME: workgroup(%[[SA:[^:]*]] : memref<2x64x40xbf16, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %[[SB:[^:]*]] : memref<2x64x40xbf16, #gpu.address_space<workgroup>> {llvm.align = 16 : i64})
// CHECK-SAME: moe.column_tiles = 8 : i64
// CHECK: nvgpu.device_async_create_group
// CHECK: %[[COL:.*]] = arith.divui %thread_id_x, %c2 : index
// CHECK: %[[HALF:.*]] = arith.remui %thread_id_x, %c2 : index
// CHECK: %[[KHALF:.*]] = arith.muli %[[HALF]], %c16 : index
// CHECK: %[[FLAT:.*]] = memref.collapse_shape %[[Q]]
// CHECK: %[[WORDS:.*]] = memref.view %[[FLAT]][%c0][] : memref<524288xi8> to memref<131072xi32>
// CHECK: vector.load %[[WORDS]][{{.*}}] {alignment = 8 : i64} : memref<131072xi32>, vector<2xi32>
// CHECK-NOT: vector.load
// CHECK: memref.load %[[S]]
// CHECK: memref.load %[[ZP]]
// CHECK-COUNT-17: arith.ori %{{.*}}, %c1258291200_i32 : i32
// CHECK-NOT: arith.ori
// CHECK: arith.truncf %{{.*}} : vector<8xf32> to vector<8xbf16>
// CHECK: vector.store %{{.*}}, %[[SB]][%c0, %[[COL]], %{{.*}}] : memref<2x64x40xbf16, #gpu.address_space<workgroup>>, vector<8xbf16>
// CHECK: arith.truncf %{{.*}} : vector<8xf32> to vector<8xbf16>
// CHECK: vector.store %{{.*}}, %[[SB]][%c0, %[[COL]], %{{.*}}] : memref<2x64x40xbf16, #gpu.address_space<workgroup>>, vector<8xbf16>
// CHECK: scf.for %{{.*}} = %c0 to %{{.*}} step %c32 iter_args(
// CHECK: nvgpu.device_async_wait %{{.*}} {numGroups = 0 : i32}
// CHECK-NEXT: gpu.barrier
// CHECK: nvgpu.device_async_create_group
// CHECK: vector.load %[[WORDS]]
// CHECK: memref.load %[[S]]
// CHECK: memref.load %[[ZP]]
// CHECK: nvgpu.ldmatrix %[[SA]]{{.*}} {numTiles = 4 : i32, transpose = false}
// CHECK: nvgpu.ldmatrix %[[SB]]{{.*}} {numTiles = 4 : i32, transpose = false}
// CHECK-COUNT-16: nvvm.mma.sync
// CHECK-NOT: memref.load %[[S]]
// CHECK-COUNT-2: vector.store %{{.*}}, %[[SB]]
// CHECK-NEXT: scf.yield

// TILE-LABEL: func.func @int4_blocks(
// TILE-NOT: scf.if
// TILE-NOT: grouped_matmul_decode
// TILE: gpu.launch_func async {{.*}} @moe_kernels::@grouped_matmul_bf16_bf16_i64_e8_k256_n512_q4_b32_f16_zp blocks in (%c8,
// TILE-NOT: gpu.func @grouped_matmul_decode
func.func @int4_blocks(%x: tensor<?x256xbf16>, %q: tensor<8x512x128xi8>, %s: tensor<8x512x8xf16>, %zp: tensor<8x512x4xi8>, %off: tensor<9xi64>) -> tensor<?x512xbf16> {
  %w = moe.dequantize %q, %s zero_points(%zp) {bits = 4 : i64, block_size = 32 : i64} : (tensor<8x512x128xi8>, tensor<8x512x8xf16>, tensor<8x512x4xi8>) -> tensor<8x512x256xbf16>
  %y = moe.grouped_matmul %x, %w offsets(%off) {transpose_rhs} : (tensor<?x256xbf16>, tensor<8x512x256xbf16>, tensor<9xi64>) -> tensor<?x512xbf16>
  return %y : tensor<?x512xbf16>
}

// -----

// 8 bits, one f32 scale per output column (loaded once, before the K
// loop), a bias, N = 72 (two column tiles; columns past 72 read column 0
// and are not stored) and K = 80, a half step past 64: a half past K loads
// the last 16 values (a 16-byte load of 8-bit values) and stores zeros.
// TILE-LABEL: gpu.func @grouped_matmul_f16_f16_i32_e4_k80_n72_bias_f32_q8_f32(
// TILE-SAME: %[[S:[^:]*]]: memref<4x72xf32>
// TILE-SAME: moe.column_tiles = 2 : i64
// TILE: arith.cmpi ult, %{{.*}}, %c72 : index
// TILE: memref.load %[[S]]
// TILE: %[[INSIDE:.*]] = arith.cmpi ult, %{{.*}}, %c80 : index
// TILE: arith.select %[[INSIDE]], %{{.*}}, %c64 : index
// TILE: vector.load %{{.*}} {alignment = 16 : i64} : memref<5760xi32>, vector<4xi32>
// TILE-NOT: memref.load %[[S]]
// TILE: arith.select %[[INSIDE]], %{{.*}}, %cst{{.*}} : f32
// TILE: arith.truncf %{{.*}} : vector<8xf32> to vector<8xf16>
// TILE: scf.for
// TILE-NOT: memref.load %[[S]]
// TILE: scf.yield
func.func @int8_rows(%x: tensor<?x80xf16>, %q: tensor<4x72x80xi8>, %s: tensor<4x72xf32>, %b: tensor<4x72xf32>, %off: tensor<5xi32>) -> tensor<?x72xf16> {
  %w = moe.dequantize %q, %s {bits = 8 : i64} : (tensor<4x72x80xi8>, tensor<4x72xf32>) -> tensor<4x72x80xf16>
  %y = moe.grouped_matmul %x, %w offsets(%off) bias(%b) {transpose_rhs} : (tensor<?x80xf16>, tensor<4x72x80xf16>, tensor<5xi32>, tensor<4x72xf32>) -> tensor<?x72xf16>
  return %y : tensor<?x72xf16>
}

// -----

// Blocks of 16: a thread's 16 values are one block, one scale a step; 2
// bits: its values are one 4-byte word.
// TILE-LABEL: gpu.func @grouped_matmul_bf16_bf16_i64_e8_k256_n512_q2_b16_f16_zp(
// TILE-SAME: %[[S:[^:]*]]: memref<8x512x16xf16>
// TILE: vector.load %{{.*}} {alignment = 4 : i64} : memref<65536xi32>, vector<1xi32>
// TILE-NEXT: arith.divui %{{.*}}, %c16 : index
// TILE-NEXT: memref.load %[[S]]
// TILE-NOT: memref.load %[[S]]
// TILE: scf.for
func.func @int2(%x: tensor<?x256xbf16>, %q: tensor<8x512x64xi8>, %s: tensor<8x512x16xf16>, %zp: tensor<8x512x4xi8>, %off: tensor<9xi64>) -> tensor<?x512xbf16> {
  %w = moe.dequantize %q, %s zero_points(%zp) {bits = 2 : i64, block_size = 16 : i64} : (tensor<8x512x64xi8>, tensor<8x512x16xf16>, tensor<8x512x4xi8>) -> tensor<8x512x256xbf16>
  %y = moe.grouped_matmul %x, %w offsets(%off) {transpose_rhs} : (tensor<?x256xbf16>, tensor<8x512x256xbf16>, tensor<9xi64>) -> tensor<?x512xbf16>
  return %y : tensor<?x512xbf16>
}

// -----

// Blocks of 8: two scales a thread and step.
// TILE-LABEL: gpu.func @grouped_matmul_bf16_bf16_i64_e2_k64_n64_q4_b8_bf16(
// TILE-SAME: %[[S:[^:]*]]: memref<2x64x8xbf16>
// TILE-COUNT-2: memref.load %[[S]]
// TILE-NOT: memref.load %[[S]]
// TILE: scf.for
// TILE-COUNT-2: memref.load %[[S]]
// TILE-NOT: memref.load %[[S]]
// TILE: scf.yield
func.func @int4_small_blocks(%x: tensor<?x64xbf16>, %q: tensor<2x64x32xi8>, %s: tensor<2x64x8xbf16>, %off: tensor<3xi64>) -> tensor<?x64xbf16> {
  %w = moe.dequantize %q, %s {bits = 4 : i64, block_size = 8 : i64} : (tensor<2x64x32xi8>, tensor<2x64x8xbf16>) -> tensor<2x64x64xbf16>
  %y = moe.grouped_matmul %x, %w offsets(%off) {transpose_rhs} : (tensor<?x64xbf16>, tensor<2x64x64xbf16>, tensor<3xi64>) -> tensor<?x64xbf16>
  return %y : tensor<?x64xbf16>
}

// -----

// A fused SwiGLU with interleaved gate/up columns: a block's 64 weight
// columns are 32 outputs, so the grid covers the 1024 weight columns (16
// tiles), not the 512 outputs.
// TILE-LABEL: func.func @int4_interleaved(
// TILE: gpu.launch_func async {{.*}} @moe_kernels::@grouped_matmul_bf16_bf16_i64_e8_k256_n1024_silu_interleaved_q4_b32_f16 blocks in (%c16, %{{.*}}, %c1) {{.*}} args(%{{.*}} : memref<?x256xbf16>, %{{.*}} : memref<8x1024x128xi8>, %{{.*}} : memref<8x1024x8xf16>, %{{.*}} : memref<9xi64>, %{{.*}} : memref<?x512xbf16>)
// TILE-NOT: gpu.launch_func
// TILE-LABEL: gpu.func @grouped_matmul_bf16_bf16_i64_e8_k256_n1024_silu_interleaved_q4_b32_f16(
// TILE-SAME: moe.column_tiles = 16 : i64
func.func @int4_interleaved(%x: tensor<?x256xbf16>, %q: tensor<8x1024x128xi8>, %s: tensor<8x1024x8xf16>, %off: tensor<9xi64>) -> tensor<?x512xbf16> {
  %w = moe.dequantize %q, %s {bits = 4 : i64, block_size = 32 : i64} : (tensor<8x1024x128xi8>, tensor<8x1024x8xf16>) -> tensor<8x1024x256xbf16>
  %h = moe.grouped_matmul %x, %w offsets(%off) {transpose_rhs} : (tensor<?x256xbf16>, tensor<8x1024x256xbf16>, tensor<9xi64>) -> tensor<?x1024xbf16>
  %a = moe.activation %h {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<interleaved>} : (tensor<?x1024xbf16>) -> tensor<?x512xbf16>
  return %a : tensor<?x512xbf16>
}

// -----

// Concatenated gate and up halves: a block owns 32 outputs from n0 = 32 x;
// shared column j holds, as on the cp.async path, the gate (slice j / 8
// even) or up (odd, 512 further) column of output n0 + 8 (j / 16) + j % 8.
// TILE-LABEL: func.func @int4_concatenated(
// TILE: gpu.launch_func async {{.*}} @moe_kernels::@grouped_matmul_bf16_bf16_i64_e8_k256_n1024_silu_concatenated_q4_b32_f16 blocks in (%c16,
// TILE-LABEL: gpu.func @grouped_matmul_bf16_bf16_i64_e8_k256_n1024_silu_concatenated_q4_b32_f16(
// TILE-SAME: moe.column_tiles = 16 : i64
// TILE: %[[N0:.*]] = arith.muli %block_id_x, %c32 : index
// TILE: %[[J:.*]] = arith.divui %thread_id_x, %c2 : index
// TILE: %[[SLICE:.*]] = arith.divui %[[J]], %c8 : index
// TILE: %[[PAIR:.*]] = arith.divui %[[SLICE]], %c2 : index
// TILE: %[[PAIRCOL:.*]] = arith.muli %[[PAIR]], %c8 : index
// TILE: %[[BASE:.*]] = arith.addi %[[N0]], %[[PAIRCOL]] : index
// TILE: %[[LANE:.*]] = arith.remui %[[J]], %c8 : index
// TILE: %[[OUT:.*]] = arith.addi %[[BASE]], %[[LANE]] : index
// TILE: %[[INSIDE:.*]] = arith.cmpi ult, %[[OUT]], %c512 : index
// TILE: %[[UP:.*]] = arith.remui %[[SLICE]], %c2 : index
// TILE: %[[SHIFT:.*]] = arith.muli %[[UP]], %c512 : index
// TILE: %[[SRC:.*]] = arith.addi %[[OUT]], %[[SHIFT]] : index
// TILE: arith.select %[[INSIDE]], %[[SRC]], %c0 : index
func.func @int4_concatenated(%x: tensor<?x256xbf16>, %q: tensor<8x1024x128xi8>, %s: tensor<8x1024x8xf16>, %off: tensor<9xi64>) -> tensor<?x512xbf16> {
  %w = moe.dequantize %q, %s {bits = 4 : i64, block_size = 32 : i64} : (tensor<8x1024x128xi8>, tensor<8x1024x8xf16>) -> tensor<8x1024x256xbf16>
  %h = moe.grouped_matmul %x, %w offsets(%off) {transpose_rhs} : (tensor<?x256xbf16>, tensor<8x1024x256xbf16>, tensor<9xi64>) -> tensor<?x1024xbf16>
  %a = moe.activation %h {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<concatenated>} : (tensor<?x1024xbf16>) -> tensor<?x512xbf16>
  return %a : tensor<?x512xbf16>
}

// -----

// Separate gate and up weights: shared column j holds the gate (slice j / 8
// even) or up (odd) column of output n0 + 8 (j / 16) + j % 8, the up one at
// the same column of the up weight, whose bytes, scales and zero points the
// thread selects once.
// TILE-LABEL: gpu.func @grouped_matmul_bf16_bf16_i64_e8_k256_n512_silu_separate_q4_b32_f16_zp(
// TILE-SAME: %[[Q:[^:]*]]: memref<8x512x128xi8>, %[[S:[^:]*]]: memref<8x512x8xf16>, %[[ZP:[^:]*]]: memref<8x512x4xi8>, %[[QU:[^:]*]]: memref<8x512x128xi8>, %[[SU:[^:]*]]: memref<8x512x8xf16>, %[[ZPU:[^:]*]]: memref<8x512x4xi8>
// TILE-SAME: moe.column_tiles = 16 : i64
// TILE: %[[J:.*]] = arith.divui %thread_id_x, %c2 : index
// TILE: %[[SLICE:.*]] = arith.divui %[[J]], %c8 : index
// TILE: %[[INSIDE:.*]] = arith.cmpi ult, %[[OUT:.*]], %c512 : index
// TILE: %[[ODD:.*]] = arith.remui %[[SLICE]], %c2 : index
// TILE: %[[UP:.*]] = arith.cmpi eq, %[[ODD]], %c1 : index
// TILE: arith.select %[[INSIDE]], %[[OUT]], %c0 : index
// TILE: %[[BYTES:.*]] = arith.select %[[UP]], %[[QU]], %[[Q]] : memref<8x512x128xi8>
// TILE: %[[SCALES:.*]] = arith.select %[[UP]], %[[SU]], %[[S]] : memref<8x512x8xf16>
// TILE: %[[ZPS:.*]] = arith.select %[[UP]], %[[ZPU]], %[[ZP]] : memref<8x512x4xi8>
// TILE: memref.collapse_shape %[[BYTES]]
// TILE: memref.load %[[SCALES]]
// TILE: memref.load %[[ZPS]]
func.func @int4_separate(%x: tensor<?x256xbf16>, %q: tensor<8x512x128xi8>, %s: tensor<8x512x8xf16>, %zp: tensor<8x512x4xi8>, %qu: tensor<8x512x128xi8>, %su: tensor<8x512x8xf16>, %zpu: tensor<8x512x4xi8>, %off: tensor<9xi64>) -> tensor<?x512xbf16> {
  %w = moe.dequantize %q, %s zero_points(%zp) {bits = 4 : i64, block_size = 32 : i64} : (tensor<8x512x128xi8>, tensor<8x512x8xf16>, tensor<8x512x4xi8>) -> tensor<8x512x256xbf16>
  %wu = moe.dequantize %qu, %su zero_points(%zpu) {bits = 4 : i64, block_size = 32 : i64} : (tensor<8x512x128xi8>, tensor<8x512x8xf16>, tensor<8x512x4xi8>) -> tensor<8x512x256xbf16>
  %g = moe.grouped_matmul %x, %w offsets(%off) {transpose_rhs} : (tensor<?x256xbf16>, tensor<8x512x256xbf16>, tensor<9xi64>) -> tensor<?x512xbf16>
  %u = moe.grouped_matmul %x, %wu offsets(%off) {transpose_rhs} : (tensor<?x256xbf16>, tensor<8x512x256xbf16>, tensor<9xi64>) -> tensor<?x512xbf16>
  %a = moe.activation %g, %u {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<separate>} : (tensor<?x512xbf16>, tensor<?x512xbf16>) -> tensor<?x512xbf16>
  return %a : tensor<?x512xbf16>
}
