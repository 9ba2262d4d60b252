// moe-gpu-dependent-launch begins every kernel (gpu.func or NVVM llvm.func)
// with griddepcontrol.wait, then launch_dependents, leaves other functions
// alone, and marks the module for the runtime; a second run changes nothing.
// Modules without an NVVM target, or for a chip older than sm_90, are refused.
// RUN: moe-opt %s --moe-gpu-dependent-launch -split-input-file -verify-diagnostics | FileCheck %s
// RUN: moe-opt %s --moe-gpu-dependent-launch --moe-gpu-dependent-launch -split-input-file -verify-diagnostics | FileCheck %s --check-prefix=TWICE

// CHECK-LABEL: gpu.module @kernels
// CHECK: llvm.func @nvvm_kernel(%{{.*}}: !llvm.ptr<1>) attributes {gpu.kernel, nvvm.kernel}
// CHECK-NEXT: nvvm.griddepcontrol wait
// CHECK-NEXT: nvvm.griddepcontrol launch_dependents
// CHECK-NEXT: llvm.load
// CHECK: llvm.func @helper(
// CHECK-NOT: griddepcontrol
// CHECK: llvm.return
// CHECK: gpu.func @gpu_kernel(
// CHECK-NEXT: nvvm.griddepcontrol wait
// CHECK-NEXT: nvvm.griddepcontrol launch_dependents
// CHECK: llvm.mlir.global external constant @moe_griddepcontrol_wait(1 : i8) {addr_space = 1 : i32, alignment = 1 : i64} : i8
// TWICE-LABEL: gpu.module @kernels
// TWICE-COUNT-2: nvvm.griddepcontrol wait
// TWICE-NOT: nvvm.griddepcontrol wait
// TWICE: @moe_griddepcontrol_wait
// TWICE-NOT: @moe_griddepcontrol_wait
// TWICE-LABEL: gpu.module @blackwell
gpu.module @kernels [#nvvm.target<chip = "sm_90a">] {
  llvm.func @nvvm_kernel(%p: !llvm.ptr<1>) attributes {gpu.kernel, nvvm.kernel} {
    %v = llvm.load %p : !llvm.ptr<1> -> f32
    llvm.store %v, %p : f32, !llvm.ptr<1>
    llvm.return
  }
  llvm.func @helper(%x: f32) -> f32 {
    llvm.return %x : f32
  }
  gpu.func @gpu_kernel(%m: memref<4xf32>) kernel {
    gpu.return
  }
}

// -----

// Later chips have it too.
// CHECK-LABEL: gpu.module @blackwell
// CHECK: nvvm.griddepcontrol wait
gpu.module @blackwell [#nvvm.target<chip = "sm_100a">] {
  gpu.func @k() kernel {
    gpu.return
  }
}

// -----

// expected-error @below {{moe-gpu-dependent-launch: gpu.module @ampere targets sm_80: griddepcontrol (programmatic dependent launch) needs sm_90 or later}}
gpu.module @ampere [#nvvm.target<chip = "sm_80">] {
  gpu.func @k() kernel {
    gpu.return
  }
}

// -----

// expected-error @below {{moe-gpu-dependent-launch: gpu.module @untargeted has no #nvvm.target (run gpu-nvvm-attach-target first)}}
gpu.module @untargeted {
  gpu.func @k() kernel {
    gpu.return
  }
}
