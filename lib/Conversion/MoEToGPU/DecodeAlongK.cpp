//===- DecodeAlongK.cpp - decode kernel on weights stored along K ---------===//
//
// The decode kernel's weight stream for weights whose rows run along K:
// [E, N, K] 16-bit weights (transpose_rhs, nn.Linear's layout) and
// weight-only quantized experts (onnxruntime's QMoE: `bits`-bit values
// packed low bits first along K of each [N, K] row, block-wise or per-row
// scales, optional packed zero points). Decode is bound by the bytes of
// weights read, so packed ones stream from HBM packed (8, 4 or 2 times fewer
// bytes than bf16) and are expanded in registers right before the mma:
// (q - zero point) * scale in fp32, rounded to the rows' 16-bit type, as
// moe.dequantize rounds it; 16-bit ones go to the mma as they are.
//
// Each lane loads, per n tile t, one chunk of the row of column n0 + 8 quad
// + t: perLoad consecutive K values (32 of 2 or 4 bits: 8 or 16 bytes; 16 of
// 8 bits: 16 bytes; 16 or 8 of 16 bits: two or one 16-byte loads) starting
// at kLane = k0 + perLoad * pair. Step
// u of the chunk feeds the mma with K values kLane + 4u + {0, 1} (slots 2 pair
// + {0, 1}) and + {2, 3} (slots 2 pair + 8 + {0, 1}); the A operands take the
// same K values of their rows, so the sum over the 16 slots of a step is a sum
// over K, and the positions are those of streamSlab (column n0 + 8 p + t),
// which the epilogue relies on: a fused activation with interleaved gate and up
// columns finds them in n tiles t and t + 1 as it does for 16-bit weights,
// and with concatenated halves, as there, in lane quads p and p + 4.
//
// The expansion itself is QuantizedWeights.h's.
//
//===----------------------------------------------------------------------===//

#include "DecodeGroupedMatmul.h"
#include "Emitter.h"
#include "QuantizedWeights.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;
using namespace moe::detail;
using namespace moe::detail::decode;
using namespace moe::detail::quantized;

SmallVector<Value>
moe::detail::decode::streamSlabAlongK(ImplicitLocOpBuilder &b, DecodeState &s,
                                      Value g, Value m0, Value end, Value n0) {
  MLIRContext *ctx = b.getContext();
  Emitter m{b};
  const GroupedMatmulSignature &sig = s.sig;
  assert(sig.columnMajorWeights() && sig.extents.empty() &&
         "weights read along K have no extents");
  // Packed weights, or 16-bit ones ([E, N, K]) whose values go to the mma
  // as they are.
  bool packed = bool(sig.quantized);
  GroupedMatmulSignature::Quantized q =
      packed ? *sig.quantized : GroupedMatmulSignature::Quantized();
  int64_t K = sig.k, N = sig.n, bits = packed ? q.bits : 16;
  // Gate and up in two places: lane quads 0-3 read the gate columns of the
  // block's 32 outputs from n0 (its first output), quads 4-7 the up columns
  // of the same outputs, N / 2 further (concatenated halves) or in the up
  // weight (separate) (the 16-bit kernel's gate/up quads, which its
  // epilogue pairs).
  bool split = sig.splitWeights;
  bool gateUpQuads = sig.isGated() && *sig.activation->gateLayout !=
                                          moe::GateLayout::Interleaved;
  Value isUp = gateUpQuads ? m.uge(s.quad, m.c(4)) : Value();
  PackedWeight weight = {s.rhs, s.scales, s.zeroPoints};
  if (split)
    weight =
        selectWeight(b, isUp, {s.rhsUp, s.upScales, s.upZeroPoints}, weight);
  // 16-bit: two 16-byte loads of a column when K allows (K is a multiple
  // of 8), so that a lane has 16 loads in flight as in the [K, N] kernel.
  int64_t perLoad = packed
                        ? GroupedMatmulSignature::quantizedValuesPerLoad(bits)
                        : (K % (2 * kVec) == 0 ? 2 * kVec : kVec);
  int64_t steps = perLoad / 4, warpK = 4 * perLoad;
  Type elt = sig.elementType, i32 = b.getI32Type(), f32 = b.getF32Type();
  auto lhsVecType = VectorType::get({kVec}, elt);
  int64_t chunkWords = perLoad * bits / 32;
  auto wordsType = VectorType::get({chunkWords}, i32);

  // The packed bytes as i32 words (rows are whole chunks of chunkWords
  // words: K is a multiple of perLoad).
  Value words = packed ? packedWords(b, weight.bytes) : Value();

  // Columns of the lane's n tiles: 8 from the lane's chunk base. N and the
  // bases are multiples of 8, so a chunk is all inside the outputs or all
  // past them; a base past the weight is clamped to its last 8 columns,
  // whose products no one stores (one min a lane, not one a column).
  Value quadColumn = m.mul(s.quad, m.c(kVec));
  bool clamp = N % kDecodeSlabN != 0;
  if (gateUpQuads) {
    quadColumn = m.mul(m.rem(s.quad, 4), m.c(kVec));
    if (!split)
      quadColumn = m.add(quadColumn, m.select(isUp, m.c(N / 2), m.c(0)));
    clamp = sig.resultColumns() % (kDecodeSlabN / 2) != 0;
  }
  Value base = m.add(n0, quadColumn);
  if (clamp)
    base = m.min(base, m.c(N - kVec));
  SmallVector<Value, kMmaTilesN> cols, rowStarts;
  for (int64_t t = 0; t < kMmaTilesN; ++t) {
    Value col = m.add(base, m.c(t));
    cols.push_back(col);
    if (packed)
      rowStarts.push_back(rowStartWord(b, sig, g, col));
  }
  // Per-row scales: each tile's once, before the K loop.
  SmallVector<Expansion, kMmaTilesN> rowExpansions;
  if (packed && !q.blockSize)
    for (int64_t t = 0; t < kMmaTilesN; ++t)
      rowExpansions.push_back(expansionAt(b, q, weight, g, cols[t], Value()));
  // Block-wise: steps sharing a scale (the lane's chunk is in one block, or
  // holds whole blocks, or neither: a scale per step).
  int64_t scaleSteps = packed && q.blockSize ? stepsPerScale(q, perLoad) : 1;
  // Blocks in a lane's chunk when it spans several (else 0).
  int64_t chunkBlocks =
      packed && q.blockSize && scaleSteps < steps ? steps / scaleSteps : 0;

  LaneRows aRows = laneRows(b, s, m0, end);
  auto accType =
      LLVM::LLVMStructType::getLiteral(ctx, SmallVector<Type>(4, f32));
  Value zeroAcc = LLVM::ZeroOp::create(b, accType);
  SmallVector<Value> init(kMmaTilesM * kMmaTilesN, zeroAcc);
  bool maskK = K % warpK != 0;
  Value kStart = m.mul(s.warp, m.c(warpK));
  auto loop = scf::ForOp::create(
      b, kStart, m.c(K), m.c(s.warps * warpK), init,
      [&](OpBuilder &nb, Location loc, Value k0, ValueRange iter) {
        ImplicitLocOpBuilder ib(loc, nb);
        Emitter im{ib};
        Value kLane = im.add(k0, im.mul(s.pair, im.c(perLoad)));
        // Past K (the last iteration of a K that is no multiple of warpK)
        // the lane reads the last chunk and zeros for its rows.
        Value kValid, kAddr = kLane;
        if (maskK) {
          kValid = im.ult(kLane, im.c(K));
          kAddr = im.select(kValid, kLane, im.c(K - perLoad));
        }
        // All loads first, so that they are in flight together: per tile
        // the packed words, or the 16-bit values in chunks of 8.
        SmallVector<Value, kMmaTilesN> w;
        SmallVector<SmallVector<Value, 2>, kMmaTilesN> values16;
        if (packed) {
          Value wordOffset = im.div(kAddr, 32 / bits);
          for (int64_t t = 0; t < kMmaTilesN; ++t)
            w.push_back(vector::LoadOp::create(
                ib, wordsType, words,
                ValueRange{im.add(rowStarts[t], wordOffset)},
                /*nontemporal=*/false, llvm::Align(4 * chunkWords)));
        } else {
          // Past K the weights are zeros as the rows are (an infinite weight
          // of the chunk read there must not make NaNs).
          Value zeros = arith::ConstantOp::create(
              ib, lhsVecType,
              DenseElementsAttr::get(lhsVecType, ib.getZeroAttr(elt)));
          for (int64_t t = 0; t < kMmaTilesN; ++t) {
            values16.emplace_back();
            for (int64_t h = 0; h < perLoad / kVec; ++h) {
              Value v = vector::LoadOp::create(
                  ib, lhsVecType, weight.bytes,
                  ValueRange{g, cols[t],
                             h ? im.add(kAddr, im.c(kVec * h)) : kAddr},
                  /*nontemporal=*/false, llvm::Align(16));
              if (kValid)
                v = im.select(kValid, v, zeros);
              values16.back().push_back(v);
            }
          }
        }
        SmallVector<Value> a;
        for (int64_t r = 0; r < 2 * kMmaTilesM; ++r) {
          Value valid = aRows.valid[r];
          if (kValid)
            valid = im.both(valid, kValid);
          for (int64_t h = 0; h < perLoad / kVec; ++h)
            a.push_back(loadVec(ib, lhsVecType, s.lhs,
                                {aRows.rows[r], im.add(kAddr, im.c(kVec * h))},
                                valid));
        }
        SmallVector<Value> acc(iter.begin(), iter.end());
        SmallVector<Expansion, kMmaTilesN> expansions = rowExpansions;
        expansions.resize(kMmaTilesN);
        // A chunk of several blocks: each tile's scales and zero points of
        // all of them at once (see expansionsAt).
        SmallVector<SmallVector<Expansion, 2>, kMmaTilesN> chunkExpansions;
        if (chunkBlocks) {
          Value firstBlock = im.div(kAddr, q.blockSize);
          for (int64_t t = 0; t < kMmaTilesN; ++t)
            chunkExpansions.push_back(expansionsAt(ib, q, weight, g, cols[t],
                                                   firstBlock, chunkBlocks));
        }
        for (int64_t u = 0; u < steps; ++u) {
          if (chunkBlocks) {
            for (int64_t t = 0; t < kMmaTilesN; ++t)
              expansions[t] = chunkExpansions[t][u / scaleSteps];
          } else if (packed && q.blockSize && u % scaleSteps == 0) {
            Value block = im.div(im.add(kAddr, im.c(4 * u)), q.blockSize);
            expansions.clear();
            for (int64_t t = 0; t < kMmaTilesN; ++t)
              expansions.push_back(
                  expansionAt(ib, q, weight, g, cols[t], block));
          }
          // B of tile t: its 4 values of the step (expanded), in pairs.
          int64_t bit = 4 * u * bits;
          int64_t chunk = (4 * u) / kVec, at = (4 * u) % kVec;
          SmallVector<std::array<Value, 2>, kMmaTilesN> bOps;
          for (int64_t t = 0; t < kMmaTilesN; ++t) {
            if (!packed) {
              Value v = values16[t][chunk];
              bOps.push_back({mmaSlice(ib, v, at), mmaSlice(ib, v, at + 2)});
              continue;
            }
            SmallVector<Value, 4> values;
            for (int64_t j = 0; j < 4; ++j) {
              Value v = expandValue(ib, q, w[t], bit + j * bits, expansions[t]);
              // Past K the rows are zeros; so are the weights (an infinite
              // weight of the chunk read there must not make NaNs).
              if (kValid)
                v = im.select(kValid, v, im.f32(0));
              values.push_back(v);
            }
            auto pack = [&](int64_t j) {
              Value pair = vector::FromElementsOp::create(
                  ib, VectorType::get({2}, f32),
                  ValueRange{values[j], values[j + 1]});
              return mmaRegister(ib, arith::TruncFOp::create(
                                         ib, VectorType::get({2}, elt), pair));
            };
            bOps.push_back({pack(0), pack(2)});
          }
          int64_t chunks = perLoad / kVec;
          for (int64_t i = 0; i < kMmaTilesM; ++i) {
            Value lo = a[(2 * i) * chunks + chunk];
            Value hi = a[(2 * i + 1) * chunks + chunk];
            Value aOps[] = {mmaSlice(ib, lo, at), mmaSlice(ib, hi, at),
                            mmaSlice(ib, lo, at + 2), mmaSlice(ib, hi, at + 2)};
            for (int64_t t = 0; t < kMmaTilesN; ++t)
              mmaAccumulate(ib, acc[i * kMmaTilesN + t], aOps, bOps[t], elt);
          }
        }
        scf::YieldOp::create(ib, acc);
      });
  return SmallVector<Value>(loop.getResults());
}
