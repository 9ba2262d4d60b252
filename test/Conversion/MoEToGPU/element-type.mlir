// RUN: moe-opt %s --convert-moe-to-gpu=element-type=f16 -verify-diagnostics

func.func @bf16_rows(%x: tensor<?x64xbf16>, %w: tensor<4x64x64xbf16>, %off: tensor<5xi64>) -> tensor<?x64xbf16> {
  // expected-error @+1 {{'moe.grouped_matmul' op operands are 'bf16' but element-type=f16 was asked for (convert the rows and weights first)}}
  %y = moe.grouped_matmul %x, %w offsets(%off) : (tensor<?x64xbf16>, tensor<4x64x64xbf16>, tensor<5xi64>) -> tensor<?x64xbf16>
  return %y : tensor<?x64xbf16>
}
