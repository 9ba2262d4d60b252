// moe-gpu-aot --kernel forces one grouped-matmul kernel whatever the row
// count (the benchmark's comparison library): with tile, 100 and 1 rows run
// the 128x128 tile kernel (sm_80: 128-row tiles of 256 threads with 74 KB of
// dynamic shared memory; the wgmma kernel on sm_90a); with decode,
// 1000 rows run the decode kernel (32 rows a pass, the passes of each group
// shared by ceil(1000 / (32 * 9)) = 4 z blocks; 288 blocks, more than the
// 132 SMs, so the 4-warp form, where 100 and 1 rows take the 8-warp one).
// Against the fake driver, as in aot-library.mlir.
// REQUIRES: ptxas
// RUN: moe-gpu-aot --ptxas %ptxas --chip sm_80 --kernel tile -o %t.tile.so %S/aot-library.mlir
// RUN: moe-gpu-aot --ptxas %ptxas --chip sm_90a --kernel=decode -o %t.decode.so %S/aot-library.mlir
// RUN: %clang -shared -fPIC %S/Inputs/fake-libcuda.c -o %t.libcuda.so
// RUN: %clang -I%moe_include %S/Inputs/call-runtime.c %t.tile.so -o %t.tile.call
// RUN: %clang -I%moe_include %S/Inputs/call-runtime.c %t.decode.so -o %t.decode.call
// RUN: env MOE_CUDA_DRIVER=%t.libcuda.so %t.tile.call | FileCheck %s --check-prefix=TILE
// RUN: env MOE_CUDA_DRIVER=%t.libcuda.so %t.decode.call | FileCheck %s --check-prefix=DECODE
// RUN: not moe-gpu-aot --ptxas %ptxas --kernel fma -o %t.bad.so %S/aot-library.mlir 2>&1 | FileCheck %s --check-prefix=BAD

// TILE-NOT: decode
// TILE: cuLaunchKernel: grouped_matmul_bf16_bf16_i64_e8_k256_n512_128x128 grid=(4,9,1) block=(256,1,1) smem=75776
// TILE: moe_grouped_matmul(bf16 8x256x512, 100 rows) -> 0: {{$}}
// TILE: cuLaunchKernel: grouped_matmul_bf16_bf16_i64_e8_k256_n512_128x128 grid=(4,16,1) block=(256,1,1) smem=75776
// TILE: moe_grouped_matmul(bf16 8x256x512, 1000 rows) -> 0: {{$}}
// TILE: cuLaunchKernel: grouped_matmul_f16_f16_i64_e4_k512_n256_128x128 grid=(2,4,1) block=(256,1,1) smem=75776
// TILE-NOT: decode

// DECODE: cuLaunchKernel: grouped_matmul_decode_bf16_bf16_i64_e8_k256_n512_w8 grid=(8,9,1) block=(256,1,1)
// DECODE: moe_grouped_matmul(bf16 8x256x512, 100 rows) -> 0: {{$}}
// DECODE: cuLaunchKernel: grouped_matmul_decode_bf16_bf16_i64_e8_k256_n512 grid=(8,9,4) block=(128,1,1)
// DECODE: moe_grouped_matmul(bf16 8x256x512, 1000 rows) -> 0: {{$}}
// DECODE: cuLaunchKernel: grouped_matmul_decode_f16_f16_i64_e4_k512_n256_w8 grid=(4,1,1) block=(256,1,1)

// BAD: moe-gpu-entry-points: kernel must be auto, tile or decode, not 'fma'
