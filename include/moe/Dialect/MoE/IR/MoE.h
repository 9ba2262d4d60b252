//===- MoE.h - moe dialect --------------------------------------*- C++ -*-===//

#ifndef MOE_DIALECT_MOE_IR_MOE_H
#define MOE_DIALECT_MOE_IR_MOE_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "moe/Dialect/MoE/MoEDialect.h.inc"
#include "moe/Dialect/MoE/MoEEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "moe/Dialect/MoE/MoEAttrs.h.inc"

#define GET_OP_CLASSES
#include "moe/Dialect/MoE/MoEOps.h.inc"

#endif // MOE_DIALECT_MOE_IR_MOE_H
