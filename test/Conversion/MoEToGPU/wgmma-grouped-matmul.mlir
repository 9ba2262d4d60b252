// RUN: moe-opt %s --convert-moe-to-gpu="chip=sm_90a wgmma-tile=128x128" -split-input-file | FileCheck %s

// sm_90a: the wgmma + TMA kernel. The host encodes two TMA descriptors
// (rows [rows, K] in 128 x 64 boxes; the stacked weight as [E * K, N] in
// 64 x 64 boxes, 128-byte swizzle, zero fill) and launches one warpgroup per
// 128 x 128 tile: grid x = N / 128, y = (rows + (E + 1) * 127) / 128, with
// 3 stages x 32 KB of dynamic shared memory, 64 bytes for the row-tile
// search and 1088 bytes of alignment slack.
// CHECK-LABEL: func.func @up(
// CHECK-DAG: %[[SMEM:.*]] = arith.constant 99456 : i32
// CHECK-DAG: %[[NULL:.*]] = llvm.mlir.zero : !llvm.ptr
// CHECK-DAG: %[[SLACK:.*]] = arith.constant 1143 : index
// CHECK-DAG: %[[C4:.*]] = arith.constant 4 : index
// CHECK-DAG: %[[C64:.*]] = arith.constant 64 : index
// CHECK-DAG: %[[C128:.*]] = arith.constant 128 : index
// CHECK: %[[XB:.*]] = bufferization.to_buffer %{{.*}} read_only : tensor<?x256xbf16> to memref<?x256xbf16>
// CHECK: %[[WB:.*]] = bufferization.to_buffer %{{.*}} read_only : tensor<8x256x512xbf16> to memref<8x256x512xbf16>
// CHECK: %[[ROWS:.*]] = memref.dim %[[XB]]
// CHECK: %[[OUT:.*]], %[[T1:.*]] = gpu.alloc async
// CHECK: %[[XU:.*]] = memref.cast %[[XB]] : memref<?x256xbf16> to memref<*xbf16>
// CHECK: %[[MA:.*]] = nvgpu.tma.create.descriptor %[[XU]] box[%[[C128]], %[[C64]]] : memref<*xbf16> -> <tensor = memref<128x64xbf16, 3>, swizzle = swizzle_128b, l2promo = l2promo_256b, oob = zero, interleave = none>
// CHECK: %[[PA:.*]] = builtin.unrealized_conversion_cast %[[MA]] {{.*}} to !llvm.ptr
// CHECK: %[[W2:.*]] = memref.collapse_shape %[[WB]] {{\[}}[0, 1], [2]] : memref<8x256x512xbf16> into memref<2048x512xbf16>
// CHECK: %[[WU:.*]] = memref.cast %[[W2]] : memref<2048x512xbf16> to memref<*xbf16>
// CHECK: %[[MB:.*]] = nvgpu.tma.create.descriptor %[[WU]] box[%[[C64]], %[[C64]]] : memref<*xbf16> -> <tensor = memref<64x64xbf16, 3>, swizzle = swizzle_128b
// CHECK: %[[PB:.*]] = builtin.unrealized_conversion_cast %[[MB]] {{.*}} to !llvm.ptr
// CHECK: %[[SUM:.*]] = arith.addi %[[ROWS]], %[[SLACK]]
// CHECK: %[[GY0:.*]] = arith.divui %[[SUM]], %[[C128]]
// A descriptor the runtime could not encode is null: then the grid is empty
// (no launch).
// CHECK: %[[OKA:.*]] = llvm.icmp "ne" %[[PA]], %[[NULL]]
// CHECK: %[[OKB:.*]] = llvm.icmp "ne" %[[PB]], %[[NULL]]
// CHECK: %[[OK:.*]] = arith.andi %[[OKA]], %[[OKB]]
// CHECK: %[[GY:.*]] = arith.select %[[OK]], %[[GY0]], %c0
// CHECK: gpu.launch_func async [%[[T1]]] @moe_kernels::@grouped_matmul_wgmma_bf16_bf16_i64_e8_k256_n512 blocks in (%[[C4]], %[[GY]], %{{.*}}) threads in (%[[C128]], %{{.*}}, %{{.*}}) dynamic_shared_memory_size %[[SMEM]] args(%[[XB]] : memref<?x256xbf16>, %[[WB]] : memref<8x256x512xbf16>, %{{.*}} : memref<9xi64>, %[[OUT]] : memref<?x512xbf16>, %[[PA]] : !llvm.ptr, %[[PB]] : !llvm.ptr)

// Kernel: align the stages to 1024 bytes past the static variables, find
// the 128-row tile (all threads together: each counts the tiles of its
// groups, here E + 1 = 9 <= 128 so one each; a warp scan with shuffles; warp
// totals and the result through shared memory), init one mbarrier per
// stage, prefetch up to 3 k steps,
// then per k step wait for the stage's phase, one warpgroup.mma
// (m64n128k16 x 2 x 4 after lowering) on swizzled descriptors, a block
// barrier, and the refill of the stage the previous step read.
// CHECK: gpu.func @grouped_matmul_wgmma_bf16_bf16_i64_e8_k256_n512(%[[X:.*]]: memref<?x256xbf16>, %{{.*}}: memref<8x256x512xbf16>, %[[OFF:.*]]: memref<9xi64>, %[[Y:.*]]: memref<?x512xbf16>, %[[A0:.*]]: !llvm.ptr, %[[B0:.*]]: !llvm.ptr) kernel attributes {known_block_size = array<i32: 128, 1, 1>, moe.column_tiles = 4 : i64, moe.dynamic_shared_memory = 99456 : i64, moe.tensor_map_params = 2 : i64, moe.wgmma_kernel}
// CHECK: %[[TA:.*]] = builtin.unrealized_conversion_cast %[[A0]] : !llvm.ptr to !nvgpu.tensormap.descriptor<tensor = memref<128x64xbf16, 3>
// CHECK: %[[TB:.*]] = builtin.unrealized_conversion_cast %[[B0]] : !llvm.ptr to !nvgpu.tensormap.descriptor<tensor = memref<64x64xbf16, 3>
// CHECK: %[[DYN:.*]] = gpu.dynamic_shared_memory
// CHECK: %[[ADDR:.*]] = memref.extract_aligned_pointer_as_index %[[DYN]]
// CHECK: %[[PAST:.*]] = arith.addi %[[ADDR]], %c1087
// CHECK: %[[SCR:.*]] = memref.view %[[DYN]][%{{.*}}][] : memref<?xi8, #gpu.address_space<workgroup>> to memref<8xi64, #gpu.address_space<workgroup>>
// CHECK: memref.load %[[OFF]][
// CHECK: arith.divui %{{.*}}, %c128
// CHECK-COUNT-5: gpu.shuffle up
// CHECK: memref.store %{{.*}}, %[[SCR]][%{{.*}}]
// CHECK: memref.store %{{.*}}, %[[SCR]][%c4]
// CHECK: gpu.barrier
// CHECK: memref.load %[[SCR]][%c0]
// CHECK: memref.load %[[SCR]][%c2]
// CHECK: memref.store %{{.*}}, %[[SCR]][%c4]
// CHECK: memref.store %{{.*}}, %[[SCR]][%c5]
// CHECK: memref.store %{{.*}}, %[[SCR]][%c6]
// CHECK: gpu.barrier
// CHECK: %[[G64:.*]] = memref.load %[[SCR]][%c4]
// CHECK: %[[G:.*]] = arith.index_cast %[[G64]]
// CHECK: %[[F64:.*]] = memref.load %[[SCR]][%c5]
// CHECK: %[[FIRST:.*]] = arith.index_cast %[[F64]]
// CHECK: %[[E64:.*]] = memref.load %[[SCR]][%c6]
// CHECK: %[[END:.*]] = arith.index_cast %[[E64]]
// CHECK: arith.cmpi ult, %[[G]], %c9
// CHECK: scf.if
// CHECK: %[[BAR:.*]] = nvgpu.mbarrier.create -> <memorySpace = #gpu.address_space<workgroup>, num_barriers = 3>
// CHECK-COUNT-3: nvgpu.mbarrier.init %[[BAR]][%{{.*}}], %c1
// CHECK: nvvm.fence.mbarrier.init
// CHECK: gpu.barrier
// CHECK: nvgpu.mbarrier.arrive.expect_tx %[[BAR]][%c0], %c32768
// CHECK: nvgpu.tma.async.load %[[TA]][%{{.*}}, %[[FIRST]]], %[[BAR]][%c0] to %{{.*}} : {{.*}} -> memref<128x64xbf16, #gpu.address_space<workgroup>>
// CHECK: nvgpu.tma.async.load %[[TB]][%{{.*}}, %{{.*}}], %[[BAR]][%c0] to %{{.*}} -> memref<64x64xbf16, #gpu.address_space<workgroup>>
// CHECK: nvgpu.tma.async.load %[[TB]]
// CHECK: nvgpu.mbarrier.arrive.expect_tx %[[BAR]][%c1], %c32768
// The last stage is filled by the loop's first step.
// CHECK-NOT: nvgpu.mbarrier.arrive.expect_tx %[[BAR]][%c2]
// CHECK: %[[INIT:.*]] = nvgpu.warpgroup.mma.init.accumulator -> <fragmented = vector<128x128xf32>>
// CHECK: %[[ACC:.*]] = scf.for %[[STEP:.*]] = %c0 to %{{.*}} step %c1 iter_args(%[[IN:.*]] = %[[INIT]])
// CHECK: %[[STAGE:.*]] = arith.remui %[[STEP]], %c3
// CHECK: %[[USE:.*]] = arith.divui %[[STEP]], %c3
// CHECK: %[[ODD:.*]] = arith.remui %[[USE]], %c2
// CHECK: %[[PAR:.*]] = arith.cmpi eq, %[[ODD]], %c1
// CHECK: nvgpu.mbarrier.try_wait.parity %[[BAR]][%[[STAGE]]], %[[PAR]], %c10000000
// CHECK: %[[DA:.*]] = nvgpu.warpgroup.generate.descriptor %{{.*}}, %[[TA]] : memref<128x64xbf16, #gpu.address_space<workgroup>>
// CHECK: %[[DB:.*]] = nvgpu.warpgroup.generate.descriptor %{{.*}}, %[[TB]] : memref<64x128xbf16, #gpu.address_space<workgroup>>
// CHECK: %[[NEXT:.*]] = nvgpu.warpgroup.mma %[[DA]], %[[DB]], %[[IN]] {transposeB}
// CHECK: gpu.barrier
// CHECK: %[[REFILL:.*]] = arith.addi %[[STEP]], %c2
// CHECK: arith.remui %[[REFILL]], %c3
// Every step refills on the same condition: LLVM has no first step to peel
// (where ptxas would fence the zero accumulators again and wait for the
// first 64 rows' wgmmas).
// CHECK-NOT: arith.cmpi uge, %[[STEP]], %c1
// CHECK: nvgpu.mbarrier.arrive.expect_tx
// CHECK-COUNT-3: nvgpu.tma.async.load
// CHECK: scf.yield %[[NEXT]]
// CHECK: nvvm.wgmma.wait.group.sync.aligned 0
// CHECK: %[[REGS:.*]] = builtin.unrealized_conversion_cast %[[ACC]] : !nvgpu.warpgroup.accumulator<fragmented = vector<128x128xf32>> to !llvm.struct<(struct<(f32,
// CHECK: llvm.extractvalue %[[REGS]][0]
// CHECK: arith.cmpi ult, %{{.*}}, %[[END]]
// CHECK: arith.truncf %{{.*}} : f32 to bf16
// CHECK: vector.store %{{.*}}, %[[Y]][%{{.*}}, %{{.*}}] {alignment = 4 : i64} : memref<?x512xbf16>, vector<2xbf16>
func.func @up(%x: tensor<?x256xbf16>, %w: tensor<8x256x512xbf16>, %off: tensor<9xi64>) -> tensor<?x512xbf16> {
  %y = moe.grouped_matmul %x, %w offsets(%off) : (tensor<?x256xbf16>, tensor<8x256x512xbf16>, tensor<9xi64>) -> tensor<?x512xbf16>
  return %y : tensor<?x512xbf16>
}

// -----

// N = 96 is not a multiple of 128: the columns past N (zero-filled by TMA)
// are masked at the store. The bias row is added in fp32 except for the
// tail (group E = 4).
// CHECK-LABEL: func.func @bias(
// CHECK: gpu.launch_func async {{.*}} @moe_kernels::@grouped_matmul_wgmma_f16_f16_i32_e4_k64_n96_bias_bf16 blocks in (%c1,
// CHECK: gpu.func @grouped_matmul_wgmma_f16_f16_i32_e4_k64_n96_bias_bf16({{.*}}, %[[B:.*]]: memref<4x96xbf16>, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr)
// CHECK: nvvm.wgmma.wait.group.sync.aligned 0
// CHECK: %[[ON:.*]] = arith.cmpi ult, %{{.*}}, %c4 : index
// CHECK: %[[BG:.*]] = arith.minui %{{.*}}, %c3 : index
// CHECK: scf.if
// CHECK: %[[INSIDE:.*]] = arith.cmpi ult, %{{.*}}, %c96 : index
// CHECK: scf.if %[[INSIDE]]
// CHECK: %[[BV:.*]] = memref.load %[[B]][%[[BG]], %{{.*}}] : memref<4x96xbf16>
// CHECK: %[[BF:.*]] = arith.extf %[[BV]] : bf16 to f32
// CHECK: %[[SUM:.*]] = arith.addf %{{.*}}, %[[BF]] : f32
// CHECK: arith.select %[[ON]], %[[SUM]], %{{.*}} : f32
// CHECK: arith.truncf %{{.*}} : f32 to f16
// CHECK: vector.store {{.*}} : memref<?x96xf16>, vector<2xf16>
func.func @bias(%x: tensor<?x64xf16>, %w: tensor<4x64x96xf16>, %off: tensor<5xi32>, %b: tensor<4x96xbf16>) -> tensor<?x96xf16> {
  %y = moe.grouped_matmul %x, %w offsets(%off) bias(%b) : (tensor<?x64xf16>, tensor<4x64x96xf16>, tensor<5xi32>, tensor<4x96xbf16>) -> tensor<?x96xf16>
  return %y : tensor<?x96xf16>
}
