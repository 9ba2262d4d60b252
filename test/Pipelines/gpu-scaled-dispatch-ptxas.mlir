// Llama 4's dispatch and combine (routing weights scale the experts' input,
// H = 5120, E = 16, top-1): the scaled gather and the unweighted combine
// assemble with ptxas for sm_80 and sm_90a with no stack frame and no
// spills. Needs ptxas (see lit.cfg.py), not a GPU.
// REQUIRES: ptxas
// RUN: moe-opt %s --moe-gpu-pipeline="chip=sm_80 ptx-file=%t.sm80.ptx" -o /dev/null
// RUN: %ptxas -arch=sm_80 -v %t.sm80.ptx -o %t.sm80.cubin 2>&1 | FileCheck %s
// RUN: moe-opt %s --moe-gpu-pipeline="chip=sm_90a ptx-file=%t.sm90a.ptx" -o /dev/null
// RUN: %ptxas -arch=sm_90a -v %t.sm90a.ptx -o %t.sm90a.cubin 2>&1 | FileCheck %s

// The other dispatch kernels are the unscaled dispatch's (no suffix).
// CHECK: Compiling entry function 'dispatch_gather_bf16_i64_i64_i64_e16_k1_h5120_scaled_f32'
// CHECK-NEXT: Function properties
// CHECK-NEXT: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// CHECK: Compiling entry function 'dispatch_scatter_bf16_i64_i64_i64_e16_k1_h5120'
// CHECK: Compiling entry function 'combine_bf16_i64_unweighted_bf16_h5120_k1'
// CHECK-NEXT: Function properties
// CHECK-NEXT: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
func.func @llama4(%x: tensor<?x5120xbf16>, %ids: tensor<?x1xi64>, %w: tensor<?x1xf32>, %y: tensor<?x5120xbf16>) -> (tensor<?x5120xbf16>, tensor<?x5120xbf16>) {
  %rows, %offsets, %map = moe.dispatch %x, %ids weights(%w : tensor<?x1xf32>) {num_experts = 16 : i64, scale_rows}
      : tensor<?x5120xbf16>, tensor<?x1xi64> -> tensor<?x5120xbf16>, tensor<17xi64>, tensor<?x1xi64>
  %out = moe.combine %y, %map : (tensor<?x5120xbf16>, tensor<?x1xi64>) -> tensor<?x5120xbf16>
  return %rows, %out : tensor<?x5120xbf16>, tensor<?x5120xbf16>
}
