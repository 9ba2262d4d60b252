//===- LowerDispatch.cpp - moe.dispatch and moe.combine -> kernels/linalg -===//

#include "Common.h"
#include "Patterns.h"

#include "moe/Dialect/MoE/IR/MoE.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace moe;
using namespace moe::detail;

/// `ids` (i64) with every id `i` in [0, size) replaced by `map[i]`; unused
/// slots (-1) stay. The dispatch kernel then groups by merged expert.
static Value remapIds(OpBuilder &b, Location loc, Value ids,
                      ArrayRef<int64_t> map) {
  Type i64 = b.getI64Type();
  auto tableType = RankedTensorType::get({int64_t(map.size())}, i64);
  Value table =
      arith::ConstantOp::create(b, loc, DenseElementsAttr::get(tableType, map));
  ids = castToDynamic(b, loc, ids);
  auto type = cast<RankedTensorType>(ids.getType());
  Value init = tensor::EmptyOp::create(
      b, loc, type,
      ValueRange{dimValue(b, loc, ids, 0), dimValue(b, loc, ids, 1)});
  auto identity = b.getMultiDimIdentityMap(2);
  auto generic = linalg::GenericOp::create(
      b, loc, type, ValueRange{ids}, ValueRange{init},
      ArrayRef<AffineMap>{identity, identity},
      {utils::IteratorType::parallel, utils::IteratorType::parallel},
      [&](OpBuilder &nb, Location l, ValueRange args) {
        Value id = args[0];
        Value zero = arith::ConstantOp::create(nb, l, nb.getI64IntegerAttr(0));
        Value size = arith::ConstantOp::create(
            nb, l, nb.getI64IntegerAttr(int64_t(map.size())));
        Value valid = arith::AndIOp::create(
            nb, l,
            arith::CmpIOp::create(nb, l, arith::CmpIPredicate::sge, id, zero),
            arith::CmpIOp::create(nb, l, arith::CmpIPredicate::slt, id, size));
        Value safe = arith::SelectOp::create(nb, l, valid, id, zero);
        Value index =
            arith::IndexCastOp::create(nb, l, nb.getIndexType(), safe);
        Value mapped = tensor::ExtractOp::create(nb, l, table, index);
        linalg::YieldOp::create(
            nb, l,
            arith::SelectOp::create(nb, l, valid, mapped, id).getResult());
      });
  return generic.getResult(0);
}

namespace {

struct DispatchLowering : OpRewritePattern<DispatchOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(DispatchOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Type rowType =
        cast<RankedTensorType>(op.getInput().getType()).getElementType();
    if (!rowType.isF32() && !rowType.isF16() && !rowType.isBF16() &&
        !rowType.isF64())
      return rewriter.notifyMatchFailure(op, "unsupported row element type");
    std::string typeName;
    llvm::raw_string_ostream os(typeName);
    rowType.print(os);

    Type i64 = rewriter.getI64Type();
    Value x = castToDynamic(rewriter, loc, op.getInput());
    Value ids = convertElements(rewriter, loc, op.getIndices(), i64);
    if (std::optional<ArrayRef<int64_t>> map = op.getExpertMap())
      ids = remapIds(rewriter, loc, ids, *map);
    Value indices = castToDynamic(rewriter, loc, ids);
    std::string source = getDispatchKernels(rowType);
    func::CallOp call;
    if (op.getExpertChoice()) {
      FailureOr<func::FuncOp> kernel = getOrInsertKernel(
          rewriter, op, "__moe_dispatch_expert_choice_" + typeName, source);
      if (failed(kernel))
        return failure();
      call =
          func::CallOp::create(rewriter, loc, *kernel, ValueRange{x, indices});
    } else {
      FailureOr<func::FuncOp> kernel =
          getOrInsertKernel(rewriter, op, "__moe_dispatch_" + typeName, source);
      if (failed(kernel))
        return failure();
      Type f32 = rewriter.getF32Type();
      auto emptyMatrix = [&](Type elt) -> Value {
        return tensor::EmptyOp::create(rewriter, loc, ArrayRef<int64_t>{0, 0},
                                       elt);
      };
      Value weights = emptyMatrix(f32), scales = emptyMatrix(rowType);
      if (Value w = op.getWeights()) {
        if (op.getDropPolicy() == DropPolicy::ByWeight)
          weights = convertElements(rewriter, loc, w, f32);
        if (op.getScaleRows())
          scales = convertElements(rewriter, loc, w, rowType);
      }
      Value scale = arith::ConstantOp::create(
          rewriter, loc, rewriter.getBoolAttr(op.getScaleRows()));
      Value numExperts =
          arith::ConstantIndexOp::create(rewriter, loc, op.getNumExperts());
      Value capacity = arith::ConstantOp::create(
          rewriter, loc,
          rewriter.getI64IntegerAttr(
              op.getCapacity() ? int64_t(*op.getCapacity()) : -1));
      Value byWeight = arith::ConstantOp::create(
          rewriter, loc,
          rewriter.getBoolAttr(op.getDropPolicy() == DropPolicy::ByWeight));
      // 0: one group of all tokens.
      Value group = op.getGroupSize();
      if (!group)
        group = arith::ConstantIndexOp::create(rewriter, loc, 0);
      call = func::CallOp::create(
          rewriter, loc, *kernel,
          ValueRange{x, indices, numExperts, capacity, byWeight,
                     castToDynamic(rewriter, loc, weights), group, scale,
                     castToDynamic(rewriter, loc, scales)});
    }
    SmallVector<Value> results;
    for (auto [value, result] : llvm::zip(call.getResults(), op.getResults()))
      results.push_back(convertTo(rewriter, loc, value,
                                  cast<RankedTensorType>(result.getType())));
    rewriter.replaceOp(op, results);
    return success();
  }
};

/// out[t, h] = sum_s weights[t, s] * rows[row_map[t, s], h] over the slots
/// with row_map >= 0 (weight 1 without weights): a reduction over s whose body
/// gathers the row element with tensor.extract.
struct CombineLowering : OpRewritePattern<CombineOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(CombineOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto resultType = cast<RankedTensorType>(op.getType());
    Type elt = resultType.getElementType();
    Value init = zerosWithDimsOf(rewriter, loc, resultType,
                                 {op.getRowMap(), op.getRows()});

    MLIRContext *ctx = rewriter.getContext();
    AffineExpr t = getAffineDimExpr(0, ctx), h = getAffineDimExpr(1, ctx),
               s = getAffineDimExpr(2, ctx);
    auto slotMap = AffineMap::get(3, 0, {t, s}, ctx);
    auto outMap = AffineMap::get(3, 0, {t, h}, ctx);
    Value rows = op.getRows();
    SmallVector<Value> inputs = {op.getRowMap()};
    if (Value weights = op.getWeights())
      inputs.push_back(weights);
    SmallVector<AffineMap> maps(inputs.size(), slotMap);
    maps.push_back(outMap);
    auto generic = linalg::GenericOp::create(
        rewriter, loc, resultType, inputs, init, maps,
        {utils::IteratorType::parallel, utils::IteratorType::parallel,
         utils::IteratorType::reduction},
        [&](OpBuilder &b, Location l, ValueRange args) {
          Value row = args[0], acc = args.back();
          Value zeroIdx = arith::ConstantOp::create(
              b, l, b.getIntegerAttr(row.getType(), 0));
          Value valid = arith::CmpIOp::create(b, l, arith::CmpIPredicate::sge,
                                              row, zeroIdx);
          Value safe = arith::SelectOp::create(b, l, valid, row, zeroIdx);
          Value r = arith::IndexCastOp::create(b, l, b.getIndexType(), safe);
          Value hIdx = linalg::IndexOp::create(b, l, 1);
          Value v = tensor::ExtractOp::create(b, l, rows, ValueRange{r, hIdx});
          Value term = convertScalar(b, l, v, elt);
          if (args.size() == 3)
            term = arith::MulFOp::create(b, l, term,
                                         convertScalar(b, l, args[1], elt));
          Value zero = arith::ConstantOp::create(b, l, b.getZeroAttr(elt));
          term = arith::SelectOp::create(b, l, valid, term, zero);
          linalg::YieldOp::create(
              b, l, arith::AddFOp::create(b, l, acc, term).getResult());
        });
    rewriter.replaceOp(op, generic.getResult(0));
    return success();
  }
};

} // namespace

void moe::detail::populateDispatchLoweringPatterns(
    RewritePatternSet &patterns) {
  patterns.add<DispatchLowering, CombineLowering>(patterns.getContext());
}
