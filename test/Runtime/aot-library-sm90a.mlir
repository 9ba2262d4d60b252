// An sm_90a library launches the wgmma kernel with two TMA descriptors. Run
// against a fake driver: the first call with given buffers and shapes
// encodes each descriptor (rows [rows, K] in 128 x 64 boxes; the weights as
// [E * K, N] in 64 x 64 boxes; bf16, 128-byte swizzle, 256-byte L2
// promotion, zero fill; the driver takes dimensions innermost first and
// strides in bytes) and copies it to the device once; a repeated call only
// launches; a new row count encodes only the rows' descriptor again; no
// rows launch nothing.
// REQUIRES: ptxas
// RUN: moe-gpu-aot --ptxas %ptxas --chip sm_90a -o %t.so %s
// RUN: %clang -I%moe_include %S/Inputs/call-wgmma.c %t.so -o %t.call
// RUN: %clang -shared -fPIC %S/Inputs/fake-libcuda.c -o %t.libcuda.so
// RUN: env MOE_CUDA_DRIVER=%t.libcuda.so FAKE_CUDA_PARAMS=30 %t.call | FileCheck %s

// CHECK: cuModuleLoadData: ELF e_machine=190
// CHECK-NEXT: kernel bf16 8x256x512: 'wgmma', f16 8x256x512: ''
// CHECK-NEXT: cuTensorMapEncodeTiled: type=9 rank=2 addr=0x1000 dims=256,100 strides=512 box=64,128 elementStrides=1,1 interleave=0 swizzle=3 l2=3 oob=0
// CHECK-NEXT: cuMemcpyHtoD: 128 bytes to a110c
// CHECK-NEXT: cuTensorMapEncodeTiled: type=9 rank=2 addr=0x2000 dims=512,2048 strides=1024 box=64,64 elementStrides=1,1 interleave=0 swizzle=3 l2=3 oob=0
// CHECK-NEXT: cuMemcpyHtoD: 128 bytes to a110c
// 100 rows: grid x = 512 / 128, y = (100 + 9 * 127) / 128; 3 stages of
// 32 KB plus 1088 bytes of alignment slack; the 4 memrefs (params in hex)
// then the two descriptors' device addresses.
// CHECK-NEXT: cuLaunchKernel: grouped_matmul_wgmma_bf16_bf16_i64_e8_k256_n512 grid=(4,9,1) block=(128,1,1) smem=99392 stream=0x5000
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
