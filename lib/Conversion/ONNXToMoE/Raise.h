//===- Raise.h - shared pieces of the MoE raising patterns ------*- C++ -*-===//
//
// Every raising rule splits into two halves: a matcher that reads the
// layer's meaning (router, routing, experts, where its output is) out of the
// exporter's graph into a LayerSpec, and one builder that turns a LayerSpec
// into moe ops. Matchers therefore never create IR, and every layer kind is
// built, reported and checked the same way.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_LIB_CONVERSION_ONNXTOMOE_RAISE_H
#define MOE_LIB_CONVERSION_ONNXTOMOE_RAISE_H

#include "moe/Dialect/MoE/IR/MoE.h"
#include "moe/Dialect/ONNX/IR/ONNX.h"

#include "mlir/IR/PatternMatch.h"
#include "llvm/Support/raw_ostream.h"

#include <optional>
#include <string>
#include <vector>

namespace moe {
namespace detail {

/// Reports why `node`, which looked like an MoE layer, was not raised: as a
/// remark on the node when remarks are on. Always yields failure().
class NearMiss {
public:
  NearMiss(mlir::Operation *node, bool remarks)
      : node(node), remarks(remarks) {}

  mlir::LogicalResult operator()(const llvm::Twine &reason) const {
    if (remarks)
      node->emitRemark("not raised: ") << reason;
    return mlir::failure();
  }

private:
  mlir::Operation *node;
  bool remarks;
};

/// A type as it prints, for messages.
inline std::string typeStr(mlir::Type type) {
  std::string s;
  llvm::raw_string_ostream os(s);
  type.print(os);
  return s;
}

/// The router linear layer: logits = tokens * W (+ bias).
struct RouterSpec {
  /// [H, E] (ONNX MatMul layout) or, with `transposed`, [E, H].
  mlir::Value weight;
  bool transposed = false;
  mlir::Value bias;
  /// When no router linear was recognized: the logits as they are.
  mlir::Value logits;
};

/// The moe.route attributes (see moe.route for their meaning).
struct RouteSpec {
  RoutingMode mode = RoutingMode::TokenChoice;
  ScoreFunction score = ScoreFunction::Softmax;
  std::optional<int64_t> k;
  bool renormalize = false;
  double epsilon = 0.0;
  /// Divide by max(sum, epsilon) instead of sum + epsilon.
  bool clampSum = false;
  /// sparsemixer's jitter epsilon.
  std::optional<double> jitterEps;
  double scaling = 1.0;
  mlir::Value selectionBias;
  std::optional<int64_t> numGroups, topkGroups, groupTopk;
  std::optional<double> capacityFactor;
};

/// The moe.experts operands and attributes.
struct ExpertsSpec {
  int64_t numExperts = 0;
  /// Stacked ([E, ., .]) per stage, or expert-major per-expert 2-D weights.
  llvm::SmallVector<mlir::Value> weights;
  /// None, or one per weight.
  llvm::SmallVector<mlir::Value> biases;
  /// Weights stored [.., out, in].
  bool transposed = false;
  Activation activation = Activation::Identity;
  std::optional<GateLayout> gateLayout;
  std::optional<double> alpha, beta, limit;
};

/// One recognized MoE layer, in the terms of the moe dialect.
struct LayerSpec {
  /// How the exporter wrote it, for remarks and the report.
  std::string kind;
  /// The token rows [T, H] or [B, S, H] the router and experts read.
  mlir::Value tokens;
  RouterSpec router;
  RouteSpec route;
  ExpertsSpec experts;
  /// A per-expert capacity of moe.dispatch (tokens past it are dropped in
  /// the given order), or none for dropless dispatch.
  std::optional<int64_t> capacity;
  DropPolicy dropPolicy = DropPolicy::InOrder;
  /// The routing weight scales each token before its (single) expert
  /// instead of the expert's output (Llama 4); needs k = 1.
  bool scaleInput = false;
  /// The graph value that the layer computes; it is replaced.
  mlir::Value output;
  /// Where the layer is reported (its routing node).
  mlir::Operation *anchor = nullptr;
};

/// What a raised layer was, for the layer report; names are ONNX tensor and
/// initializer names, captured before the graph nodes are erased.
struct RaisedLayer {
  std::string kind;
  int64_t numExperts = 0;
  RouteOp route;
  ExpertsOp experts;
  std::string inputName, logitsName, outputName;
  std::vector<std::string> weightNames;
  std::string routerWeightName;
  /// The selection bias initializer (aux-loss-free routing), if any: tools
  /// that recompute the routing from the logits need its values.
  std::string selectionBiasName;
};

/// Builds moe.gate / moe.route / moe.dispatch / moe.experts / moe.combine for
/// `spec` before `spec.output`'s producer, replaces `spec.output` with the
/// result and erases the graph nodes that only computed it.
RaisedLayer buildLayer(const LayerSpec &spec, mlir::RewriterBase &rewriter);

/// Raises one com.microsoft.MoE node; failure leaves the IR unchanged.
mlir::LogicalResult raiseContribMoE(onnx::NodeOp node,
                                    mlir::RewriterBase &rewriter, bool remarks,
                                    llvm::SmallVectorImpl<RaisedLayer> &layers);

/// Raises a layer whose experts run per routing slot on stacked weights
/// gathered by expert id (transformers' batched_mm, DeepSeek-V3, gpt-oss),
/// anchored at its TopK.
mlir::LogicalResult
raiseGatheredExperts(onnx::NodeOp topk, mlir::RewriterBase &rewriter,
                     bool remarks, llvm::SmallVectorImpl<RaisedLayer> &layers);

/// The gathered-experts form routed by PhiMoE's sparsemixer: `ids` is the
/// Concat of its two argmaxes.
mlir::LogicalResult
raiseSparseMixer(onnx::NodeOp ids, mlir::RewriterBase &rewriter, bool remarks,
                 llvm::SmallVectorImpl<RaisedLayer> &layers);

/// Raises a per-expert loop (Mixtral / OLMoE / Qwen2-MoE style: mask,
/// NonZero, gather rows, expert FFN, scale, scatter-add), anchored at TopK.
mlir::LogicalResult raiseExpertLoop(onnx::NodeOp topk,
                                    mlir::RewriterBase &rewriter, bool remarks,
                                    llvm::SmallVectorImpl<RaisedLayer> &layers);

/// Raises a Switch-style top-1 layer (argmax of softmax scores, one-hot
/// mask with an optional token-order capacity, per-expert boolean-mask
/// gather and assignment, output scaled by the max probability), anchored
/// at its ArgMax.
mlir::LogicalResult raiseSwitch(onnx::NodeOp argmax,
                                mlir::RewriterBase &rewriter, bool remarks,
                                llvm::SmallVectorImpl<RaisedLayer> &layers);

/// Raises a dense masked layer (every expert on every token, combined
/// through top-k weights scattered into a [T, E] gate matrix), anchored at
/// TopK.
mlir::LogicalResult
raiseDenseMasked(onnx::NodeOp topk, mlir::RewriterBase &rewriter, bool remarks,
                 llvm::SmallVectorImpl<RaisedLayer> &layers);

/// Raises an expert-choice layer (each expert takes its top-C tokens, TopK
/// along the token axis), anchored at that TopK.
mlir::LogicalResult
raiseExpertChoice(onnx::NodeOp topk, mlir::RewriterBase &rewriter, bool remarks,
                  llvm::SmallVectorImpl<RaisedLayer> &layers);

/// Raises a layer whose top-1 routing weight scales the experts' input
/// (Llama 4: sigmoid of the chosen logit scattered into -inf, every expert
/// on all tokens scaled by its column), anchored at TopK.
mlir::LogicalResult
raiseScaledInput(onnx::NodeOp topk, mlir::RewriterBase &rewriter, bool remarks,
                 llvm::SmallVectorImpl<RaisedLayer> &layers);

} // namespace detail
} // namespace moe

#endif // MOE_LIB_CONVERSION_ONNXTOMOE_RAISE_H
