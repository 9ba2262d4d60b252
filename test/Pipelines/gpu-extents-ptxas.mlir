// Heterogeneous experts' matmuls (group_extents: four experts of widths 128
// to 512, two ending inside a wgmma block, H = 256; the fused SwiGLU and the
// down projection with a bias; a down projection whose widths end inside a
// wgmma k step)
// assemble with CUDA's ptxas for sm_80 and sm_90a with no stack frame and
// no spills, in all three kernels (mma.sync tile, decode, wgmma), and the
// SASS has the tensor-core instructions and no local-memory traffic. Needs
// ptxas and cuobjdump, not a GPU.
// REQUIRES: ptxas, cuobjdump
// RUN: moe-opt %S/Inputs/grouped-extents-bf16.mlir --moe-gpu-pipeline="chip=sm_80 ptx-file=%t.sm80.ptx" -o /dev/null
// RUN: %ptxas -arch=sm_80 -v %t.sm80.ptx -o %t.sm80.cubin > %t.sm80.log 2>&1
// RUN: FileCheck %s --check-prefixes=CHECK,SM80 < %t.sm80.log
// RUN: moe-opt %S/Inputs/grouped-extents-bf16.mlir --moe-gpu-pipeline="chip=sm_90a ptx-file=%t.sm90a.ptx" -o /dev/null
// RUN: %ptxas -arch=sm_90a -v %t.sm90a.ptx -o %t.sm90a.cubin > %t.sm90a.log 2>&1
// RUN: FileCheck %s --check-prefixes=CHECK,SM90A < %t.sm90a.log
// RUN: not grep -E "[1-9][0-9]* bytes (stack frame|spill)" %t.sm80.log %t.sm90a.log
// RUN: not grep "wgmma.mma_async instructions are serialized" %t.sm90a.log
// RUN: %cuobjdump -sass %t.sm80.cubin > %t.sm80.sass
// RUN: %cuobjdump -sass %t.sm90a.cubin > %t.sm90a.sass
// RUN: not grep -E "\b(LDL|STL)\b" %t.sm80.sass %t.sm90a.sass
// RUN: FileCheck %s --check-prefix=SASS80 < %t.sm80.sass
// RUN: FileCheck %s --check-prefix=SASS90 < %t.sm90a.sass
// The partial k steps' zeroed stores are fenced for the wgmma (async proxy).
// RUN: FileCheck %s --check-prefix=PTX90 < %t.sm90a.ptx
// PTX90: .entry grouped_matmul_wgmma_bf16_bf16_i64_e4_k512_n128_x
// PTX90: fence.proxy.async.shared::cta
// CHECK-DAG: Compiling entry function 'grouped_matmul_decode_bf16_bf16_i64_e4_k256_n512_silu_separate_x{{[0-9a-f]+}}'
// CHECK-DAG: Compiling entry function 'grouped_matmul_decode_bf16_bf16_i64_e4_k512_n256_bias_f32_x{{[0-9a-f]+}}'
// SM80-DAG: Compiling entry function 'grouped_matmul_bf16_bf16_i64_e4_k256_n512_silu_separate_x{{[0-9a-f]+}}_128x128'
// SM80-DAG: Compiling entry function 'grouped_matmul_bf16_bf16_i64_e4_k512_n256_bias_f32_x{{[0-9a-f]+}}_128x128'
// SM90A-DAG: Compiling entry function 'grouped_matmul_wgmma_bf16_bf16_i64_e4_k256_n512_silu_separate_x{{[0-9a-f]+}}_ws256'
// SM90A-DAG: Compiling entry function 'grouped_matmul_wgmma_bf16_bf16_i64_e4_k512_n256_bias_f32_x{{[0-9a-f]+}}_ws256'
// SM90A-DAG: Compiling entry function 'grouped_matmul_wgmma_bf16_bf16_i64_e4_k512_n128_x{{[0-9a-f]+}}'
// CHECK: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// SASS80: HMMA.16816.F32.BF16
// The N = 128 matmul takes the 128x128 tile, the others the
// warp-specialized 128x256 one.
// SASS90-DAG: HGMMA.64x128x16.F32.BF16
// SASS90-DAG: HGMMA.64x256x16.F32.BF16
// SASS90-DAG: HMMA.16816.F32.BF16
