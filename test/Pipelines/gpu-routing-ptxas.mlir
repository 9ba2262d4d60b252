// The routing kernels (DeepSeek-V3, Qwen3 and PhiMoE's sparsemixer routers) assemble with CUDA's
// ptxas for sm_80 and sm_90a with no stack frame and no spills. Needs
// ptxas (see lit.cfg.py), not a GPU.
// REQUIRES: ptxas
// RUN: moe-opt %S/Inputs/gpu-routing-models.mlir --moe-gpu-pipeline="chip=sm_80 ptx-file=%t.sm80.ptx" -o /dev/null
// RUN: %ptxas -arch=sm_80 -v %t.sm80.ptx -o %t.sm80.cubin 2>&1 | FileCheck %s
// RUN: moe-opt %S/Inputs/gpu-routing-models.mlir --moe-gpu-pipeline="chip=sm_90a ptx-file=%t.sm90a.ptx" -o /dev/null
// RUN: %ptxas -arch=sm_90a -v %t.sm90a.ptx -o %t.sm90a.cubin 2>&1 | FileCheck %s
// On sm_90a each routing kernel waits for the kernel before it
// (griddepcontrol.wait) before it touches memory.
// RUN: awk -f %S/Inputs/memory-before-griddepcontrol.awk %t.sm90a.ptx | FileCheck %s --check-prefix=DEPENDENT
// DEPENDENT-NOT: griddepcontrol.wait
// DEPENDENT-COUNT-3: : ok
// DEPENDENT-NOT: griddepcontrol.wait
// The router products on tensor cores, compiled for two blocks an SM:
// Qwen3's router issues a trip's 24 16-byte loads before its first HMMA.
// REQUIRES: cuobjdump
// RUN: %cuobjdump -sass %t.sm90a.cubin | FileCheck %s --check-prefix=SASS
// SASS-LABEL: Function : fused_route_bf16_bf16_h2048_e128_k8_softmax
// SASS-COUNT-24: LDG.E.128
// SASS-NOT: {{LDG|HMMA}}
// SASS: HMMA.16816.F32.BF16

// CHECK: Compiling entry function 'fused_route_bf16_bf16_h7168_e256_k8_sigmoid_f32_i64_sb_f32_g8x4x2_rn{{[0-9a-f]+}}_s{{[0-9a-f]+}}_x16'
// CHECK: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// CHECK: Used {{[0-9]+}} registers, used 1 barriers, 20996 bytes smem
// CHECK: Compiling entry function 'fused_route_bf16_bf16_h2048_e128_k8_softmax_f32_i64_rn{{[0-9a-f]+}}_x8'
// CHECK: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// CHECK: Used {{[0-9]+}} registers, used 1 barriers, 8708 bytes smem
// CHECK: Compiling entry function 'fused_route_bf16_bf16_h4096_e16_k2_sparsemixer_f32_i64_j{{[0-9a-f]+}}{{.*}}'
// CHECK: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
