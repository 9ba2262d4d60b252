// Dropless dispatch of DeepSeek-V3's routing (top-8 of 256, H = 7168) for
// the dispatch-kernel pipeline tests.
func.func @dispatch(%x: tensor<?x7168xbf16>, %ids: tensor<?x8xi64>) -> (tensor<?x7168xbf16>, tensor<257xi64>, tensor<?x8xi64>) {
  %r, %o, %m = moe.dispatch %x, %ids {num_experts = 256 : i64}
      : tensor<?x7168xbf16>, tensor<?x8xi64> -> tensor<?x7168xbf16>, tensor<257xi64>, tensor<?x8xi64>
  return %r, %o, %m : tensor<?x7168xbf16>, tensor<257xi64>, tensor<?x8xi64>
}
