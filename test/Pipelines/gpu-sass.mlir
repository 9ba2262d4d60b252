// The grouped matmul runs on the tensor cores: its SASS for sm_80 has HMMA
// (bf16 in, fp32 accumulate), fed by LDGSTS (cp.async) and LDSM (ldmatrix),
// and no local-memory traffic. Needs ptxas and cuobjdump (with nvdisasm),
// not a GPU.
// REQUIRES: ptxas, cuobjdump
// RUN: moe-opt %S/Inputs/grouped-matmul-bf16.mlir --moe-gpu-pipeline="chip=sm_80 ptx-file=%t.ptx" -o /dev/null
// RUN: %ptxas -arch=sm_80 %t.ptx -o %t.cubin
// RUN: %cuobjdump -sass %t.cubin 2>&1 | FileCheck %s

// CHECK: Function : grouped_matmul_bf16_bf16_i64_e128_k768_n2048
// CHECK-NOT: {{LDL|STL}}
// CHECK: LDGSTS.E.BYPASS.128
// CHECK-NOT: {{LDL|STL}}
// CHECK: LDSM.16.M88.4
// CHECK-NOT: {{LDL|STL}}
// CHECK: LDSM.16.MT88.4
// CHECK-NOT: {{LDL|STL}}
// CHECK: HMMA.16816.F32.BF16
// CHECK-NOT: {{LDL|STL}}
