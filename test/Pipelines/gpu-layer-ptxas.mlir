// The layer's kernels (fused SwiGLU matmul, down matmul, combine; with
// combine=epilogue the combining matmul, the row-slot inverse and the f32 ->
// bf16 conversion) assemble with ptxas for sm_80 and sm_90a with no stack
// frame and no spills, and call no libdevice function.
// REQUIRES: ptxas
// RUN: moe-opt %S/Inputs/layer-ffn-bf16.mlir --moe-gpu-pipeline="chip=sm_80 ptx-file=%t.k80.ptx" -o /dev/null
// RUN: %ptxas -arch=sm_80 -v %t.k80.ptx -o %t.k80.cubin > %t.k80.log 2>&1
// RUN: FileCheck %s --check-prefix=KERNEL < %t.k80.log
// RUN: not grep -E "[1-9][0-9]* bytes (stack frame|spill)" %t.k80.log
// RUN: moe-opt %S/Inputs/layer-ffn-bf16.mlir --moe-gpu-pipeline="chip=sm_90a combine=epilogue ptx-file=%t.e90.ptx" -o /dev/null
// RUN: %ptxas -arch=sm_90a -v %t.e90.ptx -o %t.e90.cubin > %t.e90.log 2>&1
// RUN: FileCheck %s --check-prefix=EPILOGUE < %t.e90.log
// RUN: not grep -E "[1-9][0-9]* bytes (stack frame|spill)" %t.e90.log
// RUN: not grep "wgmma.mma_async instructions are serialized" %t.e90.log
// RUN: FileCheck %s --check-prefix=PTX < %t.e90.ptx
// RUN: FileCheck %s --check-prefix=PTXWG < %t.e90.ptx
// RUN: not grep -q __nv_ %t.e90.ptx %t.k80.ptx
// Every sm_90a kernel of the layer waits for the kernel before it
// (griddepcontrol.wait, moe-gpu-dependent-launch) before it touches memory;
// sm_80 has no dependent launches.
// RUN: awk -f %S/Inputs/memory-before-griddepcontrol.awk %t.e90.ptx | FileCheck %s --check-prefix=DEPENDENT
// RUN: not grep -q griddepcontrol %t.k80.ptx
// DEPENDENT-NOT: before griddepcontrol.wait
// DEPENDENT-NOT: no griddepcontrol.wait
// DEPENDENT-COUNT-6: : ok
// DEPENDENT-NOT: before griddepcontrol.wait
// DEPENDENT-NOT: no griddepcontrol.wait
// RUN: moe-opt %S/Inputs/layer-ffn-bf16.mlir --convert-moe-to-gpu=combine=epilogue | FileCheck %s --check-prefix=NOMATH
// NOMATH-NOT: math.

// KERNEL-DAG: Compiling entry function 'grouped_matmul_bf16_bf16_i64_e8_k256_n512_silu_separate_128x128' for 'sm_80'
// KERNEL-DAG: Compiling entry function 'grouped_matmul_bf16_bf16_i64_e8_k512_n256_128x128' for 'sm_80'
// KERNEL-DAG: Compiling entry function 'combine_bf16_i64_f32_bf16_h256_k2' for 'sm_80'

// EPILOGUE-DAG: Compiling entry function 'grouped_matmul_wgmma_bf16_bf16_i64_e8_k256_n512_silu_separate_ws256' for 'sm_90a'
// EPILOGUE-DAG: Compiling entry function 'row_slots_i64_k2' for 'sm_90a'
// EPILOGUE-DAG: Compiling entry function 'activation_identity_f32_bf16_w256_256' for 'sm_90a'
// EPILOGUE-DAG: Compiling entry function 'grouped_matmul_wgmma_bf16_f32_i64_e8_k512_n256_combine2_f32_ws256' for 'sm_90a'

// On sm_90a the combining matmul is the wgmma kernel too; its epilogue adds
// with relaxed fp32 atomics (CUDA's atomicAdd, not acq_rel) on global
// addresses (no run-time test of the address space).
// PTX: .entry grouped_matmul_wgmma_bf16_f32_i64_e8_k512_n256_combine2_f32_ws256
// PTX: wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16
// PTX: atom.global.add.f32
// On sm_90a the fused SwiGLU matmul is the wgmma kernel: three descriptors
// (rows, gate and up weights) as parameters, gate and up boxes in each
// stage, the activation on the accumulators.
// PTXWG: .entry grouped_matmul_wgmma_bf16_bf16_i64_e8_k256_n512_silu_separate_ws256(
// PTXWG-COUNT-3: .param .align 64 .b8 grouped_matmul_wgmma_bf16_bf16_i64_e8_k256_n512_silu_separate_ws256_param_{{[0-9]+}}[128]
// PTXWG-DAG: cp.async.bulk.tensor.2d
// PTXWG-DAG: wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16
// PTXWG-DAG: cvt.rn.bf16x2.f32
