//===- PrepareEntryPoints.cpp - host calling convention of public funcs ---===//
//
// Runners call public functions through `_mlir_ciface_<name>` on memref
// descriptors. Whatever the runner needs to know about a function has to be
// recorded here, on tensors, because after the LLVM lowering a tensor<?x8xf32>
// argument is just a pointer.
//
//===----------------------------------------------------------------------===//

#include "moe/Pipelines/Passes.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/BuiltinOps.h"

namespace moe {
#define GEN_PASS_DEF_MOEPREPAREENTRYPOINTS
#include "moe/Pipelines/Passes.h.inc"
} // namespace moe

using namespace mlir;

namespace {

struct PrepareEntryPointsPass
    : moe::impl::MoEPrepareEntryPointsBase<PrepareEntryPointsPass> {
  /// Calls `set` with `attrs` minus the onnx.* entries, if it has any.
  template <typename SetFn>
  static void dropFrontEndAttrs(DictionaryAttr attrs, SetFn set) {
    if (!attrs)
      return;
    SmallVector<NamedAttribute> kept;
    for (NamedAttribute attr : attrs)
      if (!attr.getName().getValue().starts_with("onnx."))
        kept.push_back(attr);
    if (kept.size() != attrs.size())
      set(DictionaryAttr::get(attrs.getContext(), kept));
  }

  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    for (auto func : getOperation().getOps<func::FuncOp>()) {
      if (func.isExternal() || !func.isPublic())
        continue;
      func->setAttr(LLVM::LLVMDialect::getEmitCWrapperAttrName(),
                    UnitAttr::get(ctx));
      func->setAttr(moe::kEntrySignatureAttrName,
                    TypeAttr::get(func.getFunctionType()));
      // Front-end annotations (the importer's onnx.name, onnx.dim_params)
      // mean nothing to LLVM, which would warn about each of them.
      for (unsigned i = 0, e = func.getNumArguments(); i < e; ++i)
        dropFrontEndAttrs(func.getArgAttrDict(i),
                          [&](DictionaryAttr d) { func.setArgAttrs(i, d); });
      for (unsigned i = 0, e = func.getNumResults(); i < e; ++i)
        dropFrontEndAttrs(func.getResultAttrDict(i),
                          [&](DictionaryAttr d) { func.setResultAttrs(i, d); });
      for (auto [i, type] : llvm::enumerate(func.getArgumentTypes()))
        if (isa<TensorType>(type))
          func.setArgAttr(
              i, bufferization::BufferizationDialect::kWritableAttrName,
              BoolAttr::get(ctx, false));
    }
  }
};

} // namespace
