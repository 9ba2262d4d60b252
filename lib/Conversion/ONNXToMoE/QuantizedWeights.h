//===- QuantizedWeights.h - QMoE's quantized expert weights -----*- C++ -*-===//
//
// com.microsoft.QMoE stores each expert projection as packed integer bytes
// [E, N, ceil(K * bits / 8)] with scales (and optional zero points). Raising
// keeps those bytes where the importer put them (a memory-mapped resource)
// and expands them at run time with moe.dequantize.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_LIB_CONVERSION_ONNXTOMOE_QUANTIZEDWEIGHTS_H
#define MOE_LIB_CONVERSION_ONNXTOMOE_QUANTIZEDWEIGHTS_H

#include "Raise.h"

namespace moe {
namespace detail {

/// One quantized projection of a QMoE node, checked against moe.dequantize.
struct QuantizedWeight {
  /// The constant bytes [E, N, packed K], and their scales / zero points.
  mlir::Value weight, scales, zeroPoints;
  int64_t bits = 0;
  std::optional<int64_t> blockSize;
  /// The dequantized weight's type, [E, N, K].
  mlir::RankedTensorType floatType;
};

/// Reads the projection `name` (fc1, fc2, fc3). Fails with a near-miss
/// reason naming the input and the broken relation; creates no IR.
mlir::FailureOr<QuantizedWeight>
readQuantizedWeight(llvm::StringRef name, mlir::Value weight,
                    mlir::Value scales, mlir::Value zeroPoints, int64_t bits,
                    std::optional<int64_t> blockSize, mlir::Type elementType,
                    const NearMiss &miss);

/// Creates moe.dequantize of `q` at the rewriter's insertion point, over a
/// signless i8 view of the same bytes (no copy).
mlir::Value materializeDequantize(const QuantizedWeight &q,
                                  mlir::RewriterBase &rewriter,
                                  mlir::Location loc);

} // namespace detail
} // namespace moe

#endif // MOE_LIB_CONVERSION_ONNXTOMOE_QUANTIZEDWEIGHTS_H
