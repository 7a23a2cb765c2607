// A move-only memory mapping: anonymous private memory or a shared file mapping.
#pragma once

#include <cstddef>
#include <filesystem>
#include <span>

namespace datatier::platform {

class File;

// Owns one mmap(2) region and unmaps it when destroyed. A zero-length Mapping
// maps nothing and has an empty bytes() span. A moved-from Mapping is empty.
class Mapping {
 public:
  Mapping() noexcept = default;
  Mapping(Mapping&& other) noexcept;
  Mapping& operator=(Mapping&& other) noexcept;
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping();

  // Private zero-filled memory of `size` bytes, every page faulted in
  // (writable and backed) before it returns. Asks for transparent huge pages
  // where the kernel offers them. Throws datatier::Error (ENOMEM, ...).
  static Mapping anonymous(std::size_t size);

  // The first `size` bytes of `file`, mapped shared and read-write, with the
  // pages read in ahead (MAP_POPULATE). The file must be at least that long.
  static Mapping shared(const File& file, std::size_t size);

  std::span<std::byte> bytes() const noexcept { return {data_, size_}; }

  // Writes the dirty pages of bytes [offset, offset + length) back to the file
  // and waits for them (msync MS_SYNC). `path` names the file in errors.
  void sync(std::size_t offset, std::size_t length, const std::filesystem::path& path) const;

 private:
  Mapping(std::byte* data, std::size_t size) noexcept : data_(data), size_(size) {}
  void reset() noexcept;

  std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

// The size of a virtual memory page on this machine.
std::size_t page_size() noexcept;

}  // namespace datatier::platform
