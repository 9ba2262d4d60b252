// RUN: moe-opt %s --moe-approximate-math --split-input-file | FileCheck %s

// The f32 exp of an elementwise body (here SiLU's sigmoid) becomes the
// polynomial approximation: arithmetic only, which LLVM vectorizes.
// CHECK-LABEL: func.func @silu(
// CHECK:       linalg.generic
// CHECK-NOT:     math.exp
// CHECK:         arith.fptosi
// CHECK:         arith.divf
// CHECK:         linalg.yield
func.func @silu(%x: tensor<4x16xf32>) -> tensor<4x16xf32> {
  %e = tensor.empty() : tensor<4x16xf32>
  %one = arith.constant 1.0 : f32
  %r = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>,
                                        affine_map<(d0, d1) -> (d0, d1)>],
                       iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<4x16xf32>) outs(%e : tensor<4x16xf32>) {
  ^bb0(%a: f32, %b: f32):
    %n = arith.negf %a : f32
    %x2 = math.exp %n : f32
    %d = arith.addf %one, %x2 : f32
    %s = arith.divf %a, %d : f32
    linalg.yield %s : f32
  } -> tensor<4x16xf32>
  return %r : tensor<4x16xf32>
}

// -----

// Reductions (the routing softmax's sums), f64 exp and exp outside linalg
// bodies (the routing kernels) keep math.exp.
// CHECK-LABEL: func.func @kept(
// CHECK:       linalg.generic
// CHECK:         math.exp %{{.*}} : f32
// CHECK:       linalg.generic
// CHECK:         math.exp %{{.*}} : f64
// CHECK:       math.exp %{{.*}} : f32
func.func @kept(%x: tensor<4x16xf32>, %y: tensor<8xf64>, %s: f32)
    -> (tensor<4xf32>, tensor<8xf64>, f32) {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4xf32>
  %init = linalg.fill ins(%zero : f32) outs(%e : tensor<4xf32>) -> tensor<4xf32>
  %sum = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>,
                                          affine_map<(d0, d1) -> (d0)>],
                         iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<4x16xf32>) outs(%init : tensor<4xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %ex = math.exp %a : f32
    %t = arith.addf %acc, %ex : f32
    linalg.yield %t : f32
  } -> tensor<4xf32>
  %e64 = tensor.empty() : tensor<8xf64>
  %r64 = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>,
                                          affine_map<(d0) -> (d0)>],
                         iterator_types = ["parallel"]}
      ins(%y : tensor<8xf64>) outs(%e64 : tensor<8xf64>) {
  ^bb0(%a: f64, %b: f64):
    %ex = math.exp %a : f64
    linalg.yield %ex : f64
  } -> tensor<8xf64>
  %es = math.exp %s : f32
  return %sum, %r64, %es : tensor<4xf32>, tensor<8xf64>, f32
}
