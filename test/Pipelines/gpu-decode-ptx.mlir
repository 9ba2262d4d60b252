// The decode kernel down to PTX (format=isa: no CUDA toolkit needed): the
// weights and rows stream through 16-byte global loads, 16 + 8 per lane and
// k iteration, into 4 k steps x 2 x 8 mma.sync m16n8k16 with fp32
// accumulators; the group search is 5 pairs of warp ballots (E = 128: 129
// row ranges, 32 per ballot); the split-K sum goes through shared memory
// between barriers.
// RUN: moe-opt %S/Inputs/grouped-matmul-bf16.mlir --moe-gpu-pipeline="chip=sm_80 kernel=decode ptx-file=%t.sm80.ptx" -o /dev/null
// RUN: FileCheck %s < %t.sm80.ptx
// RUN: FileCheck %s --check-prefix=TAIL < %t.sm80.ptx
// RUN: moe-opt %S/Inputs/grouped-matmul-bf16.mlir --moe-gpu-pipeline="chip=sm_90a kernel=decode ptx-file=%t.sm90a.ptx" -o /dev/null
// RUN: FileCheck %s --check-prefix=PTX90 < %t.sm90a.ptx
// RUN: moe-opt %S/../Conversion/MoEToGPU/decode-grouped-matmul.mlir -split-input-file --moe-gpu-pipeline="chip=sm_80 kernel=decode" -o /dev/null
// kernel=auto: both kernels in one module.
// RUN: moe-opt %S/Inputs/grouped-matmul-bf16.mlir --moe-gpu-pipeline="chip=sm_80 ptx-file=%t.auto.ptx" -o /dev/null
// RUN: FileCheck %s --check-prefix=AUTO < %t.auto.ptx

// CHECK: .target sm_80
// CHECK: .entry grouped_matmul_decode_bf16_bf16_i64_e128_k768_n2048(
// CHECK: .maxntid 128, 1, 1
// CHECK-COUNT-10: vote.sync.ballot.b32
// CHECK-NOT: vote.sync
// CHECK-COUNT-16: ld.global.v4.b32
// CHECK-COUNT-8: ld.global.v4.b32
// CHECK-NOT: ld.global.v4
// CHECK-COUNT-64: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
// CHECK-NOT: mma.sync
// CHECK: st.shared.v4
// CHECK: bar.sync
// CHECK: ld.shared.v4
// CHECK: cvt.rn.bf16.f32
// CHECK: st.global.b16
// CHECK: bar.sync

// The tail's zeros: one 16-byte store per thread and row.
// TAIL: .entry grouped_matmul_decode_bf16_bf16_i64_e128_k768_n2048(
// TAIL: st.global.v4.b32

// PTX90: .target sm_90a
// PTX90: .entry grouped_matmul_decode_bf16_bf16_i64_e128_k768_n2048(
// PTX90: ld.global.v4.b32
// PTX90: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32

// AUTO-DAG: .entry grouped_matmul_bf16_bf16_i64_e128_k768_n2048_128x128(
// AUTO-DAG: .entry grouped_matmul_decode_bf16_bf16_i64_e128_k768_n2048(
