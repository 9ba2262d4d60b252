// The mma.sync kernel's 128x128 tile (sm_80, sm_90): 8 warps of 64x32 on a
// 4-stage cp.async ring in dynamic shared memory, what mma-tile=auto takes
// for 16-bit weights with at least 128 columns; narrower weights keep the
// 64x64 tile (grouped-matmul.mlir).
// RUN: moe-opt %s --convert-moe-to-gpu="kernel=tile" -split-input-file | FileCheck %s
// RUN: moe-opt %s --convert-moe-to-gpu="chip=sm_90 kernel=tile" -split-input-file | FileCheck %s
// RUN: moe-opt %s --convert-moe-to-gpu="kernel=tile mma-tile=64x64" -split-input-file | FileCheck %s --check-prefix=SMALL
// RUN: not moe-opt %s --convert-moe-to-gpu="mma-tile=128x256" -split-input-file 2>&1 | FileCheck %s --check-prefix=BAD
// RUN: not moe-opt %s --moe-gpu-entry-points="mma-tile=128x256" -split-input-file 2>&1 | FileCheck %s --check-prefix=BADENTRY
// RUN: not moe-opt %s --moe-gpu-pipeline="mma-tile=128x256" -split-input-file 2>&1 | FileCheck %s --check-prefix=BAD

// BAD: convert-moe-to-gpu: mma-tile must be auto or 64x64, not '128x256'
// BADENTRY: moe-gpu-entry-points: mma-tile must be auto or 64x64, not '128x256'

// The launch: 4 column tiles, 128-row tiles ((E + 1) * 127 = 1143 rows of
// slack), 256 threads and the stages' bytes of dynamic shared memory.
// CHECK-LABEL: func.func @up(
// CHECK-DAG: %[[SLACK:.*]] = arith.constant 1143 : index
// CHECK-DAG: %[[C128:.*]] = arith.constant 128 : index
// CHECK: %[[SUM:.*]] = arith.addi %{{.*}}, %[[SLACK]]
// CHECK: %[[GY:.*]] = arith.divui %[[SUM]], %[[C128]]
// CHECK: gpu.launch_func async {{.*}} @moe_kernels::@grouped_matmul_bf16_bf16_i64_e8_k256_n512_128x128 blocks in (%c4, %[[GY]], %c1) threads in (%c256, %c1, %c1) dynamic_shared_memory_size %c75776_i32
// SMALL-LABEL: func.func @up(
// SMALL: gpu.launch_func async {{.*}} @moe_kernels::@grouped_matmul_bf16_bf16_i64_e8_k256_n512 blocks in (%c8, %{{.*}}, %c1) threads in (%c128, %c1, %c1) args

// CHECK: gpu.func @grouped_matmul_bf16_bf16_i64_e8_k256_n512_128x128(%[[L:[^:]*]]: memref<?x256xbf16>, %[[R:[^:]*]]: memref<8x256x512xbf16>
// CHECK-SAME: kernel attributes {known_block_size = array<i32: 256, 1, 1>, moe.column_tiles = 4 : i64, moe.dynamic_shared_memory = 75776 : i64, moe.row_tile = 128 : i64}
// A: 4 stages of 128 rows x 32 K (+ 8 of padding); B: 4 of 32 K x 128 (+ 8).
// CHECK: %[[SMEM:.*]] = gpu.dynamic_shared_memory
// CHECK: %[[SA:.*]] = memref.view %[[SMEM]][%c0][] {{.*}} to memref<4x128x40xbf16, #gpu.address_space<workgroup>>
// CHECK: %[[SB:.*]] = memref.view %[[SMEM]][%c40960][] {{.*}} to memref<4x32x136xbf16, #gpu.address_space<workgroup>>
// Warps 2 x 4: warp / 4 picks the 64 rows, warp % 4 the 32 columns.
// CHECK: %[[WARP:.*]] = arith.divui %{{.*}}, %c32
// CHECK: arith.divui %[[WARP]], %c4
// CHECK: arith.remui %[[WARP]], %c4
// The prologue: steps 0-2 into stages 0-2, a cp.async group each.
// CHECK-COUNT-2: nvgpu.device_async_copy %[[L]]{{.*}}, %[[SA]][%c0,
// CHECK-COUNT-2: nvgpu.device_async_copy %[[R]]{{.*}}, %[[SB]][%c0,
// CHECK: %[[FIRST:.*]] = nvgpu.device_async_create_group
// CHECK-COUNT-2: nvgpu.device_async_copy %[[L]]{{.*}}, %[[SA]][%c1,
// CHECK-COUNT-2: nvgpu.device_async_copy %[[R]]{{.*}}, %[[SB]][%c1,
// CHECK: nvgpu.device_async_create_group
// CHECK-COUNT-2: nvgpu.device_async_copy %[[L]]{{.*}}, %[[SA]][%c2,
// CHECK-COUNT-2: nvgpu.device_async_copy %[[R]]{{.*}}, %[[SB]][%c2,
// CHECK: nvgpu.device_async_create_group
// Each step: its copies waited for (two newer groups stay in flight), one
// barrier, the refill of stage (i + 3) % 4, then 4 A and 2 B fragments and
// 16 mma per 16-deep slice.
// CHECK: %[[ACC:.*]]:16 = scf.for %[[K0:[^ ]*]] =
// CHECK: %[[STEP:.*]] = arith.divui %[[K0]], %c32
// CHECK: %[[STAGE:.*]] = arith.remui %[[STEP]], %c4
// CHECK: nvgpu.device_async_wait %[[FIRST]] {numGroups = 2 : i32}
// CHECK-NEXT: gpu.barrier
// CHECK: %[[AHEAD:.*]] = arith.addi %[[STEP]], %c3
// CHECK: %[[REFILL:.*]] = arith.remui %[[AHEAD]], %c4
// CHECK-COUNT-2: nvgpu.device_async_copy %[[L]]{{.*}}, %[[SA]][%[[REFILL]],
// CHECK-COUNT-2: nvgpu.device_async_copy %[[R]]{{.*}}, %[[SB]][%[[REFILL]],
// CHECK: nvgpu.device_async_create_group
// CHECK-COUNT-4: nvgpu.ldmatrix %[[SA]][%[[STAGE]], {{.*}} transpose = false
// CHECK-COUNT-2: nvgpu.ldmatrix %[[SB]][%[[STAGE]], {{.*}} transpose = true
// CHECK-COUNT-16: nvvm.mma.sync
// CHECK-COUNT-4: nvgpu.ldmatrix %[[SA]][%[[STAGE]]
// CHECK-COUNT-2: nvgpu.ldmatrix %[[SB]][%[[STAGE]]
// CHECK-COUNT-16: nvvm.mma.sync
// CHECK-NOT: gpu.barrier
// CHECK: scf.yield
// CHECK: nvgpu.device_async_wait %[[FIRST]] {numGroups = 0 : i32}
// CHECK: vector.store %{{.*}} : memref<?x512xbf16>, vector<2xbf16>
// CHECK: gpu.return
// SMALL: gpu.func @grouped_matmul_bf16_bf16_i64_e8_k256_n512(
// SMALL-SAME: workgroup(%{{.*}} : memref<2x64x40xbf16, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<2x32x72xbf16, #gpu.address_space<workgroup>> {llvm.align = 16 : i64})
// SMALL-SAME: kernel attributes {known_block_size = array<i32: 128, 1, 1>}
func.func @up(%x: tensor<?x256xbf16>, %w: tensor<8x256x512xbf16>, %off: tensor<9xi64>) -> tensor<?x512xbf16> {
  %y = moe.grouped_matmul %x, %w offsets(%off) : (tensor<?x256xbf16>, tensor<8x256x512xbf16>, tensor<9xi64>) -> tensor<?x512xbf16>
  return %y : tensor<?x512xbf16>
}

// -----

// [E, N, K] weights: B n-major, 4 stages of 128 columns x 32 K (+ 8).
// CHECK-LABEL: func.func @transposed(
// CHECK: gpu.func @grouped_matmul_bf16_bf16_i64_e4_k64_n256_t_128x128(
// CHECK-SAME: moe.column_tiles = 2 : i64, moe.dynamic_shared_memory = 81920 : i64, moe.row_tile = 128 : i64
// CHECK: memref.view %{{.*}}[%c40960][] {{.*}} to memref<4x128x40xbf16, #gpu.address_space<workgroup>>
// CHECK: nvgpu.ldmatrix {{.*}} transpose = false
func.func @transposed(%x: tensor<?x64xbf16>, %w: tensor<4x256x64xbf16>, %off: tensor<5xi64>) -> tensor<?x256xbf16> {
  %y = moe.grouped_matmul %x, %w offsets(%off) {transpose_rhs} : (tensor<?x64xbf16>, tensor<4x256x64xbf16>, tensor<5xi64>) -> tensor<?x256xbf16>
  return %y : tensor<?x256xbf16>
}

// -----

// Fewer than 128 columns: the 64x64 tile, static shared memory.
// CHECK-LABEL: func.func @narrow(
// CHECK: gpu.launch_func async {{.*}} @moe_kernels::@grouped_matmul_bf16_bf16_i64_e4_k64_n96 blocks in (%c2, %{{.*}}, %c1) threads in (%c128, %c1, %c1) args
// CHECK: gpu.func @grouped_matmul_bf16_bf16_i64_e4_k64_n96(
// CHECK-SAME: workgroup(
// CHECK-SAME: kernel attributes {known_block_size = array<i32: 128, 1, 1>}
func.func @narrow(%x: tensor<?x64xbf16>, %w: tensor<4x64x96xbf16>, %off: tensor<5xi64>) -> tensor<?x96xbf16> {
  %y = moe.grouped_matmul %x, %w offsets(%off) : (tensor<?x64xbf16>, tensor<4x64x96xbf16>, tensor<5xi64>) -> tensor<?x96xbf16>
  return %y : tensor<?x96xbf16>
}
