// RUN: moe-opt %s --convert-moe-to-gpu -split-input-file -verify-diagnostics | FileCheck %s

// moe.scatter_columns (the sparse columns of a compressed expert): one
// launch over ceil(rows / 256) blocks; a block copies its 256 rows of dest
// into the result, then each thread finds its row's group and adds the
// row's source columns, in order, where the group's column index is >= 0.
// CHECK-LABEL: func.func @scatter(
// CHECK: %[[BLOCKS:.*]] = arith.divui %{{.*}}, %c256 : index
// CHECK: gpu.launch_func async {{.*}} @moe_kernels::@scatter_columns_bf16_i32_i64_e4_m8_w64 blocks in (%[[BLOCKS]], %c1, %c1) threads in (%c256, %c1, %c1) args(%{{.*}} : memref<?x8xbf16>, %{{.*}} : memref<?x64xbf16>, %{{.*}} : memref<4x8xi32>, %{{.*}} : memref<5xi64>, %{{.*}} : memref<?x64xbf16>)
// CHECK: gpu.func @scatter_columns_bf16_i32_i64_e4_m8_w64(%[[SRC:.*]]: memref<?x8xbf16>, %[[DEST:.*]]: memref<?x64xbf16>, %[[COLS:.*]]: memref<4x8xi32>, %[[OFF:.*]]: memref<5xi64>, %[[OUT:.*]]: memref<?x64xbf16>) kernel
// The block's rows of dest, then a barrier.
// CHECK: scf.for
// CHECK: %[[D:.*]] = memref.load %[[DEST]]
// CHECK: memref.store %[[D]], %[[OUT]]
// CHECK: gpu.barrier
// The row's group: how many of offsets[1..E] are at or before it.
// CHECK: %[[G:.*]] = scf.for %{{.*}} = %c1 to %c5 step %c1 iter_args
// CHECK: memref.load %[[OFF]]
// CHECK: arith.cmpi sle
// CHECK: scf.for %[[J:.*]] = %c0 to %c8 step %c1
// CHECK: %[[C:.*]] = memref.load %[[COLS]][%[[G]], %[[J]]] : memref<4x8xi32>
// CHECK: %[[KEPT:.*]] = arith.cmpi sge, %[[C]], %{{.*}} : i32
// CHECK: scf.if %[[KEPT]]
// CHECK: %[[COL:.*]] = arith.index_cast %[[C]] : i32 to index
// CHECK: %[[R:.*]] = memref.load %[[OUT]][%{{.*}}, %[[COL]]]
// CHECK: %[[S:.*]] = memref.load %[[SRC]][%{{.*}}, %[[J]]]
// CHECK: %[[SUM:.*]] = arith.addf
// CHECK: %[[T:.*]] = arith.truncf %[[SUM]] : f32 to bf16
// CHECK: memref.store %[[T]], %[[OUT]][%{{.*}}, %[[COL]]]
func.func @scatter(%s: tensor<?x8xbf16>, %d: tensor<?x64xbf16>, %cols: tensor<4x8xi32>, %off: tensor<5xi64>) -> tensor<?x64xbf16> {
  %y = moe.scatter_columns %s into %d columns(%cols) offsets(%off) : (tensor<?x8xbf16>, tensor<?x64xbf16>, tensor<4x8xi32>, tensor<5xi64>) -> tensor<?x64xbf16>
  return %y : tensor<?x64xbf16>
}

// -----

// unique_columns (what --moe-compress-experts makes): one block per row
// (grid = rows), which copies the row with 16-byte vectors and, after a
// barrier, adds one column per thread.
// CHECK-LABEL: func.func @unique(
// CHECK: %[[ROWS:.*]] = memref.dim %{{.*}}, %c0 : memref<?x64xbf16>
// CHECK: gpu.launch_func async {{.*}} @moe_kernels::@scatter_columns_bf16_i32_i64_e4_m8_w64_unique blocks in (%[[ROWS]], %c1, %c1) threads in (%c256, %c1, %c1)
// CHECK: gpu.func @scatter_columns_bf16_i32_i64_e4_m8_w64_unique(%[[SRC:.*]]: memref<?x8xbf16>, %[[DEST:.*]]: memref<?x64xbf16>, %[[COLS:.*]]: memref<4x8xi32>, %[[OFF:.*]]: memref<5xi64>, %[[OUT:.*]]: memref<?x64xbf16>) kernel
// CHECK: %[[TID:.*]] = gpu.thread_id x
// CHECK: %[[ROW:.*]] = gpu.block_id x
// CHECK: %[[H0:.*]] = arith.muli %[[TID]], %c8
// CHECK: scf.for %[[H:.*]] = %[[H0]] to %c64 step %c2048
// CHECK: %[[V:.*]] = vector.load %[[DEST]][%[[ROW]], %[[H]]] {alignment = 16 : i64} : memref<?x64xbf16>, vector<8xbf16>
// CHECK: vector.store %[[V]], %[[OUT]][%[[ROW]], %[[H]]]
// CHECK: gpu.barrier
// CHECK: %[[G:.*]] = scf.for %{{.*}} = %c1 to %c5 step %c1 iter_args
// CHECK: scf.for %[[J:.*]] = %[[TID]] to %c8 step %c256
// CHECK: %[[C:.*]] = memref.load %[[COLS]][%[[G]], %[[J]]] : memref<4x8xi32>
// CHECK: memref.load %[[OUT]][%[[ROW]], %{{.*}}]
// CHECK: memref.load %[[SRC]][%[[ROW]], %[[J]]]
// CHECK: arith.addf
func.func @unique(%s: tensor<?x8xbf16>, %d: tensor<?x64xbf16>, %cols: tensor<4x8xi32>, %off: tensor<5xi64>) -> tensor<?x64xbf16> {
  %y = moe.scatter_columns %s into %d columns(%cols) offsets(%off) {unique_columns} : (tensor<?x8xbf16>, tensor<?x64xbf16>, tensor<4x8xi32>, tensor<5xi64>) -> tensor<?x64xbf16>
  return %y : tensor<?x64xbf16>
}

// -----

func.func @f64(%s: tensor<?x8xf64>, %d: tensor<?x64xf64>, %cols: tensor<4x8xi32>, %off: tensor<5xi64>) -> tensor<?x64xf64> {
  // expected-error @below {{the GPU kernels compute in f32; 'f64' is not supported}}
  %y = moe.scatter_columns %s into %d columns(%cols) offsets(%off) : (tensor<?x8xf64>, tensor<?x64xf64>, tensor<4x8xi32>, tensor<5xi64>) -> tensor<?x64xf64>
  return %y : tensor<?x64xf64>
}

// -----

func.func @dynamic_width(%s: tensor<?x8xbf16>, %d: tensor<?x?xbf16>, %cols: tensor<4x8xi32>, %off: tensor<5xi64>) -> tensor<?x?xbf16> {
  // expected-error @below {{the GPU lowering needs static widths}}
  %y = moe.scatter_columns %s into %d columns(%cols) offsets(%off) : (tensor<?x8xbf16>, tensor<?x?xbf16>, tensor<4x8xi32>, tensor<5xi64>) -> tensor<?x?xbf16>
  return %y : tensor<?x?xbf16>
}
