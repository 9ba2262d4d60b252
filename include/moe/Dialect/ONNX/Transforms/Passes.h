//===- Passes.h - onnx dialect passes ---------------------------*- C++ -*-===//

#ifndef MOE_DIALECT_ONNX_TRANSFORMS_PASSES_H
#define MOE_DIALECT_ONNX_TRANSFORMS_PASSES_H

#include "mlir/Pass/Pass.h"

namespace moe::onnx {

#define GEN_PASS_DECL
#include "moe/Dialect/ONNX/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "moe/Dialect/ONNX/Passes.h.inc"

} // namespace moe::onnx

#endif // MOE_DIALECT_ONNX_TRANSFORMS_PASSES_H
