//===- Passes.h - moe-opt conversion passes ---------------------*- C++ -*-===//

#ifndef MOE_CONVERSION_PASSES_H
#define MOE_CONVERSION_PASSES_H

#include "moe/Conversion/MoEToGPU/MoEToGPU.h"
#include "moe/Conversion/MoEToLinalg/MoEToLinalg.h"
#include "moe/Conversion/ONNXToLinalg/ONNXToLinalg.h"
#include "moe/Conversion/ONNXToMoE/ONNXToMoE.h"

#include "mlir/Pass/Pass.h"

namespace moe {

#define GEN_PASS_DECL
#include "moe/Conversion/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "moe/Conversion/Passes.h.inc"

} // namespace moe

#endif // MOE_CONVERSION_PASSES_H
