// RUN: moe-opt %s --moe-gpu-entry-points -split-input-file -verify-diagnostics
// RUN: not moe-opt %s --moe-gpu-entry-points=combine=atomic -split-input-file 2>&1 | FileCheck %s --check-prefix=COMBINE

// COMBINE: moe-gpu-entry-points: combine must be kernel or epilogue, not 'atomic'

// Only the leading dimension of an argument may be dynamic (dims[] gives
// one size per argument).
// expected-error @+1 {{'func.func' op moe-gpu-entry-points: layer @two_dynamic: argument 1 ('tensor<?x?xbf16>') must be an index or a tensor whose only dynamic dimension is the leading one}}
func.func @two_dynamic(%x: tensor<?x64xbf16>, %y: tensor<?x?xbf16>, %w: tensor<4x64x64xbf16>, %off: tensor<5xi64>) -> tensor<?x64xbf16> attributes {moe.gpu_layer} {
  %r = moe.grouped_matmul %x, %w offsets(%off) : (tensor<?x64xbf16>, tensor<4x64x64xbf16>, tensor<5xi64>) -> tensor<?x64xbf16>
  return %r : tensor<?x64xbf16>
}

// -----

func.func @other_op(%x: tensor<?x64xbf16>, %w: tensor<4x64x64xbf16>, %off: tensor<5xi64>) -> tensor<?x64xbf16> attributes {moe.gpu_layer} {
  %r = moe.grouped_matmul %x, %w offsets(%off) : (tensor<?x64xbf16>, tensor<4x64x64xbf16>, tensor<5xi64>) -> tensor<?x64xbf16>
  // expected-error @+1 {{'arith.addf' op moe-gpu-entry-points: layer @other_op: 'arith.addf' has no GPU kernel in a layer entry}}
  %s = arith.addf %r, %r : tensor<?x64xbf16>
  return %s : tensor<?x64xbf16>
}

// -----

func.func @returns_argument(%x: tensor<?x64xbf16>, %w: tensor<4x64x64xbf16>, %off: tensor<5xi64>) -> (tensor<?x64xbf16>, tensor<?x64xbf16>) attributes {moe.gpu_layer} {
  %r = moe.grouped_matmul %x, %w offsets(%off) : (tensor<?x64xbf16>, tensor<4x64x64xbf16>, tensor<5xi64>) -> tensor<?x64xbf16>
  // expected-error @+1 {{'func.return' op moe-gpu-entry-points: layer @returns_argument: a result must be computed by the layer and returned once}}
  return %r, %x : tensor<?x64xbf16>, tensor<?x64xbf16>
}

// -----

func.func @activation_widths(%x: tensor<?x64xbf16>, %w: tensor<4x64x64xbf16>, %off: tensor<5xi64>) -> tensor<?x32xbf16> attributes {moe.gpu_layer} {
  %r = moe.grouped_matmul %x, %w offsets(%off) : (tensor<?x64xbf16>, tensor<4x64x64xbf16>, tensor<5xi64>) -> tensor<?x64xbf16>
  // expected-error @+1 {{'moe.activation' op the GPU lowering has no per-group widths yet}}
  %a = moe.activation %r offsets(%off) {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<interleaved>, widths = array<i64: 32, 16, 32, 32>} : (tensor<?x64xbf16>, tensor<5xi64>) -> tensor<?x32xbf16>
  return %a : tensor<?x32xbf16>
}

// -----

// expected-error @+1 {{'func.func' op moe-gpu-entry-points: layer @bad_combine: moe.gpu_combine must be "kernel" or "epilogue", not "atomic"}}
func.func @bad_combine(%x: tensor<?x64xbf16>, %w: tensor<4x64x64xbf16>, %off: tensor<5xi64>) -> tensor<?x64xbf16> attributes {moe.gpu_combine = "atomic", moe.gpu_layer} {
  %r = moe.grouped_matmul %x, %w offsets(%off) : (tensor<?x64xbf16>, tensor<4x64x64xbf16>, tensor<5xi64>) -> tensor<?x64xbf16>
  return %r : tensor<?x64xbf16>
}
