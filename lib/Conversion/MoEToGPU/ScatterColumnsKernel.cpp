//===- ScatterColumnsKernel.cpp - moe.scatter_columns on the GPU ----------===//
//
// The sparse part of a compressed expert (moe-compress-experts) adds each
// kept column of a small [rows, m] result into its column of the low-rank
// result: result = dest, then result[r, columns[g, j]] += source[r, j] for
// the rows r of group g.
//
// With unique_columns (what the compression makes), a block owns one row:
// its threads copy the row of dest (16-byte vectors when W allows), then
// add the row's m columns one per thread. The columns are distinct, so the
// adds touch distinct elements; a decode step's few rows get all their
// columns added at once.
//
// Otherwise a block owns kElementwiseThreads rows: its threads copy those
// rows, then each thread adds its own row's m columns in order. One thread
// per row keeps repeated indices (which add twice) free of races without
// atomics.
//
//===----------------------------------------------------------------------===//

#include "Emitter.h"
#include "Kernels.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
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
  if (sig.uniqueColumns)
    os << "_unique";
  return name;
}

/// Calls `body(group)` for the group of `row` (the number of groups that
/// end at or before it), if it has one: rows before offsets[0] or past
/// offsets[E] keep dest's values.
void ifRowHasGroup(ImplicitLocOpBuilder &b, Value offsets, Value row,
                   int64_t groups, function_ref<void(Value)> body) {
  Emitter m{b};
  auto offsetAt = [&](OpBuilder &nb, Location loc, Value e) -> Value {
    Value v = memref::LoadOp::create(nb, loc, offsets, ValueRange{e});
    return arith::IndexCastOp::create(nb, loc, nb.getIndexType(), v);
  };
  auto count = scf::ForOp::create(
      b, m.c(1), m.c(groups + 1), m.c(1), ValueRange{m.c(0)},
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
  Value started = arith::CmpIOp::create(b, arith::CmpIPredicate::sle,
                                        offsetAt(b, b.getLoc(), m.c(0)), row);
  m.ifThen(m.both(started, m.ult(group, m.c(groups))), [&] { body(group); });
}

/// result[row, columns[group, j]] += source[row, j] in f32, if the column
/// is kept (>= 0).
void addColumn(ImplicitLocOpBuilder &b, const ScatterColumnsSignature &sig,
               Value source, Value columns, Value result, Value row,
               Value group, Value j) {
  Emitter m{b};
  Value c = memref::LoadOp::create(b, columns, ValueRange{group, j});
  Value zero = arith::ConstantIntOp::create(b, sig.columnType, 0);
  Value kept = arith::CmpIOp::create(b, arith::CmpIPredicate::sge, c, zero);
  m.ifThen(kept, [&] {
    Value col = arith::IndexCastOp::create(b, b.getIndexType(), c);
    Type f32 = b.getF32Type();
    Value sum = arith::AddFOp::create(
        b,
        castFloat(b, memref::LoadOp::create(b, result, ValueRange{row, col}),
                  f32),
        castFloat(b, memref::LoadOp::create(b, source, ValueRange{row, j}),
                  f32));
    memref::StoreOp::create(b, castFloat(b, sum, sig.elementType), result,
                            ValueRange{row, col});
  });
}

/// A `for (i = from; i < to; i += step)` loop calling `body(i)`.
void loop(ImplicitLocOpBuilder &b, Value from, Value to, Value step,
          function_ref<void(ImplicitLocOpBuilder &, Value)> body) {
  scf::ForOp::create(b, from, to, step, ValueRange(),
                     [&](OpBuilder &nb, Location loc, Value i, ValueRange) {
                       ImplicitLocOpBuilder ib(loc, nb);
                       body(ib, i);
                       scf::YieldOp::create(ib);
                     });
}

/// The kernel's arguments (scatterColumnsArgumentTypes).
struct Args {
  Value source, dest, columns, offsets, result;
};

/// One thread per row: the rows of the block copied by all its threads,
/// then each thread adds its row's columns in order.
void buildRowPerThread(ImplicitLocOpBuilder &b,
                       const ScatterColumnsSignature &sig, const Args &a) {
  Emitter m{b};
  Value source = a.source, dest = a.dest, columns = a.columns,
        offsets = a.offsets, result = a.result;
  Value tid = gpu::ThreadIdOp::create(b, gpu::Dimension::x);
  Value rows = memref::DimOp::create(b, result, 0);
  Value first = m.mul(gpu::BlockIdOp::create(b, gpu::Dimension::x),
                      m.c(kElementwiseThreads));
  Value blockRows = m.min(m.sub(rows, first), m.c(kElementwiseThreads));
  loop(b, tid, m.mul(blockRows, m.c(sig.width)), m.c(kElementwiseThreads),
       [&](ImplicitLocOpBuilder &ib, Value i) {
         Emitter im{ib};
         Value row = im.add(first, im.div(i, sig.width));
         Value col = im.rem(i, sig.width);
         Value v = memref::LoadOp::create(ib, dest, ValueRange{row, col});
         memref::StoreOp::create(ib, v, result, ValueRange{row, col});
       });
  // A thread's adds below read what other threads copied.
  gpu::BarrierOp::create(b);
  Value row = m.add(first, tid);
  m.ifThen(m.ult(tid, blockRows), [&] {
    ifRowHasGroup(b, offsets, row, sig.groups, [&](Value group) {
      loop(b, m.c(0), m.c(sig.sourceWidth), m.c(1),
           [&](ImplicitLocOpBuilder &ib, Value j) {
             addColumn(ib, sig, source, columns, result, row, group, j);
           });
    });
  });
}

/// One block per row: the row copied, then one thread per column.
void buildRowPerBlock(ImplicitLocOpBuilder &b,
                      const ScatterColumnsSignature &sig, const Args &a) {
  Emitter m{b};
  Value source = a.source, dest = a.dest, columns = a.columns,
        offsets = a.offsets, result = a.result;
  Value tid = gpu::ThreadIdOp::create(b, gpu::Dimension::x);
  Value row = gpu::BlockIdOp::create(b, gpu::Dimension::x);
  int64_t bytes = sig.elementType.getIntOrFloatBitWidth() / 8;
  int64_t vec = sig.width % (16 / bytes) == 0 ? 16 / bytes : 1;
  auto type = VectorType::get({vec}, sig.elementType);
  loop(b, m.mul(tid, m.c(vec)), m.c(sig.width), m.c(kElementwiseThreads * vec),
       [&](ImplicitLocOpBuilder &ib, Value h) {
         Value v = vector::LoadOp::create(ib, type, dest, ValueRange{row, h},
                                          /*nontemporal=*/false,
                                          llvm::MaybeAlign(vec * bytes));
         vector::StoreOp::create(ib, v, result, ValueRange{row, h},
                                 /*nontemporal=*/false,
                                 llvm::MaybeAlign(vec * bytes));
       });
  // The adds below read what other threads copied.
  gpu::BarrierOp::create(b);
  ifRowHasGroup(b, offsets, row, sig.groups, [&](Value group) {
    loop(b, tid, m.c(sig.sourceWidth), m.c(kElementwiseThreads),
         [&](ImplicitLocOpBuilder &ib, Value j) {
           addColumn(ib, sig, source, columns, result, row, group, j);
         });
  });
}

gpu::GPUFuncOp buildKernel(gpu::GPUModuleOp gpuModule, StringRef name,
                           const ScatterColumnsSignature &sig) {
  MLIRContext *ctx = gpuModule.getContext();
  ImplicitLocOpBuilder b(gpuModule.getLoc(), ctx);
  b.setInsertionPointToEnd(gpuModule.getBody());
  auto func = gpu::GPUFuncOp::create(
      b, name, b.getFunctionType(scatterColumnsArgumentTypes(sig), {}));
  func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
  func.setKnownBlockSizeAttr(b.getDenseI32ArrayAttr(
      {static_cast<int32_t>(kElementwiseThreads), 1, 1}));
  b.setInsertionPointToStart(&func.getBody().front());
  ValueRange args = func.getArguments();
  Args a{args[0], args[1], args[2], args[3], args[4]};
  if (sig.uniqueColumns)
    buildRowPerBlock(b, sig, a);
  else
    buildRowPerThread(b, sig, a);
  gpu::ReturnOp::create(b);
  return func;
}

} // namespace

int64_t ScatterColumnsSignature::rowsPerBlock() const {
  return uniqueColumns ? 1 : kElementwiseThreads;
}

gpu::GPUFuncOp moe::detail::getOrBuildScatterColumnsKernel(
    gpu::GPUModuleOp gpuModule, const ScatterColumnsSignature &sig) {
  std::string name = kernelName(sig);
  if (auto existing = gpuModule.lookupSymbol<gpu::GPUFuncOp>(name))
    return existing;
  return buildKernel(gpuModule, name, sig);
}
