//===- TypeImport.cpp - ONNX types to MLIR types --------------------------===//

#include "TypeImport.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/Twine.h"

using namespace mlir;
using namespace moe::onnx_import;

/// TensorProto.DataType names, indexed by value, for messages.
static const char *const kDataTypeNames[] = {
    "UNDEFINED",      "FLOAT",        "UINT8",          "INT8",
    "UINT16",         "INT16",        "INT32",          "INT64",
    "STRING",         "BOOL",         "FLOAT16",        "DOUBLE",
    "UINT32",         "UINT64",       "COMPLEX64",      "COMPLEX128",
    "BFLOAT16",       "FLOAT8E4M3FN", "FLOAT8E4M3FNUZ", "FLOAT8E5M2",
    "FLOAT8E5M2FNUZ", "UINT4",        "INT4",           "FLOAT4E2M1",
    "FLOAT8E8M0",     "UINT2",        "INT2",
};

llvm::Expected<ElementType>
moe::onnx_import::convertElementType(int32_t dataType, MLIRContext *ctx) {
  Builder b(ctx);
  using DT = ::onnx::TensorProto;
  switch (dataType) {
  case DT::FLOAT:
    return ElementType{b.getF32Type(), 4};
  case DT::DOUBLE:
    return ElementType{b.getF64Type(), 8};
  case DT::FLOAT16:
    return ElementType{b.getF16Type(), 2};
  case DT::BFLOAT16:
    return ElementType{b.getBF16Type(), 2};
  case DT::BOOL:
    return ElementType{b.getI1Type(), 1};
  case DT::INT8:
    return ElementType{b.getIntegerType(8), 1};
  case DT::INT16:
    return ElementType{b.getIntegerType(16), 2};
  case DT::INT32:
    return ElementType{b.getIntegerType(32), 4};
  case DT::INT64:
    return ElementType{b.getIntegerType(64), 8};
  case DT::UINT8:
    return ElementType{b.getIntegerType(8, /*isSigned=*/false), 1};
  case DT::UINT16:
    return ElementType{b.getIntegerType(16, /*isSigned=*/false), 2};
  case DT::UINT32:
    return ElementType{b.getIntegerType(32, /*isSigned=*/false), 4};
  case DT::UINT64:
    return ElementType{b.getIntegerType(64, /*isSigned=*/false), 8};
  default:
    break;
  }
  if (dataType > 0 && size_t(dataType) < std::size(kDataTypeNames))
    return llvm::createStringError(llvm::Twine("unsupported data type ") +
                                   kDataTypeNames[dataType] + " (" +
                                   llvm::Twine(dataType) + ")");
  if (dataType == 0)
    return llvm::createStringError("data type is UNDEFINED (0)");
  return llvm::createStringError("unknown data type " + llvm::Twine(dataType));
}

llvm::Expected<ValueType>
moe::onnx_import::convertType(const ::onnx::TypeProto &type, MLIRContext *ctx) {
  switch (type.value_case()) {
  case ::onnx::TypeProto::kTensorType:
    break;
  case ::onnx::TypeProto::VALUE_NOT_SET:
    return llvm::createStringError("no type given");
  case ::onnx::TypeProto::kSequenceType:
    return llvm::createStringError("sequence types are not supported yet");
  case ::onnx::TypeProto::kMapType:
    return llvm::createStringError("map types are not supported yet");
  case ::onnx::TypeProto::kOptionalType:
    return llvm::createStringError("optional types are not supported yet");
  case ::onnx::TypeProto::kSparseTensorType:
    return llvm::createStringError("sparse tensor types are not supported yet");
  default:
    return llvm::createStringError("unsupported kind of type");
  }

  const ::onnx::TypeProto::Tensor &tensor = type.tensor_type();
  llvm::Expected<ElementType> element =
      convertElementType(tensor.elem_type(), ctx);
  if (!element)
    return element.takeError();
  if (!tensor.has_shape())
    return ValueType{UnrankedTensorType::get(element->type), nullptr};

  Builder b(ctx);
  llvm::SmallVector<int64_t> shape;
  llvm::SmallVector<Attribute> dimParams;
  bool anySymbolic = false;
  for (const ::onnx::TensorShapeProto::Dimension &dim : tensor.shape().dim()) {
    if (dim.has_dim_value()) {
      if (dim.dim_value() < 0)
        return llvm::createStringError(
            "dimension " + llvm::Twine(shape.size()) + " is negative (" +
            llvm::Twine(dim.dim_value()) + ")");
      shape.push_back(dim.dim_value());
      dimParams.push_back(b.getStringAttr(""));
      continue;
    }
    shape.push_back(ShapedType::kDynamic);
    anySymbolic |= !dim.dim_param().empty();
    dimParams.push_back(b.getStringAttr(dim.dim_param()));
  }
  return ValueType{RankedTensorType::get(shape, element->type),
                   anySymbolic ? b.getArrayAttr(dimParams) : nullptr};
}
