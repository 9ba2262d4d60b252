// RUN: moe-opt %s --onnx-infer-shapes=fold-known-ints=false | FileCheck %s

// CHECK-LABEL: func.func @reshape
func.func @reshape(%x: tensor<2x3x4xf32>, %d: tensor<?x?x8xf32>, %any: tensor<2xi64>) -> () {
  // 0 copies a dim, -1 takes the rest.
  %s = onnx.constant dense<[0, -1]> : tensor<2xi64>
  // CHECK: "Reshape"{{.*}} -> tensor<2x12xf32>
  %0 = onnx.node "Reshape"(%x, %s) : (tensor<2x3x4xf32>, tensor<2xi64>) -> !onnx.unknown
  // CHECK: "Flatten"{{.*}} -> tensor<6x4xf32>
  %1 = onnx.node "Flatten"(%x) attributes {axis = -1 : i64} : (tensor<2x3x4xf32>) -> !onnx.unknown
  // CHECK: "Flatten"{{.*}} -> tensor<?x8xf32>
  %2 = onnx.node "Flatten"(%d) attributes {axis = 2 : i64} : (tensor<?x?x8xf32>) -> !onnx.unknown
  // A shape computed from another tensor's shape: Shape -> Gather -> Concat.
  // CHECK: "Shape"{{.*}} -> tensor<3xi64>
  %shape = onnx.node "Shape"(%d) : (tensor<?x?x8xf32>) -> !onnx.unknown
  %i2 = onnx.constant dense<2> : tensor<1xi64>
  // CHECK: "Gather"{{.*}} -> tensor<1xi64>
  %last = onnx.node "Gather"(%shape, %i2) : (!onnx.unknown, tensor<1xi64>) -> !onnx.unknown
  %two = onnx.constant dense<2> : tensor<1xi64>
  // CHECK: "Div"{{.*}} -> tensor<1xi64>
  %half = onnx.node "Div"(%last, %two) : (!onnx.unknown, tensor<1xi64>) -> !onnx.unknown
  %lead = onnx.constant dense<[-1, 2]> : tensor<2xi64>
  // CHECK: "Concat"{{.*}} -> tensor<3xi64>
  %new = onnx.node "Concat"(%lead, %half) attributes {axis = 0 : i64} : (tensor<2xi64>, !onnx.unknown) -> !onnx.unknown
  // CHECK: "Reshape"{{.*}} -> tensor<?x2x4xf32>
  %3 = onnx.node "Reshape"(%d, %new) : (tensor<?x?x8xf32>, !onnx.unknown) -> !onnx.unknown
  // A shape that is not known: only the rank.
  // CHECK: "Reshape"{{.*}} -> tensor<?x?xf32>
  %4 = onnx.node "Reshape"(%x, %any) : (tensor<2x3x4xf32>, tensor<2xi64>) -> !onnx.unknown
  // Shape with start/end.
  // CHECK: "Shape"{{.*}} -> tensor<2xi64>
  %y = onnx.constant dense<0.0> : tensor<1x4x6xf32>
  %5 = onnx.node "Shape"(%y) attributes {start = 1 : i64} : (tensor<1x4x6xf32>) -> !onnx.unknown
  // CHECK: "Reshape"{{.*}} -> tensor<4x6xf32>
  %6 = onnx.node "Reshape"(%x, %5) attributes {allowzero = 1 : i64} : (tensor<2x3x4xf32>, !onnx.unknown) -> !onnx.unknown
  return
}

// CHECK-LABEL: func.func @squeeze_unsqueeze_opset13
module attributes {onnx.opset_import = {ai.onnx = 13 : i64}} {
func.func @squeeze_unsqueeze_opset13(%x: tensor<1x?x1x4xf32>, %s: tensor<4xf32>) -> () {
  %axes = onnx.constant dense<[0, -2]> : tensor<2xi64>
  // CHECK: "Squeeze"{{.*}} -> tensor<?x4xf32>
  %0 = onnx.node "Squeeze"(%x, %axes) : (tensor<1x?x1x4xf32>, tensor<2xi64>) -> !onnx.unknown
  // CHECK: "Unsqueeze"{{.*}} -> tensor<1x1x4xf32>
  %1 = onnx.node "Unsqueeze"(%s, %axes) : (tensor<4xf32>, tensor<2xi64>) -> !onnx.unknown
  // Without axes, a dynamic dim might be 1: the rank is unknown.
  // CHECK: "Squeeze"{{.*}} -> !onnx.unknown
  %2 = onnx.node "Squeeze"(%x) : (tensor<1x?x1x4xf32>) -> !onnx.unknown
  return
}
}

// Opset 11 keeps the axes in attributes.
// CHECK-LABEL: func.func @squeeze_unsqueeze_opset11
module attributes {onnx.opset_import = {ai.onnx = 11 : i64}} {
func.func @squeeze_unsqueeze_opset11(%x: tensor<1x?x1x4xf32>) -> () {
  // CHECK: "Squeeze"{{.*}} -> tensor<?x1x4xf32>
  %0 = onnx.node "Squeeze"(%x) attributes {axes = array<i64: 0>} : (tensor<1x?x1x4xf32>) -> !onnx.unknown
  // CHECK: "Unsqueeze"{{.*}} -> tensor<1x?x1x4x1xf32>
  %1 = onnx.node "Unsqueeze"(%0) attributes {axes = array<i64: 0, -1>} : (!onnx.unknown) -> !onnx.unknown
  // CHECK: "ReduceMean"{{.*}} -> tensor<1x?x1x1xf32>
  %2 = onnx.node "ReduceMean"(%x) attributes {axes = array<i64: -1>} : (tensor<1x?x1x4xf32>) -> !onnx.unknown
  %split = onnx.constant dense<[1, 3]> : tensor<2xi64>
  // CHECK: "Split"{{.*}} -> (tensor<1x?x1x1xf32>, tensor<1x?x1x3xf32>)
  %3:2 = onnx.node "Split"(%x) attributes {axis = 3 : i64, split = array<i64: 1, 3>} : (tensor<1x?x1x4xf32>) -> (!onnx.unknown, !onnx.unknown)
  // Clip's bounds became inputs in opset 11; the shape is the input's either way.
  %none = onnx.none
  %lo = onnx.constant dense<0.0> : tensor<f32>
  // CHECK: "Clip"{{.*}} -> tensor<1x?x1x4xf32>
  %4 = onnx.node "Clip"(%x, %lo, %none) : (tensor<1x?x1x4xf32>, tensor<f32>, none) -> !onnx.unknown
  return
}
}

// CHECK-LABEL: func.func @split_opset18
module attributes {onnx.opset_import = {ai.onnx = 18 : i64}} {
func.func @split_opset18(%x: tensor<7x2xf32>) -> () {
  // num_outputs with an uneven last part.
  // CHECK: "Split"{{.*}} -> (tensor<4x2xf32>, tensor<3x2xf32>)
  %0:2 = onnx.node "Split"(%x) attributes {num_outputs = 2 : i64} : (tensor<7x2xf32>) -> (!onnx.unknown, !onnx.unknown)
  %s = onnx.constant dense<[5, 2]> : tensor<2xi64>
  // CHECK: "Split"{{.*}} -> (tensor<5x2xf32>, tensor<2x2xf32>)
  %1:2 = onnx.node "Split"(%x, %s) : (tensor<7x2xf32>, tensor<2xi64>) -> (!onnx.unknown, !onnx.unknown)
  %axes = onnx.constant dense<[0]> : tensor<1xi64>
  // CHECK: "ReduceMax"{{.*}} -> tensor<2xf32>
  %2 = onnx.node "ReduceMax"(%x, %axes) attributes {keepdims = 0 : i64} : (tensor<7x2xf32>, tensor<1xi64>) -> !onnx.unknown
  // CHECK: "ReduceSum"{{.*}} -> tensor<1x1xf32>
  %3 = onnx.node "ReduceSum"(%x) : (tensor<7x2xf32>) -> !onnx.unknown
  return
}
}

// CHECK-LABEL: func.func @data_movement
func.func @data_movement(%x: tensor<2x?x4xf32>, %idx: tensor<3x5xi64>, %i: tensor<i64>) -> () {
  // CHECK: "Transpose"{{.*}} -> tensor<4x2x?xf32>
  %0 = onnx.node "Transpose"(%x) attributes {perm = array<i64: 2, 0, 1>} : (tensor<2x?x4xf32>) -> !onnx.unknown
  // CHECK: "Transpose"{{.*}} -> tensor<4x?x2xf32>
  %1 = onnx.node "Transpose"(%x) : (tensor<2x?x4xf32>) -> !onnx.unknown
  // CHECK: "Concat"{{.*}} -> tensor<2x?x8xf32>
  %2 = onnx.node "Concat"(%x, %x) attributes {axis = -1 : i64} : (tensor<2x?x4xf32>, tensor<2x?x4xf32>) -> !onnx.unknown
  // CHECK: "Gather"{{.*}} -> tensor<2x3x5x4xf32>
  %3 = onnx.node "Gather"(%x, %idx) attributes {axis = 1 : i64} : (tensor<2x?x4xf32>, tensor<3x5xi64>) -> !onnx.unknown
  // CHECK: "Gather"{{.*}} -> tensor<?x4xf32>
  %4 = onnx.node "Gather"(%x, %i) : (tensor<2x?x4xf32>, tensor<i64>) -> !onnx.unknown
  %starts = onnx.constant dense<[1, -3]> : tensor<2xi64>
  %ends = onnx.constant dense<[9223372036854775807, -1]> : tensor<2xi64>
  %axes = onnx.constant dense<[0, 2]> : tensor<2xi64>
  %none = onnx.none
  // CHECK: "Slice"{{.*}} -> tensor<1x?x2xf32>
  %5 = onnx.node "Slice"(%x, %starts, %ends, %axes, %none) : (tensor<2x?x4xf32>, tensor<2xi64>, tensor<2xi64>, tensor<2xi64>, none) -> !onnx.unknown
  %steps = onnx.constant dense<[1, -2]> : tensor<2xi64>
  %rs = onnx.constant dense<[0, -1]> : tensor<2xi64>
  %re = onnx.constant dense<[9223372036854775807, -9223372036854775807]> : tensor<2xi64>
  // Step 1 from 0 to the end keeps a dynamic dim; step -2 over 4 gives 2.
  // CHECK: "Slice"{{.*}} -> tensor<2x?x2xf32>
  %6 = onnx.node "Slice"(%x, %rs, %re, %axes, %steps) : (tensor<2x?x4xf32>, tensor<2xi64>, tensor<2xi64>, tensor<2xi64>, tensor<2xi64>) -> !onnx.unknown
  %shape = onnx.constant dense<[3, 1, 1, 1]> : tensor<4xi64>
  // CHECK: "Expand"{{.*}} -> tensor<3x2x?x4xf32>
  %7 = onnx.node "Expand"(%x, %shape) : (tensor<2x?x4xf32>, tensor<4xi64>) -> !onnx.unknown
  %c0 = onnx.constant dense<0> : tensor<i64>
  %c10 = onnx.constant dense<10> : tensor<i64>
  %c3 = onnx.constant dense<3> : tensor<i64>
  // CHECK: "Range"{{.*}} -> tensor<4xi64>
  %8 = onnx.node "Range"(%c0, %c10, %c3) : (tensor<i64>, tensor<i64>, tensor<i64>) -> !onnx.unknown
  // CHECK: "Range"{{.*}} -> tensor<?xi64>
  %9 = onnx.node "Range"(%c0, %i, %c3) : (tensor<i64>, tensor<i64>, tensor<i64>) -> !onnx.unknown
  // CHECK: "Size"{{.*}} -> tensor<i64>
  %10 = onnx.node "Size"(%x) : (tensor<2x?x4xf32>) -> !onnx.unknown
  // CHECK: "GatherElements"{{.*}} -> tensor<3x5xf32>
  %y = onnx.constant dense<1.0> : tensor<3x7xf32>
  %11 = onnx.node "GatherElements"(%y, %idx) attributes {axis = 1 : i64} : (tensor<3x7xf32>, tensor<3x5xi64>) -> !onnx.unknown
  // CHECK: "ScatterElements"{{.*}} -> tensor<3x7xf32>
  %12 = onnx.node "ScatterElements"(%y, %idx, %11) : (tensor<3x7xf32>, tensor<3x5xi64>, !onnx.unknown) -> !onnx.unknown
  %depth = onnx.constant dense<6> : tensor<i64>
  %vals = onnx.constant dense<[0.0, 1.0]> : tensor<2xf32>
  // CHECK: "OneHot"{{.*}} -> tensor<3x5x6xf32>
  %13 = onnx.node "OneHot"(%idx, %depth, %vals) : (tensor<3x5xi64>, tensor<i64>, tensor<2xf32>) -> !onnx.unknown
  // CHECK: "NonZero"{{.*}} -> tensor<3x?xi64>
  %14 = onnx.node "NonZero"(%x) : (tensor<2x?x4xf32>) -> !onnx.unknown
  // CHECK: "CumSum"{{.*}} -> tensor<2x?x4xf32>
  %15 = onnx.node "CumSum"(%x, %c0) : (tensor<2x?x4xf32>, tensor<i64>) -> !onnx.unknown
  return
}

// CHECK-LABEL: func.func @selection
func.func @selection(%x: tensor<?x8xf32>) -> () {
  %k = onnx.constant dense<2> : tensor<1xi64>
  // CHECK: "TopK"{{.*}} -> (tensor<?x2xf32>, tensor<?x2xi64>)
  %0:2 = onnx.node "TopK"(%x, %k) attributes {axis = -1 : i64} : (tensor<?x8xf32>, tensor<1xi64>) -> (!onnx.unknown, !onnx.unknown)
  // CHECK: "ArgMax"{{.*}} -> tensor<?x1xi64>
  %1 = onnx.node "ArgMax"(%x) attributes {axis = 1 : i64} : (tensor<?x8xf32>) -> !onnx.unknown
  // CHECK: "ArgMax"{{.*}} -> tensor<8xi64>
  %2 = onnx.node "ArgMax"(%x) attributes {keepdims = 0 : i64} : (tensor<?x8xf32>) -> !onnx.unknown
  %g = onnx.constant dense<1.0> : tensor<8xf32>
  // CHECK: "LayerNormalization"{{.*}} -> (tensor<?x8xf32>, tensor<?x1xf32>, tensor<?x1xf32>)
  %3:3 = onnx.node "LayerNormalization"(%x, %g, %g) : (tensor<?x8xf32>, tensor<8xf32>, tensor<8xf32>) -> (!onnx.unknown, !onnx.unknown, !onnx.unknown)
  // An unused optional output stays none.
  // CHECK: "TopK"{{.*}} -> (tensor<?x2xf32>, none)
  %4:2 = onnx.node "TopK"(%x, %k) : (tensor<?x8xf32>, tensor<1xi64>) -> (!onnx.unknown, none)
  return
}
