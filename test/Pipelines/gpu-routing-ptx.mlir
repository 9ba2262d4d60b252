// The routing kernels down to PTX through LLVM's NVPTX backend (no CUDA
// toolkit needed): 16-byte router loads, warp shuffles for the dot
// products, softmax and argmax, and with expert slices the threadfence
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

// CHECK-LABEL: .visible .entry fused_route_bf16_bf16_h2048_e128_k8_softmax
// CHECK: ld.global.v4
// CHECK: shfl.sync.bfly.b32
// CHECK: atom.global.add.u32
// CHECK: ex2.approx
// CHECK: shfl.sync.bfly.b32
// CHECK-LABEL: .visible .entry fused_route_bf16_bf16_h7168_e256_k8_sigmoid
// CHECK: ld.global.v4
// CHECK: shfl.sync.bfly.b32
// CHECK: membar.gl
// CHECK: bar.sync
// CHECK: atom.global.add.u32
// CHECK: bar.sync
// CHECK: ex2.approx
// CHECK: bar.warp.sync
// CHECK-NOT: __nv_
