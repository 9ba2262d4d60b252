// RUN: moe-opt %s --convert-onnx-to-linalg | FileCheck %s

// Gathers extract inside a linalg.generic over the result; scatters,
// NonZero and CumSum are scf.for nests carrying tensors through
// tensor.extract/insert, which one-shot bufferization turns into in-place
// loads and stores (the e2e tests run all of them through moe-run).

// CHECK-LABEL: func.func @constant_of_shape
// CHECK: %[[E:.*]] = tensor.extract %arg0[%{{.*}}] : tensor<2xi64>
// CHECK: %[[N:.*]] = arith.index_cast %[[E]] : i64 to index
// CHECK: %[[T:.*]] = tensor.empty(%[[N]]) : tensor<?x4xf32>
// CHECK: %[[V:.*]] = arith.constant 1.500000e+00 : f32
// CHECK: linalg.fill ins(%[[V]] : f32) outs(%[[T]] : tensor<?x4xf32>)
func.func @constant_of_shape(%s: tensor<2xi64>) -> tensor<?x4xf32> {
  %0 = onnx.node "ConstantOfShape"(%s) attributes {value = dense<1.5> : tensor<1xf32>} : (tensor<2xi64>) -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// OneHot: the depth dim is read from the depth input, negative indices
// wrap, and each slot selects on/off from the values input.
// CHECK-LABEL: func.func @one_hot
// CHECK: %[[D:.*]] = arith.index_cast %{{.*}} : i64 to index
// CHECK: tensor.empty(%{{.*}}, %[[D]]) : tensor<?x?xf32>
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel"]} ins(%arg0 : tensor<?xi64>)
// CHECK: arith.cmpi slt
// CHECK: arith.addi %{{.*}}, %[[D]]
// CHECK: %[[J:.*]] = linalg.index 1
// CHECK: arith.cmpi eq, %{{.*}}, %[[J]]
// CHECK: arith.select
func.func @one_hot(%i: tensor<?xi64>, %d: tensor<i64>, %v: tensor<2xf32>) -> tensor<?x?xf32> {
  %0 = onnx.node "OneHot"(%i, %d, %v) attributes {axis = -1 : i64} : (tensor<?xi64>, tensor<i64>, tensor<2xf32>) -> tensor<?x?xf32>
  return %0 : tensor<?x?xf32>
}

// NonZero: a reduction counts, then a row-major loop nest fills columns.
// CHECK-LABEL: func.func @non_zero
// CHECK: %[[C:.*]] = linalg.generic {{.*}} iterator_types = ["reduction", "reduction"]
// CHECK: arith.cmpf une
// CHECK: %[[N:.*]] = tensor.extract %[[C]][] : tensor<i64>
// CHECK: %[[NI:.*]] = arith.index_cast %[[N]] : i64 to index
// CHECK: tensor.empty(%[[NI]]) : tensor<2x?xi64>
// CHECK: scf.for
// CHECK: scf.for
// CHECK: scf.if
// CHECK: tensor.insert
// CHECK: tensor.insert
func.func @non_zero(%x: tensor<?x4xf32>) -> tensor<2x?xi64> {
  %0 = onnx.node "NonZero"(%x) : (tensor<?x4xf32>) -> tensor<2x?xi64>
  return %0 : tensor<2x?xi64>
}

// GatherElements reads data at the index along the axis, the loop index
// elsewhere.
// CHECK-LABEL: func.func @gather_elements
// CHECK: linalg.generic {{.*}} ins(%arg1 : tensor<?x2xi64>)
// CHECK: %[[I0:.*]] = linalg.index 0
// CHECK: tensor.extract %arg0[%[[I0]], %{{.*}}] : tensor<?x8xf32>
func.func @gather_elements(%d: tensor<?x8xf32>, %i: tensor<?x2xi64>) -> tensor<?x2xf32> {
  %0 = onnx.node "GatherElements"(%d, %i) attributes {axis = 1 : i64} : (tensor<?x8xf32>, tensor<?x2xi64>) -> tensor<?x2xf32>
  return %0 : tensor<?x2xf32>
}

// GatherND: the index tuple comes from the indices' last dim.
// CHECK-LABEL: func.func @gather_nd
// CHECK: %[[N:.*]] = tensor.dim %arg1, %{{.*}} : tensor<?x2xi64>
// CHECK: tensor.empty(%[[N]]) : tensor<?x16xf32>
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel"]} outs(
// CHECK: %[[R:.*]] = linalg.index 0
// CHECK: tensor.extract %arg1[%[[R]], %{{.*}}] : tensor<?x2xi64>
// CHECK: tensor.extract %arg1[%[[R]], %{{.*}}] : tensor<?x2xi64>
// CHECK: %[[J:.*]] = linalg.index 1
// CHECK: tensor.extract %arg0[%{{.*}}, %{{.*}}, %[[J]]] : tensor<4x?x16xf32>
func.func @gather_nd(%d: tensor<4x?x16xf32>, %i: tensor<?x2xi64>) -> tensor<?x16xf32> {
  %0 = onnx.node "GatherND"(%d, %i) attributes {batch_dims = 0 : i64} : (tensor<4x?x16xf32>, tensor<?x2xi64>) -> tensor<?x16xf32>
  return %0 : tensor<?x16xf32>
}

// Scatters loop over the updates, carrying the data tensor; "add" reads
// the old value first, none overwrites.
// CHECK-LABEL: func.func @scatter_elements_add
// CHECK: scf.for {{.*}} iter_args(%{{.*}} = %arg0) -> (tensor<?x8xf32>)
// CHECK: scf.for
// CHECK: %[[U:.*]] = tensor.extract %arg2
// CHECK: %[[OLD:.*]] = tensor.extract %{{.*}}[%{{.*}}, %{{.*}}] : tensor<?x8xf32>
// CHECK: %[[S:.*]] = arith.addf %[[OLD]], %[[U]]
// CHECK: tensor.insert %[[S]]
func.func @scatter_elements_add(%d: tensor<?x8xf32>, %i: tensor<?x8xi64>, %u: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %0 = onnx.node "ScatterElements"(%d, %i, %u) attributes {axis = 0 : i64, reduction = "add"} : (tensor<?x8xf32>, tensor<?x8xi64>, tensor<?x8xf32>) -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}

// CHECK-LABEL: func.func @scatter_nd
// CHECK: scf.for {{.*}} iter_args(%{{.*}} = %arg0) -> (tensor<?x16xf32>)
// CHECK: %[[U:.*]] = tensor.extract %arg2
// CHECK: tensor.extract %arg1
// CHECK-NOT: arith.addf
// CHECK: tensor.insert %[[U]]
func.func @scatter_nd(%d: tensor<?x16xf32>, %i: tensor<?x1xi64>, %u: tensor<?x16xf32>) -> tensor<?x16xf32> {
  %0 = onnx.node "ScatterND"(%d, %i, %u) : (tensor<?x16xf32>, tensor<?x1xi64>, tensor<?x16xf32>) -> tensor<?x16xf32>
  return %0 : tensor<?x16xf32>
}

// CumSum: a sequential loop along the axis carries the running sum;
// exclusive writes the sum before adding, reverse walks from the end.
// CHECK-LABEL: func.func @cumsum
// CHECK: scf.for
// CHECK: scf.for {{.*}} iter_args(%{{.*}} = %{{.*}}, %[[ACC:.*]] = %{{.*}}) -> (tensor<?x4xi64>, i64)
// CHECK: arith.subi
// CHECK: %[[X:.*]] = tensor.extract %arg0
// CHECK: arith.addi %[[ACC]], %[[X]] : i64
// CHECK: tensor.insert %[[ACC]]
func.func @cumsum(%x: tensor<?x4xi64>) -> tensor<?x4xi64> {
  %a = onnx.constant dense<0> : tensor<i64>
  %0 = onnx.node "CumSum"(%x, %a) attributes {exclusive = 1 : i64, reverse = 1 : i64} : (tensor<?x4xi64>, tensor<i64>) -> tensor<?x4xi64>
  return %0 : tensor<?x4xi64>
}

// Split into equal parts: ceil(dim / n) each, the last one what remains.
// CHECK-LABEL: func.func @split
// CHECK: arith.ceildivui
// CHECK: tensor.extract_slice %arg0[0, 0] [3, %{{.*}}] [1, 1] : tensor<3x?xf32> to tensor<3x?xf32>
// CHECK: tensor.extract_slice %arg0[0, %{{.*}}] [3, %{{.*}}] [1, 1] : tensor<3x?xf32> to tensor<3x?xf32>
func.func @split(%x: tensor<3x?xf32>) -> (tensor<3x?xf32>, tensor<3x?xf32>) {
  %0:2 = onnx.node "Split"(%x) attributes {axis = 1 : i64, num_outputs = 2 : i64} : (tensor<3x?xf32>) -> (tensor<3x?xf32>, tensor<3x?xf32>)
  return %0#0, %0#1 : tensor<3x?xf32>, tensor<3x?xf32>
}

// Tile reads the input at the output index modulo its dims.
// CHECK-LABEL: func.func @tile
// CHECK: linalg.generic
// CHECK: arith.remui
// CHECK: arith.remui
// CHECK: tensor.extract %arg0
func.func @tile(%x: tensor<?x4xf32>, %r: tensor<2xi64>) -> tensor<?x?xf32> {
  %0 = onnx.node "Tile"(%x, %r) : (tensor<?x4xf32>, tensor<2xi64>) -> tensor<?x?xf32>
  return %0 : tensor<?x?xf32>
}
