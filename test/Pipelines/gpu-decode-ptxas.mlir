// The decode kernel assembles with CUDA's ptxas for sm_80 and sm_90a with
// everything in registers (no stack frame, no spills; on sm_90a at most 168
// registers, which three 128-thread blocks per SM need: 65536 / 384 = 170,
// allocated in steps of 8), and its SASS streams the weights with
// 128-bit global loads into HMMA, with no local-memory traffic. Needs ptxas
// and cuobjdump (with nvdisasm), not a GPU.
// REQUIRES: ptxas, cuobjdump
// RUN: moe-opt %S/Inputs/grouped-matmul-bf16.mlir --moe-gpu-pipeline="chip=sm_80 kernel=decode ptx-file=%t.sm80.ptx" -o /dev/null
// RUN: %ptxas -arch=sm_80 -v %t.sm80.ptx -o %t.sm80.cubin 2>&1 | FileCheck %s --check-prefixes=CHECK,SM80
// RUN: %cuobjdump -sass %t.sm80.cubin 2>&1 | FileCheck %s --check-prefix=SASS
// RUN: moe-opt %S/Inputs/grouped-matmul-bf16.mlir --moe-gpu-pipeline="chip=sm_90a kernel=decode ptx-file=%t.sm90a.ptx" -o /dev/null
// RUN: %ptxas -arch=sm_90a -v %t.sm90a.ptx -o %t.sm90a.cubin > %t.sm90a.log 2>&1
// RUN: FileCheck %s --check-prefixes=CHECK,SM90 < %t.sm90a.log
// The 8-warp forms (grouped_matmul_decode_*_w8) spill nothing either, and,
// alone on their SM (nvvm.minctasm = 1), issue all 16 weight and 8 row
// loads of a lane before the first mma.
// RUN: FileCheck %s --check-prefix=WIDE < %t.sm90a.log
// RUN: not grep -E "[1-9][0-9]* bytes (stack frame|spill)" %t.sm90a.log
// RUN: %cuobjdump -sass %t.sm90a.cubin | awk -f %S/Inputs/loads-before-mma.awk | FileCheck %s --check-prefix=WIDEAHEAD
// decode-blocks-per-sm=2 (a comparison library's option): the 4-warp form
// at 200 registers, with all 24 loads ahead too.
// RUN: moe-opt %S/Inputs/grouped-matmul-bf16.mlir --moe-gpu-pipeline="chip=sm_90a kernel=decode decode-blocks-per-sm=2 ptx-file=%t.two.ptx" -o /dev/null
// RUN: %ptxas -arch=sm_90a -v %t.two.ptx -o %t.two.cubin 2>&1 | FileCheck %s --check-prefix=TWO
// RUN: %cuobjdump -sass %t.two.cubin | awk -f %S/Inputs/loads-before-mma.awk | FileCheck %s --check-prefix=TWOAHEAD
// f16, i32 offsets, an f32 bias and masked K and N edges.
// RUN: moe-opt %S/../Conversion/MoEToGPU/decode-grouped-matmul.mlir -split-input-file --moe-gpu-pipeline="chip=sm_90a kernel=decode ptx-file=%t.odd.ptx" -o /dev/null
// RUN: %ptxas -arch=sm_90a -v %t.odd.ptx -o %t.odd.cubin 2>&1 | FileCheck %s --check-prefix=ODD
// The fused epilogues (separate, concatenated and interleaved gated
// activations, relu with N = 200), for both chips: no stack, no spills, and
// in the SASS only global and shared memory traffic.
// RUN: moe-opt %S/Inputs/wgmma-epilogues.mlir --moe-gpu-pipeline="chip=sm_80 kernel=decode ptx-file=%t.epi80.ptx" -o /dev/null
// RUN: %ptxas -arch=sm_80 -v %t.epi80.ptx -o %t.epi80.cubin > %t.epi80.log 2>&1
// RUN: moe-opt %S/Inputs/wgmma-epilogues.mlir --moe-gpu-pipeline="chip=sm_90a kernel=decode ptx-file=%t.epi90.ptx" -o /dev/null
// RUN: %ptxas -arch=sm_90a -v %t.epi90.ptx -o %t.epi90.cubin > %t.epi90.log 2>&1
// RUN: FileCheck %s --check-prefix=EPI < %t.epi80.log
// RUN: FileCheck %s --check-prefix=EPI < %t.epi90.log
// RUN: not grep -E "[1-9][0-9]* bytes (stack frame|spill)" %t.epi80.log %t.epi90.log
// RUN: FileCheck %s --check-prefix=EPIREGS < %t.epi90.log
// Biased forms (gpt-oss's down projection, onnxruntime MoE's fc1 and fc3
// biases with separate weights) keep three blocks per SM on sm_90a: the
// epilogue takes its thread, group and column from shared memory, so that
// LLVM cannot hoist its address math into registers live across the K loop.
// RUN: moe-opt %S/Inputs/decode-biases.mlir --moe-gpu-pipeline="chip=sm_90a kernel=decode ptx-file=%t.bias.ptx" -o /dev/null
// RUN: %ptxas -arch=sm_90a -v %t.bias.ptx -o %t.bias.cubin > %t.bias.log 2>&1
// RUN: FileCheck %s --check-prefix=BIAS < %t.bias.log
// BIAS: Compiling entry function 'grouped_matmul_decode_bf16_bf16_i64_e32_k2880_n2880_bias_f32'
// BIAS: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// BIAS: Used {{1[0-5][0-9]|16[0-8]}} registers
// BIAS: Compiling entry function 'grouped_matmul_decode_bf16_bf16_i64_e16_k2048_n1024_bias_bf16_silu_separate'
// BIAS: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// BIAS: Used {{1[0-5][0-9]|16[0-8]}} registers
// RUN: %cuobjdump -sass %t.epi90.cubin > %t.epi90.sass
// RUN: not grep -E "\b(LDL|STL)\b" %t.epi90.sass
// RUN: FileCheck %s --check-prefix=EPISASS < %t.epi90.sass
// EPI-DAG: Compiling entry function 'grouped_matmul_decode_bf16_bf16_i64_e8_k256_n512_silu_separate'
// EPI-DAG: Compiling entry function 'grouped_matmul_decode_bf16_bf16_i64_e8_k256_n1024_silu_concatenated_a1p702_b1_l7'
// EPI-DAG: Compiling entry function 'grouped_matmul_decode_bf16_bf16_i64_e8_k256_n1024_gelu_interleaved'
// EPI-DAG: Compiling entry function 'grouped_matmul_decode_f16_f16_i32_e4_k64_n200_relu'
// EPISASS-COUNT-4: HMMA.16816.F32
// The 4-warp forms at most 168 registers on sm_90a; the 8-warp forms (one
// 256-thread block an SM) need only fit 255, without spills (above).
// EPIREGS: Compiling entry function 'grouped_matmul_decode_bf16_bf16_i64_e8_k256_n512_silu_separate'
// EPIREGS: Used {{1[0-5][0-9]|16[0-8]}} registers
// EPIREGS: Compiling entry function 'grouped_matmul_decode_bf16_bf16_i64_e8_k256_n1024_silu_concatenated_a1p702_b1_l7'
// EPIREGS: Used {{1[0-5][0-9]|16[0-8]}} registers
// EPIREGS: Compiling entry function 'grouped_matmul_decode_bf16_bf16_i64_e8_k256_n1024_gelu_interleaved'
// EPIREGS: Used {{1[0-5][0-9]|16[0-8]}} registers
// EPIREGS: Compiling entry function 'grouped_matmul_decode_f16_f16_i32_e4_k64_n200_relu'
// EPIREGS: Used {{1[0-5][0-9]|16[0-8]}} registers

// CHECK: Compiling entry function 'grouped_matmul_decode_bf16_bf16_i64_e128_k768_n2048'
// CHECK: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// SM80: Used {{[0-9]+}} registers, used 1 barriers, 19488 bytes smem
// SM90: Used {{1[0-5][0-9]|16[0-8]}} registers, used 1 barriers, 19488 bytes smem

// WIDE: Compiling entry function 'grouped_matmul_decode_bf16_bf16_i64_e128_k768_n2048_w8'
// WIDE: Used {{[0-9]+}} registers, used 1 barriers, 20512 bytes smem
// WIDEAHEAD: grouped_matmul_decode_bf16_bf16_i64_e128_k768_n2048_w8: 24 loads before the first HMMA

// TWO: Compiling entry function 'grouped_matmul_decode_bf16_bf16_i64_e128_k768_n2048'
// TWO: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// TWO: Used {{1[7-9][0-9]|2[0-4][0-9]}} registers, used 1 barriers, 19488 bytes smem
// TWOAHEAD: grouped_matmul_decode_bf16_bf16_i64_e128_k768_n2048: 24 loads before the first HMMA

// ODD: Compiling entry function 'grouped_matmul_decode_f16_f16_i32_e3_k200_n72_bias_f32'
// ODD: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads

// SASS: Function : grouped_matmul_decode_bf16_bf16_i64_e128_k768_n2048
// SASS-NOT: {{LDL|STL}}
// SASS: VOTE.ANY
// SASS-NOT: {{LDL|STL}}
// SASS: LDG.E.128
// SASS-NOT: {{LDL|STL}}
// SASS: HMMA.16816.F32.BF16
// SASS-NOT: {{LDL|STL}}
// SASS: BAR.SYNC
// SASS-NOT: {{LDL|STL}}
