// The 64x64 tile (4 warps, two stages); grouped-matmul-128x128.mlir has
// the 128x128 one that mma-tile=auto takes for N >= 128.
// RUN: moe-opt %s --convert-moe-to-gpu=mma-tile=64x64 -split-input-file | FileCheck %s
// RUN: moe-opt %s --convert-moe-to-gpu="chip=sm_90 mma-tile=64x64" -split-input-file | FileCheck %s

// Mixtral-like expert projection (E = 8), rows grouped by expert; the host
// needs only the row count to size the grid (no read of the offsets).
// CHECK: module attributes {gpu.container_module}
// CHECK-LABEL: func.func @up(
// CHECK-SAME: %[[X:.*]]: tensor<?x256xbf16>, %[[W:.*]]: tensor<8x256x512xbf16>, %[[OFF:.*]]: tensor<9xi64>)
// CHECK-DAG: %[[C8:.*]] = arith.constant 8 : index
// CHECK-DAG: %[[C64:.*]] = arith.constant 64 : index
// CHECK-DAG: %[[C128:.*]] = arith.constant 128 : index
// CHECK-DAG: %[[SLACK:.*]] = arith.constant 567 : index
// CHECK: %[[XB:.*]] = bufferization.to_buffer %[[X]] read_only
// CHECK: %[[WB:.*]] = bufferization.to_buffer %[[W]] read_only
// CHECK: %[[OB:.*]] = bufferization.to_buffer %[[OFF]] read_only
// CHECK: %[[ROWS:.*]] = memref.dim %[[XB]]
// CHECK: %[[T0:.*]] = gpu.wait async
// CHECK: %[[OUT:.*]], %[[T1:.*]] = gpu.alloc async [%[[T0]]] (%[[ROWS]]) : memref<?x512xbf16>
// CHECK: %[[SUM:.*]] = arith.addi %[[ROWS]], %[[SLACK]]
// CHECK: %[[GY:.*]] = arith.divui %[[SUM]], %[[C64]]
// CHECK: %[[T2:.*]] = gpu.launch_func async [%[[T1]]] @moe_kernels::@grouped_matmul_bf16_bf16_i64_e8_k256_n512 blocks in (%[[C8]], %[[GY]], %{{.*}}) threads in (%[[C128]], %{{.*}}, %{{.*}}) args(%[[XB]] : memref<?x256xbf16>, %[[WB]] : memref<8x256x512xbf16>, %[[OB]] : memref<9xi64>, %[[OUT]] : memref<?x512xbf16>)
// CHECK: gpu.wait [%[[T2]]]
// CHECK: %[[Y:.*]] = bufferization.to_tensor %[[OUT]] restrict writable
// CHECK: return %[[Y]]

// The second use with the same signature shares the kernel.
// CHECK-LABEL: func.func @again(
// CHECK: gpu.launch_func async [%{{.*}}] @moe_kernels::@grouped_matmul_bf16_bf16_i64_e8_k256_n512

// CHECK: gpu.module @moe_kernels
// CHECK: gpu.func @grouped_matmul_bf16_bf16_i64_e8_k256_n512(%[[L:.*]]: memref<?x256xbf16>, %[[R:.*]]: memref<8x256x512xbf16>, %[[O:.*]]: memref<9xi64>, %[[RES:.*]]: memref<?x512xbf16>)
// CHECK-SAME: workgroup(%[[SA:.*]] : memref<2x64x40xbf16, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %[[SB:.*]] : memref<2x32x72xbf16, #gpu.address_space<workgroup>> {llvm.align = 16 : i64})
// CHECK-SAME: kernel attributes {known_block_size = array<i32: 128, 1, 1>}
// Device-side tile -> group search over the E groups and the tail.
// CHECK: %[[BY:.*]] = gpu.block_id y
// CHECK: %[[FOUND:.*]]:4 = scf.for %{{.*}} = %{{.*}} to %{{.*}} step
// CHECK: memref.load %[[O]]
// CHECK: memref.load %[[O]]
// CHECK: arith.cmpi uge, %[[BY]]
// CHECK: scf.if
// Two-stage ring: stage 0 is loaded first; each k step waits for its own
// copies, meets the other threads at the one barrier (their copies landed,
// and the stage the step before read is free), refills that stage with the
// next step, then runs its mma while the copies fly.
// CHECK-COUNT-2: nvgpu.device_async_copy %[[L]]{{.*}}, %[[SA]][%c0, {{.*}}, 8, %{{.*}} {bypassL1}
// CHECK-COUNT-2: nvgpu.device_async_copy %[[R]]{{.*}}, %[[SB]][%c0, {{.*}}, 8, %{{.*}} {bypassL1}
// CHECK: %[[FIRST:.*]] = nvgpu.device_async_create_group
// CHECK: %[[ACC:.*]]:8 = scf.for %[[K0:[^ ]*]] = {{.*}} -> (!llvm.struct<(f32, f32, f32, f32)>, {{.*}}
// CHECK: %[[STEP:.*]] = arith.divui %[[K0]], %c32
// CHECK: %[[STAGE:.*]] = arith.remui %[[STEP]], %c2
// CHECK: nvgpu.device_async_wait %[[FIRST]] {numGroups = 0 : i32}
// CHECK-NEXT: gpu.barrier
// CHECK: %[[NEXT:.*]] = arith.addi %[[STEP]], %c1
// CHECK: %[[REFILL:.*]] = arith.remui %[[NEXT]], %c2
// CHECK-COUNT-2: nvgpu.device_async_copy %[[L]]{{.*}}, %[[SA]][%[[REFILL]], {{.*}} {bypassL1}
// CHECK-COUNT-2: nvgpu.device_async_copy %[[R]]{{.*}}, %[[SB]][%[[REFILL]], {{.*}} {bypassL1}
// CHECK: nvgpu.device_async_create_group
// CHECK-COUNT-2: nvgpu.ldmatrix %[[SA]][%[[STAGE]], {{.*}} {numTiles = 4 : i32, transpose = false}
// CHECK-COUNT-2: nvgpu.ldmatrix %[[SB]][%[[STAGE]], {{.*}} {numTiles = 4 : i32, transpose = true}
// CHECK: vector.bitcast %{{.*}} : vector<2xbf16> to vector<1xi32>
// CHECK-COUNT-8: nvvm.mma.sync {{.*}}multiplicandAPtxType = #nvvm.mma_type<bf16>, multiplicandBPtxType = #nvvm.mma_type<bf16>, shape = #nvvm.shape<m = 16, n = 8, k = 16>} : (i32, i32, f32) -> !llvm.struct<(f32, f32, f32, f32)>
// CHECK: nvgpu.ldmatrix %[[SA]]
// CHECK-COUNT-8: nvvm.mma.sync
// CHECK-NOT: gpu.barrier
// CHECK: scf.yield
// CHECK: nvgpu.device_async_wait %[[FIRST]] {numGroups = 0 : i32}
// Epilogue: fp32 accumulators to bf16, pairs of columns, rows of the group only.
// CHECK: scf.if
// CHECK: llvm.extractvalue %[[ACC]]#0[0]
// CHECK: arith.truncf %{{.*}} : f32 to bf16
// CHECK: vector.store %{{.*}}, %[[RES]][{{.*}}] : memref<?x512xbf16>, vector<2xbf16>
// CHECK: gpu.return
func.func @up(%x: tensor<?x256xbf16>, %w: tensor<8x256x512xbf16>, %off: tensor<9xi64>) -> tensor<?x512xbf16> {
  %y = moe.grouped_matmul %x, %w offsets(%off) : (tensor<?x256xbf16>, tensor<8x256x512xbf16>, tensor<9xi64>) -> tensor<?x512xbf16>
  return %y : tensor<?x512xbf16>
}

func.func @again(%x: tensor<?x256xbf16>, %w: tensor<8x256x512xbf16>, %off: tensor<9xi64>) -> tensor<?x512xbf16> {
  %y = moe.grouped_matmul %x, %w offsets(%off) : (tensor<?x256xbf16>, tensor<8x256x512xbf16>, tensor<9xi64>) -> tensor<?x512xbf16>
  return %y : tensor<?x512xbf16>
}

// -----

// f16 operands go to the mma as vector<2xf16>; static row counts and i32
// offsets work.
// CHECK-LABEL: func.func @static_rows(
// CHECK: %[[SX:.*]] = bufferization.to_buffer %{{.*}} read_only : tensor<100x64xf16> to memref<100x64xf16>
// CHECK: %[[CX:.*]] = memref.cast %[[SX]] : memref<100x64xf16> to memref<?x64xf16>
// CHECK: gpu.launch_func async {{.*}} @moe_kernels::@grouped_matmul_f16_f16_i32_e4_k64_n32 {{.*}} args(%[[CX]] : memref<?x64xf16>
// CHECK: %[[T:.*]] = bufferization.to_tensor
// CHECK: tensor.cast %[[T]] : tensor<?x32xf16> to tensor<100x32xf16>
// CHECK: gpu.func @grouped_matmul_f16_f16_i32_e4_k64_n32
// CHECK: arith.index_cast %{{.*}} : i32 to index
// CHECK: nvvm.mma.sync {{.*}} : (vector<2xf16>, vector<2xf16>, f32) -> !llvm.struct<(f32, f32, f32, f32)>
// CHECK: arith.truncf %{{.*}} : f32 to f16
// CHECK: vector.store %{{.*}} : memref<?x32xf16>, vector<2xf16>
func.func @static_rows(%x: tensor<100x64xf16>, %w: tensor<4x64x32xf16>, %off: tensor<5xi32>) -> tensor<100x32xf16> {
  %y = moe.grouped_matmul %x, %w offsets(%off) : (tensor<100x64xf16>, tensor<4x64x32xf16>, tensor<5xi32>) -> tensor<100x32xf16>
  return %y : tensor<100x32xf16>
}

// -----

// A per-group bias [E, N] is added in fp32 in the epilogue, except in the
// tail (group E), whose rows stay zero.
// CHECK-LABEL: func.func @bias(
// CHECK: %[[BB:.*]] = bufferization.to_buffer %{{.*}} read_only : tensor<4x32xf16> to memref<4x32xf16>
// CHECK: gpu.launch_func async {{.*}} @moe_kernels::@grouped_matmul_bf16_bf16_i64_e4_k64_n32_bias_f16 {{.*}}, %[[BB]] : memref<4x32xf16>)
// CHECK: gpu.func @grouped_matmul_bf16_bf16_i64_e4_k64_n32_bias_f16({{.*}}, %[[B:.*]]: memref<4x32xf16>)
// CHECK: %[[GROUP:.*]]:4 = scf.for
// CHECK: %[[ON:.*]] = arith.cmpi ult, %[[GROUP]]#1, %c4
// CHECK: %[[BG:.*]] = arith.minui %[[GROUP]]#1, %c3
// CHECK: %[[BV:.*]] = memref.load %[[B]][%[[BG]], %{{.*}}] : memref<4x32xf16>
// CHECK: %[[BF:.*]] = arith.extf %[[BV]] : f16 to f32
// CHECK: %[[SUM:.*]] = arith.addf %{{.*}}, %[[BF]] : f32
// CHECK: arith.select %[[ON]], %[[SUM]], %{{.*}} : f32
// CHECK: arith.truncf %{{.*}} : f32 to bf16
func.func @bias(%x: tensor<?x64xbf16>, %w: tensor<4x64x32xbf16>, %off: tensor<5xi64>, %b: tensor<4x32xf16>) -> tensor<?x32xbf16> {
  %y = moe.grouped_matmul %x, %w offsets(%off) bias(%b) : (tensor<?x64xbf16>, tensor<4x64x32xbf16>, tensor<5xi64>, tensor<4x32xf16>) -> tensor<?x32xbf16>
  return %y : tensor<?x32xbf16>
}
