// The tool's only direct use of the operating system: terminals, signals,
// temporary directories, and the plain memory and file I/O that bench uses as
// its baselines. Everything else goes through the datatier library.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <stdexcept>

namespace datatier::cli::os {

// Whether standard error is a terminal (progress output goes there only then).
bool stderr_is_terminal() noexcept;

// The symbolic name of an errno value ("ENOENT"), or nullptr for an unknown one.
const char* errno_name(int error) noexcept;

// --- Interruption --------------------------------------------------------

// Thrown by throw_if_interrupted() once SIGINT or SIGTERM has arrived, so that
// the stack unwinds and every scratch file is removed before the process ends
// with reraise().
class Interrupted : public std::runtime_error {
 public:
  explicit Interrupted(int signal);
  int signal() const noexcept { return signal_; }

 private:
  int signal_;
};

// Installs handlers for SIGINT and SIGTERM that only record the signal.
void catch_interrupts();
// Throws Interrupted if a signal was recorded since catch_interrupts().
void throw_if_interrupted();
// Ends the process by `signal` with its default action, so the parent sees
// the usual "killed by SIGINT" status (shell exit status 130).
[[noreturn]] void reraise(int signal);
// "SIGINT", "SIGTERM", or "signal N".
const char* signal_name(int signal) noexcept;

// --- Files -----------------------------------------------------------------

// Creates a new directory, mode 0700, under $TMPDIR (or /tmp) named
// `prefix` + 6 random characters. Throws: datatier::Error.
std::filesystem::path make_temp_dir(const char* prefix);

// This process's id, for unique scratch file names.
long process_id() noexcept;

// Called between chunks of long loops with the bytes done so far; may throw
// (e.g. Interrupted) to abandon the work.
using ChunkCallback = std::function<void(std::uint64_t done)>;

// Creates `path` (which must not exist) with `size` bytes of disk space
// reserved (posix_fallocate), as the pools reserve theirs at create time,
// and syncs it. Throws: datatier::Error naming `path`; a file it created is
// left for the caller to remove.
void create_reserved_file(const std::filesystem::path& path, std::uint64_t size);

// Writes `data` to the existing file `path` from offset 0 with large
// sequential pwrite()s of `chunk` bytes and fsync()s it. With `direct`, the
// writes bypass the page cache (O_DIRECT; `data` and `chunk` must be
// 4096-aligned, a final partial block goes through the page cache).
// Returns false, having written nothing, when `direct` is asked for and the
// file system has no direct I/O. Throws: datatier::Error naming `path`.
bool write_file_synced(const std::filesystem::path& path, std::span<const std::byte> data,
                       std::size_t chunk, bool direct, const ChunkCallback& callback);

// Writes the `block`-byte pieces of `data` at `offsets` (ascending or not;
// a piece is cut at data.size()) to the same offsets of the existing file
// `path`, with `depth` pwrite()s in flight, then fsync()s it once: the writes
// of a save that writes only the blocks that changed. With `direct`, pieces
// of whole 4096-byte blocks bypass the page cache (O_DIRECT; `data` and the
// offsets must be 4096-aligned) and a partial one goes through it. Returns
// false, having written nothing, when `direct` is asked for and the file
// system has no direct I/O. Throws: datatier::Error naming `path`, or what
// `callback` (called on the writing threads) throws.
bool write_blocks_synced(const std::filesystem::path& path, std::span<const std::byte> data,
                         std::span<const std::uint64_t> offsets, std::size_t block, unsigned depth,
                         bool direct, const ChunkCallback& callback);

// Reads the whole of `path` sequentially with pread()s of `chunk` bytes into
// one reused buffer. Returns the bytes read. Throws: datatier::Error.
std::uint64_t read_file(const std::filesystem::path& path, std::size_t chunk,
                        const ChunkCallback& callback);

// As read_file(), with O_DIRECT (bypassing the page cache; `chunk` must be
// 4096-aligned). Returns nullopt, having read nothing, where the file system
// has no direct I/O. Throws: datatier::Error naming `path`.
std::optional<std::uint64_t> read_file_direct(const std::filesystem::path& path, std::size_t chunk,
                                              const ChunkCallback& callback);

// Maps the first `size` bytes of the existing file `path` shared and faults
// them in, as MmapFile::create does, lets `dirty` write all of them
// (untimed), and returns the seconds that msync(MS_SYNC) of the whole range
// then takes. Throws: datatier::Error.
double dirty_and_msync(const std::filesystem::path& path, std::size_t size,
                       const std::function<void(std::span<std::byte>)>& dirty);

// Writes back and drops `path`'s pages from the page cache, so the next read
// comes from the device. Throws: datatier::Error.
void evict_from_page_cache(const std::filesystem::path& path);

// --- Processes -------------------------------------------------------------

// Bytes this process has had read from and written to storage so far
// (read_bytes + write_bytes of /proc/self/io: page-cache hits count
// nothing); nullopt where the kernel does not say.
std::optional<std::uint64_t> storage_io_bytes();

// A child process (fork) running a function, which can send numbers back
// through a pipe. Requires: a single-threaded caller (the child runs only
// the forking thread). Waits for the child on destruction.
class Child {
 public:
  using Send = std::function<void(std::uint64_t)>;
  // Starts `body` in a child process, which exits with its result (90 for
  // an exception, printed to stderr). Throws: datatier::Error.
  static Child start(const std::function<int(const Send& send)>& body);

  Child(Child&& other) noexcept;
  Child& operator=(Child&&) = delete;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child();

  // The next number the child sent; nullopt once it ended without one.
  std::optional<std::uint64_t> receive() const;
  // Waits for the child to end: its exit status, or 128 + its signal.
  int wait();

 private:
  Child(long pid, int pipe) noexcept : pid_(pid), pipe_(pipe) {}
  long pid_ = -1;
  int pipe_ = -1;  // read end
};

// --- Memory ----------------------------------------------------------------

// MemAvailable of /proc/meminfo in bytes, or nullopt where there is none.
std::optional<std::uint64_t> available_memory();

// Fresh private anonymous memory, faulted in for writing as datatier's Memory
// pool does (transparent huge pages asked for, then MADV_POPULATE_WRITE, or a
// write to every page on kernels without it). Unmapped on destruction.
class AnonymousMemory {
 public:
  // Throws: datatier::Error (std::errc::not_enough_memory).
  static AnonymousMemory map_populated(std::size_t size);
  // The same on `threads` threads: each MADV_POPULATE_WRITEs its own
  // 2 MiB-aligned slice of the one mapping (transparent huge pages asked for).
  static AnonymousMemory map_populated_parallel(std::size_t size, unsigned threads);

  AnonymousMemory(AnonymousMemory&& other) noexcept;
  AnonymousMemory& operator=(AnonymousMemory&& other) noexcept;
  AnonymousMemory(const AnonymousMemory&) = delete;
  AnonymousMemory& operator=(const AnonymousMemory&) = delete;
  ~AnonymousMemory();

  std::span<std::byte> bytes() const noexcept { return {data_, size_}; }
  // Unmaps now; bytes() is then empty.
  void unmap() noexcept;

 private:
  AnonymousMemory(std::byte* data, std::size_t size) noexcept : data_(data), size_(size) {}
  std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace datatier::cli::os
