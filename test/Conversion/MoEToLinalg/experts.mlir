// RUN: moe-opt %s --convert-moe-to-linalg -split-input-file | FileCheck %s

// Stacked experts: a loop over experts, each matmul reading only its rows
// offsets[e] .. offsets[e+1] and its expert's weight slice.
// CHECK-LABEL: func.func @stacked_gated
// CHECK: scf.for %[[E:.*]] = %{{.*}} to %{{.*}} step %{{.*}} iter_args(%[[ACC:.*]] = %{{.*}}) -> (tensor<?x32xf32>)
// CHECK:   %[[W:.*]] = tensor.extract_slice %{{.*}}[%[[E]], 0, 0] [1, 16, 32] [1, 1, 1] : tensor<4x16x32xf32> to tensor<16x32xf32>
// CHECK:   %[[LO:.*]] = arith.index_cast %{{.*}} : i64 to index
// CHECK:   %[[HI:.*]] = arith.index_cast %{{.*}} : i64 to index
// CHECK:   %[[N:.*]] = arith.subi %[[HI]], %[[LO]] : index
// CHECK:   %[[A:.*]] = tensor.extract_slice %{{.*}}[%[[LO]], 0] [%[[N]], 16] [1, 1]
// CHECK:   %[[Y:.*]] = linalg.matmul ins(%[[A]], %[[W]] : tensor<?x16xf32>, tensor<16x32xf32>)
// CHECK:   tensor.insert_slice %[[Y]] into %[[ACC]][%[[LO]], 0] [%[[N]], 32] [1, 1]
// The separate-layout SwiGLU: silu(g) * u, element-wise.
// CHECK: linalg.generic {{.*}} ins(%{{.*}}, %{{.*}} : tensor<?x32xf32>, tensor<?x32xf32>)
// CHECK:   math.exp
// CHECK:   arith.mulf
// CHECK-NOT: moe.
func.func @stacked_gated(%rows: tensor<?x16xf32>, %off: tensor<5xi64>,
    %wg: tensor<4x16x32xf32>, %wu: tensor<4x16x32xf32>, %wd: tensor<4x32x16xf32>)
    -> tensor<?x16xf32> {
  %y = moe.experts %rows, %off weights(%wg, %wu, %wd)
      {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<separate>}
      : (tensor<?x16xf32>, tensor<5xi64>, tensor<4x16x32xf32>, tensor<4x16x32xf32>,
         tensor<4x32x16xf32>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// -----

// Transposed weights read w[j, k] (a linalg.matmul with a transposed map);
// the stacked bias of expert e initializes its output slice.
// CHECK-DAG: #[[A:.*]] = affine_map<(d0, d1, d2) -> (d0, d2)>
// CHECK-DAG: #[[WT:.*]] = affine_map<(d0, d1, d2) -> (d1, d2)>
// CHECK-DAG: #[[C:.*]] = affine_map<(d0, d1, d2) -> (d0, d1)>
// CHECK-LABEL: func.func @transposed_bias
// CHECK: %[[B:.*]] = tensor.extract_slice %{{.*}}[%{{.*}}, 0] [1, 6] [1, 1] : tensor<2x6xf32> to tensor<6xf32>
// CHECK: %[[INIT:.*]] = linalg.generic {{.*}} ins(%[[B]] : tensor<6xf32>)
// CHECK: linalg.matmul indexing_maps = [#[[A]], #[[WT]], #[[C]]] ins(%{{.*}}, %{{.*}} : tensor<?x4xf32>, tensor<6x4xf32>) outs(%[[INIT]] : tensor<?x6xf32>)
func.func @transposed_bias(%a: tensor<5x4xf32>, %off: tensor<3xi64>,
                           %w: tensor<2x6x4xf32>, %b: tensor<2x6xf32>) -> tensor<5x6xf32> {
  %y = moe.grouped_matmul %a, %w offsets(%off) bias(%b) {transpose_rhs}
      : (tensor<5x4xf32>, tensor<2x6x4xf32>, tensor<3xi64>, tensor<2x6xf32>) -> tensor<5x6xf32>
  return %y : tensor<5x6xf32>
}

// -----

// group_extents: each group's own block of the stacked (here [out, in])
// matrices and of its bias, into its own columns, like groups of different
// shapes.
// CHECK-LABEL: func.func @group_extents
// CHECK: %[[W0:.*]] = tensor.extract_slice %[[W:[a-z0-9_]*]][0, 0, 0] [1, 2, 3] [1, 1, 1] : tensor<2x6x4xf32> to tensor<2x3xf32>
// CHECK: %[[B0:.*]] = tensor.extract_slice %[[B:[a-z0-9_]*]][0, 0] [1, 2] [1, 1] : tensor<2x6xf32> to tensor<2xf32>
// CHECK: tensor.extract_slice %{{.*}}[%{{.*}}, 0] [%{{.*}}, 3] [1, 1] : tensor<5x4xf32> to tensor<?x3xf32>
// CHECK: linalg.matmul {{.*}} ins(%{{.*}}, %[[W0]] : tensor<?x3xf32>, tensor<2x3xf32>) outs(%{{.*}} : tensor<?x2xf32>)
// CHECK: tensor.insert_slice %{{.*}} into %{{.*}}[%{{.*}}, 0] [%{{.*}}, 2] [1, 1] : tensor<?x2xf32> into tensor<5x6xf32>
// CHECK: %[[W1:.*]] = tensor.extract_slice %[[W]][1, 0, 0] [1, 6, 4] [1, 1, 1] : tensor<2x6x4xf32> to tensor<6x4xf32>
// CHECK: tensor.extract_slice %[[B]][1, 0] [1, 6] [1, 1] : tensor<2x6xf32> to tensor<6xf32>
// CHECK: linalg.matmul {{.*}} ins(%{{.*}}, %[[W1]] : tensor<?x4xf32>, tensor<6x4xf32>) outs(%{{.*}} : tensor<?x6xf32>)
func.func @group_extents(%a: tensor<5x4xf32>, %off: tensor<3xi64>,
                         %w: tensor<2x6x4xf32>, %b: tensor<2x6xf32>) -> tensor<5x6xf32> {
  %y = moe.grouped_matmul %a, %w offsets(%off) bias(%b) {transpose_rhs, group_extents = array<i64: 3, 2, 4, 6>}
      : (tensor<5x4xf32>, tensor<2x6x4xf32>, tensor<3xi64>, tensor<2x6xf32>) -> tensor<5x6xf32>
  return %y : tensor<5x6xf32>
}

// -----

// Heterogeneous groups are unrolled: each reads its own columns, writes its
// own width, and the interleaved gate/up maps are (r, 2i) and (r, 2i + 1).
// CHECK-DAG: #[[EVEN:.*]] = affine_map<(d0, d1) -> (d0, d1 * 2)>
// CHECK-DAG: #[[ODD:.*]] = affine_map<(d0, d1) -> (d0, d1 * 2 + 1)>
// CHECK-LABEL: func.func @heterogeneous_activation
// CHECK: tensor.extract_slice %{{.*}}[%{{.*}}, 0] [%{{.*}}, 4] [1, 1] : tensor<?x8xf32> to tensor<?x4xf32>
// CHECK: linalg.generic {indexing_maps = [#[[EVEN]], #[[ODD]], #{{.*}}]{{.*}} outs(%{{.*}} : tensor<?x2xf32>)
// CHECK: tensor.insert_slice %{{.*}} into %{{.*}}[%{{.*}}, 0] [%{{.*}}, 2] [1, 1]
// CHECK: tensor.extract_slice %{{.*}}[%{{.*}}, 0] [%{{.*}}, 8] [1, 1] : tensor<?x8xf32> to tensor<?x8xf32>
// CHECK: linalg.generic {indexing_maps = [#[[EVEN]], #[[ODD]], #{{.*}}]{{.*}} outs(%{{.*}} : tensor<?x4xf32>)
// CHECK: tensor.insert_slice %{{.*}} into %{{.*}}[%{{.*}}, 0] [%{{.*}}, 4] [1, 1]
func.func @heterogeneous_activation(%h: tensor<?x8xf32>, %off: tensor<3xi32>) -> tensor<?x4xf32> {
  %a = moe.activation %h offsets(%off)
      {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<interleaved>,
       widths = array<i64: 2, 4>, alpha = 1.702 : f64, beta = 1.0 : f64, limit = 7.0 : f64}
      : (tensor<?x8xf32>, tensor<3xi32>) -> tensor<?x4xf32>
  return %a : tensor<?x4xf32>
}

// -----

// APA in its stable form: exp(-(1/lambda) softplus(ln lambda - kappa z)).
// CHECK-LABEL: func.func @apa_bf16
// CHECK: linalg.generic
// CHECK:   arith.extf %{{.*}} : bf16 to f32
// CHECK:   math.log1p
// CHECK:   math.exp
// CHECK:   arith.truncf %{{.*}} : f32 to bf16
func.func @apa_bf16(%h: tensor<3x4xbf16>) -> tensor<3x4xbf16> {
  %a = moe.activation %h {activation = #moe.activation<apa>, kappa = 0.5 : f64, lambda = 2.0 : f64}
      : (tensor<3x4xbf16>) -> tensor<3x4xbf16>
  return %a : tensor<3x4xbf16>
}

// -----

// moe.scatter_columns: per group, its rows of each kept column (index >= 0)
// of the source are added into the indexed column of the accumulator.
// CHECK-LABEL: func.func @scatter_columns
// CHECK: scf.for %[[E:.*]] = %{{.*}} to %{{.*}} step %{{.*}} iter_args(%[[ACC:.*]] = %{{.*}}) -> (tensor<?x8xf32>)
// CHECK:   %[[N:.*]] = arith.subi
// CHECK:   scf.for %[[J:.*]] = %{{.*}} to %{{.*}} step %{{.*}} iter_args(%[[ACC2:.*]] = %[[ACC]]) -> (tensor<?x8xf32>)
// CHECK:     %[[RAW:.*]] = tensor.extract %{{.*}}[%[[E]], %[[J]]] : tensor<2x3xi32>
// CHECK:     %[[KEPT:.*]] = arith.cmpi sge, %[[RAW]], %{{.*}} : i32
// CHECK:     scf.if %[[KEPT]] -> (tensor<?x8xf32>)
// CHECK:       %[[C:.*]] = arith.index_cast %[[RAW]] : i32 to index
// CHECK:       %[[SRC:.*]] = tensor.extract_slice %{{.*}}[%{{.*}}, %[[J]]] [%[[N]], 1] [1, 1]
// CHECK:       %[[DST:.*]] = tensor.extract_slice %[[ACC2]][%{{.*}}, %[[C]]] [%[[N]], 1] [1, 1]
// CHECK:       %[[SUM:.*]] = linalg.generic {{.*}} ins(%[[SRC]] : tensor<?x1xf32>) outs(%[[DST]] : tensor<?x1xf32>)
// CHECK:         arith.addf
// CHECK:       tensor.insert_slice %[[SUM]] into %[[ACC2]][%{{.*}}, %[[C]]] [%[[N]], 1] [1, 1]
// CHECK:     } else {
// CHECK:       scf.yield %[[ACC2]]
// CHECK-NOT: moe.
func.func @scatter_columns(%s: tensor<?x3xf32>, %d: tensor<?x8xf32>, %off: tensor<3xi64>) -> tensor<?x8xf32> {
  %c = arith.constant dense<[[0, 5, 7], [2, -1, -1]]> : tensor<2x3xi32>
  %0 = moe.scatter_columns %s into %d columns(%c) offsets(%off)
      : (tensor<?x3xf32>, tensor<?x8xf32>, tensor<2x3xi32>, tensor<3xi64>) -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}

// -----

// Column panels [E, M / P, K, P]: per group, a loop over the panels, each a
// [rows, K] x [K, P] matmul into the panel's columns of the group's rows,
// initialized with the panel's slice of the bias.
// CHECK-LABEL: func.func @panels
// CHECK: scf.for %[[E:.*]] = %{{.*}} to %{{.*}} step %{{.*}} iter_args(%[[ACC:.*]] = %{{.*}}) -> (tensor<?x192xf32>)
// CHECK:   %[[LO:.*]] = arith.index_cast %{{.*}} : i64 to index
// CHECK:   %[[HI:.*]] = arith.index_cast %{{.*}} : i64 to index
// CHECK:   %[[N:.*]] = arith.subi %[[HI]], %[[LO]] : index
// CHECK:   %[[A:.*]] = tensor.extract_slice %{{.*}}[%[[LO]], 0] [%[[N]], 32] [1, 1]
// CHECK:   %[[C3:.*]] = arith.constant 3 : index
// CHECK:   scf.for %[[P:.*]] = %{{.*}} to %[[C3]] step %{{.*}} iter_args(%[[PACC:.*]] = %[[ACC]]) -> (tensor<?x192xf32>)
// CHECK:     %[[C64:.*]] = arith.constant 64 : index
// CHECK:     %[[COL:.*]] = arith.muli %[[P]], %[[C64]] : index
// CHECK:     %[[OUT:.*]] = tensor.extract_slice %[[PACC]][%[[LO]], %[[COL]]] [%[[N]], 64] [1, 1]
// CHECK:     %[[W:.*]] = tensor.extract_slice %{{.*}}[%[[E]], %[[P]], 0, 0] [1, 1, 32, 64] [1, 1, 1, 1] : tensor<2x3x32x64xf32> to tensor<32x64xf32>
// CHECK:     %[[B:.*]] = tensor.extract_slice %{{.*}}[%[[E]], %[[COL]]] [1, 64] [1, 1] : tensor<2x192xf32> to tensor<64xf32>
// CHECK:     %[[INIT:.*]] = linalg.generic {{.*}} ins(%[[B]] : tensor<64xf32>) outs(%[[OUT]] : tensor<?x64xf32>)
// CHECK:     %[[Y:.*]] = linalg.matmul ins(%[[A]], %[[W]] : tensor<?x32xf32>, tensor<32x64xf32>) outs(%[[INIT]] : tensor<?x64xf32>)
// CHECK:     tensor.insert_slice %[[Y]] into %[[PACC]][%[[LO]], %[[COL]]] [%[[N]], 64] [1, 1]
func.func @panels(%a: tensor<?x32xf32>, %off: tensor<3xi64>,
                  %w: tensor<2x3x32x64xf32>, %b: tensor<2x192xf32>) -> tensor<?x192xf32> {
  %y = moe.grouped_matmul %a, %w offsets(%off) bias(%b) {panels}
      : (tensor<?x32xf32>, tensor<2x3x32x64xf32>, tensor<3xi64>, tensor<2x192xf32>) -> tensor<?x192xf32>
  return %y : tensor<?x192xf32>
}

// -----

// One panel stack [M / P, K, P] per group: the groups are unrolled, each
// with its loop over its own panels.
// CHECK-LABEL: func.func @panels_per_group
// CHECK-SAME: %[[W0:[^:]*]]: tensor<2x32x64xf32>, %[[W1:[^:]*]]: tensor<2x32x64xf32>)
// CHECK: scf.for %[[P0:.*]] = %{{.*}} to %{{.*}} step %{{.*}} iter_args
// CHECK:   tensor.extract_slice %[[W0]][%[[P0]], 0, 0] [1, 32, 64] [1, 1, 1] : tensor<2x32x64xf32> to tensor<32x64xf32>
// CHECK:   linalg.matmul
// CHECK: scf.for %[[P1:.*]] = %{{.*}} to %{{.*}} step %{{.*}} iter_args
// CHECK:   tensor.extract_slice %[[W1]][%[[P1]], 0, 0] [1, 32, 64] [1, 1, 1] : tensor<2x32x64xf32> to tensor<32x64xf32>
// CHECK:   linalg.matmul
// CHECK-NOT: scf.for
func.func @panels_per_group(%a: tensor<?x32xf32>, %off: tensor<3xi64>,
                            %w0: tensor<2x32x64xf32>, %w1: tensor<2x32x64xf32>) -> tensor<?x128xf32> {
  %y = moe.grouped_matmul %a, %w0, %w1 offsets(%off) {panels}
      : (tensor<?x32xf32>, tensor<2x32x64xf32>, tensor<2x32x64xf32>, tensor<3xi64>) -> tensor<?x128xf32>
  return %y : tensor<?x128xf32>
}

// -----

// A gated activation of two panel projections (one lhs, offsets and panel
// shape) that nothing else reads runs panel by panel: per group and panel,
// the gate and up blocks are multiplied into zero-filled buffers of their
// own (alloc_tensor, which CSE keeps apart), and the activation writes the
// panel's columns of the result. The [rows, M] projections never exist.
// CHECK-LABEL: func.func @gated_panels
// CHECK: scf.for %[[E:.*]] = {{.*}} iter_args(%[[ACC:.*]] = %{{.*}}) -> (tensor<?x128xf32>)
// CHECK:   scf.for %[[P:.*]] = {{.*}} iter_args(%[[PACC:.*]] = %[[ACC]]) -> (tensor<?x128xf32>)
// CHECK:     %[[GBUF:.*]] = bufferization.alloc_tensor(%{{.*}}) : tensor<?x64xf32>
// CHECK:     %[[GZ:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%[[GBUF]] : tensor<?x64xf32>)
// CHECK:     %[[WG:.*]] = tensor.extract_slice %{{.*}}[%[[E]], %[[P]], 0, 0] [1, 1, 64, 64] [1, 1, 1, 1] : tensor<2x2x64x64xf32> to tensor<64x64xf32>
// CHECK:     %[[G:.*]] = linalg.matmul ins(%{{.*}}, %[[WG]] : {{.*}}) outs(%[[GZ]] : tensor<?x64xf32>)
// CHECK:     %[[UBUF:.*]] = bufferization.alloc_tensor(%{{.*}}) : tensor<?x64xf32>
// CHECK:     %[[UZ:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%[[UBUF]] : tensor<?x64xf32>)
// CHECK:     %[[U:.*]] = linalg.matmul ins(%{{.*}}, %{{.*}} : {{.*}}) outs(%[[UZ]] : tensor<?x64xf32>)
// CHECK:     %[[OUT:.*]] = tensor.extract_slice %[[PACC]]
// CHECK:     %[[H:.*]] = linalg.generic {{.*}} ins(%[[G]], %[[U]] : tensor<?x64xf32>, tensor<?x64xf32>) outs(%[[OUT]] : tensor<?x64xf32>)
// CHECK:       math.exp
// CHECK:     tensor.insert_slice %[[H]] into %[[PACC]]
// CHECK-NOT: moe.
func.func @gated_panels(%a: tensor<?x64xf32>, %off: tensor<3xi64>,
                        %wg: tensor<2x2x64x64xf32>, %wu: tensor<2x2x64x64xf32>) -> tensor<?x128xf32> {
  %g = moe.grouped_matmul %a, %wg offsets(%off) {panels}
      : (tensor<?x64xf32>, tensor<2x2x64x64xf32>, tensor<3xi64>) -> tensor<?x128xf32>
  %u = moe.grouped_matmul %a, %wu offsets(%off) {panels}
      : (tensor<?x64xf32>, tensor<2x2x64x64xf32>, tensor<3xi64>) -> tensor<?x128xf32>
  %h = moe.activation %g, %u {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<separate>}
      : (tensor<?x128xf32>, tensor<?x128xf32>) -> tensor<?x128xf32>
  return %h : tensor<?x128xf32>
}

// -----

// Projections of different inputs are lowered one by one, as they are.
// CHECK-LABEL: func.func @gated_panels_two_inputs
// CHECK-NOT: bufferization.alloc_tensor
// CHECK: return
func.func @gated_panels_two_inputs(%a: tensor<?x64xf32>, %b: tensor<?x64xf32>, %off: tensor<3xi64>,
                                   %wg: tensor<2x2x64x64xf32>, %wu: tensor<2x2x64x64xf32>) -> tensor<?x128xf32> {
  %g = moe.grouped_matmul %a, %wg offsets(%off) {panels}
      : (tensor<?x64xf32>, tensor<2x2x64x64xf32>, tensor<3xi64>) -> tensor<?x128xf32>
  %u = moe.grouped_matmul %b, %wu offsets(%off) {panels}
      : (tensor<?x64xf32>, tensor<2x2x64x64xf32>, tensor<3xi64>) -> tensor<?x128xf32>
  %h = moe.activation %g, %u {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<separate>}
      : (tensor<?x128xf32>, tensor<?x128xf32>) -> tensor<?x128xf32>
  return %h : tensor<?x128xf32>
}
