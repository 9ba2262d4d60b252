//===- PackPanels.cpp - wide constant expert weights in column panels -----===//
//
// A grouped matmul that widens (gate and up: K = 1024 -> M = 5632) spends
// its time streaming the weight matrix past each group's rows. Read [K, M],
// a 64-column slice of it is 256 bytes of every 22 KiB row, and the blocked
// schedule walks the whole matrix once per reduction block; stored as
// contiguous [K, 64] panels, one panel is read straight through while the
// group's [rows, 64] output block stays in cache. At H = 1024, I = 2816 and
// 128 rows per expert that is 128-140 GFLOP/s against 104-114 for the
// [K, M] schedule; the down projection (2816 -> 1024) and groups of 16 rows
// gained nothing from it (bench/cpu/results/2026-11-29-panels.md), hence
// the shape test below. Per-expert weights (a per-expert loop export, one
// [K, M] constant per group, memory-mapped in 4 KiB pages) get one panel
// stack per group.
//
// Groups of a few rows (decode, T = 16 over 8 experts) read the panels
// 1.2-1.6x slower than the [K, M] matrix, whose few-rows schedule streams
// eight weight rows at once: a call whose rows average fewer than
// `min-rows-per-group` per group keeps the matrix (an scf.if on the row
// count), so such a weight is passed twice, once per layout.
//
// A gate and an up projection that only feed one activation share one
// branch with it, where convert-moe-to-linalg lowers the three panel by
// panel: the gate and up blocks of a panel go through the activation while
// they are in cache, and only the activation is written.
//
// The new layout is explicit IR (tensor.expand_shape + linalg.transpose of
// the weight), so the result is correct on its own; moe-pack-parameters
// folds that change of layout into a parameter, which the runner then packs
// once at load time.
//
//===----------------------------------------------------------------------===//

#include "moe/Pipelines/Passes.h"

#include "moe/Dialect/MoE/IR/MoE.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/IRMapping.h"

namespace moe {
#define GEN_PASS_DEF_MOEPACKPANELS
#include "moe/Pipelines/Passes.h.inc"
} // namespace moe

using namespace mlir;

namespace {

/// A weight [(E,) K, M] (or [(E,) M, K] with transpose_rhs) as panels
/// [(E,) M / width, K, width].
Value toPanels(OpBuilder &b, Location loc, Value weight, bool transposed,
               int64_t width) {
  auto type = cast<RankedTensorType>(weight.getType());
  int64_t rank = type.getRank();
  SmallVector<int64_t> lead(type.getShape().drop_back(2));
  int64_t k = type.getDimSize(rank - (transposed ? 1 : 2));
  int64_t panels = type.getDimSize(rank - (transposed ? 2 : 1)) / width;
  Type elt = type.getElementType();
  // [(E,) K, M / w, w] or [(E,) M / w, w, K]: the same elements, reshaped.
  SmallVector<int64_t> expanded(lead), packed(lead);
  if (transposed)
    expanded.append({panels, width, k});
  else
    expanded.append({k, panels, width});
  packed.append({panels, k, width});
  SmallVector<ReassociationIndices> groups;
  SmallVector<int64_t> permutation;
  int64_t d = lead.size();
  for (int64_t i = 0; i < d; ++i) {
    groups.push_back({i});
    permutation.push_back(i);
  }
  if (transposed) {
    groups.append({{d, d + 1}, {d + 2}});
    permutation.append({d, d + 2, d + 1});
  } else {
    groups.append({{d}, {d + 1, d + 2}});
    permutation.append({d + 1, d, d + 2});
  }
  Value reshaped = tensor::ExpandShapeOp::create(
      b, loc, RankedTensorType::get(expanded, elt), weight, groups);
  Value init = tensor::EmptyOp::create(b, loc, packed, elt);
  return linalg::TransposeOp::create(b, loc, reshaped, init, permutation)
      .getResult()
      .front();
}

struct PackPanelsPass : moe::impl::MoEPackPanelsBase<PackPanelsPass> {
  using MoEPackPanelsBase::MoEPackPanelsBase;

  void runOnOperation() override {
    if (width <= 0 || minRowsPerGroup < 0) {
      getOperation().emitError("moe-pack-panels: width must be positive and "
                               "min-rows-per-group not negative, got ")
          << static_cast<int64_t>(width) << " and "
          << static_cast<int64_t>(minRowsPerGroup);
      return signalPassFailure();
    }
    SmallVector<moe::GroupedMatmulOp> targets;
    getOperation().walk([&](moe::GroupedMatmulOp op) {
      if (isTarget(op))
        targets.push_back(op);
    });
    // A gate and an up projection that only feed one activation move into
    // the same branch as it, so that convert-moe-to-linalg can run the three
    // panel by panel (see its fused gated-activation lowering).
    DenseSet<Operation *> paired;
    getOperation().walk([&](moe::ActivationOp act) {
      auto gate = act.getInput().getDefiningOp<moe::GroupedMatmulOp>();
      auto up = act.getUp() ? act.getUp().getDefiningOp<moe::GroupedMatmulOp>()
                            : moe::GroupedMatmulOp();
      if (!gate || !up || gate == up || !isTarget(gate) || !isTarget(up) ||
          gate.getLhs() != up.getLhs() ||
          gate.getOffsets() != up.getOffsets() ||
          gate.getNumGroups() != up.getNumGroups() || !gate->hasOneUse() ||
          !up->hasOneUse() || act.getWidths())
        return;
      paired.insert(gate);
      paired.insert(up);
      rewrite({gate, up}, act);
    });
    for (moe::GroupedMatmulOp op : targets)
      if (!paired.contains(op))
        rewrite({op}, /*consumer=*/nullptr);
  }

  /// `ops` on panels where the rows are many enough, as they are elsewhere;
  /// with `consumer` (which uses the results of `ops` only), it too goes
  /// into each branch, and its result is what the choice yields.
  void rewrite(ArrayRef<moe::GroupedMatmulOp> ops, Operation *consumer) {
    moe::GroupedMatmulOp first = ops.front();
    Operation *last = consumer ? consumer : first.getOperation();
    OpBuilder b(last);
    Location loc = last->getLoc();
    auto build = [&](OpBuilder &nb, Location nl, bool panelsToo) -> Value {
      IRMapping mapping;
      for (moe::GroupedMatmulOp op : ops) {
        Value result;
        if (panelsToo) {
          SmallVector<Value> panels;
          for (Value rhs : op.getRhs())
            panels.push_back(
                toPanels(nb, nl, rhs, op.getTransposeRhs(), width));
          result = moe::GroupedMatmulOp::create(
              nb, nl, op.getType(), op.getLhs(), panels, op.getOffsets(),
              op.getBias(), /*transpose_rhs=*/false, /*panels=*/true,
              /*group_extents=*/nullptr);
        } else {
          result = nb.clone(*op)->getResult(0);
        }
        mapping.map(op.getResult(), result);
      }
      if (!consumer)
        return mapping.lookup(first.getResult());
      return nb.clone(*consumer, mapping)->getResult(0);
    };
    int64_t threshold = minRowsPerGroup * first.getNumGroups();
    auto lhsType = cast<RankedTensorType>(first.getLhs().getType());
    Value result;
    if (!lhsType.isDynamicDim(0)) {
      if (lhsType.getDimSize(0) < threshold)
        return;
      result = build(b, loc, /*panelsToo=*/true);
    } else {
      Value rows = tensor::DimOp::create(b, loc, first.getLhs(), 0);
      Value many = arith::CmpIOp::create(
          b, loc, arith::CmpIPredicate::uge, rows,
          arith::ConstantIndexOp::create(b, loc, threshold));
      result = scf::IfOp::create(
                   b, loc, many,
                   [&](OpBuilder &tb, Location tl) {
                     scf::YieldOp::create(tb, tl, build(tb, tl, true));
                   },
                   [&](OpBuilder &eb, Location el) {
                     scf::YieldOp::create(eb, el, build(eb, el, false));
                   })
                   .getResult(0);
    }
    last->getResult(0).replaceAllUsesWith(result);
    if (consumer)
      consumer->erase();
    for (moe::GroupedMatmulOp op : ops)
      op.erase();
  }

  /// f32 constant weights, stacked or one per group of one shape, that
  /// widen (M > K) into a whole number of panels.
  bool isTarget(moe::GroupedMatmulOp op) const {
    auto type = cast<RankedTensorType>(op.getRhs()[0].getType());
    // Panels hold whole matrices: group_extents stays with the stacked form.
    if (op.getPanels() || op.getGroupExtents() ||
        (!op.isStacked() && type.getRank() != 2) ||
        (!op.isStacked() &&
         static_cast<int64_t>(op.getRhs().size()) > maxSeparateGroups) ||
        llvm::any_of(op.getRhs(), [&](Value rhs) {
          return rhs.getType() != type ||
                 !rhs.getDefiningOp<arith::ConstantOp>();
        }))
      return false;
    if (!type.getElementType().isF32() ||
        !cast<RankedTensorType>(op.getType()).getElementType().isF32())
      return false;
    bool transposed = op.getTransposeRhs();
    int64_t rank = type.getRank();
    int64_t k = type.getDimSize(rank - (transposed ? 1 : 2));
    int64_t m = type.getDimSize(rank - (transposed ? 2 : 1));
    return m % width == 0 && m > k;
  }
};

} // namespace
