// The dispatch of merged experts (an expert_map from 8 router ids to 4
// experts, read from a constant table in the kernel module) assembles with
// ptxas for sm_80 and sm_90a with no stack frame and no spills. Needs ptxas
// (see lit.cfg.py), not a GPU.
// REQUIRES: ptxas
// RUN: moe-opt %s --moe-gpu-pipeline="chip=sm_80 ptx-file=%t.sm80.ptx" -o /dev/null
// RUN: FileCheck %s --check-prefix=PTX < %t.sm80.ptx
// RUN: %ptxas -arch=sm_80 -v %t.sm80.ptx -o %t.sm80.cubin 2>&1 | FileCheck %s
// RUN: moe-opt %s --moe-gpu-pipeline="chip=sm_90a ptx-file=%t.sm90a.ptx" -o /dev/null
// RUN: %ptxas -arch=sm_90a -v %t.sm90a.ptx -o %t.sm90a.cubin 2>&1 | FileCheck %s

// PTX: .global .align 4 .b8 moe_expert_map_m{{[0-9a-f]+}}[32]
// CHECK: Compiling entry function 'dispatch_gather_bf16_i64_i64_i64_e4_k2_h4096'
// CHECK: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// CHECK: Compiling entry function 'dispatch_scatter_bf16_i64_i64_i64_e4_k2_h4096_m{{[0-9a-f]+}}'
// CHECK: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// CHECK: Compiling entry function 'dispatch_scan_bf16_i64_i64_i64_e4_k2_h4096'
// CHECK: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// CHECK: Compiling entry function 'dispatch_count_bf16_i64_i64_i64_e4_k2_h4096_m{{[0-9a-f]+}}'
// CHECK: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
func.func @merged(%x: tensor<?x4096xbf16>, %ids: tensor<?x2xi64>) -> (tensor<?x4096xbf16>, tensor<5xi64>, tensor<?x2xi64>) {
  %r, %o, %m = moe.dispatch %x, %ids {num_experts = 4 : i64, expert_map = array<i64: 0, 1, 1, 2, 3, 0, 2, 3>}
      : tensor<?x4096xbf16>, tensor<?x2xi64> -> tensor<?x4096xbf16>, tensor<5xi64>, tensor<?x2xi64>
  return %r, %o, %m : tensor<?x4096xbf16>, tensor<5xi64>, tensor<?x2xi64>
}
