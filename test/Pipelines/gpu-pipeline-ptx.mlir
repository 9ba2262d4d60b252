// The GPU pipeline down to PTX through LLVM's NVPTX backend (format=isa:
// no CUDA toolkit needed). The kernel uses the tensor cores.
// RUN: moe-opt %S/Inputs/grouped-matmul-bf16.mlir --moe-gpu-pipeline="chip=sm_80 ptx-file=%t.sm80.ptx" | FileCheck %s --check-prefix=HOST
// RUN: FileCheck %s --check-prefix=PTX80 < %t.sm80.ptx
// RUN: moe-opt %S/Inputs/grouped-matmul-bf16.mlir --moe-gpu-pipeline=chip=sm_80 | %mlir_translate --mlir-to-llvmir | FileCheck %s --check-prefix=LLVMIR
// RUN: moe-opt %s --moe-gpu-pipeline="chip=sm_80 element-type=f16 ptx-file=%t.f16.ptx" -o /dev/null
// RUN: FileCheck %s --check-prefix=F16 < %t.f16.ptx
// RUN: moe-opt %S/Inputs/grouped-matmul-bf16.mlir --moe-gpu-pipeline="chip=sm_90 ptx-file=%t.sm90.ptx" -o /dev/null
// RUN: FileCheck %s --check-prefix=PTX90 < %t.sm90.ptx

// Host: an LLVM-dialect function launching the kernel on a stream through
// mgpu* calls, the kernels in a gpu.binary; mlir-translate turns the launch
// into module load (a global constructor) and mgpuLaunchKernel.
// HOST: llvm.func @down
// HOST: llvm.call @mgpuStreamCreate
// HOST: llvm.call @mgpuMemAlloc
// HOST: gpu.launch_func <%{{.*}} : !llvm.ptr> @moe_kernels::@grouped_matmul_bf16_bf16_i64_e128_k768_n2048
// HOST: llvm.call @mgpuStreamSynchronize
// HOST: gpu.binary @moe_kernels [#gpu.object<#nvvm.target<O = 3, chip = "sm_80", features = "+ptx80">
// LLVMIR: @moe_kernels_binary = internal constant
// LLVMIR: define {{.*}} @down(
// LLVMIR: call ptr @mgpuModuleGetFunction
// The 128x128 tile: 16 column tiles, 256 threads, the 4 stages' 75776
// bytes of dynamic shared memory.
// LLVMIR: call void @mgpuLaunchKernel(ptr %{{.*}}, i64 16, i64 %{{.*}}, i64 1, i64 256, i64 1, i64 1, i32 75776
// LLVMIR: define internal void @moe_kernels_load()
// LLVMIR: call ptr @mgpuModuleLoadJIT(ptr @moe_kernels_binary

// PTX80: .target sm_80
// PTX80: .entry grouped_matmul_bf16_bf16_i64_e128_k768_n2048_128x128
// PTX80: .shared .align 16 .b8 __dynamic_shmem__0;
// PTX80: cp.async.cg.shared.global
// PTX80: cp.async.wait_group 2
// PTX80-NEXT: bar.sync 0
// PTX80: ldmatrix.sync.aligned.m8n8.x4.shared.b16
// PTX80: ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16
// PTX80: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
// PTX80: cvt.rn.bf16x2.f32

// F16: mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32
// F16: cvt.rn.f16x2.f32

// PTX90: .target sm_90{{$}}
// PTX90: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32

func.func @up(%x: tensor<?x256xf16>, %w: tensor<8x256x512xf16>, %off: tensor<9xi32>) -> tensor<?x512xf16> {
  %y = moe.grouped_matmul %x, %w offsets(%off) : (tensor<?x256xf16>, tensor<8x256x512xf16>, tensor<9xi32>) -> tensor<?x512xf16>
  return %y : tensor<?x512xf16>
}
