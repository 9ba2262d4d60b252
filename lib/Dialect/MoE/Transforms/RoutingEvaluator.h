//===- RoutingEvaluator.h - moe.route semantics on doubles ------*- C++ -*-===//
//
// Calibrated passes replay a layer's routing on recorded data (balancing
// counts loads, pruning compares layer outputs, skipping counts skipped
// slots). This is the one C++ copy of the token-choice / top-p semantics of
// moe.route (the CPU kernels and python/moe_opt/reference.py are the
// others), so that every pass decides from what the compiled op computes.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_LIB_DIALECT_MOE_TRANSFORMS_ROUTINGEVALUATOR_H
#define MOE_LIB_DIALECT_MOE_TRANSFORMS_ROUTINGEVALUATOR_H

#include "moe/Dialect/MoE/IR/MoE.h"

#include "llvm/ADT/SmallVector.h"

#include <optional>

namespace moe {

/// The routing of one moe.route (token_choice or top_p mode). Fields are
/// public so that a pass can replay variants: another selection bias, a
/// narrower expert mask, another skip ratio.
struct RoutingEvaluator {
  ScoreFunction score;
  RoutingMode mode;
  int64_t numExperts, k;
  std::optional<int64_t> numGroups;
  int64_t topkGroups = 1, groupTopk = 2;
  double topP = 1.0;
  bool renormalize;
  double epsilon, scalingFactor;
  std::optional<double> skipRatio;
  /// Selectable experts (empty: all).
  llvm::SmallVector<bool> mask;

  explicit RoutingEvaluator(RouteOp route);

  /// Routes one token: its `logits` [E] and a selection bias [E] (empty:
  /// none) give `k` slots of (weight, id); unused or skipped slots hold
  /// weight 0 and id -1.
  void route(llvm::ArrayRef<double> logits, llvm::ArrayRef<double> bias,
             llvm::MutableArrayRef<double> weights,
             llvm::MutableArrayRef<int64_t> ids) const;

  /// Indices of the `count` largest `values`, descending, ties to the lower
  /// index.
  static llvm::SmallVector<int64_t> topK(llvm::ArrayRef<double> values,
                                         int64_t count);
};

} // namespace moe

#endif // MOE_LIB_DIALECT_MOE_TRANSFORMS_ROUTINGEVALUATOR_H
