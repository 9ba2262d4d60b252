//===- Passes.h - helper passes of the moe pipelines ------------*- C++ -*-===//

#ifndef MOE_PIPELINES_PASSES_H
#define MOE_PIPELINES_PASSES_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Pass/Pass.h"

#include "llvm/ADT/StringRef.h"

namespace moe {

/// Discardable attribute (a TypeAttr holding the tensor FunctionType) that
/// moe-prepare-entry-points puts on each entry point and that the LLVM
/// lowering carries over to the llvm.func.
inline constexpr llvm::StringLiteral kEntrySignatureAttrName =
    "moe.entry_signature";

/// Discardable attribute (an ArrayAttr of DictionaryAttr) that
/// moe-constants-to-parameters puts on an entry point whose trailing
/// arguments are parameters: entry i describes the i-th of them.
inline constexpr llvm::StringLiteral kParametersAttrName = "moe.parameters";
/// Key of a parameter's data (an ElementsAttr in the source layout).
inline constexpr llvm::StringLiteral kParameterValueName = "value";
/// Key of the permutation (DenseI64ArrayAttr, as linalg.transpose's) from the
/// value's layout to the argument's; absent for the identity.
inline constexpr llvm::StringLiteral kParameterPermutationName = "permutation";

/// The device global moe-gpu-dependent-launch adds to a gpu.module whose
/// kernels all begin with griddepcontrol.wait; the runtime launches the
/// kernels of a module that has it as dependent launches.
inline constexpr llvm::StringLiteral kDependentLaunchMarkerName =
    "moe_griddepcontrol_wait";

/// The C function (`void(const char *message)`, not returning) that
/// moe-report-failed-checks makes a failed run-time check call by default;
/// moe-run defines it.
inline constexpr llvm::StringLiteral kRuntimeErrorFunctionName =
    "moe_runtime_error";

/// Whether `chip` ("sm_90a", "sm_100", ...) has griddepcontrol (sm_90 and
/// later); false for a name that is not sm_<digits>[suffix].
bool chipHasDependentLaunch(llvm::StringRef chip);

#define GEN_PASS_DECL
#include "moe/Pipelines/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "moe/Pipelines/Passes.h.inc"

} // namespace moe

#endif // MOE_PIPELINES_PASSES_H
