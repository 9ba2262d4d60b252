//===- RoutingEvaluator.cpp - moe.route semantics on doubles --------------===//

#include "RoutingEvaluator.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

using namespace mlir;
using namespace moe;

static constexpr double kNegInf = -std::numeric_limits<double>::infinity();

RoutingEvaluator::RoutingEvaluator(RouteOp route)
    : score(route.getScore()), mode(route.getMode()),
      numExperts(route.getNumExperts()), k(route.getK().value_or(1)),
      numGroups(route.getNumGroups()),
      topkGroups(route.getTopkGroups().value_or(1)),
      groupTopk(route.getGroupTopKOrDefault()),
      renormalize(route.getRenormalize()), epsilon(route.getEpsilonOrDefault()),
      scalingFactor(route.getScalingFactorOrDefault()) {
  if (FloatAttr p = route.getTopPAttr())
    topP = p.getValueAsDouble();
  if (FloatAttr beta = route.getSkipRatioAttr())
    skipRatio = beta.getValueAsDouble();
  if (std::optional<ArrayRef<bool>> m = route.getExpertMask())
    mask.assign(m->begin(), m->end());
}

SmallVector<int64_t> RoutingEvaluator::topK(ArrayRef<double> values,
                                            int64_t count) {
  SmallVector<int64_t> order(values.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return values[a] > values[b]; });
  order.resize(std::min<int64_t>(count, order.size()));
  return order;
}

static void softmaxInPlace(MutableArrayRef<double> values) {
  double max = *std::max_element(values.begin(), values.end());
  double sum = 0;
  for (double &v : values)
    sum += (v = std::exp(v - max));
  for (double &v : values)
    v /= sum;
}

void RoutingEvaluator::route(ArrayRef<double> logits, ArrayRef<double> bias,
                             MutableArrayRef<double> weights,
                             MutableArrayRef<int64_t> ids) const {
  auto selectable = [&](int64_t e) { return mask.empty() || mask[e]; };
  SmallVector<double> scores(logits);
  for (int64_t e = 0; e < numExperts; ++e)
    if (!selectable(e))
      scores[e] = kNegInf;
  if (score == ScoreFunction::Softmax)
    softmaxInPlace(scores);
  else if (score == ScoreFunction::Sigmoid)
    for (double &s : scores)
      s = 1.0 / (1.0 + std::exp(-s));

  // Selection on the biased scores; masked experts stay unselectable (as in
  // the CPU kernel) whatever their bias.
  SmallVector<double> choice(scores);
  for (int64_t e = 0; e < numExperts; ++e)
    choice[e] =
        selectable(e) ? choice[e] + (bias.empty() ? 0.0 : bias[e]) : kNegInf;
  if (numGroups) {
    int64_t perGroup = numExperts / *numGroups;
    SmallVector<double> groupScores;
    for (int64_t g = 0; g < *numGroups; ++g) {
      ArrayRef<double> group(choice.data() + g * perGroup, perGroup);
      double sum = 0;
      for (int64_t e : topK(group, groupTopk))
        sum += group[e];
      groupScores.push_back(sum);
    }
    SmallVector<int64_t> kept = topK(groupScores, topkGroups);
    for (int64_t g = 0; g < *numGroups; ++g)
      if (!llvm::is_contained(kept, g))
        std::fill_n(choice.begin() + g * perGroup, perGroup, kNegInf);
  }

  SmallVector<int64_t> chosen = topK(choice, k);
  double cumulative = 0;
  for (int64_t j = 0; j < k; ++j) {
    double p = scores[chosen[j]];
    bool used = mode != RoutingMode::TopP || cumulative < topP;
    weights[j] = used ? p : 0.0;
    ids[j] = used ? chosen[j] : -1;
    cumulative += p;
  }
  if (score == ScoreFunction::SoftmaxAfterTopK)
    softmaxInPlace(weights);
  if (renormalize) {
    double sum = std::accumulate(weights.begin(), weights.end(), 0.0);
    for (double &w : weights)
      w /= sum + epsilon;
  }
  for (double &w : weights)
    w *= scalingFactor;
  if (skipRatio)
    for (int64_t j = 1; j < k; ++j)
      if (weights[j] < *skipRatio * weights[0]) {
        weights[j] = 0.0;
        ids[j] = -1;
      }
}
