//===- DispatchKernels.cpp - moe.dispatch on the device, no host sync -----===//
//
// Token-choice dispatch as four kernels on one stream, none of whose grids
// depends on the routing (only on T and k), so the host never waits:
//  1. count: each warp owns a chunk of kDispatchChunk consecutive slots of
//     the flattened [T, k] ids and counts its experts with shared-memory
//     atomics (order does not matter for a count);
//  2. scan: one block turns the [chunks, E] counts into each chunk's first
//     rank per expert (an exclusive scan over chunks, per expert) and the
//     offsets into the prefix sum over experts of the totals (capped by the
//     capacity);
//  3. scatter: each warp walks its chunk again, 32 slots at a time, in
//     token-then-slot order; match.any groups the lanes with the same expert
//     and a lane's rank is its chunk base plus the lanes of its group below
//     it, so rows of an expert follow token then slot order exactly as the
//     CPU kernel's (no atomics, deterministic). It writes the row map and
//     the slot of each row;
//  4. gather: one block per row copies its slot's token row (16-byte
//     vectors when H allows), scaled by the slot's routing weight for
//     scale_rows (Llama 4), or zeros past offsets[E].
//
// At most kDispatchWarps chunks (T * k <= 2048 slots, decode), one block
// runs 1-3 as one kernel ("rank"), its counts in shared memory; the host
// chooses at run time.
//
// With group_size G (Switch's capacity per sequence), no chunk spans two
// groups of G tokens: the scan restarts each expert's rank at every group
// and keeps, per chunk, the rows its expert kept in the earlier groups (each
// at most the capacity), so that a slot is kept if its rank in its group is
// below the capacity and goes to row offsets[e] + kept before + rank.
//
// With drop_policy by_weight, each expert keeps its `capacity` heaviest
// slots: a scores kernel lays the slots' routing weights out as an [E, T * k]
// matrix (a slot's weight in its expert's row, -inf elsewhere; a real -inf
// weight as -FLT_MAX, above them), the expert-choice selection
// (ExpertChoiceKernels.cpp) takes each row's best `capacity`, ties to the
// earlier slot as on the CPU, and a mark kernel flags the chosen slots of
// the row's own expert; count and scatter then take the flagged slots, all
// of them. A NaN weight, which the CPU's comparisons rank first without
// counting it against the others, is flagged by the scores kernel and left
// out of the selection. The score matrix and the selection's dense gate cost
// 8 E T k bytes, its sort keys 16 E capacity.
//
//===----------------------------------------------------------------------===//

#include "Emitter.h"
#include "Kernels.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace moe::detail;

namespace {

/// Chunks the scan loads at once per expert.
constexpr int64_t kScanUnroll = 8;

std::string baseName(const DispatchSignature &sig, StringRef kind) {
  std::string name;
  llvm::raw_string_ostream os(name);
  os << "dispatch_" << kind << "_" << sig.rowType << "_" << sig.idsType << "_"
     << sig.offsetType << "_" << sig.mapType << "_e" << sig.experts << "_k"
     << sig.k << "_h" << sig.hidden;
  if (sig.capacity >= 0)
    os << "_cap" << sig.capacity;
  if (sig.grouped && kind != "gather")
    os << "_grouped";
  if (sig.byWeight && kind != "scan" && kind != "gather")
    os << "_byweight_" << sig.weightType;
  // Only these read the ids' values.
  if (kind == "count" || kind == "scatter" || kind == "rank" ||
      kind == "weight_scores" || kind == "weight_mark")
    os << tableSuffix("m", sig.expertMap);
  // Only the gather reads the routing weights; the other kernels are shared
  // with the unscaled dispatch of the same shape.
  if (sig.scaleType && kind == "gather")
    os << "_scaled_" << sig.scaleType;
  return name;
}

Value ceilDiv(Emitter &m, Value x, Value d) {
  return arith::DivUIOp::create(m.b, m.sub(m.add(x, d), m.c(1)), d);
}

/// Chunks of one group of G tokens.
Value chunksPerGroup(Emitter &m, Value groupSize, int64_t k) {
  return ceilDiv(m, m.mul(groupSize, m.c(k)), m.c(kDispatchChunk));
}

/// Slots [first, end) of chunk `chunk` (see dispatchChunks).
std::pair<Value, Value> chunkRange(Emitter &m, Value chunk, Value slots,
                                   int64_t k, Value groupSize) {
  if (!groupSize) {
    Value first = m.mul(chunk, m.c(kDispatchChunk));
    return {first, m.min(m.add(first, m.c(kDispatchChunk)), slots)};
  }
  Value perGroup = chunksPerGroup(m, groupSize, k);
  Value groupSlots = m.mul(groupSize, m.c(k));
  Value groupFirst =
      m.mul(arith::DivUIOp::create(m.b, chunk, perGroup), groupSlots);
  Value first =
      m.add(groupFirst, m.mul(arith::RemUIOp::create(m.b, chunk, perGroup),
                              m.c(kDispatchChunk)));
  Value end = m.min(m.add(first, m.c(kDispatchChunk)),
                    m.min(m.add(groupFirst, groupSlots), slots));
  return {first, end};
}

/// The values every chunk-walking kernel (count, scatter) starts from: the
/// warp's chunk and its slots [first, end).
struct Chunk {
  Value lane, warp, chunk, chunks, slots, inChunk, first, end;
};

Chunk chunkOf(Emitter &m, Value ids, int64_t k, Value groupSize) {
  Chunk c;
  Value tid = gpu::ThreadIdOp::create(m.b, gpu::Dimension::x);
  c.lane = m.rem(tid, 32);
  c.warp = m.div(tid, 32);
  c.chunk = m.add(m.mul(gpu::BlockIdOp::create(m.b, gpu::Dimension::x),
                        m.c(kDispatchWarps)),
                  c.warp);
  Value tokens = memref::DimOp::create(m.b, ids, 0);
  c.slots = m.mul(tokens, m.c(k));
  c.chunks = dispatchChunks(m.b, tokens, k, groupSize);
  c.inChunk = m.ult(c.chunk, c.chunks);
  std::tie(c.first, c.end) = chunkRange(m, c.chunk, c.slots, k, groupSize);
  return c;
}

/// The kept-slots flags of a by_weight count or scatter (its last
/// argument); null otherwise.
Value keepArg(gpu::GPUFuncOp func, const DispatchSignature &sig) {
  if (!sig.byWeight)
    return Value();
  return func.getArgument(func.getFunctionType().getNumInputs() - 1);
}

/// The group size argument (an index, clamped to >= 1) of a grouped
/// kernel, the last one; null otherwise.
Value groupSizeArg(Emitter &m, gpu::GPUFuncOp func,
                   const DispatchSignature &sig) {
  if (!sig.grouped)
    return Value();
  // (The body's block arguments end with the workgroup buffers.)
  return arith::MaxUIOp::create(
      m.b, func.getArgument(func.getFunctionType().getNumInputs() - 1), m.c(1));
}

/// `sig`'s expert_map as a constant i32 table of the kernel module (added
/// on first use), null without one; `b` is in `func`'s body.
Value expertMapTable(ImplicitLocOpBuilder &b, gpu::GPUFuncOp func,
                     const DispatchSignature &sig) {
  if (sig.expertMap.empty())
    return Value();
  return constantTable(b, func->getParentOfType<gpu::GPUModuleOp>(),
                       "moe_expert_map", "m", sig.expertMap);
}

/// The expert of slot `slot` (< T * k) as an i32 and whether there is one:
/// its id, renamed by `mapTable` (expertMapTable) if `sig` has an
/// expert_map.
std::pair<Value, Value> loadId(Emitter &m, const DispatchSignature &sig,
                               Value ids, Value slot, Value mapTable,
                               Value keep = Value()) {
  int64_t routed = sig.expertMap.empty() ? sig.experts : sig.expertMap.size();
  Value id = m.load(ids, {m.div(slot, sig.k), m.rem(slot, sig.k)});
  Value valid =
      m.both(m.cmpi(arith::CmpIPredicate::sge, id,
                    arith::ConstantIntOp::create(m.b, id.getType(), 0)),
             m.cmpi(arith::CmpIPredicate::slt, id,
                    arith::ConstantIntOp::create(m.b, id.getType(), routed)));
  if (id.getType() != m.b.getI32Type())
    id = arith::TruncIOp::create(m.b, m.b.getI32Type(), id);
  if (!sig.expertMap.empty()) {
    Value at = m.select(valid, m.unsignedToIndex(id), m.c(0));
    id = m.load(mapTable, {at});
  }
  // by_weight: only the slots the selection kept.
  if (keep)
    valid = m.both(valid, m.cmpi(arith::CmpIPredicate::ne, m.load(keep, {slot}),
                                 m.i32(0)));
  return {id, valid};
}

void syncWarp(Emitter &m) { NVVM::SyncWarpOp::create(m.b, m.i32(-1)); }

Value popc(Emitter &m, Value v) { return LLVM::CtPopOp::create(m.b, v); }

/// `count` capped by the dispatch's capacity, if it has one.
Value capToCapacity(Emitter &m, const DispatchSignature &sig, Value count) {
  if (sig.capacity < 0)
    return count;
  return arith::MinUIOp::create(m.b, count, m.i32(sig.capacity));
}

/// The experts [lo, hi) thread `tid` of a kDispatchThreads block owns.
std::pair<Value, Value> threadExperts(Emitter &m, Value tid, int64_t experts) {
  int64_t per = (experts + kDispatchThreads - 1) / kDispatchThreads;
  Value lo = m.mul(tid, m.c(per));
  return {lo, arith::MinUIOp::create(m.b, m.add(lo, m.c(per)), m.c(experts))};
}

/// `fn(e)` for the experts e this lane of the chunk's warp owns.
void overWarpExperts(Emitter &m, const Chunk &c, int64_t experts,
                     function_ref<void(Value)> fn) {
  m.loop(c.lane, m.c(experts), m.c(32), {},
         [&](Value e, ValueRange) -> SmallVector<Value> {
           fn(e);
           return {};
         });
}

/// The warp counts its chunk's slots per expert into its row of `hist`
/// ([warps, E] shared), zeroed first, with shared-memory atomics; the row
/// is complete for the warp's lanes on return.
void emitWarpCount(Emitter &m, const DispatchSignature &sig, const Chunk &c,
                   Value ids, Value hist, Value mapTable, Value keep) {
  overWarpExperts(m, c, sig.experts, [&](Value e) {
    m.store(m.i32(0), hist, {c.warp, e});
  });
  syncWarp(m);
  m.loop(m.add(c.first, c.lane), c.end, m.c(32), {},
         [&](Value slot, ValueRange) -> SmallVector<Value> {
           std::pair<Value, Value> loaded =
               loadId(m, sig, ids, slot, mapTable, keep);
           m.ifThen(loaded.second, [&] {
             memref::AtomicRMWOp::create(
                 m.b, arith::AtomicRMWKind::addi, m.i32(1), hist,
                 ValueRange{c.warp, m.toIndex(loaded.first)});
           });
           return {};
         });
  syncWarp(m);
}

/// Offsets from each thread's experts [lo, hi) (consecutive across
/// threads) and their capped totals in `totals` ([E] shared), whose sum is
/// the thread's `mine`: an inclusive Hillis-Steele scan of the threads' sums
/// in `partial` ([threads] shared), then each expert's exclusive prefix.
void emitExpertOffsets(Emitter &m, const DispatchSignature &sig, Value tid,
                       Value mine, Value lo, Value hi, Value totals,
                       Value partial, Value offsets) {
  ImplicitLocOpBuilder &b = m.b;
  int64_t threads = kDispatchThreads, E = sig.experts;
  m.store(mine, partial, {tid});
  gpu::BarrierOp::create(b);
  // Inclusive Hillis-Steele scan of the threads' sums.
  for (int64_t d = 1; d < threads; d *= 2) {
    Value has = m.cmpi(arith::CmpIPredicate::uge, tid, m.c(d));
    Value prev = m.ifElse(
        has,
        [&]() -> SmallVector<Value> {
          return {m.load(partial, {arith::SubIOp::create(b, tid, m.c(d))})};
        },
        {m.i32(0)})[0];
    gpu::BarrierOp::create(b);
    m.store(arith::AddIOp::create(b, m.load(partial, {tid}), prev), partial,
            {tid});
    gpu::BarrierOp::create(b);
  }
  auto toOffset = [&](Value v) -> Value {
    if (sig.offsetType.getIntOrFloatBitWidth() == 32)
      return v;
    return arith::ExtUIOp::create(b, sig.offsetType, v);
  };
  Value base = arith::SubIOp::create(b, m.load(partial, {tid}), mine);
  m.loop(lo, hi, m.c(1), {base},
         [&](Value e, ValueRange run) -> SmallVector<Value> {
           m.store(toOffset(run[0]), offsets, {e});
           return {arith::AddIOp::create(b, run[0], m.load(totals, {e}))};
         });
  m.ifThen(m.eq(tid, m.c(0)), [&] {
    m.store(toOffset(m.load(partial, {m.c(threads - 1)})), offsets, {m.c(E)});
  });
}

/// The warp walks its chunk 32 slots at a time in token-then-slot order and
/// writes each slot's row (-1 past the capacity) to `rowMap` and each row's
/// slot to `source`: a lane's rank is its expert's running rank in `cursor`
/// (the warp's row of a [warps, E] shared array, the chunk's first ranks on
/// entry) plus the lanes of its match.any group below it; rows start at
/// offsets[e] (plus the rows kept in earlier groups, `kept`).
void emitScatterWalk(Emitter &m, const DispatchSignature &sig, const Chunk &c,
                     Value ids, Value cursor, Value offsets, Value kept,
                     Value rowMap, Value source, Value mapTable, Value keep) {
  ImplicitLocOpBuilder &b = m.b;
  Type i32 = b.getI32Type();
  int64_t E = sig.experts;
  Value lanesBelow = NVVM::LaneMaskLtOp::create(b, i32);
  Value lanesAbove = NVVM::LaneMaskGtOp::create(b, i32);
  // Every lane runs every step (match.any needs the whole warp); lanes
  // past the chunk's last slot take part with no expert.
  m.loop(
      m.c(0), m.c(kDispatchChunk), m.c(32), {},
      [&](Value step, ValueRange) -> SmallVector<Value> {
        Value slot = m.add(m.add(c.first, step), c.lane);
        Value inRange = m.ult(slot, c.end);
        SmallVector<Value> loaded = m.ifElse(
            inRange,
            [&]() -> SmallVector<Value> {
              auto [id, valid] = loadId(m, sig, ids, slot, mapTable, keep);
              return {id, valid};
            },
            {m.i32(-1), arith::ConstantIntOp::create(b, b.getI1Type(), 0)});
        Value valid = loaded[1];
        Value key = m.select(valid, loaded[0], m.i32(-1));
        Value group = NVVM::MatchSyncOp::create(
            b, i32, m.i32(-1), key,
            NVVM::MatchSyncKindAttr::get(b.getContext(),
                                         NVVM::MatchSyncKind::any));
        Value below = popc(m, arith::AndIOp::create(b, group, lanesBelow));
        Value e = m.toIndex(arith::MaxSIOp::create(b, key, m.i32(0)));
        Value base = m.ifElse(valid,
                              [&]() -> SmallVector<Value> {
                                return {m.load(cursor, {c.warp, e})};
                              },
                              {m.i32(0)})[0];
        Value rank = arith::AddIOp::create(b, base, below);
        Value keep = valid;
        if (sig.capacity >= 0)
          keep = m.both(keep, m.cmpi(arith::CmpIPredicate::slt, rank,
                                     m.i32(sig.capacity)));
        m.ifThen(inRange, [&] {
          Value offset = m.load(offsets, {e});
          if (offset.getType() != i32)
            offset = arith::TruncIOp::create(b, i32, offset);
          // With groups: after the expert's rows of the earlier groups.
          if (kept)
            offset = arith::AddIOp::create(
                b, offset, m.load(kept, {m.add(m.mul(c.chunk, m.c(E)), e)}));
          Value row =
              m.select(keep, arith::AddIOp::create(b, offset, rank), m.i32(-1));
          Value mapped = row;
          if (sig.mapType.getIntOrFloatBitWidth() == 64)
            mapped = arith::ExtSIOp::create(b, sig.mapType, row);
          m.store(mapped, rowMap, {m.div(slot, sig.k), m.rem(slot, sig.k)});
          m.ifThen(keep,
                   [&] { m.store(m.toI32(slot), source, {m.toIndex(row)}); });
        });
        // The group's highest lane moves the expert's cursor past the
        // group, after every lane of it has read the cursor.
        syncWarp(m);
        Value last = m.both(
            valid, m.eq(arith::AndIOp::create(b, group, lanesAbove), m.i32(0)));
        m.ifThen(last, [&] {
          m.store(arith::AddIOp::create(b, base, popc(m, group)), cursor,
                  {c.warp, e});
        });
        syncWarp(m);
        return {};
      });
}

gpu::GPUFuncOp buildCount(ImplicitLocOpBuilder &b,
                          const DispatchSignature &sig) {
  Emitter m{b};
  int64_t dyn = ShapedType::kDynamic, E = sig.experts;
  Type i32 = b.getI32Type();
  SmallVector<Type> args = {MemRefType::get({dyn, sig.k}, sig.idsType),
                            MemRefType::get({dyn}, i32)};
  if (sig.grouped)
    args.push_back(b.getIndexType());
  if (sig.byWeight)
    args.push_back(MemRefType::get({dyn}, i32));
  auto func = createKernelFunc(
      b, baseName(sig, "count"), args,
      {workgroupMemRefType(b.getContext(), {kDispatchWarps, E}, i32)},
      kDispatchThreads);
  b.setInsertionPointToStart(&func.getBody().front());
  Value ids = func.getArgument(0), counts = func.getArgument(1);
  Value mapTable = expertMapTable(b, func, sig);
  Value hist = func.getWorkgroupAttributions()[0];
  Chunk c = chunkOf(m, ids, sig.k, groupSizeArg(m, func, sig));
  m.ifThen(c.inChunk, [&] {
    emitWarpCount(m, sig, c, ids, hist, mapTable, keepArg(func, sig));
    overWarpExperts(m, c, E, [&](Value e) {
      m.store(m.load(hist, {c.warp, e}), counts,
              {m.add(m.mul(c.chunk, m.c(E)), e)});
    });
  });
  finishKernelFunc(b, func);
  return func;
}

gpu::GPUFuncOp buildScan(ImplicitLocOpBuilder &b,
                         const DispatchSignature &sig) {
  Emitter m{b};
  int64_t dyn = ShapedType::kDynamic, E = sig.experts;
  int64_t threads = kDispatchThreads;
  Type i32 = b.getI32Type();
  SmallVector<Type> args = {MemRefType::get({dyn, sig.k}, sig.idsType),
                            MemRefType::get({dyn}, i32),
                            MemRefType::get({E + 1}, sig.offsetType)};
  if (sig.grouped)
    args.append({MemRefType::get({dyn}, i32), b.getIndexType()});
  auto func =
      createKernelFunc(b, baseName(sig, "scan"), args,
                       {workgroupMemRefType(b.getContext(), {E}, i32),
                        workgroupMemRefType(b.getContext(), {threads}, i32)},
                       threads);
  b.setInsertionPointToStart(&func.getBody().front());
  Value ids = func.getArgument(0), counts = func.getArgument(1),
        offsets = func.getArgument(2);
  Value kept = sig.grouped ? func.getArgument(3) : Value();
  Value groupSize = groupSizeArg(m, func, sig);
  Value totals = func.getWorkgroupAttributions()[0],
        partial = func.getWorkgroupAttributions()[1];
  Value tid = gpu::ThreadIdOp::create(b, gpu::Dimension::x);
  Value chunks =
      dispatchChunks(b, memref::DimOp::create(b, ids, 0), sig.k, groupSize);
  Value perGroup = groupSize ? chunksPerGroup(m, groupSize, sig.k) : Value();
  auto capped = [&](Value v) { return capToCapacity(m, sig, v); };
  // Thread i owns experts [i * per, (i + 1) * per): per expert, an exclusive
  // scan of the chunk counts in place, then the (capped) total. With groups
  // the scan restarts at each group's first chunk, and `kept` gets the
  // expert's capped totals of the earlier groups.
  auto [lo, hi] = threadExperts(m, tid, E);
  Value mine =
      m.loop(lo, hi, m.c(1), {m.i32(0)},
             [&](Value e, ValueRange acc) -> SmallVector<Value> {
               // kScanUnroll chunks per step, all loads first, so that
               // they are in flight together (the loop is latency-bound).
               // With groups also the rows kept in the earlier groups and
               // the next group's first chunk (no 64-bit remainder per
               // chunk: that is a subroutine call with a stack frame).
               SmallVector<Value> init = {m.i32(0)};
               if (kept)
                 init.append({m.i32(0), m.c(0)});
               auto scanned = m.loop(
                   m.c(0), chunks, m.c(kScanUnroll), init,
                   [&](Value ch0, ValueRange r) {
                     Value last = arith::SubIOp::create(b, chunks, m.c(1));
                     SmallVector<Value> at, in, v;
                     for (int64_t u = 0; u < kScanUnroll; ++u) {
                       Value ch = m.add(ch0, m.c(u));
                       in.push_back(m.ult(ch, chunks));
                       at.push_back(m.add(
                           m.mul(arith::MinUIOp::create(b, ch, last), m.c(E)),
                           e));
                       v.push_back(m.load(counts, {at.back()}));
                     }
                     Value sum = r[0], before = kept ? r[1] : Value();
                     Value nextGroup = kept ? r[2] : Value();
                     for (int64_t u = 0; u < kScanUnroll; ++u) {
                       if (kept) {
                         // A group's first chunk: the last group's rows go
                         // to `before`, capped, and the rank restarts.
                         Value start =
                             m.both(in[u], m.eq(m.add(ch0, m.c(u)), nextGroup));
                         nextGroup = m.select(start, m.add(nextGroup, perGroup),
                                              nextGroup);
                         before = m.select(
                             start,
                             arith::AddIOp::create(b, before, capped(sum)),
                             before);
                         sum = m.select(start, m.i32(0), sum);
                       }
                       Value rank = sum, keptBefore = before;
                       m.ifThen(in[u], [&] {
                         m.store(rank, counts, {at[u]});
                         if (kept)
                           m.store(keptBefore, kept, {at[u]});
                       });
                       sum = m.select(in[u],
                                      arith::AddIOp::create(b, sum, v[u]), sum);
                     }
                     SmallVector<Value> next = {sum};
                     if (kept)
                       next.append({before, nextGroup});
                     return next;
                   });
               Value run = capped(scanned.getResult(0));
               if (kept)
                 run = arith::AddIOp::create(b, scanned.getResult(1), run);
               m.store(run, totals, {e});
               return {arith::AddIOp::create(b, acc[0], run)};
             })
          .getResult(0);
  emitExpertOffsets(m, sig, tid, mine, lo, hi, totals, partial, offsets);
  finishKernelFunc(b, func);
  return func;
}

gpu::GPUFuncOp buildScatter(ImplicitLocOpBuilder &b,
                            const DispatchSignature &sig) {
  Emitter m{b};
  int64_t dyn = ShapedType::kDynamic, E = sig.experts;
  Type i32 = b.getI32Type();
  SmallVector<Type> args = {
      MemRefType::get({dyn, sig.k}, sig.idsType), MemRefType::get({dyn}, i32),
      MemRefType::get({E + 1}, sig.offsetType),
      MemRefType::get({dyn, sig.k}, sig.mapType), MemRefType::get({dyn}, i32)};
  if (sig.grouped)
    args.append({MemRefType::get({dyn}, i32), b.getIndexType()});
  if (sig.byWeight)
    args.push_back(MemRefType::get({dyn}, i32));
  auto func = createKernelFunc(
      b, baseName(sig, "scatter"), args,
      {workgroupMemRefType(b.getContext(), {kDispatchWarps, E}, i32)},
      kDispatchThreads);
  b.setInsertionPointToStart(&func.getBody().front());
  Value ids = func.getArgument(0), counts = func.getArgument(1),
        offsets = func.getArgument(2), rowMap = func.getArgument(3),
        source = func.getArgument(4);
  Value kept = sig.grouped ? func.getArgument(5) : Value();
  Value mapTable = expertMapTable(b, func, sig);
  Value cursor = func.getWorkgroupAttributions()[0];
  Chunk c = chunkOf(m, ids, sig.k, groupSizeArg(m, func, sig));
  m.ifThen(c.inChunk, [&] {
    overWarpExperts(m, c, E, [&](Value e) {
      m.store(m.load(counts, {m.add(m.mul(c.chunk, m.c(E)), e)}), cursor,
              {c.warp, e});
    });
    syncWarp(m);
    emitScatterWalk(m, sig, c, ids, cursor, offsets, kept, rowMap, source,
                    mapTable, keepArg(func, sig));
  });
  finishKernelFunc(b, func);
  return func;
}

/// Count, scan and scatter in one block, for a dispatch of at most
/// kDispatchWarps chunks (T * k <= 2048 slots, as at decode): a warp per
/// chunk counts into shared memory, each thread scans its experts over the
/// chunks there, and the warps walk their chunks from those ranks, so the
/// host launches one kernel instead of three and the counts never reach
/// global memory. Without groups or by_weight (their kernels are the
/// three).
gpu::GPUFuncOp buildRank(ImplicitLocOpBuilder &b,
                         const DispatchSignature &sig) {
  Emitter m{b};
  int64_t dyn = ShapedType::kDynamic, E = sig.experts;
  int64_t threads = kDispatchThreads;
  Type i32 = b.getI32Type();
  SmallVector<Type> args = {MemRefType::get({dyn, sig.k}, sig.idsType),
                            MemRefType::get({E + 1}, sig.offsetType),
                            MemRefType::get({dyn, sig.k}, sig.mapType),
                            MemRefType::get({dyn}, i32)};
  MLIRContext *ctx = b.getContext();
  auto func =
      createKernelFunc(b, baseName(sig, "rank"), args,
                       {workgroupMemRefType(ctx, {kDispatchWarps, E}, i32),
                        workgroupMemRefType(ctx, {E}, i32),
                        workgroupMemRefType(ctx, {threads}, i32)},
                       threads);
  b.setInsertionPointToStart(&func.getBody().front());
  Value ids = func.getArgument(0), offsets = func.getArgument(1),
        rowMap = func.getArgument(2), source = func.getArgument(3);
  Value hist = func.getWorkgroupAttributions()[0],
        totals = func.getWorkgroupAttributions()[1],
        partial = func.getWorkgroupAttributions()[2];
  Value mapTable = expertMapTable(b, func, sig);
  Chunk c = chunkOf(m, ids, sig.k, Value());
  m.ifThen(c.inChunk,
           [&] { emitWarpCount(m, sig, c, ids, hist, mapTable, Value()); });
  gpu::BarrierOp::create(b);
  // Thread i owns experts [i * per, (i + 1) * per): each chunk's count
  // becomes the chunk's first rank, in place, and the total is capped.
  Value tid = gpu::ThreadIdOp::create(b, gpu::Dimension::x);
  auto [lo, hi] = threadExperts(m, tid, E);
  Value mine =
      m.loop(lo, hi, m.c(1), {m.i32(0)},
             [&](Value e, ValueRange acc) -> SmallVector<Value> {
               Value total =
                   m.loop(m.c(0), c.chunks, m.c(1), {m.i32(0)},
                          [&](Value chunk, ValueRange run) {
                            Value count = m.load(hist, {chunk, e});
                            m.store(run[0], hist, {chunk, e});
                            return SmallVector<Value>{
                                arith::AddIOp::create(b, run[0], count)};
                          })
                       .getResult(0);
               total = capToCapacity(m, sig, total);
               m.store(total, totals, {e});
               return {arith::AddIOp::create(b, acc[0], total)};
             })
          .getResult(0);
  emitExpertOffsets(m, sig, tid, mine, lo, hi, totals, partial, offsets);
  // The offsets other threads stored, and the ranks, before the walk.
  gpu::BarrierOp::create(b);
  m.ifThen(c.inChunk, [&] {
    emitScatterWalk(m, sig, c, ids, hist, offsets, Value(), rowMap, source,
                    mapTable, Value());
  });
  finishKernelFunc(b, func);
  return func;
}

gpu::GPUFuncOp buildGather(ImplicitLocOpBuilder &b,
                           const DispatchSignature &sig) {
  Emitter m{b};
  int64_t dyn = ShapedType::kDynamic, E = sig.experts, H = sig.hidden;
  Type i32 = b.getI32Type();
  SmallVector<Type> args = {MemRefType::get({dyn, H}, sig.rowType),
                            MemRefType::get({E + 1}, sig.offsetType),
                            MemRefType::get({dyn}, i32),
                            MemRefType::get({dyn, H}, sig.rowType)};
  if (sig.scaleType)
    args.push_back(MemRefType::get({dyn, sig.k}, sig.scaleType));
  auto func =
      createKernelFunc(b, baseName(sig, "gather"), args, {}, kGatherThreads);
  b.setInsertionPointToStart(&func.getBody().front());
  Value input = func.getArgument(0), offsets = func.getArgument(1),
        source = func.getArgument(2), rows = func.getArgument(3);
  Value tid = gpu::ThreadIdOp::create(b, gpu::Dimension::x);
  Value row = gpu::BlockIdOp::create(b, gpu::Dimension::x);
  Value end = m.toIndex(m.load(offsets, {m.c(E)}));
  Value used = m.ult(row, end);
  Value slot = m.ifElse(used,
                        [&]() -> SmallVector<Value> {
                          return {m.toIndex(m.load(source, {row}))};
                        },
                        {m.c(0)})[0];
  Value token = m.div(slot, sig.k);
  // The weight rounded to the row type first, as on the CPU.
  Value scale;
  if (sig.scaleType)
    scale = m.toF32(m.fromF32(
        m.toF32(m.load(func.getArgument(4), {token, m.rem(slot, sig.k)})),
        sig.rowType));
  int64_t bytes = sig.rowType.getIntOrFloatBitWidth() / 8;
  int64_t vec = H % (16 / bytes) == 0 ? 16 / bytes : 1;
  auto type = VectorType::get({vec}, sig.rowType);
  Value zero = arith::ConstantOp::create(
      b, DenseElementsAttr::get(type, b.getZeroAttr(sig.rowType)));
  m.loop(m.mul(tid, m.c(vec)), m.c(H), m.c(kGatherThreads * vec), {},
         [&](Value h, ValueRange) -> SmallVector<Value> {
           Value v = m.ifElse(
               used,
               [&]() -> SmallVector<Value> {
                 Value x = vector::LoadOp::create(
                     b, type, input, ValueRange{token, h},
                     /*nontemporal=*/false, llvm::MaybeAlign(vec * bytes));
                 if (scale) {
                   Value wide = m.toF32(x);
                   Value splat =
                       vector::BroadcastOp::create(b, wide.getType(), scale);
                   x = m.fromF32(m.mulf(wide, splat), sig.rowType);
                 }
                 return {x};
               },
               {zero})[0];
           vector::StoreOp::create(b, v, rows, ValueRange{row, h},
                                   /*nontemporal=*/false,
                                   llvm::MaybeAlign(vec * bytes));
           return {};
         });
  finishKernelFunc(b, func);
  return func;
}

/// The thread's index in a 1-D grid of kDispatchThreads-thread blocks.
Value globalThread(Emitter &m) {
  return m.add(m.mul(gpu::BlockIdOp::create(m.b, gpu::Dimension::x),
                     m.c(kDispatchThreads)),
               gpu::ThreadIdOp::create(m.b, gpu::Dimension::x));
}

/// by_weight: scores[e * S + s] = the weight of slot s (< S = T * k) if its
/// expert is e, else -inf (a -inf weight as -FLT_MAX; a NaN one as -inf,
/// its slot flagged in keep); a thread per score. Arguments: ids [T, k],
/// weights [T, k], scores memref<?xf32>, keep memref<?xi32> (zero before).
gpu::GPUFuncOp buildWeightScores(ImplicitLocOpBuilder &b,
                                 const DispatchSignature &sig) {
  Emitter m{b};
  int64_t dyn = ShapedType::kDynamic, E = sig.experts;
  auto func = createKernelFunc(b, baseName(sig, "weight_scores"),
                               {MemRefType::get({dyn, sig.k}, sig.idsType),
                                MemRefType::get({dyn, sig.k}, sig.weightType),
                                MemRefType::get({dyn}, b.getF32Type()),
                                MemRefType::get({dyn}, b.getI32Type())},
                               {}, kDispatchThreads);
  b.setInsertionPointToStart(&func.getBody().front());
  Value ids = func.getArgument(0), weights = func.getArgument(1),
        scores = func.getArgument(2);
  Value mapTable = expertMapTable(b, func, sig);
  Value index = globalThread(m);
  Value slots = m.mul(memref::DimOp::create(b, ids, 0), m.c(sig.k));
  m.ifThen(m.ult(index, m.mul(slots, m.c(E))), [&] {
    Value e = arith::DivUIOp::create(b, index, slots);
    Value slot = arith::RemUIOp::create(b, index, slots);
    auto [id, valid] = loadId(m, sig, ids, slot, mapTable);
    Value mine = m.both(valid, m.eq(m.unsignedToIndex(id), e));
    Value w =
        m.toF32(m.load(weights, {m.div(slot, sig.k), m.rem(slot, sig.k)}));
    Value isNaN = m.cmpf(arith::CmpFPredicate::UNO, w, w);
    m.ifThen(m.both(mine, isNaN),
             [&] { m.store(m.i32(1), func.getArgument(3), {slot}); });
    Value finite = arith::MaximumFOp::create(
        b, w, m.f32(-std::numeric_limits<float>::max()));
    m.store(m.select(m.both(mine, m.negate(isNaN)), finite, m.ninf()), scores,
            {index});
  });
  finishKernelFunc(b, func);
  return func;
}

/// by_weight: keep[s] = 1 for each slot s = chosen[e * C + c] whose expert
/// is e (the selection fills an expert's C with -inf slots of other
/// experts when it has fewer); a thread per chosen entry. Arguments: chosen
/// memref<?xi32> (E * C), ids [T, k], keep memref<?xi32> (T * k, zero
/// before).
gpu::GPUFuncOp buildWeightMark(ImplicitLocOpBuilder &b,
                               const DispatchSignature &sig) {
  Emitter m{b};
  int64_t dyn = ShapedType::kDynamic, E = sig.experts;
  Type i32 = b.getI32Type();
  auto func = createKernelFunc(b, baseName(sig, "weight_mark"),
                               {MemRefType::get({dyn}, i32),
                                MemRefType::get({dyn, sig.k}, sig.idsType),
                                MemRefType::get({dyn}, i32)},
                               {}, kDispatchThreads);
  b.setInsertionPointToStart(&func.getBody().front());
  Value chosen = func.getArgument(0), ids = func.getArgument(1),
        keep = func.getArgument(2);
  Value mapTable = expertMapTable(b, func, sig);
  Value index = globalThread(m);
  Value total = memref::DimOp::create(b, chosen, 0);
  Value slots = m.mul(memref::DimOp::create(b, ids, 0), m.c(sig.k));
  m.ifThen(m.ult(index, total), [&] {
    Value e = arith::DivUIOp::create(b, index, m.div(total, E));
    Value slot = m.unsignedToIndex(m.load(chosen, {index}));
    m.ifThen(m.ult(slot, slots), [&] {
      auto [id, valid] = loadId(m, sig, ids, slot, mapTable);
      m.ifThen(m.both(valid, m.eq(m.unsignedToIndex(id), e)),
               [&] { m.store(m.i32(1), keep, {slot}); });
    });
  });
  finishKernelFunc(b, func);
  return func;
}

/// The `kind` kernel of `sig` in `gpuModule`, built by `build` on first use.
gpu::GPUFuncOp getOrBuild(gpu::GPUModuleOp gpuModule,
                          const DispatchSignature &sig, StringRef kind,
                          gpu::GPUFuncOp (*build)(ImplicitLocOpBuilder &,
                                                  const DispatchSignature &)) {
  if (auto existing =
          gpuModule.lookupSymbol<gpu::GPUFuncOp>(baseName(sig, kind)))
    return existing;
  ImplicitLocOpBuilder b(gpuModule.getLoc(), gpuModule.getContext());
  b.setInsertionPointToEnd(gpuModule.getBody());
  return build(b, sig);
}

} // namespace

moe::DispatchKernels
moe::detail::getOrBuildDispatchKernels(gpu::GPUModuleOp gpuModule,
                                       const DispatchSignature &sig) {
  moe::DispatchKernels kernels;
  kernels.count = getOrBuild(gpuModule, sig, "count", buildCount);
  kernels.scan = getOrBuild(gpuModule, sig, "scan", buildScan);
  kernels.scatter = getOrBuild(gpuModule, sig, "scatter", buildScatter);
  kernels.gather = getOrBuildDispatchGather(gpuModule, sig);
  if (!sig.grouped && !sig.byWeight)
    kernels.rank = getOrBuild(gpuModule, sig, "rank", buildRank);
  if (sig.byWeight) {
    kernels.weightScores =
        getOrBuild(gpuModule, sig, "weight_scores", buildWeightScores);
    kernels.select = getOrBuildExpertChoiceKernel(
        gpuModule, sig.experts, Float32Type::get(gpuModule.getContext()),
        IntegerType::get(gpuModule.getContext(), 32));
    kernels.weightMark =
        getOrBuild(gpuModule, sig, "weight_mark", buildWeightMark);
  }
  return kernels;
}

gpu::GPUFuncOp
moe::detail::getOrBuildDispatchGather(gpu::GPUModuleOp gpuModule,
                                      const DispatchSignature &sig) {
  return getOrBuild(gpuModule, sig, "gather", buildGather);
}

Value moe::detail::dispatchChunks(ImplicitLocOpBuilder &b, Value tokens,
                                  int64_t k, Value groupSize) {
  Emitter m{b};
  if (!groupSize)
    return ceilDiv(m, m.mul(tokens, m.c(k)), m.c(kDispatchChunk));
  return m.mul(ceilDiv(m, tokens, groupSize), chunksPerGroup(m, groupSize, k));
}
