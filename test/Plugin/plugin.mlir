// The stock mlir-opt of the LLVM install loads the moe dialect and passes
// from one shared object.
// RUN: %mlir_opt %s --load-dialect-plugin=%moe_libs/MoEPlugin.so | FileCheck %s --check-prefix=PARSE
// RUN: %mlir_opt %s --load-dialect-plugin=%moe_libs/MoEPlugin.so --load-pass-plugin=%moe_libs/MoEPlugin.so \
// RUN:   --pass-pipeline="builtin.module(func.func(moe-expand-experts))" | FileCheck %s --check-prefix=PASS
// Without the plugin, the stock tool does not know the dialect.
// RUN: not %mlir_opt %s 2>&1 | FileCheck %s --check-prefix=NOPLUGIN

// The verifiers run inside the stock tool too.
// RUN: not %mlir_opt %S/Inputs/invalid-route.mlir --load-dialect-plugin=%moe_libs/MoEPlugin.so 2>&1 \
// RUN:   | FileCheck %s --check-prefix=VERIFY

// PARSE: moe.gate %{{.*}}, %{{.*}} : (tensor<?x16xf32>, tensor<4x16xf32>) -> tensor<?x4xf32>
// PARSE: moe.route <token_choice> <softmax> %{{.*}} {k = 2 : i64, renormalize}
// PARSE: moe.dispatch %{{.*}}, %{{.*}} {num_experts = 4 : i64}
// PARSE: moe.experts %{{.*}}, %{{.*}} weights(%{{.*}}, %{{.*}}, %{{.*}}) {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<separate>}
// PARSE: moe.combine

// PASS-NOT: moe.experts
// PASS: moe.grouped_matmul
// PASS: moe.grouped_matmul
// PASS: moe.activation
// PASS: moe.grouped_matmul
// PASS: moe.combine

// NOPLUGIN: Dialect `moe' not found

// VERIFY: error: 'moe.route' op k (5) must not exceed the number of experts (4)

func.func @mixtral(%x: tensor<?x16xf32>, %wr: tensor<4x16xf32>,
    %wg: tensor<4x16x32xf32>, %wu: tensor<4x16x32xf32>,
    %wd: tensor<4x32x16xf32>) -> tensor<?x16xf32> {
  %logits = moe.gate %x, %wr : (tensor<?x16xf32>, tensor<4x16xf32>) -> tensor<?x4xf32>
  %w, %ids = moe.route <token_choice> <softmax> %logits {k = 2, renormalize}
      : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  %rows, %off, %map = moe.dispatch %x, %ids {num_experts = 4}
      : tensor<?x16xf32>, tensor<?x2xi64> -> tensor<?x16xf32>, tensor<5xi64>, tensor<?x2xi64>
  %y = moe.experts %rows, %off weights(%wg, %wu, %wd)
      {activation = #moe.activation<silu>, gate_layout = #moe.gate_layout<separate>}
      : (tensor<?x16xf32>, tensor<5xi64>, tensor<4x16x32xf32>, tensor<4x16x32xf32>,
         tensor<4x32x16xf32>) -> tensor<?x16xf32>
  %out = moe.combine %y, %map, %w
      : (tensor<?x16xf32>, tensor<?x2xi64>, tensor<?x2xf32>) -> tensor<?x16xf32>
  return %out : tensor<?x16xf32>
}
