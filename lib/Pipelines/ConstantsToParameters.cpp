//===- ConstantsToParameters.cpp - large constants become entry arguments -===//
//
// The LLVM lowering turns every constant tensor into a global initialized
// with its bytes, so the weights of a model would be copied into the LLVM
// module, the JIT's object code and the process, several times over. Past a
// size threshold a constant becomes an argument of the entry point instead,
// and the entry point says which data to pass for it; the runner passes the
// bytes where they already are (the importer's mmap of the model file).
//
//===----------------------------------------------------------------------===//

#include "moe/Pipelines/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectResourceBlobManager.h"

#include "llvm/ADT/MapVector.h"

namespace moe {
#define GEN_PASS_DEF_MOECONSTANTSTOPARAMETERS
#include "moe/Pipelines/Passes.h.inc"
} // namespace moe

using namespace mlir;

namespace {

/// Bytes of `value` in memory (i1 takes a byte, as in a memref), or nullopt
/// for constants a runner could not pass as one contiguous buffer: splats
/// (tiny, and their storage is one element), bit-packed dense i1 and element
/// types without a fixed size.
std::optional<int64_t> parameterBytes(ElementsAttr value) {
  auto type = dyn_cast<RankedTensorType>(value.getType());
  if (!type || !type.hasStaticShape())
    return std::nullopt;
  Type element = type.getElementType();
  if (!element.isIntOrFloat())
    return std::nullopt;
  if (auto dense = dyn_cast<DenseElementsAttr>(value)) {
    if (dense.isSplat() || element.isInteger(1))
      return std::nullopt;
  } else if (!isa<DenseResourceElementsAttr>(value)) {
    return std::nullopt;
  }
  int64_t elementBytes = llvm::divideCeil(element.getIntOrFloatBitWidth(), 8);
  return type.getNumElements() * elementBytes;
}

struct ConstantsToParametersPass
    : moe::impl::MoEConstantsToParametersBase<ConstantsToParametersPass> {
  using MoEConstantsToParametersBase::MoEConstantsToParametersBase;

  void runOnOperation() override {
    if (minBytes < 0)
      return;
    for (auto func : getOperation().getOps<func::FuncOp>())
      if (!func.isExternal() && func.isPublic())
        if (failed(convert(func)))
          return signalPassFailure();
  }

  LogicalResult convert(func::FuncOp func) {
    // One argument per distinct value: a weight used twice is passed once.
    llvm::MapVector<Attribute, SmallVector<arith::ConstantOp>> constants;
    func.walk([&](arith::ConstantOp op) {
      auto value = dyn_cast<ElementsAttr>(op.getValue());
      if (!value)
        return;
      std::optional<int64_t> bytes = parameterBytes(value);
      if (bytes && *bytes >= minBytes)
        constants[value].push_back(op);
    });
    if (constants.empty())
      return success();

    MLIRContext *ctx = &getContext();
    SmallVector<Attribute> parameters;
    if (auto existing =
            func->getAttrOfType<ArrayAttr>(moe::kParametersAttrName))
      llvm::append_range(parameters, existing);
    for (auto &[value, ops] : constants) {
      unsigned index = func.getNumArguments();
      if (failed(func.insertArgument(index, ops.front().getType(),
                                     /*argAttrs=*/{}, ops.front().getLoc())))
        return failure();
      BlockArgument arg = func.getArgument(index);
      for (arith::ConstantOp op : ops) {
        op.getResult().replaceAllUsesWith(arg);
        op.erase();
      }
      parameters.push_back(DictionaryAttr::get(
          ctx, {NamedAttribute(StringAttr::get(ctx, moe::kParameterValueName),
                               value)}));
    }
    func->setAttr(moe::kParametersAttrName, ArrayAttr::get(ctx, parameters));
    return success();
  }
};

} // namespace
