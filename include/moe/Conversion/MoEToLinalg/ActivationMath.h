//===- ActivationMath.h - scalar math of moe.activation ---------*- C++ -*-===//
//
// The scalar formula of an expert activation, shared by the CPU lowering
// (inside linalg.generic bodies) and the GPU kernels (inside a GEMM's
// epilogue or an element-wise kernel), so that both compute the same thing.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_CONVERSION_MOETOLINALG_ACTIVATIONMATH_H
#define MOE_CONVERSION_MOETOLINALG_ACTIVATIONMATH_H

#include "moe/Dialect/MoE/IR/MoE.h"

#include "mlir/IR/Builders.h"

#include <optional>
#include <string>

namespace moe {

/// The attributes of moe.activation (or moe.experts) that define the math,
/// detached from the op so that kernels can be cached by them.
struct ActivationParams {
  Activation activation = Activation::Identity;
  std::optional<GateLayout> gateLayout;
  std::optional<double> alpha, beta, limit, kappa, lambda;

  static ActivationParams get(ActivationOp op);
  bool isGated() const { return gateLayout.has_value(); }
  /// A name fragment that differs whenever the math differs, e.g.
  /// "silu_separate" or "silu_interleaved_a1.702_b1_l7".
  std::string mangle() const;
  bool operator==(const ActivationParams &other) const;
};

/// act(g) * (u + beta) after clamping for gated layouts, act(z) otherwise,
/// in `computeType`; `values` are z, or g and u (converted to computeType
/// first). Emits arith and math ops.
mlir::Value emitActivation(mlir::OpBuilder &b, mlir::Location loc,
                           const ActivationParams &params,
                           mlir::Type computeType, mlir::ValueRange values);

} // namespace moe

#endif // MOE_CONVERSION_MOETOLINALG_ACTIVATIONMATH_H
