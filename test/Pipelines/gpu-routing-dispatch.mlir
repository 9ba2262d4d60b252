// The dispatch kernels down to PTX (no CUDA toolkit needed): shared-memory
// atomics for the histogram, barriers for the one-block scan, match.any +
// popc for the stable ranks, 16-byte copies for the gather; the host
// launches the one-block form (up to 2048 slots) or count, scan and scatter,
// then the gather, on one stream, and synchronizes once.
// RUN: moe-opt %S/Inputs/gpu-routing-dispatch.mlir --moe-gpu-pipeline="chip=sm_80 ptx-file=%t.ptx" | FileCheck %s --check-prefix=HOST
// RUN: FileCheck %s < %t.ptx

// HOST: llvm.func @dispatch
// HOST: llvm.icmp "ule"
// HOST: gpu.launch_func <%{{.*}} : !llvm.ptr> @moe_kernels::@dispatch_rank_bf16_i64_i64_i64_e256_k8_h7168 blocks in (%{{.*}}, %{{.*}}, %{{.*}}) threads in
// HOST: gpu.launch_func <%{{.*}} : !llvm.ptr> @moe_kernels::@dispatch_count_bf16_i64_i64_i64_e256_k8_h7168
// HOST: gpu.launch_func <%{{.*}} : !llvm.ptr> @moe_kernels::@dispatch_scan_bf16_i64_i64_i64_e256_k8_h7168
// HOST: gpu.launch_func <%{{.*}} : !llvm.ptr> @moe_kernels::@dispatch_scatter_bf16_i64_i64_i64_e256_k8_h7168
// HOST: gpu.launch_func <%{{.*}} : !llvm.ptr> @moe_kernels::@dispatch_gather_bf16_i64_i64_i64_e256_k8_h7168
// HOST: llvm.call @mgpuMemFree
// HOST: llvm.call @mgpuMemFree
// HOST: llvm.call @mgpuStreamSynchronize

// CHECK-DAG: atom.shared.add.u32
// CHECK-DAG: bar.sync
// CHECK-DAG: match.any.sync.b32
// CHECK-DAG: popc.b32
// CHECK-DAG: ld.global.v4
// CHECK-DAG: st.global.v4
// CHECK-NOT: __nv_
