//===- ActivationKernel.cpp - element-wise activation kernel --------------===//
//
// The activation of a grouped matmul's rows when it is not fused into the
// matmul's epilogue (EpilogueFusion.cpp decides): one thread per output
// element, the math of moe.activation (ActivationMath.h) in f32. Also the
// math expansion every kernel with an activation goes through, so that no
// kernel calls libdevice (which the NVVM target would have to link).
//
//===----------------------------------------------------------------------===//

#include "Kernels.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Math/Transforms/Approximation.h"
#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace moe::detail;

namespace {

/// math.fma -> llvm.intr.fma, which NVPTX selects as fma.rn.f32 (the GPU
/// lowering would call libdevice's __nv_fmaf for math.fma).
struct FmaToIntrinsic : OpRewritePattern<math::FmaOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(math::FmaOp op,
                                PatternRewriter &rewriter) const override {
    rewriter.replaceOpWithNewOp<LLVM::FMAOp>(op, op.getA(), op.getB(),
                                             op.getC());
    return success();
  }
};

/// math.absf on f32 in integer arithmetic (gpu-to-nvvm sends llvm.fabs and
/// llvm.floor to libdevice).
struct AbsFInArith : OpRewritePattern<math::AbsFOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(math::AbsFOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.getType().isF32())
      return failure();
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    rewriter.replaceOp(op, absF32(b, op.getOperand()));
    return success();
  }
};

/// math.floor on f32: truncate through i32 and step down when that rounded
/// up; values of magnitude >= 2^23 (and NaN, inf) are already integral and
/// pass through.
struct FloorInArith : OpRewritePattern<math::FloorOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(math::FloorOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.getType().isF32())
      return failure();
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    Value x = op.getOperand();
    Type f32 = b.getF32Type();
    auto cst = [&](float v) {
      return arith::ConstantOp::create(b, b.getF32FloatAttr(v));
    };
    Value t = arith::SIToFPOp::create(
        b, f32, arith::FPToSIOp::create(b, b.getI32Type(), x));
    Value down = arith::SelectOp::create(
        b, arith::CmpFOp::create(b, arith::CmpFPredicate::OGT, t, x),
        arith::SubFOp::create(b, t, cst(1.0f)), t);
    Value small = arith::CmpFOp::create(b, arith::CmpFPredicate::OLT,
                                        absF32(b, x), cst(8388608.0f));
    rewriter.replaceOp(op, Value(arith::SelectOp::create(b, small, down, x)));
    return success();
  }
};

} // namespace

Value moe::detail::absF32(ImplicitLocOpBuilder &b, Value x) {
  Type i32 = b.getI32Type();
  Value bits = arith::BitcastOp::create(b, i32, x);
  Value mask = arith::ConstantIntOp::create(b, 0x7fffffff, 32);
  return arith::BitcastOp::create(b, x.getType(),
                                  arith::AndIOp::create(b, bits, mask));
}

Value moe::detail::castFloat(ImplicitLocOpBuilder &b, Value v, Type type) {
  Type from = getElementTypeOrSelf(v.getType());
  if (from == type)
    return v;
  Type to = type;
  if (auto vec = dyn_cast<VectorType>(v.getType()))
    to = vec.clone(type);
  if (from.getIntOrFloatBitWidth() < type.getIntOrFloatBitWidth())
    return arith::ExtFOp::create(b, to, v);
  return arith::TruncFOp::create(b, to, v);
}

void moe::detail::expandKernelMath(gpu::GPUFuncOp func) {
  RewritePatternSet patterns(func.getContext());
  // Every math op the activations use (exp, erf, tanh, log1p), in f32.
  populateMathPolynomialApproximationPatterns(patterns,
                                              [](StringRef) { return true; });
  patterns.add<FmaToIntrinsic, AbsFInArith, FloorInArith>(func.getContext());
  // The patterns only fail to apply when nothing matches; no error to report.
  (void)applyPatternsGreedily(func, std::move(patterns));
}

gpu::GPUFuncOp
moe::detail::getOrBuildActivationKernel(gpu::GPUModuleOp gpuModule,
                                        const ActivationSignature &sig) {
  std::string name;
  llvm::raw_string_ostream os(name);
  os << "activation_" << sig.params.mangle() << "_" << sig.inputType << "_"
     << sig.resultType << "_w" << sig.inputWidth << "_" << sig.width;
  if (auto existing = gpuModule.lookupSymbol<gpu::GPUFuncOp>(name))
    return existing;

  MLIRContext *ctx = gpuModule.getContext();
  ImplicitLocOpBuilder b(gpuModule.getLoc(), ctx);
  b.setInsertionPointToEnd(gpuModule.getBody());
  int64_t dyn = ShapedType::kDynamic;
  std::optional<GateLayout> layout = sig.params.gateLayout;
  bool separate = layout == GateLayout::Separate;
  auto inputType = MemRefType::get({dyn, sig.inputWidth}, sig.inputType);
  SmallVector<Type> argTypes = {inputType};
  if (separate)
    argTypes.push_back(inputType);
  argTypes.push_back(MemRefType::get({dyn, sig.width}, sig.resultType));
  auto func = gpu::GPUFuncOp::create(b, name, b.getFunctionType(argTypes, {}));
  func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
  func.setKnownBlockSizeAttr(b.getDenseI32ArrayAttr(
      {static_cast<int32_t>(kElementwiseThreads), 1, 1}));
  b.setInsertionPointToStart(&func.getBody().front());

  Value input = func.getArgument(0);
  Value up = separate ? func.getArgument(1) : Value();
  Value result = func.getArguments().back();
  auto c = [&](int64_t v) { return arith::ConstantIndexOp::create(b, v); };
  Value block = gpu::BlockIdOp::create(b, gpu::Dimension::x);
  Value tid = gpu::ThreadIdOp::create(b, gpu::Dimension::x);
  Value idx = arith::AddIOp::create(
      b, arith::MulIOp::create(b, block, c(kElementwiseThreads)), tid);
  Value rows = memref::DimOp::create(b, result, 0);
  Value total = arith::MulIOp::create(b, rows, c(sig.width));
  auto inside = scf::IfOp::create(
      b, arith::CmpIOp::create(b, arith::CmpIPredicate::ult, idx, total),
      /*withElseRegion=*/false);
  b.setInsertionPointToStart(inside.thenBlock());
  Value row = arith::DivUIOp::create(b, idx, c(sig.width));
  Value col = arith::RemUIOp::create(b, idx, c(sig.width));
  auto load = [&](Value source, Value column) {
    return castFloat(b,
                     memref::LoadOp::create(b, source, ValueRange{row, column}),
                     b.getF32Type());
  };
  SmallVector<Value, 2> values;
  if (!layout) {
    values = {load(input, col)};
  } else if (separate) {
    values = {load(input, col), load(up, col)};
  } else if (*layout == GateLayout::Interleaved) {
    Value gate = arith::MulIOp::create(b, col, c(2));
    values = {load(input, gate),
              load(input, arith::AddIOp::create(b, gate, c(1)))};
  } else {
    values = {load(input, col),
              load(input, arith::AddIOp::create(b, col, c(sig.width)))};
  }
  Value v = emitActivation(b, b.getLoc(), sig.params, b.getF32Type(), values);
  memref::StoreOp::create(b, castFloat(b, v, sig.resultType), result,
                          ValueRange{row, col});
  b.setInsertionPointToEnd(&func.getBody().front());
  gpu::ReturnOp::create(b);
  expandKernelMath(func);
  return func;
}
