//===- ScatterColumnsKernel.cpp - moe.scatter_columns on the GPU ----------===//
//
// The sparse part of a compressed expert (moe-compress-experts) adds each
// kept column of a small [rows, m] result into its column of the low-rank
// result: result = dest, then result[r, columns[g, j]] += source[r, j] for
// the rows r of group g. A block owns kElementwiseThreads rows: its threads
// first copy those rows of dest, then each thread adds its own row's m
// columns in order. One thread per row keeps repeated indices (which add
// twice) free of races without atomics.
//
//===----------------------------------------------------------------------===//

#include "Emitter.h"
#include "Kernels.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace moe::detail;

namespace {

std::string kernelName(const ScatterColumnsSignature &sig) {
  std::string name;
  llvm::raw_string_ostream os(name);
  os << "scatter_columns_" << sig.elementType << "_" << sig.columnType << "_"
     << sig.offsetType << "_e" << sig.groups << "_m" << sig.sourceWidth << "_w"
     << sig.width;
  return name;
}

gpu::GPUFuncOp buildKernel(gpu::GPUModuleOp gpuModule, StringRef name,
                           const ScatterColumnsSignature &sig) {
  MLIRContext *ctx = gpuModule.getContext();
  ImplicitLocOpBuilder b(gpuModule.getLoc(), ctx);
  b.setInsertionPointToEnd(gpuModule.getBody());
  Emitter m{b};
  auto func = gpu::GPUFuncOp::create(
      b, name, b.getFunctionType(scatterColumnsArgumentTypes(sig), {}));
  func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
  func.setKnownBlockSizeAttr(b.getDenseI32ArrayAttr(
      {static_cast<int32_t>(kElementwiseThreads), 1, 1}));
  b.setInsertionPointToStart(&func.getBody().front());
  Value source = func.getArgument(0), dest = func.getArgument(1),
        columns = func.getArgument(2), offsets = func.getArgument(3),
        result = func.getArgument(4);
  Value tid = gpu::ThreadIdOp::create(b, gpu::Dimension::x);
  Value rows = memref::DimOp::create(b, result, 0);
  Value first = m.mul(gpu::BlockIdOp::create(b, gpu::Dimension::x),
                      m.c(kElementwiseThreads));
  Value blockRows = m.min(m.sub(rows, first), m.c(kElementwiseThreads));

  // The block's rows of dest, copied by all its threads.
  scf::ForOp::create(
      b, tid, m.mul(blockRows, m.c(sig.width)), m.c(kElementwiseThreads),
      ValueRange(), [&](OpBuilder &nb, Location loc, Value i, ValueRange) {
        ImplicitLocOpBuilder ib(loc, nb);
        Emitter im{ib};
        Value row = im.add(first, im.div(i, sig.width));
        Value col = im.rem(i, sig.width);
        Value v = memref::LoadOp::create(ib, dest, ValueRange{row, col});
        memref::StoreOp::create(ib, v, result, ValueRange{row, col});
        scf::YieldOp::create(ib);
      });
  // A thread's adds below read what other threads copied.
  gpu::BarrierOp::create(b);

  Value row = m.add(first, tid);
  m.ifThen(m.ult(tid, blockRows), [&] {
    // The row's group: the number of groups that end at or before it
    // (E for the rows past offsets[E], which keep dest's values).
    auto offsetAt = [&](OpBuilder &nb, Location loc, Value e) -> Value {
      Value v = memref::LoadOp::create(nb, loc, offsets, ValueRange{e});
      return arith::IndexCastOp::create(nb, loc, nb.getIndexType(), v);
    };
    auto count = scf::ForOp::create(
        b, m.c(1), m.c(sig.groups + 1), m.c(1), ValueRange{m.c(0)},
        [&](OpBuilder &nb, Location loc, Value e, ValueRange iter) {
          ImplicitLocOpBuilder ib(loc, nb);
          Emitter im{ib};
          Value ended = arith::CmpIOp::create(ib, arith::CmpIPredicate::sle,
                                              offsetAt(ib, loc, e), row);
          scf::YieldOp::create(
              ib,
              ValueRange{im.select(ended, im.add(iter[0], im.c(1)), iter[0])});
        });
    Value group = count.getResult(0);
    // Rows before offsets[0] have no group either.
    Value started = arith::CmpIOp::create(b, arith::CmpIPredicate::sle,
                                          offsetAt(b, b.getLoc(), m.c(0)), row);
    m.ifThen(m.both(started, m.ult(group, m.c(sig.groups))), [&] {
      scf::ForOp::create(
          b, m.c(0), m.c(sig.sourceWidth), m.c(1), ValueRange(),
          [&](OpBuilder &nb, Location loc, Value j, ValueRange) {
            ImplicitLocOpBuilder ib(loc, nb);
            Emitter im{ib};
            Value c = memref::LoadOp::create(ib, columns, ValueRange{group, j});
            Value zero = arith::ConstantIntOp::create(ib, sig.columnType, 0);
            Value kept =
                arith::CmpIOp::create(ib, arith::CmpIPredicate::sge, c, zero);
            im.ifThen(kept, [&] {
              Value col = arith::IndexCastOp::create(ib, ib.getIndexType(), c);
              Type f32 = ib.getF32Type();
              Value sum = arith::AddFOp::create(
                  ib,
                  castFloat(
                      ib,
                      memref::LoadOp::create(ib, result, ValueRange{row, col}),
                      f32),
                  castFloat(
                      ib,
                      memref::LoadOp::create(ib, source, ValueRange{row, j}),
                      f32));
              memref::StoreOp::create(ib, castFloat(ib, sum, sig.elementType),
                                      result, ValueRange{row, col});
            });
            scf::YieldOp::create(ib);
          });
    });
  });
  gpu::ReturnOp::create(b);
  return func;
}

} // namespace

gpu::GPUFuncOp moe::detail::getOrBuildScatterColumnsKernel(
    gpu::GPUModuleOp gpuModule, const ScatterColumnsSignature &sig) {
  std::string name = kernelName(sig);
  if (auto existing = gpuModule.lookupSymbol<gpu::GPUFuncOp>(name))
    return existing;
  return buildKernel(gpuModule, name, sig);
}
