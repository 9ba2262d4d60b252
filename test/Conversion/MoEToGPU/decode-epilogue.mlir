// RUN: moe-opt %s --convert-moe-to-gpu=kernel=decode -split-input-file | FileCheck %s
// RUN: moe-opt %s --convert-moe-to-gpu -split-input-file | FileCheck %s --check-prefix=AUTO

// The decode kernel with the activation in its epilogue. Separate gate and
// up weights: lane quads 0-3 stream gate columns, quads 4-7 the up columns
// of the same outputs (the up weight, selected per lane), so a block owns
// 32 outputs (grid.x = 512 / 32); after the warps' sums meet in shared
// memory, lane L (L % 4 < 2) reads its own sums and those of lane L + 2
// (the up half) and stores act(gate) * up.
// CHECK-LABEL: func.func @separate(
// CHECK: gpu.launch_func async [%{{.*}}] @moe_kernels::@grouped_matmul_decode_bf16_bf16_i64_e8_k256_n512_silu_separate blocks in (%c16, %{{.*}}, %{{.*}}) threads in (%c128, %c1, %c1) args(%{{.*}} : memref<?x256xbf16>, %{{.*}} : memref<8x256x512xbf16>, %{{.*}} : memref<8x256x512xbf16>, %{{.*}} : memref<9xi64>, %{{.*}} : memref<?x512xbf16>)
// CHECK: gpu.func @grouped_matmul_decode_bf16_bf16_i64_e8_k256_n512_silu_separate(
// CHECK-SAME: %[[G:[^:]*]]: memref<8x256x512xbf16>, %[[U:[^:]*]]: memref<8x256x512xbf16>, %{{[^:]*}}: memref<9xi64>, %[[RES:[^:]*]]: memref<?x512xbf16>)
// CHECK-SAME: workgroup(%[[RED:.*]] : memref<4x32x36xf32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<132xindex, #gpu.address_space<workgroup>> {llvm.align = 16 : i64})
// CHECK-SAME: moe.column_tiles = 16 : i64
// CHECK: %[[BX:.*]] = gpu.block_id x
// CHECK: %[[OUT0:.*]] = arith.muli %[[BX]], %c32 : index
// CHECK: %[[UP:.*]] = arith.cmpi uge, %[[QUAD:.*]], %c4 : index
// CHECK: %[[QQ:.*]] = arith.remui %[[QUAD]], %c4 : index
// CHECK: %[[QC:.*]] = arith.muli %[[QQ]], %c8 : index
// CHECK: %[[COL:.*]] = arith.addi %[[OUT0]], %[[QC]] : index
// CHECK: %[[W:.*]] = arith.select %[[UP]], %[[U]], %[[G]] : memref<8x256x512xbf16>
// CHECK: vector.load %[[W]][%{{.*}}, %{{.*}}, %[[COL]]] {alignment = 16 : i64}
// Epilogue: job j -> gate lane 4 (j / 16) + (j / 8) % 2, partner lane + 2.
// CHECK: %[[GL:.*]] = arith.divui %[[J:.*]], %c8 : index
// CHECK: %[[GL2:.*]] = arith.divui %[[GL]], %c2 : index
// CHECK: %[[GL4:.*]] = arith.muli %[[GL2]], %c4 : index
// CHECK: %[[GLR:.*]] = arith.remui %[[GL]], %c2 : index
// CHECK: %[[LANE:.*]] = arith.addi %[[GL4]], %[[GLR]] : index
// CHECK: %[[PARTNER:.*]] = arith.addi %[[LANE]], %c2 : index
// CHECK-COUNT-4: vector.load %[[RED]][%c{{[0-3]}}, %[[LANE]], %{{.*}}]
// CHECK-COUNT-4: vector.load %[[RED]][%c{{[0-3]}}, %[[PARTNER]], %{{.*}}]
// CHECK: arith.mulf
// CHECK: memref.store %{{.*}}, %[[RES]][%{{.*}}, %{{.*}}] : memref<?x512xbf16>
// The tail rows hold act(0) * up(0) = 0 in 8-column chunks.
// CHECK: vector.store %{{.*}}, %[[RES]][%{{.*}}, %{{.*}}] {alignment = 16 : i64} : memref<?x512xbf16>, vector<8xbf16>
// CHECK-NOT: math.
// CHECK: gpu.return

// Without kernel=decode the host picks it up to 16 rows per expert.
// AUTO-LABEL: func.func @separate(
// AUTO: arith.cmpi ule, %{{.*}}, %c128 : index
// AUTO: gpu.launch_func {{.*}} @moe_kernels::@grouped_matmul_decode_bf16_bf16_i64_e8_k256_n512_silu_separate
// AUTO: } else {
// AUTO: gpu.launch_func {{.*}} @moe_kernels::@grouped_matmul_bf16_bf16_i64_e8_k256_n512_silu_separate
func.func @separate(%x: tensor<?x256xbf16>, %wg: tensor<8x256x512xbf16>, %wu: tensor<8x256x512xbf16>, %off: tensor<9xi64>) -> tensor<?x512xbf16> {
  %g = moe.grouped_matmul %x, %wg offsets(%off) : (tensor<?x256xbf16>, tensor<8x256x512xbf16>, tensor<9xi64>) -> tensor<?x512xbf16>
  %u = moe.grouped_matmul %x, %wu offsets(%off) : (tensor<?x256xbf16>, tensor<8x256x512xbf16>, tensor<9xi64>) -> tensor<?x512xbf16>
  %a = moe.activation %g, %u {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<separate>} : (tensor<?x512xbf16>, tensor<?x512xbf16>) -> tensor<?x512xbf16>
  return %a : tensor<?x512xbf16>
}

// -----

// Concatenated: the up quads read the same weight at column I + ...
// CHECK-LABEL: func.func @concatenated(
// CHECK: gpu.func @grouped_matmul_decode_bf16_bf16_i64_e8_k256_n1024_silu_concatenated_a1p702_b1_l7(
// CHECK-SAME: moe.column_tiles = 16 : i64
// CHECK: %[[UP:.*]] = arith.cmpi uge, %{{.*}}, %c4 : index
// CHECK: %[[OFFSET:.*]] = arith.select %[[UP]], %c512, %c0 : index
// CHECK: %[[COL:.*]] = arith.addi %{{.*}}, %[[OFFSET]] : index
// CHECK: vector.load %arg1[%{{.*}}, %{{.*}}, %[[COL]]] {alignment = 16 : i64}
func.func @concatenated(%x: tensor<?x256xbf16>, %w: tensor<8x256x1024xbf16>, %off: tensor<9xi64>) -> tensor<?x512xbf16> {
  %h = moe.grouped_matmul %x, %w offsets(%off) : (tensor<?x256xbf16>, tensor<8x256x1024xbf16>, tensor<9xi64>) -> tensor<?x1024xbf16>
  %a = moe.activation %h {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<concatenated>, alpha = 1.702 : f64, beta = 1.0 : f64, limit = 7.0 : f64} : (tensor<?x1024xbf16>) -> tensor<?x512xbf16>
  return %a : tensor<?x512xbf16>
}

// -----

// Interleaved: the usual 64-column slab (32 outputs); tiles T and T + 1 of
// a lane are gate and up of output (n0 + 8 p + T) / 2.
// CHECK-LABEL: func.func @interleaved(
// CHECK: gpu.launch_func async [%{{.*}}] @moe_kernels::@grouped_matmul_decode_bf16_bf16_i64_e8_k256_n1024_gelu_interleaved blocks in (%c16,
// CHECK: gpu.func @grouped_matmul_decode_bf16_bf16_i64_e8_k256_n1024_gelu_interleaved(
// CHECK-SAME: moe.column_tiles = 16 : i64
// CHECK: arith.muli %{{.*}}, %c64 : index
// The epilogue's first column comes back from shared memory.
// CHECK: %[[N0:.*]] = memref.load %{{.*}}[%c3] : memref<132xindex, #gpu.address_space<workgroup>>
// CHECK: %[[LANE:.*]] = arith.divui %[[J:.*]], %c4 : index
// CHECK: %[[T2:.*]] = arith.remui %[[J]], %c4 : index
// CHECK: %[[TILE:.*]] = arith.muli %[[T2]], %c2 : index
// CHECK: %[[NEXT:.*]] = arith.addi %[[TILE]], %c1 : index
// CHECK: %[[HALF:.*]] = arith.divui %[[N0]], %c2 : index
func.func @interleaved(%x: tensor<?x256xbf16>, %w: tensor<8x256x1024xbf16>, %off: tensor<9xi64>) -> tensor<?x512xbf16> {
  %h = moe.grouped_matmul %x, %w offsets(%off) : (tensor<?x256xbf16>, tensor<8x256x1024xbf16>, tensor<9xi64>) -> tensor<?x1024xbf16>
  %a = moe.activation %h {activation = #moe.activation<gelu>, gate_layout = #moe.gate_layout<interleaved>} : (tensor<?x1024xbf16>) -> tensor<?x512xbf16>
  return %a : tensor<?x512xbf16>
}

// -----

// A plain activation: the slab and the grid stay (x = ceil(200 / 64)), the
// activation applies to each sum; columns past N are masked.
// CHECK-LABEL: func.func @relu(
// CHECK: gpu.launch_func async [%{{.*}}] @moe_kernels::@grouped_matmul_decode_f16_f16_i32_e4_k64_n200_relu blocks in (%c4,
// CHECK: gpu.func @grouped_matmul_decode_f16_f16_i32_e4_k64_n200_relu(
// CHECK-NOT: moe.column_tiles
// CHECK: arith.cmpi ult, %{{.*}}, %c200 : index
// CHECK: arith.maximumf
func.func @relu(%x: tensor<?x64xf16>, %w: tensor<4x64x200xf16>, %off: tensor<5xi32>) -> tensor<?x200xf16> {
  %h = moe.grouped_matmul %x, %w offsets(%off) : (tensor<?x64xf16>, tensor<4x64x200xf16>, tensor<5xi32>) -> tensor<?x200xf16>
  %a = moe.activation %h {activation = #moe.activation<relu>} : (tensor<?x200xf16>) -> tensor<?x200xf16>
  return %a : tensor<?x200xf16>
}
