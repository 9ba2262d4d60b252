// A QMoE layer entry with packed weights: moe_layer_forward passes the
// caller's packed bytes, scales and zero points straight to the decode
// kernels, or past 16 rows a group on average to the tile kernels (wgmma on
// sm_90a; no expanded weight anywhere: the workspace holds only the
// intermediates);
// the interleaved SwiGLU is in the gate/up kernel's epilogue.
// REQUIRES: ptxas
// RUN: moe-gpu-aot --ptxas %ptxas --chip sm_90a -o %t.so %S/../Pipelines/Inputs/layer-quantized-bf16.mlir
// RUN: %clang -I%moe_include %S/Inputs/call-layer.c %t.so -o %t.call
// RUN: %clang -shared -fPIC %S/Inputs/fake-libcuda.c -o %t.libcuda.so
// RUN: env FAKE_CUDA_ALLOC_LOG=1 MOE_CUDA_DRIVER=%t.libcuda.so %t.call qmoe 50 | FileCheck %s --implicit-check-not=cuMemAlloc --implicit-check-not=activation_
// RUN: env MOE_CUDA_DRIVER=%t.libcuda.so %t.call qmoe 5000 | FileCheck %s --check-prefix=LARGE

// CHECK: buffers: 8, dims: 1
// Intermediates of 50 tokens: ids, weights, maps, rows [100, 256],
// activations [100, 512], down rows (where the rows were).
// CHECK: workspace: 156416, for 1 row: 4096
// CHECK: cuLaunchKernel: fused_route_bf16_bf16_h256_e8_k2_softmax_f32_i64
// CHECK: cuLaunchKernel: dispatch_gather_bf16_i64_i64_i64_e8_k2_h256 grid=(100,1,1)
// The gate/up matmul reads buffer 2 (the bytes [8, 1024, 128]), 3 (the f16
// scales [8, 1024, 8]) and 4 (the zero points [8, 1024, 4]) in place, and
// writes the activations [100, 512].
// CHECK: cuLaunchKernel: grouped_matmul_decode_bf16_bf16_i64_e8_k256_n1024_silu_interleaved_q4_b32_f16_zp grid=(16,9,1) block=(128,1,1)
// CHECK-NEXT: params: [[ROWS:[0-9a-f]+]] [[ROWS]] 0 64 100 100 1 3000 3000 0 8 400 80 20000 80 1 4000 4000 0 8 400 8 2000 8 1 5000 5000 0 8 400 4 1000 4 1 [[OFF:[0-9a-f]+]] [[OFF]] 0 9 1 [[A:[0-9a-f]+]] [[A]] 0 64 200 200 1{{$}}
// The down matmul: buffer 5 (bytes [8, 256, 512]) and 6 (per-row f32
// scales [8, 256]).
// CHECK: cuLaunchKernel: grouped_matmul_decode_bf16_bf16_i64_e8_k512_n256_q8_f32_w8 grid=(4,9,1) block=(256,1,1)
// CHECK-NEXT: params: [[A]] [[A]] 0 64 200 200 1 6000 6000 0 8 100 200 20000 200 1 7000 7000 0 8 100 100 1 [[OFF]] [[OFF]] 0 9 1
// CHECK: cuLaunchKernel: combine_bf16_i64_f32_bf16_h256_k2 grid=(50,1,1)
// CHECK: moe_layer_forward -> 0: {{$}}

// 10000 rows: the sm_90a tile kernels (wgmma), on the same packed
// buffers, with one TMA map each (the rows [10000, K]; the threads expand
// the packed weights): x over 128 weight columns (8 of the 1024 gate/up
// columns, said by the kernel), y bounding the 128-row tiles of 8 groups
// and the tail, (10000 + 9 * 127) / 128 = 87.
// LARGE: cuTensorMapEncodeTiled: type=9 rank=2 addr={{.*}} dims=256,10000 strides=512 box=64,128
// LARGE-NEXT: cuLaunchKernel: grouped_matmul_wgmma_bf16_bf16_i64_e8_k256_n1024_silu_interleaved_q4_b32_f16_zp grid=(8,87,1) block=(128,1,1) smem=99456
// LARGE-NEXT: params: [[ROWS:[0-9a-f]+]] [[ROWS]] 0 2710 100 100 1 3000 3000 0 8 400 80 20000 80 1 4000 4000 0 8 400 8 2000 8 1 5000 5000 0 8 400 4 1000 4 1 [[OFF:[0-9a-f]+]] [[OFF]] 0 9 1 [[A:[0-9a-f]+]] [[A]] 0 2710 200 200 1 map{[[ROWS]] 256,10000}{{$}}
// LARGE: cuTensorMapEncodeTiled: type=9 rank=2 addr={{.*}} dims=512,10000 strides=1024 box=64,128
// LARGE-NEXT: cuLaunchKernel: grouped_matmul_wgmma_bf16_bf16_i64_e8_k512_n256_q8_f32 grid=(2,87,1) block=(128,1,1)
// LARGE-NEXT: params: [[A]] [[A]] 0 2710 200 200 1 6000 6000 0 8 100 200 20000 200 1 7000 7000 0 8 100 100 1 [[OFF]] [[OFF]] 0 9 1 {{[0-9a-f]+ [0-9a-f]+ 0 2710 100 100 1}} map{[[A]] 512,10000}{{$}}
// LARGE-NOT: grouped_matmul_decode
// LARGE: moe_layer_forward -> 0: {{$}}
