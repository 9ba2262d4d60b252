//===- Lowering.h - one lowering function per ONNX operator -----*- C++ -*-===//
//
// Each operator family (one source file) registers functions that replace
// an onnx.node by upstream ops; ONNXToLinalg.cpp wraps every function in a
// conversion pattern. The result types are the inferred ones, so lowerings
// build exactly those types and take dynamic sizes from the operands.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_LIB_CONVERSION_ONNXTOLINALG_LOWERING_H
#define MOE_LIB_CONVERSION_ONNXTOLINALG_LOWERING_H

#include "moe/Dialect/ONNX/IR/ONNX.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Builders.h"
#include "mlir/Transforms/DialectConversion.h"
#include "llvm/ADT/StringMap.h"

namespace moe::onnx_to_linalg {

using mlir::ConversionPatternRewriter;
using mlir::LogicalResult;
using mlir::Value;
using mlir::ValueRange;

/// Replaces `node` (its converted operands are `operands`), or emits an
/// error naming the node and returns failure.
using LowerFn = LogicalResult (*)(onnx::NodeOp node, ValueRange operands,
                                  ConversionPatternRewriter &rewriter);

/// Lowering functions keyed by default-domain op type.
using LoweringTable = llvm::StringMap<LowerFn>;

const LoweringTable &getLoweringTable();

void registerElementwiseLowerings(LoweringTable &table);
void registerContractionLowerings(LoweringTable &table);
void registerShapeOpLowerings(LoweringTable &table);
void registerReductionLowerings(LoweringTable &table);
void registerIndexingLowerings(LoweringTable &table);
void registerEinsumLowerings(LoweringTable &table);

//===--- Helpers ----------------------------------------------------------===//

/// The ranked tensor type of result `i`.
mlir::RankedTensorType getResultType(onnx::NodeOp node, unsigned i = 0);

/// An error at the node, prefixed with its description.
mlir::InFlightDiagnostic emitNodeError(onnx::NodeOp node);

/// A run-time check: every one of `conditions` (i1) must hold for the
/// inputs at hand, or the run ends with "<the node>: <reason>" (a
/// cf.assert; see moe-report-failed-checks). Conditions that fold to true
/// are dropped, and nothing is emitted if all do.
void checkAtRunTime(mlir::OpBuilder &b, mlir::Location loc, onnx::NodeOp node,
                    llvm::ArrayRef<Value> conditions,
                    const llvm::Twine &reason);

/// Checks at run time that `dims` (one index value per dim of `type`,
/// computed from the node's data: a shape, repeats, a depth) are not
/// negative and equal `type`'s static dims, which the result takes instead.
/// `what` names them in the message.
void checkShapeAtRunTime(mlir::OpBuilder &b, mlir::Location loc,
                         onnx::NodeOp node, mlir::RankedTensorType type,
                         ValueRange dims, const llvm::Twine &what);

/// `lhs predicate rhs` on two index values, folded where it can be.
Value compareIndex(mlir::OpBuilder &b, mlir::Location loc,
                   mlir::arith::CmpIPredicate predicate, Value lhs, Value rhs);

/// An i1 that is true when every element of the integer tensor `indices`
/// lies in [-size, size) (ONNX's range for indices along a dim of `size`),
/// computed by a reduction over `indices`.
Value allIndicesInRange(mlir::OpBuilder &b, mlir::Location loc, Value indices,
                        Value size);

/// Checks at run time that the indices of `node` are in range: with one
/// size, every element of `indices` indexes a dim of that size (Gather,
/// GatherElements, ScatterElements, along `axis`); with k sizes, component
/// c of `indices`' last dim (of k) indexes a dim of size sizes[c] (GatherND,
/// ScatterND, from dim `axis` on).
void checkIndicesAtRunTime(mlir::OpBuilder &b, mlir::Location loc,
                           onnx::NodeOp node, Value indices, ValueRange sizes,
                           int64_t axis);

/// An index constant.
Value cIndex(mlir::OpBuilder &b, mlir::Location loc, int64_t v);

/// `tensor.dim` of `value` at `dim`, or a constant when static.
Value getDimValue(mlir::OpBuilder &b, mlir::Location loc, Value value,
                  int64_t dim);

/// tensor.empty of `type` with the given values for its dynamic dims.
Value createEmpty(mlir::OpBuilder &b, mlir::Location loc,
                  mlir::RankedTensorType type, ValueRange dynamicSizes);

/// tensor.empty of `type`, filled with `value`.
Value createFilled(mlir::OpBuilder &b, mlir::Location loc,
                   mlir::RankedTensorType type, ValueRange dynamicSizes,
                   mlir::TypedAttr value);

/// The dynamic sizes of an elementwise result: each dynamic dim of `type`
/// comes from the first input whose (right-aligned) dim is not a static 1.
llvm::SmallVector<Value> broadcastDynamicSizes(mlir::OpBuilder &b,
                                               mlir::Location loc,
                                               mlir::RankedTensorType type,
                                               ValueRange inputs);

/// The values in `dims` (one per dim of `type`) of `type`'s dynamic dims.
llvm::SmallVector<Value> dynamicOf(mlir::RankedTensorType type,
                                   llvm::ArrayRef<Value> dims);

/// The index values of all dims of a result of `type` whose dynamic ones
/// are `dynamicSizes` (in order).
llvm::SmallVector<Value> resultDims(mlir::OpBuilder &b, mlir::Location loc,
                                    mlir::RankedTensorType type,
                                    ValueRange dynamicSizes);

/// Checks at run time that every dim of `inputs` that broadcastMap reads
/// without broadcasting (right-aligned; not a static 1) equals the result's
/// in `dims` (all of them, see resultDims). Only dims that are dynamic on
/// either side are checked; inference checked the static ones. A dynamic
/// dim that is 1 at run time does not broadcast: it fails the check
/// instead of being read past its end.
void checkBroadcastAtRunTime(mlir::OpBuilder &b, mlir::Location loc,
                             onnx::NodeOp node, ValueRange dims,
                             ValueRange inputs);

/// The indexing map reading `input` in a loop nest over `outRank` dims with
/// numpy broadcasting (right-aligned, static 1s read index 0). Dynamic dims
/// are taken not to broadcast.
mlir::AffineMap broadcastMap(mlir::MLIRContext *ctx,
                             mlir::RankedTensorType input,
                             mlir::RankedTensorType output);

/// `value` reshaped to `type` (same element count); `sizes` holds one index
/// value per dim of `type` (static dims may be null).
Value reshapeTo(mlir::OpBuilder &b, mlir::Location loc, Value value,
                mlir::RankedTensorType type, llvm::ArrayRef<Value> sizes);

/// Scalar conversion between element types with ONNX Cast semantics
/// (to bool is != 0, integers are signed).
Value castScalar(mlir::OpBuilder &b, mlir::Location loc, Value value,
                 mlir::Type to);

/// Normalizes an axis attribute against `rank`.
int64_t normalizeAxis(int64_t axis, int64_t rank);

/// The node's integer attribute or a default.
int64_t getIntAttr(onnx::NodeOp node, llvm::StringRef name,
                   int64_t defaultValue);

} // namespace moe::onnx_to_linalg

#endif // MOE_LIB_CONVERSION_ONNXTOLINALG_LOWERING_H
