//===- ExpertMerging.h - align and average expert FFNs ----------*- C++ -*-===//
//
// The numerics of MC-SMoE merging (MOE_REFERENCE §4 steps 4-5) on one
// expert's weights, independent of the IR: permuting an expert's hidden
// neurons to match a reference expert (Hungarian method, dlib) and the
// weighted average of a group of aligned experts.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_LIB_DIALECT_MOE_TRANSFORMS_EXPERTMERGING_H
#define MOE_LIB_DIALECT_MOE_TRANSFORMS_EXPERTMERGING_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/SmallVector.h"

#include <Eigen/Dense>

#include <vector>

namespace moe {

/// Where an expert's hidden neurons are in its first stage(s).
enum class HiddenLayout {
  /// up [H, F], down [F, H].
  Ungated,
  /// gate [H, F], up [H, F], down [F, H].
  Separate,
  /// fused [H, 2F]: column 2j is neuron j's gate, 2j + 1 its up.
  Interleaved,
  /// fused [H, 2F]: column j is neuron j's gate, F + j its up.
  Concatenated,
};

/// One expert FFN: stage weights in [in, out] layout (2 or 3 stages, the
/// last is down) and optionally one bias per stage.
struct ExpertFFN {
  llvm::SmallVector<Eigen::MatrixXf> weights;
  llvm::SmallVector<Eigen::VectorXf> biases;

  /// The hidden width F (rows of the down stage).
  int64_t hiddenWidth() const { return weights.back().rows(); }
};

/// C[i][j] = how well neuron j of `target` matches neuron i of `reference`:
/// the sum over the gate/up column blocks A of (A_ref^T A_tgt)[i][j] plus
/// (D_ref D_tgt^T)[i][j] for the down stage D (MC-SMoE's
/// W_in,ref W_in,tgt^T + W_out,ref^T W_out,tgt in torch layout).
Eigen::MatrixXd alignmentCost(const ExpertFFN &reference,
                              const ExpertFFN &target, HiddenLayout layout);

/// The permutation p maximizing sum_i cost(i, p[i]) (dlib's Hungarian
/// max_cost_assignment, on costs scaled to int64 so that the largest
/// magnitude is 2^40: ties below that resolution are broken by dlib).
std::vector<long> maxCostAssignment(const Eigen::MatrixXd &cost);

/// `expert` with its hidden neurons reordered: neuron i of the result is
/// neuron perm[i] of `expert` (gate/up columns, their bias entries and the
/// down rows move together, so the function is unchanged).
ExpertFFN permuteHidden(const ExpertFFN &expert, HiddenLayout layout,
                        llvm::ArrayRef<long> perm);

/// sum_i w_i X_i / sum_i w_i for every weight and bias; `weights` sum > 0.
ExpertFFN weightedAverage(llvm::ArrayRef<const ExpertFFN *> experts,
                          llvm::ArrayRef<double> weights);

} // namespace moe

#endif // MOE_LIB_DIALECT_MOE_TRANSFORMS_EXPERTMERGING_H
