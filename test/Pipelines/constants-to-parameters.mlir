// RUN: moe-opt %s --split-input-file --allow-unregistered-dialect --moe-constants-to-parameters="min-bytes=32" | FileCheck %s
// RUN: moe-opt %s --split-input-file --allow-unregistered-dialect --moe-constants-to-parameters="min-bytes=-1" | FileCheck %s --check-prefix=NONE

// Resource-backed and non-splat dense constants of at least min-bytes become
// trailing arguments, one per distinct value, recorded in order in
// moe.parameters; splats and small constants stay.
// CHECK-LABEL: func.func @entry(
// CHECK-SAME: %[[X:.*]]: tensor<?x4xf32>, %[[W:.*]]: tensor<2x3x4xf32>, %[[V:.*]]: tensor<3x4xf32>)
// CHECK-SAME: attributes {moe.parameters = [{value = dense_resource<w> : tensor<2x3x4xf32>}, {value = dense<{{.*}}> : tensor<3x4xf32>}]}
// CHECK-DAG: arith.constant dense<1.000000e+00> : tensor<4x4xf32>
// CHECK-DAG: arith.constant dense<[1.000000e+00, 2.000000e+00]> : tensor<2xf32>
// CHECK: "test.use"(%[[X]], %[[W]], %[[W]], %[[V]]
// NONE-LABEL: func.func @entry(
// NONE-SAME: %{{.*}}: tensor<?x4xf32>) -> tensor<?x4xf32> {
// NONE: arith.constant dense_resource<w>
func.func @entry(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %w = arith.constant dense_resource<w> : tensor<2x3x4xf32>
  %w2 = arith.constant dense_resource<w> : tensor<2x3x4xf32>
  %v = arith.constant dense<[[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0], [9.0, 10.0, 11.0, 12.0]]> : tensor<3x4xf32>
  %splat = arith.constant dense<1.0> : tensor<4x4xf32>
  %small = arith.constant dense<[1.0, 2.0]> : tensor<2xf32>
  "test.use"(%x, %w, %w2, %v, %splat, %small) : (tensor<?x4xf32>, tensor<2x3x4xf32>, tensor<2x3x4xf32>, tensor<3x4xf32>, tensor<4x4xf32>, tensor<2xf32>) -> ()
  return %x : tensor<?x4xf32>
}

// Private functions (the kernels) keep their constants.
// CHECK-LABEL: func.func private @kernel(
// CHECK-SAME: %{{.*}}: tensor<4xf32>) -> tensor<2x3x4xf32> {
// CHECK-NEXT: arith.constant dense_resource<w>
func.func private @kernel(%x: tensor<4xf32>) -> tensor<2x3x4xf32> {
  %w = arith.constant dense_resource<w> : tensor<2x3x4xf32>
  return %w : tensor<2x3x4xf32>
}

{-#
  dialect_resources: {
    builtin: {
      w: "0x04000000000000c0000080bf000000000000803f00000040000000c0000080bf000000000000803f00000040000000c0000080bf000000000000803f00000040000000c0000080bf000000000000803f00000040000000c0000080bf000000000000803f"
    }
  }
#-}

// -----

// Constants in nested regions too: the arguments dominate the whole body.
// CHECK-LABEL: func.func @nested(
// CHECK-SAME: %{{.*}}: index, %[[P:.*]]: tensor<3x4xf32>)
// CHECK: scf.for
// CHECK-NEXT: "test.use"(%[[P]])
func.func @nested(%n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  scf.for %i = %c0 to %n step %c1 {
    %v = arith.constant dense<[[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0], [9.0, 10.0, 11.0, 12.0]]> : tensor<3x4xf32>
    "test.use"(%v) : (tensor<3x4xf32>) -> ()
  }
  return
}
