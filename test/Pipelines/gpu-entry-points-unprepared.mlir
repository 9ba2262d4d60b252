// RUN: moe-opt %s --moe-gpu-entry-points 2>&1 | FileCheck %s

// A whole MoE layer outside a moe.gpu_layer function (a model that was not
// run through --moe-prepare-gpu-layers): a warning says it gets no layer
// entry; its ops still name standalone entries.
// CHECK: warning: moe-gpu-entry-points: this MoE layer is not in a moe.gpu_layer function, so it gets no moe_layer_forward entry (only standalone entries for its grouped matmuls, routing and dispatch); run --moe-prepare-gpu-layers first to compile it as one
// CHECK-NEXT: %y = moe.combine
// CHECK: func.func @moe_gpu_grouped_matmul_dispatch(
// CHECK-NOT: moe_layer_forward_0
func.func @model(%x: tensor<?x64xbf16>, %logits: tensor<?x4xf32>, %w: tensor<4x64x64xbf16>) -> tensor<?x64xbf16> {
  %wt, %ids = moe.route <token_choice> <softmax> %logits {k = 1 : i64} : tensor<?x4xf32> -> tensor<?x1xf32>, tensor<?x1xi64>
  %rows, %off, %map = moe.dispatch %x, %ids {num_experts = 4 : i64} : tensor<?x64xbf16>, tensor<?x1xi64> -> tensor<?x64xbf16>, tensor<5xi64>, tensor<?x1xi64>
  %h = moe.grouped_matmul %rows, %w offsets(%off) : (tensor<?x64xbf16>, tensor<4x64x64xbf16>, tensor<5xi64>) -> tensor<?x64xbf16>
  %y = moe.combine %h, %map, %wt : (tensor<?x64xbf16>, tensor<?x1xi64>, tensor<?x1xf32>) -> tensor<?x64xbf16>
  return %y : tensor<?x64xbf16>
}
