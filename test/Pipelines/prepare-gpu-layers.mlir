// RUN: moe-opt %s --moe-prepare-gpu-layers="report=%t.json" -split-input-file | FileCheck %s
// RUN: moe-opt %s --moe-prepare-gpu-layers="report=-" -split-input-file -o /dev/null | FileCheck %s --check-prefix=REPORT
// RUN: moe-opt %s --moe-prepare-gpu-layers="element-type=" -split-input-file | FileCheck %s --check-prefix=KEEP
// RUN: moe-opt %s --moe-prepare-gpu-layers="keep-transposed=true" -split-input-file | FileCheck %s --check-prefix=KT
// RUN: moe-opt %s --moe-prepare-gpu-layers="keep-transposed=true report=-" -split-input-file -o /dev/null | FileCheck %s --check-prefix=KTREPORT

// A raised layer (onnxruntime's MoE op form: an [H, E] router, [out, in]
// expert weights with biases) becomes a bf16 moe.gpu_layer function; the
// caller transposes and converts what it passes and converts the result
// back. The routing keeps f32: the tokens go in twice (f32 for the router,
// bf16 for the dispatch).
// CHECK-LABEL: func.func @model(
// CHECK-SAME: %[[X:[^:]*]]: tensor<?x32xf32> {onnx.name = "hidden_states"}, %[[WR:[^:]*]]: tensor<32x8xf32>, %[[W1:[^:]*]]: tensor<8x128x32xf32>, %[[B1:[^:]*]]: tensor<8x128xf32>, %[[W2:[^:]*]]: tensor<8x32x64xf32>
// The router, [H, E] -> [E, H], stays f32.
// CHECK: %[[WRT:.*]] = linalg.transpose ins(%[[WR]] : tensor<32x8xf32>) outs(%{{.*}} : tensor<8x32xf32>) permutation = [1, 0]
// CHECK: %[[XB:.*]] = linalg.generic {{.*}} ins(%[[X]] : tensor<?x32xf32>) outs(%{{.*}} : tensor<?x32xbf16>)
// CHECK: arith.truncf %{{.*}} : f32 to bf16
// CHECK: %[[W1T:.*]] = linalg.transpose ins(%[[W1]] : tensor<8x128x32xf32>) outs(%{{.*}} : tensor<8x32x128xf32>) permutation = [0, 2, 1]
// CHECK: %[[W1B:.*]] = linalg.generic {{.*}} ins(%[[W1T]] : tensor<8x32x128xf32>) outs(%{{.*}} : tensor<8x32x128xbf16>)
// CHECK: %[[W2T:.*]] = linalg.transpose ins(%[[W2]] : tensor<8x32x64xf32>)
// CHECK: %[[W2B:.*]] = linalg.generic {{.*}} ins(%[[W2T]] : tensor<8x64x32xf32>)
// CHECK: %[[Y:.*]] = call @model_moe_layer0(%[[X]], %[[WRT]], %[[XB]], %[[W1B]], %[[B1]], %[[W2B]], %{{.*}}) : (tensor<?x32xf32>, tensor<8x32xf32>, tensor<?x32xbf16>, tensor<8x32x128xbf16>, tensor<8x128xf32>, tensor<8x64x32xbf16>, tensor<8x32xf32>) -> tensor<?x32xbf16>
// CHECK: %[[OUT:.*]] = linalg.generic {{.*}} ins(%[[Y]] : tensor<?x32xbf16>) outs(%{{.*}} : tensor<?x32xf32>)
// CHECK: arith.extf %{{.*}} : bf16 to f32
// CHECK: %[[SUM:.*]] = arith.addf %[[OUT]], %[[X]] : tensor<?x32xf32>
// CHECK: return %[[SUM]]
// CHECK-NOT: moe.
// CHECK-LABEL: func.func private @model_moe_layer0(
// CHECK-SAME: %[[LX:[^:]*]]: tensor<?x32xf32>, %[[LR:[^:]*]]: tensor<8x32xf32>, %[[LXB:[^:]*]]: tensor<?x32xbf16>, %[[L1:[^:]*]]: tensor<8x32x128xbf16>, %[[LB1:[^:]*]]: tensor<8x128xf32>, %[[L2:[^:]*]]: tensor<8x64x32xbf16>, %[[LB2:[^:]*]]: tensor<8x32xf32>) -> tensor<?x32xbf16> attributes {moe.gpu_layer}
// CHECK: %[[W:.*]], %[[IDS:.*]] = moe.fused_route <token_choice> <softmax> %[[LX]], %[[LR]] {k = 2 : i64, renormalize} : tensor<?x32xf32>, tensor<8x32xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
// CHECK: %[[ROWS:.*]], %[[OFF:.*]], %[[MAP:.*]] = moe.dispatch %[[LXB]], %[[IDS]] {num_experts = 8 : i64} : tensor<?x32xbf16>, tensor<?x2xi64> -> tensor<?x32xbf16>, tensor<9xi64>, tensor<?x2xi64>
// CHECK: %[[H:.*]] = moe.grouped_matmul %[[ROWS]], %[[L1]] offsets(%[[OFF]]) bias(%[[LB1]]) : (tensor<?x32xbf16>, tensor<8x32x128xbf16>, tensor<9xi64>, tensor<8x128xf32>) -> tensor<?x128xbf16>
// CHECK: %[[A:.*]] = moe.activation %[[H]] {{.*}} : (tensor<?x128xbf16>) -> tensor<?x64xbf16>
// CHECK: %[[D:.*]] = moe.grouped_matmul %[[A]], %[[L2]] offsets(%[[OFF]]) bias(%[[LB2]]) : (tensor<?x64xbf16>, tensor<8x64x32xbf16>, tensor<9xi64>, tensor<8x32xf32>) -> tensor<?x32xbf16>
// CHECK: %[[C:.*]] = moe.combine %[[D]], %[[MAP]], %[[W]] : (tensor<?x32xbf16>, tensor<?x2xi64>, tensor<?x2xf32>) -> tensor<?x32xbf16>
// CHECK: return %[[C]] : tensor<?x32xbf16>

// The report: what each buffer is (the caller's argument, a constant, or
// another value), its shape and type, whether it is transposed.
// REPORT: "buffers": [
// REPORT-NEXT: {
// REPORT-NEXT: "element_type": "f32",
// REPORT-NEXT: "shape": [
// REPORT-NEXT: null,
// REPORT-NEXT: 32
// REPORT-NEXT: ],
// REPORT-NEXT: "source": {
// REPORT-NEXT: "index": 0,
// REPORT-NEXT: "kind": "argument",
// REPORT-NEXT: "name": "hidden_states"
// REPORT-NEXT: },
// REPORT-NEXT: "transposed": false
// REPORT: "index": 1,
// REPORT-NEXT: "kind": "argument"
// REPORT-NEXT: },
// REPORT-NEXT: "transposed": true
// REPORT: "element_type": "bf16",
// REPORT: "kind": "constant"
// REPORT: "layer": "model_moe_layer0"

// Without element-type the layer keeps f32 (still transposed for the GPU).
// KEEP-LABEL: func.func private @model_moe_layer0(
// KEEP-SAME: tensor<?x32xf32>, %{{[^:]*}}: tensor<8x32xf32>, %{{[^:]*}}: tensor<8x32x128xf32>
// KEEP-NOT: bf16

// keep-transposed: the [out, in] expert weights go in as the model stores
// them (converted, not transposed) and the matmuls keep transpose_rhs (the
// GPU kernels read them along K); the [H, E] router is still transposed.
// KT-LABEL: func.func @model(
// KT-SAME: %[[W1:[^:]*]]: tensor<8x128x32xf32>, %{{[^:]*}}: tensor<8x128xf32>, %[[W2:[^:]*]]: tensor<8x32x64xf32>
// KT: linalg.transpose ins(%{{.*}} : tensor<32x8xf32>)
// KT-NOT: linalg.transpose
// KT: %[[W1B:.*]] = linalg.generic {{.*}} ins(%[[W1]] : tensor<8x128x32xf32>) outs(%{{.*}} : tensor<8x128x32xbf16>)
// KT: %[[W2B:.*]] = linalg.generic {{.*}} ins(%[[W2]] : tensor<8x32x64xf32>) outs(%{{.*}} : tensor<8x32x64xbf16>)
// KT: call @model_moe_layer0(%{{.*}}, %{{.*}}, %{{.*}}, %[[W1B]], %{{.*}}, %[[W2B]], %{{.*}})
// KT-LABEL: func.func private @model_moe_layer0(
// KT-SAME: %[[L1:[^:]*]]: tensor<8x128x32xbf16>, %{{[^:]*}}: tensor<8x128xf32>, %[[L2:[^:]*]]: tensor<8x32x64xbf16>
// KT: moe.grouped_matmul %{{.*}}, %[[L1]] offsets(%{{.*}}) bias(%{{.*}}) {transpose_rhs} : (tensor<?x32xbf16>, tensor<8x128x32xbf16>
// KT: moe.grouped_matmul %{{.*}}, %[[L2]] offsets(%{{.*}}) bias(%{{.*}}) {transpose_rhs} : (tensor<?x64xbf16>, tensor<8x32x64xbf16>
// The report: the router is still transposed, the expert weights are not.
// KTREPORT: "kind": "argument",
// KTREPORT-NEXT: "name": "hidden_states"
// KTREPORT-NEXT: },
// KTREPORT-NEXT: "transposed": false
// KTREPORT: "index": 1,
// KTREPORT-NEXT: "kind": "argument"
// KTREPORT-NEXT: },
// KTREPORT-NEXT: "transposed": true
// KTREPORT: "name": "hidden_states"
// KTREPORT: "element_type": "bf16",
// KTREPORT-NEXT: "shape": [
// KTREPORT-NEXT: 8,
// KTREPORT-NEXT: 128,
// KTREPORT-NEXT: 32
// KTREPORT-NEXT: ],
// KTREPORT-NEXT: "source": {
// KTREPORT-NEXT: "index": 2,
// KTREPORT-NEXT: "kind": "argument"
// KTREPORT-NEXT: },
// KTREPORT-NEXT: "transposed": false
func.func @model(%x: tensor<?x32xf32> {onnx.name = "hidden_states"}, %wr: tensor<32x8xf32>, %w1: tensor<8x128x32xf32>, %b1: tensor<8x128xf32>, %w2: tensor<8x32x64xf32>) -> tensor<?x32xf32> {
  %b2 = arith.constant dense<0.5> : tensor<8x32xf32>
  %weights, %indices = moe.fused_route <token_choice> <softmax> %x, %wr {k = 2 : i64, renormalize, weight_transposed} : tensor<?x32xf32>, tensor<32x8xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  %rows, %offsets, %row_map = moe.dispatch %x, %indices {num_experts = 8 : i64} : tensor<?x32xf32>, tensor<?x2xi64> -> tensor<?x32xf32>, tensor<9xi64>, tensor<?x2xi64>
  %h = moe.grouped_matmul %rows, %w1 offsets(%offsets) bias(%b1) {transpose_rhs} : (tensor<?x32xf32>, tensor<8x128x32xf32>, tensor<9xi64>, tensor<8x128xf32>) -> tensor<?x128xf32>
  %a = moe.activation %h {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<interleaved>} : (tensor<?x128xf32>) -> tensor<?x64xf32>
  %d = moe.grouped_matmul %a, %w2 offsets(%offsets) bias(%b2) {transpose_rhs} : (tensor<?x64xf32>, tensor<8x32x64xf32>, tensor<9xi64>, tensor<8x32xf32>) -> tensor<?x32xf32>
  %y = moe.combine %d, %row_map, %weights : (tensor<?x32xf32>, tensor<?x2xi64>, tensor<?x2xf32>) -> tensor<?x32xf32>
  %sum = arith.addf %y, %x : tensor<?x32xf32>
  return %sum : tensor<?x32xf32>
}

// -----

// Two layers in one function, each with per-expert weights (a per-expert
// loop export): the weights of equal shape are stacked into [E, K, N] (and
// the biases into [E, N]) by the caller; routing from logits (moe.route)
// keeps its f32 logits.
// CHECK-LABEL: func.func @two(
// CHECK-SAME: %[[X:[^:]*]]: tensor<?x16xf16>, %[[L:[^:]*]]: tensor<?x2xf32>, %[[W0:[^:]*]]: tensor<16x16xf16>, %[[W1:[^:]*]]: tensor<16x16xf16>, %[[B0:[^:]*]]: tensor<16xf16>, %[[B1:[^:]*]]: tensor<16xf16>)
// CHECK: %[[E:.*]] = tensor.empty() : tensor<2x16x16xf16>
// CHECK: %[[S0:.*]] = tensor.insert_slice %[[W0]] into %[[E]][0, 0, 0] [1, 16, 16] [1, 1, 1]
// CHECK: %[[S1:.*]] = tensor.insert_slice %[[W1]] into %[[S0]][1, 0, 0] [1, 16, 16] [1, 1, 1]
// CHECK: tensor.insert_slice %[[B0]] into %{{.*}}[0, 0] [1, 16] [1, 1]
// CHECK: %[[Y0:.*]] = call @two_moe_layer0(%[[L]], %{{.*}}, %{{.*}}, %{{.*}})
// CHECK: %[[Y1:.*]] = call @two_moe_layer1(%[[L]], %{{.*}}, %{{.*}}) :
// CHECK-LABEL: func.func private @two_moe_layer0(
// CHECK-SAME: %{{[^:]*}}: tensor<?x2xf32>, %{{[^:]*}}: tensor<?x16xbf16>, %{{[^:]*}}: tensor<2x16x16xbf16>, %{{[^:]*}}: tensor<2x16xf16>) -> tensor<?x16xbf16> attributes {moe.gpu_layer}
// CHECK: moe.route <token_choice> <softmax> %{{.*}} {k = 1 : i64} : tensor<?x2xf32>
// CHECK-LABEL: func.func private @two_moe_layer1(
// REPORT: "kind": "stacked",
// REPORT-NEXT: "parts": [
// REPORT-NEXT: {
// REPORT-NEXT: "index": 2,
// REPORT-NEXT: "kind": "argument"
// REPORT-NEXT: },
// REPORT-NEXT: {
// REPORT-NEXT: "index": 3,
// REPORT-NEXT: "kind": "argument"
// REPORT: "layer": "two_moe_layer0"
// REPORT: "layer": "two_moe_layer1"
func.func @two(%x: tensor<?x16xf16>, %logits: tensor<?x2xf32>, %w0: tensor<16x16xf16>, %w1: tensor<16x16xf16>, %b0: tensor<16xf16>, %b1: tensor<16xf16>) -> tensor<?x16xf16> {
  %w, %ids = moe.route <token_choice> <softmax> %logits {k = 1 : i64} : tensor<?x2xf32> -> tensor<?x1xf32>, tensor<?x1xi64>
  %rows, %off, %map = moe.dispatch %x, %ids {num_experts = 2 : i64} : tensor<?x16xf16>, tensor<?x1xi64> -> tensor<?x16xf16>, tensor<3xi64>, tensor<?x1xi64>
  %h = moe.grouped_matmul %rows, %w0, %w1 offsets(%off) bias(%b0, %b1) : (tensor<?x16xf16>, tensor<16x16xf16>, tensor<16x16xf16>, tensor<3xi64>, tensor<16xf16>, tensor<16xf16>) -> tensor<?x16xf16>
  %y = moe.combine %h, %map, %w : (tensor<?x16xf16>, tensor<?x1xi64>, tensor<?x1xf32>) -> tensor<?x16xf16>
  %w2, %ids2 = moe.route <token_choice> <softmax> %logits {k = 1 : i64} : tensor<?x2xf32> -> tensor<?x1xf32>, tensor<?x1xi64>
  %rows2, %off2, %map2 = moe.dispatch %y, %ids2 {num_experts = 2 : i64} : tensor<?x16xf16>, tensor<?x1xi64> -> tensor<?x16xf16>, tensor<3xi64>, tensor<?x1xi64>
  %h2 = moe.grouped_matmul %rows2, %w0, %w1 offsets(%off2) : (tensor<?x16xf16>, tensor<16x16xf16>, tensor<16x16xf16>, tensor<3xi64>) -> tensor<?x16xf16>
  %y2 = moe.combine %h2, %map2, %w2 : (tensor<?x16xf16>, tensor<?x1xi64>, tensor<?x1xf32>) -> tensor<?x16xf16>
  return %y2 : tensor<?x16xf16>
}
