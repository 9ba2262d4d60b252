//===- InferenceContext.h - what an inference function sees ----*- C++ -*-===//
//
// Each operator's shape inference is a small function from an
// InferenceContext (the node, its input types, the integers known to flow
// into it) to result types. Functions are registered per (domain, op_type)
// in an InferenceTable, one family of operators per source file.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_LIB_DIALECT_ONNX_TRANSFORMS_INFERENCECONTEXT_H
#define MOE_LIB_DIALECT_ONNX_TRANSFORMS_INFERENCECONTEXT_H

#include "moe/Dialect/ONNX/IR/ONNX.h"

#include "mlir/IR/Diagnostics.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/StringMap.h"

#include <optional>

namespace moe::onnx::infer {

/// The elements of small 1-D or 0-D integer tensors that shape inference
/// follows (shapes and the arithmetic on them); ShapedType::kDynamic marks an
/// element that is not known at compile time.
using KnownInts = llvm::DenseMap<mlir::Value, llvm::SmallVector<int64_t>>;

/// An integer list that an operator reads from an attribute or an input.
struct IntList {
  /// False if neither the attribute nor the input is given.
  bool present = false;
  /// The values, when known at compile time (elements may be kDynamic when
  /// they come from KnownInts).
  std::optional<llvm::SmallVector<int64_t>> values;

  bool isKnown() const { return values.has_value(); }
};

class InferenceContext {
public:
  InferenceContext(NodeOp node, int64_t opset, const KnownInts &known);

  NodeOp getNode() const { return node; }
  /// The operator set version the node's domain is imported at.
  int64_t getOpset() const { return opset; }

  //===--- Inputs ---------------------------------------------------------===//

  unsigned getNumInputs() const { return node.getInputs().size(); }
  /// True if input `i` exists and is not the absent (`none`) input.
  bool hasInput(unsigned i) const;
  /// Input `i`'s type as a ranked tensor, or null (absent, unknown, ...).
  mlir::RankedTensorType getRanked(unsigned i) const;
  /// Input `i`'s element type if it is any tensor, else null.
  mlir::Type getElementType(unsigned i) const;
  /// The elements of input `i`, if it is an integer tensor that is a
  /// constant or whose elements shape inference followed.
  std::optional<llvm::SmallVector<int64_t>> getInts(unsigned i) const;
  /// As getInts, but only when every element is known.
  std::optional<llvm::SmallVector<int64_t>> getStaticInts(unsigned i) const;

  //===--- Attributes -----------------------------------------------------===//

  std::optional<int64_t> getIntAttr(llvm::StringRef name) const;
  int64_t getIntAttr(llvm::StringRef name, int64_t defaultValue) const;
  std::optional<llvm::SmallVector<int64_t>>
  getIntsAttr(llvm::StringRef name) const;
  /// A list that is attribute `name` before opset `sinceOpset` and input
  /// `index` from then on. Whichever form the node actually uses is read,
  /// so hand-written IR of either style works.
  IntList getIntsAttrOrInput(llvm::StringRef name, unsigned index,
                             int64_t sinceOpset) const;

  //===--- Results --------------------------------------------------------===//

  void setResult(unsigned i, mlir::Type type);
  void setResult(unsigned i, llvm::ArrayRef<int64_t> shape,
                 mlir::Type elementType);
  /// Records the elements of result `i` (a shape or arithmetic on one).
  void setResultInts(unsigned i, llvm::SmallVector<int64_t> values);

  /// The inferred type of each result; null where unknown.
  llvm::ArrayRef<mlir::Type> getResults() const { return results; }
  llvm::ArrayRef<std::optional<llvm::SmallVector<int64_t>>>
  getResultInts() const {
    return resultInts;
  }

  //===--- Diagnostics ----------------------------------------------------===//

  /// An error at the node, prefixed with describeNode().
  mlir::InFlightDiagnostic emitError() const;
  /// `axis` in [-rank, rank) made non-negative, or an error naming `what`.
  mlir::FailureOr<int64_t> normalizeAxis(int64_t axis, int64_t rank,
                                         llvm::StringRef what = "axis") const;

private:
  // Op accessors are not const; the context never changes the node.
  mutable NodeOp node;
  int64_t opset;
  const KnownInts &known;
  llvm::SmallVector<mlir::Type> results;
  llvm::SmallVector<std::optional<llvm::SmallVector<int64_t>>> resultInts;
};

/// Computes result types into the context. Returns failure only after
/// emitting an error (the node contradicts its operator's semantics); a node
/// whose results cannot be inferred yet just sets nothing.
using InferFn = mlir::LogicalResult (*)(InferenceContext &);

/// Inference functions keyed by (domain, op_type); "" is the default domain.
class InferenceTable {
public:
  void add(llvm::StringRef domain, llvm::StringRef opType, InferFn fn);
  void add(llvm::ArrayRef<llvm::StringRef> opTypes, InferFn fn) {
    for (llvm::StringRef opType : opTypes)
      add("", opType, fn);
  }
  InferFn lookup(NodeOp node) const;

private:
  llvm::StringMap<InferFn> fns;
};

/// The table with every operator below registered.
const InferenceTable &getInferenceTable();

// One registration function per operator family (one source file each).
void registerElementwiseInference(InferenceTable &table);
void registerShapeOpInference(InferenceTable &table);
void registerReductionInference(InferenceTable &table);
void registerContractionInference(InferenceTable &table);
void registerContribInference(InferenceTable &table);
void registerEinsumInference(InferenceTable &table);

//===--- Helpers shared by the families ----------------------------------===//

/// The numpy broadcast of `lhs` and `rhs` (dynamic dims are assumed to
/// match the other side unless that is 1), or failure if two static dims
/// differ and neither is 1.
mlir::FailureOr<llvm::SmallVector<int64_t>>
broadcastShapes(llvm::ArrayRef<int64_t> lhs, llvm::ArrayRef<int64_t> rhs);

/// The MLIR element type of an ONNX TensorProto data type code, or null.
mlir::Type getElementTypeForONNXCode(mlir::MLIRContext *ctx, int64_t code);

} // namespace moe::onnx::infer

#endif // MOE_LIB_DIALECT_ONNX_TRANSFORMS_INFERENCECONTEXT_H
