// RUN: split-file %s %t
// RUN: moe-opt %t/layer.mlir --moe-skip-experts="stats=%t/stats.json" 2>&1 | FileCheck %s --check-prefix=STATS
// RUN: moe-opt %t/layer.mlir --moe-skip-experts="stats=%t/stats.json beta=0.75" 2>&1 | FileCheck %s --check-prefix=OVERRIDE
// RUN: moe-opt %t/layer.mlir --moe-skip-experts="stats=%t/nologits.json" 2>&1 | FileCheck %s --check-prefix=NOLOGITS
// RUN: moe-opt %t/fused.mlir --moe-skip-experts="beta=0.3" 2>&1 | FileCheck %s --check-prefix=FUSED

//--- stats.json
{"format": "moe-opt.calibration", "version": 1, "layers": [
 {"num_experts": 4, "tokens": 4, "usage": [4, 2, 1, 1], "top2_ratio_median": 0.5,
  "router_logits": [[2.0, 0.0, -9.0, -9.0], [1.0, 0.5, -9.0, -9.0],
                    [1.0, -9.0, 0.9, -9.0], [3.0, -9.0, -9.0, 0.0]]}]}

//--- nologits.json
{"format": "moe-opt.calibration", "version": 1, "layers": [
 {"num_experts": 4, "tokens": 4, "usage": [4, 2, 1, 1], "top2_ratio_median": 0.5}]}

//--- layer.mlir
// beta = the median 0.5: of the four recorded tokens, w1 / w0 is e^-2,
// e^-0.5, e^-0.1 and e^-3 (softmax ratios are exp of logit gaps), so tokens
// 0 and 3 (ratio < 0.5) lose their second expert; with beta = 0.75 token 1
// (0.61) too.
// STATS: remark: layer 0: skip_ratio 0.5000; skips 2 of 4 second slots (0.500) on the recorded tokens
// STATS: moe.route <token_choice> <softmax> %{{.*}} {k = 2 : i64, renormalize, skip_ratio = 5.000000e-01 : f64}
// OVERRIDE: remark: layer 0: skip_ratio 0.7500; skips 3 of 4 second slots (0.750) on the recorded tokens
// OVERRIDE: skip_ratio = 7.500000e-01 : f64
// NOLOGITS: remark: layer 0: skip_ratio 0.5000{{$}}
func.func @layer(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
  %wr = onnx.constant dense<1.0> : tensor<4x2xf32>
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

//--- fused.mlir
// Without statistics every routing op, fused ones included, gets beta.
// FUSED: remark: layer 0: skip_ratio 0.3000
// FUSED: moe.fused_route <token_choice> <sigmoid> {{.*}} {k = 3 : i64, skip_ratio = 3.000000e-01 : f64}
func.func @fused(%x: tensor<?x2xf32>, %wr: tensor<4x2xf32>) -> (tensor<?x3xf32>, tensor<?x3xi64>) {
  %w, %ids = moe.fused_route <token_choice> <sigmoid> %x, %wr {k = 3 : i64}
      : tensor<?x2xf32>, tensor<4x2xf32> -> tensor<?x3xf32>, tensor<?x3xi64>
  return %w, %ids : tensor<?x3xf32>, tensor<?x3xi64>
}
