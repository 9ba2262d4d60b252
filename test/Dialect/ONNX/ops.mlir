// RUN: moe-opt %s | FileCheck %s
// RUN: moe-opt %s --mlir-print-op-generic | moe-opt | FileCheck %s
// RUN: moe-opt %s --emit-bytecode | moe-opt | FileCheck %s

// CHECK-LABEL: func.func @generic_nodes
func.func @generic_nodes(%x: tensor<?x4xf32> {onnx.name = "x", onnx.dim_params = ["N", ""]},
                         %w: tensor<4x8xf32>) -> (tensor<?x8xf32>, !onnx.unknown) {
  // CHECK: %[[NONE:.*]] = onnx.none
  %none = onnx.none
  // CHECK: %[[B:.*]] = onnx.constant dense<1.000000e+00> : tensor<8xf32>
  %b = onnx.constant dense<1.0> : tensor<8xf32>
  // CHECK: onnx.node "Gemm"(%{{.*}}, %{{.*}}, %[[B]]) attributes {alpha = 1.000000e+00 : f32, transB = 0 : i64} : (tensor<?x4xf32>, tensor<4x8xf32>, tensor<8xf32>) -> tensor<?x8xf32>
  %y = onnx.node "Gemm"(%x, %w, %b) attributes {alpha = 1.0 : f32, transB = 0 : i64}
      : (tensor<?x4xf32>, tensor<4x8xf32>, tensor<8xf32>) -> tensor<?x8xf32>
  // An empty attribute dictionary and the default domain are not printed.
  // CHECK: onnx.node "Clip"(%{{.*}}, %[[NONE]], %{{.*}}) : (tensor<?x8xf32>, none, tensor<8xf32>) -> tensor<?x8xf32>
  %c = onnx.node "Clip"(%y, %none, %b) attributes {} {domain = ""}
      : (tensor<?x8xf32>, none, tensor<8xf32>) -> tensor<?x8xf32>
  // CHECK: onnx.node "FusedMatMul"(%{{.*}}) attributes {axes = array<i64: 0, 1>, modes = ["a", "b"], scales = array<f32: 1.000000e+00>, t = dense<1> : tensor<2xi64>, to = f16} {domain = "com.microsoft"} : (tensor<?x8xf32>) -> (!onnx.unknown, none)
  %u:2 = onnx.node "FusedMatMul"(%c) attributes {axes = array<i64: 0, 1>, modes = ["a", "b"], scales = array<f32: 1.0>, t = dense<1> : tensor<2xi64>, to = f16} {domain = "com.microsoft"}
      : (tensor<?x8xf32>) -> (!onnx.unknown, none)
  // CHECK: onnx.node "NoIO"() : () -> ()
  onnx.node "NoIO"() : () -> ()
  return %c, %u#0 : tensor<?x8xf32>, !onnx.unknown
}

// CHECK-LABEL: func.func @resource_constant
func.func @resource_constant() -> tensor<2xf32> {
  // CHECK: onnx.constant dense_resource<w> : tensor<2xf32>
  %w = onnx.constant dense_resource<w> : tensor<2xf32>
  return %w : tensor<2xf32>
}

{-#
  dialect_resources: {
    builtin: {
      w: "0x040000000000803F00000040"
    }
  }
#-}
