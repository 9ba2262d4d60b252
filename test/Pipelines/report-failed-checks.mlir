// RUN: moe-opt %s --moe-report-failed-checks | FileCheck %s
// RUN: moe-opt %s --moe-report-failed-checks=function=my_error | FileCheck %s --check-prefix=NAMED
// RUN: moe-opt %s --moe-cpu-pipeline | FileCheck %s --check-prefix=PIPELINE
// RUN: moe-opt %s --moe-cpu-pipeline=runtime-error-function= | FileCheck %s --check-prefix=ABORT

// The CPU pipeline runs the pass (its two failure blocks merge, the message
// a block argument); with no function, upstream's puts and abort remain.
// PIPELINE-LABEL: llvm.func @two_checks
// PIPELINE: llvm.call @moe_runtime_error
// PIPELINE-NOT: @abort
// ABORT-NOT: moe_runtime_error
// ABORT: llvm.call @abort

// Each cf.assert becomes a branch to a block that calls the runner's error
// function with the message (a null-terminated global) and ends in
// unreachable; the code after the check continues in its own block.
// (The messages' bytes, 28 and 27 characters and a NUL, print as numbers.)
// CHECK-DAG: llvm.mlir.global private constant @[[M0:moe_check_message_[0-9]+]](dense<[111, 110, 110, 120, 32, {{.*}}, 0]> : tensor<29xi8>)
// CHECK-DAG: llvm.mlir.global private constant @[[M1:moe_check_message_[0-9]+]](dense<[111, 110, 110, 120, 32, {{.*}}, 0]> : tensor<28xi8>)
// CHECK-DAG: llvm.func @moe_runtime_error(!llvm.ptr)
// CHECK-LABEL: func.func @two_checks
// CHECK-NOT: cf.assert
// CHECK: cf.cond_br %arg0, ^[[NEXT:bb[0-9]+]], ^[[FAIL:bb[0-9]+]]
// CHECK: ^[[FAIL]]:
// CHECK: llvm.mlir.addressof @[[M0]]
// CHECK: llvm.call @moe_runtime_error(%{{.*}}) : (!llvm.ptr) -> ()
// CHECK-NEXT: llvm.unreachable
// CHECK: ^[[NEXT]]:
// CHECK: arith.addi
// CHECK: cf.cond_br %arg1
// CHECK: llvm.mlir.addressof @[[M1]]
// CHECK: llvm.call @moe_runtime_error
// CHECK: return

// NAMED: llvm.func @my_error(!llvm.ptr)
// NAMED: llvm.call @my_error
// NAMED-NOT: moe_runtime_error
func.func @two_checks(%ok1: i1, %ok2: i1, %x: index) -> index {
  cf.assert %ok1, "onnx node 'a' (Split): sizes"
  %y = arith.addi %x, %x : index
  cf.assert %ok2, "onnx node 'b' (Add): shapes"
  return %y : index
}
