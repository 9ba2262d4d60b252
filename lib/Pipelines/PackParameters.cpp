//===- PackParameters.cpp - parameters in the layout matmuls read best ----===//
//
// A matmul whose right-hand side is stored [N, K] (onnxruntime's MoE weights,
// torch nn.Linear) has to transpose every operand tile it loads, in every
// call: the transposed-B grouped matmul runs at less than half the speed of
// the plain one. A parameter is bound once by the runner, so transposing it
// there costs one pass over the weights at load time; the matmuls then read
// [K, N] like any other.
//
//===----------------------------------------------------------------------===//

#include "moe/Pipelines/Passes.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Matchers.h"

#include <numeric>

namespace moe {
#define GEN_PASS_DEF_MOEPACKPARAMETERS
#include "moe/Pipelines/Passes.h.inc"
} // namespace moe

using namespace mlir;

namespace {

/// (d0, d1, d2) -> (d1, d2): the right-hand side read as [N, K].
AffineMap transposedRhsMap(MLIRContext *ctx) {
  return AffineMap::get(
      3, 0, {getAffineDimExpr(1, ctx), getAffineDimExpr(2, ctx)}, ctx);
}

/// Whether `use` is the right-hand side of a matmul that reads it [N, K].
bool isTransposedRhs(OpOperand &use) {
  auto matmul = dyn_cast<linalg::MatmulOp>(use.getOwner());
  if (!matmul || use.getOperandNumber() != 1 ||
      !matmul.hasPureTensorSemantics())
    return false;
  return matmul.getIndexingMapsArray()[1] ==
         transposedRhsMap(matmul.getContext());
}

/// Whether `slice` takes one whole [N, K] matrix out of a stack of them
/// (static zero offsets, full sizes and unit strides in the last two
/// dimensions, every leading dimension dropped).
bool isWholeMatrix(tensor::ExtractSliceOp slice) {
  RankedTensorType source = slice.getSourceType();
  int64_t rank = source.getRank();
  if (slice.getResultType().getRank() != 2 || !source.hasStaticShape())
    return false;
  for (int64_t d = 0; d < rank; ++d) {
    if (!isConstantIntValue(slice.getMixedStrides()[d], 1))
      return false;
    std::optional<int64_t> size = getConstantIntValue(slice.getMixedSizes()[d]);
    if (d < rank - 2 ? size != 1 : size != source.getDimSize(d))
      return false;
    if (d >= rank - 2 && !isConstantIntValue(slice.getMixedOffsets()[d], 0))
      return false;
  }
  return true;
}

/// Whether every reader of `arg` is a transposed matmul right-hand side,
/// directly or through a whole-matrix slice.
bool readOnlyTransposed(BlockArgument arg) {
  if (arg.use_empty())
    return false;
  for (OpOperand &use : arg.getUses()) {
    if (isTransposedRhs(use))
      continue;
    auto slice = dyn_cast<tensor::ExtractSliceOp>(use.getOwner());
    if (!slice || !isWholeMatrix(slice) || slice.getResult().use_empty() ||
        !llvm::all_of(slice.getResult().getUses(), isTransposedRhs))
      return false;
  }
  return true;
}

/// Each matmul reading `rhs` [N, K] transposed reads it [K, N] plainly
/// (other users, the slices of a stacked parameter, are rewritten apart).
void readPlain(Value rhs) {
  for (Operation *user : rhs.getUsers()) {
    auto matmul = dyn_cast<linalg::MatmulOp>(user);
    if (!matmul)
      continue;
    SmallVector<Attribute> maps(matmul.getIndexingMaps().getValue());
    MLIRContext *ctx = matmul.getContext();
    maps[1] = AffineMapAttr::get(AffineMap::get(
        3, 0, {getAffineDimExpr(2, ctx), getAffineDimExpr(1, ctx)}, ctx));
    matmul.setIndexingMapsAttr(ArrayAttr::get(ctx, maps));
  }
}

/// The changes of layout that read `arg`: linalg.transposes of it, or of a
/// static tensor.expand_shape of it that nothing else reads
/// (moe-pack-panels). Such a reader can read a parameter stored changed.
SmallVector<linalg::TransposeOp> layoutChanges(BlockArgument arg) {
  SmallVector<linalg::TransposeOp> changes;
  for (Operation *user : arg.getUsers()) {
    Value read = arg;
    if (auto expand = dyn_cast<tensor::ExpandShapeOp>(user)) {
      if (!expand.getResultType().hasStaticShape() ||
          !expand.getResult().hasOneUse())
        continue;
      read = expand.getResult();
      user = *read.getUsers().begin();
    }
    auto transpose = dyn_cast<linalg::TransposeOp>(user);
    if (transpose && transpose.hasPureTensorSemantics() &&
        transpose.getInput() == read)
      changes.push_back(transpose);
  }
  return changes;
}

/// Replaces the change of layout `transpose` (and the reshape it reads, if
/// any) by `stored`, which holds its result.
void foldLayoutChange(linalg::TransposeOp transpose, Value stored) {
  Operation *expand =
      transpose.getInput().getDefiningOp<tensor::ExpandShapeOp>();
  transpose.getResult().front().replaceAllUsesWith(stored);
  transpose.erase();
  if (expand)
    expand->erase();
}

/// [..., N, K] -> [..., K, N].
RankedTensorType swapLastTwo(RankedTensorType type) {
  SmallVector<int64_t> shape(type.getShape());
  std::swap(shape[shape.size() - 2], shape.back());
  return type.clone(shape);
}

struct PackParametersPass
    : moe::impl::MoEPackParametersBase<PackParametersPass> {
  void runOnOperation() override {
    for (auto func : getOperation().getOps<func::FuncOp>())
      if (auto parameters =
              func->getAttrOfType<ArrayAttr>(moe::kParametersAttrName))
        pack(func, parameters);
  }

  DictionaryAttr withPermutation(DictionaryAttr entry,
                                 ArrayRef<int64_t> permutation) {
    MLIRContext *ctx = &getContext();
    NamedAttrList fields(entry);
    fields.set(moe::kParameterPermutationName,
               DenseI64ArrayAttr::get(ctx, permutation));
    return fields.getDictionary(ctx);
  }

  /// A new trailing parameter argument of `transpose`'s result type.
  static BlockArgument addArgument(func::FuncOp func,
                                   linalg::TransposeOp transpose) {
    unsigned index = func.getNumArguments();
    (void)func.insertArgument(index, transpose.getInit().getType(),
                              /*argAttrs=*/{}, transpose.getLoc());
    return func.getArgument(index);
  }

  void pack(func::FuncOp func, ArrayAttr parameters) {
    MLIRContext *ctx = &getContext();
    unsigned first = func.getNumArguments() - parameters.size();
    SmallVector<Attribute> updated(parameters.getValue());
    SmallVector<Attribute> added;
    for (auto [i, attr] : llvm::enumerate(parameters)) {
      auto entry = dyn_cast<DictionaryAttr>(attr);
      BlockArgument arg = func.getArgument(first + i);
      auto type = dyn_cast<RankedTensorType>(arg.getType());
      // Packed once only: a permutation composes badly with a second one.
      if (!entry || entry.contains(moe::kParameterPermutationName) || !type ||
          type.getRank() < 2 || !type.hasStaticShape())
        continue;
      // The runner reads the value's elements with the transpose's input
      // shape and permutes them. A parameter read only so takes the
      // transposed value's place; one also read otherwise (moe-pack-panels'
      // weights, also read as they are by calls with few rows) is passed a
      // second time, changed.
      SmallVector<linalg::TransposeOp> changes = layoutChanges(arg);
      if (changes.size() == 1 && arg.hasOneUse()) {
        arg.setType(changes.front().getInit().getType());
        updated[i] = withPermutation(entry, changes.front().getPermutation());
        foldLayoutChange(changes.front(), arg);
        continue;
      }
      for (linalg::TransposeOp transpose : changes) {
        BlockArgument stored = addArgument(func, transpose);
        added.push_back(withPermutation(entry, transpose.getPermutation()));
        foldLayoutChange(transpose, stored);
      }
      if (!readOnlyTransposed(arg))
        continue;

      arg.setType(swapLastTwo(type));
      for (OpOperand &use : llvm::make_early_inc_range(arg.getUses())) {
        auto slice = dyn_cast<tensor::ExtractSliceOp>(use.getOwner());
        if (!slice)
          continue;
        OpBuilder b(slice);
        SmallVector<OpFoldResult> sizes = slice.getMixedSizes();
        std::swap(sizes[sizes.size() - 2], sizes.back());
        auto packed = tensor::ExtractSliceOp::create(
            b, slice.getLoc(), swapLastTwo(slice.getResultType()), arg,
            slice.getMixedOffsets(), sizes, slice.getMixedStrides());
        slice.getResult().replaceAllUsesWith(packed.getResult());
        slice.erase();
        readPlain(packed.getResult());
      }
      readPlain(arg);

      SmallVector<int64_t> permutation(type.getRank());
      std::iota(permutation.begin(), permutation.end(), 0);
      std::swap(permutation[permutation.size() - 2], permutation.back());
      updated[i] = withPermutation(entry, permutation);
    }
    llvm::append_range(updated, added);
    func.setType(FunctionType::get(ctx, func.getBody().getArgumentTypes(),
                                   func.getResultTypes()));
    func->setAttr(moe::kParametersAttrName, ArrayAttr::get(ctx, updated));
  }
};

} // namespace
