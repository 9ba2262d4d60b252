// Statistics that are malformed, of another version or that do not describe
// the module are refused with what differs, and the IR stays as it was
// (--mlir-print-ir-after-failure shows it untouched).
// RUN: split-file %s %t
// RUN: moe-opt %t/malformed.mlir --moe-prune-experts="stats=%t/malformed.json keep=2" -verify-diagnostics
// RUN: moe-opt %t/format.mlir --moe-prune-experts="stats=%t/format.json keep=2" -verify-diagnostics
// RUN: moe-opt %t/version.mlir --moe-prune-experts="stats=%t/version.json keep=2" -verify-diagnostics
// RUN: moe-opt %t/usage.mlir --moe-prune-experts="stats=%t/usage.json keep=2" -verify-diagnostics
// RUN: moe-opt %t/layers.mlir --moe-prune-experts="stats=%t/layers.json keep=2" -verify-diagnostics
// RUN: moe-opt %t/experts.mlir --moe-prune-experts="stats=%t/experts.json keep=2" -verify-diagnostics
// RUN: moe-opt %t/names.mlir --moe-prune-experts="stats=%t/names.json keep=2" -verify-diagnostics
// RUN: moe-opt %t/input.mlir --moe-prune-experts="stats=%t/input.json keep=2" -verify-diagnostics
// RUN: moe-opt %t/nokeep.mlir --moe-prune-experts="stats=%t/nokeep.json" -verify-diagnostics
// RUN: not moe-opt %t/experts.mlir --moe-prune-experts="stats=%t/experts.json keep=2" --mlir-print-ir-after-failure 2>&1 | FileCheck %s
// CHECK: IR Dump After MoEPruneExperts Failed
// CHECK: moe.gate {{.*}} -> tensor<?x4xf32>
// CHECK: moe.experts {{.*}} tensor<4x2x3xf32>, tensor<4x3x2xf32>
// A missing file.
// RUN: not moe-opt %t/experts.mlir --moe-prune-experts="stats=%t/absent.json keep=2" 2>&1 | FileCheck %s --check-prefix=ABSENT
// ABSENT: calibration statistics '{{.*}}absent.json': cannot read
// Layers the pass cannot prune say why (same statistics, other modules).
// RUN: moe-opt %t/groups.mlir --moe-prune-experts="stats=%t/nokeep.json keep=3" -verify-diagnostics
// RUN: moe-opt %t/toofew.mlir --moe-prune-experts="stats=%t/nokeep.json keep=1" -verify-diagnostics
// RUN: moe-opt %t/fused.mlir --moe-prune-experts="stats=%t/nokeep.json keep=2" -verify-diagnostics

//--- malformed.json
{"format": "moe-opt.calibration", "version": 1, "layers": [

//--- malformed.mlir
// expected-error@+1 {{malformed.json': not valid JSON}}
module {
  func.func @layer(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
    %wr = onnx.constant dense_resource<router_w> : tensor<4x2xf32>
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
{-#
  dialect_resources: {
    builtin: {
      router_w: "0x040000000000000000000000000000000000000000000000000000000000000000000000"
    }
  }
#-}

//--- format.json
{"format": "something-else", "version": 1, "layers": []}

//--- format.mlir
// expected-error@+1 {{'format' is 'something-else', expected 'moe-opt.calibration'}}
module {
  func.func @layer(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
    %wr = onnx.constant dense_resource<router_w> : tensor<4x2xf32>
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
{-#
  dialect_resources: {
    builtin: {
      router_w: "0x040000000000000000000000000000000000000000000000000000000000000000000000"
    }
  }
#-}

//--- version.json
{"format": "moe-opt.calibration", "version": 2, "layers": [{"index": 0, "num_experts": 4, "tokens": 3, "usage": [1, 2, 3, 0], "router_weight": "router_w"}]}

//--- version.mlir
// expected-error@+1 {{format version 2, this compiler reads version 1}}
module {
  func.func @layer(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
    %wr = onnx.constant dense_resource<router_w> : tensor<4x2xf32>
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
{-#
  dialect_resources: {
    builtin: {
      router_w: "0x040000000000000000000000000000000000000000000000000000000000000000000000"
    }
  }
#-}

//--- usage.json
{"format": "moe-opt.calibration", "version": 1, "layers": [{"num_experts": 4, "tokens": 3, "usage": [1, 2]}]}

//--- usage.mlir
// expected-error@+1 {{layer 0: 'usage' has 2 counts for 4 experts}}
module {
  func.func @layer(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
    %wr = onnx.constant dense_resource<router_w> : tensor<4x2xf32>
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
{-#
  dialect_resources: {
    builtin: {
      router_w: "0x040000000000000000000000000000000000000000000000000000000000000000000000"
    }
  }
#-}

//--- layers.json
{"format": "moe-opt.calibration", "version": 1, "layers": [{"index": 0, "num_experts": 4, "tokens": 3, "usage": [1, 2, 3, 0], "router_weight": "router_w"}, {"index": 0, "num_experts": 4, "tokens": 3, "usage": [1, 2, 3, 0], "router_weight": "router_w"}]}

//--- layers.mlir
// expected-error@+1 {{do not match the module: they describe 2 MoE layers, the module has 1}}
module {
  func.func @layer(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
    %wr = onnx.constant dense_resource<router_w> : tensor<4x2xf32>
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
{-#
  dialect_resources: {
    builtin: {
      router_w: "0x040000000000000000000000000000000000000000000000000000000000000000000000"
    }
  }
#-}

//--- experts.json
{"format": "moe-opt.calibration", "version": 1, "layers": [{"num_experts": 8, "tokens": 3, "usage": [1, 2, 3, 0, 0, 0, 0, 0]}]}

//--- experts.mlir
// expected-error@+1 {{do not match the module: layer 0 has 8 experts in the statistics, 4 in the module}}
module {
  func.func @layer(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
    %wr = onnx.constant dense_resource<router_w> : tensor<4x2xf32>
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
{-#
  dialect_resources: {
    builtin: {
      router_w: "0x040000000000000000000000000000000000000000000000000000000000000000000000"
    }
  }
#-}

//--- names.json
{"format": "moe-opt.calibration", "version": 1, "layers": [{"num_experts": 4, "tokens": 3, "usage": [1, 2, 3, 0], "router_weight": "other.gate.weight"}]}

//--- names.mlir
// expected-error@+1 {{layer 0's router weight is 'other.gate.weight' in the statistics, 'router_w' in the module}}
module {
  func.func @layer(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
    %wr = onnx.constant dense_resource<router_w> : tensor<4x2xf32>
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
{-#
  dialect_resources: {
    builtin: {
      router_w: "0x040000000000000000000000000000000000000000000000000000000000000000000000"
    }
  }
#-}

//--- nokeep.json
{"format": "moe-opt.calibration", "version": 1, "layers": [{"index": 0, "num_experts": 4, "tokens": 3, "usage": [1, 2, 3, 0], "router_weight": "router_w"}]}

//--- nokeep.mlir
// expected-error@+1 {{--moe-prune-experts needs keep=<count> or keep-fraction=<(0, 1]>}}
module {
  func.func @layer(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
    %wr = onnx.constant dense_resource<router_w> : tensor<4x2xf32>
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
{-#
  dialect_resources: {
    builtin: {
      router_w: "0x040000000000000000000000000000000000000000000000000000000000000000000000"
    }
  }
#-}

//--- groups.mlir
module {
  func.func @layer(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
    %wr = onnx.constant dense<1.0> : tensor<4x2xf32>
    %up = onnx.constant dense<1.0> : tensor<4x2x3xf32>
    %down = onnx.constant dense<1.0> : tensor<4x3x2xf32>
    %logits = moe.gate %x, %wr : (tensor<?x2xf32>, tensor<4x2xf32>) -> tensor<?x4xf32>
    // expected-error@+1 {{cannot prune a layer with group-limited routing: its groups must stay equal in size}}
    %w, %ids = moe.route <token_choice> <sigmoid> %logits {k = 2 : i64, num_groups = 2 : i64, topk_groups = 1 : i64}
        : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
    %rows, %off, %map = moe.dispatch %x, %ids {num_experts = 4 : i64}
        : tensor<?x2xf32>, tensor<?x2xi64> -> tensor<?x2xf32>, tensor<5xi64>, tensor<?x2xi64>
    %y = moe.experts %rows, %off weights(%up, %down) {activation = #moe.activation<relu>}
        : (tensor<?x2xf32>, tensor<5xi64>, tensor<4x2x3xf32>, tensor<4x3x2xf32>) -> tensor<?x2xf32>
    %out = moe.combine %y, %map, %w : (tensor<?x2xf32>, tensor<?x2xi64>, tensor<?x2xf32>) -> tensor<?x2xf32>
    return %out : tensor<?x2xf32>
  }
}

//--- toofew.mlir
module {
  func.func @layer(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
    %wr = onnx.constant dense<1.0> : tensor<4x2xf32>
    %up = onnx.constant dense<1.0> : tensor<4x2x3xf32>
    %down = onnx.constant dense<1.0> : tensor<4x3x2xf32>
    %logits = moe.gate %x, %wr : (tensor<?x2xf32>, tensor<4x2xf32>) -> tensor<?x4xf32>
    // expected-error@+1 {{keeping 1 experts leaves 1 selectable, fewer than k = 2}}
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

//--- fused.mlir
module {
  func.func @layer(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
    %wr = onnx.constant dense<1.0> : tensor<4x2xf32>
    %up = onnx.constant dense<1.0> : tensor<4x2x3xf32>
    %down = onnx.constant dense<1.0> : tensor<4x3x2xf32>
    // expected-error@+1 {{calibrated passes edit moe.gate and moe.route: run them before --moe-fuse-gating}}
    %w, %ids = moe.fused_route <token_choice> <softmax> %x, %wr {k = 2 : i64, renormalize}
        : tensor<?x2xf32>, tensor<4x2xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
    %rows, %off, %map = moe.dispatch %x, %ids {num_experts = 4 : i64}
        : tensor<?x2xf32>, tensor<?x2xi64> -> tensor<?x2xf32>, tensor<5xi64>, tensor<?x2xi64>
    %y = moe.experts %rows, %off weights(%up, %down) {activation = #moe.activation<relu>}
        : (tensor<?x2xf32>, tensor<5xi64>, tensor<4x2x3xf32>, tensor<4x3x2xf32>) -> tensor<?x2xf32>
    %out = moe.combine %y, %map, %w : (tensor<?x2xf32>, tensor<?x2xi64>, tensor<?x2xf32>) -> tensor<?x2xf32>
    return %out : tensor<?x2xf32>
  }
}

//--- input.json
{"format": "moe-opt.calibration", "version": 1, "layers": [{"num_experts": 4, "tokens": 3, "usage": [1, 2, 3, 0], "tensors": {"input": "other_input"}}]}

//--- input.mlir
// expected-error@+1 {{layer 0's input is 'other_input' in the statistics, 'hidden_states' in the module}}
module {
  func.func @layer(%x: tensor<?x2xf32> {onnx.name = "hidden_states"}) -> tensor<?x2xf32> {
    %wr = onnx.constant dense_resource<router_w> : tensor<4x2xf32>
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
{-#
  dialect_resources: {
    builtin: {
      router_w: "0x040000000000000000000000000000000000000000000000000000000000000000000000"
    }
  }
#-}

