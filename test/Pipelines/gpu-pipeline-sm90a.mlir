// The sm_90a pipeline down to PTX (format=isa: no CUDA toolkit needed): the
// wgmma + TMA kernel (the warp-specialized 128x256 tile by default, the
// one-warpgroup 128x128 tile with wgmma-tile=128x128), and host code that
// encodes its two TMA descriptors through the runtime before launching with
// dynamic shared memory.
// RUN: moe-opt %S/Inputs/grouped-matmul-bf16.mlir --moe-gpu-pipeline="chip=sm_90a ptx-file=%t.ptx" | FileCheck %s --check-prefix=HOST
// RUN: FileCheck %s --check-prefix=PTX < %t.ptx
// RUN: FileCheck %s --check-prefix=WAIT0 < %t.ptx
// RUN: awk -f %S/Inputs/memory-before-griddepcontrol.awk %t.ptx | FileCheck %s --check-prefix=DEPENDENT
// DEPENDENT: grouped_matmul_wgmma_bf16_bf16_i64_e128_k768_n2048_ws256: ok
// RUN: FileCheck %s --check-prefix=PTXWAIT < %t.ptx
// PTXWAIT: .entry grouped_matmul_wgmma_bf16_bf16_i64_e128_k768_n2048_ws256(
// PTXWAIT: griddepcontrol.wait;
// PTXWAIT-NEXT: griddepcontrol.launch_dependents;
// Without dependent launches, nothing of it.
// RUN: moe-opt %S/Inputs/grouped-matmul-bf16.mlir --moe-gpu-pipeline="chip=sm_90a dependent-launch=false ptx-file=%t.serial.ptx" -o /dev/null
// RUN: not grep -q griddepcontrol %t.serial.ptx
// RUN: moe-opt %S/Inputs/grouped-matmul-bf16.mlir --moe-gpu-pipeline=chip=sm_90a | %mlir_translate --mlir-to-llvmir | FileCheck %s --check-prefix=LLVMIR
// RUN: moe-opt %S/Inputs/grouped-matmul-bf16.mlir --moe-gpu-pipeline="chip=sm_90a wgmma-tile=128x128 ptx-file=%t.narrow.ptx" | %mlir_translate --mlir-to-llvmir | FileCheck %s --check-prefix=NARROW
// RUN: FileCheck %s --check-prefix=NARROWPTX < %t.narrow.ptx
// The descriptors become kernel parameters once the kernels and the host are
// lowered, before the serialization.
// RUN: moe-opt %S/Inputs/grouped-matmul-bf16.mlir --moe-gpu-pipeline=chip=sm_90a --dump-pass-pipeline -o /dev/null 2>&1 | FileCheck %s --check-prefix=PIPELINE
// PIPELINE: gpu.module(
// PIPELINE-NEXT: convert-gpu-to-nvvm{
// PIPELINE: gpu-to-llvm{
// PIPELINE-NEXT: moe-gpu-tensor-map-params,
// PIPELINE-NEXT: moe-gpu-dependent-launch,
// PIPELINE-NEXT: gpu-module-to-binary{format=isa

// HOST: llvm.func @down
// HOST: llvm.call @mgpuStreamCreate
// HOST: llvm.call @mgpuTensorMapEncodeTiledMemref
// HOST: llvm.call @mgpuTensorMapEncodeTiledMemref
// HOST: gpu.launch_func <%{{.*}} : !llvm.ptr> @moe_kernels::@grouped_matmul_wgmma_bf16_bf16_i64_e128_k768_n2048_ws256 {{.*}} dynamic_shared_memory_size
// HOST: gpu.binary @moe_kernels [#gpu.object<#nvvm.target<O = 3, chip = "sm_90a", features = "+ptx80">

// Rows: rank 2, bf16 (9), no interleave, 128-byte swizzle (3), 256-byte L2
// promotion (3), zero fill (0); then the weights, the same way. Grid x =
// 2048 / 256, 384 threads (a producer and two consumer warpgroups), 4
// stages of 48 KB; 30 kernel parameters (4 memrefs + 2 descriptors).
// LLVMIR: call ptr @mgpuTensorMapEncodeTiledMemref(i64 2, ptr %{{.*}}, i64 9, i64 0, i64 3, i64 3, i64 0, ptr %{{.*}})
// LLVMIR: call ptr @mgpuTensorMapEncodeTiledMemref(i64 2, ptr %{{.*}}, i64 9, i64 0, i64 3, i64 3, i64 0, ptr %{{.*}})
// The grid: min(8 column tiles x the row tiles, the SM count), one row.
// LLVMIR: %[[SMS:.*]] = call i32 @moe_gpu_multiprocessor_count()
// LLVMIR: %[[SMSX:.*]] = zext i32 %[[SMS]] to i64
// LLVMIR: %[[GRID:.*]] = call i64 @llvm.umin.i64(i64 %{{.*}}, i64 %[[SMSX]])
// The launch copies each map's 128 bytes (zeros for a map the driver
// refused) into its parameters.
// LLVMIR: select i1 %{{.*}}, ptr @__moe_null_tensor_map, ptr %{{.*}}
// LLVMIR-NEXT: load [16 x i64], ptr %{{.*}}, align 64
// LLVMIR: select i1 %{{.*}}, ptr @__moe_null_tensor_map, ptr %{{.*}}
// LLVMIR-NEXT: load [16 x i64], ptr %{{.*}}, align 64
// LLVMIR: call void @mgpuLaunchKernel(ptr %{{.*}}, i64 %[[GRID]], i64 %{{.*}}, i64 1, i64 384, i64 1, i64 1, i32 197760, ptr %{{.*}}, ptr %{{.*}}, ptr null, i64 30)
// The 128x128 tile: grid x = 2048 / 128, one warpgroup, 3 stages of 32 KB.
// NARROW: call void @mgpuLaunchKernel(ptr %{{.*}}, i64 16, i64 %{{.*}}, i64 1, i64 128, i64 1, i64 1, i32 99456, ptr %{{.*}}, ptr %{{.*}}, ptr null, i64 30)

// PTX: .target sm_90a
// The marker the runtime looks for (moe-gpu-dependent-launch).
// PTX: .visible .global .align 1 .u8 moe_griddepcontrol_wait = 1;
// PTX: .entry grouped_matmul_wgmma_bf16_bf16_i64_e128_k768_n2048_ws256(
// The two descriptors: 128-byte, 64-byte aligned parameters, whose generic
// addresses the TMA loads use (__grid_constant__).
// PTX: .param .align 64 .b8 grouped_matmul_wgmma_bf16_bf16_i64_e128_k768_n2048_ws256_param_28[128],
// PTX-NEXT: .param .align 64 .b8 grouped_matmul_wgmma_bf16_bf16_i64_e128_k768_n2048_ws256_param_29[128]
// PTX: .maxntid 384, 1, 1
// PTX-DAG: cvta.param.u64 %rd{{[0-9]+}}, %rd{{[0-9]+}};
// The full and empty mbarriers of each stage, then the roles: the producer
// gives up registers and arms the stages, waiting for the empty ones from
// the fifth step on; the consumers take registers, wait for full stages,
// multiply 64 x 256 and hand stages back.
// PTX: mbarrier.init.shared.b64 [__mbarrier]
// PTX: mbarrier.init.shared.b64 [__mbarrier_0]
// PTX: bar.sync
// PTX: setmaxnreg.dec.sync.aligned.u32 56;
// PTX: mbarrier.arrive.expect_tx.shared.b64
// PTX: cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes
// PTX: mbarrier.try_wait.parity.shared.b64
// PTX: setmaxnreg.inc.sync.aligned.u32 224;
// PTX: mbarrier.try_wait.parity.shared.b64
// PTX: wgmma.fence.sync.aligned
// The operands: descriptors (A K-major, B N-major: trans-b = 1).
// PTX: wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16 {{.*}}, p, 1, 1, 0, 1;
// PTX: wgmma.commit_group.sync.aligned
// One group in flight in the loop; all done before the epilogue (placed
// anywhere by the backend).
// PTX: wgmma.wait_group.sync.aligned 1;
// PTX: mbarrier.arrive.shared.b64
// WAIT0: wgmma.wait_group.sync.aligned 0;
// WAIT0: cvt.rn.bf16x2.f32

// NARROWPTX: .entry grouped_matmul_wgmma_bf16_bf16_i64_e128_k768_n2048(
// NARROWPTX: .maxntid 128, 1, 1
// NARROWPTX: mbarrier.init.shared.b64
// NARROWPTX: bar.sync
// NARROWPTX: mbarrier.arrive.expect_tx.shared.b64
// NARROWPTX: mbarrier.try_wait.parity.shared.b64
// NARROWPTX: wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {{.*}}, p, 1, 1, 0, 1;
// NARROWPTX: wgmma.wait_group.sync.aligned 1;
