// The four epilogue forms of the sm_90a wgmma kernel in one module (see
// test/Conversion/MoEToGPU/wgmma-epilogue-activation.mlir).
func.func @separate(%x: tensor<?x256xbf16>, %wg: tensor<8x256x512xbf16>, %wu: tensor<8x256x512xbf16>, %off: tensor<9xi64>) -> tensor<?x512xbf16> {
  %g = moe.grouped_matmul %x, %wg offsets(%off) : (tensor<?x256xbf16>, tensor<8x256x512xbf16>, tensor<9xi64>) -> tensor<?x512xbf16>
  %u = moe.grouped_matmul %x, %wu offsets(%off) : (tensor<?x256xbf16>, tensor<8x256x512xbf16>, tensor<9xi64>) -> tensor<?x512xbf16>
  %a = moe.activation %g, %u {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<separate>} : (tensor<?x512xbf16>, tensor<?x512xbf16>) -> tensor<?x512xbf16>
  return %a : tensor<?x512xbf16>
}

func.func @concatenated(%x: tensor<?x256xbf16>, %w: tensor<8x256x1024xbf16>, %off: tensor<9xi64>) -> tensor<?x512xbf16> {
  %h = moe.grouped_matmul %x, %w offsets(%off) : (tensor<?x256xbf16>, tensor<8x256x1024xbf16>, tensor<9xi64>) -> tensor<?x1024xbf16>
  %a = moe.activation %h {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<concatenated>, alpha = 1.702 : f64, beta = 1.0 : f64, limit = 7.0 : f64} : (tensor<?x1024xbf16>) -> tensor<?x512xbf16>
  return %a : tensor<?x512xbf16>
}

func.func @interleaved(%x: tensor<?x256xbf16>, %w: tensor<8x256x1024xbf16>, %off: tensor<9xi64>) -> tensor<?x512xbf16> {
  %h = moe.grouped_matmul %x, %w offsets(%off) : (tensor<?x256xbf16>, tensor<8x256x1024xbf16>, tensor<9xi64>) -> tensor<?x1024xbf16>
  %a = moe.activation %h {activation = #moe.activation<gelu>, gate_layout = #moe.gate_layout<interleaved>} : (tensor<?x1024xbf16>) -> tensor<?x512xbf16>
  return %a : tensor<?x512xbf16>
}

func.func @relu(%x: tensor<?x64xf16>, %w: tensor<4x64x200xf16>, %off: tensor<5xi32>) -> tensor<?x200xf16> {
  %h = moe.grouped_matmul %x, %w offsets(%off) : (tensor<?x64xf16>, tensor<4x64x200xf16>, tensor<5xi32>) -> tensor<?x200xf16>
  %a = moe.activation %h {activation = #moe.activation<relu>} : (tensor<?x200xf16>) -> tensor<?x200xf16>
  return %a : tensor<?x200xf16>
}
