//===- ModelReader.cpp - bytes to onnx.ModelProto -------------------------===//
//
// Protobuf copies every bytes field it parses. For a model with hundreds of
// GB of initializers that would double the memory footprint before the first
// op is built, so the binary reader walks the wire format itself for the
// path ModelProto.graph -> GraphProto.initializer -> TensorProto.raw_data,
// records where each raw_data lies in the input, and lets protobuf parse only
// what is left. Everything here is compiled with -fexceptions: protobuf and
// onnx::OnnxParser may throw, and nothing may escape this file.
//
//===----------------------------------------------------------------------===//

#include "ModelReader.h"

#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/Twine.h"

#include "onnx/defs/parser.h"
#include <google/protobuf/io/coded_stream.h>

#include <climits>
#include <exception>
#include <string>

using namespace moe::onnx_import;
using llvm::ArrayRef;

namespace {

// Field numbers from onnx.proto (stable since IR version 1).
constexpr uint32_t kModelGraph = 7;
constexpr uint32_t kGraphInitializer = 5;
constexpr uint32_t kTensorRawData = 9;

// Nested messages deeper than this are rejected instead of recursing: ONNX
// nests graphs only through control-flow attributes, never this deep.
constexpr int kRecursionLimit = 100;

enum WireType : unsigned {
  Varint = 0,
  Fixed64 = 1,
  LengthDelimited = 2,
  Fixed32 = 5,
};

/// One field of a serialized message.
struct Field {
  uint32_t number;
  unsigned wireType;
  /// The whole field, tag included, to pass on unchanged.
  ArrayRef<char> whole;
  /// The payload of a length-delimited field.
  ArrayRef<char> payload;
};

/// Walks the top-level fields of one serialized message.
class WireReader {
public:
  explicit WireReader(ArrayRef<char> bytes)
      : cur(bytes.begin()), end(bytes.end()) {}

  bool atEnd() const { return cur == end; }

  /// Reads the next field; returns an error for malformed bytes.
  llvm::Error next(Field &field) {
    const char *start = cur;
    uint64_t tag;
    if (!readVarint(tag))
      return malformed("a field tag is truncated");
    field.number = tag >> 3;
    field.wireType = tag & 7;
    if (field.number == 0 || tag >> 32)
      return malformed("invalid field number");
    switch (field.wireType) {
    case Varint: {
      uint64_t ignored;
      if (!readVarint(ignored))
        return malformed("a varint is truncated");
      break;
    }
    case Fixed64:
      if (!skip(8))
        return malformed("a fixed64 field is truncated");
      break;
    case Fixed32:
      if (!skip(4))
        return malformed("a fixed32 field is truncated");
      break;
    case LengthDelimited: {
      uint64_t length;
      if (!readVarint(length))
        return malformed("a length is truncated");
      if (length > uint64_t(end - cur))
        return malformed("a field of " + llvm::Twine(length) +
                         " bytes runs past the end of the data");
      field.payload = ArrayRef<char>(cur, length);
      cur += length;
      break;
    }
    default:
      // Groups (3, 4) are not used by onnx.proto; 6 and 7 do not exist.
      return malformed("invalid wire type " + llvm::Twine(field.wireType));
    }
    field.whole = ArrayRef<char>(start, cur - start);
    return llvm::Error::success();
  }

private:
  bool readVarint(uint64_t &value) {
    value = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
      if (cur == end)
        return false;
      uint8_t byte = static_cast<uint8_t>(*cur++);
      value |= uint64_t(byte & 0x7f) << shift;
      if (!(byte & 0x80))
        return true;
    }
    return false;
  }

  bool skip(size_t n) {
    if (size_t(end - cur) < n)
      return false;
    cur += n;
    return true;
  }

  static llvm::Error malformed(const llvm::Twine &why) {
    return llvm::createStringError("malformed protobuf: " + why);
  }

  const char *cur;
  const char *end;
};

/// Parses `bytes` into `msg` with protobuf, bounded in size and depth.
llvm::Error parseMessage(google::protobuf::MessageLite &msg,
                         ArrayRef<char> bytes, llvm::StringRef what) {
  if (bytes.size() > size_t(INT_MAX))
    return llvm::createStringError("malformed protobuf: " + what +
                                   " without its weights is over 2 GiB");
  google::protobuf::io::CodedInputStream in(
      reinterpret_cast<const uint8_t *>(bytes.data()), int(bytes.size()));
  in.SetRecursionLimit(kRecursionLimit);
  if (!msg.ParseFromCodedStream(&in) || !in.ConsumedEntireMessage())
    return llvm::createStringError(
        "malformed protobuf: cannot parse " + what +
        " (truncated, not an ONNX model, or nested too deeply)");
  return llvm::Error::success();
}

/// Splits `bytes` into the payloads of field `number` (length-delimited) and
/// the serialized remainder.
llvm::Error split(ArrayRef<char> bytes, uint32_t number,
                  llvm::SmallVectorImpl<ArrayRef<char>> &picked,
                  std::string &rest) {
  WireReader reader(bytes);
  while (!reader.atEnd()) {
    Field field;
    if (llvm::Error err = reader.next(field))
      return err;
    if (field.number == number && field.wireType == LengthDelimited)
      picked.push_back(field.payload);
    else
      rest.append(field.whole.begin(), field.whole.end());
  }
  return llvm::Error::success();
}

/// Parses one serialized GraphProto into `graph`, appending initializers and
/// recording where their raw_data lies.
llvm::Error readGraph(ArrayRef<char> bytes, ::onnx::GraphProto &graph,
                      ParsedModel &out) {
  llvm::SmallVector<ArrayRef<char>> initializers;
  std::string rest;
  if (llvm::Error err = split(bytes, kGraphInitializer, initializers, rest))
    return err;
  ::onnx::GraphProto part;
  if (llvm::Error err = parseMessage(part, {rest.data(), rest.size()}, "graph"))
    return err;
  graph.MergeFrom(part);

  for (ArrayRef<char> initializer : initializers) {
    llvm::SmallVector<ArrayRef<char>, 1> rawData;
    std::string tensorRest;
    if (llvm::Error err =
            split(initializer, kTensorRawData, rawData, tensorRest))
      return err;
    ::onnx::TensorProto *tensor = graph.add_initializer();
    if (llvm::Error err = parseMessage(
            *tensor, {tensorRest.data(), tensorRest.size()}, "initializer"))
      return err;
    // As in protobuf, the last occurrence of a non-repeated field wins.
    if (rawData.empty())
      out.initializerRawData.push_back(std::nullopt);
    else
      out.initializerRawData.push_back(rawData.back());
  }
  return llvm::Error::success();
}

llvm::Error readBinaryModelImpl(ArrayRef<char> bytes, ParsedModel &out) {
  llvm::SmallVector<ArrayRef<char>, 1> graphs;
  std::string rest;
  if (llvm::Error err = split(bytes, kModelGraph, graphs, rest))
    return err;
  if (llvm::Error err =
          parseMessage(out.model, {rest.data(), rest.size()}, "the model"))
    return err;
  // A repeated occurrence of a message field merges into the first one.
  for (ArrayRef<char> graph : graphs)
    if (llvm::Error err = readGraph(graph, *out.model.mutable_graph(), out))
      return err;
  return llvm::Error::success();
}

} // namespace

llvm::Error moe::onnx_import::readBinaryModel(ArrayRef<char> bytes,
                                              ParsedModel &out) {
  try {
    return readBinaryModelImpl(bytes, out);
  } catch (const std::exception &e) {
    return llvm::createStringError(llvm::Twine("cannot read model: ") +
                                   e.what());
  } catch (...) {
    return llvm::createStringError("cannot read model: unknown exception");
  }
}

llvm::Error moe::onnx_import::readTextModel(llvm::StringRef text,
                                            ParsedModel &out) {
  // OnnxParser reads a NUL-terminated string.
  if (text.contains('\0'))
    return llvm::createStringError(
        "not an ONNX text model: it contains a NUL byte");
  try {
    std::string source = text.str();
    ::onnx::OnnxParser parser(source.c_str());
    ::onnx::Common::Status status = parser.Parse(out.model);
    if (!status.IsOK())
      return llvm::createStringError("cannot parse ONNX text: " +
                                     status.ErrorMessage());
    if (!parser.EndOfInput())
      return llvm::createStringError(
          "cannot parse ONNX text: unexpected text after the model");
  } catch (const std::exception &e) {
    return llvm::createStringError(llvm::Twine("cannot parse ONNX text: ") +
                                   e.what());
  } catch (...) {
    return llvm::createStringError("cannot parse ONNX text: unknown exception");
  }
  out.initializerRawData.assign(out.model.graph().initializer_size(),
                                std::nullopt);
  return llvm::Error::success();
}
