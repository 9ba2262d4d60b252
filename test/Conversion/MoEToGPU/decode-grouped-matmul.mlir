// RUN: moe-opt %s --convert-moe-to-gpu -split-input-file | FileCheck %s
// RUN: moe-opt %s --convert-moe-to-gpu=kernel=decode -split-input-file | FileCheck %s --check-prefix=DECODE
// RUN: moe-opt %s --convert-moe-to-gpu=kernel=tile -split-input-file | FileCheck %s --check-prefix=TILE
// RUN: moe-opt %s --convert-moe-to-gpu="kernel=decode decode-blocks-per-sm=2" -split-input-file | FileCheck %s --check-prefix=BLOCKS2

// kernel=auto: the host knows only the row count and picks at run time the
// weight-streaming decode kernel for rows <= 16 * E (here 128 * 16), on
// (N / 64, min(rows, E + 1)) blocks of 128 threads, else the 64x64 tile
// kernel; each branch waits for its own launch.
// CHECK-LABEL: func.func @down(
// CHECK: %[[ROWS:.*]] = memref.dim %{{.*}}, %c0 : memref<?x768xbf16>
// CHECK: %[[OUT:.*]], %[[TOK:.*]] = gpu.alloc async
// CHECK: %[[SMALL:.*]] = arith.cmpi ule, %[[ROWS]], %c2048 : index
// CHECK: scf.if %[[SMALL]] {
// CHECK:   %[[MIN:.*]] = arith.minui %[[ROWS]], %c129 : index
// CHECK:   %[[GY:.*]] = arith.maxui %[[MIN]], %c1 : index
// CHECK:   %[[ZR:.*]] = arith.addi %[[ROWS]], %c4127 : index
// CHECK:   %[[ZQ:.*]] = arith.divui %[[ZR]], %c4128 : index
// CHECK:   %[[GZ:.*]] = arith.maxui %[[ZQ]], %c1 : index
// A grid of no more blocks than the GPU has SMs (the runtime's
// moe_gpu_multiprocessor_count) takes the wide form: 256 threads a block.
// CHECK:   %[[XY:.*]] = arith.muli %c32, %[[GY]] : index
// CHECK:   %[[BLOCKS:.*]] = arith.muli %[[XY]], %[[GZ]] : index
// CHECK:   %[[SMS:.*]] = func.call @moe_gpu_multiprocessor_count() : () -> i32
// CHECK:   %[[SMSX:.*]] = arith.index_castui %[[SMS]] : i32 to index
// CHECK:   %[[FEW:.*]] = arith.cmpi ule, %[[BLOCKS]], %[[SMSX]] : index
// CHECK:   scf.if %[[FEW]] {
// CHECK:     %[[W:.*]] = gpu.launch_func async [%[[TOK]]] @moe_kernels::@grouped_matmul_decode_bf16_bf16_i64_e128_k768_n2048_w8 blocks in (%c32, %[[GY]], %[[GZ]]) threads in (%c256, %c1, %c1) args({{.*}}, %[[OUT]] : memref<?x2048xbf16>)
// CHECK:     gpu.wait [%[[W]]]
// CHECK:   } else {
// CHECK:     %[[D:.*]] = gpu.launch_func async [%[[TOK]]] @moe_kernels::@grouped_matmul_decode_bf16_bf16_i64_e128_k768_n2048 blocks in (%c32, %[[GY]], %[[GZ]]) threads in (%c128, %c1, %c1) args({{.*}}, %[[OUT]] : memref<?x2048xbf16>)
// CHECK:     gpu.wait [%[[D]]]
// CHECK:   }
// CHECK: } else {
// CHECK:   %[[T:.*]] = gpu.launch_func async [%[[TOK]]] @moe_kernels::@grouped_matmul_bf16_bf16_i64_e128_k768_n2048_128x128 {{.*}} threads in (%c256, %c1, %c1) dynamic_shared_memory_size %c75776_i32
// CHECK:   gpu.wait [%[[T]]]
// CHECK: }
// CHECK: bufferization.to_tensor %[[OUT]]

// The kernel: every warp finds the block's group (the blockIdx.y-th
// non-empty row range) with ballots over 32 ranges at a time, 129 ranges in
// 5 unrolled chunks.
// CHECK-LABEL: gpu.func @grouped_matmul_decode_bf16_bf16_i64_e128_k768_n2048(
// CHECK-SAME: workgroup(%[[RED:.*]] : memref<4x32x36xf32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %[[SCALARS:.*]] : memref<132xindex, #gpu.address_space<workgroup>> {llvm.align = 16 : i64})
// CHECK-SAME: known_block_size = array<i32: 128, 1, 1>
// CHECK-SAME: moe.wide_form = @grouped_matmul_decode_bf16_bf16_i64_e128_k768_n2048_w8
// CHECK-COUNT-10: nvvm.vote.sync ballot
// CHECK-NOT: nvvm.vote.sync
// Blocks without a range exit; the tail range E writes zeros.
// CHECK: scf.if
// CHECK: scf.if %{{.*}} {
// Passes of 32 rows; in each, every warp walks K in 64-row steps, 4 warps
// apart (split-K), issuing 16 16-byte weight loads and 8 lhs loads per lane
// before 4 k steps x 2 x 8 mma.
// The passes' stride (32 gridDim.z rows) waits in shared memory, written
// by thread 0: in a register, live across the K loop, it cost an SM one of
// its three blocks (gpu-decode-ptxas.mlir).
// CHECK: %[[GZ:.*]] = gpu.grid_dim z
// CHECK: %[[STRIDE:.*]] = arith.muli %[[GZ]], %c32 : index
// CHECK: memref.store %[[STRIDE]], %[[SCALARS]][%c0]
// So do the group and the first column; each thread's id waits in slot
// tid + 4 (see the epilogue).
// CHECK: %[[TIDSLOT:.*]] = arith.addi %thread_id_x, %c4 : index
// CHECK: memref.store %thread_id_x, %[[SCALARS]][%[[TIDSLOT]]]
// CHECK: scf.while (%[[M0:.*]] = %{{.*}}) : (index) -> index {
// CHECK: } do {
// CHECK: scf.for %{{.*}} = %{{.*}} to %c768 step %c256 iter_args(
// CHECK-COUNT-16: vector.load %arg1[{{.*}}] {alignment = 16 : i64} : memref<128x768x2048xbf16>, vector<8xbf16>
// CHECK-COUNT-8: vector.load %arg0[{{.*}}] {alignment = 16 : i64} : memref<?x768xbf16>, vector<8xbf16>
// CHECK-NOT: vector.load
// CHECK: vector.shuffle
// CHECK-COUNT-64: nvvm.mma.sync {{.*}} shape = #nvvm.shape<m = 16, n = 8, k = 16>
// CHECK-NOT: nvvm.mma.sync
// CHECK: scf.yield
// Then per m tile: accumulators to shared memory, a barrier, the sum over
// the 4 warps for each of a thread's 2 (lane, n tile) pairs, 4 masked
// stores each, a barrier.
// The epilogue takes its thread and first column (and with a bias, its
// group) from shared memory: derived from registers, its address math was hoisted out of the
// passes into registers live across the K loop.
// CHECK-COUNT-8: vector.store %{{.*}}, %[[RED]]
// CHECK: gpu.barrier
// CHECK: %[[MYSLOT:.*]] = arith.addi %thread_id_x, %c4 : index
// CHECK: memref.load %[[SCALARS]][%[[MYSLOT]]]
// CHECK: memref.load %[[SCALARS]][%c3]
// CHECK-COUNT-4: vector.load %[[RED]]
// CHECK: memref.store
// CHECK-COUNT-4: vector.load %[[RED]]
// CHECK: memref.store
// CHECK: gpu.barrier
// CHECK-COUNT-8: vector.store %{{.*}}, %[[RED]]
// CHECK: gpu.barrier
// CHECK: gpu.barrier
// CHECK: %[[NEXT:.*]] = memref.load %[[SCALARS]][%c0]
// CHECK: arith.addi %{{.*}}, %[[NEXT]] : index
// The tail: zeros, one 8-column chunk per thread.
// CHECK: } else {
// CHECK: scf.for
// CHECK: vector.store %{{.*}}, %arg3[{{.*}}] {alignment = 16 : i64} : memref<?x2048xbf16>, vector<8xbf16>

// The wide form: 8 warps, 64 K rows apart (step 512), each issuing the
// same loads and mma as in the 4-warp form; slots for 256 thread ids.
// CHECK-LABEL: gpu.func @grouped_matmul_decode_bf16_bf16_i64_e128_k768_n2048_w8(
// CHECK-SAME: workgroup(%[[WRED:.*]] : memref<4x32x36xf32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %[[WSCALARS:.*]] : memref<260xindex, #gpu.address_space<workgroup>> {llvm.align = 16 : i64})
// CHECK-SAME: known_block_size = array<i32: 256, 1, 1>
// CHECK-SAME: nvvm.minctasm = 1 : i32
// CHECK: scf.for %{{.*}} = %{{.*}} to %c768 step %c512 iter_args(
// CHECK-COUNT-16: vector.load %arg1[{{.*}}] {alignment = 16 : i64} : memref<128x768x2048xbf16>, vector<8xbf16>
// CHECK-COUNT-8: vector.load %arg0[{{.*}}] {alignment = 16 : i64} : memref<?x768xbf16>, vector<8xbf16>
// CHECK-COUNT-64: nvvm.mma.sync
// CHECK: scf.yield
// The warps' sums meet in the same 4 slots in two turns: warps 0-3 store,
// a barrier, warps 4-7 add theirs, a barrier; warp and lane from the
// thread id in shared memory.
// CHECK: %[[WTID:.*]] = memref.load %[[WSCALARS]][%{{.*}}] : memref<260xindex
// CHECK: %[[WWARP:.*]] = arith.divui %[[WTID]], %c32 : index
// CHECK: %[[WLANE:.*]] = arith.remui %[[WTID]], %c32 : index
// CHECK: %[[TURN:.*]] = arith.divui %[[WWARP]], %c4 : index
// CHECK: %[[T0:.*]] = arith.cmpi eq, %[[TURN]], %c0 : index
// CHECK: scf.if %[[T0]] {
// CHECK: %[[SLOT:.*]] = arith.remui %[[WWARP]], %c4 : index
// CHECK-COUNT-8: vector.store %{{.*}}, %[[WRED]][%[[SLOT]], %[[WLANE]], %{{.*}}]
// CHECK-NEXT: {{^ *}}}
// CHECK-NEXT: gpu.barrier
// CHECK: %[[T1:.*]] = arith.cmpi eq, %[[TURN]], %c1 : index
// CHECK: scf.if %[[T1]] {
// CHECK: %[[SLOT1:.*]] = arith.remui %[[WWARP]], %c4 : index
// CHECK: %[[OLD:.*]] = vector.load %[[WRED]][%[[SLOT1]], %[[WLANE]], %c0]
// CHECK: %[[NEW:.*]] = arith.addf %{{.*}}, %[[OLD]] : vector<4xf32>
// CHECK: vector.store %[[NEW]], %[[WRED]][%[[SLOT1]], %[[WLANE]], %c0]
// CHECK-COUNT-7: vector.store %{{.*}}, %[[WRED]][%[[SLOT1]], %[[WLANE]], %{{.*}}]
// CHECK-NEXT: {{^ *}}}
// CHECK-NEXT: gpu.barrier
// Then the first 128 threads sum the 4 slots as in the 4-warp form.
// CHECK: %[[EPI:.*]] = arith.cmpi ult, %[[WTID]], %c128 : index
// CHECK: scf.if %[[EPI]] {
// CHECK-COUNT-4: vector.load %[[WRED]]
// CHECK: memref.store
// CHECK: gpu.barrier
// The tail: 256 threads, 8 chunks of a row each, 32 rows apart.
// CHECK: } else {
// CHECK: scf.for %{{.*}} = %{{.*}} to %{{.*}} step %c32 {

// kernel=decode: no choice by the row count, only the wide form's.
// DECODE-LABEL: func.func @down(
// DECODE-NOT: scf.if
// DECODE: call @moe_gpu_multiprocessor_count()
// DECODE: scf.if
// DECODE-NOT: scf.if
// DECODE: gpu.launch_func async {{.*}} @moe_kernels::@grouped_matmul_decode_bf16_bf16_i64_e128_k768_n2048_w8
// DECODE: } else {
// DECODE: gpu.launch_func async {{.*}} @moe_kernels::@grouped_matmul_decode_bf16_bf16_i64_e128_k768_n2048 blocks
// DECODE-NOT: @moe_kernels::@grouped_matmul_bf16
// DECODE: gpu.module @moe_kernels
// DECODE-NOT: gpu.func @grouped_matmul_bf16

// decode-blocks-per-sm=2: the 4-warp form says so to ptxas (which then
// fits it to 200 registers, gpu-decode-ptxas.mlir); the wide form says 1
// block an SM whatever the option.
// BLOCKS2-LABEL: gpu.func @grouped_matmul_decode_bf16_bf16_i64_e128_k768_n2048(
// BLOCKS2-SAME: nvvm.minctasm = 2 : i32
// BLOCKS2-LABEL: gpu.func @grouped_matmul_decode_bf16_bf16_i64_e128_k768_n2048_w8(
// BLOCKS2-SAME: nvvm.minctasm = 1 : i32

// TILE-LABEL: func.func @down(
// TILE-NOT: scf.if
// TILE: gpu.launch_func async {{.*}} @moe_kernels::@grouped_matmul_bf16_bf16_i64_e128_k768_n2048
// TILE-NOT: decode
func.func @down(%x: tensor<?x768xbf16>, %w: tensor<128x768x2048xbf16>, %off: tensor<129xi64>) -> tensor<?x2048xbf16> {
  %y = moe.grouped_matmul %x, %w offsets(%off) : (tensor<?x768xbf16>, tensor<128x768x2048xbf16>, tensor<129xi64>) -> tensor<?x2048xbf16>
  return %y : tensor<?x2048xbf16>
}

// -----

// f16 with i32 offsets and an f32 bias, K = 200 and N = 72 not multiples of
// the 64-row step and the 64-column slab: out-of-range weight rows, lhs
// chunks and columns load from clamped addresses and are replaced by zeros;
// the bias is added in fp32 before the f16 result is rounded; stores past N
// are masked.
// DECODE-LABEL: func.func @odd(
// DECODE: %[[MIN:.*]] = arith.minui %{{.*}}, %c4 : index
// DECODE: gpu.launch_func async {{.*}} @moe_kernels::@grouped_matmul_decode_f16_f16_i32_e3_k200_n72_bias_f32 blocks in (%c2, %{{.*}}, %{{.*}}) threads in (%c128,
// DECODE-SAME: : memref<3x72xf32>)
// DECODE-LABEL: gpu.func @grouped_matmul_decode_f16_f16_i32_e3_k200_n72_bias_f32(
// 4 ranges: one chunk of ballots.
// DECODE-COUNT-2: nvvm.vote.sync ballot
// DECODE-NOT: nvvm.vote.sync
// DECODE: scf.for %{{.*}} = %{{.*}} to %c200 step %c256
// DECODE: %[[W:.*]] = vector.load %arg1[{{.*}}] {alignment = 16 : i64} : memref<3x200x72xf16>, vector<8xf16>
// DECODE: arith.select %{{.*}}, %[[W]], %cst{{.*}} : vector<8xf16>
// DECODE: nvvm.mma.sync {{.*}} shape = #nvvm.shape<m = 16, n = 8, k = 16>} : (vector<2xf16>, vector<2xf16>, f32)
// DECODE: %[[B:.*]] = memref.load %arg4[{{.*}}] : memref<3x72xf32>
// DECODE: %[[S:.*]] = arith.addf %{{.*}}, %[[B]] : f32
// DECODE: %[[R:.*]] = arith.truncf %[[S]] : f32 to f16
// DECODE: memref.store %[[R]], %arg3[{{.*}}] : memref<?x72xf16>
func.func @odd(%x: tensor<?x200xf16>, %w: tensor<3x200x72xf16>, %off: tensor<4xi32>, %b: tensor<3x72xf32>) -> tensor<?x72xf16> {
  %y = moe.grouped_matmul %x, %w offsets(%off) bias(%b) : (tensor<?x200xf16>, tensor<3x200x72xf16>, tensor<4xi32>, tensor<3x72xf32>) -> tensor<?x72xf16>
  return %y : tensor<?x72xf16>
}
