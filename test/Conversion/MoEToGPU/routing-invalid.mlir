// What the GPU routing kernel does not do is rejected with an error at the
// op, and the module is left as it was.
// RUN: moe-opt %s --convert-moe-to-gpu -split-input-file -verify-diagnostics

func.func @expert_choice_f64_gate(%l: tensor<16x8xf32>) -> (tensor<16x8xf64>, tensor<8x4xi64>) {
  // expected-error @+1 {{'moe.route' op the GPU routing kernel takes bf16, f16 or f32 routing weights, not 'f64'}}
  %w, %i = moe.route <expert_choice> <softmax> %l {capacity_factor = 2.0 : f64}
      : tensor<16x8xf32> -> tensor<16x8xf64>, tensor<8x4xi64>
  return %w, %i : tensor<16x8xf64>, tensor<8x4xi64>
}

// -----

func.func @many_experts(%l: tensor<?x1024xf32>) -> (tensor<?x2xf32>, tensor<?x2xi64>) {
  // expected-error @+1 {{'moe.route' op the GPU routing kernel handles at most 512 experts, not 1024}}
  %w, %i = moe.route <token_choice> <softmax> %l {k = 2 : i64}
      : tensor<?x1024xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  return %w, %i : tensor<?x2xf32>, tensor<?x2xi64>
}

// -----

func.func @large_k(%l: tensor<?x64xf32>) -> (tensor<?x33xf32>, tensor<?x33xi64>) {
  // expected-error @+1 {{'moe.route' op the GPU routing kernel handles k <= 32, not 33}}
  %w, %i = moe.route <token_choice> <softmax> %l {k = 33 : i64}
      : tensor<?x64xf32> -> tensor<?x33xf32>, tensor<?x33xi64>
  return %w, %i : tensor<?x33xf32>, tensor<?x33xi64>
}

// -----

func.func @many_groups(%l: tensor<?x128xf32>) -> (tensor<?x2xf32>, tensor<?x2xi64>) {
  // expected-error @+1 {{'moe.route' op the GPU routing kernel handles at most 32 expert groups, not 64}}
  %w, %i = moe.route <token_choice> <sigmoid> %l {k = 2 : i64, num_groups = 64 : i64, topk_groups = 2 : i64, group_topk = 1 : i64}
      : tensor<?x128xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  return %w, %i : tensor<?x2xf32>, tensor<?x2xi64>
}

// -----

func.func @f64_logits(%l: tensor<?x8xf64>) -> (tensor<?x2xf32>, tensor<?x2xi64>) {
  // expected-error @+1 {{'moe.route' op the GPU routing kernel takes bf16, f16 or f32 logits, not 'f64'}}
  %w, %i = moe.route <token_choice> <softmax> %l {k = 2 : i64}
      : tensor<?x8xf64> -> tensor<?x2xf32>, tensor<?x2xi64>
  return %w, %i : tensor<?x2xf32>, tensor<?x2xi64>
}

// -----

func.func @f64_router(%x: tensor<?x64xf64>, %r: tensor<4x64xf64>) -> (tensor<?x2xf32>, tensor<?x2xi64>) {
  // expected-error @+1 {{'moe.fused_route' op the GPU routing kernel takes bf16, f16 or f32 tokens, not 'f64' (it accumulates in f32)}}
  %w, %i = moe.fused_route <token_choice> <softmax> %x, %r {k = 2 : i64}
      : tensor<?x64xf64>, tensor<4x64xf64> -> tensor<?x2xf32>, tensor<?x2xi64>
  return %w, %i : tensor<?x2xf32>, tensor<?x2xi64>
}

// -----

func.func @f64_weights(%l: tensor<?x8xf32>) -> (tensor<?x2xf64>, tensor<?x2xi64>) {
  // expected-error @+1 {{'moe.route' op the GPU routing kernel takes bf16, f16 or f32 routing weights, not 'f64'}}
  %w, %i = moe.route <token_choice> <softmax> %l {k = 2 : i64}
      : tensor<?x8xf32> -> tensor<?x2xf64>, tensor<?x2xi64>
  return %w, %i : tensor<?x2xf64>, tensor<?x2xi64>
}

// -----

func.func @dynamic_hidden(%x: tensor<?x?xf32>, %r: tensor<4x?xf32>) -> (tensor<?x2xf32>, tensor<?x2xi64>) {
  // expected-error @+1 {{'moe.fused_route' op the GPU routing kernel needs a static hidden size}}
  %w, %i = moe.fused_route <token_choice> <softmax> %x, %r {k = 2 : i64}
      : tensor<?x?xf32>, tensor<4x?xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  return %w, %i : tensor<?x2xf32>, tensor<?x2xi64>
}

// -----

// The unfused pair: the gate has no kernel of its own.
func.func @gate(%x: tensor<?x64xf32>, %r: tensor<4x64xf32>) -> (tensor<?x2xf32>, tensor<?x2xi64>) {
  // expected-error @+1 {{'moe.gate' op has no GPU lowering of its own: run --moe-fuse-gating first so that it and its moe.route become one moe.fused_route}}
  %l = moe.gate %x, %r : (tensor<?x64xf32>, tensor<4x64xf32>) -> tensor<?x4xf32>
  %w, %i = moe.route <token_choice> <softmax> %l {k = 2 : i64}
      : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  return %w, %i : tensor<?x2xf32>, tensor<?x2xi64>
}
