//===- WgmmaWarpSpecialized.cpp - the persistent warp-specialized tile ----===//
//
// The 128 x 256 form of the sm_90a grouped matmul (kWideTile), built the way
// Hopper GEMMs that reach the tensor cores' peak are: a producer warpgroup
// issues the TMA loads into a 4-stage ring, and two consumer warpgroups run
// m64n256k16 wgmmas on it (64 of the tile's rows each), handing stages back
// through mbarriers; no block barrier in the k loop.
//
// The grid is persistent: at most one block per SM (the launch's grid is the
// smaller of the tile bound and the SM count, kPersistentGridAttr), and block
// x takes the tiles x, x + G, x + 2G, ... (G = gridDim.x) of the row-major
// order t = rowTile * C + columnTile (C column tiles), so that the blocks at
// work at once share rows and weights in L2. The ring runs on from tile to
// tile: the producer loads the next tile's first stages while the consumers
// finish the current one and store it, which a block per tile cannot
// overlap (one block fills the SM's shared memory).
//
// Finding the tiles: each role walks the groups forward (walkToRowTile). A
// block's row tiles only grow, so over its life a walk reads each of the
// E + 1 offset ranges once, with no barrier, no shared memory and nothing
// passed between the roles. The producer's first thread walks alone; the 256
// consumer threads walk in step (their loads are of the same addresses).
// Row tiles past the tail's (t runs to C x the host's bound (rows + (E + 1)
// * 127) / 128) find group E + 1: no work.
//
// Ring: position r (counted over all of a role's k steps in the block) uses
// stage r % S; the TMA completes phase r / S of the stage's `full` mbarrier,
// and the consumers phase r / S of its `empty` one (lane 0 of each of their
// 8 warps arrives) once the wgmmas that read it have retired: at the next k
// step (wait_group 1 keeps one group in flight) or, for a tile's last step,
// after its wait_group 0. The producer waits for phase r / S - 1 of `empty`
// before it loads position r >= S.
//
// Registers: the producer gives its registers to the consumers (setmaxnreg:
// 56 + 2 x 224 per thread of the three warpgroups fit the SM's 64 K), whose
// accumulators take 128 of them. The producer keeps 56 rather than the
// 40 of a non-persistent producer: its walk over the tiles, the ring
// position and the tile's coordinates stay live across its k loop, and
// with 40 ptxas spills them.
//
//===----------------------------------------------------------------------===//

#include "Emitter.h"
#include "WgmmaGroupedMatmul.h"

#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"

using namespace mlir;
using namespace moe::detail;
using namespace moe::detail::wgmma;

namespace {

/// Where a walk over the groups stands: at `group`, after the `before` row
/// tiles of the groups below it.
struct Walk {
  Value group, before;
};

} // namespace

/// Walks on from `from` to the group that holds row tile `rowTile` (at or
/// past `from`'s): the first g with before(g) + tiles(g) > rowTile, or E + 1
/// past the tail. Returns the walk there and the group's rows [start, end).
static std::pair<Walk, std::array<Value, 2>>
walkToRowTile(ImplicitLocOpBuilder &b, State &s, Walk from, Value rowTile) {
  Emitter m{b};
  Type index = b.getIndexType();
  // group, before, and the group's start, end and tiles.
  SmallVector<Type> types(5, index);
  auto loop = scf::WhileOp::create(
      b, types, ValueRange{from.group, from.before, m.c(0), m.c(0), m.c(0)},
      [&](OpBuilder &nb, Location loc, ValueRange at) {
        ImplicitLocOpBuilder ib(loc, nb);
        Emitter im{ib};
        auto [start, end, tiles] = groupRowTiles(ib, s, at[0]);
        Value onward = im.both(
            im.cmpi(arith::CmpIPredicate::ule, at[0], im.c(s.sig.groups)),
            im.uge(rowTile, im.add(at[1], tiles)));
        scf::ConditionOp::create(ib, onward,
                                 ValueRange{at[0], at[1], start, end, tiles});
      },
      [&](OpBuilder &nb, Location loc, ValueRange at) {
        ImplicitLocOpBuilder ib(loc, nb);
        Emitter im{ib};
        // Past this group: its tiles join those before the next.
        scf::YieldOp::create(ib, ValueRange{im.add(at[0], im.c(1)),
                                            im.add(at[1], at[4]), at[2], at[3],
                                            at[4]});
      });
  return {Walk{loop.getResult(0), loop.getResult(1)},
          {loop.getResult(2), loop.getResult(3)}};
}

/// Runs `body` on each of the block's tiles, in order, with the role's ring
/// position; `body` returns the position after the tile's k steps. Tiles
/// past the tail come to group E + 1 and are skipped.
static void forEachTile(
    ImplicitLocOpBuilder &b, gpu::GPUModuleOp module, State &s,
    int64_t columnTiles, int64_t blockColumns,
    function_ref<Value(ImplicitLocOpBuilder &, const TileWork &, Value)> body) {
  Emitter m{b};
  const GroupedMatmulSignature &sig = s.sig;
  // The host's bound on the row tiles of all groups and the tail.
  Value rowTiles = rowTileBound(b, s.rows, sig.groups, kWgmmaTileM);
  Value first = gpu::BlockIdOp::create(b, gpu::Dimension::x);
  Value stride = gpu::GridDimOp::create(b, gpu::Dimension::x);
  scf::ForOp::create(
      b, first, m.mul(rowTiles, m.c(columnTiles)), stride,
      ValueRange{m.c(0), m.c(0), m.c(0)},
      [&](OpBuilder &nb, Location loc, Value t, ValueRange iter) {
        ImplicitLocOpBuilder ib(loc, nb);
        Emitter im{ib};
        // The walk so far and the ring position (the role's k steps).
        Walk from{iter[0], iter[1]};
        Value ring = iter[2];
        Value rowTile = im.div(t, columnTiles);
        auto [walk, rows] = walkToRowTile(ib, s, from, rowTile);
        Value group = walk.group;
        auto work = scf::IfOp::create(
            ib, ib.getIndexType(),
            im.cmpi(arith::CmpIPredicate::ule, group, im.c(sig.groups)),
            /*withElseRegion=*/true);
        ib.setInsertionPointToStart(work.thenBlock());
        Value firstRow = im.add(
            rows[0], im.mul(im.sub(rowTile, walk.before), im.c(kWgmmaTileM)));
        Value n0 = im.mul(im.rem(t, columnTiles), im.c(blockColumns));
        TileWork tile = tileWork(ib, module, s, group, firstRow, rows[1], n0);
        scf::YieldOp::create(ib, body(ib, tile, ring));
        ib.setInsertionPointToStart(work.elseBlock());
        scf::YieldOp::create(ib, ring);
        ib.setInsertionPointAfter(work);
        scf::YieldOp::create(
            ib, ValueRange{walk.group, walk.before, work.getResult(0)});
      });
}

/// Runs `body` on each k step of `tile` with its ring position (`ring` +
/// step).
static void
forEachStep(ImplicitLocOpBuilder &b, const TileWork &tile, Value ring,
            function_ref<void(ImplicitLocOpBuilder &, Value, Value)> body) {
  Emitter m{b};
  scf::ForOp::create(b, m.c(0), tile.steps, m.c(1), ValueRange(),
                     [&](OpBuilder &nb, Location loc, Value step, ValueRange) {
                       ImplicitLocOpBuilder ib(loc, nb);
                       body(ib, Emitter{ib}.add(ring, step), step);
                       scf::YieldOp::create(ib);
                     });
}

/// The producer's first thread: per k step of each tile, once the stage is
/// free, arms its `full` mbarrier and issues the loads.
static void emitProducer(ImplicitLocOpBuilder &b, gpu::GPUModuleOp module,
                         State &s, int64_t columnTiles, int64_t blockColumns) {
  int64_t stages = s.tile.stages;
  forEachTile(b, module, s, columnTiles, blockColumns,
              [&](ImplicitLocOpBuilder &tb, const TileWork &tile, Value ring) {
                forEachStep(
                    tb, tile, ring,
                    [&](ImplicitLocOpBuilder &ib, Value position, Value step) {
                      Emitter im{ib};
                      Value stage = im.rem(position, stages);
                      im.ifThen(im.uge(position, im.c(stages)), [&] {
                        waitForPhase(ib, s.emptyBarriers, stage,
                                     im.sub(im.div(position, stages), im.c(1)));
                      });
                      issueStep(ib, s, stage, step, tile);
                    });
                return Emitter{tb}.add(ring, tile.steps);
              });
}

/// Hands ring position `position` back to the producer: lane 0 of each
/// consumer warp arrives on its stage's `empty` mbarrier.
static void handBack(ImplicitLocOpBuilder &b, State &s, Value position,
                     Value when) {
  Emitter m{b};
  Value lane = m.rem(s.tid, 32);
  m.ifThen(m.both(when, m.eq(lane, m.c(0))), [&] {
    nvgpu::MBarrierArriveOp::create(
        b, nvgpu::MBarrierTokenType::get(b.getContext()), s.emptyBarriers,
        m.rem(position, s.tile.stages));
  });
}

/// Waits for ring position `position`'s stage (k step `step` of `tile`) and
/// zeroes a partial step past K_g, which both consumers do and end at named
/// barrier 1. Returns the stage.
static Value awaitStage(ImplicitLocOpBuilder &b, State &s, const TileWork &tile,
                        Value position, Value step) {
  Emitter m{b};
  Value stage = m.rem(position, s.tile.stages);
  waitForPhase(b, s.barriers, stage, m.div(position, s.tile.stages));
  if (needsRaggedZeroing(s.sig)) {
    Value valid = m.sub(tile.kLimit, m.mul(step, m.c(kWgmmaTileK)));
    m.ifThen(m.ult(valid, m.c(kWgmmaTileK)),
             [&] { zeroRaggedStep(b, s, stage, valid); });
  }
  return stage;
}

/// A consumer warpgroup: per tile, per k step, waits for the stage, runs
/// its wgmma group and hands back the previous step's stage; then retires
/// the last group, hands back its stage and stores the tile.
///
/// A consumer whose 64 rows of the tile are all past the group's end (a
/// group's last tile, with at most 64 rows left) runs no wgmma: the other
/// consumer's then have the SM's tensor cores to themselves, so the tile
/// takes about half as long. Random top-k routing leaves such a tile in
/// about half the groups when they average ~128 rows (DeepSeek-V3 at
/// T = 4096: 32768 rows over 256 experts). It still waits for each stage,
/// zeroes its share of a partial step, and hands each stage back at once.
static void emitConsumer(ImplicitLocOpBuilder &b, gpu::GPUModuleOp module,
                         State &s, int64_t columnTiles, int64_t blockColumns) {
  forEachTile(
      b, module, s, columnTiles, blockColumns,
      [&](ImplicitLocOpBuilder &tb, const TileWork &tile, Value ring) {
        Emitter tm{tb};
        Value end = tm.add(ring, tile.steps);
        Value ownFirst = tm.add(
            tile.first, tm.mul(s.consumer, tm.c(s.tile.chunks() * kWgmmaM)));
        auto owns = scf::IfOp::create(tb, tm.ult(ownFirst, tile.end),
                                      /*withElseRegion=*/true);
        tb.setInsertionPointToStart(owns.thenBlock());
        auto loop = scf::ForOp::create(
            tb, tm.c(0), tile.steps, tm.c(1),
            ValueRange{initialAccumulators(tb, s)},
            [&](OpBuilder &nb, Location loc, Value step, ValueRange iter) {
              ImplicitLocOpBuilder ib(loc, nb);
              Emitter im{ib};
              Value position = im.add(ring, step);
              Value stage = awaitStage(ib, s, tile, position, step);
              Value acc = wgmmaStep(ib, s, stage, iter[0]);
              // The previous step's wgmmas have retired.
              handBack(ib, s, im.sub(position, im.c(1)), im.uge(step, im.c(1)));
              scf::YieldOp::create(ib, acc);
            });
        Value acc = finishAccumulators(tb, s, loop.getResult(0));
        handBack(tb, s, tm.sub(end, tm.c(1)), tm.uge(tile.steps, tm.c(1)));
        storeTile(tb, s, acc, tile);
        tb.setInsertionPointToStart(owns.elseBlock());
        forEachStep(tb, tile, ring,
                    [&](ImplicitLocOpBuilder &ib, Value position, Value step) {
                      awaitStage(ib, s, tile, position, step);
                      handBack(ib, s, position, Emitter{ib}.i1(true));
                    });
        tb.setInsertionPointAfter(owns);
        return end;
      });
}

void moe::detail::wgmma::emitWarpSpecialized(ImplicitLocOpBuilder &b,
                                             gpu::GPUModuleOp module, State &s,
                                             int64_t columnTiles,
                                             int64_t blockColumns) {
  MLIRContext *ctx = b.getContext();
  Emitter m{b};
  const TileForm &tile = s.tile;
  int64_t stages = tile.stages;
  auto workgroup =
      gpu::AddressSpaceAttr::get(ctx, gpu::AddressSpace::Workgroup);
  auto groupType = nvgpu::MBarrierGroupType::get(ctx, workgroup, stages);
  s.barriers = nvgpu::MBarrierCreateOp::create(b, groupType);
  s.emptyBarriers = nvgpu::MBarrierCreateOp::create(b, groupType);
  int64_t consumerWarps = tile.wgmmaThreads() / 32;
  m.ifThen(m.eq(s.tid, m.c(0)), [&] {
    for (int64_t i = 0; i < stages; ++i) {
      nvgpu::MBarrierInitOp::create(b, s.barriers, m.c(1), m.c(i), Value());
      nvgpu::MBarrierInitOp::create(b, s.emptyBarriers, m.c(consumerWarps),
                                    m.c(i), Value());
    }
    // The inits must be visible to the TMA engine's complete_tx.
    NVVM::FenceMbarrierInitOp::create(b);
  });
  gpu::BarrierOp::create(b);

  Value isProducer = m.eq(m.div(s.tid, kWgmmaThreads), m.c(tile.consumers));
  auto roles = scf::IfOp::create(b, isProducer, /*withElseRegion=*/true);
  b.setInsertionPointToStart(roles.thenBlock());
  NVVM::SetMaxRegisterOp::create(b, 56, NVVM::SetMaxRegisterAction::decrease);
  m.ifThen(m.eq(s.wgThread, m.c(0)),
           [&] { emitProducer(b, module, s, columnTiles, blockColumns); });
  b.setInsertionPointToStart(roles.elseBlock());
  NVVM::SetMaxRegisterOp::create(b, 224, NVVM::SetMaxRegisterAction::increase);
  emitConsumer(b, module, s, columnTiles, blockColumns);
}
