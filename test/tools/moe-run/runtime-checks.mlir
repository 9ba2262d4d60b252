// A check the compiled code makes at run time (a Split's sizes against its
// input, dynamic dims that must agree) ends the run with an error naming the
// ONNX node and exit code 1, not a crash or a read past a tensor (`not`
// fails on a signal). Inputs that fit run as usual.
// RUN: rm -rf %t && mkdir -p %t
// RUN: moe-run %s --function=rows8 --output=@%t/rows8.npy
// RUN: moe-run %s --function=rows6 --output=@%t/rows6.npy
// RUN: moe-run %s --function=split --input=@%t/rows8.npy | FileCheck %s --check-prefix=FITS
// FITS: result[0]: 3x4 float32
// FITS: result[1]: 5x4 float32

// RUN: not moe-run %s --function=split --input=@%t/rows6.npy 2>&1 | FileCheck %s --check-prefix=SPLIT
// RUN: not moe-run %s -O0 --function=split --input=@%t/rows6.npy 2>&1 | FileCheck %s --check-prefix=SPLIT
// SPLIT: moe-run: error: onnx node '/experts/Split' (Split): the split sizes must be non-negative and add up to the size of axis 0 of the input
// SPLIT-NOT: result

// RUN: moe-run %s --function=add --input=@%t/rows8.npy --input=@%t/rows8.npy | FileCheck %s --check-prefix=ADD-FITS
// ADD-FITS: result[0]: 8x4 float32
// RUN: not moe-run %s --function=add --input=@%t/rows8.npy --input=@%t/rows6.npy 2>&1 | FileCheck %s --check-prefix=ADD
// ADD: moe-run: error: onnx node '/Add' (Add): the inputs' shapes do not agree

// The second call's inputs fail after the first call ran.
// RUN: not moe-run %s --function=split --input=@%t/rows8.npy --input=@%t/rows6.npy 2>&1 | FileCheck %s --check-prefix=SECOND
// SECOND: call 0 result[0]: 3x4 float32
// SECOND: moe-run: error: onnx node '/experts/Split' (Split)

func.func @split(%x: tensor<?x4xf32>) -> (tensor<?x4xf32>, tensor<?x4xf32>) {
  %s = onnx.constant dense<[3, 5]> : tensor<2xi64>
  %0:2 = onnx.node "Split"(%x, %s) attributes {axis = 0 : i64} : (tensor<?x4xf32>, tensor<2xi64>) -> (tensor<?x4xf32>, tensor<?x4xf32>) loc("/experts/Split")
  return %0#0, %0#1 : tensor<?x4xf32>, tensor<?x4xf32>
}

func.func @add(%a: tensor<?x4xf32>, %b: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %0 = onnx.node "Add"(%a, %b) : (tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32> loc("/Add")
  return %0 : tensor<?x4xf32>
}

func.func @rows8() -> tensor<8x4xf32> {
  %c = arith.constant dense<1.0> : tensor<8x4xf32>
  return %c : tensor<8x4xf32>
}
func.func @rows6() -> tensor<6x4xf32> {
  %c = arith.constant dense<2.0> : tensor<6x4xf32>
  return %c : tensor<6x4xf32>
}
