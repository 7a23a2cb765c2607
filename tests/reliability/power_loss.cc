// The power-loss simulator: stand-ins for the system-call table that pass
// each call through and keep the model of what is durable, and the choice of
// what survives.
#include "power_loss.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <mutex>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <system_error>
#include <utility>

#include "platform/syscalls.h"

namespace datatier::testing {
namespace {

using platform::real_syscalls;

// The unit a disk writes whole or not at all, or turns to garbage.
constexpr std::uint64_t kSector = 512;

std::uint64_t page_bytes() {
  static const auto kPage = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  return kPage;
}

struct FileId {
  dev_t device = 0;
  ino_t inode = 0;
  auto operator<=>(const FileId&) const = default;
};

std::optional<FileId> id_of(int fd) {
  struct stat st {};
  if (real_syscalls().fstat(fd, &st) != 0) return std::nullopt;
  return FileId{st.st_dev, st.st_ino};
}

std::vector<std::byte> read_all(int fd) {
  struct stat st {};
  if (real_syscalls().fstat(fd, &st) != 0) {
    throw std::system_error(errno, std::system_category(), "power-loss model: fstat");
  }
  std::vector<std::byte> bytes(static_cast<std::size_t>(st.st_size));
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t got = real_syscalls().pread(fd, bytes.data() + done, bytes.size() - done,
                                              static_cast<off_t>(done));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) throw std::system_error(errno, std::system_category(), "power-loss model: pread");
    if (got == 0) break;  // shrunk meanwhile
    done += static_cast<std::size_t>(got);
  }
  bytes.resize(done);
  return bytes;
}

void write_at(std::vector<std::byte>& file, std::uint64_t offset,
              std::span<const std::byte> bytes) {
  if (offset + bytes.size() > file.size()) file.resize(offset + bytes.size());
  std::copy(bytes.begin(), bytes.end(), file.begin() + static_cast<std::ptrdiff_t>(offset));
}

// A change to a file's contents or size that is not durable yet.
struct Change {
  bool resize = false;  // a size change to `offset` bytes; else a write
  std::uint64_t offset = 0;
  std::vector<std::byte> bytes;

  std::uint64_t end() const { return offset + bytes.size(); }
  void apply(std::vector<std::byte>& file) const {
    if (resize) {
      file.resize(offset);
    } else {
      write_at(file, offset, bytes);
    }
  }
};

struct FileModel {
  std::vector<std::byte> durable;
  std::vector<Change> pending;  // in call order
  // The page cache as far as the model accounts for it: what the calls
  // wrote (pending changes, and those a failed sync lost), and the pages
  // msync wrote back. Where the page cache differs, a write through a
  // mapping dirtied the page.
  std::vector<std::byte> cached;
  bool mapped = false;  // had a shared writable mapping while armed
  // For mapped files: the page cache when the power went off, and the pages
  // of it that writes through a mapping dirtied.
  std::vector<std::byte> at_cut;
  std::vector<std::uint64_t> dirty_pages;
  int reader = -1;  // our own descriptor: reads the page cache whatever the file's name

  void change(Change change) {
    change.apply(cached);
    pending.push_back(std::move(change));
  }
};

struct DirectoryOp {
  enum class Kind { create, rename, exchange, unlink };
  Kind kind;
  std::string name;
  std::string to;  // rename, exchange
  FileId file;     // create

  std::string describe() const {
    switch (kind) {
      case Kind::create:
        return "create " + name;
      case Kind::rename:
        return "rename " + name + " " + to;
      case Kind::exchange:
        return "exchange " + name + " " + to;
      case Kind::unlink:
        return "unlink " + name;
    }
    return "?";
  }

  // Applies the operation to `entries`, the entries the operations before
  // it left.
  void apply(std::map<std::string, FileId>& entries) const {
    switch (kind) {
      case Kind::create:
        entries[name] = file;
        return;
      case Kind::unlink:
        entries.erase(name);
        return;
      case Kind::rename: {
        const auto from = entries.find(name);
        if (from == entries.end()) return;
        const FileId moved = from->second;
        entries.erase(from);
        entries[to] = moved;
        return;
      }
      case Kind::exchange: {
        const auto a = entries.find(name);
        const auto b = entries.find(to);
        if (a != entries.end() && b != entries.end()) std::swap(a->second, b->second);
        return;
      }
    }
  }
};

struct MappedRange {
  std::uintptr_t begin;
  std::size_t length;
  std::uint64_t offset;  // in the file
  FileId file;
};

// What a descriptor refers to, as the model sees it.
struct Target {
  FileModel* file = nullptr;  // a file of the directory
  bool directory = false;     // the directory itself
  std::string name;           // for the trace
  FileId id;
};

std::string describe_flags(unsigned flags) {
  if ((flags & RENAME_EXCHANGE) != 0) return " EXCHANGE";
  if ((flags & RENAME_NOREPLACE) != 0) return " NOREPLACE";
  return "";
}

}  // namespace

struct PowerLossSimulator::Model {
  std::filesystem::path dir;
  FileId dir_id;
  PowerLossPlan plan;
  bool armed = false;
  bool off = false;
  std::uint64_t calls = 0;
  std::uint64_t syncs = 0;
  std::optional<std::uint64_t> failed_sync_call;
  std::vector<std::string> trace;
  std::vector<std::string> unmodelled;
  std::map<FileId, FileModel> files;
  std::map<std::string, FileId> durable_entries;
  std::map<std::string, FileId> entries;  // as the calls left them
  std::vector<DirectoryOp> pending_entries;
  std::vector<MappedRange> mappings;

  Model() = default;
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;
  ~Model() {
    for (auto& [id, file] : files) real_syscalls().close(file.reader);
  }

  // Counts a call and cuts the power when it is the planned one. True: the
  // power is off and the call must fail without effect.
  bool count(const std::string& what) {
    const std::uint64_t position = calls++;
    if (!off && plan.cut_at && position == *plan.cut_at) cut();
    trace.push_back(std::to_string(position) + (off ? " [power off] " : " ") + what);
    return off;
  }

  void cut() {
    off = true;
    const std::uint64_t page = page_bytes();
    for (auto& [id, file] : files) {
      if (!file.mapped) continue;
      file.at_cut = read_all(file.reader);
      for (std::uint64_t at = 0; at < file.at_cut.size(); at += page) {
        const std::uint64_t end = std::min<std::uint64_t>(at + page, file.at_cut.size());
        if (end > file.cached.size() ||
            !std::equal(file.at_cut.begin() + static_cast<std::ptrdiff_t>(at),
                        file.at_cut.begin() + static_cast<std::ptrdiff_t>(end),
                        file.cached.begin() + static_cast<std::ptrdiff_t>(at))) {
          file.dirty_pages.push_back(at);
        }
      }
    }
  }

  // The name `path` (relative to `dirfd`) has in the directory, if it names
  // an entry of it.
  std::optional<std::string> entry(int dirfd, const char* path) const {
    const std::string_view p(path);
    const std::size_t slash = p.rfind('/');
    const std::string parent = slash == std::string_view::npos ? "."
                               : slash == 0                    ? "/"
                                                               : std::string(p.substr(0, slash));
    const std::string name(slash == std::string_view::npos ? p : p.substr(slash + 1));
    if (name.empty() || name == "." || name == "..") return std::nullopt;
    struct stat st {};
    if (real_syscalls().fstatat(dirfd, parent.c_str(), &st, 0) != 0) return std::nullopt;
    if (FileId{st.st_dev, st.st_ino} != dir_id) return std::nullopt;
    return name;
  }

  Target target(int fd) {
    const auto id = id_of(fd);
    if (id && *id == dir_id) return {nullptr, true, "the directory", *id};
    const auto file = id ? files.find(*id) : files.end();
    if (file == files.end()) return {nullptr, false, "fd " + std::to_string(fd), {}};
    for (const auto& [name, entry_id] : entries) {
      if (entry_id == *id) return {&file->second, false, name, *id};
    }
    return {&file->second, false, "(unlinked)", *id};
  }

  void track(const std::string& name, const FileId& id, int reader, bool created) {
    FileModel& file = files[id];
    file.reader = reader;
    entries[name] = id;
    if (created) {
      pending_entries.push_back({DirectoryOp::Kind::create, name, {}, id});
    } else {
      file.durable = read_all(reader);
      file.cached = file.durable;
      durable_entries[name] = id;
    }
  }

  void directory_op(const DirectoryOp& op) {
    op.apply(entries);
    pending_entries.push_back(op);
  }

  // Pages [begin, end) of `file`, written back by msync: their page-cache
  // contents are durable, within the durable size (a size is metadata, which
  // only fsync makes durable), and no pending write covers them any more.
  void make_pages_durable(FileModel& file, std::uint64_t begin, std::uint64_t end) {
    const std::vector<std::byte> now = read_all(file.reader);
    for (std::vector<std::byte>* bytes : {&file.durable, &file.cached}) {
      const std::uint64_t copied_end = std::min<std::uint64_t>({end, bytes->size(), now.size()});
      if (begin < copied_end) {
        std::copy(now.begin() + static_cast<std::ptrdiff_t>(begin),
                  now.begin() + static_cast<std::ptrdiff_t>(copied_end),
                  bytes->begin() + static_cast<std::ptrdiff_t>(begin));
      }
    }
    end = std::min<std::uint64_t>(end, file.durable.size());
    std::vector<Change> still_pending;
    for (Change& change : file.pending) {
      if (change.resize || change.offset >= end || change.end() <= begin) {
        still_pending.push_back(std::move(change));
        continue;
      }
      const auto bytes = std::span<const std::byte>(change.bytes);
      if (change.offset < begin) {
        still_pending.push_back(
            {false,
             change.offset,
             {bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(begin - change.offset)}});
      }
      if (change.end() > end) {
        still_pending.push_back(
            {false,
             end,
             {bytes.begin() + static_cast<std::ptrdiff_t>(end - change.offset), bytes.end()}});
      }
    }
    file.pending = std::move(still_pending);
  }
};

namespace {

using Model = PowerLossSimulator::Model;

std::mutex model_mutex;
Model* armed_model = nullptr;  // guarded by model_mutex

int power_failure() {
  errno = EIO;
  return -1;
}

// Counts a call that changes no file. True: the power is off and it must fail.
bool powerless(const std::string& what) {
  const std::lock_guard lock(model_mutex);
  return armed_model->count(what);
}

int sim_openat(int dirfd, const char* path, int flags, mode_t mode) {
  const std::lock_guard lock(model_mutex);
  Model& m = *armed_model;
  const auto name = m.entry(dirfd, path);
  if (m.count("openat " + (name ? *name : std::string(path)) +
              ((flags & O_CREAT) != 0 ? " O_CREAT" : "") +
              ((flags & O_DIRECT) != 0 ? " O_DIRECT" : ""))) {
    return power_failure();
  }
  struct stat st {};
  const bool existed = real_syscalls().fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0;
  const int fd = real_syscalls().openat(dirfd, path, flags, mode);
  if (fd < 0 || !name) return fd;
  if (!existed) {
    const auto id = id_of(fd);
    const std::string own = "/proc/self/fd/" + std::to_string(fd);
    const int reader = real_syscalls().openat(AT_FDCWD, own.c_str(), O_RDONLY | O_CLOEXEC, 0);
    if (!id || reader < 0) {
      m.unmodelled.push_back("cannot follow the new file " + *name);
    } else {
      m.track(*name, *id, reader, true);
    }
  } else if ((flags & O_TRUNC) != 0) {
    if (FileModel* file = m.target(fd).file) {
      file->change({true, 0, {}});
    }
  }
  return fd;
}

int sim_close(int fd) {
  const std::lock_guard lock(model_mutex);
  const bool off = armed_model->count("close fd " + std::to_string(fd));
  // The descriptor goes either way: closing writes nothing.
  const int rc = real_syscalls().close(fd);
  return off ? power_failure() : rc;
}

ssize_t sim_pread(int fd, void* buf, std::size_t count, off_t offset) {
  if (powerless("pread fd " + std::to_string(fd))) return power_failure();
  return real_syscalls().pread(fd, buf, count, offset);
}

ssize_t sim_pwrite(int fd, const void* buf, std::size_t count, off_t offset) {
  const std::lock_guard lock(model_mutex);
  Model& m = *armed_model;
  const Target target = m.target(fd);
  if (m.count("pwrite " + target.name + " " + std::to_string(count) + " at " +
              std::to_string(offset))) {
    return power_failure();
  }
  const ssize_t written = real_syscalls().pwrite(fd, buf, count, offset);
  if (written > 0 && target.file != nullptr) {
    const auto* bytes = static_cast<const std::byte*>(buf);
    target.file->change({false,
                         static_cast<std::uint64_t>(offset),
                         {bytes, bytes + static_cast<std::size_t>(written)}});
  }
  return written;
}

int sim_fstat(int fd, struct stat* st) {
  if (powerless("fstat fd " + std::to_string(fd))) return power_failure();
  return real_syscalls().fstat(fd, st);
}

int sim_fstatat(int dirfd, const char* path, struct stat* st, int flags) {
  if (powerless(std::string("fstatat ") + path)) return power_failure();
  return real_syscalls().fstatat(dirfd, path, st, flags);
}

int sim_fchmod(int fd, mode_t mode) {
  if (powerless("fchmod fd " + std::to_string(fd))) return power_failure();
  return real_syscalls().fchmod(fd, mode);
}

int sim_fchown(int fd, uid_t owner, gid_t group) {
  if (powerless("fchown fd " + std::to_string(fd))) return power_failure();
  return real_syscalls().fchown(fd, owner, group);
}

int sim_fcntl(int fd, int cmd, int arg) {
  if (powerless("fcntl fd " + std::to_string(fd))) return power_failure();
  return real_syscalls().fcntl(fd, cmd, arg);
}

// A size change by `call`, after which the file is new_size(old size) bytes.
template <typename Call, typename NewSize>
int resize(const char* name, int fd, Call call, NewSize new_size) {
  const std::lock_guard lock(model_mutex);
  Model& m = *armed_model;
  const Target target = m.target(fd);
  if (m.count(std::string(name) + " " + target.name)) return power_failure();
  const int rc = call();
  if (rc != 0 || target.file == nullptr) return rc;
  const std::uint64_t size = new_size(target.file->cached.size());
  if (size != target.file->cached.size()) target.file->change({true, size, {}});
  return rc;
}

int sim_ftruncate(int fd, off_t length) {
  return resize(
      "ftruncate", fd, [&] { return real_syscalls().ftruncate(fd, length); },
      [&](std::uint64_t) { return static_cast<std::uint64_t>(length); });
}

// Mode 0 extends the file to the end of the range; FALLOC_FL_KEEP_SIZE
// reserves blocks only. Other modes change contents, which the model does
// not follow.
int sim_fallocate(int fd, int mode, off_t offset, off_t length) {
  if (mode != 0 && mode != FALLOC_FL_KEEP_SIZE) {
    const std::lock_guard lock(model_mutex);
    armed_model->unmodelled.push_back("fallocate mode " + std::to_string(mode));
  }
  const std::uint64_t end = static_cast<std::uint64_t>(offset) + static_cast<std::uint64_t>(length);
  return resize(
      "fallocate", fd, [&] { return real_syscalls().fallocate(fd, mode, offset, length); },
      [&](std::uint64_t size) { return mode == 0 ? std::max(size, end) : size; });
}

// fsync and fdatasync: both make a file's pending changes durable (its size
// included, as the data needs it), or the directory's pending operations.
int sync_call(const char* name, int fd, int (*real)(int)) {
  const std::lock_guard lock(model_mutex);
  Model& m = *armed_model;
  const Target target = m.target(fd);
  if (m.count(std::string(name) + " " + target.name)) return power_failure();
  const bool fails = m.plan.failing_sync && m.syncs == *m.plan.failing_sync;
  ++m.syncs;
  if (fails) {
    m.failed_sync_call = m.calls - 1;
    m.trace.back() += " [fails: EIO]";
    // The directory's pending operations stay pending: a later sync may
    // still make them durable.
    // The file's pending changes are lost for good: the page cache keeps
    // them, marked clean, and no later sync writes them.
    if (target.file != nullptr) target.file->pending.clear();
    return power_failure();
  }
  const int rc = real(fd);
  if (rc != 0) {
    const int error = errno;
    m.unmodelled.push_back(std::string(name) + " really failed: " + std::strerror(error));
    errno = error;
    return rc;
  }
  if (target.directory) {
    for (const DirectoryOp& op : m.pending_entries) op.apply(m.durable_entries);
    m.pending_entries.clear();
  }
  if (target.file != nullptr) {
    for (const Change& change : target.file->pending) change.apply(target.file->durable);
    target.file->pending.clear();
  }
  return rc;
}

int sim_fsync(int fd) {
  return sync_call("fsync", fd, real_syscalls().fsync);
}

int sim_fdatasync(int fd) {
  return sync_call("fdatasync", fd, real_syscalls().fdatasync);
}

// Starts write-back, waits for nothing and makes nothing durable.
int sim_sync_file_range(int fd, off_t offset, off_t length, unsigned int flags) {
  if (powerless("sync_file_range fd " + std::to_string(fd))) return power_failure();
  return real_syscalls().sync_file_range(fd, offset, length, flags);
}

int sim_flock(int fd, int operation) {
  if (powerless("flock fd " + std::to_string(fd))) return power_failure();
  return real_syscalls().flock(fd, operation);
}

int sim_renameat2(int olddirfd, const char* oldpath, int newdirfd, const char* newpath,
                  unsigned int flags) {
  const std::lock_guard lock(model_mutex);
  Model& m = *armed_model;
  const auto from = m.entry(olddirfd, oldpath);
  const auto to = m.entry(newdirfd, newpath);
  if (m.count(std::string("renameat2 ") + oldpath + " " + newpath + describe_flags(flags))) {
    return power_failure();
  }
  const int rc = real_syscalls().renameat2(olddirfd, oldpath, newdirfd, newpath, flags);
  if (rc != 0) return rc;
  if (from && to) {
    m.directory_op(
        {(flags & RENAME_EXCHANGE) != 0 ? DirectoryOp::Kind::exchange : DirectoryOp::Kind::rename,
         *from,
         *to,
         {}});
  } else if (from || to) {
    m.unmodelled.push_back(std::string("rename between directories: ") + oldpath + " " + newpath);
  }
  return rc;
}

int sim_unlinkat(int dirfd, const char* path, int flags) {
  const std::lock_guard lock(model_mutex);
  Model& m = *armed_model;
  const auto name = m.entry(dirfd, path);
  if (m.count(std::string("unlinkat ") + path)) return power_failure();
  const int rc = real_syscalls().unlinkat(dirfd, path, flags);
  if (rc != 0 || !name) return rc;
  if ((flags & AT_REMOVEDIR) != 0) {
    m.unmodelled.push_back("removed a directory: " + *name);
  } else {
    m.directory_op({DirectoryOp::Kind::unlink, *name, {}, {}});
  }
  return rc;
}

void* sim_mmap(void* addr, std::size_t length, int prot, int flags, int fd, off_t offset) {
  const std::lock_guard lock(model_mutex);
  Model& m = *armed_model;
  const Target target = fd >= 0 ? m.target(fd) : Target{nullptr, false, "anonymous", {}};
  if (m.count("mmap " + target.name + " " + std::to_string(length))) {
    power_failure();
    return MAP_FAILED;
  }
  void* p = real_syscalls().mmap(addr, length, prot, flags, fd, offset);
  if (p != MAP_FAILED && target.file != nullptr && (flags & MAP_SHARED) != 0 &&
      (prot & PROT_WRITE) != 0) {
    m.mappings.push_back({reinterpret_cast<std::uintptr_t>(p), length,
                          static_cast<std::uint64_t>(offset), target.id});
    target.file->mapped = true;
  }
  return p;
}

int sim_munmap(void* addr, std::size_t length) {
  const std::lock_guard lock(model_mutex);
  Model& m = *armed_model;
  const bool off = m.count("munmap " + std::to_string(length));
  // The mapping goes either way: unmapping writes nothing (its dirty pages
  // stay in the page cache, and so in the model).
  const int rc = real_syscalls().munmap(addr, length);
  const auto begin = reinterpret_cast<std::uintptr_t>(addr);
  std::erase_if(m.mappings,
                [&](const MappedRange& r) { return r.begin >= begin && r.begin < begin + length; });
  return off ? power_failure() : rc;
}

int sim_msync(void* addr, std::size_t length, int flags) {
  const std::lock_guard lock(model_mutex);
  Model& m = *armed_model;
  if (m.count("msync " + std::to_string(length) + ((flags & MS_SYNC) != 0 ? " MS_SYNC" : ""))) {
    return power_failure();
  }
  const int rc = real_syscalls().msync(addr, length, flags);
  if (rc != 0 || (flags & MS_SYNC) == 0) return rc;
  const auto begin = reinterpret_cast<std::uintptr_t>(addr);
  const std::uint64_t page = page_bytes();
  for (const MappedRange& r : m.mappings) {
    const std::uintptr_t from = std::max(begin, r.begin);
    const std::uintptr_t to = std::min(begin + length, r.begin + r.length);
    if (from >= to) continue;
    const std::uint64_t file_begin = (r.offset + (from - r.begin)) / page * page;
    const std::uint64_t file_end = (r.offset + (to - r.begin) + page - 1) / page * page;
    m.make_pages_durable(m.files.at(r.file), file_begin, file_end);
  }
  return rc;
}

int sim_madvise(void* addr, std::size_t length, int advice) {
  if (powerless("madvise " + std::to_string(advice))) return power_failure();
  return real_syscalls().madvise(addr, length, advice);
}

int sim_mlock(const void* addr, std::size_t length) {
  if (powerless("mlock")) return power_failure();
  return real_syscalls().mlock(addr, length);
}

long sim_mbind(void* addr, unsigned long length, int mode, const unsigned long* nodemask,
               unsigned long maxnode, unsigned flags) {
  if (powerless("mbind")) return power_failure();
  return real_syscalls().mbind(addr, length, mode, nodemask, maxnode, flags);
}

int sim_cachestat(int fd, std::uint64_t offset, std::uint64_t length,
                  platform::PageCacheCounts* counts) {
  if (powerless("cachestat fd " + std::to_string(fd))) return power_failure();
  return real_syscalls().cachestat(fd, offset, length, counts);
}

// Reports its error by return value.
int sim_pthread_create(pthread_t* thread, const pthread_attr_t* attributes, void* (*start)(void*),
                       void* argument) {
  if (powerless("pthread_create")) return EIO;
  return real_syscalls().pthread_create(thread, attributes, start, argument);
}

// The real table with every entry this simulator knows replaced; entries
// added to the table later pass through to the real calls, uncounted and
// unmodelled, until it learns them.
platform::Syscalls simulating_table() {
  platform::Syscalls table = real_syscalls();
  table.openat = sim_openat;
  table.close = sim_close;
  table.pread = sim_pread;
  table.pwrite = sim_pwrite;
  table.fstat = sim_fstat;
  table.fstatat = sim_fstatat;
  table.fchmod = sim_fchmod;
  table.fchown = sim_fchown;
  table.fcntl = sim_fcntl;
  table.ftruncate = sim_ftruncate;
  table.fallocate = sim_fallocate;
  table.fsync = sim_fsync;
  table.fdatasync = sim_fdatasync;
  table.sync_file_range = sim_sync_file_range;
  table.flock = sim_flock;
  table.renameat2 = sim_renameat2;
  table.unlinkat = sim_unlinkat;
  table.mmap = sim_mmap;
  table.munmap = sim_munmap;
  table.msync = sim_msync;
  table.madvise = sim_madvise;
  table.mlock = sim_mlock;
  table.mbind = sim_mbind;
  table.cachestat = sim_cachestat;
  table.pthread_create = sim_pthread_create;
  return table;
}

// One of `n` outcomes, equally likely.
unsigned pick(std::mt19937_64& random, unsigned n) {
  return static_cast<unsigned>(random() % n);
}

// Sectors of a torn write: kept, dropped or garbage, one letter each, or
// counts when there are many.
struct TornSectors {
  std::string letters;
  std::uint64_t counts[3] = {0, 0, 0};

  void add(unsigned outcome) {
    ++counts[outcome];
    if (letters.size() <= 16) letters += "kdg"[outcome];
  }
  std::string describe() const {
    if (letters.size() <= 16) return letters;
    return std::to_string(counts[0]) + "k " + std::to_string(counts[1]) + "d " +
           std::to_string(counts[2]) + "g";
  }
};

// `change`, a write, torn: each sector it touches written, left alone or
// filled with garbage.
void tear(const Change& change, std::vector<std::byte>& bytes, std::mt19937_64& random,
          TornSectors& sectors) {
  const std::uint64_t reach = std::max<std::uint64_t>(bytes.size(), change.end());
  for (std::uint64_t sector = change.offset / kSector; sector * kSector < change.end(); ++sector) {
    const std::uint64_t begin = std::max(sector * kSector, change.offset);
    const std::uint64_t end = std::min((sector + 1) * kSector, change.end());
    const unsigned outcome = pick(random, 3);
    sectors.add(outcome);
    if (outcome == 0) {
      write_at(
          bytes, begin,
          std::span<const std::byte>(change.bytes).subspan(begin - change.offset, end - begin));
    } else if (outcome == 2) {
      const std::uint64_t garbage_end = std::min((sector + 1) * kSector, reach);
      if (garbage_end > bytes.size()) bytes.resize(garbage_end);
      for (std::uint64_t i = sector * kSector; i < garbage_end; ++i) {
        bytes[i] = static_cast<std::byte>(random());
      }
    }
  }
}

// One surviving content of `file`, with its choices appended to `out`.
std::vector<std::byte> survive(const FileModel& file, std::mt19937_64& random,
                               std::ostringstream& out) {
  std::vector<std::byte> bytes = file.durable;
  for (const Change& change : file.pending) {
    if (change.resize) {
      const bool kept = pick(random, 2) == 0;
      if (kept) change.apply(bytes);
      out << " size " << change.offset << (kept ? ":kept" : ":lost");
      continue;
    }
    out << " write " << change.bytes.size() << "@" << change.offset;
    switch (pick(random, 3)) {
      case 0:
        change.apply(bytes);
        out << ":kept";
        break;
      case 1:
        out << ":lost";
        break;
      default: {
        TornSectors sectors;
        tear(change, bytes, random, sectors);
        out << ":torn(" << sectors.describe() << ")";
      }
    }
  }
  if (file.mapped) {
    std::uint64_t written_back = 0;
    for (const std::uint64_t at : file.dirty_pages) {
      if (pick(random, 2) != 0) continue;
      ++written_back;
      // Writing a page back does not change the file's size.
      const std::uint64_t end = std::min<std::uint64_t>(
          {at + page_bytes(), file.at_cut.size(), static_cast<std::uint64_t>(bytes.size())});
      if (at < end) {
        write_at(bytes, at, std::span<const std::byte>(file.at_cut).subspan(at, end - at));
      }
    }
    out << " dirty pages written back " << written_back << "/" << file.dirty_pages.size();
  }
  if (file.pending.empty() && file.dirty_pages.empty()) out << " durable";
  return bytes;
}

}  // namespace

void SurvivingState::lay_out(const std::filesystem::path& dir) const {
  for (const auto& [name, bytes] : files) {
    std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
    if (!out) throw std::runtime_error("cannot lay out " + (dir / name).string());
  }
}

PowerLossSimulator::PowerLossSimulator(const std::filesystem::path& dir, const PowerLossPlan& plan)
    : model_(std::make_unique<Model>()) {
  Model& m = *model_;
  m.dir = dir;
  m.plan = plan;
  struct stat st {};
  if (real_syscalls().fstatat(AT_FDCWD, dir.c_str(), &st, 0) != 0) {
    throw std::system_error(errno, std::system_category(), "power-loss model: " + dir.string());
  }
  m.dir_id = {st.st_dev, st.st_ino};
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (!entry.is_regular_file() || entry.is_symlink()) continue;
    const int reader =
        real_syscalls().openat(AT_FDCWD, entry.path().c_str(), O_RDONLY | O_CLOEXEC, 0);
    if (reader < 0) {
      throw std::system_error(errno, std::system_category(),
                              "power-loss model: " + entry.path().string());
    }
    m.track(entry.path().filename().string(), *id_of(reader), reader, false);
  }
  const std::lock_guard lock(model_mutex);
  if (armed_model != nullptr) throw std::logic_error("one power-loss simulator at a time");
  armed_model = &m;
  m.armed = true;
  platform::syscalls() = simulating_table();
}

PowerLossSimulator::~PowerLossSimulator() {
  disarm();
}

void PowerLossSimulator::disarm() {
  const std::lock_guard lock(model_mutex);
  Model& m = *model_;
  if (!m.armed) return;
  if (!m.off) m.cut();
  platform::syscalls() = real_syscalls();
  armed_model = nullptr;
  m.armed = false;
}

bool PowerLossSimulator::power_off() const {
  const std::lock_guard lock(model_mutex);
  return model_->off;
}

std::uint64_t PowerLossSimulator::calls() const {
  const std::lock_guard lock(model_mutex);
  return model_->calls;
}

std::uint64_t PowerLossSimulator::syncs() const {
  const std::lock_guard lock(model_mutex);
  return model_->syncs;
}

std::optional<std::uint64_t> PowerLossSimulator::failed_sync_call() const {
  const std::lock_guard lock(model_mutex);
  return model_->failed_sync_call;
}

std::vector<std::string> PowerLossSimulator::trace() const {
  const std::lock_guard lock(model_mutex);
  return model_->trace;
}

std::vector<std::string> PowerLossSimulator::unmodelled() const {
  const std::lock_guard lock(model_mutex);
  return model_->unmodelled;
}

SurvivingState PowerLossSimulator::surviving(std::mt19937_64& random) const {
  const std::lock_guard lock(model_mutex);
  const Model& m = *model_;
  if (m.armed) throw std::logic_error("surviving() needs a disarmed simulator");
  std::ostringstream out;
  const std::size_t kept = random() % (m.pending_entries.size() + 1);
  std::map<std::string, FileId> entries = m.durable_entries;
  out << "directory:";
  for (std::size_t i = 0; i < m.pending_entries.size(); ++i) {
    if (i < kept) m.pending_entries[i].apply(entries);
    out << " " << m.pending_entries[i].describe() << (i < kept ? ":kept" : ":lost");
  }
  if (m.pending_entries.empty()) out << " durable";
  SurvivingState state;
  std::map<FileId, std::vector<std::byte>> contents;
  for (const auto& [name, id] : entries) {
    auto known = contents.find(id);
    if (known == contents.end()) {
      out << "; " << name << ":";
      known = contents.emplace(id, survive(m.files.at(id), random, out)).first;
    }
    state.files[name] = known->second;
  }
  state.choices = out.str();
  return state;
}

}  // namespace datatier::testing
