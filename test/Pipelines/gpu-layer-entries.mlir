// RUN: moe-opt %S/Inputs/layer-ffn-bf16.mlir --moe-gpu-entry-points=chip=sm_80 | FileCheck %s
// RUN: moe-opt %S/Inputs/layer-ffn-bf16.mlir --moe-gpu-entry-points=chip=sm_80 --canonicalize | FileCheck %s --check-prefix=SIZE

// The layer's function is replaced by its entries; its kernels are queued on
// the stream argument (a !gpu.async.token that lowers to the caller's
// CUstream) one after the other, with no gpu.alloc and no gpu.wait.
// CHECK-NOT: func.func @ffn
// CHECK: llvm.mlir.global external constant @moe_gpu_layer_names("ffn\00\00")
// CHECK-LABEL: func.func private @__moe_layer_forward_0(
// CHECK-SAME: %[[BUFS:.*]]: !llvm.ptr, %[[DIMS:.*]]: !llvm.ptr, %[[WS:.*]]: !llvm.ptr, %[[STREAM:.*]]: !gpu.async.token)
// Argument 0 (x): pointer buffers[0], rows dims[0].
// CHECK: %[[D0:.*]] = llvm.getelementptr %[[DIMS]][0] : (!llvm.ptr) -> !llvm.ptr, i64
// CHECK: llvm.load %[[D0]] : !llvm.ptr -> i64
// CHECK: %[[P0:.*]] = llvm.getelementptr %[[BUFS]][0] : (!llvm.ptr) -> !llvm.ptr, !llvm.ptr
// CHECK: llvm.load %[[P0]] : !llvm.ptr -> !llvm.ptr
// The result (the combined tokens) is the caller's buffers[7].
// CHECK: llvm.getelementptr %[[BUFS]][7]
// CHECK-NOT: gpu.alloc
// CHECK-NOT: gpu.wait
// The fused SwiGLU matmul writes the activation at the workspace start;
// up to 16 rows per expert the decode kernel runs, else the tile kernel,
// chosen by the row count as convert-moe-to-gpu chooses.
// CHECK: llvm.getelementptr %[[WS]][%{{.*}}] : (!llvm.ptr, i64) -> !llvm.ptr, i8
// CHECK: %[[SMALL1:.*]] = arith.cmpi ule, %{{.*}}, %c128{{.*}} : index
// CHECK-NEXT: scf.if %[[SMALL1]] {
// CHECK: gpu.launch_func async [%[[STREAM]]] @moe_kernels::@grouped_matmul_decode_bf16_bf16_i64_e8_k256_n512_silu_separate
// CHECK: } else {
// CHECK: gpu.launch_func async [%[[STREAM]]] @moe_kernels::@grouped_matmul_bf16_bf16_i64_e8_k256_n512_silu_separate
// The down projection the same way; the combine follows. Every launch is on
// the stream, in program order (a launch's token cannot leave its branch).
// CHECK: llvm.getelementptr %[[WS]][%{{.*}}] : (!llvm.ptr, i64) -> !llvm.ptr, i8
// CHECK: %[[SMALL:.*]] = arith.cmpi ule, %{{.*}}, %c128{{.*}} : index
// CHECK-NEXT: scf.if %[[SMALL]] {
// CHECK: gpu.launch_func async [%[[STREAM]]] @moe_kernels::@grouped_matmul_decode_bf16_bf16_i64_e8_k512_n256
// CHECK: } else {
// CHECK: gpu.launch_func async [%[[STREAM]]] @moe_kernels::@grouped_matmul_bf16_bf16_i64_e8_k512_n256
// CHECK: gpu.launch_func async [%[[STREAM]]] @moe_kernels::@combine_bf16_i64_f32_bf16_h256_k2
// CHECK-NOT: gpu.wait
// CHECK: return
// The workspace size: the same walk without the launches.
// CHECK-LABEL: func.func private @__moe_layer_workspace_0(
// CHECK-NOT: gpu.launch_func
// CHECK: return %{{.*}} : i64
// Dispatchers over the layer index.
// CHECK-LABEL: func.func @moe_gpu_layer_forward(
// CHECK-SAME: %[[L:.*]]: i32, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !gpu.async.token) -> i32
// CHECK: arith.cmpi eq, %[[L]], %c0_i32
// CHECK: func.call @__moe_layer_forward_0(
// CHECK-LABEL: func.func @moe_gpu_layer_workspace(
// CHECK: func.call @__moe_layer_workspace_0(
// CHECK-LABEL: func.func @moe_gpu_layer_info(
// 8 buffers (7 arguments, 1 result), 1 + 2 dynamic leading sizes.
// CHECK-DAG: arith.constant 8 : i32
// CHECK-DAG: arith.constant 3 : i32

// After folding: the activation's rows * (512 * 2) bytes rounded up to 256
// at 0, then the down rows' rows * (256 * 2) rounded up, both live at the
// down matmul: at 0 only where one of them is empty, else after the
// activation; rows comes from dims[0] through the descriptor of x.
// SIZE-LABEL: func.func private @__moe_layer_workspace_0(
// SIZE-DAG: %[[C512:.*]] = arith.constant 512 : i64
// SIZE-DAG: %[[M256:.*]] = arith.constant -256 : i64
// SIZE-DAG: %[[C255:.*]] = arith.constant 255 : i64
// SIZE-DAG: %[[C1024:.*]] = arith.constant 1024 : i64
// SIZE-DAG: %[[ZERO:.*]] = arith.constant 0 : i64
// SIZE: llvm.load %arg0 : !llvm.ptr -> i64
// SIZE: %[[A:.*]] = arith.muli %{{.*}}, %[[C1024]] : i64
// SIZE: %[[A1:.*]] = arith.addi %[[A]], %[[C255]] : i64
// SIZE: %[[ACT:.*]] = arith.andi %[[A1]], %[[M256]] : i64
// SIZE: %[[B:.*]] = arith.muli %{{.*}}, %[[C512]] : i64
// SIZE: %[[B1:.*]] = arith.addi %[[B]], %[[C255]] : i64
// SIZE: %[[DOWN:.*]] = arith.andi %[[B1]], %[[M256]] : i64
// SIZE: %[[FITS:.*]] = arith.andi
// SIZE: %[[AT:.*]] = arith.select %[[FITS]], %[[ZERO]], %[[ACT]] : i64
// SIZE: %[[END2:.*]] = arith.addi %[[AT]], %[[DOWN]] : i64
// SIZE: %[[PEAK:.*]] = arith.maxui %[[ACT]], %[[END2]] : i64
// SIZE: return %[[PEAK]] : i64
