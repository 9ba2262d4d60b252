//===- Npy.cpp - read and write NumPy .npy files --------------------------===//
//
// Format:
// https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
//   "\x93NUMPY" major minor, header length (u16 in 1.0, u32 in 2.0/3.0, LE),
//   then a Python dict literal {'descr': ..., 'fortran_order': ...,
//   'shape': (...), } padded with spaces and ended by '\n', then the data.
//
//===----------------------------------------------------------------------===//

#include "Npy.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <cstring>
#include <optional>
#include <sys/mman.h>

using namespace llvm;
using namespace moe::npy;

static constexpr char kMagic[] = "\x93NUMPY";
static constexpr size_t kMagicSize = 6;

AlignedBuffer::AlignedBuffer(size_t bytes) : bytes(bytes) {
  // aligned_alloc wants a multiple of the alignment; never ask for 0 bytes so
  // that an empty array still has a valid, distinct pointer.
  size_t alignment = bytes >= kHugePage ? kHugePage : kAlignment;
  size_t rounded = std::max<size_t>(alignTo(bytes, alignment), alignment);
  ptr.reset(static_cast<char *>(std::aligned_alloc(alignment, rounded)));
  if (!ptr)
    report_fatal_error("moe-run: out of memory allocating " + Twine(bytes) +
                       " bytes");
  // Only a request: where transparent huge pages are off, nothing changes.
  if (alignment == kHugePage)
    (void)::madvise(ptr.get(), rounded, MADV_HUGEPAGE);
}

int64_t Array::numElements() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

size_t moe::npy::itemSize(StringRef descr) {
  unsigned size = 0;
  if (descr.size() < 3 || descr.drop_front(2).getAsInteger(10, size))
    return 0;
  return size;
}

namespace {

/// A cursor over the header's Python literal. Accepts what numpy writes
/// (single-quoted keys, True/False, int tuples) plus double quotes.
class HeaderParser {
public:
  explicit HeaderParser(StringRef text) : rest(text) {}

  bool consume(char c) {
    skipSpace();
    if (!rest.consume_front(StringRef(&c, 1)))
      return false;
    return true;
  }
  bool peek(char c) {
    skipSpace();
    return rest.starts_with(StringRef(&c, 1));
  }
  std::optional<std::string> string() {
    skipSpace();
    if (rest.empty() || (rest.front() != '\'' && rest.front() != '"'))
      return std::nullopt;
    char quote = rest.front();
    size_t end = rest.find(quote, 1);
    if (end == StringRef::npos)
      return std::nullopt;
    std::string s = rest.slice(1, end).str();
    rest = rest.drop_front(end + 1);
    return s;
  }
  std::optional<bool> boolean() {
    skipSpace();
    if (rest.consume_front("True"))
      return true;
    if (rest.consume_front("False"))
      return false;
    return std::nullopt;
  }
  std::optional<SmallVector<int64_t>> tuple() {
    if (!consume('('))
      return std::nullopt;
    SmallVector<int64_t> dims;
    while (!consume(')')) {
      skipSpace();
      size_t len = 0;
      while (len < rest.size() && isDigit(rest[len]))
        ++len;
      int64_t dim;
      if (len == 0 || rest.take_front(len).getAsInteger(10, dim))
        return std::nullopt;
      dims.push_back(dim);
      rest = rest.drop_front(len);
      // Trailing L of Python 2 longs, written by very old numpy.
      rest.consume_front("L");
      if (!consume(',') && !peek(')'))
        return std::nullopt;
    }
    return dims;
  }
  bool atEnd() {
    skipSpace();
    return rest.empty();
  }

private:
  void skipSpace() { rest = rest.ltrim(" \t\n"); }
  StringRef rest;
};

Error fail(StringRef name, const Twine &why) {
  return createStringError(inconvertibleErrorCode(), "'" + name + "': " + why);
}

/// '<f4' stays, '=f4' (native, little-endian here) becomes '<f4', '<i1'
/// becomes '|i1'. Big-endian and non-numeric kinds are rejected.
Expected<std::string> normalizeDescr(StringRef descr, StringRef name) {
  if (descr.size() < 3)
    return fail(name, "unsupported dtype '" + descr + "'");
  char order = descr[0];
  char kind = descr[1];
  size_t size = itemSize(descr);
  if (!StringRef("fiub").contains(kind) || size == 0)
    return fail(name, "unsupported dtype '" + descr +
                          "' (moe-run reads bool, int, uint and float arrays)");
  if (order == '>' && size > 1)
    return fail(name, "big-endian dtype '" + descr +
                          "' is not supported; save it with "
                          "arr.astype(arr.dtype.newbyteorder('<'))");
  if (!StringRef("<>|=").contains(order))
    return fail(name, "unsupported dtype '" + descr + "'");
  return (Twine(size == 1 ? '|' : '<') + Twine(kind) + Twine(size)).str();
}

} // namespace

Expected<Array> moe::npy::parse(StringRef bytes, StringRef name) {
  if (bytes.size() < kMagicSize + 4 ||
      !bytes.starts_with(StringRef(kMagic, kMagicSize)))
    return fail(name, "not an .npy file (missing the \\x93NUMPY magic)");
  uint8_t major = bytes[6];
  size_t headerLen, headerStart;
  if (major == 1) {
    headerLen = uint8_t(bytes[8]) | (size_t(uint8_t(bytes[9])) << 8);
    headerStart = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12)
      return fail(name, "truncated .npy header");
    headerLen = 0;
    for (int i = 3; i >= 0; --i)
      headerLen = (headerLen << 8) | uint8_t(bytes[8 + i]);
    headerStart = 12;
  } else {
    return fail(name, "unsupported .npy format version " + Twine(major));
  }
  if (bytes.size() < headerStart + headerLen)
    return fail(name, "truncated .npy header");
  StringRef header = bytes.substr(headerStart, headerLen);

  std::optional<std::string> descr;
  std::optional<bool> fortran;
  std::optional<SmallVector<int64_t>> shape;
  HeaderParser p(header);
  auto garbled = [&](const Twine &what) {
    return fail(name, "garbled .npy header (" + what + "): " + header.rtrim());
  };
  if (!p.consume('{'))
    return garbled("expected '{'");
  while (!p.consume('}')) {
    std::optional<std::string> key = p.string();
    if (!key || !p.consume(':'))
      return garbled("expected a quoted key and ':'");
    if (*key == "descr") {
      if (!(descr = p.string()))
        return p.peek('[') ? fail(name, "structured dtypes are not supported")
                           : garbled("'descr' is not a string");
    } else if (*key == "fortran_order") {
      if (!(fortran = p.boolean()))
        return garbled("'fortran_order' is not True or False");
    } else if (*key == "shape") {
      if (!(shape = p.tuple()))
        return garbled("'shape' is not a tuple of integers");
    } else {
      return garbled("unknown key '" + *key + "'");
    }
    if (!p.consume(',') && !p.peek('}'))
      return garbled("expected ',' or '}'");
  }
  if (!p.atEnd())
    return garbled("text after '}'");
  if (!descr || !fortran || !shape)
    return garbled("needs 'descr', 'fortran_order' and 'shape'");
  if (*fortran)
    return fail(name, "Fortran-order arrays are not supported; save "
                      "np.ascontiguousarray(arr) instead");

  Expected<std::string> normalized = normalizeDescr(*descr, name);
  if (!normalized)
    return normalized.takeError();

  Array array;
  array.descr = std::move(*normalized);
  array.shape = std::move(*shape);
  uint64_t count = 1;
  for (int64_t d : array.shape) {
    if (d < 0 || (d != 0 && count > (uint64_t(1) << 48) / uint64_t(d)))
      return garbled("shape too large");
    count *= uint64_t(d);
  }
  size_t dataBytes = count * itemSize(array.descr);
  StringRef data = bytes.drop_front(headerStart + headerLen);
  if (data.size() != dataBytes)
    return fail(name, "expected " + Twine(dataBytes) + " bytes of data for " +
                          array.descr + " shape (" +
                          join(map_range(array.shape,
                                         [](int64_t d) { return itostr(d); }),
                               ", ") +
                          "), found " + Twine(data.size()));
  array.data = AlignedBuffer(dataBytes);
  if (dataBytes)
    std::memcpy(array.data.data(), data.data(), dataBytes);
  return array;
}

Expected<Array> moe::npy::read(StringRef path) {
  ErrorOr<std::unique_ptr<MemoryBuffer>> file =
      MemoryBuffer::getFile(path, /*IsText=*/false,
                            /*RequiresNullTerminator=*/false);
  if (std::error_code ec = file.getError())
    return fail(path, "cannot read: " + ec.message());
  return parse((*file)->getBuffer(), path);
}

Error moe::npy::write(StringRef path, StringRef descr, ArrayRef<int64_t> shape,
                      const void *data, size_t bytes) {
  std::string dict;
  raw_string_ostream os(dict);
  os << "{'descr': '" << descr << "', 'fortran_order': False, 'shape': (";
  for (int64_t d : shape)
    os << d << (shape.size() == 1 ? ",)" : ", ");
  if (shape.size() != 1) {
    if (!shape.empty())
      dict.resize(dict.size() - 2);
    os << ")";
  }
  os << ", }";
  // numpy pads so that the data starts at a multiple of 64 bytes.
  size_t unpadded = kMagicSize + 4 + dict.size() + 1;
  dict.append(alignTo(unpadded, 64) - unpadded, ' ');
  dict.push_back('\n');
  if (dict.size() > 0xffff)
    return fail(path, "shape too long for an .npy 1.0 header");

  std::error_code ec;
  raw_fd_ostream out(path, ec, sys::fs::OF_None);
  if (ec)
    return fail(path, "cannot write: " + ec.message());
  out.write(kMagic, kMagicSize);
  out << char(1) << char(0) << char(dict.size() & 0xff)
      << char(dict.size() >> 8) << dict;
  out.write(static_cast<const char *>(data), bytes);
  out.close();
  if (out.has_error()) {
    ec = out.error();
    out.clear_error();
    return fail(path, "cannot write: " + ec.message());
  }
  return Error::success();
}
