//===- LayerEvaluator.h - a raised layer's router and experts ---*- C++ -*-===//
//
// Calibrated passes that judge a change by the layer output it produces
// (enumeration pruning, and later merging or compression) evaluate the
// layer here, on calibration rows, from its constant weights: the router
// logits of moe.gate and every expert's FFN as moe.experts computes it
// (moe.activation semantics: gated layouts, alpha / beta / limit, kappa /
// lambda, biases, transposed and per-expert weights).
//
//===----------------------------------------------------------------------===//

#ifndef MOE_LIB_DIALECT_MOE_TRANSFORMS_LAYEREVALUATOR_H
#define MOE_LIB_DIALECT_MOE_TRANSFORMS_LAYEREVALUATOR_H

#include "ExpertWeights.h"

#include "moe/Dialect/MoE/Transforms/Calibration.h"

#include <Eigen/Dense>

#include <optional>
#include <vector>

namespace moe {

class LayerEvaluator {
public:
  /// Reads the layer's router and expert weights; fails with an error at
  /// the op whose weight is not a readable f32 / f16 / bf16 constant.
  static mlir::FailureOr<LayerEvaluator> create(const MoELayer &layer);

  /// Router logits [N, E] of the rows `x` [N, H].
  Eigen::MatrixXd logits(const Eigen::MatrixXf &x) const;

  /// Expert `e`'s FFN on the rows `x` [N, H]: [N, H].
  Eigen::MatrixXf expert(int64_t e, const Eigen::MatrixXf &x) const;

  int64_t numExperts() const { return weights.numExperts(); }
  int64_t hiddenSize() const { return router.rows(); }

private:
  float activate(float z) const;

  /// [H, E] and [E] (empty: no bias).
  Eigen::MatrixXf router;
  Eigen::RowVectorXf routerBias;
  /// The expert weights and biases as f32; no per-expert copy is made.
  ExpertWeights weights;
  Activation activation = Activation::Identity;
  std::optional<GateLayout> gateLayout;
  double alpha = 1.0, beta = 0.0, kappa = 1.0, lambda = 1.0;
  std::optional<double> limit;
};

} // namespace moe

#endif // MOE_LIB_DIALECT_MOE_TRANSFORMS_LAYEREVALUATOR_H
