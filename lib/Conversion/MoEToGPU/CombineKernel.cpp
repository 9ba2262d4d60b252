//===- CombineKernel.cpp - weighted sum of each token's expert rows -------===//
//
// moe.combine as a kernel: a block per token and column chunk gathers the
// token's k rows through the row map (16-byte loads), sums them weighted in
// f32 (or unweighted, after a scale_rows dispatch) and writes the token's row
// once, so the result is deterministic. The fused alternative
// (combine=epilogue) adds into the tokens from the second grouped matmul's
// epilogue instead and needs the row -> slot inverse built here
// (getOrBuildRowSlotsKernel).
//
//===----------------------------------------------------------------------===//

#include "Kernels.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace moe::detail;

int64_t CombineSignature::vectorWidth() const { return width % 8 == 0 ? 8 : 1; }

namespace {

/// A kernel function `name` with `argTypes` and kElementwiseThreads threads;
/// the builder is left at the start of its body.
gpu::GPUFuncOp createKernel(ImplicitLocOpBuilder &b, gpu::GPUModuleOp module,
                            StringRef name, ArrayRef<Type> argTypes) {
  b.setInsertionPointToEnd(module.getBody());
  auto func = gpu::GPUFuncOp::create(b, name, b.getFunctionType(argTypes, {}));
  func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
  func.setKnownBlockSizeAttr(b.getDenseI32ArrayAttr(
      {static_cast<int32_t>(kElementwiseThreads), 1, 1}));
  b.setInsertionPointToStart(&func.getBody().front());
  return func;
}

/// Moves the builder into `then` of a new `if (cond)`.
void enterIf(ImplicitLocOpBuilder &b, Value cond) {
  auto ifOp = scf::IfOp::create(b, cond, /*withElseRegion=*/false);
  b.setInsertionPointToStart(ifOp.thenBlock());
}

} // namespace

gpu::GPUFuncOp
moe::detail::getOrBuildCombineKernel(gpu::GPUModuleOp module,
                                     const CombineSignature &sig) {
  std::string name;
  llvm::raw_string_ostream os(name);
  os << "combine_" << sig.rowType << "_" << sig.mapType << "_";
  if (sig.weightType)
    os << sig.weightType;
  else
    os << "unweighted";
  os << "_" << sig.resultType << "_h" << sig.width << "_k" << sig.slots;
  if (auto existing = module.lookupSymbol<gpu::GPUFuncOp>(name))
    return existing;

  ImplicitLocOpBuilder b(module.getLoc(), module.getContext());
  int64_t dyn = ShapedType::kDynamic, vec = sig.vectorWidth();
  SmallVector<Type> argTypes = {MemRefType::get({dyn, sig.width}, sig.rowType),
                                MemRefType::get({dyn, sig.slots}, sig.mapType)};
  if (sig.weightType)
    argTypes.push_back(MemRefType::get({dyn, sig.slots}, sig.weightType));
  argTypes.push_back(MemRefType::get({dyn, sig.width}, sig.resultType));
  auto func = createKernel(b, module, name, argTypes);
  Value rows = func.getArgument(0), map = func.getArgument(1),
        result = func.getArguments().back();
  Value weights = sig.weightType ? func.getArgument(2) : Value();
  auto c = [&](int64_t v) { return arith::ConstantIndexOp::create(b, v); };
  Value token = gpu::BlockIdOp::create(b, gpu::Dimension::x);
  Value chunk = arith::AddIOp::create(
      b,
      arith::MulIOp::create(b, gpu::BlockIdOp::create(b, gpu::Dimension::y),
                            c(kElementwiseThreads)),
      gpu::ThreadIdOp::create(b, gpu::Dimension::x));
  Value col = arith::MulIOp::create(b, chunk, c(vec));
  enterIf(b, arith::CmpIOp::create(b, arith::CmpIPredicate::ult, col,
                                   c(sig.width)));
  auto accType = VectorType::get({vec}, b.getF32Type());
  Value zero = arith::ConstantOp::create(b, b.getZeroAttr(accType));
  auto rowBytes = [&](Type t) {
    return std::min<int64_t>(16, vec * t.getIntOrFloatBitWidth() / 8);
  };
  auto loop = scf::ForOp::create(
      b, c(0), c(sig.slots), c(1), ValueRange{zero},
      [&](OpBuilder &nb, Location loc, Value s, ValueRange iter) {
        ImplicitLocOpBuilder ib(loc, nb);
        Value row = memref::LoadOp::create(ib, map, ValueRange{token, s});
        Value valid = arith::CmpIOp::create(
            ib, arith::CmpIPredicate::sge, row,
            arith::ConstantOp::create(ib, ib.getZeroAttr(sig.mapType)));
        auto ifOp = scf::IfOp::create(ib, TypeRange{accType}, valid,
                                      /*withElseRegion=*/true);
        {
          OpBuilder::InsertionGuard guard(ib);
          ib.setInsertionPointToStart(ifOp.thenBlock());
          Value r = arith::IndexCastOp::create(ib, ib.getIndexType(), row);
          Value v = vector::LoadOp::create(
              ib, VectorType::get({vec}, sig.rowType), rows, ValueRange{r, col},
              /*nontemporal=*/false, llvm::MaybeAlign(rowBytes(sig.rowType)));
          Value wide = castFloat(ib, v, ib.getF32Type());
          Value sum;
          if (weights) {
            Value w = castFloat(
                ib, memref::LoadOp::create(ib, weights, ValueRange{token, s}),
                ib.getF32Type());
            Value wv = vector::BroadcastOp::create(ib, accType, w);
            sum = vector::FMAOp::create(ib, wide, wv, iter[0]);
          } else {
            sum = arith::AddFOp::create(ib, wide, iter[0]);
          }
          scf::YieldOp::create(ib, sum);
          ib.setInsertionPointToStart(ifOp.elseBlock());
          scf::YieldOp::create(ib, iter[0]);
        }
        scf::YieldOp::create(ib, ifOp.getResult(0));
      });
  Value out = castFloat(b, loop.getResult(0), sig.resultType);
  vector::StoreOp::create(b, out, result, ValueRange{token, col},
                          /*nontemporal=*/false,
                          llvm::MaybeAlign(rowBytes(sig.resultType)));
  b.setInsertionPointToEnd(&func.getBody().front());
  gpu::ReturnOp::create(b);
  return func;
}

gpu::GPUFuncOp moe::detail::getOrBuildRowSlotsKernel(gpu::GPUModuleOp module,
                                                     Type mapType,
                                                     int64_t slots) {
  std::string name;
  llvm::raw_string_ostream os(name);
  os << "row_slots_" << mapType << "_k" << slots;
  if (auto existing = module.lookupSymbol<gpu::GPUFuncOp>(name))
    return existing;

  ImplicitLocOpBuilder b(module.getLoc(), module.getContext());
  int64_t dyn = ShapedType::kDynamic;
  auto func = createKernel(b, module, name,
                           {MemRefType::get({dyn, slots}, mapType),
                            MemRefType::get({dyn}, b.getI32Type())});
  Value map = func.getArgument(0), rowSlots = func.getArgument(1);
  auto c = [&](int64_t v) { return arith::ConstantIndexOp::create(b, v); };
  auto ult = [&](Value x, Value y) {
    return arith::CmpIOp::create(b, arith::CmpIPredicate::ult, x, y);
  };
  Value idx = arith::AddIOp::create(
      b,
      arith::MulIOp::create(b, gpu::BlockIdOp::create(b, gpu::Dimension::x),
                            c(kElementwiseThreads)),
      gpu::ThreadIdOp::create(b, gpu::Dimension::x));
  Value total =
      arith::MulIOp::create(b, memref::DimOp::create(b, map, 0), c(slots));
  enterIf(b, ult(idx, total));
  Value row = memref::LoadOp::create(
      b, map,
      ValueRange{arith::DivUIOp::create(b, idx, c(slots)),
                 arith::RemUIOp::create(b, idx, c(slots))});
  // An unsigned compare rejects negative rows (-1: unused or dropped).
  Value r = arith::IndexCastOp::create(b, b.getIndexType(), row);
  enterIf(b, ult(r, memref::DimOp::create(b, rowSlots, 0)));
  memref::StoreOp::create(b, arith::IndexCastOp::create(b, b.getI32Type(), idx),
                          rowSlots, ValueRange{r});
  b.setInsertionPointToEnd(&func.getBody().front());
  gpu::ReturnOp::create(b);
  return func;
}
