//===- InferEinsum.cpp - Einsum result types ------------------------------===//
//
// Exports write expert matmuls over stacked weights as Einsum
// ("ech,ehi->eci"). Each letter is one dimension; the output is the explicit
// right-hand side, or (implicit form) the letters that appear once, sorted.
// Ellipsis ("...") broadcasting is not inferred (the node stays untyped).
//
//===----------------------------------------------------------------------===//

#include "InferenceContext.h"

#include "llvm/ADT/StringExtras.h"

#include <map>

using namespace mlir;
using namespace moe::onnx::infer;

static LogicalResult inferEinsum(InferenceContext &ctx) {
  auto equation =
      dyn_cast_or_null<StringAttr>(ctx.getNode().getONNXAttr("equation"));
  if (!equation)
    return ctx.emitError() << "missing the equation attribute";
  std::string eq;
  for (char c : equation.getValue())
    if (!llvm::isSpace(c))
      eq.push_back(c);
  if (StringRef(eq).contains("..."))
    return success();
  auto [lhs, rhs] = StringRef(eq).split("->");
  bool implicit = !StringRef(eq).contains("->");
  SmallVector<StringRef> terms;
  lhs.split(terms, ',');
  if (terms.size() != ctx.getNumInputs())
    return ctx.emitError() << "the equation has " << terms.size()
                           << " operand terms but the node has "
                           << ctx.getNumInputs() << " inputs";

  std::map<char, int64_t> sizes;
  std::map<char, int> counts;
  Type elementType;
  for (auto [i, term] : llvm::enumerate(terms)) {
    RankedTensorType type = ctx.getRanked(i);
    if (!type)
      return success();
    elementType = type.getElementType();
    if (static_cast<int64_t>(term.size()) != type.getRank())
      return ctx.emitError()
             << "term '" << term << "' has " << term.size()
             << " letters but input #" << i << " has rank " << type.getRank();
    for (auto [d, letter] : llvm::enumerate(term)) {
      if (!llvm::isAlpha(letter))
        return ctx.emitError()
               << "unexpected '" << letter << "' in the equation";
      ++counts[letter];
      int64_t size = type.getDimSize(d);
      auto [it, inserted] = sizes.try_emplace(letter, size);
      if (inserted || size == 1 || ShapedType::isDynamic(size))
        continue;
      if (it->second == 1 || ShapedType::isDynamic(it->second))
        it->second = size;
      else if (it->second != size)
        return ctx.emitError()
               << "dimension '" << letter << "' is " << it->second
               << " in one input and " << size << " in input #" << i;
    }
  }
  std::string output;
  if (implicit) {
    for (auto [letter, count] : counts)
      if (count == 1)
        output.push_back(letter);
  } else {
    output = rhs.str();
  }
  SmallVector<int64_t> shape;
  for (char letter : output) {
    auto it = sizes.find(letter);
    if (it == sizes.end())
      return ctx.emitError()
             << "output letter '" << letter << "' appears in no input";
    shape.push_back(it->second);
  }
  ctx.setResult(0, shape, elementType);
  return success();
}

void moe::onnx::infer::registerEinsumInference(InferenceTable &table) {
  table.add({"Einsum"}, inferEinsum);
}
