// RUN: moe-opt %s --split-input-file --allow-unregistered-dialect --moe-pack-parameters | FileCheck %s

#lhs = affine_map<(d0, d1, d2) -> (d0, d2)>
#rhs_t = affine_map<(d0, d1, d2) -> (d1, d2)>
#out = affine_map<(d0, d1, d2) -> (d0, d1)>

// A stacked [E, N, K] parameter whose experts are only read as transposed
// matmul operands is stored [E, K, N]: the slices take [K, N] matrices, the
// matmuls read them plainly, and the runner is told to permute the data.
// CHECK-LABEL: func.func @stacked(
// CHECK-SAME: %[[X:.*]]: tensor<?x4xf32>, %[[E:.*]]: index, %[[W:.*]]: tensor<2x4x3xf32>) -> tensor<?x3xf32>
// CHECK-SAME: moe.parameters = [{permutation = array<i64: 0, 2, 1>, value = dense_resource<w> : tensor<2x3x4xf32>}]
// CHECK: %[[S:.*]] = tensor.extract_slice %[[W]][%[[E]], 0, 0] [1, 4, 3] [1, 1, 1] : tensor<2x4x3xf32> to tensor<4x3xf32>
// CHECK: linalg.matmul ins(%[[X]], %[[S]] : tensor<?x4xf32>, tensor<4x3xf32>)
func.func @stacked(%x: tensor<?x4xf32>, %e: index, %w: tensor<2x3x4xf32>) -> tensor<?x3xf32>
    attributes {moe.parameters = [{value = dense_resource<w> : tensor<2x3x4xf32>}]} {
  %s = tensor.extract_slice %w[%e, 0, 0] [1, 3, 4] [1, 1, 1] : tensor<2x3x4xf32> to tensor<3x4xf32>
  %init = "test.init"() : () -> tensor<?x3xf32>
  %y = linalg.matmul indexing_maps = [#lhs, #rhs_t, #out]
      ins(%x, %s : tensor<?x4xf32>, tensor<3x4xf32>) outs(%init : tensor<?x3xf32>) -> tensor<?x3xf32>
  return %y : tensor<?x3xf32>
}

// -----

#lhs = affine_map<(d0, d1, d2) -> (d0, d2)>
#rhs_t = affine_map<(d0, d1, d2) -> (d1, d2)>
#out = affine_map<(d0, d1, d2) -> (d0, d1)>

// A [N, K] matrix read directly; only the parameters (the trailing
// arguments) are packed, and an already plain one is left alone.
// CHECK-LABEL: func.func @matrix(
// CHECK-SAME: %[[X:.*]]: tensor<?x4xf32>, %[[A:.*]]: tensor<3x4xf32>, %[[W:.*]]: tensor<4x3xf32>, %[[V:.*]]: tensor<4x3xf32>)
// CHECK-SAME: moe.parameters = [{permutation = array<i64: 1, 0>, value = dense<{{.*}}> : tensor<3x4xf32>}, {value = dense<{{.*}}> : tensor<4x3xf32>}]
// CHECK: linalg.matmul indexing_maps = {{.*}} ins(%[[X]], %[[A]] :
// CHECK: linalg.matmul ins(%[[X]], %[[W]] :
// CHECK: linalg.matmul ins(%[[X]], %[[V]] :
func.func @matrix(%x: tensor<?x4xf32>, %a: tensor<3x4xf32>, %w: tensor<3x4xf32>, %v: tensor<4x3xf32>) -> (tensor<?x3xf32>, tensor<?x3xf32>, tensor<?x3xf32>)
    attributes {moe.parameters = [{value = dense<[[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0], [9.0, 10.0, 11.0, 12.0]]> : tensor<3x4xf32>},
                                  {value = dense<[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0], [10.0, 11.0, 12.0]]> : tensor<4x3xf32>}]} {
  %init = "test.init"() : () -> tensor<?x3xf32>
  %y0 = linalg.matmul indexing_maps = [#lhs, #rhs_t, #out]
      ins(%x, %a : tensor<?x4xf32>, tensor<3x4xf32>) outs(%init : tensor<?x3xf32>) -> tensor<?x3xf32>
  %y1 = linalg.matmul indexing_maps = [#lhs, #rhs_t, #out]
      ins(%x, %w : tensor<?x4xf32>, tensor<3x4xf32>) outs(%init : tensor<?x3xf32>) -> tensor<?x3xf32>
  %y2 = linalg.matmul ins(%x, %v : tensor<?x4xf32>, tensor<4x3xf32>) outs(%init : tensor<?x3xf32>) -> tensor<?x3xf32>
  return %y0, %y1, %y2 : tensor<?x3xf32>, tensor<?x3xf32>, tensor<?x3xf32>
}

// -----

#lhs = affine_map<(d0, d1, d2) -> (d0, d2)>
#rhs_t = affine_map<(d0, d1, d2) -> (d1, d2)>
#out = affine_map<(d0, d1, d2) -> (d0, d1)>

// Any other reader keeps the layout: here the same weight is also read
// elementwise.
// CHECK-LABEL: func.func @mixed(
// CHECK-SAME: %{{.*}}: tensor<3x4xf32>)
// CHECK-SAME: moe.parameters = [{value = dense_resource<w> : tensor<3x4xf32>}]
// CHECK: linalg.matmul indexing_maps
func.func @mixed(%x: tensor<?x4xf32>, %w: tensor<3x4xf32>) -> tensor<?x3xf32>
    attributes {moe.parameters = [{value = dense_resource<w> : tensor<3x4xf32>}]} {
  %init = "test.init"() : () -> tensor<?x3xf32>
  %y = linalg.matmul indexing_maps = [#lhs, #rhs_t, #out]
      ins(%x, %w : tensor<?x4xf32>, tensor<3x4xf32>) outs(%init : tensor<?x3xf32>) -> tensor<?x3xf32>
  "test.use"(%w) : (tensor<3x4xf32>) -> ()
  return %y : tensor<?x3xf32>
}

// -----

// A parameter read only through a change of layout (moe-pack-panels'
// reshape + transpose into column panels) is stored changed: the argument
// takes the panels' type, the readers read it directly, and the entry's
// permutation maps the value read as [2, 64, 3, 64] onto it.
// CHECK-LABEL: func.func @panels(
// CHECK-SAME: %[[W:[^:]*]]: tensor<2x3x64x64xf32>) -> tensor<2x3x64x64xf32>
// CHECK-SAME: moe.parameters = [{permutation = array<i64: 0, 2, 1, 3>, value = dense_resource<w> : tensor<2x64x192xf32>}]
// CHECK-NOT: linalg.transpose
// CHECK-NOT: tensor.expand_shape
// CHECK: return %[[W]]
func.func @panels(%w: tensor<2x64x192xf32>) -> tensor<2x3x64x64xf32>
    attributes {moe.parameters = [{value = dense_resource<w> : tensor<2x64x192xf32>}]} {
  %x = tensor.expand_shape %w [[0], [1], [2, 3]] output_shape [2, 64, 3, 64]
      : tensor<2x64x192xf32> into tensor<2x64x3x64xf32>
  %init = tensor.empty() : tensor<2x3x64x64xf32>
  %p = linalg.transpose ins(%x : tensor<2x64x3x64xf32>) outs(%init : tensor<2x3x64x64xf32>) permutation = [0, 2, 1, 3]
  return %p : tensor<2x3x64x64xf32>
}

// -----

// A transpose of the parameter itself folds the same way.
// CHECK-LABEL: func.func @transpose(
// CHECK-SAME: %[[W:[^:]*]]: tensor<4x3xf32>) -> tensor<4x3xf32>
// CHECK-SAME: moe.parameters = [{permutation = array<i64: 1, 0>, value = dense_resource<w> : tensor<3x4xf32>}]
// CHECK-NOT: linalg.transpose
// CHECK: return %[[W]]
func.func @transpose(%w: tensor<3x4xf32>) -> tensor<4x3xf32>
    attributes {moe.parameters = [{value = dense_resource<w> : tensor<3x4xf32>}]} {
  %init = tensor.empty() : tensor<4x3xf32>
  %t = linalg.transpose ins(%w : tensor<3x4xf32>) outs(%init : tensor<4x3xf32>) permutation = [1, 0]
  return %t : tensor<4x3xf32>
}

// -----

// Not folded: the reshape has another reader, or the parameter is the
// transpose's destination.
// CHECK-LABEL: func.func @kept(
// CHECK-SAME: moe.parameters = [{value = dense_resource<b> : tensor<2x64x192xf32>}, {value = dense_resource<c> : tensor<4x3xf32>}]
// CHECK-COUNT-2: linalg.transpose
func.func @kept(%x: tensor<3x4xf32>, %b: tensor<2x64x192xf32>, %c: tensor<4x3xf32>)
    -> (tensor<2x3x64x64xf32>, tensor<4x3xf32>)
    attributes {moe.parameters = [{value = dense_resource<b> : tensor<2x64x192xf32>},
                                  {value = dense_resource<c> : tensor<4x3xf32>}]} {
  %xb = tensor.expand_shape %b [[0], [1], [2, 3]] output_shape [2, 64, 3, 64]
      : tensor<2x64x192xf32> into tensor<2x64x3x64xf32>
  %pinit = tensor.empty() : tensor<2x3x64x64xf32>
  %pb = linalg.transpose ins(%xb : tensor<2x64x3x64xf32>) outs(%pinit : tensor<2x3x64x64xf32>) permutation = [0, 2, 1, 3]
  "test.use"(%xb) : (tensor<2x64x3x64xf32>) -> ()
  %tc = linalg.transpose ins(%x : tensor<3x4xf32>) outs(%c : tensor<4x3xf32>) permutation = [1, 0]
  return %pb, %tc : tensor<2x3x64x64xf32>, tensor<4x3xf32>
}

// -----

#lhs = affine_map<(d0, d1, d2) -> (d0, d2)>
#rhs_t = affine_map<(d0, d1, d2) -> (d1, d2)>
#out = affine_map<(d0, d1, d2) -> (d0, d1)>

// A parameter also read otherwise (moe-pack-panels keeps the weight as it is
// for calls with few rows) is passed twice: the change of layout reads a new
// trailing parameter with the same value and the permutation, the other
// readers keep theirs (here packed transposed as usual).
// CHECK-LABEL: func.func @shared(
// CHECK-SAME: %[[X:[^:]*]]: tensor<?x64xf32>, %[[W:[^:]*]]: tensor<2x64x128xf32>, %[[P:[^:]*]]: tensor<2x2x64x64xf32>) -> (tensor<?x128xf32>, tensor<2x2x64x64xf32>)
// CHECK-SAME: moe.parameters = [{permutation = array<i64: 0, 2, 1>, value = dense_resource<w> : tensor<2x128x64xf32>}, {permutation = array<i64: 0, 1, 3, 2>, value = dense_resource<w> : tensor<2x128x64xf32>}]
// CHECK-NOT: linalg.transpose
// CHECK: tensor.extract_slice %[[W]][1, 0, 0] [1, 64, 128] [1, 1, 1] : tensor<2x64x128xf32> to tensor<64x128xf32>
// CHECK: return %{{.*}}, %[[P]]
func.func @shared(%x: tensor<?x64xf32>, %w: tensor<2x128x64xf32>) -> (tensor<?x128xf32>, tensor<2x2x64x64xf32>)
    attributes {moe.parameters = [{value = dense_resource<w> : tensor<2x128x64xf32>}]} {
  %s = tensor.extract_slice %w[1, 0, 0] [1, 128, 64] [1, 1, 1] : tensor<2x128x64xf32> to tensor<128x64xf32>
  %init = "test.init"() : () -> tensor<?x128xf32>
  %y = linalg.matmul indexing_maps = [#lhs, #rhs_t, #out]
      ins(%x, %s : tensor<?x64xf32>, tensor<128x64xf32>) outs(%init : tensor<?x128xf32>) -> tensor<?x128xf32>
  %e = tensor.expand_shape %w [[0], [1, 2], [3]] output_shape [2, 2, 64, 64]
      : tensor<2x128x64xf32> into tensor<2x2x64x64xf32>
  %pinit = tensor.empty() : tensor<2x2x64x64xf32>
  %p = linalg.transpose ins(%e : tensor<2x2x64x64xf32>) outs(%pinit : tensor<2x2x64x64xf32>) permutation = [0, 1, 3, 2]
  return %y, %p : tensor<?x128xf32>, tensor<2x2x64x64xf32>
}
