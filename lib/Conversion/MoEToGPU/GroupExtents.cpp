//===- GroupExtents.cpp - each group's own [K, N] in the matmul kernels ---===//
//
// Heterogeneous experts reach the GPU as one zero-padded stacked weight with
// `group_extents` (moe-prepare-gpu-layers): the matmul kernels read each
// group's K and N from a constant table in the kernel module, so that they
// stream only a group's own block and skip the padding.
//
//===----------------------------------------------------------------------===//

#include "Emitter.h"
#include "Kernels.h"

#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Support/xxhash.h"

using namespace mlir;
using namespace moe::detail;

std::string moe::detail::tableSuffix(StringRef tag, ArrayRef<int64_t> values) {
  if (values.empty())
    return "";
  std::string suffix;
  llvm::raw_string_ostream os(suffix);
  // A stable hash: kernel names must not change from run to run.
  uint64_t hash = llvm::xxh3_64bits(
      ArrayRef<uint8_t>(reinterpret_cast<const uint8_t *>(values.data()),
                        values.size() * sizeof(int64_t)));
  os << "_" << tag << llvm::format_hex_no_prefix(hash, 16);
  return suffix;
}

Value moe::detail::constantTable(ImplicitLocOpBuilder &b,
                                 gpu::GPUModuleOp gpuModule, StringRef prefix,
                                 StringRef tag, ArrayRef<int64_t> values) {
  std::string name = (prefix + tableSuffix(tag, values)).str();
  auto type = MemRefType::get({int64_t(values.size())}, b.getI32Type());
  if (!gpuModule.lookupSymbol(name)) {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(gpuModule.getBody());
    SmallVector<int32_t> narrow(values.begin(), values.end());
    memref::GlobalOp::create(
        b, name, b.getStringAttr("private"), type,
        DenseIntElementsAttr::get(
            RankedTensorType::get(type.getShape(), b.getI32Type()),
            ArrayRef<int32_t>(narrow)),
        /*constant=*/true, /*alignment=*/nullptr);
  }
  return memref::GetGlobalOp::create(b, type, name);
}

std::string moe::detail::groupExtentsSuffix(const GroupedMatmulSignature &sig) {
  return tableSuffix("x", sig.extents);
}

std::pair<Value, Value>
moe::detail::groupExtents(ImplicitLocOpBuilder &b, gpu::GPUModuleOp gpuModule,
                          const GroupedMatmulSignature &sig, Value group) {
  Emitter m{b};
  if (sig.extents.empty())
    return {m.c(sig.k), m.c(sig.n)};
  Value table =
      constantTable(b, gpuModule, "moe_group_extents", "x", sig.extents);
  auto load = [&](Value index) -> Value {
    Value v = memref::LoadOp::create(b, table, ValueRange{index});
    return arith::IndexCastUIOp::create(b, b.getIndexType(), v);
  };
  Value at = m.mul(group, m.c(2));
  return {load(at), load(m.add(at, m.c(1)))};
}
