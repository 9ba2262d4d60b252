// The decode and mma.sync tile kernels on [E, N, K] weights (transpose_rhs)
// assemble with CUDA's ptxas for sm_80 and sm_90a with everything in
// registers (no stack frame, no spills), and the SASS has the weights'
// 16-byte loads (LDG.E.128 in the decode kernel, LDGSTS in the tile kernel),
// ldmatrix (LDSM) and HMMA, and no local-memory traffic. Needs ptxas and
// cuobjdump (with nvdisasm), not a GPU.
// REQUIRES: ptxas, cuobjdump
// RUN: moe-opt %S/Inputs/transposed-grouped-matmul.mlir --moe-gpu-pipeline="chip=sm_80 ptx-file=%t.sm80.ptx" -o /dev/null
// RUN: %ptxas -arch=sm_80 -v %t.sm80.ptx -o %t.sm80.cubin > %t.sm80.log 2>&1
// RUN: moe-opt %S/Inputs/transposed-grouped-matmul.mlir --moe-gpu-pipeline="chip=sm_90a ptx-file=%t.sm90a.ptx" -o /dev/null
// RUN: %ptxas -arch=sm_90a -v %t.sm90a.ptx -o %t.sm90a.cubin > %t.sm90a.log 2>&1
// RUN: FileCheck %s < %t.sm80.log
// RUN: FileCheck %s < %t.sm90a.log
// RUN: not grep -E "[1-9][0-9]* bytes (stack frame|spill)" %t.sm80.log %t.sm90a.log
// RUN: %cuobjdump -sass %t.sm90a.cubin > %t.sm90a.sass
// RUN: not grep -E "\b(LDL|STL)\b" %t.sm90a.sass
// RUN: FileCheck %s --check-prefix=SASS < %t.sm90a.sass
// RUN: FileCheck %s --check-prefix=SASS-OPS < %t.sm90a.sass

// CHECK-DAG: Compiling entry function 'grouped_matmul_decode_bf16_bf16_i64_e8_k14336_n4096_t'
// CHECK-DAG: Compiling entry function 'grouped_matmul_bf16_bf16_i64_e8_k14336_n4096_t'
// CHECK-DAG: Compiling entry function 'grouped_matmul_decode_f16_f16_i32_e4_k72_n200_bias_f32_t'
// CHECK-DAG: Compiling entry function 'grouped_matmul_f16_f16_i32_e4_k72_n200_bias_f32_t'
// CHECK-DAG: Compiling entry function 'grouped_matmul_decode_bf16_bf16_i64_e128_k2048_n768_silu_separate_t'
// CHECK-DAG: Compiling entry function 'grouped_matmul_bf16_bf16_i64_e128_k2048_n768_silu_separate_t'
// CHECK-DAG: Compiling entry function 'grouped_matmul_decode_bf16_bf16_i64_e128_k2048_n1536_silu_concatenated_t'
// CHECK-DAG: Compiling entry function 'grouped_matmul_bf16_bf16_i64_e128_k2048_n1536_silu_concatenated_t'

// SASS-COUNT-8: Function : grouped_matmul_
// SASS-OPS-DAG: LDG.E.128
// SASS-OPS-DAG: LDGSTS.E.BYPASS.128
// SASS-OPS-DAG: LDSM.16.M88.4
// SASS-OPS-DAG: HMMA.16816.F32.BF16
// SASS-OPS-DAG: HMMA.16816.F32
