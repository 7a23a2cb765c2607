// Sync order: the durability calls of each pool operation, recorded through
// the system-call table, come in the order docs/design.md's failure model
// rests on. Power loss keeps only what was synced, so the order is all that
// makes it end like a process death:
//   - create (both pools): the new file synced after its header is written,
//     then its directory;
//   - MmapFile::flush: the data written back (msync(MS_SYNC), or a sync of the
//     file) before the header that vouches for it is written, then the header
//     synced;
//   - FileBackedMemory::flush: the spare synced after its last write, then
//     renamed over the pool file, then the directory synced; the pool file
//     itself untouched until the rename.
// Files are told apart by what each descriptor is (fstat: device and inode),
// the directory too, and renames by what their two names pointed at when
// called; nothing depends on which call comes at which position, or on how
// the library opens files and directories.
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "datatier/datatier.h"
#include "platform/syscalls.h"
#include "temp_dir.h"
#include "test_util.h"

namespace datatier {
namespace {

using platform::real_syscalls;
using platform::syscalls;
using testing::TempDir;

// A file, as the kernel knows it: names move, inodes do not.
struct FileId {
  dev_t device = 0;
  ino_t inode = 0;
  bool operator==(const FileId&) const = default;
  auto operator<=>(const FileId&) const = default;
};

enum class Call { write, fsync, fdatasync, msync, exchange, rename };

const char* call_name(Call call) {
  switch (call) {
    case Call::write:
      return "pwrite";
    case Call::fsync:
      return "fsync";
    case Call::fdatasync:
      return "fdatasync";
    case Call::msync:
      return "msync(MS_SYNC)";
    case Call::exchange:
      return "renameat2(RENAME_EXCHANGE)";
    case Call::rename:
      return "renameat2";
  }
  return "?";
}

// One completed call. `begin` and `end` number its entry and its return on one
// clock shared by all threads: call A came before call B when A.end < B.begin.
struct Event {
  Call call = Call::write;
  FileId file{};   // written or synced; for a rename, the file at the old name
  FileId other{};  // for a rename, the file at the new name (if any)
  std::uint64_t offset = 0;
  std::uint64_t length = 0;  // bytes written or file bytes msync'ed
  bool succeeded = false;
  long begin = 0;
  long end = 0;

  bool syncs() const { return call == Call::fsync || call == Call::fdatasync; }
};

// A file mapping the library made, to tell which file an msync reaches.
struct Region {
  std::uintptr_t begin;
  std::size_t length;
  FileId file;
  std::uint64_t offset;
};

struct Recording {
  std::mutex mutex;
  std::atomic<long> clock{0};
  std::vector<Event> events;
  std::vector<Region> regions;
  bool refuse_exchange = false;  // RENAME_EXCHANGE fails with EINVAL
};

Recording recording;

std::optional<FileId> id_of(int fd) {
  struct stat st;
  if (real_syscalls().fstat(fd, &st) != 0) return std::nullopt;
  return FileId{st.st_dev, st.st_ino};
}

std::optional<FileId> id_at(int dirfd, const char* path) {
  struct stat st;
  if (real_syscalls().fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) != 0) return std::nullopt;
  return FileId{st.st_dev, st.st_ino};
}

FileId id_at(const std::filesystem::path& path) {
  const auto id = id_at(AT_FDCWD, path.c_str());
  if (!id) throw std::runtime_error("cannot stat " + path.string());
  return *id;
}

void record(Event event) {
  event.end = recording.clock++;
  const std::lock_guard lock(recording.mutex);
  recording.events.push_back(event);
}

ssize_t rec_pwrite(int fd, const void* buf, std::size_t count, off_t offset) {
  const auto file = id_of(fd);
  Event event{.call = Call::write,
              .file = file.value_or(FileId{}),
              .offset = static_cast<std::uint64_t>(offset)};
  event.begin = recording.clock++;
  const ssize_t n = real_syscalls().pwrite(fd, buf, count, offset);
  event.length = n > 0 ? static_cast<std::uint64_t>(n) : 0;
  event.succeeded = n >= 0;
  record(event);
  return n;
}

int record_sync(Call call, int fd, int (*real)(int)) {
  Event event{.call = call, .file = id_of(fd).value_or(FileId{})};
  event.begin = recording.clock++;
  const int rc = real(fd);
  event.succeeded = rc == 0;
  record(event);
  return rc;
}

int rec_fsync(int fd) {
  return record_sync(Call::fsync, fd, real_syscalls().fsync);
}

int rec_fdatasync(int fd) {
  return record_sync(Call::fdatasync, fd, real_syscalls().fdatasync);
}

void* rec_mmap(void* addr, std::size_t length, int prot, int flags, int fd, off_t offset) {
  void* p = real_syscalls().mmap(addr, length, prot, flags, fd, offset);
  if (p != MAP_FAILED && fd >= 0) {
    if (const auto file = id_of(fd)) {
      const std::lock_guard lock(recording.mutex);
      recording.regions.push_back(
          {reinterpret_cast<std::uintptr_t>(p), length, *file, static_cast<std::uint64_t>(offset)});
    }
  }
  return p;
}

int rec_munmap(void* addr, std::size_t length) {
  const int rc = real_syscalls().munmap(addr, length);
  if (rc == 0) {
    const std::lock_guard lock(recording.mutex);
    std::erase_if(recording.regions, [&](const Region& r) {
      return r.begin == reinterpret_cast<std::uintptr_t>(addr) && r.length == length;
    });
  }
  return rc;
}

// An msync(MS_SYNC) is recorded as the file range it covers.
int rec_msync(void* addr, std::size_t length, int flags) {
  std::optional<Event> event;
  if ((flags & MS_SYNC) != 0) {
    const auto at = reinterpret_cast<std::uintptr_t>(addr);
    const std::lock_guard lock(recording.mutex);
    for (const Region& r : recording.regions) {
      if (at >= r.begin && at < r.begin + r.length) {
        event = Event{.call = Call::msync,
                      .file = r.file,
                      .offset = r.offset + (at - r.begin),
                      .length = length};
      }
    }
  }
  if (event) event->begin = recording.clock++;
  const int rc = real_syscalls().msync(addr, length, flags);
  if (event) {
    event->succeeded = rc == 0;
    record(*event);
  }
  return rc;
}

int rec_renameat2(int olddirfd, const char* oldpath, int newdirfd, const char* newpath,
                  unsigned int flags) {
  const bool exchange = (flags & RENAME_EXCHANGE) != 0;
  if (exchange && recording.refuse_exchange) {
    errno = EINVAL;
    return -1;
  }
  Event event{.call = exchange ? Call::exchange : Call::rename,
              .file = id_at(olddirfd, oldpath).value_or(FileId{}),
              .other = id_at(newdirfd, newpath).value_or(FileId{})};
  event.begin = recording.clock++;
  const int rc = real_syscalls().renameat2(olddirfd, oldpath, newdirfd, newpath, flags);
  event.succeeded = rc == 0;
  record(event);
  return rc;
}

// Records from construction to destruction; the real calls are back after.
class Recorder {
 public:
  Recorder() {
    recording.events.clear();
    recording.regions.clear();
    recording.refuse_exchange = false;
    platform::Syscalls table = real_syscalls();
    table.pwrite = rec_pwrite;
    table.fsync = rec_fsync;
    table.fdatasync = rec_fdatasync;
    table.mmap = rec_mmap;
    table.munmap = rec_munmap;
    table.msync = rec_msync;
    table.renameat2 = rec_renameat2;
    syscalls() = table;
  }
  Recorder(const Recorder&) = delete;
  Recorder& operator=(const Recorder&) = delete;
  ~Recorder() { syscalls() = real_syscalls(); }

  void refuse_exchange() { recording.refuse_exchange = true; }

  // The calls `operation` made.
  template <typename Operation>
  std::vector<Event> calls_of(Operation&& operation) {
    {
      const std::lock_guard lock(recording.mutex);
      recording.events.clear();
    }
    operation();
    const std::lock_guard lock(recording.mutex);
    return recording.events;
  }
};

// The calls of one operation, with names for the files they reach.
class Trace {
 public:
  Trace(std::vector<Event> events, std::map<FileId, std::string> names)
      : events_(std::move(events)), names_(std::move(names)) {}

  // The successful calls `call` of `file` that began after `after` (a clock
  // value) and ended before `before`.
  std::vector<Event> find(Call call, const FileId& file, long after = -1,
                          long before = kNever) const {
    std::vector<Event> found;
    for (const Event& e : events_) {
      if (e.call == call && e.file == file && e.succeeded && e.begin > after && e.end < before) {
        found.push_back(e);
      }
    }
    return found;
  }

  // Successful fsync or fdatasync calls of `file`, as find().
  std::vector<Event> syncs(const FileId& file, long after = -1, long before = kNever) const {
    auto found = find(Call::fsync, file, after, before);
    const auto data = find(Call::fdatasync, file, after, before);
    found.insert(found.end(), data.begin(), data.end());
    std::ranges::sort(found, {}, &Event::begin);
    return found;
  }

  // When the last write to `file` returned; -1 if there was none.
  long last_write(const FileId& file) const {
    const auto writes = find(Call::write, file);
    return writes.empty() ? -1 : writes.back().end;
  }

  // The one rename (or exchange) of `from` onto `to`.
  std::optional<Event> rename(const FileId& from, const FileId& to) const {
    for (const Event& e : events_) {
      if ((e.call == Call::exchange || e.call == Call::rename) && e.succeeded && e.file == from &&
          e.other == to) {
        return e;
      }
    }
    return std::nullopt;
  }

  // The calls in order, one a line, for failure messages.
  std::string text() const {
    std::ostringstream out;
    for (const Event& e : events_) {
      out << "  [" << e.begin << ".." << e.end << "] " << call_name(e.call) << " " << name(e.file);
      if (e.call == Call::write || e.call == Call::msync) {
        out << " bytes " << e.offset << ".." << e.offset + e.length;
      }
      if (e.call == Call::exchange || e.call == Call::rename) out << " onto " << name(e.other);
      if (!e.succeeded) out << " (failed)";
      out << "\n";
    }
    return out.str();
  }

  static constexpr long kNever = std::numeric_limits<long>::max();

 private:
  std::string name(const FileId& file) const {
    const auto it = names_.find(file);
    return it != names_.end() ? it->second : "inode " + std::to_string(file.inode) + " (unrelated)";
  }

  std::vector<Event> events_;
  std::map<FileId, std::string> names_;
};

constexpr std::size_t kDataSize = 9 * (std::size_t{1} << 20) + 100;  // 2 blocks and a partial page
constexpr std::uint64_t kUserVersion = 4;

// create() of `Pool` writes the new file's header, syncs the file, then syncs
// its directory, so the name survives a power loss that the file's bytes do.
template <typename Pool>
void expect_create_syncs_file_then_directory() {
  TempDir dir;
  const auto path = dir / "pool";
  Recorder recorder;
  std::optional<Pool> pool;
  const auto events = recorder.calls_of([&] { pool.emplace(Pool::create(path, kDataSize, 1)); });
  const FileId file = id_at(path);
  const FileId directory = id_at(dir.path());
  const Trace trace(events, {{file, "the pool file"}, {directory, "the directory"}});
  SCOPED_TRACE("the calls of create():\n" + trace.text());

  const auto headers = trace.find(Call::write, file);
  ASSERT_FALSE(headers.empty()) << "create() wrote no header";
  EXPECT_EQ(headers.front().offset, 0u);
  const auto file_syncs = trace.syncs(file, trace.last_write(file));
  ASSERT_FALSE(file_syncs.empty()) << "the new file is not synced after its header is written";
  EXPECT_FALSE(trace.syncs(directory, file_syncs.front().end).empty())
      << "the directory is not synced after the new file";
}

TEST(SyncOrder, MmapFileCreateSyncsTheFileThenTheDirectory) {
  expect_create_syncs_file_then_directory<MmapFile>();
}

TEST(SyncOrder, FileBackedMemoryCreateSyncsTheFileThenTheDirectory) {
  expect_create_syncs_file_then_directory<FileBackedMemory>();
}

// Each of two flushes of an MmapFile: the data written back, then the header
// written, then synced.
TEST(SyncOrder, MmapFileFlushSyncsDataThenWritesTheHeaderThenSyncsIt) {
  TempDir dir;
  const auto path = dir / "pool";
  Recorder recorder;
  auto pool = MmapFile::create(path, kDataSize, kUserVersion);
  const FileId file = id_at(path);
  for (std::uint64_t generation = 1; generation <= 2; ++generation) {
    SCOPED_TRACE("flush " + std::to_string(generation));
    testing::fill_splitmix64(pool.data(), generation);
    const Trace trace(recorder.calls_of([&] { pool.flush(); }), {{file, "the pool file"}});
    SCOPED_TRACE("the calls of flush():\n" + trace.text());

    // The header: the last write at offset 0, a whole header.
    const auto writes = trace.find(Call::write, file);
    const auto header = std::ranges::find_if(writes.rbegin(), writes.rend(), [](const Event& e) {
      return e.offset == 0 && e.length == kHeaderSize;
    });
    ASSERT_NE(header, writes.rend()) << "flush() wrote no header";

    // Before it, every data byte was made durable: by msync(MS_SYNC) ranges
    // that cover the data, or by a sync of the whole file.
    std::vector<std::pair<std::uint64_t, std::uint64_t>> synced;
    for (const Event& e : trace.find(Call::msync, file, -1, header->begin)) {
      synced.emplace_back(e.offset, e.offset + e.length);
    }
    std::ranges::sort(synced);
    std::uint64_t covered = kHeaderSize;
    for (const auto& [begin, end] : synced) {
      if (begin <= covered) covered = std::max(covered, end);
    }
    const bool data_synced =
        covered >= kHeaderSize + kDataSize || !trace.syncs(file, -1, header->begin).empty();
    EXPECT_TRUE(data_synced) << "the data is not written back before the header (msync covers "
                             << "file bytes " << kHeaderSize << ".." << covered << " of "
                             << kHeaderSize << ".." << kHeaderSize + kDataSize << ")";
    // After it, the header was synced.
    EXPECT_FALSE(trace.syncs(file, header->end).empty())
        << "the header is not synced after it is written";
  }
}

// One FileBackedMemory save: the new snapshot written into the spare and
// synced after its last write, renamed onto the pool file only then, and the
// directory synced after the rename. The pool file (the previous snapshot) is
// not written. `exchanged`: the rename swaps the names (else the spare
// replaces the pool file).
void expect_save_in_order(FileBackedMemory& pool, const TempDir& dir, Recorder& recorder,
                          bool exchanged) {
  const auto path = dir / "pool";
  const FileId previous = id_at(path);
  const FileId spare = id_at(FileBackedMemory::spare_path(path));
  const FileId directory = id_at(dir.path());
  const Trace trace(
      recorder.calls_of([&] { pool.flush(); }),
      {{previous, "the pool file"}, {spare, "the spare"}, {directory, "the directory"}});
  SCOPED_TRACE("the calls of flush():\n" + trace.text());

  EXPECT_TRUE(trace.find(Call::write, previous).empty()) << "the previous snapshot was written";
  const long last_write = trace.last_write(spare);
  ASSERT_GE(last_write, 0) << "nothing was written into the spare";
  const auto rename = trace.rename(spare, previous);
  ASSERT_TRUE(rename) << "the spare was not renamed onto the pool file";
  EXPECT_EQ(rename->call, exchanged ? Call::exchange : Call::rename);
  EXPECT_LT(last_write, rename->begin) << "the spare was written after the rename";
  EXPECT_FALSE(trace.syncs(spare, last_write, rename->begin).empty())
      << "the spare is not synced between its last write and the rename";
  EXPECT_FALSE(trace.syncs(directory, rename->end).empty())
      << "the directory is not synced after the rename";

  // The names moved as the trace says.
  EXPECT_EQ(id_at(path), spare);
  if (exchanged) {
    EXPECT_EQ(id_at(FileBackedMemory::spare_path(path)), previous);
  }
}

// Three saves in a row, so that the spare and the pool file trade places and
// each save writes into the file the one before replaced.
TEST(SyncOrder, FileBackedMemoryFlushSyncsTheSpareThenExchangesThenSyncsTheDirectory) {
  TempDir dir;
  Recorder recorder;
  auto pool = FileBackedMemory::create(dir / "pool", kDataSize, kUserVersion);
  for (std::uint64_t generation = 1; generation <= 3; ++generation) {
    SCOPED_TRACE("flush " + std::to_string(generation));
    testing::fill_splitmix64(pool.data(), generation);
    expect_save_in_order(pool, dir, recorder, /*exchanged=*/true);
  }
}

// Where the file system cannot exchange names: the spare replaces the pool
// file by a plain rename, in the same order.
TEST(SyncOrder, FileBackedMemoryFlushWithoutExchangeSyncsTheSpareThenRenamesThenSyncsTheDirectory) {
  TempDir dir;
  Recorder recorder;
  recorder.refuse_exchange();
  auto pool = FileBackedMemory::create(dir / "pool", kDataSize, kUserVersion);
  for (std::uint64_t generation = 1; generation <= 2; ++generation) {
    SCOPED_TRACE("flush " + std::to_string(generation));
    testing::fill_splitmix64(pool.data(), generation);
    expect_save_in_order(pool, dir, recorder, /*exchanged=*/false);
  }
}

}  // namespace
}  // namespace datatier
