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
  auto offsetAt = [&](Value e) -> Value {
    return arith::IndexCastOp::create(
        b, b.getIndexType(), memref::LoadOp::create(b, offsets, ValueRange{e}));
  };
  Value group =
      m.loop(m.c(1), m.c(groups + 1), m.c(1), ValueRange{m.c(0)},
             [&](Value e, ValueRange iter) -> SmallVector<Value> {
               Value ended = arith::CmpIOp::create(b, arith::CmpIPredicate::sle,
                                                   offsetAt(e), row);
               return {m.select(ended, m.add(iter[0], m.c(1)), iter[0])};
             })
          .getResult(0);
  Value started = arith::CmpIOp::create(b, arith::CmpIPredicate::sle,
                                        offsetAt(m.c(0)), row);
  m.ifThen(m.both(started, m.ult(group, m.c(groups))), [&] { body(group); });
}

/// The kernel's arguments (scatterColumnsArgumentTypes).
struct Args {
  Value source, dest, columns, offsets, result;
};

/// result[row, columns[group, j]] += source[row, j] in f32, if the column
/// is kept (>= 0).
void addColumn(ImplicitLocOpBuilder &b, const ScatterColumnsSignature &sig,
               const Args &a, Value row, Value group, Value j) {
  Value source = a.source, columns = a.columns, result = a.result;
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

/// One thread per row: the rows of the block copied by all its threads,
/// then each thread adds its row's columns in order.
void buildRowPerThread(ImplicitLocOpBuilder &b,
                       const ScatterColumnsSignature &sig, const Args &a) {
  Emitter m{b};
  Value tid = gpu::ThreadIdOp::create(b, gpu::Dimension::x);
  Value rows = memref::DimOp::create(b, a.result, 0);
  Value first = m.mul(gpu::BlockIdOp::create(b, gpu::Dimension::x),
                      m.c(kElementwiseThreads));
  Value blockRows = m.min(m.sub(rows, first), m.c(kElementwiseThreads));
  m.loop(tid, m.mul(blockRows, m.c(sig.width)), m.c(kElementwiseThreads), {},
         [&](Value i, ValueRange) -> SmallVector<Value> {
           Value row = m.add(first, m.div(i, sig.width));
           Value col = m.rem(i, sig.width);
           Value v = memref::LoadOp::create(b, a.dest, ValueRange{row, col});
           memref::StoreOp::create(b, v, a.result, ValueRange{row, col});
           return {};
         });
  // A thread's adds below read what other threads copied.
  gpu::BarrierOp::create(b);
  Value row = m.add(first, tid);
  m.ifThen(m.ult(tid, blockRows), [&] {
    ifRowHasGroup(b, a.offsets, row, sig.groups, [&](Value group) {
      m.loop(m.c(0), m.c(sig.sourceWidth), m.c(1), {},
             [&](Value j, ValueRange) -> SmallVector<Value> {
               addColumn(b, sig, a, row, group, j);
               return {};
             });
    });
  });
}

/// One block per row: the row copied, then one thread per column.
void buildRowPerBlock(ImplicitLocOpBuilder &b,
                      const ScatterColumnsSignature &sig, const Args &a) {
  Emitter m{b};
  Value tid = gpu::ThreadIdOp::create(b, gpu::Dimension::x);
  Value row = gpu::BlockIdOp::create(b, gpu::Dimension::x);
  int64_t bytes = sig.elementType.getIntOrFloatBitWidth() / 8;
  int64_t vec = sig.width % (16 / bytes) == 0 ? 16 / bytes : 1;
  auto type = VectorType::get({vec}, sig.elementType);
  m.loop(m.mul(tid, m.c(vec)), m.c(sig.width), m.c(kElementwiseThreads * vec),
         {}, [&](Value h, ValueRange) -> SmallVector<Value> {
           Value v = vector::LoadOp::create(b, type, a.dest, ValueRange{row, h},
                                            /*nontemporal=*/false,
                                            llvm::MaybeAlign(vec * bytes));
           vector::StoreOp::create(b, v, a.result, ValueRange{row, h},
                                   /*nontemporal=*/false,
                                   llvm::MaybeAlign(vec * bytes));
           return {};
         });
  // The adds below read what other threads copied.
  gpu::BarrierOp::create(b);
  ifRowHasGroup(b, a.offsets, row, sig.groups, [&](Value group) {
    m.loop(tid, m.c(sig.sourceWidth), m.c(kElementwiseThreads), {},
           [&](Value j, ValueRange) -> SmallVector<Value> {
             addColumn(b, sig, a, row, group, j);
             return {};
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
