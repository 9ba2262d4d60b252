// The scatter-columns kernels (compressed experts' sparse columns) assemble
// with ptxas for sm_80 and sm_90a without stack or spills. Needs ptxas.
// REQUIRES: ptxas
// RUN: moe-opt %s --moe-gpu-pipeline="chip=sm_80 ptx-file=%t.sm80.ptx" -o /dev/null
// RUN: %ptxas -arch=sm_80 -v %t.sm80.ptx -o %t.sm80.cubin 2>&1 | FileCheck %s
// RUN: moe-opt %s --moe-gpu-pipeline="chip=sm_90a ptx-file=%t.sm90a.ptx" -o /dev/null
// RUN: %ptxas -arch=sm_90a -v %t.sm90a.ptx -o %t.sm90a.cubin 2>&1 | FileCheck %s
// The one thread per row, then the unique-columns kernel (a block per row).
// CHECK: Compiling entry function 'scatter_columns_bf16_i32_i64_e8_m144_w14336' for
// CHECK-NEXT: Function properties
// CHECK-NEXT: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// CHECK: Compiling entry function 'scatter_columns_bf16_i32_i64_e8_m144_w14336_unique'
// CHECK-NEXT: Function properties
// CHECK-NEXT: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
func.func @scatter(%s: tensor<?x144xbf16>, %d: tensor<?x14336xbf16>, %cols: tensor<8x144xi32>, %off: tensor<9xi64>) -> tensor<?x14336xbf16> {
  %y = moe.scatter_columns %s into %d columns(%cols) offsets(%off) : (tensor<?x144xbf16>, tensor<?x14336xbf16>, tensor<8x144xi32>, tensor<9xi64>) -> tensor<?x14336xbf16>
  %z = moe.scatter_columns %s into %y columns(%cols) offsets(%off) {unique_columns} : (tensor<?x144xbf16>, tensor<?x14336xbf16>, tensor<8x144xi32>, tensor<9xi64>) -> tensor<?x14336xbf16>
  return %z : tensor<?x14336xbf16>
}
