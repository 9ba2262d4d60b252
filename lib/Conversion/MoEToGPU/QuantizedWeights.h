//===- QuantizedWeights.h - expanding packed weights ------------*- C++ -*-===//
//
// What the decode kernel (DecodeAlongK.cpp) and the tile kernel
// (GroupedMatmulKernel.cpp) share to read onnxruntime's QMoE weights:
// `bits`-bit values packed low bits first along K of each [N, K] row,
// block-wise or per-row scales, optional packed zero points. A value becomes
// (q - zero point) * scale in fp32 without a conversion instruction (I2F
// issues at a quarter of the FMA rate): q OR 0x4B000000 is the float
// 2^23 + q, from which 2^23 + zero point is subtracted exactly.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_LIB_CONVERSION_MOETOGPU_QUANTIZEDWEIGHTS_H
#define MOE_LIB_CONVERSION_MOETOGPU_QUANTIZEDWEIGHTS_H

#include "Kernels.h"

#include "mlir/IR/ImplicitLocOpBuilder.h"

#include <optional>
#include <string>

namespace moe::detail::quantized {

/// The weights' form in kernel names: "_q<bits>_[b<block size>_]<scale
/// type>[_zp]" for quantized ones, "_t" for [E, N, K] ones, "" for [E, K, N].
std::string kernelSuffix(const GroupedMatmulSignature &sig);

/// One packed weight as the kernels take it: the bytes [E, N, K * bits / 8],
/// the scales and the zero points (null without).
struct PackedWeight {
  mlir::Value bytes, scales, zeroPoints;
};

/// `up` where `isUp` holds, else `gate` (a lane's or thread's weight when
/// gate and up are two weights).
PackedWeight selectWeight(mlir::ImplicitLocOpBuilder &b, mlir::Value isUp,
                          const PackedWeight &up, const PackedWeight &gate);

/// The packed bytes [E, N, K * bits / 8] as i32 words [E * N * rowWords].
mlir::Value packedWords(mlir::ImplicitLocOpBuilder &b, mlir::Value bytes);

/// The index in packedWords of the first word of column `col` of group `g`
/// (rows of K values: K is a multiple of 32 / bits, whole words).
mlir::Value rowStartWord(mlir::ImplicitLocOpBuilder &b,
                         const GroupedMatmulSignature &sig, mlir::Value g,
                         mlir::Value col);

/// What one value of the packed rows needs besides its bits: its column's
/// (block's) scale and 2^23 + zero point, as f32.
struct Expansion {
  mlir::Value scale, offset;
};

/// The scale and offset of column `col` of group `g`, block `block` (an
/// index; null for per-row scales), from the scales and zero points of `w`.
Expansion expansionAt(mlir::ImplicitLocOpBuilder &b,
                      const GroupedMatmulSignature::Quantized &q,
                      const PackedWeight &w, mlir::Value g, mlir::Value col,
                      mlir::Value block);

/// The expansions of `count` consecutive blocks from `firstBlock`, a
/// multiple of `count` (a power of two dividing the blocks of a row), of
/// column `col` of group `g`: one vector load of their scales and one of
/// the zero-point bytes that hold theirs, rather than a load of each for
/// each block (a lane's load of packed values spanning two blocks).
llvm::SmallVector<Expansion, 2>
expansionsAt(mlir::ImplicitLocOpBuilder &b,
             const GroupedMatmulSignature::Quantized &q, const PackedWeight &w,
             mlir::Value g, mlir::Value col, mlir::Value firstBlock,
             int64_t count);

/// The value at bit `bit` of the packed i32 words `words` (a vector),
/// expanded with `e` to f32.
mlir::Value expandValue(mlir::ImplicitLocOpBuilder &b,
                        const GroupedMatmulSignature::Quantized &q,
                        mlir::Value words, int64_t bit, const Expansion &e);

/// The packed column a thread expands over the whole K loop: its weight,
/// the weight's bytes as i32 words (packedWords), the column (clamped inside
/// the weight), the column's first word (rowStartWord) and, with per-row
/// scales, its expansion, loaded once.
struct PackedColumn {
  PackedWeight weight;
  mlir::Value words, column, rowStart;
  std::optional<Expansion> rowExpansion;
};

/// Column `column` of group `group` of `weight`.
PackedColumn packedColumn(mlir::ImplicitLocOpBuilder &b,
                          const GroupedMatmulSignature &sig,
                          const PackedWeight &weight, mlir::Value group,
                          mlir::Value column);

/// The `values` packed values of `c` from K `k` as i32 words (a vector),
/// in one load aligned to its size (k is a multiple of `values`, which the
/// column's rows are too).
mlir::Value loadPacked(mlir::ImplicitLocOpBuilder &b,
                       const GroupedMatmulSignature::Quantized &q,
                       const PackedColumn &c, mlir::Value k, int64_t values);

/// Steps of 4 values that share a scale when a lane's `perLoad` consecutive
/// values start at a multiple of perLoad: all of them when a block holds
/// whole loads, a block's when a load holds whole blocks, else 1.
int64_t stepsPerScale(const GroupedMatmulSignature::Quantized &q,
                      int64_t perLoad);

} // namespace moe::detail::quantized

#endif // MOE_LIB_CONVERSION_MOETOGPU_QUANTIZEDWEIGHTS_H
