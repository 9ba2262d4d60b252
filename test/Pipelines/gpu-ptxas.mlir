// The generated PTX assembles with CUDA's ptxas for sm_80 and sm_90 and
// keeps everything in registers: no stack frame, no local-memory spills;
// for both forms of the mma.sync tile kernel (the 128x128 tile of 8 warps
// that mma-tile=auto takes here, and the 64x64 one of 4). The 128x128
// tile stays at or under 128 registers, so that two 256-thread blocks
// share an SM (with 2 x 74 KB of shared memory: A100's 164 KB holds both).
// Needs ptxas (see lit.cfg.py), not a GPU.
// REQUIRES: ptxas
// RUN: moe-opt %S/Inputs/grouped-matmul-bf16.mlir --moe-gpu-pipeline="chip=sm_80 ptx-file=%t.sm80.ptx" -o /dev/null
// RUN: %ptxas -arch=sm_80 -v %t.sm80.ptx -o %t.sm80.cubin 2>&1 | FileCheck %s --check-prefix=LARGE
// RUN: moe-opt %S/Inputs/grouped-matmul-bf16.mlir --moe-gpu-pipeline="chip=sm_90 ptx-file=%t.sm90.ptx" -o /dev/null
// RUN: %ptxas -arch=sm_90 -v %t.sm90.ptx -o %t.sm90.cubin 2>&1 | FileCheck %s --check-prefix=LARGE
// RUN: moe-opt %S/Inputs/grouped-matmul-bf16.mlir --moe-gpu-pipeline="chip=sm_80 mma-tile=64x64 ptx-file=%t.small.ptx" -o /dev/null
// RUN: %ptxas -arch=sm_80 -v %t.small.ptx -o %t.small.cubin 2>&1 | FileCheck %s --check-prefix=SMALL

// LARGE: Compiling entry function 'grouped_matmul_bf16_bf16_i64_e128_k768_n2048_128x128'
// LARGE-NEXT: Function properties for grouped_matmul_bf16_bf16_i64_e128_k768_n2048_128x128
// LARGE-NEXT: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// LARGE-NEXT: Used {{([0-9]|[0-9][0-9]|1[01][0-9]|12[0-8])}} registers
// SMALL: Compiling entry function 'grouped_matmul_bf16_bf16_i64_e128_k768_n2048'
// SMALL-NEXT: Function properties for grouped_matmul_bf16_bf16_i64_e128_k768_n2048
// SMALL-NEXT: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// SMALL-NEXT: Used {{[0-9]+}} registers
