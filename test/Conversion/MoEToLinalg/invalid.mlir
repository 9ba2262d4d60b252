// RUN: moe-opt %s --convert-moe-to-linalg -split-input-file -verify-diagnostics

func.func @fp8_rows(%x: tensor<4x8xf8E4M3FN>, %ids: tensor<4x1xi64>)
    -> tensor<4x8xf8E4M3FN> {
  // expected-error @+1 {{'moe.dispatch' op element type 'f8E4M3FN' is not supported by the CPU lowering (f16, bf16, f32 and f64 are)}}
  %rows, %off, %map = moe.dispatch %x, %ids {num_experts = 2}
      : tensor<4x8xf8E4M3FN>, tensor<4x1xi64> -> tensor<4x8xf8E4M3FN>, tensor<3xi64>, tensor<4x1xi64>
  return %rows : tensor<4x8xf8E4M3FN>
}

// -----

func.func @dynamic_width(%h: tensor<?x?xf32>) -> tensor<?x?xf32> {
  // expected-error @+1 {{'moe.activation' op needs static column counts to be lowered to the CPU}}
  %a = moe.activation %h {activation = #moe.activation<relu>}
      : (tensor<?x?xf32>) -> tensor<?x?xf32>
  return %a : tensor<?x?xf32>
}
