// RUN: moe-opt %s --convert-moe-to-gpu -split-input-file -verify-diagnostics
// RUN: not moe-opt %s --convert-moe-to-gpu=chip=sm_75 -split-input-file 2>&1 | FileCheck %s --check-prefix=CHIP
// RUN: not moe-opt %s --convert-moe-to-gpu=element-type=f32 -split-input-file 2>&1 | FileCheck %s --check-prefix=ELT
// RUN: not moe-opt %s --convert-moe-to-gpu=combine=atomic -split-input-file 2>&1 | FileCheck %s --check-prefix=COMBINE

// CHIP: convert-moe-to-gpu: unsupported chip 'sm_75' (sm_80, sm_90 and sm_90a are)
// ELT: convert-moe-to-gpu: element-type must be bf16 or f16, not 'f32'
// COMBINE: convert-moe-to-gpu: combine must be kernel or epilogue, not 'atomic'

func.func @f64(%x: tensor<?x64xf64>, %w: tensor<4x64x64xf64>, %off: tensor<5xi64>) -> tensor<?x64xf64> {
  // expected-error @+1 {{'moe.grouped_matmul' op element type 'f64' has no m16n8k16 tensor-core form: the GPU lowering takes bf16 or f16 rows and weights}}
  %y = moe.grouped_matmul %x, %w offsets(%off) : (tensor<?x64xf64>, tensor<4x64x64xf64>, tensor<5xi64>) -> tensor<?x64xf64>
  return %y : tensor<?x64xf64>
}

// -----

// Per-group weights (here of different shapes: heterogeneous experts).
func.func @per_group(%x: tensor<?x64xbf16>, %w0: tensor<64x64xbf16>, %w1: tensor<64x128xbf16>, %off: tensor<3xi64>) -> tensor<?x128xbf16> {
  // expected-error @+1 {{'moe.grouped_matmul' op the GPU lowering needs one stacked [E, K, N] weight tensor: run --moe-prepare-gpu-layers, which stacks per-group weights (and pads groups of different shapes, with group_extents)}}
  %y = moe.grouped_matmul %x, %w0, %w1 offsets(%off) : (tensor<?x64xbf16>, tensor<64x64xbf16>, tensor<64x128xbf16>, tensor<3xi64>) -> tensor<?x128xbf16>
  return %y : tensor<?x128xbf16>
}

// -----

func.func @f32(%x: tensor<?x64xf32>, %w: tensor<4x64x64xf32>, %off: tensor<5xi64>) -> tensor<?x64xf32> {
  // expected-error @+1 {{'moe.grouped_matmul' op element type 'f32' has no m16n8k16 tensor-core form}}
  %y = moe.grouped_matmul %x, %w offsets(%off) : (tensor<?x64xf32>, tensor<4x64x64xf32>, tensor<5xi64>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// -----

// Transposed [E, N, K] weights are read as they are, but not with
// per-group extents.
func.func @transposed_extents(%x: tensor<?x64xbf16>, %w: tensor<2x32x64xbf16>, %off: tensor<3xi64>) -> tensor<?x32xbf16> {
  // expected-error @+1 {{'moe.grouped_matmul' op transposed [E, N, K] weights cannot have group_extents on the GPU (transpose them)}}
  %y = moe.grouped_matmul %x, %w offsets(%off) {transpose_rhs, group_extents = array<i64: 64, 32, 48, 32>} : (tensor<?x64xbf16>, tensor<2x32x64xbf16>, tensor<3xi64>) -> tensor<?x32xbf16>
  return %y : tensor<?x32xbf16>
}

// -----

func.func @odd_k(%x: tensor<?x60xf16>, %w: tensor<4x60x32xf16>, %off: tensor<5xi64>) -> tensor<?x32xf16> {
  // expected-error @+1 {{'moe.grouped_matmul' op K (60) and N (32) must be multiples of 8: the kernel copies 16-byte chunks}}
  %y = moe.grouped_matmul %x, %w offsets(%off) : (tensor<?x60xf16>, tensor<4x60x32xf16>, tensor<5xi64>) -> tensor<?x32xf16>
  return %y : tensor<?x32xf16>
}

// -----

func.func @dynamic_k(%x: tensor<?x?xf16>, %w: tensor<4x64x32xf16>, %off: tensor<5xi64>) -> tensor<?x32xf16> {
  // expected-error @+1 {{'moe.grouped_matmul' op the GPU lowering needs static K and N (only the row count may be dynamic)}}
  %y = moe.grouped_matmul %x, %w offsets(%off) : (tensor<?x?xf16>, tensor<4x64x32xf16>, tensor<5xi64>) -> tensor<?x32xf16>
  return %y : tensor<?x32xf16>
}

// -----

func.func @widths(%h: tensor<?x64xbf16>, %off: tensor<3xi64>) -> tensor<?x32xbf16> {
  // expected-error @+1 {{'moe.activation' op the GPU lowering has no per-group widths yet (heterogeneous experts)}}
  %a = moe.activation %h offsets(%off) {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<interleaved>, widths = array<i64: 32, 16>} : (tensor<?x64xbf16>, tensor<3xi64>) -> tensor<?x32xbf16>
  return %a : tensor<?x32xbf16>
}

// -----

func.func @activation_f64(%h: tensor<?x64xf64>) -> tensor<?x64xf64> {
  // expected-error @+1 {{'moe.activation' op the GPU kernels compute in f32; 'f64' is not supported}}
  %a = moe.activation %h {activation = #moe.activation<relu>} : (tensor<?x64xf64>) -> tensor<?x64xf64>
  return %a : tensor<?x64xf64>
}

// -----

func.func @combine_dynamic(%rows: tensor<?x?xbf16>, %map: tensor<?x2xi64>, %w: tensor<?x2xf32>) -> tensor<?x?xbf16> {
  // expected-error @+1 {{'moe.combine' op the GPU lowering needs a static hidden size and slot count}}
  %o = moe.combine %rows, %map, %w : (tensor<?x?xbf16>, tensor<?x2xi64>, tensor<?x2xf32>) -> tensor<?x?xbf16>
  return %o : tensor<?x?xbf16>
}

// -----

// A rejected op leaves the module unchanged, even the ops that could be
// lowered (no gpu.module, no launch).
func.func @unchanged(%x: tensor<?x64xbf16>, %w: tensor<4x64x64xbf16>, %off: tensor<5xi64>, %map: tensor<?x2xi64>, %wt: tensor<?x2xf64>) -> tensor<?x64xbf16> {
  %y = moe.grouped_matmul %x, %w offsets(%off) : (tensor<?x64xbf16>, tensor<4x64x64xbf16>, tensor<5xi64>) -> tensor<?x64xbf16>
  // expected-error @+1 {{'moe.combine' op the GPU kernels compute in f32; 'f64' is not supported}}
  %o = moe.combine %y, %map, %wt : (tensor<?x64xbf16>, tensor<?x2xi64>, tensor<?x2xf64>) -> tensor<?x64xbf16>
  return %o : tensor<?x64xbf16>
}
