//===- ExpertMerging.cpp - align and average expert FFNs ------------------===//

#include "ExpertMerging.h"

#include <dlib/optimization/max_cost_assignment.h>

#include <cmath>

using namespace moe;

/// Stage-0 columns of neurons `neurons` (in that order), per gate/up part:
/// one part for ungated and separate experts (separate: the same columns in
/// stages 0 and 1), two (gate, up) for fused ones.
static std::vector<std::vector<int>>
firstStageColumns(HiddenLayout layout, int64_t width,
                  llvm::ArrayRef<long> neurons) {
  std::vector<std::vector<int>> parts(layout == HiddenLayout::Interleaved ||
                                              layout ==
                                                  HiddenLayout::Concatenated
                                          ? 2
                                          : 1);
  for (long j : neurons) {
    switch (layout) {
    case HiddenLayout::Ungated:
    case HiddenLayout::Separate:
      parts[0].push_back(j);
      break;
    case HiddenLayout::Interleaved:
      parts[0].push_back(2 * j);
      parts[1].push_back(2 * j + 1);
      break;
    case HiddenLayout::Concatenated:
      parts[0].push_back(j);
      parts[1].push_back(width + j);
      break;
    }
  }
  return parts;
}

static std::vector<long> identity(int64_t n) {
  std::vector<long> ids(n);
  for (int64_t i = 0; i < n; ++i)
    ids[i] = i;
  return ids;
}

/// The input-side [H, F] blocks of an expert (gate and up parts), in
/// neuron order.
static llvm::SmallVector<Eigen::MatrixXd> inputBlocks(const ExpertFFN &expert,
                                                      HiddenLayout layout) {
  int64_t width = expert.hiddenWidth();
  llvm::SmallVector<Eigen::MatrixXd> blocks;
  for (const std::vector<int> &cols :
       firstStageColumns(layout, width, identity(width)))
    blocks.push_back(expert.weights[0](Eigen::all, cols).cast<double>());
  if (layout == HiddenLayout::Separate)
    blocks.push_back(expert.weights[1].cast<double>());
  return blocks;
}

Eigen::MatrixXd moe::alignmentCost(const ExpertFFN &reference,
                                   const ExpertFFN &target,
                                   HiddenLayout layout) {
  llvm::SmallVector<Eigen::MatrixXd> ref = inputBlocks(reference, layout);
  llvm::SmallVector<Eigen::MatrixXd> tgt = inputBlocks(target, layout);
  Eigen::MatrixXd cost = reference.weights.back().cast<double>() *
                         target.weights.back().cast<double>().transpose();
  for (auto [a, b] : llvm::zip(ref, tgt))
    cost += a.transpose() * b;
  return cost;
}

std::vector<long> moe::maxCostAssignment(const Eigen::MatrixXd &cost) {
  long n = cost.rows();
  double largest = cost.cwiseAbs().maxCoeff();
  // dlib's Hungarian method is exact on integers: 2^40 steps for the largest
  // magnitude keeps the sums of n terms far from int64 overflow.
  double scale = largest > 0 ? std::ldexp(1.0, 40) / largest : 0.0;
  dlib::matrix<int64_t> scaled(n, n);
  for (long i = 0; i < n; ++i)
    for (long j = 0; j < n; ++j)
      scaled(i, j) = int64_t(std::llround(cost(i, j) * scale));
  return dlib::max_cost_assignment(scaled);
}

ExpertFFN moe::permuteHidden(const ExpertFFN &expert, HiddenLayout layout,
                             llvm::ArrayRef<long> perm) {
  std::vector<std::vector<int>> parts =
      firstStageColumns(layout, expert.hiddenWidth(), perm);
  // Each neuron's columns go where the layout puts that neuron.
  std::vector<std::vector<int>> slots =
      firstStageColumns(layout, expert.hiddenWidth(), identity(perm.size()));
  std::vector<int> columns(parts.size() * perm.size());
  for (size_t part = 0; part < parts.size(); ++part)
    for (size_t i = 0; i < perm.size(); ++i)
      columns[slots[part][i]] = parts[part][i];
  std::vector<int> rows(perm.begin(), perm.end());

  ExpertFFN result = expert;
  size_t down = expert.weights.size() - 1;
  for (size_t s = 0; s < down; ++s) {
    result.weights[s] = expert.weights[s](Eigen::all, columns);
    if (!expert.biases.empty())
      result.biases[s] = expert.biases[s](columns);
  }
  result.weights[down] = expert.weights[down](rows, Eigen::all);
  return result;
}

ExpertFFN moe::weightedAverage(llvm::ArrayRef<const ExpertFFN *> experts,
                               llvm::ArrayRef<double> weights) {
  double total = 0;
  for (double w : weights)
    total += w;
  auto average = [&](auto member) {
    auto sum =
        (member(*experts[0]).template cast<double>() * weights[0]).eval();
    for (size_t i = 1; i < experts.size(); ++i)
      sum += member(*experts[i]).template cast<double>() * weights[i];
    return (sum / total).template cast<float>().eval();
  };
  ExpertFFN result;
  for (size_t s = 0; s < experts[0]->weights.size(); ++s) {
    result.weights.push_back(
        average([&](const ExpertFFN &e) -> const Eigen::MatrixXf & {
          return e.weights[s];
        }));
    if (!experts[0]->biases.empty())
      result.biases.push_back(
          average([&](const ExpertFFN &e) -> const Eigen::VectorXf & {
            return e.biases[s];
          }));
  }
  return result;
}
