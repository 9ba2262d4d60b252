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
// the shape test below.
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
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinOps.h"

namespace moe {
#define GEN_PASS_DEF_MOEPACKPANELS
#include "moe/Pipelines/Passes.h.inc"
} // namespace moe

using namespace mlir;

namespace {

/// The stacked weight [E, K, M] (or [E, M, K] with transpose_rhs) as panels
/// [E, M / width, K, width].
Value toPanels(OpBuilder &b, Location loc, Value weight, bool transposed,
               int64_t width) {
  auto type = cast<RankedTensorType>(weight.getType());
  int64_t e = type.getDimSize(0);
  int64_t k = type.getDimSize(transposed ? 2 : 1);
  int64_t panels = type.getDimSize(transposed ? 1 : 2) / width;
  Type elt = type.getElementType();
  // [E, K, M / w, w] or [E, M / w, w, K]: the same elements, reshaped.
  SmallVector<int64_t> expanded =
      transposed ? SmallVector<int64_t>{e, panels, width, k}
                 : SmallVector<int64_t>{e, k, panels, width};
  SmallVector<ReassociationIndices> groups =
      transposed ? SmallVector<ReassociationIndices>{{0}, {1, 2}, {3}}
                 : SmallVector<ReassociationIndices>{{0}, {1}, {2, 3}};
  Value reshaped = tensor::ExpandShapeOp::create(
      b, loc, RankedTensorType::get(expanded, elt), weight, groups);
  SmallVector<int64_t> permutation = transposed
                                         ? SmallVector<int64_t>{0, 1, 3, 2}
                                         : SmallVector<int64_t>{0, 2, 1, 3};
  Value init = tensor::EmptyOp::create(
      b, loc, ArrayRef<int64_t>{e, panels, k, width}, elt);
  return linalg::TransposeOp::create(b, loc, reshaped, init, permutation)
      .getResult()
      .front();
}

struct PackPanelsPass : moe::impl::MoEPackPanelsBase<PackPanelsPass> {
  using MoEPackPanelsBase::MoEPackPanelsBase;

  void runOnOperation() override {
    if (width <= 0) {
      getOperation().emitError("moe-pack-panels: width must be positive, got ")
          << static_cast<int64_t>(width);
      return signalPassFailure();
    }
    SmallVector<moe::GroupedMatmulOp> targets;
    getOperation().walk([&](moe::GroupedMatmulOp op) {
      if (isTarget(op))
        targets.push_back(op);
    });
    for (moe::GroupedMatmulOp op : targets) {
      OpBuilder b(op);
      bool transposed = op.getTransposeRhs();
      Value panels =
          toPanels(b, op.getLoc(), op.getRhs()[0], transposed, width);
      auto packed = moe::GroupedMatmulOp::create(
          b, op.getLoc(), op.getType(), op.getLhs(), ValueRange{panels},
          op.getOffsets(), op.getBias(), /*transpose_rhs=*/false,
          /*panels=*/true);
      op.getResult().replaceAllUsesWith(packed.getResult());
      op.erase();
    }
  }

  /// Stacked f32 constant weights that widen (M > K) into a whole number of
  /// panels.
  bool isTarget(moe::GroupedMatmulOp op) const {
    if (!op.isStacked() || !op.getRhs()[0].getDefiningOp<arith::ConstantOp>())
      return false;
    auto type = cast<RankedTensorType>(op.getRhs()[0].getType());
    if (!type.getElementType().isF32() ||
        !cast<RankedTensorType>(op.getType()).getElementType().isF32())
      return false;
    bool transposed = op.getTransposeRhs();
    int64_t k = type.getDimSize(transposed ? 2 : 1);
    int64_t m = type.getDimSize(transposed ? 1 : 2);
    return m % width == 0 && m > k;
  }
};

} // namespace
