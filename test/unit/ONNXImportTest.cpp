//===- ONNXImportTest.cpp - C++ API tests of the ONNX importer ------------===//
//
// The binary models here are encoded by hand in the protobuf wire format, so
// that the test controls exactly where the weight bytes lie in the buffer.
//
//===----------------------------------------------------------------------===//

#include "moe/Dialect/ONNX/IR/ONNX.h"
#include "moe/Import/ONNX/ImportONNX.h"
#include "moe/InitAll.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinDialect.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "llvm/Support/MemoryBuffer.h"

#include <gtest/gtest.h>

#include <cstring>

using namespace mlir;

namespace {

//===----------------------------------------------------------------------===//
// A minimal protobuf encoder
//===----------------------------------------------------------------------===//

std::string varint(uint64_t v) {
  std::string out;
  do {
    uint8_t byte = v & 0x7f;
    v >>= 7;
    out.push_back(char(v ? byte | 0x80 : byte));
  } while (v);
  return out;
}

std::string varintField(uint32_t number, uint64_t value) {
  return varint(uint64_t(number) << 3) + varint(value);
}

std::string bytesField(uint32_t number, const std::string &payload) {
  return varint(uint64_t(number) << 3 | 2) + varint(payload.size()) + payload;
}

/// A ModelProto whose graph returns the initializer `w`, a float[2] with
/// values {1.5, -2}. `padding` bytes of doc_string come first, to move the
/// raw_data to a chosen alignment.
std::string encodeModel(size_t padding, std::string rawData = "") {
  if (rawData.empty()) {
    float values[2] = {1.5f, -2.0f};
    rawData.assign(reinterpret_cast<const char *>(values), sizeof(values));
  }
  std::string tensor = varintField(1, 2) +                // dims: [2]
                       varintField(2, 1) +                // data_type: FLOAT
                       bytesField(8, "w") +               // name
                       bytesField(9, rawData);            // raw_data
  std::string graph = bytesField(2, "g") +                // name
                      bytesField(5, tensor) +             // initializer
                      bytesField(12, bytesField(1, "w")); // output {name}
  std::string opset = bytesField(1, "") + varintField(2, 17);
  return bytesField(6, std::string(padding, ' ')) + // doc_string
         varintField(1, 8) +                        // ir_version
         bytesField(8, opset) +                     // opset_import
         bytesField(7, graph);                      // graph
}

class ONNXImportTest : public ::testing::Test {
protected:
  ONNXImportTest() {
    DialectRegistry registry;
    moe::registerAllDialects(registry);
    context.appendDialectRegistry(registry);
  }

  /// Imports `bytes` in place (the buffer references them, no copy),
  /// collecting diagnostics.
  OwningOpRef<ModuleOp> import(llvm::StringRef bytes, moe::ONNXFormat format) {
    diagnostics.clear();
    ScopedDiagnosticHandler handler(&context, [&](Diagnostic &diag) {
      diagnostics.push_back(diag.str());
      return success();
    });
    return moe::importONNX(
        llvm::MemoryBuffer::getMemBuffer(bytes, "test.onnx",
                                         /*RequiresNullTerminator=*/false),
        format, /*externalDataDir=*/"", &context);
  }

  /// The single func of `module`.
  func::FuncOp getFunc(ModuleOp module) {
    auto funcs = module.getOps<func::FuncOp>();
    EXPECT_EQ(std::distance(funcs.begin(), funcs.end()), 1);
    return *funcs.begin();
  }

  MLIRContext context;
  std::vector<std::string> diagnostics;
};

TEST_F(ONNXImportTest, RecognizesONNXFilenames) {
  EXPECT_TRUE(moe::isONNXFilename("model.onnx"));
  EXPECT_TRUE(moe::isONNXFilename("dir/model.onnxtext"));
  EXPECT_FALSE(moe::isONNXFilename("model.mlir"));
  EXPECT_FALSE(moe::isONNXFilename("model.onnx.data"));
}

TEST_F(ONNXImportTest, TextModel) {
  const char *text = R"(
    <ir_version: 8, opset_import: ["" : 17]>
    g (float[N, 4] x) => (float[N, 4] y) <float[4] b = {1.0, 2.0, 3.0, 4.0}> {
      y = Add (x, b)
    })";
  OwningOpRef<ModuleOp> module = import(text, moe::ONNXFormat::Text);
  ASSERT_TRUE(module) << (diagnostics.empty() ? "" : diagnostics.front());
  EXPECT_TRUE(succeeded(verify(*module)));

  func::FuncOp func = getFunc(*module);
  EXPECT_EQ(func.getSymName(), "g");
  auto argType = cast<RankedTensorType>(func.getArgumentTypes()[0]);
  EXPECT_TRUE(argType.isDynamicDim(0));
  EXPECT_EQ(argType.getDimSize(1), 4);

  auto nodes = func.getOps<moe::onnx::NodeOp>();
  ASSERT_EQ(std::distance(nodes.begin(), nodes.end()), 1);
  moe::onnx::NodeOp add = *nodes.begin();
  EXPECT_TRUE(add.isStandard("Add"));
  EXPECT_EQ(add.getNumOperands(), 2u);

  auto constants = func.getOps<moe::onnx::ConstantOp>();
  ASSERT_EQ(std::distance(constants.begin(), constants.end()), 1);
  auto value =
      dyn_cast<DenseResourceElementsAttr>((*constants.begin()).getValue());
  ASSERT_TRUE(value);
  std::optional<ArrayRef<float>> data =
      cast<DenseF32ResourceElementsAttr>(value).tryGetAsArrayRef();
  ASSERT_TRUE(data);
  EXPECT_EQ(data->vec(), (std::vector<float>{1, 2, 3, 4}));

  auto opsets =
      (*module)->getAttrOfType<DictionaryAttr>(moe::onnx::attrs::kOpsetImport);
  ASSERT_TRUE(opsets);
  EXPECT_EQ(cast<IntegerAttr>(opsets.get("ai.onnx")).getInt(), 17);
}

// raw_data is referenced where it lies in the model buffer, aligned for its
// element type or not (the blob then records alignment 1): weights are never
// copied, and the values read back right either way.
TEST_F(ONNXImportTest, BinaryRawDataIsNeverCopied) {
  bool sawAligned = false, sawMisaligned = false;
  for (size_t padding = 0; padding < 4; ++padding) {
    // Give the model bytes a known alignment.
    std::string encoded = encodeModel(padding);
    std::vector<uint64_t> storage(encoded.size() / 8 + 1);
    char *bytes = reinterpret_cast<char *>(storage.data());
    std::memcpy(bytes, encoded.data(), encoded.size());

    OwningOpRef<ModuleOp> module =
        import(llvm::StringRef(bytes, encoded.size()), moe::ONNXFormat::Binary);
    ASSERT_TRUE(module) << (diagnostics.empty() ? "" : diagnostics.front());
    auto constant = *getFunc(*module).getOps<moe::onnx::ConstantOp>().begin();
    auto value = cast<DenseResourceElementsAttr>(constant.getValue());
    AsmResourceBlob *resource = value.getRawHandle().getBlob();
    ArrayRef<char> blob = resource->getData();
    ASSERT_EQ(blob.size(), 8u);
    float values[2];
    std::memcpy(values, blob.data(), sizeof(values));
    EXPECT_EQ(values[0], 1.5f);
    EXPECT_EQ(values[1], -2.0f);

    const char *rawData = bytes + encoded.size() - 8 - 5; // then output {w}
    EXPECT_EQ(blob.data(), rawData) << "padding " << padding;
    bool aligned = reinterpret_cast<uintptr_t>(rawData) % 4 == 0;
    EXPECT_EQ(resource->getDataAlignment(), aligned ? 4u : 1u);
    (aligned ? sawAligned : sawMisaligned) = true;
  }
  EXPECT_TRUE(sawAligned);
  EXPECT_TRUE(sawMisaligned);
}

// Every truncation of a valid model is rejected with exactly one error (or,
// where the prefix happens to be a complete model, accepted): never a crash.
TEST_F(ONNXImportTest, EveryTruncationFailsCleanly) {
  std::string encoded = encodeModel(0);
  for (size_t length = 0; length < encoded.size(); ++length) {
    OwningOpRef<ModuleOp> module = import(
        llvm::StringRef(encoded.data(), length), moe::ONNXFormat::Binary);
    if (module) {
      EXPECT_TRUE(diagnostics.empty());
      EXPECT_TRUE(succeeded(verify(*module)));
      continue;
    }
    EXPECT_EQ(diagnostics.size(), 1u) << "length " << length;
  }
}

TEST_F(ONNXImportTest, RawDataSizeMustMatchShape) {
  OwningOpRef<ModuleOp> module =
      import(encodeModel(0, std::string(12, '\0')), moe::ONNXFormat::Binary);
  EXPECT_FALSE(module);
  ASSERT_EQ(diagnostics.size(), 1u);
  EXPECT_EQ(diagnostics[0], "initializer 'w': raw_data has 12 bytes but "
                            "tensor<2xf32> needs 8");
}

TEST_F(ONNXImportTest, UndefinedInputIsOneError) {
  const char *text = R"(
    <ir_version: 8, opset_import: ["" : 17]>
    g (float[2] x) => (float[2] y) {
      y = Relu (nowhere)
    })";
  EXPECT_FALSE(import(text, moe::ONNXFormat::Text));
  ASSERT_EQ(diagnostics.size(), 1u);
  EXPECT_NE(diagnostics[0].find("input 'nowhere' is not defined"),
            std::string::npos);
}

} // namespace
