// Layers dynamic skipping cannot apply to, statistics without a median and
// thresholds outside [0, 1] are refused; the IR stays as it was.
// RUN: split-file %s %t
// RUN: moe-opt %t/top1.mlir --moe-skip-experts="stats=%t/median.json" -verify-diagnostics
// RUN: moe-opt %t/expert_choice.mlir --moe-skip-experts="beta=0.5" -verify-diagnostics
// RUN: moe-opt %t/nomedian.mlir --moe-skip-experts="stats=%t/nomedian.json" -verify-diagnostics
// RUN: moe-opt %t/range.mlir --moe-skip-experts="beta=1.5" -verify-diagnostics
// RUN: moe-opt %t/nothing.mlir --moe-skip-experts -verify-diagnostics
// RUN: not moe-opt %t/nomedian.mlir --moe-skip-experts="stats=%t/nomedian.json" --mlir-print-ir-after-failure 2>&1 | FileCheck %s
// CHECK: IR Dump After MoESkipExperts Failed
// CHECK-NOT: skip_ratio

//--- median.json
{"format": "moe-opt.calibration", "version": 1, "layers": [
 {"num_experts": 4, "tokens": 4, "usage": [4, 0, 0, 0], "top2_ratio_median": null}]}

//--- nomedian.json
{"format": "moe-opt.calibration", "version": 1, "layers": [
 {"num_experts": 4, "tokens": 4, "usage": [4, 2, 1, 1], "top2_ratio_median": null}]}

//--- top1.mlir
func.func @layer(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
  %wr = onnx.constant dense<1.0> : tensor<4x2xf32>
  %up = onnx.constant dense<1.0> : tensor<4x2x3xf32>
  %down = onnx.constant dense<1.0> : tensor<4x3x2xf32>
  %logits = moe.gate %x, %wr : (tensor<?x2xf32>, tensor<4x2xf32>) -> tensor<?x4xf32>
  // expected-error@+1 {{dynamic expert skipping needs k >= 2 (it drops slots after the first), this layer has k = 1}}
  %w, %ids = moe.route <token_choice> <softmax> %logits {k = 1 : i64}
      : tensor<?x4xf32> -> tensor<?x1xf32>, tensor<?x1xi64>
  %rows, %off, %map = moe.dispatch %x, %ids {num_experts = 4 : i64}
      : tensor<?x2xf32>, tensor<?x1xi64> -> tensor<?x2xf32>, tensor<5xi64>, tensor<?x1xi64>
  %y = moe.experts %rows, %off weights(%up, %down) {activation = #moe.activation<relu>}
      : (tensor<?x2xf32>, tensor<5xi64>, tensor<4x2x3xf32>, tensor<4x3x2xf32>) -> tensor<?x2xf32>
  %out = moe.combine %y, %map, %w : (tensor<?x2xf32>, tensor<?x1xi64>, tensor<?x1xf32>) -> tensor<?x2xf32>
  return %out : tensor<?x2xf32>
}

//--- expert_choice.mlir
func.func @ec(%l: tensor<8x4xf32>) -> (tensor<8x4xf32>, tensor<4x4xi64>) {
  // expected-error@+1 {{dynamic expert skipping needs token_choice routing, this layer uses expert_choice}}
  %w, %ids = moe.route <expert_choice> <softmax> %l {capacity_factor = 2.0 : f64}
      : tensor<8x4xf32> -> tensor<8x4xf32>, tensor<4x4xi64>
  return %w, %ids : tensor<8x4xf32>, tensor<4x4xi64>
}

//--- nomedian.mlir
// expected-error@+1 {{nomedian.json': layer 0 has no top2_ratio_median (no calibration token used a second expert); give beta=}}
module {
  func.func @layer(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
    %wr = onnx.constant dense<1.0> : tensor<4x2xf32>
    %up = onnx.constant dense<1.0> : tensor<4x2x3xf32>
    %down = onnx.constant dense<1.0> : tensor<4x3x2xf32>
    %logits = moe.gate %x, %wr : (tensor<?x2xf32>, tensor<4x2xf32>) -> tensor<?x4xf32>
    %w, %ids = moe.route <token_choice> <softmax> %logits {k = 2 : i64}
        : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
    %rows, %off, %map = moe.dispatch %x, %ids {num_experts = 4 : i64}
        : tensor<?x2xf32>, tensor<?x2xi64> -> tensor<?x2xf32>, tensor<5xi64>, tensor<?x2xi64>
    %y = moe.experts %rows, %off weights(%up, %down) {activation = #moe.activation<relu>}
        : (tensor<?x2xf32>, tensor<5xi64>, tensor<4x2x3xf32>, tensor<4x3x2xf32>) -> tensor<?x2xf32>
    %out = moe.combine %y, %map, %w : (tensor<?x2xf32>, tensor<?x2xi64>, tensor<?x2xf32>) -> tensor<?x2xf32>
    return %out : tensor<?x2xf32>
  }
}

//--- range.mlir
// expected-error@+1 {{--moe-skip-experts: beta is 1.500000e+00, outside [0, 1]}}
module {
}

//--- nothing.mlir
// expected-error@+1 {{--moe-skip-experts needs stats=<file> (per-layer top2_ratio_median) or beta=}}
module {
}
