// RUN: moe-opt %s --moe-tile-and-vectorize --canonicalize | FileCheck %s
// RUN: moe-opt %s --moe-tile-and-vectorize="tile-sizes=4,16,8" --canonicalize \
// RUN:   | FileCheck %s --check-prefix=SIZES

// The token dimension is dynamic. Fewer rows than 32 (checked at run time;
// 32 because %b widens, N > K, see @narrowing for 8) read %b as it is
// stored: K steps outermost, then columns, then rows, each 8x32 tile of %b
// loaded once for all rows.
// Otherwise its loop is peeled, full 4-row tiles become a 4x4 by 4x64
// vector.contract, and the last partial tile is vectorized one row at a time
// (1x4 by 4x64 contractions) rather than left to scalar loops. Each
// accumulator (4x64, or 1x64 for a row) is read once before its K loop,
// carried in registers as an iter_arg, and written once after it.
// CHECK-LABEL: func.func @dynamic_m(
// CHECK: %[[FEW:.*]] = arith.cmpi ult, %{{.*}}, %c32
// CHECK: scf.if %[[FEW]]
// CHECK:   scf.for %{{.*}} = %c0 to %c16 step %c8
// CHECK:     scf.for %{{.*}} = %c0 to %c64 step %c32
// CHECK:       %[[B:.*]] = vector.transfer_read {{.*}} : tensor<8x32xf32>, vector<8x32xf32>
// CHECK:       scf.for %{{.*}} = %c0 to %{{.*}} step %c1
// CHECK:         vector.contract {{.*}} %[[B]], {{.*}} : vector<1x8xf32>, vector<8x32xf32> into vector<1x32xf32>
// CHECK: } else {
// CHECK:   %[[FULL:.*]] = scf.for {{.*}} step %c4
// CHECK:     %[[INIT:.*]] = vector.transfer_read {{.*}} : tensor<4x64xf32>, vector<4x64xf32>
// CHECK:     %[[SUM:.*]] = scf.for {{.*}} iter_args(%[[ACC:.*]] = %[[INIT]]) -> (vector<4x64xf32>)
// CHECK:       vector.transfer_read {{.*}} : tensor<4x4xf32>, vector<4x4xf32>
// CHECK:       vector.contract {{.*}}, %[[ACC]] : vector<4x4xf32>, vector<4x64xf32> into vector<4x64xf32>
// CHECK:     vector.transfer_write %[[SUM]]
// CHECK:   scf.for {{.*}} iter_args(%{{.*}} = %[[FULL]])
// CHECK:     scf.for
// CHECK:       %[[ROW:.*]] = vector.transfer_read {{.*}} : tensor<1x64xf32>, vector<1x64xf32>
// CHECK:       scf.for {{.*}} iter_args(%[[RACC:.*]] = %[[ROW]]) -> (vector<1x64xf32>)
// CHECK:         vector.contract {{.*}}, %[[RACC]] : vector<1x4xf32>, vector<4x64xf32> into vector<1x64xf32>
// CHECK-NOT: linalg.matmul
// CHECK-NOT: vector.mask

// SIZES-LABEL: func.func @dynamic_m(
// SIZES: vector.contract {{.*}} : vector<4x8xf32>, vector<8x16xf32> into vector<4x16xf32>
func.func @dynamic_m(%a: tensor<?x16xf32>, %b: tensor<16x64xf32>,
                     %c: tensor<?x64xf32>) -> tensor<?x64xf32> {
  %r = linalg.matmul ins(%a, %b : tensor<?x16xf32>, tensor<16x64xf32>)
                     outs(%c : tensor<?x64xf32>) -> tensor<?x64xf32>
  return %r : tensor<?x64xf32>
}

// A long reduction is split into blocks of 128 first (outermost); the
// column loop runs outside the row loop, so that a column slice of a block
// of %b stays in cache while the row tiles go past it.
// CHECK-LABEL: func.func @long_k(
// CHECK: scf.for %{{.*}} = %c0 to %c256 step %c128
// CHECK:   scf.for %{{.*}} = %c0 to %c128 step %c64
// CHECK:     scf.for %{{.*}} = %c0 to %c16 step %c4
// CHECK:       scf.for %{{.*}} = %c0 to %c128 step %c4
// CHECK:         vector.contract {{.*}} : vector<4x4xf32>, vector<4x64xf32> into vector<4x64xf32>
func.func @long_k(%a: tensor<16x256xf32>, %b: tensor<256x128xf32>,
                  %c: tensor<16x128xf32>) -> tensor<16x128xf32> {
  %r = linalg.matmul ins(%a, %b : tensor<16x256xf32>, tensor<256x128xf32>)
                     outs(%c : tensor<16x128xf32>) -> tensor<16x128xf32>
  return %r : tensor<16x128xf32>
}

// A transposed right-hand side ([N, K]) keeps rows outside columns and the
// partial rows inside the K loop, where one register transpose of each
// operand tile serves all of them.
// CHECK-LABEL: func.func @transposed_rhs(
// CHECK: scf.for %{{.*}} = %c0 to %{{.*}} step %c8
// CHECK:   scf.for %{{.*}} = %c0 to %c64 step %c32
// CHECK:     vector.contract {{.*}} : vector<8x8xf32>, vector<32x8xf32> into vector<8x32xf32>
// CHECK: scf.for
// CHECK:   scf.for %{{.*}} = %c0 to %c64 step %c32
// CHECK:     scf.for %{{.*}} = %c0 to %c16 step %c8
// CHECK:       scf.for
// CHECK:         vector.contract {{.*}} : vector<1x8xf32>, vector<32x8xf32> into vector<1x32xf32>
func.func @transposed_rhs(%a: tensor<?x16xf32>, %b: tensor<64x16xf32>,
                          %c: tensor<?x64xf32>) -> tensor<?x64xf32> {
  %r = linalg.matmul indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>,
                                      affine_map<(d0, d1, d2) -> (d1, d2)>,
                                      affine_map<(d0, d1, d2) -> (d0, d1)>]
                     ins(%a, %b : tensor<?x16xf32>, tensor<64x16xf32>)
                     outs(%c : tensor<?x64xf32>) -> tensor<?x64xf32>
  return %r : tensor<?x64xf32>
}

// A dimension shorter than its tile is tiled at its own size; batch_matmul
// gets a batch tile of 1.
// CHECK-LABEL: func.func @batch_small_n(
// CHECK: vector.contract {{.*}} : vector<1x8x8xf32>, vector<1x8x12xf32> into vector<1x8x12xf32>
func.func @batch_small_n(%a: tensor<4x8x8xf32>, %b: tensor<4x8x12xf32>,
                         %c: tensor<4x8x12xf32>) -> tensor<4x8x12xf32> {
  %r = linalg.batch_matmul ins(%a, %b : tensor<4x8x8xf32>, tensor<4x8x12xf32>)
                           outs(%c : tensor<4x8x12xf32>) -> tensor<4x8x12xf32>
  return %r : tensor<4x8x12xf32>
}

// Other linalg ops are not touched.
// CHECK-LABEL: func.func @elementwise(
// CHECK-NOT: scf.for
// CHECK: linalg.add
func.func @elementwise(%a: tensor<?xf32>) -> tensor<?xf32> {
  %r = linalg.add ins(%a, %a : tensor<?xf32>, tensor<?xf32>) outs(%a : tensor<?xf32>) -> tensor<?xf32>
  return %r : tensor<?xf32>
}

// A plain weight that does not widen (N <= K: a down projection) takes the
// few-rows schedule below 8 rows only.
// CHECK-LABEL: func.func @narrowing(
// CHECK: %[[FEW:.*]] = arith.cmpi ult, %{{.*}}, %c8
// CHECK: scf.if %[[FEW]]
func.func @narrowing(%a: tensor<?x128xf32>, %b: tensor<128x64xf32>,
                     %c: tensor<?x64xf32>) -> tensor<?x64xf32> {
  %r = linalg.matmul ins(%a, %b : tensor<?x128xf32>, tensor<128x64xf32>)
                     outs(%c : tensor<?x64xf32>) -> tensor<?x64xf32>
  return %r : tensor<?x64xf32>
}
