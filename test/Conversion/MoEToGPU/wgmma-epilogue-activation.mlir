// RUN: moe-opt %s --convert-moe-to-gpu="chip=sm_90a wgmma-tile=128x128" -split-input-file | FileCheck %s

// sm_90a: a grouped matmul with the activation in its epilogue is the wgmma
// kernel too. Separate gate and up weights: three descriptors (rows, gate
// weights, up weights); each stage's B tile is the gate box at columns
// [c0, c0 + 64) and the up box at the same columns of the up weights, so a
// block owns 64 outputs (grid.x = 512 / 64) and stores act(gate) * up of
// registers 32 apart as column pairs.
// CHECK-LABEL: func.func @separate(
// CHECK: nvgpu.tma.create.descriptor {{.*}} box[%c128, %c64]
// CHECK: nvgpu.tma.create.descriptor {{.*}} box[%c64, %c64]
// CHECK: nvgpu.tma.create.descriptor {{.*}} box[%c64, %c64]
// CHECK: gpu.launch_func async [%{{.*}}] @moe_kernels::@grouped_matmul_wgmma_bf16_bf16_i64_e8_k256_n512_silu_separate blocks in (%c8, %{{.*}}, %c1) threads in (%c128, %c1, %c1) dynamic_shared_memory_size %c99456_i32 args(%{{.*}} : memref<?x256xbf16>, %{{.*}} : memref<8x256x512xbf16>, %{{.*}} : memref<8x256x512xbf16>, %{{.*}} : memref<9xi64>, %{{.*}} : memref<?x512xbf16>, %{{.*}} : !llvm.ptr, %{{.*}} : !llvm.ptr, %{{.*}} : !llvm.ptr)
// CHECK: gpu.func @grouped_matmul_wgmma_bf16_bf16_i64_e8_k256_n512_silu_separate(
// CHECK-SAME: %[[RES:[^:]*]]: memref<?x512xbf16>, %[[A:[^:]*]]: !llvm.ptr, %[[G:[^:]*]]: !llvm.ptr, %[[U:[^:]*]]: !llvm.ptr)
// CHECK-SAME: moe.column_tiles = 8 : i64, moe.dynamic_shared_memory = 99456 : i64, moe.tensor_map_params = 3 : i64, moe.wgmma_kernel
// CHECK-DAG: %[[MG:.*]] = builtin.unrealized_conversion_cast %[[G]] : !llvm.ptr to !nvgpu.tensormap.descriptor
// CHECK-DAG: %[[MU:.*]] = builtin.unrealized_conversion_cast %[[U]] : !llvm.ptr to !nvgpu.tensormap.descriptor
// CHECK: %[[C0:.*]] = arith.muli %{{.*}}, %c64 : index
// CHECK: nvgpu.tma.async.load %[[MG]][%[[C0]], %[[ROW:.*]]], %{{.*}}[%c0] to
// CHECK-NOT: nvgpu.tma.async.load
// CHECK: nvgpu.tma.async.load %[[MU]][%[[C0]], %[[ROW]]], %{{.*}}[%c0] to
// CHECK: nvgpu.warpgroup.mma
// The first pair: gate registers 0, 1 and up registers 32, 33 of chunk 0.
// CHECK: llvm.extractvalue %[[ACC:.*]][0, 0] : !llvm.struct
// CHECK: llvm.extractvalue %[[ACC]][0, 32] : !llvm.struct
// CHECK: arith.mulf
// CHECK: llvm.extractvalue %[[ACC]][0, 1] : !llvm.struct
// CHECK: llvm.extractvalue %[[ACC]][0, 33] : !llvm.struct
// CHECK: vector.store %{{.*}}, %[[RES]][%{{.*}}, %{{.*}}] {alignment = 4 : i64} : memref<?x512xbf16>, vector<2xbf16>
// No math op is left for libdevice.
// CHECK-NOT: math.
// CHECK: gpu.return
func.func @separate(%x: tensor<?x256xbf16>, %wg: tensor<8x256x512xbf16>, %wu: tensor<8x256x512xbf16>, %off: tensor<9xi64>) -> tensor<?x512xbf16> {
  %g = moe.grouped_matmul %x, %wg offsets(%off) : (tensor<?x256xbf16>, tensor<8x256x512xbf16>, tensor<9xi64>) -> tensor<?x512xbf16>
  %u = moe.grouped_matmul %x, %wu offsets(%off) : (tensor<?x256xbf16>, tensor<8x256x512xbf16>, tensor<9xi64>) -> tensor<?x512xbf16>
  %a = moe.activation %g, %u {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<separate>} : (tensor<?x512xbf16>, tensor<?x512xbf16>) -> tensor<?x512xbf16>
  return %a : tensor<?x512xbf16>
}

// -----

// Concatenated (gate = columns [0, I), up = [I, 2I) of one weight): two
// descriptors; the up box of outputs [c0, c0 + 64) is at column I + c0 of
// the same map.
// CHECK-LABEL: func.func @concatenated(
// CHECK: gpu.launch_func async [%{{.*}}] @moe_kernels::@grouped_matmul_wgmma_bf16_bf16_i64_e8_k256_n1024_silu_concatenated_a1p702_b1_l7 blocks in (%c8,
// CHECK: gpu.func @grouped_matmul_wgmma_bf16_bf16_i64_e8_k256_n1024_silu_concatenated_a1p702_b1_l7(
// CHECK-SAME: moe.column_tiles = 8 : i64, moe.dynamic_shared_memory = 99456 : i64, moe.tensor_map_params = 2 : i64, moe.wgmma_kernel
// CHECK: %[[C0:.*]] = arith.muli %{{.*}}, %c64 : index
// CHECK: nvgpu.tma.async.load %[[MB:.*]][%[[C0]], %[[ROW:.*]]], %{{.*}}[%c0] to
// CHECK: %[[UP:.*]] = arith.addi %[[C0]], %c512 : index
// CHECK: nvgpu.tma.async.load %[[MB]][%[[UP]], %[[ROW]]], %{{.*}}[%c0] to
// CHECK: vector.store %{{.*}} : memref<?x512xbf16>, vector<2xbf16>
func.func @concatenated(%x: tensor<?x256xbf16>, %w: tensor<8x256x1024xbf16>, %off: tensor<9xi64>) -> tensor<?x512xbf16> {
  %h = moe.grouped_matmul %x, %w offsets(%off) : (tensor<?x256xbf16>, tensor<8x256x1024xbf16>, tensor<9xi64>) -> tensor<?x1024xbf16>
  %a = moe.activation %h {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<concatenated>, alpha = 1.702 : f64, beta = 1.0 : f64, limit = 7.0 : f64} : (tensor<?x1024xbf16>) -> tensor<?x512xbf16>
  return %a : tensor<?x512xbf16>
}

// -----

// Interleaved (g0 u0 g1 u1 ...): the usual 128-column tiles (grid.x =
// 1024 / 128); each register pair is (gate, up) of one output, stored alone
// at column / 2.
// CHECK-LABEL: func.func @interleaved(
// CHECK: gpu.launch_func async [%{{.*}}] @moe_kernels::@grouped_matmul_wgmma_bf16_bf16_i64_e8_k256_n1024_gelu_interleaved blocks in (%c8,
// CHECK: gpu.func @grouped_matmul_wgmma_bf16_bf16_i64_e8_k256_n1024_gelu_interleaved(
// CHECK-SAME: %[[RES:[^:]*]]: memref<?x512xbf16>, %{{[^:]*}}: !llvm.ptr, %{{[^:]*}}: !llvm.ptr)
// CHECK-SAME: moe.column_tiles = 8 : i64, moe.dynamic_shared_memory = 99456 : i64, moe.tensor_map_params = 2 : i64
// CHECK: llvm.extractvalue %[[ACC:.*]][0, 0] : !llvm.struct
// CHECK: llvm.extractvalue %[[ACC]][0, 1] : !llvm.struct
// CHECK: %[[OUT:.*]] = arith.divui %{{.*}}, %c2 : index
// CHECK-NEXT: memref.store %{{.*}}, %[[RES]][%{{.*}}, %[[OUT]]] : memref<?x512xbf16>
func.func @interleaved(%x: tensor<?x256xbf16>, %w: tensor<8x256x1024xbf16>, %off: tensor<9xi64>) -> tensor<?x512xbf16> {
  %h = moe.grouped_matmul %x, %w offsets(%off) : (tensor<?x256xbf16>, tensor<8x256x1024xbf16>, tensor<9xi64>) -> tensor<?x1024xbf16>
  %a = moe.activation %h {activation = #moe.activation<gelu>, gate_layout = #moe.gate_layout<interleaved>} : (tensor<?x1024xbf16>) -> tensor<?x512xbf16>
  return %a : tensor<?x512xbf16>
}

// -----

// A plain activation (relu) of a matmul: applied to every accumulator; N
// not a multiple of 128 masks the stores to columns < N.
// CHECK-LABEL: func.func @relu(
// CHECK: gpu.launch_func async [%{{.*}}] @moe_kernels::@grouped_matmul_wgmma_f16_f16_i32_e4_k64_n200_relu blocks in (%c2,
// CHECK: gpu.func @grouped_matmul_wgmma_f16_f16_i32_e4_k64_n200_relu(
// CHECK: arith.cmpi ult, %{{.*}}, %c200 : index
// CHECK: arith.maximumf
// CHECK: arith.maximumf
// CHECK: vector.store %{{.*}} : memref<?x200xf16>, vector<2xf16>
func.func @relu(%x: tensor<?x64xf16>, %w: tensor<4x64x200xf16>, %off: tensor<5xi32>) -> tensor<?x200xf16> {
  %h = moe.grouped_matmul %x, %w offsets(%off) : (tensor<?x64xf16>, tensor<4x64x200xf16>, tensor<5xi32>) -> tensor<?x200xf16>
  %a = moe.activation %h {activation = #moe.activation<relu>} : (tensor<?x200xf16>) -> tensor<?x200xf16>
  return %a : tensor<?x200xf16>
}
