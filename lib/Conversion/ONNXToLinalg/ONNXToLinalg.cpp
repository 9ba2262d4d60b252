//===- ONNXToLinalg.cpp - the convert-onnx-to-linalg pass -----------------===//
//
// Every typed onnx.node becomes upstream ops on tensors. What cannot be
// lowered is reported per node before anything changes, so a model with one
// unsupported operator fails with that operator's name, never halfway.
//
//===----------------------------------------------------------------------===//

#include "moe/Conversion/ONNXToLinalg/ONNXToLinalg.h"
#include "moe/Conversion/Passes.h"
#include "moe/Dialect/ONNX/IR/ONNX.h"
#include "moe/Dialect/ONNX/Transforms/NodeUtils.h"

#include "Lowering.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlowOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinDialect.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/Transforms/DialectConversion.h"

namespace moe {
#define GEN_PASS_DEF_CONVERTONNXTOLINALG
#include "moe/Conversion/Passes.h.inc"
} // namespace moe

using namespace mlir;
using namespace moe;
using namespace moe::onnx_to_linalg;

const LoweringTable &moe::onnx_to_linalg::getLoweringTable() {
  static const LoweringTable table = [] {
    LoweringTable t;
    registerElementwiseLowerings(t);
    registerContractionLowerings(t);
    registerShapeOpLowerings(t);
    registerReductionLowerings(t);
    registerIndexingLowerings(t);
    registerEinsumLowerings(t);
    return t;
  }();
  return table;
}

namespace {

/// One operator type's lowering function as a conversion pattern.
struct NodeLowering : OpConversionPattern<onnx::NodeOp> {
  NodeLowering(MLIRContext *ctx, StringRef opType, LowerFn fn)
      : OpConversionPattern(ctx), opType(opType.str()), fn(fn) {}

  LogicalResult
  matchAndRewrite(onnx::NodeOp node, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    if (!node.isStandard(opType))
      return rewriter.notifyMatchFailure(node, "another op type");
    return fn(node, adaptor.getInputs(), rewriter);
  }

  std::string opType;
  LowerFn fn;
};

/// Resources of at most this many elements (scalars, shapes, axes) become
/// inline dense attributes: upstream folders can then see their values
/// (and some assume every ElementsAttr is iterable). Weights stay resources.
constexpr int64_t kInlineResourceElements = 64;

/// A small resource as an inline dense attribute, or null.
static TypedAttr inlineSmallResource(DenseResourceElementsAttr attr) {
  ShapedType type = attr.getType();
  // Booleans are bytes in a resource but bits in a dense attribute.
  if (type.getNumElements() > kInlineResourceElements ||
      type.getElementType().isInteger(1))
    return {};
  AsmResourceBlob *blob = attr.getRawHandle().getBlob();
  if (!blob)
    return {};
  ArrayRef<char> data = blob->getData();
  int64_t bits = type.getElementTypeBitWidth();
  if ((int64_t)data.size() * 8 != bits * type.getNumElements())
    return {};
  return DenseElementsAttr::getFromRawBuffer(type, data);
}

/// onnx.constant -> arith.constant with the same attribute: a
/// dense_resource weight stays a reference to the same blob.
struct ConstantLowering : OpConversionPattern<onnx::ConstantOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(onnx::ConstantOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    auto value = dyn_cast<TypedAttr>(op.getValue());
    if (!value)
      return op.emitError("constant value is not a typed attribute");
    if (auto resource = dyn_cast<DenseResourceElementsAttr>(value))
      if (TypedAttr small = inlineSmallResource(resource))
        value = small;
    rewriter.replaceOpWithNewOp<arith::ConstantOp>(op, value);
    return success();
  }
};

} // namespace

void moe::populateONNXToLinalgPatterns(RewritePatternSet &patterns) {
  MLIRContext *ctx = patterns.getContext();
  for (const auto &entry : getLoweringTable())
    patterns.add<NodeLowering>(ctx, entry.getKey(), entry.getValue());
  patterns.add<ConstantLowering>(ctx);
}

void moe::configureONNXToLinalgTarget(ConversionTarget &target) {
  target.addIllegalOp<onnx::NodeOp, onnx::ConstantOp>();
  target.addLegalOp<onnx::NoneOp>();
  target.addLegalDialect<arith::ArithDialect, cf::ControlFlowDialect,
                         linalg::LinalgDialect, math::MathDialect,
                         scf::SCFDialect, tensor::TensorDialect>();
}

LogicalResult moe::checkONNXLowerable(Operation *root) {
  const LoweringTable &table = getLoweringTable();
  bool ok = true;
  root->walk([&](onnx::NodeOp node) {
    if (!onnx::isDefaultDomain(node.getDomain()) ||
        !table.count(node.getOpType())) {
      emitNodeError(node) << "no CPU lowering for this op";
      ok = false;
      return;
    }
    for (auto [i, type] : llvm::enumerate(node->getResultTypes())) {
      if (isa<RankedTensorType, NoneType>(type))
        continue;
      emitNodeError(node) << "result #" << i << " has type " << type
                          << "; the CPU lowering needs ranked tensors "
                             "(run --onnx-infer-shapes first)";
      ok = false;
    }
  });
  return success(ok);
}

namespace {
struct ConvertONNXToLinalgPass
    : moe::impl::ConvertONNXToLinalgBase<ConvertONNXToLinalgPass> {
  void runOnOperation() override {
    if (failed(checkONNXLowerable(getOperation())))
      return signalPassFailure();
    ConversionTarget target(getContext());
    configureONNXToLinalgTarget(target);
    target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });
    RewritePatternSet patterns(&getContext());
    populateONNXToLinalgPatterns(patterns);
    if (failed(applyPartialConversion(getOperation(), target,
                                      std::move(patterns))))
      return signalPassFailure();
    // The absent inputs have no users left.
    getOperation()->walk([](onnx::NoneOp none) {
      if (none->use_empty())
        none->erase();
    });
  }
};
} // namespace
