// An sm_90a library launches the wgmma kernel with two TMA descriptors
// passed by value (__grid_constant__ parameters). Run against a fake
// driver: every call encodes both descriptors on the host (rows [rows, K] in
// 128 x 64 boxes; the weights as [E * K, N] in 64 x 64 boxes; bf16,
// 128-byte swizzle, 256-byte L2 promotion, zero fill; the driver takes
// dimensions innermost first and strides in bytes) and launches with their
// 128 bytes among the parameters: no device allocation, no copy, no wait,
// so that a CUDA graph can capture the call. No rows launch nothing.
// (--kernel tile: 100 rows would otherwise take the decode kernel, see
// aot-forced-kernel.mlir.)
// REQUIRES: ptxas
// RUN: moe-gpu-aot --ptxas %ptxas --chip sm_90a --kernel tile -o %t.so %s
// RUN: %clang -I%moe_include %S/Inputs/call-wgmma.c %t.so -o %t.call
// RUN: %clang -shared -fPIC %S/Inputs/fake-libcuda.c -o %t.libcuda.so
// RUN: env MOE_CUDA_DRIVER=%t.libcuda.so FAKE_CUDA_ALLOC_LOG=1 %t.call | FileCheck %s
// A buffer the driver cannot map (FAKE_CUDA_TMA_ERROR: e.g. misaligned):
// the call reports the driver's error and launches nothing (the grid of a
// launch with a null descriptor is empty).
// RUN: env MOE_CUDA_DRIVER=%t.libcuda.so FAKE_CUDA_TMA_ERROR=1 %t.call | FileCheck %s --check-prefix=TMAERR
// TMAERR: cuTensorMapEncodeTiled: type=9 rank=2 addr=0x1000 dims=256,100
// TMAERR-NOT: cuLaunchKernel
// TMAERR: moe_grouped_matmul(100 rows) -> 2: cuTensorMapEncodeTiled: CUDA_ERROR_UNKNOWN
// TMAERR-NOT: cuLaunchKernel
// A caller cycling through 800 row counts: each call only encodes and
// launches; nothing is allocated, copied or waited for.
// RUN: env MOE_CUDA_DRIVER=%t.libcuda.so FAKE_CUDA_ALLOC_LOG=1 %t.call 800 | FileCheck %s --check-prefix=CHURN
// CHURN-NOT: cuCtxSynchronize
// CHURN-NOT: cuMemAlloc:
// CHURN-NOT: cuMemcpyHtoD
// CHURN: churn: 800 calls, 0 failed

// CHECK: cuModuleLoadData: ELF e_machine=190
// CHECK-NEXT: kernel bf16 8x256x512: 'wgmma-ws', f16 8x256x512: ''
// CHECK-NEXT: moe_grouped_matmul(lhs 0x1008) -> 3: moe_grouped_matmul: the sm_90a kernel needs lhs and rhs 16-byte aligned and out 4-byte aligned (lhs 0x1008,
// CHECK-NEXT: cuTensorMapEncodeTiled: type=9 rank=2 addr=0x1000 dims=256,100 strides=512 box=64,128 elementStrides=1,1 interleave=0 swizzle=3 l2=3 oob=0
// CHECK-NEXT: cuTensorMapEncodeTiled: type=9 rank=2 addr=0x2000 dims=512,2048 strides=1024 box=64,64 elementStrides=1,1 interleave=0 swizzle=3 l2=3 oob=0
// 100 rows: the warp-specialized 128x256 tile on a persistent grid of
// min(512 / 256 x (100 + 9 * 127) / 128 tiles, 132 SMs (the fake driver's
// count)) blocks, three warpgroups; 4 stages of 48 KB and 1152 bytes of
// alignment slack; the 4 memrefs (params in hex), then the two maps' bytes
// (the fake driver's encoding: address, then dimensions innermost first).
// With 10 SMs, 10 blocks walk the 18 tiles.
// RUN: env MOE_CUDA_DRIVER=%t.libcuda.so FAKE_CUDA_SMS=10 %t.call | FileCheck %s --check-prefix=SMS
// SMS: cuLaunchKernel: grouped_matmul_wgmma_bf16_bf16_i64_e8_k256_n512_ws256 grid=(10,1,1) block=(384,1,1)
// The kernels begin with griddepcontrol.wait (moe-gpu-dependent-launch):
// launched with programmatic stream serialization (cuLaunchKernelEx).
// CHECK-NEXT: cuLaunchKernel: grouped_matmul_wgmma_bf16_bf16_i64_e8_k256_n512_ws256 grid=(18,1,1) block=(384,1,1) smem=197760 stream=0x5000 dependent{{$}}
// CHECK-NEXT: params: 1000 1000 0 64 100 100 1 2000 2000 0 8 100 200 20000 200 1 3000 3000 0 9 1 4000 4000 0 64 200 200 1 map{1000 256,100} map{2000 512,2048}
// CHECK-NEXT: moe_grouped_matmul(100 rows) -> 0: {{$}}
// CHECK-NEXT: cuTensorMapEncodeTiled: type=9 rank=2 addr=0x1000 dims=256,100
// CHECK-NEXT: cuTensorMapEncodeTiled: type=9 rank=2 addr=0x2000 dims=512,2048
// CHECK-NEXT: cuLaunchKernel: grouped_matmul_wgmma_bf16_bf16_i64_e8_k256_n512_ws256 grid=(18,1,1)
// CHECK-NEXT: params: 1000 1000 0 64 100 100 1 {{.*}} map{1000 256,100} map{2000 512,2048}
// CHECK-NEXT: moe_grouped_matmul(100 rows) -> 0: {{$}}
// CHECK-NEXT: cuTensorMapEncodeTiled: type=9 rank=2 addr=0x1000 dims=256,50 strides=512 box=64,128
// CHECK-NEXT: cuTensorMapEncodeTiled: type=9 rank=2 addr=0x2000 dims=512,2048
// CHECK-NEXT: cuLaunchKernel: grouped_matmul_wgmma_bf16_bf16_i64_e8_k256_n512_ws256 grid=(18,1,1)
// CHECK-NEXT: params: 1000 1000 0 32 100 100 1 {{.*}} map{1000 256,50} map{2000 512,2048}
// CHECK-NEXT: moe_grouped_matmul(50 rows) -> 0: {{$}}
// moe_gpu_set_dependent_launch(0): the same launch without the attribute.
// CHECK-NEXT: cuTensorMapEncodeTiled: type=9 rank=2 addr=0x1000 dims=256,50
// CHECK-NEXT: cuTensorMapEncodeTiled: type=9 rank=2 addr=0x2000 dims=512,2048
// CHECK-NEXT: cuLaunchKernel: grouped_matmul_wgmma_bf16_bf16_i64_e8_k256_n512_ws256 grid=(18,1,1) block=(384,1,1) smem=197760 stream=0x5000{{$}}
// CHECK-NEXT: params: 1000 1000 0 32 100 100 1 {{.*}} map{1000 256,50} map{2000 512,2048}
// CHECK-NEXT: moe_grouped_matmul(50 rows) -> 0: {{$}}
// CHECK-NEXT: moe_grouped_matmul(0 rows) -> 0: {{$}}
// A driver that refuses the attribute: each kernel is launched as before.
// RUN: env MOE_CUDA_DRIVER=%t.libcuda.so FAKE_CUDA_LAUNCH_EX_ERROR=1 %t.call | FileCheck %s --check-prefix=REFUSED
// REFUSED: cuLaunchKernel: grouped_matmul_wgmma_bf16_bf16_i64_e8_k256_n512_ws256 grid=(18,1,1) block=(384,1,1) smem=197760 stream=0x5000{{$}}
// REFUSED: moe_grouped_matmul(100 rows) -> 0: {{$}}
// REFUSED-NOT: dependent

func.func @up(%x: tensor<?x256xbf16>, %w: tensor<8x256x512xbf16>, %off: tensor<9xi64>) -> tensor<?x512xbf16> {
  %y = moe.grouped_matmul %x, %w offsets(%off) : (tensor<?x256xbf16>, tensor<8x256x512xbf16>, tensor<9xi64>) -> tensor<?x512xbf16>
  return %y : tensor<?x512xbf16>
}
