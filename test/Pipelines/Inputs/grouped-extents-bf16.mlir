// Heterogeneous experts as moe-prepare-gpu-layers leaves them: zero-padded
// stacked weights with each group's own [K, N] (four experts of widths 128,
// 192, 320 and 512; H = 256: two of them end inside a wgmma block's 128
// columns), separate gate/up with biases on the down projection.
func.func @hmoe_ffn(%rows: tensor<?x256xbf16>, %off: tensor<5xi64>,
                    %wg: tensor<4x256x512xbf16>, %wu: tensor<4x256x512xbf16>,
                    %wd: tensor<4x512x256xbf16>, %bd: tensor<4x256xf32>) -> tensor<?x256xbf16> {
  %g = moe.grouped_matmul %rows, %wg offsets(%off) {group_extents = array<i64: 256, 128, 256, 192, 256, 320, 256, 512>} : (tensor<?x256xbf16>, tensor<4x256x512xbf16>, tensor<5xi64>) -> tensor<?x512xbf16>
  %u = moe.grouped_matmul %rows, %wu offsets(%off) {group_extents = array<i64: 256, 128, 256, 192, 256, 320, 256, 512>} : (tensor<?x256xbf16>, tensor<4x256x512xbf16>, tensor<5xi64>) -> tensor<?x512xbf16>
  %a = moe.activation %g, %u {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<separate>} : (tensor<?x512xbf16>, tensor<?x512xbf16>) -> tensor<?x512xbf16>
  %y = moe.grouped_matmul %a, %wd offsets(%off) bias(%bd) {group_extents = array<i64: 128, 256, 192, 256, 320, 256, 512, 256>} : (tensor<?x512xbf16>, tensor<4x512x256xbf16>, tensor<5xi64>, tensor<4x256xf32>) -> tensor<?x256xbf16>
  return %y : tensor<?x256xbf16>
}

// A down projection whose experts' widths (96, 168, 328, 512) are no
// multiples of the wgmma kernel's 64-deep k step: each group ends in a
// partial step.
func.func @hmoe_ragged_down(%a: tensor<?x512xbf16>, %off: tensor<5xi64>,
                            %wd: tensor<4x512x128xbf16>) -> tensor<?x128xbf16> {
  %y = moe.grouped_matmul %a, %wd offsets(%off) {group_extents = array<i64: 96, 128, 168, 128, 328, 128, 512, 128>} : (tensor<?x512xbf16>, tensor<4x512x128xbf16>, tensor<5xi64>) -> tensor<?x128xbf16>
  return %y : tensor<?x128xbf16>
}
