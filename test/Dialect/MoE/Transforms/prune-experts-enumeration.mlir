// RUN: split-file %s %t
// RUN: moe-opt %t/layer.mlir --moe-prune-experts="stats=%t/stats.json keep=2 criterion=enumeration" 2>&1 | FileCheck %s --check-prefix=ENUM
// RUN: moe-opt %t/layer.mlir --moe-prune-experts="stats=%t/stats.json keep=2" 2>&1 | FileCheck %s --check-prefix=FREQ
// RUN: moe-opt %t/layer.mlir --moe-prune-experts="stats=%t/stats.json keep-fraction=0.6 criterion=enumeration max-subsets=3" 2>&1 | FileCheck %s --check-prefix=ENUM

// Five sample tokens, sigmoid top-1 routing, identity experts (expert e
// returns x, so Z[t] = sigmoid(logit of the chosen expert) * x[t]).
// Tokens 0, 1 pick expert 0, tokens 2, 4 expert 1, token 3 expert 2:
// usage [2, 2, 1], so frequency keeps experts 0 and 1 (ties to the lower
// index) and drops expert 2, whose token then falls from sigmoid(4) to
// sigmoid(-2) of expert 0: error 0.86 * |(-2, -2)| = 2.44. Dropping expert 0
// instead moves tokens 0 and 1 to expert 1 with sigmoid(1), sigmoid(1.5)
// for sigmoid(2): error sqrt((0.1497 * |(2, 1)|)^2 + (0.0638 * |(2, 1.5)|)^2)
// = 0.3703, the smallest of the three sets.
//--- stats.json
{"format": "moe-opt.calibration", "version": 1, "layers": [
 {"num_experts": 3, "tokens": 5, "usage": [2, 2, 1],
  "input_sample": [[2.0, 1.0], [2.0, 1.5], [1.0, 2.0], [-2.0, -2.0], [0.5, 2.0]]}]}

//--- layer.mlir
// ENUM: remark: pruned experts [0] of 3, kept 2; they had 2 of 5 calibration selections
// ENUM: remark: enumeration of 3 subsets on 5 sample tokens: kept [1, 2], output error 3.703E-01 (||Z_full|| = {{.*}}); the frequency choice [0, 1] has error 2.44{{[0-9]}}E+00
// ENUM: onnx.constant dense<{{\[}}[0.000000e+00, 1.000000e+00], [-1.000000e+00, -1.000000e+00]]> : tensor<2x2xf32>
// ENUM: moe.route <token_choice> <sigmoid> {{.*}}moe.original_experts = array<i64: 1, 2>
// FREQ: remark: pruned experts [2] of 3
// FREQ-NOT: remark: enumeration
// FREQ: moe.original_experts = array<i64: 0, 1>
func.func @layer(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
  %wr = onnx.constant dense<[[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]]> : tensor<3x2xf32>
  %up = onnx.constant dense<[[[1.0, 0.0], [0.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]]]> : tensor<3x2x2xf32>
  %down = onnx.constant dense<[[[1.0, 0.0], [0.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]]]> : tensor<3x2x2xf32>
  %logits = moe.gate %x, %wr : (tensor<?x2xf32>, tensor<3x2xf32>) -> tensor<?x3xf32>
  %w, %ids = moe.route <token_choice> <sigmoid> %logits {k = 1 : i64}
      : tensor<?x3xf32> -> tensor<?x1xf32>, tensor<?x1xi64>
  %rows, %off, %map = moe.dispatch %x, %ids {num_experts = 3 : i64}
      : tensor<?x2xf32>, tensor<?x1xi64> -> tensor<?x2xf32>, tensor<4xi64>, tensor<?x1xi64>
  %y = moe.experts %rows, %off weights(%up, %down) {activation = #moe.activation<identity>}
      : (tensor<?x2xf32>, tensor<4xi64>, tensor<3x2x2xf32>, tensor<3x2x2xf32>) -> tensor<?x2xf32>
  %out = moe.combine %y, %map, %w : (tensor<?x2xf32>, tensor<?x1xi64>, tensor<?x1xf32>) -> tensor<?x2xf32>
  return %out : tensor<?x2xf32>
}
