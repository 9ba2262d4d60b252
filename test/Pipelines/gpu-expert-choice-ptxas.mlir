// The expert-choice kernels (scoring with the router split over 4 expert
// slices, the per-expert selection of 1024 threads, the dispatch's clear
// and map, and the k = 1 gather) assemble with ptxas for sm_80 and sm_90a
// with no stack frame and no spills; the selection fits 1024 threads (at
// most 64 registers) and its shared sort of 4096 keys. Needs ptxas (see
// lit.cfg.py), not a GPU.
// REQUIRES: ptxas
// RUN: moe-opt %S/Inputs/gpu-expert-choice.mlir --moe-gpu-pipeline="chip=sm_80 ptx-file=%t.sm80.ptx" -o /dev/null
// RUN: %ptxas -arch=sm_80 -v %t.sm80.ptx -o %t.sm80.cubin 2>&1 | FileCheck %s
// RUN: moe-opt %S/Inputs/gpu-expert-choice.mlir --moe-gpu-pipeline="chip=sm_90a ptx-file=%t.sm90a.ptx" -o /dev/null
// RUN: %ptxas -arch=sm_90a -v %t.sm90a.ptx -o %t.sm90a.cubin 2>&1 | FileCheck %s

// CHECK: Compiling entry function 'expert_choice_select_e64_f32_i64'
// CHECK: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// CHECK: Used {{([1-5]?[0-9]|6[0-4])}} registers, used 1 barriers, 33936 bytes smem
// CHECK: Compiling entry function 'fused_route_bf16_bf16_h4096_e64_choice_softmax_x4'
// CHECK: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// CHECK: Compiling entry function 'dispatch_gather_bf16_i64_i64_i64_e64_k1_h4096'
// CHECK: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// CHECK: Compiling entry function 'dispatch_choice_map_i64_i64_i64_e64'
// CHECK: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// CHECK: Compiling entry function 'dispatch_choice_clear_i64_e64'
// CHECK: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
