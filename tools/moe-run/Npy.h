//===- Npy.h - read and write NumPy .npy files ------------------*- C++ -*-===//
//
// Why not xtensor's xnpy.hpp: it loads into an xarray<T> whose T is fixed at
// compile time, while moe-run learns the dtype from the file and the function
// signature at run time; and it reports bad files by throwing, which the
// -fno-exceptions LLVM build we link against cannot catch. The format itself
// is small (a magic string, a Python-literal header, raw data), so this file
// implements exactly the subset numpy.save writes for plain arrays.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_TOOLS_MOE_RUN_NPY_H
#define MOE_TOOLS_MOE_RUN_NPY_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

namespace moe::npy {

/// A heap buffer aligned for any element type and for vector loads. Large
/// ones (weights packed by the runner, big inputs) are also aligned to and
/// asked for in 2 MiB pages: the compiled matmuls stream weights block by
/// block, and with 4 KiB pages each block row of a plain [K, N] weight is a
/// TLB miss of its own.
class AlignedBuffer {
public:
  static constexpr size_t kAlignment = 64;
  static constexpr size_t kHugePage = size_t(2) << 20;

  AlignedBuffer() = default;
  explicit AlignedBuffer(size_t bytes);

  char *data() { return ptr.get(); }
  const char *data() const { return ptr.get(); }
  size_t size() const { return bytes; }

private:
  struct Free {
    void operator()(char *p) const { std::free(p); }
  };
  std::unique_ptr<char, Free> ptr;
  size_t bytes = 0;
};

/// A C-contiguous array as stored in an .npy file. `descr` is the
/// normalized NumPy type string: '<' for multi-byte little-endian types, '|'
/// for one-byte types ("<f4", "|b1", ...).
struct Array {
  std::string descr;
  llvm::SmallVector<int64_t> shape;
  AlignedBuffer data;

  int64_t numElements() const;
};

/// Bytes per element of a normalized descr ("<f4" -> 4).
size_t itemSize(llvm::StringRef descr);

/// Reads an .npy file (format 1.0, 2.0 or 3.0). Errors name the file and say
/// what is wrong: missing, not .npy, truncated, Fortran order, big-endian,
/// or a structured or object dtype.
llvm::Expected<Array> read(llvm::StringRef path);

/// Parses an in-memory .npy image; `name` is used in error messages.
llvm::Expected<Array> parse(llvm::StringRef bytes, llvm::StringRef name);

/// Writes a C-contiguous array as .npy format 1.0 (as numpy.save does).
llvm::Error write(llvm::StringRef path, llvm::StringRef descr,
                  llvm::ArrayRef<int64_t> shape, const void *data,
                  size_t bytes);

} // namespace moe::npy

#endif // MOE_TOOLS_MOE_RUN_NPY_H
