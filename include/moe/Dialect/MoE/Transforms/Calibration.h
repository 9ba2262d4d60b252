//===- Calibration.h - calibration statistics for moe passes ----*- C++ -*-===//
//
// The statistics file written by `python -m moe_opt.calibrate` (format
// docs/Calibration.md) and the raised layers of a module it describes.
// Passes that read statistics (pruning, balancing) load and match them here
// before touching the IR, so that a bad file leaves the IR unchanged.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_DIALECT_MOE_TRANSFORMS_CALIBRATION_H
#define MOE_DIALECT_MOE_TRANSFORMS_CALIBRATION_H

#include "moe/Dialect/MoE/IR/MoE.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/SmallVector.h"

#include <optional>
#include <string>
#include <vector>

namespace moe {

/// The statistics format version this compiler reads.
constexpr int64_t kCalibrationVersion = 1;

/// One layer's entry of the statistics file.
struct LayerCalibration {
  int64_t numExperts = 0;
  int64_t tokens = 0;
  llvm::SmallVector<int64_t> usage;
  std::string routerWeight;
  /// The ONNX name of the layer's input tokens ("tensors.input").
  std::string inputName;
  std::vector<std::string> weights;
  /// Recorded router logits, row-major [rows, numExperts]; empty when the
  /// file was written without --logits-sample.
  std::vector<double> routerLogits;
  int64_t numLogitRows = 0;
  /// Cosine similarity of the experts' router-logit columns, row-major
  /// [numExperts, numExperts] ("logit_similarity"); empty when absent.
  std::vector<double> logitSimilarity;
  /// Median of w1 / w0 over the calibration tokens ("top2_ratio_median");
  /// absent for k = 1, expert choice, or files without it.
  std::optional<double> top2RatioMedian;
  /// The first tokens' layer input rows, row-major [numInputRows,
  /// inputWidth] ("input_sample", written with --input-sample N); empty
  /// otherwise.
  std::vector<float> inputSample;
  int64_t numInputRows = 0, inputWidth = 0;
};

/// One raised MoE layer of a module: its ops, in program order.
struct MoELayer {
  GateOp gate;
  RouteOp route;
  DispatchOp dispatch;
  ExpertsOp experts;
};

/// Reads and checks the statistics file; the error names the file and says
/// what is wrong (unreadable, not JSON, another format or version, a field
/// missing or of the wrong type).
mlir::FailureOr<llvm::SmallVector<LayerCalibration, 0>>
loadCalibration(llvm::StringRef path, mlir::Location loc);

/// The raised layers of `module` (one per moe.route / moe.fused_route, in
/// program order). Fails, with the reason at the op, when a layer is not the
/// gate -> route -> dispatch -> experts chain that the passes edit.
mlir::FailureOr<llvm::SmallVector<MoELayer>>
collectLayers(mlir::Operation *module);

/// Checks that `stats` describes `layers`: layer count, expert count, the
/// ONNX names of the layer input and of the router and expert weight
/// initializers wherever the IR still knows them; the error says what
/// differs.
mlir::LogicalResult matchCalibration(llvm::ArrayRef<LayerCalibration> stats,
                                     llvm::ArrayRef<MoELayer> layers,
                                     llvm::StringRef path, mlir::Location loc);

/// A module's raised layers with the statistics that describe them.
struct CalibratedLayers {
  llvm::SmallVector<LayerCalibration, 0> stats;
  llvm::SmallVector<MoELayer> layers;
};

/// What every calibrated pass does first: `path` given, loaded, checked and
/// matched with the module's layers (errors name `passName`'s option, the
/// file, and what is wrong).
mlir::FailureOr<CalibratedLayers>
loadCalibratedLayers(mlir::ModuleOp module, llvm::StringRef path,
                     llvm::StringRef passName);

/// The `count` highest ranked experts, ties to the lower index, in id
/// order (the kept or dominant experts of pruning and merging).
llvm::SmallVector<int64_t> topRanked(llvm::ArrayRef<double> rank,
                                     int64_t count);

/// The resource name of a constant weight (its ONNX initializer name), or
/// "" when `v` is not a resource-backed constant.
std::string constantName(mlir::Value v);

} // namespace moe

#endif // MOE_DIALECT_MOE_TRANSFORMS_CALIBRATION_H
