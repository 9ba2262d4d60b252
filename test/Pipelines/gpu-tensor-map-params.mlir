// RUN: moe-opt %s --moe-gpu-tensor-map-params --split-input-file | FileCheck %s

// The kernel's last two arguments become 128-byte __grid_constant__
// parameters; the launch passes the maps' bytes, zeros for a null map.
// CHECK: llvm.mlir.global internal constant @__moe_null_tensor_map(dense<0> : tensor<16xi64>) {addr_space = 0 : i32, alignment = 64 : i64} : !llvm.array<16 x i64>
// CHECK-LABEL: llvm.func @kernel(
// CHECK-SAME: %{{[^:]*}}: !llvm.ptr, %{{[^:]*}}: i64,
// CHECK-SAME: %{{[^:]*}}: !llvm.ptr {llvm.align = 64 : i64, llvm.byval = !llvm.array<16 x i64>, nvvm.grid_constant},
// CHECK-SAME: %{{[^:]*}}: !llvm.ptr {llvm.align = 64 : i64, llvm.byval = !llvm.array<16 x i64>, nvvm.grid_constant})
// CHECK-NOT: moe.tensor_map_params
// Other kernels and their launches are left alone.
// CHECK-LABEL: llvm.func @other(
// CHECK-SAME: %{{[^:]*}}: !llvm.ptr)
// CHECK-LABEL: llvm.func @host(
// CHECK-SAME: %[[OUT:[^:]*]]: !llvm.ptr, %[[N:[^:]*]]: i64, %[[A:[^:]*]]: !llvm.ptr, %[[B:[^:]*]]: !llvm.ptr, %[[S:[^:]*]]: !llvm.ptr)
// CHECK: %[[ZEROS:.*]] = llvm.mlir.addressof @__moe_null_tensor_map : !llvm.ptr
// CHECK: %[[NULL:.*]] = llvm.mlir.zero : !llvm.ptr
// CHECK: %[[AN:.*]] = llvm.icmp "eq" %[[A]], %[[NULL]] : !llvm.ptr
// CHECK: %[[AP:.*]] = llvm.select %[[AN]], %[[ZEROS]], %[[A]] : i1, !llvm.ptr
// CHECK: %[[AV:.*]] = llvm.load %[[AP]] {alignment = 64 : i64} : !llvm.ptr -> !llvm.array<16 x i64>
// CHECK: %[[BN:.*]] = llvm.icmp "eq" %[[B]], %[[NULL]] : !llvm.ptr
// CHECK: %[[BP:.*]] = llvm.select %[[BN]], %[[ZEROS]], %[[B]] : i1, !llvm.ptr
// CHECK: %[[BV:.*]] = llvm.load %[[BP]] {alignment = 64 : i64} : !llvm.ptr -> !llvm.array<16 x i64>
// CHECK: gpu.launch_func <%[[S]] : !llvm.ptr> @kernels::@kernel {{.*}} args(%[[OUT]] : !llvm.ptr, %[[N]] : i64, %[[AV]] : !llvm.array<16 x i64>, %[[BV]] : !llvm.array<16 x i64>)
// CHECK: gpu.launch_func <%[[S]] : !llvm.ptr> @kernels::@other {{.*}} args(%[[A]] : !llvm.ptr)
module attributes {gpu.container_module} {
  gpu.module @kernels {
    llvm.func @kernel(%out: !llvm.ptr, %n: i64, %a: !llvm.ptr, %b: !llvm.ptr) attributes {gpu.kernel, moe.tensor_map_params = 2 : i64, nvvm.kernel} {
      llvm.return
    }
    llvm.func @other(%p: !llvm.ptr) attributes {gpu.kernel, nvvm.kernel} {
      llvm.return
    }
  }
  llvm.func @host(%out: !llvm.ptr, %n: i64, %a: !llvm.ptr, %b: !llvm.ptr, %s: !llvm.ptr) {
    %c1 = llvm.mlir.constant(1 : index) : i64
    gpu.launch_func <%s : !llvm.ptr> @kernels::@kernel blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) : i64 args(%out : !llvm.ptr, %n : i64, %a : !llvm.ptr, %b : !llvm.ptr)
    gpu.launch_func <%s : !llvm.ptr> @kernels::@other blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) : i64 args(%a : !llvm.ptr)
    llvm.return
  }
}
