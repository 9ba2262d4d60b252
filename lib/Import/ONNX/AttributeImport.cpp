//===- AttributeImport.cpp - ONNX attributes to MLIR attributes -----------===//

#include "AttributeImport.h"
#include "TypeImport.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/SmallVector.h"

using namespace mlir;
using namespace moe::onnx_import;

llvm::Expected<Attribute>
moe::onnx_import::convertAttribute(const ::onnx::AttributeProto &attr,
                                   TensorImporter &tensors, MLIRContext *ctx) {
  Builder b(ctx);
  using AP = ::onnx::AttributeProto;
  if (!attr.ref_attr_name().empty())
    return llvm::createStringError(
        "references function attribute '" + attr.ref_attr_name() +
        "' (model-local functions are not supported yet)");

  auto importTensor =
      [&](const ::onnx::TensorProto &tensor) -> llvm::Expected<Attribute> {
    llvm::Expected<ElementsAttr> value = tensors.import(
        tensor, std::nullopt, TensorImporter::Storage::InlineIfSmall,
        tensor.name().empty() ? attr.name() : tensor.name());
    if (!value)
      return value.takeError();
    return Attribute(*value);
  };
  auto importType =
      [&](const ::onnx::TypeProto &type) -> llvm::Expected<Attribute> {
    llvm::Expected<ValueType> converted = convertType(type, ctx);
    if (!converted)
      return converted.takeError();
    return Attribute(TypeAttr::get(converted->type));
  };

  switch (attr.type()) {
  case AP::FLOAT:
    return b.getF32FloatAttr(attr.f());
  case AP::INT:
    return b.getI64IntegerAttr(attr.i());
  case AP::STRING:
    return b.getStringAttr(attr.s());
  case AP::TENSOR:
    return importTensor(attr.t());
  case AP::TYPE_PROTO:
    return importType(attr.tp());
  case AP::FLOATS:
    return b.getDenseF32ArrayAttr(
        llvm::SmallVector<float>(attr.floats().begin(), attr.floats().end()));
  case AP::INTS:
    return b.getDenseI64ArrayAttr(
        llvm::SmallVector<int64_t>(attr.ints().begin(), attr.ints().end()));
  case AP::STRINGS: {
    llvm::SmallVector<Attribute> values;
    for (const std::string &s : attr.strings())
      values.push_back(b.getStringAttr(s));
    return b.getArrayAttr(values);
  }
  case AP::TENSORS: {
    llvm::SmallVector<Attribute> values;
    for (const ::onnx::TensorProto &tensor : attr.tensors()) {
      llvm::Expected<Attribute> value = importTensor(tensor);
      if (!value)
        return value.takeError();
      values.push_back(*value);
    }
    return b.getArrayAttr(values);
  }
  case AP::TYPE_PROTOS: {
    llvm::SmallVector<Attribute> values;
    for (const ::onnx::TypeProto &type : attr.type_protos()) {
      llvm::Expected<Attribute> value = importType(type);
      if (!value)
        return value.takeError();
      values.push_back(*value);
    }
    return b.getArrayAttr(values);
  }
  case AP::GRAPH:
  case AP::GRAPHS:
    return llvm::createStringError(
        "graph attributes (control flow: If, Loop, Scan) are not supported "
        "yet");
  case AP::SPARSE_TENSOR:
  case AP::SPARSE_TENSORS:
    return llvm::createStringError(
        "sparse tensor attributes are not supported yet");
  case AP::UNDEFINED:
    return llvm::createStringError("attribute type is UNDEFINED");
  }
  return llvm::createStringError("unknown attribute type " +
                                 llvm::Twine(int(attr.type())));
}
