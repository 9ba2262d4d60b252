// The sm_90a wgmma kernel (the warp-specialized 128x256 tile: 384 threads,
// so at most 168 registers at launch, which setmaxnreg moves from the
// producer to the consumers) assembles with CUDA's ptxas with no stack frame
// and no spills, and its SASS runs on the Hopper tensor cores (HGMMA with a
// transposed B from shared-memory descriptors) fed by the TMA engine
// (UTMALDG), with no local memory. Needs ptxas and cuobjdump, not a GPU.
// REQUIRES: ptxas, cuobjdump
// RUN: moe-opt %S/Inputs/grouped-matmul-bf16.mlir --moe-gpu-pipeline="chip=sm_90a ptx-file=%t.ptx" -o /dev/null
// RUN: %ptxas -arch=sm_90a -v %t.ptx -o %t.cubin > %t.log 2>&1
// RUN: FileCheck %s < %t.log
// RUN: %cuobjdump -sass %t.cubin | FileCheck %s --check-prefix=SASS
// RUN: %cuobjdump -sass %t.cubin | FileCheck %s --check-prefix=SETMAXREG
// The 128x128 tile (wgmma-tile=128x128): no stack, no spills either.
// RUN: moe-opt %S/Inputs/grouped-matmul-bf16.mlir --moe-gpu-pipeline="chip=sm_90a wgmma-tile=128x128 ptx-file=%t.narrow.ptx" -o /dev/null
// RUN: %ptxas -arch=sm_90a -v %t.narrow.ptx -o %t.narrow.cubin > %t.narrow.log 2>&1
// RUN: FileCheck %s --check-prefix=NARROW < %t.narrow.log
// RUN: %cuobjdump -sass %t.narrow.cubin | FileCheck %s --check-prefix=NARROWSASS
// The fused epilogues (separate, concatenated and interleaved gated
// activations, a plain relu with N = 200): no stack, no spills either.
// RUN: moe-opt %S/Inputs/wgmma-epilogues.mlir --moe-gpu-pipeline="chip=sm_90a ptx-file=%t.epi.ptx" -o /dev/null
// RUN: %ptxas -arch=sm_90a -v %t.epi.ptx -o %t.epi.cubin > %t.epi.log 2>&1
// RUN: FileCheck %s --check-prefix=EPI < %t.epi.log
// RUN: not grep -E "[1-9][0-9]* bytes (stack frame|spill)" %t.epi.log
// RUN: %cuobjdump -sass %t.epi.cubin > %t.epi.sass
// RUN: FileCheck %s --check-prefix=EPISASS < %t.epi.sass
// RUN: not grep -E "\b(LDL|STL)\b" %t.epi.sass
// No kernel's wgmmas are serialized (ptxas's C7511: a second k loop with
// its own wgmmas in a kernel did that to the 128x128 tile).
// RUN: not grep "wgmma.mma_async instructions are serialized" %t.log %t.narrow.log %t.epi.log
// Nor does ptxas add a warpgroup.arrive (C7519) or warpgroup.wait (C7517)
// to them: it did in the 128x128 tile's first k step, which LLVM peeled
// (only that step skipped the refill) and where the zero accumulators were
// set after the step's fence. Only the f16 relu kernel, K = 64, keeps them:
// its one k step is no loop.
// RUN: grep -E "C751[79]" %t.log %t.narrow.log %t.epi.log > %t.injected || true
// RUN: FileCheck %s --check-prefix=INJECTED --allow-empty < %t.injected
// INJECTED-NOT: function 'grouped_matmul_wgmma_bf16
// EPI: Compiling entry function 'grouped_matmul_wgmma_bf16_bf16_i64_e8_k256_n512_silu_separate_ws256' for 'sm_90a'
// EPI: Compiling entry function 'grouped_matmul_wgmma_bf16_bf16_i64_e8_k256_n1024_silu_concatenated_a1p702_b1_l7_ws256' for 'sm_90a'
// EPI: Compiling entry function 'grouped_matmul_wgmma_bf16_bf16_i64_e8_k256_n1024_gelu_interleaved_ws256' for 'sm_90a'
// EPI: Compiling entry function 'grouped_matmul_wgmma_f16_f16_i32_e4_k64_n200_relu' for 'sm_90a'
// The three gated ones take the warp-specialized 128x256 tile, relu's N
// = 200 the 128x128 one.
// EPISASS: HGMMA.64x256x16.F32
// EPISASS: HGMMA.64x256x16.F32
// EPISASS: HGMMA.64x256x16.F32
// EPISASS: HGMMA.64x128x16.F32

// CHECK-NOT: warning
// CHECK: Compiling entry function 'grouped_matmul_wgmma_bf16_bf16_i64_e128_k768_n2048_ws256' for 'sm_90a'
// CHECK: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// CHECK: Used {{[0-9]+}} registers
// CHECK-NOT: warning

// SASS: Function : grouped_matmul_wgmma_bf16_bf16_i64_e128_k768_n2048_ws256
// SASS-NOT: {{LDL|STL}}
// SASS: UTMALDG.2D
// SASS-NOT: {{LDL|STL}}
// SASS: HGMMA.64x256x16.F32.BF16 R{{[0-9]+}}, gdesc[UR{{[0-9]+}}].tnspB
// SASS-NOT: {{LDL|STL}}
// SASS: WARPGROUP.DEPBAR.LE
// SASS-NOT: {{LDL|STL}}

// The producer gives back all but 56 registers (0x38: its walk over the
// tiles and the ring position stay in registers), the consumers take up to
// 224 (0xe0).
// SETMAXREG: USETMAXREG.DEALLOC.CTAPOOL 0x38
// SETMAXREG: USETMAXREG.TRY_ALLOC.CTAPOOL {{.*}}0xe0

// NARROW: Compiling entry function 'grouped_matmul_wgmma_bf16_bf16_i64_e128_k768_n2048' for 'sm_90a'
// NARROW: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// NARROWSASS: Function : grouped_matmul_wgmma_bf16_bf16_i64_e128_k768_n2048
// NARROWSASS-NOT: {{LDL|STL}}
// NARROWSASS: HGMMA.64x128x16.F32.BF16 R{{[0-9]+}}, gdesc[UR{{[0-9]+}}].tnspB
