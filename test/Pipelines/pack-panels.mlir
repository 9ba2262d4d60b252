// RUN: moe-opt %s --split-input-file --moe-pack-panels | FileCheck %s
// RUN: moe-opt %s --split-input-file --moe-pack-panels="width=32 min-rows-per-group=1" | FileCheck %s --check-prefix=W32
// RUN: moe-opt %s --split-input-file --moe-pack-panels="max-separate-groups=1" | FileCheck %s --check-prefix=SEP1

// A widening grouped matmul (K = 64 -> M = 192) on a constant [E, K, M]
// weight reads it as panels [E, M / 64, K, 64] (the same elements reshaped
// to [E, K, M / 64, 64], panel dimension moved before K) in calls with at
// least 8 rows per group on average (16 rows over 2 groups), and as it is
// otherwise.
// CHECK-LABEL: func.func @plain(
// CHECK-SAME: %[[A:[^:]*]]: tensor<?x64xf32>, %[[OFF:[^:]*]]: tensor<3xi64>, %[[B:[^:]*]]: tensor<2x192xf32>)
// CHECK: %[[W:.*]] = arith.constant dense_resource<w> : tensor<2x64x192xf32>
// CHECK: %[[ROWS:.*]] = tensor.dim %[[A]], %{{.*}} : tensor<?x64xf32>
// CHECK: %[[C16:.*]] = arith.constant 16 : index
// CHECK: %[[MANY:.*]] = arith.cmpi uge, %[[ROWS]], %[[C16]] : index
// CHECK: %[[Y:.*]] = scf.if %[[MANY]] -> (tensor<?x192xf32>) {
// CHECK:   %[[X:.*]] = tensor.expand_shape %[[W]] {{\[}}[0], [1], [2, 3]] output_shape [2, 64, 3, 64] : tensor<2x64x192xf32> into tensor<2x64x3x64xf32>
// CHECK:   %[[INIT:.*]] = tensor.empty() : tensor<2x3x64x64xf32>
// CHECK:   %[[P:.*]] = linalg.transpose ins(%[[X]] : tensor<2x64x3x64xf32>) outs(%[[INIT]] : tensor<2x3x64x64xf32>) permutation = [0, 2, 1, 3]
// CHECK:   %[[YP:.*]] = moe.grouped_matmul %[[A]], %[[P]] offsets(%[[OFF]]) bias(%[[B]]) {panels} : (tensor<?x64xf32>, tensor<2x3x64x64xf32>, tensor<3xi64>, tensor<2x192xf32>) -> tensor<?x192xf32>
// CHECK:   scf.yield %[[YP]]
// CHECK: } else {
// CHECK:   %[[YW:.*]] = moe.grouped_matmul %[[A]], %[[W]] offsets(%[[OFF]]) bias(%[[B]]) : (tensor<?x64xf32>, tensor<2x64x192xf32>, tensor<3xi64>, tensor<2x192xf32>) -> tensor<?x192xf32>
// CHECK:   scf.yield %[[YW]]
// CHECK: return %[[Y]]
// W32-LABEL: func.func @plain(
// W32: arith.constant 2 : index
// W32: moe.grouped_matmul {{.*}} {panels} : (tensor<?x64xf32>, tensor<2x6x64x32xf32>, tensor<3xi64>, tensor<2x192xf32>)
func.func @plain(%x: tensor<?x64xf32>, %off: tensor<3xi64>, %b: tensor<2x192xf32>) -> tensor<?x192xf32> {
  %w = arith.constant dense_resource<w> : tensor<2x64x192xf32>
  %y = moe.grouped_matmul %x, %w offsets(%off) bias(%b)
      : (tensor<?x64xf32>, tensor<2x64x192xf32>, tensor<3xi64>, tensor<2x192xf32>) -> tensor<?x192xf32>
  return %y : tensor<?x192xf32>
}

// -----

// A transposed [E, M, K] weight (onnxruntime's layout) gives the same
// panels: reshaped to [E, M / 64, 64, K], each panel transposed. A static
// row count chooses here: 16 rows over 2 groups take the panels only.
// CHECK-LABEL: func.func @transposed(
// CHECK-NOT: scf.if
// CHECK: %[[X:.*]] = tensor.expand_shape %{{.*}} {{\[}}[0], [1, 2], [3]] output_shape [2, 2, 64, 64] : tensor<2x128x64xf32> into tensor<2x2x64x64xf32>
// CHECK: %[[P:.*]] = linalg.transpose ins(%[[X]] : tensor<2x2x64x64xf32>) outs(%{{.*}} : tensor<2x2x64x64xf32>) permutation = [0, 1, 3, 2]
// CHECK: %[[Y:.*]] = moe.grouped_matmul %{{.*}}, %[[P]] offsets(%{{.*}}) {panels} : (tensor<16x64xf32>, tensor<2x2x64x64xf32>, tensor<3xi64>) -> tensor<16x128xf32>
// CHECK-NEXT: return %[[Y]]
func.func @transposed(%x: tensor<16x64xf32>, %off: tensor<3xi64>) -> tensor<16x128xf32> {
  %w = arith.constant dense_resource<w> : tensor<2x128x64xf32>
  %y = moe.grouped_matmul %x, %w offsets(%off) {transpose_rhs}
      : (tensor<16x64xf32>, tensor<2x128x64xf32>, tensor<3xi64>) -> tensor<16x128xf32>
  return %y : tensor<16x128xf32>
}

// -----

// 15 static rows over 2 groups: too few, the layout stays.
// CHECK-LABEL: func.func @few_rows(
// CHECK-NOT: panels
// CHECK: moe.grouped_matmul %{{.*}}, %{{.*}} offsets(%{{.*}}) {transpose_rhs}
func.func @few_rows(%x: tensor<15x64xf32>, %off: tensor<3xi64>) -> tensor<15x128xf32> {
  %w = arith.constant dense_resource<w> : tensor<2x128x64xf32>
  %y = moe.grouped_matmul %x, %w offsets(%off) {transpose_rhs}
      : (tensor<15x64xf32>, tensor<2x128x64xf32>, tensor<3xi64>) -> tensor<15x128xf32>
  return %y : tensor<15x128xf32>
}

// -----

// Kept as they are: M not a multiple of the panel width (96), a narrowing
// matmul (the down projection, 192 -> 64), a weight that is an argument
// (packing it would copy it in every call), f16, and per-group weights.
// CHECK-LABEL: func.func @kept(
// CHECK-NOT: panels
// CHECK-NOT: linalg.transpose
// CHECK: return
// With panels of 32 columns, M = 96 is a whole number of panels.
// W32-LABEL: func.func @kept(
// W32: moe.grouped_matmul {{.*}} {panels} : (tensor<?x64xf32>, tensor<2x3x64x32xf32>, tensor<3xi64>) -> tensor<?x96xf32>
func.func @kept(%x: tensor<?x64xf32>, %h: tensor<?x192xf32>, %off: tensor<3xi64>,
                %arg: tensor<2x64x192xf32>, %xh: tensor<?x64xf16>, %g: tensor<64x128xf32>)
    -> (tensor<?x96xf32>, tensor<?x64xf32>, tensor<?x192xf32>, tensor<?x192xf16>, tensor<?x128xf32>) {
  %w96 = arith.constant dense_resource<w96> : tensor<2x64x96xf32>
  %y0 = moe.grouped_matmul %x, %w96 offsets(%off)
      : (tensor<?x64xf32>, tensor<2x64x96xf32>, tensor<3xi64>) -> tensor<?x96xf32>
  %down = arith.constant dense_resource<down> : tensor<2x192x64xf32>
  %y1 = moe.grouped_matmul %h, %down offsets(%off)
      : (tensor<?x192xf32>, tensor<2x192x64xf32>, tensor<3xi64>) -> tensor<?x64xf32>
  %y2 = moe.grouped_matmul %x, %arg offsets(%off)
      : (tensor<?x64xf32>, tensor<2x64x192xf32>, tensor<3xi64>) -> tensor<?x192xf32>
  %wh = arith.constant dense_resource<wh> : tensor<2x64x192xf16>
  %y3 = moe.grouped_matmul %xh, %wh offsets(%off)
      : (tensor<?x64xf16>, tensor<2x64x192xf16>, tensor<3xi64>) -> tensor<?x192xf16>
  %y4 = moe.grouped_matmul %x, %g, %g offsets(%off)
      : (tensor<?x64xf32>, tensor<64x128xf32>, tensor<64x128xf32>, tensor<3xi64>) -> tensor<?x128xf32>
  return %y0, %y1, %y2, %y3, %y4 : tensor<?x96xf32>, tensor<?x64xf32>, tensor<?x192xf32>, tensor<?x192xf16>, tensor<?x128xf32>
}

// -----

// One constant [K, M] weight per group (a per-expert loop export): one panel
// stack [M / 64, K, 64] per group.
// CHECK-LABEL: func.func @per_group(
// CHECK: %[[X0:.*]] = tensor.expand_shape %{{.*}} {{\[}}[0], [1, 2]] output_shape [64, 2, 64] : tensor<64x128xf32> into tensor<64x2x64xf32>
// CHECK: %[[P0:.*]] = linalg.transpose ins(%[[X0]] : tensor<64x2x64xf32>) outs(%{{.*}} : tensor<2x64x64xf32>) permutation = [1, 0, 2]
// CHECK: %[[X1:.*]] = tensor.expand_shape %{{.*}} {{\[}}[0], [1, 2]] output_shape [64, 2, 64] : tensor<64x128xf32> into tensor<64x2x64xf32>
// CHECK: %[[P1:.*]] = linalg.transpose ins(%[[X1]] : tensor<64x2x64xf32>) outs(%{{.*}} : tensor<2x64x64xf32>) permutation = [1, 0, 2]
// CHECK: moe.grouped_matmul %{{.*}}, %[[P0]], %[[P1]] offsets(%{{.*}}) {panels} : (tensor<16x64xf32>, tensor<2x64x64xf32>, tensor<2x64x64xf32>, tensor<3xi64>) -> tensor<16x128xf32>
// Two separate weights are more than max-separate-groups=1: kept as they are.
// SEP1-LABEL: func.func @per_group(
// SEP1-NOT: linalg.transpose
// SEP1: moe.grouped_matmul %{{.*}}, %{{.*}}, %{{.*}} offsets(%{{.*}}) : (tensor<16x64xf32>, tensor<64x128xf32>, tensor<64x128xf32>, tensor<3xi64>)
// SEP1-LABEL: func.func @per_group_mixed(
func.func @per_group(%x: tensor<16x64xf32>, %off: tensor<3xi64>) -> tensor<16x128xf32> {
  %w0 = arith.constant dense_resource<w0> : tensor<64x128xf32>
  %w1 = arith.constant dense_resource<w1> : tensor<64x128xf32>
  %y = moe.grouped_matmul %x, %w0, %w1 offsets(%off)
      : (tensor<16x64xf32>, tensor<64x128xf32>, tensor<64x128xf32>, tensor<3xi64>) -> tensor<16x128xf32>
  return %y : tensor<16x128xf32>
}

// -----

// Per-group weights of different shapes (heterogeneous experts) keep them.
// CHECK-LABEL: func.func @per_group_mixed(
// CHECK-NOT: panels
// CHECK: return
func.func @per_group_mixed(%x: tensor<16x64xf32>, %off: tensor<3xi64>) -> tensor<16x192xf32> {
  %w0 = arith.constant dense_resource<w0> : tensor<64x128xf32>
  %w1 = arith.constant dense_resource<w1> : tensor<64x192xf32>
  %y = moe.grouped_matmul %x, %w0, %w1 offsets(%off)
      : (tensor<16x64xf32>, tensor<64x128xf32>, tensor<64x192xf32>, tensor<3xi64>) -> tensor<16x192xf32>
  return %y : tensor<16x192xf32>
}

// -----

// A gate and an up projection whose only user is one activation move into
// the same branch as it: one scf.if on the row count, panels and the
// activation on one side, the ops as they were on the other, and the
// activation's result is what it yields (convert-moe-to-linalg then runs
// the three panel by panel).
// CHECK-LABEL: func.func @gated_pair
// CHECK: %[[H:.*]] = scf.if %{{.*}} -> (tensor<?x128xf32>) {
// CHECK:   %[[G:.*]] = moe.grouped_matmul {{.*}} {panels}
// CHECK:   %[[U:.*]] = moe.grouped_matmul {{.*}} {panels}
// CHECK:   %[[HP:.*]] = moe.activation %[[G]], %[[U]]
// CHECK:   scf.yield %[[HP]]
// CHECK: } else {
// CHECK:   %[[G2:.*]] = moe.grouped_matmul
// CHECK-NOT: panels
// CHECK:   %[[U2:.*]] = moe.grouped_matmul
// CHECK:   %[[HQ:.*]] = moe.activation %[[G2]], %[[U2]]
// CHECK:   scf.yield %[[HQ]]
// CHECK: return %[[H]]
func.func @gated_pair(%x: tensor<?x64xf32>, %off: tensor<3xi64>) -> tensor<?x128xf32> {
  %wg = arith.constant dense<1.0> : tensor<2x64x128xf32>
  %wu = arith.constant dense<2.0> : tensor<2x64x128xf32>
  %g = moe.grouped_matmul %x, %wg offsets(%off) : (tensor<?x64xf32>, tensor<2x64x128xf32>, tensor<3xi64>) -> tensor<?x128xf32>
  %u = moe.grouped_matmul %x, %wu offsets(%off) : (tensor<?x64xf32>, tensor<2x64x128xf32>, tensor<3xi64>) -> tensor<?x128xf32>
  %h = moe.activation %g, %u {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<separate>} : (tensor<?x128xf32>, tensor<?x128xf32>) -> tensor<?x128xf32>
  return %h : tensor<?x128xf32>
}

// -----

// A projection that something else reads too stays apart: each op gets its
// own choice, and the activation stays after both.
// CHECK-LABEL: func.func @gate_read_twice
// CHECK: %[[G:.*]] = scf.if
// CHECK: %[[U:.*]] = scf.if
// CHECK: moe.activation %[[G]], %[[U]]
func.func @gate_read_twice(%x: tensor<?x64xf32>, %off: tensor<3xi64>) -> (tensor<?x128xf32>, tensor<?x128xf32>) {
  %wg = arith.constant dense<1.0> : tensor<2x64x128xf32>
  %wu = arith.constant dense<2.0> : tensor<2x64x128xf32>
  %g = moe.grouped_matmul %x, %wg offsets(%off) : (tensor<?x64xf32>, tensor<2x64x128xf32>, tensor<3xi64>) -> tensor<?x128xf32>
  %u = moe.grouped_matmul %x, %wu offsets(%off) : (tensor<?x64xf32>, tensor<2x64x128xf32>, tensor<3xi64>) -> tensor<?x128xf32>
  %h = moe.activation %g, %u {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<separate>} : (tensor<?x128xf32>, tensor<?x128xf32>) -> tensor<?x128xf32>
  return %h, %g : tensor<?x128xf32>, tensor<?x128xf32>
}
