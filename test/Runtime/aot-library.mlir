// moe-gpu-aot makes one self-contained shared library from the grouped
// matmuls of a module: a kernel per signature (cubin embedded), the C
// dispatcher and the CUDA runtime, exporting only the moe_* C API and
// needing only libc at run time. Run against a fake driver, the library
// loads the cubin in its constructor and launches the kernel of the
// signature asked for with the memref descriptors built from raw pointers
// (lhs [rows, K], rhs [E, K, N], offsets [E + 1], out [rows, N], dense) on
// the caller's stream; without a driver every call says why.
// REQUIRES: ptxas
// RUN: moe-gpu-aot --ptxas %ptxas --chip sm_90 -o %t.so %s
// RUN: %llvm_nm -D --undefined-only %t.so | FileCheck %s --check-prefix=UNDEF
// RUN: %llvm_nm -D --defined-only %t.so | FileCheck %s --check-prefix=EXPORTS
// RUN: %llvm_readelf -d %t.so | FileCheck %s --check-prefix=NEEDED
// RUN: %clang -I%moe_include %S/Inputs/call-runtime.c %t.so -o %t.call
// RUN: %clang -shared -fPIC %S/Inputs/fake-libcuda.c -o %t.libcuda.so
// RUN: env MOE_CUDA_DRIVER=%t.libcuda.so %t.call | FileCheck %s --check-prefix=LAUNCH
// RUN: env MOE_CUDA_DRIVER=%t.libcuda.so FAKE_CUDA_SMS=64 %t.call | FileCheck %s --check-prefix=SMS64
// RUN: env MOE_CUDA_DRIVER=%t.missing/libcuda.so.1 %t.call | FileCheck %s --check-prefix=NODRIVER

// UNDEF-NOT: mgpu
// UNDEF-NOT: {{ U [A-Za-z_0-9.]+$}}
// UNDEF: U dlopen@GLIBC
// UNDEF-NOT: {{ U [A-Za-z_0-9.]+$}}

// EXPORTS-NOT: mgpu
// EXPORTS: T moe_gpu_chip
// EXPORTS: T moe_gpu_grouped_matmul_dispatch
// EXPORTS: T moe_gpu_grouped_matmul_lookup
// EXPORTS: T moe_gpu_init
// EXPORTS: T moe_gpu_last_error
// EXPORTS: R moe_gpu_target_chip
// EXPORTS: T moe_grouped_matmul
// EXPORTS: T moe_grouped_matmul_compiled
// EXPORTS-NOT: mgpu

// NEEDED-NOT: (NEEDED)
// NEEDED: (NEEDED) Shared library: [libc.so.6]
// NEEDED-NEXT: (NEEDED) Shared library: [ld-linux-x86-64.so.2]
// NEEDED-NOT: (NEEDED)

// LAUNCH: cuModuleLoadData: ELF e_machine=190
// LAUNCH: moe_gpu_init -> 0: {{$}}
// LAUNCH: chip: 'sm_90'
// LAUNCH: compiled bf16 8x256x512: 1, f16 4x512x256: 1, bf16 8x256x520: 0
// 100 rows <= 16 * 8: the decode kernel, grid x = 512 / 64 column slabs,
// y = min(100, 8 + 1) non-empty row ranges at most; params in hex. 72
// blocks on 132 SMs: its wide form, 256 threads a block.
// LAUNCH: cuLaunchKernel: grouped_matmul_decode_bf16_bf16_i64_e8_k256_n512_w8 grid=(8,9,1) block=(256,1,1) smem=0 stream=0x5000
// LAUNCH-NEXT: params: 1000 1000 0 64 100 100 1 2000 2000 0 8 100 200 20000 200 1 3000 3000 0 9 1 4000 4000 0 64 200 200 1
// LAUNCH-NEXT: moe_grouped_matmul(bf16 8x256x512, 100 rows) -> 0: {{$}}
// 1000 rows > 128: the 128x128 tile kernel, grid x = 512 / 128, y = (1000 +
// 9 * 127) / 128, 256 threads and 75776 bytes of dynamic shared memory.
// LAUNCH-NEXT: cuLaunchKernel: grouped_matmul_bf16_bf16_i64_e8_k256_n512_128x128 grid=(4,16,1) block=(256,1,1) smem=75776 stream=0x5000
// LAUNCH-NEXT: params: 1000 1000 0 3e8 100 100 1 2000 2000 0 8 100 200 20000 200 1 3000 3000 0 9 1 4000 4000 0 3e8 200 200 1
// LAUNCH-NEXT: moe_grouped_matmul(bf16 8x256x512, 1000 rows) -> 0: {{$}}
// 1 row: the decode kernel, grid (256 / 64, min(1, 5)), wide.
// LAUNCH-NEXT: cuLaunchKernel: grouped_matmul_decode_f16_f16_i64_e4_k512_n256_w8 grid=(4,1,1) block=(256,1,1) smem=0 stream=(nil)
// LAUNCH-NEXT: params: 1000 1000 0 1 200 200 1 2000 2000 0 4 200 100 20000 100 1 3000 3000 0 5 1 4000 4000 0 1 100 100 1
// LAUNCH-NEXT: moe_grouped_matmul(f16 4x512x256, 1 row) -> 0: {{$}}
// moe_gpu_set_multiprocessor_count(1): the launch plans for one SM, so the
// 4 blocks take the 4-warp form.
// LAUNCH-NEXT: cuLaunchKernel: grouped_matmul_decode_f16_f16_i64_e4_k512_n256 grid=(4,1,1) block=(128,1,1) smem=0 stream=(nil)
// LAUNCH-NEXT: params:
// LAUNCH-NEXT: moe_grouped_matmul(f16 4x512x256, 1 row, 1 SM) -> 0: {{$}}
// LAUNCH-NEXT: moe_grouped_matmul(bf16 8x256x520) -> 1: moe_grouped_matmul: no kernel for dtype 0, experts 8, k 256, n 520 in this library
// LAUNCH-NEXT: moe_grouped_matmul(rows -1) -> 3: moe_grouped_matmul: invalid arguments (rows -1

// On 64 SMs the 72 blocks of 100 rows take the 4-warp form; the 4 of one
// row still the wide one.
// SMS64: cuLaunchKernel: grouped_matmul_decode_bf16_bf16_i64_e8_k256_n512 grid=(8,9,1) block=(128,1,1)
// SMS64: cuLaunchKernel: grouped_matmul_bf16_bf16_i64_e8_k256_n512_128x128 grid=(4,16,1) block=(256,1,1)
// SMS64: cuLaunchKernel: grouped_matmul_decode_f16_f16_i64_e4_k512_n256_w8 grid=(4,1,1) block=(256,1,1)

// NODRIVER: moe_gpu_init -> 2: CUDA driver not found: dlopen({{.*}}.missing/libcuda.so.1) failed
// NODRIVER: chip: 'sm_90'
// NODRIVER: compiled bf16 8x256x512: 1, f16 4x512x256: 1, bf16 8x256x520: 0
// NODRIVER: moe_grouped_matmul(bf16 8x256x512, 100 rows) -> 2: CUDA driver not found
// NODRIVER: moe_grouped_matmul(bf16 8x256x520) -> 1: moe_grouped_matmul: no kernel

func.func @up(%x: tensor<?x256xbf16>, %w: tensor<8x256x512xbf16>, %off: tensor<9xi64>) -> tensor<?x512xbf16> {
  %y = moe.grouped_matmul %x, %w offsets(%off) : (tensor<?x256xbf16>, tensor<8x256x512xbf16>, tensor<9xi64>) -> tensor<?x512xbf16>
  return %y : tensor<?x512xbf16>
}
// Same signature again: one kernel, one branch.
func.func @up2(%x: tensor<?x256xbf16>, %w: tensor<8x256x512xbf16>, %off: tensor<9xi64>) -> tensor<?x512xbf16> {
  %y = moe.grouped_matmul %x, %w offsets(%off) : (tensor<?x256xbf16>, tensor<8x256x512xbf16>, tensor<9xi64>) -> tensor<?x512xbf16>
  return %y : tensor<?x512xbf16>
}
func.func @down(%x: tensor<?x512xf16>, %w: tensor<4x512x256xf16>, %off: tensor<5xi64>) -> tensor<?x256xf16> {
  %y = moe.grouped_matmul %x, %w offsets(%off) : (tensor<?x512xf16>, tensor<4x512x256xf16>, tensor<5xi64>) -> tensor<?x256xf16>
  return %y : tensor<?x256xf16>
}
