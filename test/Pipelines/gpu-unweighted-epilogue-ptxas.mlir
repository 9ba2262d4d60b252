// Llama 4 Scout's down matmul (16 experts, 8192 -> 5120) with its unweighted
// combine fused into the epilogue (combine=epilogue): the kernel (mma.sync
// on sm_80, wgmma on sm_90a) adds the rows into the fp32 sums without
// weights, with fire-and-forget global fp32 reductions, and assembles with
// ptxas with no stack frame and no spills. Needs ptxas and cuobjdump (see
// lit.cfg.py), not a GPU.
// REQUIRES: ptxas, cuobjdump
// RUN: moe-opt %s --moe-gpu-pipeline="chip=sm_80 combine=epilogue ptx-file=%t.sm80.ptx" -o /dev/null
// RUN: %ptxas -arch=sm_80 -v %t.sm80.ptx -o %t.sm80.cubin 2>&1 | FileCheck %s --check-prefix=SM80
// RUN: %cuobjdump -sass %t.sm80.cubin 2>&1 | FileCheck %s --check-prefix=SASS80
// RUN: moe-opt %s --moe-gpu-pipeline="chip=sm_90a combine=epilogue ptx-file=%t.sm90a.ptx" -o /dev/null
// RUN: %ptxas -arch=sm_90a -v %t.sm90a.ptx -o %t.sm90a.cubin 2>&1 | FileCheck %s --check-prefix=SM90
// RUN: %cuobjdump -sass %t.sm90a.cubin 2>&1 | FileCheck %s --check-prefix=SASS90

// SM80: Compiling entry function 'grouped_matmul_bf16_f32_i64_e16_k8192_n5120_combine1_unweighted_128x128'
// SM80: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// SM90: Compiling entry function 'grouped_matmul_wgmma_bf16_f32_i64_e16_k8192_n5120_combine1_unweighted_ws256'
// SM90: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// SASS80: Function : grouped_matmul_bf16_f32_i64_e16_k8192_n5120_combine1_unweighted_128x128
// SASS80-NOT: CAS
// SASS80: HMMA.16816.F32.BF16
// SASS80: RED.E.ADD.F32.FTZ.RN.STRONG.GPU
// SASS90: Function : grouped_matmul_wgmma_bf16_f32_i64_e16_k8192_n5120_combine1_unweighted_ws256
// SASS90-NOT: CAS
// SASS90: HGMMA.64x256x16.F32.BF16
// SASS90: REDG.E.ADD.F32.FTZ.RN.STRONG.GPU
func.func @llama4_down(%a: tensor<?x8192xbf16>, %wd: tensor<16x8192x5120xbf16>, %off: tensor<17xi64>, %map: tensor<?x1xi64>) -> tensor<?x5120xbf16> {
  %rows = moe.grouped_matmul %a, %wd offsets(%off) : (tensor<?x8192xbf16>, tensor<16x8192x5120xbf16>, tensor<17xi64>) -> tensor<?x5120xbf16>
  %out = moe.combine %rows, %map : (tensor<?x5120xbf16>, tensor<?x1xi64>) -> tensor<?x5120xbf16>
  return %out : tensor<?x5120xbf16>
}
