//===- moe-opt.cpp - the moe-opt driver -----------------------------------===//
//
// mlir-opt with the moe dialect and every moe-opt pass registered. It also
// reads ONNX models directly (`moe-opt model.onnx [passes]`): they are
// imported into the same context that runs the passes, so the weights stay
// memory-mapped from import to output instead of going through a textual or
// bytecode copy of the module.
//
//===----------------------------------------------------------------------===//

#include "moe/Import/ONNX/ImportONNX.h"
#include "moe/InitAll.h"

#include "mlir/Bytecode/BytecodeWriter.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinDialect.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Support/Timing.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"

using namespace mlir;

static constexpr llvm::StringLiteral kToolName =
    "moe-opt: the Mixture-of-Experts compiler\n"
    "Inputs ending in .onnx or .onnxtext are imported as ONNX models.\n";

/// Without --mlir-elide-*-if-larger, output for an ONNX model elides
/// resources and elements attributes above these sizes: printing the hex of
/// every weight of a real MoE model is never what anyone wants.
static constexpr int64_t kDefaultResourceCharLimit = 1024;
static constexpr int64_t kDefaultElementsLimit = 1024;

/// True if `module` references a resource blob of more than `bytes` bytes.
static bool hasBlobLargerThan(ModuleOp module, uint64_t bytes) {
  bool found = false;
  module->walk([&](Operation *op) {
    op->getAttrDictionary().walk([&](DenseResourceElementsAttr attr) {
      AsmResourceBlob *blob = attr.getRawHandle().getBlob();
      found |= blob && blob->getData().size() > bytes;
    });
    return found ? WalkResult::interrupt() : WalkResult::advance();
  });
  return found;
}

/// Imports `inputFilename`, runs the command-line pipeline and writes the
/// result the way MlirOptMain would.
static LogicalResult runONNX(llvm::StringRef inputFilename,
                             llvm::StringRef outputFilename,
                             DialectRegistry &registry,
                             const MlirOptMainConfig &config) {
  if (config.shouldVerifyDiagnostics() || !config.inputSplitMarker().empty()) {
    llvm::errs() << "error: --verify-diagnostics and --split-input-file "
                    "apply to MLIR input only\n";
    return failure();
  }

  MLIRContext context(registry);
  context.allowUnregisteredDialects(config.shouldAllowUnregisteredDialects());
  llvm::SourceMgr sourceMgr;
  SourceMgrDiagnosticHandler diagHandler(sourceMgr, &context);

  DefaultTimingManager timingManager;
  applyDefaultTimingManagerCLOptions(timingManager);
  TimingScope timing = timingManager.getRootScope();

  TimingScope importTiming = timing.nest("ONNX import");
  OwningOpRef<ModuleOp> module = moe::importONNXFile(inputFilename, &context);
  importTiming.stop();
  if (!module)
    return failure();
  if (config.shouldVerifyOnParsing() && failed(verify(*module)))
    return failure();

  PassManager pm(module.get()->getName(), PassManager::Nesting::Implicit);
  pm.enableVerifier(config.shouldVerifyPasses());
  if (failed(applyPassManagerCLOptions(pm)))
    return failure();
  pm.enableTiming(timing);
  if (failed(config.setupPassPipeline(pm)))
    return failure();
  if (failed(pm.run(*module)))
    return failure();

  std::string errorMessage;
  std::unique_ptr<llvm::ToolOutputFile> output =
      openOutputFile(outputFilename, &errorMessage);
  if (!output) {
    llvm::errs() << errorMessage << "\n";
    return failure();
  }

  TimingScope outputTiming = timing.nest("Output");
  if (config.shouldEmitBytecode()) {
    BytecodeWriterConfig writerConfig;
    if (std::optional<int64_t> version = config.bytecodeVersionToEmit())
      writerConfig.setDesiredBytecodeVersion(*version);
    if (config.shouldElideResourceDataFromBytecode())
      writerConfig.setElideResourceDataFlag();
    if (failed(writeBytecodeToFile(*module, output->os(), writerConfig)))
      return failure();
  } else {
    // OpPrintingFlags() picks up the --mlir-print-* options; only limits the
    // user left unset get our defaults.
    OpPrintingFlags flags;
    if (!flags.getLargeResourceStringLimit())
      flags.elideLargeResourceString(kDefaultResourceCharLimit);
    if (!flags.getLargeElementsAttrLimit())
      flags.elideLargeElementsAttrs(kDefaultElementsLimit);
    // MLIR's printer renders every blob as hex before it applies the elision
    // limit, which costs several times the weight bytes. When a blob would
    // be elided anyway, print in local scope: that skips the resource section
    // (and aliases) altogether.
    if (hasBlobLargerThan(*module, *flags.getLargeResourceStringLimit() / 2))
      flags.useLocalScope();
    module->print(output->os(), flags);
    output->os() << '\n';
  }
  output->keep();
  return success();
}

int main(int argc, char **argv) {
  DialectRegistry registry;
  moe::registerAllDialects(registry);
  moe::registerAllPasses();

  auto [inputFilename, outputFilename] =
      registerAndParseCLIOptions(argc, argv, kToolName, registry);
  if (!moe::isONNXFilename(inputFilename))
    return asMainReturnCode(
        MlirOptMain(argc, argv, inputFilename, outputFilename, registry));

  llvm::InitLLVM initLLVM(argc, argv);
  MlirOptMainConfig config = MlirOptMainConfig::createFromCLOptions();
  return asMainReturnCode(
      runONNX(inputFilename, outputFilename, registry, config));
}
