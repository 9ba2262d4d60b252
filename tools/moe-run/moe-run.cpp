//===- moe-run.cpp - JIT-compile and run a moe-opt module on the CPU ------===//
//
//   moe-run MODEL.mlir|MODEL.mlirbc --input=@x.npy [--input=@y.npy ...]
//           [--output=@out0.npy ...] [--function=NAME]
//           [--benchmark-repetitions=N]
//
// Inputs and outputs follow the function's argument and result order, as in
// iree-run-module. A module that is not yet in the LLVM dialect goes through
// --moe-cpu-pipeline in process; the LLVM dialect is then JIT-compiled at -O3
// with mlir::ExecutionEngine. Every user error (bad flags, files, shapes,
// dtypes) is reported on stderr with exit code 1.
//
//===----------------------------------------------------------------------===//

#include "MemRefABI.h"
#include "Npy.h"
#include "Parameters.h"
#include "Signature.h"

#include "moe/Import/ONNX/ImportONNX.h"
#include "moe/InitAll.h"
#include "moe/Pipelines/Passes.h"
#include "moe/Pipelines/Pipelines.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallPtrSet.h"
#include "llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h"
#include "llvm/ExecutionEngine/Orc/Mangling.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/WithColor.h"
#include "llvm/Target/TargetMachine.h"

#include <algorithm>
#include <limits>
#include <malloc.h>

using namespace mlir;
using namespace llvm;
namespace npy = moe::npy;
namespace run = moe::run;

namespace {
namespace opts {
cl::OptionCategory category("moe-run options");
cl::opt<std::string> model(cl::Positional,
                           cl::desc("<model.mlir|model.mlirbc>"), cl::Required,
                           cl::cat(category));
cl::list<std::string>
    inputs("input",
           cl::desc("@FILE.npy for the next argument, in the function's "
                    "argument order; several sets of arguments, one after the "
                    "other, call the function once per set (compiled once)"),
           cl::value_desc("@file.npy"), cl::cat(category));
cl::list<std::string>
    outputs("output",
            cl::desc("@FILE.npy for the next result, in the function's result "
                     "order, call after call (as many for each); results "
                     "without one are summarized on stdout"),
            cl::value_desc("@file.npy"), cl::cat(category));
cl::opt<std::string> function("function",
                              cl::desc("Function to call (default: the only "
                                       "public one, else @main_graph, else "
                                       "the first)"),
                              cl::cat(category));
cl::opt<unsigned> repetitions(
    "benchmark-repetitions",
    cl::desc("After the first (warm-up) call, time N more calls and print "
             "the median and minimum latency (wall clock, and CPU time of "
             "the calling thread)"),
    cl::init(0), cl::cat(category));
cl::opt<bool> vectorize("vectorize",
                        cl::desc("Tile and vectorize matmuls when lowering "
                                 "(the pipeline's vectorize option)"),
                        cl::init(true), cl::cat(category));
cl::opt<bool> fuseGating("fuse-gating",
                         cl::desc("Fuse router logits and routing into one "
                                  "kernel (the pipeline's fuse-gating option)"),
                         cl::init(true), cl::cat(category));
cl::opt<int64_t> parameterMinBytes(
    "parameter-min-bytes",
    cl::desc("Constants of at least this many bytes are passed to the "
             "compiled code where they are (the mmap'd model) instead of "
             "being compiled in; negative: compile every constant in (the "
             "pipeline's parameter-min-bytes option)"),
    cl::init(65536), cl::cat(category));
cl::opt<bool> packParameters(
    "pack-parameters",
    cl::desc("Transpose weights that matmuls read transposed once, before "
             "the first call (the pipeline's pack-parameters option)"),
    cl::init(true), cl::cat(category));
cl::opt<bool> packPanels(
    "pack-panels",
    cl::desc("Store the constant weights of widening grouped matmuls in "
             "column panels, packed once before the first call (the "
             "pipeline's pack-panels option)"),
    cl::init(true), cl::cat(category));
cl::opt<bool> prefetchWeights(
    "prefetch-weights",
    cl::desc("Prefetch the next cache block of a matmul's weight while the "
             "current one is in use (the pipeline's prefetch-weights "
             "option)"),
    cl::init(true), cl::cat(category));
cl::list<int64_t>
    tileSizes("tile-sizes",
              cl::desc("Register tile sizes of the M, N and K loops of a "
                       "matmul (the pipeline's tile-sizes option)"),
              cl::CommaSeparated, cl::cat(category));
// llc's spelling: -O0 ... -O3. Tests that only compare numbers compile at
// -O0, where a run of a test export took 11-60% of -O3's time (deepseek_v3
// eager: 6.6-10.4 -> 1.2 s) and the small test shapes run in no time.
cl::opt<unsigned> optLevel("O",
                           cl::desc("LLVM optimization level of the JIT: -O0 "
                                    "compiles fastest, -O3 (default) runs "
                                    "fastest"),
                           cl::Prefix, cl::init(3), cl::cat(category));
cl::list<std::string>
    sharedLibs("shared-libs", cl::desc("Extra libraries for the JIT to load"),
               cl::CommaSeparated, cl::cat(category));
} // namespace opts

int fail(const Twine &message) {
  WithColor::error(errs(), "moe-run") << message << "\n";
  return 1;
}

int fail(Error err) { return fail(toString(std::move(err))); }

/// "@x.npy" -> "x.npy"; iree-run-module's other --input forms are not (yet)
/// supported.
Expected<std::string> fileOf(StringRef flag, StringRef value, unsigned index) {
  if (!value.starts_with("@") || value.size() == 1)
    return createStringError(
        inconvertibleErrorCode(),
        formatv("--{0}={1} (#{2}): expected @FILE.npy", flag, value, index));
  return value.drop_front().str();
}

bool isLowered(ModuleOp module) {
  WalkResult walk = module.getBody()->walk([](Operation *op) {
    return isa<LLVM::LLVMDialect>(op->getDialect()) ? WalkResult::advance()
                                                    : WalkResult::interrupt();
  });
  return !walk.wasInterrupted();
}

/// "3x4 float32 ('<f4')", for results that have no --output.
std::string summarize(const npy::Array &array) {
  std::string shape = array.shape.empty() ? "scalar" : "";
  for (auto [i, d] : llvm::enumerate(array.shape))
    shape += (i ? "x" : "") + std::to_string(d);
  return shape + " " + run::describeDescr(array.descr);
}

/// The compiled code allocates its intermediates with malloc and frees them
/// before it returns. glibc serves blocks of 128 KiB and more with mmap and
/// gives them back with munmap, so every call would fault in (and the kernel
/// zero) tens of MB again: 6% of a T = 512 layer's time went to clear_page.
/// Up to glibc's largest mmap threshold (32 MiB), they come from the heap
/// instead, and the heap is not trimmed, so repeated calls reuse the same
/// pages; onnxruntime does the same with its arena.
static void keepFreedMemoryForReuse() {
  (void)mallopt(M_MMAP_THRESHOLD, 32 << 20);
  (void)mallopt(M_TRIM_THRESHOLD, std::numeric_limits<int>::max());
}

/// A check of the compiled code failed (moe-report-failed-checks): the
/// message names the ONNX node and what does not hold for these inputs.
/// Results already written are incomplete, so the run ends here.
[[noreturn]] void reportRuntimeError(const char *message) {
  outs().flush();
  WithColor::error(errs(), "moe-run") << message << "\n";
  errs().flush();
  std::exit(1);
}

} // namespace

int main(int argc, char **argv) {
  InitLLVM init(argc, argv);
  keepFreedMemoryForReuse();
  registerMLIRContextCLOptions();
  registerPassManagerCLOptions();
  registerAsmPrinterCLOptions();
  // LLVM's own options (every target's) would bury ours in --help. They and
  // MLIR's are hidden, but --help-hidden still lists them (which
  // HideUnrelatedOptions alone would not).
  SmallPtrSet<cl::Option *, 16> reallyHidden;
  for (auto &[name, option] : cl::getRegisteredOptions())
    if (option->getOptionHiddenFlag() == cl::ReallyHidden)
      reallyHidden.insert(option);
  cl::HideUnrelatedOptions(opts::category);
  for (auto &[name, option] : cl::getRegisteredOptions())
    if (option->getOptionHiddenFlag() == cl::ReallyHidden &&
        !reallyHidden.contains(option))
      option->setHiddenFlag(cl::Hidden);
  cl::ParseCommandLineOptions(argc, argv,
                              "moe-run: run a moe-opt module on the CPU\n");

  std::optional<CodeGenOptLevel> codeGenLevel =
      CodeGenOpt::getLevel(opts::optLevel);
  if (!codeGenLevel)
    return fail(formatv("-O{0}: expected -O0, -O1, -O2 or -O3",
                        opts::optLevel.getValue()));

  // Read and check every input before compiling: a typo in a file name
  // should not cost a JIT compile.
  SmallVector<npy::Array> inputs;
  SmallVector<std::string> inputFiles;
  for (auto [i, flag] : llvm::enumerate(opts::inputs)) {
    Expected<std::string> file = fileOf("input", flag, i);
    if (!file)
      return fail(file.takeError());
    Expected<npy::Array> array = npy::read(*file);
    if (!array)
      return fail(formatv("input {0}: {1}", i, toString(array.takeError())));
    inputs.push_back(std::move(*array));
    inputFiles.push_back(*file);
  }
  SmallVector<std::string> outputFiles;
  for (auto [i, flag] : llvm::enumerate(opts::outputs)) {
    Expected<std::string> file = fileOf("output", flag, i);
    if (!file)
      return fail(file.takeError());
    outputFiles.push_back(*file);
  }

  DialectRegistry registry;
  moe::registerAllDialects(registry);
  registerBuiltinDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
  MLIRContext context(registry);
  context.loadAllAvailableDialects();

  llvm::SourceMgr sourceMgr;
  SourceMgrDiagnosticHandler diagnostics(sourceMgr, &context);
  OwningOpRef<ModuleOp> module;
  if (moe::isONNXFilename(opts::model)) {
    // Weights stay memory-mapped: the importer's resources reference the
    // model (and external data) files in place.
    module = moe::importONNXFile(opts::model, &context);
    if (!module)
      return fail("cannot import '" + opts::model + "'");
  } else {
    std::string openError;
    std::unique_ptr<MemoryBuffer> file = openInputFile(opts::model, &openError);
    if (!file)
      return fail("'" + opts::model + "': " + openError);
    sourceMgr.AddNewSourceBuffer(std::move(file), SMLoc());
    module = parseSourceFile<ModuleOp>(sourceMgr, &context);
    if (!module)
      return fail("cannot parse '" + opts::model + "'");
  }

  if (!isLowered(*module)) {
    mlir::PassManager pm(&context);
    if (failed(applyPassManagerCLOptions(pm)))
      return 1;
    moe::MoECPUPipelineOptions pipeline;
    pipeline.vectorize = opts::vectorize;
    pipeline.fuseGating = opts::fuseGating;
    pipeline.parameterMinBytes = opts::parameterMinBytes;
    pipeline.packParameters = opts::packParameters;
    pipeline.packPanels = opts::packPanels;
    pipeline.prefetchWeights = opts::prefetchWeights;
    pipeline.tileSizes =
        SmallVector<int64_t>(opts::tileSizes.begin(), opts::tileSizes.end());
    moe::buildMoECPUPipeline(pm, pipeline);
    if (failed(pm.run(*module)))
      return fail("lowering '" + opts::model +
                  "' with --moe-cpu-pipeline failed");
  }

  Expected<run::EntryPoint> entry =
      run::selectEntryPoint(*module, opts::function);
  if (!entry)
    return fail(entry.takeError());
  // Several sets of inputs share one compile: a test that runs a model at
  // several token counts pays the JIT once.
  size_t arity = entry->inputs.size();
  size_t calls = arity ? inputs.size() / arity : 1;
  if (calls == 0 || calls * arity != inputs.size()) {
    std::string expected;
    raw_string_ostream os(expected);
    for (auto [i, spec] : llvm::enumerate(entry->inputs))
      os << "\n  argument " << i << ": " << spec.type;
    return fail(formatv("@{0} takes {1} input(s) (or a multiple: one set "
                        "per call) but {2} --input flag(s) were given; "
                        "expected, in order:{3}",
                        entry->name, arity, inputs.size(), expected));
  }
  // Each call writes its first outputsPerCall results.
  size_t numResults = entry->results.size();
  size_t outputsPerCall = outputFiles.size() / calls;
  if (outputsPerCall * calls != outputFiles.size() ||
      outputsPerCall > numResults)
    return fail(formatv("@{0} has {1} result(s) but {2} --output flag(s) "
                        "were given for {3} call(s) (at most {1} per call, "
                        "as many for each)",
                        entry->name, numResults, outputFiles.size(), calls));
  for (auto [i, input] : llvm::enumerate(inputs))
    if (Error err = run::checkInput(*entry, i, inputFiles[i], input))
      return fail(std::move(err));

  // Weights reach the compiled code as arguments, bound before it is
  // compiled so that a missing blob costs no JIT compile.
  Expected<run::BoundParameters> parameters = run::bindParameters(*entry);
  if (!parameters)
    return fail(parameters.takeError());
  auto argsOfCall = [&](size_t call) {
    SmallVector<run::ArgBuffer> args;
    for (const npy::Array &input : ArrayRef(inputs).slice(call * arity, arity))
      args.push_back({input.data.data(), input.shape});
    llvm::append_range(args, parameters->buffers());
    return args;
  };

  // The signature attributes have served their purpose; LLVM IR has no use
  // for them.
  module->walk([](LLVM::LLVMFuncOp func) {
    func->removeAttr(moe::kEntrySignatureAttrName);
    func->removeAttr(moe::kParametersAttrName);
  });

  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  SmallVector<StringRef> libs = {MOE_MLIR_C_RUNNER_UTILS};
  for (const std::string &lib : opts::sharedLibs)
    libs.push_back(lib);
  ExecutionEngineOptions engineOptions;
  // The host's target machine (CPU and features, AVX-512 where there is
  // some) for the LLVM passes as well as for code generation: without it
  // the loop vectorizer has no cost model and leaves elementwise loops
  // (the activation) scalar.
  Expected<orc::JITTargetMachineBuilder> host =
      orc::JITTargetMachineBuilder::detectHost();
  if (!host)
    return fail(host.takeError());
  Expected<std::unique_ptr<TargetMachine>> targetMachine =
      host->createTargetMachine();
  if (!targetMachine)
    return fail(targetMachine.takeError());
  auto optimize =
      makeOptimizingTransformer(/*optLevel=*/opts::optLevel,
                                /*sizeLevel=*/0, targetMachine->get());
  // LLVM's x86 cost model prefers 256-bit vectors on AVX-512 chips, so the
  // loops it vectorizes itself (activations, softmax, copies) would use half
  // of the vector registers' width next to matmul tiles that use zmm anyway.
  // A named lambda: ExecutionEngineOptions::transformer is a function_ref,
  // which must not outlive what it refers to.
  auto transform = [optimize](llvm::Module *module) {
    for (llvm::Function &function : *module)
      if (!function.isDeclaration())
        function.addFnAttr("prefer-vector-width", "512");
    return optimize(module);
  };
  engineOptions.transformer = transform;
  engineOptions.jitCodeGenOptLevel = *codeGenLevel;
  engineOptions.sharedLibPaths = libs;
  Expected<std::unique_ptr<mlir::ExecutionEngine>> engine =
      mlir::ExecutionEngine::create(*module, engineOptions);
  if (!engine)
    return fail("JIT compilation failed: " + toString(engine.takeError()));
  (*engine)->registerSymbols([](orc::MangleAndInterner interner) {
    orc::SymbolMap symbols;
    symbols[interner(moe::kRuntimeErrorFunctionName)] = {
        orc::ExecutorAddr::fromPtr(&reportRuntimeError),
        JITSymbolFlags::Exported};
    return symbols;
  });

  for (size_t call = 0; call < calls; ++call) {
    SmallVector<npy::Array> results;
    if (Error err = run::invoke(**engine, *entry, argsOfCall(call), &results))
      return fail(calls == 1
                      ? std::move(err)
                      : createStringError(formatv("call {0}: {1}", call,
                                                  toString(std::move(err)))));
    for (auto [j, result] : llvm::enumerate(results)) {
      size_t output = call * outputsPerCall + j;
      if (j < outputsPerCall) {
        if (Error err =
                npy::write(outputFiles[output], result.descr, result.shape,
                           result.data.data(), result.data.size()))
          return fail(
              formatv("output {0}: {1}", output, toString(std::move(err))));
      } else {
        outs() << (calls == 1 ? "" : formatv("call {0} ", call).str())
               << formatv("result[{0}]: {1}\n", j, summarize(result));
      }
    }
  }

  if (opts::repetitions > 0) {
    // The first call's inputs.
    SmallVector<run::ArgBuffer> args = argsOfCall(0);
    SmallVector<double> wall, cpu;
    for (unsigned r = 0; r < opts::repetitions; ++r) {
      run::CallTime time;
      if (Error err = run::invoke(**engine, *entry, args, nullptr, &time))
        return fail(std::move(err));
      wall.push_back(time.wall * 1e3);
      cpu.push_back(time.cpu * 1e3);
    }
    auto median = [](SmallVector<double> &times) {
      llvm::sort(times);
      size_t n = times.size();
      return n % 2 ? times[n / 2] : 0.5 * (times[n / 2 - 1] + times[n / 2]);
    };
    double wallMedian = median(wall), cpuMedian = median(cpu);
    // The CPU time of the calling thread is what to compare on a machine
    // shared with other work: it leaves out the time spent waiting for a
    // core.
    outs() << formatv("benchmark: @{0} repetitions={1} median_ms={2:f6} "
                      "min_ms={3:f6} median_cpu_ms={4:f6} min_cpu_ms={5:f6}\n",
                      entry->name, wall.size(), wallMedian, wall.front(),
                      cpuMedian, cpu.front());
  }
  return 0;
}
