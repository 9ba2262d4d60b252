//===- Parameters.h - the data moe-run passes for parameters ----*- C++ -*-===//
//
// An entry point's trailing parameter arguments (moe-constants-to-parameters)
// get the bytes of the constants they replaced, where those bytes already
// are: for an imported model, the mmap'd model or external data file. Only a
// parameter that asks for a permutation (moe-pack-parameters: transposed
// matrices, column panels; the value's elements are read with the shape the
// permutation maps to the argument's), or whose bytes
// are not aligned to its element size (raw_data inside a protobuf), is copied,
// once, before the first call.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_TOOLS_MOE_RUN_PARAMETERS_H
#define MOE_TOOLS_MOE_RUN_PARAMETERS_H

#include "MemRefABI.h"

namespace moe::run {

class BoundParameters {
public:
  /// One buffer per parameter of the entry point, in order.
  llvm::ArrayRef<ArgBuffer> buffers() const { return args; }

private:
  friend llvm::Expected<BoundParameters> bindParameters(const EntryPoint &);
  llvm::SmallVector<ArgBuffer> args;
  /// The packed or aligned copies that some of `args` point into.
  llvm::SmallVector<npy::AlignedBuffer> copies;
};

/// The data of every parameter of `entry`. The buffers stay valid while the
/// BoundParameters and the entry's MLIRContext (which owns the resources)
/// live.
llvm::Expected<BoundParameters> bindParameters(const EntryPoint &entry);

} // namespace moe::run

#endif // MOE_TOOLS_MOE_RUN_PARAMETERS_H
