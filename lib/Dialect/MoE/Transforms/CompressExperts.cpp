//===- CompressExperts.cpp - low-rank plus row-sparse expert weights ------===//
//
// MC-SMoE's compression step (MOE_REFERENCE §4 step 7). A compressed stage
// no longer has a weight to hand to one grouped matmul, so the layer is
// expanded here and the stage's product is spelled as the factor chain; the
// backends then only see grouped matmuls and one column scatter-add.
//
// Everything is checked before anything changes, so a refused module is
// left as it was.
//
//===----------------------------------------------------------------------===//

#include "ConstantSlicing.h"
#include "ExpandExperts.h"

#include "moe/Dialect/MoE/IR/MoE.h"
#include "moe/Dialect/MoE/Transforms/Calibration.h"
#include "moe/Dialect/MoE/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Threading.h"
#include "llvm/ADT/APFloat.h"
#include "llvm/Support/Format.h"

#include <Eigen/Core>
#include <Eigen/SVD>

#include <algorithm>
#include <cmath>
#include <numeric>

namespace moe {
#define GEN_PASS_DEF_MOECOMPRESSEXPERTS
#include "moe/Dialect/MoE/Passes.h.inc"
} // namespace moe

using namespace mlir;
using namespace moe;

namespace {

using MatrixXdR =
    Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// The factors of one expert's matrix, laid out for non-transposed grouped
/// matmuls: x * W^T = (x * R^T) * L^T + scatter(x * S_kept^T).
struct CompressedMatrix {
  int64_t in = 0, out = 0;
  std::vector<float> rt;          // R^T [in, r]
  std::vector<float> lt;          // L^T [r, out]
  std::vector<float> st;          // S_kept^T [in, m]
  std::vector<int32_t> keptRows;  // m output rows of S, ascending
  double errorSq = 0, normSq = 0; // ||W - (L R + S)||^2, ||W||^2
};

/// `v` as the nearest value of `type` (f32, f16 or bf16), so that the
/// residual is taken against the factors as they will be stored.
float roundTo(double v, Type type) {
  float f = static_cast<float>(v);
  if (type.isF32())
    return f;
  APFloat rounded(f);
  bool losesInfo;
  rounded.convert(cast<FloatType>(type).getFloatSemantics(),
                  APFloat::rmNearestTiesToEven, &losesInfo);
  return rounded.convertToFloat();
}

/// W [out, in] (torch layout) ~ L R + S, rounded to `type`.
CompressedMatrix compressMatrix(const MatrixXdR &w, int64_t rank, int64_t kept,
                                Type type) {
  CompressedMatrix c;
  c.out = w.rows();
  c.in = w.cols();
  Eigen::BDCSVD<Eigen::MatrixXd> svd(w,
                                     Eigen::ComputeThinU | Eigen::ComputeThinV);
  Eigen::VectorXd root = svd.singularValues().head(rank).cwiseSqrt();
  // L = U_r diag(sqrt(sigma)) [out, r]; R^T = V_r diag(sqrt(sigma)) [in, r].
  MatrixXdR l = svd.matrixU().leftCols(rank) * root.asDiagonal();
  MatrixXdR rt = svd.matrixV().leftCols(rank) * root.asDiagonal();
  auto round = [&](MatrixXdR &m) {
    m = m.unaryExpr([&](double v) { return double(roundTo(v, type)); });
  };
  round(l);
  round(rt);
  MatrixXdR approx = l * rt.transpose();
  MatrixXdR residual = w - approx;

  // The rows (output neurons) of S with the largest L2 norm; ties keep the
  // lower row.
  Eigen::VectorXd norms = residual.rowwise().norm();
  std::vector<int32_t> order(c.out);
  std::iota(order.begin(), order.end(), 0);
  llvm::sort(order, [&](int32_t a, int32_t b) {
    return norms[a] > norms[b] || (norms[a] == norms[b] && a < b);
  });
  c.keptRows.assign(order.begin(), order.begin() + kept);
  llvm::sort(c.keptRows);

  c.rt.assign(rt.data(), rt.data() + rt.size());
  MatrixXdR lt = l.transpose();
  c.lt.assign(lt.data(), lt.data() + lt.size());
  c.st.resize(c.in * kept);
  for (auto [j, row] : llvm::enumerate(c.keptRows))
    for (int64_t i = 0; i < c.in; ++i) {
      float s = roundTo(residual(row, i), type);
      c.st[i * kept + j] = s;
      approx(row, i) += s;
    }
  c.errorSq = (w - approx).squaredNorm();
  c.normSq = w.squaredNorm();
  return c;
}

/// [in, out] of one expert's weight of a stage.
std::pair<int64_t, int64_t> inOut(Value weight, bool transposed) {
  auto type = cast<RankedTensorType>(weight.getType());
  int64_t rank = type.getRank();
  int64_t a = type.getDimSize(rank - 2), b = type.getDimSize(rank - 1);
  return transposed ? std::make_pair(b, a) : std::make_pair(a, b);
}

/// The new constants' base name: the weight's resource name.
std::string resourceName(Value value) {
  std::string name = constantName(value);
  return name.empty() ? "expert_weight" : name;
}

/// The names of an experts op's stages, as remarks and `stages=` use them.
SmallVector<StringRef> stageNames(ExpertsOp op) {
  if (op.getNumStages() == 3)
    return {"gate", "up", "down"};
  if (op.getGateLayout())
    return {"gate_up", "down"};
  return {"up", "down"};
}

/// One stage of one layer: its matrices (one per expert) once compressed.
struct StagePlan {
  unsigned stage;
  Type elementType;
  SmallVector<CompressedMatrix> matrices;
  int64_t bytesBefore = 0, bytesAfter = 0;
  bool apply = false;

  double relativeError() const {
    double err = 0, norm = 0;
    for (const CompressedMatrix &m : matrices) {
      err += m.errorSq;
      norm += m.normSq;
    }
    return norm > 0 ? std::sqrt(err / norm) : 0.0;
  }
};

struct MoECompressExpertsPass
    : moe::impl::MoECompressExpertsBase<MoECompressExpertsPass> {
  using Base::Base;

  void runOnOperation() override;

private:
  LogicalResult checkOptions();
  SmallVector<unsigned> chosenStages(ExpertsOp op) const;
  LogicalResult checkLayer(ExpertsOp op) const;
  int64_t keptRows(int64_t out) const;
  StagePlan planStage(ExpertsOp op, unsigned stage) const;
  Value buildStage(OpBuilder &b, ExpertsOp op, Value lhs, const StagePlan &plan,
                   RankedTensorType type) const;
};

LogicalResult MoECompressExpertsPass::checkOptions() {
  Location loc = getOperation().getLoc();
  if (rank < 1)
    return emitError(loc) << "--moe-compress-experts needs rank=<r> >= 1, got "
                          << int64_t(rank);
  if (!(keepFraction >= 0.0 && keepFraction <= 1.0))
    return emitError(loc) << "--moe-compress-experts: keep-fraction must be "
                             "in [0, 1], got "
                          << keepFraction;
  if (stages != "all" && stages != "up" && stages != "down")
    return emitError(loc) << "--moe-compress-experts: unknown stages '"
                          << stages << "' (all, up or down)";
  if (!(minSaving < 1.0))
    return emitError(loc) << "--moe-compress-experts: min-saving must be "
                             "below 1, got "
                          << minSaving;
  return success();
}

SmallVector<unsigned> MoECompressExpertsPass::chosenStages(ExpertsOp op) const {
  unsigned count = op.getNumStages();
  SmallVector<unsigned> chosen;
  for (unsigned s = 0; s < count; ++s) {
    bool down = s == count - 1;
    if (stages == "all" || (stages == "down") == down)
      chosen.push_back(s);
  }
  return chosen;
}

/// ceil(keep-fraction * out), robust to 0.1 * 40 = 4.000000000000001.
int64_t MoECompressExpertsPass::keptRows(int64_t out) const {
  return std::min<int64_t>(out, std::ceil(keepFraction * out - 1e-9));
}

LogicalResult MoECompressExpertsPass::checkLayer(ExpertsOp op) const {
  bool transposed = op.getTransposedWeights();
  SmallVector<StringRef> names = stageNames(op);
  for (unsigned stage : chosenStages(op)) {
    for (int64_t e = 0, n = op.getNumExperts(); e < n; ++e) {
      Value w = op.getStageWeight(e, stage);
      Type elt = cast<RankedTensorType>(w.getType()).getElementType();
      std::string which =
          (names[stage] + " weight" +
           (op.isStacked() ? "" : " of expert " + std::to_string(e)))
              .str();
      if (!isSliceableConstant(w) ||
          !(elt.isF32() || elt.isF16() || elt.isBF16()))
        return op.emitError() << "cannot compress: the " << which
                              << " is not a constant f32, f16 or bf16 tensor";
      auto [in, out] = inOut(w, transposed);
      if (rank >= std::min(in, out))
        return op.emitError()
               << "cannot compress: rank " << int64_t(rank)
               << " is not below min(in, out) = " << std::min(in, out)
               << " of the " << which << " [" << out << ", " << in << "]";
      if (op.isStacked())
        break;
    }
  }
  return success();
}

StagePlan MoECompressExpertsPass::planStage(ExpertsOp op,
                                            unsigned stage) const {
  bool transposed = op.getTransposedWeights();
  bool stacked = op.isStacked();
  int64_t numExperts = op.getNumExperts();
  StagePlan plan;
  plan.stage = stage;
  Value first = op.getStageWeight(0, stage);
  plan.elementType = cast<RankedTensorType>(first.getType()).getElementType();
  int64_t eltBytes = plan.elementType.getIntOrFloatBitWidth() / 8;

  // The weights as read (f32); each expert's W [out, in] is widened to
  // double only while its SVD runs, so memory stays near the weight bytes.
  std::vector<std::vector<float>> values;
  if (stacked)
    values.push_back(*readFloatConstant(first));
  else
    for (int64_t e = 0; e < numExperts; ++e)
      values.push_back(*readFloatConstant(op.getStageWeight(e, stage)));
  plan.matrices.resize(numExperts);
  parallelFor(op.getContext(), 0, numExperts, [&](size_t e) {
    auto [in, out] = inOut(op.getStageWeight(e, stage), transposed);
    const float *data =
        stacked ? values[0].data() + e * in * out : values[e].data();
    MatrixXdR w(out, in);
    for (int64_t o = 0; o < out; ++o)
      for (int64_t i = 0; i < in; ++i)
        w(o, i) = transposed ? data[o * in + i] : data[i * out + o];
    plan.matrices[e] = compressMatrix(w, rank, keptRows(out), plan.elementType);
  });
  for (const CompressedMatrix &m : plan.matrices) {
    int64_t kept = m.keptRows.size();
    plan.bytesBefore += eltBytes * m.in * m.out;
    plan.bytesAfter += eltBytes * (rank * (m.in + m.out) + kept * m.in) +
                       int64_t(sizeof(int32_t)) * kept;
  }
  plan.apply = plan.bytesAfter < (1.0 - minSaving) * plan.bytesBefore;
  return plan;
}

Value MoECompressExpertsPass::buildStage(OpBuilder &b, ExpertsOp op, Value lhs,
                                         const StagePlan &plan,
                                         RankedTensorType type) const {
  Location loc = op.getLoc();
  Value offsets = op.getOffsets();
  Type elt = plan.elementType;
  int64_t numRows = type.getDimSize(0);
  Type rowElt = type.getElementType();
  int64_t maxKept = 0;
  for (const CompressedMatrix &m : plan.matrices)
    maxKept = std::max<int64_t>(maxKept, m.keptRows.size());

  // One tensor per factor: stacked [E, a, b] like the original weight, or
  // one [a, b] per expert.
  SmallVector<Value> rts, lts, sts;
  auto emit = [&](Value like, ArrayRef<int64_t> shape, ArrayRef<float> values,
                  StringRef suffix) {
    return createFloatConstant(b, like, RankedTensorType::get(shape, elt),
                               values, resourceName(like) + suffix.str());
  };
  if (op.isStacked()) {
    Value like = op.getWeights()[plan.stage];
    int64_t e = plan.matrices.size();
    int64_t in = plan.matrices[0].in, out = plan.matrices[0].out;
    std::vector<float> rt, lt, st;
    for (const CompressedMatrix &m : plan.matrices) {
      llvm::append_range(rt, m.rt);
      llvm::append_range(lt, m.lt);
      llvm::append_range(st, m.st);
    }
    rts.push_back(emit(like, {e, in, rank}, rt, ".lowrank_r"));
    lts.push_back(emit(like, {e, rank, out}, lt, ".lowrank_l"));
    if (maxKept)
      sts.push_back(emit(like, {e, in, maxKept}, st, ".sparse"));
  } else {
    for (auto [e, m] : llvm::enumerate(plan.matrices)) {
      Value like = op.getStageWeight(e, plan.stage);
      int64_t kept = m.keptRows.size();
      rts.push_back(emit(like, {m.in, rank}, m.rt, ".lowrank_r"));
      lts.push_back(emit(like, {rank, m.out}, m.lt, ".lowrank_l"));
      if (maxKept) {
        // Groups with fewer kept rows get zero columns (index -1).
        std::vector<float> st(m.in * maxKept, 0.0f);
        for (int64_t i = 0; i < m.in; ++i)
          std::copy_n(m.st.begin() + i * kept, kept, st.begin() + i * maxKept);
        sts.push_back(emit(like, {m.in, maxKept}, st, ".sparse"));
      }
    }
  }

  SmallVector<Value> bias;
  if (!op.getBiases().empty())
    bias = getStageOperands(op, op.getBiases(), plan.stage);
  auto lowType = RankedTensorType::get({numRows, rank}, rowElt);
  Value low = GroupedMatmulOp::create(b, loc, lowType, lhs, rts, offsets,
                                      ValueRange{}, false, false, nullptr);
  Value result = GroupedMatmulOp::create(b, loc, type, low, lts, offsets, bias,
                                         false, false, nullptr);
  if (!maxKept)
    return result;

  auto sparseType = RankedTensorType::get({numRows, maxKept}, rowElt);
  Value sparse = GroupedMatmulOp::create(b, loc, sparseType, lhs, sts, offsets,
                                         ValueRange{}, false, false, nullptr);
  SmallVector<int32_t> columns;
  for (const CompressedMatrix &m : plan.matrices) {
    llvm::append_range(columns, m.keptRows);
    columns.append(maxKept - m.keptRows.size(), -1);
  }
  auto columnsType = RankedTensorType::get(
      {int64_t(plan.matrices.size()), maxKept}, b.getI32Type());
  // Beside the weights, so that constants stay together.
  OpBuilder atWeights(b.getContext());
  atWeights.setInsertionPointAfter(
      op.getStageWeight(0, plan.stage).getDefiningOp());
  Value columnsValue = arith::ConstantOp::create(
      atWeights, loc,
      DenseIntElementsAttr::get(columnsType, ArrayRef(columns)));
  // A matrix's kept rows are distinct.
  return ScatterColumnsOp::create(b, loc, type, sparse, result, columnsValue,
                                  offsets, /*unique_columns=*/true);
}

void MoECompressExpertsPass::runOnOperation() {
  if (failed(checkOptions()))
    return signalPassFailure();
  SmallVector<ExpertsOp> layers;
  getOperation().walk([&](ExpertsOp op) { layers.push_back(op); });
  for (ExpertsOp op : layers)
    if (failed(checkLayer(op)))
      return signalPassFailure();

  for (ExpertsOp op : layers) {
    SmallVector<StringRef> names = stageNames(op);
    SmallVector<StagePlan> plans;
    for (unsigned stage : chosenStages(op))
      plans.push_back(planStage(op, stage));

    std::string text;
    llvm::raw_string_ostream os(text);
    os << "compressed experts (rank " << int64_t(rank) << ", keep-fraction "
       << llvm::format("%g", double(keepFraction)) << ")";
    for (const StagePlan &plan : plans) {
      os << "; " << names[plan.stage] << ": " << plan.bytesBefore << " -> "
         << plan.bytesAfter << " bytes, error "
         << llvm::format("%.6g", plan.relativeError());
      if (!plan.apply)
        os << ", skipped (saves no more than min-saving "
           << llvm::format("%g", double(minSaving)) << ")";
    }
    op.emitRemark(text);
    if (llvm::none_of(plans, [](const StagePlan &p) { return p.apply; }))
      continue;

    OpBuilder builder(op);
    Value result = expandExperts(
        builder, op,
        [&](OpBuilder &b, Value lhs, unsigned stage, RankedTensorType type) {
          for (const StagePlan &plan : plans)
            if (plan.stage == stage && plan.apply)
              return buildStage(b, op, lhs, plan, type);
          return buildStageGroupedMatmul(b, op, lhs, stage, type);
        });
    SmallVector<Value> old(op.getWeights());
    op.getResult().replaceAllUsesWith(result);
    op.erase();
    for (Value w : old)
      eraseIfUnused(w);
  }
}

} // namespace
