// -O0 ... -O3 choose LLVM's optimization level (-O3 by default). The
// values below make every sum exact, so each level must write the same
// bytes as the default.
// RUN: rm -rf %t && mkdir -p %t
// RUN: moe-run %s --function=rows --output=@%t/rows.npy
// RUN: moe-run %s --function=weight --output=@%t/weight.npy
// RUN: moe-run %s --function=relu_matmul --input=@%t/rows.npy --input=@%t/weight.npy --output=@%t/default.npy
// RUN: moe-run %s -O0 --function=relu_matmul --input=@%t/rows.npy --input=@%t/weight.npy --output=@%t/o0.npy
// RUN: moe-run %s -O1 --function=relu_matmul --input=@%t/rows.npy --input=@%t/weight.npy --output=@%t/o1.npy
// RUN: moe-run %s -O3 --function=relu_matmul --input=@%t/rows.npy --input=@%t/weight.npy --output=@%t/o3.npy
// RUN: cmp %t/default.npy %t/o0.npy
// RUN: cmp %t/default.npy %t/o1.npy
// RUN: cmp %t/default.npy %t/o3.npy

// Any other level is refused before anything is read or compiled.
// RUN: not moe-run %s -O4 --function=relu_matmul 2>&1 | FileCheck %s --check-prefix=LEVEL
// RUN: not moe-run %s -Ofast --function=relu_matmul 2>&1 | FileCheck %s --check-prefix=FAST
// LEVEL: moe-run: error: -O4: expected -O0, -O1, -O2 or -O3
// FAST: moe-run: for the -O option: 'fast' value invalid for uint argument!

// --help lists moe-run's options, not every LLVM target's.
// RUN: moe-run --help | FileCheck %s --check-prefix=HELP
// HELP: moe-run options:
// HELP-DAG: -O <uint>
// HELP-DAG: --input=<@file.npy>
// HELP-NOT: --x86-asm-syntax
// RUN: moe-run --help-hidden | FileCheck %s --check-prefix=HIDDEN
// HIDDEN: --x86-asm-syntax

func.func @relu_matmul(%a: tensor<?x8xf32>, %b: tensor<8x4xf32>) -> tensor<?x4xf32> {
  %c0 = arith.constant 0 : index
  %m = tensor.dim %a, %c0 : tensor<?x8xf32>
  %e = tensor.empty(%m) : tensor<?x4xf32>
  %z = arith.constant 0.0 : f32
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<?x4xf32>) -> tensor<?x4xf32>
  %r = linalg.matmul ins(%a, %b : tensor<?x8xf32>, tensor<8x4xf32>)
                     outs(%f : tensor<?x4xf32>) -> tensor<?x4xf32>
  %relu = linalg.generic {
      indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>],
      iterator_types = ["parallel", "parallel"]}
      ins(%r : tensor<?x4xf32>) outs(%e : tensor<?x4xf32>) {
  ^bb0(%x: f32, %out: f32):
    %y = arith.maximumf %x, %z : f32
    linalg.yield %y : f32
  } -> tensor<?x4xf32>
  return %relu : tensor<?x4xf32>
}

func.func @rows() -> tensor<3x8xf32> {
  %c = arith.constant dense<[[2.0, 0.0, 1.0, -4.0, 0.5, 6.0, 3.0, 1.0],
                             [0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0],
                             [7.0, -2.0, 0.75, 0.0, 1.0, 1.0, -1.0, 2.0]]> : tensor<3x8xf32>
  return %c : tensor<3x8xf32>
}
func.func @weight() -> tensor<8x4xf32> {
  %c = arith.constant dense<[[1.0, 0.0, 2.0, -1.0], [0.5, 1.0, 0.0, 3.0],
                             [0.0, -2.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0],
                             [2.0, 0.0, -1.0, 0.5], [0.0, 4.0, 0.0, 0.0],
                             [-1.0, 1.0, 2.0, 0.0], [0.25, 0.0, 0.0, 2.0]]> : tensor<8x4xf32>
  return %c : tensor<8x4xf32>
}
