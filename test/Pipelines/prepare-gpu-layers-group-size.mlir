// RUN: moe-opt %s --moe-prepare-gpu-layers | FileCheck %s
// RUN: moe-opt %s --moe-prepare-gpu-layers="report=-" -o /dev/null | FileCheck %s --check-prefix=REPORT

// Switch's per-sequence capacity: the dispatch's run-time group size (the
// sequence length, a dimension of the model's [B, S, H] input) becomes an
// index argument of the layer, which its entry takes among its `dims`; the
// report says where it comes from.
// CHECK-LABEL: func.func @group_size(
// CHECK: %[[SEQ:.*]] = tensor.dim %arg0, %c1 : tensor<?x?x16xbf16>
// CHECK: call @group_size_moe_layer0(%{{.*}}, %{{.*}}, %[[SEQ]], %{{.*}}) : (tensor<?x16xbf16>, tensor<4x16xbf16>, index, tensor<4x16x16xbf16>) -> tensor<?x16xbf16>
// CHECK: func.func private @group_size_moe_layer0(%{{.*}}: tensor<?x16xbf16>, %{{.*}}: tensor<4x16xbf16>, %[[G:.*]]: index, %{{.*}}: tensor<4x16x16xbf16>) -> tensor<?x16xbf16> attributes {moe.gpu_layer}
// CHECK: moe.dispatch %{{.*}}, %{{.*}} group_size(%[[G]])
// REPORT: "element_type": "index",
// REPORT-NEXT: "shape": [],
// REPORT-NEXT: "source": {
// REPORT-NEXT: "dim": 1,
// REPORT-NEXT: "kind": "dim",
// REPORT-NEXT: "of": {
// REPORT-NEXT: "index": 0,
// REPORT-NEXT: "kind": "argument"
// REPORT-NEXT: }
// REPORT-NEXT: },
// REPORT-NEXT: "transposed": false
func.func @group_size(%x3: tensor<?x?x16xbf16>, %wr: tensor<4x16xbf16>, %w: tensor<4x16x16xbf16>) -> tensor<?x16xbf16> {
  %c1 = arith.constant 1 : index
  %seq = tensor.dim %x3, %c1 : tensor<?x?x16xbf16>
  %x = tensor.collapse_shape %x3 [[0, 1], [2]] : tensor<?x?x16xbf16> into tensor<?x16xbf16>
  %wt, %ids = moe.fused_route <token_choice> <softmax> %x, %wr {k = 1 : i64} : tensor<?x16xbf16>, tensor<4x16xbf16> -> tensor<?x1xbf16>, tensor<?x1xi64>
  %rows, %off, %map = moe.dispatch %x, %ids group_size(%seq) {num_experts = 4 : i64, capacity = 2 : i64, drop_policy = #moe.drop_policy<in_order>} : tensor<?x16xbf16>, tensor<?x1xi64> -> tensor<?x16xbf16>, tensor<5xi64>, tensor<?x1xi64>
  %h = moe.grouped_matmul %rows, %w offsets(%off) : (tensor<?x16xbf16>, tensor<4x16x16xbf16>, tensor<5xi64>) -> tensor<?x16xbf16>
  %y = moe.combine %h, %map, %wt : (tensor<?x16xbf16>, tensor<?x1xi64>, tensor<?x1xbf16>) -> tensor<?x16xbf16>
  return %y : tensor<?x16xbf16>
}
