// Llama 4 Scout's down matmul (16 experts, 8192 -> 5120) with its unweighted
// combine fused into the epilogue (combine=epilogue): the kernel adds the
// rows into the fp32 sums without weights, and assembles with ptxas for
// sm_80 and sm_90a with no stack frame and no spills. Needs ptxas (see
// lit.cfg.py), not a GPU.
// REQUIRES: ptxas
// RUN: moe-opt %s --moe-gpu-pipeline="chip=sm_80 combine=epilogue ptx-file=%t.sm80.ptx" -o /dev/null
// RUN: %ptxas -arch=sm_80 -v %t.sm80.ptx -o %t.sm80.cubin 2>&1 | FileCheck %s
// RUN: moe-opt %s --moe-gpu-pipeline="chip=sm_90a combine=epilogue ptx-file=%t.sm90a.ptx" -o /dev/null 2>/dev/null
// RUN: %ptxas -arch=sm_90a -v %t.sm90a.ptx -o %t.sm90a.cubin 2>&1 | FileCheck %s

// CHECK: Compiling entry function 'grouped_matmul_bf16_f32_i64_e16_k8192_n5120_combine1_unweighted'
// CHECK: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// CHECK-NOT: combine_bf16
func.func @llama4_down(%a: tensor<?x8192xbf16>, %wd: tensor<16x8192x5120xbf16>, %off: tensor<17xi64>, %map: tensor<?x1xi64>) -> tensor<?x5120xbf16> {
  %rows = moe.grouped_matmul %a, %wd offsets(%off) : (tensor<?x8192xbf16>, tensor<16x8192x5120xbf16>, tensor<17xi64>) -> tensor<?x5120xbf16>
  %out = moe.combine %rows, %map : (tensor<?x5120xbf16>, tensor<?x1xi64>) -> tensor<?x5120xbf16>
  return %out : tensor<?x5120xbf16>
}
