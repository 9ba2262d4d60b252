//===- LayerReport.h - the --moe-report JSON writer -------------*- C++ -*-===//

#ifndef MOE_LIB_CONVERSION_ONNXTOMOE_LAYERREPORT_H
#define MOE_LIB_CONVERSION_ONNXTOMOE_LAYERREPORT_H

#include "Raise.h"

namespace moe {
namespace detail {

/// Writes one JSON entry per raised layer to `path`; an error at `loc` when
/// the file cannot be written.
mlir::LogicalResult writeLayerReport(llvm::ArrayRef<RaisedLayer> layers,
                                     llvm::StringRef path, mlir::Location loc);

} // namespace detail
} // namespace moe

#endif // MOE_LIB_CONVERSION_ONNXTOMOE_LAYERREPORT_H
