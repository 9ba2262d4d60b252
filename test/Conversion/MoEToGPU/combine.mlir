// RUN: moe-opt %s --convert-moe-to-gpu -split-input-file | FileCheck %s
// RUN: moe-opt %s --convert-moe-to-gpu=combine=epilogue -split-input-file | FileCheck %s --check-prefix=EPI

// combine=kernel (default): one block per token (grid.x = T) and 8 columns
// per thread (grid.y = ceil(4096 / 2048)); each thread sums the token's
// slots in f32 with 16-byte row loads, skipping slots with row -1, and
// writes its 8 columns once.
// CHECK-LABEL: func.func @mixtral(
// CHECK-DAG: %[[C2:.*]] = arith.constant 2 : index
// CHECK: %[[MAP:.*]] = bufferization.to_buffer %{{.*}} read_only : tensor<?x2xi64>
// CHECK: %[[T:.*]] = memref.dim %[[MAP]], %c0
// CHECK: %[[OUT:.*]], %[[T1:.*]] = gpu.alloc async [%{{.*}}] (%[[T]]) : memref<?x4096xbf16>
// CHECK: %[[T2:.*]] = gpu.launch_func async [%[[T1]]] @moe_kernels::@combine_bf16_i64_f32_bf16_h4096_k2 blocks in (%[[T]], %[[C2]], %c1) threads in (%c256, %c1, %c1) args(%{{.*}} : memref<?x4096xbf16>, %[[MAP]] : memref<?x2xi64>, %{{.*}} : memref<?x2xf32>, %[[OUT]] : memref<?x4096xbf16>)
// CHECK: gpu.wait [%[[T2]]]
// CHECK: gpu.func @combine_bf16_i64_f32_bf16_h4096_k2(%[[ROWS:.*]]: memref<?x4096xbf16>, %[[M:.*]]: memref<?x2xi64>, %[[W:.*]]: memref<?x2xf32>, %[[RES:.*]]: memref<?x4096xbf16>)
// CHECK: %[[TOK:.*]] = gpu.block_id x
// CHECK: %[[COL:.*]] = arith.muli %{{.*}}, %c8
// CHECK: arith.cmpi ult, %[[COL]], %c4096
// CHECK: %[[SUM:.*]] = scf.for %[[S:.*]] = %c0 to %c2 step %c1 iter_args(%[[ACC:.*]] = %{{.*}}) -> (vector<8xf32>)
// CHECK: %[[R:.*]] = memref.load %[[M]][%[[TOK]], %[[S]]]
// CHECK: %[[VALID:.*]] = arith.cmpi sge, %[[R]], %c0_i64
// CHECK: scf.if %[[VALID]] -> (vector<8xf32>)
// CHECK: %[[RI:.*]] = arith.index_cast %[[R]]
// CHECK: %[[V:.*]] = vector.load %[[ROWS]][%[[RI]], %[[COL]]] {alignment = 16 : i64} : memref<?x4096xbf16>, vector<8xbf16>
// CHECK: %[[VF:.*]] = arith.extf %[[V]] : vector<8xbf16> to vector<8xf32>
// CHECK: %[[WT:.*]] = memref.load %[[W]][%[[TOK]], %[[S]]]
// CHECK: %[[WV:.*]] = vector.broadcast %[[WT]]
// CHECK: vector.fma %[[VF]], %[[WV]], %[[ACC]]
// CHECK: } else {
// CHECK: scf.yield %[[ACC]]
// CHECK: arith.truncf %[[SUM]] : vector<8xf32> to vector<8xbf16>
// CHECK: vector.store %{{.*}}, %[[RES]][%[[TOK]], %[[COL]]] {alignment = 16 : i64}

// combine=epilogue: the row -> slot inverse (filled with -1 first), the
// token sums zeroed in f32, the down matmul adding weight * row into token
// slot / 2 with relaxed fp32 atomics, then f32 -> bf16; scratch buffers are
// freed in stream order before the one wait.
// EPI-LABEL: func.func @mixtral(
// EPI: %[[LHS:.*]] = bufferization.to_buffer %{{.*}} read_only : tensor<?x14336xbf16>
// EPI: %[[MAP:.*]] = bufferization.to_buffer %{{.*}} read_only : tensor<?x2xi64>
// EPI: %[[ROWS:.*]] = memref.dim %[[LHS]], %c0
// EPI: %[[T:.*]] = memref.dim %[[MAP]], %c0
// EPI: %[[SLOTS:.*]], %[[A1:.*]] = gpu.alloc async [%{{.*}}] (%[[ROWS]]) : memref<?xi32>
// EPI: %[[F1:.*]] = gpu.memset async [%[[A1]]] %[[SLOTS]], %c-1_i32
// EPI: %[[L1:.*]] = gpu.launch_func async [%[[F1]]] @moe_kernels::@row_slots_i64_k2 {{.*}} args(%[[MAP]] : memref<?x2xi64>, %[[SLOTS]] : memref<?xi32>)
// EPI: %[[SUMS:.*]], %[[A2:.*]] = gpu.alloc async [%[[L1]]] (%[[T]]) : memref<?x4096xf32>
// EPI: %[[F2:.*]] = gpu.memset async [%[[A2]]] %[[SUMS]], %cst : memref<?x4096xf32>, f32
// EPI: %[[L2:.*]] = gpu.launch_func async [%[[F2]]] @moe_kernels::@grouped_matmul_bf16_f32_i64_e8_k14336_n4096_combine2_f32_128x128 blocks in (%c32, %{{.*}}, %c1) {{.*}} args(%[[LHS]] : memref<?x14336xbf16>, %{{.*}} : memref<8x14336x4096xbf16>, %{{.*}} : memref<9xi64>, %[[SUMS]] : memref<?x4096xf32>, %[[SLOTS]] : memref<?xi32>, %{{.*}} : memref<?x2xf32>)
// EPI: %[[OUT:.*]], %[[A3:.*]] = gpu.alloc async [%[[L2]]] (%[[T]]) : memref<?x4096xbf16>
// EPI: %[[L3:.*]] = gpu.launch_func async [%[[A3]]] @moe_kernels::@activation_identity_f32_bf16_w4096_4096 {{.*}} args(%[[SUMS]] : memref<?x4096xf32>, %[[OUT]] : memref<?x4096xbf16>)
// EPI: %[[D1:.*]] = gpu.dealloc async [%[[L3]]] %[[SLOTS]]
// EPI: %[[D2:.*]] = gpu.dealloc async [%[[D1]]] %[[SUMS]]
// EPI: gpu.wait [%[[D2]]]
// EPI: bufferization.to_tensor %[[OUT]]
// The epilogue: slot of the row, its token and weight, two atomics per pair.
// EPI: gpu.func @grouped_matmul_bf16_f32_i64_e8_k14336_n4096_combine2_f32_128x128(%{{.*}}: memref<?x14336xbf16>, %{{.*}}: memref<8x14336x4096xbf16>, %{{.*}}: memref<9xi64>, %[[SUMSK:.*]]: memref<?x4096xf32>, %[[SL:.*]]: memref<?xi32>, %[[WK:.*]]: memref<?x2xf32>)
// EPI: nvgpu.device_async_wait %{{.*}} {numGroups = 0 : i32}
// EPI: %[[SLOTV:.*]] = memref.load %[[SL]][%{{.*}}] : memref<?xi32>
// EPI: arith.cmpi sge, %[[SLOTV]], %c0_i32
// EPI: %[[SI:.*]] = arith.index_cast %{{.*}} : i32 to index
// EPI: %[[TK:.*]] = arith.divui %[[SI]], %c2
// EPI: %[[SS:.*]] = arith.remui %[[SI]], %c2
// EPI: memref.load %[[WK]][%{{.*}}, %{{.*}}] : memref<?x2xf32>
// EPI: scf.if
// EPI: arith.muli %[[TK]], %c4096
// EPI: memref.extract_aligned_pointer_as_index %[[SUMSK]]
// EPI: llvm.atomicrmw fadd %{{.*}}, %{{.*}} monotonic : !llvm.ptr<1>, f32
// EPI: llvm.atomicrmw fadd %{{.*}}, %{{.*}} monotonic : !llvm.ptr<1>, f32
// The inverse map: slot t * 2 + s of row row_map[t, s], when 0 <= row < R.
// EPI: gpu.func @row_slots_i64_k2(%[[M:.*]]: memref<?x2xi64>, %[[S:.*]]: memref<?xi32>)
// EPI: %[[IDX:.*]] = arith.addi
// EPI: %[[R:.*]] = memref.load %[[M]][{{.*}}]
// EPI: %[[RI:.*]] = arith.index_cast %[[R]] : i64 to index
// EPI: %[[NR:.*]] = memref.dim %[[S]], %c0
// EPI: arith.cmpi ult, %[[RI]], %[[NR]]
// EPI: %[[SLOT:.*]] = arith.index_cast %[[IDX]] : index to i32
// EPI: memref.store %[[SLOT]], %[[S]][%[[RI]]]
func.func @mixtral(%a: tensor<?x14336xbf16>, %wd: tensor<8x14336x4096xbf16>, %off: tensor<9xi64>, %map: tensor<?x2xi64>, %w: tensor<?x2xf32>) -> tensor<?x4096xbf16> {
  %y = moe.grouped_matmul %a, %wd offsets(%off) : (tensor<?x14336xbf16>, tensor<8x14336x4096xbf16>, tensor<9xi64>) -> tensor<?x4096xbf16>
  %o = moe.combine %y, %map, %w : (tensor<?x4096xbf16>, tensor<?x2xi64>, tensor<?x2xf32>) -> tensor<?x4096xbf16>
  return %o : tensor<?x4096xbf16>
}

// -----

// i32 row maps and f16 weights; a hidden size that is not a multiple of 8
// takes one column a thread (rows not from a matmul: a kernel either way).
// CHECK-LABEL: func.func @f16(
// CHECK: @moe_kernels::@combine_f16_i32_f16_f16_h40_k4 blocks in (%{{.*}}, %c1, %c1)
// CHECK: @moe_kernels::@combine_f16_i32_f16_f16_h36_k4 blocks in (%{{.*}}, %c1, %c1)
// CHECK: gpu.func @combine_f16_i32_f16_f16_h36_k4(
// CHECK: vector.load %{{.*}} {alignment = 2 : i64} : memref<?x36xf16>, vector<1xf16>
// CHECK: gpu.func @combine_f16_i32_f16_f16_h40_k4(
// CHECK: vector.load %{{.*}} {alignment = 16 : i64} : memref<?x40xf16>, vector<8xf16>
// CHECK: %[[WT:.*]] = memref.load %{{.*}} : memref<?x4xf16>
// CHECK: arith.extf %[[WT]] : f16 to f32
// EPI-LABEL: func.func @f16(
// EPI: gpu.memset
// EPI: @moe_kernels::@row_slots_i32_k4
// EPI: gpu.memset
// EPI: @moe_kernels::@grouped_matmul_f16_f32_i32_e4_k64_n40_combine4_f16
// EPI: @moe_kernels::@activation_identity_f32_f16_w40_40
// EPI: gpu.wait
// EPI: @moe_kernels::@combine_f16_i32_f16_f16_h36_k4
func.func @f16(%a: tensor<?x64xf16>, %w2: tensor<4x64x40xf16>, %off: tensor<5xi32>, %map: tensor<?x4xi32>, %w: tensor<?x4xf16>, %y2: tensor<?x36xf16>) -> (tensor<?x40xf16>, tensor<?x36xf16>) {
  %y = moe.grouped_matmul %a, %w2 offsets(%off) : (tensor<?x64xf16>, tensor<4x64x40xf16>, tensor<5xi32>) -> tensor<?x40xf16>
  %o = moe.combine %y, %map, %w : (tensor<?x40xf16>, tensor<?x4xi32>, tensor<?x4xf16>) -> tensor<?x40xf16>
  %o2 = moe.combine %y2, %map, %w : (tensor<?x36xf16>, tensor<?x4xi32>, tensor<?x4xf16>) -> tensor<?x36xf16>
  return %o, %o2 : tensor<?x40xf16>, tensor<?x36xf16>
}

// -----

// An unweighted combine (after a scale_rows dispatch) takes no weights and
// adds the rows. With combine=epilogue the down matmul adds its rows into
// the tokens with fp32 atomics, unscaled: its kernel takes the row slots
// and no weights.
// CHECK-LABEL: func.func @unweighted(
// CHECK: gpu.launch_func async [%{{.*}}] @moe_kernels::@combine_bf16_i64_unweighted_bf16_h4096_k1 {{.*}} args(%{{.*}} : memref<?x4096xbf16>, %{{.*}} : memref<?x1xi64>, %{{.*}} : memref<?x4096xbf16>)
// CHECK: gpu.func @combine_bf16_i64_unweighted_bf16_h4096_k1(%{{.*}}: memref<?x4096xbf16>, %{{.*}}: memref<?x1xi64>, %{{.*}}: memref<?x4096xbf16>)
// CHECK: %[[VF:.*]] = arith.extf %{{.*}} : vector<8xbf16> to vector<8xf32>
// CHECK-NOT: vector.fma
// CHECK: arith.addf %[[VF]], %{{.*}} : vector<8xf32>
// EPI-LABEL: func.func @unweighted(
// EPI: %[[SLOTS:.*]], %{{.*}} = gpu.alloc async [%{{.*}}] (%{{.*}}) : memref<?xi32>
// EPI: @moe_kernels::@row_slots_i64_k1
// EPI: %[[SUMS:.*]], %{{.*}} = gpu.alloc async [%{{.*}}] (%{{.*}}) : memref<?x4096xf32>
// EPI: gpu.launch_func async [%{{.*}}] @moe_kernels::@[[MM:grouped_matmul_bf16_f32_i64_e8_k14336_n4096_combine1_unweighted_128x128]] {{.*}} args(%{{.*}} : memref<?x14336xbf16>, %{{.*}} : memref<8x14336x4096xbf16>, %{{.*}} : memref<9xi64>, %[[SUMS]] : memref<?x4096xf32>, %[[SLOTS]] : memref<?xi32>)
// EPI-NOT: @moe_kernels::@combine_
// EPI: @moe_kernels::@activation_identity_f32_bf16_w4096_4096
// EPI: gpu.func @[[MM]](
// EPI-NOT: arith.mulf %{{.*}}, %{{.*}} : f32
// EPI: llvm.atomicrmw fadd
func.func @unweighted(%a: tensor<?x14336xbf16>, %wd: tensor<8x14336x4096xbf16>, %off: tensor<9xi64>, %map: tensor<?x1xi64>) -> tensor<?x4096xbf16> {
  %rows = moe.grouped_matmul %a, %wd offsets(%off) : (tensor<?x14336xbf16>, tensor<8x14336x4096xbf16>, tensor<9xi64>) -> tensor<?x4096xbf16>
  %out = moe.combine %rows, %map : (tensor<?x4096xbf16>, tensor<?x1xi64>) -> tensor<?x4096xbf16>
  return %out : tensor<?x4096xbf16>
}
