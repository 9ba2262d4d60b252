//===- Match.h - reading meaning out of exported graphs ---------*- C++ -*-===//
//
// Exporters wrap the few operations that make up an MoE layer in layers of
// plumbing: casts, reshapes, (un)squeezes, flattens and transposes of
// weights. These helpers look through that plumbing so that the raising
// rules match on what a value computes, not on how it was spelled.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_LIB_CONVERSION_ONNXTOMOE_MATCH_H
#define MOE_LIB_CONVERSION_ONNXTOMOE_MATCH_H

#include "Raise.h"

#include "moe/Dialect/ONNX/IR/ONNX.h"

#include <optional>

namespace moe {
namespace detail {

/// The default-domain node `opType` that defines `v`, or null.
onnx::NodeOp producer(mlir::Value v, llvm::StringRef opType);

/// Looks through nodes that keep every element's value: Identity, Cast
/// between float types (up to rounding: a mixed-precision layer is raised
/// to compute in its operands' types), Reshape, Squeeze, Unsqueeze and
/// Flatten. The result holds the same numbers as `v` in some shape.
mlir::Value skipReshapes(mlir::Value v);

/// True if `v` is a constant (onnx.constant or a folded constant).
bool isConstant(mlir::Value v);

/// The single float value of a constant holding one number (any shape with
/// one element), or nullopt.
std::optional<double> getScalar(mlir::Value v);

/// The one value every element of `v` has: a constant scalar, broadcast
/// by Expand or written by ConstantOfShape; or nullopt.
std::optional<double> getFill(mlir::Value v);

/// The integer attribute `name` of `node`, or `fallback`.
int64_t intAttr(onnx::NodeOp node, llvm::StringRef name, int64_t fallback);

/// Input `i` of `node`, or null when absent (missing or onnx.none).
mlir::Value optionalInput(onnx::NodeOp node, unsigned i);

/// The single integer of a constant, or nullopt.
std::optional<int64_t> constantInt(mlir::Value v);

/// An integer-list ONNX attribute, in either form the importer writes.
std::optional<llvm::SmallVector<int64_t>> intsAttr(onnx::NodeOp node,
                                                   llvm::StringRef name);

/// Looks through Cast and Identity: they keep which elements of a 0/1 or
/// boolean mask are set, and the values of an index tensor.
mlir::Value skipCasts(mlir::Value v);

/// True if `v` is the constant 0, 1, ..., n - 1 along its last axis with
/// unit axes before it (a broadcast arange).
bool isArange(mlir::Value v, int64_t n);

/// The ranked type of `v`, or null.
mlir::RankedTensorType rankedType(mlir::Value v);

/// True if `reduce`'s axes (input or attribute) name only the last axis of
/// a rank-`rank` tensor.
bool reducesLastAxis(onnx::NodeOp reduce, int64_t rank);

/// True if a Softmax normalizes the last axis of its input.
bool softmaxOverLastAxis(onnx::NodeOp softmax);

/// A linear layer y = x * W (+ b) with a constant weight.
struct Linear {
  mlir::Value input;
  /// [in, out], or with `transposed` [out, in] (nn.Linear / Gemm transB).
  mlir::Value weight;
  bool transposed = false;
  mlir::Value bias;
};

/// Matches MatMul(x, W), MatMul(x, Transpose(W)), Gemm(x, W, [b]) with
/// transB and alpha = beta = 1, each optionally followed by Add(., b[out]).
/// W (and b) must be constants.
std::optional<Linear> matchLinear(mlir::Value out);

/// A recognized expert activation (see moe.activation).
struct ActivationSpec {
  Activation kind;
  std::optional<double> alpha;
};

/// Matches act(x) on `out` and returns x: Relu, Gelu (erf or tanh form,
/// node or expanded), x * Sigmoid(x) (silu) and x * Sigmoid(alpha * x).
std::optional<std::pair<ActivationSpec, mlir::Value>>
matchActivation(mlir::Value out);

/// One expert's FFN: act(x W_up) W_down or (act(x W_gate) * x W_up) W_down,
/// each projection a Linear with constant weights.
struct ExpertFFN {
  ActivationSpec activation{Activation::Identity, std::nullopt};
  bool gated = false;
  /// gate, up, down (gated) or up, down.
  llvm::SmallVector<Linear> stages;
  /// The rows the first projection reads (reshapes skipped).
  mlir::Value input;
};

/// Matches the expert FFN whose down projection computes `out`.
std::optional<ExpertFFN> matchExpertFFN(mlir::Value out);

/// The moe.experts operands for per-expert FFNs given in expert order
/// 0..E-1 (one weight set per expert, expert-major): every expert must have
/// the same activation, weight layout and biases, and map `hidden` to
/// `hidden`. Fails with a near-miss reason.
mlir::FailureOr<ExpertsSpec> perExpertSpec(llvm::ArrayRef<ExpertFFN> experts,
                                           int64_t hidden,
                                           const NearMiss &miss);

/// The routing weights the experts' outputs are scaled by, read backward
/// from the value that scales them down to TopK.
struct RoutingMatch {
  RouterSpec router;
  RouteSpec route;
  /// The token rows the router reads.
  mlir::Value tokens;
  onnx::NodeOp topk;
};

/// Matches the routing that produced `weights` (the per-slot weights [T, k],
/// in any shape) from TopK: score function, top-k, renormalization and its
/// epsilon, scaling, selection bias, and the router linear in front. Fails
/// with a near-miss reason.
mlir::FailureOr<RoutingMatch> matchRouting(mlir::Value weights,
                                           const NearMiss &miss);

/// Matches PhiMoE's sparsemixer (transformers, inference mode) that produced
/// `weights` [T, 2] with expert ids `ids` = Concat(ArgMax(logits),
/// ArgMax(logits with the first expert scattered to -inf)): each slot's
/// weight is GatherElements(Softmax(Where(jitter mask, -inf, scores)),
/// its ArgMax). Fails with a near-miss reason.
mlir::FailureOr<RoutingMatch>
matchSparseMixer(mlir::Value weights, onnx::NodeOp ids, const NearMiss &miss);

/// The router linear layer in front of `logits` into `m` (router, tokens).
mlir::LogicalResult matchRouterLinear(mlir::Value logits, int64_t numExperts,
                                      RoutingMatch &m, const NearMiss &miss);

/// The LayerSpec of a layer routed by `routing`, computing `output` with
/// `experts`, reported at `anchor`.
LayerSpec routedLayer(llvm::StringRef kind, const RoutingMatch &routing,
                      ExpertsSpec experts, mlir::Value output,
                      mlir::Operation *anchor);

/// One FFN stage on stacked expert weights: x * W[e] (+ b[e]), with W
/// [E, in, out] or, `transposed`, [E, out, in], and b [E, out].
struct SlotLinear {
  mlir::Value input;
  mlir::Value weight, bias;
  bool transposed = false;
};

/// Recognizes one stage of a stacked-weight FFN on a value (gathered by
/// routing ids, or batched over all experts).
using StackedLinearMatcher =
    llvm::function_ref<std::optional<SlotLinear>(mlir::Value)>;

/// An expert FFN on stacked weights, read backward from its output.
struct SlotFFN {
  ExpertsSpec spec;
  /// The rows the first stage reads.
  mlir::Value input;
};

/// Matches down(act(up(x))) or down(act(gate(x)) * up(x)) (separate,
/// concatenated or interleaved gate/up; silu with alpha, clamped SwiGLU,
/// relu, gelu) whose stages `linearOf` recognizes.
mlir::FailureOr<SlotFFN> matchStackedFFN(mlir::Value out,
                                         StackedLinearMatcher linearOf,
                                         const NearMiss &miss);

} // namespace detail
} // namespace moe

#endif // MOE_LIB_CONVERSION_ONNXTOMOE_MATCH_H
