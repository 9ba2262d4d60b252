// RUN: moe-opt %s --moe-prepare-entry-points | FileCheck %s

// Public functions with a body become C-callable entry points that remember
// their tensor signature and never write their arguments.
// CHECK-LABEL: func.func @entry(
// CHECK-SAME: %{{.*}}: tensor<?x4xf32> {bufferization.writable = false}
// CHECK-SAME: %{{.*}}: index,
// CHECK-SAME: %{{.*}}: tensor<4xi64> {bufferization.writable = false}
// CHECK-SAME: attributes {llvm.emit_c_interface, moe.entry_signature = (tensor<?x4xf32>, index, tensor<4xi64>) -> tensor<?x4xf32>}
func.func @entry(%x: tensor<?x4xf32>, %n: index, %ids: tensor<4xi64>) -> tensor<?x4xf32> {
  return %x : tensor<?x4xf32>
}

// Private functions and declarations are left alone.
// CHECK-LABEL: func.func private @helper(
// CHECK-NOT: bufferization.writable
// CHECK-NOT: llvm.emit_c_interface
// CHECK-SAME: {
func.func private @helper(%x: tensor<4xf32>) -> tensor<4xf32> {
  return %x : tensor<4xf32>
}
// CHECK: func.func private @external(tensor<4xf32>) -> tensor<4xf32>{{$}}
func.func private @external(tensor<4xf32>) -> tensor<4xf32>
