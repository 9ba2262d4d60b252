//===- Signature.h - which function moe-run calls and with what -*- C++ -*-===//
//
// After the LLVM lowering every tensor is a pointer; the tensor signature
// survives as the `moe.entry_signature` attribute (moe-prepare-entry-points).
// Everything moe-run checks about inputs and results is read from it.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_TOOLS_MOE_RUN_SIGNATURE_H
#define MOE_TOOLS_MOE_RUN_SIGNATURE_H

#include "Npy.h"

#include "mlir/IR/BuiltinAttributeInterfaces.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/BuiltinTypes.h"

#include <string>

namespace moe::run {

/// How one ranked tensor of the signature travels through .npy files.
struct TensorSpec {
  mlir::RankedTensorType type;
  /// The descr moe-run writes; bf16 travels as its bits, "<u2".
  std::string descr;
  size_t elementBytes;
};

/// Fails for unranked tensors, non-tensor types and element types without an
/// .npy representation.
llvm::Expected<TensorSpec> getTensorSpec(mlir::Type type);

/// The descrs an input of `spec` may have: its own, and the other signedness
/// for signless integers (an i32 tensor accepts int32 and uint32 arrays).
bool acceptsDescr(const TensorSpec &spec, llvm::StringRef descr);

/// "float32 ('<f4')" for messages.
std::string describeDescr(llvm::StringRef descr);

/// A trailing argument whose data the module names itself
/// (moe-constants-to-parameters): the runner passes it, not the user.
struct Parameter {
  /// The argument's type.
  TensorSpec spec;
  /// The data, in its own layout.
  mlir::ElementsAttr value;
  /// The argument holds `value` transposed by this permutation (as
  /// linalg.transpose's); empty for the identity.
  llvm::SmallVector<int64_t> permutation;
};

struct EntryPoint {
  std::string name;
  /// Every argument, the user's inputs and then the parameters.
  mlir::FunctionType type;
  llvm::SmallVector<TensorSpec> inputs, results;
  llvm::SmallVector<Parameter> parameters;
};

/// The function to call in a lowered module: `requested` if not empty; else
/// the only entry point; else `main_graph` (the ONNX default); else the first.
/// Its `moe.parameters` split the arguments into inputs and parameters.
llvm::Expected<EntryPoint> selectEntryPoint(mlir::ModuleOp module,
                                            llvm::StringRef requested);

/// Checks input `index` (of all calls' inputs, given call after call) against
/// its argument of `entry`; the error says which input, which file, what was
/// expected and what was found.
llvm::Error checkInput(const EntryPoint &entry, unsigned index,
                       llvm::StringRef file, const npy::Array &array);

} // namespace moe::run

#endif // MOE_TOOLS_MOE_RUN_SIGNATURE_H
