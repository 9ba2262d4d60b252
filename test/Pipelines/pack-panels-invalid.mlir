// RUN: moe-opt %s --moe-pack-panels=width=0 -verify-diagnostics

// A panel must hold at least one column; the IR is left as it is.
// expected-error @+1 {{moe-pack-panels: width must be positive and min-rows-per-group not negative, got 0 and 8}}
module {
  func.func @f(%x: tensor<?x64xf32>, %off: tensor<3xi64>) -> tensor<?x192xf32> {
    %w = arith.constant dense_resource<w> : tensor<2x64x192xf32>
    %y = moe.grouped_matmul %x, %w offsets(%off)
        : (tensor<?x64xf32>, tensor<2x64x192xf32>, tensor<3xi64>) -> tensor<?x192xf32>
    return %y : tensor<?x192xf32>
  }
}
