//===- onnx-import-fuzzer.cpp - libFuzzer target for the ONNX importer ----===//
//
// Feeds each input to moe::importONNX as a binary model and, when the bytes
// look like text, also as .onnxtext. Any import failure is fine; what is not:
// a crash, a sanitizer report, a leak, a hang, a failure without an error
// diagnostic, or a module that does not verify.
//
// External data locations resolve inside an empty directory made for this
// process, so a model can never make the fuzzer read a file.
//
//   moe-onnx-import-fuzzer -max_total_time=60 NEW_DIR test/fuzz/corpus
//
//===----------------------------------------------------------------------===//

#include "moe/Import/ONNX/ImportONNX.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/OperationSupport.h"
#include "mlir/IR/Verifier.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace {

/// The empty directory that external data locations are relative to.
llvm::SmallString<128> &externalDataDir() {
  static llvm::SmallString<128> dir;
  return dir;
}

void removeExternalDataDir() {
  if (!externalDataDir().empty())
    llvm::sys::fs::remove(externalDataDir());
}

[[noreturn]] void fail(const char *why) {
  std::fprintf(stderr, "moe-onnx-import-fuzzer: %s\n", why);
  std::abort();
}

/// True for bytes worth parsing as .onnxtext: the syntax starts with '<'
/// (the model header) or a comment, else all bytes must be printable text.
bool looksLikeText(llvm::StringRef bytes) {
  llvm::StringRef start = bytes.ltrim();
  if (start.starts_with("<") || start.starts_with("#"))
    return true;
  for (char c : bytes) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 && c != '\n' && c != '\r' && c != '\t')
      return false;
  }
  return !bytes.empty();
}

void importOnce(llvm::StringRef bytes, moe::ONNXFormat format) {
  // A fresh context per input: nothing (uniqued attributes, resource blobs)
  // accumulates across inputs, and no thread pool is started.
  mlir::MLIRContext context(mlir::MLIRContext::Threading::DISABLED);
  unsigned errors = 0;
  mlir::ScopedDiagnosticHandler handler(&context, [&](mlir::Diagnostic &diag) {
    if (diag.getSeverity() == mlir::DiagnosticSeverity::Error)
      ++errors;
    return mlir::success(); // Discard: failures are expected.
  });

  // A copy, so that the sanitizer sees reads past the end of the model.
  std::unique_ptr<llvm::MemoryBuffer> buffer =
      llvm::MemoryBuffer::getMemBufferCopy(
          bytes,
          format == moe::ONNXFormat::Text ? "fuzz.onnxtext" : "fuzz.onnx");
  mlir::OwningOpRef<mlir::ModuleOp> module =
      moe::importONNX(std::move(buffer), format, externalDataDir(), &context);
  if (!module) {
    if (errors == 0)
      fail("the import failed without an error diagnostic");
    return;
  }
  if (errors != 0)
    fail("the import emitted an error but returned a module");
  if (mlir::failed(mlir::verify(*module)))
    fail("the imported module does not verify");
  // Print it (attributes, resources and all) to catch malformed IR that the
  // verifier lets through.
  std::string text;
  llvm::raw_string_ostream os(text);
  module->print(os, mlir::OpPrintingFlags().elideLargeResourceString(64));
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *argc, char ***argv) {
  if (std::error_code ec = llvm::sys::fs::createUniqueDirectory(
          "moe-onnx-fuzz-external-data", externalDataDir())) {
    std::fprintf(stderr,
                 "moe-onnx-import-fuzzer: cannot create a directory: %s\n",
                 ec.message().c_str());
    std::exit(1);
  }
  std::atexit(removeExternalDataDir);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  llvm::StringRef bytes(reinterpret_cast<const char *>(data), size);
  importOnce(bytes, moe::ONNXFormat::Binary);
  if (looksLikeText(bytes))
    importOnce(bytes, moe::ONNXFormat::Text);
  return 0;
}
