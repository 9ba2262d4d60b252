// RUN: moe-opt %s --convert-moe-to-linalg -split-input-file | FileCheck %s

// Switch-style dispatch with a capacity: the dispatch kernel for the row type
// gets E, the capacity and the drop policy as constants.
// CHECK-LABEL: func.func @capacity_in_order
// CHECK-DAG: %[[E:.*]] = arith.constant 4 : index
// CHECK-DAG: %[[CAP:.*]] = arith.constant 3 : i64
// CHECK-DAG: %[[NOGROUP:.*]] = arith.constant 0 : index
// CHECK: %[[D:.*]]:3 = call @__moe_dispatch_bf16(%{{.*}}, %{{.*}}, %[[E]], %[[CAP]], %false{{.*}}, %{{.*}}, %[[NOGROUP]], %false{{.*}}, %{{.*}})
// CHECK: tensor.cast %[[D]]#0 : tensor<?x?xbf16> to tensor<8x16xbf16>
// CHECK: func.func private @__moe_dispatch_bf16(%{{.*}}: tensor<?x?xbf16>
// CHECK: func.func private @__moe_dispatch_expert_choice_bf16
func.func @capacity_in_order(%x: tensor<8x16xbf16>, %ids: tensor<8x1xi32>)
    -> (tensor<8x16xbf16>, tensor<5xi32>, tensor<8x1xi32>) {
  %rows, %off, %map = moe.dispatch %x, %ids
      {num_experts = 4, capacity = 3, drop_policy = #moe.drop_policy<in_order>}
      : tensor<8x16xbf16>, tensor<8x1xi32> -> tensor<8x16xbf16>, tensor<5xi32>, tensor<8x1xi32>
  return %rows, %off, %map : tensor<8x16xbf16>, tensor<5xi32>, tensor<8x1xi32>
}

// -----

// Capacity counted per group of %seq tokens (Switch Transformers: per
// sequence): the run-time group size goes to the kernel, which restarts
// every expert's count at each group's first token.
// CHECK-LABEL: func.func @capacity_per_group
// CHECK-SAME: %[[SEQ:[^:]+]]: index
// CHECK: call @__moe_dispatch_f32(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[SEQ]], %{{.*}}, %{{.*}})
// CHECK: func.func private @__moe_dispatch_f32(
// CHECK-SAME: %[[G:[^:]+]]: index, %{{[^:]+}}: i1,
// CHECK: scf.for %[[T:.*]] = %{{.*}} to %{{.*}} step
// CHECK: %[[GROUPED:.*]] = arith.cmpi ugt, %[[G]], %{{.*}} : index
// CHECK: scf.if %[[GROUPED]] {
// CHECK: arith.remui %[[T]], %[[G]] : index
// CHECK: linalg.fill
func.func @capacity_per_group(%x: tensor<?x4xf32>, %ids: tensor<?x1xi64>, %seq: index)
    -> (tensor<?x4xf32>, tensor<3xi64>, tensor<?x1xi64>) {
  %rows, %off, %map = moe.dispatch %x, %ids group_size(%seq)
      {num_experts = 2, capacity = 2, drop_policy = #moe.drop_policy<in_order>}
      : tensor<?x4xf32>, tensor<?x1xi64> -> tensor<?x4xf32>, tensor<3xi64>, tensor<?x1xi64>
  return %rows, %off, %map : tensor<?x4xf32>, tensor<3xi64>, tensor<?x1xi64>
}

// -----

// by_weight passes the routing weights (as f32) to the kernel.
// CHECK-LABEL: func.func @capacity_by_weight
// CHECK: %[[W32:.*]] = linalg.generic {{.*}} ins(%{{.*}} : tensor<?x2xf16>)
// CHECK: %[[BYW:.*]] = arith.constant true
// CHECK: %[[WD:.*]] = tensor.cast %[[W32]] : tensor<?x2xf32> to tensor<?x?xf32>
// CHECK: call @__moe_dispatch_f32(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[BYW]], %[[WD]], %{{.*}})
func.func @capacity_by_weight(%x: tensor<?x4xf32>, %ids: tensor<?x2xi64>, %w: tensor<?x2xf16>)
    -> (tensor<?x4xf32>, tensor<3xi64>, tensor<?x2xi64>) {
  %rows, %off, %map = moe.dispatch %x, %ids weights(%w : tensor<?x2xf16>)
      {num_experts = 2, capacity = 1, drop_policy = #moe.drop_policy<by_weight>}
      : tensor<?x4xf32>, tensor<?x2xi64> -> tensor<?x4xf32>, tensor<3xi64>, tensor<?x2xi64>
  return %rows, %off, %map : tensor<?x4xf32>, tensor<3xi64>, tensor<?x2xi64>
}

// -----

// CHECK-LABEL: func.func @expert_choice
// CHECK: call @__moe_dispatch_expert_choice_f32
func.func @expert_choice(%x: tensor<10x4xf32>, %tok: tensor<4x5xi64>)
    -> (tensor<20x4xf32>, tensor<5xi64>, tensor<10x4xi64>) {
  %rows, %off, %map = moe.dispatch %x, %tok {num_experts = 4, expert_choice}
      : tensor<10x4xf32>, tensor<4x5xi64> -> tensor<20x4xf32>, tensor<5xi64>, tensor<10x4xi64>
  return %rows, %off, %map : tensor<20x4xf32>, tensor<5xi64>, tensor<10x4xi64>
}

// -----

// Combine is a reduction over the slots whose body gathers the routed row
// and skips slots with row -1.
// CHECK-DAG: #[[SLOT:.*]] = affine_map<(d0, d1, d2) -> (d0, d2)>
// CHECK-DAG: #[[OUT:.*]] = affine_map<(d0, d1, d2) -> (d0, d1)>
// CHECK-LABEL: func.func @combine
// CHECK: linalg.generic {indexing_maps = [#[[SLOT]], #[[SLOT]], #[[OUT]]], iterator_types = ["parallel", "parallel", "reduction"]} ins(%{{.*}}, %{{.*}} : tensor<?x2xi32>, tensor<?x2xf32>)
// CHECK: %[[VALID:.*]] = arith.cmpi sge, %{{.*}}, %{{.*}} : i32
// CHECK: %[[H:.*]] = linalg.index 1 : index
// CHECK: tensor.extract %{{.*}}[%{{.*}}, %[[H]]] : tensor<?x8xbf16>
// CHECK: arith.truncf %{{.*}} : f32 to bf16
// CHECK: arith.select %[[VALID]]
func.func @combine(%rows: tensor<?x8xbf16>, %map: tensor<?x2xi32>, %w: tensor<?x2xf32>)
    -> tensor<?x8xbf16> {
  %out = moe.combine %rows, %map, %w
      : (tensor<?x8xbf16>, tensor<?x2xi32>, tensor<?x2xf32>) -> tensor<?x8xbf16>
  return %out : tensor<?x8xbf16>
}

// -----

// expert_map: ids are renamed through a constant table before the kernel
// groups them (unused slots, -1, stay); the kernel sees the merged count.
// CHECK-LABEL: func.func @expert_map
// CHECK-DAG: %[[TABLE:.*]] = arith.constant dense<[1, 0, 1]> : tensor<3xi64>
// CHECK: %[[IDS:.*]] = linalg.generic
// CHECK: arith.cmpi sge
// CHECK: arith.cmpi slt
// CHECK: %[[ID:.*]] = tensor.extract %[[TABLE]]
// CHECK: arith.select %{{.*}}, %[[ID]], %{{.*}} : i64
// CHECK: %[[E:.*]] = arith.constant 2 : index
// CHECK: call @__moe_dispatch_f32(%{{.*}}, %[[IDS]], %[[E]],
func.func @expert_map(%x: tensor<?x4xf32>, %ids: tensor<?x2xi32>)
    -> (tensor<?x4xf32>, tensor<3xi64>, tensor<?x2xi64>) {
  %rows, %off, %map = moe.dispatch %x, %ids {num_experts = 2, expert_map = array<i64: 1, 0, 1>}
      : tensor<?x4xf32>, tensor<?x2xi32> -> tensor<?x4xf32>, tensor<3xi64>, tensor<?x2xi64>
  return %rows, %off, %map : tensor<?x4xf32>, tensor<3xi64>, tensor<?x2xi64>
}

// -----

// scale_rows (Llama 4): the kernel gets the routing weights in the row type
// and, for each kept slot, writes its token times the weight instead of
// copying the row.
// CHECK-LABEL: func.func @scale_rows
// CHECK: %[[WB:.*]] = linalg.generic {{.*}} ins(%{{.*}} : tensor<?x1xf32>)
// CHECK: arith.truncf %{{.*}} : f32 to bf16
// CHECK: %[[SCALE:.*]] = arith.constant true
// CHECK: %[[WD:.*]] = tensor.cast %[[WB]] : tensor<?x1xbf16> to tensor<?x?xbf16>
// CHECK: call @__moe_dispatch_bf16(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[SCALE]], %[[WD]])
// CHECK: func.func private @__moe_dispatch_bf16(
// CHECK-SAME: %[[S:[^:]+]]: i1, %[[SCALES:[^:]+]]: tensor<?x?xbf16>)
// CHECK: scf.if %[[S]] -> (tensor<?x?xbf16>)
// CHECK: %[[W:.*]] = tensor.extract %[[SCALES]]
// CHECK: scf.for
// CHECK: arith.mulf %{{.*}}, %[[W]] : bf16
// CHECK: } else {
// CHECK: tensor.insert_slice
func.func @scale_rows(%x: tensor<?x4xbf16>, %ids: tensor<?x1xi64>, %w: tensor<?x1xf32>)
    -> (tensor<?x4xbf16>, tensor<3xi64>, tensor<?x1xi64>) {
  %rows, %off, %map = moe.dispatch %x, %ids weights(%w : tensor<?x1xf32>) {num_experts = 2, scale_rows}
      : tensor<?x4xbf16>, tensor<?x1xi64> -> tensor<?x4xbf16>, tensor<3xi64>, tensor<?x1xi64>
  return %rows, %off, %map : tensor<?x4xbf16>, tensor<3xi64>, tensor<?x1xi64>
}

// -----

// An unweighted combine (after scale_rows) sums the valid slots' rows: the
// reduction reads only the row map.
// CHECK-LABEL: func.func @combine_unweighted
// CHECK: linalg.generic {{.*}} ins(%{{.*}} : tensor<?x1xi64>) outs(%{{.*}} : tensor<?x8xf32>)
// CHECK: %[[VALID:.*]] = arith.cmpi sge
// CHECK: %[[V:.*]] = tensor.extract
// CHECK-NOT: arith.mulf
// CHECK: arith.select %[[VALID]], %[[V]]
// CHECK: arith.addf
func.func @combine_unweighted(%rows: tensor<?x8xf32>, %map: tensor<?x1xi64>) -> tensor<?x8xf32> {
  %out = moe.combine %rows, %map : (tensor<?x8xf32>, tensor<?x1xi64>) -> tensor<?x8xf32>
  return %out : tensor<?x8xf32>
}
