//===- TensorImporter.cpp - TensorProto to ElementsAttr -------------------===//
//
// Tensor data comes from one of three places, checked in ONNX's order:
// external data (a file next to the model), raw_data (little-endian bytes),
// or a typed repeated field (float_data, int32_data, ...). The first two are
// referenced in place (whatever their alignment); the typed fields
// are packed into a new buffer, which is the one unavoidable copy.
//
//===----------------------------------------------------------------------===//

#include "TensorImporter.h"
#include "TypeImport.h"

#include "mlir/IR/AsmState.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <cstring>

using namespace mlir;
using namespace moe::onnx_import;
using llvm::ArrayRef;

/// Tensors up to this size that are in memory anyway may be inline `dense`
/// attributes: readable in tests, foldable, and cheap.
static constexpr uint64_t kMaxInlineBytes = 1024;

static std::string typeString(Type type) {
  std::string s;
  llvm::raw_string_ostream(s) << type;
  return s;
}

/// Packs a typed repeated field into little-endian elements of `Dst`.
template <typename Dst, typename Src>
static void pack(const google::protobuf::RepeatedField<Src> &values,
                 MutableArrayRef<char> out) {
  for (int i = 0, e = values.size(); i < e; ++i) {
    Dst value = static_cast<Dst>(values.Get(i));
    std::memcpy(out.data() + size_t(i) * sizeof(Dst), &value, sizeof(Dst));
  }
}

/// Copies the typed data field that ONNX uses for `dataType` into a new
/// blob of `numElements` elements.
static llvm::Expected<AsmResourceBlob>
packTypedData(const ::onnx::TensorProto &tensor, uint64_t numElements,
              unsigned byteWidth, Type type) {
  using DT = ::onnx::TensorProto;
  int count;
  const char *field;
  switch (tensor.data_type()) {
  case DT::FLOAT:
    count = tensor.float_data_size();
    field = "float_data";
    break;
  case DT::DOUBLE:
    count = tensor.double_data_size();
    field = "double_data";
    break;
  case DT::INT64:
    count = tensor.int64_data_size();
    field = "int64_data";
    break;
  case DT::UINT32:
  case DT::UINT64:
    count = tensor.uint64_data_size();
    field = "uint64_data";
    break;
  default:
    count = tensor.int32_data_size();
    field = "int32_data";
    break;
  }
  if (count == 0 && numElements != 0)
    return llvm::createStringError(
        "no data (no raw_data, " + llvm::Twine(field) +
        " or external data) for " + typeString(type) + " with " +
        llvm::Twine(numElements) + " elements");
  if (uint64_t(count) != numElements)
    return llvm::createStringError(
        llvm::Twine(field) + " has " + llvm::Twine(count) + " values but " +
        typeString(type) + " has " + llvm::Twine(numElements) + " elements");

  AsmResourceBlob blob =
      HeapAsmResourceBlob::allocate(numElements * byteWidth, byteWidth);
  MutableArrayRef<char> out = blob.getMutableData();
  switch (tensor.data_type()) {
  case DT::FLOAT:
    pack<float>(tensor.float_data(), out);
    break;
  case DT::DOUBLE:
    pack<double>(tensor.double_data(), out);
    break;
  case DT::INT64:
    pack<int64_t>(tensor.int64_data(), out);
    break;
  case DT::UINT32:
    pack<uint32_t>(tensor.uint64_data(), out);
    break;
  case DT::UINT64:
    pack<uint64_t>(tensor.uint64_data(), out);
    break;
  case DT::INT32:
    pack<int32_t>(tensor.int32_data(), out);
    break;
  case DT::INT16:
    pack<int16_t>(tensor.int32_data(), out);
    break;
  case DT::INT8:
    pack<int8_t>(tensor.int32_data(), out);
    break;
  case DT::UINT16:
  // float16 and bfloat16 keep their bit patterns in the low 16 bits.
  case DT::FLOAT16:
  case DT::BFLOAT16:
    pack<uint16_t>(tensor.int32_data(), out);
    break;
  case DT::UINT8:
    pack<uint8_t>(tensor.int32_data(), out);
    break;
  case DT::BOOL: {
    const auto &values = tensor.int32_data();
    for (int i = 0, e = values.size(); i < e; ++i)
      out[i] = values.Get(i) != 0;
    break;
  }
  default:
    llvm_unreachable("convertElementType admitted an unhandled data type");
  }
  return blob;
}

/// An inline `dense` attribute holding a copy of `bytes`.
static ElementsAttr denseFromBytes(ShapedType type, ArrayRef<char> bytes) {
  // Dense i1 storage is not one byte per element; go through bools.
  if (type.getElementType().isInteger(1)) {
    llvm::SmallVector<bool> values;
    for (char byte : bytes)
      values.push_back(byte != 0);
    return DenseElementsAttr::get(type, values);
  }
  return DenseElementsAttr::getFromRawBuffer(type, bytes);
}

/// The resource key for a tensor called `name`.
static llvm::StringRef blobName(llvm::StringRef name) {
  return name.empty() ? "onnx_tensor" : name;
}

llvm::Expected<ArrayRef<char>>
TensorImporter::mapExternalData(const ::onnx::TensorProto &tensor,
                                uint64_t numBytes,
                                std::shared_ptr<llvm::MemoryBuffer> &owner) {
  std::optional<std::string> location;
  std::optional<uint64_t> offset, length;
  for (const ::onnx::StringStringEntryProto &entry : tensor.external_data()) {
    llvm::StringRef key = entry.key(), value = entry.value();
    if (key == "location") {
      location = value.str();
      continue;
    }
    if (key != "offset" && key != "length")
      continue; // checksum, basepath: not needed to read the data.
    uint64_t number;
    if (value.getAsInteger(10, number))
      return llvm::createStringError("external data " + key +
                                     " is not a number: '" + value + "'");
    (key == "offset" ? offset : length) = number;
  }
  if (!location || location->empty())
    return llvm::createStringError("external data has no location");

  // The location must stay inside the model's directory: a model is data, and
  // must not make the compiler read arbitrary files.
  if (llvm::sys::path::is_absolute(*location))
    return llvm::createStringError("external data location '" + *location +
                                   "' must be relative to the model");
  for (llvm::StringRef part : llvm::make_range(
           llvm::sys::path::begin(*location), llvm::sys::path::end(*location)))
    if (part == "..")
      return llvm::createStringError("external data location '" + *location +
                                     "' must not leave the model directory");
  if (externalDataDir.empty())
    return llvm::createStringError(
        "external data '" + *location +
        "' needs the model's directory, but the model is not a file");

  llvm::SmallString<256> path(externalDataDir);
  llvm::sys::path::append(path, *location);
  std::shared_ptr<llvm::MemoryBuffer> &file = externalFiles[path];
  if (!file) {
    // Large files are mmap'd by MemoryBuffer; no null terminator, so that
    // the mapping is never copied to append one.
    llvm::ErrorOr<std::unique_ptr<llvm::MemoryBuffer>> mapped =
        llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                    /*RequiresNullTerminator=*/false,
                                    /*IsVolatile=*/false);
    if (!mapped) {
      externalFiles.erase(path);
      return llvm::createStringError("cannot open external data file '" + path +
                                     "': " + mapped.getError().message());
    }
    file = std::move(*mapped);
  }

  uint64_t fileSize = file->getBufferSize();
  uint64_t begin = offset.value_or(0);
  if (length && *length != numBytes)
    return llvm::createStringError("external data length is " +
                                   llvm::Twine(*length) + " bytes but the " +
                                   "tensor needs " + llvm::Twine(numBytes));
  if (begin > fileSize || numBytes > fileSize - begin)
    return llvm::createStringError(
        "external data file '" + path + "' is too short: it has " +
        llvm::Twine(fileSize) + " bytes, the tensor needs bytes [" +
        llvm::Twine(begin) + ", " + llvm::Twine(begin + numBytes) + ")");
  owner = file;
  return ArrayRef<char>(file->getBufferStart() + begin, numBytes);
}

llvm::Expected<ElementsAttr>
TensorImporter::import(const ::onnx::TensorProto &tensor,
                       std::optional<ArrayRef<char>> rawData, Storage storage,
                       llvm::StringRef name) {
  llvm::Expected<ElementType> element =
      convertElementType(tensor.data_type(), ctx);
  if (!element)
    return element.takeError();

  llvm::SmallVector<int64_t> shape;
  uint64_t numElements = 1;
  for (int64_t dim : tensor.dims()) {
    if (dim < 0)
      return llvm::createStringError("dimension " + llvm::Twine(shape.size()) +
                                     " is negative (" + llvm::Twine(dim) + ")");
    if (__builtin_mul_overflow(numElements, uint64_t(dim), &numElements))
      return llvm::createStringError("too many elements");
    shape.push_back(dim);
  }
  uint64_t numBytes;
  if (__builtin_mul_overflow(numElements, uint64_t(element->byteWidth),
                             &numBytes) ||
      numBytes > uint64_t(PTRDIFF_MAX))
    return llvm::createStringError("too many elements");
  auto type = RankedTensorType::get(shape, element->type);
  if (tensor.has_segment())
    return llvm::createStringError("segmented tensors are not supported");

  // Find the bytes, and who keeps them alive if they are not copied.
  ArrayRef<char> bytes;
  std::shared_ptr<llvm::MemoryBuffer> owner;
  const char *source = "raw_data";
  if (tensor.data_location() == ::onnx::TensorProto::EXTERNAL) {
    llvm::Expected<ArrayRef<char>> mapped =
        mapExternalData(tensor, numBytes, owner);
    if (!mapped)
      return mapped.takeError();
    bytes = *mapped;
    source = "external data";
  } else if (rawData) {
    bytes = *rawData;
    owner = modelBuffer;
  } else if (tensor.has_raw_data()) {
    bytes = ArrayRef<char>(tensor.raw_data().data(), tensor.raw_data().size());
  } else {
    llvm::Expected<AsmResourceBlob> blob =
        packTypedData(tensor, numElements, element->byteWidth, type);
    if (!blob)
      return blob.takeError();
    if (storage == Storage::InlineIfSmall && numBytes <= kMaxInlineBytes)
      return denseFromBytes(type, blob->getData());
    return DenseResourceElementsAttr::get(type, blobName(name),
                                          std::move(*blob));
  }

  if (bytes.size() != numBytes)
    return llvm::createStringError(
        llvm::Twine(source) + " has " + llvm::Twine(bytes.size()) +
        " bytes but " + typeString(type) + " needs " + llvm::Twine(numBytes));
  if (storage == Storage::InlineIfSmall && numBytes <= kMaxInlineBytes)
    return denseFromBytes(type, bytes);

  // Reference the bytes in place whenever they outlive the import: weights
  // are never copied. raw_data inside a protobuf has no alignment guarantee
  // (external data written by onnx is aligned), so the blob records the
  // alignment the bytes really have; every reader of resource bytes here
  // copies them byte-wise or reads them on x86-64, where unaligned scalar
  // loads are legal.
  unsigned align = element->byteWidth;
  bool aligned = reinterpret_cast<uintptr_t>(bytes.data()) % align == 0;
  AsmResourceBlob blob;
  if (owner) {
    blob = UnmanagedAsmResourceBlob::allocateWithAlign(
        bytes, aligned ? align : 1,
        [owner = std::move(owner)](void *, size_t, size_t) mutable {
          owner.reset();
        });
  } else {
    blob = HeapAsmResourceBlob::allocateAndCopyWithAlign(
        bytes, align, /*dataIsMutable=*/false);
  }
  return DenseResourceElementsAttr::get(type, blobName(name), std::move(blob));
}
