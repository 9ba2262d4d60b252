//===- RoutingKernel.cpp - fused router GEMV + scores + top-k -------------===//
//
// One kernel routes a tile of kRouteTokens tokens per block (grid.x) in two
// phases:
//  1. Logits. For 16-bit tokens and router of one type (H a multiple of
//     64) on tensor cores: mma.sync over rounds of 16 experts, the warps
//     splitting H and summing through shared memory (emitRouterLogitsMma).
//     Otherwise each warp takes two experts of the block's expert slice at
//     a time and streams their router rows (16-byte vector loads along H),
//     the lanes accumulating the dot products of all the tile's tokens in
//     fp32, then reduced with shuffles. With one slice the logits go straight
//     to shared memory. With several (grid.y, so that small token counts still
//     spread the router weight over many SMs) each block writes its slice
//     to a global [T, E] workspace and counts itself in the tile's counter;
//     the last block to arrive (threadfence reduction) loads the tile's
//     logits and routes it, then resets the counter for the next launch.
//  2. Routing, one warp per token, all of it in shared memory and
//     registers: scores (softmax with shuffle reductions, or sigmoid), the
//     biased selection scores, group-limited selection, then k rounds of a
//     warp argmax (lane-local scan, then a butterfly on (value, index) that
//     keeps the larger value and, on ties, the lower index, as the CPU
//     kernel does) with each lane's taken experts in a bit mask. Lane 0 then
//     makes the weights in slot order, exactly as the CPU kernel sums them.
//
//===----------------------------------------------------------------------===//

#include "DecodeGroupedMatmul.h"
#include "Emitter.h"
#include "Kernels.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

#include <cstring>

using namespace mlir;
using namespace moe::detail;

namespace {

constexpr int64_t kWarps = kRouteThreads / 32;

std::string bitsOf(double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof(bits));
  std::string s;
  llvm::raw_string_ostream os(s);
  os << llvm::format_hex_no_prefix(bits, 16);
  return s;
}

std::string kernelName(const RoutingSignature &sig) {
  std::string name;
  llvm::raw_string_ostream os(name);
  static const char *scores[] = {"softmax", "sigmoid", "softmax_after_topk",
                                 "sparsemixer"};
  if (sig.inputType)
    os << "fused_route_" << sig.inputType << "_" << sig.weightType
       << (sig.transposed ? "t" : "") << "_h" << sig.hidden;
  else
    os << "route_" << sig.logitsType;
  if (sig.expertChoice)
    os << "_e" << sig.experts << "_choice_" << scores[sig.score];
  else
    os << "_e" << sig.experts << "_k" << sig.k << "_" << scores[sig.score]
       << "_" << sig.weightsType << "_" << sig.idsType;
  if (sig.routerBiasType)
    os << "_rb_" << sig.routerBiasType;
  if (sig.selectionBiasType)
    os << "_sb_" << sig.selectionBiasType;
  if (sig.groups)
    os << "_g" << sig.groups << "x" << sig.topkGroups << "x" << sig.groupTopk;
  if (sig.renormalize)
    os << (sig.renormalizeClamp ? "_rnc" : "_rn") << bitsOf(sig.epsilon);
  if (sig.scale != 1.0)
    os << "_s" << bitsOf(sig.scale);
  if (sig.score == 3)
    os << "_j" << bitsOf(sig.jitterEps);
  if (sig.topP)
    os << "_p" << bitsOf(sig.topPValue);
  if (sig.skip)
    os << "_skip" << bitsOf(sig.skipRatio);
  if (!sig.expertMask.empty()) {
    os << "_m";
    for (int64_t w = 0; w < (sig.experts + 31) / 32; ++w) {
      uint32_t bits = 0;
      for (int64_t b = 0; b < 32 && w * 32 + b < sig.experts; ++b)
        if (sig.expertMask[w * 32 + b])
          bits |= 1u << b;
      os << llvm::format_hex_no_prefix(bits, 8);
    }
  }
  if (sig.slices > 1)
    os << "_x" << sig.slices;
  return name;
}

/// The kernel's values shared by its parts.
struct Kernel {
  const RoutingSignature &sig;
  Emitter &m;
  Value input, weight, routerBias, logitsIn, selectionBias, outWeights, outIds,
      outScores, workspace, counters;
  Value smemLogits, smemChoice, smemSlotP, smemSlotId, smemFlag;
  /// The tensor-core logits' per-warp partial sums (usesMmaLogits).
  Value smemPartial;
  Value tid, lane, warp, tokens, tile0;
};

/// exp(x) in f32 without libdevice (whose __nv_expf the NVVM pipeline links
/// only when it finds a CUDA toolkit): x = n ln2 + r with n integral and
/// |r| <= ln2 / 2 (Cody-Waite), exp(r) = ex2.approx(r log2 e) (about 2 ulp),
/// times 2^n built in the exponent bits. x is clamped to [-87, 88] so that
/// 2^n stays a normal float: below, the result is ~1e-38 instead of a
/// smaller number, which no softmax or sigmoid of an MoE router can tell.
Value emitExp(Emitter &m, Value x) {
  Value input = x;
  x = arith::MaximumFOp::create(m.b, x, m.f32(-87.0));
  x = arith::MinimumFOp::create(m.b, x, m.f32(88.0));
  // Round to nearest by adding and subtracting 1.5 * 2^23.
  Value magic = m.f32(12582912.0);
  Value n = m.subf(m.addf(m.mulf(x, m.f32(1.4426950408889634)), magic), magic);
  Value r = LLVM::FMAOp::create(m.b, n, m.f32(-0.693145751953125), x);
  r = LLVM::FMAOp::create(m.b, n, m.f32(-1.428606765330187e-06), r);
  Value er = NVVM::InlinePtxOp::create(
                 m.b, TypeRange{m.b.getF32Type()},
                 ValueRange{m.mulf(r, m.f32(1.4426950408889634))}, ValueRange(),
                 "ex2.approx.f32 $0, $1;", Value())
                 .getResult(0);
  Value ni = arith::FPToSIOp::create(m.b, m.b.getI32Type(), n);
  Value bits = arith::ShLIOp::create(
      m.b, arith::AddIOp::create(m.b, ni, m.i32(127)), m.i32(23));
  Value scale = arith::BitcastOp::create(m.b, m.b.getF32Type(), bits);
  // exp(-inf) = 0 and exp(inf) = inf exactly, as the CPU kernels get them
  // (masked experts: softmax 0, sigmoid 1 / (1 + inf) = 0).
  Value inf = m.f32(std::numeric_limits<double>::infinity());
  Value result = m.select(m.cmpf(arith::CmpFPredicate::OEQ, input, m.ninf()),
                          m.f32(0), m.mulf(er, scale));
  return m.select(m.cmpf(arith::CmpFPredicate::OEQ, input, inf), inf, result);
}

/// Sum (or max) of `v` over the warp; every lane gets the result.
Value warpReduce(Emitter &m, Value v, bool max) {
  for (int32_t off = 16; off >= 1; off /= 2) {
    Value other = m.shuffleXor(v, off);
    v = max ? arith::MaximumFOp::create(m.b, v, other).getResult()
            : m.addf(v, other);
  }
  return v;
}

/// Stores the logit of token tile0 + t for expert e (< E): into shared
/// memory with one slice, else into the global workspace (rows < T only).
void storeLogit(Kernel &k, Value t, Value e, Value logit) {
  Emitter &m = k.m;
  if (k.sig.slices == 1) {
    m.store(logit, k.smemLogits, {t, e});
    return;
  }
  Value row = m.add(k.tile0, t);
  m.ifThen(m.ult(row, k.tokens), [&] {
    m.store(logit, k.workspace,
            {m.add(m.mul(row, m.c(routingWorkspaceStride(k.sig.experts))), e)});
  });
}

/// Phase 1 from the router: logits of the tile's tokens for this block's
/// experts, into shared memory or, with slices, the global workspace.
void emitRouterLogits(Kernel &k) {
  Emitter &m = k.m;
  const RoutingSignature &sig = k.sig;
  int64_t H = sig.hidden, E = sig.experts;
  // 16-byte loads along H of the [E, H] weight when rows allow it.
  int64_t vec = 1;
  if (!sig.transposed) {
    int64_t bytes = sig.weightType.getIntOrFloatBitWidth() / 8;
    int64_t width = 16 / bytes;
    if (H % width == 0)
      vec = width;
  }
  Value sliceLo = m.mul(gpu::BlockIdOp::create(m.b, gpu::Dimension::y),
                        m.c(sig.sliceExperts));
  // Rows past the last token read the last token (any valid row would do);
  // their logits are never used.
  SmallVector<Value> rows;
  Value lastRow = arith::SubIOp::create(m.b, k.tokens, m.c(1));
  for (int64_t t = 0; t < kRouteTokens; ++t)
    rows.push_back(m.select(m.ult(m.add(k.tile0, m.c(t)), k.tokens),
                            m.add(k.tile0, m.c(t)), lastRow));
  // Each warp takes kRouteExpertsPerWarp experts at a time, so that every
  // token vector it loads serves several experts. Experts past E load the
  // last expert's row (any valid row would do) and store nothing.
  constexpr int64_t ew = kRouteExpertsPerWarp;
  m.loop(
      m.c(0), m.c(sig.sliceExperts / (kWarps * ew)), m.c(1), {},
      [&](Value round, ValueRange) -> SmallVector<Value> {
        Value e0 = m.add(sliceLo, m.add(m.mul(round, m.c(kWarps * ew)),
                                        m.mul(k.warp, m.c(ew))));
        SmallVector<Value> experts, loadRows;
        for (int64_t j = 0; j < ew; ++j) {
          experts.push_back(m.add(e0, m.c(j)));
          loadRows.push_back(
              arith::MinUIOp::create(m.b, experts.back(), m.c(E - 1)));
        }
        m.ifThen(m.ult(e0, m.c(E)), [&] {
          SmallVector<Value> init(kRouteTokens * ew, m.f32(0));
          auto dot = m.loop(
              m.mul(k.lane, m.c(vec)), m.c(H), m.c(32 * vec), init,
              [&](Value h, ValueRange acc) -> SmallVector<Value> {
                SmallVector<Value> w, next;
                auto wType = VectorType::get({vec}, sig.weightType);
                auto xType = VectorType::get({vec}, sig.inputType);
                for (Value e : loadRows) {
                  if (vec == 1)
                    w.push_back(m.toF32(
                        m.load(k.weight, sig.transposed ? ValueRange{h, e}
                                                        : ValueRange{e, h})));
                  else
                    w.push_back(m.toF32(vector::LoadOp::create(
                        m.b, wType, k.weight, ValueRange{e, h},
                        /*nontemporal=*/false, llvm::MaybeAlign(16))));
                }
                int64_t xAlign = std::min<int64_t>(
                    16, vec * sig.inputType.getIntOrFloatBitWidth() / 8);
                SmallVector<Value> xs;
                for (int64_t t = 0; t < kRouteTokens; ++t)
                  xs.push_back(m.toF32(
                      vec == 1
                          ? m.load(k.input, {rows[t], h})
                          : vector::LoadOp::create(
                                m.b, xType, k.input, ValueRange{rows[t], h},
                                /*nontemporal=*/false, llvm::MaybeAlign(xAlign))
                                .getResult()));
                // One fma per element (a chain per token and expert): half
                // the instructions of a multiply and a reduction, which
                // matter here (the loop is issue-bound, not memory-bound).
                auto element = [&](Value v, int64_t i) -> Value {
                  if (vec == 1)
                    return v;
                  return vector::ExtractOp::create(m.b, v, i);
                };
                for (int64_t j = 0; j < ew; ++j)
                  for (int64_t t = 0; t < kRouteTokens; ++t) {
                    Value a = acc[j * kRouteTokens + t];
                    for (int64_t i = 0; i < vec; ++i)
                      a = LLVM::FMAOp::create(m.b, element(xs[t], i),
                                              element(w[j], i), a);
                    next.push_back(a);
                  }
                return next;
              });
          Value first = m.eq(k.lane, m.c(0));
          for (int64_t j = 0; j < ew; ++j) {
            Value e = experts[j];
            Value bias = sig.routerBiasType
                             ? m.toF32(m.load(k.routerBias, {loadRows[j]}))
                             : Value();
            for (int64_t t = 0; t < kRouteTokens; ++t) {
              Value logit = warpReduce(m, dot.getResult(j * kRouteTokens + t),
                                       /*max=*/false);
              if (bias)
                logit = m.addf(logit, bias);
              m.ifThen(m.both(first, m.ult(e, m.c(E))),
                       [&] { storeLogit(k, m.c(t), e, logit); });
            }
          }
        });
        return {};
      });
}

/// K values of H a warp iteration of the tensor-core logits covers (16 per
/// lane pair), and the iterations a warp keeps in flight at once.
constexpr int64_t kMmaLogitsK = 64, kMmaLogitsUnroll = 4;
/// Blocks an SM the tensor-core logits are compiled for (nvvm.minctasm).
constexpr int64_t kMmaLogitsBlocksPerSM = 2;
/// Experts of one round: two 8-column n tiles.
constexpr int64_t kMmaLogitsExperts = 16;

/// Whether the logits are tensor-core products: 16-bit tokens and router of
/// one type, the router [E, H], H a multiple of a warp iteration.
bool usesMmaLogits(const RoutingSignature &sig) {
  return sig.inputType && sig.inputType == sig.weightType &&
         (sig.inputType.isBF16() || sig.inputType.isF16()) && !sig.transposed &&
         sig.hidden % kMmaLogitsK == 0 &&
         sig.sliceExperts % kMmaLogitsExperts == 0;
}

/// Phase 1 on tensor cores: the [8 tokens, H] x [H, 16 experts] products of
/// each round by mma.sync m16n8k16 (tokens are rows 0-7, rows 8-15 zero),
/// the warps splitting H (split-K) and summing through shared memory. The
/// FMA form issues about two instructions per multiply-add and is bound by
/// issue at DeepSeek-V3's router (T = 64: 235 MFLOP); an mma does 4096.
///
/// Operands come straight from registers as in the decode kernel (see
/// streamSlab there): lane (quad q, pair p) loads 16 consecutive K values
/// k0 + 16 p + [0, 16) of token row q and of expert rows e0 + q and
/// e0 + 8 + q; in step u its slots {2p, 2p + 1} are K values 4u + {0, 1}
/// of that chunk and {2p + 8, 2p + 9} are 4u + {2, 3}, for A and B alike,
/// so each step sums over 16 distinct K values. Accumulator registers 0
/// and 1 of n tile j are token q, experts e0 + 8 j + 2 p + {0, 1}.
void emitRouterLogitsMma(Kernel &k) {
  Emitter &m = k.m;
  ImplicitLocOpBuilder &b = m.b;
  const RoutingSignature &sig = k.sig;
  int64_t H = sig.hidden, E = sig.experts;
  Type elt = sig.inputType, f32 = b.getF32Type();
  auto vecType = VectorType::get({decode::kVec}, elt);
  Value quad = m.div(k.lane, 4), pair = m.rem(k.lane, 4);
  // Rows past the last token read the last token (any valid row would do);
  // their logits are never stored.
  Value row = m.add(k.tile0, quad);
  row = m.select(m.ult(row, k.tokens), row,
                 arith::SubIOp::create(b, k.tokens, m.c(1)));
  // A rows 8-15 are zeros.
  Value zeroPair = elt.isBF16()
                       ? Value(m.i32(0))
                       : Value(arith::ConstantOp::create(
                             b, VectorType::get({2}, elt),
                             b.getZeroAttr(VectorType::get({2}, elt))));
  auto accType = LLVM::LLVMStructType::getLiteral(b.getContext(),
                                                  SmallVector<Type>(4, f32));
  Value sliceLo = m.mul(gpu::BlockIdOp::create(b, gpu::Dimension::y),
                        m.c(sig.sliceExperts));
  int64_t span = kWarps * kMmaLogitsK;
  m.loop(
      m.c(0), m.c(sig.sliceExperts / kMmaLogitsExperts), m.c(1), {},
      [&](Value round, ValueRange) -> SmallVector<Value> {
        Value e0 = m.add(sliceLo, m.mul(round, m.c(kMmaLogitsExperts)));
        // Experts past E load the last expert's row and store nothing.
        SmallVector<Value, 2> expertRows;
        for (int64_t j = 0; j < 2; ++j)
          expertRows.push_back(arith::MinUIOp::create(
              b, m.add(e0, m.add(m.c(8 * j), quad)), m.c(E - 1)));
        // `iterations` warp iterations from k0 = kb, kb + span, ...: all
        // their loads first (per iteration the token chunk and two expert
        // chunks, two 16-byte loads each), so that they are in flight
        // together, then their mma into acc[2 it + j].
        auto trip = [&](Value kb, int64_t iterations,
                        SmallVector<Value> acc) -> SmallVector<Value> {
          SmallVector<SmallVector<Value, 6>, kMmaLogitsUnroll> loads;
          for (int64_t it = 0; it < iterations; ++it) {
            Value kLane =
                m.add(m.add(kb, m.c(it * span)), m.mul(pair, m.c(16)));
            auto &chunk = loads.emplace_back();
            std::pair<Value, Value> rows[] = {{k.input, row},
                                              {k.weight, expertRows[0]},
                                              {k.weight, expertRows[1]}};
            for (auto [memref, at] : rows)
              for (int64_t half = 0; half < 2; ++half)
                chunk.push_back(vector::LoadOp::create(
                    b, vecType, memref,
                    ValueRange{at, m.add(kLane, m.c(half * decode::kVec))},
                    /*nontemporal=*/false, llvm::Align(16)));
          }
          for (int64_t it = 0; it < iterations; ++it) {
            ArrayRef<Value> chunk = loads[it];
            for (int64_t u = 0; u < 4; ++u) {
              int64_t half = u / 2, at = (4 * u) % decode::kVec;
              Value x = chunk[half];
              Value a[] = {decode::mmaSlice(b, x, at), zeroPair,
                           decode::mmaSlice(b, x, at + 2), zeroPair};
              for (int64_t j = 0; j < 2; ++j) {
                Value w = chunk[2 + 2 * j + half];
                Value bOps[] = {decode::mmaSlice(b, w, at),
                                decode::mmaSlice(b, w, at + 2)};
                decode::mmaAccumulate(b, acc[2 * it + j], a, bOps, elt);
              }
            }
          }
          return acc;
        };
        // One accumulator per n tile and iteration of a trip: independent
        // mma chains. Whole trips of kMmaLogitsUnroll iterations, then the
        // warp's last iterations one at a time: no load is masked.
        SmallVector<Value> zeros(2 * kMmaLogitsUnroll,
                                 LLVM::ZeroOp::create(b, accType));
        Value tripSpan = m.c(span * kMmaLogitsUnroll);
        Value kStart = m.mul(k.warp, m.c(kMmaLogitsK));
        // Trips start below H - (kMmaLogitsUnroll - 1) span (none when H
        // is smaller); they carry the next iteration's k, where the rest
        // start.
        int64_t tripsEnd = H - (kMmaLogitsUnroll - 1) * span;
        SmallVector<Value> acc = zeros;
        Value rest = kStart;
        if (tripsEnd > 0) {
          SmallVector<Value> inits = zeros;
          inits.push_back(kStart);
          auto trips =
              m.loop(kStart, m.c(tripsEnd), tripSpan, inits,
                     [&](Value kb, ValueRange iter) -> SmallVector<Value> {
                       SmallVector<Value> next =
                           trip(kb, kMmaLogitsUnroll,
                                SmallVector<Value>(iter.drop_back()));
                       next.push_back(m.add(kb, tripSpan));
                       return next;
                     });
          acc.assign(trips.getResults().begin(), trips.getResults().end());
          rest = acc.pop_back_val();
        }
        auto loop = m.loop(
            rest, m.c(H), m.c(span), acc,
            [&](Value kb, ValueRange iter) -> SmallVector<Value> {
              return trip(kb, 1, SmallVector<Value>(iter.begin(), iter.end()));
            });
        // Each warp's sums of token q, experts 8 j + 2 p + {0, 1}.
        for (int64_t j = 0; j < 2; ++j)
          for (int64_t r = 0; r < 2; ++r) {
            Value sum;
            for (int64_t it = 0; it < kMmaLogitsUnroll; ++it) {
              Value v = LLVM::ExtractValueOp::create(
                  b, loop.getResult(2 * it + j), r);
              sum = sum ? m.addf(sum, v) : v;
            }
            m.store(sum, k.smemPartial,
                    {k.warp, quad, m.add(m.c(8 * j + r), m.mul(pair, m.c(2)))});
          }
        gpu::BarrierOp::create(b);
        // Thread (t, x) of the first kRouteTokens * 16 sums token t, expert
        // e0 + x over the warps.
        Value t = m.div(k.tid, kMmaLogitsExperts);
        Value x = m.rem(k.tid, kMmaLogitsExperts);
        Value e = m.add(e0, x);
        m.ifThen(m.both(m.ult(k.tid, m.c(kRouteTokens * kMmaLogitsExperts)),
                        m.ult(e, m.c(E))),
                 [&] {
                   Value sum;
                   for (int64_t w = 0; w < kWarps; ++w) {
                     Value v = m.load(k.smemPartial, {m.c(w), t, x});
                     sum = sum ? m.addf(sum, v) : v;
                   }
                   if (sig.routerBiasType)
                     sum = m.addf(sum, m.toF32(m.load(k.routerBias, {e})));
                   storeLogit(k, t, e, sum);
                 });
        // The next round's partial sums overwrite these.
        gpu::BarrierOp::create(b);
        return {};
      });
}

/// Copies the tile's logits (rows [tile0, tile0 + kRouteTokens) of a
/// [T, E] source read by `read(row, e)`) into shared memory.
void copyTileLogits(Kernel &k, function_ref<Value(Value, Value)> read) {
  Emitter &m = k.m;
  int64_t E = k.sig.experts;
  m.loop(k.tid, m.c(kRouteTokens * E), m.c(kRouteThreads), {},
         [&](Value i, ValueRange) -> SmallVector<Value> {
           Value t = m.div(i, E), e = m.rem(i, E);
           Value row = m.add(k.tile0, t);
           m.ifThen(m.ult(row, k.tokens), [&] {
             m.store(read(row, e), k.smemLogits, {t, e});
           });
           return {};
         });
}

/// With slices: publishes this block's logits and returns whether it is the
/// tile's last block (uniform over the block).
Value arriveAtTile(Kernel &k) {
  Emitter &m = k.m;
  // Every thread's workspace stores are visible GPU-wide before the block
  // counts itself (threadfence reduction).
  NVVM::MembarOp::create(m.b, NVVM::MemScopeKind::GPU);
  gpu::BarrierOp::create(m.b);
  Value tile = gpu::BlockIdOp::create(m.b, gpu::Dimension::x);
  m.ifThen(m.eq(k.tid, m.c(0)), [&] {
    Value old = memref::AtomicRMWOp::create(m.b, arith::AtomicRMWKind::addi,
                                            m.i32(1), k.counters, {tile});
    Value last = m.eq(old, m.i32(k.sig.slices - 1));
    m.store(arith::ExtUIOp::create(m.b, m.b.getI32Type(), last), k.smemFlag,
            {m.c(0)});
    // The last block resets the counter: the next launch starts from 0.
    m.ifThen(last, [&] { m.store(m.i32(0), k.counters, {tile}); });
  });
  gpu::BarrierOp::create(m.b);
  return m.eq(m.load(k.smemFlag, {m.c(0)}), m.i32(1));
}

/// Best (value, index) over this lane's experts e = lane + 32 j in
/// [lo, hi) not in `taken`, then over the warp: larger value wins, ties go
/// to the lower index, and any expert beats none (index kNone, -inf).
std::pair<Value, Value> warpArgmax(Kernel &k, Value values, Value row,
                                   Value taken, Value lo, Value hi) {
  Emitter &m = k.m;
  int64_t E = k.sig.experts, perLane = (E + 31) / 32;
  Value none = m.i32(std::numeric_limits<int32_t>::max());
  auto scan = m.loop(
      m.c(0), m.c(perLane), m.c(1), {m.ninf(), none},
      [&](Value j, ValueRange best) -> SmallVector<Value> {
        Value e = m.add(k.lane, m.mul(j, m.c(32)));
        Value bit = arith::ShLIOp::create(m.b, m.i32(1), m.toI32(j));
        Value free = m.eq(arith::AndIOp::create(m.b, taken, bit), m.i32(0));
        Value inRange = m.both(
            m.both(m.ult(e, m.c(E)), free),
            m.both(m.cmpi(arith::CmpIPredicate::uge, e, lo), m.ult(e, hi)));
        return m.ifElse(
            inRange,
            [&]() -> SmallVector<Value> {
              Value v = m.load(values, {row, e});
              // Ascending e within a lane: strictly greater keeps the lower
              // index on ties.
              Value better =
                  m.either(m.eq(best[1], none),
                           m.cmpf(arith::CmpFPredicate::OGT, v, best[0]));
              return {m.select(better, v, best[0]),
                      m.select(better, m.toI32(e), best[1])};
            },
            best);
      });
  Value bv = scan.getResult(0), bi = scan.getResult(1);
  for (int32_t off = 16; off >= 1; off /= 2) {
    Value ov = m.shuffleXor(bv, off), oi = m.shuffleXor(bi, off);
    Value better = m.either(m.cmpf(arith::CmpFPredicate::OGT, ov, bv),
                            m.both(m.cmpf(arith::CmpFPredicate::OEQ, ov, bv),
                                   m.cmpi(arith::CmpIPredicate::slt, oi, bi)));
    bv = m.select(better, ov, bv);
    bi = m.select(better, oi, bi);
  }
  return {bv, bi};
}

/// `taken` with expert `index` marked if this lane owns it.
Value markTaken(Kernel &k, Value taken, Value index) {
  Emitter &m = k.m;
  Value mine =
      m.eq(arith::RemUIOp::create(m.b, index, m.i32(32)), m.toI32(k.lane));
  Value bit = arith::ShLIOp::create(
      m.b, m.i32(1), arith::DivUIOp::create(m.b, index, m.i32(32)));
  return m.select(mine, arith::OrIOp::create(m.b, taken, bit), taken);
}

/// Applies `fn(e)` to this lane's experts.
void forLaneExperts(Kernel &k, function_ref<void(Value)> fn) {
  Emitter &m = k.m;
  int64_t E = k.sig.experts;
  m.loop(m.c(0), m.c((E + 31) / 32), m.c(1), {},
         [&](Value j, ValueRange) -> SmallVector<Value> {
           Value e = m.add(k.lane, m.mul(j, m.c(32)));
           m.ifThen(m.ult(e, m.c(E)), [&] { fn(e); });
           return {};
         });
}

/// sparsemixer's weight of the slot whose best logit is `best`: the softmax
/// at the best expert over the experts not `taken` whose logits lie within
/// the jitter of it, (best - l) / max(|l|, best) <= 2 eps (a NaN ratio keeps
/// the expert, as torch's mask does), that is 1 / sum exp(l - best) over
/// them. Every lane gets it.
Value sparseMixerWeight(Kernel &k, Value row, Value taken, Value best) {
  Emitter &m = k.m;
  int64_t E = k.sig.experts;
  Value eps2 = m.f32(2 * k.sig.jitterEps);
  auto partial = m.loop(
      m.c(0), m.c((E + 31) / 32), m.c(1), {m.f32(0)},
      [&](Value j, ValueRange acc) -> SmallVector<Value> {
        Value e = m.add(k.lane, m.mul(j, m.c(32)));
        Value bit = arith::AndIOp::create(
            m.b, arith::ShRUIOp::create(m.b, taken, m.toI32(j)), m.i32(1));
        Value open = m.both(m.ult(e, m.c(E)), m.eq(bit, m.i32(0)));
        return m.ifElse(
            open,
            [&]() -> SmallVector<Value> {
              Value l = m.load(k.smemLogits, {row, e});
              Value abs = absF32(m.b, l);
              Value ratio = m.divf(m.subf(best, l),
                                   arith::MaximumFOp::create(m.b, abs, best));
              Value far = m.cmpf(arith::CmpFPredicate::OGT, ratio, eps2);
              Value p = emitExp(m, m.subf(l, best));
              return {m.addf(acc[0], m.select(far, m.f32(0), p))};
            },
            acc);
      });
  return m.divf(m.f32(1), warpReduce(m, partial.getResult(0), /*max=*/false));
}

/// Phase 2: routes token tile0 + warp (the caller checked it exists).
void emitRouteToken(Kernel &k) {
  Emitter &m = k.m;
  const RoutingSignature &sig = k.sig;
  int64_t E = sig.experts;
  Value row = k.warp, token = m.add(k.tile0, k.warp);
  Value scores = k.smemLogits;
  // expert_mask: this lane's bit of each 32-expert word, compile-time words
  // picked by the (run-time) index j of e = lane + 32 j.
  auto masked = [&](Value e) -> Value {
    Value j = m.toI32(m.div(e, 32));
    Value word = m.i32(0);
    for (int64_t w = 0; w < (E + 31) / 32; ++w) {
      uint32_t bits = 0;
      for (int64_t b = 0; b < 32 && w * 32 + b < E; ++b)
        if (!sig.expertMask[w * 32 + b])
          bits |= 1u << b;
      if (bits)
        word = m.select(m.eq(j, m.i32(w)), m.i32(int32_t(bits)), word);
    }
    Value bit = arith::AndIOp::create(
        m.b, arith::ShRUIOp::create(m.b, word, m.toI32(m.rem(e, 32))),
        m.i32(1));
    return m.eq(bit, m.i32(1));
  };
  if (!sig.expertMask.empty()) {
    // Masked experts count as -inf logits.
    forLaneExperts(k, [&](Value e) {
      m.ifThen(masked(e), [&] { m.store(m.ninf(), scores, {row, e}); });
    });
  }
  if (sig.score == 0) {
    // Softmax: exp(l - max) / sum; the max is exact in any order.
    Value localMax = m.ninf();
    auto maxLoop = m.loop(m.c(0), m.c((E + 31) / 32), m.c(1), {localMax},
                          [&](Value j, ValueRange acc) -> SmallVector<Value> {
                            Value e = m.add(k.lane, m.mul(j, m.c(32)));
                            return m.ifElse(
                                m.ult(e, m.c(E)),
                                [&]() -> SmallVector<Value> {
                                  return {arith::MaximumFOp::create(
                                      m.b, acc[0], m.load(scores, {row, e}))};
                                },
                                acc);
                          });
    Value max = warpReduce(m, maxLoop.getResult(0), /*max=*/true);
    auto sumLoop = m.loop(
        m.c(0), m.c((E + 31) / 32), m.c(1), {m.f32(0)},
        [&](Value j, ValueRange acc) -> SmallVector<Value> {
          Value e = m.add(k.lane, m.mul(j, m.c(32)));
          return m.ifElse(
              m.ult(e, m.c(E)),
              [&]() -> SmallVector<Value> {
                Value p = emitExp(m, m.subf(m.load(scores, {row, e}), max));
                m.store(p, scores, {row, e});
                return {m.addf(acc[0], p)};
              },
              acc);
        });
    Value sum = warpReduce(m, sumLoop.getResult(0), /*max=*/false);
    forLaneExperts(k, [&](Value e) {
      m.store(m.divf(m.load(scores, {row, e}), sum), scores, {row, e});
    });
  } else if (sig.score == 1) {
    forLaneExperts(k, [&](Value e) {
      Value l = m.load(scores, {row, e});
      Value ex = emitExp(m, arith::NegFOp::create(m.b, l));
      m.store(m.divf(m.f32(1), m.addf(m.f32(1), ex)), scores, {row, e});
    });
  }
  if (sig.expertChoice) {
    // The experts pick their tokens in the selection kernel
    // (ExpertChoiceKernels.cpp), which needs every token's scores; it reads
    // them by expert, so they are stored transposed ([E, T]).
    forLaneExperts(k, [&](Value e) {
      m.store(m.load(scores, {row, e}), k.outScores,
              {m.add(m.mul(e, k.tokens), token)});
    });
    return;
  }
  // Selection scores: biased, and later -inf outside the kept groups.
  Value choice = scores;
  if (k.smemChoice) {
    choice = k.smemChoice;
    forLaneExperts(k, [&](Value e) {
      Value s = m.load(scores, {row, e});
      if (sig.selectionBiasType)
        s = m.addf(s, m.toF32(m.load(k.selectionBias, {e})));
      // Masked experts stay at -inf for the selection (sigmoid made them 0).
      if (!sig.expertMask.empty())
        s = m.select(masked(e), m.ninf(), s);
      m.store(s, choice, {row, e});
    });
  }
  Value taken = m.i32(0);
  if (sig.groups) {
    int64_t per = E / sig.groups;
    // Lane g keeps group g's score: the sum of its groupTopk best choices,
    // added in selection order like the CPU kernel.
    auto groupLoop =
        m.loop(m.c(0), m.c(sig.groups), m.c(1), {m.ninf(), taken},
               [&](Value g, ValueRange iter) -> SmallVector<Value> {
                 Value lo = m.mul(g, m.c(per)), hi = m.add(lo, m.c(per));
                 auto pick = m.loop(
                     m.c(0), m.c(sig.groupTopk), m.c(1), {m.f32(0), iter[1]},
                     [&](Value, ValueRange acc) -> SmallVector<Value> {
                       auto [bv, bi] =
                           warpArgmax(k, choice, row, acc[1], lo, hi);
                       return {m.addf(acc[0], bv), markTaken(k, acc[1], bi)};
                     });
                 return {m.select(m.eq(k.lane, g), pick.getResult(0), iter[0]),
                         pick.getResult(1)};
               });
    Value groupScore = groupLoop.getResult(0);
    // The topkGroups best groups (ties: lower group) stay selectable.
    auto keep = m.loop(
        m.c(0), m.c(sig.topkGroups), m.c(1), {m.i32(0)},
        [&](Value, ValueRange iter) -> SmallVector<Value> {
          Value none = m.i32(std::numeric_limits<int32_t>::max());
          Value laneI32 = m.toI32(k.lane);
          Value kept = arith::AndIOp::create(
              m.b, arith::ShRUIOp::create(m.b, iter[0], laneI32), m.i32(1));
          Value candidate =
              m.both(m.ult(k.lane, m.c(sig.groups)), m.eq(kept, m.i32(0)));
          Value bv = m.select(candidate, groupScore, m.ninf());
          Value bi = m.select(candidate, laneI32, none);
          for (int32_t off = 16; off >= 1; off /= 2) {
            Value ov = m.shuffleXor(bv, off), oi = m.shuffleXor(bi, off);
            Value better =
                m.either(m.cmpf(arith::CmpFPredicate::OGT, ov, bv),
                         m.both(m.cmpf(arith::CmpFPredicate::OEQ, ov, bv),
                                m.cmpi(arith::CmpIPredicate::slt, oi, bi)));
            bv = m.select(better, ov, bv);
            bi = m.select(better, oi, bi);
          }
          return {arith::OrIOp::create(
              m.b, iter[0], arith::ShLIOp::create(m.b, m.i32(1), bi))};
        });
    Value keptGroups = keep.getResult(0);
    forLaneExperts(k, [&](Value e) {
      Value g = m.toI32(m.div(e, per));
      Value kept = arith::AndIOp::create(
          m.b, arith::ShRUIOp::create(m.b, keptGroups, g), m.i32(1));
      m.ifThen(m.eq(kept, m.i32(0)), [&] {
        m.store(m.ninf(), choice, {row, e});
      });
    });
  }
  // Lanes read other lanes' scores from here on.
  NVVM::SyncWarpOp::create(m.b, m.i32(-1));
  // Top-k in descending order; in top_p mode a slot is used while the
  // scores before it sum to less than p. Lane 0 records the slots.
  Value first = m.eq(k.lane, m.c(0));
  m.loop(m.c(0), m.c(sig.k), m.c(1), {taken, m.f32(0)},
         [&](Value j, ValueRange iter) -> SmallVector<Value> {
           auto [bv, bi] = warpArgmax(k, choice, row, iter[0], m.c(0), m.c(E));
           Value p = sig.score == 3 ? sparseMixerWeight(k, row, iter[0], bv)
                                    : m.load(scores, {row, m.toIndex(bi)});
           Value id = bi, w = p;
           if (sig.topP) {
             Value used = m.cmpf(arith::CmpFPredicate::OLT, iter[1],
                                 m.f32(sig.topPValue));
             id = m.select(used, bi, m.i32(-1));
             w = m.select(used, p, m.f32(0));
           }
           m.ifThen(first, [&] {
             m.store(w, k.smemSlotP, {row, j});
             m.store(id, k.smemSlotId, {row, j});
           });
           return {markTaken(k, iter[0], bi), m.addf(iter[1], p)};
         });
  // Weights, in slot order like the CPU kernel (lane 0 only).
  m.ifThen(first, [&] {
    auto slotLoop =
        [&](ValueRange inits,
            function_ref<SmallVector<Value>(Value, ValueRange)> body) {
          return m.loop(m.c(0), m.c(sig.k), m.c(1), inits, body);
        };
    if (sig.score == 2) {
      // softmax_after_topk: softmax over the chosen logits.
      Value max = slotLoop({m.ninf()}, [&](Value j, ValueRange acc) {
                    return SmallVector<Value>{arith::MaximumFOp::create(
                        m.b, acc[0], m.load(k.smemSlotP, {row, j}))};
                  }).getResult(0);
      Value sum =
          slotLoop({m.f32(0)}, [&](Value j, ValueRange acc) {
            Value p = emitExp(m, m.subf(m.load(k.smemSlotP, {row, j}), max));
            m.store(p, k.smemSlotP, {row, j});
            return SmallVector<Value>{m.addf(acc[0], p)};
          }).getResult(0);
      slotLoop({}, [&](Value j, ValueRange) {
        m.store(m.divf(m.load(k.smemSlotP, {row, j}), sum), k.smemSlotP,
                {row, j});
        return SmallVector<Value>{};
      });
    }
    Value denom;
    if (sig.renormalize) {
      Value total = slotLoop({m.f32(0)}, [&](Value j, ValueRange acc) {
                      return SmallVector<Value>{
                          m.addf(acc[0], m.load(k.smemSlotP, {row, j}))};
                    }).getResult(0);
      denom = sig.renormalizeClamp
                  ? arith::MaximumFOp::create(m.b, total, m.f32(sig.epsilon))
                        .getResult()
                  : m.addf(total, m.f32(sig.epsilon));
    }
    auto finalWeight = [&](Value v) {
      if (denom)
        v = m.divf(v, denom);
      return m.mulf(v, m.f32(sig.scale));
    };
    Value w0 = finalWeight(m.load(k.smemSlotP, {row, m.c(0)}));
    slotLoop({}, [&](Value j, ValueRange) {
      Value w = finalWeight(m.load(k.smemSlotP, {row, j}));
      Value id = m.load(k.smemSlotId, {row, j});
      if (sig.skip) {
        // skip_ratio: later slots below beta * w0 are dropped.
        Value drop = m.both(m.cmpi(arith::CmpIPredicate::ugt, j, m.c(0)),
                            m.cmpf(arith::CmpFPredicate::OLT, w,
                                   m.mulf(w0, m.f32(sig.skipRatio))));
        w = m.select(drop, m.f32(0), w);
        id = m.select(drop, m.i32(-1), id);
      }
      m.store(m.fromF32(w, sig.weightsType), k.outWeights, {token, j});
      Value outId = id;
      if (sig.idsType.getIntOrFloatBitWidth() == 64)
        outId = arith::ExtSIOp::create(m.b, sig.idsType, id);
      m.store(outId, k.outIds, {token, j});
      return SmallVector<Value>{};
    });
  });
}

gpu::GPUFuncOp buildKernel(gpu::GPUModuleOp gpuModule, StringRef name,
                           const RoutingSignature &sig) {
  MLIRContext *ctx = gpuModule.getContext();
  ImplicitLocOpBuilder b(gpuModule.getLoc(), ctx);
  b.setInsertionPointToEnd(gpuModule.getBody());
  Emitter m{b};
  int64_t dyn = ShapedType::kDynamic, E = sig.experts, H = sig.hidden;
  SmallVector<Type> argTypes;
  if (sig.inputType) {
    argTypes.push_back(MemRefType::get({dyn, H}, sig.inputType));
    argTypes.push_back(MemRefType::get(sig.transposed ? ArrayRef<int64_t>{H, E}
                                                      : ArrayRef<int64_t>{E, H},
                                       sig.weightType));
    if (sig.routerBiasType)
      argTypes.push_back(MemRefType::get({E}, sig.routerBiasType));
  } else {
    argTypes.push_back(MemRefType::get({dyn, E}, sig.logitsType));
  }
  if (sig.selectionBiasType)
    argTypes.push_back(MemRefType::get({E}, sig.selectionBiasType));
  if (sig.expertChoice) {
    argTypes.push_back(MemRefType::get({dyn}, b.getF32Type()));
  } else {
    argTypes.push_back(MemRefType::get({dyn, sig.k}, sig.weightsType));
    argTypes.push_back(MemRefType::get({dyn, sig.k}, sig.idsType));
  }
  if (sig.slices > 1) {
    argTypes.push_back(MemRefType::get({dyn}, b.getF32Type()));
    argTypes.push_back(MemRefType::get({dyn}, b.getI32Type()));
  }
  auto workgroup =
      gpu::AddressSpaceAttr::get(ctx, gpu::AddressSpace::Workgroup);
  auto smem = [&](ArrayRef<int64_t> shape, Type elt) -> Type {
    return MemRefType::get(shape, elt, MemRefLayoutAttrInterface(), workgroup);
  };
  bool separateChoice =
      sig.selectionBiasType || sig.groups || !sig.expertMask.empty();
  // Expert choice has no slots (k is 0).
  int64_t slots = std::max<int64_t>(sig.k, 1);
  SmallVector<Type> smemTypes = {smem({kRouteTokens, E}, b.getF32Type()),
                                 smem({kRouteTokens, slots}, b.getF32Type()),
                                 smem({kRouteTokens, slots}, b.getI32Type()),
                                 smem({1}, b.getI32Type())};
  if (separateChoice)
    smemTypes.push_back(smem({kRouteTokens, E}, b.getF32Type()));
  if (usesMmaLogits(sig))
    smemTypes.push_back(
        smem({kWarps, kRouteTokens, kMmaLogitsExperts}, b.getF32Type()));
  auto func = gpu::GPUFuncOp::create(b, name, b.getFunctionType(argTypes, {}),
                                     smemTypes, TypeRange());
  func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
  // The launch's grid.y (moe::getRoutingSlices).
  func->setAttr("moe.route_slices", b.getI64IntegerAttr(sig.slices));
  func.setKnownBlockSizeAttr(
      b.getDenseI32ArrayAttr({static_cast<int32_t>(kRouteThreads), 1, 1}));
  // Two blocks an SM (128 registers a thread): without a bound ptxas aims
  // at three and keeps only ~3 of a trip's loads ahead of its mma; with it,
  // the trip's 24 loads go out before the first (SASS). A DeepSeek-V3 or
  // Qwen3 router at T = 64 has about one block an SM anyway.
  if (usesMmaLogits(sig))
    func->setAttr(NVVM::NVVMDialect::getMinctasmAttrName(),
                  b.getI32IntegerAttr(kMmaLogitsBlocksPerSM));
  b.setInsertionPointToStart(&func.getBody().front());

  Kernel k{sig, m,  {}, {}, {}, {}, {}, {}, {}, {}, {}, {},
           {},  {}, {}, {}, {}, {}, {}, {}, {}, {}, {}};
  unsigned arg = 0;
  if (sig.inputType) {
    k.input = func.getArgument(arg++);
    k.weight = func.getArgument(arg++);
    if (sig.routerBiasType)
      k.routerBias = func.getArgument(arg++);
  } else {
    k.logitsIn = func.getArgument(arg++);
  }
  if (sig.selectionBiasType)
    k.selectionBias = func.getArgument(arg++);
  if (sig.expertChoice) {
    k.outScores = func.getArgument(arg++);
  } else {
    k.outWeights = func.getArgument(arg++);
    k.outIds = func.getArgument(arg++);
  }
  if (sig.slices > 1) {
    k.workspace = func.getArgument(arg++);
    k.counters = func.getArgument(arg++);
  }
  auto attributions = func.getWorkgroupAttributions();
  k.smemLogits = attributions[0];
  k.smemSlotP = attributions[1];
  k.smemSlotId = attributions[2];
  k.smemFlag = attributions[3];
  if (separateChoice)
    k.smemChoice = attributions[4];
  if (usesMmaLogits(sig))
    k.smemPartial = attributions.back();
  k.tid = gpu::ThreadIdOp::create(b, gpu::Dimension::x);
  k.lane = m.rem(k.tid, 32);
  k.warp = m.div(k.tid, 32);
  k.tokens = sig.expertChoice
                 ? m.div(memref::DimOp::create(b, k.outScores, 0), E)
                 : memref::DimOp::create(b, k.outWeights, 0).getResult();
  k.tile0 =
      m.mul(gpu::BlockIdOp::create(b, gpu::Dimension::x), m.c(kRouteTokens));

  auto logits = [&] {
    if (usesMmaLogits(sig))
      emitRouterLogitsMma(k);
    else
      emitRouterLogits(k);
  };
  auto route = [&] {
    m.ifThen(m.ult(m.add(k.tile0, k.warp), k.tokens),
             [&] { emitRouteToken(k); });
  };
  if (!sig.inputType) {
    copyTileLogits(k, [&](Value row, Value e) {
      return m.toF32(m.load(k.logitsIn, {row, e}));
    });
    gpu::BarrierOp::create(b);
    route();
  } else if (sig.slices == 1) {
    logits();
    gpu::BarrierOp::create(b);
    route();
  } else {
    logits();
    m.ifThen(arriveAtTile(k), [&] {
      NVVM::MembarOp::create(b, NVVM::MemScopeKind::GPU);
      copyTileLogits(k, [&](Value row, Value e) {
        return m.load(k.workspace,
                      {m.add(m.mul(row, m.c(routingWorkspaceStride(E))), e)});
      });
      gpu::BarrierOp::create(b);
      route();
    });
  }
  gpu::ReturnOp::create(b);
  return func;
}

} // namespace

gpu::GPUFuncOp
moe::detail::getOrBuildRoutingKernel(gpu::GPUModuleOp gpuModule,
                                     const RoutingSignature &sig) {
  std::string name = kernelName(sig);
  if (auto existing = gpuModule.lookupSymbol<gpu::GPUFuncOp>(name))
    return existing;
  return buildKernel(gpuModule, name, sig);
}
