// Capacities the dispatch counts in their own ways. Switch's per-sequence
// capacity: top-1 of 64 experts, capacity 4 per group of G tokens (a
// run-time index). by_weight: top-2 of 64, each expert keeping its 512
// heaviest slots (bf16 routing weights).
func.func @grouped(%x: tensor<?x1024xbf16>, %ids: tensor<?x1xi64>, %g: index) -> (tensor<?x1024xbf16>, tensor<65xi64>, tensor<?x1xi64>) {
  %r, %o, %m = moe.dispatch %x, %ids group_size(%g) {num_experts = 64 : i64, capacity = 4 : i64, drop_policy = #moe.drop_policy<in_order>}
      : tensor<?x1024xbf16>, tensor<?x1xi64> -> tensor<?x1024xbf16>, tensor<65xi64>, tensor<?x1xi64>
  return %r, %o, %m : tensor<?x1024xbf16>, tensor<65xi64>, tensor<?x1xi64>
}

func.func @by_weight(%x: tensor<?x1024xbf16>, %ids: tensor<?x2xi64>, %w: tensor<?x2xbf16>) -> (tensor<?x1024xbf16>, tensor<65xi64>, tensor<?x2xi64>) {
  %r, %o, %m = moe.dispatch %x, %ids weights(%w : tensor<?x2xbf16>) {num_experts = 64 : i64, capacity = 512 : i64, drop_policy = #moe.drop_policy<by_weight>}
      : tensor<?x1024xbf16>, tensor<?x2xi64> -> tensor<?x1024xbf16>, tensor<65xi64>, tensor<?x2xi64>
  return %r, %o, %m : tensor<?x1024xbf16>, tensor<65xi64>, tensor<?x2xi64>
}
