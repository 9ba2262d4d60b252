// The dispatch kernels assemble with ptxas for sm_80 and sm_90a with no
// stack frame and no spills. Needs ptxas (see lit.cfg.py), not a GPU.
// REQUIRES: ptxas
// RUN: moe-opt %S/Inputs/gpu-routing-dispatch.mlir --moe-gpu-pipeline="chip=sm_80 ptx-file=%t.sm80.ptx" -o /dev/null
// RUN: %ptxas -arch=sm_80 -v %t.sm80.ptx -o %t.sm80.cubin 2>&1 | FileCheck %s
// RUN: moe-opt %S/Inputs/gpu-routing-dispatch.mlir --moe-gpu-pipeline="chip=sm_90a ptx-file=%t.sm90a.ptx" -o /dev/null
// RUN: %ptxas -arch=sm_90a -v %t.sm90a.ptx -o %t.sm90a.cubin 2>&1 | FileCheck %s
// On sm_90a each dispatch kernel waits for the kernel before it
// (griddepcontrol.wait) before it touches memory.
// RUN: awk -f %S/Inputs/memory-before-griddepcontrol.awk %t.sm90a.ptx | FileCheck %s --check-prefix=DEPENDENT
// DEPENDENT-NOT: griddepcontrol.wait
// DEPENDENT-COUNT-5: _e256_k8_h7168: ok
// DEPENDENT-NOT: griddepcontrol.wait

// The one-block dispatch (count, scan and scatter for at most 2048 slots).
// CHECK: Compiling entry function 'dispatch_rank_bf16_i64_i64_i64_e256_k8_h7168'
// CHECK: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// CHECK: Compiling entry function 'dispatch_gather_bf16_i64_i64_i64_e256_k8_h7168'
// CHECK: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// CHECK: Compiling entry function 'dispatch_scatter_bf16_i64_i64_i64_e256_k8_h7168'
// CHECK: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// CHECK: Used {{[0-9]+}} registers, used 0 barriers, 8192 bytes smem
// CHECK: Compiling entry function 'dispatch_scan_bf16_i64_i64_i64_e256_k8_h7168'
// CHECK: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// CHECK: Used {{[0-9]+}} registers, used 1 barriers, {{[0-9]+}} bytes smem
// CHECK: Compiling entry function 'dispatch_count_bf16_i64_i64_i64_e256_k8_h7168'
// CHECK: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// CHECK: Used {{[0-9]+}} registers, used 0 barriers, 8192 bytes smem
