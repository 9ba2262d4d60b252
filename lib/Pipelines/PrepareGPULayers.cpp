//===- PrepareGPULayers.cpp - MoE layers of a model as GPU layer entries --===//
//
// A raised model keeps each MoE layer inline in its function, in the model's
// float type, with the weights as constants and the projections often
// stored [out, in] (transpose_rhs). The GPU side wants each layer as a
// function of device buffers in a 16-bit type, weights [in, out] (or, with
// keep-transposed, [out, in] as stored where no group_extents are needed):
// what moe-gpu-aot turns into a moe_layer_forward entry. Outlining keeps the
// rest of the model, and the layer's numerics at the new type, runnable on
// the CPU: the caller converts (and transposes) the layer's inputs, calls
// it, and converts the result back.
//
//===----------------------------------------------------------------------===//

#include "GPULayerEntries.h"

#include "moe/Dialect/MoE/IR/MoE.h"
#include "moe/Pipelines/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Support/FileUtilities.h"

#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/ToolOutputFile.h"

namespace moe {
#define GEN_PASS_DEF_MOEPREPAREGPULAYERS
#include "moe/Pipelines/Passes.h.inc"
} // namespace moe

using namespace mlir;
using namespace moe;
using moe::detail::kLayerAttr;

namespace {

/// How the layer takes a value: as it is, or in the layer's element type,
/// and or not with its last two dimensions swapped (the [out, in] weights
/// of a transpose_rhs grouped matmul, passed [in, out] unless
/// keep-transposed, and an [H, E] router, read [E, H]).
enum class Form { Keep, Convert, Transposed, ConvertTransposed };

bool converts(Form form) {
  return form == Form::Convert || form == Form::ConvertTransposed;
}
bool transposes(Form form) {
  return form == Form::Transposed || form == Form::ConvertTransposed;
}

/// The form of operand `use` of a layer op: activations and expert weights
/// in the layer's type; the routing's inputs, biases, offsets, maps and
/// routing weights as they are.
Form operandForm(OpOperand &use) {
  Operation *op = use.getOwner();
  Value v = use.get();
  if (auto route = dyn_cast<FusedRouteOp>(op)) {
    // The routing keeps the model's precision (a few ulps in a logit can
    // swap two experts); an [H, E] router is read [E, H]: one contiguous row
    // per expert.
    if (v == route.getWeight() && route.getWeightTransposed())
      return Form::Transposed;
    return Form::Keep;
  }
  if (auto dispatch = dyn_cast<DispatchOp>(op))
    return v == dispatch.getInput() ? Form::Convert : Form::Keep;
  if (auto mm = dyn_cast<GroupedMatmulOp>(op)) {
    if (v == mm.getLhs())
      return Form::Convert;
    if (llvm::is_contained(mm.getRhs(), v))
      return mm.getTransposeRhs() ? Form::ConvertTransposed : Form::Convert;
    return Form::Keep;
  }
  if (auto act = dyn_cast<ActivationOp>(op))
    return v == act.getInput() || v == act.getUp() ? Form::Convert : Form::Keep;
  if (auto combine = dyn_cast<CombineOp>(op))
    return v == combine.getRows() ? Form::Convert : Form::Keep;
  if (auto scatter = dyn_cast<ScatterColumnsOp>(op))
    return v == scatter.getSource() || v == scatter.getDest() ? Form::Convert
                                                              : Form::Keep;
  return Form::Keep;
}

/// Whether result `r` of a layer op is in the layer's type (the tokens,
/// rows and activations) rather than as it is (routing weights, ids,
/// offsets, maps).
bool convertsResult(OpResult r) {
  Operation *op = r.getOwner();
  if (isa<DequantizeOp>(op))
    return true;
  if (auto dispatch = dyn_cast<DispatchOp>(op))
    return r == dispatch.getRows();
  return isa<GroupedMatmulOp, ActivationOp, CombineOp, ScatterColumnsOp>(op);
}

/// `type` (a ranked tensor) with float elements in `element` (if set) and,
/// for ConvertTransposed, its last two dimensions swapped.
Type formType(Type type, Form form, Type element) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  if (!tensor || form == Form::Keep)
    return type;
  SmallVector<int64_t> shape(tensor.getShape());
  if (transposes(form))
    std::swap(shape[shape.size() - 2], shape[shape.size() - 1]);
  Type elt = tensor.getElementType();
  if (converts(form) && element && isa<FloatType>(elt))
    elt = element;
  return RankedTensorType::get(shape, elt);
}

/// An empty tensor of `type` with the dynamic sizes of `like` (same rank),
/// permuted by `perm` if given.
Value emptyLike(OpBuilder &b, Location loc, Value like, RankedTensorType type,
                ArrayRef<int64_t> perm = {}) {
  SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(b, loc, like);
  if (!perm.empty()) {
    SmallVector<OpFoldResult> permuted;
    for (int64_t p : perm)
      permuted.push_back(sizes[p]);
    sizes = permuted;
  }
  return tensor::EmptyOp::create(b, loc, sizes, type.getElementType());
}

/// `v` with its float elements converted to `element` (extf or truncf, one
/// element at a time).
Value castElements(OpBuilder &b, Location loc, Value v, Type element) {
  auto type = cast<RankedTensorType>(v.getType());
  Type from = type.getElementType();
  if (!element || from == element || !isa<FloatType>(from))
    return v;
  auto resultType = RankedTensorType::get(type.getShape(), element);
  Value init = emptyLike(b, loc, v, resultType);
  AffineMap id = b.getMultiDimIdentityMap(type.getRank());
  SmallVector<utils::IteratorType> iterators(type.getRank(),
                                             utils::IteratorType::parallel);
  auto generic = linalg::GenericOp::create(
      b, loc, resultType, ValueRange{v}, ValueRange{init},
      ArrayRef<AffineMap>{id, id}, iterators,
      [&](OpBuilder &nb, Location nl, ValueRange args) {
        Value x = args[0];
        unsigned fromBits = from.getIntOrFloatBitWidth();
        unsigned toBits = element.getIntOrFloatBitWidth();
        // f16 <-> bf16 (same width) goes through f32, exactly.
        if (fromBits == toBits)
          x = arith::ExtFOp::create(nb, nl, nb.getF32Type(), x);
        Value y = fromBits < toBits
                      ? Value(arith::ExtFOp::create(nb, nl, element, x))
                      : Value(arith::TruncFOp::create(nb, nl, element, x));
        linalg::YieldOp::create(nb, nl, y);
      });
  return generic.getResult(0);
}

/// `v` with its last two dimensions swapped.
Value transposeLastTwo(OpBuilder &b, Location loc, Value v) {
  auto type = cast<RankedTensorType>(v.getType());
  SmallVector<int64_t> perm =
      llvm::to_vector(llvm::seq<int64_t>(0, type.getRank()));
  std::swap(perm[perm.size() - 2], perm[perm.size() - 1]);
  auto resultType =
      cast<RankedTensorType>(formType(type, Form::Transposed, Type()));
  Value init = emptyLike(b, loc, v, resultType, perm);
  return linalg::TransposeOp::create(b, loc, v, init, perm).getResult()[0];
}

/// `parts` (equal static shapes) stacked along a new leading dimension.
Value stack(OpBuilder &b, Location loc, ValueRange parts) {
  auto part = cast<RankedTensorType>(parts.front().getType());
  SmallVector<int64_t> shape = {int64_t(parts.size())};
  llvm::append_range(shape, part.getShape());
  Value acc = tensor::EmptyOp::create(b, loc, shape, part.getElementType());
  SmallVector<OpFoldResult> sizes = {b.getIndexAttr(1)};
  for (int64_t d : part.getShape())
    sizes.push_back(b.getIndexAttr(d));
  SmallVector<OpFoldResult> strides(shape.size(), b.getIndexAttr(1));
  for (auto [e, v] : llvm::enumerate(parts)) {
    SmallVector<OpFoldResult> offsets(shape.size(), b.getIndexAttr(0));
    offsets[0] = b.getIndexAttr(e);
    acc =
        tensor::InsertSliceOp::create(b, loc, v, acc, offsets, sizes, strides);
  }
  return acc;
}

/// Per-group weights of one static shape (per-expert exports) as one
/// stacked tensor, and their biases likewise: the GPU kernels take stacked
/// weights. Groups of different shapes are padded (padGroups).
void stackUniformWeights(GroupedMatmulOp mm) {
  if (mm.isStacked() || mm.getPanels())
    return;
  Type first = mm.getRhs().front().getType();
  auto type = cast<RankedTensorType>(first);
  if (!type.hasStaticShape() ||
      llvm::any_of(mm.getRhs(), [&](Value v) { return v.getType() != first; }))
    return;
  if (!mm.getBias().empty()) {
    Type bias = mm.getBias().front().getType();
    if (!cast<RankedTensorType>(bias).hasStaticShape() ||
        llvm::any_of(mm.getBias(),
                     [&](Value v) { return v.getType() != bias; }))
      return;
  }
  OpBuilder b(mm);
  Value rhs = stack(b, mm.getLoc(), mm.getRhs());
  SmallVector<Value> biases(mm.getBias());
  mm.getRhsMutable().assign(rhs);
  if (!biases.empty())
    mm.getBiasMutable().assign(stack(b, mm.getLoc(), biases));
}

/// Whether `mm` has one weight per group, of static shapes that differ
/// (heterogeneous experts).
bool hasGroupsOfDifferentShapes(GroupedMatmulOp mm) {
  if (mm.isStacked() || mm.getPanels())
    return false;
  auto all = [&](ValueRange values) {
    return llvm::all_of(values, [](Value v) {
      return cast<RankedTensorType>(v.getType()).hasStaticShape();
    });
  };
  Type first = mm.getRhs().front().getType();
  return all(mm.getRhs()) && all(mm.getBias()) &&
         llvm::any_of(mm.getRhs(),
                      [&](Value v) { return v.getType() != first; });
}

/// `parts` (one per group, of static shapes) in one zero-filled stacked
/// tensor [E, max d0, max d1] (or [E, max d0] for biases), each at the start
/// of its group. With `halves`, each part's dimension `split` is two halves
/// (gate and up of a concatenated gate/up weight): the second half goes to
/// the middle of the padded dimension, so that every group's up columns
/// start at the same column.
Value padAndStack(OpBuilder &b, Location loc, ValueRange parts, bool halves,
                  unsigned split) {
  auto firstType = cast<RankedTensorType>(parts.front().getType());
  int64_t rank = firstType.getRank();
  SmallVector<int64_t> shape = {int64_t(parts.size())};
  for (int64_t d = 0; d < rank; ++d) {
    int64_t size = 0;
    for (Value part : parts)
      size =
          std::max(size, cast<RankedTensorType>(part.getType()).getDimSize(d));
    shape.push_back(size);
  }
  Type elt = firstType.getElementType();
  Value acc = tensor::EmptyOp::create(b, loc, shape, elt);
  Value zero = arith::ConstantOp::create(b, loc, b.getZeroAttr(elt));
  acc = linalg::FillOp::create(b, loc, zero, acc).getResult(0);
  auto index = [&](int64_t v) -> OpFoldResult { return b.getIndexAttr(v); };
  for (auto [e, part] : llvm::enumerate(parts)) {
    auto type = cast<RankedTensorType>(part.getType());
    int64_t pieces = halves ? 2 : 1;
    for (int64_t h = 0; h < pieces; ++h) {
      SmallVector<int64_t> from(rank, 0), size(type.getShape());
      SmallVector<int64_t> to(rank, 0);
      if (halves) {
        size[split] /= 2;
        from[split] = h * size[split];
        to[split] = h * (shape[split + 1] / 2);
      }
      Value piece = part;
      SmallVector<OpFoldResult> ones(rank, index(1));
      if (halves) {
        SmallVector<OpFoldResult> offsets, sizes;
        for (int64_t d = 0; d < rank; ++d) {
          offsets.push_back(index(from[d]));
          sizes.push_back(index(size[d]));
        }
        piece =
            tensor::ExtractSliceOp::create(b, loc, part, offsets, sizes, ones);
      }
      SmallVector<OpFoldResult> offsets = {index(e)}, sizes = {index(1)},
                                strides(rank + 1, index(1));
      for (int64_t d = 0; d < rank; ++d) {
        offsets.push_back(index(to[d]));
        sizes.push_back(index(size[d]));
      }
      acc = tensor::InsertSliceOp::create(b, loc, piece, acc, offsets, sizes,
                                          strides);
    }
  }
  return acc;
}

/// The width of group e's input columns that `mm` reads (K_e).
int64_t groupInputWidth(GroupedMatmulOp mm, unsigned e) {
  auto type = cast<RankedTensorType>(mm.getRhs()[e].getType());
  return type.getDimSize(mm.getTransposeRhs() ? 1 : 0);
}

/// Heterogeneous experts on the GPU: `mm`'s per-group weights of different
/// shapes zero-padded to the largest and stacked, their biases likewise.
/// Group e reads the first K_e columns of its rows and writes the first M_e
/// columns of the result, zeros past them; the zero rows and columns of the
/// padding give exactly that (the rows' columns past K_e meet zero weights).
/// `halves`: the weights are concatenated gate/up (see padAndStack).
void padGroups(GroupedMatmulOp mm, bool halves) {
  OpBuilder b(mm);
  unsigned outDim = mm.getTransposeRhs() ? 0 : 1;
  // Each group's own [K_e, M_e] lets the kernels skip the padding; a gate/up
  // matmul's groups are two blocks (gate and up), so it has none.
  if (!halves) {
    SmallVector<int64_t> extents;
    for (auto [e, rhs] : llvm::enumerate(mm.getRhs())) {
      extents.push_back(groupInputWidth(mm, e));
      extents.push_back(
          cast<RankedTensorType>(rhs.getType()).getDimSize(outDim));
    }
    mm.setGroupExtents(extents);
  }
  SmallVector<Value> biases(mm.getBias());
  mm.getRhsMutable().assign(
      padAndStack(b, mm.getLoc(), mm.getRhs(), halves, outDim));
  if (!biases.empty())
    mm.getBiasMutable().assign(
        padAndStack(b, mm.getLoc(), biases, halves, /*split=*/0));
}

/// An activation of heterogeneous experts (`widths`) made uniform once its
/// matmuls are padded: group e's columns past widths[e] then hold act of
/// the padding instead of zeros, which is exact when every user is a
/// padded matmul reading at most widths[e] columns of group e (its weight
/// rows past them are zeros). A concatenated gate/up input must come from
/// one padded matmul, its only user, whose up halves padding moves to a
/// common column. Returns that matmul (or null for the other layouts), or
/// failure when the activation must keep its widths.
FailureOr<GroupedMatmulOp> uniformActivationInput(ActivationOp act) {
  std::optional<ArrayRef<int64_t>> widths = act.getWidths();
  if (!widths)
    return failure();
  for (Operation *user : act->getUsers()) {
    auto mm = dyn_cast<GroupedMatmulOp>(user);
    if (!mm || mm.getLhs() != act.getResult() ||
        !hasGroupsOfDifferentShapes(mm) || mm.getRhs().size() != widths->size())
      return failure();
    for (auto [e, width] : llvm::enumerate(*widths))
      if (groupInputWidth(mm, e) > width)
        return failure();
  }
  if (act.getGateLayout() != GateLayout::Concatenated)
    return GroupedMatmulOp();
  auto producer = act.getInput().getDefiningOp<GroupedMatmulOp>();
  if (!producer || !producer->hasOneUse() ||
      !hasGroupsOfDifferentShapes(producer) ||
      producer.getRhs().size() != widths->size())
    return failure();
  unsigned outDim = producer.getTransposeRhs() ? 0 : 1;
  for (auto [e, width] : llvm::enumerate(*widths))
    if (cast<RankedTensorType>(producer.getRhs()[e].getType())
            .getDimSize(outDim) != 2 * width)
      return failure();
  return producer;
}

/// `v` (static shape) grown to `size` along `dim`, the new entries `fill`.
Value padDim(OpBuilder &b, Location loc, Value v, unsigned dim, int64_t size,
             TypedAttr fill) {
  auto type = cast<RankedTensorType>(v.getType());
  SmallVector<int64_t> shape(type.getShape());
  shape[dim] = size;
  Value acc = tensor::EmptyOp::create(b, loc, shape, type.getElementType());
  Value value = arith::ConstantOp::create(b, loc, fill);
  acc = linalg::FillOp::create(b, loc, value, acc).getResult(0);
  SmallVector<OpFoldResult> zeros(type.getRank(), b.getIndexAttr(0)),
      ones(type.getRank(), b.getIndexAttr(1)), sizes;
  for (int64_t d : type.getShape())
    sizes.push_back(b.getIndexAttr(d));
  return tensor::InsertSliceOp::create(b, loc, v, acc, zeros, sizes, ones);
}

/// Stacked weights' dimension holding K (`input`) or N.
unsigned weightDim(GroupedMatmulOp mm, bool input) {
  return mm.getTransposeRhs() == input ? 2 : 1;
}

/// Whether `mm` reads one static stacked weight and no extents, so that its
/// K or N can grow by zero rows or columns.
bool canPad(GroupedMatmulOp mm) {
  return mm.isStacked() && !mm.getGroupExtents() &&
         cast<RankedTensorType>(mm.getRhs().front().getType())
             .hasStaticShape() &&
         llvm::all_of(mm.getBias(), [](Value v) {
           return cast<RankedTensorType>(v.getType()).hasStaticShape();
         });
}

/// The GPU kernels copy 16-byte chunks, so every K and N must be a multiple
/// of 8. A narrow inner width (a compressed expert's rank, its kept residual
/// columns) grows to one: `mm`'s weight (and bias) get zero columns up to
/// N8 = N rounded up to 8, and each user takes the wider result: a matmul
/// reading it gets zero weight rows, a scatter_columns gets -1 (skipped)
/// column indices. Exact; the widths the model's tokens have are left
/// alone.
void padNarrowWidth(GroupedMatmulOp mm) {
  auto resultType = cast<RankedTensorType>(mm.getType());
  int64_t n = resultType.getDimSize(1);
  if (ShapedType::isDynamic(n) || n % 8 == 0 || !canPad(mm))
    return;
  for (Operation *user : mm->getUsers()) {
    auto reader = dyn_cast<GroupedMatmulOp>(user);
    bool readsLhs = reader && reader.getLhs() == mm.getResult() &&
                    !llvm::is_contained(reader.getRhs(), mm.getResult()) &&
                    canPad(reader);
    auto scatter = dyn_cast<ScatterColumnsOp>(user);
    bool scattered =
        scatter && scatter.getSource() == mm.getResult() &&
        scatter.getDest() != mm.getResult() &&
        cast<RankedTensorType>(scatter.getColumns().getType()).hasStaticShape();
    if (!readsLhs && !scattered)
      return;
  }
  int64_t wide = llvm::alignTo(n, 8);
  OpBuilder b(mm);
  Location loc = mm.getLoc();
  auto zeroOf = [&](Value v) -> TypedAttr {
    return b.getZeroAttr(cast<RankedTensorType>(v.getType()).getElementType());
  };
  Value rhs = mm.getRhs().front();
  mm.getRhsMutable().assign(
      padDim(b, loc, rhs, weightDim(mm, /*input=*/false), wide, zeroOf(rhs)));
  if (!mm.getBias().empty()) {
    Value bias = mm.getBias().front();
    mm.getBiasMutable().assign(padDim(
        b, loc, bias, cast<RankedTensorType>(bias.getType()).getRank() - 1,
        wide, zeroOf(bias)));
  }
  mm.getResult().setType(RankedTensorType::get({resultType.getDimSize(0), wide},
                                               resultType.getElementType()));
  for (Operation *user : mm->getUsers()) {
    OpBuilder ub(user);
    if (auto reader = dyn_cast<GroupedMatmulOp>(user)) {
      Value w = reader.getRhs().front();
      reader.getRhsMutable().assign(padDim(
          ub, loc, w, weightDim(reader, /*input=*/true), wide, zeroOf(w)));
      continue;
    }
    auto scatter = cast<ScatterColumnsOp>(user);
    Value columns = scatter.getColumns();
    Type idx = cast<RankedTensorType>(columns.getType()).getElementType();
    scatter.getColumnsMutable().assign(
        padDim(ub, loc, columns, 1, wide, ub.getIntegerAttr(idx, -1)));
  }
}

/// Stacks the weights of `matmuls` (uniform ones as they are, heterogeneous
/// ones padded), makes the activations between padded matmuls uniform and
/// pads narrow inner widths to multiples of 8.
void stackWeights(ArrayRef<GroupedMatmulOp> matmuls,
                  ArrayRef<ActivationOp> activations) {
  llvm::SmallPtrSet<Operation *, 4> halves;
  SmallVector<ActivationOp> uniform;
  for (ActivationOp act : activations) {
    FailureOr<GroupedMatmulOp> input = uniformActivationInput(act);
    if (failed(input))
      continue;
    uniform.push_back(act);
    if (*input)
      halves.insert(*input);
  }
  for (GroupedMatmulOp mm : matmuls) {
    if (hasGroupsOfDifferentShapes(mm))
      padGroups(mm, halves.contains(mm));
    else
      stackUniformWeights(mm);
  }
  for (ActivationOp act : uniform) {
    act.removeWidthsAttr();
    act.getOffsetsMutable().clear();
  }
  for (GroupedMatmulOp mm : matmuls)
    padNarrowWidth(mm);
}

/// The values a stacked argument was built from (stack()), or none.
SmallVector<Value> stackedParts(Value v) {
  SmallVector<Value> parts;
  while (auto insert = v.getDefiningOp<tensor::InsertSliceOp>()) {
    parts.push_back(insert.getSource());
    v = insert.getDest();
  }
  if (!v.getDefiningOp<tensor::EmptyOp>())
    return {};
  std::reverse(parts.begin(), parts.end());
  return parts;
}

llvm::json::Object describeSource(Value v);

/// A tensor's shape (null for a dynamic size); [] for an index.
llvm::json::Array shapeOf(Type type) {
  llvm::json::Array dims;
  auto tensor = dyn_cast<RankedTensorType>(type);
  if (!tensor)
    return dims;
  for (int64_t d : tensor.getShape())
    dims.push_back(ShapedType::isDynamic(d) ? llvm::json::Value(nullptr)
                                            : llvm::json::Value(d));
  return dims;
}

/// Whether the layer takes `dequantize`'s packed weights as they are, the
/// kernels expanding them (the transposed rhs of grouped matmuls that the
/// decode kernel can read), rather than its floats, expanded by the caller.
bool readsPacked(DequantizeOp dequantize) {
  if (!moe::quantizedWeightsUnsupportedReason(dequantize).empty())
    return false;
  return llvm::all_of(dequantize->getUses(), [](OpOperand &use) {
    auto mm = dyn_cast<GroupedMatmulOp>(use.getOwner());
    return mm && mm.getTransposeRhs() && mm.isStacked() &&
           !mm.getGroupExtents() && mm.getRhs()[0] == use.get();
  });
}

/// The pieces of a zero-padded argument (padAndStack), for the report: each
/// piece's source, the block of it taken (`from`, `size`) and where that
/// block goes (`to`); none if `v` is not one.
std::optional<llvm::json::Array> paddedPieces(Value v) {
  llvm::json::Array pieces;
  while (auto insert = v.getDefiningOp<tensor::InsertSliceOp>()) {
    Value part = insert.getSource();
    auto partType = cast<RankedTensorType>(part.getType());
    SmallVector<int64_t> from(partType.getRank(), 0);
    auto extract = part.getDefiningOp<tensor::ExtractSliceOp>();
    if (extract && extract.getSourceType().getRank() == partType.getRank() &&
        llvm::all_of(extract.getStaticStrides(),
                     [](int64_t s) { return s == 1; })) {
      from = llvm::to_vector(extract.getStaticOffsets());
      part = extract.getSource();
    }
    llvm::json::Object piece{
        {"source", describeSource(part)},
        {"from", llvm::json::Array(from)},
        {"size", llvm::json::Array(partType.getShape())},
        {"to", llvm::json::Array(insert.getStaticOffsets())}};
    pieces.push_back(std::move(piece));
    v = insert.getDest();
  }
  auto fill = v.getDefiningOp<linalg::FillOp>();
  if (!fill || pieces.empty())
    return std::nullopt;
  std::reverse(pieces.begin(), pieces.end());
  return pieces;
}

/// Where a layer argument comes from, for the report.
llvm::json::Object describeSource(Value v) {
  llvm::json::Object source;
  if (auto arg = dyn_cast<BlockArgument>(v)) {
    source["kind"] = "argument";
    source["index"] = int64_t(arg.getArgNumber());
    auto func = dyn_cast<func::FuncOp>(arg.getOwner()->getParentOp());
    if (func)
      if (auto name = func.getArgAttrOfType<StringAttr>(arg.getArgNumber(),
                                                        "onnx.name"))
        source["name"] = name.str();
    return source;
  }
  ElementsAttr value;
  if (matchPattern(v, m_Constant(&value))) {
    source["kind"] = "constant";
    if (auto resource = dyn_cast<DenseResourceElementsAttr>(value))
      source["resource"] = resource.getRawHandle().getKey().str();
    return source;
  }
  if (std::optional<llvm::json::Array> pieces = paddedPieces(v)) {
    source["kind"] = "padded";
    source["shape"] = shapeOf(v.getType());
    source["pieces"] = std::move(*pieces);
    // Zeros unless said (-1 for the column indices of a scatter).
    Value base = v;
    while (auto insert = base.getDefiningOp<tensor::InsertSliceOp>())
      base = insert.getDest();
    IntegerAttr fill;
    if (matchPattern(base.getDefiningOp<linalg::FillOp>().value(),
                     m_Constant(&fill)) &&
        !fill.getValue().isZero())
      source["fill"] = fill.getValue().getSExtValue();
    return source;
  }
  // An index: a dimension of a tensor, a constant or another value.
  if (auto dim = v.getDefiningOp<tensor::DimOp>()) {
    if (std::optional<int64_t> d = dim.getConstantIndex()) {
      source["kind"] = "dim";
      source["of"] = describeSource(dim.getSource());
      source["dim"] = *d;
      return source;
    }
  }
  IntegerAttr constant;
  if (v.getType().isIndex() && matchPattern(v, m_Constant(&constant))) {
    source["kind"] = "constant";
    source["value"] = constant.getValue().getSExtValue();
    return source;
  }
  if (auto dequantize = v.getDefiningOp<DequantizeOp>()) {
    source["kind"] = "dequantized";
    source["weight"] = describeSource(dequantize.getWeight());
    source["scales"] = describeSource(dequantize.getScales());
    if (Value zeroPoints = dequantize.getZeroPoints())
      source["zero_points"] = describeSource(zeroPoints);
    source["bits"] = int64_t(dequantize.getBits());
    if (std::optional<uint64_t> block = dequantize.getBlockSize())
      source["block_size"] = int64_t(*block);
    source["columns"] = cast<RankedTensorType>(v.getType()).getShape().back();
    return source;
  }
  SmallVector<Value> parts = stackedParts(v);
  if (!parts.empty()) {
    source["kind"] = "stacked";
    llvm::json::Array of;
    for (Value part : parts)
      of.push_back(describeSource(part));
    source["parts"] = std::move(of);
    return source;
  }
  // Another value of the caller; an ONNX node's carries the ONNX name that
  // onnxruntime can output it under.
  Operation *def = v.getDefiningOp();
  source["kind"] = "value";
  source["op"] = def->getName().getStringRef().str();
  if (auto props =
          dyn_cast_or_null<DictionaryAttr>(def->getPropertiesAsAttribute()))
    if (auto type = props.getAs<StringAttr>("op_type"))
      source["onnx_op"] = type.str();
  if (auto names = def->getAttrOfType<ArrayAttr>("onnx.outputs")) {
    unsigned n = cast<OpResult>(v).getResultNumber();
    if (n < names.size())
      if (auto name = dyn_cast<StringAttr>(names[n]))
        source["name"] = name.str();
  }
  return source;
}

/// A tensor's element type, or "index".
std::string typeString(Type type) {
  std::string s;
  llvm::raw_string_ostream os(s);
  if (auto tensor = dyn_cast<RankedTensorType>(type))
    os << tensor.getElementType();
  else
    os << type;
  return s;
}

struct PrepareGPULayersPass
    : moe::impl::MoEPrepareGPULayersBase<PrepareGPULayersPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    Type &element = target;
    element = Type();
    if (elementType == "bf16")
      element = BFloat16Type::get(&getContext());
    else if (elementType == "f16")
      element = Float16Type::get(&getContext());
    else if (!elementType.empty()) {
      module.emitError("moe-prepare-gpu-layers: element-type must be bf16, "
                       "f16 or empty, not '")
          << elementType << "'";
      return signalPassFailure();
    }
    // Check every layer before changing anything.
    SmallVector<std::pair<func::FuncOp, SmallVector<CombineOp>>> work;
    SmallVector<GroupedMatmulOp> matmuls;
    SmallVector<ActivationOp> activations;
    bool ok = true;
    for (auto func : module.getOps<func::FuncOp>()) {
      if (func.isExternal() || func->hasAttr(kLayerAttr))
        continue;
      SmallVector<CombineOp> combines;
      func.walk([&](CombineOp combine) {
        combines.push_back(combine);
        Layer layer = collectLayer(combine);
        ok &= succeeded(layer.status);
        for (Operation *op : layer.ops)
          if (auto mm = dyn_cast<GroupedMatmulOp>(op))
            matmuls.push_back(mm);
          else if (auto act = dyn_cast<ActivationOp>(op))
            activations.push_back(act);
      });
      if (!combines.empty())
        work.emplace_back(func, combines);
    }
    if (!ok)
      return signalPassFailure();
    // Stacking changes the layers' arguments, not their ops: before the
    // outlining collects each layer again.
    stackWeights(matmuls, activations);
    llvm::json::Array report;
    SymbolTable symbols(module);
    for (auto &[func, combines] : work) {
      // The layers follow their caller, in order.
      Operation *after = func;
      for (auto [i, combine] : llvm::enumerate(combines))
        report.push_back(outline(func, combine, i, element, symbols, after));
    }
    if (!reportFile.empty() && failed(writeReport(std::move(report))))
      return signalPassFailure();
  }

  /// The layer's element type (null: the model's).
  Type target;

  /// Whether the 16-bit [out, in] weights of transpose_rhs matmul `mm`
  /// stay so in the layer (keep-transposed, no group_extents: the kernels
  /// read them along K). Packed weights, read from a moe.dequantize inside
  /// the layer, keep transpose_rhs regardless (see the outlining).
  bool keepsTransposed(GroupedMatmulOp mm) {
    return keepTransposed && mm.getTransposeRhs() && !mm.getGroupExtents();
  }

  /// operandForm, where converting changes the type: a value already in
  /// the target type (or kept in the model's) is passed as it is.
  Form formOf(OpOperand &use) {
    Form form = operandForm(use);
    // A value from outside the layer: never packed weights.
    auto mm = dyn_cast<GroupedMatmulOp>(use.getOwner());
    if (mm && form == Form::ConvertTransposed && keepsTransposed(mm))
      form = Form::Convert;
    auto shaped = dyn_cast<ShapedType>(use.get().getType());
    if (!shaped)
      return Form::Keep;
    Type elt = shaped.getElementType();
    if (converts(form) && (!target || elt == target || !isa<FloatType>(elt)))
      form = form == Form::ConvertTransposed ? Form::Transposed : Form::Keep;
    return form;
  }

  struct Layer {
    LogicalResult status = failure();
    /// The layer's ops in block order.
    SmallVector<Operation *> ops;
    /// Values from outside and the form each use takes, in first-use order.
    llvm::MapVector<std::pair<Value, Form>, unsigned> arguments;
  };

  /// The moe ops that compute `combine` (its backward slice over moe ops in
  /// its block), or an error naming the op that cannot be in a GPU layer.
  Layer collectLayer(CombineOp combine) {
    Layer layer;
    Block *block = combine->getBlock();
    llvm::SetVector<Operation *> ops;
    SmallVector<Operation *> worklist = {combine};
    while (!worklist.empty()) {
      Operation *op = worklist.pop_back_val();
      if (!ops.insert(op))
        continue;
      if (isa<GateOp>(op)) {
        op->emitOpError("moe-prepare-gpu-layers: run --moe-fuse-gating "
                        "first, so that the gate and its route become one "
                        "moe.fused_route");
        return layer;
      }
      if (isa<ExpertsOp>(op)) {
        op->emitOpError("moe-prepare-gpu-layers: run --moe-expand-experts "
                        "first (the GPU layers take grouped matmuls and "
                        "activations)");
        return layer;
      }
      if (!isa<FusedRouteOp, RouteOp, DispatchOp, GroupedMatmulOp, ActivationOp,
               CombineOp, ScatterColumnsOp, DequantizeOp>(op)) {
        op->emitOpError("moe-prepare-gpu-layers: has no GPU kernel, so its "
                        "MoE layer cannot be a GPU layer");
        return layer;
      }
      for (Value operand : op->getOperands()) {
        Operation *def = operand.getDefiningOp();
        // Quantized weights (QMoE) go to the layer packed where its kernels
        // can read them so; otherwise the caller dequantizes them, once per
        // load rather than per call, and the layer takes the floats.
        auto dequantize = dyn_cast_or_null<DequantizeOp>(def);
        if (def && def->getBlock() == block &&
            def->getDialect() == op->getDialect() &&
            (!dequantize || readsPacked(dequantize)))
          worklist.push_back(def);
      }
    }
    layer.ops = ops.takeVector();
    llvm::sort(layer.ops, [](Operation *a, Operation *b) {
      return a->isBeforeInBlock(b);
    });
    llvm::SmallPtrSet<Operation *, 16> inside(layer.ops.begin(),
                                              layer.ops.end());
    for (Operation *op : layer.ops) {
      for (Value result : op->getResults())
        for (Operation *user : result.getUsers())
          if (op != combine && !inside.contains(user)) {
            InFlightDiagnostic diag = op->emitOpError(
                "moe-prepare-gpu-layers: a result is used outside the MoE "
                "layer (only the moe.combine's may be)");
            diag.attachNote(user->getLoc()) << "used here";
            return layer;
          }
      for (OpOperand &use : op->getOpOperands()) {
        Operation *def = use.get().getDefiningOp();
        if (def && inside.contains(def))
          continue;
        // A layer entry takes device buffers and index values (its `dims`:
        // the run-time group size of Switch's per-sequence capacity).
        if (!isa<RankedTensorType, IndexType>(use.get().getType())) {
          op->emitOpError("moe-prepare-gpu-layers: operand ")
              << use.getOperandNumber() << " (" << use.get().getType()
              << ") is neither a tensor nor an index; a GPU layer takes "
                 "device buffers and index values only";
          return layer;
        }
        if (transposes(formOf(use)) &&
            cast<RankedTensorType>(use.get().getType()).getRank() < 2) {
          op->emitOpError("moe-prepare-gpu-layers: a transposed weight must "
                          "have rank 2 or more");
          return layer;
        }
        layer.arguments.insert(
            {{use.get(), formOf(use)}, unsigned(layer.arguments.size())});
      }
    }
    layer.status = success();
    return layer;
  }

  /// Moves the layer of `combine` into a new function marked moe.gpu_layer
  /// and calls it in its place; returns its report entry.
  llvm::json::Object outline(func::FuncOp caller, CombineOp combine,
                             size_t index, Type element, SymbolTable &symbols,
                             Operation *&after) {
    Layer layer = collectLayer(combine);
    MLIRContext *ctx = caller.getContext();
    Location loc = combine.getLoc();
    SmallVector<Type> argTypes;
    for (auto &[key, _] : layer.arguments)
      argTypes.push_back(formType(key.first.getType(), key.second, element));
    Type resultType = formType(combine.getType(), Form::Convert, element);

    OpBuilder b(ctx);
    b.setInsertionPointAfter(after);
    auto func = func::FuncOp::create(
        b, loc, (caller.getSymName() + "_moe_layer" + Twine(index)).str(),
        FunctionType::get(ctx, argTypes, {resultType}));
    if (!makePublic)
      func.setPrivate();
    func->setAttr(kLayerAttr, UnitAttr::get(ctx));
    symbols.insert(func, Block::iterator(func)); // renames on a clash
    after = func;
    Block *body = func.addEntryBlock();
    b.setInsertionPointToStart(body);
    IRMapping mapping;
    for (Operation *op : layer.ops) {
      Operation *clone = b.clone(*op, mapping);
      for (OpOperand &use : op->getOpOperands()) {
        auto it = layer.arguments.find({use.get(), formOf(use)});
        if (it != layer.arguments.end())
          clone->setOperand(use.getOperandNumber(),
                            body->getArgument(it->second));
      }
      for (OpResult r : clone->getResults())
        if (convertsResult(r))
          r.setType(formType(r.getType(), Form::Convert, element));
      // The weights are passed [in, out], except packed ones and, with
      // keep-transposed, 16-bit ones, which the kernels read as the model
      // stores them.
      if (auto mm = dyn_cast<GroupedMatmulOp>(clone))
        if (!mm.getRhs()[0].getDefiningOp<DequantizeOp>() &&
            !keepsTransposed(mm))
          mm.removeTransposeRhsAttr();
      if (auto route = dyn_cast<FusedRouteOp>(clone))
        route.removeWeightTransposedAttr();
    }
    func::ReturnOp::create(b, loc, mapping.lookup(combine.getResult()));

    // The call: the arguments in the layer's forms, the result back in the
    // caller's type.
    b.setInsertionPoint(combine);
    SmallVector<Value> args;
    llvm::json::Array buffers;
    for (auto &[key, position] : layer.arguments) {
      auto [value, form] = key;
      Value arg = value;
      if (transposes(form))
        arg = transposeLastTwo(b, loc, arg);
      if (converts(form))
        arg = castElements(b, loc, arg, element);
      args.push_back(arg);
      llvm::json::Object buffer{{"source", describeSource(value)},
                                {"shape", shapeOf(arg.getType())},
                                {"element_type", typeString(arg.getType())},
                                {"transposed", transposes(form)}};
      buffers.push_back(std::move(buffer));
    }
    auto call = func::CallOp::create(b, loc, func, args);
    Value result = castElements(
        b, loc, call.getResult(0),
        cast<RankedTensorType>(combine.getType()).getElementType());
    combine.getResult().replaceAllUsesWith(result);
    for (Operation *op : llvm::reverse(layer.ops))
      op->erase();

    llvm::json::Object entry{
        {"layer", func.getSymName().str()},
        {"caller", caller.getSymName().str()},
        {"buffers", std::move(buffers)},
        {"result",
         llvm::json::Object{{"shape", shapeOf(resultType)},
                            {"element_type", typeString(resultType)}}}};
    return entry;
  }

  LogicalResult writeReport(llvm::json::Array layers) {
    std::string error;
    auto out = openOutputFile(reportFile, &error);
    if (!out)
      return getOperation().emitError("moe-prepare-gpu-layers: ") << error;
    out->os() << llvm::formatv(
        "{0:2}\n", llvm::json::Value(llvm::json::Object{
                       {"layers", llvm::json::Value(std::move(layers))}}));
    out->keep();
    return success();
  }
};

} // namespace
