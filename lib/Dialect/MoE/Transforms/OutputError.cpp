//===- OutputError.cpp - layer output change of removing experts ----------===//

#include "OutputError.h"
#include "ConstantSlicing.h"

using namespace mlir;
using namespace moe;

FailureOr<OutputError> OutputError::create(const MoELayer &constLayer,
                                           const LayerCalibration &calib) {
  MoELayer layer = constLayer;
  FailureOr<LayerEvaluator> eval = LayerEvaluator::create(layer);
  if (failed(eval))
    return failure();
  if (calib.inputWidth != eval->hiddenSize())
    return layer.gate.emitError()
           << "the calibration input sample has " << calib.inputWidth
           << " columns, the layer's hidden size is " << eval->hiddenSize();
  OutputError result{RoutingEvaluator(layer.route)};
  if (Value b = layer.route.getSelectionBias()) {
    FailureOr<std::vector<float>> bias = readFloatConstant(b);
    if (failed(bias))
      return layer.route.emitError("cannot evaluate the layer: the selection "
                                   "bias is not a readable constant");
    result.selectionBias.assign(bias->begin(), bias->end());
  }
  Eigen::MatrixXf x = Eigen::Map<const RowMajorMatrixXf>(
      calib.inputSample.data(), calib.numInputRows, calib.inputWidth);
  result.logits = eval->logits(x);
  for (int64_t e = 0; e < eval->numExperts(); ++e)
    result.expertOutputs.push_back(eval->expert(e, x).cast<double>());
  result.full = result.output(result.routing);
  return result;
}

Eigen::MatrixXd OutputError::output(const RoutingEvaluator &r) const {
  int64_t rows = logits.rows(), numExperts = logits.cols();
  Eigen::MatrixXd z = Eigen::MatrixXd::Zero(rows, expertOutputs[0].cols());
  SmallVector<double> weights(r.k);
  SmallVector<int64_t> ids(r.k);
  for (int64_t t = 0; t < rows; ++t) {
    r.route(ArrayRef<double>(logits.row(t).data(), numExperts), selectionBias,
            weights, ids);
    for (int64_t s = 0; s < r.k; ++s)
      if (ids[s] >= 0)
        z.row(t) += weights[s] * expertOutputs[ids[s]].row(t);
  }
  return z;
}

double OutputError::error(ArrayRef<int64_t> keep) const {
  RoutingEvaluator narrowed = routing;
  SmallVector<bool> mask(routing.numExperts, false);
  for (int64_t e : keep)
    mask[e] = routing.mask.empty() || routing.mask[e];
  narrowed.mask = std::move(mask);
  return (full - output(narrowed)).norm();
}
