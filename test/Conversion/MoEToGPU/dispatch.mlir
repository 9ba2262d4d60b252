// RUN: moe-opt %s --convert-moe-to-gpu -split-input-file | FileCheck %s

// Dropless token-choice dispatch: four launches on one stream whose grids
// come from T and k only (no read of the routing on the host): count and
// scatter over chunks of 256 slots (8 per block), a one-block scan, a
// gather of one block per row; or, for at most 8 chunks, one block for the
// first three (chosen on the host from T). The workspace (per-chunk counts, the slot
// of each row) is freed after the last launch.
// CHECK-LABEL: func.func @dispatch(
// CHECK-SAME: %[[X:.*]]: tensor<?x64xbf16>, %[[IDS:.*]]: tensor<?x2xi64>)
// CHECK-DAG: %[[C2:.*]] = arith.constant 2 : index
// CHECK-DAG: %[[C8:.*]] = arith.constant 8 : index
// CHECK: %[[XB:.*]] = bufferization.to_buffer %[[X]] read_only
// CHECK: %[[IB:.*]] = bufferization.to_buffer %[[IDS]] read_only
// CHECK: %[[T:.*]] = memref.dim %[[IB]]
// CHECK: %[[N:.*]] = arith.muli %[[T]], %[[C2]]
// CHECK: %[[CHUNKS:.*]] = arith.divui
// CHECK: %[[ROWS:.*]], %{{.*}} = gpu.alloc async [%{{.*}}] (%[[N]]) : memref<?x64xbf16>
// CHECK: %[[OFF:.*]], %{{.*}} = gpu.alloc async [%{{.*}}] () : memref<9xi64>
// CHECK: %[[MAP:.*]], %{{.*}} = gpu.alloc async [%{{.*}}] (%[[T]]) : memref<?x2xi64>
// CHECK: %[[NC:.*]] = arith.muli %[[CHUNKS]], %[[C8]]
// CHECK: %[[CNT:.*]], %{{.*}} = gpu.alloc async [%{{.*}}] (%[[NC]]) : memref<?xi32>
// CHECK: %[[SRC:.*]], %[[S0:.*]] = gpu.alloc async [%{{.*}}] (%[[N]]) : memref<?xi32>
// At most 8 chunks (T * k <= 2048): one block counts, scans and scatters.
// CHECK: %[[FEW:.*]] = arith.cmpi ule, %[[CH2:.*]], %[[C8]] : index
// CHECK: scf.if %[[FEW]] {
// CHECK: gpu.launch_func async [%[[S0]]] @moe_kernels::@[[RANK:dispatch_rank_bf16_i64_i64_i64_e8_k2_h64]] blocks in (%[[ONE:.*]], %[[ONE]], %[[ONE]]) threads in ({{.*}}) args(%[[IB]] : memref<?x2xi64>, %[[OFF]] : memref<9xi64>, %[[MAP]] : memref<?x2xi64>, %[[SRC]] : memref<?xi32>)
// CHECK: } else {
// CHECK: %[[S1:.*]] = gpu.launch_func async [%[[S0]]] @moe_kernels::@[[COUNT:dispatch_count_bf16_i64_i64_i64_e8_k2_h64]] blocks in (%[[B:.*]], %{{.*}}, %{{.*}}) threads in ({{.*}}) args(%[[IB]] : memref<?x2xi64>, %[[CNT]] : memref<?xi32>)
// CHECK: %[[S2:.*]] = gpu.launch_func async [%[[S1]]] @moe_kernels::@[[SCAN:dispatch_scan_bf16_i64_i64_i64_e8_k2_h64]] blocks in (%[[ONE]], %[[ONE]], %[[ONE]]) threads in ({{.*}}) args(%[[IB]] : memref<?x2xi64>, %[[CNT]] : memref<?xi32>, %[[OFF]] : memref<9xi64>)
// CHECK: %[[S3:.*]] = gpu.launch_func async [%[[S2]]] @moe_kernels::@[[SCATTER:dispatch_scatter_bf16_i64_i64_i64_e8_k2_h64]] blocks in (%[[B]], {{.*}} args(%[[IB]] : memref<?x2xi64>, %[[CNT]] : memref<?xi32>, %[[OFF]] : memref<9xi64>, %[[MAP]] : memref<?x2xi64>, %[[SRC]] : memref<?xi32>)
// CHECK-NEXT: }
// The gather follows either on the one stream.
// CHECK: %[[S4:.*]] = gpu.launch_func async [%[[S0]]] @moe_kernels::@[[GATHER:dispatch_gather_bf16_i64_i64_i64_e8_k2_h64]] blocks in (%{{[a-z0-9_]+}}, {{.*}} args(%[[XB]] : memref<?x64xbf16>, %[[OFF]] : memref<9xi64>, %[[SRC]] : memref<?xi32>, %[[ROWS]] : memref<?x64xbf16>)
// CHECK: %[[S5:.*]] = gpu.dealloc async [%[[S4]]] %[[CNT]]
// CHECK: %[[S6:.*]] = gpu.dealloc async [%[[S5]]] %[[SRC]]
// CHECK: gpu.wait [%[[S6]]]
// CHECK: return

// Count: a per-warp histogram with shared-memory atomics.
// CHECK: gpu.func @[[COUNT]](%{{.*}}: memref<?x2xi64>, %{{.*}}: memref<?xi32>) workgroup(%[[HIST:.*]] : memref<8x8xi32, #gpu.address_space<workgroup>>)
// CHECK: memref.atomic_rmw addi %{{.*}}, %[[HIST]]
// CHECK: nvvm.bar.warp.sync
// Scan: per-expert exclusive scan over chunks, then over experts.
// CHECK: gpu.func @[[SCAN]](
// CHECK: scf.for
// CHECK: gpu.barrier
// CHECK: gpu.barrier
// CHECK: arith.extui %{{.*}} : i32 to i64
// Scatter: ranks from match.any in token-then-slot order, no atomics.
// CHECK: gpu.func @[[SCATTER]](
// CHECK-NOT: atomic_rmw
// CHECK: nvvm.read.ptx.sreg.lanemask.lt
// CHECK: nvvm.match.sync any
// CHECK: llvm.intr.ctpop
// CHECK: nvvm.bar.warp.sync
// Gather: the token is the row's slot / k; 16-byte vectors, zeros past
// offsets[E].
// CHECK: gpu.func @[[GATHER]](
// CHECK: arith.divui %{{.*}}, %c2 : index
// CHECK: vector.load %{{.*}} {alignment = 16 : i64} : memref<?x64xbf16>, vector<8xbf16>
// CHECK: vector.store %{{.*}} {alignment = 16 : i64} : memref<?x64xbf16>, vector<8xbf16>
func.func @dispatch(%x: tensor<?x64xbf16>, %ids: tensor<?x2xi64>) -> (tensor<?x64xbf16>, tensor<9xi64>, tensor<?x2xi64>) {
  %r, %o, %m = moe.dispatch %x, %ids {num_experts = 8 : i64}
      : tensor<?x64xbf16>, tensor<?x2xi64> -> tensor<?x64xbf16>, tensor<9xi64>, tensor<?x2xi64>
  return %r, %o, %m : tensor<?x64xbf16>, tensor<9xi64>, tensor<?x2xi64>
}

// The one-block form: the warps' counts, the experts' ranks over the chunks
// and the totals stay in shared memory; the offsets it stores are read
// after a barrier.
// CHECK: gpu.func @[[RANK]](%{{.*}}: memref<?x2xi64>, %{{.*}}: memref<9xi64>, %{{.*}}: memref<?x2xi64>, %{{.*}}: memref<?xi32>) workgroup(%[[RHIST:.*]] : memref<8x8xi32, #gpu.address_space<workgroup>>, %{{.*}} : memref<8xi32, #gpu.address_space<workgroup>>, %{{.*}} : memref<256xi32, #gpu.address_space<workgroup>>)
// CHECK: memref.atomic_rmw addi %{{.*}}, %[[RHIST]]
// CHECK: gpu.barrier
// CHECK: scf.for
// CHECK: memref.store %{{.*}}, %[[RHIST]]
// CHECK: arith.extui %{{.*}} : i32 to i64
// CHECK: gpu.barrier
// CHECK: nvvm.match.sync any
// CHECK-NOT: gpu.barrier
// CHECK: gpu.return

// -----

// In-order capacity: the scan caps each expert's total, the scatter keeps a
// slot while its rank is below the capacity (else row -1). i32 ids and
// offsets, f32 rows of an odd width (scalar copies).
// CHECK-LABEL: func.func @capacity(
// CHECK: @moe_kernels::@dispatch_count_f32_i32_i32_i32_e4_k1_h3_cap2
// CHECK: gpu.func @dispatch_scan_f32_i32_i32_i32_e4_k1_h3_cap2(
// CHECK: arith.minui %{{.*}}, %c2_i32 : i32
// CHECK: gpu.func @dispatch_scatter_f32_i32_i32_i32_e4_k1_h3_cap2(
// CHECK: arith.cmpi slt, %{{.*}}, %c2_i32 : i32
// CHECK: gpu.func @dispatch_gather_f32_i32_i32_i32_e4_k1_h3_cap2(
// CHECK: vector.load %{{.*}} : memref<?x3xf32>, vector<1xf32>
// CHECK: gpu.func @dispatch_rank_f32_i32_i32_i32_e4_k1_h3_cap2(
// CHECK: arith.minui %{{.*}}, %c2_i32 : i32
// CHECK: arith.cmpi slt, %{{.*}}, %c2_i32 : i32
func.func @capacity(%x: tensor<?x3xf32>, %ids: tensor<?x1xi32>) -> (tensor<?x3xf32>, tensor<5xi32>, tensor<?x1xi32>) {
  %r, %o, %m = moe.dispatch %x, %ids {num_experts = 4 : i64, capacity = 2 : i64, drop_policy = #moe.drop_policy<in_order>}
      : tensor<?x3xf32>, tensor<?x1xi32> -> tensor<?x3xf32>, tensor<5xi32>, tensor<?x1xi32>
  return %r, %o, %m : tensor<?x3xf32>, tensor<5xi32>, tensor<?x1xi32>
}

// -----

// scale_rows (Llama 4): the gather takes the routing weights [T, k], reads
// the slot's weight once per row, rounds it to bf16 and multiplies each
// 8-column vector in f32 before rounding it back.
// CHECK-LABEL: func.func @scale_rows(
// CHECK-SAME: %[[X:.*]]: tensor<?x64xbf16>, %[[IDS:.*]]: tensor<?x1xi64>, %[[W:.*]]: tensor<?x1xf32>)
// CHECK: %[[WB:.*]] = bufferization.to_buffer %[[W]] read_only
// CHECK: gpu.launch_func async [%{{.*}}] @moe_kernels::@[[GATHER:dispatch_gather_bf16_i64_i64_i64_e4_k1_h64_scaled_f32]] {{.*}} args({{.*}}, %[[WB]] : memref<?x1xf32>)
// CHECK: gpu.func @[[GATHER]](%{{.*}}: memref<?x64xbf16>, %{{.*}}: memref<5xi64>, %{{.*}}: memref<?xi32>, %{{.*}}: memref<?x64xbf16>, %[[SC:.*]]: memref<?x1xf32>)
// CHECK: %[[WT:.*]] = memref.load %[[SC]]
// CHECK: %[[WR:.*]] = arith.truncf %[[WT]] : f32 to bf16
// CHECK: %[[WF:.*]] = arith.extf %[[WR]] : bf16 to f32
// CHECK: scf.for
// CHECK: %[[V:.*]] = vector.load {{.*}} : memref<?x64xbf16>, vector<8xbf16>
// CHECK: %[[VF:.*]] = arith.extf %[[V]] : vector<8xbf16> to vector<8xf32>
// CHECK: %[[SPLAT:.*]] = vector.broadcast %[[WF]] : f32 to vector<8xf32>
// CHECK: %[[P:.*]] = arith.mulf %[[VF]], %[[SPLAT]] : vector<8xf32>
// CHECK: arith.truncf %[[P]] : vector<8xf32> to vector<8xbf16>
func.func @scale_rows(%x: tensor<?x64xbf16>, %ids: tensor<?x1xi64>, %w: tensor<?x1xf32>) -> (tensor<?x64xbf16>, tensor<5xi64>, tensor<?x1xi64>) {
  %r, %o, %m = moe.dispatch %x, %ids weights(%w : tensor<?x1xf32>) {num_experts = 4 : i64, scale_rows}
      : tensor<?x64xbf16>, tensor<?x1xi64> -> tensor<?x64xbf16>, tensor<5xi64>, tensor<?x1xi64>
  return %r, %o, %m : tensor<?x64xbf16>, tensor<5xi64>, tensor<?x1xi64>
}

// -----

// Expert choice: expert e's rows are e * C .. (e + 1) * C, so there is
// nothing to count: a clear sets the [T, E] row map to -1 (one thread per
// entry), a map writes each row's token, its row-map entry and the offsets
// (one thread per row, and E + 1 for the offsets), and the k = 1 gather
// copies the rows. The ids [E, C] are read flat.
// CHECK-LABEL: func.func @expert_choice(
// CHECK-DAG: %[[C8:.*]] = arith.constant 8 : index
// CHECK: %[[XB:.*]] = bufferization.to_buffer %{{.*}} read_only : tensor<?x64xbf16>
// CHECK: %[[IB:.*]] = bufferization.to_buffer %{{.*}} read_only : tensor<8x?xi64> to memref<8x?xi64>
// CHECK: %[[IDS:.*]] = memref.collapse_shape %[[IB]] {{\[\[}}0, 1]] : memref<8x?xi64> into memref<?xi64>
// CHECK: %[[T:.*]] = memref.dim %[[XB]]
// CHECK: %[[N:.*]] = memref.dim %[[IDS]]
// CHECK: %[[ROWS:.*]], %{{.*}} = gpu.alloc async [%{{.*}}] (%[[N]]) : memref<?x64xbf16>
// CHECK: %[[OFF:.*]], %{{.*}} = gpu.alloc async [%{{.*}}] () : memref<9xi64>
// CHECK: %[[MAP:.*]], %{{.*}} = gpu.alloc async [%{{.*}}] (%[[T]]) : memref<?x8xi32>
// CHECK: %[[SRC:.*]], %{{.*}} = gpu.alloc async [%{{.*}}] (%[[N]]) : memref<?xi32>
// CHECK: arith.muli %[[T]], %[[C8]]
// CHECK: %[[S1:.*]] = gpu.launch_func async [%{{.*}}] @moe_kernels::@[[CLEAR:dispatch_choice_clear_i32_e8]] {{.*}} args(%[[MAP]] : memref<?x8xi32>)
// CHECK: %[[S2:.*]] = gpu.launch_func async [%[[S1]]] @moe_kernels::@[[MAPK:dispatch_choice_map_i64_i64_i32_e8]] {{.*}} args(%[[IDS]] : memref<?xi64>, %[[OFF]] : memref<9xi64>, %[[MAP]] : memref<?x8xi32>, %[[SRC]] : memref<?xi32>)
// CHECK: %[[S3:.*]] = gpu.launch_func async [%[[S2]]] @moe_kernels::@dispatch_gather_bf16_i64_i64_i32_e8_k1_h64 blocks in (%[[N]], %{{.*}}, %{{.*}}) threads in (%{{.*}}, %{{.*}}, %{{.*}}) args(%[[XB]] : memref<?x64xbf16>, %[[OFF]] : memref<9xi64>, %[[SRC]] : memref<?xi32>, %[[ROWS]] : memref<?x64xbf16>)
// CHECK: gpu.dealloc async [%[[S3]]] %[[SRC]]
// CHECK: gpu.func @[[CLEAR]](%[[M:.*]]: memref<?x8xi32>)
// CHECK: memref.store %c-1_i32, %[[M]]
// CHECK: gpu.func @[[MAPK]](%[[I:.*]]: memref<?xi64>, %[[O:.*]]: memref<9xi64>, %[[RM:.*]]: memref<?x8xi32>, %[[S:.*]]: memref<?xi32>)
// An empty batch (no tokens) leaves every expert empty.
// CHECK: arith.cmpi eq, %{{.*}}, %c0
// CHECK: memref.store %{{.*}}, %[[O]]
// CHECK: memref.load %[[I]]
// CHECK: memref.store %{{.*}}, %[[S]]
// CHECK: memref.store %{{.*}}, %[[RM]]
// CHECK-NOT: gpu.func @dispatch_count
func.func @expert_choice(%x: tensor<?x64xbf16>, %ids: tensor<8x?xi64>) -> (tensor<?x64xbf16>, tensor<9xi64>, tensor<?x8xi32>) {
  %r, %o, %m = moe.dispatch %x, %ids {num_experts = 8 : i64, expert_choice}
      : tensor<?x64xbf16>, tensor<8x?xi64> -> tensor<?x64xbf16>, tensor<9xi64>, tensor<?x8xi32>
  return %r, %o, %m : tensor<?x64xbf16>, tensor<9xi64>, tensor<?x8xi32>
}

// -----

// Merged experts (--moe-merge-experts): expert_map renames the router's 4
// ids to 2 experts in the count and the scatter, through a constant table
// in the kernel module; ids outside [0, 4) have no row. The scan and the
// gather never read the ids' values, so they are the unmapped kernels.
// CHECK-LABEL: func.func @merged(
// CHECK: gpu.launch_func async [%{{.*}}] @moe_kernels::@[[COUNT:dispatch_count_bf16_i64_i64_i64_e2_k2_h64_m[0-9a-f]+]]
// CHECK: gpu.launch_func async [%{{.*}}] @moe_kernels::@dispatch_scan_bf16_i64_i64_i64_e2_k2_h64 blocks
// CHECK: gpu.launch_func async [%{{.*}}] @moe_kernels::@[[SCATTER:dispatch_scatter_bf16_i64_i64_i64_e2_k2_h64_m[0-9a-f]+]]
// CHECK: gpu.launch_func async [%{{.*}}] @moe_kernels::@dispatch_gather_bf16_i64_i64_i64_e2_k2_h64 blocks
// CHECK: memref.global "private" constant @[[MAP:moe_expert_map_m[0-9a-f]+]] : memref<4xi32> = dense<[0, 1, 1, 0]>
// CHECK: gpu.func @[[COUNT]](
// CHECK: %[[TABLE:.*]] = memref.get_global @[[MAP]] : memref<4xi32>
// CHECK: %[[ID:.*]] = memref.load %{{.*}} : memref<?x2xi64>
// CHECK: %[[LOW:.*]] = arith.cmpi sge, %[[ID]], %c0_i64
// CHECK: %[[HIGH:.*]] = arith.cmpi slt, %[[ID]], %c4_i64
// CHECK: %[[VALID:.*]] = arith.andi %[[LOW]], %[[HIGH]]
// CHECK: %[[AT:.*]] = arith.select %[[VALID]]
// CHECK: memref.load %[[TABLE]][%[[AT]]] : memref<4xi32>
// CHECK: gpu.func @[[SCATTER]](
// CHECK: memref.get_global @[[MAP]] : memref<4xi32>
func.func @merged(%x: tensor<?x64xbf16>, %ids: tensor<?x2xi64>) -> (tensor<?x64xbf16>, tensor<3xi64>, tensor<?x2xi64>) {
  %r, %o, %m = moe.dispatch %x, %ids {num_experts = 2 : i64, expert_map = array<i64: 0, 1, 1, 0>}
      : tensor<?x64xbf16>, tensor<?x2xi64> -> tensor<?x64xbf16>, tensor<3xi64>, tensor<?x2xi64>
  return %r, %o, %m : tensor<?x64xbf16>, tensor<3xi64>, tensor<?x2xi64>
}

// -----

// group_size (Switch's capacity per sequence of G tokens): the host takes
// G <= 0 or G > T as one group of all T tokens (as the CPU kernel does),
// keeps G >= 1, and cuts ceil(T / G) * ceil(G * k / 256) chunks (none spans
// two groups); count, scan and scatter take G, and the scan and the scatter
// also the kept counts (one i32 per chunk and expert). The scan restarts
// each expert's rank at a group's first chunk and carries the capped rows
// of the earlier groups (the next group's first chunk carried along, not a
// remainder per chunk); the scatter puts a kept slot after them.
// CHECK-LABEL: func.func @group_size(
// CHECK-SAME: %[[G0:[^:]*]]: index)
// CHECK: %[[T:.*]] = memref.dim %{{.*}}, %c0 : memref<?x2xi64>
// CHECK: %[[NONE:.*]] = arith.cmpi sle, %[[G0]], %c0 : index
// CHECK: %[[G1:.*]] = arith.select %[[NONE]], %[[T]], %[[G0]] : index
// CHECK: %[[G2:.*]] = arith.minui %[[G1]], %[[T]] : index
// CHECK: %[[G:.*]] = arith.maxui %[[G2]], %c1 : index
// CHECK: %[[GT:.*]] = arith.addi %[[T]], %[[G]] : index
// CHECK: %[[GT1:.*]] = arith.subi %[[GT]], %c1 : index
// CHECK: %[[GROUPS:.*]] = arith.divui %[[GT1]], %[[G]] : index
// CHECK: %[[GK:.*]] = arith.muli %[[G]], %c2 : index
// CHECK: %[[PER:.*]] = arith.divui %{{.*}}, %c256 : index
// CHECK: %[[CHUNKS:.*]] = arith.muli %[[GROUPS]], %[[PER]] : index
// CHECK: %[[NC:.*]] = arith.muli %[[CHUNKS]], %c4 : index
// CHECK: %[[COUNTS:.*]], %{{.*}} = gpu.alloc async [%{{.*}}] (%[[NC]]) : memref<?xi32>
// CHECK: %[[NK:.*]] = arith.muli %[[CHUNKS]], %c4 : index
// CHECK: %[[KEPT:.*]], %{{.*}} = gpu.alloc async [%{{.*}}] (%[[NK]]) : memref<?xi32>
// CHECK: gpu.launch_func async {{.*}} @moe_kernels::@dispatch_count_bf16_i64_i64_i64_e4_k2_h32_cap3_grouped {{.*}} args(%{{.*}} : memref<?x2xi64>, %[[COUNTS]] : memref<?xi32>, %[[G]] : index)
// CHECK: gpu.launch_func async {{.*}} @moe_kernels::@dispatch_scan_bf16_i64_i64_i64_e4_k2_h32_cap3_grouped blocks in (%c1, %c1, %c1) {{.*}} args(%{{.*}} : memref<?x2xi64>, %[[COUNTS]] : memref<?xi32>, %{{.*}} : memref<5xi64>, %[[KEPT]] : memref<?xi32>, %[[G]] : index)
// CHECK: gpu.launch_func async {{.*}} @moe_kernels::@dispatch_scatter_bf16_i64_i64_i64_e4_k2_h32_cap3_grouped {{.*}} args({{.*}}, %[[KEPT]] : memref<?xi32>, %[[G]] : index)
// The gather is the one without groups.
// CHECK: gpu.launch_func async {{.*}} @moe_kernels::@dispatch_gather_bf16_i64_i64_i64_e4_k2_h32_cap3 blocks
// CHECK-LABEL: gpu.func @dispatch_scan_bf16_i64_i64_i64_e4_k2_h32_cap3_grouped(
// CHECK-SAME: %[[KB:[^:]*]]: memref<?xi32>, %[[GA:[^:]*]]: index)
// CHECK: arith.maxui %[[GA]], %c1 : index
// CHECK: scf.for {{.*}} iter_args(%[[RANK:.*]] = %c0_i32, %[[BEFORE:.*]] = %c0_i32, %[[NEXT:.*]] = %c0) -> (i32, i32, index) {
// CHECK: %[[ISNEXT:.*]] = arith.cmpi eq, %{{.*}}, %[[NEXT]] : index
// CHECK: %[[FIRST:.*]] = arith.andi %{{.*}}, %[[ISNEXT]] : i1
// CHECK: %[[CAPPED:.*]] = arith.minui %[[RANK]], %c3_i32 : i32
// CHECK: %[[ADDED:.*]] = arith.addi %[[BEFORE]], %[[CAPPED]] : i32
// CHECK: %[[NEWBEFORE:.*]] = arith.select %[[FIRST]], %[[ADDED]], %[[BEFORE]] : i32
// CHECK: %[[RESTART:.*]] = arith.select %[[FIRST]], %c0_i32, %[[RANK]] : i32
// CHECK: memref.store %[[RESTART]], %arg1
// CHECK: memref.store %[[NEWBEFORE]], %[[KB]]
// CHECK-LABEL: gpu.func @dispatch_scatter_bf16_i64_i64_i64_e4_k2_h32_cap3_grouped(
// CHECK: nvvm.match.sync any
// CHECK: arith.cmpi slt, %{{.*}}, %c3_i32 : i32
// CHECK: %[[OFF:.*]] = memref.load %arg2
// CHECK: %[[KEPTBEFORE:.*]] = memref.load %arg5
// CHECK: arith.addi %{{.*}}, %[[KEPTBEFORE]] : i32
func.func @group_size(%x: tensor<?x32xbf16>, %ids: tensor<?x2xi64>, %g: index) -> (tensor<?x32xbf16>, tensor<5xi64>, tensor<?x2xi64>) {
  %r, %o, %m = moe.dispatch %x, %ids group_size(%g) {num_experts = 4 : i64, capacity = 3 : i64, drop_policy = #moe.drop_policy<in_order>}
      : tensor<?x32xbf16>, tensor<?x2xi64> -> tensor<?x32xbf16>, tensor<5xi64>, tensor<?x2xi64>
  return %r, %o, %m : tensor<?x32xbf16>, tensor<5xi64>, tensor<?x2xi64>
}

// -----

// drop_policy by_weight: each expert keeps its `capacity` heaviest slots.
// Before the count: the scores kernel lays the S = T * k slots' weights out
// as [E, S] (a slot's weight in its expert's row, -inf elsewhere; E * S
// threads), the expert-choice selection takes min(capacity, S) of each row
// (one block per expert), and the mark kernel flags, in the zeroed keep
// buffer [S], the chosen slots of the row's own expert. Count and scatter
// read the flags and take every flagged slot (no in-order capacity: a NaN
// weight, flagged by the scores kernel outside the selection, stays as on
// the CPU); the scan and the gather are the dropless ones.
// CHECK-LABEL: func.func @by_weight(
// CHECK-SAME: %[[W:[^:]*]]: tensor<?x2xf32>)
// CHECK: %[[S:.*]] = arith.muli %{{.*}}, %c2 : index
// CHECK: %[[C:.*]] = arith.minui %[[S]], %c3 : index
// CHECK: %[[CHOSEN:.*]] = arith.muli %[[C]], %c4 : index
// CHECK: %[[SCORES:.*]], %{{.*}} = gpu.alloc async [%{{.*}}] (%{{.*}}) : memref<?xf32>
// CHECK: %[[GATE:.*]], %{{.*}} = gpu.alloc async [%{{.*}}] (%[[S]]) : memref<?x4xf32>
// CHECK: %[[SEL:.*]], %{{.*}} = gpu.alloc async [%{{.*}}] (%[[CHOSEN]]) : memref<?xi32>
// CHECK: %[[KEYS:.*]], %{{.*}} = gpu.alloc async [%{{.*}}] (%{{.*}}) : memref<?xi64>
// CHECK: %[[KEEP:.*]], %{{.*}} = gpu.alloc async [%{{.*}}] (%[[S]]) : memref<?xi32>
// CHECK: %[[Z:.*]] = gpu.memset async [%{{.*}}] %[[KEEP]], %c0_i32 : memref<?xi32>, i32
// CHECK: %[[L1:.*]] = gpu.launch_func async [%[[Z]]] @moe_kernels::@dispatch_weight_scores_bf16_i64_i64_i64_e4_k2_h32_byweight_f32 {{.*}} args(%[[IDS:[^ ]*]] : memref<?x2xi64>, %{{.*}} : memref<?x2xf32>, %[[SCORES]] : memref<?xf32>, %[[KEEP]] : memref<?xi32>)
// CHECK: %[[L2:.*]] = gpu.launch_func async [%[[L1]]] @moe_kernels::@expert_choice_select_e4_f32_i32 blocks in (%c4, %c1, %c1) threads in (%c1024, %c1, %c1) args(%[[SCORES]] : memref<?xf32>, %[[GATE]] : memref<?x4xf32>, %[[SEL]] : memref<?xi32>, %[[KEYS]] : memref<?xi64>)
// CHECK: %[[L3:.*]] = gpu.launch_func async [%[[L2]]] @moe_kernels::@dispatch_weight_mark_bf16_i64_i64_i64_e4_k2_h32_byweight_f32 {{.*}} args(%[[SEL]] : memref<?xi32>, %[[IDS]] : memref<?x2xi64>, %[[KEEP]] : memref<?xi32>)
// CHECK: gpu.launch_func async [%[[L3]]] @moe_kernels::@dispatch_count_bf16_i64_i64_i64_e4_k2_h32_byweight_f32 {{.*}} args(%[[IDS]] : memref<?x2xi64>, %{{.*}} : memref<?xi32>, %[[KEEP]] : memref<?xi32>)
// CHECK: gpu.launch_func async {{.*}} @moe_kernels::@dispatch_scan_bf16_i64_i64_i64_e4_k2_h32 blocks
// CHECK: gpu.launch_func async {{.*}} @moe_kernels::@dispatch_scatter_bf16_i64_i64_i64_e4_k2_h32_byweight_f32 {{.*}}, %[[KEEP]] : memref<?xi32>)
// CHECK: gpu.launch_func async {{.*}} @moe_kernels::@dispatch_gather_bf16_i64_i64_i64_e4_k2_h32 blocks
// The count sees the kept slots only.
// CHECK-LABEL: gpu.func @dispatch_count_bf16_i64_i64_i64_e4_k2_h32_byweight_f32(
// CHECK: %[[FLAG:.*]] = memref.load %arg2
// CHECK: arith.cmpi ne, %[[FLAG]], %c0_i32 : i32
// The scores: a slot's weight in its expert's row.
// CHECK-LABEL: gpu.func @dispatch_weight_scores_bf16_i64_i64_i64_e4_k2_h32_byweight_f32(
// CHECK: %[[E:.*]] = arith.divui
// CHECK: %[[SLOT:.*]] = arith.remui
// CHECK: arith.cmpi eq, %{{.*}}, %[[E]] : index
// CHECK: %[[MINE:.*]] = arith.andi
// CHECK: %[[WT:.*]] = memref.load %arg1
// CHECK: %[[NAN:.*]] = arith.cmpf uno, %[[WT]], %[[WT]] : f32
// CHECK: memref.store %c1_i32, %arg3
// CHECK: %[[FINITE:.*]] = arith.maximumf %[[WT]], %{{.*}} : f32
// CHECK: %[[SCORE:.*]] = arith.select %{{.*}}, %[[FINITE]], %{{.*}} : f32
// CHECK: memref.store %[[SCORE]], %arg2
// The mark: only the chosen slots of the row's own expert.
// CHECK-LABEL: gpu.func @dispatch_weight_mark_bf16_i64_i64_i64_e4_k2_h32_byweight_f32(
// CHECK: memref.load %arg0
// CHECK: memref.store %c1_i32, %arg2
func.func @by_weight(%x: tensor<?x32xbf16>, %ids: tensor<?x2xi64>, %w: tensor<?x2xf32>) -> (tensor<?x32xbf16>, tensor<5xi64>, tensor<?x2xi64>) {
  %r, %o, %m = moe.dispatch %x, %ids weights(%w : tensor<?x2xf32>) {num_experts = 4 : i64, capacity = 3 : i64, drop_policy = #moe.drop_policy<by_weight>}
      : tensor<?x32xbf16>, tensor<?x2xi64> -> tensor<?x32xbf16>, tensor<5xi64>, tensor<?x2xi64>
  return %r, %o, %m : tensor<?x32xbf16>, tensor<5xi64>, tensor<?x2xi64>
}

// -----

// Two merged layers' by_weight dispatches with different expert maps: the
// scores and mark kernels read the map too, so each gets its own (named by
// the map's hash), as count and scatter do.
// CHECK-LABEL: func.func @two_maps(
// CHECK: @moe_kernels::@dispatch_weight_scores_bf16_i64_i64_i64_e2_k1_h32_byweight_f32_m[[M1:[0-9a-f]+]] blocks
// CHECK: @moe_kernels::@dispatch_weight_mark_bf16_i64_i64_i64_e2_k1_h32_byweight_f32_m[[M1]] blocks
// CHECK: @moe_kernels::@dispatch_weight_scores_bf16_i64_i64_i64_e2_k1_h32_byweight_f32_m[[M2:[0-9a-f]+]] blocks
// CHECK-NOT: _m[[M1]] blocks
// CHECK: @moe_kernels::@dispatch_weight_mark_bf16_i64_i64_i64_e2_k1_h32_byweight_f32_m[[M2]] blocks
func.func @two_maps(%x: tensor<?x32xbf16>, %ids: tensor<?x1xi64>, %w: tensor<?x1xf32>) -> (tensor<?x1xi64>, tensor<?x1xi64>) {
  %r1, %o1, %m1 = moe.dispatch %x, %ids weights(%w : tensor<?x1xf32>) {num_experts = 2 : i64, capacity = 3 : i64, drop_policy = #moe.drop_policy<by_weight>, expert_map = array<i64: 0, 1, 1, 0>}
      : tensor<?x32xbf16>, tensor<?x1xi64> -> tensor<?x32xbf16>, tensor<3xi64>, tensor<?x1xi64>
  %r2, %o2, %m2 = moe.dispatch %x, %ids weights(%w : tensor<?x1xf32>) {num_experts = 2 : i64, capacity = 3 : i64, drop_policy = #moe.drop_policy<by_weight>, expert_map = array<i64: 1, 0, 0, 1>}
      : tensor<?x32xbf16>, tensor<?x1xi64> -> tensor<?x32xbf16>, tensor<3xi64>, tensor<?x1xi64>
  return %m1, %m2 : tensor<?x1xi64>, tensor<?x1xi64>
}
