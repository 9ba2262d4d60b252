// RUN: moe-opt %s --moe-cpu-pipeline \
// RUN:   | FileCheck %s --implicit-check-not="{{[[:space:]\"](func|linalg|tensor|memref|bufferization|scf|cf|arith|math|affine|vector|index|ub|builtin)\.[a-z_]+}}"
// RUN: moe-opt %s --moe-cpu-pipeline="vectorize=0" \
// RUN:   | FileCheck %s --check-prefix=SCALAR
// RUN: moe-opt %s --moe-cpu-pipeline | %mlir_translate --mlir-to-llvmir \
// RUN:   | FileCheck %s --check-prefix=IR

// Everything the CPU pipeline accepts ends up in the LLVM dialect, and
// mlir-translate (which knows nothing of moe) turns it into LLVM IR.

// A matmul with a dynamic token dimension: the entry point and its C wrapper,
// which takes the result descriptor first and then one per argument.
// CHECK-LABEL: llvm.func @matmul(
// CHECK-SAME: moe.entry_signature = (tensor<?x8xf32>, tensor<8x16xf32>) -> tensor<?x16xf32>
// CHECK: llvm.call @malloc
// Full 8-row tiles are vectorized (outer products of vector<16xf32>).
// CHECK: llvm.intr.fmuladd{{.*}} -> vector<16xf32>
// SCALAR-LABEL: llvm.func @matmul(
// SCALAR-NOT: vector<
// SCALAR: llvm.return
// CHECK-LABEL: llvm.func @_mlir_ciface_matmul(%{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr)
// IR: define void @_mlir_ciface_matmul(ptr %0, ptr %1, ptr %2)
func.func @matmul(%a: tensor<?x8xf32>, %b: tensor<8x16xf32>) -> tensor<?x16xf32> {
  %c0 = arith.constant 0 : index
  %m = tensor.dim %a, %c0 : tensor<?x8xf32>
  %e = tensor.empty(%m) : tensor<?x16xf32>
  %z = arith.constant 0.0 : f32
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<?x16xf32>) -> tensor<?x16xf32>
  %r = linalg.matmul ins(%a, %b : tensor<?x8xf32>, tensor<8x16xf32>)
                     outs(%f : tensor<?x16xf32>) -> tensor<?x16xf32>
  return %r : tensor<?x16xf32>
}

// A softmax over the last dimension: reductions in linalg.generic, math.exp
// (in an elementwise body: the polynomial of moe-approximate-math, no libm
// call), and temporaries that the deallocation pipeline frees.
// CHECK-LABEL: llvm.func @softmax(
// CHECK-NOT: llvm.intr.exp
// CHECK: llvm.fptosi
// CHECK: llvm.call @free
// IR-LABEL: define void @_mlir_ciface_softmax(
#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0)>
func.func @softmax(%x: tensor<?x?xf32>) -> tensor<?x?xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %m = tensor.dim %x, %c0 : tensor<?x?xf32>
  %n = tensor.dim %x, %c1 : tensor<?x?xf32>
  %ninf = arith.constant 0xFF800000 : f32
  %zero = arith.constant 0.0 : f32
  %e1 = tensor.empty(%m) : tensor<?xf32>
  %maxinit = linalg.fill ins(%ninf : f32) outs(%e1 : tensor<?xf32>) -> tensor<?xf32>
  %max = linalg.generic {indexing_maps = [#id, #row],
                         iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<?x?xf32>) outs(%maxinit : tensor<?xf32>) {
  ^bb0(%in: f32, %acc: f32):
    %0 = arith.maximumf %in, %acc : f32
    linalg.yield %0 : f32
  } -> tensor<?xf32>
  %e2 = tensor.empty(%m, %n) : tensor<?x?xf32>
  %exp = linalg.generic {indexing_maps = [#id, #row, #id],
                         iterator_types = ["parallel", "parallel"]}
      ins(%x, %max : tensor<?x?xf32>, tensor<?xf32>) outs(%e2 : tensor<?x?xf32>) {
  ^bb0(%in: f32, %mx: f32, %out: f32):
    %0 = arith.subf %in, %mx : f32
    %1 = math.exp %0 : f32
    linalg.yield %1 : f32
  } -> tensor<?x?xf32>
  %suminit = linalg.fill ins(%zero : f32) outs(%e1 : tensor<?xf32>) -> tensor<?xf32>
  %sum = linalg.generic {indexing_maps = [#id, #row],
                         iterator_types = ["parallel", "reduction"]}
      ins(%exp : tensor<?x?xf32>) outs(%suminit : tensor<?xf32>) {
  ^bb0(%in: f32, %acc: f32):
    %0 = arith.addf %in, %acc : f32
    linalg.yield %0 : f32
  } -> tensor<?xf32>
  %y = linalg.generic {indexing_maps = [#row, #id],
                       iterator_types = ["parallel", "parallel"]}
      ins(%sum : tensor<?xf32>) outs(%exp : tensor<?x?xf32>) {
  ^bb0(%s: f32, %e: f32):
    %0 = arith.divf %e, %s : f32
    linalg.yield %0 : f32
  } -> tensor<?x?xf32>
  return %y : tensor<?x?xf32>
}

// Two results of different element types; one of them is the argument
// itself and one a constant, which the caller must still own: both are
// copied into fresh buffers.
// CHECK-LABEL: llvm.func @two_results(
// CHECK-LABEL: llvm.func @_mlir_ciface_two_results(%{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr)
func.func @two_results(%a: tensor<?xi64>) -> (tensor<?xi1>, tensor<?xi64>, tensor<2xf32>) {
  %c0 = arith.constant 0 : index
  %zero = arith.constant 0 : i64
  %n = tensor.dim %a, %c0 : tensor<?xi64>
  %e = tensor.empty(%n) : tensor<?xi1>
  %pos = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>],
                         iterator_types = ["parallel"]}
      ins(%a : tensor<?xi64>) outs(%e : tensor<?xi1>) {
  ^bb0(%in: i64, %out: i1):
    %0 = arith.cmpi sgt, %in, %zero : i64
    linalg.yield %0 : i1
  } -> tensor<?xi1>
  %cst = arith.constant dense<[1.0, 2.0]> : tensor<2xf32>
  return %pos, %a, %cst : tensor<?xi1>, tensor<?xi64>, tensor<2xf32>
}

// bf16 and f16 arithmetic: bf16 is computed in f32 with integer-expanded
// conversions (no soft-float library call is needed).
// CHECK-LABEL: llvm.func @half_types(
// CHECK-NOT: llvm.call @__truncsfbf2
// CHECK-LABEL: llvm.func @_mlir_ciface_half_types(
func.func @half_types(%a: tensor<?xbf16>, %b: tensor<?xf16>) -> (tensor<?xbf16>, tensor<?xf16>) {
  %ea = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>],
                        iterator_types = ["parallel"]}
      ins(%a : tensor<?xbf16>) outs(%a : tensor<?xbf16>) {
  ^bb0(%in: bf16, %out: bf16):
    %0 = arith.mulf %in, %in : bf16
    %1 = math.exp %0 : bf16
    linalg.yield %1 : bf16
  } -> tensor<?xbf16>
  %eb = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>],
                        iterator_types = ["parallel"]}
      ins(%b : tensor<?xf16>) outs(%b : tensor<?xf16>) {
  ^bb0(%in: f16, %out: f16):
    %0 = arith.addf %in, %in : f16
    linalg.yield %0 : f16
  } -> tensor<?xf16>
  return %ea, %eb : tensor<?xbf16>, tensor<?xf16>
}

// Loops, slices and padding on tensors, and a call between functions with
// dynamic shapes (function boundaries are bufferized too). Private functions
// are not entry points: no C wrapper, no signature.
// CHECK-LABEL: llvm.func @double(
// CHECK-NOT: moe.entry_signature
// CHECK-NOT: llvm.func @_mlir_ciface_double
// CHECK-LABEL: llvm.func @loops(
// CHECK: llvm.call @double
func.func private @double(%t: tensor<?xf32>) -> tensor<?xf32> {
  %r = linalg.add ins(%t, %t : tensor<?xf32>, tensor<?xf32>) outs(%t : tensor<?xf32>) -> tensor<?xf32>
  return %r : tensor<?xf32>
}
func.func @loops(%x: tensor<?xf32>, %steps: index) -> tensor<?xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %zero = arith.constant 0.0 : f32
  %padded = tensor.pad %x low[1] high[1] {
  ^bb0(%i: index):
    tensor.yield %zero : f32
  } : tensor<?xf32> to tensor<?xf32>
  %r = scf.for %i = %c0 to %steps step %c1 iter_args(%acc = %padded) -> tensor<?xf32> {
    %n = tensor.dim %acc, %c0 : tensor<?xf32>
    %m = arith.subi %n, %c2 : index
    %s = tensor.extract_slice %acc[1] [%m] [1] : tensor<?xf32> to tensor<?xf32>
    %d = func.call @double(%s) : (tensor<?xf32>) -> tensor<?xf32>
    %u = tensor.insert_slice %d into %acc[1] [%m] [1] : tensor<?xf32> into tensor<?xf32>
    scf.yield %u : tensor<?xf32>
  }
  return %r : tensor<?xf32>
}
