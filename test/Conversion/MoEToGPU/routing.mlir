// RUN: moe-opt %s --convert-moe-to-gpu -split-input-file | FileCheck %s

// Mixtral-like: softmax top-2 of 8, renormalized; the router is small, so
// one block per 8 tokens computes all logits into shared memory (no
// workspace, grid.y = 1).
// CHECK-LABEL: func.func @mixtral(
// CHECK-SAME: %[[X:.*]]: tensor<?x64xf32>, %[[W:.*]]: tensor<8x64xbf16>)
// CHECK-DAG: %[[C256:.*]] = arith.constant 256 : index
// CHECK-DAG: %[[C1:.*]] = arith.constant 1 : index
// CHECK: %[[S0:.*]] = gpu.wait async
// CHECK: %[[XB:.*]] = bufferization.to_buffer %[[X]] read_only
// CHECK: %[[WB:.*]] = bufferization.to_buffer %[[W]] read_only
// CHECK: %[[T:.*]] = memref.dim %[[XB]]
// CHECK: %[[OW:.*]], %[[S1:.*]] = gpu.alloc async [%[[S0]]] (%[[T]]) : memref<?x2xf32>
// CHECK: %[[OI:.*]], %[[S2:.*]] = gpu.alloc async [%[[S1]]] (%[[T]]) : memref<?x2xi64>
// CHECK: %[[TILES:.*]] = arith.divui
// CHECK: %[[DONE:.*]] = gpu.launch_func async [%[[S2]]] @moe_kernels::@[[K:fused_route_f32_bf16_h64_e8_k2_softmax_f32_i64_rn0+]] blocks in (%[[TILES]], %[[C1]], %[[C1]]) threads in (%[[C256]], %[[C1]], %[[C1]]) args(%[[XB]] : memref<?x64xf32>, %[[WB]] : memref<8x64xbf16>, %[[OW]] : memref<?x2xf32>, %[[OI]] : memref<?x2xi64>)
// CHECK: gpu.wait [%[[DONE]]]
// CHECK: %[[RW:.*]] = bufferization.to_tensor %[[OW]] restrict writable
// CHECK: %[[RI:.*]] = bufferization.to_tensor %[[OI]] restrict writable
// CHECK: return %[[RW]], %[[RI]]

// The kernel: logits of 8 tokens for 2 experts per warp from 16-byte loads,
// fp32 fma chains, shuffle reductions, into shared memory.
// CHECK: gpu.module @moe_kernels
// CHECK: gpu.func @[[K]](%{{.*}}: memref<?x64xf32>, %{{.*}}: memref<8x64xbf16>, %{{.*}}: memref<?x2xf32>, %{{.*}}: memref<?x2xi64>) workgroup(%[[LOGITS:.*]] : memref<8x8xf32, #gpu.address_space<workgroup>>, %[[SLOTP:.*]] : memref<8x2xf32, #gpu.address_space<workgroup>>, %[[SLOTI:.*]] : memref<8x2xi32, #gpu.address_space<workgroup>>, %{{.*}} : memref<1xi32, #gpu.address_space<workgroup>>) kernel attributes {known_block_size = array<i32: 256, 1, 1>, moe.route_slices = 1 : i64}
// CHECK: vector.load %{{.*}} {alignment = 16 : i64} : memref<8x64xbf16>, vector<8xbf16>
// CHECK: arith.extf %{{.*}} : vector<8xbf16> to vector<8xf32>
// CHECK: vector.load %{{.*}} {alignment = 16 : i64} : memref<?x64xf32>, vector<8xf32>
// CHECK: vector.extract %{{.*}}[0] : f32 from vector<8xf32>
// CHECK: llvm.intr.fma
// CHECK: gpu.shuffle  xor %{{.*}}, %{{.*}}, %{{.*}} : f32
// CHECK: memref.store %{{.*}}, %[[LOGITS]]
// CHECK: gpu.barrier
// Softmax: warp max, exp (Cody-Waite + ex2), warp sum, divide.
// CHECK: arith.maximumf
// CHECK: gpu.shuffle  xor
// CHECK: nvvm.inline_ptx "ex2.approx.f32 $0, $1;"
// CHECK: arith.bitcast %{{.*}} : i32 to f32
// CHECK: gpu.shuffle  xor
// CHECK: arith.divf
// CHECK: nvvm.bar.warp.sync
// Top-k: lane scan, then a (value, index) butterfly.
// CHECK: scf.for
// CHECK: arith.cmpf ogt
// CHECK: gpu.shuffle  xor %{{.*}} : f32
// CHECK: gpu.shuffle  xor %{{.*}} : i32
// CHECK: arith.cmpf oeq
// CHECK: arith.cmpi slt
// CHECK: memref.store %{{.*}}, %[[SLOTP]]
// CHECK: memref.store %{{.*}}, %[[SLOTI]]
// Weights in slot order by lane 0: renormalized (epsilon 0).
// CHECK: arith.addf
// CHECK: arith.divf
// CHECK: arith.extsi %{{.*}} : i32 to i64
func.func @mixtral(%x: tensor<?x64xf32>, %w: tensor<8x64xbf16>) -> (tensor<?x2xf32>, tensor<?x2xi64>) {
  %wt, %ids = moe.fused_route <token_choice> <softmax> %x, %w {k = 2 : i64, renormalize}
      : tensor<?x64xf32>, tensor<8x64xbf16> -> tensor<?x2xf32>, tensor<?x2xi64>
  return %wt, %ids : tensor<?x2xf32>, tensor<?x2xi64>
}

// -----

// bf16 tokens and an [E, H] bf16 router with H a multiple of 64: the
// products go through tensor cores (the kernel compiled for two blocks an
// SM). Each round takes 16 experts; a warp streams its share of H
// (split-K, 512 apart) in trips of 4 iterations, all 24 loads of a trip
// (per iteration the lane's token chunk and two expert chunks, two 16-byte
// loads each) before its 32 mma.sync m16n8k16, into 8 independent
// accumulators, then its last iterations one at a time (H = 2048: warp 0
// makes one trip, the others 3 single iterations); no load is masked.
// The warps' sums meet in shared memory, and 128 threads add the 8 warps'
// partials (plus the router bias) into the logits.
// CHECK-LABEL: gpu.func @fused_route_bf16_bf16_h2048_e16_k2_softmax_f32_i64_rb_f32_rn{{[0-9a-f]+}}(
// CHECK-SAME: %[[RB:[^:]*]]: memref<16xf32>
// CHECK-SAME: workgroup(%[[LOGITS:.*]] : memref<8x16xf32, #gpu.address_space<workgroup>>, {{.*}}, %[[PART:.*]] : memref<8x8x16xf32, #gpu.address_space<workgroup>>)
// CHECK-SAME: nvvm.minctasm = 2 : i32
// CHECK: scf.for %{{.*}} = %c0 to %c1 step %c1 {
// CHECK: %[[TRIPS:.*]]:9 = scf.for %{{.*}} = %{{.*}} to %c512 step %c2048 iter_args(
// CHECK-COUNT-24: vector.load %{{.*}} {alignment = 16 : i64} : memref<{{.*}}xbf16>, vector<8xbf16>
// CHECK-NOT: vector.load
// CHECK-COUNT-32: nvvm.mma.sync {{.*}} {layoutA = #nvvm.mma_layout<row>, layoutB = #nvvm.mma_layout<col>, multiplicandAPtxType = #nvvm.mma_type<bf16>, multiplicandBPtxType = #nvvm.mma_type<bf16>, shape = #nvvm.shape<m = 16, n = 8, k = 16>}
// CHECK-NOT: nvvm.mma.sync
// CHECK: scf.yield
// CHECK: scf.for %{{.*}} = %[[TRIPS]]#8 to %c2048 step %c512 iter_args(
// CHECK-COUNT-6: vector.load
// CHECK-COUNT-8: nvvm.mma.sync
// CHECK: scf.yield
// CHECK-COUNT-4: memref.store %{{.*}}, %[[PART]]
// CHECK: gpu.barrier
// CHECK-COUNT-8: memref.load %[[PART]]
// CHECK: memref.load %[[RB]]
// CHECK: memref.store %{{.*}}, %[[LOGITS]]
// CHECK: gpu.barrier
func.func @tensor_core_logits(%x: tensor<?x2048xbf16>, %w: tensor<16x2048xbf16>, %b: tensor<16xf32>) -> (tensor<?x2xf32>, tensor<?x2xi64>) {
  %wt, %ids = moe.fused_route <token_choice> <softmax> %x, %w, %b : tensor<16xf32> {k = 2 : i64, renormalize}
      : tensor<?x2048xbf16>, tensor<16x2048xbf16> -> tensor<?x2xf32>, tensor<?x2xi64>
  return %wt, %ids : tensor<?x2xf32>, tensor<?x2xi64>
}

// -----

// DeepSeek-V3-like with a router large enough to be split: 64 experts of
// H = 1024 go to 2 slices of 32 (grid.y = 2); the host allocates the
// logits workspace [T * E] and zeroed per-tile counters, frees both after
// the launch. Sigmoid scores, biased selection, 8 groups keep 4.
// CHECK-LABEL: func.func @deepseek(
// CHECK-DAG: %[[C2:.*]] = arith.constant 2 : index
// CHECK-DAG: %[[C64:.*]] = arith.constant 64 : index
// CHECK: %[[T:.*]] = memref.dim
// CHECK: gpu.alloc async
// CHECK: %[[OI:.*]], %[[S2:.*]] = gpu.alloc async [%{{.*}}] (%[[T]]) : memref<?x4xi32>
// CHECK: %[[N:.*]] = arith.muli %[[T]], %[[C64]]
// CHECK: %[[WS:.*]], %[[S3:.*]] = gpu.alloc async [%[[S2]]] (%[[N]]) : memref<?xf32>
// CHECK: %[[TILES:.*]] = arith.divui
// CHECK: %[[CNT:.*]], %[[S4:.*]] = gpu.alloc async [%[[S3]]] (%[[TILES]]) : memref<?xi32>
// CHECK: %[[S5:.*]] = gpu.memset async [%[[S4]]] %[[CNT]], %{{.*}} : memref<?xi32>, i32
// CHECK: %[[S6:.*]] = gpu.launch_func async [%[[S5]]] @moe_kernels::@[[K:fused_route_bf16_bf16_h1024_e64_k4_sigmoid_bf16_i32_sb_f32_g8x4x2_rn3bc79ca10c924223_s4004000000000000_x2]] blocks in (%{{[a-z0-9_]+}}, %[[C2]], %{{[a-z0-9_]+}})
// CHECK-SAME: %[[WS]] : memref<?xf32>, %[[CNT]] : memref<?xi32>)
// CHECK: %[[S7:.*]] = gpu.dealloc async [%[[S6]]] %[[WS]]
// CHECK: %[[S8:.*]] = gpu.dealloc async [%[[S7]]] %[[CNT]]
// CHECK: gpu.wait [%[[S8]]]
// CHECK: gpu.func @[[K]]({{.*}}) workgroup({{.*}}) kernel attributes {known_block_size = array<i32: 256, 1, 1>, moe.route_slices = 2 : i64, nvvm.minctasm = 2 : i32}
// Slice logits to the workspace, then the threadfence reduction: the last
// block of a tile resets its counter and routes the tile.
// CHECK: memref.store %{{.*}}, %{{.*}} : memref<?xf32>
// CHECK: nvvm.memory.barrier <gpu>
// CHECK: gpu.barrier
// CHECK: memref.atomic_rmw addi %{{.*}}, %{{.*}} : (i32, memref<?xi32>) -> i32
// CHECK: memref.store %{{.*}}, %{{.*}} : memref<?xi32>
// CHECK: gpu.barrier
// CHECK: scf.if
// CHECK: nvvm.memory.barrier <gpu>
// CHECK: memref.load %{{.*}} : memref<?xf32>
// CHECK: gpu.barrier
// Sigmoid, then the biased choice, group scores and kept groups.
// CHECK: nvvm.inline_ptx "ex2.approx.f32 $0, $1;"
// CHECK: arith.divf
// CHECK: arith.addf
// CHECK: scf.for %{{.*}} = %{{.*}} to %{{.*}} step %{{.*}} iter_args
// CHECK: arith.shli
// CHECK: arith.ori
// CHECK: nvvm.bar.warp.sync
// Weights: renormalized by sum + 1e-20 and scaled by 2.5 (the kernel name
// holds both doubles' bits), stored as bf16.
// CHECK: arith.truncf %{{.*}} : f32 to bf16
func.func @deepseek(%x: tensor<?x1024xbf16>, %w: tensor<64x1024xbf16>, %b: tensor<64xf32>) -> (tensor<?x4xbf16>, tensor<?x4xi32>) {
  %wt, %ids = moe.fused_route <token_choice> <sigmoid> %x, %w selection_bias(%b : tensor<64xf32>)
      {k = 4 : i64, renormalize, epsilon = 1.0e-20 : f64, scaling_factor = 2.5 : f64,
       num_groups = 8 : i64, topk_groups = 4 : i64}
      : tensor<?x1024xbf16>, tensor<64x1024xbf16> -> tensor<?x4xbf16>, tensor<?x4xi32>
  return %wt, %ids : tensor<?x4xbf16>, tensor<?x4xi32>
}

// -----

// moe.route on logits, top_p mode with skip_ratio: the kernel copies the
// logits into shared memory and routes them; no router, no workspace.
// CHECK-LABEL: func.func @top_p(
// CHECK: gpu.launch_func async [%{{.*}}] @moe_kernels::@[[K:route_f16_e16_k4_softmax_f32_i64_p[0-9a-f]+]] blocks in
// CHECK: gpu.func @[[K]](%{{.*}}: memref<?x16xf16>, %{{.*}}: memref<?x4xf32>, %{{.*}}: memref<?x4xi64>)
// CHECK: arith.extf %{{.*}} : f16 to f32
// CHECK: gpu.barrier
// Slot j is used while the scores before it sum to less than p = 0.5.
// CHECK: arith.cmpf olt, %{{.*}}, %cst
// CHECK: arith.select
func.func @top_p(%l: tensor<?x16xf16>) -> (tensor<?x4xf32>, tensor<?x4xi64>) {
  %wt, %ids = moe.route <top_p> <softmax> %l {k = 4 : i64, top_p = 0.5 : f64}
      : tensor<?x16xf16> -> tensor<?x4xf32>, tensor<?x4xi64>
  return %wt, %ids : tensor<?x4xf32>, tensor<?x4xi64>
}

// -----

// [H, E] router (ONNX MatMul layout): scalar loads down the columns;
// softmax after top-k and skip_ratio.
// CHECK-LABEL: func.func @transposed(
// CHECK: gpu.launch_func async [%{{.*}}] @moe_kernels::@[[K:fused_route_f32_f32t_h32_e4_k2_softmax_after_topk_f32_i64_skip[0-9a-f]+]] blocks in
// CHECK: gpu.func @[[K]](%{{.*}}: memref<?x32xf32>, %[[WT:.*]]: memref<32x4xf32>,
// CHECK: memref.load %[[WT]]
// CHECK: llvm.intr.fma
// Skipped slots: id -1, weight 0.
// CHECK: arith.cmpi ugt
// CHECK: arith.cmpf olt
func.func @transposed(%x: tensor<?x32xf32>, %w: tensor<32x4xf32>) -> (tensor<?x2xf32>, tensor<?x2xi64>) {
  %wt, %ids = moe.fused_route <token_choice> <softmax_after_topk> %x, %w {k = 2 : i64, weight_transposed, skip_ratio = 0.5 : f64}
      : tensor<?x32xf32>, tensor<32x4xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  return %wt, %ids : tensor<?x2xf32>, tensor<?x2xi64>
}

// -----

// expert_mask (experts 1 and 4 pruned): masked logits become -inf before the
// sigmoid, and the selection score stays -inf (sigmoid made it 0); the mask
// is compiled in as 32-bit words (the kernel name holds them).
// CHECK-LABEL: func.func @masked(
// CHECK: gpu.launch_func async [%{{.*}}] @moe_kernels::@[[K:route_f32_e6_k2_sigmoid_f32_i64_m0000002d]] blocks in
// CHECK: gpu.func @[[K]](
// CHECK: %[[WORD:.*]] = arith.select %{{.*}}, %c18_i32, %c0_i32 : i32
// CHECK: arith.shrui %[[WORD]]
// CHECK: scf.if
// CHECK: memref.store %cst{{.*}} : memref<8x6xf32, #gpu.address_space<workgroup>>
func.func @masked(%l: tensor<?x6xf32>) -> (tensor<?x2xf32>, tensor<?x2xi64>) {
  %wt, %ids = moe.route <token_choice> <sigmoid> %l {k = 2 : i64, expert_mask = array<i1: true, false, true, true, false, true>}
      : tensor<?x6xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  return %wt, %ids : tensor<?x2xf32>, tensor<?x2xi64>
}

// -----

// PhiMoE's sparsemixer (k = 2): no score transform; each slot takes the best
// logit m among the experts not yet taken, and its weight is 1 / sum of
// exp(l - m) over those whose (m - l) / max(|l|, m) is within 2 * jitter_eps
// (a warp sum), times the scaling factor.
// CHECK-LABEL: func.func @phimoe(
// CHECK: gpu.launch_func async {{.*}} @moe_kernels::@fused_route_f32_f32_h64_e16_k2_sparsemixer_f32_i64_s3ff8000000000000_j3f847ae147ae147b
// CHECK: gpu.func @fused_route_f32_f32_h64_e16_k2_sparsemixer_f32_i64_s3ff8000000000000_j3f847ae147ae147b(
// CHECK-NOT: math.exp
// CHECK: scf.for %[[J:.*]] = %c0 to %c2 step %c1 iter_args(%[[TAKEN:.*]] = %{{.*}}, %{{.*}} = %{{.*}}) -> (i32, f32)
// The slot's best logit: lane scans, then a butterfly of shuffles (value
// and index).
// CHECK-COUNT-10: gpu.shuffle  xor
// CHECK: %[[BEST:.*]] = arith.select %{{.*}}, %{{.*}}, %{{.*}} : f32
// CHECK: scf.for
// CHECK: arith.shrui %[[TAKEN]]
// CHECK: scf.if
// CHECK: %[[L:.*]] = memref.load
// CHECK: arith.andi %{{.*}}, %c2147483647_i32 : i32
// CHECK: %[[ABS:.*]] = arith.bitcast %{{.*}} : i32 to f32
// CHECK: %[[GAP:.*]] = arith.subf %[[BEST]], %[[L]] : f32
// CHECK: %[[FACTOR:.*]] = arith.maximumf %[[ABS]], %[[BEST]] : f32
// CHECK: %[[RATIO:.*]] = arith.divf %[[GAP]], %[[FACTOR]] : f32
// CHECK: %[[FAR:.*]] = arith.cmpf ogt, %[[RATIO]], %{{.*}} : f32
// CHECK: nvvm.inline_ptx "ex2.approx.f32
// CHECK: arith.select %[[FAR]], %{{.*}}, %{{.*}} : f32
// CHECK-COUNT-5: gpu.shuffle  xor
// CHECK: %[[W:.*]] = arith.divf %{{.*}}, %{{.*}} : f32
// CHECK: memref.store %[[W]]
func.func @phimoe(%x: tensor<?x64xf32>, %r: tensor<16x64xf32>) -> (tensor<?x2xf32>, tensor<?x2xi64>) {
  %w, %i = moe.fused_route <token_choice> <sparsemixer> %x, %r {k = 2 : i64, jitter_eps = 0.01 : f64, scaling_factor = 1.5 : f64}
      : tensor<?x64xf32>, tensor<16x64xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  return %w, %i : tensor<?x2xf32>, tensor<?x2xi64>
}

// -----

// Expert choice: the routing kernel only scores (softmax into an f32 [E, T]
// scratch, each expert's column contiguous), then the host zeroes the dense
// gate and one block of 1024 threads per expert selects its C = min(T,
// ceil(T * 2 / 8)) best tokens (C computed on the host in f64 as moe.route
// does). The ids are a flat [E * C] buffer, viewed as [E, C].
// CHECK-LABEL: func.func @expert_choice(
// CHECK-DAG: %[[C1024:.*]] = arith.constant 1024 : index
// CHECK-DAG: %[[C8:.*]] = arith.constant 8 : index
// CHECK-DAG: %[[E:.*]] = arith.constant 8.000000e+00 : f64
// CHECK-DAG: %[[F:.*]] = arith.constant 2.000000e+00 : f64
// CHECK: %[[XB:.*]] = bufferization.to_buffer
// CHECK: %[[T:.*]] = memref.dim %[[XB]]
// CHECK: %[[TE:.*]] = arith.muli %[[T]], %[[C8]]
// CHECK: %[[S:.*]], %{{.*}} = gpu.alloc async [%{{.*}}] (%[[TE]]) : memref<?xf32>
// CHECK: %[[SCORED:.*]] = gpu.launch_func async [%{{.*}}] @moe_kernels::@[[SCORE:fused_route_bf16_bf16_h64_e8_choice_softmax]] {{.*}} args(%[[XB]] : memref<?x64xbf16>, %{{.*}} : memref<8x64xbf16>, %[[S]] : memref<?xf32>)
// CHECK: %[[TF:.*]] = arith.uitofp
// CHECK: %[[Q:.*]] = arith.divf %{{.*}}, %[[E]] : f64
// CHECK: arith.minimumf %[[Q]], %[[TF]] : f64
// CHECK: %[[CAP:.*]] = arith.index_castui %{{.*}} : i64 to index
// CHECK: %[[N:.*]] = arith.muli %[[CAP]], %[[C8]] : index
// CHECK: %[[G:.*]], %{{.*}} = gpu.alloc async [%[[SCORED]]] (%[[T]]) : memref<?x8xbf16>
// CHECK: %[[IDS:.*]], %{{.*}} = gpu.alloc async [%{{.*}}] (%[[N]]) : memref<?xi64>
// CHECK: %[[KEYS:.*]], %[[K:.*]] = gpu.alloc async
// CHECK: %[[Z:.*]] = gpu.memset async [%[[K]]] %[[G]], %{{.*}} : memref<?x8xbf16>, bf16
// CHECK: gpu.launch_func async [%[[Z]]] @moe_kernels::@[[SELECT:expert_choice_select_e8_bf16_i64]] blocks in (%[[C8]], %{{.*}}, %{{.*}}) threads in (%[[C1024]], %{{.*}}, %{{.*}}) args(%[[S]] : memref<?xf32>, %[[G]] : memref<?x8xbf16>, %[[IDS]] : memref<?xi64>, %[[KEYS]] : memref<?xi64>)
// CHECK: gpu.wait
// CHECK: %[[RG:.*]] = bufferization.to_tensor %[[G]]
// CHECK: %[[VIEW:.*]] = memref.expand_shape %[[IDS]] {{\[\[}}0, 1]] output_shape [8, %{{.*}}] : memref<?xi64> into memref<8x?xi64>
// CHECK: %[[RI:.*]] = bufferization.to_tensor %[[VIEW]]
// CHECK: return %[[RG]], %[[RI]]

// The scoring kernel stores each token's softmax in place of routing it
// (no other global store).
// CHECK: gpu.func @[[SCORE]](%{{.*}}: memref<?x64xbf16>, %{{.*}}: memref<8x64xbf16>, %[[OUT:.*]]: memref<?xf32>)
// CHECK: nvvm.inline_ptx "ex2.approx.f32 $0, $1;"
// CHECK: arith.divf
// CHECK: memref.store %{{.*}}, %[[OUT]][%{{.*}}] : memref<?xf32>
// CHECK-NOT: memref.store %{{.*}} : memref<?x
// CHECK: gpu.return

// The selection: four radix passes over the bytes of the order-preserving
// score bits (shared histogram, warp scan of the bins), the tied tokens
// ranked by ballots, then a bitonic sort of the 64-bit keys in shared memory
// (C <= 4096) or in the expert's slice of the global keys.
// CHECK: gpu.func @[[SELECT]](%[[SC:.*]]: memref<?xf32>, %[[GATE:.*]]: memref<?x8xbf16>, %[[ID:.*]]: memref<?xi64>, %[[GK:.*]]: memref<?xi64>) workgroup(%[[HIST:.*]] : memref<256xi32, #gpu.address_space<workgroup>>, %[[ST:.*]] : memref<4xi32, #gpu.address_space<workgroup>>, %{{.*}} : memref<32xi32, #gpu.address_space<workgroup>>, %[[SK:.*]] : memref<4096xi64, #gpu.address_space<workgroup>>) kernel attributes {known_block_size = array<i32: 1024, 1, 1>}
// CHECK: arith.bitcast %{{.*}} : f32 to i32
// CHECK: arith.andi %{{.*}}, %c0_i32
// CHECK: memref.atomic_rmw addi %{{.*}}, %[[HIST]]
// CHECK: gpu.shuffle  up
// CHECK: arith.andi %{{.*}}, %c-16777216_i32
// CHECK: arith.andi %{{.*}}, %c-65536_i32
// CHECK: arith.andi %{{.*}}, %c-256_i32
// CHECK: "llvm.intr.ctlz"
// CHECK: nvvm.vote.sync  ballot
// CHECK: memref.atomic_rmw addi %{{.*}}, %[[ST]]
// CHECK: memref.store %{{.*}}, %[[SK]]
// CHECK: memref.store %{{.*}}, %[[GK]]
// CHECK: arith.cmpi ult, %{{.*}}, %{{.*}} : i64
// CHECK: arith.cmpi ugt, %{{.*}}, %{{.*}} : i64
// CHECK: gpu.barrier
// CHECK: memref.store %{{.*}}, %[[ID]][%{{.*}}] : memref<?xi64>
// CHECK: memref.store %{{.*}}, %[[GATE]][%{{.*}}, %{{.*}}] : memref<?x8xbf16>
// CHECK: gpu.return
func.func @expert_choice(%x: tensor<?x64xbf16>, %w: tensor<8x64xbf16>) -> (tensor<?x8xbf16>, tensor<8x?xi64>) {
  %g, %ids = moe.fused_route <expert_choice> <softmax> %x, %w {capacity_factor = 2.0 : f64}
      : tensor<?x64xbf16>, tensor<8x64xbf16> -> tensor<?x8xbf16>, tensor<8x?xi64>
  return %g, %ids : tensor<?x8xbf16>, tensor<8x?xi64>
}
