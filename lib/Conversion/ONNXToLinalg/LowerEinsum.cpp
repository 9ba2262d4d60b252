//===- LowerEinsum.cpp - Einsum as one linalg.generic ---------------------===//
//
// "bh,bhi->bi": every label is a loop, the output's labels first (parallel,
// in output order), then the summed ones (reduction, in order of first
// appearance). Each operand is read through the map of its labels and the
// body multiplies them into the accumulator. Implicit outputs ("ij,jk") are
// the labels that appear once, sorted. Ellipses, labels repeated within one
// operand (diagonals) and size-1 broadcasting are not supported.
//
//===----------------------------------------------------------------------===//

#include "Lowering.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <map>

using namespace mlir;
using namespace moe;
using namespace moe::onnx_to_linalg;

namespace {
struct EinsumSpec {
  SmallVector<std::string> inputs;
  std::string output;
};
} // namespace

/// Parses `equation` (spaces ignored) or returns a reason it is unsupported.
static FailureOr<EinsumSpec> parseEinsum(StringRef equation,
                                         std::string &reason) {
  std::string eq;
  for (char c : equation)
    if (c != ' ')
      eq.push_back(c);
  if (StringRef(eq).contains("...")) {
    reason = "ellipsis ('...') in the equation is not supported";
    return failure();
  }
  EinsumSpec spec;
  StringRef lhs = eq, rhs;
  bool explicitOutput = false;
  if (size_t arrow = StringRef(eq).find("->"); arrow != StringRef::npos) {
    lhs = StringRef(eq).take_front(arrow);
    rhs = StringRef(eq).drop_front(arrow + 2);
    explicitOutput = true;
  }
  SmallVector<StringRef> terms;
  lhs.split(terms, ',');
  std::map<char, int> counts;
  for (StringRef term : terms) {
    for (char c : term) {
      if (!llvm::isAlpha(c)) {
        reason = std::string("unexpected character '") + c + "'";
        return failure();
      }
      if (term.count(c) > 1) {
        reason = std::string("label '") + c +
                 "' repeats within one operand (diagonal)";
        return failure();
      }
      ++counts[c];
    }
    spec.inputs.push_back(term.str());
  }
  if (explicitOutput) {
    for (char c : rhs) {
      if (!counts.count(c) || rhs.count(c) > 1) {
        reason = std::string("output label '") + c +
                 "' is repeated or not in any input";
        return failure();
      }
    }
    spec.output = rhs.str();
  } else {
    // std::map orders upper case before lower case, as numpy does.
    for (auto [c, n] : counts)
      if (n == 1)
        spec.output.push_back(c);
  }
  return spec;
}

static LogicalResult lowerEinsum(onnx::NodeOp node, ValueRange operands,
                                 ConversionPatternRewriter &rewriter) {
  Location loc = node.getLoc();
  MLIRContext *ctx = rewriter.getContext();
  RankedTensorType type = getResultType(node);
  Type element = type.getElementType();
  auto equation = dyn_cast_or_null<StringAttr>(node.getONNXAttr("equation"));
  if (!equation)
    return emitNodeError(node) << "missing equation";
  std::string reason;
  FailureOr<EinsumSpec> spec = parseEinsum(equation.getValue(), reason);
  if (failed(spec))
    return emitNodeError(node)
           << "equation '" << equation.getValue() << "': " << reason;
  if (spec->inputs.size() != operands.size())
    return emitNodeError(node)
           << "equation '" << equation.getValue() << "' has "
           << spec->inputs.size() << " operands, the node " << operands.size();
  if ((int64_t)spec->output.size() != type.getRank())
    return emitNodeError(node) << "equation '" << equation.getValue()
                               << "' does not match the result rank";

  // Loop order: output labels, then the reduced ones.
  std::string loops = spec->output;
  for (const std::string &term : spec->inputs)
    for (char c : term)
      if (loops.find(c) == std::string::npos)
        loops.push_back(c);
  int64_t numLoops = loops.size();
  auto loopOf = [&](char c) { return (unsigned)loops.find(c); };

  SmallVector<AffineMap> maps;
  for (auto [term, operand] : llvm::zip(spec->inputs, operands)) {
    auto t = cast<RankedTensorType>(operand.getType());
    if ((int64_t)term.size() != t.getRank())
      return emitNodeError(node) << "equation term '" << term
                                 << "' does not match rank " << t.getRank();
    if (t.getElementType() != element)
      return emitNodeError(node) << "operands of mixed element types";
    SmallVector<AffineExpr> exprs;
    for (char c : term)
      exprs.push_back(getAffineDimExpr(loopOf(c), ctx));
    maps.push_back(AffineMap::get(numLoops, 0, exprs, ctx));
  }
  SmallVector<AffineExpr> outExprs;
  for (int64_t d = 0; d < type.getRank(); ++d)
    outExprs.push_back(getAffineDimExpr(d, ctx));
  maps.push_back(AffineMap::get(numLoops, 0, outExprs, ctx));

  // A label's dims must agree wherever it appears (the result's static
  // dims included): a loop runs over the first one's.
  llvm::SmallDenseMap<char, Value> labelSize;
  SmallVector<Value> agree;
  for (auto [term, operand] : llvm::zip(spec->inputs, operands))
    for (auto [pos, c] : llvm::enumerate(term)) {
      Value size = getDimValue(rewriter, loc, operand, pos);
      auto [it, first] = labelSize.try_emplace(c, size);
      if (!first)
        agree.push_back(compareIndex(rewriter, loc, arith::CmpIPredicate::eq,
                                     size, it->second));
    }
  for (int64_t d = 0; d < type.getRank(); ++d)
    if (!type.isDynamicDim(d))
      agree.push_back(compareIndex(
          rewriter, loc, arith::CmpIPredicate::eq, labelSize[spec->output[d]],
          arith::ConstantIndexOp::create(rewriter, loc, type.getDimSize(d))));
  checkAtRunTime(rewriter, loc, node, agree,
                 "the operands' shapes do not agree: a label's dimensions "
                 "must be equal wherever it appears in the equation");

  SmallVector<Value> sizes;
  for (int64_t d = 0; d < type.getRank(); ++d)
    if (type.isDynamicDim(d))
      sizes.push_back(labelSize[spec->output[d]]);
  SmallVector<utils::IteratorType> iterators(numLoops,
                                             utils::IteratorType::reduction);
  for (int64_t d = 0; d < type.getRank(); ++d)
    iterators[d] = utils::IteratorType::parallel;
  Value init =
      createFilled(rewriter, loc, type, sizes, rewriter.getZeroAttr(element));
  bool isFloat = isa<FloatType>(element);
  auto generic = linalg::GenericOp::create(
      rewriter, loc, type, operands, init, maps, iterators,
      [&](OpBuilder &b, Location loc, ValueRange args) {
        Value product = args[0];
        for (Value v : args.drop_front().drop_back())
          product = isFloat ? Value(arith::MulFOp::create(b, loc, product, v))
                            : Value(arith::MulIOp::create(b, loc, product, v));
        Value acc = args.back();
        Value sum = isFloat
                        ? Value(arith::AddFOp::create(b, loc, acc, product))
                        : Value(arith::AddIOp::create(b, loc, acc, product));
        linalg::YieldOp::create(b, loc, sum);
      });
  rewriter.replaceOp(node, generic.getResults());
  return success();
}

void moe::onnx_to_linalg::registerEinsumLowerings(LoweringTable &t) {
  t["Einsum"] = lowerEinsum;
}
