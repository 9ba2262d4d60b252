// The sm_90a tile kernel's warp-specialized 128x256 form, which
// wgmma-tile=auto (the default) takes for 16-bit weights with at least 256
// columns (128 outputs with gate/up boxes); packed weights and narrower
// ones keep the 128x128 tile, and
// wgmma-tile=128x128 keeps it everywhere. An unknown tile name is refused
// before anything is rewritten.
// RUN: moe-opt %s --convert-moe-to-gpu="chip=sm_90a kernel=tile" -split-input-file | FileCheck %s
// RUN: moe-opt %s --convert-moe-to-gpu="chip=sm_90a kernel=tile wgmma-tile=128x128" -split-input-file | FileCheck %s --check-prefix=NARROW
// RUN: not moe-opt %s --convert-moe-to-gpu="chip=sm_90a wgmma-tile=64x64" -split-input-file 2>&1 | FileCheck %s --check-prefix=BAD
// RUN: not moe-opt %s --moe-gpu-entry-points="chip=sm_90a wgmma-tile=64x64" 2>&1 | FileCheck %s --check-prefix=BADENTRY
// RUN: not moe-opt %s --moe-gpu-pipeline="chip=sm_90a wgmma-tile=64x64" -split-input-file 2>&1 | FileCheck %s --check-prefix=BAD

// BAD: convert-moe-to-gpu: wgmma-tile must be auto or 128x128, not '64x64'
// BADENTRY: moe-gpu-entry-points: wgmma-tile must be auto or 128x128, not '64x64'

// The grid is persistent: the smaller of the tiles (512 / 256 column tiles
// x the row tile bound) and the SM count (moe_gpu_multiprocessor_count, from
// the runtime); three warpgroups, 4 stages of 48 KB.
// CHECK-LABEL: func.func @down(
// CHECK: %[[ROWTILES:.*]] = arith.divui %{{.*}}, %c128 : index
// CHECK: %[[TILES:.*]] = arith.muli %c2, %[[ROWTILES]] : index
// CHECK: %[[SMS:.*]] = call @moe_gpu_multiprocessor_count() : () -> i32
// CHECK: %[[SMSX:.*]] = arith.index_castui %[[SMS]] : i32 to index
// CHECK: %[[GRID:.*]] = arith.minui %[[TILES]], %[[SMSX]] : index
// CHECK: gpu.launch_func async [%{{.*}}] @moe_kernels::@grouped_matmul_wgmma_bf16_bf16_i64_e8_k256_n512_ws256 blocks in (%[[GRID]], %{{.*}}, %c1) threads in (%c384, %c1, %c1) dynamic_shared_memory_size %c197760_i32
// NARROW-LABEL: func.func @down(
// NARROW-NOT: moe_gpu_multiprocessor_count
// NARROW: gpu.launch_func async [%{{.*}}] @moe_kernels::@grouped_matmul_wgmma_bf16_bf16_i64_e8_k256_n512 blocks in (%c4, %{{.*}}, %c1) threads in (%c128, %c1, %c1) dynamic_shared_memory_size %c99456_i32
// NARROW-NOT: moe.persistent_grid
// CHECK: gpu.func @grouped_matmul_wgmma_bf16_bf16_i64_e8_k256_n512_ws256(
// CHECK-SAME: known_block_size = array<i32: 384, 1, 1>, moe.column_tiles = 2 : i64, moe.dynamic_shared_memory = 197760 : i64, moe.persistent_grid, moe.tensor_map_params = 2 : i64, moe.wgmma_kernel
// Per stage a full mbarrier (the TMA's bytes complete it) and an empty one
// (one arrival per consumer warp). The block's only block barrier follows
// their inits.
// CHECK: %[[FULL:.*]] = nvgpu.mbarrier.create -> <memorySpace = #gpu.address_space<workgroup>, num_barriers = 4>
// CHECK: %[[EMPTY:.*]] = nvgpu.mbarrier.create -> <memorySpace = #gpu.address_space<workgroup>, num_barriers = 4>
// CHECK: nvgpu.mbarrier.init %[[FULL]][%c0], %c1
// CHECK: nvgpu.mbarrier.init %[[EMPTY]][%c0], %c8
// CHECK: nvgpu.mbarrier.init %[[EMPTY]][%c3], %c8
// CHECK: nvvm.fence.mbarrier.init
// CHECK: gpu.barrier
// CHECK-NOT: gpu.barrier
// The producer (warpgroup 2): its first thread walks the block's tiles, t
// from blockIdx.x by gridDim.x up to 2 column tiles x the row tile bound,
// resuming the walk over the groups (scf.while) where the last tile left it
// and carrying the ring position; per k step it waits for the stage's
// handback (position >= 4), then arms it for 16 KB of rows and four
// 64-column boxes of weights.
// CHECK: %[[WG:.*]] = arith.divui %{{.*}}, %c128 : index
// CHECK: %[[PRODUCER:.*]] = arith.cmpi eq, %[[WG]], %c2 : index
// CHECK: scf.if %[[PRODUCER]] {
// CHECK: nvvm.setmaxregister decrease 56
// CHECK: %[[BX:.*]] = gpu.block_id x
// CHECK: %[[GX:.*]] = gpu.grid_dim x
// CHECK: scf.for %{{.*}} = %[[BX]] to %{{.*}} step %[[GX]] iter_args(%[[G:.*]] = %c0, %[[BEFORE:.*]] = %c0, %[[RING:.*]] = %c0)
// CHECK: scf.while (%{{.*}} = %[[G]], %{{.*}} = %[[BEFORE]],
// CHECK: scf.condition
// CHECK: scf.if %{{.*}} -> (index) {
// CHECK: scf.for %[[STEP:.*]] = %c0 to
// CHECK: %[[POS:.*]] = arith.addi %[[RING]], %[[STEP]] : index
// CHECK: %[[STAGE:.*]] = arith.remui %[[POS]], %c4 : index
// CHECK: arith.cmpi uge, %[[POS]], %c4 : index
// CHECK: nvgpu.mbarrier.try_wait.parity %[[EMPTY]][%[[STAGE]]]
// CHECK: nvgpu.mbarrier.arrive.expect_tx %[[FULL]][%[[STAGE]]], %c49152
// CHECK: nvgpu.tma.async.load %{{.*}}, %[[FULL]]
// CHECK-COUNT-4: nvgpu.tma.async.load %{{.*}} to %{{.*}} : <tensor = memref<64x64xbf16, 3>
// The consumers walk the same tiles: 64 rows each (A at 8 KB per consumer)
// times the whole 64 x 256 B tile, one wgmma group in flight; lane 0 of each
// warp hands the previous step's stage back, and the tile's last stage once
// its last group has retired, before the tile is stored. A consumer whose 64
// rows all lie past the group's end runs no wgmma: it waits for each stage
// and hands it straight back.
// CHECK: } else {
// CHECK: nvvm.setmaxregister increase 224
// CHECK: scf.for %{{.*}} = %{{.*}} to %{{.*}} step %{{.*}} iter_args(%{{.*}} = %c0, %{{.*}} = %c0, %[[CRING:.*]] = %c0)
// CHECK: %[[WALK:.*]]:5 = scf.while
// CHECK: %[[HALF:.*]] = arith.muli %{{.*}}, %c64 : index
// CHECK: %[[OWNFIRST:.*]] = arith.addi %{{.*}}, %[[HALF]] : index
// CHECK: %[[OWNS:.*]] = arith.cmpi ult, %[[OWNFIRST]], %[[WALK]]#3 : index
// CHECK: scf.if %[[OWNS]] {
// CHECK: nvgpu.warpgroup.mma.init.accumulator -> <fragmented = vector<64x256xf32>>
// CHECK: scf.for
// CHECK: nvgpu.mbarrier.try_wait.parity %[[FULL]]
// CHECK: arith.muli %{{.*}}, %c8192 : index
// CHECK: nvgpu.warpgroup.generate.descriptor %{{.*}} : memref<64x64xbf16, #gpu.address_space<workgroup>>
// CHECK: nvgpu.warpgroup.generate.descriptor %{{.*}} : memref<64x256xbf16, #gpu.address_space<workgroup>>
// CHECK: nvgpu.warpgroup.mma %{{.*}} {transposeB} : {{.*}} -> <fragmented = vector<64x256xf32>>
// CHECK: nvgpu.mbarrier.arrive %[[EMPTY]]
// CHECK: nvvm.wgmma.wait.group.sync.aligned 0
// CHECK: nvgpu.mbarrier.arrive %[[EMPTY]]
// CHECK: vector.store
// CHECK: } else {
// CHECK: scf.for %[[SSTEP:.*]] = %c0 to %{{.*}} step %c1 {
// CHECK: %[[SPOS:.*]] = arith.addi %[[CRING]], %[[SSTEP]] : index
// CHECK: %[[SSTAGE:.*]] = arith.remui %[[SPOS]], %c4 : index
// CHECK: nvgpu.mbarrier.try_wait.parity %[[FULL]][%[[SSTAGE]]]
// CHECK-NOT: nvgpu.warpgroup.mma
// CHECK: nvgpu.mbarrier.arrive %[[EMPTY]]
// CHECK-NOT: nvgpu.warpgroup.mma
// CHECK: scf.yield
func.func @down(%x: tensor<?x256xbf16>, %w: tensor<8x256x512xbf16>, %off: tensor<9xi64>) -> tensor<?x512xbf16> {
  %y = moe.grouped_matmul %x, %w offsets(%off) : (tensor<?x256xbf16>, tensor<8x256x512xbf16>, tensor<9xi64>) -> tensor<?x512xbf16>
  return %y : tensor<?x512xbf16>
}

// -----

// Gate/up boxes: a block owns 128 outputs (boxes 0-1 gate columns, 2-3 the
// same outputs' up columns): 512 / 128 column tiles.
// CHECK-LABEL: func.func @separate(
// CHECK: gpu.launch_func async [%{{.*}}] @moe_kernels::@grouped_matmul_wgmma_bf16_bf16_i64_e8_k256_n512_silu_separate_ws256 blocks in (%{{.*}}, %{{.*}}, %c1) threads in (%c384, %c1, %c1)
// CHECK: moe.column_tiles = 4 : i64, moe.dynamic_shared_memory = 197760 : i64, moe.persistent_grid, moe.tensor_map_params = 3 : i64
func.func @separate(%x: tensor<?x256xbf16>, %wg: tensor<8x256x512xbf16>, %wu: tensor<8x256x512xbf16>, %off: tensor<9xi64>) -> tensor<?x512xbf16> {
  %g = moe.grouped_matmul %x, %wg offsets(%off) : (tensor<?x256xbf16>, tensor<8x256x512xbf16>, tensor<9xi64>) -> tensor<?x512xbf16>
  %u = moe.grouped_matmul %x, %wu offsets(%off) : (tensor<?x256xbf16>, tensor<8x256x512xbf16>, tensor<9xi64>) -> tensor<?x512xbf16>
  %h = moe.activation %g, %u {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<separate>} : (tensor<?x512xbf16>, tensor<?x512xbf16>) -> tensor<?x512xbf16>
  return %h : tensor<?x512xbf16>
}

// -----

// [E, N, K] weights (B K-major) take it too, whatever K (the TMA fills
// both boxes past K with zeros): the wgmma ops are built directly, 64 rows
// of A (8 KB into the rows box) times 256 columns, both operands K-major.
// CHECK-LABEL: func.func @transposed(
// CHECK: @moe_kernels::@grouped_matmul_wgmma_bf16_bf16_i64_e4_k72_n256_t_ws256 blocks in (%{{.*}}, %{{.*}}, %c1) threads in (%c384, %c1, %c1)
// CHECK: gpu.func @grouped_matmul_wgmma_bf16_bf16_i64_e4_k72_n256_t_ws256(
// CHECK: nvvm.setmaxregister increase 224
// CHECK: scf.for {{.*}} -> (!llvm.struct<(struct<(f32
// CHECK: nvgpu.mbarrier.try_wait.parity
// CHECK: nvgpu.warpgroup.generate.descriptor %{{.*}} : memref<64x64xbf16, #gpu.address_space<workgroup>>
// CHECK: nvgpu.warpgroup.generate.descriptor %{{.*}} : memref<256x64xbf16, #gpu.address_space<workgroup>>
// CHECK-COUNT-4: nvvm.wgmma.mma_async {{.*}}, <m = 64, n = 256, k = 16>, D[<f32>, <one>], A[<bf16>, <one>, <row>], B[<bf16>, <one>, <col>]
// CHECK: nvvm.wgmma.wait.group.sync.aligned 1
// CHECK: nvgpu.mbarrier.arrive
func.func @transposed(%x: tensor<?x72xbf16>, %w: tensor<4x256x72xbf16>, %off: tensor<5xi64>) -> tensor<?x256xbf16> {
  %y = moe.grouped_matmul %x, %w offsets(%off) {transpose_rhs} : (tensor<?x72xbf16>, tensor<4x256x72xbf16>, tensor<5xi64>) -> tensor<?x256xbf16>
  return %y : tensor<?x256xbf16>
}

// -----

// [E, K, N] weights whose K (or K_g) is no multiple of 64: after the
// partial step's full mbarrier the consumers zero what its stage holds past
// K_g, fence it for the async proxy and meet at named barrier 1 (256
// threads: the producer does not take part) before either's wgmma.
// CHECK-LABEL: func.func @ragged(
// CHECK: @moe_kernels::@grouped_matmul_wgmma_bf16_bf16_i64_e4_k72_n256_ws256 blocks in (%{{.*}}, %{{.*}}, %c1) threads in (%c384, %c1, %c1)
// CHECK: gpu.func @grouped_matmul_wgmma_bf16_bf16_i64_e4_k72_n256_ws256(
// CHECK: nvvm.setmaxregister increase 224
// CHECK: nvgpu.mbarrier.try_wait.parity
// CHECK: arith.cmpi ult, %{{.*}}, %c64 : index
// CHECK: vector.store %{{.*}} : memref<64x64xbf16, #gpu.address_space<workgroup>>, vector<8xbf16>
// CHECK: nvvm.fence.proxy
// CHECK-NEXT: nvvm.barrier id = %c1_i32 number_of_threads = %c256_i32
// CHECK: nvgpu.warpgroup.mma
func.func @ragged(%x: tensor<?x72xbf16>, %w: tensor<4x72x256xbf16>, %off: tensor<5xi64>) -> tensor<?x256xbf16> {
  %y = moe.grouped_matmul %x, %w offsets(%off) : (tensor<?x72xbf16>, tensor<4x72x256xbf16>, tensor<5xi64>) -> tensor<?x256xbf16>
  return %y : tensor<?x256xbf16>
}

// -----

// Fewer columns than a tile, or packed weights, keep the 128x128 tile.
// CHECK-LABEL: func.func @narrow_cases(
// CHECK: @moe_kernels::@grouped_matmul_wgmma_bf16_bf16_i64_e4_k256_n128 blocks in (%c1, %{{.*}}, %c1) threads in (%c128, %c1, %c1)
// CHECK: @moe_kernels::@grouped_matmul_wgmma_bf16_bf16_i64_e4_k256_n256_q4_b32_f16 blocks in (%c2, %{{.*}}, %c1) threads in (%c128, %c1, %c1)
// CHECK-NOT: _ws256
func.func @narrow_cases(%x: tensor<?x256xbf16>, %w128: tensor<4x256x128xbf16>, %q: tensor<4x256x128xi8>, %s: tensor<4x256x8xf16>, %off: tensor<5xi64>) -> (tensor<?x128xbf16>, tensor<?x256xbf16>) {
  %b = moe.grouped_matmul %x, %w128 offsets(%off) : (tensor<?x256xbf16>, tensor<4x256x128xbf16>, tensor<5xi64>) -> tensor<?x128xbf16>
  %wq = moe.dequantize %q, %s {bits = 4 : i64, block_size = 32 : i64} : (tensor<4x256x128xi8>, tensor<4x256x8xf16>) -> tensor<4x256x256xbf16>
  %c = moe.grouped_matmul %x, %wq offsets(%off) {transpose_rhs} : (tensor<?x256xbf16>, tensor<4x256x256xbf16>, tensor<5xi64>) -> tensor<?x256xbf16>
  return %b, %c : tensor<?x128xbf16>, tensor<?x256xbf16>
}
