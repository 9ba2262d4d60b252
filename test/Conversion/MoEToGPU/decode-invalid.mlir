// The decode kernel takes the operands the tile kernel takes: a forced
// kernel=decode rejects the same ops, with the same errors, and an unknown
// kernel name is refused before anything is rewritten.
// RUN: moe-opt %s --convert-moe-to-gpu=kernel=decode -split-input-file -verify-diagnostics
// RUN: not moe-opt %s --convert-moe-to-gpu=kernel=fma -split-input-file 2>&1 | FileCheck %s --check-prefix=KERNEL
// RUN: not moe-opt %s --moe-gpu-entry-points=kernel=fma -split-input-file 2>&1 | FileCheck %s --check-prefix=ENTRY
// RUN: not moe-opt %s --moe-gpu-pipeline=kernel=fma -split-input-file 2>&1 | FileCheck %s --check-prefix=KERNEL
// So are blocks per SM the 4-warp decode kernel cannot be compiled for.
// RUN: not moe-opt %s --convert-moe-to-gpu=decode-blocks-per-sm=4 -split-input-file 2>&1 | FileCheck %s --check-prefix=BLOCKS
// RUN: not moe-opt %s --moe-gpu-entry-points=decode-blocks-per-sm=-1 -split-input-file 2>&1 | FileCheck %s --check-prefix=ENTRYBLOCKS

// KERNEL: convert-moe-to-gpu: kernel must be auto, tile or decode, not 'fma'
// ENTRY: moe-gpu-entry-points: kernel must be auto, tile or decode, not 'fma'
// BLOCKS: convert-moe-to-gpu: decode-blocks-per-sm must be 0 (ptxas's choice) or 1 to 3, not 4
// ENTRYBLOCKS: moe-gpu-entry-points: decode-blocks-per-sm must be 0 (ptxas's choice) or 1 to 3, not -1

func.func @f32(%x: tensor<?x64xf32>, %w: tensor<4x64x64xf32>, %off: tensor<5xi64>) -> tensor<?x64xf32> {
  // expected-error @+1 {{'moe.grouped_matmul' op element type 'f32' has no m16n8k16 tensor-core form}}
  %y = moe.grouped_matmul %x, %w offsets(%off) : (tensor<?x64xf32>, tensor<4x64x64xf32>, tensor<5xi64>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// -----

func.func @k_not_multiple_of_8(%x: tensor<?x60xbf16>, %w: tensor<4x60x64xbf16>, %off: tensor<5xi64>) -> tensor<?x64xbf16> {
  // expected-error @+1 {{'moe.grouped_matmul' op K (60) and N (64) must be multiples of 8: the kernel copies 16-byte chunks}}
  %y = moe.grouped_matmul %x, %w offsets(%off) : (tensor<?x60xbf16>, tensor<4x60x64xbf16>, tensor<5xi64>) -> tensor<?x64xbf16>
  return %y : tensor<?x64xbf16>
}
