//===- Signature.cpp - which function moe-run calls and with what ---------===//

#include "Signature.h"

#include "moe/Pipelines/Passes.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FormatVariadic.h"

using namespace mlir;
using llvm::Error;
using llvm::Expected;
using llvm::formatv;
using llvm::itostr;
using llvm::join;
using llvm::map_range;
using llvm::raw_string_ostream;
using llvm::Twine;
using namespace moe::run;

static Error makeError(const Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

static std::string str(Type type) {
  std::string s;
  raw_string_ostream os(s);
  os << type;
  return s;
}

static std::string shapeStr(ArrayRef<int64_t> shape) {
  if (shape.empty())
    return "scalar (shape ())";
  return join(map_range(shape, [](int64_t d) { return itostr(d); }), "x");
}

Expected<TensorSpec> moe::run::getTensorSpec(Type type) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  if (!tensor)
    return makeError("type " + str(type) +
                     " is not supported (moe-run passes ranked tensors only)");
  Type element = tensor.getElementType();
  std::string descr;
  if (element.isF32())
    descr = "<f4";
  else if (element.isF64())
    descr = "<f8";
  else if (element.isF16())
    descr = "<f2";
  else if (element.isBF16())
    descr = "<u2"; // .npy has no bfloat16: its raw bits as uint16.
  else if (element.isSignlessInteger(64))
    descr = "<i8";
  else if (element.isSignlessInteger(32))
    descr = "<i4";
  else if (element.isSignlessInteger(16))
    descr = "<i2";
  else if (element.isSignlessInteger(8))
    descr = "|i1";
  else if (element.isSignlessInteger(1))
    descr = "|b1"; // One byte per i1 in a memref, like numpy's bool.
  else
    return makeError("element type " + str(element) + " of " + str(type) +
                     " is not supported (f32, f64, f16, bf16, i64, i32, i16, "
                     "i8, i1)");
  return TensorSpec{tensor, descr, npy::itemSize(descr)};
}

bool moe::run::acceptsDescr(const TensorSpec &spec, StringRef descr) {
  if (descr == spec.descr)
    return true;
  // Signless integers (not i1) take either signedness; bf16 bits are uint16
  // and also int16, for arrays made with .view(np.int16).
  auto element = spec.type.getElementType();
  bool signless = element.isSignlessInteger() && !element.isInteger(1);
  if ((signless || element.isBF16()) && descr.size() == spec.descr.size() &&
      descr.drop_front(2) == StringRef(spec.descr).drop_front(2))
    return descr[1] == 'i' || descr[1] == 'u';
  return false;
}

std::string moe::run::describeDescr(StringRef descr) {
  static const StringRef kinds[][2] = {
      {"f", "float"}, {"i", "int"}, {"u", "uint"}, {"b", "bool"}};
  std::string name = descr.str();
  for (auto &[code, kind] : kinds)
    if (descr.size() >= 3 && descr[1] == code[0])
      name = kind == "bool" ? "bool"
                            : (kind + Twine(8 * npy::itemSize(descr))).str();
  return formatv("{0} ('{1}')", name, descr).str();
}

/// The entry points of a lowered module, in order: every llvm.func carrying
/// the tensor signature, except the `_mlir_ciface_` wrappers (which carry a
/// copy of it).
static SmallVector<std::pair<LLVM::LLVMFuncOp, FunctionType>>
collectEntryPoints(ModuleOp module) {
  SmallVector<std::pair<LLVM::LLVMFuncOp, FunctionType>> entries;
  for (auto func : module.getOps<LLVM::LLVMFuncOp>()) {
    auto signature =
        func->getAttrOfType<TypeAttr>(moe::kEntrySignatureAttrName);
    if (!signature || func.getName().starts_with("_mlir_ciface_"))
      continue;
    if (auto type = dyn_cast<FunctionType>(signature.getValue()))
      entries.push_back({func, type});
  }
  return entries;
}

Expected<EntryPoint> moe::run::selectEntryPoint(ModuleOp module,
                                                StringRef requested) {
  auto entries = collectEntryPoints(module);
  auto names = [&] {
    return join(
        map_range(entries,
                  [](auto &e) { return ("@" + e.first.getName()).str(); }),
        ", ");
  };
  if (entries.empty())
    return makeError("the module has no entry point (a public func.func with a "
                     "body, lowered by --moe-cpu-pipeline)");
  std::pair<LLVM::LLVMFuncOp, FunctionType> *chosen = nullptr;
  if (!requested.empty()) {
    for (auto &e : entries)
      if (e.first.getName() == requested)
        chosen = &e;
    if (!chosen)
      return makeError("no entry point named @" + requested +
                       " (entry points: " + names() + ")");
  } else if (entries.size() == 1) {
    chosen = &entries.front();
  } else {
    for (auto &e : entries)
      if (e.first.getName() == "main_graph")
        chosen = &e;
    if (!chosen)
      chosen = &entries.front();
  }

  EntryPoint entry;
  entry.name = chosen->first.getName().str();
  entry.type = chosen->second;
  if (!module.lookupSymbol<LLVM::LLVMFuncOp>("_mlir_ciface_" + entry.name))
    return makeError("@" + entry.name + " has no C interface (_mlir_ciface_" +
                     entry.name + "); lower it with --moe-cpu-pipeline");
  ArrayAttr parameters =
      chosen->first->getAttrOfType<ArrayAttr>(moe::kParametersAttrName);
  size_t numInputs = entry.type.getNumInputs();
  if (parameters) {
    if (parameters.size() > numInputs)
      return makeError(formatv("@{0} has {1} parameter(s) but only {2} "
                               "argument(s)",
                               entry.name, parameters.size(), numInputs));
    numInputs -= parameters.size();
  }
  for (auto [i, type] : llvm::enumerate(entry.type.getInputs())) {
    Expected<TensorSpec> spec = getTensorSpec(type);
    if (!spec)
      return makeError(formatv("argument {0} of @{1}: {2}", i, entry.name,
                               llvm::toString(spec.takeError())));
    if (i < numInputs) {
      entry.inputs.push_back(*spec);
      continue;
    }
    auto fields = dyn_cast<DictionaryAttr>(parameters[i - numInputs]);
    auto value = fields ? fields.getAs<ElementsAttr>(moe::kParameterValueName)
                        : ElementsAttr();
    if (!value)
      return makeError(formatv("parameter {0} of @{1} has no data ({2} "
                               "entry without a '{3}' ElementsAttr)",
                               i - numInputs, entry.name,
                               moe::kParametersAttrName,
                               moe::kParameterValueName));
    Parameter parameter{*spec, value, {}};
    if (auto permutation =
            fields.getAs<DenseI64ArrayAttr>(moe::kParameterPermutationName))
      llvm::append_range(parameter.permutation, permutation.asArrayRef());
    entry.parameters.push_back(std::move(parameter));
  }
  for (auto [i, type] : llvm::enumerate(entry.type.getResults())) {
    Expected<TensorSpec> spec = getTensorSpec(type);
    if (!spec)
      return makeError(formatv("result {0} of @{1}: {2}", i, entry.name,
                               llvm::toString(spec.takeError())));
    entry.results.push_back(*spec);
  }
  return entry;
}

Error moe::run::checkInput(const EntryPoint &entry, unsigned index,
                           StringRef file, const npy::Array &array) {
  unsigned argument = index % entry.inputs.size();
  const TensorSpec &spec = entry.inputs[argument];
  std::string where =
      formatv("input {0} ('{1}') for argument {2} of @{3} "
              "({4})",
              index, file, argument, entry.name, str(spec.type));
  if (!acceptsDescr(spec, array.descr))
    return makeError(formatv("{0}: dtype {1} does not match element type {2} "
                             "(expected {3})",
                             where, describeDescr(array.descr),
                             str(spec.type.getElementType()),
                             describeDescr(spec.descr)));
  if (int64_t(array.shape.size()) != spec.type.getRank())
    return makeError(formatv(
        "{0}: rank {1} (shape {2}) does not match rank {3}", where,
        array.shape.size(), shapeStr(array.shape), spec.type.getRank()));
  for (auto [dim, size] : llvm::enumerate(spec.type.getShape()))
    if (!ShapedType::isDynamic(size) && array.shape[dim] != size)
      return makeError(formatv("{0}: dimension {1} is {2} (shape {3}) but "
                               "must be {4}",
                               where, dim, array.shape[dim],
                               shapeStr(array.shape), size));
  return Error::success();
}
