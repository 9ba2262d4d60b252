//===- Passes.td - moe-opt conversion passes ---------------*- tablegen -*-===//

#ifndef MOE_CONVERSION_PASSES_TD
#define MOE_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertMoEToLinalg : Pass<"convert-moe-to-linalg", "mlir::ModuleOp"> {
  let summary = "Lower moe ops to linalg, tensor, scf, arith and math on tensors";
  let description = [{
    The CPU path's MoE lowering. Computes sparsely: each expert only runs on
    the rows routed to it.

    * `moe.gate`: a `linalg.matmul` (the CPU pipeline tiles and
      vectorizes named matmuls).
    * `moe.grouped_matmul`: a loop over groups, each a `linalg.matmul` on
      the slice of rows `offsets[e] .. offsets[e+1]` (groups of different
      widths are unrolled, one matmul per group).
    * `moe.activation`, `moe.combine`: `linalg.generic`.
    * A gated `moe.activation` (separate gate and up) of two `{panels}`
      grouped matmuls with one lhs, offsets and panel shape that nothing
      else reads (what `moe-pack-panels` makes of an expert FFN's gate and
      up projections): lowered together, before the op-by-op lowering, as
      one loop over groups and panels. Per panel, the gate and up blocks
      `[rows, P]` are multiplied into zero-filled buffers of their own
      (`bufferization.alloc_tensor`) and the activation of the two is
      written into the panel's columns of the result, so the `[rows, M]`
      projections are never stored.
    * `moe.experts`: expanded first (see `moe-expand-experts`).
    * `moe.route`, `moe.fused_route` and `moe.dispatch`: calls to private
      kernel functions (`__moe_route`, `__moe_gate_route`,
      `__moe_dispatch_<type>`, ...) written with scf and tensor ops,
      inserted into the module on first use. The op's attributes become
      constant call operands, so inlining followed by canonicalization
      specializes each call site.

    Routing math runs in f32 whatever the logits' type (as Mixtral does);
    the results are converted to the op's result types.
  }];
  let dependentDialects = [
    "mlir::arith::ArithDialect", "mlir::bufferization::BufferizationDialect",
    "mlir::func::FuncDialect",
    "mlir::linalg::LinalgDialect", "mlir::math::MathDialect",
    "mlir::memref::MemRefDialect", "mlir::scf::SCFDialect",
    "mlir::tensor::TensorDialect"
  ];
}

def ConvertMoEToGPU : Pass<"convert-moe-to-gpu", "mlir::ModuleOp"> {
  let summary = "Lower moe.grouped_matmul to a tensor-core GPU kernel and its launch";
  let description = [{
    The GPU path's lowering of the expert FFNs' grouped matmuls, their
    activation and the combine (routing and dispatch stay moe ops here).

    Each `moe.grouped_matmul` with one stacked `[E, K, N]` right-hand side of
    bf16 or f16 becomes a `gpu.launch_func` of a kernel in the `gpu.module`
    `@moe_kernels` (one kernel per signature, shared by all uses). The kernel
    multiplies 64x64 output tiles with `nvvm.mma.sync` m16n8k16 (fp32
    accumulators), operands staged through two stages of padded shared memory
    by `nvgpu.device_async_copy` (cp.async, zero-filled past the edges; the
    next k step's copies overlap the current step's mma) and read with
    `nvgpu.ldmatrix`. A bias `[E, N]` is added in the epilogue (fp32). One
    grid covers every group: its y dimension is an upper bound on the tiles of
    all groups, `(rows + (E + 1) * 63) / 64`, known on the host without
    reading the offsets; each block finds its group and row tile by walking
    the offsets on the device, so no host synchronization is needed (the
    launch can be captured in a CUDA graph). Tiles past `offsets[E]` write
    the zero rows; blocks past the last tile exit.

    For decode sizes (a few rows per group) a second, weight-streaming
    kernel of the same signature runs instead: with `kernel=auto` the host
    code launches it when `rows <= 16 * E` and the tile kernel otherwise
    (an `scf.if` on the row count, still no host synchronization);
    `kernel=decode` or `kernel=tile` forces one. Its blocks own a group's
    64-column slab, split K over 4 warps that keep 16 16-byte weight loads
    per lane in flight, multiply with `nvvm.mma.sync` straight from
    registers (rows padded to 16) and sum the warps in shared memory; the
    grid `(N / 64, min(rows, E + 1))` has no block for an empty group while
    rows <= E (docs/GPU.md).
    With `chip=sm_90a` the tile kernel is the Hopper one instead (same grid
    contract, 128x128 tiles): `nvgpu.tma.async.load` of 128-byte-swizzled
    boxes into a 3-stage shared-memory ring completed on `nvgpu.mbarrier`s,
    and wgmma m64n128k16 on shared-memory descriptors. The host encodes two
    TMA descriptors per launch (rows `[rows, K]`; the weights as
    `[E * K, N]`, or `[E * N, K]` for `transpose_rhs`), which the runtime
    caches. A K that is no multiple of 64 ends in a partial step.
    Where the weights allow (16-bit, not packed, at least 256 columns) and
    `wgmma-tile=auto`, the tile
    is 128x256 instead (kernels named `_ws256`): a producer warpgroup
    issues the loads into a 4-stage ring and two consumer warpgroups run
    wgmma m64n256k16 on 64 rows each, handing stages back through
    mbarriers (`setmaxnreg` moves registers to the consumers).
    `[E, N, K]` weights (`transpose_rhs`) are read as they are, by kernels
    named `_t`; weight-only quantized ones (a `moe.dequantize` feeding a
    transposed rhs) are read packed and expanded on chip by the decode and
    tile kernels (on sm_90a the threads expand them into the wgmma
    kernel's K-major B stage).

    Rejected with an error naming the reason: element types other than
    bf16/f16 (f32 and f64 have no m16n8k16 tensor-core form), operands whose
    type differs from `element-type`, per-group weights of different widths,
    `transpose_rhs` with `group_extents`, dynamic K or N, K or N not a
    multiple of 8 (the 16-byte copies), chips other than sm_80, sm_90 and
    sm_90a, and kernel names other than auto, tile and decode.

    Epilogues (docs/GPU.md): a `moe.activation` whose input (and, for
    `gate_layout = separate`, up) is a grouped matmul used only by it (with
    a bias: no `group_extents`; separate weights both biased or neither) is
    fused into that matmul's epilogue: one kernel, the bias and the
    activation applied to the fp32 accumulators (gated layouts: each block loads the
    gate and up columns of the same outputs). Other `moe.activation` ops
    become an element-wise kernel (no per-group `widths`). `moe.combine`
    becomes a gather kernel (one block per token and column chunk, f32 sums,
    deterministic), or with `combine=epilogue` and rows from a grouped
    matmul used only by it, fp32 atomic adds of `weight * row` (of `row`
    for an unweighted combine) into the zeroed token output from that
    matmul's epilogue (plus a row -> slot inverse kernel and, for 16-bit
    results, a conversion kernel).

    Routing: `moe.fused_route` and `moe.route` (token choice and top_p)
    become one launch of a routing kernel (one per signature): blocks of 8
    warps own 8 tokens; each warp computes router logits one expert at a
    time (16-byte loads along H, fp32 accumulation, shuffle reductions),
    then routes one token: softmax / sigmoid / softmax_after_topk /
    sparsemixer scores, selection bias (selection only), group-limited
    selection, k rounds of a warp argmax (ties to the lower expert, like
    the CPU kernels), top_p, renormalization, scaling, skip_ratio and
    expert_mask. Large routers are split over expert slices (grid.y): the
    logits go through a global workspace and the last block of each token
    tile routes it (no host synchronization). Expert choice: the same
    kernel only scores the tokens (an f32 [E, T] scratch), then one block
    of 1024 threads per expert radix-selects its C best tokens (four byte
    passes over the score bits; ties to the lower token, ranked with
    ballots) and bitonic-sorts them in descending order (in shared memory
    up to 4096, else in a global scratch), writing the ids and the dense
    gate; C = min(T, ceil(T * capacity_factor / E)) is computed on the
    host from T. Rejected with an error: more than 512 experts, k > 32,
    more than 32 expert groups, element types other than bf16/f16/f32, a
    dynamic hidden size, and `moe.gate` (run `--moe-fuse-gating` first).

    Dispatch: token-choice `moe.dispatch` (dropless, or in-order capacity)
    becomes four launches on one stream, every grid sized from T and k
    alone: per-warp histograms of 256-slot chunks (shared-memory atomics),
    a one-block scan (per expert over chunks, then over experts: the
    offsets, totals capped by the capacity), a scatter that ranks each
    warp's 32 slots with `match.any` + `popc` in token-then-slot order
    (deterministic, the CPU lowering's order) and writes the row map, and a
    gather of one block per row (zeros past offsets[E]; with scale_rows,
    each row times its slot's routing weight). Expert-choice dispatch needs
    no counting (expert e's rows are e * C .. (e + 1) * C): a clear of the
    [T, E] row map, a map kernel (row sources, row map, offsets) and the
    gather. A merged layer's `expert_map` renames the ids in the count and
    the scatter (a constant table in the kernel module). With `group_size`
    (capacity per group of G tokens) the count, scan and scatter take G and
    cut their chunks per group; the scan ranks within each group. With
    `drop_policy = by_weight` a scores kernel, the expert-choice selection
    and a mark kernel first flag each expert's `capacity` heaviest slots,
    which count and scatter then take. Rejected: a dynamic hidden size or
    k, more than 1024 experts.
  }];
  let options = [
    Option<"chip", "chip", "std::string", /*default=*/"\"sm_80\"",
           "Target chip: sm_80, sm_90 or sm_90a">,
    Option<"elementType", "element-type", "std::string", /*default=*/"\"\"",
           "Tensor-core operand type (bf16 or f16); empty: the op's own">,
    Option<"combine", "combine", "std::string", /*default=*/"\"kernel\"",
           "moe.combine as a separate gather kernel (kernel) or fp32 "
           "atomics in the second grouped matmul's epilogue (epilogue)">,
    Option<"kernel", "kernel", "std::string", /*default=*/"\"auto\"",
           "Grouped-matmul kernel: auto (decode kernel for rows <= 16 * E, "
           "else the tile kernel, chosen at run time), tile or decode">,
    Option<"wgmmaTile", "wgmma-tile", "std::string", /*default=*/"\"auto\"",
           "sm_90a tile kernel: auto (128x256 tiles on a producer and two "
           "consumer warpgroups where the weights allow, else 128x128) or "
           "128x128">,
    Option<"mmaTile", "mma-tile", "std::string", /*default=*/"\"auto\"",
           "sm_80/sm_90 tile kernel: auto (128x128 tiles of 8 warps on a "
           "4-stage cp.async ring where the weights allow, else 64x64) or "
           "64x64">,
    Option<"decodeBlocksPerSM", "decode-blocks-per-sm", "int64_t",
           /*default=*/"0",
           "Blocks per SM the 4-warp decode kernel is compiled for (nvvm.minctasm; 0: ptxas's choice, 168 registers with 12 of a lane's 24 loads before its first mma on sm_90a; 2: 200 registers, all 24), for comparisons">
  ];
  let dependentDialects = [
    "mlir::arith::ArithDialect", "mlir::bufferization::BufferizationDialect",
    "mlir::gpu::GPUDialect", "mlir::LLVM::LLVMDialect",
    "mlir::math::MathDialect",
    "mlir::memref::MemRefDialect", "mlir::NVVM::NVVMDialect",
    "mlir::nvgpu::NVGPUDialect", "mlir::scf::SCFDialect",
    "mlir::vector::VectorDialect"
  ];
}

def ONNXRaiseMoE : Pass<"onnx-raise-moe", "mlir::ModuleOp"> {
  let summary = "Recognize MoE layers in imported ONNX graphs and raise them to moe ops";
  let description = [{
    Replaces every recognized MoE layer of an imported ONNX graph (`onnx`
    dialect, typed by `--onnx-infer-shapes`) with `moe.gate`, `moe.route`,
    `moe.dispatch`, `moe.experts` and `moe.combine` computing the same
    function; everything else (shared experts included) stays as it is, and
    the graph nodes that only computed the layer are erased.

    Layers are recognized by what their values compute, looking through the
    exporters' casts, reshapes, (un)squeezes, flattens and weight
    transposes, with MatMul or Gemm(transB) linears, static or dynamic token
    counts. Recognized today:
    - onnxruntime's `com.microsoft.MoE` (softmax top-k routing with optional
      renormalization, relu / gelu / silu / identity / SwiGLU experts with
      interleaved, concatenated or separate gate and up projections, clamped
      SwiGLU, optional biases), with both weight layouts: `[E, out, in]`
      (current onnxruntime) and `[E, in, out]` (older models), told apart by
      the hidden size; its router MatMul (+ Add) becomes `moe.gate`;
    - onnxruntime's `com.microsoft.QMoE` (`quant_type = int`, 2-, 4- or
      8-bit weights, per row or block-wise scales, optional zero points):
      each packed weight stays the model's bytes (a signless `i8` view of
      the same resource) and feeds `moe.experts` through `moe.dequantize`;
    - experts run per routing slot on stacked weights gathered by the top-k
      indices (transformers' `batched_mm` experts, DeepSeek-V3 style stacked
      experts, gpt-oss's MLPBlock with Einsum), including sigmoid scores
      with a selection bias, group-limited selection, routed scaling,
      Ernie 4.5's division by clip(sum, min = epsilon) (`renormalize_clamp`)
      softmax over the chosen logits of a router with bias, and PhiMoE's
      sparsemixer (two argmaxes, jitter-masked softmax weights; anchored at
      the Concat of the two argmaxes);
    - per-expert loops (Mixtral / OLMoE / Qwen2-MoE): an expert's mask from
      the top-k indices, NonZero, gathered rows, the expert FFN, scaling by
      the routing weight and accumulation by ScatterElements / ScatterND.

    Routing weights are read backward from what scales the experts' outputs
    (scaling, renormalization and its epsilon, softmax over the chosen) to
    the TopK, then to the scores (softmax, sigmoid, biased, group-masked) and
    the router linear. A top-k classifier head, top-k sampling or an
    embedding gather is never raised: a layer needs experts whose weights
    are selected by the router's indices.

    With `report=<file>` (or moe-opt's `--moe-report=<file>`), a JSON entry
    per raised layer is written: kind, experts, k, routing attributes,
    expert widths, and the ONNX names of the layer's input, router logits
    and output tensors and of its weight initializers.

    With `remarks`, every decision (the weight layout assumed) and every
    near miss (a node that looks like an MoE layer but is not raised, and
    why) is reported as a remark on the node.
  }];
  let options = [
    Option<"remarks", "remarks", "bool", /*default=*/"false",
           "Explain raised layers and near misses with remarks">,
    Option<"report", "report", "std::string", /*default=*/"\"\"",
           "Write a JSON report of the raised layers to this file "
           "(moe-opt's --moe-report=<file> sets it for every run)">
  ];
  let dependentDialects = [
    "moe::MoEDialect", "mlir::tensor::TensorDialect", "mlir::arith::ArithDialect"
  ];
}

def ConvertONNXToLinalg : Pass<"convert-onnx-to-linalg", "mlir::ModuleOp"> {
  let summary = "Lower typed onnx ops to linalg, tensor, arith and math on tensors";
  let description = [{
    The CPU path's lowering of the ONNX operators that transformer and MoE
    exports use (run `onnx-infer-shapes` first: every onnx.node result must
    be a ranked tensor). Elementwise operators broadcast numpy-style (a
    dynamic dim is taken not to broadcast); MatMul and Gemm become
    contractions; Reshape-like operators become `tensor.reshape` with the
    shape computed at run time when it is not constant; TopK ranks each
    element (ties go to the lower index) and is sorted.

    What the types cannot say is checked at run time with `cf.assert` and a
    message naming the node: Split sizes and Reshape shapes against the
    input, indices of the gathers and scatters, TopK's k, sizes read from
    data (ConstantOfShape, Tile, OneHot, Expand) not negative, and dynamic dims
    that must agree (elementwise, Expand, Gemm's C, MatMul, Concat,
    Einsum). A dynamic dim is read without broadcasting, so one that is 1
    at run time against a larger one fails its check. The CPU pipeline
    makes a failed check an error of the runner
    (`moe-report-failed-checks`).

    `onnx.constant` becomes `arith.constant` with the same attribute, so a
    `dense_resource` weight stays a reference to its blob and is never
    copied. A node without a lowering is an error naming the node and its
    operator; nothing is changed then.
  }];
  let dependentDialects = [
    "mlir::arith::ArithDialect", "mlir::cf::ControlFlowDialect",
    "mlir::linalg::LinalgDialect", "mlir::math::MathDialect",
    "mlir::scf::SCFDialect", "mlir::tensor::TensorDialect"
  ];
}

#endif // MOE_CONVERSION_PASSES_TD
