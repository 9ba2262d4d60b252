//===- InferShapeOps.cpp - operators that move data without arithmetic ----===//
//
// Reshape, Squeeze, Gather, Concat, Slice, Shape, ... Where an operator's
// shape depends on an integer input, the input's elements come from a
// constant or from KnownInts (a computed shape); unknown elements make
// dynamic dims, and an unknown length makes the result unknown.
//
//===----------------------------------------------------------------------===//

#include "InferenceContext.h"

#include "mlir/IR/Builders.h"

using namespace mlir;
using namespace moe::onnx;
using namespace moe::onnx::infer;

static constexpr int64_t kDyn = ShapedType::kDynamic;

/// Product of `dims`, dynamic if any is.
static int64_t product(ArrayRef<int64_t> dims) {
  int64_t n = 1;
  for (int64_t d : dims) {
    if (ShapedType::isDynamic(d))
      return kDyn;
    n *= d;
  }
  return n;
}

static Type i64Type(InferenceContext &ctx) {
  return IntegerType::get(ctx.getNode().getContext(), 64);
}

/// A Constant node (the importer makes onnx.constant of most of them).
static LogicalResult inferConstant(InferenceContext &ctx) {
  NodeOp node = ctx.getNode();
  MLIRContext *mlir = node.getContext();
  if (auto value = dyn_cast_or_null<ElementsAttr>(node.getONNXAttr("value")))
    ctx.setResult(0, value.getType());
  else if (ctx.getIntAttr("value_int"))
    ctx.setResult(0, {}, i64Type(ctx));
  else if (auto ints = ctx.getIntsAttr("value_ints"))
    ctx.setResult(0, {(int64_t)ints->size()}, i64Type(ctx));
  else if (isa_and_nonnull<FloatAttr>(node.getONNXAttr("value_float")))
    ctx.setResult(0, {}, Float32Type::get(mlir));
  else if (auto floats = dyn_cast_or_null<DenseF32ArrayAttr>(
               node.getONNXAttr("value_floats")))
    ctx.setResult(0, {(int64_t)floats.size()}, Float32Type::get(mlir));
  return success();
}

/// Reshape(data, shape): 0 copies the input dim (unless allowzero), -1 is
/// whatever makes the element counts agree.
static LogicalResult inferReshape(InferenceContext &ctx) {
  auto shapeType = ctx.getRanked(1);
  Type element = ctx.getElementType(0);
  if (!element || !shapeType || shapeType.getRank() != 1 ||
      shapeType.isDynamicDim(0))
    return success();
  auto data = ctx.getRanked(0);
  auto values = ctx.getInts(1);
  if (!values)
    values = SmallVector<int64_t>(shapeType.getDimSize(0), kDyn);
  bool allowZero = ctx.getIntAttr("allowzero", 0) != 0;
  SmallVector<int64_t> shape;
  int64_t inferAt = -1;
  for (auto [i, v] : llvm::enumerate(*values)) {
    if (v == 0 && !allowZero) {
      if (data && (int64_t)i >= data.getRank())
        return ctx.emitError()
               << "shape[" << i << "] = 0 copies a dim that "
               << "the rank-" << data.getRank() << " input does not have";
      shape.push_back(data ? data.getDimSize(i) : kDyn);
    } else if (v == -1) {
      if (inferAt >= 0)
        return ctx.emitError() << "shape has more than one -1";
      inferAt = i;
      shape.push_back(kDyn);
    } else if (v < -1 && !ShapedType::isDynamic(v)) {
      return ctx.emitError()
             << "shape[" << i << "] = " << v << " is not a size";
    } else {
      shape.push_back(v);
    }
  }
  int64_t total = data ? product(data.getShape()) : kDyn;
  if (inferAt >= 0 && !ShapedType::isDynamic(total)) {
    SmallVector<int64_t> others(shape);
    others.erase(others.begin() + inferAt);
    int64_t rest = product(others);
    if (!ShapedType::isDynamic(rest)) {
      if (rest == 0 || total % rest != 0)
        return ctx.emitError() << "cannot reshape " << total << " elements to ["
                               << *values << "]";
      shape[inferAt] = total / rest;
    }
  }
  int64_t count = product(shape);
  if (!ShapedType::isDynamic(total) && !ShapedType::isDynamic(count) &&
      total != count)
    return ctx.emitError() << "cannot reshape " << data << " (" << total
                           << " elements) to [" << *values << "]";
  ctx.setResult(0, shape, element);
  if (auto ints = ctx.getInts(0))
    ctx.setResultInts(0, *ints);
  return success();
}

/// Flatten: [d0 * .. * d(axis-1), d(axis) * .. * d(r-1)].
static LogicalResult inferFlatten(InferenceContext &ctx) {
  auto data = ctx.getRanked(0);
  if (!data)
    return success();
  int64_t rank = data.getRank(), axis = ctx.getIntAttr("axis", 1);
  if (axis < -rank || axis > rank)
    return ctx.emitError() << "axis " << axis << " is out of range for rank "
                           << rank;
  if (axis < 0)
    axis += rank;
  ctx.setResult(0,
                {product(data.getShape().take_front(axis)),
                 product(data.getShape().drop_front(axis))},
                data.getElementType());
  return success();
}

/// Normalizes every axis of `axes` against `rank`; checks duplicates.
static FailureOr<SmallVector<int64_t>>
normalizeAxes(InferenceContext &ctx, ArrayRef<int64_t> axes, int64_t rank) {
  SmallVector<int64_t> out;
  for (int64_t axis : axes) {
    auto a = ctx.normalizeAxis(axis, rank);
    if (failed(a))
      return failure();
    if (llvm::is_contained(out, *a))
      return ctx.emitError() << "axis " << axis << " is repeated";
    out.push_back(*a);
  }
  return out;
}

static LogicalResult inferSqueeze(InferenceContext &ctx) {
  auto data = ctx.getRanked(0);
  if (!data)
    return success();
  IntList axes = ctx.getIntsAttrOrInput("axes", 1, 13);
  if (axes.present && !axes.isKnown())
    return success();
  SmallVector<int64_t> shape;
  if (!axes.present) {
    // Every dim of size 1; a dynamic one might be 1, so the rank is unknown.
    if (!data.hasStaticShape())
      return success();
    for (int64_t d : data.getShape())
      if (d != 1)
        shape.push_back(d);
  } else {
    auto norm = normalizeAxes(ctx, *axes.values, data.getRank());
    if (failed(norm))
      return failure();
    for (auto [i, d] : llvm::enumerate(data.getShape())) {
      if (!llvm::is_contained(*norm, (int64_t)i)) {
        shape.push_back(d);
        continue;
      }
      if (!ShapedType::isDynamic(d) && d != 1)
        return ctx.emitError() << "squeezes axis " << i << " of size " << d;
    }
  }
  ctx.setResult(0, shape, data.getElementType());
  if (auto ints = ctx.getInts(0))
    ctx.setResultInts(0, *ints);
  return success();
}

static LogicalResult inferUnsqueeze(InferenceContext &ctx) {
  auto data = ctx.getRanked(0);
  IntList axes = ctx.getIntsAttrOrInput("axes", 1, 13);
  if (!axes.present)
    return ctx.emitError() << "needs axes";
  if (!data || !axes.isKnown())
    return success();
  int64_t rank = data.getRank() + axes.values->size();
  auto norm = normalizeAxes(ctx, *axes.values, rank);
  if (failed(norm))
    return failure();
  SmallVector<int64_t> shape;
  auto dims = data.getShape();
  for (int64_t i = 0, j = 0; i < rank; ++i)
    shape.push_back(llvm::is_contained(*norm, i) ? 1 : dims[j++]);
  ctx.setResult(0, shape, data.getElementType());
  if (auto ints = ctx.getInts(0))
    ctx.setResultInts(0, *ints);
  return success();
}

static LogicalResult inferTranspose(InferenceContext &ctx) {
  auto data = ctx.getRanked(0);
  if (!data)
    return success();
  int64_t rank = data.getRank();
  SmallVector<int64_t> perm;
  if (auto attr = ctx.getIntsAttr("perm"))
    perm = *attr;
  else
    for (int64_t i = rank - 1; i >= 0; --i)
      perm.push_back(i);
  if ((int64_t)perm.size() != rank)
    return ctx.emitError() << "perm has " << perm.size()
                           << " entries for an input of rank " << rank;
  auto norm = normalizeAxes(ctx, perm, rank);
  if (failed(norm))
    return failure();
  SmallVector<int64_t> shape;
  for (int64_t p : *norm)
    shape.push_back(data.getDimSize(p));
  ctx.setResult(0, shape, data.getElementType());
  return success();
}

static LogicalResult inferConcat(InferenceContext &ctx) {
  auto axisAttr = ctx.getIntAttr("axis");
  if (!axisAttr)
    return ctx.emitError() << "needs the attribute 'axis'";
  SmallVector<int64_t> shape;
  SmallVector<int64_t> ints;
  bool intsKnown = true;
  Type element;
  int64_t axis = 0;
  for (unsigned i = 0, e = ctx.getNumInputs(); i < e; ++i) {
    auto type = ctx.getRanked(i);
    if (!type)
      return success();
    if (i == 0) {
      auto a = ctx.normalizeAxis(*axisAttr, type.getRank());
      if (failed(a))
        return failure();
      axis = *a;
      shape = llvm::to_vector(type.getShape());
      element = type.getElementType();
    } else {
      if (type.getRank() != (int64_t)shape.size() ||
          type.getElementType() != element)
        return ctx.emitError() << "input #" << i << " " << type
                               << " does not match input #0's rank and "
                               << "element type";
      for (int64_t d = 0, r = shape.size(); d < r; ++d) {
        int64_t a = shape[d], b = type.getDimSize(d);
        if (d == axis) {
          shape[d] = ShapedType::isDynamic(a) || ShapedType::isDynamic(b)
                         ? kDyn
                         : a + b;
        } else if (ShapedType::isDynamic(a)) {
          shape[d] = b;
        } else if (!ShapedType::isDynamic(b) && a != b) {
          return ctx.emitError()
                 << "input #" << i << " has size " << b << " in dim " << d
                 << " where input #0 has " << a;
        }
      }
    }
    auto values = ctx.getInts(i);
    intsKnown &= values.has_value();
    if (values)
      ints.append(*values);
  }
  ctx.setResult(0, shape, element);
  if (intsKnown && shape.size() == 1)
    ctx.setResultInts(0, ints);
  return success();
}

/// The size of slicing a static dim `dim` by (start, end, step).
static int64_t sliceSize(int64_t dim, int64_t start, int64_t end,
                         int64_t step) {
  auto clamp = [](int64_t v, int64_t lo, int64_t hi) {
    return std::min(std::max(v, lo), hi);
  };
  if (start < 0)
    start += dim;
  if (end < 0)
    end += dim;
  if (step > 0) {
    start = clamp(start, 0, dim);
    end = clamp(end, 0, dim);
    return end <= start ? 0 : (end - start + step - 1) / step;
  }
  start = clamp(start, 0, dim - 1);
  end = clamp(end, -1, dim - 1);
  return start <= end ? 0 : (start - end + (-step) - 1) / (-step);
}

static LogicalResult inferSlice(InferenceContext &ctx) {
  auto data = ctx.getRanked(0);
  if (!data)
    return success();
  int64_t rank = data.getRank();
  IntList starts = ctx.getIntsAttrOrInput("starts", 1, 10);
  IntList ends = ctx.getIntsAttrOrInput("ends", 2, 10);
  IntList axes = ctx.getIntsAttrOrInput("axes", 3, 10);
  IntList steps = ctx.getIntsAttrOrInput("steps", 4, 10);
  SmallVector<int64_t> shape = llvm::to_vector(data.getShape());
  if (axes.present && !axes.isKnown()) {
    // Any axis may be sliced.
    ctx.setResult(0, SmallVector<int64_t>(rank, kDyn), data.getElementType());
    return success();
  }
  SmallVector<int64_t> axisList;
  if (axes.present)
    axisList = *axes.values;
  else if (starts.isKnown())
    axisList = llvm::to_vector(llvm::seq<int64_t>(0, starts.values->size()));
  if (!axes.present && !starts.isKnown()) {
    // Starts of unknown length: any leading axes may be sliced.
    ctx.setResult(0, SmallVector<int64_t>(rank, kDyn), data.getElementType());
    return success();
  }
  auto norm = normalizeAxes(ctx, axisList, rank);
  if (failed(norm))
    return failure();
  auto at = [](const IntList &list, size_t i, int64_t dflt) {
    if (!list.present)
      return dflt;
    if (!list.isKnown() || i >= list.values->size())
      return kDyn;
    return (*list.values)[i];
  };
  for (auto [i, axis] : llvm::enumerate(*norm)) {
    int64_t start = at(starts, i, 0), end = at(ends, i, 0);
    int64_t step = at(steps, i, 1);
    if (step == 0)
      return ctx.emitError() << "steps[" << i << "] is 0";
    int64_t dim = shape[axis];
    if (ShapedType::isDynamic(start) || ShapedType::isDynamic(end) ||
        ShapedType::isDynamic(step) || ShapedType::isDynamic(dim)) {
      // Slicing everything from 0 with step 1 keeps the dim.
      bool whole = start == 0 && step == 1 && !ShapedType::isDynamic(end) &&
                   end >= (int64_t(1) << 31);
      shape[axis] = whole ? dim : kDyn;
      continue;
    }
    shape[axis] = sliceSize(dim, start, end, step);
  }
  ctx.setResult(0, shape, data.getElementType());
  // Slices of a known 1-D list (shape[1:3]) stay known.
  auto values = ctx.getInts(0);
  if (values && rank == 1 && norm->size() == 1 && starts.isKnown() &&
      ends.isKnown() && at(steps, 0, 1) == 1 &&
      !ShapedType::isDynamic(shape[0])) {
    int64_t n = values->size();
    int64_t start = (*starts.values)[0];
    start = std::min(std::max(start < 0 ? start + n : start, int64_t(0)), n);
    ctx.setResultInts(0,
                      SmallVector<int64_t>(values->begin() + start,
                                           values->begin() + start + shape[0]));
  }
  return success();
}

static LogicalResult inferGather(InferenceContext &ctx) {
  auto data = ctx.getRanked(0);
  auto indices = ctx.getRanked(1);
  if (!data || !indices)
    return success();
  auto axis = ctx.normalizeAxis(ctx.getIntAttr("axis", 0), data.getRank());
  if (failed(axis))
    return failure();
  SmallVector<int64_t> shape(data.getShape().take_front(*axis));
  llvm::append_range(shape, indices.getShape());
  llvm::append_range(shape, data.getShape().drop_front(*axis + 1));
  ctx.setResult(0, shape, data.getElementType());
  // Picking dims out of a shape: Gather(Shape(x), 1).
  auto values = ctx.getInts(0);
  auto picks = ctx.getStaticInts(1);
  if (values && picks && data.getRank() == 1 && indices.getRank() <= 1) {
    SmallVector<int64_t> out;
    int64_t n = values->size();
    for (int64_t p : *picks) {
      if (p < -n || p >= n)
        return ctx.emitError()
               << "index " << p << " is out of range for " << n << " elements";
      out.push_back((*values)[p < 0 ? p + n : p]);
    }
    ctx.setResultInts(0, out);
  }
  return success();
}

/// GatherElements and the scatters: the indices' or the data's shape.
static LogicalResult inferLikeIndices(InferenceContext &ctx) {
  if (auto indices = ctx.getRanked(1))
    ctx.setResult(0, indices.getShape(), ctx.getElementType(0));
  return success();
}

static LogicalResult inferExpand(InferenceContext &ctx) {
  auto data = ctx.getRanked(0);
  auto shapeType = ctx.getRanked(1);
  if (!data || !shapeType || shapeType.getRank() != 1 ||
      shapeType.isDynamicDim(0))
    return success();
  auto values = ctx.getInts(1);
  if (!values)
    values = SmallVector<int64_t>(shapeType.getDimSize(0), kDyn);
  auto shape = broadcastShapes(data.getShape(), *values);
  if (failed(shape))
    return ctx.emitError() << "cannot expand " << data << " to [" << *values
                           << "]";
  ctx.setResult(0, *shape, data.getElementType());
  return success();
}

static LogicalResult inferShape(InferenceContext &ctx) {
  auto data = ctx.getRanked(0);
  if (!data)
    return success();
  int64_t rank = data.getRank();
  auto bound = [&](int64_t v) {
    return std::min(std::max(v < 0 ? v + rank : v, int64_t(0)), rank);
  };
  int64_t start = bound(ctx.getIntAttr("start", 0));
  int64_t end = bound(ctx.getIntAttr("end", rank));
  SmallVector<int64_t> dims;
  for (int64_t i = start; i < end; ++i)
    dims.push_back(data.getDimSize(i));
  ctx.setResult(0, {(int64_t)dims.size()}, i64Type(ctx));
  ctx.setResultInts(0, dims);
  return success();
}

static LogicalResult inferSize(InferenceContext &ctx) {
  ctx.setResult(0, {}, i64Type(ctx));
  if (auto data = ctx.getRanked(0))
    ctx.setResultInts(0, {product(data.getShape())});
  return success();
}

static LogicalResult inferRange(InferenceContext &ctx) {
  Type element = ctx.getElementType(0);
  if (!element)
    return success();
  int64_t size = kDyn;
  auto start = ctx.getStaticInts(0), limit = ctx.getStaticInts(1),
       delta = ctx.getStaticInts(2);
  if (isa<IntegerType>(element) && start && limit && delta &&
      start->size() == 1 && limit->size() == 1 && delta->size() == 1) {
    int64_t d = (*delta)[0];
    if (d == 0)
      return ctx.emitError() << "delta is 0";
    double n = std::ceil(double((*limit)[0] - (*start)[0]) / double(d));
    size = std::max<int64_t>(int64_t(n), 0);
  }
  ctx.setResult(0, {size}, element);
  return success();
}

static LogicalResult inferSplit(InferenceContext &ctx) {
  auto data = ctx.getRanked(0);
  if (!data)
    return success();
  auto axis = ctx.normalizeAxis(ctx.getIntAttr("axis", 0), data.getRank());
  if (failed(axis))
    return failure();
  unsigned n = ctx.getNode()->getNumResults();
  IntList split = ctx.getIntsAttrOrInput("split", 1, 13);
  int64_t dim = data.getDimSize(*axis);
  SmallVector<int64_t> sizes(n, kDyn);
  if (split.isKnown()) {
    if (split.values->size() != n)
      return ctx.emitError() << "split has " << split.values->size()
                             << " sizes for " << n << " outputs";
    sizes = *split.values;
    int64_t sum = 0;
    for (int64_t s : sizes)
      sum = ShapedType::isDynamic(s) || ShapedType::isDynamic(sum) ? kDyn
                                                                   : sum + s;
    if (!ShapedType::isDynamic(sum) && !ShapedType::isDynamic(dim) &&
        sum != dim)
      return ctx.emitError()
             << "split sizes add up to " << sum << " but the axis has " << dim;
  } else if (!split.present && !ShapedType::isDynamic(dim)) {
    // Equal parts; since opset 18 the last one may be smaller.
    int64_t part = (dim + n - 1) / n;
    if (dim % n != 0 && ctx.getOpset() < 18)
      return ctx.emitError()
             << "cannot split " << dim << " into " << n << " equal parts";
    for (unsigned i = 0; i < n; ++i)
      sizes[i] = std::min(part, dim - part * i);
  }
  for (unsigned i = 0; i < n; ++i) {
    SmallVector<int64_t> shape(data.getShape());
    shape[*axis] = sizes[i];
    ctx.setResult(i, shape, data.getElementType());
  }
  return success();
}

static LogicalResult inferConstantOfShape(InferenceContext &ctx) {
  auto shapeType = ctx.getRanked(0);
  if (!shapeType || shapeType.getRank() != 1 || shapeType.isDynamicDim(0))
    return success();
  auto values = ctx.getInts(0);
  if (!values)
    values = SmallVector<int64_t>(shapeType.getDimSize(0), kDyn);
  Type element = Float32Type::get(ctx.getNode().getContext());
  if (auto value =
          dyn_cast_or_null<ElementsAttr>(ctx.getNode().getONNXAttr("value")))
    element = value.getElementType();
  ctx.setResult(0, *values, element);
  return success();
}

static LogicalResult inferTile(InferenceContext &ctx) {
  auto data = ctx.getRanked(0);
  if (!data)
    return success();
  SmallVector<int64_t> shape(data.getRank(), kDyn);
  if (auto repeats = ctx.getInts(1)) {
    if ((int64_t)repeats->size() != data.getRank())
      return ctx.emitError()
             << "repeats has " << repeats->size()
             << " entries for an input of rank " << data.getRank();
    for (auto [i, r] : llvm::enumerate(*repeats))
      shape[i] = product({data.getDimSize(i), r});
  }
  ctx.setResult(0, shape, data.getElementType());
  return success();
}

static LogicalResult inferOneHot(InferenceContext &ctx) {
  auto indices = ctx.getRanked(0);
  Type element = ctx.getElementType(2);
  if (!indices || !element)
    return success();
  int64_t rank = indices.getRank() + 1;
  auto axis = ctx.normalizeAxis(ctx.getIntAttr("axis", -1), rank);
  if (failed(axis))
    return failure();
  int64_t depth = kDyn;
  if (auto d = ctx.getStaticInts(1); d && d->size() == 1)
    depth = (*d)[0];
  SmallVector<int64_t> shape(indices.getShape());
  shape.insert(shape.begin() + *axis, depth);
  ctx.setResult(0, shape, element);
  // Exporters build small integer lists this way (repeat_interleave's
  // repeats [1, k, 1]); follow them when everything is known.
  auto ids = ctx.getStaticInts(0), values = ctx.getStaticInts(2);
  if (ids && values && values->size() == 2 && indices.getRank() <= 1 &&
      depth != kDyn && depth <= 64 && isa<IntegerType>(element)) {
    SmallVector<int64_t> ints;
    for (int64_t id : *ids)
      for (int64_t j = 0; j < depth; ++j)
        ints.push_back((id < 0 ? id + depth : id) == j ? (*values)[1]
                                                       : (*values)[0]);
    if (indices.getRank() == 0 || ids->size() == 1)
      ctx.setResultInts(0, std::move(ints));
  }
  return success();
}

static LogicalResult inferNonZero(InferenceContext &ctx) {
  if (auto data = ctx.getRanked(0))
    ctx.setResult(0, {data.getRank(), kDyn}, i64Type(ctx));
  return success();
}

void moe::onnx::infer::registerShapeOpInference(InferenceTable &table) {
  table.add({"Constant"}, inferConstant);
  table.add({"Reshape"}, inferReshape);
  table.add({"Flatten"}, inferFlatten);
  table.add({"Squeeze"}, inferSqueeze);
  table.add({"Unsqueeze"}, inferUnsqueeze);
  table.add({"Transpose"}, inferTranspose);
  table.add({"Concat"}, inferConcat);
  table.add({"Slice"}, inferSlice);
  table.add({"Gather"}, inferGather);
  table.add({"GatherElements"}, inferLikeIndices);
  table.add({"ScatterElements", "ScatterND"}, [](InferenceContext &ctx) {
    if (auto data = ctx.getRanked(0))
      ctx.setResult(0, data);
    return success();
  });
  table.add({"Expand"}, inferExpand);
  table.add({"Shape"}, inferShape);
  table.add({"Size"}, inferSize);
  table.add({"Range"}, inferRange);
  table.add({"Split"}, inferSplit);
  table.add({"ConstantOfShape"}, inferConstantOfShape);
  table.add({"Tile"}, inferTile);
  table.add({"OneHot"}, inferOneHot);
  table.add({"NonZero"}, inferNonZero);
}
