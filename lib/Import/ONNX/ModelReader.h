//===- ModelReader.h - bytes to onnx.ModelProto -----------------*- C++ -*-===//
//
// Private to lib/Import/ONNX: the only header besides the other importer
// headers that includes protobuf.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_LIB_IMPORT_ONNX_MODELREADER_H
#define MOE_LIB_IMPORT_ONNX_MODELREADER_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include "onnx/onnx_pb.h"

#include <optional>
#include <vector>

namespace moe::onnx_import {

/// A parsed model whose initializer weights stayed where they were.
struct ParsedModel {
  ::onnx::ModelProto model;
  /// For each graph.initializer(i): the bytes of its raw_data field, still in
  /// the input buffer, or nullopt if the tensor had no raw_data there (text
  /// models, typed data fields, external data). The proto's own raw_data of
  /// these tensors is left empty so it never holds a copy.
  std::vector<std::optional<llvm::ArrayRef<char>>> initializerRawData;
};

/// Parses a binary ModelProto. The wire format is walked by hand down to the
/// initializers so that their raw_data is never copied into the proto; the
/// remaining (small) pieces are parsed by protobuf with a recursion limit.
/// Also lifts protobuf's 2 GiB message limit for the weights.
llvm::Error readBinaryModel(llvm::ArrayRef<char> bytes, ParsedModel &out);

/// Parses the onnx::OnnxParser text syntax.
llvm::Error readTextModel(llvm::StringRef text, ParsedModel &out);

} // namespace moe::onnx_import

#endif // MOE_LIB_IMPORT_ONNX_MODELREADER_H
