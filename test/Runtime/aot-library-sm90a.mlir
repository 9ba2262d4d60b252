// An sm_90a library launches the wgmma kernel with two TMA descriptors. Run
// against a fake driver: the first call with given buffers and shapes
// encodes each descriptor (rows [rows, K] in 128 x 64 boxes; the weights as
// [E * K, N] in 64 x 64 boxes; bf16, 128-byte swizzle, 256-byte L2
// promotion, zero fill; the driver takes dimensions innermost first and
// strides in bytes) and copies it to the device once; a repeated call only
// launches; a new row count encodes only the rows' descriptor again; no
// rows launch nothing.
// (--kernel tile: 100 rows would otherwise take the decode kernel, see
// aot-forced-kernel.mlir.)
// REQUIRES: ptxas
// RUN: moe-gpu-aot --ptxas %ptxas --chip sm_90a --kernel tile -o %t.so %s
// RUN: %clang -I%moe_include %S/Inputs/call-wgmma.c %t.so -o %t.call
// RUN: %clang -shared -fPIC %S/Inputs/fake-libcuda.c -o %t.libcuda.so
// RUN: env MOE_CUDA_DRIVER=%t.libcuda.so FAKE_CUDA_PARAMS=30 %t.call | FileCheck %s
// A buffer the driver cannot map (FAKE_CUDA_TMA_ERROR: e.g. misaligned):
// the call reports the driver's error and launches nothing (the grid of a
// launch with a null descriptor is empty).
// RUN: env MOE_CUDA_DRIVER=%t.libcuda.so FAKE_CUDA_TMA_ERROR=1 %t.call | FileCheck %s --check-prefix=TMAERR
// TMAERR: cuTensorMapEncodeTiled: type=9 rank=2 addr=0x1000 dims=256,100
// TMAERR-NOT: cuLaunchKernel
// TMAERR: moe_grouped_matmul(100 rows) -> 2: cuTensorMapEncodeTiled: CUDA_ERROR_UNKNOWN
// TMAERR-NOT: cuLaunchKernel
// A caller cycling through 801 descriptors (800 row counts, one weight):
// the table holds 768; the 769th new map waits for the device once
// (cuCtxSynchronize), empties the table and reuses its 768 device copies.
// RUN: env MOE_CUDA_DRIVER=%t.libcuda.so FAKE_CUDA_ALLOC_LOG=1 %t.call 800 > %t.churn
// RUN: FileCheck %s --check-prefix=CHURN < %t.churn
// RUN: grep -c "cuMemAlloc:" %t.churn | FileCheck %s --check-prefix=ALLOCS
// RUN: grep -c "cuTensorMapEncodeTiled:" %t.churn | FileCheck %s --check-prefix=ENCODES
// CHURN: cuCtxSynchronize
// CHURN-NOT: cuCtxSynchronize
// CHURN-NOT: cuMemAlloc:
// CHURN: churn: 800 calls, 0 failed
// ALLOCS: {{^}}768{{$}}
// 800 rows maps + the weights' map, encoded again after the flush.
// ENCODES: {{^}}802{{$}}

// CHECK: cuModuleLoadData: ELF e_machine=190
// CHECK-NEXT: kernel bf16 8x256x512: 'wgmma', f16 8x256x512: ''
// CHECK-NEXT: moe_grouped_matmul(lhs 0x1008) -> 3: moe_grouped_matmul: the sm_90a kernel needs lhs and rhs 16-byte aligned and out 4-byte aligned (lhs 0x1008,
// CHECK-NEXT: cuTensorMapEncodeTiled: type=9 rank=2 addr=0x1000 dims=256,100 strides=512 box=64,128 elementStrides=1,1 interleave=0 swizzle=3 l2=3 oob=0
// CHECK-NEXT: cuMemcpyHtoD: 128 bytes to a110c
// CHECK-NEXT: cuTensorMapEncodeTiled: type=9 rank=2 addr=0x2000 dims=512,2048 strides=1024 box=64,64 elementStrides=1,1 interleave=0 swizzle=3 l2=3 oob=0
// CHECK-NEXT: cuMemcpyHtoD: 128 bytes to a110c
// 100 rows: grid x = 512 / 128, y = (100 + 9 * 127) / 128; 3 stages of
// 32 KB, 64 bytes for the row-tile search and 1088 of alignment slack; the 4 memrefs (params in hex)
// then the two descriptors' device addresses.
// CHECK-NEXT: cuLaunchKernel: grouped_matmul_wgmma_bf16_bf16_i64_e8_k256_n512 grid=(4,9,1) block=(128,1,1) smem=99456 stream=0x5000
// CHECK-NEXT: params: 1000 1000 0 64 100 100 1 2000 2000 0 8 100 200 20000 200 1 3000 3000 0 9 1 4000 4000 0 64 200 200 1 a110c a110c
// CHECK-NEXT: moe_grouped_matmul(100 rows) -> 0: {{$}}
// CHECK-NEXT: cuLaunchKernel: grouped_matmul_wgmma_bf16_bf16_i64_e8_k256_n512 grid=(4,9,1)
// CHECK-NEXT: params: 1000 1000 0 64 100 100 1
// CHECK-NEXT: moe_grouped_matmul(100 rows) -> 0: {{$}}
// CHECK-NEXT: cuTensorMapEncodeTiled: type=9 rank=2 addr=0x1000 dims=256,50 strides=512 box=64,128
// CHECK-NEXT: cuMemcpyHtoD: 128 bytes to a110c
// CHECK-NEXT: cuLaunchKernel: grouped_matmul_wgmma_bf16_bf16_i64_e8_k256_n512 grid=(4,9,1)
// CHECK-NEXT: params: 1000 1000 0 32 100 100 1
// CHECK-NEXT: moe_grouped_matmul(50 rows) -> 0: {{$}}
// CHECK-NEXT: moe_grouped_matmul(0 rows) -> 0: {{$}}

func.func @up(%x: tensor<?x256xbf16>, %w: tensor<8x256x512xbf16>, %off: tensor<9xi64>) -> tensor<?x512xbf16> {
  %y = moe.grouped_matmul %x, %w offsets(%off) : (tensor<?x256xbf16>, tensor<8x256x512xbf16>, tensor<9xi64>) -> tensor<?x512xbf16>
  return %y : tensor<?x512xbf16>
}
