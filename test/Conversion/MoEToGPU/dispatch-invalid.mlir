// What the GPU dispatch kernels do not do is rejected with an error at the
// op, and the module is left as it was.
// RUN: moe-opt %s --convert-moe-to-gpu -split-input-file -verify-diagnostics

func.func @dynamic_hidden(%x: tensor<?x?xf32>, %ids: tensor<?x2xi64>) -> (tensor<?x?xf32>, tensor<5xi64>, tensor<?x2xi64>) {
  // expected-error @+1 {{'moe.dispatch' op the GPU dispatch needs a static hidden size and k}}
  %r, %o, %m = moe.dispatch %x, %ids {num_experts = 4 : i64}
      : tensor<?x?xf32>, tensor<?x2xi64> -> tensor<?x?xf32>, tensor<5xi64>, tensor<?x2xi64>
  return %r, %o, %m : tensor<?x?xf32>, tensor<5xi64>, tensor<?x2xi64>
}

// -----

func.func @many_experts(%x: tensor<?x32xf32>, %ids: tensor<?x2xi64>) -> (tensor<?x32xf32>, tensor<2049xi64>, tensor<?x2xi64>) {
  // expected-error @+1 {{'moe.dispatch' op the GPU dispatch handles at most 1024 experts, not 2048}}
  %r, %o, %m = moe.dispatch %x, %ids {num_experts = 2048 : i64}
      : tensor<?x32xf32>, tensor<?x2xi64> -> tensor<?x32xf32>, tensor<2049xi64>, tensor<?x2xi64>
  return %r, %o, %m : tensor<?x32xf32>, tensor<2049xi64>, tensor<?x2xi64>
}

// -----

// The scaled gather multiplies in f32: f64 rows would lose precision.
func.func @scaled_f64(%x: tensor<?x32xf64>, %ids: tensor<?x1xi64>, %w: tensor<?x1xf32>) -> (tensor<?x32xf64>, tensor<5xi64>, tensor<?x1xi64>) {
  // expected-error @+1 {{'moe.dispatch' op the GPU dispatch scales rows of at most 32 bits, not 'f64'}}
  %r, %o, %m = moe.dispatch %x, %ids weights(%w : tensor<?x1xf32>) {num_experts = 4 : i64, scale_rows}
      : tensor<?x32xf64>, tensor<?x1xi64> -> tensor<?x32xf64>, tensor<5xi64>, tensor<?x1xi64>
  return %r, %o, %m : tensor<?x32xf64>, tensor<5xi64>, tensor<?x1xi64>
}
