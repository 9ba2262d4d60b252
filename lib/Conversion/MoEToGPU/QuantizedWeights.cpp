//===- QuantizedWeights.cpp - expanding packed weights --------------------===//

#include "QuantizedWeights.h"
#include "Emitter.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace moe::detail;
using namespace moe::detail::quantized;

namespace {

/// The bits of the float 2^23.
constexpr int64_t kMagic = 0x4B000000;

/// The float 2^23 + v of a small unsigned i32 v.
Value magicFloat(ImplicitLocOpBuilder &b, Value v) {
  Emitter m{b};
  return arith::BitcastOp::create(b, b.getF32Type(),
                                  arith::OrIOp::create(b, v, m.i32(kMagic)));
}

/// Bits [shift, shift + bits) of the i32 `word`.
Value field(ImplicitLocOpBuilder &b, Value word, int64_t shift, int64_t bits) {
  Emitter m{b};
  Value v = shift ? arith::ShRUIOp::create(b, word, m.i32(shift)) : word;
  if (shift + bits < 32)
    v = arith::AndIOp::create(b, v, m.i32((1 << bits) - 1));
  return v;
}

/// 2^23 + the zero point of values without zero points: the middle of
/// their range (onnxruntime's QMoE default).
Value implicitOffset(ImplicitLocOpBuilder &b,
                     const GroupedMatmulSignature::Quantized &q) {
  return Emitter{b}.f32(double(1 << 23) + double(1 << (q.bits - 1)));
}

} // namespace

std::string
moe::detail::quantized::kernelSuffix(const GroupedMatmulSignature &sig) {
  if (!sig.quantized)
    return sig.transposedRhs ? "_t" : "";
  const GroupedMatmulSignature::Quantized &q = *sig.quantized;
  std::string suffix;
  llvm::raw_string_ostream os(suffix);
  os << "_q" << q.bits << "_";
  if (q.blockSize)
    os << "b" << q.blockSize << "_";
  os << q.scaleType;
  if (q.zeroPoints)
    os << "_zp";
  return suffix;
}

PackedWeight moe::detail::quantized::selectWeight(ImplicitLocOpBuilder &b,
                                                  Value isUp,
                                                  const PackedWeight &up,
                                                  const PackedWeight &gate) {
  auto pick = [&](Value u, Value g) -> Value {
    return u ? arith::SelectOp::create(b, isUp, u, g).getResult() : Value();
  };
  return {pick(up.bytes, gate.bytes), pick(up.scales, gate.scales),
          pick(up.zeroPoints, gate.zeroPoints)};
}

Value moe::detail::quantized::packedWords(ImplicitLocOpBuilder &b,
                                          Value bytes) {
  Emitter m{b};
  auto bytesType = cast<MemRefType>(bytes.getType());
  int64_t totalBytes = bytesType.getNumElements();
  Value flat = memref::CollapseShapeOp::create(
      b, bytes, SmallVector<ReassociationIndices>{{0, 1, 2}});
  return memref::ViewOp::create(
      b, MemRefType::get({totalBytes / 4}, b.getI32Type()), flat, m.c(0),
      ValueRange());
}

Value moe::detail::quantized::rowStartWord(ImplicitLocOpBuilder &b,
                                           const GroupedMatmulSignature &sig,
                                           Value g, Value col) {
  Emitter m{b};
  int64_t rowWords = sig.k * sig.quantized->bits / 32;
  return m.mul(m.add(m.mul(g, m.c(sig.n)), col), m.c(rowWords));
}

Expansion moe::detail::quantized::expansionAt(
    ImplicitLocOpBuilder &b, const GroupedMatmulSignature::Quantized &q,
    const PackedWeight &w, Value g, Value col, Value block) {
  Value scales = w.scales, zeroPoints = w.zeroPoints;
  Emitter m{b};
  SmallVector<Value, 3> at = {g, col};
  if (block)
    at.push_back(block);
  Expansion e;
  e.scale = castFloat(b, memref::LoadOp::create(b, scales, at), b.getF32Type());
  if (!zeroPoints) {
    e.offset = implicitOffset(b, q);
    return e;
  }
  // The zero points are packed along the scales' last dim.
  int64_t perByte = 8 / q.bits;
  Value index = at.back();
  at.back() = m.div(index, perByte);
  Value byte = arith::ExtUIOp::create(
      b, b.getI32Type(), memref::LoadOp::create(b, zeroPoints, at));
  Value zp = byte;
  if (perByte > 1) {
    Value shift = m.unsignedToI32(m.mul(m.rem(index, perByte), m.c(q.bits)));
    zp = arith::AndIOp::create(b, arith::ShRUIOp::create(b, byte, shift),
                               m.i32((1 << q.bits) - 1));
  }
  e.offset = magicFloat(b, zp);
  return e;
}

SmallVector<Expansion, 2>
moe::detail::quantized::expansionsAt(ImplicitLocOpBuilder &b,
                                     const GroupedMatmulSignature::Quantized &q,
                                     const PackedWeight &w, Value g, Value col,
                                     Value firstBlock, int64_t count) {
  Emitter m{b};
  auto scalesType = cast<MemRefType>(w.scales.getType());
  assert(llvm::isPowerOf2_64(count) &&
         scalesType.getShape().back() % count == 0 &&
         "whole vectors of scales in a row");
  Value scales = vector::LoadOp::create(
      b, VectorType::get({count}, scalesType.getElementType()), w.scales,
      ValueRange{g, col, firstBlock}, /*nontemporal=*/false,
      llvm::Align(count * scalesType.getElementTypeBitWidth() / 8));
  SmallVector<Expansion, 2> expansions(count);
  for (int64_t j = 0; j < count; ++j)
    expansions[j].scale =
        castFloat(b, vector::ExtractOp::create(b, scales, ArrayRef<int64_t>{j}),
                  b.getF32Type());
  if (!w.zeroPoints) {
    for (Expansion &e : expansions)
      e.offset = implicitOffset(b, q);
    return expansions;
  }
  // The blocks' zero points in ceil(count / perByte) bytes (both are powers
  // of two, and firstBlock a multiple of count, so that they start a byte or
  // share one).
  int64_t perByte = 8 / q.bits;
  int64_t bytes = std::max<int64_t>(count / perByte, 1);
  SmallVector<Value, 3> at = {g, col, m.div(firstBlock, perByte)};
  Value zeroPoints =
      bytes == 1
          ? memref::LoadOp::create(b, w.zeroPoints, at).getResult()
          : vector::LoadOp::create(b, VectorType::get({bytes}, b.getI8Type()),
                                   w.zeroPoints, at, /*nontemporal=*/false,
                                   llvm::Align(bytes))
                .getResult();
  Value firstShift =
      perByte > count
          ? m.unsignedToI32(m.mul(m.rem(firstBlock, perByte), m.c(q.bits)))
          : Value();
  for (int64_t j = 0; j < count; ++j) {
    Value byte =
        bytes == 1 ? zeroPoints
                   : vector::ExtractOp::create(b, zeroPoints,
                                               ArrayRef<int64_t>{j / perByte});
    byte = arith::ExtUIOp::create(b, b.getI32Type(), byte);
    int64_t shift = (j % perByte) * q.bits;
    Value zp;
    if (!firstShift) {
      zp = field(b, byte, shift, q.bits);
    } else {
      Value at = shift ? arith::AddIOp::create(b, firstShift, m.i32(shift))
                       : firstShift;
      zp = arith::AndIOp::create(b, arith::ShRUIOp::create(b, byte, at),
                                 m.i32((1 << q.bits) - 1));
    }
    expansions[j].offset = magicFloat(b, zp);
  }
  return expansions;
}

Value moe::detail::quantized::expandValue(
    ImplicitLocOpBuilder &b, const GroupedMatmulSignature::Quantized &q,
    Value words, int64_t bit, const Expansion &e) {
  Emitter m{b};
  Value word = vector::ExtractOp::create(b, words, ArrayRef<int64_t>{bit / 32});
  Value f = magicFloat(b, field(b, word, bit % 32, q.bits));
  return m.mulf(m.subf(f, e.offset), e.scale);
}

PackedColumn moe::detail::quantized::packedColumn(
    ImplicitLocOpBuilder &b, const GroupedMatmulSignature &sig,
    const PackedWeight &weight, Value group, Value column) {
  PackedColumn c;
  c.weight = weight;
  c.column = column;
  c.words = packedWords(b, weight.bytes);
  c.rowStart = rowStartWord(b, sig, group, column);
  if (!sig.quantized->blockSize)
    c.rowExpansion =
        expansionAt(b, *sig.quantized, weight, group, column, Value());
  return c;
}

Value moe::detail::quantized::loadPacked(
    ImplicitLocOpBuilder &b, const GroupedMatmulSignature::Quantized &q,
    const PackedColumn &c, Value k, int64_t values) {
  Emitter m{b};
  int64_t words = values * q.bits / 32;
  return vector::LoadOp::create(
      b, VectorType::get({words}, b.getI32Type()), c.words,
      ValueRange{m.add(c.rowStart, m.div(k, 32 / q.bits))},
      /*nontemporal=*/false, llvm::Align(4 * words));
}

int64_t moe::detail::quantized::stepsPerScale(
    const GroupedMatmulSignature::Quantized &q, int64_t perLoad) {
  if (q.blockSize % perLoad == 0)
    return perLoad / 4;
  if (perLoad % q.blockSize == 0)
    return q.blockSize / 4;
  return 1;
}
