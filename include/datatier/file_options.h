// Options shared by the file-backed pools' create() and open().
#pragma once

#include <filesystem>

namespace datatier {

struct FileOptions {
  // Permission bits for files the pool creates (before the umask).
  std::filesystem::perms create_mode =
      std::filesystem::perms::owner_read | std::filesystem::perms::owner_write;

  // open() only. By default a file whose in-use mark is set (its owner ended
  // without flush()) is refused with errc::unclean_shutdown. Set this to open
  // it anyway, provided its checksum still verifies: for a FileBackedMemory
  // that is the last snapshot its owner saved; for an MmapFile it is the last
  // flushed contents, which verify only if nothing was written after the flush.
  bool accept_unclean = false;
};

}  // namespace datatier
