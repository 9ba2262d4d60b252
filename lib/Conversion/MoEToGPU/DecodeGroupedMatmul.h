//===- DecodeGroupedMatmul.h - pieces of the decode kernel ------*- C++ -*-===//
//
// What the weight-streaming decode kernel (DecodeGroupedMatmulKernel.cpp)
// shares with the streaming of weights stored along K
// (DecodeAlongK.cpp): the block's state, the row operands and the
// register-fed m16n8k16 mma.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_LIB_CONVERSION_MOETOGPU_DECODEGROUPEDMATMUL_H
#define MOE_LIB_CONVERSION_MOETOGPU_DECODEGROUPEDMATMUL_H

#include "Kernels.h"

#include "mlir/IR/ImplicitLocOpBuilder.h"

namespace moe::detail::decode {

/// Warps of a kDecodeThreads block: the reduction buffer's slots (a wider
/// block's warps add theirs into slot warp % kWarps in turns).
constexpr int64_t kWarps = kDecodeThreads / 32;
/// Elements per 16-byte load of a 16-bit type.
constexpr int64_t kVec = 8;
/// mma tiles per warp: kMmaTilesM x 16 rows, kMmaTilesN x 8 columns.
constexpr int64_t kMmaTilesM = kDecodeRowsPerPass / 16;
constexpr int64_t kMmaTilesN = kDecodeSlabN / 8;

struct DecodeState {
  explicit DecodeState(const GroupedMatmulSignature &sig) : sig(sig) {}
  const GroupedMatmulSignature &sig;
  /// upBias: separate gate and up weights' up bias (null without).
  mlir::Value lhs, rhs, rhsUp, offsets, result, bias, upBias, red;
  /// Quantized weights: rhs (rhsUp) is the packed bytes, then these.
  mlir::Value scales, zeroPoints, upScales, upZeroPoints;
  mlir::Value tid, lane, warp, quad, pair, rows;
  /// The block's warps (kWarps, or a multiple for the wide form), which
  /// split K: warp w takes every warps-th iteration from w.
  int64_t warps = kWarps;
  /// The block's group's K and N (group_extents, else the signature's).
  mlir::Value groupK, groupN;
  /// Shared index slots written once before the passes (kernel-local).
  mlir::Value scalars;
};

/// The lhs rows a lane's A operands read in a pass from row m0: rows
/// m0 + 16 i + 8 h + quad (i < kMmaTilesM, h < 2, in that order), each
/// clamped to m0 past `end`, and whether each is inside.
struct LaneRows {
  llvm::SmallVector<mlir::Value, 2 * kMmaTilesM> rows, valid;
};
LaneRows laneRows(mlir::ImplicitLocOpBuilder &b, DecodeState &s, mlir::Value m0,
                  mlir::Value end);

/// A 16-byte load of `type` from `memref` at `indices`, or zeros where
/// `valid` is false (the address must be valid either way).
mlir::Value loadVec(mlir::ImplicitLocOpBuilder &b, mlir::VectorType type,
                    mlir::Value memref, mlir::ValueRange indices,
                    mlir::Value valid);

/// One mma operand register from a pair of 16-bit elements: f16 goes as
/// vector<2xf16>, bf16 as an i32 (what nvvm.mma.sync takes for each).
mlir::Value mmaRegister(mlir::ImplicitLocOpBuilder &b, mlir::Value pair);

/// Elements `first` and `first + 1` of the vector `v` as one mma register.
mlir::Value mmaSlice(mlir::ImplicitLocOpBuilder &b, mlir::Value v,
                     int64_t first);

/// acc += A * B by one m16n8k16 mma.sync (row.col, fp32 accumulators).
void mmaAccumulate(mlir::ImplicitLocOpBuilder &b, mlir::Value &acc,
                   llvm::ArrayRef<mlir::Value> a,
                   llvm::ArrayRef<mlir::Value> bOps, mlir::Type elementType);

/// The warp's kMmaTilesM x kMmaTilesN accumulators for rows [m0, m0 +
/// kDecodeRowsPerPass) of group g and slab columns [n0, n0 + kDecodeSlabN),
/// from weights stored along K (transposed or packed: DecodeAlongK.cpp),
/// laid out as streamSlab's: position p of n tile t is column n0 + 8 p + t.
llvm::SmallVector<mlir::Value> streamSlabAlongK(mlir::ImplicitLocOpBuilder &b,
                                                DecodeState &s, mlir::Value g,
                                                mlir::Value m0, mlir::Value end,
                                                mlir::Value n0);

} // namespace moe::detail::decode

#endif // MOE_LIB_CONVERSION_MOETOGPU_DECODEGROUPEDMATMUL_H
