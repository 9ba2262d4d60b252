// A layer entry: moe_layer_forward queues the whole expert half of a layer
// (SwiGLU matmul with the activation in its epilogue, down matmul, combine)
// on the caller's stream, on the caller's buffers, intermediates in the
// caller's workspace: against the fake driver the launches come in order
// on one stream, with no allocation, no memset and no synchronization.
// REQUIRES: ptxas
// RUN: moe-gpu-aot --ptxas %ptxas --chip sm_80 -o %t.so %S/../Pipelines/Inputs/layer-ffn-bf16.mlir
// RUN: %llvm_nm -D --defined-only %t.so | FileCheck %s --check-prefix=EXPORTS
// RUN: %clang -I%moe_include %S/Inputs/call-layer.c %t.so -o %t.call
// RUN: %clang -shared -fPIC %S/Inputs/fake-libcuda.c -o %t.libcuda.so
// RUN: env FAKE_CUDA_ALLOC_LOG=1 MOE_CUDA_DRIVER=%t.libcuda.so %t.call ffn 100 50 50 | FileCheck %s
// RUN: env MOE_CUDA_DRIVER=%t.libcuda.so %t.call ffn 200 100 100 | FileCheck %s --check-prefix=TILE
// RUN: moe-gpu-aot --ptxas %ptxas --chip sm_80 --combine epilogue -o %t.epi.so %S/../Pipelines/Inputs/layer-ffn-bf16.mlir
// RUN: %clang -I%moe_include %S/Inputs/call-layer.c %t.epi.so -o %t.epi.call
// RUN: env FAKE_CUDA_ALLOC_LOG=1 MOE_CUDA_DRIVER=%t.libcuda.so %t.epi.call ffn 100 50 50 | FileCheck %s --check-prefix=EPI
// RUN: moe-gpu-aot --ptxas %ptxas --chip sm_90a -o %t.full.so %S/../Pipelines/Inputs/layer-full-bf16.mlir
// RUN: %clang -I%moe_include %S/Inputs/call-layer.c %t.full.so -o %t.full.call
// RUN: env FAKE_CUDA_ALLOC_LOG=1 MOE_CUDA_DRIVER=%t.libcuda.so %t.full.call moe 50 | FileCheck %s --check-prefix=FULL
// RUN: env FAKE_CUDA_ALLOC_LOG=1 MOE_CUDA_DRIVER=%t.libcuda.so %t.full.call moe 500 | FileCheck %s --check-prefix=WGMMA

// EXPORTS-NOT: __moe_layer
// EXPORTS: T moe_gpu_layer_forward
// EXPORTS: T moe_gpu_layer_info
// EXPORTS: R moe_gpu_layer_names
// EXPORTS: T moe_gpu_layer_workspace
// EXPORTS: T moe_layer_count
// EXPORTS: T moe_layer_find
// EXPORTS: T moe_layer_forward
// EXPORTS: T moe_layer_name
// EXPORTS: T moe_layer_num_buffers
// EXPORTS: T moe_layer_num_dims
// EXPORTS: T moe_layer_workspace_size
// EXPORTS-NOT: __moe_layer

// CHECK: moe_gpu_init -> 0: {{$}}
// CHECK-NEXT: layers: 1, ffn = 0 'ffn', missing = -1, name(7) = ''
// CHECK-NEXT: buffers: 8, dims: 3, unknown layer: -1
// Activations [100, 512] bf16 (102400 bytes) and down rows [100, 256]
// (51200); the combined output is the caller's. One row: 1024 -> 1024 and
// 512 -> 512, each rounded up to 256.
// CHECK-NEXT: workspace: 153600, for 1 row: 1536, negative: -1
// CHECK-NOT: cuMemAlloc
// CHECK-NOT: Synchronize
// CHECK-NOT: cuMemset
// 100 rows of 8 experts: the decode kernels. The fused SwiGLU: grid =
// (512 / 32 outputs, min(100, 9), 1); params: x, the gate and up weights,
// offsets, then the activation at the workspace start.
// CHECK-NEXT: cuLaunchKernel: grouped_matmul_decode_bf16_bf16_i64_e8_k256_n512_silu_separate grid=(16,9,1) block=(128,1,1) smem=0 stream=0x5e00
// CHECK-NEXT: params: 1000 1000 0 64 100 100 1 2000 2000 0 8 100 200 20000 200 1 3000 3000 0 8 100 200 20000 200 1 5000 5000 0 9 1 100000 100000 0 64 200 200 1
// The down matmul reads it and writes its rows after it (0x100000 + 102400):
// grid (256 / 64, min(100, 9)), 36 blocks on 132 SMs: the 8-warp form. (The
// SwiGLU's 144 blocks keep the 4-warp one.)
// CHECK-NEXT: cuLaunchKernel: grouped_matmul_decode_bf16_bf16_i64_e8_k512_n256_w8 grid=(4,9,1) block=(256,1,1) smem=0 stream=0x5e00
// CHECK-NEXT: params: 100000 100000 0 64 200 200 1 4000 4000 0 8 200 100 20000 100 1 5000 5000 0 9 1 119000 119000 0 64 100 100 1
// Combine: a block per token (50), rows, map [50, 2], weights, output.
// CHECK-NEXT: cuLaunchKernel: combine_bf16_i64_f32_bf16_h256_k2 grid=(50,1,1) block=(256,1,1) smem=0 stream=0x5e00
// CHECK-NEXT: params: 119000 119000 0 64 100 100 1 6000 6000 0 32 2 2 1 7000 7000 0 32 2 2 1 8000 8000 0 32 100 100 1
// CHECK-NEXT: moe_layer_forward -> 0: {{$}}
// CHECK-NEXT: moe_layer_forward(7) -> 1: moe_layer_forward: no layer 7 in this library
// CHECK-NEXT: moe_layer_forward(no workspace) -> 3: moe_layer_forward: invalid arguments for layer 0 'ffn'
// CHECK-NEXT: moe_layer_forward(null buffer) -> 3: moe_layer_forward: invalid arguments
// CHECK-NOT: cuLaunchKernel
// CHECK-NOT: Synchronize

// Past 16 rows per expert (200 rows): the 128x128 tile kernels, grid (512 /
// 64 or 256 / 128, (200 + 9 * 127) / 128).
// TILE: cuLaunchKernel: grouped_matmul_bf16_bf16_i64_e8_k256_n512_silu_separate_128x128 grid=(8,10,1) block=(256,1,1) smem=75776
// TILE: cuLaunchKernel: grouped_matmul_bf16_bf16_i64_e8_k512_n256_128x128 grid=(2,10,1) block=(256,1,1) smem=75776 stream=0x5e00
// TILE: cuLaunchKernel: combine_bf16_i64_f32_bf16_h256_k2 grid=(100,1,1)

// combine=epilogue: the slots (100 x i32 = 400 -> 512 bytes) and the f32
// sums [50, 256] come from the workspace too, and their memsets are queued
// on the same stream, between the launches.
// EPI: workspace: 154112, for 1 row: 2304, negative: -1
// EPI-NOT: cuMemAlloc
// EPI-NOT: Synchronize
// EPI: cuLaunchKernel: grouped_matmul_decode_bf16_bf16_i64_e8_k256_n512_silu_separate grid=(16,9,1) block=(128,1,1) smem=0 stream=0x5e00
// EPI-NEXT: params:
// EPI-NEXT: cuMemsetD32Async: 119000 = ffffffff x 100 stream=0x5e00
// EPI-NEXT: cuLaunchKernel: row_slots_i64_k2 grid=(1,1,1) block=(256,1,1) smem=0 stream=0x5e00
// EPI-NEXT: params: 6000 6000 0 32 2 2 1 119000 119000 0 64 1
// EPI-NEXT: cuMemsetD32Async: 119200 = 0 x 12800 stream=0x5e00
// EPI-NEXT: cuLaunchKernel: grouped_matmul_bf16_f32_i64_e8_k512_n256_combine2_f32_128x128 grid=(2,9,1) block=(256,1,1) smem=75776 stream=0x5e00
// EPI-NEXT: params: 100000 100000 0 64 200 200 1 4000 4000 0 8 200 100 20000 100 1 5000 5000 0 9 1 119200 119200 0 32 100 100 1 119000 119000 0 64 1 7000 7000 0 32 2 2 1
// EPI-NEXT: cuLaunchKernel: activation_identity_f32_bf16_w256_256 grid=(50,1,1) block=(256,1,1) smem=0 stream=0x5e00
// EPI-NEXT: params: 119200 119200 0 32 100 100 1 8000 8000 0 32 100 100 1
// EPI-NEXT: moe_layer_forward -> 0: {{$}}
// EPI-NOT: Synchronize

// The whole layer from 50 tokens (sm_90a library): routing, the four
// dispatch kernels, the FFN (100 rows of 8 experts: the decode kernels, the
// first with the SwiGLU in its epilogue), the combine, all on the caller's
// stream. The workspace (256-byte aligned places) is reused: the route's
// weights [50, 2] f32 at 0 (read by the combine) and ids at 0x200 (read by
// the dispatch); the dispatched rows at 0x600, offsets at 0xce00, row map at
// 0xcf00, the dispatch's counts and slot sources at 0xd300 and 0xd400; the
// activation [100, 512] takes 0xd300 once those two are done, and the down
// rows [100, 256] 0x200, where the ids and the dispatched rows were: 156416
// bytes in all, where placing every buffer after the last took 208384.
// FULL: buffers: 6, dims: 1, unknown layer: -1
// FULL-NEXT: workspace: 156416, for 1 row: 4096, negative: -1
// FULL-NOT: cuMemAlloc
// FULL-NOT: Synchronize
// FULL-NOT: cuMemcpy
// FULL: cuLaunchKernel: fused_route_{{.*}} grid=(7,1,1) block=(256,1,1) smem=0 stream=0x5e00
// FULL: cuLaunchKernel: dispatch_rank_{{.*}} grid=(1,1,1) {{.*}} stream=0x5e00
// FULL: cuLaunchKernel: dispatch_gather_{{.*}} grid=(100,1,1) {{.*}} stream=0x5e00
// FULL: cuLaunchKernel: grouped_matmul_decode_bf16_bf16_i64_e8_k256_n512_silu_separate grid=(16,9,1) block=(128,1,1) smem=0 stream=0x5e00
// FULL-NEXT: params: 100600 100600 0 64 100 100 1 3000 3000 0 8 100 200 20000 200 1 4000 4000 0 8 100 200 20000 200 1 10ce00 10ce00 0 9 1 10d300 10d300 0 64 200 200 1
// FULL-NEXT: cuLaunchKernel: grouped_matmul_decode_bf16_bf16_i64_e8_k512_n256_w8 grid=(4,9,1) block=(256,1,1) smem=0 stream=0x5e00
// FULL-NEXT: params: 10d300 10d300 0 64 200 200 1 5000 5000 0 8 200 100 20000 100 1 10ce00 10ce00 0 9 1 100200 100200 0 64 100 100 1
// FULL-NEXT: cuLaunchKernel: combine_bf16_i64_f32_bf16_h256_k2 grid=(50,1,1) block=(256,1,1) smem=0 stream=0x5e00
// FULL-NEXT: params: 100200 100200 0 64 100 100 1 10cf00 10cf00 0 32 2 2 1 100000 100000 0 32 2 2 1 6000 6000 0 32 100 100 1
// FULL-NEXT: moe_layer_forward -> 0: {{$}}
// FULL-NOT: Synchronize

// 500 tokens (1000 rows): the matmuls are the wgmma kernels. Their TMA
// descriptors are encoded on the host at the call and travel in the
// launch's parameters: for the fused SwiGLU the dispatched rows and the
// gate and up weights ([8 * 256, 512] each; the warp-specialized tile: 4 x
// 16 tiles of 128 outputs and 128 rows, a persistent block each below the
// fake driver's 132 SMs), for the down matmul the activation
// in the workspace, [1000, 512], and the down weights as [8 * 512, 256]. Still no allocation, copy or wait
// in the call. The down rows take the dispatched rows' place (0x1000): a
// workspace of 1556736 bytes instead of 2073088.
// WGMMA: workspace: 1556736
// WGMMA-NOT: cuMemAlloc
// WGMMA-NOT: Synchronize
// WGMMA-NOT: cuMemcpy
// WGMMA: cuTensorMapEncodeTiled: type=9 rank=2 addr=0x103000 dims=256,1000 strides=512 box=64,128
// WGMMA-NEXT: cuTensorMapEncodeTiled: type=9 rank=2 addr=0x3000 dims=512,2048 strides=1024 box=64,64
// WGMMA-NEXT: cuTensorMapEncodeTiled: type=9 rank=2 addr=0x4000 dims=512,2048 strides=1024 box=64,64
// WGMMA-NEXT: cuLaunchKernel: grouped_matmul_wgmma_bf16_bf16_i64_e8_k256_n512_silu_separate_ws256 grid=(64,1,1) block=(384,1,1) smem=197760 stream=0x5e00
// WGMMA-NEXT: params: {{.*}} 182100 182100 0 3e8 200 200 1 map{103000 256,1000} map{3000 512,2048} map{4000 512,2048}
// WGMMA-NEXT: cuTensorMapEncodeTiled: type=9 rank=2 addr=0x182100 dims=512,1000 strides=1024 box=64,128 elementStrides=1,1 interleave=0 swizzle=3 l2=3 oob=0
// WGMMA-NEXT: cuTensorMapEncodeTiled: type=9 rank=2 addr=0x5000 dims=256,4096 strides=512 box=64,64 elementStrides=1,1 interleave=0 swizzle=3 l2=3 oob=0
// WGMMA-NEXT: cuLaunchKernel: grouped_matmul_wgmma_bf16_bf16_i64_e8_k512_n256_ws256 grid=(16,1,1) block=(384,1,1) smem=197760 stream=0x5e00
// WGMMA-NEXT: params: 182100 182100 0 3e8 200 200 1 5000 5000 0 8 200 100 20000 100 1 180000 180000 0 9 1 101000 101000 0 3e8 100 100 1 map{182100 512,1000} map{5000 256,4096}
// WGMMA-NEXT: cuLaunchKernel: combine_bf16_i64_f32_bf16_h256_k2 grid=(500,1,1)
// WGMMA: moe_layer_forward -> 0: {{$}}
// WGMMA-NOT: Synchronize
