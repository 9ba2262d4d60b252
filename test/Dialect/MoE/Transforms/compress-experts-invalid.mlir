// What --moe-compress-experts refuses, with the IR left as it was.
// RUN: split-file %s %t
// RUN: moe-opt %t/argument.mlir --moe-compress-experts="rank=1" -verify-diagnostics
// RUN: moe-opt %t/rank.mlir --moe-compress-experts="rank=2" -verify-diagnostics
// RUN: moe-opt %t/hetero.mlir --moe-compress-experts="rank=2" -verify-diagnostics
// RUN: moe-opt %t/f64.mlir --moe-compress-experts="rank=1" -verify-diagnostics
// Only the chosen stages need constant weights.
// RUN: moe-opt %t/argument.mlir --moe-compress-experts="rank=1 stages=down min-saving=-10" 2>&1 | FileCheck %s --check-prefix=DOWN
// DOWN: remark: compressed experts (rank 1, keep-fraction 0); down: 96 -> 56 bytes
// A refused layer leaves every layer as it was, the valid one before it too.
// RUN: not moe-opt %t/rank.mlir --moe-compress-experts="rank=2" --mlir-print-ir-after-failure 2>&1 | FileCheck %s --check-prefix=UNCHANGED
// UNCHANGED: IR Dump After MoECompressExperts Failed
// UNCHANGED: moe.experts {{.*}} tensor<2x4x3xf32>, tensor<2x3x4xf32>
// UNCHANGED: moe.experts {{.*}} tensor<2x4x2xf32>, tensor<2x2x4xf32>
// UNCHANGED-NOT: moe.grouped_matmul
// Bad options.
// RUN: not moe-opt %t/rank.mlir --moe-compress-experts="keep-fraction=0.1" 2>&1 | FileCheck %s --check-prefix=NORANK
// NORANK: error: --moe-compress-experts needs rank=<r> >= 1, got 0
// RUN: not moe-opt %t/rank.mlir --moe-compress-experts="rank=1 keep-fraction=1.5" 2>&1 | FileCheck %s --check-prefix=FRACTION
// FRACTION: error: --moe-compress-experts: keep-fraction must be in [0, 1], got 1.5
// RUN: not moe-opt %t/rank.mlir --moe-compress-experts="rank=1 stages=gate" 2>&1 | FileCheck %s --check-prefix=STAGES
// STAGES: error: --moe-compress-experts: unknown stages 'gate' (all, up or down)
// RUN: not moe-opt %t/rank.mlir --moe-compress-experts="rank=1 min-saving=1" 2>&1 | FileCheck %s --check-prefix=SAVING
// SAVING: error: --moe-compress-experts: min-saving must be below 1, got 1

//--- argument.mlir
func.func @argument(%rows: tensor<?x3xf32>, %off: tensor<3xi64>, %up: tensor<2x4x3xf32>) -> tensor<?x3xf32> {
  %down = arith.constant dense<[[[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 4.0]],
                                [[0.0, 0.0, 0.0, 0.0], [0.0, 4.0, 0.0, 0.0], [0.0, 0.0, 2.0, 0.0]]]> : tensor<2x3x4xf32>
  // expected-error @+1 {{cannot compress: the up weight is not a constant f32, f16 or bf16 tensor}}
  %y = moe.experts %rows, %off weights(%up, %down) {activation = #moe.activation<relu>, transposed_weights}
      : (tensor<?x3xf32>, tensor<3xi64>, tensor<2x4x3xf32>, tensor<2x3x4xf32>) -> tensor<?x3xf32>
  return %y : tensor<?x3xf32>
}

//--- rank.mlir
func.func @rank(%rows: tensor<?x3xf32>, %off: tensor<3xi64>) -> tensor<?x3xf32> {
  %up = arith.constant dense<1.0> : tensor<2x4x3xf32>
  %down = arith.constant dense<2.0> : tensor<2x3x4xf32>
  %y = moe.experts %rows, %off weights(%up, %down) {activation = #moe.activation<relu>, transposed_weights}
      : (tensor<?x3xf32>, tensor<3xi64>, tensor<2x4x3xf32>, tensor<2x3x4xf32>) -> tensor<?x3xf32>
  return %y : tensor<?x3xf32>
}
func.func @rank_narrow(%rows: tensor<?x4xf32>, %off: tensor<3xi64>) -> tensor<?x4xf32> {
  %up = arith.constant dense<1.0> : tensor<2x4x2xf32>
  %down = arith.constant dense<2.0> : tensor<2x2x4xf32>
  // expected-error @+1 {{cannot compress: rank 2 is not below min(in, out) = 2 of the up weight [2, 4]}}
  %y = moe.experts %rows, %off weights(%up, %down) {activation = #moe.activation<relu>}
      : (tensor<?x4xf32>, tensor<3xi64>, tensor<2x4x2xf32>, tensor<2x2x4xf32>) -> tensor<?x4xf32>
  return %y : tensor<?x4xf32>
}

//--- hetero.mlir
func.func @hetero(%rows: tensor<?x3xf32>, %off: tensor<3xi64>) -> tensor<?x3xf32> {
  %u0 = arith.constant dense<1.0> : tensor<3x4xf32>
  %d0 = arith.constant dense<1.0> : tensor<4x3xf32>
  %u1 = arith.constant dense<1.0> : tensor<3x2xf32>
  %d1 = arith.constant dense<1.0> : tensor<2x3xf32>
  // expected-error @+1 {{cannot compress: rank 2 is not below min(in, out) = 2 of the up weight of expert 1 [2, 3]}}
  %y = moe.experts %rows, %off weights(%u0, %d0, %u1, %d1) {activation = #moe.activation<relu>}
      : (tensor<?x3xf32>, tensor<3xi64>, tensor<3x4xf32>, tensor<4x3xf32>, tensor<3x2xf32>, tensor<2x3xf32>) -> tensor<?x3xf32>
  return %y : tensor<?x3xf32>
}

//--- f64.mlir
func.func @f64(%rows: tensor<?x3xf64>, %off: tensor<3xi64>) -> tensor<?x3xf64> {
  %up = arith.constant dense<1.0> : tensor<2x4x3xf64>
  %down = arith.constant dense<2.0> : tensor<2x3x4xf64>
  // expected-error @+1 {{cannot compress: the up weight is not a constant f32, f16 or bf16 tensor}}
  %y = moe.experts %rows, %off weights(%up, %down) {activation = #moe.activation<relu>, transposed_weights}
      : (tensor<?x3xf64>, tensor<3xi64>, tensor<2x4x3xf64>, tensor<2x3x4xf64>) -> tensor<?x3xf64>
  return %y : tensor<?x3xf64>
}
