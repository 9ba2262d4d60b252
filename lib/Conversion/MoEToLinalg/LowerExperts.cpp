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
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
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

Value lowerPanels(OpBuilder &rewriter, ArrayRef<GroupedMatmulOp> ops,
                  ActivationOp gated, Value acc);

/// `op`'s activation of `input` (and `up`) rows into a [rows, width] tensor
/// of its result's element type: `into` if given, else a new one.
Value activateRows(OpBuilder &b, Location l, ActivationOp op, Value input,
                   Value up, int64_t width, Value into = {}) {
  Type elt = cast<RankedTensorType>(op.getType()).getElementType();
  // Half-precision activations are computed in f32.
  Type computeType =
      elt.getIntOrFloatBitWidth() < 32 ? Type(b.getF32Type()) : elt;
  ActivationParams params = ActivationParams::get(op);
  std::optional<GateLayout> layout = op.getGateLayout();
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
  if (!into)
    into = tensor::EmptyOp::create(b, l, outType, dimValue(b, l, input, 0));
  return linalg::GenericOp::create(
             b, l, outType, inputs, into, maps,
             SmallVector<utils::IteratorType>(2, utils::IteratorType::parallel),
             [&](OpBuilder &nb, Location nl, ValueRange args) {
               Value v = emitActivation(nb, nl, params, computeType,
                                        args.drop_back());
               linalg::YieldOp::create(nb, nl, convertScalar(nb, nl, v, elt));
             })
      .getResult(0);
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
      rewriter.replaceOp(op, lowerPanels(rewriter, {op}, {}, acc));
      return success();
    }

    if (std::optional<ArrayRef<int64_t>> extents = op.getGroupExtents()) {
      // Each group's own block of the stacked matrices, as for groups of
      // different shapes.
      Value rhs = op.getRhs()[0];
      auto rhsType = cast<RankedTensorType>(rhs.getType());
      for (int64_t e = 0; e < op.getNumGroups(); ++e) {
        int64_t k = (*extents)[2 * e], m = (*extents)[2 * e + 1];
        SmallVector<int64_t> block = transposed ? SmallVector<int64_t>{m, k}
                                                : SmallVector<int64_t>{k, m};
        OpFoldResult zero = rewriter.getIndexAttr(0);
        Value w =
            slice(rewriter, loc, rhs, {rewriter.getIndexAttr(e), zero, zero},
                  {rewriter.getIndexAttr(1), rewriter.getIndexAttr(block[0]),
                   rewriter.getIndexAttr(block[1])},
                  RankedTensorType::get(block, rhsType.getElementType()));
        Value bias;
        if (hasBias) {
          Value stackedBias = op.getBias()[0];
          auto biasType = cast<RankedTensorType>(stackedBias.getType());
          bias = slice(rewriter, loc, stackedBias,
                       {rewriter.getIndexAttr(e), zero},
                       {rewriter.getIndexAttr(1), rewriter.getIndexAttr(m)},
                       RankedTensorType::get({m}, biasType.getElementType()));
        }
        Value index = arith::ConstantIndexOp::create(rewriter, loc, e);
        acc = group(rewriter, loc, index, w, bias, acc);
      }
      rewriter.replaceOp(op, acc);
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
};

/// Panels [E, M / P, K, P] (or [M / P, K, P] per group) of `ops`: for each
/// group, one [rows, K] x [K, P] matmul per panel into the panel's columns
/// of the group's rows. The panel loop is outside the reduction, so a
/// group's [rows, P] output block stays in cache while its contiguous
/// [K, P] panel streams past (128-140 GFLOP/s against 104-114 for the
/// [K, M] matrix at H = 1024, I = 2816, 128 rows per expert;
/// bench/cpu/results/2026-11-29-panels.md).
///
/// With `gated` (`ops` are its gate and up projections, of one lhs, offsets
/// and panel shape), each panel's two [rows, P] blocks go through the
/// activation while they are in cache, and only the activation is written:
/// the [rows, M] gate and up results are never stored or read again.
Value lowerPanels(OpBuilder &rewriter, ArrayRef<GroupedMatmulOp> ops,
                  ActivationOp gated, Value acc) {
  GroupedMatmulOp first = ops.front();
  Location loc = first.getLoc();
  auto rhsType = cast<RankedTensorType>(first.getRhs()[0].getType());
  bool stacked = rhsType.getRank() == 4;
  ArrayRef<int64_t> shape = rhsType.getShape().take_back(3);
  int64_t numPanels = shape[0], k = shape[1], width = shape[2];
  Type elt = cast<RankedTensorType>(first.getType()).getElementType();
  auto panelType = RankedTensorType::get({k, width}, rhsType.getElementType());
  Value offsets = first.getOffsets(), lhs = first.getLhs();
  auto loop =
      [&](OpBuilder &b, Location l, int64_t trips, Value init,
          function_ref<Value(OpBuilder &, Location, Value, Value)> body) {
        Value lb = arith::ConstantIndexOp::create(b, l, 0);
        Value ub = arith::ConstantIndexOp::create(b, l, trips);
        Value step = arith::ConstantIndexOp::create(b, l, 1);
        return scf::ForOp::create(
                   b, l, lb, ub, step, ValueRange{init},
                   [&](OpBuilder &nb, Location nl, Value iv, ValueRange args) {
                     scf::YieldOp::create(nb, nl, body(nb, nl, iv, args[0]));
                   })
            .getResult(0);
      };
  // Group `e`'s panels: each op's `rhs` [(E,) M / P, K, P] and `bias`
  // [(E,) M] (null: none) hold them at `lead` ({e} when stacked, {} per
  // group).
  auto group = [&](OpBuilder &b, Location l, Value e, ArrayRef<Value> rhs,
                   ArrayRef<Value> bias, ArrayRef<OpFoldResult> lead,
                   Value into) {
    auto [lo, n] = groupRows(b, l, offsets, e);
    Value a = slice(b, l, lhs, {lo, b.getIndexAttr(0)}, {n, b.getIndexAttr(k)});
    return loop(
        b, l, numPanels, into,
        [&](OpBuilder &pb, Location pl, Value p, Value panelsInto) {
          Value col = arith::MulIOp::create(
              pb, pl, p, arith::ConstantIndexOp::create(pb, pl, width));
          SmallVector<OpFoldResult> outAt = {lo, col};
          SmallVector<OpFoldResult> outSize = {n, pb.getIndexAttr(width)};
          // The i-th op's [rows, P] block of panel p, accumulated into
          // `init`.
          auto block = [&](size_t i, Value init) {
            SmallVector<OpFoldResult> at(lead),
                one(lead.size(), pb.getIndexAttr(1));
            at.append({p, pb.getIndexAttr(0), pb.getIndexAttr(0)});
            SmallVector<OpFoldResult> sizes(one);
            sizes.append({pb.getIndexAttr(1), pb.getIndexAttr(k),
                          pb.getIndexAttr(width)});
            Value w = slice(pb, pl, rhs[i], at, sizes, panelType);
            Value panelBias;
            if (bias[i]) {
              SmallVector<OpFoldResult> biasAt(lead), biasSizes(one);
              biasAt.push_back(col);
              biasSizes.push_back(pb.getIndexAttr(width));
              panelBias =
                  slice(pb, pl, bias[i], biasAt, biasSizes,
                        RankedTensorType::get(
                            {width}, cast<RankedTensorType>(bias[i].getType())
                                         .getElementType()));
            }
            return emitMatmul(pb, pl, a, w, /*transposed=*/false, panelBias,
                              elt, init);
          };
          Value y;
          if (!gated) {
            y = block(0, slice(pb, pl, panelsInto, outAt, outSize));
          } else {
            // Each block gets a buffer of its own (alloc_tensor, which CSE
            // leaves apart, unlike tensor.empty): blocks that shared one
            // were copied for every panel, 10% of a layer's time. The
            // activation writes straight into the result's columns.
            auto blockType =
                RankedTensorType::get({ShapedType::kDynamic, width}, elt);
            Value zero =
                arith::ConstantOp::create(pb, pl, elt, pb.getZeroAttr(elt));
            SmallVector<Value> blocks;
            for (size_t i = 0; i < ops.size(); ++i) {
              Value buffer = bufferization::AllocTensorOp::create(
                  pb, pl, blockType, ValueRange{n});
              blocks.push_back(block(
                  i, linalg::FillOp::create(pb, pl, zero, buffer).result()));
            }
            y = activateRows(pb, pl, gated, blocks[0], blocks[1], width,
                             slice(pb, pl, panelsInto, outAt, outSize));
          }
          return insert(pb, pl, y, panelsInto, outAt, outSize);
        });
  };
  auto operandsOf = [&](size_t group, bool bias) {
    SmallVector<Value> values;
    for (GroupedMatmulOp op : ops) {
      OperandRange range = bias ? op.getBias() : op.getRhs();
      values.push_back(range.empty() ? Value() : range[group]);
    }
    return values;
  };
  if (stacked)
    return loop(rewriter, loc, first.getNumGroups(), acc,
                [&](OpBuilder &b, Location l, Value e, Value into) {
                  return group(b, l, e, operandsOf(0, false),
                               operandsOf(0, true), {e}, into);
                });
  for (int64_t e = 0, n = first.getNumGroups(); e < n; ++e) {
    Value index = arith::ConstantIndexOp::create(rewriter, loc, e);
    acc = group(rewriter, loc, index, operandsOf(e, false), operandsOf(e, true),
                {}, acc);
  }
  return acc;
}

/// An activation of a gate and an up projection on panels (moe-pack-panels
/// pairs them) that nothing else reads: the three run panel by panel
/// (lowerPanels). Applied before the one-op-at-a-time lowering, which would
/// take the projections apart from the activation.
struct GatedPanelsLowering : OpRewritePattern<ActivationOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(ActivationOp op,
                                PatternRewriter &rewriter) const override {
    auto gate = op.getInput().getDefiningOp<GroupedMatmulOp>();
    auto up = op.getUp() ? op.getUp().getDefiningOp<GroupedMatmulOp>()
                         : GroupedMatmulOp();
    auto resultType = cast<RankedTensorType>(op.getType());
    if (!gate || !up || gate == up || !gate.getPanels() || !up.getPanels() ||
        op.getGateLayout() != GateLayout::Separate || op.getWidths() ||
        gate.getLhs() != up.getLhs() || gate.getOffsets() != up.getOffsets() ||
        gate.getRhs().getTypes() != up.getRhs().getTypes() ||
        gate.getBias().empty() != up.getBias().empty() ||
        gate.getType() != up.getType() || gate.getType() != resultType ||
        !gate->hasOneUse() || !up->hasOneUse() || resultType.isDynamicDim(1))
      return rewriter.notifyMatchFailure(
          op, "not the only user of two panel projections of one shape");
    Value acc =
        zerosWithDimsOf(rewriter, op.getLoc(), resultType, {gate.getLhs()});
    rewriter.replaceOp(op, lowerPanels(rewriter, {gate, up}, op, acc));
    rewriter.eraseOp(gate);
    rewriter.eraseOp(up);
    return success();
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
    std::optional<GateLayout> layout = op.getGateLayout();

    std::optional<ArrayRef<int64_t>> widths = op.getWidths();
    if (!widths) {
      Value y = activateRows(rewriter, loc, op, op.getInput(), op.getUp(),
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
      Value y = activateRows(rewriter, loc, op, in, up, width);
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

void moe::detail::populateFusedExpertLoweringPatterns(
    RewritePatternSet &patterns) {
  patterns.add<GatedPanelsLowering>(patterns.getContext());
}
