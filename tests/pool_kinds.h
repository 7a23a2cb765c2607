// The pool types as test parameters: how to make one of each in a directory.
#pragma once

#include <string>

#include "datatier/datatier.h"
#include "temp_dir.h"

namespace datatier::testing {

struct MemoryKind {
  using Pool = Memory;
  static constexpr bool kPersistent = false;
  static Pool create(const TempDir&, std::size_t size) { return Memory::create(size); }
};

// A pool of type P (MmapFile or FileBackedMemory) in the file "pool" of the
// test's directory.
template <typename P>
struct FileKind {
  using Pool = P;
  static constexpr bool kPersistent = true;
  static Pool create(const TempDir& dir, std::size_t size, std::uint64_t user_version = 0) {
    return Pool::create(dir / "pool", size, user_version);
  }
  static Pool open(const TempDir& dir, std::size_t size, std::uint64_t user_version = 0,
                   const FileOptions& options = {}) {
    return Pool::open(dir / "pool", size, user_version, options);
  }
};

using MmapFileKind = FileKind<MmapFile>;
using FileBackedMemoryKind = FileKind<FileBackedMemory>;

// gtest prints these names for typed tests.
class PoolKindNames {
 public:
  template <typename T>
  static std::string GetName(int) {
    if constexpr (std::is_same_v<T, MemoryKind>) return "Memory";
    if constexpr (std::is_same_v<T, MmapFileKind>) return "MmapFile";
    if constexpr (std::is_same_v<T, FileBackedMemoryKind>) return "FileBackedMemory";
    return "Unknown";
  }
};

}  // namespace datatier::testing
