//===- ActivationMath.cpp - scalar math of moe.activation -----------------===//

#include "moe/Conversion/MoEToLinalg/ActivationMath.h"

#include "Common.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>

using namespace mlir;
using namespace moe;

static std::optional<double> valueOf(FloatAttr attr) {
  if (!attr)
    return std::nullopt;
  return attr.getValueAsDouble();
}

ActivationParams ActivationParams::get(ActivationOp op) {
  return {op.getActivation(),         op.getGateLayout(),
          valueOf(op.getAlphaAttr()), valueOf(op.getBetaAttr()),
          valueOf(op.getLimitAttr()), valueOf(op.getKappaAttr()),
          valueOf(op.getLambdaAttr())};
}

std::string ActivationParams::mangle() const {
  std::string name;
  llvm::raw_string_ostream os(name);
  os << stringifyActivation(activation);
  if (gateLayout)
    os << "_" << stringifyGateLayout(*gateLayout);
  auto param = [&](const char *tag, std::optional<double> v) {
    if (v)
      os << "_" << tag << llvm::format("%g", *v);
  };
  param("a", alpha);
  param("b", beta);
  param("l", limit);
  param("k", kappa);
  param("m", lambda);
  // Kernel names are PTX identifiers: letters, digits, '_' and '$'.
  for (char &c : name)
    if (c == '.')
      c = 'p';
    else if (c == '-')
      c = 'n';
    else if (c == '+')
      c = '_';
  return name;
}

bool ActivationParams::operator==(const ActivationParams &o) const {
  return activation == o.activation && gateLayout == o.gateLayout &&
         alpha == o.alpha && beta == o.beta && limit == o.limit &&
         kappa == o.kappa && lambda == o.lambda;
}

namespace {

/// The activation's scalar math, shared by every layout.
class ActivationEmitter {
public:
  ActivationEmitter(const ActivationParams &params, Type computeType)
      : params(params), type(computeType) {}

  Value emit(OpBuilder &b, Location loc, ValueRange values) const {
    Value z = moe::detail::convertScalar(b, loc, values[0], type);
    if (!params.isGated())
      return apply(b, loc, z);
    Value u = moe::detail::convertScalar(b, loc, values[1], type);
    if (params.limit) {
      Value hi = constant(b, loc, *params.limit);
      Value lo = constant(b, loc, -*params.limit);
      z = arith::MinimumFOp::create(b, loc, z, hi);
      u = arith::MaximumFOp::create(
          b, loc, arith::MinimumFOp::create(b, loc, u, hi), lo);
    }
    if (params.beta)
      u = arith::AddFOp::create(b, loc, u, constant(b, loc, *params.beta));
    return arith::MulFOp::create(b, loc, apply(b, loc, z), u);
  }

private:
  Value constant(OpBuilder &b, Location loc, double v) const {
    return arith::ConstantOp::create(b, loc, b.getFloatAttr(type, v));
  }

  Value sigmoid(OpBuilder &b, Location loc, Value z) const {
    Value one = constant(b, loc, 1.0);
    Value e = math::ExpOp::create(b, loc, arith::NegFOp::create(b, loc, z));
    return arith::DivFOp::create(b, loc, one,
                                 arith::AddFOp::create(b, loc, one, e));
  }

  /// APA(z) = exp(-(1/lambda) * softplus(ln(lambda) - kappa z)), the stable
  /// form of (lambda exp(-kappa z) + 1)^(-1/lambda); lambda >= 1e-4.
  Value apa(OpBuilder &b, Location loc, Value z) const {
    double kappa = params.kappa.value_or(1.0);
    double lambda = std::max(params.lambda.value_or(1.0), 1e-4);
    Value y = arith::SubFOp::create(
        b, loc, constant(b, loc, std::log(lambda)),
        arith::MulFOp::create(b, loc, constant(b, loc, kappa), z));
    // softplus(y) = max(y, 0) + log1p(exp(-|y|)).
    Value pos = arith::MaximumFOp::create(b, loc, y, constant(b, loc, 0.0));
    Value negAbs =
        arith::NegFOp::create(b, loc, math::AbsFOp::create(b, loc, y));
    Value softplus = arith::AddFOp::create(
        b, loc, pos,
        math::Log1pOp::create(b, loc, math::ExpOp::create(b, loc, negAbs)));
    return math::ExpOp::create(
        b, loc,
        arith::MulFOp::create(b, loc, constant(b, loc, -1.0 / lambda),
                              softplus));
  }

  Value apply(OpBuilder &b, Location loc, Value z) const {
    switch (params.activation) {
    case Activation::Identity:
      return z;
    case Activation::Relu:
      return arith::MaximumFOp::create(b, loc, z, constant(b, loc, 0.0));
    case Activation::Gelu: {
      Value scaled =
          arith::MulFOp::create(b, loc, z, constant(b, loc, M_SQRT1_2));
      Value cdf = arith::AddFOp::create(b, loc, constant(b, loc, 1.0),
                                        math::ErfOp::create(b, loc, scaled));
      return arith::MulFOp::create(
          b, loc, arith::MulFOp::create(b, loc, constant(b, loc, 0.5), z), cdf);
    }
    case Activation::GeluTanh: {
      Value cube =
          arith::MulFOp::create(b, loc, z, arith::MulFOp::create(b, loc, z, z));
      Value inner = arith::AddFOp::create(
          b, loc, z,
          arith::MulFOp::create(b, loc, constant(b, loc, 0.044715), cube));
      Value t = math::TanhOp::create(
          b, loc,
          arith::MulFOp::create(b, loc, constant(b, loc, std::sqrt(2.0 / M_PI)),
                                inner));
      Value cdf = arith::AddFOp::create(b, loc, constant(b, loc, 1.0), t);
      return arith::MulFOp::create(
          b, loc, arith::MulFOp::create(b, loc, constant(b, loc, 0.5), z), cdf);
    }
    case Activation::Silu: {
      Value scaled = z;
      if (params.alpha)
        scaled =
            arith::MulFOp::create(b, loc, z, constant(b, loc, *params.alpha));
      return arith::MulFOp::create(b, loc, z, sigmoid(b, loc, scaled));
    }
    case Activation::Apa:
      return apa(b, loc, z);
    case Activation::Aglu:
      return arith::MulFOp::create(b, loc, z, apa(b, loc, z));
    }
    llvm_unreachable("unknown activation");
  }

  const ActivationParams &params;
  Type type;
};

} // namespace

Value moe::emitActivation(OpBuilder &b, Location loc,
                          const ActivationParams &params, Type computeType,
                          ValueRange values) {
  return ActivationEmitter(params, computeType).emit(b, loc, values);
}
