//===- WgmmaGroupedMatmulKernel.cpp - sm_90a wgmma + TMA grouped matmul ---===//
//
// The Hopper form of GroupedMatmulKernel.cpp's kernel. Same grid contract:
// x walks the N tiles, y the row tiles of all groups plus the tail (rows at
// or past offsets[E], written as zeros), and each block finds its group from
// the offsets on the device (all its threads together), so the host needs
// only the row count.
// Inside a block, one warpgroup (128 threads) owns a 128 x 128 output tile:
// the TMA engine brings each 64-deep k step of rows (a 128 x 64 box) and
// weights (two 64 x 64 boxes) into one stage of a kStages-deep ring of
// 128-byte-swizzled shared memory, completing on the stage's mbarrier, and
// nvgpu.warpgroup.mma (wgmma.mma_async m64n128k16, fp32 accumulators in
// registers) reads both operands from shared memory through descriptors.
// Packed (QMoE) weights have no map: the threads expand them into the
// stage's B tile themselves (packedColumn), one k step ahead.
// Where the weights allow (wgmmaWideTileFits), a second form (kWideTile)
// owns 128 x 256 tiles on a persistent grid: a producer warpgroup issues
// the loads into a 4-stage ring and two consumer warpgroups each multiply 64
// of the rows by the whole tile (m64n256k16), handing stages back through
// mbarriers instead of meeting at a block barrier each k step; its blocks
// walk the tiles in the same order (WgmmaWarpSpecialized.cpp). The stage
// layout, loads, wgmma steps and epilogue here serve both forms.
//
// Invariants the index math relies on:
// - Tensor maps are host data fixed per launch, so they cannot follow the
//   groups. The rows map covers [rows, K]; a block loads rows [first, first +
//   128) whatever its group's end is: rows past `rows` come back as zeros
//   (TMA out-of-bounds fill), rows of the next group are real data, and both
//   are masked at the store (row < end, end <= rows).
// - The weights map covers the stacked [E, K, N] weight as [E * K, N]: row k
//   of group g is row g * K + k. Columns at or past N (when N % 128 != 0)
//   come back as zeros and are masked at the store. A group's K (K_g with
//   group_extents) that is no multiple of kWgmmaTileK ends in a partial
//   step, whose boxes hold rows past K_g: the next group's, or the padding
//   of a padded weight, and (K_g < K) rows' columns that are not the
//   group's. After that step's mbarrier wait the threads zero the B rows
//   from K_g on and the A chunks of 8 columns that start at or past K_g (as
//   the mma.sync kernel's copies mask them; past K the TMA fills zeros),
//   then fence the generic-proxy stores against the wgmma's async-proxy
//   reads. The partial step is a group's last, so no refill follows it.
// - [E, N, K] weights (transpose_rhs) are mapped as [E * N, K]: column n of
//   group g is row g * N + n, a box holds 64 columns' 64 K values, and B is
//   K-major in shared memory (kMajorWgmmaStep). A block's box rows past N
//   are the next group's columns, masked at the store as columns past N
//   are; K ends the map's rows as it ends the rows map's, so the TMA fills
//   both boxes past K with zeros and a partial step needs no zeroing (no
//   group_extents here).
// - Shared memory: the stages start at the first 1024-byte boundary past
//   the static variables (the swizzle pattern repeats every 8 rows of 128
//   bytes and the descriptors carry base offset 0), computed at run time;
//   the launch asks for that much slack. scratchSlots() i64 after the
//   stages hold the row-tile search's warp totals and result. A stage's A box
//   is 128 rows of 128 bytes (16 KB); its B tile is two 64 x 64 boxes (8 KB
//   each, N columns 0-63 then 64-127), the layout
//   nvgpu.warpgroup.generate.descriptor describes for an N-major ("transposed")
//   B: 1024 bytes between 8-row groups along K, 8 KB between the 64-column
//   halves.
// - Ring: k step t uses stage t % kStages and waits for phase parity
//   (t / kStages) % 2 of that stage's mbarrier (its (t / kStages)-th
//   completion). The wgmma of step t is committed and only waited for at
//   step t + 1 (waitGroup = 1), so the stage refilled after step t's
//   barrier is the one step t - 1 read; every thread has passed its wait for
//   step t - 1's wgmma group before that barrier, and no stage is re-armed
//   before all threads have waited on its previous phase.
// - Fused activation (EpilogueFusion.cpp): the accumulator of column c is
//   in the same thread as those of c + 1 (register pairs) and c + 64
//   (registers 32 apart). Interleaved gate/up columns are such pairs; for
//   concatenated and separate layouts the B tile's first 64-column box is
//   gate columns [c0, c0 + 64) and its second the up columns of the same
//   outputs (columns I + c0 of the one weight, or c0 of the up weight's own
//   map), so a block owns 64 output columns (kColumnTilesAttr).
// - Fused combine (combine=epilogue): each row's slot gives its token (and
//   routing weight, unless the combine is unweighted), and the thread adds
//   its accumulators into the token's fp32 sums with global reductions.
//
//===----------------------------------------------------------------------===//

#include "Emitter.h"
#include "WgmmaGroupedMatmul.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace moe::detail;

namespace moe::detail::wgmma {

static std::string kernelName(const GroupedMatmulSignature &sig) {
  std::string name;
  llvm::raw_string_ostream os(name);
  os << "grouped_matmul_wgmma_" << sig.elementType << "_" << sig.resultType
     << "_" << sig.offsetType << "_e" << sig.groups << "_k" << sig.k << "_n"
     << sig.n;
  if (sig.biasType)
    os << "_bias_" << sig.biasType;
  if (sig.activation)
    os << "_" << sig.activation->mangle();
  os << combineSuffix(sig) << groupExtentsSuffix(sig)
     << quantized::kernelSuffix(sig);
  return name;
}

/// Gate and up columns come from two places (two weights, or the two halves
/// of one): the B tile's two boxes hold the gate and the up columns of the
/// same 64 outputs.
static bool pairsBoxes(const GroupedMatmulSignature &sig) {
  return sig.isGated() &&
         *sig.activation->gateLayout != moe::GateLayout::Interleaved;
}

std::array<Value, 3> groupRowTiles(ImplicitLocOpBuilder &b, State &s, Value g) {
  Emitter m{b};
  int64_t groups = s.sig.groups;
  auto load = [&](Value i) -> Value {
    return arith::IndexCastOp::create(
        b, b.getIndexType(),
        memref::LoadOp::create(b, s.offsets,
                               ValueRange{m.min(i, m.c(groups))}));
  };
  Value start = load(g), next = load(m.add(g, m.c(1)));
  // Clamped to the rows: offsets past the row count (a bad input) must not
  // take a tile past the buffers.
  Value end = m.min(m.select(m.ult(g, m.c(groups)), next, s.rows), s.rows);
  // max(end - start, 0) without a signed compare.
  Value count = m.select(m.ult(start, end), m.sub(end, start), m.c(0));
  Value tiles =
      m.select(m.cmpi(arith::CmpIPredicate::ule, g, m.c(groups)),
               m.div(m.add(count, m.c(kWgmmaTileM - 1)), kWgmmaTileM), m.c(0));
  return {start, end, tiles};
}

/// {group, first row, end row} of row tile blockIdx.y counted over the E
/// groups and the tail (group E: rows [offsets[E], rows)); group is E + 1
/// when the block has no tile. Tile t of group g starts at offsets[g] +
/// (t - tiles before g) * kWgmmaTileM; a group of n rows has ceil(n / 128)
/// tiles, so the grid's y bound (rows + (E + 1) * 127) / 128 covers them all.
///
/// The block's `threads` search together (a walk over E + 1 offsets by one
/// thread costs microseconds per block at E = 256): thread t takes the
/// groups [t * c, t * c + c), c = ceil((E + 1) / threads), and counts their
/// tiles; an exclusive scan over the threads (shuffles within each warp, the
/// warp totals through shared memory) gives each thread the index of its
/// first tile; the one thread whose groups hold tile blockIdx.y writes
/// {group, first, end} to `scratch` (slots W to W + 2 after the W warp
/// totals), which thread 0 preset to "no tile". Every thread of the block
/// reaches both barriers.
static std::array<Value, 3> findRowTile(ImplicitLocOpBuilder &b, State &s,
                                        Value scratch, int64_t threads) {
  Emitter m{b};
  Type i32 = b.getI32Type(), i64 = b.getI64Type();
  int64_t groups = s.sig.groups;
  Value tid = s.tid;
  auto toIndex = [&](Value v) -> Value {
    return arith::IndexCastOp::create(b, b.getIndexType(), v);
  };
  auto store = [&](Value indexValue, int64_t slot) {
    memref::StoreOp::create(b, arith::IndexCastOp::create(b, i64, indexValue),
                            scratch, ValueRange{m.c(slot)});
  };
  Value tileY = gpu::BlockIdOp::create(b, gpu::Dimension::y);
  int64_t perThread = (groups + 1 + threads - 1) / threads;
  int64_t warps = threads / 32;
  // This thread's groups: start row, end row and tile count of each (0 tiles
  // past group E).
  SmallVector<Value> gIdx, gStart, gEnd, gTiles;
  Value myTiles = m.c(0);
  for (int64_t j = 0; j < perThread; ++j) {
    Value g = m.add(m.mul(tid, m.c(perThread)), m.c(j));
    auto [start, end, tiles] = groupRowTiles(b, s, g);
    gIdx.push_back(g);
    gStart.push_back(start);
    gEnd.push_back(end);
    gTiles.push_back(tiles);
    myTiles = m.add(myTiles, tiles);
  }
  // Inclusive scan of myTiles within the warp (lanes below d get no source:
  // valid is false there).
  Value lane = m.rem(tid, 32), warp = m.div(tid, 32);
  Value scan = arith::IndexCastOp::create(b, i32, myTiles);
  for (int32_t d = 1; d < 32; d *= 2) {
    auto up = gpu::ShuffleOp::create(b, scan, d, 32, gpu::ShuffleMode::UP);
    scan =
        m.select(up.getValid(),
                 arith::AddIOp::create(b, scan, up.getShuffleResult()), scan);
  }
  Value inclusive = toIndex(scan);
  // Lane 31 holds its warp's total: slot `warp`.
  m.ifThen(m.eq(lane, m.c(31)), [&] {
    memref::StoreOp::create(b, arith::IndexCastOp::create(b, i64, inclusive),
                            scratch, ValueRange{warp});
  });
  m.ifThen(m.eq(tid, m.c(0)), [&] { store(m.c(groups + 1), warps); });
  gpu::BarrierOp::create(b);
  // Tiles before this thread's first group: earlier warps, earlier lanes.
  Value before = m.sub(inclusive, myTiles);
  for (int64_t w = 0; w + 1 < warps; ++w) {
    Value total =
        toIndex(memref::LoadOp::create(b, scratch, ValueRange{m.c(w)}));
    before = m.select(m.ult(m.c(w), warp), m.add(before, total), before);
  }
  for (int64_t j = 0; j < perThread; ++j) {
    Value next = m.add(before, gTiles[j]);
    Value hit = m.both(m.cmpi(arith::CmpIPredicate::uge, tileY, before),
                       m.ult(tileY, next));
    Value tileBase = before;
    m.ifThen(hit, [&] {
      store(gIdx[j], warps);
      store(m.add(gStart[j], m.mul(m.sub(tileY, tileBase), m.c(kWgmmaTileM))),
            warps + 1);
      store(gEnd[j], warps + 2);
    });
    before = next;
  }
  gpu::BarrierOp::create(b);
  std::array<Value, 3> tile;
  for (int64_t i = 0; i < 3; ++i)
    tile[i] =
        toIndex(memref::LoadOp::create(b, scratch, ValueRange{m.c(warps + i)}));
  return tile;
}

static Type mapType(MLIRContext *ctx, Type elt, ArrayRef<int64_t> box) {
  auto smem = MemRefType::get(box, elt, MemRefLayoutAttrInterface(),
                              IntegerAttr::get(IntegerType::get(ctx, 64), 3));
  return nvgpu::TensorMapDescriptorType::get(
      ctx, smem, nvgpu::TensorMapSwizzleKind::SWIZZLE_128B,
      nvgpu::TensorMapL2PromoKind::L2PROMO_256B,
      nvgpu::TensorMapOOBKind::OOB_ZERO,
      nvgpu::TensorMapInterleaveKind::INTERLEAVE_NONE);
}

/// Whether B is K-major in shared memory: weights read along K ([E, N, K]
/// 16-bit ones through their map, packed ones expanded by the threads).
static bool kMajorB(const GroupedMatmulSignature &sig) {
  return sig.columnMajorWeights();
}

/// A `shape` view of the dynamic shared memory at `byteOffset` past the
/// 1024-byte-aligned base.
static Value smemView(ImplicitLocOpBuilder &b, State &s,
                      ArrayRef<int64_t> shape, Value byteOffset) {
  Emitter m{b};
  auto type = MemRefType::get(
      shape, s.sig.elementType, MemRefLayoutAttrInterface(),
      gpu::AddressSpaceAttr::get(b.getContext(), gpu::AddressSpace::Workgroup));
  return memref::ViewOp::create(b, type, s.smem, m.add(s.smemBase, byteOffset),
                                ValueRange());
}

static Value stageA(ImplicitLocOpBuilder &b, State &s, Value stage) {
  Emitter m{b};
  return smemView(b, s, {kWgmmaTileM, kWgmmaTileK}, m.mul(stage, m.c(kABytes)));
}

/// The rows of `stage` this thread's consumer warpgroup multiplies: all 128,
/// or its 64 (8 KB further per consumer: whole swizzle periods).
static Value consumerStageA(ImplicitLocOpBuilder &b, State &s, Value stage) {
  if (s.tile.consumers == 1)
    return stageA(b, s, stage);
  Emitter m{b};
  int64_t rows = kWgmmaTileM / s.tile.consumers;
  return smemView(b, s, {rows, kWgmmaTileK},
                  m.add(m.mul(stage, m.c(kABytes)),
                        m.mul(s.consumer, m.c(rows * kWgmmaTileK * 2))));
}

/// The B tile of `stage` ([K, N], or [N, K] for K-major weights), or its
/// 64-column half `half` (TMA destination; 64 x 64 either way).
static Value stageB(ImplicitLocOpBuilder &b, State &s, Value stage,
                    std::optional<int64_t> half = std::nullopt) {
  Emitter m{b};
  int64_t columns = s.tile.columns;
  Value offset =
      m.add(m.c(s.tile.stages * kABytes), m.mul(stage, m.c(s.tile.bBytes())));
  if (!half)
    return smemView(b, s,
                    kMajorB(s.sig) ? ArrayRef<int64_t>{columns, kWgmmaTileK}
                                   : ArrayRef<int64_t>{kWgmmaTileK, columns},
                    offset);
  return smemView(b, s, {kWgmmaTileK, kBoxN},
                  m.add(offset, m.c(*half * kWgmmaTileK * kBoxN * 2)));
}

/// Whether some group's K is no multiple of kWgmmaTileK and the partial last
/// step's boxes hold values that are not the group's (zeroRaggedStep). Not
/// with K-major weights: their map's rows end at K, as the rows map's do,
/// and the TMA fills both boxes' columns past K with zeros (packed ones are
/// stored as zeros past K by the threads).
bool needsRaggedZeroing(const GroupedMatmulSignature &sig) {
  if (kMajorB(sig))
    return false;
  if (sig.k % kWgmmaTileK != 0)
    return true;
  for (size_t e = 0; e < sig.extents.size(); e += 2)
    if (sig.extents[e] % kWgmmaTileK != 0)
      return true;
  return false;
}

/// Whether some group's K_g is below K, so that the rows box holds columns
/// past K_g (past K the TMA fills zeros itself).
static bool hasShortK(const GroupedMatmulSignature &sig) {
  for (size_t e = 0; e < sig.extents.size(); e += 2)
    if (sig.extents[e] < sig.k)
      return true;
  return false;
}

/// Makes the threads' stores of a stage visible to the wgmma (async proxy) of
/// every thread that runs one: fence, then a barrier of the block, or of the
/// consumer warpgroups alone (named barrier 1) when a producer warpgroup
/// runs on its own.
static void publishStores(ImplicitLocOpBuilder &b, const TileForm &tile) {
  NVVM::FenceProxyOp::create(
      b,
      NVVM::ProxyKindAttr::get(b.getContext(), NVVM::ProxyKind::async_shared),
      NVVM::SharedSpaceAttr::get(b.getContext(),
                                 NVVM::SharedSpace::shared_cta));
  if (!tile.producer) {
    gpu::BarrierOp::create(b);
    return;
  }
  Emitter m{b};
  NVVM::BarrierOp::create(b, Type(), m.i32(1), m.i32(tile.wgmmaThreads()),
                          NVVM::BarrierReductionAttr(), Value());
}

/// Zeros what a partial k step (`valid` = K_g - k0 < kWgmmaTileK columns of
/// the group) of `stage` holds past the group's K: B rows [valid, 64) of
/// both boxes (whole 128-byte rows, whatever the swizzle) and, where some
/// K_g < K, in each A row the 16-byte chunks of columns [8 j, 8 j + 8) with
/// 8 j >= valid, at their swizzled place (chunk j of row r is stored as
/// chunk j ^ (r % 8)).
/// The threads that run the wgmmas store; then the stores are fenced for
/// the async proxy and those threads meet at a barrier (publishStores).
void zeroRaggedStep(ImplicitLocOpBuilder &b, State &s, Value stage,
                    Value valid) {
  Emitter m{b};
  auto chunkType = VectorType::get({8}, s.sig.elementType);
  Value zeros = arith::ConstantOp::create(
      b, chunkType,
      DenseElementsAttr::get(chunkType, b.getZeroAttr(s.sig.elementType)));
  int64_t chunksPerRow = kWgmmaTileK / 8;
  // Rows are 128 bytes from a 1024-byte-aligned base: 16-byte stores.
  auto storeZeros = [&](Value view, ValueRange at) {
    auto store = vector::StoreOp::create(b, zeros, view, at);
    store.setAlignmentAttr(b.getI64IntegerAttr(16));
  };
  // B: per 64-column box, 64 rows x 8 chunks.
  int64_t threads = s.tile.wgmmaThreads();
  for (int64_t half = 0; half < s.tile.boxes(); ++half) {
    for (int64_t i = 0; i < kWgmmaTileK * chunksPerRow / threads; ++i) {
      Value slot = m.add(s.tid, m.c(i * threads));
      Value row = m.div(slot, chunksPerRow);
      Value col = m.mul(m.rem(slot, chunksPerRow), m.c(8));
      m.ifThen(m.uge(row, valid), [&] {
        storeZeros(stageB(b, s, stage, half), {row, col});
      });
    }
  }
  // A: 128 rows x 8 chunks.
  for (int64_t i = 0;
       hasShortK(s.sig) && i < kWgmmaTileM * chunksPerRow / threads; ++i) {
    Value slot = m.add(s.tid, m.c(i * threads));
    Value row = m.div(slot, chunksPerRow);
    Value chunk = m.rem(slot, chunksPerRow);
    Value stored = arith::XOrIOp::create(b, chunk, m.rem(row, 8));
    m.ifThen(m.uge(m.mul(chunk, m.c(8)), valid), [&] {
      storeZeros(stageA(b, s, stage), {row, m.mul(stored, m.c(8))});
    });
  }
  publishStores(b, s.tile);
}

/// Arms `stage`'s mbarrier for the bytes of one k step and issues its TMA
/// loads (one thread calls it): rows [first, +128) x columns [k0, +64) and,
/// of the weights, K [k0, +64) x the tile's 64-column boxes: [n0, +64),
/// [n0 + 64, +64), ..., or with gate/up boxes the gate columns [n0, +c/2)
/// and the same outputs' up columns (c the tile's columns). `groupRow0` is the
/// group's first row of the weights map: g * K of [E * K, N] (K rows), or g * N
/// of [E * N, K] (N rows, for K-major weights). Packed weights have no map:
/// only the rows box. Coordinates are innermost (column) first.
void issueStep(ImplicitLocOpBuilder &b, State &s, Value stage, Value step,
               const TileWork &tile) {
  Emitter m{b};
  Value first = tile.first, groupRow0 = tile.groupRow0, n0 = tile.n0;
  bool packed = bool(s.sig.quantized);
  nvgpu::MBarrierArriveExpectTxOp::create(
      b, s.barriers, m.c(packed ? kABytes : s.tile.stageBytes()), stage,
      Value());
  Value k0 = m.mul(step, m.c(kWgmmaTileK));
  nvgpu::TmaAsyncLoadOp::create(b, stageA(b, s, stage), s.barriers, s.mapA,
                                ValueRange{k0, first}, stage, Value(), Value());
  // With gate/up boxes the first half of the boxes holds gate columns, the
  // second half the up columns of the same outputs.
  int64_t gateBoxes = s.tile.boxes() / 2;
  for (int64_t box = 0; !packed && box < s.tile.boxes(); ++box) {
    Value map = s.mapB, col = m.add(n0, m.c(box * kBoxN));
    if (pairsBoxes(s.sig)) {
      col = m.add(n0, m.c(box % gateBoxes * kBoxN));
      if (box >= gateBoxes) {
        map = s.sig.splitWeights ? s.mapUp : s.mapB;
        if (!s.sig.splitWeights)
          col = m.add(col, m.c(s.sig.n / 2));
      }
    }
    SmallVector<Value, 2> at = {col, m.add(groupRow0, k0)};
    if (s.sig.transposedRhs)
      at = {k0, m.add(groupRow0, col)};
    nvgpu::TmaAsyncLoadOp::create(b, stageB(b, s, stage, box), s.barriers, map,
                                  at, stage, Value(), Value());
  }
}

/// One k step's wgmma group on K-major B (the [N, K] tile of [E, N, K]
/// weights: column n's 64 K values are one 128-byte swizzled row, 8 rows
/// 1024 bytes apart, the layout the weights map's descriptor describes),
/// for the thread's consumer: its 64-row chunks of the stage's rows times
/// the whole tile of columns.
/// nvgpu.warpgroup.mma walks only an N-major B, so the NVVM ops are built
/// here, as its lowering builds them: per 64-row chunk mi and 16-deep slice
/// kk, A's descriptor advances by mi * 8 KB + kk * 32 bytes and B's by
/// kk * 32 bytes (slices inside the 128-byte swizzle row; the swizzle
/// applies to the final address), and the group is committed, waiting for
/// the previous step's only. Both operands are K-major: A row-major,
/// B column-major (NVVM's layouts; imm-trans-a = imm-trans-b = 0 in the
/// PTX). `acc` is the accumulators' LLVM struct.
static Value kMajorWgmmaStep(ImplicitLocOpBuilder &b, State &s, Value stage,
                             Value acc) {
  MLIRContext *ctx = b.getContext();
  Type i64 = b.getI64Type(), elt = s.sig.elementType;
  auto workgroup =
      gpu::AddressSpaceAttr::get(ctx, gpu::AddressSpace::Workgroup);
  auto descriptor = [&](Value view, Value map) -> Value {
    auto type = nvgpu::WarpgroupMatrixDescriptorType::get(
        ctx, MemRefType::get(cast<MemRefType>(view.getType()).getShape(), elt,
                             MemRefLayoutAttrInterface(), workgroup));
    Value desc =
        nvgpu::WarpgroupGenerateDescriptorOp::create(b, type, view, map);
    return UnrealizedConversionCastOp::create(b, i64, desc).getResult(0);
  };
  // Descriptors count 16-byte units.
  auto advance = [&](Value desc, int64_t bytes) -> Value {
    if (bytes == 0)
      return desc;
    return LLVM::AddOp::create(
        b, desc,
        LLVM::ConstantOp::create(b, i64, b.getI64IntegerAttr(bytes >> 4)));
  };
  Value descA = descriptor(consumerStageA(b, s, stage), s.mapA);
  // The descriptor takes its swizzle and strides from the map's type: the
  // rows map's are the same (128-byte swizzle, 1024 bytes per 8 rows; the
  // leading byte offset, the only one that differs, is unused by K-major
  // swizzled operands).
  Value descB = descriptor(stageB(b, s, stage), s.mapB ? s.mapB : s.mapA);
  auto type = elt.isBF16() ? NVVM::WGMMATypes::bf16 : NVVM::WGMMATypes::f16;
  constexpr int64_t sliceK = 16, sliceBytes = sliceK * 2;
  NVVM::WgmmaFenceAlignedOp::create(b);
  for (int64_t mi = 0; mi < s.tile.chunks(); ++mi) {
    Value chunk = LLVM::ExtractValueOp::create(b, acc, mi);
    for (int64_t kk = 0; kk < kWgmmaTileK / sliceK; ++kk)
      chunk = NVVM::WgmmaMmaAsyncOp::create(
          b, chunk.getType(), chunk,
          advance(descA, mi * kWgmmaM * kWgmmaTileK * 2 + kk * sliceBytes),
          advance(descB, kk * sliceBytes),
          NVVM::MMAShapeAttr::get(ctx, kWgmmaM, s.tile.columns, sliceK), type,
          type, NVVM::WGMMATypes::f32, NVVM::WGMMAScaleOut::one,
          NVVM::WGMMAScaleIn::one, NVVM::WGMMAScaleIn::one,
          NVVM::MMALayout::row, NVVM::MMALayout::col,
          NVVM::MMAIntOverflowAttr());
    acc = LLVM::InsertValueOp::create(b, acc, chunk, mi);
  }
  NVVM::WgmmaGroupSyncAlignedOp::create(b);
  NVVM::WgmmaWaitGroupSyncOp::create(b, uint64_t(1));
  return acc;
}

/// Packed (QMoE) weights: thread t expands the tile's column t into row t
/// of the K-major B stage. Tile column t is weight column n0 + t, or with
/// gate/up boxes (pairsBoxes) t < 64 the gate column n0 + t and t >= 64 the
/// up column of output n0 + t - 64 (N / 2 further in the one weight, or the
/// up weight's).
static quantized::PackedColumn packedColumn(ImplicitLocOpBuilder &b, State &s,
                                            Value group, Value n0) {
  Emitter m{b};
  const GroupedMatmulSignature &sig = s.sig;
  quantized::PackedWeight weight = s.packed;
  Value col = m.add(n0, s.tid), inside;
  if (pairsBoxes(sig)) {
    Value output = m.add(n0, m.rem(s.tid, kBoxN));
    Value isUp = m.uge(s.tid, m.c(kBoxN));
    inside = m.ult(output, m.c(sig.resultColumns()));
    col = output;
    if (sig.splitWeights)
      weight = quantized::selectWeight(b, isUp, s.packedUp, s.packed);
    else
      col = m.add(output, m.select(isUp, m.c(sig.n / 2), m.c(0)));
  } else {
    inside = m.ult(col, m.c(sig.n));
  }
  return quantized::packedColumn(b, sig, weight, group,
                                 m.select(inside, col, m.c(0)));
}

/// A thread's packed values of one k step, loaded, not yet expanded: per
/// load of quantizedValuesPerLoad values, its words and (null when K is a
/// multiple of kWgmmaTileK) whether it is inside K; the block scales.
struct PackedStep {
  SmallVector<Value, 4> loads, inside;
  SmallVector<quantized::Expansion, 16> expansions;
};

/// Loads the thread's column's 64 values from k0. K is a multiple of a load
/// (quantizedWeightsUnsupportedReason), so a load is all inside K or all
/// past it, and its bytes (8 or 16) are aligned to their size. Past K (a
/// partial step's tail, or the step after the last, which the loop loads
/// but does not store) it reads the last load of the row, never the next
/// row's (past the buffer for the last column); a partial step stores
/// zeros there.
static PackedStep loadPackedStep(ImplicitLocOpBuilder &b, State &s,
                                 const quantized::PackedColumn &c, Value group,
                                 Value k0) {
  Emitter m{b};
  const GroupedMatmulSignature &sig = s.sig;
  const GroupedMatmulSignature::Quantized &q = *sig.quantized;
  int64_t perLoad = GroupedMatmulSignature::quantizedValuesPerLoad(q.bits);
  PackedStep v;
  for (int64_t u = 0; u < kWgmmaTileK / perLoad; ++u) {
    Value k = m.add(k0, m.c(u * perLoad));
    Value inside = m.ult(k, m.c(sig.k));
    if (sig.k % kWgmmaTileK)
      v.inside.push_back(inside);
    k = m.select(inside, k, m.c(sig.k - perLoad));
    v.loads.push_back(quantized::loadPacked(b, q, c, k, perLoad));
  }
  if (c.rowExpansion)
    return v;
  int64_t scaleSteps = quantized::stepsPerScale(q, kWgmmaTileK);
  for (int64_t i = 0; i < kWgmmaTileK / 4; i += scaleSteps) {
    // Clamped to K's last block: a step past K stores zeros.
    Value k = m.min(m.add(k0, m.c(4 * i)), m.c(sig.k - 1));
    v.expansions.push_back(quantized::expansionAt(
        b, q, c.weight, group, c.column, m.div(k, q.blockSize)));
  }
  return v;
}

/// Expands `v` (rounded to the element type, as moe.dequantize rounds) into
/// row t of `stage`'s B tile: chunk j (values 8 j .. 8 j + 7) at its
/// swizzled place j ^ (t % 8), one 16-byte store each; zeros past K.
static void storePackedStep(ImplicitLocOpBuilder &b, State &s,
                            const quantized::PackedColumn &c,
                            const PackedStep &v, Value stage) {
  Emitter m{b};
  const GroupedMatmulSignature::Quantized &q = *s.sig.quantized;
  int64_t perLoad = GroupedMatmulSignature::quantizedValuesPerLoad(q.bits);
  int64_t scaleSteps = quantized::stepsPerScale(q, kWgmmaTileK);
  Value tile = stageB(b, s, stage);
  Value swizzle = m.rem(s.tid, 8);
  for (int64_t j = 0; j < kWgmmaTileK / 8; ++j) {
    SmallVector<Value, 8> values;
    for (int64_t i = 8 * j; i < 8 * j + 8; ++i) {
      const quantized::Expansion &e =
          c.rowExpansion ? *c.rowExpansion : v.expansions[i / 4 / scaleSteps];
      int64_t load = i / perLoad;
      Value x = quantized::expandValue(b, q, v.loads[load],
                                       (i % perLoad) * q.bits, e);
      if (!v.inside.empty())
        x = m.select(v.inside[load], x, m.f32(0));
      values.push_back(x);
    }
    Value chunk = vector::FromElementsOp::create(
        b, VectorType::get({8}, b.getF32Type()), values);
    chunk = arith::TruncFOp::create(b, VectorType::get({8}, s.sig.elementType),
                                    chunk);
    Value at = m.mul(arith::XOrIOp::create(b, m.c(j), swizzle), m.c(8));
    auto store = vector::StoreOp::create(b, chunk, tile, ValueRange{s.tid, at});
    store.setAlignmentAttr(b.getI64IntegerAttr(16));
  }
}

/// Stores the accumulators of the tile's rows [first, end). Register r of the
/// m64nN fragment of 64-row chunk mi holds, for thread t of its warpgroup (warp
/// w = t / 32, lane l = t % 32), row mi * 64 + 16 * w + l / 4 + 8 * ((r /
/// 2) % 2) and column 8 * (r / 4) + 2 * (l % 4) + r % 2 (PTX ISA, wgmma D
/// fragment); consumer c's chunks are the tile's chunks c * chunks() on. The
/// group's bias row is added in fp32, then the fused activation if any; the
/// tail (group E) stays zero (act(0) with an activation, as on the CPU).
/// `n0` is the block's first column: of the weights, or of the result with
/// gate/up boxes. With group_extents, the columns at or past the group's
/// `groupN` are zero (no bias): a block may straddle N_g, and its columns
/// past it were computed from weight columns the group does not own.
void storeTile(ImplicitLocOpBuilder &b, State &s, Value acc,
               const TileWork &tile) {
  Emitter m{b};
  Value result = s.result, bias = s.bias, group = tile.group,
        first = tile.first, end = tile.end, n0 = tile.n0,
        computes = tile.computes, groupN = tile.groupN;
  const GroupedMatmulSignature &sig = s.sig;
  Value warp = m.div(s.wgThread, 32), lane = m.rem(s.wgThread, 32);
  Value laneRow = m.add(m.mul(s.consumer, m.c(s.tile.chunks() * kWgmmaM)),
                        m.add(m.mul(warp, m.c(16)), m.div(lane, 4)));
  Value laneCol = m.add(n0, m.mul(m.rem(lane, 4), m.c(2)));
  Value biasOn, biasGroup;
  if (bias) {
    // Past the group's columns (group_extents) the bias is not read either.
    biasOn = sig.extents.empty() ? m.ult(group, m.c(sig.groups)) : computes;
    biasGroup = m.min(group, m.c(sig.groups - 1));
  }
  auto activate = [&](ValueRange values) -> Value {
    if (!sig.activation)
      return values[0];
    return moe::emitActivation(b, b.getLoc(), *sig.activation, b.getF32Type(),
                               values);
  };
  auto pairType = VectorType::get({2}, sig.resultType);
  auto storePair = [&](Value v0, Value v1, Value row, Value col) {
    Value pair = vector::FromElementsOp::create(
        b, pairType,
        ValueRange{castFloat(b, v0, sig.resultType),
                   castFloat(b, v1, sig.resultType)});
    // row * columns + col is even, so the pair is aligned to its size.
    auto store = vector::StoreOp::create(b, pair, result, ValueRange{row, col});
    store.setAlignmentAttr(
        b.getI64IntegerAttr(2 * sig.resultType.getIntOrFloatBitWidth() / 8));
  };
  // Columns are even and the column counts multiples of 8: col < limit
  // covers col + 1 too; no test where every tile is inside.
  auto inside = [&](Value col, int64_t limit, int64_t tileColumns,
                    function_ref<void()> store) {
    if (limit % tileColumns == 0)
      store();
    else
      m.ifThen(m.ult(col, m.c(limit)), store);
  };
  for (int64_t mi = 0; mi < s.tile.chunks(); ++mi) {
    Value chunk = LLVM::ExtractValueOp::create(b, acc, mi);
    // Register `reg` plus the bias of weight column `col` (`biasCol` of
    // `biasOf` where that differs: an up column of gate/up boxes), in f32.
    auto value = [&](int64_t reg, Value col, Value biasCol = {},
                     Value biasOf = {}) -> Value {
      Value v = LLVM::ExtractValueOp::create(b, chunk, reg);
      Value owned = groupN ? m.ult(col, groupN) : Value();
      if (owned)
        v = m.select(owned, v, m.f32(0.0));
      if (!bias)
        return v;
      Value bv = castFloat(b,
                           memref::LoadOp::create(
                               b, biasOf ? biasOf : bias,
                               ValueRange{biasGroup, biasCol ? biasCol : col}),
                           b.getF32Type());
      Value on = owned ? m.both(biasOn, owned) : biasOn;
      return m.select(on, arith::AddFOp::create(b, v, bv), v);
    };
    for (int64_t half = 0; half < 2; ++half) {
      Value row = m.add(first, m.add(laneRow, m.c(mi * kWgmmaM + half * 8)));
      m.ifThen(m.ult(row, end), [&] {
        if (pairsBoxes(sig)) {
          // Registers of column group j hold gate columns, those of j + G
          // the up columns of the same outputs, G the column groups of half
          // the tile (upBiasAt: where each output's up bias is).
          int64_t gateGroups = s.tile.columns / 2 / 8;
          for (int64_t j = 0; j < gateGroups; ++j) {
            Value col = m.add(laneCol, m.c(j * 8));
            inside(col, sig.resultColumns(), s.tile.columns / 2, [&] {
              Value out[2];
              for (int64_t r = 0; r < 2; ++r) {
                int64_t reg = j * 4 + half * 2 + r;
                Value gateCol = m.add(col, m.c(r));
                Value gate = value(reg, col, gateCol);
                auto [upBias, upCol] =
                    upBiasAt(b, sig, bias, s.upBias, gateCol);
                out[r] = activate(
                    {gate, value(reg + 4 * gateGroups, col, upCol, upBias)});
              }
              storePair(out[0], out[1], row, col);
            });
          }
          return;
        }
        // This thread's column pairs of the row, bias and extents applied.
        auto forPairs = [&](function_ref<void(Value, Value, Value)> body) {
          for (int64_t j = 0; j < s.tile.columns / 8; ++j) {
            Value col = m.add(laneCol, m.c(j * 8));
            inside(col, sig.n, s.tile.columns, [&] {
              int64_t reg = j * 4 + half * 2;
              body(col, value(reg, col), value(reg + 1, m.add(col, m.c(1))));
            });
          }
        };
        if (sig.fusedCombine) {
          // The row's slot names its token (and routing weight); rows of no
          // slot (dropped) and the tail add nothing.
          Value slot = memref::LoadOp::create(b, s.rowSlots, ValueRange{row});
          Value valid =
              m.both(m.cmpi(arith::CmpIPredicate::sge, slot, m.i32(0)),
                     m.ult(group, m.c(sig.groups)));
          m.ifThen(valid, [&] {
            Value slotIdx = m.unsignedToIndex(slot);
            Value token = m.div(slotIdx, sig.combineSlots);
            Value weight;
            if (s.combineWeights)
              weight = castFloat(
                  b,
                  memref::LoadOp::create(
                      b, s.combineWeights,
                      ValueRange{token, m.rem(slotIdx, sig.combineSlots)}),
                  b.getF32Type());
            forPairs([&](Value col, Value v0, Value v1) {
              if (weight) {
                v0 = m.mulf(weight, v0);
                v1 = m.mulf(weight, v1);
              }
              Value at = m.add(m.mul(token, m.c(sig.n)), col);
              atomicAddF32(b, result, at, v0);
              atomicAddF32(b, result, m.add(at, m.c(1)), v1);
            });
          });
          return;
        }
        forPairs([&](Value col, Value v0, Value v1) {
          if (sig.isGated()) {
            // Interleaved: the pair is (gate, up) of column col / 2.
            memref::StoreOp::create(
                b, castFloat(b, activate({v0, v1}), sig.resultType), result,
                ValueRange{row, m.div(col, 2)});
            return;
          }
          storePair(activate({v0}), activate({v1}), row, col);
        });
      });
    }
  }
}

/// Waits until `phase` of mbarrier `index` of `barriers` has completed.
void waitForPhase(ImplicitLocOpBuilder &b, Value barriers, Value index,
                  Value phase) {
  Emitter m{b};
  Value parity = m.eq(m.rem(phase, 2), m.c(1)); // i1
  nvgpu::MBarrierTryWaitParityOp::create(b, barriers, parity, m.c(10000000),
                                         index);
}

/// The type of a wgmma descriptor of a [rows, columns] shared-memory tile.
static Type descriptorType(State &s, int64_t rows, int64_t columns) {
  MLIRContext *ctx = s.sig.elementType.getContext();
  return nvgpu::WarpgroupMatrixDescriptorType::get(
      ctx, MemRefType::get(
               {rows, columns}, s.sig.elementType, MemRefLayoutAttrInterface(),
               gpu::AddressSpaceAttr::get(ctx, gpu::AddressSpace::Workgroup)));
}

/// The accumulators as the NVVM ops hold them: one struct of columns / 2
/// f32 per 64-row chunk of the thread's consumer.
static Type accumulatorStruct(ImplicitLocOpBuilder &b, State &s) {
  Type chunk = LLVM::LLVMStructType::getLiteral(
      b.getContext(), SmallVector<Type>(s.tile.columns / 2, b.getF32Type()));
  return LLVM::LLVMStructType::getLiteral(
      b.getContext(), SmallVector<Type>(s.tile.chunks(), chunk));
}

Value initialAccumulators(ImplicitLocOpBuilder &b, State &s) {
  if (kMajorB(s.sig))
    return LLVM::ZeroOp::create(b, accumulatorStruct(b, s));
  auto type = nvgpu::WarpgroupAccumulatorType::get(
      b.getContext(),
      VectorType::get({kWgmmaTileM / s.tile.consumers, s.tile.columns},
                      b.getF32Type()));
  return nvgpu::WarpgroupMmaInitAccumulatorOp::create(b, type);
}

Value wgmmaStep(ImplicitLocOpBuilder &b, State &s, Value stage, Value acc) {
  if (kMajorB(s.sig))
    return kMajorWgmmaStep(b, s, stage, acc);
  Value descA = nvgpu::WarpgroupGenerateDescriptorOp::create(
      b, descriptorType(s, kWgmmaTileM / s.tile.consumers, kWgmmaTileK),
      consumerStageA(b, s, stage), s.mapA);
  Value descB = nvgpu::WarpgroupGenerateDescriptorOp::create(
      b, descriptorType(s, kWgmmaTileK, s.tile.columns), stageB(b, s, stage),
      s.mapB);
  // B is N-major in shared memory (weights are [K, N] row-major):
  // transposeB.
  return nvgpu::WarpgroupMmaOp::create(
      b, acc.getType(), descA, descB, /*waitGroup=*/uint64_t(1),
      /*transposeA=*/UnitAttr(), /*transposeB=*/b.getUnitAttr(), acc);
}

Value finishAccumulators(ImplicitLocOpBuilder &b, State &s, Value acc) {
  NVVM::WgmmaWaitGroupSyncOp::create(b, uint64_t(0));
  Type structType = accumulatorStruct(b, s);
  if (acc.getType() == structType)
    return acc;
  return UnrealizedConversionCastOp::create(b, structType, acc).getResult(0);
}

TileWork tileWork(ImplicitLocOpBuilder &b, gpu::GPUModuleOp module, State &s,
                  Value group, Value first, Value end, Value n0) {
  Emitter m{b};
  const GroupedMatmulSignature &sig = s.sig;
  TileWork tile;
  tile.group = group;
  tile.first = first;
  tile.end = end;
  tile.n0 = n0;
  // The tail (group E) runs no k step: its accumulators stay zero. So do
  // those of a tile past its group's N_g; a tile that straddles N_g
  // computes and storeTile zeroes its columns past N_g. A K_g that is no
  // multiple of kWgmmaTileK ends in a partial step (zeroRaggedStep).
  Value weightGroup = m.min(group, m.c(sig.groups - 1));
  auto [groupK, groupN] = groupExtents(b, module, sig, weightGroup);
  tile.computes = m.ult(group, m.c(sig.groups));
  if (!sig.extents.empty()) {
    tile.computes = m.both(tile.computes, m.ult(n0, groupN));
    tile.groupN = groupN;
  }
  tile.kLimit = groupK;
  tile.steps =
      m.select(tile.computes,
               m.div(m.add(groupK, m.c(kWgmmaTileK - 1)), kWgmmaTileK), m.c(0));
  tile.groupRow0 = m.mul(weightGroup, m.c(sig.transposedRhs ? sig.n : sig.k));
  return tile;
}

/// The 128 x 128 tile's k loop (one warpgroup issues the loads and runs
/// the wgmmas): thread 0 fills the ring, every thread waits for each
/// step's stage, runs its wgmma group and meets the others at a block
/// barrier, after which thread 0 refills the stage the previous step read.
/// Packed weights: the threads expand each step's B into its stage one step
/// ahead.
static void emitTileLoop(ImplicitLocOpBuilder &b, State &s,
                         const TileWork &tile) {
  MLIRContext *ctx = b.getContext();
  Emitter m{b};
  int64_t kStages = s.tile.stages;
  Value steps = tile.steps;
  s.barriers = nvgpu::MBarrierCreateOp::create(
      b, nvgpu::MBarrierGroupType::get(
             ctx, gpu::AddressSpaceAttr::get(ctx, gpu::AddressSpace::Workgroup),
             kStages));
  m.ifThen(m.eq(s.tid, m.c(0)), [&] {
    for (int64_t i = 0; i < kStages; ++i)
      nvgpu::MBarrierInitOp::create(b, s.barriers, m.c(1), m.c(i), Value());
    // The inits must be visible to the TMA engine's complete_tx.
    NVVM::FenceMbarrierInitOp::create(b);
  });
  // Packed weights: the threads expand step 0's B into stage 0 (the tail's
  // blocks, with no step, skip it); step t + 1's in the loop.
  Value weightGroup = m.min(tile.group, m.c(s.sig.groups - 1));
  std::optional<quantized::PackedColumn> packedB;
  if (s.sig.quantized) {
    packedB = packedColumn(b, s, weightGroup, tile.n0);
    m.ifThen(m.ult(m.c(0), steps), [&] {
      storePackedStep(b, s, *packedB,
                      loadPackedStep(b, s, *packedB, weightGroup, m.c(0)),
                      m.c(0));
    });
    publishStores(b, s.tile);
  } else {
    gpu::BarrierOp::create(b);
  }
  // Thread 0 issues step `step` into `stage` when the tile has it.
  auto issueIfDue = [&](ImplicitLocOpBuilder &ib, Value step, Value stage) {
    Emitter im{ib};
    im.ifThen(im.both(im.eq(s.tid, im.c(0)), im.ult(step, steps)),
              [&] { issueStep(ib, s, stage, step, tile); });
  };
  // Prologue: steps 0 .. kStages - 2 into stages 0 .. kStages - 2; step 0
  // issues step kStages - 1 into the last stage, unused so far.
  for (int64_t i = 0; i + 1 < kStages; ++i)
    issueIfDue(b, m.c(i), m.c(i));

  auto loop = scf::ForOp::create(
      b, m.c(0), steps, m.c(1), ValueRange{initialAccumulators(b, s)},
      [&](OpBuilder &nb, Location loc, Value step, ValueRange iter) {
        ImplicitLocOpBuilder ib(loc, nb);
        Emitter im{ib};
        Value stage = im.rem(step, kStages);
        // Packed weights: the next step's bits are in flight during this
        // step's wait and wgmma, then expanded into its stage, which the
        // wgmma of step - 2 read (done: waited for in step - 1).
        Value nextStep = im.add(step, im.c(1));
        std::optional<PackedStep> nextB;
        if (packedB)
          nextB = loadPackedStep(ib, s, *packedB, weightGroup,
                                 im.mul(nextStep, im.c(kWgmmaTileK)));
        waitForPhase(ib, s.barriers, stage, im.div(step, kStages));
        if (needsRaggedZeroing(s.sig)) {
          Value valid = im.sub(tile.kLimit, im.mul(step, im.c(kWgmmaTileK)));
          im.ifThen(im.ult(valid, im.c(kWgmmaTileK)),
                    [&] { zeroRaggedStep(ib, s, stage, valid); });
        }
        Value acc = wgmmaStep(ib, s, stage, iter[0]);
        if (nextB) {
          im.ifThen(im.ult(nextStep, steps), [&] {
            storePackedStep(ib, s, *packedB, *nextB, im.rem(nextStep, kStages));
          });
          publishStores(ib, s.tile);
        } else {
          gpu::BarrierOp::create(ib);
        }
        // Every thread has waited for step - 1's wgmma group: its stage (at
        // step 0 the last one, not used yet) is free for step - 1 + kStages.
        Value refill = im.add(step, im.c(kStages - 1));
        issueIfDue(ib, refill, im.rem(refill, kStages));
        scf::YieldOp::create(ib, acc);
      });
  storeTile(b, s, finishAccumulators(b, s, loop.getResult(0)), tile);
}

static gpu::GPUFuncOp buildKernel(gpu::GPUModuleOp gpuModule, StringRef name,
                                  const GroupedMatmulSignature &sig,
                                  const TileForm &tileForm) {
  MLIRContext *ctx = gpuModule.getContext();
  ImplicitLocOpBuilder b(gpuModule.getLoc(), ctx);
  b.setInsertionPointToEnd(gpuModule.getBody());
  Emitter m{b};
  Type elt = sig.elementType;
  int64_t dyn = ShapedType::kDynamic;
  auto ptr = LLVM::LLVMPointerType::get(ctx);
  // The maps (rows, weights, up weights; the rows' only for packed weights,
  // which the threads expand) follow the common arguments.
  int64_t maps = sig.quantized ? 1 : sig.splitWeights ? 3 : 2;
  SmallVector<Type> argTypes = groupedMatmulArgumentTypes(sig);
  argTypes.append(maps, ptr);
  auto func = gpu::GPUFuncOp::create(b, name, b.getFunctionType(argTypes, {}));
  func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
  func->setAttr(kWgmmaKernelAttr, b.getUnitAttr());
  if (tileForm.producer)
    func->setAttr(kPersistentGridAttr, b.getUnitAttr());
  func->setAttr(moe::kTensorMapParamsAttr, b.getI64IntegerAttr(maps));
  // The launch's grid, threads and shared memory.
  int64_t blockColumns =
      pairsBoxes(sig) ? tileForm.columns / 2 : tileForm.columns;
  int64_t columns = pairsBoxes(sig) ? sig.resultColumns() : sig.n;
  int64_t columnTiles = (columns + blockColumns - 1) / blockColumns;
  func->setAttr(kColumnTilesAttr, b.getI64IntegerAttr(columnTiles));
  func->setAttr(kDynamicSharedMemoryAttr,
                b.getI64IntegerAttr(tileForm.sharedMemoryBytes()));
  func.setKnownBlockSizeAttr(
      b.getDenseI32ArrayAttr({static_cast<int32_t>(tileForm.threads()), 1, 1}));
  b.setInsertionPointToStart(&func.getBody().front());

  // Arguments in the order of groupedMatmulArgumentTypes, then the maps.
  unsigned next = 0;
  auto arg = [&](bool present) {
    return present ? func.getArgument(next++) : Value();
  };
  bool packed = bool(sig.quantized);
  bool zeroPoints = packed && sig.quantized->zeroPoints;
  State s{sig, tileForm};
  Value lhs = arg(true);
  quantized::PackedWeight gate{arg(true), arg(packed), arg(zeroPoints)};
  quantized::PackedWeight up;
  if (sig.splitWeights)
    up = {arg(true), arg(packed), arg(zeroPoints)};
  s.offsets = arg(true);
  s.result = arg(true);
  s.bias = arg(bool(sig.biasType));
  s.upBias = arg(sig.hasUpBias());
  s.rowSlots = arg(sig.fusedCombine);
  s.combineWeights = arg(bool(sig.combineWeightType));
  // The descriptors arrive as pointers (a gpu.func cannot take
  // !nvgpu.tensormap.descriptor arguments through the NVVM lowering), to
  // the kernel's own parameter space once moe-gpu-tensor-map-params has
  // made them __grid_constant__; the casts fold away once nvgpu is lowered.
  auto map = [&](Type type) {
    return UnrealizedConversionCastOp::create(b, type, arg(true)).getResult(0);
  };
  s.mapA = map(wgmmaRowsMapType(ctx, elt));
  if (!packed) {
    s.mapB = map(wgmmaWeightsMapType(ctx, elt));
    if (sig.splitWeights)
      s.mapUp = map(wgmmaWeightsMapType(ctx, elt));
  }
  assert(next == func.getNumArguments() && "arguments left over");
  if (packed) {
    s.packed = gate;
    s.packedUp = up;
  }
  s.tid = gpu::ThreadIdOp::create(b, gpu::Dimension::x);
  // The producer warpgroup is the last: consumer c is warpgroup c.
  s.wgThread = m.rem(s.tid, kWgmmaThreads);
  s.consumer = tileForm.consumers == 1 ? m.c(0) : m.div(s.tid, kWgmmaThreads);
  s.rows = memref::DimOp::create(b, lhs, 0);

  auto workgroup =
      gpu::AddressSpaceAttr::get(ctx, gpu::AddressSpace::Workgroup);
  s.smem = gpu::DynamicSharedMemoryOp::create(
      b, MemRefType::get({dyn}, b.getI8Type(), MemRefLayoutAttrInterface(),
                         workgroup));
  Value address = memref::ExtractAlignedPointerAsIndexOp::create(b, s.smem);
  // The stages start at the first 1024-byte boundary past every static
  // variable: round up(address + staticSlack) - address.
  Value past = m.add(address, m.c(tileForm.staticSlack + kSwizzleAlign - 1));
  s.smemBase =
      m.sub(m.mul(m.div(past, kSwizzleAlign), m.c(kSwizzleAlign)), address);

  if (tileForm.producer) {
    assert(!packed && "the wide tile reads 16-bit maps only");
    emitWarpSpecialized(b, gpuModule, s, columnTiles, blockColumns);
  } else {
    Value scratch = memref::ViewOp::create(
        b,
        MemRefType::get({tileForm.scratchSlots()}, b.getI64Type(),
                        MemRefLayoutAttrInterface(), workgroup),
        s.smem, m.add(s.smemBase, m.c(tileForm.stages * tileForm.stageBytes())),
        ValueRange());
    auto [group, first, end] = findRowTile(b, s, scratch, tileForm.threads());
    auto hasTile = scf::IfOp::create(b, m.ult(group, m.c(sig.groups + 1)),
                                     /*withElseRegion=*/false);
    b.setInsertionPointToStart(hasTile.thenBlock());
    Value n0 =
        m.mul(gpu::BlockIdOp::create(b, gpu::Dimension::x), m.c(blockColumns));
    emitTileLoop(b, s, tileWork(b, gpuModule, s, group, first, end, n0));
  }
  b.setInsertionPointToEnd(&func.getBody().front());
  gpu::ReturnOp::create(b);
  if (sig.activation)
    expandKernelMath(func);
  return func;
}

} // namespace moe::detail::wgmma

using namespace moe::detail::wgmma;

Type moe::detail::wgmmaRowsMapType(MLIRContext *ctx, Type elementType) {
  return mapType(ctx, elementType, {kWgmmaTileM, kWgmmaTileK});
}

Type moe::detail::wgmmaWeightsMapType(MLIRContext *ctx, Type elementType) {
  return mapType(ctx, elementType, {kWgmmaTileK, kBoxN});
}

bool moe::detail::wgmmaWideTileFits(const GroupedMatmulSignature &sig) {
  if (sig.quantized)
    return false;
  return pairsBoxes(sig) ? sig.resultColumns() >= kWideTile.columns / 2
                         : sig.n >= kWideTile.columns;
}

gpu::GPUFuncOp moe::detail::getOrBuildWgmmaGroupedMatmulKernel(
    gpu::GPUModuleOp gpuModule, const GroupedMatmulSignature &sig, bool wide) {
  assert((!wide || wgmmaWideTileFits(sig)) && "no wide tile for these weights");
  std::string name = kernelName(sig);
  if (wide)
    name += "_ws256";
  if (auto existing = gpuModule.lookupSymbol<gpu::GPUFuncOp>(name))
    return existing;
  return buildKernel(gpuModule, name, sig, wide ? kWideTile : kNarrowTile);
}
