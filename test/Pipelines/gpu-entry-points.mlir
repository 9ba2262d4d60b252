// RUN: moe-opt %s --moe-gpu-entry-points=chip=sm_80 | FileCheck %s
// RUN: moe-opt %s --moe-gpu-pipeline="chip=sm_80 entry-points=true" | %mlir_translate --mlir-to-llvmir | FileCheck %s --check-prefix=LLVMIR

// Through the whole pipeline (PTX here; moe-gpu-aot asks for a cubin): plain
// C functions that launch on the stream they are given, with no stream of
// their own and no wait.
// LLVMIR: @moe_gpu_target_chip = constant [6 x i8] c"sm_80\00"
// LLVMIR: define i32 @moe_gpu_grouped_matmul_lookup(i32 %0, i64 %1, i64 %2, i64 %3)
// LLVMIR: define i32 @moe_gpu_grouped_matmul_dispatch(i32 %0, i64 %1, i64 %2, i64 %3, ptr %4, ptr %5, ptr %6, ptr %7, i64 %8, ptr %[[STREAM:.*]])
// Each signature: the decode kernel for rows <= 16 * E (its 256-thread
// wide form when the grid has no more blocks than the device has SMs, else
// 128 threads), else the tile kernel (128 threads).
// LLVMIR-NOT: mgpuStream
// LLVMIR: icmp ule i64 %8, 128
// LLVMIR: call i32 @moe_gpu_multiprocessor_count()
// LLVMIR: call void @mgpuLaunchKernel(ptr %{{.*}}, i64 8, i64 %[[GY:.*]], i64 %[[GZ:.*]], i64 256, i64 1, i64 1, i32 0, ptr %[[STREAM]], ptr %{{.*}}, ptr null, i64 28)
// LLVMIR-NOT: mgpuStream
// LLVMIR: call void @mgpuLaunchKernel(ptr %{{.*}}, i64 8, i64 %[[GY]], i64 %[[GZ]], i64 128, i64 1, i64 1, i32 0, ptr %[[STREAM]], ptr %{{.*}}, ptr null, i64 28)
// LLVMIR-NOT: mgpuStream
// LLVMIR: call void @mgpuLaunchKernel(ptr %{{.*}}, i64 4, i64 %{{.*}}, i64 1, i64 256, i64 1, i64 1, i32 75776, ptr %[[STREAM]], ptr %{{.*}}, ptr null, i64 28)
// LLVMIR-NOT: mgpuStream
// LLVMIR: icmp ule i64 %8, 64
// LLVMIR: call i32 @moe_gpu_multiprocessor_count()
// LLVMIR: call void @mgpuLaunchKernel(ptr %{{.*}}, i64 4, i64 %{{.*}}, i64 %{{.*}}, i64 256, i64 1, i64 1, i32 0, ptr %[[STREAM]], ptr %{{.*}}, ptr null, i64 28)
// LLVMIR-NOT: mgpuStream
// LLVMIR: call void @mgpuLaunchKernel(ptr %{{.*}}, i64 4, i64 %{{.*}}, i64 %{{.*}}, i64 128, i64 1, i64 1, i32 0, ptr %[[STREAM]], ptr %{{.*}}, ptr null, i64 28)
// LLVMIR-NOT: mgpuStream
// LLVMIR: call void @mgpuLaunchKernel(ptr %{{.*}}, i64 2, i64 %{{.*}}, i64 1, i64 256, i64 1, i64 1, i32 75776, ptr %[[STREAM]], ptr %{{.*}}, ptr null, i64 28)
// LLVMIR-NOT: mgpuStream
// LLVMIR: define internal void @moe_kernels_load()

// The grouped matmuls name the signatures; their functions are dropped and
// one dispatcher launches the kernel of the signature asked for, on the
// caller's stream, over memrefs built from raw pointers (dense row-major,
// the leading size of lhs and out from %rows).
// CHECK: module attributes {gpu.container_module}
// CHECK-NOT: func.func @up
// CHECK-NOT: func.func @down
// CHECK: llvm.mlir.global external constant @moe_gpu_target_chip("sm_80\00")
// CHECK-LABEL: func.func @moe_gpu_grouped_matmul_kind(
// CHECK: arith.constant 2 : i32
// CHECK-LABEL: func.func @moe_gpu_grouped_matmul_lookup(
// CHECK-SAME: %[[DT:.*]]: i32, %[[E:.*]]: i64, %[[K:.*]]: i64, %[[N:.*]]: i64) -> i32
// CHECK: arith.cmpi eq, %[[DT]], %c0_i32
// CHECK: arith.cmpi eq, %[[E]], %c8_i64
// CHECK: arith.cmpi eq, %[[K]], %c256_i64
// CHECK: arith.cmpi eq, %[[N]], %c512_i64
// CHECK: scf.if
// CHECK: arith.cmpi eq, %[[DT]], %c1_i32
// CHECK: arith.cmpi eq, %[[E]], %c4_i64
// CHECK: arith.xori

// CHECK-LABEL: func.func @moe_gpu_grouped_matmul_dispatch(
// CHECK-SAME: %{{.*}}: i32, %{{.*}}: i64, %{{.*}}: i64, %{{.*}}: i64, %[[LHS:.*]]: !llvm.ptr, %[[RHS:.*]]: !llvm.ptr, %[[OFF:.*]]: !llvm.ptr, %[[OUT:.*]]: !llvm.ptr, %[[ROWS:.*]]: i64, %[[STREAM:.*]]: !gpu.async.token) -> i32
// CHECK: scf.if %{{.*}} -> (i32) {
// CHECK: llvm.insertvalue %[[LHS]], %{{.*}}[0]
// CHECK: llvm.insertvalue %[[LHS]], %{{.*}}[1]
// CHECK: llvm.insertvalue %[[ROWS]], %{{.*}}[3, 0]
// CHECK: %[[X:.*]] = builtin.unrealized_conversion_cast %{{.*}} to memref<?x256xbf16>
// CHECK: llvm.insertvalue %[[RHS]], %{{.*}}[0]
// CHECK: %[[W:.*]] = builtin.unrealized_conversion_cast %{{.*}} to memref<8x256x512xbf16>
// CHECK: %[[O:.*]] = builtin.unrealized_conversion_cast %{{.*}} to memref<9xi64>
// CHECK: %[[Y:.*]] = builtin.unrealized_conversion_cast %{{.*}} to memref<?x512xbf16>
// CHECK: %[[R:.*]] = arith.index_cast %[[ROWS]] : i64 to index
// rows <= 16 * E: the decode kernel, on (N / 64, min(rows, E + 1)) blocks.
// CHECK: %[[SMALL:.*]] = arith.cmpi ule, %[[R]], %c128
// CHECK: scf.if %[[SMALL]] {
// CHECK: %[[MIN:.*]] = arith.minui %[[R]], %c9
// CHECK: %[[GY:.*]] = arith.maxui %[[MIN]], %c1
// CHECK: scf.if
// CHECK: gpu.launch_func async [%[[STREAM]]] @moe_kernels::@grouped_matmul_decode_bf16_bf16_i64_e8_k256_n512_w8 blocks in (%c8, %[[GY]], %{{.*}}) threads in (%c256{{(_[0-9]+)?}}, {{.*}} args(%[[X]] : memref<?x256xbf16>, %[[W]] : memref<8x256x512xbf16>, %[[O]] : memref<9xi64>, %[[Y]] : memref<?x512xbf16>)
// CHECK-NOT: gpu.wait
// CHECK: } else {
// CHECK: gpu.launch_func async [%[[STREAM]]] @moe_kernels::@grouped_matmul_decode_bf16_bf16_i64_e8_k256_n512 blocks in (%c8, %[[GY]], %{{.*}}) threads in (%c128{{(_[0-9]+)?}}, {{.*}} args(%[[X]] : memref<?x256xbf16>, %[[W]] : memref<8x256x512xbf16>, %[[O]] : memref<9xi64>, %[[Y]] : memref<?x512xbf16>)
// CHECK-NOT: gpu.wait
// CHECK: } else {
// CHECK: gpu.launch_func async [%[[STREAM]]] @moe_kernels::@grouped_matmul_bf16_bf16_i64_e8_k256_n512_128x128 {{.*}} args(%[[X]] : memref<?x256xbf16>, %[[W]] : memref<8x256x512xbf16>, %[[O]] : memref<9xi64>, %[[Y]] : memref<?x512xbf16>)
// CHECK-NOT: gpu.wait
// CHECK: scf.yield %c0_i32
// CHECK: } else {
// CHECK: gpu.launch_func async [%[[STREAM]]] @moe_kernels::@grouped_matmul_decode_f16_f16_i64_e4_k512_n256
// CHECK: gpu.launch_func async [%[[STREAM]]] @moe_kernels::@grouped_matmul_f16_f16_i64_e4_k512_n256
// No match: 1.
// CHECK: scf.yield %c1_i32
// CHECK: gpu.module @moe_kernels
// CHECK: gpu.func @grouped_matmul_bf16_bf16_i64_e8_k256_n512_128x128(
// CHECK: gpu.func @grouped_matmul_decode_bf16_bf16_i64_e8_k256_n512(
// CHECK: gpu.func @grouped_matmul_decode_bf16_bf16_i64_e8_k256_n512_w8(
// CHECK: gpu.func @grouped_matmul_f16_f16_i64_e4_k512_n256_128x128(
// CHECK: gpu.func @grouped_matmul_decode_f16_f16_i64_e4_k512_n256(
// CHECK: gpu.func @grouped_matmul_decode_f16_f16_i64_e4_k512_n256_w8(
// CHECK-NOT: gpu.func

func.func @up(%x: tensor<?x256xbf16>, %w: tensor<8x256x512xbf16>, %off: tensor<9xi64>) -> tensor<?x512xbf16> {
  %y = moe.grouped_matmul %x, %w offsets(%off) : (tensor<?x256xbf16>, tensor<8x256x512xbf16>, tensor<9xi64>) -> tensor<?x512xbf16>
  %z = moe.grouped_matmul %x, %w offsets(%off) : (tensor<?x256xbf16>, tensor<8x256x512xbf16>, tensor<9xi64>) -> tensor<?x512xbf16>
  return %z : tensor<?x512xbf16>
}
func.func @down(%x: tensor<?x512xf16>, %w: tensor<4x512x256xf16>, %off: tensor<5xi64>) -> tensor<?x256xf16> {
  %y = moe.grouped_matmul %x, %w offsets(%off) : (tensor<?x512xf16>, tensor<4x512x256xf16>, tensor<5xi64>) -> tensor<?x256xf16>
  return %y : tensor<?x256xf16>
}
