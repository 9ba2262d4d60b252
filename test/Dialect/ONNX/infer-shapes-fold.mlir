// RUN: moe-opt %s --onnx-infer-shapes | FileCheck %s
// RUN: moe-opt %s --onnx-infer-shapes=fold-known-ints=false | FileCheck %s --check-prefix=NOFOLD

// Shape arithmetic on static dims folds to the constants it computes; the
// nodes left without users are erased. Dynamic dims stay computed.

// CHECK-LABEL: func.func @slice_half
// CHECK-DAG: %[[END:.*]] = onnx.constant dense<32> : tensor<1xi64>
// CHECK: onnx.node "Slice"(%arg0, %{{.*}}, %[[END]], %{{.*}})
// CHECK-NOT: "Shape"
// CHECK-NOT: "Div"
// NOFOLD-LABEL: func.func @slice_half
// NOFOLD: onnx.node "Shape"
// NOFOLD: onnx.node "Div"
func.func @slice_half(%x: tensor<?x64xf32>) -> tensor<?x32xf32> {
  %last = onnx.constant dense<-1> : tensor<1xi64>
  %zero = onnx.constant dense<0> : tensor<1xi64>
  %one = onnx.constant dense<1> : tensor<1xi64>
  %two = onnx.constant dense<2> : tensor<1xi64>
  %shape = onnx.node "Shape"(%x) : (tensor<?x64xf32>) -> !onnx.unknown
  %width = onnx.node "Gather"(%shape, %last) {axis = 0 : i64} : (!onnx.unknown, tensor<1xi64>) -> !onnx.unknown
  %plus = onnx.node "Add"(%width, %one) : (!onnx.unknown, tensor<1xi64>) -> !onnx.unknown
  %half = onnx.node "Div"(%plus, %two) : (!onnx.unknown, tensor<1xi64>) -> !onnx.unknown
  %y = onnx.node "Slice"(%x, %zero, %half, %last) : (tensor<?x64xf32>, tensor<1xi64>, !onnx.unknown, tensor<1xi64>) -> tensor<?x32xf32>
  return %y : tensor<?x32xf32>
}

// repeat_interleave's repeats as TorchScript writes them: OneHot(1, 3, [1, k]).
// CHECK-LABEL: func.func @onehot_repeats
// CHECK: %[[REPS:.*]] = onnx.constant dense<[1, 2, 1]> : tensor<3xi64>
// CHECK: onnx.node "Tile"(%arg0, %[[REPS]]) {{.*}} -> tensor<?x2x16xf32>
func.func @onehot_repeats(%x: tensor<?x1x16xf32>) -> tensor<?x2x16xf32> {
  %ids = onnx.constant dense<1> : tensor<1xi64>
  %depth = onnx.constant dense<3> : tensor<i64>
  %values = onnx.constant dense<[1, 2]> : tensor<2xi64>
  %hot = onnx.node "OneHot"(%ids, %depth, %values) : (tensor<1xi64>, tensor<i64>, tensor<2xi64>) -> !onnx.unknown
  %shape = onnx.constant dense<[3]> : tensor<1xi64>
  %reps = onnx.node "Reshape"(%hot, %shape) : (!onnx.unknown, tensor<1xi64>) -> !onnx.unknown
  %y = onnx.node "Tile"(%x, %reps) : (tensor<?x1x16xf32>, !onnx.unknown) -> tensor<?x2x16xf32>
  return %y : tensor<?x2x16xf32>
}

// The batch dim is unknown: its Shape / Gather stay.
// CHECK-LABEL: func.func @dynamic_stays
// CHECK: onnx.node "Shape"
// CHECK: onnx.node "Gather"
func.func @dynamic_stays(%x: tensor<?x64xf32>) -> tensor<1xi64> {
  %first = onnx.constant dense<0> : tensor<1xi64>
  %shape = onnx.node "Shape"(%x) : (tensor<?x64xf32>) -> !onnx.unknown
  %n = onnx.node "Gather"(%shape, %first) {axis = 0 : i64} : (!onnx.unknown, tensor<1xi64>) -> tensor<1xi64>
  return %n : tensor<1xi64>
}
