// RUN: split-file %s %t
// RUN: moe-opt %t/sigmoid.mlir --moe-balance-bias="stats=%t/skewed.json" 2>&1 | FileCheck %s --check-prefix=SIGMOID
// RUN: moe-opt %t/softmax.mlir --moe-balance-bias="stats=%t/skewed.json target=0.5 max-iterations=2" 2>&1 | FileCheck %s --check-prefix=LIMIT
// RUN: moe-opt %t/sigmoid.mlir --moe-balance-bias="stats=%t/nologits.json" -verify-diagnostics

//--- skewed.json
{"format": "moe-opt.calibration", "version": 1, "layers": [
 {"num_experts": 4, "tokens": 4, "usage": [4, 0, 0, 0],
  "router_logits": [[1.0, 0.0, 0.0, 0.0], [1.0, 0.9, 0.0, 0.0],
                    [1.0, 0.0, 0.8, 0.0], [1.0, 0.0, 0.0, 0.7]]}]}

//--- nologits.json
{"format": "moe-opt.calibration", "version": 1, "layers": [
 {"num_experts": 4, "tokens": 4, "usage": [4, 0, 0, 0]}]}

//--- sigmoid.mlir
// Every token first prefers expert 0 (MaxVio 3); tokens 1..3 have a runner-up
// of their own. Sign updates of 1e-3 move them there: each expert gets one
// token. The new bias becomes the route's selection bias, weights unchanged.
// SIGMOID: remark: layer 0: MaxVio 3.0000 -> 0.0000 on 4 recorded tokens after {{[0-9]+}} bias updates
// SIGMOID: %[[B:.*]] = onnx.constant dense<[{{.*}}]> : tensor<4xf32>
// SIGMOID: moe.route <token_choice> <sigmoid> %{{.*}} bias(%[[B]] : tensor<4xf32>) {k = 1 : i64}
// expected-error@+1 {{layer 0 has no router_logits (calibrate with --logits-sample N)}}
module {
  func.func @layer(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
    %wr = onnx.constant dense<1.0> : tensor<4x2xf32>
    %up = onnx.constant dense<1.0> : tensor<4x2x3xf32>
    %down = onnx.constant dense<1.0> : tensor<4x3x2xf32>
    %logits = moe.gate %x, %wr : (tensor<?x2xf32>, tensor<4x2xf32>) -> tensor<?x4xf32>
    %w, %ids = moe.route <token_choice> <sigmoid> %logits {k = 1 : i64}
        : tensor<?x4xf32> -> tensor<?x1xf32>, tensor<?x1xi64>
    %rows, %off, %map = moe.dispatch %x, %ids {num_experts = 4 : i64}
        : tensor<?x2xf32>, tensor<?x1xi64> -> tensor<?x2xf32>, tensor<5xi64>, tensor<?x1xi64>
    %y = moe.experts %rows, %off weights(%up, %down) {activation = #moe.activation<relu>}
        : (tensor<?x2xf32>, tensor<5xi64>, tensor<4x2x3xf32>, tensor<4x3x2xf32>) -> tensor<?x2xf32>
    %out = moe.combine %y, %map, %w : (tensor<?x2xf32>, tensor<?x1xi64>, tensor<?x1xf32>) -> tensor<?x2xf32>
    return %out : tensor<?x2xf32>
  }
}

//--- softmax.mlir
// Softmax scores take u * (mean - c_i) steps from the existing bias; the
// iteration limit stops the update before the target.
// LIMIT: remark: layer 0: MaxVio 3.0000 -> {{[0-9.]+}} on 4 recorded tokens after {{[0-2]}} bias updates
// LIMIT: %[[B:.*]] = onnx.constant dense<{{.*}}> : tensor<4xf32>
// LIMIT: moe.route <token_choice> <softmax> %{{.*}} bias(%[[B]] : tensor<4xf32>) {k = 1 : i64}
module {
  func.func @layer(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
    %wr = onnx.constant dense<1.0> : tensor<4x2xf32>
    %sb = onnx.constant dense<0.5> : tensor<4xf32>
    %up = onnx.constant dense<1.0> : tensor<4x2x3xf32>
    %down = onnx.constant dense<1.0> : tensor<4x3x2xf32>
    %logits = moe.gate %x, %wr : (tensor<?x2xf32>, tensor<4x2xf32>) -> tensor<?x4xf32>
    %w, %ids = moe.route <token_choice> <softmax> %logits bias(%sb : tensor<4xf32>) {k = 1 : i64}
        : tensor<?x4xf32> -> tensor<?x1xf32>, tensor<?x1xi64>
    %rows, %off, %map = moe.dispatch %x, %ids {num_experts = 4 : i64}
        : tensor<?x2xf32>, tensor<?x1xi64> -> tensor<?x2xf32>, tensor<5xi64>, tensor<?x1xi64>
    %y = moe.experts %rows, %off weights(%up, %down) {activation = #moe.activation<relu>}
        : (tensor<?x2xf32>, tensor<5xi64>, tensor<4x2x3xf32>, tensor<4x3x2xf32>) -> tensor<?x2xf32>
    %out = moe.combine %y, %map, %w : (tensor<?x2xf32>, tensor<?x1xi64>, tensor<?x1xf32>) -> tensor<?x2xf32>
    return %out : tensor<?x2xf32>
  }
}
