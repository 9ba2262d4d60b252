// RUN: moe-opt %s --convert-onnx-to-linalg --canonicalize --cse | FileCheck %s

// What the types cannot say is checked at run time with a cf.assert whose
// message names the node (moe-report-failed-checks makes moe-run report it
// and exit 1; test/tools/moe-run/runtime-checks.mlir runs them). Checks
// that hold for the static types fold away.

// Split sizes are data (exports fix them for their sample): they must add
// up to the axis.
// CHECK-LABEL: func.func @split_sizes
// CHECK: %[[N:.*]] = tensor.dim %arg0, %c0
// CHECK: %[[OK:.*]] = arith.cmpi eq, %[[N]], %c8
// CHECK: cf.assert %[[OK]], "onnx node '/experts/Split' (Split): the split sizes must be non-negative and add up to the size of axis 0 of the input"
// CHECK: tensor.extract_slice %arg0[0, 0] [3, 16]
func.func @split_sizes(%x: tensor<?x16xf32>) -> (tensor<?x16xf32>, tensor<?x16xf32>) {
  %s = onnx.constant dense<[3, 5]> : tensor<2xi64>
  %0:2 = onnx.node "Split"(%x, %s) attributes {axis = 0 : i64} : (tensor<?x16xf32>, tensor<2xi64>) -> (tensor<?x16xf32>, tensor<?x16xf32>) loc("/experts/Split")
  return %0#0, %0#1 : tensor<?x16xf32>, tensor<?x16xf32>
}

// Sizes from an input: each must be non-negative too.
// CHECK-LABEL: func.func @split_dynamic_sizes
// CHECK-DAG: arith.cmpi sge
// CHECK-DAG: arith.cmpi sge
// CHECK-DAG: arith.cmpi eq
// CHECK: cf.assert %{{.*}}, "onnx node 'split' (Split): the split sizes must
func.func @split_dynamic_sizes(%x: tensor<8x16xf32>, %s: tensor<2xi64>) -> (tensor<?x16xf32>, tensor<?x16xf32>) {
  %0:2 = onnx.node "Split"(%x, %s) attributes {axis = 0 : i64} : (tensor<8x16xf32>, tensor<2xi64>) -> (tensor<?x16xf32>, tensor<?x16xf32>) loc("split")
  return %0#0, %0#1 : tensor<?x16xf32>, tensor<?x16xf32>
}

// Static sizes of a static input were checked by inference; no sizes (equal
// parts) cannot fail.
// CHECK-LABEL: func.func @split_static
// CHECK-NOT: cf.assert
// CHECK: return
// CHECK-LABEL: func.func @split_equal_parts
// CHECK-NOT: cf.assert
// CHECK: return
func.func @split_static(%x: tensor<8x16xf32>) -> (tensor<3x16xf32>, tensor<5x16xf32>) {
  %s = onnx.constant dense<[3, 5]> : tensor<2xi64>
  %0:2 = onnx.node "Split"(%x, %s) attributes {axis = 0 : i64} : (tensor<8x16xf32>, tensor<2xi64>) -> (tensor<3x16xf32>, tensor<5x16xf32>)
  return %0#0, %0#1 : tensor<3x16xf32>, tensor<5x16xf32>
}
func.func @split_equal_parts(%x: tensor<?x16xf32>) -> (tensor<?x16xf32>, tensor<?x16xf32>) {
  %0:2 = onnx.node "Split"(%x) attributes {axis = 0 : i64, num_outputs = 2 : i64} : (tensor<?x16xf32>) -> (tensor<?x16xf32>, tensor<?x16xf32>)
  return %0#0, %0#1 : tensor<?x16xf32>, tensor<?x16xf32>
}

// Two dynamic dims meet: the second input's must be the result's (taken
// from the first), since a dynamic dim is read without broadcasting.
// CHECK-LABEL: func.func @add_dynamic
// CHECK-DAG: %[[A:.*]] = tensor.dim %arg0, %c0
// CHECK-DAG: %[[B:.*]] = tensor.dim %arg1, %c0
// CHECK: %[[OK:.*]] = arith.cmpi eq, %[[B]], %[[A]]
// CHECK: cf.assert %[[OK]], "onnx node 'add' (Add): the inputs' shapes do not agree: a dimension known only at run time must equal the result's (only dimensions that are 1 in the model broadcast)"
// CHECK: linalg.generic
func.func @add_dynamic(%a: tensor<?x16xf32>, %b: tensor<?x16xf32>) -> tensor<?x16xf32> {
  %0 = onnx.node "Add"(%a, %b) : (tensor<?x16xf32>, tensor<?x16xf32>) -> tensor<?x16xf32> loc("add")
  return %0 : tensor<?x16xf32>
}

// A dynamic dim against a static one of the result.
// CHECK-LABEL: func.func @mul_dynamic_against_static
// CHECK: %[[B:.*]] = tensor.dim %arg1, %c0
// CHECK: %[[OK:.*]] = arith.cmpi eq, %[[B]], %c4
// CHECK: cf.assert %[[OK]], "onnx node 'mul' (Mul)
func.func @mul_dynamic_against_static(%a: tensor<4x16xf32>, %b: tensor<?x16xf32>) -> tensor<4x16xf32> {
  %0 = onnx.node "Mul"(%a, %b) : (tensor<4x16xf32>, tensor<?x16xf32>) -> tensor<4x16xf32> loc("mul")
  return %0 : tensor<4x16xf32>
}

// Static shapes and static 1s (which broadcast) need no check.
// CHECK-LABEL: func.func @add_static_broadcast
// CHECK-NOT: cf.assert
// CHECK: return
func.func @add_static_broadcast(%a: tensor<?x16xf32>, %b: tensor<1x16xf32>) -> tensor<?x16xf32> {
  %0 = onnx.node "Add"(%a, %b) : (tensor<?x16xf32>, tensor<1x16xf32>) -> tensor<?x16xf32>
  return %0 : tensor<?x16xf32>
}

// MatMul: A's columns against B's rows, and dynamic batch dims.
// CHECK-LABEL: func.func @matmul_dynamic_k
// CHECK-DAG: %[[KA:.*]] = tensor.dim %arg0, %c1
// CHECK-DAG: %[[KB:.*]] = tensor.dim %arg1, %c0
// CHECK: %[[OK:.*]] = arith.cmpi eq, %[[KA]], %[[KB]]
// CHECK: cf.assert %[[OK]], "onnx node 'mm' (MatMul): the operands' shapes do not agree: A's columns must equal B's rows
func.func @matmul_dynamic_k(%a: tensor<?x?xf32>, %b: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %0 = onnx.node "MatMul"(%a, %b) : (tensor<?x?xf32>, tensor<?x4xf32>) -> tensor<?x4xf32> loc("mm")
  return %0 : tensor<?x4xf32>
}
// CHECK-LABEL: func.func @matmul_batch
// CHECK-DAG: %[[BA:.*]] = tensor.dim %arg0, %c0
// CHECK-DAG: %[[BB:.*]] = tensor.dim %arg1, %c0
// CHECK: %[[OK:.*]] = arith.cmpi eq, %[[BB]], %[[BA]]
// CHECK: cf.assert %[[OK]], "onnx node 'bmm' (MatMul)
func.func @matmul_batch(%a: tensor<?x3x8xf32>, %b: tensor<?x8x4xf32>) -> tensor<?x3x4xf32> {
  %0 = onnx.node "MatMul"(%a, %b) : (tensor<?x3x8xf32>, tensor<?x8x4xf32>) -> tensor<?x3x4xf32> loc("bmm")
  return %0 : tensor<?x3x4xf32>
}
// CHECK-LABEL: func.func @matmul_static
// CHECK-NOT: cf.assert
// CHECK: return
func.func @matmul_static(%a: tensor<?x8xf32>, %b: tensor<8x4xf32>) -> tensor<?x4xf32> {
  %0 = onnx.node "MatMul"(%a, %b) : (tensor<?x8xf32>, tensor<8x4xf32>) -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// Reshape: the resolved shape must hold the input's elements and match the
// result type's static dims.
// CHECK-LABEL: func.func @reshape
// CHECK: cf.assert %{{.*}}, "onnx node 'r' (Reshape): the requested shape does not fit the input: it must have as many elements (after its 0s and -1 are resolved)"
// CHECK: tensor.reshape
func.func @reshape(%x: tensor<?x16xf32>, %s: tensor<2xi64>) -> tensor<?x8xf32> {
  %0 = onnx.node "Reshape"(%x, %s) : (tensor<?x16xf32>, tensor<2xi64>) -> tensor<?x8xf32> loc("r")
  return %0 : tensor<?x8xf32>
}

// Expand: a dynamic dim of the data is read without broadcasting.
// CHECK-LABEL: func.func @expand
// CHECK: cf.assert %{{.*}}, "onnx node 'e' (Expand): the inputs' shapes do not agree
func.func @expand(%x: tensor<?x1xf32>, %s: tensor<2xi64>) -> tensor<?x?xf32> {
  %0 = onnx.node "Expand"(%x, %s) : (tensor<?x1xf32>, tensor<2xi64>) -> tensor<?x?xf32> loc("e")
  return %0 : tensor<?x?xf32>
}

// Expand follows numpy where a side is 1: the result takes the data's size
// when the shape asks for 1 (0 rows stay 0 rows), and the data's dim, read
// as it is, must then be the result's.
// CHECK-LABEL: func.func @expand_rows
// CHECK: %[[WANT:.*]] = arith.index_cast %{{.*}} : i64 to index
// CHECK: %[[ONE:.*]] = arith.cmpi eq, %[[WANT]], %c1
// CHECK: %[[ROWS:.*]] = tensor.dim %arg0, %c0
// CHECK: %[[SIZE:.*]] = arith.select %[[ONE]], %[[ROWS]], %[[WANT]]
// CHECK: %[[OK:.*]] = arith.cmpi eq, %[[ROWS]], %[[SIZE]]
// CHECK: cf.assert %[[OK]], "onnx node 'x' (Expand)
// CHECK: tensor.empty(%[[SIZE]])
func.func @expand_rows(%x: tensor<?x1xf32>, %s: tensor<2xi64>) -> tensor<?x16xf32> {
  %0 = onnx.node "Expand"(%x, %s) : (tensor<?x1xf32>, tensor<2xi64>) -> tensor<?x16xf32> loc("x")
  return %0 : tensor<?x16xf32>
}

// Gather's indices are data: a reduction over them checks the range.
// CHECK-LABEL: func.func @gather
// CHECK: %[[N:.*]] = tensor.dim %arg0, %c0
// CHECK: %[[LOW:.*]] = arith.subi %c0, %[[N]]
// CHECK: %[[ALL:.*]] = linalg.generic {{.*}} iterator_types = ["reduction"]} ins(%arg1 : tensor<?xi64>) outs(%{{.*}} : tensor<i1>)
// CHECK: arith.cmpi sge, %{{.*}}, %[[LOW]]
// CHECK: arith.cmpi slt, %{{.*}}, %[[N]]
// CHECK: %[[OK:.*]] = tensor.extract %[[ALL]][]
// CHECK: cf.assert %[[OK]], "onnx node 'g' (Gather): an index is out of range: each must be in [-n, n) for the n entries along axis 0 of the data"
func.func @gather(%data: tensor<?x16xf32>, %ids: tensor<?xi64>) -> tensor<?x16xf32> {
  %0 = onnx.node "Gather"(%data, %ids) attributes {axis = 0 : i64} : (tensor<?x16xf32>, tensor<?xi64>) -> tensor<?x16xf32> loc("g")
  return %0 : tensor<?x16xf32>
}

// CHECK-LABEL: func.func @gather_elements
// CHECK: cf.assert %{{.*}}, "onnx node 'ge' (GatherElements): an index is out of range: each must be in [-n, n) for the n entries along axis 1 of the data"
// CHECK-LABEL: func.func @scatter_elements
// CHECK: cf.assert %{{.*}}, "onnx node 'se' (ScatterElements): an index is out of range
func.func @gather_elements(%data: tensor<4x8xf32>, %ids: tensor<4x2xi64>) -> tensor<4x2xf32> {
  %0 = onnx.node "GatherElements"(%data, %ids) attributes {axis = 1 : i64} : (tensor<4x8xf32>, tensor<4x2xi64>) -> tensor<4x2xf32> loc("ge")
  return %0 : tensor<4x2xf32>
}
func.func @scatter_elements(%data: tensor<4x8xf32>, %ids: tensor<4x2xi64>, %u: tensor<4x2xf32>) -> tensor<4x8xf32> {
  %0 = onnx.node "ScatterElements"(%data, %ids, %u) attributes {axis = 1 : i64} : (tensor<4x8xf32>, tensor<4x2xi64>, tensor<4x2xf32>) -> tensor<4x8xf32> loc("se")
  return %0 : tensor<4x8xf32>
}

// ND indices: component c of each index against data dim c, one reduction
// per component.
// CHECK-LABEL: func.func @scatter_nd
// CHECK: %[[C0:.*]] = tensor.extract_slice %arg1[0, 0] [3, 1] [1, 1]
// CHECK: linalg.generic {{.*}} ins(%[[C0]] : tensor<3x1xi64>)
// CHECK: %[[C1:.*]] = tensor.extract_slice %arg1[0, 1] [3, 1] [1, 1]
// CHECK: linalg.generic {{.*}} ins(%[[C1]] : tensor<3x1xi64>)
// CHECK: cf.assert %{{.*}}, "onnx node 'snd' (ScatterND): an index is out of range: component c of each index must be in [-n, n) for the n entries along axis 0 + c of the data"
func.func @scatter_nd(%data: tensor<4x8xf32>, %ids: tensor<3x2xi64>, %u: tensor<3xf32>) -> tensor<4x8xf32> {
  %0 = onnx.node "ScatterND"(%data, %ids, %u) : (tensor<4x8xf32>, tensor<3x2xi64>, tensor<3xf32>) -> tensor<4x8xf32> loc("snd")
  return %0 : tensor<4x8xf32>
}

// TopK: k from an input must fit the axis.
// CHECK-LABEL: func.func @top_k
// CHECK: %[[K:.*]] = arith.index_cast %{{.*}} : i64 to index
// CHECK-DAG: arith.cmpi sge, %[[K]], %c0
// CHECK-DAG: arith.cmpi sle, %[[K]], %c8
// CHECK: cf.assert %{{.*}}, "onnx node 'topk' (TopK): k must be in [0, n] for the n entries along axis 1"
func.func @top_k(%x: tensor<?x8xf32>, %k: tensor<1xi64>) -> (tensor<?x?xf32>, tensor<?x?xi64>) {
  %0:2 = onnx.node "TopK"(%x, %k) attributes {axis = -1 : i64} : (tensor<?x8xf32>, tensor<1xi64>) -> (tensor<?x?xf32>, tensor<?x?xi64>) loc("topk")
  return %0#0, %0#1 : tensor<?x?xf32>, tensor<?x?xi64>
}

// Concat: the dims off the axis must agree.
// CHECK-LABEL: func.func @concat
// CHECK-DAG: %[[A:.*]] = tensor.dim %arg0, %c0
// CHECK-DAG: %[[B:.*]] = tensor.dim %arg1, %c0
// CHECK: %[[OK:.*]] = arith.cmpi eq, %[[B]], %[[A]]
// CHECK: cf.assert %[[OK]], "onnx node 'cat' (Concat): the inputs' shapes do not agree: all dimensions but axis 1 must be equal"
func.func @concat(%a: tensor<?x3xf32>, %b: tensor<?x5xf32>) -> tensor<?x8xf32> {
  %0 = onnx.node "Concat"(%a, %b) attributes {axis = 1 : i64} : (tensor<?x3xf32>, tensor<?x5xf32>) -> tensor<?x8xf32> loc("cat")
  return %0 : tensor<?x8xf32>
}

// Einsum: a label's dims agree wherever it appears; the loop and the
// result take the first one's.
// CHECK-LABEL: func.func @einsum
// CHECK-DAG: %[[C:.*]] = tensor.dim %arg0, %c0
// CHECK-DAG: %[[HX:.*]] = tensor.dim %arg0, %c1
// CHECK-DAG: %[[HW:.*]] = tensor.dim %arg1, %c0
// CHECK: %[[OK:.*]] = arith.cmpi eq, %[[HW]], %[[HX]]
// CHECK: cf.assert %[[OK]], "onnx node 'ein' (Einsum): the operands' shapes do not agree: a label's dimensions must be equal wherever it appears in the equation"
// CHECK: tensor.empty(%[[C]])
func.func @einsum(%x: tensor<?x?xf32>, %w: tensor<?x32xf32>) -> tensor<?x32xf32> {
  %0 = onnx.node "Einsum"(%x, %w) attributes {equation = "ch,hi->ci"} : (tensor<?x?xf32>, tensor<?x32xf32>) -> tensor<?x32xf32> loc("ein")
  return %0 : tensor<?x32xf32>
}

// Sizes read from data must not be negative, and must be the result type's
// where it is static (the result takes those).
// CHECK-LABEL: func.func @constant_of_shape
// CHECK: %[[A:.*]] = arith.index_cast %{{.*}} : i64 to index
// CHECK: %[[B:.*]] = arith.index_cast %{{.*}} : i64 to index
// CHECK-DAG: arith.cmpi sge, %[[A]], %c0
// CHECK-DAG: arith.cmpi sge, %[[B]], %c0
// CHECK-DAG: arith.cmpi eq, %[[B]], %c4
// CHECK: cf.assert %{{.*}}, "onnx node 'cos' (ConstantOfShape): the shape's dims must not be negative and must match the result type's static dimensions"
// CHECK: tensor.empty(%[[A]]) : tensor<?x4xf32>
func.func @constant_of_shape(%s: tensor<2xi64>) -> tensor<?x4xf32> {
  %0 = onnx.node "ConstantOfShape"(%s) attributes {value = dense<1.5> : tensor<1xf32>} : (tensor<2xi64>) -> tensor<?x4xf32> loc("cos")
  return %0 : tensor<?x4xf32>
}

// Constant indices are checked by their extremes (nothing is left where the
// data's dim is static), and a single index without a loop.
// CHECK-LABEL: func.func @gather_constant_indices
// CHECK: %[[N:.*]] = tensor.dim %arg0, %c0
// CHECK-NOT: tensor<i1>
// CHECK: arith.cmpi sgt, %[[N]], %c2
// CHECK: cf.assert %{{.*}}, "onnx node 'gc' (Gather)
// CHECK-LABEL: func.func @gather_constant_static
// CHECK-NOT: cf.assert
// CHECK: return
// CHECK-LABEL: func.func @gather_one_index
// CHECK-NOT: tensor<i1>
// CHECK: %[[I:.*]] = tensor.extract %arg1[]
// CHECK: arith.index_cast %[[I]]
// CHECK: cf.assert %{{.*}}, "onnx node 'g1' (Gather)
func.func @gather_constant_indices(%data: tensor<?x16xf32>) -> tensor<2x16xf32> {
  %ids = onnx.constant dense<[0, 2]> : tensor<2xi64>
  %0 = onnx.node "Gather"(%data, %ids) attributes {axis = 0 : i64} : (tensor<?x16xf32>, tensor<2xi64>) -> tensor<2x16xf32> loc("gc")
  return %0 : tensor<2x16xf32>
}
func.func @gather_constant_static(%data: tensor<4x16xf32>) -> tensor<2x16xf32> {
  %ids = onnx.constant dense<[0, -4]> : tensor<2xi64>
  %0 = onnx.node "Gather"(%data, %ids) attributes {axis = 0 : i64} : (tensor<4x16xf32>, tensor<2xi64>) -> tensor<2x16xf32>
  return %0 : tensor<2x16xf32>
}
func.func @gather_one_index(%data: tensor<?x16xf32>, %id: tensor<i64>) -> tensor<16xf32> {
  %0 = onnx.node "Gather"(%data, %id) attributes {axis = 0 : i64} : (tensor<?x16xf32>, tensor<i64>) -> tensor<16xf32> loc("g1")
  return %0 : tensor<16xf32>
}
