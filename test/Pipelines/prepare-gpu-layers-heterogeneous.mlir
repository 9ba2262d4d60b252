// RUN: moe-opt %s --moe-prepare-gpu-layers="element-type=" -split-input-file | FileCheck %s
// RUN: moe-opt %s --moe-prepare-gpu-layers="element-type= report=-" -split-input-file -o /dev/null | FileCheck %s --check-prefix=REPORT
// RUN: moe-opt %s --moe-prepare-gpu-layers="element-type= keep-transposed=true" -split-input-file | FileCheck %s --check-prefix=KT

// Heterogeneous experts (widths 8 and 16, concatenated gate/up stored
// [out, in], with biases): the weights are zero-padded into stacked tensors
// for the GPU kernels, with each group's own [K, M] as group_extents (not
// for the gate/up matmul, whose groups are two blocks each). The gate and up halves of each expert go to columns 0
// and 16 of its padded [32, ...] block, so that the activation becomes
// uniform: its columns past an expert's width hold act(0), which meet the
// down weights' zero rows.
// CHECK-LABEL: func.func @hmoe(
// CHECK-SAME: %[[X:[^:]*]]: tensor<?x4xf32>, %[[R:[^:]*]]: tensor<2x4xf32>, %[[U0:[^:]*]]: tensor<16x4xf32>, %[[U1:[^:]*]]: tensor<32x4xf32>, %[[C0:[^:]*]]: tensor<16xf32>, %[[C1:[^:]*]]: tensor<32xf32>, %[[D0:[^:]*]]: tensor<4x8xf32>, %[[D1:[^:]*]]: tensor<4x16xf32>
// CHECK: %[[UZ:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%{{.*}} : tensor<2x32x4xf32>)
// CHECK: %[[G0:.*]] = tensor.extract_slice %[[U0]][0, 0] [8, 4] [1, 1]
// CHECK: %[[P0:.*]] = tensor.insert_slice %[[G0]] into %[[UZ]][0, 0, 0] [1, 8, 4] [1, 1, 1]
// CHECK: %[[UP0:.*]] = tensor.extract_slice %[[U0]][8, 0] [8, 4] [1, 1]
// CHECK: %[[P1:.*]] = tensor.insert_slice %[[UP0]] into %[[P0]][0, 16, 0] [1, 8, 4] [1, 1, 1]
// CHECK: %[[G1:.*]] = tensor.extract_slice %[[U1]][0, 0] [16, 4] [1, 1]
// CHECK: %[[P2:.*]] = tensor.insert_slice %[[G1]] into %[[P1]][1, 0, 0] [1, 16, 4] [1, 1, 1]
// CHECK: %[[UP1:.*]] = tensor.extract_slice %[[U1]][16, 0] [16, 4] [1, 1]
// CHECK: %[[UW:.*]] = tensor.insert_slice %[[UP1]] into %[[P2]][1, 16, 0] [1, 16, 4] [1, 1, 1]
// CHECK: %[[CZ:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%{{.*}} : tensor<2x32xf32>)
// CHECK: tensor.extract_slice %[[C0]][0] [8] [1]
// CHECK: tensor.insert_slice %{{.*}} into %[[CZ]][0, 0] [1, 8] [1, 1]
// CHECK: tensor.extract_slice %[[C0]][8] [8] [1]
// CHECK: tensor.insert_slice %{{.*}}[0, 16] [1, 8] [1, 1]
// CHECK: %[[DZ:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%{{.*}} : tensor<2x4x16xf32>)
// CHECK: %[[Q0:.*]] = tensor.insert_slice %[[D0]] into %[[DZ]][0, 0, 0] [1, 4, 8] [1, 1, 1]
// CHECK: %[[DW:.*]] = tensor.insert_slice %[[D1]] into %[[Q0]][1, 0, 0] [1, 4, 16] [1, 1, 1]
// CHECK: linalg.transpose ins(%[[UW]] : tensor<2x32x4xf32>) outs(%{{.*}} : tensor<2x4x32xf32>) permutation = [0, 2, 1]
// CHECK: linalg.transpose ins(%[[DW]] : tensor<2x4x16xf32>) outs(%{{.*}} : tensor<2x16x4xf32>) permutation = [0, 2, 1]
// CHECK: call @hmoe_moe_layer0(
// CHECK-LABEL: func.func private @hmoe_moe_layer0(
// CHECK: %[[H:.*]] = moe.grouped_matmul %{{.*}}, %{{.*}} offsets(%[[OFF:.*]]) bias(%{{.*}}) : (tensor<?x4xf32>, tensor<2x4x32xf32>, tensor<3xi64>, tensor<2x32xf32>) -> tensor<?x32xf32>
// CHECK: %[[A:.*]] = moe.activation %[[H]] {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<concatenated>} : (tensor<?x32xf32>) -> tensor<?x16xf32>
// CHECK: moe.grouped_matmul %[[A]], %{{.*}} offsets(%[[OFF]]) {group_extents = array<i64: 8, 4, 16, 4>} : (tensor<?x16xf32>, tensor<2x16x4xf32>, tensor<3xi64>) -> tensor<?x4xf32>

// The report names each piece: its source, the block taken, where it goes.
// REPORT: "kind": "padded",
// REPORT-NEXT: "pieces": [
// REPORT-NEXT: {
// REPORT-NEXT: "from": [
// REPORT-NEXT: 0,
// REPORT-NEXT: 0
// REPORT-NEXT: ],
// REPORT-NEXT: "size": [
// REPORT-NEXT: 8,
// REPORT-NEXT: 4
// REPORT-NEXT: ],
// REPORT-NEXT: "source": {
// REPORT-NEXT: "index": 2,
// REPORT-NEXT: "kind": "argument"
// REPORT-NEXT: },
// REPORT-NEXT: "to": [
// REPORT-NEXT: 0,
// REPORT-NEXT: 0,
// REPORT-NEXT: 0
// REPORT-NEXT: ]
// REPORT-NEXT: },
// REPORT-NEXT: {
// REPORT-NEXT: "from": [
// REPORT-NEXT: 8,
// REPORT-NEXT: 0
// REPORT-NEXT: ],
// REPORT: "to": [
// REPORT-NEXT: 0,
// REPORT-NEXT: 16,
// REPORT-NEXT: 0
// REPORT-NEXT: ]
// REPORT: "shape": [
// REPORT-NEXT: 2,
// REPORT-NEXT: 32,
// REPORT-NEXT: 4
// REPORT-NEXT: ]
// REPORT-NEXT: },
// REPORT-NEXT: "transposed": true
// keep-transposed: the padded up weights (no group_extents) stay [E, N, K]
// with transpose_rhs; the down weights, whose group_extents the kernels
// read only from [E, K, N], are still transposed.
// KT-LABEL: func.func private @hmoe_moe_layer0(
// KT: moe.grouped_matmul %{{.*}}, %{{.*}} offsets(%{{.*}}) bias(%{{.*}}) {transpose_rhs} : (tensor<?x4xf32>, tensor<2x32x4xf32>
// KT: moe.grouped_matmul %{{.*}}, %{{.*}} offsets(%{{.*}}) {group_extents = array<i64: 8, 4, 16, 4>} : (tensor<?x16xf32>, tensor<2x16x4xf32>
func.func @hmoe(%x: tensor<?x4xf32>, %router: tensor<2x4xf32>,
                %u0: tensor<16x4xf32>, %u1: tensor<32x4xf32>,
                %c0: tensor<16xf32>, %c1: tensor<32xf32>,
                %d0: tensor<4x8xf32>, %d1: tensor<4x16xf32>) -> tensor<?x4xf32> {
  %w, %ids = moe.fused_route <token_choice> <softmax> %x, %router {k = 1 : i64} : tensor<?x4xf32>, tensor<2x4xf32> -> tensor<?x1xf32>, tensor<?x1xi64>
  %rows, %off, %map = moe.dispatch %x, %ids {num_experts = 2 : i64} : tensor<?x4xf32>, tensor<?x1xi64> -> tensor<?x4xf32>, tensor<3xi64>, tensor<?x1xi64>
  %h = moe.grouped_matmul %rows, %u0, %u1 offsets(%off) bias(%c0, %c1) {transpose_rhs} : (tensor<?x4xf32>, tensor<16x4xf32>, tensor<32x4xf32>, tensor<3xi64>, tensor<16xf32>, tensor<32xf32>) -> tensor<?x32xf32>
  %a = moe.activation %h offsets(%off) {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<concatenated>, widths = array<i64: 8, 16>} : (tensor<?x32xf32>, tensor<3xi64>) -> tensor<?x16xf32>
  %y = moe.grouped_matmul %a, %d0, %d1 offsets(%off) {transpose_rhs} : (tensor<?x16xf32>, tensor<4x8xf32>, tensor<4x16xf32>, tensor<3xi64>) -> tensor<?x4xf32>
  %out = moe.combine %y, %map, %w : (tensor<?x4xf32>, tensor<?x1xi64>, tensor<?x1xf32>) -> tensor<?x4xf32>
  return %out : tensor<?x4xf32>
}

// -----

// An activation of heterogeneous experts read past a group's width (expert
// 0's down weight has 16 rows, its width is 8) keeps its widths: its
// columns past a width must stay zero. Its matmuls are padded all the same;
// the GPU lowering will say that the activation has no kernel.
// CHECK-LABEL: func.func private @kept_moe_layer0(
// CHECK: %[[H:.*]] = moe.grouped_matmul %{{.*}}, %{{.*}} offsets(%[[OFF:.*]]) {group_extents = array<i64: 4, 8, 4, 16>} : (tensor<?x4xf32>, tensor<2x4x16xf32>, tensor<3xi64>) -> tensor<?x16xf32>
// CHECK: %[[A:.*]] = moe.activation %[[H]] offsets(%[[OFF]]) {activation = #moe.activation<gelu>, widths = array<i64: 8, 16>}
// CHECK: moe.grouped_matmul %[[A]], %{{.*}} offsets(%[[OFF]]) {group_extents = array<i64: 16, 4, 8, 4>} : (tensor<?x16xf32>, tensor<2x16x4xf32>, tensor<3xi64>) -> tensor<?x4xf32>
func.func @kept(%x: tensor<?x4xf32>, %router: tensor<2x4xf32>,
                %u0: tensor<4x8xf32>, %u1: tensor<4x16xf32>,
                %d0: tensor<16x4xf32>, %d1: tensor<8x4xf32>) -> tensor<?x4xf32> {
  %w, %ids = moe.fused_route <token_choice> <softmax> %x, %router {k = 1 : i64} : tensor<?x4xf32>, tensor<2x4xf32> -> tensor<?x1xf32>, tensor<?x1xi64>
  %rows, %off, %map = moe.dispatch %x, %ids {num_experts = 2 : i64} : tensor<?x4xf32>, tensor<?x1xi64> -> tensor<?x4xf32>, tensor<3xi64>, tensor<?x1xi64>
  %h = moe.grouped_matmul %rows, %u0, %u1 offsets(%off) : (tensor<?x4xf32>, tensor<4x8xf32>, tensor<4x16xf32>, tensor<3xi64>) -> tensor<?x16xf32>
  %a = moe.activation %h offsets(%off) {activation = #moe.activation<gelu>, widths = array<i64: 8, 16>} : (tensor<?x16xf32>, tensor<3xi64>) -> tensor<?x16xf32>
  %y = moe.grouped_matmul %a, %d0, %d1 offsets(%off) : (tensor<?x16xf32>, tensor<16x4xf32>, tensor<8x4xf32>, tensor<3xi64>) -> tensor<?x4xf32>
  %out = moe.combine %y, %map, %w : (tensor<?x4xf32>, tensor<?x1xi64>, tensor<?x1xf32>) -> tensor<?x4xf32>
  return %out : tensor<?x4xf32>
}
