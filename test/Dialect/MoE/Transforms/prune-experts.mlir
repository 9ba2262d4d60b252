// RUN: split-file %s %t
// RUN: moe-opt %t/stacked.mlir --moe-prune-experts="stats=%t/stats4.json keep=2" 2>&1 | FileCheck %s --check-prefix=STACKED
// RUN: moe-opt %t/stacked.mlir --moe-prune-experts="stats=%t/stats4.json keep-fraction=0.75" 2>&1 | FileCheck %s --check-prefix=FRACTION
// RUN: moe-opt %t/per_expert.mlir --moe-prune-experts="stats=%t/stats3.json keep=2" 2>&1 | FileCheck %s --check-prefix=PEREXPERT
// Pruning twice: the first keeps [0, 1, 2], the second new ids 1, 2 of
// those (by their usage in stats3.json): original ids 1 and 2.
// RUN: moe-opt %t/stacked.mlir --moe-prune-experts="stats=%t/stats4.json keep=3" -o %t/once.mlir
// RUN: moe-opt %t/once.mlir --moe-prune-experts="stats=%t/stats3.json keep=2" 2>&1 | FileCheck %s --check-prefix=TWICE
// TWICE: moe.original_experts = array<i64: 1, 2>

//--- stats4.json
{"format": "moe-opt.calibration", "version": 1, "layers": [
 {"index": 0, "num_experts": 4, "tokens": 7, "usage": [5, 0, 7, 2]}]}

//--- stats3.json
{"format": "moe-opt.calibration", "version": 1, "layers": [
 {"index": 0, "num_experts": 3, "tokens": 4, "usage": [1, 3, 4]}]}

//--- stacked.mlir
// Experts 0 and 2 are used most: their router rows, bias entries, mask
// entries and stacked weight slices stay, in that order; expert 2 becomes 1.
// STACKED: remark: pruned experts [1, 3] of 4, kept 2; they had 2 of 14 calibration selections
// STACKED-DAG: %[[WR:.*]] = onnx.constant dense<{{\[}}[1.000000e+00, 2.000000e+00], [5.000000e+00, 6.000000e+00]]> : tensor<2x2xf32>
// STACKED-DAG: %[[BR:.*]] = onnx.constant dense<[1.000000e-01, 3.000000e-01]> : tensor<2xf32>
// STACKED-DAG: %[[SB:.*]] = onnx.constant dense<[0.000000e+00, 2.000000e+00]> : tensor<2xf32>
// STACKED-DAG: %[[UP:.*]] = onnx.constant dense<{{\[}}{{\[}}[0.000000e+00, 1.000000e+00, 2.000000e+00], [3.000000e+00, 4.000000e+00, 5.000000e+00]], {{\[}}[1.200000e+01, 1.300000e+01, 1.400000e+01], [1.500000e+01, 1.600000e+01, 1.700000e+01]]]> : tensor<2x2x3xf32>
// STACKED-DAG: %[[DOWN:.*]] = onnx.constant dense<1.000000e+00> : tensor<2x3x2xf32>
// STACKED: %[[L:.*]] = moe.gate %arg0, %[[WR]], %[[BR]] : (tensor<?x2xf32>, tensor<2x2xf32>, tensor<2xf32>) -> tensor<?x2xf32>
// STACKED: moe.route <token_choice> <sigmoid> %[[L]] bias(%[[SB]] : tensor<2xf32>) {expert_mask = array<i1: true, true>, k = 1 : i64, moe.original_experts = array<i64: 0, 2>} : tensor<?x2xf32> -> tensor<?x1xf32>, tensor<?x1xi64>
// STACKED: moe.dispatch {{.*}} {num_experts = 2 : i64} : {{.*}} -> tensor<?x2xf32>, tensor<3xi64>, tensor<?x1xi64>
// STACKED: moe.experts {{.*}} weights(%[[UP]], %[[DOWN]]) {{.*}} : (tensor<?x2xf32>, tensor<3xi64>, tensor<2x2x3xf32>, tensor<2x3x2xf32>) -> tensor<?x2xf32>
// STACKED-NOT: tensor<4x

// ceil(0.75 * 4) = 3 kept: expert 3, masked out, goes before the unused
// but selectable expert 1.
// FRACTION: remark: pruned experts [3] of 4, kept 3
// FRACTION: moe.dispatch {{.*}} {num_experts = 3 : i64}
func.func @stacked(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
  %wr = onnx.constant dense<[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]]> : tensor<4x2xf32>
  %br = onnx.constant dense<[0.1, 0.2, 0.3, 0.4]> : tensor<4xf32>
  %sb = onnx.constant dense<[0.0, 1.0, 2.0, 3.0]> : tensor<4xf32>
  %up = onnx.constant dense<[[[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]], [[6.0, 7.0, 8.0], [9.0, 10.0, 11.0]],
                             [[12.0, 13.0, 14.0], [15.0, 16.0, 17.0]], [[18.0, 19.0, 20.0], [21.0, 22.0, 23.0]]]> : tensor<4x2x3xf32>
  %down = onnx.constant dense<1.0> : tensor<4x3x2xf32>
  %logits = moe.gate %x, %wr, %br : (tensor<?x2xf32>, tensor<4x2xf32>, tensor<4xf32>) -> tensor<?x4xf32>
  %w, %ids = moe.route <token_choice> <sigmoid> %logits bias(%sb : tensor<4xf32>)
      {k = 1 : i64, expert_mask = array<i1: true, true, true, false>}
      : tensor<?x4xf32> -> tensor<?x1xf32>, tensor<?x1xi64>
  %rows, %off, %map = moe.dispatch %x, %ids {num_experts = 4 : i64}
      : tensor<?x2xf32>, tensor<?x1xi64> -> tensor<?x2xf32>, tensor<5xi64>, tensor<?x1xi64>
  %y = moe.experts %rows, %off weights(%up, %down) {activation = #moe.activation<relu>}
      : (tensor<?x2xf32>, tensor<5xi64>, tensor<4x2x3xf32>, tensor<4x3x2xf32>) -> tensor<?x2xf32>
  %out = moe.combine %y, %map, %w : (tensor<?x2xf32>, tensor<?x1xi64>, tensor<?x1xf32>) -> tensor<?x2xf32>
  return %out : tensor<?x2xf32>
}

//--- per_expert.mlir
// One weight set per expert (different widths), router stored [H, E]: the
// router loses column 0 and expert 0's weights leave the op's operands.
// PEREXPERT: remark: pruned experts [0] of 3, kept 2
// PEREXPERT: %[[WR:.*]] = onnx.constant dense<{{\[}}[2.000000e+00, 3.000000e+00], [5.000000e+00, 6.000000e+00]]> : tensor<2x2xf32>
// PEREXPERT: moe.gate %arg0, %[[WR]] {weight_transposed} : (tensor<?x2xf32>, tensor<2x2xf32>) -> tensor<?x2xf32>
// PEREXPERT: moe.route <token_choice> <softmax> {{.*}} {k = 2 : i64, moe.original_experts = array<i64: 1, 2>, renormalize} : tensor<?x2xf32>
// PEREXPERT: moe.dispatch {{.*}} {num_experts = 2 : i64} {{.*}} tensor<3xi64>
// PEREXPERT: moe.experts %{{.*}}, %{{.*}} weights(%arg3, %arg4, %arg5, %arg6) {activation = #moe.activation<relu>} : (tensor<?x2xf32>, tensor<3xi64>, tensor<2x4xf32>, tensor<4x2xf32>, tensor<2x5xf32>, tensor<5x2xf32>) -> tensor<?x2xf32>
func.func @per_expert(%x: tensor<?x2xf32>, %a0: tensor<2x3xf32>, %b0: tensor<3x2xf32>,
    %a1: tensor<2x4xf32>, %b1: tensor<4x2xf32>, %a2: tensor<2x5xf32>, %b2: tensor<5x2xf32>) -> tensor<?x2xf32> {
  %wr = onnx.constant dense<[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]> : tensor<2x3xf32>
  %logits = moe.gate %x, %wr {weight_transposed} : (tensor<?x2xf32>, tensor<2x3xf32>) -> tensor<?x3xf32>
  %w, %ids = moe.route <token_choice> <softmax> %logits {k = 2 : i64, renormalize}
      : tensor<?x3xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  %rows, %off, %map = moe.dispatch %x, %ids {num_experts = 3 : i64}
      : tensor<?x2xf32>, tensor<?x2xi64> -> tensor<?x2xf32>, tensor<4xi64>, tensor<?x2xi64>
  %y = moe.experts %rows, %off weights(%a0, %b0, %a1, %b1, %a2, %b2) {activation = #moe.activation<relu>}
      : (tensor<?x2xf32>, tensor<4xi64>, tensor<2x3xf32>, tensor<3x2xf32>, tensor<2x4xf32>,
         tensor<4x2xf32>, tensor<2x5xf32>, tensor<5x2xf32>) -> tensor<?x2xf32>
  %out = moe.combine %y, %map, %w : (tensor<?x2xf32>, tensor<?x2xi64>, tensor<?x2xf32>) -> tensor<?x2xf32>
  return %out : tensor<?x2xf32>
}
