//===- ExpertChoiceKernels.cpp - each expert picks its top-C tokens -------===//
//
// Expert choice on the device. The routing kernel (RoutingKernel.cpp) only
// scores each token, into an [E, T] scratch so that each expert's column is
// contiguous; then one block per expert:
//  1. radix-selects the C-th best score of its column: four passes over
//     the tokens, each counting one byte of the order-preserving score bits
//     (of the tokens that match the bytes found so far) in a shared-memory
//     histogram, and one warp finding the byte where the count from the top
//     reaches the tokens still wanted. What is left wanted after the last
//     byte is how many tokens equal to the threshold to take;
//  2. collects the tokens above the threshold and the first ones (by
//     token index: an ordered scan of ballots) equal to it, as 64-bit keys
//     (score bits, then the complement of the token so that ties go to the
//     lower token, as the CPU kernel's argmax rounds do);
//  3. bitonic-sorts the keys in descending order, in shared memory up to
//     kChoiceSharedSort keys and in its slice of the global scratch beyond,
//     and writes ids[e, c] and each chosen token's score into the dense
//     gate, which the host zeroed.
//
// The dispatch of expert choice needs no counting: expert e's rows are
// e * C .. (e + 1) * C. A clear kernel sets the [T, E] row map to -1, a map
// kernel writes each row's token and its row-map entry, and the gather of
// the token-choice dispatch with k = 1 copies the rows.
//
//===----------------------------------------------------------------------===//

#include "Emitter.h"
#include "Kernels.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace moe::detail;

namespace {

constexpr int64_t kWarps = kChoiceThreads / 32;

Value shiftLeft(Emitter &m, Value x, Value by) {
  return arith::ShLIOp::create(m.b, x, by);
}
Value shiftRight(Emitter &m, Value x, Value by) {
  return arith::ShRUIOp::create(m.b, x, by);
}
Value bitAnd(Emitter &m, Value x, Value y) {
  return arith::AndIOp::create(m.b, x, y);
}
Value i64(Emitter &m, int64_t v) {
  return arith::ConstantIntOp::create(m.b, m.b.getI64Type(), v);
}

/// The bits of f32 `score` as an i32 whose unsigned order is the scores'
/// order (-0 counts as +0, which the CPU's comparisons do not tell apart).
Value orderedBits(Emitter &m, Value score) {
  score = m.addf(score, m.f32(0));
  Value bits = arith::BitcastOp::create(m.b, m.b.getI32Type(), score);
  Value sign = arith::ShRSIOp::create(m.b, bits, m.i32(31));
  Value flip = arith::OrIOp::create(m.b, sign, m.i32(INT32_MIN));
  return arith::XOrIOp::create(m.b, bits, flip);
}

/// Inclusive sum of `v` (i32) over lanes 0..lane.
Value warpInclusiveScan(Emitter &m, Value v, Value lane) {
  for (int32_t off = 1; off < 32; off *= 2) {
    Value up = gpu::ShuffleOp::create(m.b, v, off, 32, gpu::ShuffleMode::UP)
                   .getShuffleResult();
    v = m.select(m.uge(lane, m.c(off)), m.b.createOrFold<arith::AddIOp>(v, up),
                 v);
  }
  return v;
}

std::string selectName(int64_t experts, Type weightsType, Type idsType) {
  std::string name;
  llvm::raw_string_ostream os(name);
  os << "expert_choice_select_e" << experts << "_" << weightsType << "_"
     << idsType;
  return name;
}

gpu::GPUFuncOp buildSelect(ImplicitLocOpBuilder &b, StringRef name, int64_t E,
                           Type weightsType, Type idsType) {
  MLIRContext *ctx = b.getContext();
  Emitter m{b};
  int64_t dyn = ShapedType::kDynamic;
  Type i32 = b.getI32Type(), i64Type = b.getI64Type();
  SmallVector<Type> args = {MemRefType::get({dyn}, b.getF32Type()),
                            MemRefType::get({dyn, E}, weightsType),
                            MemRefType::get({dyn}, idsType),
                            MemRefType::get({dyn}, i64Type)};
  // histogram, state (threshold, still wanted, taken, ties before the
  // chunk), per-warp tie counts, the shared sort.
  SmallVector<Type> smem = {
      workgroupMemRefType(ctx, {256}, i32), workgroupMemRefType(ctx, {4}, i32),
      workgroupMemRefType(ctx, {kWarps}, i32),
      workgroupMemRefType(ctx, {kChoiceSharedSort}, i64Type)};
  auto func = createKernelFunc(b, name, args, smem, kChoiceThreads);
  Value scores = func.getArgument(0), gate = func.getArgument(1),
        ids = func.getArgument(2), scratch = func.getArgument(3);
  auto attributions = func.getWorkgroupAttributions();
  Value hist = attributions[0], state = attributions[1],
        warpTies = attributions[2], shared = attributions[3];
  Value tid = gpu::ThreadIdOp::create(b, gpu::Dimension::x);
  Value lane = m.rem(tid, 32), warp = m.div(tid, 32);
  Value e = gpu::BlockIdOp::create(b, gpu::Dimension::x);
  Value T = m.div(memref::DimOp::create(b, scores, 0), E);
  Value column = m.mul(e, T);
  Value C = m.div(memref::DimOp::create(b, ids, 0), E);
  Value first = m.eq(tid, m.c(0));
  Value threads = m.c(kChoiceThreads);
  auto barrier = [&] { gpu::BarrierOp::create(b); };
  auto score = [&](Value t) { return m.load(scores, {m.add(column, t)}); };
  auto keyOf = [&](Value t) { return orderedBits(m, score(t)); };

  // No tokens: the capacity is 0 too.
  m.ifThen(m.ult(m.c(0), T), [&] {
    // 1. Radix select of the C-th largest key.
    m.ifThen(first, [&] {
      m.store(m.i32(0), state, {m.c(0)});
      m.store(m.toI32(C), state, {m.c(1)});
      m.store(m.i32(0), state, {m.c(2)});
      m.store(m.i32(0), state, {m.c(3)});
    });
    for (int pass = 0; pass < 4; ++pass) {
      int32_t shift = 24 - 8 * pass;
      int32_t high = pass == 0 ? 0 : int32_t(~0u << (shift + 8));
      m.ifThen(m.ult(tid, m.c(256)), [&] { m.store(m.i32(0), hist, {tid}); });
      barrier();
      // Read before warp 0 may write them (after the next barrier).
      Value prefix = m.load(state, {m.c(0)});
      Value wanted = m.load(state, {m.c(1)});
      m.loop(tid, T, threads, {}, [&](Value t, ValueRange) {
        Value key = keyOf(t);
        m.ifThen(m.eq(bitAnd(m, key, m.i32(high)), prefix), [&] {
          Value digit = bitAnd(m, shiftRight(m, key, m.i32(shift)), m.i32(255));
          memref::AtomicRMWOp::create(b, arith::AtomicRMWKind::addi, m.i32(1),
                                      hist, {m.unsignedToIndex(digit)});
        });
        return SmallVector<Value>{};
      });
      barrier();
      // Warp 0: lane l sums digits 255 - 8l down to 248 - 8l; the lane whose
      // range holds the wanted-th key from the top finds its digit.
      m.ifThen(m.eq(warp, m.c(0)), [&] {
        auto digitOf = [&](Value j) {
          return m.sub(m.c(255), m.add(m.mul(lane, m.c(8)), j));
        };
        Value sum = m.loop(m.c(0), m.c(8), m.c(1), {m.i32(0)},
                           [&](Value j, ValueRange acc) -> SmallVector<Value> {
                             return {m.b.createOrFold<arith::AddIOp>(
                                 acc[0], m.load(hist, {digitOf(j)}))};
                           })
                        .getResult(0);
        Value inclusive = warpInclusiveScan(m, sum, lane);
        Value before = m.sub(inclusive, sum);
        Value mine =
            m.both(m.cmpi(arith::CmpIPredicate::slt, before, wanted),
                   m.cmpi(arith::CmpIPredicate::sle, wanted, inclusive));
        m.ifThen(mine, [&] {
          m.loop(
              m.c(0), m.c(8), m.c(1), {before, m.i1(false)},
              [&](Value j, ValueRange acc) -> SmallVector<Value> {
                Value count = m.load(hist, {digitOf(j)});
                Value through = m.b.createOrFold<arith::AddIOp>(acc[0], count);
                Value here =
                    m.both(m.negate(acc[1]),
                           m.cmpi(arith::CmpIPredicate::sge, through, wanted));
                m.ifThen(here, [&] {
                  Value digit = shiftLeft(m, m.toI32(digitOf(j)), m.i32(shift));
                  m.store(arith::OrIOp::create(b, prefix, digit), state,
                          {m.c(0)});
                  m.store(m.sub(wanted, acc[0]), state, {m.c(1)});
                });
                return {through, m.either(acc[1], here)};
              });
        });
      });
      barrier();
    }
    Value threshold = m.load(state, {m.c(0)});
    Value tiesWanted = m.load(state, {m.c(1)});

    // 2. The chosen tokens' keys, in any order, at positions taken from a
    // shared counter; ties are ranked by token with ballots.
    Value cMinus1 = m.toI32(m.sub(C, m.c(1)));
    Value leading = LLVM::CountLeadingZerosOp::create(b, i32, cMinus1, false);
    Value logP = m.select(m.eq(C, m.c(1)), m.i32(0), m.sub(m.i32(32), leading));
    Value length = m.unsignedToIndex(shiftLeft(m, m.i32(1), logP));
    Value inShared = m.uge(m.c(kChoiceSharedSort), length);
    Value scratchBase = m.mul(e, m.mul(m.c(2), C));
    auto storeKey = [&](Value i, Value key) {
      m.ifThen(inShared, [&] { m.store(key, shared, {i}); });
      m.ifThen(m.negate(inShared),
               [&] { m.store(key, scratch, {m.add(scratchBase, i)}); });
    };
    Value laneBit = shiftLeft(m, m.i32(1), m.toI32(lane));
    Value below = m.sub(laneBit, m.i32(1));
    Value chunks = m.div(m.add(T, m.c(kChoiceThreads - 1)), kChoiceThreads);
    m.loop(m.c(0), chunks, m.c(1), {}, [&](Value chunk, ValueRange) {
      Value t = m.add(m.mul(chunk, threads), tid);
      Value valid = m.ult(t, T);
      Value key =
          m.ifElse(valid, [&]() -> SmallVector<Value> { return {keyOf(t)}; },
                   {m.i32(0)})[0];
      Value tie = m.both(valid, m.eq(key, threshold));
      Value above =
          m.both(valid, m.cmpi(arith::CmpIPredicate::ugt, key, threshold));
      Value ballot = NVVM::VoteSyncOp::create(b, i32, m.i32(-1), tie,
                                              NVVM::VoteSyncKind::ballot);
      m.ifThen(m.eq(lane, m.c(0)), [&] {
        m.store(LLVM::CtPopOp::create(b, ballot), warpTies, {warp});
      });
      barrier();
      Value earlier =
          m.loop(m.c(0), warp, m.c(1), {m.load(state, {m.c(3)})},
                 [&](Value w, ValueRange acc) -> SmallVector<Value> {
                   return {m.b.createOrFold<arith::AddIOp>(
                       acc[0], m.load(warpTies, {w}))};
                 })
              .getResult(0);
      Value rank = m.b.createOrFold<arith::AddIOp>(
          earlier, LLVM::CtPopOp::create(b, bitAnd(m, ballot, below)));
      Value take = m.either(above, m.both(tie, m.cmpi(arith::CmpIPredicate::slt,
                                                      rank, tiesWanted)));
      m.ifThen(take, [&] {
        Value at = memref::AtomicRMWOp::create(b, arith::AtomicRMWKind::addi,
                                               m.i32(1), state, {m.c(2)});
        Value high =
            shiftLeft(m, arith::ExtUIOp::create(b, i64Type, key), i64(m, 32));
        Value low = arith::ExtUIOp::create(
            b, i64Type, arith::XOrIOp::create(b, m.toI32(t), m.i32(-1)));
        storeKey(m.unsignedToIndex(at), arith::OrIOp::create(b, high, low));
      });
      barrier();
      m.ifThen(first, [&] {
        Value all =
            m.loop(m.c(0), m.c(kWarps), m.c(1), {m.load(state, {m.c(3)})},
                   [&](Value w, ValueRange acc) -> SmallVector<Value> {
                     return {m.b.createOrFold<arith::AddIOp>(
                         acc[0], m.load(warpTies, {w}))};
                   })
                .getResult(0);
        m.store(all, state, {m.c(3)});
      });
      barrier();
      return SmallVector<Value>{};
    });

    // 3. Bitonic sort, descending: keys past C are 0, below every real key
    // (whose score bits are at least those of +0).
    auto sortIn = [&](Value keys, Value base) {
      m.loop(m.add(C, tid), length, threads, {}, [&](Value i, ValueRange) {
        m.store(i64(m, 0), keys, {m.add(base, i)});
        return SmallVector<Value>{};
      });
      barrier();
      Value half = m.div(length, 2);
      m.loop(m.c(1), m.add(m.unsignedToIndex(logP), m.c(1)), m.c(1), {},
             [&](Value stage, ValueRange) {
               Value size = shiftLeft(m, m.c(1), stage);
               m.loop(m.c(0), stage, m.c(1), {}, [&](Value step, ValueRange) {
                 Value logJ = m.sub(m.sub(stage, m.c(1)), step);
                 Value j = shiftLeft(m, m.c(1), logJ);
                 m.loop(tid, half, threads, {}, [&](Value p, ValueRange) {
                   Value i = m.add(shiftLeft(m, shiftRight(m, p, logJ),
                                             m.add(logJ, m.c(1))),
                                   bitAnd(m, p, m.sub(j, m.c(1))));
                   Value l = m.add(i, j);
                   Value a = m.load(keys, {m.add(base, i)});
                   Value c = m.load(keys, {m.add(base, l)});
                   Value descending = m.eq(bitAnd(m, i, size), m.c(0));
                   Value swap = m.select(
                       descending, m.cmpi(arith::CmpIPredicate::ult, a, c),
                       m.cmpi(arith::CmpIPredicate::ugt, a, c));
                   m.ifThen(swap, [&] {
                     m.store(c, keys, {m.add(base, i)});
                     m.store(a, keys, {m.add(base, l)});
                   });
                   return SmallVector<Value>{};
                 });
                 barrier();
                 return SmallVector<Value>{};
               });
               return SmallVector<Value>{};
             });
      // The gate is zero (the host clears it); the chosen scores.
      m.loop(tid, C, threads, {}, [&](Value c, ValueRange) {
        Value key = m.load(keys, {m.add(base, c)});
        Value token = arith::XOrIOp::create(
            b, arith::TruncIOp::create(b, i32, key), m.i32(-1));
        Value t = m.unsignedToIndex(token);
        Value id = idsType.getIntOrFloatBitWidth() == 64
                       ? arith::ExtUIOp::create(b, idsType, token).getResult()
                       : token;
        m.store(id, ids, {m.add(m.mul(e, C), c)});
        m.store(m.fromF32(score(t), weightsType), gate, {t, e});
        return SmallVector<Value>{};
      });
    };
    m.ifThen(inShared, [&] { sortIn(shared, m.c(0)); });
    m.ifThen(m.negate(inShared), [&] { sortIn(scratch, scratchBase); });
  });
  finishKernelFunc(b, func);
  return func;
}

std::string dispatchName(const DispatchSignature &sig, StringRef kind) {
  std::string name;
  llvm::raw_string_ostream os(name);
  os << "dispatch_choice_" << kind << "_";
  if (kind == "map")
    os << sig.idsType << "_" << sig.offsetType << "_";
  os << sig.mapType << "_e" << sig.experts;
  return name;
}

/// row_map[t, e] = -1, one thread per entry.
gpu::GPUFuncOp buildClear(ImplicitLocOpBuilder &b, StringRef name,
                          const DispatchSignature &sig) {
  Emitter m{b};
  int64_t E = sig.experts;
  auto func = createKernelFunc(
      b, name, {MemRefType::get({ShapedType::kDynamic, E}, sig.mapType)}, {},
      kElementwiseThreads);
  Value rowMap = func.getArgument(0);
  Value i = m.add(m.mul(gpu::BlockIdOp::create(b, gpu::Dimension::x),
                        m.c(kElementwiseThreads)),
                  gpu::ThreadIdOp::create(b, gpu::Dimension::x));
  Value T = memref::DimOp::create(b, rowMap, 0);
  m.ifThen(m.ult(i, m.mul(T, m.c(E))), [&] {
    m.store(arith::ConstantIntOp::create(b, sig.mapType, -1), rowMap,
            {m.div(i, E), m.rem(i, E)});
  });
  finishKernelFunc(b, func);
  return func;
}

/// Thread r: the offsets (r <= E) and row r's token (source) and row-map
/// entry (r < E * C).
gpu::GPUFuncOp buildMap(ImplicitLocOpBuilder &b, StringRef name,
                        const DispatchSignature &sig) {
  Emitter m{b};
  int64_t E = sig.experts, dyn = ShapedType::kDynamic;
  Type i32 = b.getI32Type();
  auto func = createKernelFunc(b, name,
                               {MemRefType::get({dyn}, sig.idsType),
                                MemRefType::get({E + 1}, sig.offsetType),
                                MemRefType::get({dyn, E}, sig.mapType),
                                MemRefType::get({dyn}, i32)},
                               {}, kElementwiseThreads);
  Value ids = func.getArgument(0), offsets = func.getArgument(1),
        rowMap = func.getArgument(2), source = func.getArgument(3);
  Value r = m.add(m.mul(gpu::BlockIdOp::create(b, gpu::Dimension::x),
                        m.c(kElementwiseThreads)),
                  gpu::ThreadIdOp::create(b, gpu::Dimension::x));
  Value rows = memref::DimOp::create(b, ids, 0);
  Value C = m.div(rows, E);
  Value T = memref::DimOp::create(b, rowMap, 0);
  auto asInt = [&](Value index, Type type) {
    return arith::IndexCastUIOp::create(b, type, index).getResult();
  };
  m.ifThen(m.uge(m.c(E), r), [&] {
    // No tokens: every expert is empty (the gather zeroes the rows).
    Value start = m.select(m.eq(T, m.c(0)), m.c(0), m.mul(r, C));
    m.store(asInt(start, sig.offsetType), offsets, {r});
  });
  m.ifThen(m.ult(r, rows), [&] {
    Value id = m.load(ids, {r});
    Value zero = arith::ConstantIntOp::create(b, sig.idsType, 0);
    Value valid =
        m.both(m.cmpi(arith::CmpIPredicate::sge, id, zero),
               m.cmpi(arith::CmpIPredicate::slt, id, asInt(T, sig.idsType)));
    Value token = m.select(valid, id, zero);
    if (sig.idsType != i32)
      token = arith::TruncIOp::create(b, i32, token);
    m.store(token, source, {r});
    m.ifThen(valid, [&] {
      m.store(asInt(r, sig.mapType), rowMap,
              {m.unsignedToIndex(token),
               arith::DivUIOp::create(b, r, C).getResult()});
    });
  });
  finishKernelFunc(b, func);
  return func;
}

} // namespace

moe::DispatchKernels moe::detail::getOrBuildExpertChoiceDispatchKernels(
    gpu::GPUModuleOp gpuModule, const DispatchSignature &sig) {
  ImplicitLocOpBuilder b(gpuModule.getLoc(), gpuModule.getContext());
  b.setInsertionPointToEnd(gpuModule.getBody());
  auto get = [&](StringRef kind,
                 gpu::GPUFuncOp (*build)(ImplicitLocOpBuilder &, StringRef,
                                         const DispatchSignature &)) {
    std::string name = dispatchName(sig, kind);
    if (auto existing = gpuModule.lookupSymbol<gpu::GPUFuncOp>(name))
      return existing;
    return build(b, name, sig);
  };
  moe::DispatchKernels kernels;
  kernels.clear = get("clear", buildClear);
  kernels.map = get("map", buildMap);
  // A row's source is its token: the gather of k = 1.
  DispatchSignature rows = sig;
  rows.expertChoice = false;
  rows.k = 1;
  kernels.gather = getOrBuildDispatchGather(gpuModule, rows);
  return kernels;
}

gpu::GPUFuncOp
moe::detail::getOrBuildExpertChoiceKernel(gpu::GPUModuleOp gpuModule,
                                          int64_t experts, Type weightsType,
                                          Type idsType) {
  std::string name = selectName(experts, weightsType, idsType);
  if (auto existing = gpuModule.lookupSymbol<gpu::GPUFuncOp>(name))
    return existing;
  ImplicitLocOpBuilder b(gpuModule.getLoc(), gpuModule.getContext());
  b.setInsertionPointToEnd(gpuModule.getBody());
  return buildSelect(b, name, experts, weightsType, idsType);
}
