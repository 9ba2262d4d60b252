// RUN: moe-opt %s --moe-gpu-entry-points -split-input-file -verify-diagnostics
// RUN: not moe-opt %s --moe-gpu-entry-points=chip=sm_75 -split-input-file 2>&1 | FileCheck %s --check-prefix=CHIP
// A refused module is left as it was: its function is still there.
// RUN: moe-opt %s --moe-gpu-entry-points -split-input-file -verify-diagnostics -mlir-print-ir-after-failure 2>&1 | FileCheck %s --check-prefix=KEPT

// CHIP: moe-gpu-entry-points: unsupported chip 'sm_75' (sm_80, sm_90 and sm_90a are)
// KEPT: func.func @bias
// KEPT-NOT: moe_gpu_grouped_matmul_dispatch
// KEPT-NOT: gpu.module

// expected-error @+1 {{moe-gpu-entry-points: the module has no moe.grouped_matmul to compile}}
module {
  func.func @none(%x: tensor<4xf32>) -> tensor<4xf32> {
    return %x : tensor<4xf32>
  }
}

// -----

func.func @bias(%x: tensor<?x64xbf16>, %w: tensor<4x64x32xbf16>, %off: tensor<5xi64>, %b: tensor<4x32xbf16>) -> tensor<?x32xbf16> {
  // expected-error @+1 {{'moe.grouped_matmul' op moe-gpu-entry-points: grouped matmuls with a bias have no C entry point yet}}
  %y = moe.grouped_matmul %x, %w offsets(%off) bias(%b) : (tensor<?x64xbf16>, tensor<4x64x32xbf16>, tensor<5xi64>, tensor<4x32xbf16>) -> tensor<?x32xbf16>
  return %y : tensor<?x32xbf16>
}

// -----

func.func @offsets32(%x: tensor<?x64xbf16>, %w: tensor<4x64x32xbf16>, %off: tensor<5xi32>) -> tensor<?x32xbf16> {
  // expected-error @+1 {{'moe.grouped_matmul' op moe-gpu-entry-points: the C entry point takes i64 offsets, not 'i32'}}
  %y = moe.grouped_matmul %x, %w offsets(%off) : (tensor<?x64xbf16>, tensor<4x64x32xbf16>, tensor<5xi32>) -> tensor<?x32xbf16>
  return %y : tensor<?x32xbf16>
}

// -----

// The kernel's own checks apply too, and every op is checked before anything
// is built.
func.func @two(%x: tensor<?x64xbf16>, %w: tensor<4x64x32xbf16>, %off: tensor<5xi64>, %x2: tensor<?x64xf32>, %w2: tensor<4x64x32xf32>) -> (tensor<?x32xbf16>, tensor<?x32xf32>) {
  %y = moe.grouped_matmul %x, %w offsets(%off) : (tensor<?x64xbf16>, tensor<4x64x32xbf16>, tensor<5xi64>) -> tensor<?x32xbf16>
  // expected-error @+1 {{'moe.grouped_matmul' op element type 'f32' has no m16n8k16 tensor-core form}}
  %z = moe.grouped_matmul %x2, %w2 offsets(%off) : (tensor<?x64xf32>, tensor<4x64x32xf32>, tensor<5xi64>) -> tensor<?x32xf32>
  return %y, %z : tensor<?x32xbf16>, tensor<?x32xf32>
}
