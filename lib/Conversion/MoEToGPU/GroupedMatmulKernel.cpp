//===- GroupedMatmulKernel.cpp - sm_80 tensor-core grouped matmul ---------===//
//
// One kernel multiplies the row groups of every expert: block (x, y) owns
// the x-th column tile and the y-th row tile counted over all groups in
// order; the tiles are 64 x 64 (4 warps, a 2-stage cp.async ring) or
// 128 x 128 (8 warps, a 4-stage ring in dynamic shared memory: MmaTile). The
// grid is sized on the host from the row count alone (an upper bound on the
// tiles), and each block finds its group by walking the offsets on the device,
// so no group size ever travels to the host.
//
// Weights stored [E, N, K] (transpose_rhs) are copied into an n-major
// shared B (a column's K values contiguous, as the rows have them) that
// the non-transposing ldmatrix reads. Quantized weights (QMoE's packed
// [E, N, K * bits / 8] rows) take the same n-major stage but do not fit
// cp.async: each thread loads its part of the B tile's packed bits into
// registers one k step ahead, and after the step's mma expands them
// (QuantizedWeights.h) into the other stage.
//
// Built op by op rather than parsed from text: the warp-level part (fragment
// loads, eight mma per k step, the epilogue) is unrolled over compile-time
// tile indices, so that accumulators stay in registers (a run-time index into
// them would put them in local memory).
//
//===----------------------------------------------------------------------===//

#include "Emitter.h"
#include "Kernels.h"
#include "QuantizedWeights.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/IR/SymbolTable.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace moe::detail;

namespace {

/// Shared-memory rows are padded by 8 elements (16 bytes) so that the eight
/// 16-byte rows one ldmatrix phase reads fall in different banks.
constexpr int64_t kPad = 8;
/// Elements per cp.async: 16 bytes of a 16-bit type.
constexpr int64_t kVec = 8;
/// A warp's tile is 32 columns wide (4 mma tiles of 16 x 8) in both forms.
constexpr int64_t kWarpN = 32;
constexpr int64_t kMmaTilesN = kWarpN / 8;

/// A block's output tile and the pipeline that feeds it.
struct MmaTile {
  int64_t rows, columns, threads;
  /// Shared-memory stages of the copy/compute ring: stages - 1 k steps'
  /// copies are in flight while the tensor cores work on one.
  int64_t stages;
  constexpr int64_t warpsN() const { return columns / kWarpN; }
  constexpr int64_t warpsM() const { return threads / 32 / warpsN(); }
  constexpr int64_t warpRows() const { return rows / warpsM(); }
  constexpr int64_t mmaTilesM() const { return warpRows() / 16; }
};
/// 4 warps of 32 x 32, two stages (19 KB of static shared memory): for
/// weights narrower than the large tile, and the `mma-tile=64x64` form.
constexpr MmaTile kSmallTile{kTileM, kTileN, kThreads, 2};
/// 8 warps of 64 x 32 and four stages (74-80 KB of dynamic shared memory):
/// each weight tile feeds twice the rows, each ldmatrix 4/3 the mma of the
/// small tile's, and three k steps of copies are in flight.
constexpr MmaTile kLargeTile{128, 128, 256, 4};
static_assert(kLargeTile.mmaTilesM() == 4 && kSmallTile.mmaTilesM() == 2);

std::string kernelName(const GroupedMatmulSignature &sig) {
  std::string name;
  llvm::raw_string_ostream os(name);
  os << "grouped_matmul_" << sig.elementType << "_" << sig.resultType << "_"
     << sig.offsetType << "_e" << sig.groups << "_k" << sig.k << "_n" << sig.n;
  if (sig.biasType)
    os << "_bias_" << sig.biasType;
  if (sig.activation)
    os << "_" << sig.activation->mangle();
  os << combineSuffix(sig) << groupExtentsSuffix(sig)
     << quantized::kernelSuffix(sig);
  return name;
}

/// Gate and up columns come from two places (two weights, or the two halves
/// of one) and are loaded into alternate 8-column slices of the B tile.
bool pairsSlices(const GroupedMatmulSignature &sig) {
  return sig.isGated() &&
         *sig.activation->gateLayout != moe::GateLayout::Interleaved;
}

/// The kernel's values shared by its parts.
struct KernelState {
  KernelState(const GroupedMatmulSignature &sig, const MmaTile &tile)
      : sig(sig), tile(tile) {}
  const GroupedMatmulSignature &sig;
  const MmaTile &tile;
  Value lhs, rhs, rhsUp, offsets, result, bias, upBias, rowSlots,
      combineWeights;
  /// Quantized weights: rhs (rhsUp) is the packed bytes, then these.
  Value scales, zeroPoints, upScales, upZeroPoints;
  Value smemA, smemB;
  Value tid, lane, warpM, warpN;
  /// The block's group's K and N (group_extents, else the signature's).
  Value groupK, groupN;
};

/// The group and row range of this block's row tile: walks the E groups and
/// the tail (rows past offsets[E], group E, which only writes zeros) counting
/// row tiles until it reaches blockIdx.y. Returns {group, first row, end
/// row}; group is E + 1 when the block has no tile.
std::array<Value, 3> findRowTile(ImplicitLocOpBuilder &b, KernelState &s,
                                 Value rows) {
  Emitter m{b};
  int64_t numGroups = s.sig.groups;
  Value tileY = gpu::BlockIdOp::create(b, gpu::Dimension::y);
  Value zero = m.c(0);
  auto loadOffset = [&](OpBuilder &nb, Location loc, Value e) -> Value {
    Value v = memref::LoadOp::create(nb, loc, s.offsets, ValueRange{e});
    return arith::IndexCastOp::create(nb, loc, nb.getIndexType(), v);
  };
  auto loop = scf::ForOp::create(
      b, zero, m.c(numGroups + 1), m.c(1),
      ValueRange{zero, m.c(numGroups + 1), zero, zero},
      [&](OpBuilder &nb, Location loc, Value e, ValueRange iter) {
        ImplicitLocOpBuilder ib(loc, nb);
        Emitter im{ib};
        Value start = loadOffset(ib, loc, e);
        Value next =
            loadOffset(ib, loc, im.min(im.add(e, im.c(1)), im.c(numGroups)));
        // Clamped to the rows: offsets past the row count (a bad input)
        // must not take a tile past the buffers.
        Value end =
            im.min(im.select(im.ult(e, im.c(numGroups)), next, rows), rows);
        // max(end - start, 0) without a signed compare: nor make a negative
        // tile count.
        Value count =
            im.select(im.ult(start, end), im.sub(end, start), im.c(0));
        int64_t tileRows = s.tile.rows;
        Value tiles = im.div(im.add(count, im.c(tileRows - 1)), tileRows);
        Value base = iter[0];
        Value nextBase = im.add(base, tiles);
        Value hit = im.both(im.uge(tileY, base), im.ult(tileY, nextBase));
        Value first =
            im.add(start, im.mul(im.sub(tileY, base), im.c(tileRows)));
        scf::YieldOp::create(ib,
                             ValueRange{nextBase, im.select(hit, e, iter[1]),
                                        im.select(hit, first, iter[2]),
                                        im.select(hit, end, iter[3])});
      });
  return {loop.getResult(1), loop.getResult(2), loop.getResult(3)};
}

/// Where row j (an index) of an n-major B tile comes from (weights read
/// along K): the block's weight column n0 + j, or with gate and up in slice
/// pairs the gate (slice j / 8 even) or up (odd) column of output n0 +
/// 8 (j / 16) + j % 8 (the k-major path's pairs), the up one N / 2 further
/// or in the up weight (`isUp` then says which). `column` is clamped to 0
/// past the weight, where `inside` is false; no one stores its products.
struct NMajorColumn {
  Value column, inside, isUp;
};
NMajorColumn nMajorColumn(ImplicitLocOpBuilder &b, const KernelState &s,
                          Value n0, Value j) {
  Emitter m{b};
  const GroupedMatmulSignature &sig = s.sig;
  NMajorColumn c;
  Value col = m.add(n0, j);
  if (pairsSlices(sig)) {
    int64_t width = sig.resultColumns();
    Value slice = m.div(j, 8);
    Value output =
        m.add(m.add(n0, m.mul(m.div(slice, 2), m.c(8))), m.rem(j, 8));
    c.inside = m.ult(output, m.c(width));
    Value odd = m.rem(slice, 2);
    if (sig.splitWeights) {
      col = output;
      c.isUp = m.eq(odd, m.c(1));
    } else {
      col = m.add(output, m.mul(odd, m.c(width)));
    }
  } else {
    c.inside = m.ult(col, m.c(sig.n));
  }
  c.column = m.select(c.inside, col, m.c(0));
  return c;
}

/// Issues this thread's cp.async copies of the A tile (rows [first, end) x
/// columns k0..) and, unless the weights are packed, the B tile (rhs[group]
/// rows k0.. x columns from n0; for [E, N, K] weights those columns' K
/// values k0..) into shared-memory stage `stage`, as one cp.async group.
/// Out-of-range chunks (k0 past K included) copy zero bytes (cp.async fills the
/// rest with zeros) from a clamped, valid address. Returns the group's token.
Value loadTiles(ImplicitLocOpBuilder &b, KernelState &s, Value stage,
                Value group, Value first, Value end, Value k0, Value n0) {
  Emitter m{b};
  int64_t N = s.sig.n;
  Value K = s.groupK;
  SmallVector<Value> tokens;
  auto copy = [&](Value dst, ValueRange dstIdx, Value src, ValueRange srcIdx,
                  Value valid) {
    Value elems = m.select(valid, m.c(kVec), m.c(0));
    tokens.push_back(nvgpu::DeviceAsyncCopyOp::create(
        b, nvgpu::DeviceAsyncTokenType::get(b.getContext()), dst, dstIdx, src,
        srcIdx, b.getIndexAttr(kVec), elems, b.getUnitAttr()));
  };
  const MmaTile &tile = s.tile;
  for (int64_t i = 0; i < tile.rows * kTileK / kVec / tile.threads; ++i) {
    Value chunk = m.add(s.tid, m.c(i * tile.threads));
    Value r = m.div(chunk, kTileK / kVec);
    Value c = m.mul(m.rem(chunk, kTileK / kVec), m.c(kVec));
    Value row = m.add(first, r), col = m.add(k0, c);
    Value valid = m.both(m.ult(row, end), m.ult(col, K));
    copy(s.smemA, {stage, r, c}, s.lhs,
         {m.select(valid, row, first), m.select(valid, col, m.c(0))}, valid);
  }
  if (s.sig.quantized) {
    // B goes through registers (loadPackedB, storePackedB).
    return nvgpu::DeviceAsyncCreateGroupOp::create(
        b, nvgpu::DeviceAsyncTokenType::get(b.getContext()), tokens);
  }
  if (s.sig.transposedRhs) {
    // [E, N, K] weights: B n-major as the rows are, chunk c of row j of the
    // tile is 8 K values of its column.
    for (int64_t i = 0; i < tile.columns * kTileK / kVec / tile.threads; ++i) {
      Value chunk = m.add(s.tid, m.c(i * tile.threads));
      Value j = m.div(chunk, kTileK / kVec);
      Value c = m.mul(m.rem(chunk, kTileK / kVec), m.c(kVec));
      NMajorColumn column = nMajorColumn(b, s, n0, j);
      Value source =
          column.isUp ? arith::SelectOp::create(b, column.isUp, s.rhsUp, s.rhs)
                            .getResult()
                      : s.rhs;
      Value col = m.add(k0, c);
      Value valid = m.both(column.inside, m.ult(col, K));
      copy(s.smemB, {stage, j, c}, source,
           {group, column.column, m.select(valid, col, m.c(0))}, valid);
    }
    return nvgpu::DeviceAsyncCreateGroupOp::create(
        b, nvgpu::DeviceAsyncTokenType::get(b.getContext()), tokens);
  }
  if (pairsSlices(s.sig)) {
    // With P = columns / 16 slice pairs, thread t copies k row t / P of
    // slice pair t % P: gate columns n0 + 8 * (t % P).. into B columns
    // 16 * (t % P).. (i = 0) and the up columns of the same outputs into the
    // 8 columns after them (i = 1), so that mma tiles 2j and 2j + 1 hold the
    // gate and up of the same outputs.
    bool split = s.sig.splitWeights;
    int64_t width = split ? N : N / 2;
    int64_t pairs = tile.columns / 16;
    assert(tile.threads / pairs == kTileK && "one k row per thread group");
    Value r = m.div(s.tid, pairs);
    Value pairCol = m.mul(m.rem(s.tid, pairs), m.c(kVec));
    Value row = m.add(k0, r), col = m.add(n0, pairCol);
    Value valid = m.both(m.ult(row, K), m.ult(col, m.c(width)));
    for (int64_t i = 0; i < 2; ++i) {
      Value source = split && i == 1 ? s.rhsUp : s.rhs;
      Value srcCol = split ? col : m.add(col, m.c(i * width));
      Value inside = valid;
      if (!s.sig.extents.empty())
        inside = m.both(inside, m.ult(srcCol, s.groupN));
      copy(s.smemB, {stage, r, m.add(m.mul(pairCol, m.c(2)), m.c(i * kVec))},
           source,
           {group, m.select(inside, row, m.c(0)),
            m.select(inside, srcCol, m.c(0))},
           inside);
    }
    return nvgpu::DeviceAsyncCreateGroupOp::create(
        b, nvgpu::DeviceAsyncTokenType::get(b.getContext()), tokens);
  }
  for (int64_t i = 0; i < kTileK * tile.columns / kVec / tile.threads; ++i) {
    Value chunk = m.add(s.tid, m.c(i * tile.threads));
    Value r = m.div(chunk, tile.columns / kVec);
    Value c = m.mul(m.rem(chunk, tile.columns / kVec), m.c(kVec));
    Value row = m.add(k0, r), col = m.add(n0, c);
    Value valid = m.both(m.ult(row, K), m.ult(col, s.groupN));
    copy(s.smemB, {stage, r, c}, s.rhs,
         {group, m.select(valid, row, m.c(0)), m.select(valid, col, m.c(0))},
         valid);
  }
  return nvgpu::DeviceAsyncCreateGroupOp::create(
      b, nvgpu::DeviceAsyncTokenType::get(b.getContext()), tokens);
}

/// K values of a quantized B tile's column that one thread expands: half of
/// a k step, so that two threads share each of the tile's kTileN columns.
constexpr int64_t kPackedValues = kTileK / 2;

/// The column of a quantized B tile that this thread fills (kPackedValues
/// K values of it, from kHalf), for the whole K loop.
struct PackedColumn : quantized::PackedColumn {
  /// Shared-memory column (n-major B row) and first K of the thread's half.
  Value smemColumn, kHalf;
};

/// Thread t fills shared column t / 2 (nMajorColumn), K values 16 (t % 2)..
/// of each step.
PackedColumn packedColumn(ImplicitLocOpBuilder &b, KernelState &s, Value group,
                          Value n0) {
  Emitter m{b};
  assert(s.tile.threads == 2 * s.tile.columns && "two threads a column");
  PackedColumn c;
  c.smemColumn = m.div(s.tid, 2);
  c.kHalf = m.mul(m.rem(s.tid, 2), m.c(kPackedValues));
  quantized::PackedWeight weight{s.rhs, s.scales, s.zeroPoints};
  NMajorColumn column = nMajorColumn(b, s, n0, c.smemColumn);
  if (column.isUp)
    weight = quantized::selectWeight(
        b, column.isUp, {s.rhsUp, s.upScales, s.upZeroPoints}, weight);
  static_cast<quantized::PackedColumn &>(c) =
      quantized::packedColumn(b, s.sig, weight, group, column.column);
  return c;
}

/// A thread's packed K values of one k step, loaded, not yet expanded.
struct PackedValues {
  Value words;
  /// False past K; null when K is a multiple of kTileK.
  Value kValid;
  SmallVector<quantized::Expansion, 4> expansions;
};

/// Loads this thread's packed values of the k step from k0 (and their block
/// scales), to be expanded by storePackedB once the step before is done.
PackedValues loadPackedB(ImplicitLocOpBuilder &b, KernelState &s,
                         const PackedColumn &c, Value group, Value k0) {
  Emitter m{b};
  const GroupedMatmulSignature::Quantized &q = *s.sig.quantized;
  int64_t K = s.sig.k;
  PackedValues v;
  // K is a multiple of kPackedValues (quantizedWeightsUnsupportedReason), so
  // a half is all inside K or all past it; past it the thread reads the
  // last half and stores zeros. With K a multiple of kTileK only the step
  // after the last is past K, and no one reads what it stores.
  Value k = m.add(k0, c.kHalf);
  Value inside = m.ult(k, m.c(K));
  if (K % kTileK)
    v.kValid = inside;
  k = m.select(inside, k, m.c(K - kPackedValues));
  v.words = quantized::loadPacked(b, q, c, k, kPackedValues);
  if (c.rowExpansion)
    return v;
  int64_t scaleSteps = quantized::stepsPerScale(q, kPackedValues);
  for (int64_t u = 0; u < kPackedValues / 4; u += scaleSteps) {
    Value block = m.div(u ? m.add(k, m.c(4 * u)) : k, q.blockSize);
    v.expansions.push_back(
        quantized::expansionAt(b, q, c.weight, group, c.column, block));
  }
  return v;
}

/// Expands `v` (rounded to the element type, as moe.dequantize rounds) into
/// the thread's part of shared stage `stage`, zeros past K.
void storePackedB(ImplicitLocOpBuilder &b, KernelState &s,
                  const PackedColumn &c, const PackedValues &v, Value stage) {
  Emitter m{b};
  const GroupedMatmulSignature::Quantized &q = *s.sig.quantized;
  Type f32 = b.getF32Type();
  int64_t scaleSteps = quantized::stepsPerScale(q, kPackedValues);
  SmallVector<Value, kPackedValues> values;
  for (int64_t i = 0; i < kPackedValues; ++i) {
    const quantized::Expansion &e =
        c.rowExpansion ? *c.rowExpansion : v.expansions[i / 4 / scaleSteps];
    Value x = quantized::expandValue(b, q, v.words, i * q.bits, e);
    values.push_back(v.kValid ? m.select(v.kValid, x, m.f32(0)) : x);
  }
  for (int64_t i = 0; i < kPackedValues; i += kVec) {
    Value chunk =
        vector::FromElementsOp::create(b, VectorType::get({kVec}, f32),
                                       ArrayRef<Value>(values).slice(i, kVec));
    chunk = arith::TruncFOp::create(
        b, VectorType::get({kVec}, s.sig.elementType), chunk);
    vector::StoreOp::create(
        b, chunk, s.smemB,
        ValueRange{stage, c.smemColumn, m.add(c.kHalf, m.c(i))});
  }
}

/// Waits until at most `pending` cp.async groups of this thread are in
/// flight. The lowering counts groups (cp.async.wait_group) and ignores which
/// group `token` names.
void waitTiles(ImplicitLocOpBuilder &b, Value token, int32_t pending) {
  nvgpu::DeviceAsyncWaitOp::create(b, token, b.getI32IntegerAttr(pending));
}

/// One mma operand register from two 16-bit elements: f16 goes as
/// vector<2xf16>, bf16 as an i32 (what nvvm.mma.sync takes for each).
Value mmaOperand(ImplicitLocOpBuilder &b, Value fragment, int64_t reg) {
  Value pair = vector::ExtractOp::create(b, fragment, ArrayRef<int64_t>{reg});
  auto pairType = cast<VectorType>(pair.getType());
  if (!pairType.getElementType().isBF16())
    return pair;
  Value word =
      vector::BitCastOp::create(b, VectorType::get({1}, b.getI32Type()), pair);
  return vector::ExtractOp::create(b, word, ArrayRef<int64_t>{0});
}

/// The warp's mma tiles (2 or 4 x 4) for one 16-deep slice kk of the shared
/// tiles.
void mmaStep(ImplicitLocOpBuilder &b, KernelState &s, Value stage, int64_t kk,
             SmallVectorImpl<Value> &acc) {
  Emitter m{b};
  Type elt = s.sig.elementType;
  auto fragType = VectorType::get({4, 2}, elt);
  // ldmatrix.x4: lanes 0-15 give the rows of the first 8 columns, lanes
  // 16-31 those of the next 8 (the four 8x8 matrices of a 16x16 tile).
  Value laneRow = m.rem(s.lane, 16);
  Value laneCol = m.mul(m.div(s.lane, 16), m.c(8));
  int64_t mmaTilesM = s.tile.mmaTilesM();
  SmallVector<Value, 4> a;
  for (int64_t mi = 0; mi < mmaTilesM; ++mi) {
    Value row = m.add(m.mul(s.warpM, m.c(s.tile.warpRows())), m.c(mi * 16));
    a.push_back(nvgpu::LdMatrixOp::create(
        b, fragType, s.smemA,
        ValueRange{stage, m.add(row, laneRow), m.add(m.c(kk), laneCol)},
        /*transpose=*/false, /*numTiles=*/4));
  }
  // B is stored k-major: the transposing ldmatrix gives each lane the
  // k-pairs the mma's column-major B operand wants, two n8 tiles per load
  // (matrices: k 0-7 and 8-15 of the first, then of the second). Stored
  // n-major (weights read along K), the plain ldmatrix gives them: lanes
  // 8q..8q+7 address columns 8 (q / 2).. at k 8 (q % 2).
  bool nMajor = s.sig.columnMajorWeights();
  Value matrix = m.div(s.lane, 8);
  Value nMajorRow = m.add(m.mul(m.div(matrix, 2), m.c(8)), m.rem(s.lane, 8));
  Value nMajorCol = m.mul(m.rem(matrix, 2), m.c(8));
  SmallVector<Value, kMmaTilesN / 2> bFrag;
  for (int64_t nj = 0; nj < kMmaTilesN / 2; ++nj) {
    Value col = m.add(m.mul(s.warpN, m.c(kWarpN)), m.c(nj * 16));
    SmallVector<Value, 3> at = {stage, m.add(m.c(kk), laneRow),
                                m.add(col, laneCol)};
    if (nMajor)
      at = {stage, m.add(col, nMajorRow), m.add(m.c(kk), nMajorCol)};
    bFrag.push_back(nvgpu::LdMatrixOp::create(b, fragType, s.smemB, at,
                                              /*transpose=*/!nMajor,
                                              /*numTiles=*/4));
  }
  NVVM::MMATypes ptxType =
      elt.isBF16() ? NVVM::MMATypes::bf16 : NVVM::MMATypes::f16;
  // Operand registers are unpacked once and shared by the mma that use them.
  SmallVector<SmallVector<Value, 2>, kMmaTilesN> bOps;
  for (int64_t ni = 0; ni < kMmaTilesN; ++ni) {
    Value frag = bFrag[ni / 2];
    int64_t reg = (ni % 2) * 2;
    bOps.push_back({mmaOperand(b, frag, reg), mmaOperand(b, frag, reg + 1)});
  }
  for (int64_t mi = 0; mi < mmaTilesM; ++mi) {
    SmallVector<Value, 4> aOps;
    for (int64_t r = 0; r < 4; ++r)
      aOps.push_back(mmaOperand(b, a[mi], r));
    for (int64_t ni = 0; ni < kMmaTilesN; ++ni) {
      Value &c = acc[mi * kMmaTilesN + ni];
      SmallVector<Value, 4> cOps;
      for (int64_t r = 0; r < 4; ++r)
        cOps.push_back(LLVM::ExtractValueOp::create(b, c, r));
      c = NVVM::MmaOp::create(b, c.getType(), aOps, bOps[ni], cOps,
                              ArrayRef<int64_t>{16, 8, 16}, std::nullopt,
                              std::nullopt,
                              std::array<NVVM::MMATypes, 2>{ptxType, ptxType},
                              std::array<NVVM::MMALayout, 2>{
                                  NVVM::MMALayout::row, NVVM::MMALayout::col});
    }
  }
}

/// Adds `v` (f32) to the f32 element `index` of `buffer` with a relaxed
/// atomic, as CUDA's atomicAdd does (memref.atomic_rmw would be acq_rel).
/// Runs `body` under `if (cond)`.
void ifThen(ImplicitLocOpBuilder &b, Value cond,
            llvm::function_ref<void()> body) {
  auto ifOp = scf::IfOp::create(b, cond, /*withElseRegion=*/false);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(ifOp.thenBlock());
  body();
}

/// Writes the accumulators of rows [first, end): accumulator registers 0, 1
/// hold row lane/4 of an mma tile, columns 2 * (lane % 4) + {0, 1};
/// registers 2, 3 the row 8 below. The group's bias row, if any, is added in
/// fp32, then the fused activation or combine if any, then the conversion;
/// the tail (group E) stays zero (its activation is act(0), as on the CPU).
/// `n0` is the block's first column: of the rhs, or of the result when gate
/// and up come in slice pairs.
void storeTile(ImplicitLocOpBuilder &b, KernelState &s, ArrayRef<Value> acc,
               Value group, Value first, Value end, Value n0) {
  Emitter m{b};
  const GroupedMatmulSignature &sig = s.sig;
  Value biasOn, biasGroup;
  if (s.bias) {
    biasOn = m.ult(group, m.c(sig.groups));
    biasGroup = m.min(group, m.c(sig.groups - 1));
  }
  // Past its N_g a group's bias is not read either.
  auto biasAt = [&](Value col) -> Value {
    return sig.extents.empty() ? biasOn : m.both(biasOn, m.ult(col, s.groupN));
  };
  Type resultType = sig.resultType;
  auto pairType = VectorType::get({2}, resultType);
  Value laneRow = m.div(s.lane, 4);
  Value laneCol = m.mul(m.rem(s.lane, 4), m.c(2));
  // Register `reg` of mma tile `tile` plus the bias of column `col` (of
  // `biasOf`, else the bias), in f32.
  auto value = [&](int64_t tile, int64_t reg, Value col,
                   Value biasOf = {}) -> Value {
    Value v = LLVM::ExtractValueOp::create(b, acc[tile], reg);
    if (!s.bias)
      return v;
    Value bv = memref::LoadOp::create(b, biasOf ? biasOf : s.bias,
                                      ValueRange{biasGroup, col});
    bv = castFloat(b, bv, b.getF32Type());
    return m.select(biasAt(col), arith::AddFOp::create(b, v, bv), v);
  };
  auto activate = [&](ValueRange values) -> Value {
    if (!sig.activation)
      return values[0];
    return moe::emitActivation(b, b.getLoc(), *sig.activation, b.getF32Type(),
                               values);
  };
  auto storePair = [&](Value v0, Value v1, Value row, Value col) {
    Value vec = vector::FromElementsOp::create(
        b, pairType,
        ValueRange{castFloat(b, v0, resultType), castFloat(b, v1, resultType)});
    vector::StoreOp::create(b, vec, s.result, ValueRange{row, col});
  };
  for (int64_t mi = 0; mi < s.tile.mmaTilesM(); ++mi) {
    for (int64_t half = 0; half < 2; ++half) {
      Value row = m.add(first, m.add(m.mul(s.warpM, m.c(s.tile.warpRows())),
                                     m.add(m.c(mi * 16 + half * 8), laneRow)));
      Value rowInside = m.ult(row, end);
      if (pairsSlices(sig)) {
        // Tiles 2p and 2p + 1 hold gate and up of result columns col, col+1.
        for (int64_t p = 0; p < kMmaTilesN / 2; ++p) {
          Value col = m.add(n0, m.add(m.mul(s.warpN, m.c(kWarpN / 2)),
                                      m.add(m.c(p * 8), laneCol)));
          Value inside =
              m.both(rowInside, m.ult(col, m.c(sig.resultColumns())));
          ifThen(b, inside, [&] {
            Value out[2];
            for (int64_t r = 0; r < 2; ++r) {
              Value c = m.add(col, m.c(r));
              Value gate = value(mi * kMmaTilesN + 2 * p, half * 2 + r, c);
              auto [upBias, upCol] = upBiasAt(b, sig, s.bias, s.upBias, c);
              out[r] = activate({gate, value(mi * kMmaTilesN + 2 * p + 1,
                                             half * 2 + r, upCol, upBias)});
            }
            storePair(out[0], out[1], row, col);
          });
        }
        continue;
      }
      // Fused combine: the row's slot names its token and routing weight.
      Value token, weight, rowValid = rowInside;
      if (sig.fusedCombine) {
        Value safeRow = m.select(rowInside, row, first);
        Value slot = memref::LoadOp::create(b, s.rowSlots, ValueRange{safeRow});
        Value zero = arith::ConstantIntOp::create(b, 0, 32);
        Value hasSlot =
            arith::CmpIOp::create(b, arith::CmpIPredicate::sge, slot, zero);
        rowValid =
            m.both(m.both(rowInside, hasSlot), m.ult(group, m.c(sig.groups)));
        Value slotIdx = arith::IndexCastOp::create(
            b, b.getIndexType(), m.select(hasSlot, slot, zero));
        token = m.div(slotIdx, sig.combineSlots);
        if (sig.combineWeightType) {
          Value safeToken = m.select(rowValid, token, m.c(0));
          Value w = memref::LoadOp::create(
              b, s.combineWeights,
              ValueRange{safeToken,
                         m.select(rowValid, m.rem(slotIdx, sig.combineSlots),
                                  m.c(0))});
          weight = castFloat(b, w, b.getF32Type());
        }
      }
      for (int64_t ni = 0; ni < kMmaTilesN; ++ni) {
        int64_t tile = mi * kMmaTilesN + ni;
        Value col = m.add(n0, m.add(m.mul(s.warpN, m.c(kWarpN)),
                                    m.add(m.c(ni * 8), laneCol)));
        // N is a multiple of 8, so col < N covers col + 1 too.
        Value inside = m.both(rowValid, m.ult(col, m.c(sig.n)));
        ifThen(b, inside, [&] {
          Value v0 = value(tile, half * 2, col);
          Value v1 = value(tile, half * 2 + 1, m.add(col, m.c(1)));
          if (sig.fusedCombine) {
            Value base = m.add(m.mul(token, m.c(sig.n)), col);
            if (weight) {
              v0 = arith::MulFOp::create(b, weight, v0);
              v1 = arith::MulFOp::create(b, weight, v1);
            }
            atomicAddF32(b, s.result, base, v0);
            atomicAddF32(b, s.result, m.add(base, m.c(1)), v1);
          } else if (sig.isGated()) {
            // Interleaved: the column pair is (gate, up) of column col / 2.
            memref::StoreOp::create(
                b, castFloat(b, activate({v0, v1}), resultType), s.result,
                ValueRange{row, m.div(col, 2)});
          } else {
            storePair(activate({v0}), activate({v1}), row, col);
          }
        });
      }
    }
  }
}

gpu::GPUFuncOp buildKernel(gpu::GPUModuleOp gpuModule, StringRef name,
                           const GroupedMatmulSignature &sig,
                           const MmaTile &tileShape) {
  MLIRContext *ctx = gpuModule.getContext();
  ImplicitLocOpBuilder b(gpuModule.getLoc(), ctx);
  b.setInsertionPointToEnd(gpuModule.getBody());
  Emitter m{b};
  Type elt = sig.elementType;
  SmallVector<Type> argTypes = groupedMatmulArgumentTypes(sig);
  auto workgroup =
      gpu::AddressSpaceAttr::get(ctx, gpu::AddressSpace::Workgroup);
  // B n-major for weights read along K (transposed or packed), else
  // k-major.
  int64_t stages = tileShape.stages;
  SmallVector<int64_t, 3> smemBShape = {stages, kTileK,
                                        tileShape.columns + kPad};
  if (sig.columnMajorWeights())
    smemBShape = {stages, tileShape.columns, kTileK + kPad};
  auto smemAType = MemRefType::get({stages, tileShape.rows, kTileK + kPad}, elt,
                                   MemRefLayoutAttrInterface(), workgroup);
  auto smemBType =
      MemRefType::get(smemBShape, elt, MemRefLayoutAttrInterface(), workgroup);
  // Past the 48 KB a block may hold statically, the stages are views of
  // dynamic shared memory, whose size the launch passes.
  auto bytes = [](MemRefType type) {
    return type.getNumElements() * type.getElementTypeBitWidth() / 8;
  };
  int64_t smemBytes = bytes(smemAType) + bytes(smemBType);
  bool dynamicSmem = smemBytes > kStaticSharedMemoryLimit;
  SmallVector<Type, 2> smemTypes;
  if (!dynamicSmem)
    smemTypes = {smemAType, smemBType};
  auto func = gpu::GPUFuncOp::create(b, name, b.getFunctionType(argTypes, {}),
                                     TypeRange(smemTypes), TypeRange());
  alignWorkgroupAttributions(func);
  func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
  func.setKnownBlockSizeAttr(
      b.getDenseI32ArrayAttr({static_cast<int32_t>(tileShape.threads), 1, 1}));
  if (tileShape.rows != kTileM)
    func->setAttr(kRowTileAttr, b.getI64IntegerAttr(tileShape.rows));
  if (dynamicSmem)
    func->setAttr(kDynamicSharedMemoryAttr, b.getI64IntegerAttr(smemBytes));
  b.setInsertionPointToStart(&func.getBody().front());

  // Arguments in the order of argTypes.
  unsigned next = 0;
  auto arg = [&](bool present) {
    return present ? func.getArgument(next++) : Value();
  };
  KernelState s{sig, tileShape};
  s.lhs = arg(true);
  s.rhs = arg(true);
  s.scales = arg(bool(sig.quantized));
  s.zeroPoints = arg(sig.quantized && sig.quantized->zeroPoints);
  s.rhsUp = arg(sig.splitWeights);
  s.upScales = arg(sig.splitWeights && sig.quantized);
  s.upZeroPoints =
      arg(sig.splitWeights && sig.quantized && sig.quantized->zeroPoints);
  s.offsets = arg(true);
  s.result = arg(true);
  s.bias = arg(bool(sig.biasType));
  s.upBias = arg(sig.hasUpBias());
  s.rowSlots = arg(sig.fusedCombine);
  s.combineWeights = arg(bool(sig.combineWeightType));
  if (dynamicSmem) {
    Value smem = gpu::DynamicSharedMemoryOp::create(
        b, MemRefType::get({ShapedType::kDynamic}, b.getI8Type(),
                           MemRefLayoutAttrInterface(), workgroup));
    s.smemA = memref::ViewOp::create(b, smemAType, smem, m.c(0), ValueRange());
    s.smemB = memref::ViewOp::create(b, smemBType, smem, m.c(bytes(smemAType)),
                                     ValueRange());
  } else {
    s.smemA = func.getWorkgroupAttributions()[0];
    s.smemB = func.getWorkgroupAttributions()[1];
  }
  // Gate/up slice pairs cover half the tile's columns as result columns.
  // (Interleaved gate/up: half too, but as the tile's rhs columns.)
  int64_t blockColumns =
      pairsSlices(sig) ? tileShape.columns / 2 : tileShape.columns;
  int64_t columns = pairsSlices(sig) ? sig.resultColumns() : sig.n;
  // The launch cannot read N from a packed or transposed rhs, nor the
  // large tile's width: the kernel says its tiles.
  if (pairsSlices(sig) || sig.columnMajorWeights() ||
      tileShape.columns != kTileN)
    func->setAttr(
        kColumnTilesAttr,
        b.getI64IntegerAttr((columns + blockColumns - 1) / blockColumns));
  s.tid = gpu::ThreadIdOp::create(b, gpu::Dimension::x);
  s.lane = m.rem(s.tid, 32);
  Value warp = m.div(s.tid, 32);
  s.warpM = m.div(warp, tileShape.warpsN());
  s.warpN = m.rem(warp, tileShape.warpsN());
  Value rows = memref::DimOp::create(b, s.lhs, 0);
  std::array<Value, 3> tile = findRowTile(b, s, rows);
  Value group = tile[0], first = tile[1], end = tile[2];

  auto hasTile = scf::IfOp::create(b, m.ult(group, m.c(sig.groups + 1)),
                                   /*withElseRegion=*/false);
  b.setInsertionPointToStart(hasTile.thenBlock());
  Value n0 =
      m.mul(gpu::BlockIdOp::create(b, gpu::Dimension::x), m.c(blockColumns));
  // The tail (group E) runs no k step: its accumulators stay zero. So do
  // those of a block past its group's N_g (group_extents; not for
  // concatenated gate/up, whose up columns start at N / 2).
  Value weightGroup = m.min(group, m.c(sig.groups - 1));
  std::tie(s.groupK, s.groupN) = groupExtents(b, gpuModule, sig, weightGroup);
  Value kEnd = m.select(m.eq(group, m.c(sig.groups)), m.c(0), s.groupK);
  bool concatenated =
      sig.isGated() && !sig.splitWeights &&
      *sig.activation->gateLayout == moe::GateLayout::Concatenated;
  if (!sig.extents.empty() && !concatenated)
    kEnd = m.select(m.ult(n0, s.groupN), kEnd, m.c(0));

  auto accType = LLVM::LLVMStructType::getLiteral(
      ctx, SmallVector<Type>(4, b.getF32Type()));
  Value zeroAcc = LLVM::ZeroOp::create(b, accType);
  SmallVector<Value> init(tileShape.mmaTilesM() * kMmaTilesN, zeroAcc);
  // A ring of S stages: k step i waits in stage i % S, and the copies of
  // steps i + 1 .. i + S - 1 are in flight while the tensor cores work on
  // step i. The steps past K copy nothing (zero-filled chunks) and are
  // waited for after the loop.
  Value firstToken;
  for (int64_t step = 0; step < stages - 1; ++step) {
    Value token = loadTiles(b, s, m.c(step), weightGroup, first, end,
                            m.c(step * kTileK), n0);
    if (!firstToken)
      firstToken = token;
  }
  std::optional<PackedColumn> packed;
  if (sig.quantized) {
    packed = packedColumn(b, s, weightGroup, n0);
    // The tail's blocks (no k step) skip the first step's B too.
    m.ifThen(m.ult(m.c(0), kEnd), [&] {
      storePackedB(b, s, *packed,
                   loadPackedB(b, s, *packed, weightGroup, m.c(0)), m.c(0));
    });
  }
  auto kLoop = scf::ForOp::create(
      b, m.c(0), kEnd, m.c(kTileK), init,
      [&](OpBuilder &nb, Location loc, Value k0, ValueRange iter) {
        ImplicitLocOpBuilder ib(loc, nb);
        Emitter im{ib};
        Value step = im.div(k0, kTileK);
        Value stage = im.rem(step, stages);
        // This thread's copies of step i landed; the barrier makes every
        // thread's visible, and says that all are done with step i - 1,
        // whose stage the copies of step i + S - 1 refill.
        waitTiles(ib, firstToken, /*pending=*/stages - 2);
        gpu::BarrierOp::create(ib);
        Value refill = im.rem(im.add(step, im.c(stages - 1)), stages);
        loadTiles(ib, s, refill, weightGroup, first, end,
                  im.add(k0, im.c((stages - 1) * kTileK)), n0);
        // Quantized B: the next step's packed bits are in flight during this
        // step's mma, then expanded into step i + 1's stage, which step
        // i + 1 - S read before the barrier (with 2 stages, the refilled
        // one).
        std::optional<PackedValues> nextB;
        if (packed)
          nextB = loadPackedB(ib, s, *packed, weightGroup,
                              im.add(k0, im.c(kTileK)));
        SmallVector<Value> acc(iter.begin(), iter.end());
        for (int64_t kk = 0; kk < kTileK; kk += 16)
          mmaStep(ib, s, stage, kk, acc);
        if (nextB)
          storePackedB(ib, s, *packed, *nextB,
                       im.rem(im.add(step, im.c(1)), stages));
        scf::YieldOp::create(ib, acc);
      });
  waitTiles(b, firstToken, /*pending=*/0);
  SmallVector<Value> acc(kLoop.getResults());
  storeTile(b, s, acc, group, first, end, n0);
  b.setInsertionPointToEnd(&func.getBody().front());
  gpu::ReturnOp::create(b);
  if (sig.activation)
    expandKernelMath(func);
  return func;
}

} // namespace

int64_t GroupedMatmulSignature::resultColumns() const {
  if (!isGated() || splitWeights)
    return n;
  return n / 2;
}

bool moe::detail::mmaLargeTileFits(const GroupedMatmulSignature &sig) {
  // At least one whole tile of columns.
  if (pairsSlices(sig))
    return sig.resultColumns() >= kLargeTile.columns / 2;
  return sig.n >= kLargeTile.columns;
}

gpu::GPUFuncOp moe::detail::getOrBuildGroupedMatmulKernel(
    gpu::GPUModuleOp gpuModule, const GroupedMatmulSignature &sig, bool large) {
  assert((!large || mmaLargeTileFits(sig)) && "no large tile for sig");
  std::string name = kernelName(sig);
  if (large)
    name += "_128x128";
  if (auto existing = gpuModule.lookupSymbol<gpu::GPUFuncOp>(name))
    return existing;
  return buildKernel(gpuModule, name, sig, large ? kLargeTile : kSmallTile);
}

std::string moe::detail::combineSuffix(const GroupedMatmulSignature &sig) {
  if (!sig.fusedCombine)
    return "";
  std::string suffix;
  llvm::raw_string_ostream os(suffix);
  os << "_combine" << sig.combineSlots << "_";
  if (sig.combineWeightType)
    os << sig.combineWeightType;
  else
    os << "unweighted";
  return suffix;
}

void moe::detail::atomicAddF32(ImplicitLocOpBuilder &b, Value buffer,
                               Value index, Value v) {
  Value base = memref::ExtractAlignedPointerAsIndexOp::create(b, buffer);
  Value byteOffset =
      arith::MulIOp::create(b, index, arith::ConstantIndexOp::create(b, 4));
  Value address = arith::IndexCastOp::create(
      b, b.getI64Type(), arith::AddIOp::create(b, base, byteOffset));
  // A global-space pointer: a generic one makes ptxas test the space at
  // run time and keep shared-memory and CAS fallbacks beside the add.
  Value ptr = LLVM::IntToPtrOp::create(
      b, LLVM::LLVMPointerType::get(b.getContext(), /*addressSpace=*/1),
      address);
  LLVM::AtomicRMWOp::create(b, LLVM::AtomicBinOp::fadd, ptr, v,
                            LLVM::AtomicOrdering::monotonic);
}
