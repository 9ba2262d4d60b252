//===- ExpertWeights.h - a moe.experts' constant weights --------*- C++ -*-===//
//
// Passes that compute with expert weights (the layer evaluator of
// enumeration pruning, merging) read a moe.experts' weight and bias
// constants here, once each as f32, whatever their storage: stacked [E, ..]
// or one tensor per expert, [in, out] or transposed [out, in].
//
//===----------------------------------------------------------------------===//

#ifndef MOE_LIB_DIALECT_MOE_TRANSFORMS_EXPERTWEIGHTS_H
#define MOE_LIB_DIALECT_MOE_TRANSFORMS_EXPERTWEIGHTS_H

#include "moe/Dialect/MoE/IR/MoE.h"

#include "mlir/IR/Diagnostics.h"
#include "llvm/ADT/STLFunctionalExtras.h"

#include <Eigen/Dense>

#include <vector>

namespace moe {

/// The layout of weight constants and calibration rows.
using RowMajorMatrixXf =
    Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

class ExpertWeights {
public:
  /// Starts the error for an operand that is not a readable f32 / f16 /
  /// bf16 constant: `what` is "expert weight" or "expert bias", `index` its
  /// position among the op's weights or biases.
  using ErrorFn = llvm::function_ref<mlir::InFlightDiagnostic(
      llvm::StringRef what, unsigned index)>;

  /// Reads every weight, then every bias, of `experts`.
  static mlir::FailureOr<ExpertWeights> read(ExpertsOp experts, ErrorFn error);

  int64_t numExperts() const { return stages.size(); }
  unsigned numStages() const { return stages.empty() ? 0 : stages[0].size(); }
  bool hasBiases() const { return !biasValues.empty(); }

  /// Expert `e`'s stage `s` as an [in, out] matrix (a copy).
  Eigen::MatrixXf matrix(int64_t e, unsigned s) const;
  /// Its bias [out]; only when hasBiases().
  Eigen::VectorXf bias(int64_t e, unsigned s) const;
  /// x * W (+ b) for the rows `x` [N, in], without copying W.
  Eigen::MatrixXf apply(int64_t e, unsigned s, const Eigen::MatrixXf &x) const;

private:
  /// Matrix `index` of the weight constant `operand`, stored [rows, cols]
  /// row-major ([out, in] when `transposed`), and the same row of its bias.
  struct Linear {
    unsigned operand;
    int64_t index, rows, cols;
    bool transposed;
  };
  Eigen::Map<const RowMajorMatrixXf> stored(const Linear &linear) const;

  /// The weight and bias constants as f32, in operand order.
  std::vector<std::vector<float>> weightValues, biasValues;
  /// Per expert, its stages (gate, up, down or up, down).
  std::vector<std::vector<Linear>> stages;
};

} // namespace moe

#endif // MOE_LIB_DIALECT_MOE_TRANSFORMS_EXPERTWEIGHTS_H
