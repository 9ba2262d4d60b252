// Several sets of inputs, one after the other, call the function once per
// set with one compile; each call's results are the ones a run of its own
// gives, and --output names them call after call.
// RUN: rm -rf %t && mkdir -p %t
// RUN: moe-run %s --function=rows2 --output=@%t/rows2.npy
// RUN: moe-run %s --function=rows3 --output=@%t/rows3.npy
// RUN: moe-run %s --function=weight --output=@%t/weight.npy
// RUN: moe-run %s --function=matmul --input=@%t/rows2.npy --input=@%t/weight.npy --output=@%t/alone2.npy
// RUN: moe-run %s --function=matmul --input=@%t/rows3.npy --input=@%t/weight.npy --output=@%t/alone3.npy
// RUN: moe-run %s --function=matmul --input=@%t/rows3.npy --input=@%t/weight.npy \
// RUN:   --input=@%t/rows2.npy --input=@%t/weight.npy --output=@%t/first.npy --output=@%t/second.npy
// RUN: cmp %t/alone3.npy %t/first.npy
// RUN: cmp %t/alone2.npy %t/second.npy

// Results without an --output are summarized per call.
// RUN: moe-run %s --function=matmul --input=@%t/rows3.npy --input=@%t/weight.npy \
// RUN:   --input=@%t/rows2.npy --input=@%t/weight.npy | FileCheck %s
// CHECK: call 0 result[0]: 3x4 float32 ('<f4')
// CHECK-NEXT: call 1 result[0]: 2x4 float32 ('<f4')

// Every call gets as many --output flags.
// RUN: not moe-run %s --function=matmul --input=@%t/rows3.npy --input=@%t/weight.npy \
// RUN:   --input=@%t/rows2.npy --input=@%t/weight.npy --output=@%t/first.npy 2>&1 \
// RUN:   | FileCheck %s --check-prefix=UNEVEN
// UNEVEN: moe-run: error: @matmul has 1 result(s) but 1 --output flag(s) were given for 2 call(s) (at most 1 per call, as many for each)

// The benchmark times the first set.
// RUN: moe-run %s --function=matmul --input=@%t/rows3.npy --input=@%t/weight.npy \
// RUN:   --input=@%t/rows2.npy --input=@%t/weight.npy --benchmark-repetitions=2 \
// RUN:   | FileCheck %s --check-prefix=BENCH
// BENCH: call 0 result[0]: 3x4 float32 ('<f4')
// BENCH: call 1 result[0]: 2x4 float32 ('<f4')
// BENCH: benchmark: @matmul repetitions=2

// An input of a later call is named by its position among all inputs, and
// by its argument.
// RUN: not moe-run %s --function=matmul --input=@%t/rows3.npy --input=@%t/weight.npy \
// RUN:   --input=@%t/weight.npy --input=@%t/weight.npy 2>&1 | FileCheck %s --check-prefix=LATER
// LATER: moe-run: error: input 2 ('{{.*}}weight.npy') for argument 0 of @matmul (tensor<?x8xf32>): dimension 1 is 4 (shape 8x4) but must be 8

func.func @matmul(%a: tensor<?x8xf32>, %b: tensor<8x4xf32>) -> tensor<?x4xf32> {
  %c0 = arith.constant 0 : index
  %m = tensor.dim %a, %c0 : tensor<?x8xf32>
  %e = tensor.empty(%m) : tensor<?x4xf32>
  %z = arith.constant 0.0 : f32
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<?x4xf32>) -> tensor<?x4xf32>
  %r = linalg.matmul ins(%a, %b : tensor<?x8xf32>, tensor<8x4xf32>)
                     outs(%f : tensor<?x4xf32>) -> tensor<?x4xf32>
  return %r : tensor<?x4xf32>
}

func.func @rows2() -> tensor<2x8xf32> {
  %c = arith.constant dense<[[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
                             [-1.0, 0.5, 0.25, 2.0, -3.0, 1.5, 0.0, 9.0]]> : tensor<2x8xf32>
  return %c : tensor<2x8xf32>
}
func.func @rows3() -> tensor<3x8xf32> {
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
