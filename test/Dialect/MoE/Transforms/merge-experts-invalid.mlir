// What --moe-merge-experts refuses: bad options and statistics (at the
// module), layers it cannot merge (at the op in the way). The IR stays as
// it was (--mlir-print-ir-after-failure shows it untouched).
// RUN: split-file %s %t
// RUN: moe-opt %t/nokeep.mlir --moe-merge-experts="stats=%t/nokeep.json " -verify-diagnostics
// RUN: moe-opt %t/dominant.mlir --moe-merge-experts="stats=%t/dominant.json keep=2 dominant=all" -verify-diagnostics
// RUN: moe-opt %t/weighting.mlir --moe-merge-experts="stats=%t/weighting.json keep=2 weighting=mean" -verify-diagnostics
// RUN: moe-opt %t/nosim.mlir --moe-merge-experts="stats=%t/nosim.json keep=2" -verify-diagnostics
// RUN: moe-opt %t/badsim.mlir --moe-merge-experts="stats=%t/badsim.json keep=2" -verify-diagnostics
// RUN: moe-opt %t/experts.mlir --moe-merge-experts="stats=%t/experts.json keep=2" -verify-diagnostics
// RUN: moe-opt %t/groups.mlir --moe-merge-experts="stats=%t/groups.json keep=2" -verify-diagnostics
// RUN: moe-opt %t/capacity.mlir --moe-merge-experts="stats=%t/capacity.json keep=2" -verify-diagnostics
// RUN: moe-opt %t/merged.mlir --moe-merge-experts="stats=%t/merged.json keep=2" -verify-diagnostics
// RUN: moe-opt %t/argweights.mlir --moe-merge-experts="stats=%t/argweights.json keep=2" -verify-diagnostics
// RUN: moe-opt %t/expert_choice.mlir --moe-merge-experts="stats=%t/expert_choice.json keep=2" -verify-diagnostics
// RUN: not moe-opt %t/argweights.mlir --moe-merge-experts="stats=%t/argweights.json keep=2" --mlir-print-ir-after-failure 2>&1 | FileCheck %s
// CHECK: IR Dump After MoEMergeExperts Failed
// CHECK: moe.dispatch {{.*}} {num_experts = 4 : i64}
// CHECK: moe.experts {{.*}} tensor<4x2x3xf32>, tensor<4x3x2xf32>
// Pruning refuses merged layers: prune before merging.
// RUN: moe-opt %t/prune.mlir --moe-prune-experts="stats=%t/merged.json keep=2" -verify-diagnostics

//--- prune.mlir
module {
  func.func @layer(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
    %wr = onnx.constant dense<[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]]> : tensor<4x2xf32>
    %up = onnx.constant dense<1.0> : tensor<4x2x3xf32>
    %down = onnx.constant dense<1.0> : tensor<4x3x2xf32>
    %logits = moe.gate %x, %wr : (tensor<?x2xf32>, tensor<4x2xf32>) -> tensor<?x4xf32>
    %w, %ids = moe.route <token_choice> <softmax> %logits {k = 2 : i64, renormalize}
        : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
    // expected-error@+1 {{cannot prune a layer whose experts were merged (expert_map): prune before merging}}
    %rows, %off, %map = moe.dispatch %x, %ids {num_experts = 4 : i64, expert_map = array<i64: 0, 1, 2, 3>}
        : tensor<?x2xf32>, tensor<?x2xi64> -> tensor<?x2xf32>, tensor<5xi64>, tensor<?x2xi64>
    %y = moe.experts %rows, %off weights(%up, %down) {activation = #moe.activation<relu>}
        : (tensor<?x2xf32>, tensor<5xi64>, tensor<4x2x3xf32>, tensor<4x3x2xf32>) -> tensor<?x2xf32>
    %out = moe.combine %y, %map, %w : (tensor<?x2xf32>, tensor<?x2xi64>, tensor<?x2xf32>) -> tensor<?x2xf32>
    return %out : tensor<?x2xf32>
  }
}

//--- expert_choice.json
{"format": "moe-opt.calibration", "version": 1, "layers": [
 {"index": 0, "num_experts": 4, "tokens": 8, "usage": [5, 1, 7, 3],
  "logit_similarity": [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]}]}

//--- expert_choice.mlir
module {
  func.func @layer(%x: tensor<8x2xf32>) -> tensor<8x2xf32> {
    %wr = onnx.constant dense<[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]]> : tensor<4x2xf32>
    %up = onnx.constant dense<1.0> : tensor<4x2x3xf32>
    %down = onnx.constant dense<1.0> : tensor<4x3x2xf32>
    %logits = moe.gate %x, %wr : (tensor<8x2xf32>, tensor<4x2xf32>) -> tensor<8x4xf32>
    // expected-error@+1 {{cannot merge experts of an expert-choice layer: its capacity depends on the expert count}}
    %g, %tok = moe.route <expert_choice> <softmax> %logits {capacity_factor = 2.0 : f64}
        : tensor<8x4xf32> -> tensor<8x4xf32>, tensor<4x4xi64>
    %rows, %off, %map = moe.dispatch %x, %tok {num_experts = 4 : i64, expert_choice}
        : tensor<8x2xf32>, tensor<4x4xi64> -> tensor<16x2xf32>, tensor<5xi64>, tensor<8x4xi64>
    %y = moe.experts %rows, %off weights(%up, %down) {activation = #moe.activation<relu>}
        : (tensor<16x2xf32>, tensor<5xi64>, tensor<4x2x3xf32>, tensor<4x3x2xf32>) -> tensor<16x2xf32>
    %out = moe.combine %y, %map, %g : (tensor<16x2xf32>, tensor<8x4xi64>, tensor<8x4xf32>) -> tensor<8x2xf32>
    return %out : tensor<8x2xf32>
  }
}

//--- nokeep.json
{"format": "moe-opt.calibration", "version": 1, "layers": [
 {"index": 0, "num_experts": 4, "tokens": 8, "usage": [5, 1, 7, 3],
  "logit_similarity": [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]}]}

//--- nokeep.mlir
// No dominant count.
// expected-error@+1 {{--moe-merge-experts: needs keep=<count> or keep-fraction=<(0, 1]>}}
module {
  func.func @layer(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
    %wr = onnx.constant dense<[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]]> : tensor<4x2xf32>
    %up = onnx.constant dense<1.0> : tensor<4x2x3xf32>
    %down = onnx.constant dense<1.0> : tensor<4x3x2xf32>
    %logits = moe.gate %x, %wr : (tensor<?x2xf32>, tensor<4x2xf32>) -> tensor<?x4xf32>
    %w, %ids = moe.route <token_choice> <softmax> %logits {k = 2 : i64, renormalize}
        : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
    %rows, %off, %map = moe.dispatch %x, %ids {num_experts = 4 : i64}
        : tensor<?x2xf32>, tensor<?x2xi64> -> tensor<?x2xf32>, tensor<5xi64>, tensor<?x2xi64>
    %y = moe.experts %rows, %off weights(%up, %down) {activation = #moe.activation<relu>}
        : (tensor<?x2xf32>, tensor<5xi64>, tensor<4x2x3xf32>, tensor<4x3x2xf32>) -> tensor<?x2xf32>
    %out = moe.combine %y, %map, %w : (tensor<?x2xf32>, tensor<?x2xi64>, tensor<?x2xf32>) -> tensor<?x2xf32>
    return %out : tensor<?x2xf32>
  }
}

//--- dominant.json
{"format": "moe-opt.calibration", "version": 1, "layers": [
 {"index": 0, "num_experts": 4, "tokens": 8, "usage": [5, 1, 7, 3],
  "logit_similarity": [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]}]}

//--- dominant.mlir
// Unknown option values.
// expected-error@+1 {{--moe-merge-experts: unknown dominant='all' (supported: per-layer, global)}}
module {
  func.func @layer(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
    %wr = onnx.constant dense<[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]]> : tensor<4x2xf32>
    %up = onnx.constant dense<1.0> : tensor<4x2x3xf32>
    %down = onnx.constant dense<1.0> : tensor<4x3x2xf32>
    %logits = moe.gate %x, %wr : (tensor<?x2xf32>, tensor<4x2xf32>) -> tensor<?x4xf32>
    %w, %ids = moe.route <token_choice> <softmax> %logits {k = 2 : i64, renormalize}
        : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
    %rows, %off, %map = moe.dispatch %x, %ids {num_experts = 4 : i64}
        : tensor<?x2xf32>, tensor<?x2xi64> -> tensor<?x2xf32>, tensor<5xi64>, tensor<?x2xi64>
    %y = moe.experts %rows, %off weights(%up, %down) {activation = #moe.activation<relu>}
        : (tensor<?x2xf32>, tensor<5xi64>, tensor<4x2x3xf32>, tensor<4x3x2xf32>) -> tensor<?x2xf32>
    %out = moe.combine %y, %map, %w : (tensor<?x2xf32>, tensor<?x2xi64>, tensor<?x2xf32>) -> tensor<?x2xf32>
    return %out : tensor<?x2xf32>
  }
}

//--- weighting.json
{"format": "moe-opt.calibration", "version": 1, "layers": [
 {"index": 0, "num_experts": 4, "tokens": 8, "usage": [5, 1, 7, 3],
  "logit_similarity": [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]}]}

//--- weighting.mlir
// expected-error@+1 {{--moe-merge-experts: unknown weighting='mean' (supported: frequency, uniform)}}
module {
  func.func @layer(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
    %wr = onnx.constant dense<[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]]> : tensor<4x2xf32>
    %up = onnx.constant dense<1.0> : tensor<4x2x3xf32>
    %down = onnx.constant dense<1.0> : tensor<4x3x2xf32>
    %logits = moe.gate %x, %wr : (tensor<?x2xf32>, tensor<4x2xf32>) -> tensor<?x4xf32>
    %w, %ids = moe.route <token_choice> <softmax> %logits {k = 2 : i64, renormalize}
        : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
    %rows, %off, %map = moe.dispatch %x, %ids {num_experts = 4 : i64}
        : tensor<?x2xf32>, tensor<?x2xi64> -> tensor<?x2xf32>, tensor<5xi64>, tensor<?x2xi64>
    %y = moe.experts %rows, %off weights(%up, %down) {activation = #moe.activation<relu>}
        : (tensor<?x2xf32>, tensor<5xi64>, tensor<4x2x3xf32>, tensor<4x3x2xf32>) -> tensor<?x2xf32>
    %out = moe.combine %y, %map, %w : (tensor<?x2xf32>, tensor<?x2xi64>, tensor<?x2xf32>) -> tensor<?x2xf32>
    return %out : tensor<?x2xf32>
  }
}

//--- nosim.json
{"format": "moe-opt.calibration", "version": 1, "layers": [
 {"index": 0, "num_experts": 4, "tokens": 8, "usage": [5, 1, 7, 3]}]}

//--- nosim.mlir
// Statistics without logit_similarity (older calibrate), or a malformed one.
module {
  func.func @layer(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
    %wr = onnx.constant dense<[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]]> : tensor<4x2xf32>
    %up = onnx.constant dense<1.0> : tensor<4x2x3xf32>
    %down = onnx.constant dense<1.0> : tensor<4x3x2xf32>
    %logits = moe.gate %x, %wr : (tensor<?x2xf32>, tensor<4x2xf32>) -> tensor<?x4xf32>
    // expected-error@+1 {{cannot group experts: layer 0 of the statistics has no logit_similarity}}
    %w, %ids = moe.route <token_choice> <softmax> %logits {k = 2 : i64, renormalize}
        : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
    %rows, %off, %map = moe.dispatch %x, %ids {num_experts = 4 : i64}
        : tensor<?x2xf32>, tensor<?x2xi64> -> tensor<?x2xf32>, tensor<5xi64>, tensor<?x2xi64>
    %y = moe.experts %rows, %off weights(%up, %down) {activation = #moe.activation<relu>}
        : (tensor<?x2xf32>, tensor<5xi64>, tensor<4x2x3xf32>, tensor<4x3x2xf32>) -> tensor<?x2xf32>
    %out = moe.combine %y, %map, %w : (tensor<?x2xf32>, tensor<?x2xi64>, tensor<?x2xf32>) -> tensor<?x2xf32>
    return %out : tensor<?x2xf32>
  }
}

//--- badsim.json
{"format": "moe-opt.calibration", "version": 1, "layers": [
 {"index": 0, "num_experts": 4, "tokens": 8, "usage": [5, 1, 7, 3],
  "logit_similarity": [[1, 0, 0, 0], [0, 1, 0, 0]]}]}

//--- badsim.mlir
// expected-error@+1 {{layer 0: 'logit_similarity' must be [num_experts][num_experts]}}
module {
  func.func @layer(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
    %wr = onnx.constant dense<[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]]> : tensor<4x2xf32>
    %up = onnx.constant dense<1.0> : tensor<4x2x3xf32>
    %down = onnx.constant dense<1.0> : tensor<4x3x2xf32>
    %logits = moe.gate %x, %wr : (tensor<?x2xf32>, tensor<4x2xf32>) -> tensor<?x4xf32>
    %w, %ids = moe.route <token_choice> <softmax> %logits {k = 2 : i64, renormalize}
        : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
    %rows, %off, %map = moe.dispatch %x, %ids {num_experts = 4 : i64}
        : tensor<?x2xf32>, tensor<?x2xi64> -> tensor<?x2xf32>, tensor<5xi64>, tensor<?x2xi64>
    %y = moe.experts %rows, %off weights(%up, %down) {activation = #moe.activation<relu>}
        : (tensor<?x2xf32>, tensor<5xi64>, tensor<4x2x3xf32>, tensor<4x3x2xf32>) -> tensor<?x2xf32>
    %out = moe.combine %y, %map, %w : (tensor<?x2xf32>, tensor<?x2xi64>, tensor<?x2xf32>) -> tensor<?x2xf32>
    return %out : tensor<?x2xf32>
  }
}

//--- experts.json
{"format": "moe-opt.calibration", "version": 1, "layers": [
 {"index": 0, "num_experts": 3, "tokens": 8, "usage": [5, 1, 7]}]}

//--- experts.mlir
// Statistics of another model.
// expected-error@+1 {{do not match the module: layer 0 has 3 experts in the statistics, 4 in the module}}
module {
  func.func @layer(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
    %wr = onnx.constant dense<[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]]> : tensor<4x2xf32>
    %up = onnx.constant dense<1.0> : tensor<4x2x3xf32>
    %down = onnx.constant dense<1.0> : tensor<4x3x2xf32>
    %logits = moe.gate %x, %wr : (tensor<?x2xf32>, tensor<4x2xf32>) -> tensor<?x4xf32>
    %w, %ids = moe.route <token_choice> <softmax> %logits {k = 2 : i64, renormalize}
        : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
    %rows, %off, %map = moe.dispatch %x, %ids {num_experts = 4 : i64}
        : tensor<?x2xf32>, tensor<?x2xi64> -> tensor<?x2xf32>, tensor<5xi64>, tensor<?x2xi64>
    %y = moe.experts %rows, %off weights(%up, %down) {activation = #moe.activation<relu>}
        : (tensor<?x2xf32>, tensor<5xi64>, tensor<4x2x3xf32>, tensor<4x3x2xf32>) -> tensor<?x2xf32>
    %out = moe.combine %y, %map, %w : (tensor<?x2xf32>, tensor<?x2xi64>, tensor<?x2xf32>) -> tensor<?x2xf32>
    return %out : tensor<?x2xf32>
  }
}

//--- groups.json
{"format": "moe-opt.calibration", "version": 1, "layers": [
 {"index": 0, "num_experts": 4, "tokens": 8, "usage": [5, 1, 7, 3],
  "logit_similarity": [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]}]}

//--- groups.mlir
// Layers the pass cannot merge.
module {
  func.func @layer(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
    %wr = onnx.constant dense<[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]]> : tensor<4x2xf32>
    %up = onnx.constant dense<1.0> : tensor<4x2x3xf32>
    %down = onnx.constant dense<1.0> : tensor<4x3x2xf32>
    %logits = moe.gate %x, %wr : (tensor<?x2xf32>, tensor<4x2xf32>) -> tensor<?x4xf32>
    // expected-error@+1 {{cannot merge experts of a layer with group-limited routing: its groups are sets of experts}}
    %w, %ids = moe.route <token_choice> <softmax> %logits {k = 2 : i64, num_groups = 2 : i64, topk_groups = 1 : i64}
        : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
    %rows, %off, %map = moe.dispatch %x, %ids {num_experts = 4 : i64}
        : tensor<?x2xf32>, tensor<?x2xi64> -> tensor<?x2xf32>, tensor<5xi64>, tensor<?x2xi64>
    %y = moe.experts %rows, %off weights(%up, %down) {activation = #moe.activation<relu>}
        : (tensor<?x2xf32>, tensor<5xi64>, tensor<4x2x3xf32>, tensor<4x3x2xf32>) -> tensor<?x2xf32>
    %out = moe.combine %y, %map, %w : (tensor<?x2xf32>, tensor<?x2xi64>, tensor<?x2xf32>) -> tensor<?x2xf32>
    return %out : tensor<?x2xf32>
  }
}

//--- capacity.json
{"format": "moe-opt.calibration", "version": 1, "layers": [
 {"index": 0, "num_experts": 4, "tokens": 8, "usage": [5, 1, 7, 3],
  "logit_similarity": [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]}]}

//--- capacity.mlir
module {
  func.func @layer(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
    %wr = onnx.constant dense<[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]]> : tensor<4x2xf32>
    %up = onnx.constant dense<1.0> : tensor<4x2x3xf32>
    %down = onnx.constant dense<1.0> : tensor<4x3x2xf32>
    %logits = moe.gate %x, %wr : (tensor<?x2xf32>, tensor<4x2xf32>) -> tensor<?x4xf32>
    %w, %ids = moe.route <token_choice> <softmax> %logits {k = 1 : i64}
        : tensor<?x4xf32> -> tensor<?x1xf32>, tensor<?x1xi64>
    // expected-error@+1 {{cannot merge experts of a capacity-limited dispatch: a merged expert would drop tokens that its members kept}}
    %rows, %off, %map = moe.dispatch %x, %ids {num_experts = 4 : i64, capacity = 2 : i64, drop_policy = #moe.drop_policy<in_order>}
        : tensor<?x2xf32>, tensor<?x1xi64> -> tensor<?x2xf32>, tensor<5xi64>, tensor<?x1xi64>
    %y = moe.experts %rows, %off weights(%up, %down) {activation = #moe.activation<relu>}
        : (tensor<?x2xf32>, tensor<5xi64>, tensor<4x2x3xf32>, tensor<4x3x2xf32>) -> tensor<?x2xf32>
    %out = moe.combine %y, %map, %w : (tensor<?x2xf32>, tensor<?x1xi64>, tensor<?x1xf32>) -> tensor<?x2xf32>
    return %out : tensor<?x2xf32>
  }
}

//--- merged.json
{"format": "moe-opt.calibration", "version": 1, "layers": [
 {"index": 0, "num_experts": 4, "tokens": 8, "usage": [5, 1, 7, 3],
  "logit_similarity": [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]}]}

//--- merged.mlir
module {
  func.func @layer(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
    %wr = onnx.constant dense<[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]]> : tensor<4x2xf32>
    %up = onnx.constant dense<1.0> : tensor<4x2x3xf32>
    %down = onnx.constant dense<1.0> : tensor<4x3x2xf32>
    %logits = moe.gate %x, %wr : (tensor<?x2xf32>, tensor<4x2xf32>) -> tensor<?x4xf32>
    %w, %ids = moe.route <token_choice> <softmax> %logits {k = 2 : i64, renormalize}
        : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
    // expected-error@+1 {{the experts of this layer are already merged (expert_map)}}
    %rows, %off, %map = moe.dispatch %x, %ids {num_experts = 4 : i64, expert_map = array<i64: 0, 1, 2, 3>}
        : tensor<?x2xf32>, tensor<?x2xi64> -> tensor<?x2xf32>, tensor<5xi64>, tensor<?x2xi64>
    %y = moe.experts %rows, %off weights(%up, %down) {activation = #moe.activation<relu>}
        : (tensor<?x2xf32>, tensor<5xi64>, tensor<4x2x3xf32>, tensor<4x3x2xf32>) -> tensor<?x2xf32>
    %out = moe.combine %y, %map, %w : (tensor<?x2xf32>, tensor<?x2xi64>, tensor<?x2xf32>) -> tensor<?x2xf32>
    return %out : tensor<?x2xf32>
  }
}

//--- argweights.json
{"format": "moe-opt.calibration", "version": 1, "layers": [
 {"index": 0, "num_experts": 4, "tokens": 8, "usage": [5, 1, 7, 3],
  "logit_similarity": [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]}]}

//--- argweights.mlir
module {
  func.func @layer(%x: tensor<?x2xf32>, %up: tensor<4x2x3xf32>) -> tensor<?x2xf32> {
    %wr = onnx.constant dense<[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]]> : tensor<4x2xf32>
    
    %down = onnx.constant dense<1.0> : tensor<4x3x2xf32>
    %logits = moe.gate %x, %wr : (tensor<?x2xf32>, tensor<4x2xf32>) -> tensor<?x4xf32>
    %w, %ids = moe.route <token_choice> <softmax> %logits {k = 2 : i64, renormalize}
        : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
    %rows, %off, %map = moe.dispatch %x, %ids {num_experts = 4 : i64}
        : tensor<?x2xf32>, tensor<?x2xi64> -> tensor<?x2xf32>, tensor<5xi64>, tensor<?x2xi64>
    // expected-error@+1 {{cannot merge: expert weight #0 is not an f32/f16/bf16 constant the pass can read}}
    %y = moe.experts %rows, %off weights(%up, %down) {activation = #moe.activation<relu>}
        : (tensor<?x2xf32>, tensor<5xi64>, tensor<4x2x3xf32>, tensor<4x3x2xf32>) -> tensor<?x2xf32>
    %out = moe.combine %y, %map, %w : (tensor<?x2xf32>, tensor<?x2xi64>, tensor<?x2xf32>) -> tensor<?x2xf32>
    return %out : tensor<?x2xf32>
  }
}
