// RUN: moe-opt %s --convert-moe-to-linalg -split-input-file | FileCheck %s

// One element-wise linalg.generic over the float result; each element reads
// its byte, shifts out its 4 bits (low bits first), and its block's scale
// and packed zero point: (q - zp) * scale.
// CHECK-LABEL: func.func @int4_block_zero_points(
// CHECK-SAME: %[[Q:[^:]+]]: tensor<2x4x8xi8>, %[[S:[^:]+]]: tensor<2x4x2xf16>, %[[Z:[^:]+]]: tensor<2x4x1xi8>)
// CHECK: %[[INIT:.*]] = tensor.empty() : tensor<2x4x16xf32>
// CHECK: linalg.generic {{.*}} outs(%[[INIT]] : tensor<2x4x16xf32>)
// CHECK-DAG: %[[E:.*]] = linalg.index 0 : index
// CHECK-DAG: %[[N:.*]] = linalg.index 1 : index
// CHECK-DAG: %[[K:.*]] = linalg.index 2 : index
// CHECK: %[[BYTE:.*]] = arith.divui %[[K]], %{{.*}} : index
// CHECK: %[[QB:.*]] = tensor.extract %[[Q]][%[[E]], %[[N]], %[[BYTE]]] : tensor<2x4x8xi8>
// CHECK: arith.extui %[[QB]] : i8 to i32
// CHECK: arith.shrui
// CHECK: arith.andi
// CHECK: %[[QF:.*]] = arith.uitofp %{{.*}} : i32 to f32
// CHECK: %[[BLOCK:.*]] = arith.divui %[[K]], %{{.*}} : index
// CHECK: %[[SC:.*]] = tensor.extract %[[S]][%[[E]], %[[N]], %[[BLOCK]]] : tensor<2x4x2xf16>
// CHECK: %[[SCF:.*]] = arith.extf %[[SC]] : f16 to f32
// CHECK: tensor.extract %[[Z]][%[[E]], %[[N]], %{{.*}}] : tensor<2x4x1xi8>
// CHECK: %[[ZF:.*]] = arith.uitofp %{{.*}} : i32 to f32
// CHECK: %[[D:.*]] = arith.subf %[[QF]], %[[ZF]] : f32
// CHECK: %[[W:.*]] = arith.mulf %[[D]], %[[SCF]] : f32
// CHECK: linalg.yield %[[W]] : f32
// CHECK-NOT: moe.
func.func @int4_block_zero_points(%q: tensor<2x4x8xi8>, %s: tensor<2x4x2xf16>, %z: tensor<2x4x1xi8>)
    -> tensor<2x4x16xf32> {
  %w = moe.dequantize %q, %s zero_points(%z) {bits = 4 : i64, block_size = 8 : i64}
      : (tensor<2x4x8xi8>, tensor<2x4x2xf16>, tensor<2x4x1xi8>) -> tensor<2x4x16xf32>
  return %w : tensor<2x4x16xf32>
}

// -----

// 8 bits need no shift; the default zero point is 128; a dynamic leading
// dim is read from the weight.
// CHECK-LABEL: func.func @int8_rows(
// CHECK-SAME: %[[Q:[^:]+]]: tensor<?x4x8xi8>
// CHECK: %[[D0:.*]] = tensor.dim %[[Q]], %{{.*}} : tensor<?x4x8xi8>
// CHECK: tensor.empty(%[[D0]]) : tensor<?x4x8xbf16>
// CHECK: linalg.generic
// CHECK-NOT: arith.shrui
// CHECK: arith.constant 1.280000e+02 : f32
// CHECK: arith.truncf %{{.*}} : f32 to bf16
func.func @int8_rows(%q: tensor<?x4x8xi8>, %s: tensor<?x4xf32>) -> tensor<?x4x8xbf16> {
  %w = moe.dequantize %q, %s {bits = 8 : i64} : (tensor<?x4x8xi8>, tensor<?x4xf32>) -> tensor<?x4x8xbf16>
  return %w : tensor<?x4x8xbf16>
}
