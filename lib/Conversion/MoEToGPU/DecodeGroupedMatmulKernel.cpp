//===- DecodeGroupedMatmulKernel.cpp - weight-streaming grouped matmul ----===//
//
// The grouped matmul for decode sizes: a few rows per group, so the cost is
// reading each used expert's weights once from HBM. Block (x, y) owns the
// y-th non-empty row range (group) and the kDecodeSlabN-column slab x of its
// output (its z-th pass of rows, then every grid.z-th); its warps split K
// (split-K) and stream the slab's weights with 16-byte loads,
// kDecodeLoadsPerLane of them in flight per lane, into mma.sync m16n8k16 (fp32
// accumulators); a shared-memory reduction over the warps ends each pass of
// kDecodeRowsPerPass rows. The grid is (N / kDecodeSlabN, min(rows, E + 1))
// from the row count alone: a group with rows needs at least one of them, so no
// group size travels to the host and no block is launched for an empty group
// while rows <= E.
//
// Why mma.sync with padded rows rather than FMA: at 16-32 rows an FMA kernel
// would issue rows FMAs per streamed weight element (Mixtral at T = 64 has 16
// rows per expert: ~16 FMA per 2 bytes, the H200's fp32 pipe at ~4.8 TB/s),
// which is compute-bound; one m16n8k16 covers 16 rows x 8 columns x 16 k
// whatever the number of valid rows, and keeps the issue slots free for the
// loads.
//
// The mma operands come straight from registers: the K index of the mma's
// 16 slots is permuted (any bijection works, as long as A and B agree), so
// that each lane's B slots are 4 consecutive weight rows of the 8 columns it
// loaded with one 16-byte load per row, and its A slots are 4 consecutive
// elements of an lhs row. See the invariants at `streamSlab`.
//
// A fused activation (EpilogueFusion.cpp) is applied to the warps' summed
// accumulators. A gated one needs gate and up of each output: interleaved
// weights have them in slab columns 2c and 2c + 1 (n tiles T and T + 1 of a
// lane); for concatenated and separate layouts the slab is the gate columns
// of 32 outputs (lane quads 0-3) and the up columns of the same outputs
// (quads 4-7), so that the reduction buffer holds both. Either way a block
// owns 32 outputs.
//
//===----------------------------------------------------------------------===//

#include "DecodeGroupedMatmul.h"
#include "Emitter.h"
#include "QuantizedWeights.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace moe::detail;
using namespace moe::detail::decode;

namespace {

/// k steps (16 deep) per warp iteration, and the K rows that covers.
constexpr int64_t kSteps = kDecodeLoadsPerLane / 4;
constexpr int64_t kWarpK = kSteps * 16;
/// Values the passes need only between K loops, kept in shared memory
/// rather than in registers, because a register live across the K loop
/// costs an SM a block (at 168 registers on sm_90a three 128-thread blocks
/// fit, at 174 two): written before the first pass, read after a pass's
/// barriers, past which LLVM cannot hoist them (or what the epilogue
/// computes from them) out of the passes' loop. Thread 0 writes the pass
/// stride (32 gridDim.z rows), the group's N_g (group_extents), the group
/// and the block's first column; each thread its id at kThreadSlots + tid.
constexpr int64_t kPassStrideSlot = 0, kGroupNSlot = 1, kGroupSlot = 2,
                  kFirstColumnSlot = 3, kThreadSlots = 4;
/// Reduction buffer: per warp and lane its kMmaTilesN x 4 accumulators of
/// one m tile, padded to 36 floats so that eight lanes' 16-byte stores fall
/// in different banks.
constexpr int64_t kRedPitch = kMmaTilesN * 4 + 4;

static_assert(kDecodeSlabN == 8 * kVec, "a lane quad loads one 8-column "
                                        "chunk per row, eight quads a slab");
/// The epilogue's (lane, n tile) pairs per thread.
constexpr int64_t kEpilogueReps = 32 * kMmaTilesN / kDecodeThreads;
static_assert(kDecodeThreads == kWarps * 32 &&
                  kEpilogueReps * kDecodeThreads == 32 * kMmaTilesN,
              "the epilogue maps the first kDecodeThreads threads onto 32 "
              "lanes x 8 n tiles");
static_assert(kDecodeLoadsPerLane % 4 == 0, "4 weight rows per k step");

/// grouped_matmul_decode_<lhs>_<result>_<offsets>_e<E>_k<K>_n<N>[_bias_<b>]
/// [_<activation>][_x<extents>][_q<packed weights>][_t (transposed)].
std::string kernelName(const GroupedMatmulSignature &sig) {
  std::string name = "grouped_matmul_decode";
  llvm::raw_string_ostream os(name);
  for (Type t : {sig.elementType, sig.resultType, sig.offsetType})
    os << "_" << t;
  os << "_e" << sig.groups << "_k" << sig.k << "_n" << sig.n;
  if (sig.biasType)
    os << "_bias_" << sig.biasType;
  if (sig.activation)
    os << "_" << sig.activation->mangle();
  os << groupExtentsSuffix(sig);
  os << quantized::kernelSuffix(sig);
  return name;
}

/// Gate and up columns come from two places (two weights, or the two halves
/// of one): lane quads 0-3 load gate columns, quads 4-7 the up columns of
/// the same outputs.
bool gateUpQuads(const GroupedMatmulSignature &sig) {
  return sig.isGated() &&
         *sig.activation->gateLayout != moe::GateLayout::Interleaved;
}

/// Result columns a block owns: the slab's, or half of them when gate and
/// up share it.
int64_t outputsPerBlock(const GroupedMatmulSignature &sig) {
  return sig.isGated() ? kDecodeSlabN / 2 : kDecodeSlabN;
}

/// offsets[e] clamped to the row count, so that bad offsets never address
/// rows past the lhs and the result.
Value offsetAt(ImplicitLocOpBuilder &b, DecodeState &s, Value e) {
  Emitter m{b};
  Value v = memref::LoadOp::create(b, s.offsets, ValueRange{e});
  return m.min(arith::IndexCastOp::create(b, b.getIndexType(), v), s.rows);
}

/// Row range e: [offsets[e], offsets[e + 1]) for e < E, and the tail
/// [offsets[E], rows) for e = E (rows written as zeros).
std::pair<Value, Value> rangeOf(ImplicitLocOpBuilder &b, DecodeState &s,
                                Value e) {
  Emitter m{b};
  int64_t numGroups = s.sig.groups;
  Value start = offsetAt(b, s, e);
  Value next = offsetAt(b, s, m.min(m.add(e, m.c(1)), m.c(numGroups)));
  // Clamped to the rows: offsets past the row count (a bad input) must not
  // reach past the buffers.
  Value end = m.min(m.select(m.ult(e, m.c(numGroups)), next, s.rows), s.rows);
  return {start, end};
}

/// The range (0..E) of the blockIdx.y-th non-empty range, or E + 1 if there
/// are fewer. Each warp scans the E + 1 ranges 32 at a time (one per lane,
/// unrolled: the loads are independent) and counts the non-empty ones with
/// ballots, so every warp gets the same, warp-uniform answer.
Value findGroup(ImplicitLocOpBuilder &b, DecodeState &s) {
  Emitter m{b};
  Type i32 = b.getI32Type();
  int64_t numRanges = s.sig.groups + 1;
  Value target = m.unsignedToI32(gpu::BlockIdOp::create(b, gpu::Dimension::y));
  Value lane32 = m.unsignedToI32(s.lane);
  Value all = m.i32(-1);
  // Lanes below this one: (1 << lane) - 1.
  Value below = arith::SubIOp::create(
      b, arith::ShLIOp::create(b, m.i32(1), lane32), m.i32(1));
  auto ballot = [&](Value pred) -> Value {
    return NVVM::VoteSyncOp::create(
        b, i32, all, pred,
        NVVM::VoteSyncKindAttr::get(b.getContext(),
                                    NVVM::VoteSyncKind::ballot));
  };
  Value found = m.i32(numRanges);
  Value counted = m.i32(0); // non-empty ranges before this chunk
  for (int64_t chunk = 0; chunk * 32 < numRanges; ++chunk) {
    Value e = m.add(m.c(chunk * 32), s.lane);
    Value inRange = m.ult(e, m.c(numRanges));
    auto [start, end] = rangeOf(b, s, m.min(e, m.c(numRanges - 1)));
    Value nonEmpty = m.both(inRange, m.ult(start, end));
    Value mask = ballot(nonEmpty);
    Value rank = m.add(
        counted,
        LLVM::CtPopOp::create(b, i32, arith::AndIOp::create(b, mask, below)));
    Value mine =
        m.both(nonEmpty, m.cmpi(arith::CmpIPredicate::eq, rank, target));
    Value hit = ballot(mine);
    Value hitLane =
        LLVM::CountTrailingZerosOp::create(b, i32, hit, b.getBoolAttr(false));
    Value hitRange = m.add(m.i32(chunk * 32), hitLane);
    found = m.select(m.cmpi(arith::CmpIPredicate::ne, hit, m.i32(0)), hitRange,
                     found);
    counted = m.add(counted, LLVM::CtPopOp::create(b, i32, mask));
  }
  return m.unsignedToIndex(found);
}

/// `v` as the float type `type` (extended or rounded).
Value convertFloat(ImplicitLocOpBuilder &b, Value v, Type type) {
  unsigned from = v.getType().getIntOrFloatBitWidth();
  unsigned to = type.getIntOrFloatBitWidth();
  if (v.getType() == type)
    return v;
  if (from < to)
    return arith::ExtFOp::create(b, type, v);
  return arith::TruncFOp::create(b, type, v);
}

/// The warp's contribution to rows [m0, m0 + kDecodeRowsPerPass) of group g,
/// columns [n0, n0 + kDecodeSlabN): kMmaTilesM x kMmaTilesN accumulators.
///
/// Invariants (lane = 4 * quad + pair, k0 a multiple of kWarpK):
/// - Weights: each iteration covers K rows [k0, k0 + kWarpK); the lane loads
///   rows k0 + 16 * pair + j, j < 4 * kSteps, columns n0 + 8 * quad + [0, 8).
///   Over pair and j that is every row of the iteration once.
/// - mma k slots: in step u, slots {2 pair, 2 pair + 1} are K rows
///   k0 + 16 pair + 4u + {0, 1} and slots {2 pair + 8, 2 pair + 9} rows
///   + {2, 3}. The slot -> K map depends only on (pair, u), which the A and
///   B operands of a lane pair share, so it is a bijection on the 16 slots
///   of each step and the sum over slots is the sum over K.
/// - mma columns: in n tile t, position p (the B operand's groupID = quad)
///   is output column n0 + 8 p + t, element t of lane quad p's chunk.
/// - mma rows: A rows quad and quad + 8 of m tile i are rows
///   m0 + 16 i + {quad, quad + 8}; rows past `end` load zeros.
SmallVector<Value> streamSlab(ImplicitLocOpBuilder &b, DecodeState &s, Value g,
                              Value m0, Value end, Value n0) {
  MLIRContext *ctx = b.getContext();
  Emitter m{b};
  int64_t K = s.sig.k;
  bool extents = !s.sig.extents.empty();
  Type elt = s.sig.elementType;
  auto vecType = VectorType::get({kVec}, elt);
  // The weight columns of this lane's chunk: n0 + 8 quad, or with gate/up
  // quads the gate columns n0 + 8 quad of the first four and the up columns
  // of the same outputs in the others (columns I + .. of a concatenated
  // weight, or of the up weight). Rows past K exist only when K is not a
  // multiple of the iteration depth, columns past the width only when it is
  // not one of the block's: mask then only.
  Value rhs = s.rhs, col, colOffset;
  int64_t width = s.sig.n;
  if (gateUpQuads(s.sig)) {
    width = s.sig.resultColumns();
    Value isUp = m.uge(s.quad, m.c(4));
    col = m.add(n0, m.mul(m.rem(s.quad, 4), m.c(kVec)));
    if (s.sig.splitWeights) {
      rhs = arith::SelectOp::create(b, isUp, s.rhsUp, s.rhs);
      colOffset = m.c(0);
    } else {
      colOffset = m.select(isUp, m.c(width), m.c(0));
    }
  } else {
    col = m.add(n0, m.mul(s.quad, m.c(kVec)));
  }
  // With group_extents a group's rows past its K_g and columns past its N_g
  // (weight columns: the up half's included) load as zeros.
  bool maskK = K % kWarpK != 0;
  for (size_t e = 0; e < s.sig.extents.size(); e += 2)
    maskK |= s.sig.extents[e] % kWarpK != 0;
  Value kLimit = s.groupK;
  bool maskN = width % (gateUpQuads(s.sig) ? kDecodeSlabN / 2 : kDecodeSlabN);
  Value colValid = maskN ? m.ult(col, m.c(width)) : Value();
  Value colAddr = maskN ? m.select(colValid, col, m.c(width - kVec)) : col;
  if (colOffset)
    colAddr = m.add(colAddr, colOffset);
  if (extents) {
    Value inside = m.ult(colAddr, s.groupN);
    colValid = colValid ? m.both(colValid, inside) : inside;
    colAddr = m.select(colValid, colAddr, m.c(0));
  }
  LaneRows aRows = laneRows(b, s, m0, end);
  ArrayRef<Value> aRow = aRows.rows, aRowValid = aRows.valid;

  auto accType = LLVM::LLVMStructType::getLiteral(
      ctx, SmallVector<Type>(4, b.getF32Type()));
  Value zeroAcc = LLVM::ZeroOp::create(b, accType);
  SmallVector<Value> init(kMmaTilesM * kMmaTilesN, zeroAcc);
  Value kStart = m.mul(s.warp, m.c(kWarpK));
  // A block whose columns all lie past its group's N_g streams nothing.
  Value kEnd = kLimit;
  if (extents && !(gateUpQuads(s.sig) && !s.sig.splitWeights))
    kEnd = m.select(m.ult(n0, s.groupN), kLimit, m.c(0));
  auto loop = scf::ForOp::create(
      b, kStart, kEnd, m.c(s.warps * kWarpK), init,
      [&](OpBuilder &nb, Location loc, Value k0, ValueRange iter) {
        ImplicitLocOpBuilder ib(loc, nb);
        Emitter im{ib};
        Value kLane = im.add(k0, im.mul(s.pair, im.c(16)));
        // All loads of the iteration first: 4 * kSteps weight rows and the
        // A rows, so that they are in flight together.
        SmallVector<Value, 4 * kSteps> w;
        for (int64_t j = 0; j < 4 * kSteps; ++j) {
          Value k = im.add(kLane, im.c(j));
          Value valid = colValid;
          if (maskK) {
            Value kValid = im.ult(k, kLimit);
            valid = valid ? im.both(valid, kValid) : kValid;
            k = im.select(kValid, k, im.sub(kLimit, im.c(1)));
          }
          w.push_back(loadVec(ib, vecType, rhs, {g, k, colAddr}, valid));
        }
        // a[i][h][half]: lhs row (m tile i, row quad + 8 h), K elements
        // kLane + 8 half + [0, 8). K is a multiple of 8, so a chunk is
        // either all inside K or all outside.
        SmallVector<Value, 4 * kMmaTilesM> a;
        for (int64_t r = 0; r < 2 * kMmaTilesM; ++r) {
          for (int64_t half = 0; half < 2; ++half) {
            Value k = im.add(kLane, im.c(8 * half));
            Value valid = aRowValid[r];
            if (maskK) {
              Value kValid = im.ult(k, kLimit);
              valid = im.both(valid, kValid);
              k = im.select(kValid, k, im.sub(kLimit, im.c(kVec)));
            }
            a.push_back(loadVec(ib, vecType, s.lhs, {aRow[r], k}, valid));
          }
        }
        SmallVector<Value> acc(iter.begin(), iter.end());
        auto slice = [&](Value v, int64_t first) {
          return mmaSlice(ib, v, first);
        };
        for (int64_t u = 0; u < kSteps; ++u) {
          // B of n tile t: element t of weight rows 4u + {0, 1} (slots
          // 2 pair + {0, 1}) and 4u + {2, 3} (slots 2 pair + 8 + {0, 1}).
          SmallVector<std::array<Value, 2>, kMmaTilesN> bOps;
          for (int64_t t = 0; t < kMmaTilesN; ++t) {
            auto pack = [&](int64_t row) -> Value {
              return mmaRegister(ib, vector::ShuffleOp::create(
                                         ib, w[4 * u + row], w[4 * u + row + 1],
                                         ArrayRef<int64_t>{t, kVec + t}));
            };
            bOps.push_back({pack(0), pack(2)});
          }
          int64_t half = (4 * u) / kVec, at = (4 * u) % kVec;
          for (int64_t i = 0; i < kMmaTilesM; ++i) {
            Value lo = a[(2 * i) * 2 + half], hi = a[(2 * i + 1) * 2 + half];
            // A registers: (row quad, slots 2 pair + {0,1}), (row quad + 8,
            // same), (row quad, slots + 8), (row quad + 8, slots + 8).
            Value aOps[] = {slice(lo, at), slice(hi, at), slice(lo, at + 2),
                            slice(hi, at + 2)};
            for (int64_t t = 0; t < kMmaTilesN; ++t)
              mmaAccumulate(ib, acc[i * kMmaTilesN + t], aOps, bOps[t], elt);
          }
        }
        scf::YieldOp::create(ib, acc);
      });
  return SmallVector<Value>(loop.getResults());
}

void storeSums(ImplicitLocOpBuilder &b, DecodeState &s, Value j, int64_t i,
               Value g, Value m0, Value end, Value n0);

/// Sums m tile `i` of the warps' accumulators through shared memory and
/// writes rows [m0 + 16 i, +16) ∩ [.., end) of the slab, plus the bias.
///
/// Warp w < kWarps, lane l store their kMmaTilesN x 4 accumulators at
/// red[w][l]; the warps of a wider block add theirs to red[w % kWarps][l],
/// kWarps warps a turn. Thread t < kDecodeThreads then owns, for each
/// rep < kEpilogueReps, j = t + rep * kDecodeThreads: lane L = j / 8's n
/// tile T = j % 8 over all warps: accumulator registers {0, 1} are row
/// quad(L), positions 2 (L % 4) + {0, 1}, registers {2, 3} the row 8 below;
/// position p of tile T is column n0 + 8 p + T (see streamSlab). 32 x 8
/// pairs x 4 = the 16 x 64 tile.
void reduceAndStore(ImplicitLocOpBuilder &b, DecodeState &s,
                    ArrayRef<Value> acc, int64_t i, Value m0, Value end) {
  Emitter m{b};
  Type f32 = b.getF32Type();
  auto quadType = VectorType::get({4}, f32);
  // The thread's id, group and first column come back from shared memory:
  // the epilogue's address math then stays here instead of being hoisted out
  // of the passes' loop, into registers live across the K loop.
  auto slot = [&](Value at) {
    return memref::LoadOp::create(b, s.scalars, ValueRange{at}).getResult();
  };
  auto storeAccumulators = [&](Value warp, Value lane, bool add) {
    Value redSlot = m.rem(warp, kWarps);
    for (int64_t t = 0; t < kMmaTilesN; ++t) {
      SmallVector<Value, 4> regs;
      for (int64_t r = 0; r < 4; ++r)
        regs.push_back(
            LLVM::ExtractValueOp::create(b, acc[i * kMmaTilesN + t], r));
      Value v = vector::FromElementsOp::create(b, quadType, regs);
      SmallVector<Value, 3> at = {redSlot, lane, m.c(4 * t)};
      if (add)
        v = arith::AddFOp::create(b, v,
                                  vector::LoadOp::create(b, quadType, s.red, at,
                                                         /*nontemporal=*/false,
                                                         llvm::Align(16)));
      vector::StoreOp::create(b, v, s.red, at,
                              /*nontemporal=*/false, llvm::Align(16));
    }
  };
  Value tid;
  if (s.warps == kWarps) {
    // From the registers' warp and lane: taken from the shared thread id
    // here too, the packed q4/q2 forms with 16-value scale blocks spilled
    // 32-56 bytes (ptxas 13.0, sm_90a).
    storeAccumulators(s.warp, s.lane, /*add=*/false);
    gpu::BarrierOp::create(b);
    tid = slot(m.add(s.tid, m.c(kThreadSlots)));
  } else {
    // kWarps warps a turn, the first storing, the others adding. Their
    // warp and lane come from the shared thread id: derived from the thread
    // id register, LLVM hoisted the turns' tests out of the passes' loop
    // (178 registers instead of 168 for a 16-bit form with 12 warps).
    tid = slot(m.add(s.tid, m.c(kThreadSlots)));
    Value warp = m.div(tid, 32), lane = m.rem(tid, 32);
    Value turn = m.div(warp, kWarps);
    for (int64_t at = 0; at < s.warps / kWarps; ++at) {
      m.ifThen(m.eq(turn, m.c(at)),
               [&] { storeAccumulators(warp, lane, /*add=*/at > 0); });
      gpu::BarrierOp::create(b);
    }
  }
  Value g = slot(m.c(kGroupSlot));
  Value n0 = slot(m.c(kFirstColumnSlot));
  // A gated epilogue reads two accumulators per output: half the jobs.
  int64_t reps = s.sig.isGated() ? kEpilogueReps / 2 : kEpilogueReps;
  auto storeAll = [&] {
    for (int64_t rep = 0; rep < reps; ++rep)
      storeSums(b, s, m.add(tid, m.c(rep * kDecodeThreads)), i, g, m0, end, n0);
  };
  if (s.warps == kWarps)
    storeAll();
  else
    m.ifThen(m.ult(tid, m.c(kDecodeThreads)), storeAll);
  // The next m tile's (or pass's) stores overwrite what was just read.
  gpu::BarrierOp::create(b);
}

/// Job j of reduceAndStore: lane L's n tile T summed over the warps, plus
/// the bias, then the activation, stored where inside the group and the
/// result. Plain: L = j / 8, T = j % 8, register r is column n0 + 8 p + T
/// with p = 2 (L % 4) + r % 2. Gated jobs pair two sums: interleaved, tiles
/// T and T + 1 (T even: slab columns 8 p + T, + 1 are gate and up of output
/// (n0 + 8 p + T) / 2); with gate/up quads, lanes L and L + 2 (L % 4 < 2:
/// positions p and p + 4 are gate and up of output n0 + 8 p + T).
void storeSums(ImplicitLocOpBuilder &b, DecodeState &s, Value j, int64_t i,
               Value g, Value m0, Value end, Value n0) {
  Emitter m{b};
  const GroupedMatmulSignature &sig = s.sig;
  Type f32 = b.getF32Type();
  auto quadType = VectorType::get({4}, f32);
  auto sumOf = [&](Value lane, Value tile) -> Value {
    Value sum;
    for (int64_t w = 0; w < kWarps; ++w) {
      Value v = vector::LoadOp::create(b, quadType, s.red,
                                       {m.c(w), lane, m.mul(tile, m.c(4))},
                                       /*nontemporal=*/false, llvm::Align(16));
      sum = sum ? Value(arith::AddFOp::create(b, sum, v)) : v;
    }
    return sum;
  };
  Value lane, tile, partnerLane, partnerTile;
  if (!sig.isGated()) {
    lane = m.div(j, kMmaTilesN);
    tile = m.rem(j, kMmaTilesN);
  } else if (gateUpQuads(sig)) {
    // j < 128: lanes with L % 4 < 2, all tiles.
    Value gateLane = m.div(j, kMmaTilesN); // 0..15
    lane = m.add(m.mul(m.div(gateLane, 2), m.c(4)), m.rem(gateLane, 2));
    tile = m.rem(j, kMmaTilesN);
    partnerLane = m.add(lane, m.c(2));
    partnerTile = tile;
  } else {
    // j < 128: all lanes, even tiles.
    lane = m.div(j, kMmaTilesN / 2);
    tile = m.mul(m.rem(j, kMmaTilesN / 2), m.c(2));
    partnerLane = lane;
    partnerTile = m.add(tile, m.c(1));
  }
  Value sum = sumOf(lane, tile);
  Value partner = partnerLane ? sumOf(partnerLane, partnerTile) : Value();
  Value rowLo = m.add(m0, m.add(m.c(16 * i), m.div(lane, 4)));
  Value pos = m.mul(m.rem(lane, 4), m.c(2));
  int64_t columns = sig.resultColumns();
  for (int64_t r = 0; r < 4; ++r) {
    Value row = r < 2 ? rowLo : m.add(rowLo, m.c(8));
    // Slab column of register r; the result column it gives.
    Value slabCol = m.add(m.mul(m.add(pos, m.c(r % 2)), m.c(8)), tile);
    Value col = m.add(n0, slabCol);
    // The bias columns of the value and its partner: the weight columns
    // (interleaved: gate and up side by side; else upBiasAt).
    Value biasCol = col, partnerBias = s.bias, partnerBiasCol;
    if (sig.isGated() && !gateUpQuads(sig)) {
      col = m.add(m.div(n0, 2), m.div(slabCol, 2));
      partnerBiasCol = m.add(biasCol, m.c(1));
    } else if (sig.isGated()) {
      std::tie(partnerBias, partnerBiasCol) =
          upBiasAt(b, sig, s.bias, s.upBias, col);
    }
    Value inside = m.ult(row, end);
    if (columns % outputsPerBlock(sig) != 0)
      inside = m.both(inside, m.ult(col, m.c(columns)));
    auto ifOp = scf::IfOp::create(b, inside, /*withElseRegion=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(ifOp.thenBlock());
    Value v = vector::ExtractOp::create(b, sum, ArrayRef<int64_t>{r});
    Value up =
        partner
            ? Value(vector::ExtractOp::create(b, partner, ArrayRef<int64_t>{r}))
            : Value();
    auto biasOf = [&](Value bias, Value at) {
      return convertFloat(b, memref::LoadOp::create(b, bias, ValueRange{g, at}),
                          f32);
    };
    // `value` plus the bias of weight column `at` of `bias`; past its N_g
    // a group's bias is not read either. N_g comes back from shared memory
    // (see kGroupNSlot).
    auto addBias = [&](Value value, Value bias, Value at) -> Value {
      Value biased = arith::AddFOp::create(b, value, biasOf(bias, at));
      if (sig.extents.empty())
        return biased;
      Value groupN =
          memref::LoadOp::create(b, s.scalars, ValueRange{m.c(kGroupNSlot)});
      return arith::SelectOp::create(b, m.ult(at, groupN), biased, value);
    };
    if (s.bias && partner) {
      v = addBias(v, s.bias, biasCol);
      up = addBias(up, partnerBias, partnerBiasCol);
    } else if (s.bias) {
      v = addBias(v, s.bias, col);
    }
    if (sig.activation) {
      SmallVector<Value, 2> values = {v};
      if (up)
        values.push_back(up);
      v = moe::emitActivation(b, b.getLoc(), *sig.activation, f32, values);
    }
    memref::StoreOp::create(b, convertFloat(b, v, sig.resultType), s.result,
                            ValueRange{row, col});
  }
}

/// Rows [first, end) of the tail, the block's result columns from `out0`:
/// zeros (act(0) with an activation, as on the CPU), one 8-column chunk per
/// thread.
void storeZeros(ImplicitLocOpBuilder &b, DecodeState &s, Value first, Value end,
                Value out0) {
  Emitter m{b};
  const GroupedMatmulSignature &sig = s.sig;
  int64_t chunks = outputsPerBlock(sig) / kVec, columns = sig.resultColumns();
  Value col = m.add(out0, m.mul(m.rem(s.tid, chunks), m.c(kVec)));
  Value row0 = m.add(first, m.div(s.tid, chunks));
  auto vecType = VectorType::get({kVec}, sig.resultType);
  Value fill;
  {
    Value zero = arith::ConstantOp::create(b, b.getF32FloatAttr(0));
    Value v = zero;
    if (sig.activation)
      v = moe::emitActivation(b, b.getLoc(), *sig.activation, b.getF32Type(),
                              sig.isGated() ? SmallVector<Value>{zero, zero}
                                            : SmallVector<Value>{zero});
    fill = vector::BroadcastOp::create(b, vecType,
                                       convertFloat(b, v, sig.resultType));
  }
  scf::ForOp::create(
      b, row0, end, m.c(32 * s.warps / chunks), ValueRange(),
      [&](OpBuilder &nb, Location loc, Value row, ValueRange) {
        ImplicitLocOpBuilder ib(loc, nb);
        Emitter im{ib};
        auto store = [&](OpBuilder &sb, Location sl) {
          vector::StoreOp::create(sb, sl, fill, s.result, ValueRange{row, col},
                                  /*nontemporal=*/false, llvm::Align(16));
        };
        if (columns % outputsPerBlock(sig) != 0) {
          auto ifOp = scf::IfOp::create(ib, im.ult(col, im.c(columns)),
                                        /*withElseRegion=*/false);
          OpBuilder tb = OpBuilder::atBlockBegin(ifOp.thenBlock());
          store(tb, loc);
        } else {
          store(ib, loc);
        }
        scf::YieldOp::create(ib);
      });
}

gpu::GPUFuncOp buildKernel(gpu::GPUModuleOp gpuModule, StringRef name,
                           const GroupedMatmulSignature &sig, int64_t warps) {
  MLIRContext *ctx = gpuModule.getContext();
  ImplicitLocOpBuilder b(gpuModule.getLoc(), ctx);
  b.setInsertionPointToEnd(gpuModule.getBody());
  Emitter m{b};
  SmallVector<Type> argTypes = groupedMatmulArgumentTypes(sig);
  auto workgroup =
      gpu::AddressSpaceAttr::get(ctx, gpu::AddressSpace::Workgroup);
  Type redType = MemRefType::get({kWarps, 32, kRedPitch}, b.getF32Type(),
                                 MemRefLayoutAttrInterface(), workgroup);
  Type scalarsType =
      MemRefType::get({kThreadSlots + 32 * warps}, b.getIndexType(),
                      MemRefLayoutAttrInterface(), workgroup);
  SmallVector<Type, 2> workgroupTypes = {redType, scalarsType};
  auto func = gpu::GPUFuncOp::create(b, name, b.getFunctionType(argTypes, {}),
                                     workgroupTypes, TypeRange());
  alignWorkgroupAttributions(func);
  func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
  func.setKnownBlockSizeAttr(
      b.getDenseI32ArrayAttr({static_cast<int32_t>(32 * warps), 1, 1}));
  int64_t perBlock = outputsPerBlock(sig);
  // Packed or transposed weights' last dim is not N: say the column tiles
  // too.
  if (perBlock != kDecodeSlabN || sig.columnMajorWeights())
    func->setAttr(
        kColumnTilesAttr,
        b.getI64IntegerAttr((sig.resultColumns() + perBlock - 1) / perBlock));
  b.setInsertionPointToStart(&func.getBody().front());

  // Arguments in the order of groupedMatmulArgumentTypes.
  unsigned next = 0;
  auto arg = [&](bool present) {
    return present ? func.getArgument(next++) : Value();
  };
  bool quantized = bool(sig.quantized);
  bool zeroPoints = quantized && sig.quantized->zeroPoints;
  DecodeState s{sig};
  s.warps = warps;
  s.lhs = arg(true);
  s.rhs = arg(true);
  s.scales = arg(quantized);
  s.zeroPoints = arg(zeroPoints);
  s.rhsUp = arg(sig.splitWeights);
  s.upScales = arg(sig.splitWeights && quantized);
  s.upZeroPoints = arg(sig.splitWeights && zeroPoints);
  s.offsets = arg(true);
  s.result = arg(true);
  s.bias = arg(bool(sig.biasType));
  s.upBias = arg(sig.hasUpBias());
  s.red = func.getWorkgroupAttributions()[0];
  s.scalars = func.getWorkgroupAttributions()[1];
  s.tid = gpu::ThreadIdOp::create(b, gpu::Dimension::x);
  s.lane = m.rem(s.tid, 32);
  s.warp = m.div(s.tid, 32);
  s.quad = m.div(s.lane, 4);
  s.pair = m.rem(s.lane, 4);
  s.rows = memref::DimOp::create(b, s.lhs, 0);
  Value group = findGroup(b, s);

  // Blocks past the last non-empty range (rows > E + 1 ranges, or offsets
  // that leave ranges empty) exit without reading any weight.
  auto hasGroup = scf::IfOp::create(b, m.ult(group, m.c(sig.groups + 1)),
                                    /*withElseRegion=*/false);
  b.setInsertionPointToStart(hasGroup.thenBlock());
  // n0: the block's first weight column (interleaved gated: 2 outputs per
  // column pair) or, with gate/up quads, its first output; out0: its first
  // result column.
  Value blockX = gpu::BlockIdOp::create(b, gpu::Dimension::x);
  Value out0 = m.mul(blockX, m.c(perBlock));
  Value n0 = gateUpQuads(sig) ? out0 : m.mul(blockX, m.c(kDecodeSlabN));
  // Not a structured binding: lambdas capture these (C++17).
  Value first, end;
  std::tie(first, end) = rangeOf(b, s, group);
  auto isGroup = scf::IfOp::create(b, m.ult(group, m.c(sig.groups)),
                                   /*withElseRegion=*/true);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(isGroup.elseBlock());
    // The tail once, by the z = 0 blocks.
    m.ifThen(m.eq(gpu::BlockIdOp::create(b, gpu::Dimension::z), m.c(0)),
             [&] { storeZeros(b, s, first, end, out0); });
    b.setInsertionPointToStart(isGroup.thenBlock());
    std::tie(s.groupK, s.groupN) = groupExtents(b, gpuModule, sig, group);
    // Passes of kDecodeRowsPerPass rows, dealt round-robin to the grid's z
    // blocks; each streams the slab once (a group with more rows than that
    // reads its weights again, from L2 if they are still there: the
    // selection keeps that rare).
    Value z = gpu::BlockIdOp::create(b, gpu::Dimension::z);
    m.ifThen(m.eq(s.tid, m.c(0)), [&] {
      Value zBlocks = gpu::GridDimOp::create(b, gpu::Dimension::z);
      memref::StoreOp::create(b, m.mul(zBlocks, m.c(kDecodeRowsPerPass)),
                              s.scalars, ValueRange{m.c(kPassStrideSlot)});
      if (!sig.extents.empty())
        memref::StoreOp::create(b, s.groupN, s.scalars,
                                ValueRange{m.c(kGroupNSlot)});
      memref::StoreOp::create(b, group, s.scalars, ValueRange{m.c(kGroupSlot)});
      memref::StoreOp::create(b, n0, s.scalars,
                              ValueRange{m.c(kFirstColumnSlot)});
    });
    memref::StoreOp::create(b, s.tid, s.scalars,
                            ValueRange{m.add(s.tid, m.c(kThreadSlots))});
    Value firstPass = m.add(first, m.mul(z, m.c(kDecodeRowsPerPass)));
    scf::WhileOp::create(
        b, TypeRange{b.getIndexType()}, ValueRange{firstPass},
        [&](OpBuilder &nb, Location loc, ValueRange at) {
          ImplicitLocOpBuilder ib(loc, nb);
          scf::ConditionOp::create(ib, Emitter{ib}.ult(at[0], end), at);
        },
        [&](OpBuilder &nb, Location loc, ValueRange at) {
          ImplicitLocOpBuilder ib(loc, nb);
          Emitter im{ib};
          Value m0 = at[0];
          SmallVector<Value> acc =
              sig.columnMajorWeights()
                  ? streamSlabAlongK(ib, s, group, m0, end, n0)
                  : streamSlab(ib, s, group, m0, end, n0);
          for (int64_t i = 0; i < kMmaTilesM; ++i)
            reduceAndStore(ib, s, acc, i, m0, end);
          // Read after reduceAndStore's barriers.
          Value stride = memref::LoadOp::create(
              ib, s.scalars, ValueRange{im.c(kPassStrideSlot)});
          scf::YieldOp::create(ib, ValueRange{im.add(m0, stride)});
        });
  }
  b.setInsertionPointToEnd(&func.getBody().front());
  gpu::ReturnOp::create(b);
  if (sig.activation)
    expandKernelMath(func);
  return func;
}

} // namespace

LaneRows moe::detail::decode::laneRows(ImplicitLocOpBuilder &b, DecodeState &s,
                                       Value m0, Value end) {
  Emitter m{b};
  LaneRows lane;
  for (int64_t i = 0; i < kMmaTilesM; ++i) {
    for (int64_t h = 0; h < 2; ++h) {
      Value row = m.add(m0, m.add(m.c(16 * i + 8 * h), s.quad));
      Value valid = m.ult(row, end);
      lane.valid.push_back(valid);
      // m0 < end, so m0 is a row of the group: a valid address.
      lane.rows.push_back(m.select(valid, row, m0));
    }
  }
  return lane;
}

Value moe::detail::decode::loadVec(ImplicitLocOpBuilder &b, VectorType type,
                                   Value memref, ValueRange indices,
                                   Value valid) {
  Value v = vector::LoadOp::create(b, type, memref, indices,
                                   /*nontemporal=*/false, llvm::Align(16));
  if (!valid)
    return v;
  Value zero = arith::ConstantOp::create(b, type, b.getZeroAttr(type));
  return arith::SelectOp::create(b, valid, v, zero);
}

Value moe::detail::decode::mmaRegister(ImplicitLocOpBuilder &b, Value pair) {
  if (!cast<VectorType>(pair.getType()).getElementType().isBF16())
    return pair;
  Value word =
      vector::BitCastOp::create(b, VectorType::get({1}, b.getI32Type()), pair);
  return vector::ExtractOp::create(b, word, ArrayRef<int64_t>{0});
}

Value moe::detail::decode::mmaSlice(ImplicitLocOpBuilder &b, Value v,
                                    int64_t first) {
  return mmaRegister(b, vector::ShuffleOp::create(
                            b, v, v, ArrayRef<int64_t>{first, first + 1}));
}

void moe::detail::decode::mmaAccumulate(ImplicitLocOpBuilder &b, Value &acc,
                                        ArrayRef<Value> a, ArrayRef<Value> bOps,
                                        Type elementType) {
  NVVM::MMATypes ptxType =
      elementType.isBF16() ? NVVM::MMATypes::bf16 : NVVM::MMATypes::f16;
  SmallVector<Value, 4> cOps;
  for (int64_t r = 0; r < 4; ++r)
    cOps.push_back(LLVM::ExtractValueOp::create(b, acc, r));
  acc = NVVM::MmaOp::create(b, acc.getType(), a, bOps, cOps,
                            ArrayRef<int64_t>{16, 8, 16}, std::nullopt,
                            std::nullopt,
                            std::array<NVVM::MMATypes, 2>{ptxType, ptxType},
                            std::array<NVVM::MMALayout, 2>{
                                NVVM::MMALayout::row, NVVM::MMALayout::col});
}

gpu::GPUFuncOp moe::detail::getOrBuildDecodeGroupedMatmulKernel(
    gpu::GPUModuleOp gpuModule, const GroupedMatmulSignature &sig,
    int64_t blocksPerSM) {
  std::string name = kernelName(sig);
  if (auto existing = gpuModule.lookupSymbol<gpu::GPUFuncOp>(name))
    return existing;
  // Packed weights whose scales change within a lane's chunk expand them
  // step by step at 252-254 registers already (ptxas 13.0, sm_90a); their
  // wide form spills 32-56 bytes, so they have none.
  bool wide = !(
      sig.quantized && sig.quantized->blockSize &&
      sig.quantized->blockSize <
          GroupedMatmulSignature::quantizedValuesPerLoad(sig.quantized->bits));
  gpu::GPUFuncOp kernel = buildKernel(gpuModule, name, sig, kWarps);
  if (blocksPerSM > 0)
    kernel->setAttr(NVVM::NVVMDialect::getMinctasmAttrName(),
                    Builder(kernel).getI32IntegerAttr(blocksPerSM));
  if (wide) {
    std::string wideName = name + "_w" + std::to_string(kDecodeWideWarps);
    gpu::GPUFuncOp wideKernel =
        buildKernel(gpuModule, wideName, sig, kDecodeWideWarps);
    // It runs alone on its SM: ptxas may take the registers that leaves
    // (65536 / 256 = 255 a thread). Told so, it issues all 24 of a lane's
    // loads before the first mma (200 registers for the 16-bit forms on
    // sm_90a) instead of 12 (166).
    wideKernel->setAttr(NVVM::NVVMDialect::getMinctasmAttrName(),
                        Builder(wideKernel).getI32IntegerAttr(1));
    kernel->setAttr(kWideFormAttr,
                    FlatSymbolRefAttr::get(gpuModule.getContext(), wideName));
  }
  return kernel;
}
