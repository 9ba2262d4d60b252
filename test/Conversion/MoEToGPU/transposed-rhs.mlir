// RUN: moe-opt %s --convert-moe-to-gpu=mma-tile=64x64 -split-input-file | FileCheck %s
// RUN: moe-opt %s --convert-moe-to-gpu="kernel=tile mma-tile=64x64" -split-input-file | FileCheck %s --check-prefix=TILE
// RUN: moe-opt %s --convert-moe-to-gpu="combine=epilogue mma-tile=64x64" -split-input-file | FileCheck %s --check-prefix=COMB
// RUN: moe-opt %s --convert-moe-to-gpu="chip=sm_90a combine=epilogue" -split-input-file 2>/dev/null | FileCheck %s --check-prefix=COMB90

// 16-bit weights stored [E, N, K] (transpose_rhs: each output column's K
// values contiguous, as nn.Linear stores them) are read as they are, by the
// decode kernel while a group has at most 16 rows on average and by the
// mma.sync tile kernel above; both kernels carry `_t`, and their column
// tiles are said by the kernel (the rhs's last dim is K). sm_90a takes the
// same decode kernel and the wgmma tile kernel (transposed-rhs-sm90a.mlir).
// CHECK-LABEL: func.func @plain(
// CHECK: %[[ROWS:.*]] = memref.dim %{{.*}}, %c0 : memref<?x256xbf16>
// CHECK: arith.cmpi ule, %[[ROWS]], %c128 : index
// CHECK: gpu.launch_func async {{.*}} @moe_kernels::@grouped_matmul_decode_bf16_bf16_i64_e8_k256_n512_t blocks in (%c8, {{.*}} args(%{{.*}} : memref<?x256xbf16>, %{{.*}} : memref<8x512x256xbf16>, %{{.*}} : memref<9xi64>, %{{.*}} : memref<?x512xbf16>)
// CHECK: } else {
// CHECK: gpu.launch_func async {{.*}} @moe_kernels::@grouped_matmul_bf16_bf16_i64_e8_k256_n512_t blocks in (%c8, {{.*}} args(%{{.*}} : memref<?x256xbf16>, %{{.*}} : memref<8x512x256xbf16>, %{{.*}} : memref<9xi64>, %{{.*}} : memref<?x512xbf16>)
//
// The tile kernel: B n-major in shared memory ([stage][n][k], as the rows
// are), two cp.async of 8 K values a thread and step, read by the
// non-transposing ldmatrix.
// CHECK-LABEL: gpu.func @grouped_matmul_bf16_bf16_i64_e8_k256_n512_t(
// CHECK-SAME: %[[TW:[^:]*]]: memref<8x512x256xbf16>
// CHECK-SAME: workgroup(%[[SA:[^:]*]] : memref<2x64x40xbf16, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %[[SB:[^:]*]] : memref<2x64x40xbf16, #gpu.address_space<workgroup>> {llvm.align = 16 : i64})
// CHECK-SAME: moe.column_tiles = 8 : i64
// CHECK: nvgpu.device_async_copy %[[TW]][%{{.*}}, %{{.*}}, %{{.*}}], %[[SB]][%c0, %{{.*}}, %{{.*}}], 8
// CHECK: nvgpu.device_async_copy %[[TW]]
// CHECK: nvgpu.device_async_create_group
// CHECK: scf.for
// CHECK: nvgpu.ldmatrix %[[SB]]{{.*}} {numTiles = 4 : i32, transpose = false}
//
// The decode kernel: per n tile a lane loads 16 consecutive K values of its
// column (two 16-byte loads from [g, column, k]), which feed the mma as
// they are, in the order its rows' A operands take them.
// CHECK-LABEL: gpu.func @grouped_matmul_decode_bf16_bf16_i64_e8_k256_n512_t(
// CHECK-SAME: %[[W:[^:]*]]: memref<8x512x256xbf16>
// CHECK-SAME: moe.column_tiles = 8 : i64
// CHECK: scf.for %{{.*}} = %{{.*}} to %c256 step %c256 iter_args(
// CHECK-COUNT-16: vector.load %[[W]][%{{.*}}, %{{.*}}, %{{.*}}] {alignment = 16 : i64} : memref<8x512x256xbf16>, vector<8xbf16>
// CHECK-NOT: arith.ori
// CHECK: nvvm.mma.sync

// TILE-LABEL: func.func @plain(
// TILE-NOT: scf.if
// TILE: @moe_kernels::@grouped_matmul_bf16_bf16_i64_e8_k256_n512_t blocks

func.func @plain(%x: tensor<?x256xbf16>, %w: tensor<8x512x256xbf16>, %off: tensor<9xi64>) -> tensor<?x512xbf16> {
  %y = moe.grouped_matmul %x, %w offsets(%off) {transpose_rhs} : (tensor<?x256xbf16>, tensor<8x512x256xbf16>, tensor<9xi64>) -> tensor<?x512xbf16>
  return %y : tensor<?x512xbf16>
}

// -----

// K = 72: the decode kernel's loads are 8 values (16 bytes) and a lane past
// K reads the last 8 and zeros them; the tile kernel's copies past K and
// past N = 200 copy zero bytes. The bias is added as for [K, N] weights.
// CHECK-LABEL: gpu.func @grouped_matmul_decode_f16_f16_i32_e4_k72_n200_bias_f32_t(
// CHECK-SAME: %[[W:[^:]*]]: memref<4x200x72xf16>
// CHECK: scf.for %{{.*}} = %{{.*}} to %c72 step %c128 iter_args(
// CHECK: %[[IN:.*]] = arith.cmpi ult, %{{.*}}, %c72 : index
// CHECK: %[[AT:.*]] = arith.select %[[IN]], %{{.*}}, %c64 : index
// CHECK: %[[V:.*]] = vector.load %[[W]][%{{.*}}, %{{.*}}, %[[AT]]] {alignment = 16 : i64} : memref<4x200x72xf16>, vector<8xf16>
// CHECK: arith.select %[[IN]], %[[V]], %{{.*}} : vector<8xf16>
// TILE-LABEL: gpu.func @grouped_matmul_f16_f16_i32_e4_k72_n200_bias_f32_t(
// TILE-SAME: %[[W:[^:]*]]: memref<4x200x72xf16>
// TILE-SAME: moe.column_tiles = 4 : i64
// TILE: %[[INSIDE:.*]] = arith.cmpi ult, %{{.*}}, %c200 : index
// TILE: %[[KIN:.*]] = arith.cmpi ult, %{{.*}}, %c72 : index
// TILE: %[[VALID:.*]] = arith.andi %[[INSIDE]], %[[KIN]] : i1
// TILE: %[[BYTES:.*]] = arith.select %[[VALID]], %c8, %c0 : index
// TILE: nvgpu.device_async_copy %[[W]][{{.*}}], %{{.*}}, 8, %[[BYTES]]
func.func @f16_bias_k72(%x: tensor<?x72xf16>, %w: tensor<4x200x72xf16>, %b: tensor<4x200xf32>, %off: tensor<5xi32>) -> tensor<?x200xf16> {
  %y = moe.grouped_matmul %x, %w offsets(%off) bias(%b) {transpose_rhs} : (tensor<?x72xf16>, tensor<4x200x72xf16>, tensor<5xi32>, tensor<4x200xf32>) -> tensor<?x200xf16>
  return %y : tensor<?x200xf16>
}

// -----

// A SwiGLU over separate gate and up weights, both [E, N, K], fuses into
// one kernel of each kind: the decode kernel's lane quads 4-7 and the tile
// kernel's odd slices read the up weight (selected once), at the gate
// columns' positions.
// CHECK-LABEL: func.func @swiglu_separate(
// CHECK: @moe_kernels::@grouped_matmul_decode_bf16_bf16_i64_e8_k256_n256_silu_separate_t blocks in (%c8,
// CHECK: @moe_kernels::@grouped_matmul_bf16_bf16_i64_e8_k256_n256_silu_separate_t blocks in (%c8,
// CHECK-NOT: gpu.launch_func
// CHECK: return
// TILE-LABEL: gpu.func @grouped_matmul_bf16_bf16_i64_e8_k256_n256_silu_separate_t(
// TILE-SAME: %[[G:[^:]*]]: memref<8x256x256xbf16>, %[[U:[^:]*]]: memref<8x256x256xbf16>
// TILE: %[[SLICE:.*]] = arith.divui %{{.*}}, %c8 : index
// TILE: %[[ODD:.*]] = arith.remui %[[SLICE]], %c2 : index
// TILE: %[[UP:.*]] = arith.cmpi eq, %[[ODD]], %c1 : index
// TILE: %[[SRC:.*]] = arith.select %[[UP]], %[[U]], %[[G]] : memref<8x256x256xbf16>
// TILE: nvgpu.device_async_copy %[[SRC]]
func.func @swiglu_separate(%x: tensor<?x256xbf16>, %wg: tensor<8x256x256xbf16>, %wu: tensor<8x256x256xbf16>, %off: tensor<9xi64>) -> tensor<?x256xbf16> {
  %g = moe.grouped_matmul %x, %wg offsets(%off) {transpose_rhs} : (tensor<?x256xbf16>, tensor<8x256x256xbf16>, tensor<9xi64>) -> tensor<?x256xbf16>
  %u = moe.grouped_matmul %x, %wu offsets(%off) {transpose_rhs} : (tensor<?x256xbf16>, tensor<8x256x256xbf16>, tensor<9xi64>) -> tensor<?x256xbf16>
  %a = moe.activation %g, %u {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<separate>} : (tensor<?x256xbf16>, tensor<?x256xbf16>) -> tensor<?x256xbf16>
  return %a : tensor<?x256xbf16>
}

// -----

// Gate [E, N, K] and up [E, K, N] need two kernels: no fusion.
// CHECK-LABEL: func.func @mixed_layouts(
// CHECK: @moe_kernels::@grouped_matmul_decode_bf16_bf16_i64_e8_k256_n256_t blocks
// CHECK: @moe_kernels::@grouped_matmul_decode_bf16_bf16_i64_e8_k256_n256 blocks
// CHECK: @moe_kernels::@activation_
func.func @mixed_layouts(%x: tensor<?x256xbf16>, %wg: tensor<8x256x256xbf16>, %wu: tensor<8x256x256xbf16>, %off: tensor<9xi64>) -> tensor<?x256xbf16> {
  %g = moe.grouped_matmul %x, %wg offsets(%off) {transpose_rhs} : (tensor<?x256xbf16>, tensor<8x256x256xbf16>, tensor<9xi64>) -> tensor<?x256xbf16>
  %u = moe.grouped_matmul %x, %wu offsets(%off) : (tensor<?x256xbf16>, tensor<8x256x256xbf16>, tensor<9xi64>) -> tensor<?x256xbf16>
  %a = moe.activation %g, %u {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<separate>} : (tensor<?x256xbf16>, tensor<?x256xbf16>) -> tensor<?x256xbf16>
  return %a : tensor<?x256xbf16>
}

// -----

// Interleaved gate/up columns of one [E, 2I, K] weight: the mma's column
// pairs, as for [E, K, 2I] weights, so a block covers 64 weight columns
// (16 tiles of the 1024) and stores 32 outputs.
// TILE-LABEL: func.func @swiglu_interleaved(
// TILE: @moe_kernels::@grouped_matmul_bf16_bf16_i64_e8_k256_n1024_silu_interleaved_t blocks in (%c16,
// TILE-NOT: gpu.launch_func
// TILE-LABEL: gpu.func @grouped_matmul_bf16_bf16_i64_e8_k256_n1024_silu_interleaved_t(
// TILE-SAME: moe.column_tiles = 16 : i64
// TILE: %[[IN:.*]] = arith.cmpi ult, %[[COL:.*]], %c1024 : index
// TILE-NEXT: %[[SAFE:.*]] = arith.select %[[IN]], %[[COL]], %c0 : index
// TILE: nvgpu.device_async_copy %{{.*}}[%{{.*}}, %[[SAFE]], %{{.*}}]
func.func @swiglu_interleaved(%x: tensor<?x256xbf16>, %w: tensor<8x1024x256xbf16>, %off: tensor<9xi64>) -> tensor<?x512xbf16> {
  %h = moe.grouped_matmul %x, %w offsets(%off) {transpose_rhs} : (tensor<?x256xbf16>, tensor<8x1024x256xbf16>, tensor<9xi64>) -> tensor<?x1024xbf16>
  %a = moe.activation %h {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<interleaved>} : (tensor<?x1024xbf16>) -> tensor<?x512xbf16>
  return %a : tensor<?x512xbf16>
}

// -----

// Concatenated gate/up halves of one [E, 2I, K] weight: the tile kernel's
// odd slices read the up column 512 further, the decode kernel's lane quads
// 4-7 likewise.
// CHECK-LABEL: gpu.func @grouped_matmul_decode_bf16_bf16_i64_e8_k256_n1024_silu_concatenated_t(
// CHECK: %[[UP:.*]] = arith.cmpi uge, %{{.*}}, %c4 : index
// CHECK: arith.select %[[UP]], %c512, %c0 : index
// TILE-LABEL: gpu.func @grouped_matmul_bf16_bf16_i64_e8_k256_n1024_silu_concatenated_t(
// TILE-SAME: moe.column_tiles = 16 : i64
// TILE: %[[SLICE:.*]] = arith.divui %{{.*}}, %c8 : index
// TILE: %[[INSIDE:.*]] = arith.cmpi ult, %[[OUT:.*]], %c512 : index
// TILE: %[[ODD:.*]] = arith.remui %[[SLICE]], %c2 : index
// TILE: %[[SHIFT:.*]] = arith.muli %[[ODD]], %c512 : index
// TILE: %[[SRC:.*]] = arith.addi %[[OUT]], %[[SHIFT]] : index
// TILE: arith.select %[[INSIDE]], %[[SRC]], %c0 : index
func.func @swiglu_concatenated(%x: tensor<?x256xbf16>, %w: tensor<8x1024x256xbf16>, %off: tensor<9xi64>) -> tensor<?x512xbf16> {
  %h = moe.grouped_matmul %x, %w offsets(%off) {transpose_rhs} : (tensor<?x256xbf16>, tensor<8x1024x256xbf16>, tensor<9xi64>) -> tensor<?x1024xbf16>
  %a = moe.activation %h {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<concatenated>} : (tensor<?x1024xbf16>) -> tensor<?x512xbf16>
  return %a : tensor<?x512xbf16>
}

// -----

// combine=epilogue: a down matmul on [E, N, K] weights adds its rows into
// the tokens in the tile kernel's epilogue (fp32 atomics), as for [E, K, N]
// weights; without it the combine is its own kernel.
// COMB-LABEL: func.func @down_combine(
// COMB: @moe_kernels::@row_slots_i64_k2
// COMB: @moe_kernels::@grouped_matmul_bf16_f32_i64_e8_k64_n32_combine2_f32_t blocks in (%c1, {{.*}} args(%{{.*}} : memref<?x64xbf16>, %{{.*}} : memref<8x32x64xbf16>, %{{.*}} : memref<9xi64>, %{{.*}} : memref<?x32xf32>, %{{.*}} : memref<?xi32>, %{{.*}} : memref<?x2xf32>)
// COMB-NOT: @moe_kernels::@combine_
// COMB-LABEL: gpu.func @grouped_matmul_bf16_f32_i64_e8_k64_n32_combine2_f32_t(
// COMB: llvm.atomicrmw fadd
// CHECK-LABEL: func.func @down_combine(
// CHECK: @moe_kernels::@grouped_matmul_decode_bf16_bf16_i64_e8_k64_n32_t
// CHECK: @moe_kernels::@combine_
// On sm_90a the wgmma kernel, with the same epilogue.
// COMB90-LABEL: func.func @down_combine(
// COMB90: @moe_kernels::@grouped_matmul_wgmma_bf16_f32_i64_e8_k64_n32_combine2_f32_t blocks
// COMB90: gpu.func @grouped_matmul_wgmma_bf16_f32_i64_e8_k64_n32_combine2_f32_t(
// COMB90: nvvm.wgmma.mma_async {{.*}} B[<bf16>, <one>, <col>]
// COMB90: llvm.atomicrmw fadd
func.func @down_combine(%a: tensor<?x64xbf16>, %w: tensor<8x32x64xbf16>, %off: tensor<9xi64>, %map: tensor<?x2xi64>, %wt: tensor<?x2xf32>) -> tensor<?x32xbf16> {
  %d = moe.grouped_matmul %a, %w offsets(%off) {transpose_rhs} : (tensor<?x64xbf16>, tensor<8x32x64xbf16>, tensor<9xi64>) -> tensor<?x32xbf16>
  %y = moe.combine %d, %map, %wt : (tensor<?x32xbf16>, tensor<?x2xi64>, tensor<?x2xf32>) -> tensor<?x32xbf16>
  return %y : tensor<?x32xbf16>
}
