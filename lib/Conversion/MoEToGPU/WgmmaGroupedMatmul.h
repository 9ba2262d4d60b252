//===- WgmmaGroupedMatmul.h - pieces of the sm_90a grouped matmul -*- C++
//-*-===//
//
// What the two forms of the wgmma kernel share: WgmmaGroupedMatmulKernel.cpp
// builds the kernel, its 128 x 128 tile and the parts below;
// WgmmaWarpSpecialized.cpp the roles of the persistent warp-specialized
// 128 x 256 one. The stage layout, the loads, the wgmma steps and the
// epilogue are the same for both; what differs is who issues the loads and
// how a block finds its tiles.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_LIB_CONVERSION_MOETOGPU_WGMMAGROUPEDMATMUL_H
#define MOE_LIB_CONVERSION_MOETOGPU_WGMMAGROUPEDMATMUL_H

#include "Kernels.h"
#include "QuantizedWeights.h"

#include "mlir/IR/ImplicitLocOpBuilder.h"

#include <array>

namespace moe::detail::wgmma {

/// Columns of one weights box: 64 16-bit elements are one 128-byte
/// swizzle row.
constexpr int64_t kBoxN = 64;
/// Bytes of one stage's rows box (16-bit elements).
constexpr int64_t kABytes = kWgmmaTileM * kWgmmaTileK * 2;
/// The 128-byte swizzle repeats every 1024 bytes.
constexpr int64_t kSwizzleAlign = 1024;
/// Rows of one wgmma instruction.
constexpr int64_t kWgmmaM = 64;

/// How a block computes its 128-row tiles.
struct TileForm {
  /// Weight columns of the tile (with gate/up boxes, half of them are the
  /// gate and half the up columns of as many outputs).
  int64_t columns;
  /// Depth of the TMA ring.
  int64_t stages;
  /// Warpgroups that run the wgmmas: one (both 64-row chunks) or two (one
  /// chunk each).
  int64_t consumers;
  /// Whether a warpgroup of its own issues the loads (warp-specialized:
  /// stages are handed back through mbarriers, no block barrier per k step;
  /// the grid is persistent and each role walks the block's tiles).
  bool producer;
  /// Upper bound on the kernel's static shared memory (the mbarriers and
  /// ordinary, demoted .shared variables placed among the static ones).
  int64_t staticSlack;

  int64_t threads() const { return kWgmmaThreads * (consumers + producer); }
  int64_t boxes() const { return columns / kBoxN; }
  int64_t bBytes() const { return kWgmmaTileK * columns * 2; }
  int64_t stageBytes() const { return kABytes + bBytes(); }
  /// 64-row chunks of each consumer's accumulators.
  int64_t chunks() const { return kWgmmaTileM / kWgmmaM / consumers; }
  /// The threads that run the wgmmas.
  int64_t wgmmaThreads() const { return consumers * kWgmmaThreads; }
  /// i64 slots after the stages for the row-tile search of the 128 x 128
  /// tile (findRowTile): one per warp, then its three results and one
  /// spare. The warp-specialized form walks the offsets instead.
  int64_t scratchSlots() const { return producer ? 0 : threads() / 32 + 4; }
  int64_t sharedMemoryBytes() const {
    // The stages, plus the worst-case realignment: the static variables sit
    // within staticSlack bytes before the segment's symbol.
    return stages * stageBytes() + scratchSlots() * 8 + kSwizzleAlign +
           staticSlack;
  }
};

/// One warpgroup, 128 x 128, 3 stages of 32 KB: two blocks share an SM
/// (227 KB), so that one block's prologue and epilogue overlap the other's
/// k loop. Reads every weight form.
constexpr TileForm kNarrowTile{kWgmmaTileN, 3, 1, false, 64};
/// 128 x 256 over two consumer warpgroups (m64n256k16 each) and a producer
/// warpgroup, 4 stages of 48 KB (one block per SM, which stays for several
/// tiles): twice the columns per row byte loaded, and loads that never wait
/// for a block barrier.
constexpr TileForm kWideTile{2 * kWgmmaTileN, 4, 2, true, 128};

/// The kernel's values shared by its parts.
struct State {
  State(const GroupedMatmulSignature &sig, const TileForm &tile)
      : sig(sig), tile(tile) {}

  const GroupedMatmulSignature &sig;
  const TileForm &tile;
  /// The kernel's buffers (bias: null without one).
  mlir::Value offsets, result, bias;
  /// Separate gate and up weights' up bias (null without).
  mlir::Value upBias;
  /// The row count (the rows map's rows).
  mlir::Value rows;
  /// Rows, weights, and the up weights of a separate gated layout (the
  /// rows map only for packed weights).
  mlir::Value mapA, mapB, mapUp, barriers, smem, smemBase, tid;
  /// The thread's index in its warpgroup, and which consumer warpgroup it is
  /// in (0 with one consumer): the rows of the tile it multiplies and stores.
  mlir::Value wgThread, consumer;
  /// Warp-specialized form: the mbarriers the consumers arrive on once
  /// their wgmmas no longer read a stage.
  mlir::Value emptyBarriers;
  /// A fused combine's row slots and routing weights (null: unweighted).
  mlir::Value rowSlots, combineWeights;
  /// Packed weights: the gate (or only) weight and the up weight.
  quantized::PackedWeight packed, packedUp;
};

/// One 128 x `columns` output tile and what its k loop needs.
struct TileWork {
  /// The group (E for the tail, whose rows are stored as zeros), its rows
  /// [first, end) in this tile, and the tile's first column: of the
  /// weights, or of the result with gate/up boxes.
  mlir::Value group, first, end, n0;
  /// Whether the tile runs its k steps (not the tail, not past N_g), and
  /// how many: ceil(K_g / 64), the last one partial when K_g is no multiple
  /// of 64 (kLimit = K_g).
  mlir::Value computes, steps, kLimit;
  /// The group's first row of the weights map (issueStep), and its N_g
  /// (null without group_extents).
  mlir::Value groupRow0, groupN;
};

/// The tile of rows [first, end) of `group` at column `n0`.
TileWork tileWork(mlir::ImplicitLocOpBuilder &b, mlir::gpu::GPUModuleOp module,
                  State &s, mlir::Value group, mlir::Value first,
                  mlir::Value end, mlir::Value n0);

/// Rows [start, end) of group g's range and its count of 128-row tiles, as
/// the offsets say: the tail g = E is [offsets[E], rows); past it, no tile.
/// Offsets past the row count (a bad input) are clamped to it.
std::array<mlir::Value, 3> groupRowTiles(mlir::ImplicitLocOpBuilder &b,
                                         State &s, mlir::Value g);

/// Whether a partial last k step must be zeroed past K_g (zeroRaggedStep).
bool needsRaggedZeroing(const GroupedMatmulSignature &sig);

/// Zeros what a partial k step (`valid` < 64 columns of the group) of
/// `stage` holds past the group's K, then publishes the stores to the
/// wgmmas of every thread that runs them.
void zeroRaggedStep(mlir::ImplicitLocOpBuilder &b, State &s, mlir::Value stage,
                    mlir::Value valid);

/// Arms `stage`'s mbarrier and issues the TMA loads of k step `step` of
/// `tile` into it.
void issueStep(mlir::ImplicitLocOpBuilder &b, State &s, mlir::Value stage,
               mlir::Value step, const TileWork &tile);

/// Waits until `phase` of mbarrier `index` of `barriers` has completed.
void waitForPhase(mlir::ImplicitLocOpBuilder &b, mlir::Value barriers,
                  mlir::Value index, mlir::Value phase);

/// The thread's zero accumulators: nvgpu's for an N-major B, else the LLVM
/// struct the NVVM ops hold (kMajorWgmmaStep).
mlir::Value initialAccumulators(mlir::ImplicitLocOpBuilder &b, State &s);
/// One k step's wgmma group on `stage` for the thread's consumer (its rows
/// times the whole B tile), committed; waits for the previous step's group
/// only.
mlir::Value wgmmaStep(mlir::ImplicitLocOpBuilder &b, State &s,
                      mlir::Value stage, mlir::Value acc);
/// Waits for every wgmma group, and returns `acc` as storeTile takes it:
/// one LLVM struct of columns / 2 f32 per 64-row chunk.
mlir::Value finishAccumulators(mlir::ImplicitLocOpBuilder &b, State &s,
                               mlir::Value acc);

/// Stores the thread's accumulators of `tile` (bias, activation, combine).
void storeTile(mlir::ImplicitLocOpBuilder &b, State &s, mlir::Value acc,
               const TileWork &tile);

/// Builds the warp-specialized form's roles (tile.producer) into the
/// kernel after its shared setup: the mbarriers, the producer warpgroup and
/// the consumer warpgroups, each walking the block's tiles.
void emitWarpSpecialized(mlir::ImplicitLocOpBuilder &b,
                         mlir::gpu::GPUModuleOp module, State &s,
                         int64_t columnTiles, int64_t blockColumns);

} // namespace moe::detail::wgmma

#endif // MOE_LIB_CONVERSION_MOETOGPU_WGMMAGROUPEDMATMUL_H
