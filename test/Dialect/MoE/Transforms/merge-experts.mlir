// RUN: split-file %s %t
// RUN: moe-opt %t/stacked.mlir --moe-merge-experts="stats=%t/stats4.json keep=2 align=false" 2>&1 | FileCheck %s --check-prefix=STACKED
// RUN: moe-opt %t/stacked.mlir --moe-merge-experts="stats=%t/stats4.json keep-fraction=0.5 align=false weighting=uniform" 2>&1 | FileCheck %s --check-prefix=UNIFORM
// RUN: moe-opt %t/fused.mlir --moe-merge-experts="stats=%t/stats2.json keep=1" 2>&1 | FileCheck %s --check-prefix=ALIGN
// RUN: moe-opt %t/fused.mlir --moe-merge-experts="stats=%t/stats2.json keep=1 align-only" 2>&1 | FileCheck %s --check-prefix=ALIGNONLY
// RUN: moe-opt %t/hetero.mlir --moe-merge-experts="stats=%t/stats3.json keep=1" 2>&1 | FileCheck %s --check-prefix=HETERO
// RUN: moe-opt %t/two_layers.mlir --moe-merge-experts="stats=%t/two_layers.json keep-fraction=0.5 dominant=global align=false" 2>&1 | FileCheck %s --check-prefix=GLOBAL
// RUN: moe-opt %t/two_layers.mlir --moe-merge-experts="stats=%t/two_layers.json keep-fraction=0.5 align=false" 2>&1 | FileCheck %s --check-prefix=PERLAYER
// A group never selected in calibration is averaged uniformly:
// (e1 + e2 + e3) / 3 = e0 + 12; expert 0 stays as it was.
// RUN: moe-opt %t/stacked.mlir --moe-merge-experts="stats=%t/unused.json keep=2 align=false" 2>&1 | FileCheck %s --check-prefix=UNUSED
// UNUSED: remark: merged 4 experts into 2 (not aligned, frequency weights): 0 = [0], 1 = [1, 2, 3]
// UNUSED: remark: the group of expert 1 ([1, 2, 3]) had no calibration selections: its members are averaged uniformly
// UNUSED: onnx.constant dense<{{\[}}{{\[}}[0.000000e+00, 1.000000e+00, 2.000000e+00], [3.000000e+00, 4.000000e+00, 5.000000e+00]], {{\[}}[1.200000e+01, 1.300000e+01, 1.400000e+01], [1.500000e+01, 1.600000e+01, 1.700000e+01]]]> : tensor<2x2x3xf32>
// Every layer keeps all its experts: nothing changes.
// RUN: moe-opt %t/stacked.mlir --moe-merge-experts="stats=%t/stats4.json keep=4" | FileCheck %s --check-prefix=NOOP
// NOOP: moe.dispatch {{.*}} {num_experts = 4 : i64}
// NOOP-NOT: expert_map
// NOOP-NOT: moe.merged_experts

//--- stats4.json
{"format": "moe-opt.calibration", "version": 1, "layers": [
 {"index": 0, "num_experts": 4, "tokens": 16, "usage": [5, 1, 7, 3],
  "logit_similarity": [[1.0, 0.1, 0.2, 0.3], [0.1, 1.0, 0.9, 0.5], [0.2, 0.9, 1.0, 0.1], [0.8, 0.5, 0.1, 1.0]]}]}

//--- unused.json
{"format": "moe-opt.calibration", "version": 1, "layers": [
 {"index": 0, "num_experts": 4, "tokens": 2, "usage": [4, 0, 0, 0],
  "logit_similarity": [[1.0, 0.1, 0.1, 0.2], [0.1, 1.0, 0.9, 0.8], [0.1, 0.9, 1.0, 0.1], [0.2, 0.8, 0.1, 1.0]]}]}

//--- stacked.mlir
// Experts 0 and 2 are dominant (usage 5 and 7); expert 1 is most similar to
// 2, expert 3 to 0. The route carries the ids of an earlier pruning, which
// moe.merged_experts translates. Frequency weights: (5 e0 + 3 e3) / 8 and
// (7 e2 + 1 e1) / 8; up weights are e0 + 6 e, down weights splats.
// STACKED: remark: merged 4 experts into 2 (not aligned, frequency weights): 0 = [0, 3], 1 = [2, 1]; alignment moved 0 hidden neurons
// STACKED-DAG: %[[UP:.*]] = onnx.constant dense<{{\[}}{{\[}}[6.750000e+00, 7.750000e+00, 8.750000e+00], [9.750000e+00, 1.075000e+01, 1.175000e+01]], {{\[}}[1.125000e+01, 1.225000e+01, 1.325000e+01], [1.425000e+01, 1.525000e+01, 1.625000e+01]]]> : tensor<2x2x3xf32>
// STACKED-DAG: %[[DOWN:.*]] = onnx.constant dense<{{.*}}> : tensor<2x3x2xf32>
// STACKED: moe.gate {{.*}} -> tensor<?x4xf32>
// STACKED: moe.route <token_choice> <softmax> {{.*}} : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
// STACKED: moe.dispatch {{.*}} {expert_map = array<i64: 0, 1, 1, 0>, num_experts = 2 : i64} : {{.*}} -> tensor<?x2xf32>, tensor<3xi64>, tensor<?x2xi64>
// STACKED: moe.experts {{.*}} weights(%[[UP]], %[[DOWN]]) {activation = #moe.activation<relu>, moe.merged_experts = [array<i64: 1, 6>, array<i64: 3, 4>]} : (tensor<?x2xf32>, tensor<3xi64>, tensor<2x2x3xf32>, tensor<2x3x2xf32>) -> tensor<?x2xf32>
// STACKED-NOT: tensor<4x

// Uniform weights: (e0 + e3) / 2 = (e1 + e2) / 2 = e0 + 9.
// UNIFORM: remark: merged 4 experts into 2 (not aligned, uniform weights)
// UNIFORM: onnx.constant dense<{{\[}}{{\[}}[9.000000e+00, 1.000000e+01, 1.100000e+01], [1.200000e+01, 1.300000e+01, 1.400000e+01]], {{\[}}[9.000000e+00, 1.000000e+01, 1.100000e+01], [1.200000e+01, 1.300000e+01, 1.400000e+01]]]> : tensor<2x2x3xf32>
func.func @stacked(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
  %wr = onnx.constant dense<[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]]> : tensor<4x2xf32>
  %up = onnx.constant dense<[[[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]], [[6.0, 7.0, 8.0], [9.0, 10.0, 11.0]],
                             [[12.0, 13.0, 14.0], [15.0, 16.0, 17.0]], [[18.0, 19.0, 20.0], [21.0, 22.0, 23.0]]]> : tensor<4x2x3xf32>
  %down = onnx.constant dense<1.0> : tensor<4x3x2xf32>
  %logits = moe.gate %x, %wr : (tensor<?x2xf32>, tensor<4x2xf32>) -> tensor<?x4xf32>
  %w, %ids = moe.route <token_choice> <softmax> %logits {k = 2 : i64, renormalize, moe.original_experts = array<i64: 1, 3, 4, 6>}
      : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  %rows, %off, %map = moe.dispatch %x, %ids {num_experts = 4 : i64}
      : tensor<?x2xf32>, tensor<?x2xi64> -> tensor<?x2xf32>, tensor<5xi64>, tensor<?x2xi64>
  %y = moe.experts %rows, %off weights(%up, %down) {activation = #moe.activation<relu>}
      : (tensor<?x2xf32>, tensor<5xi64>, tensor<4x2x3xf32>, tensor<4x3x2xf32>) -> tensor<?x2xf32>
  %out = moe.combine %y, %map, %w : (tensor<?x2xf32>, tensor<?x2xi64>, tensor<?x2xf32>) -> tensor<?x2xf32>
  return %out : tensor<?x2xf32>
}

//--- stats2.json
{"format": "moe-opt.calibration", "version": 1, "layers": [
 {"index": 0, "num_experts": 2, "tokens": 4, "usage": [3, 1],
  "logit_similarity": [[1.0, 0.5], [0.5, 1.0]]}]}

//--- fused.mlir
// gpt-oss-like: interleaved gate/up, biases, [E, out, in] weights. Expert 1
// is expert 0 with its hidden neurons 0, 1, 2 moved to 2, 0, 1 (gate/up
// column pairs, bias pairs and down columns together): alignment finds the
// permutation, so merging gives expert 0 exactly.
// ALIGN: remark: merged 2 experts into 1 (aligned, frequency weights): 0 = [0, 1]; alignment moved 3 hidden neurons
// ALIGN-DAG: %[[UP:.*]] = onnx.constant dense<{{\[}}{{\[}}[3.000000e+00, -4.000000e+00], [1.000000e+00, -4.000000e+00], [0.000000e+00, -3.000000e+00], [-2.000000e+00, 3.000000e+00], [-2.000000e+00, 1.000000e+00], [-4.000000e+00, 4.000000e+00]]]> : tensor<1x6x2xf32>
// ALIGN-DAG: %[[DOWN:.*]] = onnx.constant dense<{{\[}}{{\[}}[0.000000e+00, 4.000000e+00, 1.000000e+00], [1.000000e+00, 2.000000e+00, 0.000000e+00]]]> : tensor<1x2x3xf32>
// ALIGN-DAG: %[[BUP:.*]] = onnx.constant dense<{{\[}}[1.000000e+00, 4.000000e+00, -2.000000e+00, 3.000000e+00, 2.000000e+00, -4.000000e+00]]> : tensor<1x6xf32>
// ALIGN-DAG: %[[BDOWN:.*]] = onnx.constant dense<{{\[}}[1.000000e+00, -1.000000e+00]]> : tensor<1x2xf32>
// ALIGN: moe.dispatch {{.*}} {expert_map = array<i64: 0, 0>, num_experts = 1 : i64}
// ALIGN: moe.experts {{.*}} weights(%[[UP]], %[[DOWN]]) biases(%[[BUP]], %[[BDOWN]]) {{.*}}moe.merged_experts = [array<i64: 0, 1>]

// Align only: both experts stay, expert 1 now stored like expert 0.
// ALIGNONLY: remark: aligned experts to their group's reference without merging (aligned, frequency weights): [0, 1]; alignment moved 3 hidden neurons
// ALIGNONLY-DAG: onnx.constant dense<{{\[}}{{\[}}[3.000000e+00, -4.000000e+00], [1.000000e+00, -4.000000e+00], [0.000000e+00, -3.000000e+00], [-2.000000e+00, 3.000000e+00], [-2.000000e+00, 1.000000e+00], [-4.000000e+00, 4.000000e+00]], {{\[}}[3.000000e+00, -4.000000e+00], [1.000000e+00, -4.000000e+00], [0.000000e+00, -3.000000e+00], [-2.000000e+00, 3.000000e+00], [-2.000000e+00, 1.000000e+00], [-4.000000e+00, 4.000000e+00]]]> : tensor<2x6x2xf32>
// ALIGNONLY: moe.dispatch {{.*}} {num_experts = 2 : i64}
// ALIGNONLY: moe.experts {{.*}}moe.merged_experts = [array<i64: 0>, array<i64: 1>]
func.func @fused(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
  %wr = onnx.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %up = onnx.constant dense<[[[3.0, -4.0],  [1.0, -4.0],  [0.0, -3.0],  [-2.0, 3.0],  [-2.0, 1.0],  [-4.0, 4.0]],
                             [[0.0, -3.0],  [-2.0, 3.0],  [-2.0, 1.0],  [-4.0, 4.0],  [3.0, -4.0],  [1.0, -4.0]]]> : tensor<2x6x2xf32>
  %down = onnx.constant dense<[[[0.0, 4.0, 1.0],  [1.0, 2.0, 0.0]], [[4.0, 1.0, 0.0],  [2.0, 0.0, 1.0]]]> : tensor<2x2x3xf32>
  %bup = onnx.constant dense<[[1.0, 4.0, -2.0, 3.0, 2.0, -4.0], [-2.0, 3.0, 2.0, -4.0, 1.0, 4.0]]> : tensor<2x6xf32>
  %bdown = onnx.constant dense<[[1.0, -1.0], [1.0, -1.0]]> : tensor<2x2xf32>
  %logits = moe.gate %x, %wr : (tensor<?x2xf32>, tensor<2x2xf32>) -> tensor<?x2xf32>
  %w, %ids = moe.route <token_choice> <softmax_after_topk> %logits {k = 2 : i64}
      : tensor<?x2xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  %rows, %off, %map = moe.dispatch %x, %ids {num_experts = 2 : i64}
      : tensor<?x2xf32>, tensor<?x2xi64> -> tensor<?x2xf32>, tensor<3xi64>, tensor<?x2xi64>
  %y = moe.experts %rows, %off weights(%up, %down) biases(%bup, %bdown)
      {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<interleaved>, transposed_weights}
      : (tensor<?x2xf32>, tensor<3xi64>, tensor<2x6x2xf32>, tensor<2x2x3xf32>, tensor<2x6xf32>, tensor<2x2xf32>) -> tensor<?x2xf32>
  %out = moe.combine %y, %map, %w : (tensor<?x2xf32>, tensor<?x2xi64>, tensor<?x2xf32>) -> tensor<?x2xf32>
  return %out : tensor<?x2xf32>
}

//--- stats3.json
{"format": "moe-opt.calibration", "version": 1, "layers": [
 {"index": 0, "num_experts": 3, "tokens": 4, "usage": [3, 1, 4],
  "logit_similarity": [[1.0, 0.5, 0.9], [0.5, 1.0, 0.2], [0.9, 0.2, 1.0]]}]}

//--- hetero.mlir
// Widths 3, 3 and 4, keep=1: expert 2 is used most, so it is dominant;
// experts 0 and 1 (width 3) have no dominant expert of their width and stay.
// With keep=2 (below) experts 0 and 2 are dominant and expert 1 joins 0.
// HETERO: remark: merged 3 experts into 3 (aligned, frequency weights): 0 = [0], 1 = [1], 2 = [2]
// HETERO: remark: expert 0 (hidden width 3) cannot be merged: no dominant expert has its width; it stays its own expert
// HETERO: remark: expert 1 (hidden width 3) cannot be merged
// HETERO-NOT: expert_map
// HETERO: moe.experts {{.*}}moe.merged_experts = [array<i64: 0>, array<i64: 1>, array<i64: 2>]}
// RUN: moe-opt %t/hetero.mlir --moe-merge-experts="stats=%t/stats3.json keep=2 weighting=uniform align=false" 2>&1 | FileCheck %s --check-prefix=HETERO2
// HETERO2: remark: merged 3 experts into 2 (not aligned, uniform weights): 0 = [0, 1], 1 = [2]
// HETERO2-DAG: %[[A:.*]] = onnx.constant dense<1.500000e+00> : tensor<2x3xf32>
// HETERO2-DAG: %[[B:.*]] = onnx.constant dense<2.500000e+00> : tensor<3x2xf32>
// HETERO2-DAG: %[[A2:.*]] = onnx.constant dense<5.000000e+00> : tensor<2x4xf32>
// HETERO2-DAG: %[[B2:.*]] = onnx.constant dense<6.000000e+00> : tensor<4x2xf32>
// HETERO2: moe.dispatch {{.*}} {expert_map = array<i64: 0, 0, 1>, num_experts = 2 : i64}
// HETERO2: moe.experts %{{.*}}, %{{.*}} weights(%[[A]], %[[B]], %[[A2]], %[[B2]]) {{.*}} : (tensor<?x2xf32>, tensor<3xi64>, tensor<2x3xf32>, tensor<3x2xf32>, tensor<2x4xf32>, tensor<4x2xf32>) -> tensor<?x2xf32>
func.func @hetero(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
  %wr = onnx.constant dense<[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]> : tensor<2x3xf32>
  %a0 = onnx.constant dense<1.0> : tensor<2x3xf32>
  %b0 = onnx.constant dense<2.0> : tensor<3x2xf32>
  %a1 = onnx.constant dense<2.0> : tensor<2x3xf32>
  %b1 = onnx.constant dense<3.0> : tensor<3x2xf32>
  %a2 = onnx.constant dense<5.0> : tensor<2x4xf32>
  %b2 = onnx.constant dense<6.0> : tensor<4x2xf32>
  %logits = moe.gate %x, %wr {weight_transposed} : (tensor<?x2xf32>, tensor<2x3xf32>) -> tensor<?x3xf32>
  %w, %ids = moe.route <token_choice> <softmax> %logits {k = 2 : i64, renormalize}
      : tensor<?x3xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  %rows, %off, %map = moe.dispatch %x, %ids {num_experts = 3 : i64}
      : tensor<?x2xf32>, tensor<?x2xi64> -> tensor<?x2xf32>, tensor<4xi64>, tensor<?x2xi64>
  %y = moe.experts %rows, %off weights(%a0, %b0, %a1, %b1, %a2, %b2) {activation = #moe.activation<relu>}
      : (tensor<?x2xf32>, tensor<4xi64>, tensor<2x3xf32>, tensor<3x2xf32>, tensor<2x3xf32>,
         tensor<3x2xf32>, tensor<2x4xf32>, tensor<4x2xf32>) -> tensor<?x2xf32>
  %out = moe.combine %y, %map, %w : (tensor<?x2xf32>, tensor<?x2xi64>, tensor<?x2xf32>) -> tensor<?x2xf32>
  return %out : tensor<?x2xf32>
}

//--- two_layers.json
{"format": "moe-opt.calibration", "version": 1, "layers": [
 {"index": 0, "num_experts": 4, "tokens": 10, "usage": [10, 6, 3, 1],
  "logit_similarity": [[1, 0, 0, 0], [0, 1, 0, 0], [0.5, 0.4, 1, 0], [0.1, 0.2, 0, 1]]},
 {"index": 1, "num_experts": 4, "tokens": 10, "usage": [0, 2, 17, 1],
  "logit_similarity": [[1, 0, 0.3, 0], [0, 1, 0.1, 0], [0, 0, 1, 0], [0, 0, 0.6, 1]]}]}

//--- two_layers.mlir
// Global: 4 of 8 experts are dominant. Normalized usage: layer 0
// [0.5, 0.3, 0.15, 0.05], layer 1 [0, 0.1, 0.85, 0.05]. Each layer's best
// (0 and 2), then layer 0's experts 1 (0.3) and 2 (0.15); expert 3 is most
// similar to 1.
// GLOBAL: remark: merged 4 experts into 3 (not aligned, frequency weights): 0 = [0], 1 = [1, 3], 2 = [2]
// GLOBAL: remark: merged 4 experts into 1 (not aligned, frequency weights): 0 = [2, 0, 1, 3]
// GLOBAL: moe.dispatch {{.*}} {expert_map = array<i64: 0, 1, 2, 1>, num_experts = 3 : i64}
// GLOBAL: moe.dispatch {{.*}} {expert_map = array<i64: 0, 0, 0, 0>, num_experts = 1 : i64}
// Per layer: 2 of 4 in each.
// PERLAYER: remark: merged 4 experts into 2 (not aligned, frequency weights): 0 = [0, 2], 1 = [1, 3]
// PERLAYER: remark: merged 4 experts into 2 (not aligned, frequency weights): 0 = [1], 1 = [2, 0, 3]
// PERLAYER: moe.dispatch {{.*}} {expert_map = array<i64: 0, 1, 0, 1>, num_experts = 2 : i64}
// PERLAYER: moe.dispatch {{.*}} {expert_map = array<i64: 1, 0, 1, 1>, num_experts = 2 : i64}
func.func @two_layers(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
  %wr = onnx.constant dense<[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]]> : tensor<4x2xf32>
  %up = onnx.constant dense<1.0> : tensor<4x2x3xf32>
  %down = onnx.constant dense<1.0> : tensor<4x3x2xf32>
  %logits = moe.gate %x, %wr : (tensor<?x2xf32>, tensor<4x2xf32>) -> tensor<?x4xf32>
  %w, %ids = moe.route <token_choice> <softmax> %logits {k = 1 : i64}
      : tensor<?x4xf32> -> tensor<?x1xf32>, tensor<?x1xi64>
  %rows, %off, %map = moe.dispatch %x, %ids {num_experts = 4 : i64}
      : tensor<?x2xf32>, tensor<?x1xi64> -> tensor<?x2xf32>, tensor<5xi64>, tensor<?x1xi64>
  %y = moe.experts %rows, %off weights(%up, %down) {activation = #moe.activation<relu>}
      : (tensor<?x2xf32>, tensor<5xi64>, tensor<4x2x3xf32>, tensor<4x3x2xf32>) -> tensor<?x2xf32>
  %h = moe.combine %y, %map, %w : (tensor<?x2xf32>, tensor<?x1xi64>, tensor<?x1xf32>) -> tensor<?x2xf32>
  %logits1 = moe.gate %h, %wr : (tensor<?x2xf32>, tensor<4x2xf32>) -> tensor<?x4xf32>
  %w1, %ids1 = moe.route <token_choice> <softmax> %logits1 {k = 1 : i64}
      : tensor<?x4xf32> -> tensor<?x1xf32>, tensor<?x1xi64>
  %rows1, %off1, %map1 = moe.dispatch %h, %ids1 {num_experts = 4 : i64}
      : tensor<?x2xf32>, tensor<?x1xi64> -> tensor<?x2xf32>, tensor<5xi64>, tensor<?x1xi64>
  %y1 = moe.experts %rows1, %off1 weights(%up, %down) {activation = #moe.activation<relu>}
      : (tensor<?x2xf32>, tensor<5xi64>, tensor<4x2x3xf32>, tensor<4x3x2xf32>) -> tensor<?x2xf32>
  %out = moe.combine %y1, %map1, %w1 : (tensor<?x2xf32>, tensor<?x1xi64>, tensor<?x1xf32>) -> tensor<?x2xf32>
  return %out : tensor<?x2xf32>
}
