// The routing kernels down to PTX through LLVM's NVPTX backend (no CUDA
// toolkit needed): 16-byte router loads, mma.sync for the router products,
// warp shuffles for softmax and argmax, and with expert slices the threadfence
// reduction (membar.gl, atom.global.add) between bar.sync barriers; exp
// through ex2.approx (no libdevice call left for ptxas to resolve).
// RUN: moe-opt %S/Inputs/gpu-routing-models.mlir --moe-gpu-pipeline="chip=sm_80 ptx-file=%t.ptx" | FileCheck %s --check-prefix=HOST
// RUN: FileCheck %s < %t.ptx

// HOST: llvm.func @deepseek_v3
// HOST: llvm.call @mgpuMemAlloc
// HOST: llvm.call @mgpuMemset32
// HOST: gpu.launch_func <%{{.*}} : !llvm.ptr> @moe_kernels::@fused_route_bf16_bf16_h7168_e256_k8_sigmoid
// HOST: llvm.call @mgpuMemFree
// HOST: llvm.call @mgpuStreamSynchronize
// HOST: llvm.func @qwen3

// The router products on tensor cores (16-byte loads of each lane's token
// and expert chunks into mma.sync), the warps' sums through shared memory.
// Compiled for two blocks an SM, so that ptxas issues a trip's loads
// before its mma (see gpu-routing-ptxas.mlir).
// CHECK-LABEL: .visible .entry fused_route_bf16_bf16_h2048_e128_k8_softmax
// CHECK: .maxntid 256, 1, 1
// CHECK-NEXT: .minnctapersm 2
// CHECK: ld.global.v4
// CHECK: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
// CHECK: bar.sync
// CHECK: atom.global.add.u32
// CHECK: ex2.approx
// CHECK: shfl.sync.bfly.b32
// CHECK-LABEL: .visible .entry fused_route_bf16_bf16_h7168_e256_k8_sigmoid
// CHECK: ld.global.v4
// CHECK: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
// CHECK: bar.sync
// CHECK: membar.gl
// CHECK: bar.sync
// CHECK: atom.global.add.u32
// CHECK: bar.sync
// CHECK: ex2.approx
// CHECK: bar.warp.sync
// CHECK-NOT: __nv_
