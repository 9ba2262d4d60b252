//===- MemRefABI.h - call a lowered entry point on npy arrays ---*- C++ -*-===//
//
// The ABI (what `llvm.emit_c_interface` generates for a public function):
//
//   void _mlir_ciface_f(Results *out, MemRef<T0, r0> *arg0, ...);
//
// where MemRef<T, r> is {T *allocated, T *aligned, int64_t offset,
// int64_t sizes[r], int64_t strides[r]} and Results is the struct of the
// result descriptors in order (a single result: its descriptor; no results:
// no `out` parameter). Every field is 8 bytes, so Results is the descriptors
// back to back. ExecutionEngine::invokePacked calls it through the generated
// `_mlir__mlir_ciface_f(void **)`, which takes the address of each parameter.
//
// Ownership: arguments stay the caller's (moe-prepare-entry-points makes them
// read-only); every result buffer is a fresh malloc'd allocation (the
// ownership-based deallocation pipeline clones anything else) that the caller
// frees with free(allocated).
//
//===----------------------------------------------------------------------===//

#ifndef MOE_TOOLS_MOE_RUN_MEMREFABI_H
#define MOE_TOOLS_MOE_RUN_MEMREFABI_H

#include "Npy.h"
#include "Signature.h"

namespace mlir {
class ExecutionEngine;
} // namespace mlir

namespace moe::run {

/// A row-major buffer passed as a memref argument; the caller owns it.
struct ArgBuffer {
  const void *data;
  llvm::ArrayRef<int64_t> shape;
};

/// How long one call took: wall-clock seconds, and the CPU seconds of the
/// calling thread (which runs the compiled code), which do not count the
/// time it waited for a core on a loaded machine.
struct CallTime {
  double wall = 0;
  double cpu = 0;
};

/// Calls `entry` once on `args`, its inputs and then its parameters (already
/// checked against its signature). With `results`, copies each result out as
/// a contiguous array; either way frees every buffer the call returned.
/// `time` gets the duration of the call alone.
llvm::Error invoke(mlir::ExecutionEngine &engine, const EntryPoint &entry,
                   llvm::ArrayRef<ArgBuffer> args,
                   llvm::SmallVectorImpl<npy::Array> *results,
                   CallTime *time = nullptr);

} // namespace moe::run

#endif // MOE_TOOLS_MOE_RUN_MEMREFABI_H
