// RUN: moe-opt %s --moe-gpu-entry-points="chip=sm_90a kernel=tile" | FileCheck %s
// RUN: moe-opt %s --moe-gpu-entry-points=chip=sm_90a | FileCheck %s --check-prefix=AUTO
// RUN: moe-opt %s --moe-gpu-pipeline="chip=sm_90a entry-points=true" | %mlir_translate --mlir-to-llvmir | FileCheck %s --check-prefix=LLVMIR

// For sm_90a the dispatcher launches the wgmma kernels: on each call it
// encodes (the runtime caches) the TMA descriptors of the caller's rows and
// weights, then launches on the caller's stream with dynamic shared memory.
// LLVMIR: @moe_gpu_target_chip = constant [7 x i8] c"sm_90a\00"
// LLVMIR: define i32 @moe_gpu_grouped_matmul_dispatch(
// LLVMIR-NOT: mgpuStream
// LLVMIR: call ptr @mgpuTensorMapEncodeTiledMemref(i64 2, ptr %{{.*}}, i64 9, i64 0, i64 3, i64 3, i64 0, ptr %{{.*}})
// LLVMIR: call ptr @mgpuTensorMapEncodeTiledMemref(i64 2, ptr %{{.*}}, i64 9, i64 0, i64 3, i64 3, i64 0, ptr %{{.*}})
// N = 512 and 256, K multiples of 64: the warp-specialized 128x256 tile,
// on a persistent grid of at most the SM count.
// LLVMIR: call i32 @moe_gpu_multiprocessor_count()
// LLVMIR: call void @mgpuLaunchKernel(ptr %{{.*}}, i64 %{{.*}}, i64 %{{.*}}, i64 1, i64 384, i64 1, i64 1, i32 197760, ptr %{{.*}}, ptr %{{.*}}, ptr null, i64 30)
// f16 is CU_TENSOR_MAP_DATA_TYPE_FLOAT16 (6).
// LLVMIR: call ptr @mgpuTensorMapEncodeTiledMemref(i64 2, ptr %{{.*}}, i64 6, i64 0, i64 3, i64 3, i64 0, ptr %{{.*}})
// LLVMIR: call i32 @moe_gpu_multiprocessor_count()
// LLVMIR: call void @mgpuLaunchKernel(ptr %{{.*}}, i64 %{{.*}}, i64 %{{.*}}, i64 1, i64 384, i64 1, i64 1, i32 197760, ptr %{{.*}}, ptr %{{.*}}, ptr null, i64 30)
// K = 72 too, its last k step partial (the 128x128 tile).
// LLVMIR: call ptr @mgpuTensorMapEncodeTiledMemref(i64 2, ptr %{{.*}}, i64 9, i64 0, i64 3, i64 3, i64 0, ptr %{{.*}})
// LLVMIR: call void @mgpuLaunchKernel(ptr %{{.*}}, i64 1, i64 %{{.*}}, i64 1, i64 128, i64 1, i64 1, i32 99456, ptr %{{.*}}, ptr %{{.*}}, ptr null, i64 30)
// LLVMIR-NOT: mgpuStream

// kernel=auto: the decode kernel for rows <= 16 * E, else the wgmma kernel.
// AUTO-LABEL: func.func @moe_gpu_grouped_matmul_dispatch(
// AUTO: arith.cmpi ule, %{{.*}}, %c128 : index
// AUTO: gpu.launch_func async {{.*}} @moe_kernels::@grouped_matmul_decode_bf16_bf16_i64_e8_k256_n512
// AUTO: } else {
// AUTO: nvgpu.tma.create.descriptor
// AUTO: gpu.launch_func async {{.*}} @moe_kernels::@grouped_matmul_wgmma_bf16_bf16_i64_e8_k256_n512_ws256

// CHECK: llvm.mlir.global external constant @moe_gpu_target_chip("sm_90a\00")
// Every K, 72 included: wgmma kernels (5: the warp-specialized tile, 3: the
// 128x128 one for K = 72); else none (1).
// CHECK-LABEL: func.func @moe_gpu_grouped_matmul_kind(
// CHECK: scf.if %{{.*}} -> (i32) {
// CHECK-NEXT: %[[WG:.*]] = arith.constant 5 : i32
// CHECK-NEXT: scf.yield %[[WG]]
// CHECK: scf.if %{{.*}} -> (i32) {
// CHECK-NEXT: %[[WG2:.*]] = arith.constant 5 : i32
// CHECK-NEXT: scf.yield %[[WG2]]
// CHECK: scf.if %{{.*}} -> (i32) {
// CHECK-NEXT: %[[WG3:.*]] = arith.constant 3 : i32
// CHECK-NEXT: scf.yield %[[WG3]]
// CHECK: arith.constant 1 : i32
// CHECK-LABEL: func.func @moe_gpu_grouped_matmul_dispatch(
// CHECK-SAME: %[[LHS:[^:]*]]: !llvm.ptr, %[[RHS:[^:]*]]: !llvm.ptr, %[[OFF:[^:]*]]: !llvm.ptr, %[[OUT:[^:]*]]: !llvm.ptr, %[[ROWS:[^:]*]]: i64, %[[STREAM:[^:]*]]: !gpu.async.token) -> i32
// CHECK: %[[X:.*]] = builtin.unrealized_conversion_cast %{{.*}} to memref<?x256xbf16>
// CHECK: %[[W:.*]] = builtin.unrealized_conversion_cast %{{.*}} to memref<8x256x512xbf16>
// CHECK: %[[XU:.*]] = memref.cast %[[X]] : memref<?x256xbf16> to memref<*xbf16>
// CHECK: %[[MA:.*]] = nvgpu.tma.create.descriptor %[[XU]] box[%{{.*}}, %{{.*}}] : memref<*xbf16> -> <tensor = memref<128x64xbf16, 3>
// CHECK: %[[PA:.*]] = builtin.unrealized_conversion_cast %[[MA]]
// CHECK: %[[W2:.*]] = memref.collapse_shape %[[W]] {{\[}}[0, 1], [2]] : memref<8x256x512xbf16> into memref<2048x512xbf16>
// CHECK: %[[WU:.*]] = memref.cast %[[W2]]
// CHECK: %[[MB:.*]] = nvgpu.tma.create.descriptor %[[WU]] box[%{{.*}}, %{{.*}}] : memref<*xbf16> -> <tensor = memref<64x64xbf16, 3>
// CHECK: %[[PB:.*]] = builtin.unrealized_conversion_cast %[[MB]]
// CHECK: gpu.launch_func async [%[[STREAM]]] @moe_kernels::@grouped_matmul_wgmma_bf16_bf16_i64_e8_k256_n512_ws256 {{.*}} dynamic_shared_memory_size %{{.*}} args(%[[X]] : memref<?x256xbf16>, %[[W]] : memref<8x256x512xbf16>, %{{.*}} : memref<9xi64>, %{{.*}} : memref<?x512xbf16>, %[[PA]] : !llvm.ptr, %[[PB]] : !llvm.ptr)
// CHECK-NOT: gpu.wait
// CHECK: gpu.launch_func async [%[[STREAM]]] @moe_kernels::@grouped_matmul_wgmma_f16_f16_i64_e4_k512_n256_ws256
// CHECK: nvgpu.tma.create.descriptor
// CHECK: gpu.launch_func async [%[[STREAM]]] @moe_kernels::@grouped_matmul_wgmma_bf16_bf16_i64_e2_k72_n64 blocks in
// CHECK: gpu.module @moe_kernels
// CHECK: gpu.func @grouped_matmul_wgmma_bf16_bf16_i64_e8_k256_n512_ws256(
// CHECK: gpu.func @grouped_matmul_wgmma_f16_f16_i64_e4_k512_n256_ws256(
// CHECK: gpu.func @grouped_matmul_wgmma_bf16_bf16_i64_e2_k72_n64(
// CHECK-NOT: gpu.func

func.func @up(%x: tensor<?x256xbf16>, %w: tensor<8x256x512xbf16>, %off: tensor<9xi64>) -> tensor<?x512xbf16> {
  %y = moe.grouped_matmul %x, %w offsets(%off) : (tensor<?x256xbf16>, tensor<8x256x512xbf16>, tensor<9xi64>) -> tensor<?x512xbf16>
  return %y : tensor<?x512xbf16>
}
func.func @down(%x: tensor<?x512xf16>, %w: tensor<4x512x256xf16>, %off: tensor<5xi64>) -> tensor<?x256xf16> {
  %y = moe.grouped_matmul %x, %w offsets(%off) : (tensor<?x512xf16>, tensor<4x512x256xf16>, tensor<5xi64>) -> tensor<?x256xf16>
  return %y : tensor<?x256xf16>
}
// K = 72: the wgmma kernel too, its last k step partial (the rows past K
// zeroed in shared memory).
func.func @odd(%x: tensor<?x72xbf16>, %w: tensor<2x72x64xbf16>, %off: tensor<3xi64>) -> tensor<?x64xbf16> {
  %y = moe.grouped_matmul %x, %w offsets(%off) : (tensor<?x72xbf16>, tensor<2x72x64xbf16>, tensor<3xi64>) -> tensor<?x64xbf16>
  return %y : tensor<?x64xbf16>
}
