// RUN: moe-opt %s | moe-opt | FileCheck %s
// RUN: moe-opt %s -mlir-print-op-generic | moe-opt | FileCheck %s

// Round trip of every moe op through the custom and the generic form. The
// first functions model the routing rows of real models (MOE_REFERENCE.md
// §1); the later ones sweep every attribute, activation and layout. Shapes
// are the models' real ones (types only, no data).

// Mixtral-8x7B: softmax, top-2, renormalized; SwiGLU experts with separate
// gate and up weights, stacked [E, in, out]. f32, dynamic tokens, i64 ids.
// CHECK-LABEL: func.func @mixtral_8x7b(
// CHECK-SAME: %[[X:[^:]+]]: tensor<?x4096xf32>, %[[WR:[^:]+]]: tensor<8x4096xf32>, %[[WG:[^:]+]]: tensor<8x4096x14336xf32>, %[[WU:[^:]+]]: tensor<8x4096x14336xf32>, %[[WD:[^:]+]]: tensor<8x14336x4096xf32>)
// CHECK-NEXT: %[[L:.*]] = moe.gate %[[X]], %[[WR]] : (tensor<?x4096xf32>, tensor<8x4096xf32>) -> tensor<?x8xf32>
// CHECK-NEXT: %[[W:.*]], %[[IDS:.*]] = moe.route <token_choice> <softmax> %[[L]] {k = 2 : i64, renormalize} : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
// CHECK-NEXT: %[[ROWS:.*]], %[[OFF:.*]], %[[MAP:.*]] = moe.dispatch %[[X]], %[[IDS]] {num_experts = 8 : i64} : tensor<?x4096xf32>, tensor<?x2xi64> -> tensor<?x4096xf32>, tensor<9xi64>, tensor<?x2xi64>
// CHECK-NEXT: %[[Y:.*]] = moe.experts %[[ROWS]], %[[OFF]] weights(%[[WG]], %[[WU]], %[[WD]]) {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<separate>} : (tensor<?x4096xf32>, tensor<9xi64>, tensor<8x4096x14336xf32>, tensor<8x4096x14336xf32>, tensor<8x14336x4096xf32>) -> tensor<?x4096xf32>
// CHECK-NEXT: %[[OUT:.*]] = moe.combine %[[Y]], %[[MAP]], %[[W]] : (tensor<?x4096xf32>, tensor<?x2xi64>, tensor<?x2xf32>) -> tensor<?x4096xf32>
// CHECK-NEXT: return %[[OUT]]
func.func @mixtral_8x7b(%x: tensor<?x4096xf32>, %wr: tensor<8x4096xf32>,
                        %wg: tensor<8x4096x14336xf32>, %wu: tensor<8x4096x14336xf32>,
                        %wd: tensor<8x14336x4096xf32>) -> tensor<?x4096xf32> {
  %logits = moe.gate %x, %wr : (tensor<?x4096xf32>, tensor<8x4096xf32>) -> tensor<?x8xf32>
  %w, %ids = moe.route <token_choice> <softmax> %logits {k = 2, renormalize}
      : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  %rows, %offsets, %map = moe.dispatch %x, %ids {num_experts = 8}
      : tensor<?x4096xf32>, tensor<?x2xi64> -> tensor<?x4096xf32>, tensor<9xi64>, tensor<?x2xi64>
  %y = moe.experts %rows, %offsets weights(%wg, %wu, %wd)
      {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<separate>}
      : (tensor<?x4096xf32>, tensor<9xi64>, tensor<8x4096x14336xf32>, tensor<8x4096x14336xf32>,
         tensor<8x14336x4096xf32>) -> tensor<?x4096xf32>
  %out = moe.combine %y, %map, %w
      : (tensor<?x4096xf32>, tensor<?x2xi64>, tensor<?x2xf32>) -> tensor<?x4096xf32>
  return %out : tensor<?x4096xf32>
}

// Qwen1.5-MoE-A2.7B: softmax, top-4, not renormalized (norm_topk_prob =
// false); experts stored in torch layout [E, out, in]. The shared expert
// (plain dense ops) is left out. f16, 32 static tokens, i32 ids.
// CHECK-LABEL: func.func @qwen1_5_moe(
// CHECK-SAME: %[[X:[^:]+]]: tensor<32x2048xf16>, %[[WR:[^:]+]]: tensor<60x2048xf16>, %[[WG:[^:]+]]: tensor<60x1408x2048xf16>, %[[WU:[^:]+]]: tensor<60x1408x2048xf16>, %[[WD:[^:]+]]: tensor<60x2048x1408xf16>)
// CHECK-NEXT: %[[L:.*]] = moe.gate %[[X]], %[[WR]] : (tensor<32x2048xf16>, tensor<60x2048xf16>) -> tensor<32x60xf16>
// CHECK-NEXT: %[[W:.*]], %[[IDS:.*]] = moe.route <token_choice> <softmax> %[[L]] {k = 4 : i64} : tensor<32x60xf16> -> tensor<32x4xf16>, tensor<32x4xi32>
// CHECK-NEXT: %[[ROWS:.*]], %[[OFF:.*]], %[[MAP:.*]] = moe.dispatch %[[X]], %[[IDS]] {num_experts = 60 : i64} : tensor<32x2048xf16>, tensor<32x4xi32> -> tensor<128x2048xf16>, tensor<61xi32>, tensor<32x4xi32>
// CHECK-NEXT: %[[Y:.*]] = moe.experts %[[ROWS]], %[[OFF]] weights(%[[WG]], %[[WU]], %[[WD]]) {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<separate>, transposed_weights} : (tensor<128x2048xf16>, tensor<61xi32>, tensor<60x1408x2048xf16>, tensor<60x1408x2048xf16>, tensor<60x2048x1408xf16>) -> tensor<128x2048xf16>
// CHECK-NEXT: %[[OUT:.*]] = moe.combine %[[Y]], %[[MAP]], %[[W]] : (tensor<128x2048xf16>, tensor<32x4xi32>, tensor<32x4xf16>) -> tensor<32x2048xf16>
// CHECK-NEXT: return %[[OUT]]
func.func @qwen1_5_moe(%x: tensor<32x2048xf16>, %wr: tensor<60x2048xf16>,
                       %wg: tensor<60x1408x2048xf16>, %wu: tensor<60x1408x2048xf16>,
                       %wd: tensor<60x2048x1408xf16>) -> tensor<32x2048xf16> {
  %logits = moe.gate %x, %wr : (tensor<32x2048xf16>, tensor<60x2048xf16>) -> tensor<32x60xf16>
  %w, %ids = moe.route <token_choice> <softmax> %logits {k = 4}
      : tensor<32x60xf16> -> tensor<32x4xf16>, tensor<32x4xi32>
  %rows, %offsets, %map = moe.dispatch %x, %ids {num_experts = 60}
      : tensor<32x2048xf16>, tensor<32x4xi32> -> tensor<128x2048xf16>, tensor<61xi32>, tensor<32x4xi32>
  %y = moe.experts %rows, %offsets weights(%wg, %wu, %wd)
      {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<separate>, transposed_weights}
      : (tensor<128x2048xf16>, tensor<61xi32>, tensor<60x1408x2048xf16>, tensor<60x1408x2048xf16>,
         tensor<60x2048x1408xf16>) -> tensor<128x2048xf16>
  %out = moe.combine %y, %map, %w
      : (tensor<128x2048xf16>, tensor<32x4xi32>, tensor<32x4xf16>) -> tensor<32x2048xf16>
  return %out : tensor<32x2048xf16>
}

// DeepSeek-V3: sigmoid scores, aux-loss-free selection bias, 8 groups of 32
// experts of which 4 stay selectable (group score: top-2 sum, the default),
// top-8, weights renormalized with epsilon 1e-20 and scaled by 2.5. The
// shared expert is left out. bf16, dynamic tokens, i32 ids.
// CHECK-LABEL: func.func @deepseek_v3(
// CHECK-SAME: %[[X:[^:]+]]: tensor<?x7168xbf16>, %[[WR:[^:]+]]: tensor<256x7168xbf16>, %[[B:[^:]+]]: tensor<256xbf16>, %[[WG:[^:]+]]: tensor<256x7168x2048xbf16>, %[[WU:[^:]+]]: tensor<256x7168x2048xbf16>, %[[WD:[^:]+]]: tensor<256x2048x7168xbf16>)
// CHECK-NEXT: %[[L:.*]] = moe.gate %[[X]], %[[WR]] : (tensor<?x7168xbf16>, tensor<256x7168xbf16>) -> tensor<?x256xbf16>
// CHECK-NEXT: %[[W:.*]], %[[IDS:.*]] = moe.route <token_choice> <sigmoid> %[[L]] bias(%[[B]] : tensor<256xbf16>) {epsilon = 9.9999999999999995E-21 : f64, k = 8 : i64, num_groups = 8 : i64, renormalize, scaling_factor = 2.500000e+00 : f64, topk_groups = 4 : i64} : tensor<?x256xbf16> -> tensor<?x8xbf16>, tensor<?x8xi32>
// CHECK-NEXT: %[[ROWS:.*]], %[[OFF:.*]], %[[MAP:.*]] = moe.dispatch %[[X]], %[[IDS]] {num_experts = 256 : i64} : tensor<?x7168xbf16>, tensor<?x8xi32> -> tensor<?x7168xbf16>, tensor<257xi32>, tensor<?x8xi32>
// CHECK-NEXT: %[[Y:.*]] = moe.experts %[[ROWS]], %[[OFF]] weights(%[[WG]], %[[WU]], %[[WD]]) {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<separate>} : (tensor<?x7168xbf16>, tensor<257xi32>, tensor<256x7168x2048xbf16>, tensor<256x7168x2048xbf16>, tensor<256x2048x7168xbf16>) -> tensor<?x7168xbf16>
// CHECK-NEXT: %[[OUT:.*]] = moe.combine %[[Y]], %[[MAP]], %[[W]] : (tensor<?x7168xbf16>, tensor<?x8xi32>, tensor<?x8xbf16>) -> tensor<?x7168xbf16>
// CHECK-NEXT: return %[[OUT]]
func.func @deepseek_v3(%x: tensor<?x7168xbf16>, %wr: tensor<256x7168xbf16>, %bias: tensor<256xbf16>,
                       %wg: tensor<256x7168x2048xbf16>, %wu: tensor<256x7168x2048xbf16>,
                       %wd: tensor<256x2048x7168xbf16>) -> tensor<?x7168xbf16> {
  %logits = moe.gate %x, %wr : (tensor<?x7168xbf16>, tensor<256x7168xbf16>) -> tensor<?x256xbf16>
  %w, %ids = moe.route <token_choice> <sigmoid> %logits bias(%bias : tensor<256xbf16>)
      {k = 8, renormalize, epsilon = 1.0e-20, scaling_factor = 2.5, num_groups = 8, topk_groups = 4}
      : tensor<?x256xbf16> -> tensor<?x8xbf16>, tensor<?x8xi32>
  %rows, %offsets, %map = moe.dispatch %x, %ids {num_experts = 256}
      : tensor<?x7168xbf16>, tensor<?x8xi32> -> tensor<?x7168xbf16>, tensor<257xi32>, tensor<?x8xi32>
  %y = moe.experts %rows, %offsets weights(%wg, %wu, %wd)
      {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<separate>}
      : (tensor<?x7168xbf16>, tensor<257xi32>, tensor<256x7168x2048xbf16>, tensor<256x7168x2048xbf16>,
         tensor<256x2048x7168xbf16>) -> tensor<?x7168xbf16>
  %out = moe.combine %y, %map, %w
      : (tensor<?x7168xbf16>, tensor<?x8xi32>, tensor<?x8xbf16>) -> tensor<?x7168xbf16>
  return %out : tensor<?x7168xbf16>
}

// Switch Transformer (Switch-Base-8): softmax, top-1, expert capacity
// ceil(1.25 * 64 / 8) = 10 keeping the earliest tokens; ReLU FFN experts.
// f32, 64 static tokens, i32 ids.
// CHECK-LABEL: func.func @switch_base_8(
// CHECK-SAME: %[[X:[^:]+]]: tensor<64x768xf32>, %[[WR:[^:]+]]: tensor<8x768xf32>, %[[WI:[^:]+]]: tensor<8x768x3072xf32>, %[[WO:[^:]+]]: tensor<8x3072x768xf32>)
// CHECK-NEXT: %[[L:.*]] = moe.gate %[[X]], %[[WR]] : (tensor<64x768xf32>, tensor<8x768xf32>) -> tensor<64x8xf32>
// CHECK-NEXT: %[[W:.*]], %[[IDS:.*]] = moe.route <token_choice> <softmax> %[[L]] {k = 1 : i64} : tensor<64x8xf32> -> tensor<64x1xf32>, tensor<64x1xi32>
// CHECK-NEXT: %[[ROWS:.*]], %[[OFF:.*]], %[[MAP:.*]] = moe.dispatch %[[X]], %[[IDS]] {capacity = 10 : i64, drop_policy = #moe.drop_policy<in_order>, num_experts = 8 : i64} : tensor<64x768xf32>, tensor<64x1xi32> -> tensor<64x768xf32>, tensor<9xi32>, tensor<64x1xi32>
// CHECK-NEXT: %[[Y:.*]] = moe.experts %[[ROWS]], %[[OFF]] weights(%[[WI]], %[[WO]]) {activation = #moe.activation<relu>} : (tensor<64x768xf32>, tensor<9xi32>, tensor<8x768x3072xf32>, tensor<8x3072x768xf32>) -> tensor<64x768xf32>
// CHECK-NEXT: %[[OUT:.*]] = moe.combine %[[Y]], %[[MAP]], %[[W]] : (tensor<64x768xf32>, tensor<64x1xi32>, tensor<64x1xf32>) -> tensor<64x768xf32>
// CHECK-NEXT: return %[[OUT]]
func.func @switch_base_8(%x: tensor<64x768xf32>, %wr: tensor<8x768xf32>,
                         %wi: tensor<8x768x3072xf32>, %wo: tensor<8x3072x768xf32>) -> tensor<64x768xf32> {
  %logits = moe.gate %x, %wr : (tensor<64x768xf32>, tensor<8x768xf32>) -> tensor<64x8xf32>
  %w, %ids = moe.route <token_choice> <softmax> %logits {k = 1}
      : tensor<64x8xf32> -> tensor<64x1xf32>, tensor<64x1xi32>
  %rows, %offsets, %map = moe.dispatch %x, %ids
      {num_experts = 8, capacity = 10, drop_policy = #moe.drop_policy<in_order>}
      : tensor<64x768xf32>, tensor<64x1xi32> -> tensor<64x768xf32>, tensor<9xi32>, tensor<64x1xi32>
  %y = moe.experts %rows, %offsets weights(%wi, %wo) {activation = #moe.activation<relu>}
      : (tensor<64x768xf32>, tensor<9xi32>, tensor<8x768x3072xf32>, tensor<8x3072x768xf32>) -> tensor<64x768xf32>
  %out = moe.combine %y, %map, %w
      : (tensor<64x768xf32>, tensor<64x1xi32>, tensor<64x1xf32>) -> tensor<64x768xf32>
  return %out : tensor<64x768xf32>
}

// Switch Transformers: expert capacity 4 counted per sequence of %seq
// tokens of the flattened [batch, seq] input.
// CHECK-LABEL: func.func @dispatch_per_sequence(
// CHECK-SAME: %[[X:[^:]+]]: tensor<?x16xf32>, %[[IDS:[^:]+]]: tensor<?x1xi64>, %[[SEQ:[^:]+]]: index)
// CHECK: moe.dispatch %[[X]], %[[IDS]] group_size(%[[SEQ]]) {capacity = 4 : i64, drop_policy = #moe.drop_policy<in_order>, num_experts = 4 : i64} : tensor<?x16xf32>, tensor<?x1xi64> -> tensor<?x16xf32>, tensor<5xi64>, tensor<?x1xi64>
func.func @dispatch_per_sequence(%x: tensor<?x16xf32>, %ids: tensor<?x1xi64>, %seq: index) -> tensor<5xi64> {
  %rows, %offsets, %map = moe.dispatch %x, %ids group_size(%seq)
      {num_experts = 4, capacity = 4, drop_policy = #moe.drop_policy<in_order>}
      : tensor<?x16xf32>, tensor<?x1xi64> -> tensor<?x16xf32>, tensor<5xi64>, tensor<?x1xi64>
  return %offsets : tensor<5xi64>
}

// Merged experts: 6 routed ids onto 3 experts (ids 0, 3 -> 0; 1, 4, 5 -> 1;
// 2 -> 2).
// CHECK-LABEL: func.func @dispatch_expert_map(
// CHECK: moe.dispatch %{{.*}}, %{{.*}} {expert_map = array<i64: 0, 1, 2, 0, 1, 1>, num_experts = 3 : i64} : tensor<?x64xf32>, tensor<?x2xi64> -> tensor<?x64xf32>, tensor<4xi64>, tensor<?x2xi64>
func.func @dispatch_expert_map(%x: tensor<?x64xf32>, %ids: tensor<?x2xi64>) -> tensor<4xi64> {
  %rows, %offsets, %map = moe.dispatch %x, %ids {num_experts = 3, expert_map = array<i64: 0, 1, 2, 0, 1, 1>}
      : tensor<?x64xf32>, tensor<?x2xi64> -> tensor<?x64xf32>, tensor<4xi64>, tensor<?x2xi64>
  return %offsets : tensor<4xi64>
}

// gpt-oss-20b: router linear with bias, top-4 on the raw logits, softmax over
// the chosen 4; clamped SwiGLU (alpha 1.702, beta 1, limit 7) with gate/up
// interleaved in one fused weight, and expert biases. bf16, dynamic tokens,
// i64 ids.
// CHECK-LABEL: func.func @gpt_oss_20b(
// CHECK-SAME: %[[X:[^:]+]]: tensor<?x2880xbf16>, %[[WR:[^:]+]]: tensor<32x2880xbf16>, %[[BR:[^:]+]]: tensor<32xbf16>, %[[W1:[^:]+]]: tensor<32x2880x5760xbf16>, %[[B1:[^:]+]]: tensor<32x5760xbf16>, %[[W2:[^:]+]]: tensor<32x2880x2880xbf16>, %[[B2:[^:]+]]: tensor<32x2880xbf16>)
// CHECK-NEXT: %[[L:.*]] = moe.gate %[[X]], %[[WR]], %[[BR]] : (tensor<?x2880xbf16>, tensor<32x2880xbf16>, tensor<32xbf16>) -> tensor<?x32xbf16>
// CHECK-NEXT: %[[W:.*]], %[[IDS:.*]] = moe.route <token_choice> <softmax_after_topk> %[[L]] {k = 4 : i64} : tensor<?x32xbf16> -> tensor<?x4xbf16>, tensor<?x4xi64>
// CHECK-NEXT: %[[ROWS:.*]], %[[OFF:.*]], %[[MAP:.*]] = moe.dispatch %[[X]], %[[IDS]] {num_experts = 32 : i64} : tensor<?x2880xbf16>, tensor<?x4xi64> -> tensor<?x2880xbf16>, tensor<33xi64>, tensor<?x4xi64>
// CHECK-NEXT: %[[Y:.*]] = moe.experts %[[ROWS]], %[[OFF]] weights(%[[W1]], %[[W2]]) biases(%[[B1]], %[[B2]]) {activation = #moe.activation<silu>, alpha = 1.702000e+00 : f64, beta = 1.000000e+00 : f64, gate_layout = #moe.gate_layout<interleaved>, limit = 7.000000e+00 : f64} : (tensor<?x2880xbf16>, tensor<33xi64>, tensor<32x2880x5760xbf16>, tensor<32x2880x2880xbf16>, tensor<32x5760xbf16>, tensor<32x2880xbf16>) -> tensor<?x2880xbf16>
// CHECK-NEXT: %[[OUT:.*]] = moe.combine %[[Y]], %[[MAP]], %[[W]] : (tensor<?x2880xbf16>, tensor<?x4xi64>, tensor<?x4xbf16>) -> tensor<?x2880xbf16>
// CHECK-NEXT: return %[[OUT]]
func.func @gpt_oss_20b(%x: tensor<?x2880xbf16>, %wr: tensor<32x2880xbf16>, %br: tensor<32xbf16>,
                       %w1: tensor<32x2880x5760xbf16>, %b1: tensor<32x5760xbf16>,
                       %w2: tensor<32x2880x2880xbf16>, %b2: tensor<32x2880xbf16>) -> tensor<?x2880xbf16> {
  %logits = moe.gate %x, %wr, %br
      : (tensor<?x2880xbf16>, tensor<32x2880xbf16>, tensor<32xbf16>) -> tensor<?x32xbf16>
  %w, %ids = moe.route <token_choice> <softmax_after_topk> %logits {k = 4}
      : tensor<?x32xbf16> -> tensor<?x4xbf16>, tensor<?x4xi64>
  %rows, %offsets, %map = moe.dispatch %x, %ids {num_experts = 32}
      : tensor<?x2880xbf16>, tensor<?x4xi64> -> tensor<?x2880xbf16>, tensor<33xi64>, tensor<?x4xi64>
  %y = moe.experts %rows, %offsets weights(%w1, %w2) biases(%b1, %b2)
      {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<interleaved>,
       alpha = 1.702, beta = 1.0, limit = 7.0}
      : (tensor<?x2880xbf16>, tensor<33xi64>, tensor<32x2880x5760xbf16>, tensor<32x2880x2880xbf16>,
         tensor<32x5760xbf16>, tensor<32x2880xbf16>) -> tensor<?x2880xbf16>
  %out = moe.combine %y, %map, %w
      : (tensor<?x2880xbf16>, tensor<?x4xi64>, tensor<?x4xbf16>) -> tensor<?x2880xbf16>
  return %out : tensor<?x2880xbf16>
}

// Llama 4 Scout: sigmoid scores, top-1; SwiGLU with gate and up concatenated
// in one fused [E, H, 2 * I] weight (gate_up_proj). Llama 4 scales the
// expert's input rather than its output: the dispatch scales each row by its
// routing weight (scale_rows) and the combine has no weights. bf16, dynamic
// tokens, i64 ids.
// CHECK-LABEL: func.func @llama4_scout(
// CHECK-SAME: %[[X:[^:]+]]: tensor<?x5120xbf16>, %[[WR:[^:]+]]: tensor<16x5120xbf16>, %[[WGU:[^:]+]]: tensor<16x5120x16384xbf16>, %[[WD:[^:]+]]: tensor<16x8192x5120xbf16>)
// CHECK-NEXT: %[[L:.*]] = moe.gate %[[X]], %[[WR]] : (tensor<?x5120xbf16>, tensor<16x5120xbf16>) -> tensor<?x16xbf16>
// CHECK-NEXT: %[[W:.*]], %[[IDS:.*]] = moe.route <token_choice> <sigmoid> %[[L]] {k = 1 : i64} : tensor<?x16xbf16> -> tensor<?x1xbf16>, tensor<?x1xi64>
// CHECK-NEXT: %[[ROWS:.*]], %[[OFF:.*]], %[[MAP:.*]] = moe.dispatch %[[X]], %[[IDS]] weights(%[[W]] : tensor<?x1xbf16>) {num_experts = 16 : i64, scale_rows} : tensor<?x5120xbf16>, tensor<?x1xi64> -> tensor<?x5120xbf16>, tensor<17xi64>, tensor<?x1xi64>
// CHECK-NEXT: %[[Y:.*]] = moe.experts %[[ROWS]], %[[OFF]] weights(%[[WGU]], %[[WD]]) {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<concatenated>} : (tensor<?x5120xbf16>, tensor<17xi64>, tensor<16x5120x16384xbf16>, tensor<16x8192x5120xbf16>) -> tensor<?x5120xbf16>
// CHECK-NEXT: %[[OUT:.*]] = moe.combine %[[Y]], %[[MAP]] : (tensor<?x5120xbf16>, tensor<?x1xi64>) -> tensor<?x5120xbf16>
// CHECK-NEXT: return %[[OUT]]
func.func @llama4_scout(%x: tensor<?x5120xbf16>, %wr: tensor<16x5120xbf16>,
                        %wgu: tensor<16x5120x16384xbf16>, %wd: tensor<16x8192x5120xbf16>) -> tensor<?x5120xbf16> {
  %logits = moe.gate %x, %wr : (tensor<?x5120xbf16>, tensor<16x5120xbf16>) -> tensor<?x16xbf16>
  %w, %ids = moe.route <token_choice> <sigmoid> %logits {k = 1}
      : tensor<?x16xbf16> -> tensor<?x1xbf16>, tensor<?x1xi64>
  %rows, %offsets, %map = moe.dispatch %x, %ids weights(%w : tensor<?x1xbf16>) {num_experts = 16, scale_rows}
      : tensor<?x5120xbf16>, tensor<?x1xi64> -> tensor<?x5120xbf16>, tensor<17xi64>, tensor<?x1xi64>
  %y = moe.experts %rows, %offsets weights(%wgu, %wd)
      {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<concatenated>}
      : (tensor<?x5120xbf16>, tensor<17xi64>, tensor<16x5120x16384xbf16>, tensor<16x8192x5120xbf16>) -> tensor<?x5120xbf16>
  %out = moe.combine %y, %map
      : (tensor<?x5120xbf16>, tensor<?x1xi64>) -> tensor<?x5120xbf16>
  return %out : tensor<?x5120xbf16>
}

// Expert Choice routing: each of 8 experts takes its best
// C = ceil(64 * 2 / 8) = 16 of 64 tokens (capacity factor 2); the weights are
// the dense [tokens, experts] gate. GELU experts. f32, static tokens, i64.
// CHECK-LABEL: func.func @expert_choice(
// CHECK-SAME: %[[X:[^:]+]]: tensor<64x512xf32>, %[[WR:[^:]+]]: tensor<8x512xf32>, %[[W1:[^:]+]]: tensor<8x512x2048xf32>, %[[W2:[^:]+]]: tensor<8x2048x512xf32>)
// CHECK-NEXT: %[[L:.*]] = moe.gate %[[X]], %[[WR]] : (tensor<64x512xf32>, tensor<8x512xf32>) -> tensor<64x8xf32>
// CHECK-NEXT: %[[G:.*]], %[[TOK:.*]] = moe.route <expert_choice> <softmax> %[[L]] {capacity_factor = 2.000000e+00 : f64} : tensor<64x8xf32> -> tensor<64x8xf32>, tensor<8x16xi64>
// CHECK-NEXT: %[[ROWS:.*]], %[[OFF:.*]], %[[MAP:.*]] = moe.dispatch %[[X]], %[[TOK]] {expert_choice, num_experts = 8 : i64} : tensor<64x512xf32>, tensor<8x16xi64> -> tensor<128x512xf32>, tensor<9xi64>, tensor<64x8xi64>
// CHECK-NEXT: %[[Y:.*]] = moe.experts %[[ROWS]], %[[OFF]] weights(%[[W1]], %[[W2]]) {activation = #moe.activation<gelu>} : (tensor<128x512xf32>, tensor<9xi64>, tensor<8x512x2048xf32>, tensor<8x2048x512xf32>) -> tensor<128x512xf32>
// CHECK-NEXT: %[[OUT:.*]] = moe.combine %[[Y]], %[[MAP]], %[[G]] : (tensor<128x512xf32>, tensor<64x8xi64>, tensor<64x8xf32>) -> tensor<64x512xf32>
// CHECK-NEXT: return %[[OUT]]
func.func @expert_choice(%x: tensor<64x512xf32>, %wr: tensor<8x512xf32>,
                         %w1: tensor<8x512x2048xf32>, %w2: tensor<8x2048x512xf32>) -> tensor<64x512xf32> {
  %logits = moe.gate %x, %wr : (tensor<64x512xf32>, tensor<8x512xf32>) -> tensor<64x8xf32>
  %gate, %tokens = moe.route <expert_choice> <softmax> %logits {capacity_factor = 2.0}
      : tensor<64x8xf32> -> tensor<64x8xf32>, tensor<8x16xi64>
  %rows, %offsets, %map = moe.dispatch %x, %tokens {num_experts = 8, expert_choice}
      : tensor<64x512xf32>, tensor<8x16xi64> -> tensor<128x512xf32>, tensor<9xi64>, tensor<64x8xi64>
  %y = moe.experts %rows, %offsets weights(%w1, %w2) {activation = #moe.activation<gelu>}
      : (tensor<128x512xf32>, tensor<9xi64>, tensor<8x512x2048xf32>, tensor<8x2048x512xf32>) -> tensor<128x512xf32>
  %out = moe.combine %y, %map, %gate
      : (tensor<128x512xf32>, tensor<64x8xi64>, tensor<64x8xf32>) -> tensor<64x512xf32>
  return %out : tensor<64x512xf32>
}

// Dynamic top-p routing: per token the shortest prefix of softmax scores
// reaching p = 0.4, at most k = 4 experts, weights not renormalized.
// gelu_tanh experts. f16, dynamic tokens, i32 ids.
// CHECK-LABEL: func.func @top_p(
// CHECK-SAME: %[[X:[^:]+]]: tensor<?x1024xf16>, %[[WR:[^:]+]]: tensor<16x1024xf16>, %[[W1:[^:]+]]: tensor<16x1024x4096xf16>, %[[W2:[^:]+]]: tensor<16x4096x1024xf16>)
// CHECK-NEXT: %[[L:.*]] = moe.gate %[[X]], %[[WR]] : (tensor<?x1024xf16>, tensor<16x1024xf16>) -> tensor<?x16xf16>
// CHECK-NEXT: %[[W:.*]], %[[IDS:.*]] = moe.route <top_p> <softmax> %[[L]] {k = 4 : i64, top_p = 4.000000e-01 : f64} : tensor<?x16xf16> -> tensor<?x4xf16>, tensor<?x4xi32>
// CHECK-NEXT: %[[ROWS:.*]], %[[OFF:.*]], %[[MAP:.*]] = moe.dispatch %[[X]], %[[IDS]] {num_experts = 16 : i64} : tensor<?x1024xf16>, tensor<?x4xi32> -> tensor<?x1024xf16>, tensor<17xi32>, tensor<?x4xi32>
// CHECK-NEXT: %[[Y:.*]] = moe.experts %[[ROWS]], %[[OFF]] weights(%[[W1]], %[[W2]]) {activation = #moe.activation<gelu_tanh>} : (tensor<?x1024xf16>, tensor<17xi32>, tensor<16x1024x4096xf16>, tensor<16x4096x1024xf16>) -> tensor<?x1024xf16>
// CHECK-NEXT: %[[OUT:.*]] = moe.combine %[[Y]], %[[MAP]], %[[W]] : (tensor<?x1024xf16>, tensor<?x4xi32>, tensor<?x4xf16>) -> tensor<?x1024xf16>
// CHECK-NEXT: return %[[OUT]]
func.func @top_p(%x: tensor<?x1024xf16>, %wr: tensor<16x1024xf16>,
                 %w1: tensor<16x1024x4096xf16>, %w2: tensor<16x4096x1024xf16>) -> tensor<?x1024xf16> {
  %logits = moe.gate %x, %wr : (tensor<?x1024xf16>, tensor<16x1024xf16>) -> tensor<?x16xf16>
  %w, %ids = moe.route <top_p> <softmax> %logits {k = 4, top_p = 0.4}
      : tensor<?x16xf16> -> tensor<?x4xf16>, tensor<?x4xi32>
  %rows, %offsets, %map = moe.dispatch %x, %ids {num_experts = 16}
      : tensor<?x1024xf16>, tensor<?x4xi32> -> tensor<?x1024xf16>, tensor<17xi32>, tensor<?x4xi32>
  %y = moe.experts %rows, %offsets weights(%w1, %w2) {activation = #moe.activation<gelu_tanh>}
      : (tensor<?x1024xf16>, tensor<17xi32>, tensor<16x1024x4096xf16>, tensor<16x4096x1024xf16>) -> tensor<?x1024xf16>
  %out = moe.combine %y, %map, %w
      : (tensor<?x1024xf16>, tensor<?x4xi32>, tensor<?x4xf16>) -> tensor<?x1024xf16>
  return %out : tensor<?x1024xf16>
}

// HMoE: 8 experts of different FFN widths 864 .. 2208 (step 192), one
// [in, out] weight per expert and stage; softmax top-2, renormalized. f32,
// dynamic tokens, i64 ids.
// CHECK-LABEL: func.func @hmoe(
// CHECK-SAME: %[[X:[^:]+]]: tensor<?x1024xf32>, %[[WR:[^:]+]]: tensor<8x1024xf32>,
// CHECK-SAME: %[[UP0:[^:]+]]: tensor<1024x864xf32>, %[[DOWN0:[^:]+]]: tensor<864x1024xf32>, %[[UP1:[^:]+]]: tensor<1024x1056xf32>, %[[DOWN1:[^:]+]]: tensor<1056x1024xf32>,
// CHECK-SAME: %[[UP2:[^:]+]]: tensor<1024x1248xf32>, %[[DOWN2:[^:]+]]: tensor<1248x1024xf32>, %[[UP3:[^:]+]]: tensor<1024x1440xf32>, %[[DOWN3:[^:]+]]: tensor<1440x1024xf32>,
// CHECK-SAME: %[[UP4:[^:]+]]: tensor<1024x1632xf32>, %[[DOWN4:[^:]+]]: tensor<1632x1024xf32>, %[[UP5:[^:]+]]: tensor<1024x1824xf32>, %[[DOWN5:[^:]+]]: tensor<1824x1024xf32>,
// CHECK-SAME: %[[UP6:[^:]+]]: tensor<1024x2016xf32>, %[[DOWN6:[^:]+]]: tensor<2016x1024xf32>, %[[UP7:[^:]+]]: tensor<1024x2208xf32>, %[[DOWN7:[^:]+]]: tensor<2208x1024xf32>
// CHECK-NEXT: %[[L:.*]] = moe.gate %[[X]], %[[WR]] : (tensor<?x1024xf32>, tensor<8x1024xf32>) -> tensor<?x8xf32>
// CHECK-NEXT: %[[W:.*]], %[[IDS:.*]] = moe.route <token_choice> <softmax> %[[L]] {k = 2 : i64, renormalize} : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
// CHECK-NEXT: %[[ROWS:.*]], %[[OFF:.*]], %[[MAP:.*]] = moe.dispatch %[[X]], %[[IDS]] {num_experts = 8 : i64} : tensor<?x1024xf32>, tensor<?x2xi64> -> tensor<?x1024xf32>, tensor<9xi64>, tensor<?x2xi64>
// CHECK-NEXT: %[[Y:.*]] = moe.experts %[[ROWS]], %[[OFF]] weights(
// CHECK-SAME: %[[UP0]], %[[DOWN0]], %[[UP1]], %[[DOWN1]],
// CHECK-SAME: %[[UP2]], %[[DOWN2]], %[[UP3]], %[[DOWN3]],
// CHECK-SAME: %[[UP4]], %[[DOWN4]], %[[UP5]], %[[DOWN5]],
// CHECK-SAME: %[[UP6]], %[[DOWN6]], %[[UP7]], %[[DOWN7]]
// CHECK-SAME: ) {activation = #moe.activation<gelu>} : (tensor<?x1024xf32>, tensor<9xi64>,
// CHECK-SAME: tensor<1024x864xf32>, tensor<864x1024xf32>, tensor<1024x1056xf32>, tensor<1056x1024xf32>,
// CHECK-SAME: tensor<1024x1248xf32>, tensor<1248x1024xf32>, tensor<1024x1440xf32>, tensor<1440x1024xf32>,
// CHECK-SAME: tensor<1024x1632xf32>, tensor<1632x1024xf32>, tensor<1024x1824xf32>, tensor<1824x1024xf32>,
// CHECK-SAME: tensor<1024x2016xf32>, tensor<2016x1024xf32>, tensor<1024x2208xf32>, tensor<2208x1024xf32>
// CHECK-SAME: ) -> tensor<?x1024xf32>
// CHECK-NEXT: %[[OUT:.*]] = moe.combine %[[Y]], %[[MAP]], %[[W]] : (tensor<?x1024xf32>, tensor<?x2xi64>, tensor<?x2xf32>) -> tensor<?x1024xf32>
// CHECK-NEXT: return %[[OUT]]
func.func @hmoe(%x: tensor<?x1024xf32>, %wr: tensor<8x1024xf32>,
                %up0: tensor<1024x864xf32>, %down0: tensor<864x1024xf32>,
                %up1: tensor<1024x1056xf32>, %down1: tensor<1056x1024xf32>,
                %up2: tensor<1024x1248xf32>, %down2: tensor<1248x1024xf32>,
                %up3: tensor<1024x1440xf32>, %down3: tensor<1440x1024xf32>,
                %up4: tensor<1024x1632xf32>, %down4: tensor<1632x1024xf32>,
                %up5: tensor<1024x1824xf32>, %down5: tensor<1824x1024xf32>,
                %up6: tensor<1024x2016xf32>, %down6: tensor<2016x1024xf32>,
                %up7: tensor<1024x2208xf32>, %down7: tensor<2208x1024xf32>) -> tensor<?x1024xf32> {
  %logits = moe.gate %x, %wr : (tensor<?x1024xf32>, tensor<8x1024xf32>) -> tensor<?x8xf32>
  %w, %ids = moe.route <token_choice> <softmax> %logits {k = 2, renormalize}
      : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  %rows, %offsets, %map = moe.dispatch %x, %ids {num_experts = 8}
      : tensor<?x1024xf32>, tensor<?x2xi64> -> tensor<?x1024xf32>, tensor<9xi64>, tensor<?x2xi64>
  %y = moe.experts %rows, %offsets
      weights(%up0, %down0, %up1, %down1, %up2, %down2, %up3, %down3,
              %up4, %down4, %up5, %down5, %up6, %down6, %up7, %down7)
      {activation = #moe.activation<gelu>}
      : (tensor<?x1024xf32>, tensor<9xi64>,
         tensor<1024x864xf32>, tensor<864x1024xf32>, tensor<1024x1056xf32>, tensor<1056x1024xf32>,
         tensor<1024x1248xf32>, tensor<1248x1024xf32>, tensor<1024x1440xf32>, tensor<1440x1024xf32>,
         tensor<1024x1632xf32>, tensor<1632x1024xf32>, tensor<1024x1824xf32>, tensor<1824x1024xf32>,
         tensor<1024x2016xf32>, tensor<2016x1024xf32>, tensor<1024x2208xf32>, tensor<2208x1024xf32>) -> tensor<?x1024xf32>
  %out = moe.combine %y, %map, %w
      : (tensor<?x1024xf32>, tensor<?x2xi64>, tensor<?x2xf32>) -> tensor<?x1024xf32>
  return %out : tensor<?x1024xf32>
}

// HMoE lowered by hand to grouped matmuls: per-group fused gate/up weights
// [1024, 2 * w_e] (interleaved), the gated activation with per-group widths,
// and per-group down weights [w_e, 1024] reading the first w_e columns.
// CHECK-LABEL: func.func @hmoe_grouped_matmul(
// CHECK-SAME: %[[ROWS:[^:]+]]: tensor<?x1024xf32>, %[[OFF:[^:]+]]: tensor<5xi64>,
// CHECK-SAME: %[[U0:[^:]+]]: tensor<1024x1728xf32>, %[[U1:[^:]+]]: tensor<1024x2496xf32>, %[[U2:[^:]+]]: tensor<1024x3264xf32>, %[[U3:[^:]+]]: tensor<1024x4032xf32>,
// CHECK-SAME: %[[D0:[^:]+]]: tensor<864x1024xf32>, %[[D1:[^:]+]]: tensor<1248x1024xf32>, %[[D2:[^:]+]]: tensor<1632x1024xf32>, %[[D3:[^:]+]]: tensor<2016x1024xf32>)
// CHECK-NEXT: %[[H:.*]] = moe.grouped_matmul %[[ROWS]], %[[U0]], %[[U1]], %[[U2]], %[[U3]] offsets(%[[OFF]]) : (tensor<?x1024xf32>, tensor<1024x1728xf32>, tensor<1024x2496xf32>, tensor<1024x3264xf32>, tensor<1024x4032xf32>, tensor<5xi64>) -> tensor<?x4032xf32>
// CHECK-NEXT: %[[A:.*]] = moe.activation %[[H]] offsets(%[[OFF]]) {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<interleaved>, widths = array<i64: 864, 1248, 1632, 2016>} : (tensor<?x4032xf32>, tensor<5xi64>) -> tensor<?x2016xf32>
// CHECK-NEXT: %[[Y:.*]] = moe.grouped_matmul %[[A]], %[[D0]], %[[D1]], %[[D2]], %[[D3]] offsets(%[[OFF]]) : (tensor<?x2016xf32>, tensor<864x1024xf32>, tensor<1248x1024xf32>, tensor<1632x1024xf32>, tensor<2016x1024xf32>, tensor<5xi64>) -> tensor<?x1024xf32>
// CHECK-NEXT: return %[[Y]]
func.func @hmoe_grouped_matmul(%rows: tensor<?x1024xf32>, %offsets: tensor<5xi64>,
                               %u0: tensor<1024x1728xf32>, %u1: tensor<1024x2496xf32>,
                               %u2: tensor<1024x3264xf32>, %u3: tensor<1024x4032xf32>,
                               %d0: tensor<864x1024xf32>, %d1: tensor<1248x1024xf32>,
                               %d2: tensor<1632x1024xf32>, %d3: tensor<2016x1024xf32>) -> tensor<?x1024xf32> {
  %h = moe.grouped_matmul %rows, %u0, %u1, %u2, %u3 offsets(%offsets)
      : (tensor<?x1024xf32>, tensor<1024x1728xf32>, tensor<1024x2496xf32>, tensor<1024x3264xf32>,
         tensor<1024x4032xf32>, tensor<5xi64>) -> tensor<?x4032xf32>
  %a = moe.activation %h offsets(%offsets)
      {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<interleaved>,
       widths = array<i64: 864, 1248, 1632, 2016>}
      : (tensor<?x4032xf32>, tensor<5xi64>) -> tensor<?x2016xf32>
  %y = moe.grouped_matmul %a, %d0, %d1, %d2, %d3 offsets(%offsets)
      : (tensor<?x2016xf32>, tensor<864x1024xf32>, tensor<1248x1024xf32>, tensor<1632x1024xf32>,
         tensor<2016x1024xf32>, tensor<5xi64>) -> tensor<?x1024xf32>
  return %y : tensor<?x1024xf32>
}

// Multi-gate MoE (MMoEEx): two tasks, each with its own gate and route over
// one shared set of 8 experts; expert 7 is exclusive to task B and expert 6 to
// task A (masked out of the other task's route). Two dispatch/combine pairs
// share the same expert weights and biases. f32, dynamic tokens, i64 ids.
// CHECK-LABEL: func.func @multi_gate(
// CHECK-SAME: %[[X:[^:]+]]: tensor<?x512xf32>, %[[WA:[^:]+]]: tensor<8x512xf32>, %[[WB:[^:]+]]: tensor<8x512xf32>, %[[W1:[^:]+]]: tensor<8x512x1024xf32>, %[[B1:[^:]+]]: tensor<8x1024xf32>, %[[W2:[^:]+]]: tensor<8x1024x512xf32>, %[[B2:[^:]+]]: tensor<8x512xf32>)
// CHECK-NEXT: %[[LA:.*]] = moe.gate %[[X]], %[[WA]] : (tensor<?x512xf32>, tensor<8x512xf32>) -> tensor<?x8xf32>
// CHECK-NEXT: %[[LB:.*]] = moe.gate %[[X]], %[[WB]] : (tensor<?x512xf32>, tensor<8x512xf32>) -> tensor<?x8xf32>
// CHECK-NEXT: %[[GA:.*]], %[[IA:.*]] = moe.route <token_choice> <softmax> %[[LA]] {expert_mask = array<i1: true, true, true, true, true, true, true, false>, k = 2 : i64} : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
// CHECK-NEXT: %[[GB:.*]], %[[IB:.*]] = moe.route <token_choice> <softmax> %[[LB]] {expert_mask = array<i1: true, true, true, true, true, true, false, true>, k = 2 : i64} : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
// CHECK-NEXT: %[[RA:.*]], %[[OA:.*]], %[[MA:.*]] = moe.dispatch %[[X]], %[[IA]] {num_experts = 8 : i64} : tensor<?x512xf32>, tensor<?x2xi64> -> tensor<?x512xf32>, tensor<9xi64>, tensor<?x2xi64>
// CHECK-NEXT: %[[RB:.*]], %[[OB:.*]], %[[MB:.*]] = moe.dispatch %[[X]], %[[IB]] {num_experts = 8 : i64} : tensor<?x512xf32>, tensor<?x2xi64> -> tensor<?x512xf32>, tensor<9xi64>, tensor<?x2xi64>
// CHECK-NEXT: %[[YA:.*]] = moe.experts %[[RA]], %[[OA]] weights(%[[W1]], %[[W2]]) biases(%[[B1]], %[[B2]]) {activation = #moe.activation<relu>} : (tensor<?x512xf32>, tensor<9xi64>, tensor<8x512x1024xf32>, tensor<8x1024x512xf32>, tensor<8x1024xf32>, tensor<8x512xf32>) -> tensor<?x512xf32>
// CHECK-NEXT: %[[YB:.*]] = moe.experts %[[RB]], %[[OB]] weights(%[[W1]], %[[W2]]) biases(%[[B1]], %[[B2]]) {activation = #moe.activation<relu>} : (tensor<?x512xf32>, tensor<9xi64>, tensor<8x512x1024xf32>, tensor<8x1024x512xf32>, tensor<8x1024xf32>, tensor<8x512xf32>) -> tensor<?x512xf32>
// CHECK-NEXT: %[[OUTA:.*]] = moe.combine %[[YA]], %[[MA]], %[[GA]] : (tensor<?x512xf32>, tensor<?x2xi64>, tensor<?x2xf32>) -> tensor<?x512xf32>
// CHECK-NEXT: %[[OUTB:.*]] = moe.combine %[[YB]], %[[MB]], %[[GB]] : (tensor<?x512xf32>, tensor<?x2xi64>, tensor<?x2xf32>) -> tensor<?x512xf32>
// CHECK-NEXT: return %[[OUTA]], %[[OUTB]]
func.func @multi_gate(%x: tensor<?x512xf32>, %wa: tensor<8x512xf32>, %wb: tensor<8x512xf32>,
                      %w1: tensor<8x512x1024xf32>, %b1: tensor<8x1024xf32>,
                      %w2: tensor<8x1024x512xf32>, %b2: tensor<8x512xf32>)
    -> (tensor<?x512xf32>, tensor<?x512xf32>) {
  %la = moe.gate %x, %wa : (tensor<?x512xf32>, tensor<8x512xf32>) -> tensor<?x8xf32>
  %lb = moe.gate %x, %wb : (tensor<?x512xf32>, tensor<8x512xf32>) -> tensor<?x8xf32>
  %ga, %ia = moe.route <token_choice> <softmax> %la
      {k = 2, expert_mask = array<i1: true, true, true, true, true, true, true, false>}
      : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  %gb, %ib = moe.route <token_choice> <softmax> %lb
      {k = 2, expert_mask = array<i1: true, true, true, true, true, true, false, true>}
      : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  %ra, %oa, %ma = moe.dispatch %x, %ia {num_experts = 8}
      : tensor<?x512xf32>, tensor<?x2xi64> -> tensor<?x512xf32>, tensor<9xi64>, tensor<?x2xi64>
  %rb, %ob, %mb = moe.dispatch %x, %ib {num_experts = 8}
      : tensor<?x512xf32>, tensor<?x2xi64> -> tensor<?x512xf32>, tensor<9xi64>, tensor<?x2xi64>
  %ya = moe.experts %ra, %oa weights(%w1, %w2) biases(%b1, %b2) {activation = #moe.activation<relu>}
      : (tensor<?x512xf32>, tensor<9xi64>, tensor<8x512x1024xf32>, tensor<8x1024x512xf32>,
         tensor<8x1024xf32>, tensor<8x512xf32>) -> tensor<?x512xf32>
  %yb = moe.experts %rb, %ob weights(%w1, %w2) biases(%b1, %b2) {activation = #moe.activation<relu>}
      : (tensor<?x512xf32>, tensor<9xi64>, tensor<8x512x1024xf32>, tensor<8x1024x512xf32>,
         tensor<8x1024xf32>, tensor<8x512xf32>) -> tensor<?x512xf32>
  %outa = moe.combine %ya, %ma, %ga
      : (tensor<?x512xf32>, tensor<?x2xi64>, tensor<?x2xf32>) -> tensor<?x512xf32>
  %outb = moe.combine %yb, %mb, %gb
      : (tensor<?x512xf32>, tensor<?x2xi64>, tensor<?x2xf32>) -> tensor<?x512xf32>
  return %outa, %outb : tensor<?x512xf32>, tensor<?x512xf32>
}

// Mixtral's experts lowered by hand: two stacked grouped matmuls (gate, up),
// the separate-layout SwiGLU, and the down grouped matmul.
// CHECK-LABEL: func.func @mixtral_grouped_matmul(
// CHECK-SAME: %[[ROWS:[^:]+]]: tensor<?x4096xf32>, %[[OFF:[^:]+]]: tensor<9xi64>, %[[WG:[^:]+]]: tensor<8x4096x14336xf32>, %[[WU:[^:]+]]: tensor<8x4096x14336xf32>, %[[WD:[^:]+]]: tensor<8x14336x4096xf32>)
// CHECK-NEXT: %[[G:.*]] = moe.grouped_matmul %[[ROWS]], %[[WG]] offsets(%[[OFF]]) : (tensor<?x4096xf32>, tensor<8x4096x14336xf32>, tensor<9xi64>) -> tensor<?x14336xf32>
// CHECK-NEXT: %[[U:.*]] = moe.grouped_matmul %[[ROWS]], %[[WU]] offsets(%[[OFF]]) : (tensor<?x4096xf32>, tensor<8x4096x14336xf32>, tensor<9xi64>) -> tensor<?x14336xf32>
// CHECK-NEXT: %[[A:.*]] = moe.activation %[[G]], %[[U]] {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<separate>} : (tensor<?x14336xf32>, tensor<?x14336xf32>) -> tensor<?x14336xf32>
// CHECK-NEXT: %[[Y:.*]] = moe.grouped_matmul %[[A]], %[[WD]] offsets(%[[OFF]]) : (tensor<?x14336xf32>, tensor<8x14336x4096xf32>, tensor<9xi64>) -> tensor<?x4096xf32>
// CHECK-NEXT: return %[[Y]]
func.func @mixtral_grouped_matmul(%rows: tensor<?x4096xf32>, %offsets: tensor<9xi64>,
                                  %wg: tensor<8x4096x14336xf32>, %wu: tensor<8x4096x14336xf32>,
                                  %wd: tensor<8x14336x4096xf32>) -> tensor<?x4096xf32> {
  %g = moe.grouped_matmul %rows, %wg offsets(%offsets)
      : (tensor<?x4096xf32>, tensor<8x4096x14336xf32>, tensor<9xi64>) -> tensor<?x14336xf32>
  %u = moe.grouped_matmul %rows, %wu offsets(%offsets)
      : (tensor<?x4096xf32>, tensor<8x4096x14336xf32>, tensor<9xi64>) -> tensor<?x14336xf32>
  %a = moe.activation %g, %u {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<separate>}
      : (tensor<?x14336xf32>, tensor<?x14336xf32>) -> tensor<?x14336xf32>
  %y = moe.grouped_matmul %a, %wd offsets(%offsets)
      : (tensor<?x14336xf32>, tensor<8x14336x4096xf32>, tensor<9xi64>) -> tensor<?x4096xf32>
  return %y : tensor<?x4096xf32>
}

// moe.gate: plain, with a bias, with an [H, E] weight, and with both.
// CHECK-LABEL: func.func @gate_forms(
// CHECK-SAME: %[[X16:[^:]+]]: tensor<16x256xf16>, %[[W16:[^:]+]]: tensor<8x256xf16>, %[[B16:[^:]+]]: tensor<8xf16>, %[[X:[^:]+]]: tensor<?x256xf32>, %[[WT:[^:]+]]: tensor<256x8xf32>, %[[XB:[^:]+]]: tensor<?x256xbf16>, %[[WTB:[^:]+]]: tensor<256x8xbf16>, %[[BB:[^:]+]]: tensor<8xbf16>)
// CHECK-NEXT: moe.gate %[[X16]], %[[W16]] : (tensor<16x256xf16>, tensor<8x256xf16>) -> tensor<16x8xf16>
// CHECK-NEXT: moe.gate %[[X16]], %[[W16]], %[[B16]] : (tensor<16x256xf16>, tensor<8x256xf16>, tensor<8xf16>) -> tensor<16x8xf16>
// CHECK-NEXT: moe.gate %[[X]], %[[WT]] {weight_transposed} : (tensor<?x256xf32>, tensor<256x8xf32>) -> tensor<?x8xf32>
// CHECK-NEXT: moe.gate %[[XB]], %[[WTB]], %[[BB]] {weight_transposed} : (tensor<?x256xbf16>, tensor<256x8xbf16>, tensor<8xbf16>) -> tensor<?x8xbf16>
func.func @gate_forms(%x16: tensor<16x256xf16>, %w16: tensor<8x256xf16>, %b16: tensor<8xf16>,
                      %x: tensor<?x256xf32>, %wt: tensor<256x8xf32>,
                      %xb: tensor<?x256xbf16>, %wtb: tensor<256x8xbf16>, %bb: tensor<8xbf16>) {
  %0 = moe.gate %x16, %w16 : (tensor<16x256xf16>, tensor<8x256xf16>) -> tensor<16x8xf16>
  %1 = moe.gate %x16, %w16, %b16 : (tensor<16x256xf16>, tensor<8x256xf16>, tensor<8xf16>) -> tensor<16x8xf16>
  %2 = moe.gate %x, %wt {weight_transposed} : (tensor<?x256xf32>, tensor<256x8xf32>) -> tensor<?x8xf32>
  %3 = moe.gate %xb, %wtb, %bb {weight_transposed}
      : (tensor<?x256xbf16>, tensor<256x8xbf16>, tensor<8xbf16>) -> tensor<?x8xbf16>
  return
}

// moe.route: every mode with every score function it admits, and every
// optional attribute.
// CHECK-LABEL: func.func @route_forms(
// CHECK-SAME: %[[L:[^:]+]]: tensor<?x16xf32>, %[[B:[^:]+]]: tensor<16xf32>, %[[LS:[^:]+]]: tensor<10x16xf16>)
// token_choice x {softmax, sigmoid, softmax_after_topk}
// CHECK-NEXT: moe.route <token_choice> <softmax> %[[L]] {k = 2 : i64} : tensor<?x16xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
// CHECK-NEXT: moe.route <token_choice> <sigmoid> %[[L]] {k = 1 : i64, scaling_factor = 1.500000e+00 : f64} : tensor<?x16xf32> -> tensor<?x1xf32>, tensor<?x1xi32>
// CHECK-NEXT: moe.route <token_choice> <softmax_after_topk> %[[L]] {k = 4 : i64} : tensor<?x16xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
// top_p x {softmax, sigmoid, softmax_after_topk}
// CHECK-NEXT: moe.route <top_p> <softmax> %[[L]] {k = 4 : i64, top_p = 4.000000e-01 : f64} : tensor<?x16xf32> -> tensor<?x4xf32>, tensor<?x4xi64>
// CHECK-NEXT: moe.route <top_p> <sigmoid> %[[L]] {k = 2 : i64, top_p = 9.000000e-01 : f64} : tensor<?x16xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
// CHECK-NEXT: moe.route <top_p> <softmax_after_topk> %[[L]] {k = 3 : i64, top_p = 1.000000e+00 : f64} : tensor<?x16xf32> -> tensor<?x3xf32>, tensor<?x3xi64>
// expert_choice x {softmax, sigmoid}, dynamic and static token counts
// CHECK-NEXT: moe.route <expert_choice> <softmax> %[[L]] {capacity_factor = 2.000000e+00 : f64} : tensor<?x16xf32> -> tensor<?x16xf32>, tensor<16x?xi64>
// CHECK-NEXT: moe.route <expert_choice> <sigmoid> %[[LS]] {capacity_factor = 1.000000e+00 : f64} : tensor<10x16xf16> -> tensor<10x16xf16>, tensor<16x1xi32>
// CHECK-NEXT: moe.route <expert_choice> <softmax> %[[LS]] {capacity_factor = 3.200000e+01 : f64} : tensor<10x16xf16> -> tensor<10x16xf16>, tensor<16x10xi32>
// CHECK-NEXT: moe.route <expert_choice> <softmax> %[[LS]] {capacity_factor = 1.000000e+300 : f64} : tensor<10x16xf16> -> tensor<10x16xf16>, tensor<16x10xi64>
// renormalize with and without epsilon, selection bias alone
// CHECK-NEXT: moe.route <token_choice> <softmax> %[[L]] {k = 2 : i64, renormalize} : tensor<?x16xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
// CHECK-NEXT: moe.route <token_choice> <softmax> %[[L]] {epsilon = 9.9999999999999995E-7 : f64, k = 2 : i64, renormalize} : tensor<?x16xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
// CHECK-NEXT: moe.route <token_choice> <softmax> %[[L]] {epsilon = 9.9999999999999998E-13 : f64, k = 2 : i64, renormalize, renormalize_clamp} : tensor<?x16xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
// CHECK-NEXT: moe.route <token_choice> <sparsemixer> %[[L]] {jitter_eps = 1.000000e-02 : f64, k = 2 : i64, scaling_factor = 2.000000e+00 : f64} : tensor<?x16xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
// CHECK-NEXT: moe.route <token_choice> <sigmoid> %[[L]] bias(%[[B]] : tensor<16xf32>) {k = 2 : i64} : tensor<?x16xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
// group-limited selection with an explicit group_topk
// CHECK-NEXT: moe.route <token_choice> <sigmoid> %[[L]] bias(%[[B]] : tensor<16xf32>) {group_topk = 1 : i64, k = 4 : i64, num_groups = 4 : i64, renormalize, topk_groups = 2 : i64} : tensor<?x16xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
// CHECK-NEXT: moe.route <token_choice> <softmax> %[[LS]] {group_topk = 4 : i64, k = 16 : i64, num_groups = 4 : i64, topk_groups = 4 : i64} : tensor<10x16xf16> -> tensor<10x16xf16>, tensor<10x16xi64>
// expert_mask in every mode (expert_choice: the trivial one only)
// CHECK-NEXT: moe.route <token_choice> <softmax> %[[L]] {expert_mask = array<i1: true, true, true, false, true, true, true, true, true, true, true, true, true, false, true, false>, k = 13 : i64} : tensor<?x16xf32> -> tensor<?x13xf32>, tensor<?x13xi64>
// CHECK-NEXT: moe.route <top_p> <softmax> %[[L]] {expert_mask = array<i1: true, true, true, true, true, true, true, true, true, true, true, true, false, false, false, false>, k = 4 : i64, scaling_factor = 2.000000e+00 : f64, top_p = 5.000000e-01 : f64} : tensor<?x16xf32> -> tensor<?x4xf32>, tensor<?x4xi64>
// CHECK-NEXT: moe.route <expert_choice> <sigmoid> %[[L]] {capacity_factor = 1.250000e+00 : f64, expert_mask = array<i1: true, true, true, true, true, true, true, true, true, true, true, true, true, true, true, true>, scaling_factor = 1.000000e+00 : f64} : tensor<?x16xf32> -> tensor<?x16xf32>, tensor<16x?xi32>
func.func @route_forms(%l: tensor<?x16xf32>, %b: tensor<16xf32>, %ls: tensor<10x16xf16>) {
  // token_choice x {softmax, sigmoid, softmax_after_topk}
  %w0, %i0 = moe.route <token_choice> <softmax> %l {k = 2}
      : tensor<?x16xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  %w1, %i1 = moe.route <token_choice> <sigmoid> %l {k = 1, scaling_factor = 1.5}
      : tensor<?x16xf32> -> tensor<?x1xf32>, tensor<?x1xi32>
  %w2, %i2 = moe.route <token_choice> <softmax_after_topk> %l {k = 4}
      : tensor<?x16xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  // top_p x {softmax, sigmoid, softmax_after_topk}
  %w3, %i3 = moe.route <top_p> <softmax> %l {k = 4, top_p = 0.4}
      : tensor<?x16xf32> -> tensor<?x4xf32>, tensor<?x4xi64>
  %w4, %i4 = moe.route <top_p> <sigmoid> %l {k = 2, top_p = 0.9}
      : tensor<?x16xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  %w5, %i5 = moe.route <top_p> <softmax_after_topk> %l {k = 3, top_p = 1.0}
      : tensor<?x16xf32> -> tensor<?x3xf32>, tensor<?x3xi64>
  // expert_choice x {softmax, sigmoid}: C = ceil(T * c / E), at most T
  %w6, %i6 = moe.route <expert_choice> <softmax> %l {capacity_factor = 2.0}
      : tensor<?x16xf32> -> tensor<?x16xf32>, tensor<16x?xi64>
  %w7, %i7 = moe.route <expert_choice> <sigmoid> %ls {capacity_factor = 1.0}
      : tensor<10x16xf16> -> tensor<10x16xf16>, tensor<16x1xi32>
  %w8, %i8 = moe.route <expert_choice> <softmax> %ls {capacity_factor = 32.0}
      : tensor<10x16xf16> -> tensor<10x16xf16>, tensor<16x10xi32>
  // C = T even when T * c / E is past the int64 range
  %w8b, %i8b = moe.route <expert_choice> <softmax> %ls {capacity_factor = 1.0e300}
      : tensor<10x16xf16> -> tensor<10x16xf16>, tensor<16x10xi64>
  // renormalize with and without epsilon, selection bias alone
  %w9, %i9 = moe.route <token_choice> <softmax> %l {k = 2, renormalize}
      : tensor<?x16xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  %w10, %i10 = moe.route <token_choice> <softmax> %l {k = 2, renormalize, epsilon = 1.0e-6}
      : tensor<?x16xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  // Ernie 4.5: divided by max(sum, epsilon)
  %w10c, %i10c = moe.route <token_choice> <softmax> %l
      {k = 2, renormalize, epsilon = 1.0e-12, renormalize_clamp}
      : tensor<?x16xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  // PhiMoE: sparsemixer with its jitter
  %w10s, %i10s = moe.route <token_choice> <sparsemixer> %l
      {k = 2, jitter_eps = 0.01, scaling_factor = 2.0}
      : tensor<?x16xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  %w11, %i11 = moe.route <token_choice> <sigmoid> %l bias(%b : tensor<16xf32>) {k = 2}
      : tensor<?x16xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  // group-limited selection with an explicit group_topk
  %w12, %i12 = moe.route <token_choice> <sigmoid> %l bias(%b : tensor<16xf32>)
      {k = 4, renormalize, num_groups = 4, topk_groups = 2, group_topk = 1}
      : tensor<?x16xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  %w13, %i13 = moe.route <token_choice> <softmax> %ls
      {k = 16, num_groups = 4, topk_groups = 4, group_topk = 4}
      : tensor<10x16xf16> -> tensor<10x16xf16>, tensor<10x16xi64>
  // expert_mask in every mode (expert_choice: the trivial one only)
  %w14, %i14 = moe.route <token_choice> <softmax> %l
      {k = 13, expert_mask = array<i1: true, true, true, false, true, true, true, true,
                                      true, true, true, true, true, false, true, false>}
      : tensor<?x16xf32> -> tensor<?x13xf32>, tensor<?x13xi64>
  %w15, %i15 = moe.route <top_p> <softmax> %l
      {k = 4, top_p = 0.5, scaling_factor = 2.0,
       expert_mask = array<i1: true, true, true, true, true, true, true, true,
                               true, true, true, true, false, false, false, false>}
      : tensor<?x16xf32> -> tensor<?x4xf32>, tensor<?x4xi64>
  // expert_choice takes only the trivial mask and scale (invalid.mlir)
  %w16, %i16 = moe.route <expert_choice> <sigmoid> %l
      {capacity_factor = 1.25, scaling_factor = 1.0,
       expert_mask = array<i1: true, true, true, true, true, true, true, true,
                               true, true, true, true, true, true, true, true>}
      : tensor<?x16xf32> -> tensor<?x16xf32>, tensor<16x?xi32>
  return
}

// moe.dispatch: token choice, capacity with both drop policies, expert
// choice with a static and a dynamic capacity.
// CHECK-LABEL: func.func @dispatch_forms(
// CHECK-SAME: %[[X:[^:]+]]: tensor<?x256xf32>, %[[IDS:[^:]+]]: tensor<?x2xi32>, %[[W:[^:]+]]: tensor<?x2xf32>, %[[XS:[^:]+]]: tensor<12x256xf16>, %[[IDSS:[^:]+]]: tensor<12x3xi64>, %[[WS:[^:]+]]: tensor<12x3xf16>, %[[ECS:[^:]+]]: tensor<4x6xi32>, %[[ECD:[^:]+]]: tensor<4x?xi64>)
// CHECK-NEXT: moe.dispatch %[[X]], %[[IDS]] {num_experts = 8 : i64} : tensor<?x256xf32>, tensor<?x2xi32> -> tensor<?x256xf32>, tensor<9xi32>, tensor<?x2xi32>
// CHECK-NEXT: moe.dispatch %[[XS]], %[[IDSS]] {num_experts = 4 : i64} : tensor<12x256xf16>, tensor<12x3xi64> -> tensor<36x256xf16>, tensor<5xi64>, tensor<12x3xi64>
// CHECK-NEXT: moe.dispatch %[[X]], %[[IDS]] {capacity = 32 : i64, drop_policy = #moe.drop_policy<in_order>, num_experts = 8 : i64} : tensor<?x256xf32>, tensor<?x2xi32> -> tensor<?x256xf32>, tensor<9xi64>, tensor<?x2xi64>
// CHECK-NEXT: moe.dispatch %[[X]], %[[IDS]] weights(%[[W]] : tensor<?x2xf32>) {capacity = 32 : i64, drop_policy = #moe.drop_policy<by_weight>, num_experts = 8 : i64} : tensor<?x256xf32>, tensor<?x2xi32> -> tensor<?x256xf32>, tensor<9xi32>, tensor<?x2xi32>
// CHECK-NEXT: moe.dispatch %[[XS]], %[[IDSS]] weights(%[[WS]] : tensor<12x3xf16>) {capacity = 9 : i64, drop_policy = #moe.drop_policy<by_weight>, num_experts = 4 : i64} : tensor<12x256xf16>, tensor<12x3xi64> -> tensor<36x256xf16>, tensor<5xi64>, tensor<12x3xi64>
// CHECK-NEXT: moe.dispatch %[[XS]], %[[ECS]] {expert_choice, num_experts = 4 : i64} : tensor<12x256xf16>, tensor<4x6xi32> -> tensor<24x256xf16>, tensor<5xi32>, tensor<12x4xi32>
// CHECK-NEXT: moe.dispatch %[[X]], %[[ECD]] {expert_choice, num_experts = 4 : i64} : tensor<?x256xf32>, tensor<4x?xi64> -> tensor<?x256xf32>, tensor<5xi64>, tensor<?x4xi64>
func.func @dispatch_forms(%x: tensor<?x256xf32>, %ids: tensor<?x2xi32>, %w: tensor<?x2xf32>,
                          %xs: tensor<12x256xf16>, %idss: tensor<12x3xi64>, %ws: tensor<12x3xf16>,
                          %ecs: tensor<4x6xi32>, %ecd: tensor<4x?xi64>) {
  %r0:3 = moe.dispatch %x, %ids {num_experts = 8}
      : tensor<?x256xf32>, tensor<?x2xi32> -> tensor<?x256xf32>, tensor<9xi32>, tensor<?x2xi32>
  %r1:3 = moe.dispatch %xs, %idss {num_experts = 4}
      : tensor<12x256xf16>, tensor<12x3xi64> -> tensor<36x256xf16>, tensor<5xi64>, tensor<12x3xi64>
  %r2:3 = moe.dispatch %x, %ids {num_experts = 8, capacity = 32, drop_policy = #moe.drop_policy<in_order>}
      : tensor<?x256xf32>, tensor<?x2xi32> -> tensor<?x256xf32>, tensor<9xi64>, tensor<?x2xi64>
  %r3:3 = moe.dispatch %x, %ids weights(%w : tensor<?x2xf32>)
      {num_experts = 8, capacity = 32, drop_policy = #moe.drop_policy<by_weight>}
      : tensor<?x256xf32>, tensor<?x2xi32> -> tensor<?x256xf32>, tensor<9xi32>, tensor<?x2xi32>
  %r4:3 = moe.dispatch %xs, %idss weights(%ws : tensor<12x3xf16>)
      {num_experts = 4, capacity = 9, drop_policy = #moe.drop_policy<by_weight>}
      : tensor<12x256xf16>, tensor<12x3xi64> -> tensor<36x256xf16>, tensor<5xi64>, tensor<12x3xi64>
  %r5:3 = moe.dispatch %xs, %ecs {num_experts = 4, expert_choice}
      : tensor<12x256xf16>, tensor<4x6xi32> -> tensor<24x256xf16>, tensor<5xi32>, tensor<12x4xi32>
  %r6:3 = moe.dispatch %x, %ecd {num_experts = 4, expert_choice}
      : tensor<?x256xf32>, tensor<4x?xi64> -> tensor<?x256xf32>, tensor<5xi64>, tensor<?x4xi64>
  return
}

// moe.experts: every activation, ungated and with every gate layout, over
// stacked [E, in, out] weights (E = 4, H = 64, I = 128).
// CHECK-LABEL: func.func @experts_activations(
// CHECK-SAME: %[[ROWS:[^:]+]]: tensor<?x64xf32>, %[[OFF:[^:]+]]: tensor<5xi64>, %[[UP:[^:]+]]: tensor<4x64x128xf32>, %[[GATE:[^:]+]]: tensor<4x64x128xf32>, %[[FUSED:[^:]+]]: tensor<4x64x256xf32>, %[[DOWN:[^:]+]]: tensor<4x128x64xf32>)
// ungated
// CHECK-NEXT: moe.experts %[[ROWS]], %[[OFF]] weights(%[[UP]], %[[DOWN]]) {activation = #moe.activation<identity>} : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x128xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
// CHECK-NEXT: moe.experts %[[ROWS]], %[[OFF]] weights(%[[UP]], %[[DOWN]]) {activation = #moe.activation<relu>} : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x128xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
// CHECK-NEXT: moe.experts %[[ROWS]], %[[OFF]] weights(%[[UP]], %[[DOWN]]) {activation = #moe.activation<gelu>} : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x128xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
// CHECK-NEXT: moe.experts %[[ROWS]], %[[OFF]] weights(%[[UP]], %[[DOWN]]) {activation = #moe.activation<gelu_tanh>} : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x128xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
// CHECK-NEXT: moe.experts %[[ROWS]], %[[OFF]] weights(%[[UP]], %[[DOWN]]) {activation = #moe.activation<silu>} : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x128xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
// CHECK-NEXT: moe.experts %[[ROWS]], %[[OFF]] weights(%[[UP]], %[[DOWN]]) {activation = #moe.activation<apa>, kappa = 1.500000e+00 : f64, lambda = 5.000000e-01 : f64} : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x128xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
// CHECK-NEXT: moe.experts %[[ROWS]], %[[OFF]] weights(%[[UP]], %[[DOWN]]) {activation = #moe.activation<aglu>, kappa = 2.000000e+00 : f64, lambda = 2.500000e-01 : f64} : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x128xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
// gated, gate_layout separate
// CHECK-NEXT: moe.experts %[[ROWS]], %[[OFF]] weights(%[[GATE]], %[[UP]], %[[DOWN]]) {activation = #moe.activation<identity>, gate_layout = #moe.gate_layout<separate>} : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x128xf32>, tensor<4x64x128xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
// CHECK-NEXT: moe.experts %[[ROWS]], %[[OFF]] weights(%[[GATE]], %[[UP]], %[[DOWN]]) {activation = #moe.activation<relu>, gate_layout = #moe.gate_layout<separate>} : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x128xf32>, tensor<4x64x128xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
// CHECK-NEXT: moe.experts %[[ROWS]], %[[OFF]] weights(%[[GATE]], %[[UP]], %[[DOWN]]) {activation = #moe.activation<gelu>, gate_layout = #moe.gate_layout<separate>} : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x128xf32>, tensor<4x64x128xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
// CHECK-NEXT: moe.experts %[[ROWS]], %[[OFF]] weights(%[[GATE]], %[[UP]], %[[DOWN]]) {activation = #moe.activation<gelu_tanh>, gate_layout = #moe.gate_layout<separate>} : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x128xf32>, tensor<4x64x128xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
// CHECK-NEXT: moe.experts %[[ROWS]], %[[OFF]] weights(%[[GATE]], %[[UP]], %[[DOWN]]) {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<separate>} : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x128xf32>, tensor<4x64x128xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
// CHECK-NEXT: moe.experts %[[ROWS]], %[[OFF]] weights(%[[GATE]], %[[UP]], %[[DOWN]]) {activation = #moe.activation<apa>, gate_layout = #moe.gate_layout<separate>, kappa = 1.500000e+00 : f64, lambda = 5.000000e-01 : f64} : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x128xf32>, tensor<4x64x128xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
// CHECK-NEXT: moe.experts %[[ROWS]], %[[OFF]] weights(%[[GATE]], %[[UP]], %[[DOWN]]) {activation = #moe.activation<aglu>, gate_layout = #moe.gate_layout<separate>, kappa = 2.000000e+00 : f64, lambda = 2.500000e-01 : f64} : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x128xf32>, tensor<4x64x128xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
// gated, gate_layout interleaved
// CHECK-NEXT: moe.experts %[[ROWS]], %[[OFF]] weights(%[[FUSED]], %[[DOWN]]) {activation = #moe.activation<identity>, gate_layout = #moe.gate_layout<interleaved>} : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x256xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
// CHECK-NEXT: moe.experts %[[ROWS]], %[[OFF]] weights(%[[FUSED]], %[[DOWN]]) {activation = #moe.activation<relu>, gate_layout = #moe.gate_layout<interleaved>} : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x256xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
// CHECK-NEXT: moe.experts %[[ROWS]], %[[OFF]] weights(%[[FUSED]], %[[DOWN]]) {activation = #moe.activation<gelu>, gate_layout = #moe.gate_layout<interleaved>} : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x256xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
// CHECK-NEXT: moe.experts %[[ROWS]], %[[OFF]] weights(%[[FUSED]], %[[DOWN]]) {activation = #moe.activation<gelu_tanh>, gate_layout = #moe.gate_layout<interleaved>} : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x256xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
// CHECK-NEXT: moe.experts %[[ROWS]], %[[OFF]] weights(%[[FUSED]], %[[DOWN]]) {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<interleaved>} : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x256xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
// CHECK-NEXT: moe.experts %[[ROWS]], %[[OFF]] weights(%[[FUSED]], %[[DOWN]]) {activation = #moe.activation<apa>, gate_layout = #moe.gate_layout<interleaved>, kappa = 1.500000e+00 : f64, lambda = 5.000000e-01 : f64} : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x256xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
// CHECK-NEXT: moe.experts %[[ROWS]], %[[OFF]] weights(%[[FUSED]], %[[DOWN]]) {activation = #moe.activation<aglu>, gate_layout = #moe.gate_layout<interleaved>, kappa = 2.000000e+00 : f64, lambda = 2.500000e-01 : f64} : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x256xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
// gated, gate_layout concatenated
// CHECK-NEXT: moe.experts %[[ROWS]], %[[OFF]] weights(%[[FUSED]], %[[DOWN]]) {activation = #moe.activation<identity>, gate_layout = #moe.gate_layout<concatenated>} : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x256xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
// CHECK-NEXT: moe.experts %[[ROWS]], %[[OFF]] weights(%[[FUSED]], %[[DOWN]]) {activation = #moe.activation<relu>, gate_layout = #moe.gate_layout<concatenated>} : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x256xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
// CHECK-NEXT: moe.experts %[[ROWS]], %[[OFF]] weights(%[[FUSED]], %[[DOWN]]) {activation = #moe.activation<gelu>, gate_layout = #moe.gate_layout<concatenated>} : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x256xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
// CHECK-NEXT: moe.experts %[[ROWS]], %[[OFF]] weights(%[[FUSED]], %[[DOWN]]) {activation = #moe.activation<gelu_tanh>, gate_layout = #moe.gate_layout<concatenated>} : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x256xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
// CHECK-NEXT: moe.experts %[[ROWS]], %[[OFF]] weights(%[[FUSED]], %[[DOWN]]) {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<concatenated>} : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x256xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
// CHECK-NEXT: moe.experts %[[ROWS]], %[[OFF]] weights(%[[FUSED]], %[[DOWN]]) {activation = #moe.activation<apa>, gate_layout = #moe.gate_layout<concatenated>, kappa = 1.500000e+00 : f64, lambda = 5.000000e-01 : f64} : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x256xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
// CHECK-NEXT: moe.experts %[[ROWS]], %[[OFF]] weights(%[[FUSED]], %[[DOWN]]) {activation = #moe.activation<aglu>, gate_layout = #moe.gate_layout<concatenated>, kappa = 2.000000e+00 : f64, lambda = 2.500000e-01 : f64} : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x256xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
func.func @experts_activations(%rows: tensor<?x64xf32>, %offsets: tensor<5xi64>,
                               %up: tensor<4x64x128xf32>, %gate: tensor<4x64x128xf32>,
                               %fused: tensor<4x64x256xf32>, %down: tensor<4x128x64xf32>) {
  // ungated
  %identity = moe.experts %rows, %offsets weights(%up, %down) {activation = #moe.activation<identity>}
      : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x128xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
  %relu = moe.experts %rows, %offsets weights(%up, %down) {activation = #moe.activation<relu>}
      : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x128xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
  %gelu = moe.experts %rows, %offsets weights(%up, %down) {activation = #moe.activation<gelu>}
      : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x128xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
  %gelu_tanh = moe.experts %rows, %offsets weights(%up, %down) {activation = #moe.activation<gelu_tanh>}
      : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x128xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
  %silu = moe.experts %rows, %offsets weights(%up, %down) {activation = #moe.activation<silu>}
      : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x128xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
  %apa = moe.experts %rows, %offsets weights(%up, %down) {activation = #moe.activation<apa>, kappa = 1.5, lambda = 0.5}
      : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x128xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
  %aglu = moe.experts %rows, %offsets weights(%up, %down) {activation = #moe.activation<aglu>, kappa = 2.0, lambda = 0.25}
      : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x128xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
  // gated, gate_layout separate
  %identity_sep = moe.experts %rows, %offsets weights(%gate, %up, %down) {activation = #moe.activation<identity>, gate_layout = #moe.gate_layout<separate>}
      : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x128xf32>, tensor<4x64x128xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
  %relu_sep = moe.experts %rows, %offsets weights(%gate, %up, %down) {activation = #moe.activation<relu>, gate_layout = #moe.gate_layout<separate>}
      : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x128xf32>, tensor<4x64x128xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
  %gelu_sep = moe.experts %rows, %offsets weights(%gate, %up, %down) {activation = #moe.activation<gelu>, gate_layout = #moe.gate_layout<separate>}
      : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x128xf32>, tensor<4x64x128xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
  %gelu_tanh_sep = moe.experts %rows, %offsets weights(%gate, %up, %down) {activation = #moe.activation<gelu_tanh>, gate_layout = #moe.gate_layout<separate>}
      : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x128xf32>, tensor<4x64x128xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
  %silu_sep = moe.experts %rows, %offsets weights(%gate, %up, %down) {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<separate>}
      : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x128xf32>, tensor<4x64x128xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
  %apa_sep = moe.experts %rows, %offsets weights(%gate, %up, %down) {activation = #moe.activation<apa>, gate_layout = #moe.gate_layout<separate>, kappa = 1.5, lambda = 0.5}
      : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x128xf32>, tensor<4x64x128xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
  %aglu_sep = moe.experts %rows, %offsets weights(%gate, %up, %down) {activation = #moe.activation<aglu>, gate_layout = #moe.gate_layout<separate>, kappa = 2.0, lambda = 0.25}
      : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x128xf32>, tensor<4x64x128xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
  // gated, gate_layout interleaved
  %identity_int = moe.experts %rows, %offsets weights(%fused, %down) {activation = #moe.activation<identity>, gate_layout = #moe.gate_layout<interleaved>}
      : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x256xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
  %relu_int = moe.experts %rows, %offsets weights(%fused, %down) {activation = #moe.activation<relu>, gate_layout = #moe.gate_layout<interleaved>}
      : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x256xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
  %gelu_int = moe.experts %rows, %offsets weights(%fused, %down) {activation = #moe.activation<gelu>, gate_layout = #moe.gate_layout<interleaved>}
      : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x256xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
  %gelu_tanh_int = moe.experts %rows, %offsets weights(%fused, %down) {activation = #moe.activation<gelu_tanh>, gate_layout = #moe.gate_layout<interleaved>}
      : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x256xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
  %silu_int = moe.experts %rows, %offsets weights(%fused, %down) {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<interleaved>}
      : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x256xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
  %apa_int = moe.experts %rows, %offsets weights(%fused, %down) {activation = #moe.activation<apa>, gate_layout = #moe.gate_layout<interleaved>, kappa = 1.5, lambda = 0.5}
      : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x256xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
  %aglu_int = moe.experts %rows, %offsets weights(%fused, %down) {activation = #moe.activation<aglu>, gate_layout = #moe.gate_layout<interleaved>, kappa = 2.0, lambda = 0.25}
      : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x256xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
  // gated, gate_layout concatenated
  %identity_con = moe.experts %rows, %offsets weights(%fused, %down) {activation = #moe.activation<identity>, gate_layout = #moe.gate_layout<concatenated>}
      : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x256xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
  %relu_con = moe.experts %rows, %offsets weights(%fused, %down) {activation = #moe.activation<relu>, gate_layout = #moe.gate_layout<concatenated>}
      : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x256xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
  %gelu_con = moe.experts %rows, %offsets weights(%fused, %down) {activation = #moe.activation<gelu>, gate_layout = #moe.gate_layout<concatenated>}
      : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x256xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
  %gelu_tanh_con = moe.experts %rows, %offsets weights(%fused, %down) {activation = #moe.activation<gelu_tanh>, gate_layout = #moe.gate_layout<concatenated>}
      : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x256xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
  %silu_con = moe.experts %rows, %offsets weights(%fused, %down) {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<concatenated>}
      : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x256xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
  %apa_con = moe.experts %rows, %offsets weights(%fused, %down) {activation = #moe.activation<apa>, gate_layout = #moe.gate_layout<concatenated>, kappa = 1.5, lambda = 0.5}
      : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x256xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
  %aglu_con = moe.experts %rows, %offsets weights(%fused, %down) {activation = #moe.activation<aglu>, gate_layout = #moe.gate_layout<concatenated>, kappa = 2.0, lambda = 0.25}
      : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x256xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
  return
}

// moe.experts: silu's alpha, the clamped SwiGLU in every gate layout,
// transposed weights, biases, and per-expert weights of different widths.
// CHECK-LABEL: func.func @experts_forms(
// CHECK-SAME: %[[ROWS:[^:]+]]: tensor<?x64xf32>, %[[OFF:[^:]+]]: tensor<5xi64>, %[[UP:[^:]+]]: tensor<4x64x128xf32>, %[[FUSED:[^:]+]]: tensor<4x64x256xf32>, %[[DOWN:[^:]+]]: tensor<4x128x64xf32>,
// CHECK-SAME: %[[UPT:[^:]+]]: tensor<4x128x64xf32>, %[[DOWNT:[^:]+]]: tensor<4x64x128xf32>, %[[BUP:[^:]+]]: tensor<4x128xf32>, %[[BDOWN:[^:]+]]: tensor<4x64xf32>,
// CHECK-SAME: %[[RS:[^:]+]]: tensor<24x64xbf16>, %[[OFF2:[^:]+]]: tensor<3xi32>,
// CHECK-SAME: %[[G0:[^:]+]]: tensor<64x96xbf16>, %[[U0:[^:]+]]: tensor<64x96xbf16>, %[[D0:[^:]+]]: tensor<96x64xbf16>, %[[G1:[^:]+]]: tensor<64x160xbf16>, %[[U1:[^:]+]]: tensor<64x160xbf16>, %[[D1:[^:]+]]: tensor<160x64xbf16>,
// CHECK-SAME: %[[BG0:[^:]+]]: tensor<96xbf16>, %[[BD0:[^:]+]]: tensor<64xbf16>, %[[BG1:[^:]+]]: tensor<160xbf16>,
// CHECK-SAME: %[[T0:[^:]+]]: tensor<96x64xbf16>, %[[TD0:[^:]+]]: tensor<64x96xbf16>, %[[T1:[^:]+]]: tensor<160x64xbf16>, %[[TD1:[^:]+]]: tensor<64x160xbf16>)
// CHECK-NEXT: moe.experts %[[ROWS]], %[[OFF]] weights(%[[UP]], %[[DOWN]]) {activation = #moe.activation<silu>, alpha = 1.702000e+00 : f64} : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x128xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
// CHECK-NEXT: moe.experts %[[ROWS]], %[[OFF]] weights(%[[UP]], %[[UP]], %[[DOWN]]) {activation = #moe.activation<silu>, alpha = 1.702000e+00 : f64, beta = 1.000000e+00 : f64, gate_layout = #moe.gate_layout<separate>, limit = 7.000000e+00 : f64} : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x128xf32>, tensor<4x64x128xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
// CHECK-NEXT: moe.experts %[[ROWS]], %[[OFF]] weights(%[[FUSED]], %[[DOWN]]) {activation = #moe.activation<silu>, alpha = 1.702000e+00 : f64, beta = 1.000000e+00 : f64, gate_layout = #moe.gate_layout<interleaved>, limit = 7.000000e+00 : f64} : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x256xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
// CHECK-NEXT: moe.experts %[[ROWS]], %[[OFF]] weights(%[[FUSED]], %[[DOWN]]) {activation = #moe.activation<silu>, alpha = 1.702000e+00 : f64, beta = 1.000000e+00 : f64, gate_layout = #moe.gate_layout<concatenated>, limit = 7.000000e+00 : f64} : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x256xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
// CHECK-NEXT: moe.experts %[[ROWS]], %[[OFF]] weights(%[[FUSED]], %[[DOWN]]) {activation = #moe.activation<gelu>, beta = -5.000000e-01 : f64, gate_layout = #moe.gate_layout<concatenated>} : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x256xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
// CHECK-NEXT: moe.experts %[[ROWS]], %[[OFF]] weights(%[[UPT]], %[[DOWNT]]) {activation = #moe.activation<relu>, transposed_weights} : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x128x64xf32>, tensor<4x64x128xf32>) -> tensor<?x64xf32>
// CHECK-NEXT: moe.experts %[[ROWS]], %[[OFF]] weights(%[[UP]], %[[DOWN]]) biases(%[[BUP]], %[[BDOWN]]) {activation = #moe.activation<gelu>} : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x128xf32>, tensor<4x128x64xf32>, tensor<4x128xf32>, tensor<4x64xf32>) -> tensor<?x64xf32>
// CHECK-NEXT: moe.experts %[[ROWS]], %[[OFF]] weights(%[[UPT]], %[[DOWNT]]) biases(%[[BUP]], %[[BDOWN]]) {activation = #moe.activation<gelu_tanh>, transposed_weights} : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x128x64xf32>, tensor<4x64x128xf32>, tensor<4x128xf32>, tensor<4x64xf32>) -> tensor<?x64xf32>
// CHECK-NEXT: moe.experts %[[RS]], %[[OFF2]] weights(%[[G0]], %[[U0]], %[[D0]], %[[G1]], %[[U1]], %[[D1]]) {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<separate>} : (tensor<24x64xbf16>, tensor<3xi32>, tensor<64x96xbf16>, tensor<64x96xbf16>, tensor<96x64xbf16>, tensor<64x160xbf16>, tensor<64x160xbf16>, tensor<160x64xbf16>) -> tensor<24x64xbf16>
// CHECK-NEXT: moe.experts %[[RS]], %[[OFF2]] weights(%[[G0]], %[[U0]], %[[D0]], %[[G1]], %[[U1]], %[[D1]]) biases(%[[BG0]], %[[BG0]], %[[BD0]], %[[BG1]], %[[BG1]], %[[BD0]]) {activation = #moe.activation<gelu>, gate_layout = #moe.gate_layout<separate>} : (tensor<24x64xbf16>, tensor<3xi32>, tensor<64x96xbf16>, tensor<64x96xbf16>, tensor<96x64xbf16>, tensor<64x160xbf16>, tensor<64x160xbf16>, tensor<160x64xbf16>, tensor<96xbf16>, tensor<96xbf16>, tensor<64xbf16>, tensor<160xbf16>, tensor<160xbf16>, tensor<64xbf16>) -> tensor<24x64xbf16>
// CHECK-NEXT: moe.experts %[[RS]], %[[OFF2]] weights(%[[T0]], %[[TD0]], %[[T1]], %[[TD1]]) biases(%[[BG0]], %[[BD0]], %[[BG1]], %[[BD0]]) {activation = #moe.activation<aglu>, kappa = 1.500000e+00 : f64, transposed_weights} : (tensor<24x64xbf16>, tensor<3xi32>, tensor<96x64xbf16>, tensor<64x96xbf16>, tensor<160x64xbf16>, tensor<64x160xbf16>, tensor<96xbf16>, tensor<64xbf16>, tensor<160xbf16>, tensor<64xbf16>) -> tensor<24x64xbf16>
func.func @experts_forms(%rows: tensor<?x64xf32>, %offsets: tensor<5xi64>, %up: tensor<4x64x128xf32>,
                         %fused: tensor<4x64x256xf32>, %down: tensor<4x128x64xf32>,
                         %upt: tensor<4x128x64xf32>, %downt: tensor<4x64x128xf32>,
                         %bup: tensor<4x128xf32>, %bdown: tensor<4x64xf32>,
                         %rs: tensor<24x64xbf16>, %off2: tensor<3xi32>,
                         %g0: tensor<64x96xbf16>, %u0: tensor<64x96xbf16>, %d0: tensor<96x64xbf16>,
                         %g1: tensor<64x160xbf16>, %u1: tensor<64x160xbf16>, %d1: tensor<160x64xbf16>,
                         %bg0: tensor<96xbf16>, %bd0: tensor<64xbf16>, %bg1: tensor<160xbf16>,
                         %t0: tensor<96x64xbf16>, %td0: tensor<64x96xbf16>,
                         %t1: tensor<160x64xbf16>, %td1: tensor<64x160xbf16>) {
  // silu with alpha (x * sigmoid(1.702 x)), ungated
  %0 = moe.experts %rows, %offsets weights(%up, %down) {activation = #moe.activation<silu>, alpha = 1.702}
      : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x128xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
  // clamped SwiGLU (gpt-oss) in every gate layout
  %1 = moe.experts %rows, %offsets weights(%up, %up, %down)
      {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<separate>,
       alpha = 1.702, beta = 1.0, limit = 7.0}
      : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x128xf32>, tensor<4x64x128xf32>,
         tensor<4x128x64xf32>) -> tensor<?x64xf32>
  %2 = moe.experts %rows, %offsets weights(%fused, %down)
      {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<interleaved>,
       alpha = 1.702, beta = 1.0, limit = 7.0}
      : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x256xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
  %3 = moe.experts %rows, %offsets weights(%fused, %down)
      {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<concatenated>,
       alpha = 1.702, beta = 1.0, limit = 7.0}
      : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x256xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
  // beta without limit
  %4 = moe.experts %rows, %offsets weights(%fused, %down)
      {activation = #moe.activation<gelu>, gate_layout = #moe.gate_layout<concatenated>, beta = -0.5}
      : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x256xf32>, tensor<4x128x64xf32>) -> tensor<?x64xf32>
  // stacked [E, out, in] weights, without and with [E, out] biases
  %5 = moe.experts %rows, %offsets weights(%upt, %downt)
      {activation = #moe.activation<relu>, transposed_weights}
      : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x128x64xf32>, tensor<4x64x128xf32>) -> tensor<?x64xf32>
  %6 = moe.experts %rows, %offsets weights(%up, %down) biases(%bup, %bdown)
      {activation = #moe.activation<gelu>}
      : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x64x128xf32>, tensor<4x128x64xf32>,
         tensor<4x128xf32>, tensor<4x64xf32>) -> tensor<?x64xf32>
  %7 = moe.experts %rows, %offsets weights(%upt, %downt) biases(%bup, %bdown)
      {activation = #moe.activation<gelu_tanh>, transposed_weights}
      : (tensor<?x64xf32>, tensor<5xi64>, tensor<4x128x64xf32>, tensor<4x64x128xf32>,
         tensor<4x128xf32>, tensor<4x64xf32>) -> tensor<?x64xf32>
  // two experts of widths 96 and 160, per-expert [in, out] weights (gate,
  // up, down each), without and with per-expert [out] biases
  %8 = moe.experts %rs, %off2 weights(%g0, %u0, %d0, %g1, %u1, %d1)
      {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<separate>}
      : (tensor<24x64xbf16>, tensor<3xi32>, tensor<64x96xbf16>, tensor<64x96xbf16>, tensor<96x64xbf16>,
         tensor<64x160xbf16>, tensor<64x160xbf16>, tensor<160x64xbf16>) -> tensor<24x64xbf16>
  %9 = moe.experts %rs, %off2 weights(%g0, %u0, %d0, %g1, %u1, %d1)
      biases(%bg0, %bg0, %bd0, %bg1, %bg1, %bd0)
      {activation = #moe.activation<gelu>, gate_layout = #moe.gate_layout<separate>}
      : (tensor<24x64xbf16>, tensor<3xi32>, tensor<64x96xbf16>, tensor<64x96xbf16>, tensor<96x64xbf16>,
         tensor<64x160xbf16>, tensor<64x160xbf16>, tensor<160x64xbf16>,
         tensor<96xbf16>, tensor<96xbf16>, tensor<64xbf16>, tensor<160xbf16>, tensor<160xbf16>,
         tensor<64xbf16>) -> tensor<24x64xbf16>
  // per-expert [out, in] weights with biases, ungated aglu
  %10 = moe.experts %rs, %off2 weights(%t0, %td0, %t1, %td1) biases(%bg0, %bd0, %bg1, %bd0)
      {activation = #moe.activation<aglu>, kappa = 1.5, transposed_weights}
      : (tensor<24x64xbf16>, tensor<3xi32>, tensor<96x64xbf16>, tensor<64x96xbf16>,
         tensor<160x64xbf16>, tensor<64x160xbf16>, tensor<96xbf16>, tensor<64xbf16>,
         tensor<160xbf16>, tensor<64xbf16>) -> tensor<24x64xbf16>
  return
}

// moe.grouped_matmul: stacked and per-group rhs, transpose_rhs, biases.
// CHECK-LABEL: func.func @grouped_matmul_forms(
// CHECK-SAME: %[[LS:[^:]+]]: tensor<32x64xf16>, %[[RS:[^:]+]]: tensor<4x64x128xf16>, %[[OS:[^:]+]]: tensor<5xi32>,
// CHECK-SAME: %[[L:[^:]+]]: tensor<?x64xf32>, %[[OFF:[^:]+]]: tensor<5xi64>, %[[R:[^:]+]]: tensor<4x64x128xf32>, %[[RT:[^:]+]]: tensor<4x128x64xf32>, %[[B:[^:]+]]: tensor<4x128xf32>,
// CHECK-SAME: %[[R0:[^:]+]]: tensor<64x32xf32>, %[[R1:[^:]+]]: tensor<64x48xf32>, %[[R2:[^:]+]]: tensor<64x64xf32>, %[[R3:[^:]+]]: tensor<64x80xf32>,
// CHECK-SAME: %[[T0:[^:]+]]: tensor<32x64xf32>, %[[T1:[^:]+]]: tensor<48x64xf32>, %[[T2:[^:]+]]: tensor<64x64xf32>, %[[T3:[^:]+]]: tensor<80x64xf32>,
// CHECK-SAME: %[[B0:[^:]+]]: tensor<32xf32>, %[[B1:[^:]+]]: tensor<48xf32>, %[[B2:[^:]+]]: tensor<64xf32>, %[[B3:[^:]+]]: tensor<80xf32>, %[[LW:[^:]+]]: tensor<?x80xf32>)
// CHECK-NEXT: moe.grouped_matmul %[[LS]], %[[RS]] offsets(%[[OS]]) : (tensor<32x64xf16>, tensor<4x64x128xf16>, tensor<5xi32>) -> tensor<32x128xf16>
// CHECK-NEXT: moe.grouped_matmul %[[L]], %[[RT]] offsets(%[[OFF]]) {transpose_rhs} : (tensor<?x64xf32>, tensor<4x128x64xf32>, tensor<5xi64>) -> tensor<?x128xf32>
// CHECK-NEXT: moe.grouped_matmul %[[L]], %[[R]] offsets(%[[OFF]]) bias(%[[B]]) : (tensor<?x64xf32>, tensor<4x64x128xf32>, tensor<5xi64>, tensor<4x128xf32>) -> tensor<?x128xf32>
// CHECK-NEXT: moe.grouped_matmul %[[L]], %[[RT]] offsets(%[[OFF]]) bias(%[[B]]) {transpose_rhs} : (tensor<?x64xf32>, tensor<4x128x64xf32>, tensor<5xi64>, tensor<4x128xf32>) -> tensor<?x128xf32>
// CHECK-NEXT: moe.grouped_matmul %[[L]], %[[R0]], %[[R1]], %[[R2]], %[[R3]] offsets(%[[OFF]]) : (tensor<?x64xf32>, tensor<64x32xf32>, tensor<64x48xf32>, tensor<64x64xf32>, tensor<64x80xf32>, tensor<5xi64>) -> tensor<?x80xf32>
// CHECK-NEXT: moe.grouped_matmul %[[L]], %[[R0]], %[[R1]], %[[R2]], %[[R3]] offsets(%[[OFF]]) bias(%[[B0]], %[[B1]], %[[B2]], %[[B3]]) : (tensor<?x64xf32>, tensor<64x32xf32>, tensor<64x48xf32>, tensor<64x64xf32>, tensor<64x80xf32>, tensor<5xi64>, tensor<32xf32>, tensor<48xf32>, tensor<64xf32>, tensor<80xf32>) -> tensor<?x80xf32>
// CHECK-NEXT: moe.grouped_matmul %[[L]], %[[T0]], %[[T1]], %[[T2]], %[[T3]] offsets(%[[OFF]]) bias(%[[B0]], %[[B1]], %[[B2]], %[[B3]]) {transpose_rhs} : (tensor<?x64xf32>, tensor<32x64xf32>, tensor<48x64xf32>, tensor<64x64xf32>, tensor<80x64xf32>, tensor<5xi64>, tensor<32xf32>, tensor<48xf32>, tensor<64xf32>, tensor<80xf32>) -> tensor<?x80xf32>
// CHECK-NEXT: moe.grouped_matmul %[[LW]], %[[T0]], %[[T1]], %[[T2]], %[[T3]] offsets(%[[OFF]]) : (tensor<?x80xf32>, tensor<32x64xf32>, tensor<48x64xf32>, tensor<64x64xf32>, tensor<80x64xf32>, tensor<5xi64>) -> tensor<?x64xf32>
// CHECK-NEXT: moe.grouped_matmul %[[L]], %[[R]] offsets(%[[OFF]]) : (tensor<?x64xf32>, tensor<4x64x128xf32>, tensor<5xi64>) -> tensor<?x?xf32>
func.func @grouped_matmul_forms(%ls: tensor<32x64xf16>, %rs: tensor<4x64x128xf16>, %os: tensor<5xi32>,
                                %l: tensor<?x64xf32>, %offsets: tensor<5xi64>,
                                %r: tensor<4x64x128xf32>, %rt: tensor<4x128x64xf32>, %b: tensor<4x128xf32>,
                                %r0: tensor<64x32xf32>, %r1: tensor<64x48xf32>,
                                %r2: tensor<64x64xf32>, %r3: tensor<64x80xf32>,
                                %t0: tensor<32x64xf32>, %t1: tensor<48x64xf32>,
                                %t2: tensor<64x64xf32>, %t3: tensor<80x64xf32>,
                                %b0: tensor<32xf32>, %b1: tensor<48xf32>, %b2: tensor<64xf32>, %b3: tensor<80xf32>,
                                %lw: tensor<?x80xf32>) {
  // stacked [E, K, M], static rows
  %0 = moe.grouped_matmul %ls, %rs offsets(%os)
      : (tensor<32x64xf16>, tensor<4x64x128xf16>, tensor<5xi32>) -> tensor<32x128xf16>
  // stacked [E, M, K]
  %1 = moe.grouped_matmul %l, %rt offsets(%offsets) {transpose_rhs}
      : (tensor<?x64xf32>, tensor<4x128x64xf32>, tensor<5xi64>) -> tensor<?x128xf32>
  // stacked with [E, M] bias, plain and transposed
  %2 = moe.grouped_matmul %l, %r offsets(%offsets) bias(%b)
      : (tensor<?x64xf32>, tensor<4x64x128xf32>, tensor<5xi64>, tensor<4x128xf32>) -> tensor<?x128xf32>
  %3 = moe.grouped_matmul %l, %rt offsets(%offsets) bias(%b) {transpose_rhs}
      : (tensor<?x64xf32>, tensor<4x128x64xf32>, tensor<5xi64>, tensor<4x128xf32>) -> tensor<?x128xf32>
  // per-group [K, M_e]: the result has max M_e = 80 columns
  %4 = moe.grouped_matmul %l, %r0, %r1, %r2, %r3 offsets(%offsets)
      : (tensor<?x64xf32>, tensor<64x32xf32>, tensor<64x48xf32>, tensor<64x64xf32>, tensor<64x80xf32>,
         tensor<5xi64>) -> tensor<?x80xf32>
  %5 = moe.grouped_matmul %l, %r0, %r1, %r2, %r3 offsets(%offsets) bias(%b0, %b1, %b2, %b3)
      : (tensor<?x64xf32>, tensor<64x32xf32>, tensor<64x48xf32>, tensor<64x64xf32>, tensor<64x80xf32>,
         tensor<5xi64>, tensor<32xf32>, tensor<48xf32>, tensor<64xf32>, tensor<80xf32>) -> tensor<?x80xf32>
  // per-group [M_e, K], with [M_e] biases
  %6 = moe.grouped_matmul %l, %t0, %t1, %t2, %t3 offsets(%offsets) bias(%b0, %b1, %b2, %b3) {transpose_rhs}
      : (tensor<?x64xf32>, tensor<32x64xf32>, tensor<48x64xf32>, tensor<64x64xf32>, tensor<80x64xf32>,
         tensor<5xi64>, tensor<32xf32>, tensor<48xf32>, tensor<64xf32>, tensor<80xf32>) -> tensor<?x80xf32>
  // per-group [K_e, M]: lhs has max K_e = 80 columns
  %7 = moe.grouped_matmul %lw, %t0, %t1, %t2, %t3 offsets(%offsets)
      : (tensor<?x80xf32>, tensor<32x64xf32>, tensor<48x64xf32>, tensor<64x64xf32>, tensor<80x64xf32>,
         tensor<5xi64>) -> tensor<?x64xf32>
  // dynamic result width
  %8 = moe.grouped_matmul %l, %r offsets(%offsets)
      : (tensor<?x64xf32>, tensor<4x64x128xf32>, tensor<5xi64>) -> tensor<?x?xf32>
  return
}

// moe.scatter_columns: the sparse residual of compressed experts, with -1
// padding for a group with fewer columns.
// CHECK-LABEL: func.func @scatter_columns(
// CHECK: moe.scatter_columns %{{.*}} into %{{.*}} columns(%{{.*}}) offsets(%{{.*}}) : (tensor<?x2xf32>, tensor<?x8xf32>, tensor<2x2xi32>, tensor<3xi64>) -> tensor<?x8xf32>
// CHECK: moe.scatter_columns %{{.*}} into %{{.*}} columns(%{{.*}}) offsets(%{{.*}}) : (tensor<6x2xbf16>, tensor<6x8xbf16>, tensor<2x2xi64>, tensor<3xi64>) -> tensor<6x8xbf16>
func.func @scatter_columns(%s: tensor<?x2xf32>, %d: tensor<?x8xf32>, %off: tensor<3xi64>,
                           %hs: tensor<6x2xbf16>, %hd: tensor<6x8xbf16>, %hc: tensor<2x2xi64>) {
  %c = arith.constant dense<[[0, 5], [7, -1]]> : tensor<2x2xi32>
  %0 = moe.scatter_columns %s into %d columns(%c) offsets(%off)
      : (tensor<?x2xf32>, tensor<?x8xf32>, tensor<2x2xi32>, tensor<3xi64>) -> tensor<?x8xf32>
  %1 = moe.scatter_columns %hs into %hd columns(%hc) offsets(%off)
      : (tensor<6x2xbf16>, tensor<6x8xbf16>, tensor<2x2xi64>, tensor<3xi64>) -> tensor<6x8xbf16>
  return
}

// moe.activation: every activation, ungated and with every gate layout.
// CHECK-LABEL: func.func @activation_kinds(
// CHECK-SAME: %[[H:[^:]+]]: tensor<?x256xf32>, %[[G:[^:]+]]: tensor<?x128xf32>, %[[U:[^:]+]]: tensor<?x128xf32>)
// ungated
// CHECK-NEXT: moe.activation %[[H]] {activation = #moe.activation<identity>} : (tensor<?x256xf32>) -> tensor<?x256xf32>
// CHECK-NEXT: moe.activation %[[H]] {activation = #moe.activation<relu>} : (tensor<?x256xf32>) -> tensor<?x256xf32>
// CHECK-NEXT: moe.activation %[[H]] {activation = #moe.activation<gelu>} : (tensor<?x256xf32>) -> tensor<?x256xf32>
// CHECK-NEXT: moe.activation %[[H]] {activation = #moe.activation<gelu_tanh>} : (tensor<?x256xf32>) -> tensor<?x256xf32>
// CHECK-NEXT: moe.activation %[[H]] {activation = #moe.activation<silu>} : (tensor<?x256xf32>) -> tensor<?x256xf32>
// CHECK-NEXT: moe.activation %[[H]] {activation = #moe.activation<apa>, kappa = 1.500000e+00 : f64, lambda = 5.000000e-01 : f64} : (tensor<?x256xf32>) -> tensor<?x256xf32>
// CHECK-NEXT: moe.activation %[[H]] {activation = #moe.activation<aglu>, kappa = 2.000000e+00 : f64, lambda = 2.500000e-01 : f64} : (tensor<?x256xf32>) -> tensor<?x256xf32>
// gated, gate_layout separate
// CHECK-NEXT: moe.activation %[[G]], %[[U]] {activation = #moe.activation<identity>, gate_layout = #moe.gate_layout<separate>} : (tensor<?x128xf32>, tensor<?x128xf32>) -> tensor<?x128xf32>
// CHECK-NEXT: moe.activation %[[G]], %[[U]] {activation = #moe.activation<relu>, gate_layout = #moe.gate_layout<separate>} : (tensor<?x128xf32>, tensor<?x128xf32>) -> tensor<?x128xf32>
// CHECK-NEXT: moe.activation %[[G]], %[[U]] {activation = #moe.activation<gelu>, gate_layout = #moe.gate_layout<separate>} : (tensor<?x128xf32>, tensor<?x128xf32>) -> tensor<?x128xf32>
// CHECK-NEXT: moe.activation %[[G]], %[[U]] {activation = #moe.activation<gelu_tanh>, gate_layout = #moe.gate_layout<separate>} : (tensor<?x128xf32>, tensor<?x128xf32>) -> tensor<?x128xf32>
// CHECK-NEXT: moe.activation %[[G]], %[[U]] {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<separate>} : (tensor<?x128xf32>, tensor<?x128xf32>) -> tensor<?x128xf32>
// CHECK-NEXT: moe.activation %[[G]], %[[U]] {activation = #moe.activation<apa>, gate_layout = #moe.gate_layout<separate>, kappa = 1.500000e+00 : f64, lambda = 5.000000e-01 : f64} : (tensor<?x128xf32>, tensor<?x128xf32>) -> tensor<?x128xf32>
// CHECK-NEXT: moe.activation %[[G]], %[[U]] {activation = #moe.activation<aglu>, gate_layout = #moe.gate_layout<separate>, kappa = 2.000000e+00 : f64, lambda = 2.500000e-01 : f64} : (tensor<?x128xf32>, tensor<?x128xf32>) -> tensor<?x128xf32>
// gated, gate_layout interleaved
// CHECK-NEXT: moe.activation %[[H]] {activation = #moe.activation<identity>, gate_layout = #moe.gate_layout<interleaved>} : (tensor<?x256xf32>) -> tensor<?x128xf32>
// CHECK-NEXT: moe.activation %[[H]] {activation = #moe.activation<relu>, gate_layout = #moe.gate_layout<interleaved>} : (tensor<?x256xf32>) -> tensor<?x128xf32>
// CHECK-NEXT: moe.activation %[[H]] {activation = #moe.activation<gelu>, gate_layout = #moe.gate_layout<interleaved>} : (tensor<?x256xf32>) -> tensor<?x128xf32>
// CHECK-NEXT: moe.activation %[[H]] {activation = #moe.activation<gelu_tanh>, gate_layout = #moe.gate_layout<interleaved>} : (tensor<?x256xf32>) -> tensor<?x128xf32>
// CHECK-NEXT: moe.activation %[[H]] {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<interleaved>} : (tensor<?x256xf32>) -> tensor<?x128xf32>
// CHECK-NEXT: moe.activation %[[H]] {activation = #moe.activation<apa>, gate_layout = #moe.gate_layout<interleaved>, kappa = 1.500000e+00 : f64, lambda = 5.000000e-01 : f64} : (tensor<?x256xf32>) -> tensor<?x128xf32>
// CHECK-NEXT: moe.activation %[[H]] {activation = #moe.activation<aglu>, gate_layout = #moe.gate_layout<interleaved>, kappa = 2.000000e+00 : f64, lambda = 2.500000e-01 : f64} : (tensor<?x256xf32>) -> tensor<?x128xf32>
// gated, gate_layout concatenated
// CHECK-NEXT: moe.activation %[[H]] {activation = #moe.activation<identity>, gate_layout = #moe.gate_layout<concatenated>} : (tensor<?x256xf32>) -> tensor<?x128xf32>
// CHECK-NEXT: moe.activation %[[H]] {activation = #moe.activation<relu>, gate_layout = #moe.gate_layout<concatenated>} : (tensor<?x256xf32>) -> tensor<?x128xf32>
// CHECK-NEXT: moe.activation %[[H]] {activation = #moe.activation<gelu>, gate_layout = #moe.gate_layout<concatenated>} : (tensor<?x256xf32>) -> tensor<?x128xf32>
// CHECK-NEXT: moe.activation %[[H]] {activation = #moe.activation<gelu_tanh>, gate_layout = #moe.gate_layout<concatenated>} : (tensor<?x256xf32>) -> tensor<?x128xf32>
// CHECK-NEXT: moe.activation %[[H]] {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<concatenated>} : (tensor<?x256xf32>) -> tensor<?x128xf32>
// CHECK-NEXT: moe.activation %[[H]] {activation = #moe.activation<apa>, gate_layout = #moe.gate_layout<concatenated>, kappa = 1.500000e+00 : f64, lambda = 5.000000e-01 : f64} : (tensor<?x256xf32>) -> tensor<?x128xf32>
// CHECK-NEXT: moe.activation %[[H]] {activation = #moe.activation<aglu>, gate_layout = #moe.gate_layout<concatenated>, kappa = 2.000000e+00 : f64, lambda = 2.500000e-01 : f64} : (tensor<?x256xf32>) -> tensor<?x128xf32>
func.func @activation_kinds(%h: tensor<?x256xf32>, %g: tensor<?x128xf32>, %u: tensor<?x128xf32>) {
  // ungated
  %identity = moe.activation %h {activation = #moe.activation<identity>} : (tensor<?x256xf32>) -> tensor<?x256xf32>
  %relu = moe.activation %h {activation = #moe.activation<relu>} : (tensor<?x256xf32>) -> tensor<?x256xf32>
  %gelu = moe.activation %h {activation = #moe.activation<gelu>} : (tensor<?x256xf32>) -> tensor<?x256xf32>
  %gelu_tanh = moe.activation %h {activation = #moe.activation<gelu_tanh>} : (tensor<?x256xf32>) -> tensor<?x256xf32>
  %silu = moe.activation %h {activation = #moe.activation<silu>} : (tensor<?x256xf32>) -> tensor<?x256xf32>
  %apa = moe.activation %h {activation = #moe.activation<apa>, kappa = 1.5, lambda = 0.5} : (tensor<?x256xf32>) -> tensor<?x256xf32>
  %aglu = moe.activation %h {activation = #moe.activation<aglu>, kappa = 2.0, lambda = 0.25} : (tensor<?x256xf32>) -> tensor<?x256xf32>
  // gated, gate_layout separate
  %identity_sep = moe.activation %g, %u {activation = #moe.activation<identity>, gate_layout = #moe.gate_layout<separate>} : (tensor<?x128xf32>, tensor<?x128xf32>) -> tensor<?x128xf32>
  %relu_sep = moe.activation %g, %u {activation = #moe.activation<relu>, gate_layout = #moe.gate_layout<separate>} : (tensor<?x128xf32>, tensor<?x128xf32>) -> tensor<?x128xf32>
  %gelu_sep = moe.activation %g, %u {activation = #moe.activation<gelu>, gate_layout = #moe.gate_layout<separate>} : (tensor<?x128xf32>, tensor<?x128xf32>) -> tensor<?x128xf32>
  %gelu_tanh_sep = moe.activation %g, %u {activation = #moe.activation<gelu_tanh>, gate_layout = #moe.gate_layout<separate>} : (tensor<?x128xf32>, tensor<?x128xf32>) -> tensor<?x128xf32>
  %silu_sep = moe.activation %g, %u {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<separate>} : (tensor<?x128xf32>, tensor<?x128xf32>) -> tensor<?x128xf32>
  %apa_sep = moe.activation %g, %u {activation = #moe.activation<apa>, gate_layout = #moe.gate_layout<separate>, kappa = 1.5, lambda = 0.5} : (tensor<?x128xf32>, tensor<?x128xf32>) -> tensor<?x128xf32>
  %aglu_sep = moe.activation %g, %u {activation = #moe.activation<aglu>, gate_layout = #moe.gate_layout<separate>, kappa = 2.0, lambda = 0.25} : (tensor<?x128xf32>, tensor<?x128xf32>) -> tensor<?x128xf32>
  // gated, gate_layout interleaved
  %identity_int = moe.activation %h {activation = #moe.activation<identity>, gate_layout = #moe.gate_layout<interleaved>} : (tensor<?x256xf32>) -> tensor<?x128xf32>
  %relu_int = moe.activation %h {activation = #moe.activation<relu>, gate_layout = #moe.gate_layout<interleaved>} : (tensor<?x256xf32>) -> tensor<?x128xf32>
  %gelu_int = moe.activation %h {activation = #moe.activation<gelu>, gate_layout = #moe.gate_layout<interleaved>} : (tensor<?x256xf32>) -> tensor<?x128xf32>
  %gelu_tanh_int = moe.activation %h {activation = #moe.activation<gelu_tanh>, gate_layout = #moe.gate_layout<interleaved>} : (tensor<?x256xf32>) -> tensor<?x128xf32>
  %silu_int = moe.activation %h {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<interleaved>} : (tensor<?x256xf32>) -> tensor<?x128xf32>
  %apa_int = moe.activation %h {activation = #moe.activation<apa>, gate_layout = #moe.gate_layout<interleaved>, kappa = 1.5, lambda = 0.5} : (tensor<?x256xf32>) -> tensor<?x128xf32>
  %aglu_int = moe.activation %h {activation = #moe.activation<aglu>, gate_layout = #moe.gate_layout<interleaved>, kappa = 2.0, lambda = 0.25} : (tensor<?x256xf32>) -> tensor<?x128xf32>
  // gated, gate_layout concatenated
  %identity_con = moe.activation %h {activation = #moe.activation<identity>, gate_layout = #moe.gate_layout<concatenated>} : (tensor<?x256xf32>) -> tensor<?x128xf32>
  %relu_con = moe.activation %h {activation = #moe.activation<relu>, gate_layout = #moe.gate_layout<concatenated>} : (tensor<?x256xf32>) -> tensor<?x128xf32>
  %gelu_con = moe.activation %h {activation = #moe.activation<gelu>, gate_layout = #moe.gate_layout<concatenated>} : (tensor<?x256xf32>) -> tensor<?x128xf32>
  %gelu_tanh_con = moe.activation %h {activation = #moe.activation<gelu_tanh>, gate_layout = #moe.gate_layout<concatenated>} : (tensor<?x256xf32>) -> tensor<?x128xf32>
  %silu_con = moe.activation %h {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<concatenated>} : (tensor<?x256xf32>) -> tensor<?x128xf32>
  %apa_con = moe.activation %h {activation = #moe.activation<apa>, gate_layout = #moe.gate_layout<concatenated>, kappa = 1.5, lambda = 0.5} : (tensor<?x256xf32>) -> tensor<?x128xf32>
  %aglu_con = moe.activation %h {activation = #moe.activation<aglu>, gate_layout = #moe.gate_layout<concatenated>, kappa = 2.0, lambda = 0.25} : (tensor<?x256xf32>) -> tensor<?x128xf32>
  return
}

// moe.activation: silu's alpha, the clamped SwiGLU, per-group widths with
// offsets (ungated, separate, interleaved, concatenated), static and dynamic
// shapes.
// CHECK-LABEL: func.func @activation_forms(
// CHECK-SAME: %[[H:[^:]+]]: tensor<16x256xf16>, %[[G:[^:]+]]: tensor<16x128xf16>, %[[U:[^:]+]]: tensor<16x128xf16>,
// CHECK-SAME: %[[HB:[^:]+]]: tensor<?x256xbf16>, %[[GB:[^:]+]]: tensor<?x128xbf16>, %[[UB:[^:]+]]: tensor<?x128xbf16>, %[[OFF:[^:]+]]: tensor<5xi32>, %[[OFF64:[^:]+]]: tensor<5xi64>, %[[HD:[^:]+]]: tensor<?x?xf32>)
// CHECK-NEXT: moe.activation %[[H]] {activation = #moe.activation<silu>, alpha = 5.000000e-01 : f64} : (tensor<16x256xf16>) -> tensor<16x256xf16>
// CHECK-NEXT: moe.activation %[[G]], %[[U]] {activation = #moe.activation<silu>, alpha = 1.702000e+00 : f64, beta = 1.000000e+00 : f64, gate_layout = #moe.gate_layout<separate>, limit = 7.000000e+00 : f64} : (tensor<16x128xf16>, tensor<16x128xf16>) -> tensor<16x128xf16>
// CHECK-NEXT: moe.activation %[[H]] {activation = #moe.activation<silu>, alpha = 1.702000e+00 : f64, beta = 1.000000e+00 : f64, gate_layout = #moe.gate_layout<interleaved>, limit = 7.000000e+00 : f64} : (tensor<16x256xf16>) -> tensor<16x128xf16>
// CHECK-NEXT: moe.activation %[[H]] {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<concatenated>, limit = 1.000000e+01 : f64} : (tensor<16x256xf16>) -> tensor<16x128xf16>
// CHECK-NEXT: moe.activation %[[HB]] offsets(%[[OFF]]) {activation = #moe.activation<gelu>, widths = array<i64: 64, 128, 192, 256>} : (tensor<?x256xbf16>, tensor<5xi32>) -> tensor<?x256xbf16>
// CHECK-NEXT: moe.activation %[[GB]], %[[UB]] offsets(%[[OFF]]) {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<separate>, widths = array<i64: 32, 64, 96, 128>} : (tensor<?x128xbf16>, tensor<?x128xbf16>, tensor<5xi32>) -> tensor<?x128xbf16>
// CHECK-NEXT: moe.activation %[[HB]] offsets(%[[OFF64]]) {activation = #moe.activation<silu>, alpha = 1.702000e+00 : f64, beta = 1.000000e+00 : f64, gate_layout = #moe.gate_layout<interleaved>, limit = 7.000000e+00 : f64, widths = array<i64: 128, 96, 64, 32>} : (tensor<?x256xbf16>, tensor<5xi64>) -> tensor<?x128xbf16>
// CHECK-NEXT: moe.activation %[[HB]] offsets(%[[OFF64]]) {activation = #moe.activation<apa>, gate_layout = #moe.gate_layout<concatenated>, kappa = 5.000000e-01 : f64, lambda = 2.000000e+00 : f64, widths = array<i64: 128, 128, 128, 128>} : (tensor<?x256xbf16>, tensor<5xi64>) -> tensor<?x128xbf16>
// CHECK-NEXT: moe.activation %[[HD]] {activation = #moe.activation<relu>} : (tensor<?x?xf32>) -> tensor<?x?xf32>
// CHECK-NEXT: moe.activation %[[HD]] {activation = #moe.activation<gelu>, gate_layout = #moe.gate_layout<interleaved>} : (tensor<?x?xf32>) -> tensor<?x?xf32>
func.func @activation_forms(%h: tensor<16x256xf16>, %g: tensor<16x128xf16>, %u: tensor<16x128xf16>,
                            %hb: tensor<?x256xbf16>, %gb: tensor<?x128xbf16>, %ub: tensor<?x128xbf16>,
                            %offsets: tensor<5xi32>, %off64: tensor<5xi64>, %hd: tensor<?x?xf32>) {
  %0 = moe.activation %h {activation = #moe.activation<silu>, alpha = 0.5}
      : (tensor<16x256xf16>) -> tensor<16x256xf16>
  // clamped SwiGLU; limit alone
  %1 = moe.activation %g, %u {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<separate>,
                              alpha = 1.702, beta = 1.0, limit = 7.0}
      : (tensor<16x128xf16>, tensor<16x128xf16>) -> tensor<16x128xf16>
  %2 = moe.activation %h {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<interleaved>,
                          alpha = 1.702, beta = 1.0, limit = 7.0}
      : (tensor<16x256xf16>) -> tensor<16x128xf16>
  %3 = moe.activation %h {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<concatenated>,
                          limit = 10.0}
      : (tensor<16x256xf16>) -> tensor<16x128xf16>
  // per-group widths: the result has the largest width, a fused input twice that
  %4 = moe.activation %hb offsets(%offsets)
      {activation = #moe.activation<gelu>, widths = array<i64: 64, 128, 192, 256>}
      : (tensor<?x256xbf16>, tensor<5xi32>) -> tensor<?x256xbf16>
  %5 = moe.activation %gb, %ub offsets(%offsets)
      {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<separate>,
       widths = array<i64: 32, 64, 96, 128>}
      : (tensor<?x128xbf16>, tensor<?x128xbf16>, tensor<5xi32>) -> tensor<?x128xbf16>
  %6 = moe.activation %hb offsets(%off64)
      {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<interleaved>,
       alpha = 1.702, beta = 1.0, limit = 7.0, widths = array<i64: 128, 96, 64, 32>}
      : (tensor<?x256xbf16>, tensor<5xi64>) -> tensor<?x128xbf16>
  %7 = moe.activation %hb offsets(%off64)
      {activation = #moe.activation<apa>, gate_layout = #moe.gate_layout<concatenated>,
       kappa = 0.5, lambda = 2.0, widths = array<i64: 128, 128, 128, 128>}
      : (tensor<?x256xbf16>, tensor<5xi64>) -> tensor<?x128xbf16>
  // dynamic widths
  %8 = moe.activation %hd {activation = #moe.activation<relu>} : (tensor<?x?xf32>) -> tensor<?x?xf32>
  %9 = moe.activation %hd {activation = #moe.activation<gelu>, gate_layout = #moe.gate_layout<interleaved>}
      : (tensor<?x?xf32>) -> tensor<?x?xf32>
  return
}

// moe.combine: token choice [T, k] and expert choice [T, E] row maps, static
// and dynamic, i32 and i64.
// CHECK-LABEL: func.func @combine_forms(
// CHECK-SAME: %[[RS:[^:]+]]: tensor<36x256xf16>, %[[MS:[^:]+]]: tensor<12x3xi64>, %[[WS:[^:]+]]: tensor<12x3xf16>, %[[R:[^:]+]]: tensor<?x256xf32>, %[[M:[^:]+]]: tensor<?x4xi32>, %[[W:[^:]+]]: tensor<?x4xf32>)
// CHECK-NEXT: moe.combine %[[RS]], %[[MS]], %[[WS]] : (tensor<36x256xf16>, tensor<12x3xi64>, tensor<12x3xf16>) -> tensor<12x256xf16>
// CHECK-NEXT: moe.combine %[[R]], %[[M]], %[[W]] : (tensor<?x256xf32>, tensor<?x4xi32>, tensor<?x4xf32>) -> tensor<?x256xf32>
func.func @combine_forms(%rs: tensor<36x256xf16>, %ms: tensor<12x3xi64>, %ws: tensor<12x3xf16>,
                         %r: tensor<?x256xf32>, %m: tensor<?x4xi32>, %w: tensor<?x4xf32>) {
  %0 = moe.combine %rs, %ms, %ws : (tensor<36x256xf16>, tensor<12x3xi64>, tensor<12x3xf16>) -> tensor<12x256xf16>
  %1 = moe.combine %r, %m, %w : (tensor<?x256xf32>, tensor<?x4xi32>, tensor<?x4xf32>) -> tensor<?x256xf32>
  return
}

// Dynamic skipping (--moe-skip-experts): Mixtral routing with skip_ratio.
// CHECK-LABEL: func.func @mixtral_skip(
// CHECK: moe.route <token_choice> <softmax> %{{.*}} {k = 2 : i64, renormalize, skip_ratio = 2.500000e-01 : f64} : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
// CHECK: moe.fused_route <token_choice> <softmax> %{{.*}}, %{{.*}} {k = 2 : i64, skip_ratio = 5.000000e-01 : f64}
func.func @mixtral_skip(%logits: tensor<?x8xf32>, %x: tensor<?x16xf32>, %wr: tensor<8x16xf32>)
    -> (tensor<?x2xf32>, tensor<?x2xf32>) {
  %w, %ids = moe.route <token_choice> <softmax> %logits {k = 2, renormalize, skip_ratio = 0.25}
      : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  %fw, %fids = moe.fused_route <token_choice> <softmax> %x, %wr {k = 2, skip_ratio = 0.5}
      : tensor<?x16xf32>, tensor<8x16xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  return %w, %fw : tensor<?x2xf32>, tensor<?x2xf32>
}

// moe.dequantize: 8-bit per row; 4-bit block-wise with zero points; 2-bit
// f16 scales to bf16; dynamic leading dims.
// CHECK-LABEL: func.func @dequantize_forms(
// CHECK-SAME: %[[Q8:[^:]+]]: tensor<8x64x32xi8>, %[[S8:[^:]+]]: tensor<8x64xf32>, %[[Q4:[^:]+]]: tensor<8x64x16xi8>, %[[S4:[^:]+]]: tensor<8x64x2xf32>, %[[Z4:[^:]+]]: tensor<8x64x1xi8>, %[[Q2:[^:]+]]: tensor<?x64x8xi8>, %[[S2:[^:]+]]: tensor<?x64xf16>)
// CHECK-NEXT: moe.dequantize %[[Q8]], %[[S8]] {bits = 8 : i64} : (tensor<8x64x32xi8>, tensor<8x64xf32>) -> tensor<8x64x32xf32>
// CHECK-NEXT: moe.dequantize %[[Q4]], %[[S4]] zero_points(%[[Z4]]) {bits = 4 : i64, block_size = 16 : i64} : (tensor<8x64x16xi8>, tensor<8x64x2xf32>, tensor<8x64x1xi8>) -> tensor<8x64x32xf32>
// CHECK-NEXT: moe.dequantize %[[Q2]], %[[S2]] {bits = 2 : i64} : (tensor<?x64x8xi8>, tensor<?x64xf16>) -> tensor<?x64x32xbf16>
func.func @dequantize_forms(%q8: tensor<8x64x32xi8>, %s8: tensor<8x64xf32>,
                            %q4: tensor<8x64x16xi8>, %s4: tensor<8x64x2xf32>, %z4: tensor<8x64x1xi8>,
                            %q2: tensor<?x64x8xi8>, %s2: tensor<?x64xf16>) {
  %0 = moe.dequantize %q8, %s8 {bits = 8 : i64} : (tensor<8x64x32xi8>, tensor<8x64xf32>) -> tensor<8x64x32xf32>
  %1 = moe.dequantize %q4, %s4 zero_points(%z4) {bits = 4 : i64, block_size = 16 : i64}
      : (tensor<8x64x16xi8>, tensor<8x64x2xf32>, tensor<8x64x1xi8>) -> tensor<8x64x32xf32>
  %2 = moe.dequantize %q2, %s2 {bits = 2 : i64} : (tensor<?x64x8xi8>, tensor<?x64xf16>) -> tensor<?x64x32xbf16>
  return
}

// Column panels: [E, M / P, K, P] with a stacked [E, M] bias.
// CHECK-LABEL: func.func @grouped_matmul_panels(
// CHECK: moe.grouped_matmul %{{.*}}, %{{.*}} offsets(%{{.*}}) bias(%{{.*}}) {panels} : (tensor<?x64xf32>, tensor<4x3x64x64xf32>, tensor<5xi64>, tensor<4x192xf32>) -> tensor<?x192xf32>
func.func @grouped_matmul_panels(%rows: tensor<?x64xf32>, %offsets: tensor<5xi64>,
                                 %w: tensor<4x3x64x64xf32>, %b: tensor<4x192xf32>) -> tensor<?x192xf32> {
  %y = moe.grouped_matmul %rows, %w offsets(%offsets) bias(%b) {panels}
      : (tensor<?x64xf32>, tensor<4x3x64x64xf32>, tensor<5xi64>, tensor<4x192xf32>) -> tensor<?x192xf32>
  return %y : tensor<?x192xf32>
}
