// RUN: moe-opt %s --convert-moe-to-linalg --canonicalize --cse \
// RUN:   --moe-tile-and-vectorize --canonicalize --cse | FileCheck %s
// RUN: moe-opt %s --convert-moe-to-linalg --canonicalize --cse \
// RUN:   --moe-tile-and-vectorize="prefetch-weights=false" --canonicalize \
// RUN:   | FileCheck %s --check-prefix=OFF

// OFF-NOT: memref.prefetch
// OFF-NOT: bufferization.to_buffer

// A plain [K, N] weight is blocked 128 x 64: reduction blocks outermost,
// then column tiles, then row tiles. Each step of a row tile's reduction
// loop fetches lines of the block that comes next (the next column tile of
// the reduction block, else the first one of the next reduction block) from
// the weight seen as a read-only buffer, into L2 (locality 2), clamped to
// the weight's last row (255) and column (127). 4 row tiles cover a block,
// so with 16 rows every step fetches (no scf.if is left).
// CHECK-LABEL: func.func @plain(
// CHECK-SAME: %[[B:[a-z0-9]+]]: tensor<256x128xf32>
// CHECK: %[[BUF:.*]] = bufferization.to_buffer %[[B]] read_only : tensor<256x128xf32> to memref<256x128xf32, strided<[?, ?], offset: ?>>
// CHECK: scf.for %[[KB:.*]] = %c0 to %c256 step %c128
// CHECK:   %[[NEXTKB:.*]] = arith.addi %{{.*}}, %c128
// CHECK:   %[[HASKB:.*]] = arith.cmpi ult, %[[NEXTKB]], %c256
// CHECK:   scf.for %[[COL:.*]] = %c0 to %c128 step %c64
// CHECK:     %[[NEXTCOL:.*]] = arith.addi %[[COL]], %c64
// CHECK:     %[[HASCOL:.*]] = arith.cmpi ult, %[[NEXTCOL]], %c128
// CHECK:     scf.for %{{.*}} = %c0 to %c16 step %c4
// CHECK:       scf.for %{{.*}} = %c0 to %c128 step %c4
// CHECK-NOT:     scf.if
// CHECK:         %[[ROW:.*]] = arith.minui %{{.*}}, %c255
// CHECK:         %[[C:.*]] = arith.minui %{{.*}}, %c127
// CHECK:         memref.prefetch %[[BUF]][%[[ROW]], %[[C]]], read, locality<2>, data
// CHECK-COUNT-3: memref.prefetch %[[BUF]]
// CHECK:         vector.contract
func.func @plain(%a: tensor<16x256xf32>, %b: tensor<256x128xf32>,
                 %c: tensor<16x128xf32>) -> tensor<16x128xf32> {
  %r = linalg.matmul ins(%a, %b : tensor<16x256xf32>, tensor<256x128xf32>)
                     outs(%c : tensor<16x128xf32>) -> tensor<16x128xf32>
  return %r : tensor<16x128xf32>
}

// Column panels [E, P, K, 64], with a run-time row count: a panel's last
// reduction block is followed by the next panel (p + 1), and a group's last
// panel by the next group's first one (e + 1, p = 0); past the weight's end
// the prefetch stays on the current block. The more row tiles there are,
// the fewer of their steps fetch (every 2^s-th step, s from the row-tile
// count), so that all row tiles share one block's lines. The few-rows
// schedule (fewer than 8 rows) fetches nothing.
// CHECK-LABEL: func.func @panels(
// CHECK-SAME: %[[W:[a-z0-9]+]]: tensor<2x2x256x64xf32>
// CHECK: %[[WBUF:.*]] = bufferization.to_buffer %[[W]] read_only
// CHECK: scf.for %[[E:.*]] = %c0 to %c2 step %c1
// CHECK:   scf.for %[[P:.*]] = %c0 to %c2 step %c1
// CHECK:     scf.if
// CHECK-NOT:   memref.prefetch
// CHECK:     } else {
// CHECK:       %[[TILES:.*]] = arith.ceildivui %{{.*}}, %c4
// CHECK:       arith.cmpi uge, %[[TILES]], %c8
// CHECK:       %[[NEXTP:.*]] = arith.addi %[[P]], %c1
// CHECK:       %[[PWRAPS:.*]] = arith.cmpi eq, %[[NEXTP]], %c2
// CHECK:       arith.cmpi eq, %{{.*}}, %c2
// CHECK:       scf.for %{{.*}} = %c0 to %c256 step %c128
// CHECK:         scf.for %{{.*}} step %c4
// CHECK:           scf.for %{{.*}} = %c0 to %c128 step %c4
// CHECK:             %[[NOW:.*]] = arith.cmpi eq, %{{.*}}, %c0
// CHECK:             scf.if %[[NOW]] {
// CHECK:               memref.prefetch %[[WBUF]][%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}], read, locality<2>, data : memref<2x2x256x64xf32, strided<[?, ?, ?, ?], offset: ?>>
// CHECK-COUNT-3:       memref.prefetch %[[WBUF]]
// CHECK:             }
// CHECK:             vector.contract
func.func @panels(%a: tensor<?x256xf32>, %w: tensor<2x2x256x64xf32>,
                  %off: tensor<3xi64>) -> tensor<?x128xf32> {
  %y = moe.grouped_matmul %a, %w offsets(%off) {panels}
      : (tensor<?x256xf32>, tensor<2x2x256x64xf32>, tensor<3xi64>)
      -> tensor<?x128xf32>
  return %y : tensor<?x128xf32>
}

// A weight read transposed ([N, K]) is not blocked for the cache; nothing
// is fetched ahead.
// CHECK-LABEL: func.func @transposed(
// CHECK-NOT: memref.prefetch
// CHECK: return
func.func @transposed(%a: tensor<16x256xf32>, %b: tensor<128x256xf32>,
                      %c: tensor<16x128xf32>) -> tensor<16x128xf32> {
  %r = linalg.matmul
      indexing_maps = [affine_map<(m, n, k) -> (m, k)>,
                       affine_map<(m, n, k) -> (n, k)>,
                       affine_map<(m, n, k) -> (m, n)>]
      ins(%a, %b : tensor<16x256xf32>, tensor<128x256xf32>)
      outs(%c : tensor<16x128xf32>) -> tensor<16x128xf32>
  return %r : tensor<16x128xf32>
}
