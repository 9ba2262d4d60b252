//===- OutputError.h - layer output change of removing experts --*- C++ -*-===//
//
// Enumeration pruning (MOE_REFERENCE §5) scores a set of kept experts by how
// far the layer output on calibration rows moves: ||Z_full - Z_kept||_F,
// where Z_kept routes with the other experts masked out (moe.route's
// expert_mask semantics, i.e. their logits at -inf and the routing weights
// renormalized as the route does) and sums the kept experts' FFN outputs.
// The expert outputs are computed once; each set only re-routes.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_LIB_DIALECT_MOE_TRANSFORMS_OUTPUTERROR_H
#define MOE_LIB_DIALECT_MOE_TRANSFORMS_OUTPUTERROR_H

#include "LayerEvaluator.h"
#include "RoutingEvaluator.h"

namespace moe {

class OutputError {
public:
  /// Evaluates `layer` on `calib`'s input sample. Fails, with an error at
  /// the op, when a weight or the selection bias is not a readable constant
  /// or the sample's width is not the layer's hidden size.
  static mlir::FailureOr<OutputError> create(const MoELayer &layer,
                                             const LayerCalibration &calib);

  /// ||Z_full - Z_kept||_F with only the experts `keep` selectable.
  double error(llvm::ArrayRef<int64_t> keep) const;

  /// ||Z_full||_F, to put an error in proportion.
  double fullNorm() const { return full.norm(); }
  int64_t numRows() const { return logits.rows(); }

private:
  OutputError(RoutingEvaluator routing) : routing(std::move(routing)) {}

  /// The routed layer output for `routing` (its mask narrowed).
  Eigen::MatrixXd output(const RoutingEvaluator &routing) const;

  RoutingEvaluator routing;
  llvm::SmallVector<double> selectionBias;
  /// [N, E] router logits of the sample, each expert's [N, H] output, and
  /// the unpruned layer output [N, H].
  Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> logits;
  std::vector<Eigen::MatrixXd> expertOutputs;
  Eigen::MatrixXd full;
};

} // namespace moe

#endif // MOE_LIB_DIALECT_MOE_TRANSFORMS_OUTPUTERROR_H
