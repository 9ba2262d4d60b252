//===- ExpertWeights.cpp - a moe.experts' constant weights ----------------===//

#include "ExpertWeights.h"
#include "ConstantSlicing.h"

using namespace mlir;
using namespace moe;

FailureOr<ExpertWeights> ExpertWeights::read(ExpertsOp experts, ErrorFn error) {
  ExpertWeights result;
  auto readAll = [&](auto values, StringRef what,
                     std::vector<std::vector<float>> &into) {
    for (auto [i, v] : llvm::enumerate(values)) {
      FailureOr<std::vector<float>> floats = readFloatConstant(v);
      if (failed(floats)) {
        (void)error(what, i);
        return failure();
      }
      into.push_back(std::move(*floats));
    }
    return success();
  };
  if (failed(readAll(experts.getWeights(), "expert weight",
                     result.weightValues)) ||
      failed(readAll(experts.getBiases(), "expert bias", result.biasValues)))
    return failure();

  bool stacked = experts.isStacked();
  unsigned numStages = experts.getNumStages();
  auto weights = experts.getWeights();
  result.stages.resize(experts.getNumExperts());
  for (auto [e, linears] : llvm::enumerate(result.stages)) {
    for (unsigned s = 0; s < numStages; ++s) {
      unsigned operand = stacked ? s : e * numStages + s;
      auto shape =
          cast<RankedTensorType>(weights[operand].getType()).getShape();
      linears.push_back({operand, stacked ? int64_t(e) : 0,
                         shape[shape.size() - 2], shape.back(),
                         experts.getTransposedWeights()});
    }
  }
  return result;
}

Eigen::Map<const RowMajorMatrixXf>
ExpertWeights::stored(const Linear &linear) const {
  return Eigen::Map<const RowMajorMatrixXf>(
      weightValues[linear.operand].data() +
          linear.index * linear.rows * linear.cols,
      linear.rows, linear.cols);
}

Eigen::MatrixXf ExpertWeights::matrix(int64_t e, unsigned s) const {
  const Linear &linear = stages[e][s];
  if (linear.transposed)
    return stored(linear).transpose();
  return stored(linear);
}

Eigen::VectorXf ExpertWeights::bias(int64_t e, unsigned s) const {
  const Linear &linear = stages[e][s];
  int64_t out = linear.transposed ? linear.rows : linear.cols;
  return Eigen::Map<const Eigen::VectorXf>(
      biasValues[linear.operand].data() + linear.index * out, out);
}

Eigen::MatrixXf ExpertWeights::apply(int64_t e, unsigned s,
                                     const Eigen::MatrixXf &x) const {
  const Linear &linear = stages[e][s];
  Eigen::MatrixXf y;
  if (linear.transposed)
    y = x * stored(linear).transpose();
  else
    y = x * stored(linear);
  if (hasBiases())
    y.rowwise() += bias(e, s).transpose();
  return y;
}
