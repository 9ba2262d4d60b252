//===- LowerRouting.cpp - moe.fused_route / moe.route -> routing kernel ---===//
//
// Checks what the routing kernel of RoutingKernel.cpp can do, and replaces
// the routing ops by its launch (launchRoutingOp: for expert choice, the
// scoring launch and then the selection kernel's) on a TensorHost, like the
// grouped matmul: buffers from bufferization.to_buffer, results and scratch
// from gpu.alloc on one stream, then a wait.
//
//===----------------------------------------------------------------------===//

#include "moe/Conversion/MoEToGPU/MoEToGPU.h"
#include "moe/Dialect/MoE/IR/MoE.h"

#include "HostCode.h"
#include "Kernels.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"

using namespace mlir;
using namespace moe::detail;

namespace {

/// Largest expert count: one bit per expert of a lane's taken mask (32
/// experts per lane) and two [8, E] f32 arrays in 48 KB of shared memory.
constexpr int64_t kMaxExperts = 512;
/// Largest k: one slot per lane.
constexpr int64_t kMaxK = 32;
/// Router elements one block streams per slice: small enough that even a
/// few token tiles spread the router over many SMs.
constexpr int64_t kSliceElements = 32768;

bool isKernelFloat(Type t) { return t.isBF16() || t.isF16() || t.isF32(); }

Type elementType(Value v) {
  return v ? cast<ShapedType>(v.getType()).getElementType() : Type();
}

template <typename OpT> FailureOr<RoutingSignature> getSignature(OpT op) {
  RoutingSignature sig;
  switch (op.getScore()) {
  case moe::ScoreFunction::Softmax:
    sig.score = 0;
    break;
  case moe::ScoreFunction::Sigmoid:
    sig.score = 1;
    break;
  case moe::ScoreFunction::SoftmaxAfterTopK:
    sig.score = 2;
    break;
  case moe::ScoreFunction::SparseMixer:
    sig.score = 3;
    if (FloatAttr eps = op.getJitterEpsAttr())
      sig.jitterEps = eps.getValueAsDouble();
    break;
  }
  sig.experts = op.getNumExperts();
  if (sig.experts > kMaxExperts)
    return op.emitOpError("the GPU routing kernel handles at most ")
           << kMaxExperts << " experts, not " << sig.experts;
  sig.weightsType = elementType(op.getWeights());
  sig.idsType = elementType(op.getIndices());
  if (!isKernelFloat(sig.weightsType))
    return op.emitOpError("the GPU routing kernel takes bf16, f16 or f32 "
                          "routing weights, not ")
           << sig.weightsType;
  if (op.getMode() == moe::RoutingMode::ExpertChoice) {
    // The verifier allows no other routing attribute with expert choice.
    sig.expertChoice = true;
    sig.capacityFactor = op.getCapacityFactorAttr().getValueAsDouble();
    return sig;
  }
  sig.k = *op.getK();
  if (sig.k > kMaxK)
    return op.emitOpError("the GPU routing kernel handles k <= ")
           << kMaxK << ", not " << sig.k;
  if (std::optional<uint64_t> groups = op.getNumGroups()) {
    sig.groups = *groups;
    sig.topkGroups = op.getTopkGroups().value_or(sig.groups);
    sig.groupTopk = op.getGroupTopKOrDefault();
    if (sig.groups > 32)
      return op.emitOpError("the GPU routing kernel handles at most 32 "
                            "expert groups, not ")
             << sig.groups;
  }
  if (std::optional<ArrayRef<bool>> mask = op.getExpertMask())
    sig.expertMask.assign(mask->begin(), mask->end());
  sig.renormalize = op.getRenormalize();
  sig.renormalizeClamp = op.getRenormalizeClamp();
  sig.epsilon = op.getEpsilonOrDefault();
  sig.scale = op.getScalingFactorOrDefault();
  sig.topP = op.getMode() == moe::RoutingMode::TopP;
  if (sig.topP)
    sig.topPValue = op.getTopPAttr().getValueAsDouble();
  if (FloatAttr beta = op.getSkipRatioAttr()) {
    sig.skip = true;
    sig.skipRatio = beta.getValueAsDouble();
  }
  sig.selectionBiasType = elementType(op.getSelectionBias());
  if (sig.selectionBiasType && !isKernelFloat(sig.selectionBiasType))
    return op.emitOpError("the GPU routing kernel takes bf16, f16 or f32 "
                          "selection bias, not ")
           << sig.selectionBiasType;
  return sig;
}

FailureOr<RoutingSignature> getSignature(moe::FusedRouteOp op) {
  FailureOr<RoutingSignature> sig = getSignature<moe::FusedRouteOp>(op);
  if (failed(sig))
    return failure();
  sig->inputType = elementType(op.getInput());
  sig->weightType = elementType(op.getWeight());
  sig->routerBiasType = elementType(op.getBias());
  sig->transposed = op.getWeightTransposed();
  for (auto [type, what] : {std::pair{sig->inputType, "tokens"},
                            std::pair{sig->weightType, "router weight"},
                            std::pair{sig->routerBiasType, "router bias"}})
    if (type && !isKernelFloat(type))
      return op.emitOpError("the GPU routing kernel takes bf16, f16 or f32 ")
             << what << ", not " << type << " (it accumulates in f32)";
  auto inputType = cast<RankedTensorType>(op.getInput().getType());
  sig->hidden = inputType.getDimSize(1);
  if (ShapedType::isDynamic(sig->hidden))
    return op.emitOpError("the GPU routing kernel needs a static hidden size");
  int64_t perRound = kRouteTokens * kRouteExpertsPerWarp;
  int64_t rounds =
      std::max<int64_t>(1, kSliceElements / (perRound * sig->hidden));
  int64_t roundsForAll = (sig->experts + perRound - 1) / perRound;
  sig->sliceExperts = perRound * std::min(rounds, roundsForAll);
  sig->slices = (sig->experts + sig->sliceExperts - 1) / sig->sliceExperts;
  return sig;
}

FailureOr<RoutingSignature> getSignature(moe::RouteOp op) {
  FailureOr<RoutingSignature> sig = getSignature<moe::RouteOp>(op);
  if (failed(sig))
    return failure();
  sig->logitsType = elementType(op.getLogits());
  if (!isKernelFloat(sig->logitsType))
    return op.emitOpError("the GPU routing kernel takes bf16, f16 or f32 "
                          "logits, not ")
           << sig->logitsType;
  return sig;
}

FailureOr<RoutingSignature> getSignature(Operation *op) {
  if (auto fused = dyn_cast<moe::FusedRouteOp>(op))
    return getSignature(fused);
  return getSignature(cast<moe::RouteOp>(op));
}

template <typename OpT> struct LowerRoutingOp : OpRewritePattern<OpT> {
  using OpRewritePattern<OpT>::OpRewritePattern;

  LogicalResult matchAndRewrite(OpT op,
                                PatternRewriter &rewriter) const override {
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    TensorHost host(b);
    FailureOr<SmallVector<Value>> buffers = moe::launchRoutingOp(host, op);
    if (failed(buffers))
      return failure();
    rewriter.replaceOp(op, host.finish(*buffers, op->getResults()));
    return success();
  }
};

} // namespace

LogicalResult moe::checkRoutingForGPU(Operation *op) {
  if (isa<moe::GateOp>(op))
    return op->emitOpError(
        "has no GPU lowering of its own: run --moe-fuse-gating first so "
        "that it and its moe.route become one moe.fused_route");
  return getSignature(op);
}

FailureOr<gpu::GPUFuncOp> moe::getRoutingKernel(Operation *op) {
  auto module = op->getParentOfType<ModuleOp>();
  if (!module)
    return op->emitOpError("the GPU lowering needs an enclosing module");
  FailureOr<RoutingSignature> sig = getSignature(op);
  if (failed(sig))
    return failure();
  return getOrBuildRoutingKernel(getOrCreateKernelModule(module), *sig);
}

int64_t moe::getRoutingSlices(gpu::GPUFuncOp kernel) {
  auto attr = kernel->getAttrOfType<IntegerAttr>("moe.route_slices");
  return attr ? attr.getInt() : 1;
}

Value moe::launchRouting(OpBuilder &builder, Location loc,
                         gpu::GPUFuncOp kernel, ValueRange buffers,
                         Value tokens, Value asyncDependency) {
  ImplicitLocOpBuilder b(loc, builder);
  auto c = [&](int64_t v) { return arith::ConstantIndexOp::create(b, v); };
  Value tiles = arith::DivUIOp::create(
      b, arith::AddIOp::create(b, tokens, c(kRouteTokens - 1)),
      c(kRouteTokens));
  auto launch = gpu::LaunchFuncOp::create(
      b, kernel, gpu::KernelDim3{tiles, c(getRoutingSlices(kernel)), c(1)},
      gpu::KernelDim3{c(kRouteThreads), c(1), c(1)},
      /*dynamicSharedMemorySize=*/Value(), buffers,
      gpu::AsyncTokenType::get(b.getContext()), ValueRange{asyncDependency});
  return launch.getAsyncToken();
}

void moe::populateRoutingToGPUPatterns(RewritePatternSet &patterns) {
  patterns.add<LowerRoutingOp<moe::FusedRouteOp>, LowerRoutingOp<moe::RouteOp>>(
      patterns.getContext());
}
