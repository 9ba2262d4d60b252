// moe-gpu-aot compiles a moe.fused_route into the library's moe_route C
// entry and a moe.dispatch into moe_dispatch (include/moe-c/GPU.h). Against the fake driver, a call launches the
// routing kernel on the caller's stream with grid (ceil(T / 8), slices) --
// 64 experts of H = 1024 make 2 slices of 32 -- and memref descriptors over
// the caller's pointers (the fake driver prints the first 28 parameters:
// input [20, 1024], router [64, 1024], selection bias [64], weights
// [20, 4]); the workspace it needs is the logits (20 rows of 64 f32,
// 5120 bytes) then, 256-byte aligned, 3 counters. Wrong arguments are
// refused with a message.
// REQUIRES: ptxas
// RUN: moe-gpu-aot --ptxas %ptxas --chip sm_90a -o %t.so %s
// RUN: %llvm_nm -D --defined-only %t.so | FileCheck %s --check-prefix=EXPORTS
// RUN: %clang -I%moe_include %S/Inputs/call-routing.c %t.so -o %t.call
// RUN: %clang -shared -fPIC %S/Inputs/fake-libcuda.c -o %t.libcuda.so
// RUN: env MOE_CUDA_DRIVER=%t.libcuda.so %t.call | FileCheck %s
// RUN: env MOE_CUDA_DRIVER=%t.libcuda.so FAKE_CUDA_PARAMS=12 %t.call dispatch | FileCheck %s --check-prefix=DISPATCH

// EXPORTS: T moe_dispatch
// EXPORTS: T moe_dispatch_compiled
// EXPORTS: T moe_dispatch_workspace_size
// EXPORTS: T moe_gpu_dispatch_launch
// EXPORTS: T moe_gpu_dispatch_lookup
// EXPORTS: T moe_gpu_route_dispatch
// EXPORTS: T moe_gpu_route_lookup
// EXPORTS: T moe_route
// EXPORTS: T moe_route_compiled
// EXPORTS: T moe_route_workspace_size

// CHECK: moe_gpu_init -> 0: {{$}}
// CHECK: compiled bf16 E64 H1024 k4: 1, f16: 0, bf16 E64 H1024 k2: 0
// CHECK: workspace bytes for 20 tokens: 5132, for 0: 0, unknown: -1
// CHECK: cuLaunchKernel: fused_route_bf16_bf16_h1024_e64_k4_sigmoid_f32_i64_sb_f32_g8x4x2_rn{{[0-9a-f]+}}_x2 grid=(3,2,1) block=(256,1,1) smem=0 stream=0x7000
// CHECK-NEXT: params: 1000 1000 0 14 400 400 1 2000 2000 0 40 400 400 1 3000 3000 0 40 1 4000 4000 0 14 4 4 1 5000 5000
// CHECK-NEXT: moe_route(20 tokens) -> 0: {{$}}
// CHECK-NEXT: moe_route(no workspace) -> 3: moe_route: invalid arguments
// CHECK-NEXT: moe_route(0 tokens) -> 0: {{$}}
// CHECK-NEXT: moe_route(k 2) -> 1: moe_route: no routing for dtype 0, experts 64, hidden 1024, k 2 in this library

// moe_dispatch: four launches on the caller's stream; grids from T and k
// (300 tokens, k = 4: 5 chunks in 1 block, 1200 gather blocks); the first
// 12 parameters of each: ids [300, 4] and the counts (workspace, 5 * 64),
// or for the gather the input [300, 1024] and offsets [65].
// DISPATCH: moe_gpu_init -> 0: {{$}}
// DISPATCH: compiled bf16 E64 H1024 k4: 1, f32: 0
// DISPATCH: workspace bytes for 300 tokens: 6080
// 5 chunks: one block counts, scans and scatters (ids, offsets, row map,
// the rows' slots in the workspace past the counts).
// DISPATCH: cuLaunchKernel: dispatch_rank_bf16_i64_i64_i64_e64_k4_h1024 grid=(1,1,1) block=(256,1,1) smem=0 stream=0x7000
// DISPATCH-NEXT: params: 2000 2000 0 12c 4 4 1 4000 4000 0 41 1
// DISPATCH-NEXT: cuLaunchKernel: dispatch_gather_bf16_i64_i64_i64_e64_k4_h1024 grid=(1200,1,1) block=(128,1,1) smem=0 stream=0x7000
// DISPATCH-NEXT: params: 1000 1000 0 12c 400 400 1 4000 4000 0 41 1
// DISPATCH-NEXT: moe_dispatch(300 tokens) -> 0: {{$}}
// 10 chunks: count (2 blocks), scan, scatter.
// DISPATCH-NEXT: cuLaunchKernel: dispatch_count_bf16_i64_i64_i64_e64_k4_h1024 grid=(2,1,1) block=(256,1,1) smem=0 stream=0x7000
// DISPATCH-NEXT: params: 2000 2000 0 258 4 4 1 6000 6000 0 280 1
// DISPATCH-NEXT: cuLaunchKernel: dispatch_scan_bf16_i64_i64_i64_e64_k4_h1024 grid=(1,1,1) block=(256,1,1) smem=0 stream=0x7000
// DISPATCH-NEXT: params: 2000 2000 0 258 4 4 1 6000 6000 0 280 1
// DISPATCH-NEXT: cuLaunchKernel: dispatch_scatter_bf16_i64_i64_i64_e64_k4_h1024 grid=(2,1,1) block=(256,1,1) smem=0 stream=0x7000
// DISPATCH-NEXT: params: 2000 2000 0 258 4 4 1 6000 6000 0 280 1
// DISPATCH-NEXT: cuLaunchKernel: dispatch_gather_bf16_i64_i64_i64_e64_k4_h1024 grid=(2400,1,1) block=(128,1,1) smem=0 stream=0x7000
// DISPATCH-NEXT: params: 1000 1000 0 258 400 400 1 4000 4000 0 41 1
// DISPATCH-NEXT: moe_dispatch(600 tokens) -> 0: {{$}}
// DISPATCH-NEXT: moe_dispatch(no workspace) -> 3: moe_dispatch: invalid arguments
// DISPATCH-NEXT: moe_dispatch(0 tokens) -> 0: {{$}}

func.func @dispatch(%x: tensor<?x1024xbf16>, %ids: tensor<?x4xi64>) -> (tensor<?x1024xbf16>, tensor<65xi64>, tensor<?x4xi64>) {
  %r, %o, %m = moe.dispatch %x, %ids {num_experts = 64 : i64}
      : tensor<?x1024xbf16>, tensor<?x4xi64> -> tensor<?x1024xbf16>, tensor<65xi64>, tensor<?x4xi64>
  return %r, %o, %m : tensor<?x1024xbf16>, tensor<65xi64>, tensor<?x4xi64>
}

func.func @route(%x: tensor<?x1024xbf16>, %w: tensor<64x1024xbf16>, %b: tensor<64xf32>) -> (tensor<?x4xf32>, tensor<?x4xi64>) {
  %wt, %ids = moe.fused_route <token_choice> <sigmoid> %x, %w selection_bias(%b : tensor<64xf32>)
      {k = 4 : i64, renormalize, num_groups = 8 : i64, topk_groups = 4 : i64}
      : tensor<?x1024xbf16>, tensor<64x1024xbf16> -> tensor<?x4xf32>, tensor<?x4xi64>
  return %wt, %ids : tensor<?x4xf32>, tensor<?x4xi64>
}
