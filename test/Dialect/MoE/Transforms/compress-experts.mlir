// --moe-compress-experts: each compressed stage becomes
// x * R^T [.., in, r] -> * L^T [.., r, out] (+ bias) plus the kept rows of the
// residual, x * S_kept^T [.., in, m], scattered into their output columns.
// RUN: split-file %s %t
// RUN: moe-opt %t/stacked.mlir --moe-compress-experts="rank=1 keep-fraction=0.5 min-saving=-10" 2>&1 | FileCheck %s --check-prefix=STACKED
// RUN: moe-opt %t/hetero.mlir --moe-compress-experts="rank=1 keep-fraction=0.5 min-saving=-10" 2>&1 | FileCheck %s --check-prefix=HETERO
// RUN: moe-opt %t/bf16.mlir --moe-compress-experts="rank=1 stages=down" 2>&1 | FileCheck %s --check-prefix=BF16
// RUN: moe-opt %t/separate.mlir --moe-compress-experts="rank=1 keep-fraction=0.25 stages=up min-saving=-10" 2>&1 | FileCheck %s --check-prefix=SEPARATE
// Too small to save anything: both stages skipped, the layer is unchanged.
// RUN: moe-opt %t/stacked.mlir --moe-compress-experts="rank=1 keep-fraction=0.5" 2>&1 | FileCheck %s --check-prefix=SKIP
// Only the down stage fails to save bytes: up alone is compressed.
// RUN: moe-opt %t/stacked.mlir --moe-compress-experts="rank=1 keep-fraction=0.25" 2>&1 | FileCheck %s --check-prefix=PARTIAL

// Stacked, transposed weights with biases. Rank 1 takes each expert's
// largest singular value (4, exact in f32); the residual rows (output
// neurons) of largest norm are kept, ties to the lower row. Only row 3 of
// expert 1's up weight (norm 0.5) is dropped: error 0.5 / ||W_up||.
// STACKED: remark: compressed experts (rank 1, keep-fraction 0.5); up: 96 -> 120 bytes, error 0.0727393; down: 96 -> 136 bytes, error 0
// STACKED-LABEL: func.func @stacked(
// STACKED-SAME: %[[ROWS:.*]]: tensor<?x3xf32>, %[[OFF:.*]]: tensor<3xi64>)
// STACKED-DAG: %[[UR:.*]] = arith.constant dense<{{.*}}> : tensor<2x3x1xf32>
// STACKED-DAG: %[[UL:.*]] = arith.constant dense<{{.*}}> : tensor<2x1x4xf32>
// STACKED-DAG: %[[US:.*]] = arith.constant dense<{{\[\[\[}}0.000000e+00, 0.000000e+00], [1.000000e+00, 0.000000e+00], [0.000000e+00, 2.000000e+00]], {{\[\[}}0.000000e+00, 0.000000e+00], [0.000000e+00, 1.000000e+00], [3.000000e+00, 0.000000e+00]]]> : tensor<2x3x2xf32>
// STACKED-DAG: %[[UC:.*]] = arith.constant dense<{{\[\[}}1, 2], [1, 2]]> : tensor<2x2xi32>
// STACKED-DAG: %[[DR:.*]] = arith.constant dense<{{.*}}> : tensor<2x4x1xf32>
// STACKED-DAG: %[[DL:.*]] = arith.constant dense<{{.*}}> : tensor<2x1x3xf32>
// STACKED-DAG: %[[DS:.*]] = arith.constant dense<{{.*}}> : tensor<2x4x2xf32>
// STACKED-DAG: %[[DC:.*]] = arith.constant dense<{{\[\[}}0, 1], [0, 2]]> : tensor<2x2xi32>
// STACKED-DAG: %[[BU:.*]] = arith.constant dense<{{.*}}> : tensor<2x4xf32>
// STACKED-DAG: %[[BD:.*]] = arith.constant dense<{{.*}}> : tensor<2x3xf32>
// STACKED: %[[T:.*]] = moe.grouped_matmul %[[ROWS]], %[[UR]] offsets(%[[OFF]]) : (tensor<?x3xf32>, tensor<2x3x1xf32>, tensor<3xi64>) -> tensor<?x1xf32>
// STACKED-NEXT: %[[LR:.*]] = moe.grouped_matmul %[[T]], %[[UL]] offsets(%[[OFF]]) bias(%[[BU]]) : (tensor<?x1xf32>, tensor<2x1x4xf32>, tensor<3xi64>, tensor<2x4xf32>) -> tensor<?x4xf32>
// STACKED-NEXT: %[[SP:.*]] = moe.grouped_matmul %[[ROWS]], %[[US]] offsets(%[[OFF]]) : (tensor<?x3xf32>, tensor<2x3x2xf32>, tensor<3xi64>) -> tensor<?x2xf32>
// STACKED-NEXT: %[[H:.*]] = moe.scatter_columns %[[SP]] into %[[LR]] columns(%[[UC]]) offsets(%[[OFF]])
// STACKED-NEXT: %[[A:.*]] = moe.activation %[[H]] {activation = #moe.activation<relu>}
// STACKED-NEXT: %[[T2:.*]] = moe.grouped_matmul %[[A]], %[[DR]] offsets(%[[OFF]]) : (tensor<?x4xf32>, tensor<2x4x1xf32>, tensor<3xi64>) -> tensor<?x1xf32>
// STACKED-NEXT: %[[LR2:.*]] = moe.grouped_matmul %[[T2]], %[[DL]] offsets(%[[OFF]]) bias(%[[BD]])
// STACKED-NEXT: %[[SP2:.*]] = moe.grouped_matmul %[[A]], %[[DS]] offsets(%[[OFF]])
// STACKED-NEXT: %[[Y:.*]] = moe.scatter_columns %[[SP2]] into %[[LR2]] columns(%[[DC]]) offsets(%[[OFF]]) {unique_columns} : (tensor<?x2xf32>, tensor<?x3xf32>, tensor<2x2xi32>, tensor<3xi64>) -> tensor<?x3xf32>
// STACKED-NEXT: return %[[Y]]

// SKIP: remark: compressed experts (rank 1, keep-fraction 0.5); up: 96 -> 120 bytes, error 0.0727393, skipped (saves no more than min-saving 0); down: 96 -> 136 bytes, error 0, skipped (saves no more than min-saving 0)
// SKIP: moe.experts
// SKIP-NOT: moe.grouped_matmul

// PARTIAL: remark: compressed experts (rank 1, keep-fraction 0.25); up: 96 -> 88 bytes, error {{.*}}; down: 96 -> 96 bytes, error {{.*}}, skipped
// PARTIAL: %[[T:.*]] = moe.grouped_matmul %{{.*}} -> tensor<?x1xf32>
// PARTIAL: moe.scatter_columns {{.*}} -> tensor<?x4xf32>
// PARTIAL-NEXT: %[[A:.*]] = moe.activation
// PARTIAL-NEXT: moe.grouped_matmul %[[A]], %{{.*}} offsets(%{{.*}}) bias(%{{.*}}) {transpose_rhs} : (tensor<?x4xf32>, tensor<2x3x4xf32>, tensor<3xi64>, tensor<2x3xf32>) -> tensor<?x3xf32>

//--- stacked.mlir
func.func @stacked(%rows: tensor<?x3xf32>, %off: tensor<3xi64>) -> tensor<?x3xf32> {
  %up = arith.constant dense<[[[4.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 2.0], [0.0, 0.0, 0.0]],
                              [[4.0, 0.0, 0.0], [0.0, 0.0, 3.0], [0.0, 1.0, 0.0], [0.0, 0.5, 0.0]]]> : tensor<2x4x3xf32>
  %down = arith.constant dense<[[[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 4.0]],
                                [[0.0, 0.0, 0.0, 0.0], [0.0, 4.0, 0.0, 0.0], [0.0, 0.0, 2.0, 0.0]]]> : tensor<2x3x4xf32>
  %bu = arith.constant dense<[[0.1, 0.2, 0.3, 0.4], [0.5, 0.6, 0.7, 0.8]]> : tensor<2x4xf32>
  %bd = arith.constant dense<[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]> : tensor<2x3xf32>
  %y = moe.experts %rows, %off weights(%up, %down) biases(%bu, %bd)
      {activation = #moe.activation<relu>, transposed_weights}
      : (tensor<?x3xf32>, tensor<3xi64>, tensor<2x4x3xf32>, tensor<2x3x4xf32>, tensor<2x4xf32>, tensor<2x3xf32>) -> tensor<?x3xf32>
  return %y : tensor<?x3xf32>
}

// Heterogeneous experts ([in, out] weights of widths 2 and 4): per-expert
// factors; expert 0 keeps ceil(0.5 * 2) = 1 row of its up residual, expert 1
// keeps 2, so expert 0's column list is padded with -1 (and its S with a
// zero column).
// HETERO: remark: compressed experts (rank 1, keep-fraction 0.5); up: 72 -> 96 bytes, error {{.*}}; down: 72 -> 112 bytes, error {{.*}}
// HETERO-DAG: %[[R0:.*]] = arith.constant dense<{{.*}}> : tensor<3x1xf32>
// HETERO-DAG: %[[L0:.*]] = arith.constant dense<{{.*}}> : tensor<1x2xf32>
// HETERO-DAG: %[[S0:.*]] = arith.constant dense<{{\[\[}}{{[^,]*}}, 0.000000e+00], [{{[^,]*}}, 0.000000e+00], [{{[^,]*}}, 0.000000e+00]]> : tensor<3x2xf32>
// HETERO-DAG: %[[R1:.*]] = arith.constant dense<{{.*}}> : tensor<3x1xf32>
// HETERO-DAG: %[[L1:.*]] = arith.constant dense<{{.*}}> : tensor<1x4xf32>
// HETERO-DAG: %[[S1:.*]] = arith.constant dense<{{.*}}> : tensor<3x2xf32>
// HETERO-DAG: %[[UC:.*]] = arith.constant dense<{{\[\[}}{{[0-1]}}, -1], [{{[0-3]}}, {{[0-3]}}]]> : tensor<2x2xi32>
// HETERO-DAG: %[[DR1:.*]] = arith.constant dense<{{.*}}> : tensor<4x1xf32>
// HETERO-DAG: %[[DS1:.*]] = arith.constant dense<{{.*}}> : tensor<4x2xf32>
// HETERO: %[[T:.*]] = moe.grouped_matmul %{{.*}}, %[[R0]], %[[R1]] offsets(%{{.*}}) : (tensor<?x3xf32>, tensor<3x1xf32>, tensor<3x1xf32>, tensor<3xi64>) -> tensor<?x1xf32>
// HETERO-NEXT: %[[LR:.*]] = moe.grouped_matmul %[[T]], %[[L0]], %[[L1]] offsets(%{{.*}}) : (tensor<?x1xf32>, tensor<1x2xf32>, tensor<1x4xf32>, tensor<3xi64>) -> tensor<?x4xf32>
// HETERO-NEXT: %[[SP:.*]] = moe.grouped_matmul %{{.*}}, %[[S0]], %[[S1]] offsets(%{{.*}}) : (tensor<?x3xf32>, tensor<3x2xf32>, tensor<3x2xf32>, tensor<3xi64>) -> tensor<?x2xf32>
// HETERO-NEXT: %[[H:.*]] = moe.scatter_columns %[[SP]] into %[[LR]] columns(%[[UC]])
// HETERO-NEXT: %[[A:.*]] = moe.activation %[[H]] offsets(%{{.*}}) {activation = #moe.activation<gelu>, widths = array<i64: 2, 4>}
// HETERO-NEXT: moe.grouped_matmul %[[A]], %{{.*}}, %[[DR1]] offsets(%{{.*}}) : (tensor<?x4xf32>, tensor<2x1xf32>, tensor<4x1xf32>, tensor<3xi64>) -> tensor<?x1xf32>
// HETERO-NEXT: moe.grouped_matmul
// HETERO-NEXT: moe.grouped_matmul %[[A]], %{{.*}}, %[[DS1]] offsets(%{{.*}}) : (tensor<?x4xf32>, tensor<2x2xf32>, tensor<4x2xf32>, tensor<3xi64>) -> tensor<?x2xf32>
// HETERO-NEXT: moe.scatter_columns {{.*}} -> tensor<?x3xf32>

//--- hetero.mlir
func.func @hetero(%rows: tensor<?x3xf32>, %off: tensor<3xi64>) -> tensor<?x3xf32> {
  %u0 = arith.constant dense<[[1.8, 1.32], [0.36, -1.21], [-0.0, 0.66]]> : tensor<3x2xf32>
  %d0 = arith.constant dense<[[1.58, 1.32, 0.63], [-2.2, 0.05, 0.68]]> : tensor<2x3xf32>
  %u1 = arith.constant dense<[[-1.29, 0.4, 0.43, 0.7], [-1.18, -0.66, -0.44, -1.17], [1.74, -0.5, 0.33, -0.26]]> : tensor<3x4xf32>
  %d1 = arith.constant dense<[[1.0, -0.62, 1.82], [-1.32, -0.66, 0.94], [0.05, 2.0, 0.19], [-0.63, -0.38, -1.09]]> : tensor<4x3xf32>
  %y = moe.experts %rows, %off weights(%u0, %d0, %u1, %d1) {activation = #moe.activation<gelu>}
      : (tensor<?x3xf32>, tensor<3xi64>, tensor<3x2xf32>, tensor<2x3xf32>, tensor<3x4xf32>, tensor<4x3xf32>) -> tensor<?x3xf32>
  return %y : tensor<?x3xf32>
}

// bf16 resources, down stage only, low rank only: the new weights are bf16
// resources named after the old one, the up stage keeps its weight and
// layout.
// BF16: remark: compressed experts (rank 1, keep-fraction 0); down: 48 -> 28 bytes, error {{.*}}
// BF16-DAG: %[[UP:.*]] = onnx.constant dense_resource<up> : tensor<2x4x3xbf16>
// BF16-DAG: %[[R:.*]] = onnx.constant dense_resource<down.lowrank_r> : tensor<2x4x1xbf16>
// BF16-DAG: %[[L:.*]] = onnx.constant dense_resource<down.lowrank_l> : tensor<2x1x3xbf16>
// BF16: %[[H:.*]] = moe.grouped_matmul %{{.*}}, %[[UP]] offsets(%{{.*}}) {transpose_rhs} : (tensor<?x3xbf16>, tensor<2x4x3xbf16>, tensor<3xi64>) -> tensor<?x4xbf16>
// BF16-NEXT: %[[A:.*]] = moe.activation %[[H]]
// BF16-NEXT: %[[T:.*]] = moe.grouped_matmul %[[A]], %[[R]] offsets(%{{.*}}) : (tensor<?x4xbf16>, tensor<2x4x1xbf16>, tensor<3xi64>) -> tensor<?x1xbf16>
// BF16-NEXT: %[[Y:.*]] = moe.grouped_matmul %[[T]], %[[L]] offsets(%{{.*}}) : (tensor<?x1xbf16>, tensor<2x1x3xbf16>, tensor<3xi64>) -> tensor<?x3xbf16>
// BF16-NEXT: return %[[Y]]
// BF16-NOT: dense_resource<down>

//--- bf16.mlir
func.func @bf16(%rows: tensor<?x3xbf16>, %off: tensor<3xi64>) -> tensor<?x3xbf16> {
  %up = onnx.constant dense_resource<up> : tensor<2x4x3xbf16>
  %down = onnx.constant dense_resource<down> : tensor<2x3x4xbf16>
  %y = moe.experts %rows, %off weights(%up, %down) {activation = #moe.activation<silu>, transposed_weights}
      : (tensor<?x3xbf16>, tensor<3xi64>, tensor<2x4x3xbf16>, tensor<2x3x4xbf16>) -> tensor<?x3xbf16>
  return %y : tensor<?x3xbf16>
}
{-#
  dialect_resources: {
    builtin: {
      up: "0x02000000803E80BE403F000000BF803EA03F803F40BFA0BF00BF000010C080BEA0BF40BF00BF80BE003F803F80BEA03F40BF803E",
      down: "0x02000000803F000040BF80BF00BF803E80BF80BE80BE003F803E803E40BF80BE403FC03FA0BFC03FA03F403F803E80BEC03F0040"
    }
  }
#-}

// Separate gate and up (stages=up): each is its own W; down is untouched.
// SEPARATE: remark: compressed experts (rank 1, keep-fraction 0.25); gate: {{.*}}; up: {{.*}} bytes, error {{[^;]*}}{{$}}
// SEPARATE: moe.grouped_matmul {{.*}} -> tensor<?x1xf32>
// SEPARATE: moe.scatter_columns {{.*}} : (tensor<?x1xf32>, tensor<?x4xf32>, tensor<2x1xi32>, tensor<3xi64>) -> tensor<?x4xf32>
// SEPARATE: moe.grouped_matmul {{.*}} -> tensor<?x1xf32>
// SEPARATE: moe.scatter_columns {{.*}} : (tensor<?x1xf32>, tensor<?x4xf32>, tensor<2x1xi32>, tensor<3xi64>) -> tensor<?x4xf32>
// SEPARATE: moe.activation %{{.*}}, %{{.*}} {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<separate>}
// SEPARATE-NEXT: moe.grouped_matmul %{{.*}}, %{{.*}} offsets(%{{.*}}) : (tensor<?x4xf32>, tensor<2x4x3xf32>, tensor<3xi64>) -> tensor<?x3xf32>

//--- separate.mlir
func.func @separate(%rows: tensor<?x3xf32>, %off: tensor<3xi64>) -> tensor<?x3xf32> {
  %g = arith.constant dense<[[[1.8, 1.32, 0.5, 0.1], [0.36, -1.21, 0.2, 0.3], [-0.1, 0.66, 0.7, -0.4]],
                             [[-1.29, 0.4, 0.43, 0.7], [-1.18, -0.66, -0.44, -1.17], [1.74, -0.5, 0.33, -0.26]]]> : tensor<2x3x4xf32>
  %u = arith.constant dense<[[[1.0, -0.62, 1.82, 0.3], [-1.32, -0.66, 0.94, 0.1], [0.05, 2.0, 0.19, 0.2]],
                             [[-0.63, -0.38, -1.09, 0.4], [1.58, 1.32, 0.63, 0.5], [-2.2, 0.05, 0.68, 0.6]]]> : tensor<2x3x4xf32>
  %d = arith.constant dense<0.5> : tensor<2x4x3xf32>
  %y = moe.experts %rows, %off weights(%g, %u, %d)
      {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<separate>}
      : (tensor<?x3xf32>, tensor<3xi64>, tensor<2x3x4xf32>, tensor<2x3x4xf32>, tensor<2x4x3xf32>) -> tensor<?x3xf32>
  return %y : tensor<?x3xf32>
}
