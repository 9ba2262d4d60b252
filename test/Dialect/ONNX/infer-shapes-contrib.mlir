// RUN: moe-opt %s --onnx-infer-shapes=fold-known-ints=false | FileCheck %s

// CHECK-LABEL: func.func @contrib_moe
func.func @contrib_moe(%x: tensor<?x16xf32>, %x3: tensor<2x?x16xf32>, %r: tensor<?x8xf32>,
                       %w1: tensor<8x32x16xf32>, %w2: tensor<8x16x32xf32>,
                       %q1: tensor<8x32x8xui8>, %s1: tensor<8x32xf32>,
                       %q2: tensor<8x16x16xui8>, %s2: tensor<8x16xf32>) {
  %none = onnx.none
  // The output has the input's type, 2-D or 3-D.
  // CHECK: "MoE"{{.*}} -> tensor<?x16xf32>
  %0 = onnx.node "MoE"(%x, %r, %w1, %none, %w2) attributes {k = 2 : i64} {domain = "com.microsoft"}
      : (tensor<?x16xf32>, tensor<?x8xf32>, tensor<8x32x16xf32>, none, tensor<8x16x32xf32>) -> !onnx.unknown
  // CHECK: "MoE"{{.*}} -> tensor<2x?x16xf32>
  %1 = onnx.node "MoE"(%x3, %r, %w1, %none, %w2) attributes {k = 2 : i64} {domain = "com.microsoft"}
      : (tensor<2x?x16xf32>, tensor<?x8xf32>, tensor<8x32x16xf32>, none, tensor<8x16x32xf32>) -> !onnx.unknown
  // CHECK: "QMoE"{{.*}} -> tensor<?x16xf32>
  %2 = onnx.node "QMoE"(%x, %r, %q1, %s1, %none, %q2, %s2) attributes {k = 2 : i64, expert_weight_bits = 4 : i64} {domain = "com.microsoft"}
      : (tensor<?x16xf32>, tensor<?x8xf32>, tensor<8x32x8xui8>, tensor<8x32xf32>, none, tensor<8x16x16xui8>, tensor<8x16xf32>) -> !onnx.unknown
  return
}

// CHECK-LABEL: func.func @rms_norm
func.func @rms_norm(%x: tensor<2x?x16xbf16>, %g: tensor<16xbf16>) {
  // CHECK: "SimplifiedLayerNormalization"{{.*}} -> (tensor<2x?x16xbf16>, tensor<2x?x1xf32>)
  %y, %inv = onnx.node "SimplifiedLayerNormalization"(%x, %g) attributes {axis = -1 : i64, epsilon = 1.0e-6 : f32}
      : (tensor<2x?x16xbf16>, tensor<16xbf16>) -> (!onnx.unknown, !onnx.unknown)
  // CHECK: "SimplifiedLayerNormalization"{{.*}}{domain = "com.microsoft"} : {{.*}} -> tensor<2x?x16xbf16>
  %z = onnx.node "SimplifiedLayerNormalization"(%x, %g) {domain = "com.microsoft"}
      : (tensor<2x?x16xbf16>, tensor<16xbf16>) -> !onnx.unknown
  return
}

// CHECK-LABEL: func.func @gather_nd
func.func @gather_nd(%data: tensor<?x16xf32>, %rows: tensor<5x1xi64>, %cells: tensor<5x2xi64>,
                     %b: tensor<3x4x6xf32>, %bi: tensor<3x2x1xi64>) {
  // Rows picked by index, as dynamo exports x[top_x].
  // CHECK: "GatherND"{{.*}} -> tensor<5x16xf32>
  %0 = onnx.node "GatherND"(%data, %rows) : (tensor<?x16xf32>, tensor<5x1xi64>) -> !onnx.unknown
  // CHECK: "GatherND"{{.*}} -> tensor<5xf32>
  %1 = onnx.node "GatherND"(%data, %cells) : (tensor<?x16xf32>, tensor<5x2xi64>) -> !onnx.unknown
  // CHECK: "GatherND"{{.*}} -> tensor<3x2x6xf32>
  %2 = onnx.node "GatherND"(%b, %bi) attributes {batch_dims = 1 : i64} : (tensor<3x4x6xf32>, tensor<3x2x1xi64>) -> !onnx.unknown
  return
}

// Einsum as exports write stacked expert matmuls.
// CHECK-LABEL: func.func @einsum
func.func @einsum(%a: tensor<4x?x16xf32>, %w: tensor<4x16x32xf32>,
                  %x: tensor<?x4x64x16xf32>, %y: tensor<?x16xf32>, %m: tensor<3x5xf32>) {
  // CHECK: "Einsum"{{.*}} -> tensor<4x?x32xf32>
  %0 = onnx.node "Einsum"(%a, %w) attributes {equation = "ech,ehi->eci"} : (tensor<4x?x16xf32>, tensor<4x16x32xf32>) -> !onnx.unknown
  // CHECK: "Einsum"{{.*}} -> tensor<?x4x64xf32>
  %1 = onnx.node "Einsum"(%x, %y) attributes {equation = "beck, bk -> bec"} : (tensor<?x4x64x16xf32>, tensor<?x16xf32>) -> !onnx.unknown
  // Implicit output: the letters seen once, sorted (a transpose here).
  // CHECK: "Einsum"{{.*}} -> tensor<5x3xf32>
  %2 = onnx.node "Einsum"(%m) attributes {equation = "ji"} : (tensor<3x5xf32>) -> !onnx.unknown
  return
}
