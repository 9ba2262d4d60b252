//===- Passes.td - helper passes of the moe pipelines ------*- tablegen -*-===//
//
// Small passes that only the end-to-end pipelines need; dialect passes live in
// dialect/*/Passes.td.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_PIPELINES_PASSES
#define MOE_PIPELINES_PASSES

include "mlir/Pass/PassBase.td"

def MoEPrepareEntryPoints
    : Pass<"moe-prepare-entry-points", "mlir::ModuleOp"> {
  let summary = "Fix the host calling convention of public functions";
  let description = [{
    Every public `func.func` with a body is an entry point that `moe-run` (or
    any C caller) may call. This pass, run while the functions are still on
    tensors, gives each of them:

    - `llvm.emit_c_interface`, so that the LLVM lowering emits
      `_mlir_ciface_<name>`, which takes every memref as a pointer to its
      descriptor and returns the results through a pointer to a struct of
      descriptors passed first;
    - `moe.entry_signature`, the tensor function type, which survives the
      lowering to the LLVM dialect (where types are only pointers) so that a
      runner can check its inputs against an already lowered module;
    - `bufferization.writable = false` on every tensor argument, so that
      bufferization copies instead of writing into a caller's input buffer:
      inputs are read-only, and running a function twice gives the same result.
  }];
}

def MoETileAndVectorize
    : Pass<"moe-tile-and-vectorize", "mlir::func::FuncOp"> {
  let summary = "Tile matmul-like linalg ops and vectorize the tiles";
  let description = [{
    Tiles every `linalg.matmul` and `linalg.batch_matmul` (on tensors) into
    register-sized tiles with `scf.for` loops and vectorizes each tile with
    masked vector ops, so that dynamic sizes (the token count) need no
    remainder loop. Other linalg ops are left for `convert-linalg-to-loops`.
    Matmuls with a plain [K, N] right-hand side also get reduction blocks of
    128 and their column loop outside the row loop (cache reuse of the
    right-hand side), and the rows of a partial tile outside the K loop
    (accumulators in registers). Their default register tile is 4 x 64 x 4
    (M, N, K), and 8 x 32 x 8 for groups of fewer than 8 rows and for the
    other matmuls; `tile-sizes` replaces both.

    With `prefetch-weights`, every full row tile of such a blocked matmul
    also prefetches (`memref.prefetch` into L2, on the weight seen through
    a read-only `bufferization.to_buffer`) cache lines of the block that
    comes next: the next column tile of the reduction block, else the first
    one of the next block, else the first block of the next matrix of the
    weight (next panel, next group). The block's lines are dealt out to the
    reduction steps of consecutive row tiles, four row tiles per block;
    with more row tiles (a run-time count), only every 2^s-th step fetches,
    so that all of them share one block instead of fetching it again.
  }];
  let options = [
    ListOption<"tileSizes", "tile-sizes", "int64_t",
               "Tile sizes of the (batch,) M, N and K loops of a matmul">,
    Option<"prefetchWeights", "prefetch-weights", "bool", "true",
           "Prefetch the next cache block of a blocked matmul's right-hand "
           "side while the current one is in use">,
  ];
  let dependentDialects = ["mlir::scf::SCFDialect",
                           "mlir::affine::AffineDialect",
                           "mlir::bufferization::BufferizationDialect",
                           "mlir::memref::MemRefDialect",
                           "mlir::vector::VectorDialect",
                           "mlir::tensor::TensorDialect",
                           "mlir::arith::ArithDialect"];
}

def MoEApproximateMath
    : Pass<"moe-approximate-math", "mlir::func::FuncOp"> {
  let summary = "Polynomial f32 exp in elementwise linalg.generic bodies";
  let description = [{
    `math.exp` lowers to a call of libm's `expf` per element, and a call in a
    loop body keeps LLVM from vectorizing the loop: the activation of an MoE
    layer (SiLU, SwiGLU) ran one scalar `expf` per element of the
    [rows, intermediate] tensor. This pass rewrites the f32 `math.exp` ops
    inside the bodies of `linalg.generic` ops whose iterators are all
    parallel (activations, elementwise ops) into MLIR's polynomial
    approximation (a few ulp; arith and bit operations only), so that the
    loops that `convert-linalg-to-loops` makes of them vectorize. Everything
    else, the routing kernels' softmax included, keeps `math.exp`.
  }];
  let dependentDialects = ["mlir::arith::ArithDialect",
                           "mlir::math::MathDialect",
                           "mlir::vector::VectorDialect"];
}

def MoEReportFailedChecks
    : Pass<"moe-report-failed-checks", "mlir::ModuleOp"> {
  let summary = "cf.assert calls a runtime error function instead of abort";
  let description = [{
    The lowerings check at run time what the types cannot say (a Split's
    sizes against its axis, indices, dynamic dimensions that must agree) with
    `cf.assert` and a message naming the ONNX node. Upstream's lowering of
    `cf.assert` prints the message with `puts` and calls `abort`: the
    process dies of SIGABRT. This pass rewrites each `cf.assert` into a
    branch to a call of `function(message)` (a C function taking a
    null-terminated string) followed by `llvm.unreachable`, so that the
    runner reports the failure as an error and exits with code 1 (moe-run
    defines `moe_runtime_error`). Run it before `convert-cf-to-llvm`.
  }];
  let options = [
    Option<"function", "function", "std::string",
           "moe::kRuntimeErrorFunctionName.str()",
           "The C function that reports the message and does not return">
  ];
  let dependentDialects = ["mlir::LLVM::LLVMDialect",
                           "mlir::cf::ControlFlowDialect"];
}

def MoEConstantsToParameters
    : Pass<"moe-constants-to-parameters", "mlir::ModuleOp"> {
  let summary = "Pass large constants to entry points as arguments";
  let description = [{
    Weights must not be copied into the generated code: an LLVM global
    initialized with the weights makes compile time and memory grow with the
    weight bytes (gigabytes for real MoE layers). Every `arith.constant` of a
    public function whose value is a `dense_resource` (the importer's
    memory-mapped weights) or a non-splat `dense` of at least `min-bytes`
    bytes becomes a trailing argument of that function instead, and the
    function records where the argument's data comes from in its
    `moe.parameters` attribute: one dictionary per trailing parameter
    argument, in order, whose `value` is the constant. A runner (like
    `moe-run`) passes the user's inputs first and then a pointer to the data
    of each `value`, which for the importer's resources is the mmap'd model
    file itself: nothing is copied. Private functions keep their constants:
    the kernels they hold carry none large enough to matter.

    Run it on tensors, before moe-prepare-entry-points, so that the recorded
    entry signature includes the parameters.
  }];
  let options = [
    Option<"minBytes", "min-bytes", "int64_t", /*default=*/"65536",
           "Smallest constant (in bytes) that becomes a parameter; a "
           "negative value keeps every constant">,
  ];
}

def MoEPackParameters
    : Pass<"moe-pack-parameters", "mlir::ModuleOp"> {
  let summary = "Store parameters in the layout their matmuls read fastest";
  let description = [{
    Weights stored [out, in] (onnxruntime's MoE and torch nn.Linear layout;
    [E, out, in] when stacked) feed matmuls with a transposed right-hand side,
    whose operand tiles must be transposed in registers in every tile of
    every call. Parameters (see moe-constants-to-parameters) are constants
    the runner binds once, so they can be stored transposed once instead:
    a parameter whose only readers are such matmuls (directly, or through a
    slice of one stacked matrix) gets its last two dimensions swapped, the
    matmuls read it with the plain [in, out] map, and its entry in
    `moe.parameters` gets `permutation = array<i64: ...>`, the order of the
    source's dimensions in the argument (as in linalg.transpose): a runner
    passes the source's data permuted that way.

    A parameter whose only reader is a change of layout, `linalg.transpose`
    of it or of a static `tensor.expand_shape` of it (moe-pack-panels'
    column panels), is stored changed: the argument takes the transposed
    type and the entry gets the transpose's permutation. Then the value's
    elements, in their row-major order, are read as a tensor of the
    transpose's input shape (the source shape the permutation maps to the
    argument's), e.g. `[E, K, M]` as `[E, K, M / 64, 64]`.
  }];
}

def MoEPackPanels : Pass<"moe-pack-panels", "mlir::ModuleOp"> {
  let summary = "Store the constant weights of widening grouped matmuls in "
                "column panels";
  let description = [{
    A `moe.grouped_matmul` whose rhs is an f32 `arith.constant` `[E, K, M]`
    (or `[E, M, K]` with `transpose_rhs`), or one constant `[K, M]` per group
    all of one shape (per-expert loop exports), with `M > K` and `M` a
    multiple of `width` (the gate and up projections of an expert FFN) reads
    it as contiguous column panels instead: each weight goes through
    `tensor.expand_shape` and `linalg.transpose` to `[(E,) M / width, K,
    width]` and the op gets `panels`, which the CPU lowering walks one panel
    at a time (see moe.grouped_matmul). Other grouped matmuls (the down
    projection, weights that are arguments, other element types) keep their
    layout: there it measured no faster.

    Groups of a few rows read panels slower than the plain matrix, so the
    panels are used by a call only if its rows average at least
    `min-rows-per-group` per group: an `scf.if` on the row count chooses
    between the op on panels and the op as it was (with a static row count,
    the choice is made here).

    A gate and an up projection that both qualify, share lhs and offsets,
    and feed only one `moe.activation` move into the same branch of the
    row-count choice as that activation (one `scf.if` for the three), so
    that `convert-moe-to-linalg` can run them panel by panel.

    The change of layout is ordinary IR and runs on every call unless
    something folds it; after moe-constants-to-parameters,
    moe-pack-parameters moves it into the parameter, which the runner packs
    once. The CPU pipeline runs this pass only when it packs parameters.
  }];
  let options = [
    Option<"width", "width", "int64_t", /*default=*/"64",
           "Columns per panel (four AVX-512 registers of f32)">,
    Option<"minRowsPerGroup", "min-rows-per-group", "int64_t",
           /*default=*/"8",
           "Fewest rows per group, on average over a call, that use the "
           "panels (the row count of moe-tile-and-vectorize's few-rows "
           "schedule)">,
    Option<"maxSeparateGroups", "max-separate-groups", "int64_t",
           /*default=*/"16",
           "Most groups with one weight each (a per-expert loop export) "
           "that get panels: the lowering emits each such group's matmul "
           "separately, and panels beside the plain form double that code "
           "(at 64 experts: twice the compile time, 10x the compiler's "
           "memory)">,
  ];
  let dependentDialects = ["mlir::arith::ArithDialect",
                           "mlir::linalg::LinalgDialect",
                           "mlir::scf::SCFDialect",
                           "mlir::tensor::TensorDialect"];
}

def MoEGPUEntryPoints : Pass<"moe-gpu-entry-points", "mlir::ModuleOp"> {
  let summary = "C entry points that launch the grouped matmul kernels on "
                "the caller's device buffers and stream";
  let description = [{
    For a library built ahead of time (`moe-gpu-aot`, include/moe-c/GPU.h):
    the `moe.grouped_matmul` ops of the module's functions (other than the
    `moe.gpu_layer` ones, below, whose ops go into their layer entry only)
    name the signatures to compile (element type, E, K, N). For each distinct one the pass builds the
    tensor-core kernel (as `convert-moe-to-gpu` does) and adds a branch to

    ```mlir
    func.func @moe_gpu_grouped_matmul_dispatch(%dtype: i32, %experts: i64,
        %k: i64, %n: i64, %lhs: !llvm.ptr, %rhs: !llvm.ptr,
        %offsets: !llvm.ptr, %out: !llvm.ptr, %rows: i64,
        %stream: !gpu.async.token) -> i32
    ```

    which wraps the raw device pointers in memref descriptors (dense,
    row-major: lhs [rows, K], rhs [E, K, N], offsets [E + 1] of i64, out
    [rows, N]), launches the matching kernel on `stream` (no allocation, no
    wait; with `kernel=auto` the decode kernel for rows <= 16 * E, else the
    tile kernel, as convert-moe-to-gpu does) and returns 0, or returns 1 when no signature matches. `dtype` is
    0 for bf16 and 1 for f16. `@moe_gpu_grouped_matmul_lookup(%dtype,
    %experts, %k, %n) -> i32` says (1 or 0) whether a signature is compiled
    without touching the device.

    Each function of the module marked `moe.gpu_layer` also becomes a layer
    entry (layer i is the i-th such function; `moe.gpu_combine = "kernel" |
    "epilogue"` on it overrides the `combine` option): its moe ops' kernels (as convert-moe-to-gpu lowers them,
    fused epilogues included) launched in order on the caller's stream, on
    the caller's buffers, with every intermediate in a caller-provided
    workspace, so that a call allocates nothing, never waits and can be
    captured in a CUDA graph:

    ```mlir
    func.func @moe_gpu_layer_forward(%layer: i32, %buffers: !llvm.ptr,
        %dims: !llvm.ptr, %workspace: !llvm.ptr, %stream: !gpu.async.token)
        -> i32
    func.func @moe_gpu_layer_workspace(%layer: i32, %dims: !llvm.ptr) -> i64
    func.func @moe_gpu_layer_info(%layer: i32, %what: i32) -> i32
    llvm.mlir.global @moe_gpu_layer_names  // "name0\0name1\0...\0"
    ```

    `buffers` holds a device pointer per function argument, then per result
    (dense, row-major); `dims` the leading size of each argument whose
    leading dimension is dynamic, in order (no other dimension may be). The
    workspace holds each intermediate at a 256-byte aligned offset;
    `@moe_gpu_layer_workspace` returns its size for `dims`. `info` returns
    the buffer count (what = 0) or the dims count (what = 1), -1 for an
    unknown layer; forward returns 1 for an unknown layer, else 0.

    The module's functions are erased afterwards, so the library holds the
    entries alone. Rejected with an error naming the op (the module is left
    unchanged): grouped matmuls without a GPU form (see convert-moe-to-gpu),
    with a bias, or with offsets other than i64; in a layer, ops other than
    moe.fused_route, moe.route, moe.dispatch, moe.grouped_matmul,
    moe.activation and moe.combine (or without a GPU form), arguments with a
    dynamic dimension other than the leading one, and results that are
    arguments or returned twice.
  }];
  let options = [
    Option<"chip", "chip", "std::string", /*default=*/"\"sm_80\"",
           "Target chip: sm_80, sm_90 or sm_90a">,
    Option<"combine", "combine", "std::string", /*default=*/"\"kernel\"",
           "moe.combine in a layer: kernel or epilogue (convert-moe-to-gpu)">,
    Option<"kernel", "kernel", "std::string", /*default=*/"\"auto\"",
           "Grouped-matmul kernel: auto (decode kernel for rows <= 16 * E, "
           "else the tile kernel, chosen at run time), tile or decode">,
    Option<"wgmmaTile", "wgmma-tile", "std::string", /*default=*/"\"auto\"",
           "sm_90a tile kernel: auto or 128x128 (convert-moe-to-gpu)">,
    Option<"mmaTile", "mma-tile", "std::string", /*default=*/"\"auto\"",
           "sm_80/sm_90 tile kernel: auto or 64x64 (convert-moe-to-gpu)">,
    Option<"decodeBlocksPerSM", "decode-blocks-per-sm", "int64_t",
           /*default=*/"0",
           "Blocks per SM the 4-warp decode kernel is compiled for "
           "(convert-moe-to-gpu)">
  ];
  // The kernel builder's dialects too (see convert-moe-to-gpu).
  let dependentDialects = [
    "mlir::arith::ArithDialect", "mlir::gpu::GPUDialect",
    "mlir::LLVM::LLVMDialect", "mlir::math::MathDialect", "mlir::memref::MemRefDialect",
    "mlir::NVVM::NVVMDialect", "mlir::nvgpu::NVGPUDialect",
    "mlir::scf::SCFDialect", "mlir::vector::VectorDialect"
  ];
}

def MoEPrepareGPULayers : Pass<"moe-prepare-gpu-layers", "mlir::ModuleOp"> {
  let summary = "Outline each MoE layer of a model as a GPU layer function";
  let description = [{
    Every `moe.combine` of a function ends an MoE layer: the moe ops it is
    computed from (`moe.fused_route` or `moe.route`, `moe.dispatch`,
    `moe.grouped_matmul`, `moe.activation`, `moe.scatter_columns`, the
    combine) move into a new
    private function `@<caller>_moe_layer<i>` marked `moe.gpu_layer`, which
    `moe-gpu-aot` (moe-gpu-entry-points) turns into a `moe_layer_forward`
    entry; the caller calls it instead. Everything the layer reads from
    outside, the weights (constants) included, becomes an argument, a
    device buffer of the entry.

    With `element-type` (bf16, the default, or f16), the tokens, the router
    and expert weights, the dispatched rows, the activations and the result
    are in that type inside the layer (routing logits, biases, routing
    weights, offsets and maps keep theirs), and a `transpose_rhs` grouped
    matmul reads its weights `[in, out]` (unless `keep-transposed`: then
    without group_extents they stay `[out, in]`, as the model stores them,
    and the GPU kernels read them along K, the wgmma kernel on sm_90a with B
    K-major): the caller converts (and transposes) each argument with
    `linalg` ops and converts the result back, so the model still runs, on
    the CPU, with the layer's numerics.
    Per-group weights of one shape are stacked; per-group weights of
    different shapes (heterogeneous experts) are zero-padded to the largest
    and stacked, with each group's own `[K, N]` as `group_extents`, the two
    halves of a concatenated gate/up weight padded apart so that every
    group's up columns start at the same column; an activation with
    per-group `widths` becomes uniform when its users are padded matmuls
    that read at most each group's width. An inner width that is not a
    multiple of 8 (a compression's rank or kept columns), read only by
    matmuls and scatters, grows to one: zero weight columns and rows, and
    column indices -1 for a scatter (the kernels copy 16-byte chunks).
    Quantized weights (QMoE) whose `moe.dequantize` feeds only the
    transposed rhs of grouped matmuls, in a form the GPU decode kernel reads
    (2, 4 or 8 bits, K a multiple of 32 (16 for 8 bits), a block size that is a
    multiple of 4), go into the layer packed, with the `moe.dequantize`: the
    layer takes the bytes, scales and zero points as they are, and its
    kernels expand them in registers. Others are expanded by the caller:
    their `moe.dequantize` stays out of the layer, which takes the floats.
    `report` writes, per layer, what each buffer is (the caller's argument
    with its ONNX name, a constant with its resource name, the stacked or
    padded pieces it is built from, the packed weight, scales and zero
    points a `dequantized` one comes from with its bits, block size and
    columns, or another value),
    its shape and type and whether it is transposed: what a GPU caller
    passes. A value computed in the caller by an ONNX node carries the
    node's type and the ONNX name of the value.

    Rejected with an error naming the op: `moe.gate` (run `--moe-fuse-gating`
    first), `moe.experts` (run `--moe-expand-experts` first), other moe ops
    in a layer, layer values used outside the layer, and operands from
    outside that are neither tensors nor indices. An index from outside
    (the run-time `group_size` of a Switch per-sequence capacity) becomes an
    index argument of the layer, which its entry takes among its `dims`;
    the report describes it as a `dim` of a tensor (the model input's
    sequence length), a constant or another value.
  }];
  let options = [
    Option<"elementType", "element-type", "std::string", /*default=*/"\"bf16\"",
           "Element type of the layer's activations and weights: bf16, f16, "
           "or empty to keep the model's">,
    Option<"reportFile", "report", "std::string", /*default=*/"\"\"",
           "Write the layers' buffers as JSON to this file ('-': stdout)">,
    Option<"makePublic", "public", "bool", /*default=*/"false",
           "Make the layer functions public (moe-run --function can then "
           "run one alone)">,
    Option<"keepTransposed", "keep-transposed", "bool", /*default=*/"false",
           "Pass transpose_rhs expert weights [out, in] as the model stores "
           "them where no group_extents are needed (no transposed copy; the "
           "kernels read them along K) instead of "
           "[in, out]">
  ];
  let dependentDialects = ["mlir::arith::ArithDialect",
                           "mlir::linalg::LinalgDialect",
                           "mlir::tensor::TensorDialect"];
}

def MoEGPUTensorMapParams
    : Pass<"moe-gpu-tensor-map-params", "mlir::ModuleOp"> {
  let summary = "Pass TMA descriptors to kernels by value, as "
                "__grid_constant__ parameters";
  let description = [{
    Runs in `--moe-gpu-pipeline` after the kernels are NVVM `llvm.func`s
    and the host launches have LLVM operands, before `gpu-module-to-binary`.
    A kernel marked `moe.tensor_map_params = N` (the sm_90a grouped matmul)
    takes its last N arguments, pointers to CUtensorMaps, as
    `ptr byval([16 x i64]) align 64` with `nvvm.grid_constant`: a 128-byte
    `.param` whose address the TMA instructions use (what CUDA's
    `__grid_constant__ const CUtensorMap` is). Each `gpu.launch_func` of it
    passes the 128 bytes the host pointer points at instead of the pointer
    (a null pointer, a map the driver refused, passes zeros; the launch's
    grid is then empty). The maps thus travel in the launch's parameters: no
    device copy, and a CUDA graph records them. The runtime's
    `mgpuTensorMapEncodeTiledMemref` returns host maps for this reason.

    Rejected with an error naming the kernel or launch: N not a positive
    integer or larger than the kernel's arguments, a kernel still a
    `gpu.func`, and map arguments or launch operands that are not `!llvm.ptr`.
  }];
  let dependentDialects = ["mlir::LLVM::LLVMDialect", "mlir::NVVM::NVVMDialect"];
}

def MoEGPUDependentLaunch
    : Pass<"moe-gpu-dependent-launch", "mlir::ModuleOp"> {
  let summary = "Let each kernel launch while the one before it drains "
                "(programmatic dependent launch, sm_90 and later)";
  let description = [{
    Between two kernels on a stream the GPU normally idles: the second grid
    is launched only once the first has finished. A decode step's MoE
    layer is a chain of short kernels (routing, dispatch, gather, two
    grouped matmuls, combine), where those gaps weigh. On sm_90 and later a
    kernel launched with programmatic stream serialization may start once
    every block of the one before it has run `griddepcontrol.launch_dependents`
    (or exited), and its `griddepcontrol.wait` then waits for that grid to
    complete and its memory to be visible.

    Every kernel of every `gpu.module` gets both at the top of its entry
    block, `wait` first: nothing a kernel does can see a predecessor's
    unfinished writes, and what overlaps is the launch of the next grid and
    the placing of its blocks. The module also gets the global
    `moe_griddepcontrol_wait` (1 byte, value 1): the runtime looks for it
    when it loads a module and launches that module's kernels through
    `cuLaunchKernelEx` with the attribute (`moe_gpu_set_dependent_launch`
    turns it off), all others as before. A kernel launched without the
    attribute passes its `wait` at once.

    `--moe-gpu-pipeline` runs it, once the kernels are NVVM `llvm.func`s,
    when `chip` is sm_90 or later and `dependent-launch` is on (the
    default). Running it twice changes nothing. Rejected with an error
    naming the module: a `gpu.module` without an `#nvvm.target`, or whose
    target chip is older than sm_90 (`griddepcontrol` does not exist there).
  }];
  let dependentDialects = ["mlir::LLVM::LLVMDialect", "mlir::NVVM::NVVMDialect"];
}

def MoEWriteGPUObjects
    : Pass<"moe-write-gpu-objects", "mlir::ModuleOp"> {
  let summary = "Write the objects of the gpu.binary ops to a file";
  let description = [{
    After `gpu-module-to-binary`, each `gpu.binary` holds its kernels as an
    object attribute: PTX text for `format=isa`, a cubin for `format=bin`.
    This pass writes that object to `file` so that ptxas, cuobjdump and
    FileCheck can read it; the module is unchanged. The module must hold
    exactly one object (one binary of one target), else the pass fails
    saying how many it found.
  }];
  let options = [
    Option<"file", "file", "std::string", /*default=*/"\"\"",
           "Where to write the object ('-' for stdout)">
  ];
}

#endif // MOE_PIPELINES_PASSES
