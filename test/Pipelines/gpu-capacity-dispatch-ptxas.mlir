// The dispatch kernels of a capacity per group of G tokens (group_size) and
// of a by_weight capacity (scores, the expert-choice selection, marking)
// assemble with ptxas for sm_80 and sm_90a with no stack frame and no
// spills. Needs ptxas (see lit.cfg.py), not a GPU.
// REQUIRES: ptxas
// RUN: moe-opt %S/Inputs/gpu-capacity-dispatch.mlir --moe-gpu-pipeline="chip=sm_80 ptx-file=%t.sm80.ptx" -o /dev/null
// RUN: %ptxas -arch=sm_80 -v %t.sm80.ptx -o %t.sm80.cubin > %t.sm80.log 2>&1
// RUN: moe-opt %S/Inputs/gpu-capacity-dispatch.mlir --moe-gpu-pipeline="chip=sm_90a ptx-file=%t.sm90a.ptx" -o /dev/null
// RUN: %ptxas -arch=sm_90a -v %t.sm90a.ptx -o %t.sm90a.cubin > %t.sm90a.log 2>&1
// RUN: FileCheck %s < %t.sm80.log
// RUN: FileCheck %s < %t.sm90a.log
// RUN: not grep -E "[1-9][0-9]* bytes (stack frame|spill)" %t.sm80.log %t.sm90a.log

// CHECK-DAG: Compiling entry function 'dispatch_count_bf16_i64_i64_i64_e64_k1_h1024_cap4_grouped'
// CHECK-DAG: Compiling entry function 'dispatch_scan_bf16_i64_i64_i64_e64_k1_h1024_cap4_grouped'
// CHECK-DAG: Compiling entry function 'dispatch_scatter_bf16_i64_i64_i64_e64_k1_h1024_cap4_grouped'
// CHECK-DAG: Compiling entry function 'dispatch_gather_bf16_i64_i64_i64_e64_k1_h1024_cap4'
// CHECK-DAG: Compiling entry function 'dispatch_weight_scores_bf16_i64_i64_i64_e64_k2_h1024_byweight_bf16'
// CHECK-DAG: Compiling entry function 'expert_choice_select_e64_f32_i32'
// CHECK-DAG: Compiling entry function 'dispatch_weight_mark_bf16_i64_i64_i64_e64_k2_h1024_byweight_bf16'
// CHECK-DAG: Compiling entry function 'dispatch_count_bf16_i64_i64_i64_e64_k2_h1024_byweight_bf16'
// CHECK-DAG: Compiling entry function 'dispatch_scatter_bf16_i64_i64_i64_e64_k2_h1024_byweight_bf16'
