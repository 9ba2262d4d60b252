// RUN: moe-opt %s --convert-moe-to-gpu=mma-tile=64x64 -split-input-file | FileCheck %s
// RUN: moe-opt %s --convert-moe-to-gpu -split-input-file | FileCheck %s --check-prefix=LARGE

// The 128x128 tile (mma-tile=auto) fuses the same epilogues: with gate and
// up in slice pairs a block owns 64 outputs, thread t copying k row t / 8
// of slice pair t % 8 of the 8.
// LARGE-LABEL: func.func @separate(
// LARGE: gpu.launch_func async {{.*}} @moe_kernels::@grouped_matmul_bf16_bf16_i64_e8_k256_n512_silu_separate_128x128 blocks in (%c8,
// LARGE: gpu.func @grouped_matmul_bf16_bf16_i64_e8_k256_n512_silu_separate_128x128(
// LARGE-SAME: moe.column_tiles = 8 : i64
// LARGE: %[[TID:.*]] = gpu.thread_id x
// LARGE: %[[BX:.*]] = gpu.block_id x
// LARGE: arith.muli %[[BX]], %c64
// LARGE: arith.divui %[[TID]], %c8
// LARGE: arith.remui %[[TID]], %c8
// LARGE-LABEL: func.func @concatenated(
// LARGE: @grouped_matmul_bf16_bf16_i64_e8_k256_n1024_silu_concatenated_a1p702_b1_l7_128x128 blocks in (%c8,
// LARGE-LABEL: func.func @interleaved(
// LARGE: @grouped_matmul_bf16_bf16_i64_e8_k256_n1024_gelu_interleaved_128x128 blocks in (%c8,

// SwiGLU with separate gate and up weights (Mixtral, Qwen3, DeepSeek): the
// two grouped matmuls and the activation are one kernel. Each block owns
// 32 result columns (grid.x = 512 / 32) and loads, for k row tid / 4 and
// slice pair tid % 4, 8 gate columns into B columns 16 * (tid % 4) and the 8
// up columns of the same outputs right after them.
// CHECK-LABEL: func.func @separate(
// CHECK-DAG: %[[C16:.*]] = arith.constant 16 : index
// CHECK: %[[T0:.*]] = gpu.wait async
// CHECK: %[[OUT:.*]], %[[T1:.*]] = gpu.alloc async [%[[T0]]] (%{{.*}}) : memref<?x512xbf16>
// Up to 16 rows per expert the decode kernel (its fused form: 32 outputs a
// block too), else the tile kernel, both on the stream; the wait covers
// whichever ran.
// CHECK: %[[SMALL:.*]] = arith.cmpi ule, %{{.*}}, %c128 : index
// CHECK: scf.if %[[SMALL]] {
// CHECK: gpu.launch_func async [%[[T1]]] @moe_kernels::@grouped_matmul_decode_bf16_bf16_i64_e8_k256_n512_silu_separate blocks in (%[[C16]], %{{.*}}, %{{.*}}) threads in ({{.*}}) args(%{{.*}} : memref<?x256xbf16>, %{{.*}} : memref<8x256x512xbf16>, %{{.*}} : memref<8x256x512xbf16>, %{{.*}} : memref<9xi64>, %[[OUT]] : memref<?x512xbf16>)
// CHECK: } else {
// CHECK: gpu.launch_func async [%[[T1]]] @moe_kernels::@grouped_matmul_bf16_bf16_i64_e8_k256_n512_silu_separate blocks in (%[[C16]], %{{.*}}, %{{.*}}) threads in ({{.*}}) args(%{{.*}} : memref<?x256xbf16>, %{{.*}} : memref<8x256x512xbf16>, %{{.*}} : memref<8x256x512xbf16>, %{{.*}} : memref<9xi64>, %[[OUT]] : memref<?x512xbf16>)
// CHECK: }
// CHECK-NEXT: gpu.wait [%[[T1]]]
// CHECK-NOT: moe.
// CHECK: return

// CHECK: gpu.func @grouped_matmul_bf16_bf16_i64_e8_k256_n512_silu_separate(%[[L:.*]]: memref<?x256xbf16>, %[[G:.*]]: memref<8x256x512xbf16>, %[[U:.*]]: memref<8x256x512xbf16>, %[[O:.*]]: memref<9xi64>, %[[RES:.*]]: memref<?x512xbf16>)
// CHECK-SAME: workgroup(%[[SA:.*]] : memref<2x64x40xbf16, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %[[SB:.*]] : memref<2x32x72xbf16, #gpu.address_space<workgroup>> {llvm.align = 16 : i64})
// CHECK-SAME: moe.column_tiles = 16 : i64
// CHECK: %[[TID:.*]] = gpu.thread_id x
// CHECK: %[[BX:.*]] = gpu.block_id x
// CHECK: %[[N0:.*]] = arith.muli %[[BX]], %c32
// B tile of stage 0: gate slice then up slice of the same k row and columns.
// CHECK-COUNT-2: nvgpu.device_async_copy %[[L]]
// CHECK: %[[R:.*]] = arith.divui %[[TID]], %c4
// CHECK: %[[PAIR:.*]] = arith.remui %[[TID]], %c4
// CHECK: %[[PCOL:.*]] = arith.muli %[[PAIR]], %c8
// CHECK: %[[COL:.*]] = arith.addi %[[N0]], %[[PCOL]]
// CHECK: %[[GCOL:.*]] = arith.muli %[[PCOL]], %c2
// CHECK: nvgpu.device_async_copy %[[G]][%{{.*}}, %{{.*}}, %{{.*}}], %[[SB]][%c0, %[[R]], %[[GCOL]]], 8
// CHECK: %[[UCOL:.*]] = arith.addi %{{.*}}, %c8
// CHECK: nvgpu.device_async_copy %[[U]][%{{.*}}, %{{.*}}, %{{.*}}], %[[SB]][%c0, %[[R]], %[[UCOL]]], 8
// CHECK: nvvm.mma.sync
// Epilogue: mma tiles 0 and 1 are gate and up of the same columns; silu's
// exp is polynomial arithmetic (no libdevice call), the pair is stored.
// CHECK: llvm.extractvalue %{{.*}}#0[0]
// CHECK: llvm.extractvalue %{{.*}}#1[0]
// CHECK: llvm.intr.fma
// CHECK: arith.divf
// CHECK: arith.mulf
// CHECK: vector.store %{{.*}}, %[[RES]][{{.*}}] : memref<?x512xbf16>, vector<2xbf16>
// CHECK-NOT: math.exp
// CHECK: gpu.return
func.func @separate(%x: tensor<?x256xbf16>, %wg: tensor<8x256x512xbf16>, %wu: tensor<8x256x512xbf16>, %off: tensor<9xi64>) -> tensor<?x512xbf16> {
  %g = moe.grouped_matmul %x, %wg offsets(%off) : (tensor<?x256xbf16>, tensor<8x256x512xbf16>, tensor<9xi64>) -> tensor<?x512xbf16>
  %u = moe.grouped_matmul %x, %wu offsets(%off) : (tensor<?x256xbf16>, tensor<8x256x512xbf16>, tensor<9xi64>) -> tensor<?x512xbf16>
  %a = moe.activation %g, %u {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<separate>} : (tensor<?x512xbf16>, tensor<?x512xbf16>) -> tensor<?x512xbf16>
  return %a : tensor<?x512xbf16>
}

// -----

// Concatenated halves of one weight: the up slice reads column + 512.
// CHECK-LABEL: func.func @concatenated(
// CHECK: gpu.launch_func async [%{{.*}}] @moe_kernels::@grouped_matmul_bf16_bf16_i64_e8_k256_n1024_silu_concatenated_a1p702_b1_l7 blocks in (%c16,
// CHECK: gpu.func @grouped_matmul_bf16_bf16_i64_e8_k256_n1024_silu_concatenated_a1p702_b1_l7(%[[L:.*]]: memref<?x256xbf16>, %[[W:.*]]: memref<8x256x1024xbf16>, %{{.*}}: memref<9xi64>, %[[RES:.*]]: memref<?x512xbf16>)
// CHECK-COUNT-2: nvgpu.device_async_copy %[[L]]
// CHECK: %[[COL:.*]] = arith.addi %{{.*}}, %{{.*}} : index
// CHECK: %[[VALID:.*]] = arith.andi
// CHECK: nvgpu.device_async_copy %[[W]][%{{.*}}, %{{.*}}, %{{.*}}], %{{.*}}, 8
// CHECK: %[[UP:.*]] = arith.addi %[[COL]], %c512
// CHECK: %[[SAFE:.*]] = arith.select %[[VALID]], %[[UP]], %c0
// CHECK: nvgpu.device_async_copy %[[W]][%{{.*}}, %{{.*}}, %[[SAFE]]], %{{.*}}, 8
// gpt-oss clamp: min(g, 7), clamp(u, -7, 7), silu(1.702 g) * (u + 1).
// CHECK: arith.minimumf %{{.*}}, %cst{{.*}} : f32
// CHECK: arith.maximumf
// CHECK: vector.store %{{.*}}, %[[RES]][{{.*}}] : memref<?x512xbf16>, vector<2xbf16>
func.func @concatenated(%x: tensor<?x256xbf16>, %w: tensor<8x256x1024xbf16>, %off: tensor<9xi64>) -> tensor<?x512xbf16> {
  %h = moe.grouped_matmul %x, %w offsets(%off) : (tensor<?x256xbf16>, tensor<8x256x1024xbf16>, tensor<9xi64>) -> tensor<?x1024xbf16>
  %a = moe.activation %h {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<concatenated>, alpha = 1.702 : f64, beta = 1.0 : f64, limit = 7.0 : f64} : (tensor<?x1024xbf16>) -> tensor<?x512xbf16>
  return %a : tensor<?x512xbf16>
}

// -----

// Interleaved gate/up columns are the mma's own column pairs: the usual
// 64-column tiles, one store per pair at column / 2.
// CHECK-LABEL: func.func @interleaved(
// CHECK: gpu.launch_func async [%{{.*}}] @moe_kernels::@grouped_matmul_bf16_bf16_i64_e8_k256_n1024_gelu_interleaved blocks in (%c16,
// CHECK: gpu.func @grouped_matmul_bf16_bf16_i64_e8_k256_n1024_gelu_interleaved(%{{.*}}: memref<?x256xbf16>, %{{.*}}: memref<8x256x1024xbf16>, %{{.*}}: memref<9xi64>, %[[RES:.*]]: memref<?x512xbf16>)
// CHECK-NOT: moe.column_tiles
// CHECK: scf.yield {{.*}} : !llvm.struct
// CHECK: nvgpu.device_async_wait %{{.*}} {numGroups = 0 : i32}
// CHECK: arith.cmpi ult, %[[COL:.*]], %c1024
// CHECK: scf.if
// CHECK: %[[GATE:.*]] = llvm.extractvalue %{{.*}}#0[0]
// CHECK: %[[UP:.*]] = llvm.extractvalue %{{.*}}#0[1]
// CHECK: %[[HALF:.*]] = arith.divui %[[COL]], %c2
// CHECK: memref.store %{{.*}}, %[[RES]][%{{.*}}, %[[HALF]]] : memref<?x512xbf16>
// CHECK-NOT: math.erf
// CHECK: gpu.return
func.func @interleaved(%x: tensor<?x256xbf16>, %w: tensor<8x256x1024xbf16>, %off: tensor<9xi64>) -> tensor<?x512xbf16> {
  %h = moe.grouped_matmul %x, %w offsets(%off) : (tensor<?x256xbf16>, tensor<8x256x1024xbf16>, tensor<9xi64>) -> tensor<?x1024xbf16>
  %a = moe.activation %h {activation = #moe.activation<gelu>, gate_layout = #moe.gate_layout<interleaved>} : (tensor<?x1024xbf16>) -> tensor<?x512xbf16>
  return %a : tensor<?x512xbf16>
}

// -----

// Ungated relu, f16: applied to each accumulator before the pair store.
// CHECK-LABEL: func.func @relu(
// CHECK: gpu.launch_func async [%{{.*}}] @moe_kernels::@grouped_matmul_f16_f16_i32_e4_k64_n128_relu blocks in (%c2,
// CHECK: gpu.func @grouped_matmul_f16_f16_i32_e4_k64_n128_relu(
// CHECK: %[[V0:.*]] = llvm.extractvalue %{{.*}}#0[0]
// CHECK: %[[V1:.*]] = llvm.extractvalue %{{.*}}#0[1]
// CHECK: arith.maximumf %[[V0]], %{{.*}} : f32
// CHECK: arith.maximumf %[[V1]], %{{.*}} : f32
// CHECK: vector.store %{{.*}} : memref<?x128xf16>, vector<2xf16>
func.func @relu(%x: tensor<?x64xf16>, %w: tensor<4x64x128xf16>, %off: tensor<5xi32>) -> tensor<?x128xf16> {
  %h = moe.grouped_matmul %x, %w offsets(%off) : (tensor<?x64xf16>, tensor<4x64x128xf16>, tensor<5xi32>) -> tensor<?x128xf16>
  %a = moe.activation %h {activation = #moe.activation<relu>} : (tensor<?x128xf16>) -> tensor<?x128xf16>
  return %a : tensor<?x128xf16>
}

// -----

// A biased matmul (gpt-oss's gate/up bias) fuses too: the epilogue adds
// the gate column's bias and the up column's (output c's at N / 2 + c of
// the concatenated weight) before the activation; the bias is the kernel's
// last buffer.
// CHECK-LABEL: func.func @bias(
// CHECK-NOT: activation_silu_concatenated
// CHECK: gpu.launch_func async [%{{.*}}] @moe_kernels::@grouped_matmul_bf16_bf16_i64_e8_k256_n1024_bias_bf16_silu_concatenated blocks in {{.*}} args({{.*}}, %{{.*}} : memref<?x512xbf16>, %{{.*}} : memref<8x1024xbf16>)
// CHECK-NOT: activation_silu_concatenated
// CHECK: gpu.func @grouped_matmul_bf16_bf16_i64_e8_k256_n1024_bias_bf16_silu_concatenated(
// CHECK: %[[GATE:.*]] = memref.load %[[BIAS:.*]][%[[G:.*]], %[[C:.*]]] : memref<8x1024xbf16>
// CHECK: %[[UPC:.*]] = arith.addi %[[C]], %c512 : index
// CHECK: %[[UP:.*]] = memref.load %[[BIAS]][%[[G]], %[[UPC]]] : memref<8x1024xbf16>
// CHECK: arith.negf
func.func @bias(%x: tensor<?x256xbf16>, %w: tensor<8x256x1024xbf16>, %b: tensor<8x1024xbf16>, %off: tensor<9xi64>) -> tensor<?x512xbf16> {
  %h = moe.grouped_matmul %x, %w offsets(%off) bias(%b) : (tensor<?x256xbf16>, tensor<8x256x1024xbf16>, tensor<9xi64>, tensor<8x1024xbf16>) -> tensor<?x1024xbf16>
  %a = moe.activation %h {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<concatenated>} : (tensor<?x1024xbf16>) -> tensor<?x512xbf16>
  return %a : tensor<?x512xbf16>
}

// -----

// Separate gate and up weights with biases (onnxruntime MoE's fc1 and fc3
// biases) fuse too: the gate weight's bias, then the up weight's, are the
// kernel's last buffers, and output c adds column c of each, gate and up.
// CHECK-LABEL: func.func @separate_bias(
// CHECK-SAME: %[[BG:[^:]*]]: tensor<8x512xbf16>, %[[BU:[^:]*]]: tensor<8x512xbf16>
// CHECK-DAG: %[[MG:.*]] = bufferization.to_buffer %[[BG]]
// CHECK-DAG: %[[MU:.*]] = bufferization.to_buffer %[[BU]]
// CHECK-NOT: activation_silu_separate
// CHECK: gpu.launch_func async [%{{.*}}] @moe_kernels::@grouped_matmul_bf16_bf16_i64_e8_k256_n512_bias_bf16_silu_separate blocks in {{.*}} args({{.*}}, %{{.*}} : memref<?x512xbf16>, %[[MG]] : memref<8x512xbf16>, %[[MU]] : memref<8x512xbf16>)
// CHECK-NOT: activation_silu_separate
// CHECK: gpu.func @grouped_matmul_bf16_bf16_i64_e8_k256_n512_bias_bf16_silu_separate(
// CHECK-SAME: %{{[^:]*}}: memref<?x512xbf16>, %[[GB:[^:]*]]: memref<8x512xbf16>, %[[UB:[^:]*]]: memref<8x512xbf16>)
// CHECK: %[[GATE:.*]] = memref.load %[[GB]][%[[G:.*]], %[[C:.*]]] : memref<8x512xbf16>
// CHECK: %[[UP:.*]] = memref.load %[[UB]][%[[G]], %[[C]]] : memref<8x512xbf16>
// CHECK: arith.negf
// CHECK: gpu.func @grouped_matmul_decode_bf16_bf16_i64_e8_k256_n512_bias_bf16_silu_separate(
// CHECK-SAME: %{{[^:]*}}: memref<?x512xbf16>, %[[DGB:[^:]*]]: memref<8x512xbf16>, %[[DUB:[^:]*]]: memref<8x512xbf16>)
// CHECK: memref.load %[[DGB]][%[[DG:.*]], %[[DC:.*]]] : memref<8x512xbf16>
// CHECK: memref.load %[[DUB]][%[[DG]], %[[DC]]] : memref<8x512xbf16>
func.func @separate_bias(%x: tensor<?x256xbf16>, %wg: tensor<8x256x512xbf16>, %wu: tensor<8x256x512xbf16>, %bg: tensor<8x512xbf16>, %bu: tensor<8x512xbf16>, %off: tensor<9xi64>) -> tensor<?x512xbf16> {
  %g = moe.grouped_matmul %x, %wg offsets(%off) bias(%bg) : (tensor<?x256xbf16>, tensor<8x256x512xbf16>, tensor<9xi64>, tensor<8x512xbf16>) -> tensor<?x512xbf16>
  %u = moe.grouped_matmul %x, %wu offsets(%off) bias(%bu) : (tensor<?x256xbf16>, tensor<8x256x512xbf16>, tensor<9xi64>, tensor<8x512xbf16>) -> tensor<?x512xbf16>
  %a = moe.activation %g, %u {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<separate>} : (tensor<?x512xbf16>, tensor<?x512xbf16>) -> tensor<?x512xbf16>
  return %a : tensor<?x512xbf16>
}

// -----

// With group_extents too: a group's gate and up biases past its N_g are not
// added (N_g from the group's extents; in the decode kernel from its shared
// slot 1), as the plain matmuls leave them.
// CHECK-LABEL: func.func @separate_bias_extents(
// CHECK-NOT: activation_silu_separate
// CHECK: gpu.launch_func async [%{{.*}}] @moe_kernels::@grouped_matmul_bf16_bf16_i64_e4_k256_n512_bias_f32_silu_separate_x{{[0-9a-f]+}} blocks
// CHECK-NOT: activation_silu_separate
// CHECK: gpu.func @grouped_matmul_decode_bf16_bf16_i64_e4_k256_n512_bias_f32_silu_separate_x{{[0-9a-f]+}}(
// CHECK-SAME: %[[XGB:[^:]*]]: memref<4x512xf32>, %[[XUB:[^:]*]]: memref<4x512xf32>) workgroup(%{{[^:]*}} : memref<4x32x36xf32, {{.*}}, %[[SLOTS:[^:]*]] : memref<132xindex
// CHECK: %[[GBV:.*]] = memref.load %[[XGB]][%[[XG:.*]], %[[XC:.*]]] : memref<4x512xf32>
// CHECK: %[[GSUM:.*]] = arith.addf %[[GACC:.*]], %[[GBV]] : f32
// CHECK: %[[GN:.*]] = memref.load %[[SLOTS]][%c1]
// CHECK: %[[GIN:.*]] = arith.cmpi ult, %[[XC]], %[[GN]] : index
// CHECK: arith.select %[[GIN]], %[[GSUM]], %[[GACC]] : f32
// CHECK: %[[UBV:.*]] = memref.load %[[XUB]][%[[XG]], %[[XC]]] : memref<4x512xf32>
// CHECK: %[[USUM:.*]] = arith.addf %[[UACC:.*]], %[[UBV]] : f32
// CHECK: %[[UN:.*]] = memref.load %[[SLOTS]][%c1]
// CHECK: %[[UIN:.*]] = arith.cmpi ult, %[[XC]], %[[UN]] : index
// CHECK: arith.select %[[UIN]], %[[USUM]], %[[UACC]] : f32
func.func @separate_bias_extents(%x: tensor<?x256xbf16>, %wg: tensor<4x256x512xbf16>, %wu: tensor<4x256x512xbf16>, %bg: tensor<4x512xf32>, %bu: tensor<4x512xf32>, %off: tensor<5xi64>) -> tensor<?x512xbf16> {
  %g = moe.grouped_matmul %x, %wg offsets(%off) bias(%bg) {group_extents = array<i64: 256, 512, 128, 256, 256, 384, 64, 128>} : (tensor<?x256xbf16>, tensor<4x256x512xbf16>, tensor<5xi64>, tensor<4x512xf32>) -> tensor<?x512xbf16>
  %u = moe.grouped_matmul %x, %wu offsets(%off) bias(%bu) {group_extents = array<i64: 256, 512, 128, 256, 256, 384, 64, 128>} : (tensor<?x256xbf16>, tensor<4x256x512xbf16>, tensor<5xi64>, tensor<4x512xf32>) -> tensor<?x512xbf16>
  %a = moe.activation %g, %u {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<separate>} : (tensor<?x512xbf16>, tensor<?x512xbf16>) -> tensor<?x512xbf16>
  return %a : tensor<?x512xbf16>
}

// -----

// Not fused: a bias on the gate weight only (or of another type than the
// up weight's): the kernels take both or none -> two plain matmuls, then
// the element-wise kernel.
// CHECK-LABEL: func.func @gate_bias_only(
// CHECK: @moe_kernels::@grouped_matmul_bf16_bf16_i64_e8_k256_n512_bias_bf16 blocks
// CHECK: @moe_kernels::@grouped_matmul_bf16_bf16_i64_e8_k256_n512 blocks
// CHECK: @moe_kernels::@activation_silu_separate_bf16_bf16_w512_512 blocks
func.func @gate_bias_only(%x: tensor<?x256xbf16>, %wg: tensor<8x256x512xbf16>, %wu: tensor<8x256x512xbf16>, %bg: tensor<8x512xbf16>, %off: tensor<9xi64>) -> tensor<?x512xbf16> {
  %g = moe.grouped_matmul %x, %wg offsets(%off) bias(%bg) : (tensor<?x256xbf16>, tensor<8x256x512xbf16>, tensor<9xi64>, tensor<8x512xbf16>) -> tensor<?x512xbf16>
  %u = moe.grouped_matmul %x, %wu offsets(%off) : (tensor<?x256xbf16>, tensor<8x256x512xbf16>, tensor<9xi64>) -> tensor<?x512xbf16>
  %a = moe.activation %g, %u {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<separate>} : (tensor<?x512xbf16>, tensor<?x512xbf16>) -> tensor<?x512xbf16>
  return %a : tensor<?x512xbf16>
}

// -----

// Not fused: the pre-activation is also returned. Separate layout: the
// element-wise kernel reads gate and up at the same column.
// CHECK-LABEL: func.func @shared(
// CHECK: @moe_kernels::@grouped_matmul_bf16_bf16_i64_e8_k256_n512 blocks
// CHECK: @moe_kernels::@grouped_matmul_bf16_bf16_i64_e8_k256_n512 blocks
// CHECK: @moe_kernels::@activation_silu_separate_bf16_bf16_w512_512 blocks
// CHECK: gpu.func @activation_silu_separate_bf16_bf16_w512_512(%[[G:.*]]: memref<?x512xbf16>, %[[U:.*]]: memref<?x512xbf16>, %{{.*}}: memref<?x512xbf16>)
// CHECK: memref.load %[[G]][%[[ROW:.*]], %[[COL:.*]]]
// CHECK: memref.load %[[U]][%[[ROW]], %[[COL]]]
func.func @shared(%x: tensor<?x256xbf16>, %wg: tensor<8x256x512xbf16>, %wu: tensor<8x256x512xbf16>, %off: tensor<9xi64>) -> (tensor<?x512xbf16>, tensor<?x512xbf16>) {
  %g = moe.grouped_matmul %x, %wg offsets(%off) : (tensor<?x256xbf16>, tensor<8x256x512xbf16>, tensor<9xi64>) -> tensor<?x512xbf16>
  %u = moe.grouped_matmul %x, %wu offsets(%off) : (tensor<?x256xbf16>, tensor<8x256x512xbf16>, tensor<9xi64>) -> tensor<?x512xbf16>
  %a = moe.activation %g, %u {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<separate>} : (tensor<?x512xbf16>, tensor<?x512xbf16>) -> tensor<?x512xbf16>
  return %a, %g : tensor<?x512xbf16>, tensor<?x512xbf16>
}
