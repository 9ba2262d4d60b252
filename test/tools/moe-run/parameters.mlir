// Weights reach the compiled code as parameters (bound by moe-run to the
// bytes the module names) instead of being compiled in, and give the same
// results whether compiled in, passed, or packed for the matmuls.
// RUN: rm -rf %t && mkdir -p %t
// RUN: moe-run %s --function=x --output=@%t/x.npy
// RUN: moe-run %s --function=experts --input=@%t/x.npy --output=@%t/ref.npy --output=@%t/ref1.npy --parameter-min-bytes=-1
// RUN: moe-run %s --function=experts --input=@%t/x.npy --output=@%t/param.npy --output=@%t/param1.npy --parameter-min-bytes=1 --pack-parameters=false
// RUN: moe-run %s --function=experts --input=@%t/x.npy --output=@%t/packed.npy --output=@%t/packed1.npy --parameter-min-bytes=1
// RUN: cmp %t/ref.npy %t/param.npy
// RUN: cmp %t/ref1.npy %t/param1.npy
// RUN: cmp %t/ref.npy %t/packed.npy
// RUN: cmp %t/ref1.npy %t/packed1.npy

// A module lowered ahead of time keeps its parameters' data in its resources
// and none in LLVM globals; moe-run binds them the same way.
// RUN: moe-opt %s --moe-cpu-pipeline="parameter-min-bytes=1" -o %t/lowered.mlir
// RUN: FileCheck %s --input-file=%t/lowered.mlir
// RUN: moe-run %t/lowered.mlir --function=experts --input=@%t/x.npy --output=@%t/lowered.npy --output=@%t/lowered1.npy
// RUN: cmp %t/ref.npy %t/lowered.npy
// RUN: cmp %t/ref1.npy %t/lowered1.npy
// CHECK-NOT: llvm.mlir.global {{.*}}dense_resource
// CHECK-LABEL: llvm.func @experts(
// CHECK-SAME: moe.parameters = [{permutation = array<i64: 0, 2, 1>, value = dense_resource<w> : tensor<2x3x4xf32>}, {permutation = array<i64: 1, 0>, value = dense<{{.*}}> : tensor<3x4xf32>}]

// A parameter without data (a resource elided when printed) is an error
// before anything is compiled.
// RUN: sed -e 's/dense_resource<w>/dense_resource<__elided__>/' %s > %t/elided.mlir
// RUN: not moe-run %t/elided.mlir --function=experts --input=@%t/x.npy --parameter-min-bytes=1 2>&1 \
// RUN:   | FileCheck %s --check-prefix=ELIDED
// ELIDED: moe-run: error: parameter 0 of @experts: dense_resource<__elided__> has no data (was it elided when printed?)

#lhs = affine_map<(d0, d1, d2) -> (d0, d2)>
#rhs_t = affine_map<(d0, d1, d2) -> (d1, d2)>
#out = affine_map<(d0, d1, d2) -> (d0, d1)>

// Two "experts" stored [E, N, K] (onnxruntime's layout) applied to all rows,
// and one [N, K] matrix.
func.func @experts(%x: tensor<?x4xf32>) -> (tensor<?x3xf32>, tensor<?x3xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense_resource<w> : tensor<2x3x4xf32>
  %v = arith.constant dense<[[1.0, 0.0, -1.0, 2.0], [0.5, 1.0, 0.0, -2.0], [3.0, -1.0, 1.0, 0.0]]> : tensor<3x4xf32>
  %n = tensor.dim %x, %c0 : tensor<?x4xf32>
  %e = tensor.empty(%n) : tensor<?x3xf32>
  %init = linalg.fill ins(%zero : f32) outs(%e : tensor<?x3xf32>) -> tensor<?x3xf32>
  %sum = scf.for %i = %c0 to %c2 step %c1 iter_args(%acc = %init) -> tensor<?x3xf32> {
    %s = tensor.extract_slice %w[%i, 0, 0] [1, 3, 4] [1, 1, 1] : tensor<2x3x4xf32> to tensor<3x4xf32>
    %y = linalg.matmul indexing_maps = [#lhs, #rhs_t, #out]
        ins(%x, %s : tensor<?x4xf32>, tensor<3x4xf32>) outs(%acc : tensor<?x3xf32>) -> tensor<?x3xf32>
    scf.yield %y : tensor<?x3xf32>
  }
  %z = linalg.matmul indexing_maps = [#lhs, #rhs_t, #out]
      ins(%x, %v : tensor<?x4xf32>, tensor<3x4xf32>) outs(%init : tensor<?x3xf32>) -> tensor<?x3xf32>
  return %sum, %z : tensor<?x3xf32>, tensor<?x3xf32>
}

// 11 rows: a full 8-row tile and a partial one.
func.func @x() -> tensor<11x4xf32> {
  %c = arith.constant dense<[[1.0, 2.0, 3.0, 4.0], [-1.0, 0.5, 2.0, 0.0], [0.0, 1.0, 0.0, 1.0],
      [2.0, 2.0, -2.0, 1.0], [1.0, 1.0, 1.0, 1.0], [3.0, 0.0, 1.0, -1.0], [0.0, 0.0, 4.0, 2.0],
      [1.5, -0.5, 1.0, 2.0], [-2.0, 1.0, 0.0, 3.0], [1.0, -1.0, 1.0, -1.0], [0.25, 0.5, 0.75, 1.0]]> : tensor<11x4xf32>
  return %c : tensor<11x4xf32>
}

{-#
  dialect_resources: {
    builtin: {
      w: "0x04000000000000c0000080bf000000000000803f00000040000000c0000080bf000000000000803f00000040000000c0000080bf000000000000803f00000040000000c0000080bf000000000000803f00000040000000c0000080bf000000000000803f"
    }
  }
#-}
