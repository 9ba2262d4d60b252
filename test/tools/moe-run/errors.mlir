// Every user error is a message on stderr naming what is wrong, and exit
// code 1 (`not` fails on a crash, which exits with a signal).
//
// The inputs are written by moe-run itself, from the constant functions at
// the end of this file.
// RUN: rm -rf %t && mkdir -p %t
// RUN: moe-run %s --function=f32_3x8 --output=@%t/f32_3x8.npy
// RUN: moe-run %s --function=f32_3x9 --output=@%t/f32_3x9.npy
// RUN: moe-run %s --function=f64_3x8 --output=@%t/f64_3x8.npy
// RUN: moe-run %s --function=f32_8 --output=@%t/f32_8.npy

// RUN: not moe-run %s --function=matmul --input=@%t/f32_3x8.npy 2>&1 \
// RUN:   | FileCheck %s --check-prefix=COUNT
// COUNT: moe-run: error: @matmul takes 2 input(s) (or a multiple: one set per call) but 1 --input flag(s) were given; expected, in order:
// COUNT-NEXT: argument 0: tensor<?x8xf32>
// COUNT-NEXT: argument 1: tensor<8x4xf32>

// Inputs for several calls come in whole sets.
// RUN: not moe-run %s --function=matmul --input=@%t/f32_3x8.npy --input=@%t/f32_3x8.npy --input=@%t/f32_3x8.npy 2>&1 \
// RUN:   | FileCheck %s --check-prefix=SETS
// SETS: moe-run: error: @matmul takes 2 input(s) (or a multiple: one set per call) but 3 --input flag(s) were given

// RUN: not moe-run %s --function=matmul --input=@%t/f64_3x8.npy --input=@%t/f32_3x8.npy 2>&1 \
// RUN:   | FileCheck %s --check-prefix=DTYPE
// DTYPE: moe-run: error: input 0 ('{{.*}}f64_3x8.npy') for argument 0 of @matmul (tensor<?x8xf32>): dtype float64 ('<f8') does not match element type f32 (expected float32 ('<f4'))

// RUN: not moe-run %s --function=matmul --input=@%t/f32_3x8.npy --input=@%t/f32_8.npy 2>&1 \
// RUN:   | FileCheck %s --check-prefix=RANK
// RANK: moe-run: error: input 1 ('{{.*}}f32_8.npy') for argument 1 of @matmul (tensor<8x4xf32>): rank 1 (shape 8) does not match rank 2

// RUN: not moe-run %s --function=matmul --input=@%t/f32_3x9.npy --input=@%t/f32_3x8.npy 2>&1 \
// RUN:   | FileCheck %s --check-prefix=DIM
// DIM: moe-run: error: input 0 ('{{.*}}f32_3x9.npy') for argument 0 of @matmul (tensor<?x8xf32>): dimension 1 is 9 (shape 3x9) but must be 8

// RUN: not moe-run %s --function=matmul --input=@%t/missing.npy --input=@%t/f32_3x8.npy 2>&1 \
// RUN:   | FileCheck %s --check-prefix=MISSING
// MISSING: moe-run: error: input 0: '{{.*}}missing.npy': cannot read: No such file or directory

// RUN: printf 'not an array' > %t/garbage.npy
// RUN: not moe-run %s --function=matmul --input=@%t/garbage.npy --input=@%t/f32_3x8.npy 2>&1 \
// RUN:   | FileCheck %s --check-prefix=GARBAGE
// GARBAGE: moe-run: error: input 0: '{{.*}}garbage.npy': not an .npy file (missing the \x93NUMPY magic)

// RUN: head -c 150 %t/f32_3x8.npy > %t/truncated.npy
// RUN: not moe-run %s --function=matmul --input=@%t/truncated.npy --input=@%t/f32_3x8.npy 2>&1 \
// RUN:   | FileCheck %s --check-prefix=TRUNCATED
// TRUNCATED: moe-run: error: input 0: '{{.*}}truncated.npy': expected 96 bytes of data for <f4 shape (3, 8), found 22

// Hand-made headers (octal escapes: dash's printf has no \x).
// RUN: printf "\223NUMPY\001\000\072\000{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }\n\000\000\000\000\000\000\000\000" > %t/big.npy
// RUN: not moe-run %s --function=matmul --input=@%t/big.npy 2>&1 | FileCheck %s --check-prefix=BIG
// BIG: moe-run: error: input 0: '{{.*}}big.npy': big-endian dtype '>f4' is not supported
// RUN: printf "\223NUMPY\001\000\071\000{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }\n\000\000\000\000\000\000\000\000" > %t/fortran.npy
// RUN: not moe-run %s --function=matmul --input=@%t/fortran.npy 2>&1 | FileCheck %s --check-prefix=FORTRAN
// FORTRAN: moe-run: error: input 0: '{{.*}}fortran.npy': Fortran-order arrays are not supported
// RUN: printf "\223NUMPY\001\000\103\000{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }\n\000\000\000\000\000\000\000\000" > %t/struct.npy
// RUN: not moe-run %s --function=matmul --input=@%t/struct.npy 2>&1 | FileCheck %s --check-prefix=STRUCT
// STRUCT: moe-run: error: input 0: '{{.*}}struct.npy': structured dtypes are not supported
// RUN: printf "\223NUMPY\001\000\020\000{'descr': '<f4'\n" > %t/header.npy
// RUN: not moe-run %s --function=matmul --input=@%t/header.npy 2>&1 | FileCheck %s --check-prefix=HEADER
// HEADER: moe-run: error: input 0: '{{.*}}header.npy': garbled .npy header (expected ',' or '}'): {'descr': '<f4'

// RUN: not moe-run %s --function=matmul --input=%t/f32_3x8.npy 2>&1 | FileCheck %s --check-prefix=FLAG
// FLAG: moe-run: error: --input={{.*}}f32_3x8.npy (#0): expected @FILE.npy

// RUN: not moe-run %s --function=nope 2>&1 | FileCheck %s --check-prefix=NAME
// NAME: moe-run: error: no entry point named @nope (entry points: @matmul, @scalar, @f32_3x8, @f32_3x9, @f64_3x8, @f32_8)

// RUN: not moe-run %s --function=scalar 2>&1 | FileCheck %s --check-prefix=SCALAR
// SCALAR: moe-run: error: argument 1 of @scalar: type f32 is not supported (moe-run passes ranked tensors only)

// RUN: not moe-run %s --function=f32_8 --output=@%t/a.npy --output=@%t/b.npy 2>&1 \
// RUN:   | FileCheck %s --check-prefix=OUTPUTS
// OUTPUTS: moe-run: error: @f32_8 has 1 result(s) but 2 --output flag(s) were given for 1 call(s) (at most 1 per call, as many for each)

// RUN: not moe-run %s --function=f32_8 --output=@%t/no/such/dir/out.npy 2>&1 \
// RUN:   | FileCheck %s --check-prefix=WRITE
// WRITE: moe-run: error: output 0: '{{.*}}out.npy': cannot write: No such file or directory

// RUN: printf 'func.func @f(' > %t/broken.mlir
// RUN: not moe-run %t/broken.mlir 2>&1 | FileCheck %s --check-prefix=PARSE
// PARSE: broken.mlir:1:{{[0-9]+}}: error:
// PARSE: moe-run: error: cannot parse '{{.*}}broken.mlir'

// RUN: not moe-run %t/nothing.mlir 2>&1 | FileCheck %s --check-prefix=NOFILE
// NOFILE: moe-run: error: '{{.*}}nothing.mlir': cannot open input file '{{.*}}nothing.mlir': No such file or directory

// A module lowered without moe-prepare-entry-points has no signature to check
// inputs against.
// RUN: echo 'func.func @f() { return }' > %t/plain.mlir
// RUN: %mlir_opt %t/plain.mlir --convert-func-to-llvm -o %t/plain.llvm.mlir
// RUN: not moe-run %t/plain.llvm.mlir 2>&1 | FileCheck %s --check-prefix=NOENTRY
// NOENTRY: moe-run: error: the module has no entry point (a public func.func with a body, lowered by --moe-cpu-pipeline)

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

func.func @scalar(%a: tensor<4xf32>, %s: f32) -> tensor<4xf32> {
  return %a : tensor<4xf32>
}

func.func @f32_3x8() -> tensor<3x8xf32> {
  %c = arith.constant dense<1.0> : tensor<3x8xf32>
  return %c : tensor<3x8xf32>
}
func.func @f32_3x9() -> tensor<3x9xf32> {
  %c = arith.constant dense<1.0> : tensor<3x9xf32>
  return %c : tensor<3x9xf32>
}
func.func @f64_3x8() -> tensor<3x8xf64> {
  %c = arith.constant dense<1.0> : tensor<3x8xf64>
  return %c : tensor<3x8xf64>
}
func.func @f32_8() -> tensor<8xf32> {
  %c = arith.constant dense<1.0> : tensor<8xf32>
  return %c : tensor<8xf32>
}
