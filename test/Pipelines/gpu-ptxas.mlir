// The generated PTX assembles with CUDA's ptxas for sm_80 and sm_90 and
// keeps everything in registers: no stack frame, no local-memory spills.
// Needs ptxas (see lit.cfg.py), not a GPU.
// REQUIRES: ptxas
// RUN: moe-opt %S/Inputs/grouped-matmul-bf16.mlir --moe-gpu-pipeline="chip=sm_80 ptx-file=%t.sm80.ptx" -o /dev/null
// RUN: %ptxas -arch=sm_80 -v %t.sm80.ptx -o %t.sm80.cubin 2>&1 | FileCheck %s
// RUN: moe-opt %S/Inputs/grouped-matmul-bf16.mlir --moe-gpu-pipeline="chip=sm_90 ptx-file=%t.sm90.ptx" -o /dev/null
// RUN: %ptxas -arch=sm_90 -v %t.sm90.ptx -o %t.sm90.cubin 2>&1 | FileCheck %s

// CHECK: Compiling entry function 'grouped_matmul_bf16_bf16_i64_e128_k768_n2048'
// CHECK: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// CHECK: Used {{[0-9]+}} registers
