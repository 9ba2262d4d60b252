//===- LayerEvaluator.cpp - a raised layer's router and experts -----------===//

#include "LayerEvaluator.h"
#include "ConstantSlicing.h"

#include <cmath>

using namespace mlir;
using namespace moe;

/// Matrix `index` of row-major [rows, cols] matrices stored back to back,
/// transposed on request.
static Eigen::MatrixXf matrixAt(ArrayRef<float> values, int64_t index,
                                int64_t rows, int64_t cols, bool transposed) {
  Eigen::Map<const RowMajorMatrixXf> m(values.data() + index * rows * cols,
                                       rows, cols);
  if (transposed)
    return m.transpose();
  return m;
}

static Eigen::RowVectorXf rowAt(ArrayRef<float> values, int64_t index,
                                int64_t cols) {
  return Eigen::Map<const Eigen::RowVectorXf>(values.data() + index * cols,
                                              cols);
}

FailureOr<LayerEvaluator> LayerEvaluator::create(const MoELayer &constLayer) {
  MoELayer layer = constLayer;
  LayerEvaluator eval;
  auto read = [](Operation *op, Value v,
                 StringRef what) -> FailureOr<std::vector<float>> {
    FailureOr<std::vector<float>> values = readFloatConstant(v);
    if (failed(values))
      return op->emitError() << "cannot evaluate the layer: the " << what
                             << " is not a readable f32, f16 or bf16 constant";
    return values;
  };

  GateOp gate = layer.gate;
  int64_t numExperts = gate.getNumExperts(), hidden = gate.getHiddenSize();
  FailureOr<std::vector<float>> router =
      read(gate, gate.getWeight(), "router weight");
  if (failed(router))
    return failure();
  // Stored [E, H] (or [H, E] when transposed); kept [H, E].
  eval.router = gate.getWeightTransposed()
                    ? matrixAt(*router, 0, hidden, numExperts, false)
                    : matrixAt(*router, 0, numExperts, hidden, true);
  if (Value b = gate.getBias()) {
    FailureOr<std::vector<float>> bias = read(gate, b, "router bias");
    if (failed(bias))
      return failure();
    eval.routerBias = rowAt(*bias, 0, numExperts);
  }

  ExpertsOp experts = layer.experts;
  eval.activation = experts.getActivation();
  eval.gateLayout = experts.getGateLayout();
  auto value = [](FloatAttr attr, double fallback) {
    return attr ? attr.getValueAsDouble() : fallback;
  };
  eval.alpha = value(experts.getAlphaAttr(), 1.0);
  eval.beta = value(experts.getBetaAttr(), 0.0);
  eval.kappa = value(experts.getKappaAttr(), 1.0);
  eval.lambda = value(experts.getLambdaAttr(), 1.0);
  if (FloatAttr l = experts.getLimitAttr())
    eval.limit = l.getValueAsDouble();

  if (!experts.getBiases().empty() &&
      experts.getBiases().size() != experts.getWeights().size())
    return experts.emitError("cannot evaluate the layer: expected one bias "
                             "per weight");
  FailureOr<ExpertWeights> weights =
      ExpertWeights::read(experts, [&](StringRef what, unsigned) {
        return experts->emitError()
               << "cannot evaluate the layer: the " << what
               << " is not a readable f32, f16 or bf16 constant";
      });
  if (failed(weights))
    return failure();
  eval.weights = std::move(*weights);
  return eval;
}

Eigen::MatrixXd LayerEvaluator::logits(const Eigen::MatrixXf &x) const {
  Eigen::MatrixXf l = x * router;
  if (routerBias.size())
    l.rowwise() += routerBias;
  return l.cast<double>();
}

float LayerEvaluator::activate(float zf) const {
  double z = zf;
  switch (activation) {
  case Activation::Identity:
    return z;
  case Activation::Relu:
    return z > 0 ? z : 0;
  case Activation::Gelu:
    return 0.5 * z * (1.0 + std::erf(z / std::sqrt(2.0)));
  case Activation::GeluTanh:
    return 0.5 * z *
           (1.0 +
            std::tanh(std::sqrt(2.0 / M_PI) * (z + 0.044715 * z * z * z)));
  case Activation::Silu:
    return z / (1.0 + std::exp(-alpha * z));
  case Activation::Apa:
  case Activation::Aglu: {
    // Stable form: exp(-(1/lambda) * softplus(ln(lambda) - kappa * z)).
    double lam = std::max(lambda, 1e-4);
    double t = std::log(lam) - kappa * z;
    double softplus =
        t > 0 ? t + std::log1p(std::exp(-t)) : std::log1p(std::exp(t));
    double apa = std::exp(-softplus / lam);
    return activation == Activation::Apa ? apa : z * apa;
  }
  }
  llvm_unreachable("unknown activation");
}

Eigen::MatrixXf LayerEvaluator::expert(int64_t e,
                                       const Eigen::MatrixXf &x) const {
  Eigen::MatrixXf h = weights.apply(e, 0, x);
  Eigen::MatrixXf a;
  if (!gateLayout) {
    a = h.unaryExpr([&](float z) { return activate(z); });
  } else {
    Eigen::MatrixXf g, u;
    if (*gateLayout == GateLayout::Separate) {
      g = h;
      u = weights.apply(e, 1, x);
    } else if (*gateLayout == GateLayout::Interleaved) {
      int64_t half = h.cols() / 2;
      g.resize(h.rows(), half);
      u.resize(h.rows(), half);
      for (int64_t j = 0; j < half; ++j) {
        g.col(j) = h.col(2 * j);
        u.col(j) = h.col(2 * j + 1);
      }
    } else {
      int64_t half = h.cols() / 2;
      g = h.leftCols(half);
      u = h.rightCols(half);
    }
    if (limit) {
      float l = *limit;
      g = g.cwiseMin(l);
      u = u.cwiseMax(-l).cwiseMin(l);
    }
    a = g.unaryExpr([&](float z) {
           return activate(z);
         }).cwiseProduct((u.array() + float(beta)).matrix());
  }
  return weights.apply(e, weights.numStages() - 1, a);
}
