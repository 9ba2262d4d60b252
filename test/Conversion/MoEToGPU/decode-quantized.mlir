// RUN: moe-opt %s --convert-moe-to-gpu=kernel=decode -split-input-file | FileCheck %s

// Quantized weights (a moe.dequantize feeding a transpose_rhs grouped
// matmul, onnxruntime's QMoE layout) are read packed by the decode kernel
// (tile-quantized.mlir: the tile kernel, and which runs when): the launch
// passes the bytes, the scales and the zero points, not an expanded weight,
// and the dequantization is gone.
// CHECK-LABEL: func.func @int4_blocks(
// CHECK-NOT: moe.dequantize
// CHECK-NOT: scf.if
// CHECK: %[[ROWS:.*]] = memref.dim %{{.*}}, %c0 : memref<?x256xbf16>
// CHECK: %[[MIN:.*]] = arith.minui %[[ROWS]], %c9 : index
// CHECK: %[[GY:.*]] = arith.maxui %[[MIN]], %c1 : index
// CHECK: gpu.launch_func async {{.*}} @moe_kernels::@grouped_matmul_decode_bf16_bf16_i64_e8_k256_n512_q4_b32_f16_zp blocks in (%c8, %[[GY]], %{{.*}}) threads in (%c128, %c1, %c1) args(%{{.*}} : memref<?x256xbf16>, %{{.*}} : memref<8x512x128xi8>, %{{.*}} : memref<8x512x8xf16>, %{{.*}} : memref<8x512x4xi8>, %{{.*}} : memref<9xi64>, %{{.*}} : memref<?x512xbf16>)
// CHECK-NOT: moe.dequantize

// The kernel views the bytes as i32 words. Each iteration of a warp covers
// 128 K values (4 lane pairs x 32 values of a 16-byte chunk): 8 chunk loads
// per lane (one per n tile) and 4 rows x 4 lhs loads, then per step of 4
// values and n tile one scale and one zero point (block of 32: the chunk's),
// the values expanded through the float 2^23 + q (0x4B000000 = 1258291200),
// and 2 x 8 mma.
// CHECK-LABEL: gpu.func @grouped_matmul_decode_bf16_bf16_i64_e8_k256_n512_q4_b32_f16_zp(
// CHECK-SAME: %[[Q:[^:]*]]: memref<8x512x128xi8>, %[[S:[^:]*]]: memref<8x512x8xf16>, %[[ZP:[^:]*]]: memref<8x512x4xi8>
// CHECK-SAME: moe.column_tiles = 8 : i64
// CHECK: %[[FLAT:.*]] = memref.collapse_shape %[[Q]]
// CHECK: %[[WORDS:.*]] = memref.view %[[FLAT]][%c0][] : memref<524288xi8> to memref<131072xi32>
// CHECK: scf.for %{{.*}} = %{{.*}} to %c256 step %c512 iter_args(
// CHECK-COUNT-8: vector.load %[[WORDS]][{{.*}}] {alignment = 16 : i64} : memref<131072xi32>, vector<4xi32>
// CHECK-COUNT-16: vector.load %arg0[{{.*}}] {alignment = 16 : i64} : memref<?x256xbf16>, vector<8xbf16>
// CHECK-NOT: vector.load
// CHECK: memref.load %[[S]]
// CHECK: memref.load %[[ZP]]
// CHECK: arith.ori %{{.*}}, %c1258291200_i32 : i32
// CHECK: arith.truncf %{{.*}} : vector<2xf32> to vector<2xbf16>
// CHECK-COUNT-16: nvvm.mma.sync
// CHECK-NOT: memref.load %[[S]]
// CHECK-COUNT-112: nvvm.mma.sync
// CHECK-NOT: nvvm.mma.sync
// CHECK: scf.yield

func.func @int4_blocks(%x: tensor<?x256xbf16>, %q: tensor<8x512x128xi8>, %s: tensor<8x512x8xf16>, %zp: tensor<8x512x4xi8>, %off: tensor<9xi64>) -> tensor<?x512xbf16> {
  %w = moe.dequantize %q, %s zero_points(%zp) {bits = 4 : i64, block_size = 32 : i64} : (tensor<8x512x128xi8>, tensor<8x512x8xf16>, tensor<8x512x4xi8>) -> tensor<8x512x256xbf16>
  %y = moe.grouped_matmul %x, %w offsets(%off) {transpose_rhs} : (tensor<?x256xbf16>, tensor<8x512x256xbf16>, tensor<9xi64>) -> tensor<?x512xbf16>
  return %y : tensor<?x512xbf16>
}

// -----

// 8 bits, one f32 scale per output column (read once per pass, before the
// K loop),
// the default zero point 128 (the float 2^23 + 128: 0x4B000080), a bias, N = 72 (the
// columns past it read column 71) and K = 80, which is no multiple of the
// 64 values an iteration covers: the lanes past K read the last chunk and
// zero rows.
// CHECK-LABEL: gpu.func @grouped_matmul_decode_f16_f16_i32_e4_k80_n72_bias_f32_q8_f32(
// CHECK-SAME: memref<4x72x80xi8>, %[[S:[^:]*]]: memref<4x72xf32>, %{{[^:]*}}: memref<5xi32>, %{{[^:]*}}: memref<?x72xf16>, %{{[^:]*}}: memref<4x72xf32>
// CHECK: arith.constant 0x4B000080 : f32
// CHECK: } do {
// CHECK-COUNT-8: memref.load %[[S]]
// CHECK: scf.for %{{.*}} = %{{.*}} to %c80 step %c256 iter_args(
// CHECK: arith.cmpi ult, %{{.*}}, %c80 : index
// CHECK-NOT: memref.load %[[S]]
// CHECK: scf.yield
func.func @int8_rows(%x: tensor<?x80xf16>, %q: tensor<4x72x80xi8>, %s: tensor<4x72xf32>, %b: tensor<4x72xf32>, %off: tensor<5xi32>) -> tensor<?x72xf16> {
  %w = moe.dequantize %q, %s {bits = 8 : i64} : (tensor<4x72x80xi8>, tensor<4x72xf32>) -> tensor<4x72x80xf16>
  %y = moe.grouped_matmul %x, %w offsets(%off) bias(%b) {transpose_rhs} : (tensor<?x80xf16>, tensor<4x72x80xf16>, tensor<5xi32>, tensor<4x72xf32>) -> tensor<?x72xf16>
  return %y : tensor<?x72xf16>
}

// -----

// Blocks of 16 hold two per 32-value chunk: the two scales of each n tile
// in one 4-byte load per chunk (not a load a block, which kept twice the
// addresses live and spilled the separate zero-point form).
// CHECK-LABEL: gpu.func @grouped_matmul_decode_bf16_bf16_i64_e2_k64_n64_q4_b16_bf16(
// CHECK-SAME: %[[S:[^:]*]]: memref<2x64x4xbf16>
// CHECK: } do {
// CHECK: scf.for
// CHECK-COUNT-8: vector.load %[[S]][{{.*}}] {alignment = 4 : i64} : memref<2x64x4xbf16>, vector<2xbf16>
// CHECK-NOT: memref.load %[[S]]
// CHECK-NOT: vector.load %[[S]]
// CHECK: scf.yield
func.func @int4_small_blocks(%x: tensor<?x64xbf16>, %q: tensor<2x64x32xi8>, %s: tensor<2x64x4xbf16>, %off: tensor<3xi64>) -> tensor<?x64xbf16> {
  %w = moe.dequantize %q, %s {bits = 4 : i64, block_size = 16 : i64} : (tensor<2x64x32xi8>, tensor<2x64x4xbf16>) -> tensor<2x64x64xbf16>
  %y = moe.grouped_matmul %x, %w offsets(%off) {transpose_rhs} : (tensor<?x64xbf16>, tensor<2x64x64xbf16>, tensor<3xi64>) -> tensor<?x64xbf16>
  return %y : tensor<?x64xbf16>
}

// -----

// With zero points: 2-bit values pack four blocks' zero points in a byte,
// so that a chunk's two blocks share one, at a shift of 0 or 4 bits (the
// chunk's first block mod 4, times 2) and 2 bits further.
// CHECK-LABEL: gpu.func @grouped_matmul_decode_bf16_bf16_i64_e2_k128_n64_q2_b16_f16_zp(
// CHECK-SAME: %[[S:[^:]*]]: memref<2x64x8xf16>, %[[ZP:[^:]*]]: memref<2x64x2xi8>
// CHECK: scf.for
// CHECK: vector.load %[[S]][%{{.*}}, %{{.*}}, %[[BLOCK:[0-9]+]]] {alignment = 4 : i64} : memref<2x64x8xf16>, vector<2xf16>
// CHECK: %[[BYTE:.*]] = arith.divui %[[BLOCK]], %c4 : index
// CHECK: %[[ZPS:.*]] = memref.load %[[ZP]][%{{.*}}, %{{.*}}, %[[BYTE]]] : memref<2x64x2xi8>
// CHECK: %[[IN_BYTE:.*]] = arith.remui %[[BLOCK]], %c4 : index
// CHECK: %[[BITS:.*]] = arith.muli %[[IN_BYTE]], %c2 : index
// CHECK: %[[SHIFT:.*]] = arith.index_castui %[[BITS]] : index to i32
// CHECK: %[[Z0:.*]] = arith.extui %[[ZPS]] : i8 to i32
// CHECK: arith.shrui %[[Z0]], %[[SHIFT]] : i32
// CHECK: %[[Z1:.*]] = arith.extui %[[ZPS]] : i8 to i32
// CHECK: %[[SHIFT1:.*]] = arith.addi %[[SHIFT]], %c2_i32 : i32
// CHECK: arith.shrui %[[Z1]], %[[SHIFT1]] : i32
// CHECK-COUNT-7: memref.load %[[ZP]]
// CHECK-NOT: memref.load %[[ZP]]
// CHECK: scf.yield
func.func @int2_small_blocks_zero_points(%x: tensor<?x128xbf16>, %q: tensor<2x64x32xi8>, %s: tensor<2x64x8xf16>, %zp: tensor<2x64x2xi8>, %off: tensor<3xi64>) -> tensor<?x64xbf16> {
  %w = moe.dequantize %q, %s zero_points(%zp) {bits = 2 : i64, block_size = 16 : i64} : (tensor<2x64x32xi8>, tensor<2x64x8xf16>, tensor<2x64x2xi8>) -> tensor<2x64x128xbf16>
  %y = moe.grouped_matmul %x, %w offsets(%off) {transpose_rhs} : (tensor<?x128xbf16>, tensor<2x64x128xbf16>, tensor<3xi64>) -> tensor<?x64xbf16>
  return %y : tensor<?x64xbf16>
}

// -----

// An activation fuses into the epilogue of a matmul on packed weights when
// gate and up are neighbouring columns (interleaved, as QMoE's fused
// SwiGLU stores them): one kernel, 32 outputs a block.
// CHECK-LABEL: func.func @int4_swiglu(
// CHECK: gpu.launch_func async {{.*}} @moe_kernels::@grouped_matmul_decode_bf16_bf16_i64_e8_k256_n1024_silu_interleaved_q4_b32_f16 blocks in (%c16, %{{.*}}, %{{.*}}) threads in (%c128, %c1, %c1) args(%{{.*}} : memref<?x256xbf16>, %{{.*}} : memref<8x1024x128xi8>, %{{.*}} : memref<8x1024x8xf16>, %{{.*}} : memref<9xi64>, %{{.*}} : memref<?x512xbf16>)
// CHECK-NOT: gpu.launch_func
// CHECK: return
func.func @int4_swiglu(%x: tensor<?x256xbf16>, %q: tensor<8x1024x128xi8>, %s: tensor<8x1024x8xf16>, %off: tensor<9xi64>) -> tensor<?x512xbf16> {
  %w = moe.dequantize %q, %s {bits = 4 : i64, block_size = 32 : i64} : (tensor<8x1024x128xi8>, tensor<8x1024x8xf16>) -> tensor<8x1024x256xbf16>
  %h = moe.grouped_matmul %x, %w offsets(%off) {transpose_rhs} : (tensor<?x256xbf16>, tensor<8x1024x256xbf16>, tensor<9xi64>) -> tensor<?x1024xbf16>
  %a = moe.activation %h {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<interleaved>} : (tensor<?x1024xbf16>) -> tensor<?x512xbf16>
  return %a : tensor<?x512xbf16>
}

// -----

// Concatenated gate and up halves, 512 columns apart, fuse too: lane quads
// 0-3 read the gate columns of a block's 32 outputs, quads 4-7 the up
// columns 512 further (the 16-bit kernel's gate/up quads).
// CHECK-LABEL: func.func @int4_concatenated(
// CHECK: gpu.launch_func async {{.*}} @moe_kernels::@grouped_matmul_decode_bf16_bf16_i64_e8_k256_n1024_silu_concatenated_q4_b32_f16 blocks in (%c16,
// CHECK-NOT: gpu.launch_func
// CHECK: return
// CHECK-LABEL: gpu.func @grouped_matmul_decode_bf16_bf16_i64_e8_k256_n1024_silu_concatenated_q4_b32_f16(
// CHECK: %[[UP:.*]] = arith.cmpi uge, %{{.*}}, %c4 : index
// CHECK: arith.select %[[UP]], %c512, %c0 : index
func.func @int4_concatenated(%x: tensor<?x256xbf16>, %q: tensor<8x1024x128xi8>, %s: tensor<8x1024x8xf16>, %off: tensor<9xi64>) -> tensor<?x512xbf16> {
  %w = moe.dequantize %q, %s {bits = 4 : i64, block_size = 32 : i64} : (tensor<8x1024x128xi8>, tensor<8x1024x8xf16>) -> tensor<8x1024x256xbf16>
  %h = moe.grouped_matmul %x, %w offsets(%off) {transpose_rhs} : (tensor<?x256xbf16>, tensor<8x1024x256xbf16>, tensor<9xi64>) -> tensor<?x1024xbf16>
  %a = moe.activation %h {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<concatenated>} : (tensor<?x1024xbf16>) -> tensor<?x512xbf16>
  return %a : tensor<?x512xbf16>
}

// -----

// 2 bits: a lane reads 8 bytes (32 values) of a row per n tile.
// CHECK-LABEL: func.func @int2(
// CHECK: gpu.launch_func async {{.*}} @moe_kernels::@grouped_matmul_decode_bf16_bf16_i64_e8_k256_n512_q2_b16_f16_zp blocks
// CHECK-LABEL: gpu.func @grouped_matmul_decode_bf16_bf16_i64_e8_k256_n512_q2_b16_f16_zp(
// CHECK: memref.view %{{.*}}[%c0][] : memref<262144xi8> to memref<65536xi32>
// CHECK: scf.for
// CHECK-COUNT-8: vector.load %{{.*}}[{{.*}}] {alignment = 8 : i64} : memref<65536xi32>, vector<2xi32>
// CHECK-COUNT-16: vector.load %arg0[{{.*}}] {alignment = 16 : i64} : memref<?x256xbf16>, vector<8xbf16>
func.func @int2(%x: tensor<?x256xbf16>, %q: tensor<8x512x64xi8>, %s: tensor<8x512x16xf16>, %zp: tensor<8x512x4xi8>, %off: tensor<9xi64>) -> tensor<?x512xbf16> {
  %w = moe.dequantize %q, %s zero_points(%zp) {bits = 2 : i64, block_size = 16 : i64} : (tensor<8x512x64xi8>, tensor<8x512x16xf16>, tensor<8x512x4xi8>) -> tensor<8x512x256xbf16>
  %y = moe.grouped_matmul %x, %w offsets(%off) {transpose_rhs} : (tensor<?x256xbf16>, tensor<8x512x256xbf16>, tensor<9xi64>) -> tensor<?x512xbf16>
  return %y : tensor<?x512xbf16>
}

// -----

// Separate gate and up weights (QMoE's fc1 and fc3), packed alike, fuse
// too: lane quads 4-7 read the up weight's bytes, scales and zero points
// (selected once), at the gate columns' positions.
// CHECK-LABEL: func.func @int4_separate(
// CHECK: gpu.launch_func async {{.*}} @moe_kernels::@grouped_matmul_decode_bf16_bf16_i64_e8_k256_n512_silu_separate_q4_b32_f16_zp blocks in (%c16, %{{.*}}, %{{.*}}) threads in (%c128, %c1, %c1) args(%{{.*}} : memref<?x256xbf16>, %{{.*}} : memref<8x512x128xi8>, %{{.*}} : memref<8x512x8xf16>, %{{.*}} : memref<8x512x4xi8>, %{{.*}} : memref<8x512x128xi8>, %{{.*}} : memref<8x512x8xf16>, %{{.*}} : memref<8x512x4xi8>, %{{.*}} : memref<9xi64>, %{{.*}} : memref<?x512xbf16>)
// CHECK-NOT: gpu.launch_func
// CHECK: return
// CHECK-LABEL: gpu.func @grouped_matmul_decode_bf16_bf16_i64_e8_k256_n512_silu_separate_q4_b32_f16_zp(
// CHECK-SAME: %[[Q:[^:]*]]: memref<8x512x128xi8>, %[[S:[^:]*]]: memref<8x512x8xf16>, %[[ZP:[^:]*]]: memref<8x512x4xi8>, %[[QU:[^:]*]]: memref<8x512x128xi8>, %[[SU:[^:]*]]: memref<8x512x8xf16>, %[[ZPU:[^:]*]]: memref<8x512x4xi8>
// CHECK: %[[UP:.*]] = arith.cmpi uge, %{{.*}}, %c4 : index
// CHECK: %[[BYTES:.*]] = arith.select %[[UP]], %[[QU]], %[[Q]] : memref<8x512x128xi8>
// CHECK: %[[SCALES:.*]] = arith.select %[[UP]], %[[SU]], %[[S]] : memref<8x512x8xf16>
// CHECK: %[[ZPS:.*]] = arith.select %[[UP]], %[[ZPU]], %[[ZP]] : memref<8x512x4xi8>
// CHECK-NOT: arith.select %[[UP]], %c
// CHECK: memref.collapse_shape %[[BYTES]]
// CHECK-NOT: arith.select %[[UP]], %c
// CHECK: scf.for
// CHECK: memref.load %[[SCALES]]
// CHECK: memref.load %[[ZPS]]
func.func @int4_separate(%x: tensor<?x256xbf16>, %q: tensor<8x512x128xi8>, %s: tensor<8x512x8xf16>, %zp: tensor<8x512x4xi8>, %qu: tensor<8x512x128xi8>, %su: tensor<8x512x8xf16>, %zpu: tensor<8x512x4xi8>, %off: tensor<9xi64>) -> tensor<?x512xbf16> {
  %w = moe.dequantize %q, %s zero_points(%zp) {bits = 4 : i64, block_size = 32 : i64} : (tensor<8x512x128xi8>, tensor<8x512x8xf16>, tensor<8x512x4xi8>) -> tensor<8x512x256xbf16>
  %wu = moe.dequantize %qu, %su zero_points(%zpu) {bits = 4 : i64, block_size = 32 : i64} : (tensor<8x512x128xi8>, tensor<8x512x8xf16>, tensor<8x512x4xi8>) -> tensor<8x512x256xbf16>
  %g = moe.grouped_matmul %x, %w offsets(%off) {transpose_rhs} : (tensor<?x256xbf16>, tensor<8x512x256xbf16>, tensor<9xi64>) -> tensor<?x512xbf16>
  %u = moe.grouped_matmul %x, %wu offsets(%off) {transpose_rhs} : (tensor<?x256xbf16>, tensor<8x512x256xbf16>, tensor<9xi64>) -> tensor<?x512xbf16>
  %a = moe.activation %g, %u {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<separate>} : (tensor<?x512xbf16>, tensor<?x512xbf16>) -> tensor<?x512xbf16>
  return %a : tensor<?x512xbf16>
}

// -----

// Gate and up packed differently (4 and 8 bits) need two kernels: they stay
// two matmuls and the activation kernel.
// CHECK-LABEL: func.func @mixed_separate(
// CHECK: @moe_kernels::@grouped_matmul_decode_bf16_bf16_i64_e8_k256_n512_q4_b32_f16 blocks
// CHECK: @moe_kernels::@grouped_matmul_decode_bf16_bf16_i64_e8_k256_n512_q8_f16 blocks
// CHECK: @moe_kernels::@activation_
func.func @mixed_separate(%x: tensor<?x256xbf16>, %q: tensor<8x512x128xi8>, %s: tensor<8x512x8xf16>, %qu: tensor<8x512x256xi8>, %su: tensor<8x512xf16>, %off: tensor<9xi64>) -> tensor<?x512xbf16> {
  %w = moe.dequantize %q, %s {bits = 4 : i64, block_size = 32 : i64} : (tensor<8x512x128xi8>, tensor<8x512x8xf16>) -> tensor<8x512x256xbf16>
  %wu = moe.dequantize %qu, %su {bits = 8 : i64} : (tensor<8x512x256xi8>, tensor<8x512xf16>) -> tensor<8x512x256xbf16>
  %g = moe.grouped_matmul %x, %w offsets(%off) {transpose_rhs} : (tensor<?x256xbf16>, tensor<8x512x256xbf16>, tensor<9xi64>) -> tensor<?x512xbf16>
  %u = moe.grouped_matmul %x, %wu offsets(%off) {transpose_rhs} : (tensor<?x256xbf16>, tensor<8x512x256xbf16>, tensor<9xi64>) -> tensor<?x512xbf16>
  %a = moe.activation %g, %u {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<separate>} : (tensor<?x512xbf16>, tensor<?x512xbf16>) -> tensor<?x512xbf16>
  return %a : tensor<?x512xbf16>
}
