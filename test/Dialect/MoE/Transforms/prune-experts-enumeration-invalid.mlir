// criterion=enumeration refuses, before changing anything, statistics
// without layer inputs, more subsets than max-subsets, a sample of the
// wrong width, malformed new fields, and unknown criteria.
// RUN: split-file %s %t
// RUN: moe-opt %t/noinputs.mlir --moe-prune-experts="stats=%t/noinputs.json keep=2 criterion=enumeration" -verify-diagnostics
// RUN: moe-opt %t/toomany.mlir --moe-prune-experts="stats=%t/inputs.json keep=2 criterion=enumeration max-subsets=5" -verify-diagnostics
// RUN: moe-opt %t/e64.mlir --moe-prune-experts="stats=%t/e64.json keep-fraction=0.5 criterion=enumeration" -verify-diagnostics
// RUN: moe-opt %t/width.mlir --moe-prune-experts="stats=%t/wide.json keep=2 criterion=enumeration" -verify-diagnostics
// RUN: moe-opt %t/ragged.mlir --moe-prune-experts="stats=%t/ragged.json keep=2 criterion=enumeration" -verify-diagnostics
// RUN: moe-opt %t/median.mlir --moe-prune-experts="stats=%t/median.json keep=2" -verify-diagnostics
// RUN: moe-opt %t/criterion.mlir --moe-prune-experts="stats=%t/inputs.json keep=2 criterion=magnitude" -verify-diagnostics
// RUN: not moe-opt %t/toomany.mlir --moe-prune-experts="stats=%t/inputs.json keep=2 criterion=enumeration max-subsets=5" --mlir-print-ir-after-failure 2>&1 | FileCheck %s
// CHECK: IR Dump After MoEPruneExperts Failed
// CHECK: moe.gate {{.*}} -> tensor<?x4xf32>
// CHECK-NOT: moe.original_experts

//--- noinputs.json
{"format": "moe-opt.calibration", "version": 1, "layers": [
 {"num_experts": 4, "tokens": 2, "usage": [1, 1, 1, 1]}]}

//--- inputs.json
{"format": "moe-opt.calibration", "version": 1, "layers": [
 {"num_experts": 4, "tokens": 2, "usage": [1, 1, 1, 1],
  "input_sample": [[1.0, 0.0], [0.0, 1.0]]}]}

//--- wide.json
{"format": "moe-opt.calibration", "version": 1, "layers": [
 {"num_experts": 4, "tokens": 2, "usage": [1, 1, 1, 1],
  "input_sample": [[1.0, 0.0, 2.0], [0.0, 1.0, 2.0]]}]}

//--- ragged.json
{"format": "moe-opt.calibration", "version": 1, "layers": [
 {"num_experts": 4, "tokens": 2, "usage": [1, 1, 1, 1],
  "input_sample": [[1.0, 0.0], [0.0, 1.0, 2.0]]}]}

//--- median.json
{"format": "moe-opt.calibration", "version": 1, "layers": [
 {"num_experts": 4, "tokens": 2, "usage": [1, 1, 1, 1], "top2_ratio_median": "half"}]}

//--- ragged.mlir
// expected-error@+1 {{ragged.json': layer 0: 'input_sample' rows must be non-empty and of one width}}
module {
}

//--- median.mlir
// expected-error@+1 {{median.json': layer 0: 'top2_ratio_median' is not a number}}
module {
}

//--- e64.json
{"format": "moe-opt.calibration", "version": 1, "layers": [
 {"num_experts": 64, "tokens": 2, "usage": [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
  "input_sample": [[1.0, 0.0], [0.0, 1.0]]}]}

//--- e64.mlir
// 64 experts keeping 32: C(64, 32) = 1.8e18 sets, refused by the default cap.
func.func @layer(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
  %wr = onnx.constant dense<1.0> : tensor<64x2xf32>
  %up = onnx.constant dense<1.0> : tensor<64x2x3xf32>
  %down = onnx.constant dense<1.0> : tensor<64x3x2xf32>
  %logits = moe.gate %x, %wr : (tensor<?x2xf32>, tensor<64x2xf32>) -> tensor<?x64xf32>
  // expected-error@+1 {{criterion=enumeration would try C(64, 32) subsets of experts in layer 0, more than max-subsets = 100000}}
  %w, %ids = moe.route <token_choice> <softmax> %logits {k = 8 : i64}
      : tensor<?x64xf32> -> tensor<?x8xf32>, tensor<?x8xi64>
  %rows, %off, %map = moe.dispatch %x, %ids {num_experts = 64 : i64}
      : tensor<?x2xf32>, tensor<?x8xi64> -> tensor<?x2xf32>, tensor<65xi64>, tensor<?x8xi64>
  %y = moe.experts %rows, %off weights(%up, %down) {activation = #moe.activation<relu>}
      : (tensor<?x2xf32>, tensor<65xi64>, tensor<64x2x3xf32>, tensor<64x3x2xf32>) -> tensor<?x2xf32>
  %out = moe.combine %y, %map, %w : (tensor<?x2xf32>, tensor<?x8xi64>, tensor<?x8xf32>) -> tensor<?x2xf32>
  return %out : tensor<?x2xf32>
}

//--- noinputs.mlir
func.func @layer(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
  %wr = onnx.constant dense<1.0> : tensor<4x2xf32>
  %up = onnx.constant dense<1.0> : tensor<4x2x3xf32>
  %down = onnx.constant dense<1.0> : tensor<4x3x2xf32>
  %logits = moe.gate %x, %wr : (tensor<?x2xf32>, tensor<4x2xf32>) -> tensor<?x4xf32>
  // expected-error@+1 {{criterion=enumeration needs layer inputs: calibration statistics '}}
  %w, %ids = moe.route <token_choice> <softmax> %logits {k = 1 : i64}
      : tensor<?x4xf32> -> tensor<?x1xf32>, tensor<?x1xi64>
  %rows, %off, %map = moe.dispatch %x, %ids {num_experts = 4 : i64}
      : tensor<?x2xf32>, tensor<?x1xi64> -> tensor<?x2xf32>, tensor<5xi64>, tensor<?x1xi64>
  %y = moe.experts %rows, %off weights(%up, %down) {activation = #moe.activation<relu>}
      : (tensor<?x2xf32>, tensor<5xi64>, tensor<4x2x3xf32>, tensor<4x3x2xf32>) -> tensor<?x2xf32>
  %out = moe.combine %y, %map, %w : (tensor<?x2xf32>, tensor<?x1xi64>, tensor<?x1xf32>) -> tensor<?x2xf32>
  return %out : tensor<?x2xf32>
}

//--- toomany.mlir
func.func @layer(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
  %wr = onnx.constant dense<1.0> : tensor<4x2xf32>
  %up = onnx.constant dense<1.0> : tensor<4x2x3xf32>
  %down = onnx.constant dense<1.0> : tensor<4x3x2xf32>
  %logits = moe.gate %x, %wr : (tensor<?x2xf32>, tensor<4x2xf32>) -> tensor<?x4xf32>
  // expected-error@+1 {{criterion=enumeration would try C(4, 2) subsets of experts in layer 0, more than max-subsets = 5; use criterion=frequency or raise max-subsets}}
  %w, %ids = moe.route <token_choice> <softmax> %logits {k = 1 : i64}
      : tensor<?x4xf32> -> tensor<?x1xf32>, tensor<?x1xi64>
  %rows, %off, %map = moe.dispatch %x, %ids {num_experts = 4 : i64}
      : tensor<?x2xf32>, tensor<?x1xi64> -> tensor<?x2xf32>, tensor<5xi64>, tensor<?x1xi64>
  %y = moe.experts %rows, %off weights(%up, %down) {activation = #moe.activation<relu>}
      : (tensor<?x2xf32>, tensor<5xi64>, tensor<4x2x3xf32>, tensor<4x3x2xf32>) -> tensor<?x2xf32>
  %out = moe.combine %y, %map, %w : (tensor<?x2xf32>, tensor<?x1xi64>, tensor<?x1xf32>) -> tensor<?x2xf32>
  return %out : tensor<?x2xf32>
}

//--- width.mlir
func.func @layer(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
  %wr = onnx.constant dense<1.0> : tensor<4x2xf32>
  %up = onnx.constant dense<1.0> : tensor<4x2x3xf32>
  %down = onnx.constant dense<1.0> : tensor<4x3x2xf32>
  // expected-error@+1 {{the calibration input sample has 3 columns, the layer's hidden size is 2}}
  %logits = moe.gate %x, %wr : (tensor<?x2xf32>, tensor<4x2xf32>) -> tensor<?x4xf32>
  %w, %ids = moe.route <token_choice> <softmax> %logits {k = 1 : i64}
      : tensor<?x4xf32> -> tensor<?x1xf32>, tensor<?x1xi64>
  %rows, %off, %map = moe.dispatch %x, %ids {num_experts = 4 : i64}
      : tensor<?x2xf32>, tensor<?x1xi64> -> tensor<?x2xf32>, tensor<5xi64>, tensor<?x1xi64>
  %y = moe.experts %rows, %off weights(%up, %down) {activation = #moe.activation<relu>}
      : (tensor<?x2xf32>, tensor<5xi64>, tensor<4x2x3xf32>, tensor<4x3x2xf32>) -> tensor<?x2xf32>
  %out = moe.combine %y, %map, %w : (tensor<?x2xf32>, tensor<?x1xi64>, tensor<?x1xf32>) -> tensor<?x2xf32>
  return %out : tensor<?x2xf32>
}

//--- criterion.mlir
// expected-error@+1 {{--moe-prune-experts: unknown criterion 'magnitude' (supported: frequency, enumeration)}}
module {
}
