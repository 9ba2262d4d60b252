// RUN: moe-opt %s --moe-prepare-gpu-layers="element-type=" -split-input-file | FileCheck %s
// RUN: moe-opt %s --moe-prepare-gpu-layers="element-type= report=-" -split-input-file -o /dev/null | FileCheck %s --check-prefix=REPORT

// A compressed expert (--moe-compress-experts) of rank 4 with 3 kept
// residual columns: the GPU kernels need every K and N to be a multiple of
// 8, so the inner widths grow to 8. The low-rank factors get zero columns
// (U) and zero rows (V), the residual weight zero columns and its column
// indices -1 (skipped by the scatter): the result is unchanged. The widths
// of the tokens (16, 32) are left alone.
// CHECK-LABEL: func.func @compressed(
// CHECK-SAME: %[[U:[^:]*]]: tensor<2x16x4xf32>, %[[V:[^:]*]]: tensor<2x4x32xf32>, %[[S:[^:]*]]: tensor<2x16x3xf32>, %[[C:[^:]*]]: tensor<2x3xi32>
// CHECK: %[[UZ:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%{{.*}} : tensor<2x16x8xf32>)
// CHECK: %[[UW:.*]] = tensor.insert_slice %[[U]] into %[[UZ]][0, 0, 0] [2, 16, 4] [1, 1, 1]
// CHECK: %[[VZ:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%{{.*}} : tensor<2x8x32xf32>)
// CHECK: %[[VW:.*]] = tensor.insert_slice %[[V]] into %[[VZ]][0, 0, 0] [2, 4, 32] [1, 1, 1]
// CHECK: %[[SZ:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%{{.*}} : tensor<2x16x8xf32>)
// CHECK: %[[SW:.*]] = tensor.insert_slice %[[S]] into %[[SZ]][0, 0, 0] [2, 16, 3] [1, 1, 1]
// CHECK: %[[NONE:.*]] = arith.constant -1 : i32
// CHECK: %[[CZ:.*]] = linalg.fill ins(%[[NONE]] : i32) outs(%{{.*}} : tensor<2x8xi32>)
// CHECK: %[[CW:.*]] = tensor.insert_slice %[[C]] into %[[CZ]][0, 0] [2, 3] [1, 1]
// CHECK: call @compressed_moe_layer0(%{{.*}}, %{{.*}}, %[[UW]], %[[VW]], %[[SW]], %[[CW]], %{{.*}})
// CHECK-LABEL: func.func private @compressed_moe_layer0(
// CHECK: %[[LR0:.*]] = moe.grouped_matmul %[[ROWS:.*]], %{{.*}} offsets(%[[OFF:.*]]) : (tensor<?x16xf32>, tensor<2x16x8xf32>, tensor<3xi64>) -> tensor<?x8xf32>
// CHECK: %[[LR:.*]] = moe.grouped_matmul %[[LR0]], %{{.*}} offsets(%[[OFF]]) : (tensor<?x8xf32>, tensor<2x8x32xf32>, tensor<3xi64>) -> tensor<?x32xf32>
// CHECK: %[[SP:.*]] = moe.grouped_matmul %[[ROWS]], %{{.*}} offsets(%[[OFF]]) : (tensor<?x16xf32>, tensor<2x16x8xf32>, tensor<3xi64>) -> tensor<?x8xf32>
// CHECK: moe.scatter_columns %[[SP]] into %[[LR]] columns(%{{.*}}) offsets(%[[OFF]]) : (tensor<?x8xf32>, tensor<?x32xf32>, tensor<2x8xi32>, tensor<3xi64>) -> tensor<?x32xf32>

// The report gives the padded indices' fill.
// REPORT: "fill": -1,
// REPORT-NEXT: "kind": "padded",
// REPORT-NEXT: "pieces": [
// REPORT-NEXT: {
// REPORT-NEXT: "from": [
// REPORT-NEXT: 0,
// REPORT-NEXT: 0
// REPORT-NEXT: ],
// REPORT-NEXT: "size": [
// REPORT-NEXT: 2,
// REPORT-NEXT: 3
// REPORT-NEXT: ],
// REPORT-NEXT: "source": {
// REPORT-NEXT: "index": 5,
// REPORT-NEXT: "kind": "argument"
// REPORT-NEXT: },
// REPORT-NEXT: "to": [
// REPORT-NEXT: 0,
// REPORT-NEXT: 0
// REPORT-NEXT: ]
// REPORT-NEXT: }
// REPORT-NEXT: ],
// REPORT-NEXT: "shape": [
// REPORT-NEXT: 2,
// REPORT-NEXT: 8
// REPORT-NEXT: ]
func.func @compressed(%x: tensor<?x16xf32>, %router: tensor<2x16xf32>,
                      %u: tensor<2x16x4xf32>, %v: tensor<2x4x32xf32>,
                      %s: tensor<2x16x3xf32>, %c: tensor<2x3xi32>,
                      %d: tensor<2x16x16xf32>) -> tensor<?x16xf32> {
  %w, %ids = moe.fused_route <token_choice> <softmax> %x, %router {k = 1 : i64} : tensor<?x16xf32>, tensor<2x16xf32> -> tensor<?x1xf32>, tensor<?x1xi64>
  %rows, %off, %map = moe.dispatch %x, %ids {num_experts = 2 : i64} : tensor<?x16xf32>, tensor<?x1xi64> -> tensor<?x16xf32>, tensor<3xi64>, tensor<?x1xi64>
  %t = moe.grouped_matmul %rows, %u offsets(%off) : (tensor<?x16xf32>, tensor<2x16x4xf32>, tensor<3xi64>) -> tensor<?x4xf32>
  %lr = moe.grouped_matmul %t, %v offsets(%off) : (tensor<?x4xf32>, tensor<2x4x32xf32>, tensor<3xi64>) -> tensor<?x32xf32>
  %sp = moe.grouped_matmul %rows, %s offsets(%off) : (tensor<?x16xf32>, tensor<2x16x3xf32>, tensor<3xi64>) -> tensor<?x3xf32>
  %h = moe.scatter_columns %sp into %lr columns(%c) offsets(%off) : (tensor<?x3xf32>, tensor<?x32xf32>, tensor<2x3xi32>, tensor<3xi64>) -> tensor<?x32xf32>
  %a = moe.activation %h {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<concatenated>} : (tensor<?x32xf32>) -> tensor<?x16xf32>
  %y = moe.grouped_matmul %a, %d offsets(%off) : (tensor<?x16xf32>, tensor<2x16x16xf32>, tensor<3xi64>) -> tensor<?x16xf32>
  %out = moe.combine %y, %map, %w : (tensor<?x16xf32>, tensor<?x1xi64>, tensor<?x1xf32>) -> tensor<?x16xf32>
  return %out : tensor<?x16xf32>
}

// -----

// A narrow width that something other than a matmul or a scatter reads (an
// activation here) stays: its columns past the width would not be zeros.
// The transposed factors of a rank-4 down projection ([out, in] weights)
// grow along their stored dimensions.
// CHECK-LABEL: func.func @kept(
// CHECK: %[[DZ:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%{{.*}} : tensor<2x8x12xf32>)
// CHECK: %[[EZ:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%{{.*}} : tensor<2x16x8xf32>)
// CHECK-LABEL: func.func private @kept_moe_layer0(
// CHECK: moe.grouped_matmul %{{.*}}, %{{.*}} offsets(%{{.*}}) : (tensor<?x16xf32>, tensor<2x16x12xf32>, tensor<3xi64>) -> tensor<?x12xf32>
// CHECK: moe.activation %{{.*}} {activation = #moe.activation<gelu>} : (tensor<?x12xf32>) -> tensor<?x12xf32>
// CHECK: moe.grouped_matmul %{{.*}}, %{{.*}} offsets(%{{.*}}) : (tensor<?x12xf32>, tensor<2x12x8xf32>, tensor<3xi64>) -> tensor<?x8xf32>
// CHECK: moe.grouped_matmul %{{.*}}, %{{.*}} offsets(%{{.*}}) : (tensor<?x8xf32>, tensor<2x8x16xf32>, tensor<3xi64>) -> tensor<?x16xf32>
func.func @kept(%x: tensor<?x16xf32>, %router: tensor<2x16xf32>,
                %u: tensor<2x16x12xf32>, %d: tensor<2x4x12xf32>,
                %e: tensor<2x16x4xf32>) -> tensor<?x16xf32> {
  %w, %ids = moe.fused_route <token_choice> <softmax> %x, %router {k = 1 : i64} : tensor<?x16xf32>, tensor<2x16xf32> -> tensor<?x1xf32>, tensor<?x1xi64>
  %rows, %off, %map = moe.dispatch %x, %ids {num_experts = 2 : i64} : tensor<?x16xf32>, tensor<?x1xi64> -> tensor<?x16xf32>, tensor<3xi64>, tensor<?x1xi64>
  %h = moe.grouped_matmul %rows, %u offsets(%off) : (tensor<?x16xf32>, tensor<2x16x12xf32>, tensor<3xi64>) -> tensor<?x12xf32>
  %a = moe.activation %h {activation = #moe.activation<gelu>} : (tensor<?x12xf32>) -> tensor<?x12xf32>
  %t = moe.grouped_matmul %a, %d offsets(%off) {transpose_rhs} : (tensor<?x12xf32>, tensor<2x4x12xf32>, tensor<3xi64>) -> tensor<?x4xf32>
  %y = moe.grouped_matmul %t, %e offsets(%off) {transpose_rhs} : (tensor<?x4xf32>, tensor<2x16x4xf32>, tensor<3xi64>) -> tensor<?x16xf32>
  %out = moe.combine %y, %map, %w : (tensor<?x16xf32>, tensor<?x1xi64>, tensor<?x1xf32>) -> tensor<?x16xf32>
  return %out : tensor<?x16xf32>
}
