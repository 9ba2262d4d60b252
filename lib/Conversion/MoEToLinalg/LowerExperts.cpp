//===- LowerExperts.cpp - grouped matmuls and activations -> linalg ------===//
//
// Sparse by construction: each group's matmul only reads its own rows
// (offsets[e] .. offsets[e+1]), so an expert costs what is routed to it.
//
//===----------------------------------------------------------------------===//

#include "Common.h"
#include "Patterns.h"

#include "moe/Conversion/MoEToLinalg/ActivationMath.h"
#include "moe/Dialect/MoE/IR/MoE.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <cmath>

using namespace mlir;
using namespace moe;
using namespace moe::detail;

namespace {

/// Rows offsets[e] .. offsets[e+1] as (lo, count).
std::pair<Value, Value> groupRows(OpBuilder &b, Location loc, Value offsets,
                                  Value e) {
  Value one = arith::ConstantIndexOp::create(b, loc, 1);
  Value next = arith::AddIOp::create(b, loc, e, one);
  Value lo = extractIndex(b, loc, offsets, e);
  Value hi = extractIndex(b, loc, offsets, next);
  return {lo, arith::SubIOp::create(b, loc, hi, lo)};
}

/// Static slice [offsets..][sizes..] with unit strides.
Value slice(OpBuilder &b, Location loc, Value source,
            ArrayRef<OpFoldResult> offsets, ArrayRef<OpFoldResult> sizes,
            RankedTensorType resultType = {}) {
  SmallVector<OpFoldResult> strides(offsets.size(), b.getIndexAttr(1));
  if (resultType)
    return tensor::ExtractSliceOp::create(b, loc, resultType, source, offsets,
                                          sizes, strides);
  return tensor::ExtractSliceOp::create(b, loc, source, offsets, sizes,
                                        strides);
}

Value insert(OpBuilder &b, Location loc, Value source, Value dest,
             ArrayRef<OpFoldResult> offsets, ArrayRef<OpFoldResult> sizes) {
  SmallVector<OpFoldResult> strides(offsets.size(), b.getIndexAttr(1));
  return tensor::InsertSliceOp::create(b, loc, source, dest, offsets, sizes,
                                       strides);
}

struct GroupedMatmulLowering : OpRewritePattern<GroupedMatmulOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(GroupedMatmulOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto resultType = cast<RankedTensorType>(op.getType());
    Type elt = resultType.getElementType();
    Value acc = zerosWithDimsOf(rewriter, loc, resultType, {op.getLhs()});
    bool transposed = op.getTransposeRhs();
    Value offsets = op.getOffsets();
    Value lhs = op.getLhs();
    bool hasBias = !op.getBias().empty();

    // One group: rows [lo, lo + n) of lhs times `w`, into result columns
    // [0, width).
    auto group = [&](OpBuilder &b, Location l, Value e, Value w, Value bias,
                     Value into) {
      auto wType = cast<RankedTensorType>(w.getType());
      int64_t k = wType.getDimSize(transposed ? 1 : 0);
      int64_t width = wType.getDimSize(transposed ? 0 : 1);
      auto [lo, n] = groupRows(b, l, offsets, e);
      Value a =
          slice(b, l, lhs, {lo, b.getIndexAttr(0)}, {n, b.getIndexAttr(k)});
      // Groups own disjoint rows of the zero-filled result: each matmul
      // accumulates into its rows in place instead of into a temporary that
      // is then copied over.
      Value rows = slice(b, l, into, {lo, b.getIndexAttr(0)},
                         {n, b.getIndexAttr(width)});
      Value y = emitMatmul(b, l, a, w, transposed, bias, elt, rows);
      return insert(b, l, y, into, {lo, b.getIndexAttr(0)},
                    {n, b.getIndexAttr(width)});
    };

    if (op.getPanels()) {
      rewriter.replaceOp(op, lowerPanels(rewriter, op, acc));
      return success();
    }

    if (op.isStacked()) {
      Value rhs = op.getRhs()[0];
      auto rhsType = cast<RankedTensorType>(rhs.getType());
      int64_t d1 = rhsType.getDimSize(1), d2 = rhsType.getDimSize(2);
      auto wType = RankedTensorType::get({d1, d2}, rhsType.getElementType());
      Value lb = arith::ConstantIndexOp::create(rewriter, loc, 0);
      Value ub =
          arith::ConstantIndexOp::create(rewriter, loc, op.getNumGroups());
      Value step = arith::ConstantIndexOp::create(rewriter, loc, 1);
      auto loop = scf::ForOp::create(
          rewriter, loc, lb, ub, step, ValueRange{acc},
          [&](OpBuilder &b, Location l, Value e, ValueRange iterArgs) {
            Value w = slice(
                b, l, rhs, {e, b.getIndexAttr(0), b.getIndexAttr(0)},
                {b.getIndexAttr(1), b.getIndexAttr(d1), b.getIndexAttr(d2)},
                wType);
            Value bias;
            if (hasBias) {
              Value stackedBias = op.getBias()[0];
              auto biasType = cast<RankedTensorType>(stackedBias.getType());
              int64_t m = biasType.getDimSize(1);
              bias =
                  slice(b, l, stackedBias, {e, b.getIndexAttr(0)},
                        {b.getIndexAttr(1), b.getIndexAttr(m)},
                        RankedTensorType::get({m}, biasType.getElementType()));
            }
            scf::YieldOp::create(b, l, group(b, l, e, w, bias, iterArgs[0]));
          });
      rewriter.replaceOp(op, loop.getResult(0));
      return success();
    }

    // Groups of different shapes: one matmul per group.
    for (auto [e, w] : llvm::enumerate(op.getRhs())) {
      Value index = arith::ConstantIndexOp::create(rewriter, loc, e);
      acc = group(rewriter, loc, index, w, hasBias ? op.getBias()[e] : Value(),
                  acc);
    }
    rewriter.replaceOp(op, acc);
    return success();
  }

  /// Panels [E, M / P, K, P] (or [M / P, K, P] per group): for each group,
  /// one [rows, K] x [K, P] matmul
  /// per panel into the panel's columns of the group's rows. The panel loop
  /// is outside the reduction, so a group's [rows, P] output block stays in
  /// cache while its contiguous [K, P] panel streams past (128-140 GFLOP/s
  /// against 104-114 for the [K, M] matrix at H = 1024, I = 2816, 128 rows
  /// per expert; bench/cpu/results/2026-11-29-panels.md).
  static Value lowerPanels(PatternRewriter &rewriter, GroupedMatmulOp op,
                           Value acc) {
    Location loc = op.getLoc();
    auto rhsType = cast<RankedTensorType>(op.getRhs()[0].getType());
    bool stacked = rhsType.getRank() == 4;
    ArrayRef<int64_t> shape = rhsType.getShape().take_back(3);
    int64_t numPanels = shape[0], k = shape[1], width = shape[2];
    Type elt = cast<RankedTensorType>(op.getType()).getElementType();
    auto panelType =
        RankedTensorType::get({k, width}, rhsType.getElementType());
    Value offsets = op.getOffsets(), lhs = op.getLhs();
    auto loop =
        [&](OpBuilder &b, Location l, int64_t trips, Value init,
            function_ref<Value(OpBuilder &, Location, Value, Value)> body) {
          Value lb = arith::ConstantIndexOp::create(b, l, 0);
          Value ub = arith::ConstantIndexOp::create(b, l, trips);
          Value step = arith::ConstantIndexOp::create(b, l, 1);
          return scf::ForOp::create(b, l, lb, ub, step, ValueRange{init},
                                    [&](OpBuilder &nb, Location nl, Value iv,
                                        ValueRange args) {
                                      scf::YieldOp::create(
                                          nb, nl, body(nb, nl, iv, args[0]));
                                    })
              .getResult(0);
        };
    // Group `e`'s panels: `rhs` [(E,) M / P, K, P] and `bias` [(E,) M] hold
    // them at `lead` ({e} when stacked, {} per group).
    auto group = [&](OpBuilder &b, Location l, Value e, Value rhs, Value bias,
                     ArrayRef<OpFoldResult> lead, Value into) {
      auto [lo, n] = groupRows(b, l, offsets, e);
      Value a =
          slice(b, l, lhs, {lo, b.getIndexAttr(0)}, {n, b.getIndexAttr(k)});
      return loop(
          b, l, numPanels, into,
          [&](OpBuilder &pb, Location pl, Value p, Value panelsInto) {
            Value col = arith::MulIOp::create(
                pb, pl, p, arith::ConstantIndexOp::create(pb, pl, width));
            SmallVector<OpFoldResult> at(lead),
                one(lead.size(), pb.getIndexAttr(1));
            at.append({p, pb.getIndexAttr(0), pb.getIndexAttr(0)});
            SmallVector<OpFoldResult> sizes(one);
            sizes.append({pb.getIndexAttr(1), pb.getIndexAttr(k),
                          pb.getIndexAttr(width)});
            Value w = slice(pb, pl, rhs, at, sizes, panelType);
            Value panelBias;
            if (bias) {
              SmallVector<OpFoldResult> biasAt(lead), biasSizes(one);
              biasAt.push_back(col);
              biasSizes.push_back(pb.getIndexAttr(width));
              panelBias = slice(
                  pb, pl, bias, biasAt, biasSizes,
                  RankedTensorType::get(
                      {width},
                      cast<RankedTensorType>(bias.getType()).getElementType()));
            }
            SmallVector<OpFoldResult> outAt = {lo, col};
            SmallVector<OpFoldResult> outSize = {n, pb.getIndexAttr(width)};
            Value rows = slice(pb, pl, panelsInto, outAt, outSize);
            Value y = emitMatmul(pb, pl, a, w, /*transposed=*/false, panelBias,
                                 elt, rows);
            return insert(pb, pl, y, panelsInto, outAt, outSize);
          });
    };
    auto biasOf = [&](size_t i) {
      return op.getBias().empty() ? Value() : op.getBias()[i];
    };
    if (stacked)
      return loop(rewriter, loc, op.getNumGroups(), acc,
                  [&](OpBuilder &b, Location l, Value e, Value into) {
                    return group(b, l, e, op.getRhs()[0], biasOf(0), {e}, into);
                  });
    for (auto [e, rhs] : llvm::enumerate(op.getRhs())) {
      Value index = arith::ConstantIndexOp::create(rewriter, loc, e);
      acc = group(rewriter, loc, index, rhs, biasOf(e), {}, acc);
    }
    return acc;
  }
};

/// One strided column add per kept column and group: the columns are few
/// (a fraction of the output) and each add reads only its group's rows.
struct ScatterColumnsLowering : OpRewritePattern<ScatterColumnsOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(ScatterColumnsOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto columnsType = cast<RankedTensorType>(op.getColumns().getType());
    Value source = op.getSource(), columns = op.getColumns();
    Value offsets = op.getOffsets();
    Value c0 = arith::ConstantIndexOp::create(rewriter, loc, 0);
    Value c1 = arith::ConstantIndexOp::create(rewriter, loc, 1);
    Value groups = arith::ConstantIndexOp::create(rewriter, loc,
                                                  columnsType.getDimSize(0));
    Value perGroup = arith::ConstantIndexOp::create(rewriter, loc,
                                                    columnsType.getDimSize(1));
    Value none = arith::ConstantOp::create(
        rewriter, loc,
        rewriter.getIntegerAttr(columnsType.getElementType(), 0));

    // dst[:, 0] + src[:, 0] over one group's rows, into dst.
    auto addColumn = [&](OpBuilder &b, Location l, Value src, Value dst) {
      MLIRContext *ctx = b.getContext();
      AffineMap id = AffineMap::getMultiDimIdentityMap(2, ctx);
      return linalg::GenericOp::create(
                 b, l, dst.getType(), src, dst, ArrayRef<AffineMap>{id, id},
                 SmallVector<utils::IteratorType>(
                     2, utils::IteratorType::parallel),
                 [](OpBuilder &nb, Location nl, ValueRange args) {
                   linalg::YieldOp::create(
                       nb, nl,
                       arith::AddFOp::create(nb, nl, args[1], args[0])
                           .getResult());
                 })
          .getResult(0);
    };

    auto outer = scf::ForOp::create(
        rewriter, loc, c0, groups, c1, ValueRange{op.getDest()},
        [&](OpBuilder &b, Location l, Value e, ValueRange groupAcc) {
          Value lo, n;
          std::tie(lo, n) = groupRows(b, l, offsets, e);
          auto inner = scf::ForOp::create(
              b, l, c0, perGroup, c1, groupAcc,
              [&](OpBuilder &ib, Location il, Value j, ValueRange acc) {
                Value raw = tensor::ExtractOp::create(ib, il, columns,
                                                      ValueRange{e, j});
                Value kept = arith::CmpIOp::create(
                    ib, il, arith::CmpIPredicate::sge, raw, none);
                auto add = scf::IfOp::create(
                    ib, il, kept,
                    [&](OpBuilder &tb, Location tl) {
                      Value c = arith::IndexCastOp::create(
                          tb, tl, tb.getIndexType(), raw);
                      SmallVector<OpFoldResult> size = {n, tb.getIndexAttr(1)};
                      Value src = slice(tb, tl, source, {lo, j}, size);
                      Value dst = slice(tb, tl, acc[0], {lo, c}, size);
                      Value sum = addColumn(tb, tl, src, dst);
                      scf::YieldOp::create(
                          tb, tl, insert(tb, tl, sum, acc[0], {lo, c}, size));
                    },
                    [&](OpBuilder &eb, Location el) {
                      scf::YieldOp::create(eb, el, acc[0]);
                    });
                scf::YieldOp::create(ib, il, add.getResult(0));
              });
          scf::YieldOp::create(b, l, inner.getResult(0));
        });
    rewriter.replaceOp(op, outer.getResult(0));
    return success();
  }
};

struct ActivationLowering : OpRewritePattern<ActivationOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(ActivationOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto resultType = cast<RankedTensorType>(op.getType());
    auto inputType = cast<RankedTensorType>(op.getInput().getType());
    if (resultType.isDynamicDim(1) || inputType.isDynamicDim(1))
      return rewriter.notifyMatchFailure(op, "needs static widths");
    Type elt = resultType.getElementType();
    // Half-precision activations are computed in f32.
    Type computeType =
        elt.getIntOrFloatBitWidth() < 32 ? Type(rewriter.getF32Type()) : elt;
    ActivationParams params = ActivationParams::get(op);
    std::optional<GateLayout> layout = op.getGateLayout();

    // Activation of `input` (and `up`) rows into a [rows, width] tensor.
    auto activate = [&](OpBuilder &b, Location l, Value input, Value up,
                        int64_t width) {
      MLIRContext *ctx = b.getContext();
      AffineExpr r = getAffineDimExpr(0, ctx), i = getAffineDimExpr(1, ctx);
      AffineMap id = AffineMap::get(2, 0, {r, i}, ctx);
      SmallVector<Value> inputs = {input};
      SmallVector<AffineMap> maps = {id};
      if (layout == GateLayout::Separate) {
        inputs.push_back(up);
        maps.push_back(id);
      } else if (layout == GateLayout::Interleaved) {
        inputs = {input, input};
        maps = {AffineMap::get(2, 0, {r, i * 2}, ctx),
                AffineMap::get(2, 0, {r, i * 2 + 1}, ctx)};
      } else if (layout == GateLayout::Concatenated) {
        // Two column slices rather than one input read at (r, i) and
        // (r, i + width): linalg takes loop bounds from the first operand
        // with a plain dim, which would be the full, twice as wide input.
        Value rows = dimValue(b, l, input, 0);
        inputs = {slice(b, l, input, {b.getIndexAttr(0), b.getIndexAttr(0)},
                        {rows, b.getIndexAttr(width)}),
                  slice(b, l, input, {b.getIndexAttr(0), b.getIndexAttr(width)},
                        {rows, b.getIndexAttr(width)})};
        maps = {id, id};
      }
      maps.push_back(id);
      auto outType = RankedTensorType::get({ShapedType::kDynamic, width}, elt);
      Value empty =
          tensor::EmptyOp::create(b, l, outType, dimValue(b, l, input, 0));
      return linalg::GenericOp::create(
                 b, l, outType, inputs, empty, maps,
                 SmallVector<utils::IteratorType>(
                     2, utils::IteratorType::parallel),
                 [&](OpBuilder &nb, Location nl, ValueRange args) {
                   Value v = emitActivation(nb, nl, params, computeType,
                                            args.drop_back());
                   linalg::YieldOp::create(nb, nl,
                                           convertScalar(nb, nl, v, elt));
                 })
          .getResult(0);
    };

    std::optional<ArrayRef<int64_t>> widths = op.getWidths();
    if (!widths) {
      Value y = activate(rewriter, loc, op.getInput(), op.getUp(),
                         resultType.getDimSize(1));
      rewriter.replaceOpWithNewOp<tensor::CastOp>(op, resultType, y);
      return success();
    }

    // Heterogeneous groups: each group reads its own columns.
    int64_t factor = layout && *layout != GateLayout::Separate ? 2 : 1;
    Value acc = zerosWithDimsOf(rewriter, loc, resultType, {op.getInput()});
    for (auto [e, width] : llvm::enumerate(*widths)) {
      Value index = arith::ConstantIndexOp::create(rewriter, loc, e);
      auto [lo, n] = groupRows(rewriter, loc, op.getOffsets(), index);
      SmallVector<OpFoldResult> at = {lo, rewriter.getIndexAttr(0)};
      SmallVector<OpFoldResult> inSize = {
          n, rewriter.getIndexAttr(width * factor)};
      Value in = slice(rewriter, loc, op.getInput(), at, inSize);
      Value up =
          op.getUp() ? slice(rewriter, loc, op.getUp(), at, inSize) : Value();
      Value y = activate(rewriter, loc, in, up, width);
      acc =
          insert(rewriter, loc, y, acc, at, {n, rewriter.getIndexAttr(width)});
    }
    rewriter.replaceOp(op, acc);
    return success();
  }
};

} // namespace

void moe::detail::populateExpertLoweringPatterns(RewritePatternSet &patterns) {
  patterns
      .add<GroupedMatmulLowering, ActivationLowering, ScatterColumnsLowering>(
          patterns.getContext());
}
