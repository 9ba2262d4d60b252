// RUN: moe-opt %s --convert-moe-to-linalg -split-input-file | FileCheck %s

// The router is one linalg.matmul (accumulating in f32 from bf16 inputs),
// initialized with the bias when there is one; an [H, E] weight is read as is.
// CHECK-LABEL: func.func @gate_transposed_with_bias
// CHECK: %[[INIT:.*]] = linalg.generic {{.*}} ins(%{{.*}} : tensor<8xf32>) outs(%{{.*}} : tensor<?x8xf32>)
// CHECK: linalg.matmul ins(%{{.*}}, %{{.*}} : tensor<?x16xbf16>, tensor<16x8xbf16>) outs(%[[INIT]] : tensor<?x8xf32>)
// CHECK-NOT: moe.gate
func.func @gate_transposed_with_bias(%x: tensor<?x16xbf16>, %w: tensor<16x8xbf16>,
                                     %b: tensor<8xf32>) -> tensor<?x8xf32> {
  %l = moe.gate %x, %w, %b {weight_transposed}
      : (tensor<?x16xbf16>, tensor<16x8xbf16>, tensor<8xf32>) -> tensor<?x8xf32>
  return %l : tensor<?x8xf32>
}

// -----

// DeepSeek-V3 routing becomes one call of the routing kernel whose constant
// operands spell the attributes: sigmoid (1), k = 8, renormalize, epsilon,
// scaling 2.5, 8 groups keep 4, group score of 2, no top-p; the selection
// bias and an all-true mask are passed as tensors.
// CHECK-LABEL: func.func @deepseek_v3
// CHECK-DAG: %[[SIGMOID:.*]] = arith.constant 1 : i32
// CHECK-DAG: %[[K:.*]] = arith.constant 8 : index
// CHECK-DAG: %[[TRUE:.*]] = arith.constant true
// CHECK-DAG: %[[EPS:.*]] = arith.constant 9.99999968E-21 : f32
// CHECK-DAG: %[[SCALE:.*]] = arith.constant 2.500000e+00 : f32
// CHECK-DAG: %[[G:.*]] = arith.constant 8 : index
// CHECK-DAG: %[[TG:.*]] = arith.constant 4 : index
// CHECK-DAG: %[[GT:.*]] = arith.constant 2 : index
// CHECK-DAG: %[[FALSE:.*]] = arith.constant false
// CHECK-DAG: %[[MASK:.*]] = arith.constant dense<true> : tensor<64xi1>
// CHECK: %[[R:.*]]:2 = call @__moe_route(%{{.*}}, %{{.*}}, %{{.*}}, %[[SIGMOID]], %[[K]], %[[TRUE]], %[[EPS]], %[[SCALE]], %[[G]], %[[TG]], %[[GT]], %[[FALSE]], %{{.*}})
// CHECK: tensor.cast %[[R]]#0 : tensor<?x?xf32> to tensor<?x8xf32>
// CHECK: %[[I32:.*]] = linalg.generic
// CHECK: arith.trunci %{{.*}} : i64 to i32
// CHECK: tensor.cast %[[I32]] : tensor<?x?xi32> to tensor<?x8xi32>
// The kernels are inserted once, privately.
// CHECK: func.func private @__moe_argmax
// CHECK: func.func private @__moe_scores
// CHECK: func.func private @__moe_route(
func.func @deepseek_v3(%l: tensor<?x64xf32>, %b: tensor<64xf32>)
    -> (tensor<?x8xf32>, tensor<?x8xi32>) {
  %w, %i = moe.route <token_choice> <sigmoid> %l bias(%b : tensor<64xf32>)
      {k = 8, renormalize, epsilon = 1.0e-20 : f64, scaling_factor = 2.5 : f64,
       num_groups = 8, topk_groups = 4}
      : tensor<?x64xf32> -> tensor<?x8xf32>, tensor<?x8xi32>
  return %w, %i : tensor<?x8xf32>, tensor<?x8xi32>
}

// -----

// Top-p passes the mode and p; the mask carries pruned experts.
// CHECK-LABEL: func.func @top_p_masked
// CHECK-DAG: %[[MASK:.*]] = arith.constant dense<[true, false, true, true]> : tensor<4xi1>
// CHECK-DAG: %[[P:.*]] = arith.constant 4.000000e-01 : f32
// CHECK: call @__moe_route({{.*}}, %[[P]])
func.func @top_p_masked(%l: tensor<5x4xf16>) -> (tensor<5x3xf16>, tensor<5x3xi64>) {
  %w, %i = moe.route <top_p> <softmax> %l
      {k = 3, top_p = 0.4 : f64, expert_mask = array<i1: true, false, true, true>}
      : tensor<5x4xf16> -> tensor<5x3xf16>, tensor<5x3xi64>
  return %w, %i : tensor<5x3xf16>, tensor<5x3xi64>
}

// -----

// Expert choice with a static token count: the capacity is a constant,
// ceil(10 * 2 / 4) = 5.
// CHECK-LABEL: func.func @expert_choice_static
// CHECK: %[[C:.*]] = arith.constant 5 : index
// CHECK: call @__moe_route_expert_choice(%{{.*}}, %{{.*}}, %[[C]])
func.func @expert_choice_static(%l: tensor<10x4xf32>) -> (tensor<10x4xf32>, tensor<4x5xi64>) {
  %w, %i = moe.route <expert_choice> <softmax> %l {capacity_factor = 2.0 : f64}
      : tensor<10x4xf32> -> tensor<10x4xf32>, tensor<4x5xi64>
  return %w, %i : tensor<10x4xf32>, tensor<4x5xi64>
}

// -----

// With a dynamic token count the capacity is computed at run time, in f64
// like RouteOp::getExpertCapacity.
// CHECK-LABEL: func.func @expert_choice_dynamic
// CHECK: arith.uitofp %{{.*}} : i64 to f64
// CHECK: math.ceil %{{.*}} : f64
// CHECK: arith.minimumf
// CHECK: arith.maximumf
// CHECK: arith.fptoui
// CHECK: arith.minui
// CHECK: call @__moe_route_expert_choice
func.func @expert_choice_dynamic(%l: tensor<?x4xf32>) -> (tensor<?x4xf32>, tensor<4x?xi64>) {
  %w, %i = moe.route <expert_choice> <sigmoid> %l {capacity_factor = 2.0 : f64}
      : tensor<?x4xf32> -> tensor<?x4xf32>, tensor<4x?xi64>
  return %w, %i : tensor<?x4xf32>, tensor<4x?xi64>
}

// -----

// moe.fused_route is one kernel call: tokens and router in, no [T, E] logits
// tensor; the router layout is a constant operand.
// CHECK-LABEL: func.func @fused_route
// CHECK-NOT: linalg.matmul
// CHECK-DAG: %[[TR:.*]] = arith.constant true
// CHECK: call @__moe_gate_route(%{{.*}}, %{{.*}}, %{{.*}}, %[[TR]],
// CHECK: func.func private @__moe_route_row(
// CHECK: func.func private @__moe_gate_route(
// CHECK:   math.fma
// CHECK:   call @__moe_route_row(
func.func @fused_route(%x: tensor<?x16xf32>, %w: tensor<16x8xf32>)
    -> (tensor<?x2xf32>, tensor<?x2xi64>) {
  %rw, %ri = moe.fused_route <token_choice> <softmax> %x, %w {k = 2, weight_transposed}
      : tensor<?x16xf32>, tensor<16x8xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  return %rw, %ri : tensor<?x2xf32>, tensor<?x2xi64>
}

// -----

// skip_ratio: the kernel's [T, k] results go through one elementwise
// generic that reads slot 0's weight of the row (map (d0, d1) -> (d0, 0))
// and, for slots past the first with w < 0.25 * w0, writes weight 0, id -1.
// CHECK-LABEL: func.func @skip_ratio
// CHECK: %[[R:.*]]:2 = call @__moe_route(
// CHECK: linalg.generic {indexing_maps = [#{{.*}}, #[[FIRST:.*]], #{{.*}}, #{{.*}}, #{{.*}}], iterator_types = ["parallel", "parallel"]} ins(%[[R]]#0, %[[R]]#0, %[[R]]#1 : tensor<?x?xf32>, tensor<?x?xf32>, tensor<?x?xi64>)
// CHECK: %[[S:.*]] = linalg.index 1 : index
// CHECK: arith.cmpi ugt, %[[S]], %{{.*}} : index
// CHECK: %[[B:.*]] = arith.mulf %{{.*}}, %{{.*}} : f32
// CHECK: arith.cmpf olt, %{{.*}}, %[[B]] : f32
// CHECK: arith.select %{{.*}}, %{{.*}}, %{{.*}} : i64
func.func @skip_ratio(%l: tensor<?x8xf32>) -> (tensor<?x2xf32>, tensor<?x2xi64>) {
  %w, %i = moe.route <token_choice> <softmax> %l {k = 2, renormalize, skip_ratio = 0.25}
      : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  return %w, %i : tensor<?x2xf32>, tensor<?x2xi64>
}

// -----

// moe.fused_route skips the same way after its kernel.
// CHECK-LABEL: func.func @fused_skip_ratio
// CHECK: %[[R:.*]]:2 = call @__moe_gate_route(
// CHECK: linalg.generic {{.*}} ins(%[[R]]#0, %[[R]]#0, %[[R]]#1 : tensor<?x?xf32>, tensor<?x?xf32>, tensor<?x?xi64>)
func.func @fused_skip_ratio(%x: tensor<?x16xf32>, %wr: tensor<8x16xf32>)
    -> (tensor<?x2xf32>, tensor<?x2xi64>) {
  %w, %i = moe.fused_route <token_choice> <softmax> %x, %wr {k = 2, skip_ratio = 0.5}
      : tensor<?x16xf32>, tensor<8x16xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  return %w, %i : tensor<?x2xf32>, tensor<?x2xi64>
}
