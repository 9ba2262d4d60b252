// The kernels on [E, N, K] weights (transpose_rhs) assemble with CUDA's
// ptxas with everything in registers (no stack frame, no spills): the
// decode and mma.sync tile kernels for sm_80, the decode and wgmma kernels
// for sm_90a. The sm_80 SASS has the weights' 16-byte loads (LDG.E.128 in
// the decode kernel, LDGSTS in the tile kernel), ldmatrix (LDSM) and HMMA;
// the sm_90a SASS has the TMA loads (UTMALDG) and HGMMA with both operands
// from shared memory, B K-major (no .tnspB, which the [E, K, N] weights'
// HGMMA carry); neither has local-memory traffic. Needs ptxas and
// cuobjdump (with nvdisasm), not a GPU.
// REQUIRES: ptxas, cuobjdump
// RUN: moe-opt %S/Inputs/transposed-grouped-matmul.mlir --moe-gpu-pipeline="chip=sm_80 ptx-file=%t.sm80.ptx" -o /dev/null
// RUN: %ptxas -arch=sm_80 -v %t.sm80.ptx -o %t.sm80.cubin > %t.sm80.log 2>&1
// RUN: moe-opt %S/Inputs/transposed-grouped-matmul.mlir --moe-gpu-pipeline="chip=sm_90a ptx-file=%t.sm90a.ptx" -o /dev/null
// RUN: %ptxas -arch=sm_90a -v %t.sm90a.ptx -o %t.sm90a.cubin > %t.sm90a.log 2>&1
// RUN: FileCheck %s --check-prefixes=CHECK,SM80 < %t.sm80.log
// RUN: FileCheck %s --check-prefixes=CHECK,SM90 < %t.sm90a.log
// RUN: not grep -E "[1-9][0-9]* bytes (stack frame|spill)" %t.sm80.log %t.sm90a.log
// RUN: not grep "wgmma.mma_async instructions are serialized" %t.sm90a.log
// RUN: %cuobjdump -sass %t.sm80.cubin > %t.sm80.sass
// RUN: %cuobjdump -sass %t.sm90a.cubin > %t.sm90a.sass
// RUN: not grep -E "\b(LDL|STL)\b" %t.sm80.sass %t.sm90a.sass
// RUN: FileCheck %s --check-prefix=SASS < %t.sm80.sass
// RUN: FileCheck %s --check-prefix=SASS < %t.sm90a.sass
// RUN: FileCheck %s --check-prefix=SASS80 < %t.sm80.sass
// RUN: FileCheck %s --check-prefix=SASS90 < %t.sm90a.sass
// RUN: FileCheck %s --check-prefix=PTX90 < %t.sm90a.ptx
// RUN: not grep tnspB %t.sm90a.sass

// CHECK-DAG: Compiling entry function 'grouped_matmul_decode_bf16_bf16_i64_e8_k14336_n4096_t'
// CHECK-DAG: Compiling entry function 'grouped_matmul_decode_f16_f16_i32_e4_k72_n200_bias_f32_t'
// CHECK-DAG: Compiling entry function 'grouped_matmul_decode_bf16_bf16_i64_e128_k2048_n768_silu_separate_t'
// CHECK-DAG: Compiling entry function 'grouped_matmul_decode_bf16_bf16_i64_e128_k2048_n1536_silu_concatenated_t'
// SM80-DAG: Compiling entry function 'grouped_matmul_bf16_bf16_i64_e8_k14336_n4096_t_128x128'
// SM80-DAG: Compiling entry function 'grouped_matmul_f16_f16_i32_e4_k72_n200_bias_f32_t_128x128'
// SM80-DAG: Compiling entry function 'grouped_matmul_bf16_bf16_i64_e128_k2048_n768_silu_separate_t_128x128'
// SM80-DAG: Compiling entry function 'grouped_matmul_bf16_bf16_i64_e128_k2048_n1536_silu_concatenated_t_128x128'
// SM90-DAG: Compiling entry function 'grouped_matmul_wgmma_bf16_bf16_i64_e8_k14336_n4096_t_ws256'
// SM90-DAG: Compiling entry function 'grouped_matmul_wgmma_f16_f16_i32_e4_k72_n200_bias_f32_t'
// SM90-DAG: Compiling entry function 'grouped_matmul_wgmma_bf16_bf16_i64_e128_k2048_n768_silu_separate_t_ws256'
// SM90-DAG: Compiling entry function 'grouped_matmul_wgmma_bf16_bf16_i64_e128_k2048_n1536_silu_concatenated_t_ws256'

// SASS-COUNT-8: Function : grouped_matmul_
// SASS80-DAG: LDG.E.128
// SASS80-DAG: LDGSTS.E.BYPASS.128
// SASS80-DAG: LDSM.16.M88.4
// SASS80-DAG: HMMA.16816.F32.BF16
// SASS80-DAG: HMMA.16816.F32
// SASS90-DAG: LDG.E.128
// SASS90-DAG: UTMALDG.2D
// The bf16 ones take the warp-specialized 128x256 tile, the f16 N = 200
// one the 128x128 tile.
// SASS90-DAG: HGMMA.64x256x16.F32.BF16 R{{[0-9]+}}, gdesc[UR{{[0-9]+}}]
// SASS90-DAG: HGMMA.64x128x16.F32 R{{[0-9]+}}, gdesc[UR{{[0-9]+}}]

// Both operands K-major: imm-trans-a = imm-trans-b = 0.
// PTX90: wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16 {{.*}}, p, 1, 1, 0, 0;
// PTX90: wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16 {{.*}}, p, 1, 1, 0, 0;
// PTX90-NOT: wgmma.mma_async{{.*}}, 1;
