// Fault injection: every system call of MmapFile and FileBackedMemory
// create / open / flush, and of remove_pool() and restore_previous(), made to
// fail with ENOSPC, EIO and EINTR, every read and write cut short and every
// thread refused, one call position at a time.
//
// For each operation a counting run first records the calls it makes. Then,
// for every position N and every fault, a fresh directory is prepared, the
// fault is injected at call N, and the outcome is checked:
//   - a failure is a datatier::Error carrying the injected errno;
//   - EINTR and short transfers are retried: the operation succeeds, unless
//     the call is one POSIX never interrupts (see kMayBeInterrupted);
//   - a refused thread leaves its work to the threads running: the operation
//     succeeds and makes every kind of call it makes with all its threads
//     (the writing thread's syncs, say);
//   - an ENOSPC / EIO that does not fail the operation hit a call whose result
//     is ignored by design (close, munmap, the huge-page hint);
//   - no descriptor, file mapping or pool memory is left behind;
//   - the files on disk are what the operation's contract says.
#include <fcntl.h>
#include <stdio.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "datatier/datatier.h"
#include "platform/syscalls.h"
#include "process_state.h"
#include "temp_dir.h"
#include "test_util.h"

namespace datatier {
namespace {

using platform::real_syscalls;
using platform::syscalls;
using testing::file_mappings;
using testing::never_unmapped;
using testing::open_descriptors;
using testing::Regions;
using testing::TempDir;

// ---------------------------------------------------------------------------
// The injecting system call table.

enum class Fault { none, enospc, eio, eintr, short_transfer, refused_thread };

const char* fault_name(Fault fault) {
  switch (fault) {
    case Fault::none:
      return "none";
    case Fault::enospc:
      return "ENOSPC";
    case Fault::eio:
      return "EIO";
    case Fault::eintr:
      return "EINTR";
    case Fault::short_transfer:
      return "short transfer";
    case Fault::refused_thread:
      return "refused thread";
  }
  return "?";
}

int fault_errno(Fault fault) {
  switch (fault) {
    case Fault::enospc:
      return ENOSPC;
    case Fault::eio:
      return EIO;
    case Fault::eintr:
      return EINTR;
    default:
      return 0;
  }
}

struct Injector {
  Fault fault = Fault::none;
  long target = -1;                   // call position to fault, counted from arm()
  bool exchange_unsupported = false;  // renameat2(RENAME_EXCHANGE) gives EINVAL
  long calls = 0;
  std::vector<std::string> trace;  // names of the calls made, in order
  bool fired = false;
  std::string hit;                                               // name of the faulted call
  std::vector<std::pair<std::uintptr_t, std::size_t>> mapped;    // regions mmap returned
  std::vector<std::pair<std::uintptr_t, std::size_t>> unmapped;  // regions munmap released
};

Injector state;
// The library runs bulk transfers on several threads: the counters are shared.
std::mutex state_mutex;

// How many bytes a short transfer of `count` moves: half, or for a direct I/O
// descriptor half rounded down to whole 4096-byte blocks; 0 when the transfer
// cannot be cut.
std::size_t short_count(int fd, std::size_t count) {
  if (fd >= 0 && (::fcntl(fd, F_GETFL) & O_DIRECT) != 0) return count / 2 / 4096 * 4096;
  return count / 2;
}

// Whether `fault` can be injected into a call named `name` at all: a short
// transfer only into a pread / pwrite, a refused thread only into
// pthread_create, the errors into anything else.
bool applies(Fault fault, const std::string& name) {
  switch (fault) {
    case Fault::short_transfer:
      return name == "pread" || name == "pwrite";
    case Fault::refused_thread:
      return name == "pthread_create";
    default:
      return name != "pthread_create";
  }
}

// Counts a call; true when the fault is to be injected into it. A short
// transfer applies only to a pread / pwrite of two bytes or more, a refused
// thread only to a thread: where threads ordered their calls so that another
// call holds the position, it goes to the next call that can take it.
bool hit(const std::string& name, std::size_t transfer = 0, int fd = -1) {
  const std::lock_guard lock(state_mutex);
  const long position = state.calls++;
  state.trace.push_back(name);
  if (position < state.target || state.fired || state.fault == Fault::none) return false;
  const bool rolls = state.fault == Fault::short_transfer || state.fault == Fault::refused_thread;
  if (position > state.target && !rolls) return false;
  if (!applies(state.fault, name)) return false;
  if (state.fault == Fault::short_transfer && short_count(fd, transfer) == 0) return false;
  state.fired = true;
  state.hit = name;
  return true;
}

int fail(int rc = -1) {
  errno = fault_errno(state.fault);  // set before any thread runs; read only
  return rc;
}

int inj_openat(int dirfd, const char* path, int flags, mode_t mode) {
  if (hit("open")) return fail();
  return real_syscalls().openat(dirfd, path, flags, mode);
}

// close(2) releases the descriptor even when it reports an error (Linux), so
// the injected error comes after the real close.
int inj_close(int fd) {
  const bool h = hit("close");
  const int rc = real_syscalls().close(fd);
  return h ? fail() : rc;
}

ssize_t inj_pread(int fd, void* buf, std::size_t count, off_t offset) {
  if (hit("pread", count, fd)) {
    if (state.fault == Fault::short_transfer) {
      return real_syscalls().pread(fd, buf, short_count(fd, count), offset);
    }
    return fail();
  }
  return real_syscalls().pread(fd, buf, count, offset);
}

ssize_t inj_pwrite(int fd, const void* buf, std::size_t count, off_t offset) {
  if (hit("pwrite", count, fd)) {
    if (state.fault == Fault::short_transfer) {
      return real_syscalls().pwrite(fd, buf, short_count(fd, count), offset);
    }
    return fail();
  }
  return real_syscalls().pwrite(fd, buf, count, offset);
}

int inj_fstat(int fd, struct stat* st) {
  return hit("fstat") ? fail() : real_syscalls().fstat(fd, st);
}
int inj_fstatat(int dirfd, const char* path, struct stat* st, int flags) {
  return hit("fstatat") ? fail() : real_syscalls().fstatat(dirfd, path, st, flags);
}
int inj_fchmod(int fd, mode_t mode) {
  return hit("fchmod") ? fail() : real_syscalls().fchmod(fd, mode);
}
int inj_fchown(int fd, uid_t owner, gid_t group) {
  return hit("fchown") ? fail() : real_syscalls().fchown(fd, owner, group);
}
int inj_ftruncate(int fd, off_t length) {
  return hit("ftruncate") ? fail() : real_syscalls().ftruncate(fd, length);
}
int inj_fallocate(int fd, int mode, off_t offset, off_t length) {
  return hit("fallocate") ? fail() : real_syscalls().fallocate(fd, mode, offset, length);
}
int inj_fsync(int fd) {
  return hit("fsync") ? fail() : real_syscalls().fsync(fd);
}
int inj_fdatasync(int fd) {
  return hit("fdatasync") ? fail() : real_syscalls().fdatasync(fd);
}
int inj_sync_file_range(int fd, off_t offset, off_t length, unsigned int flags) {
  return hit("sync_file_range") ? fail()
                                : real_syscalls().sync_file_range(fd, offset, length, flags);
}
int inj_cachestat(int fd, std::uint64_t offset, std::uint64_t length,
                  platform::PageCacheCounts* counts) {
  return hit("cachestat") ? fail() : real_syscalls().cachestat(fd, offset, length, counts);
}
int inj_flock(int fd, int operation) {
  return hit("flock") ? fail() : real_syscalls().flock(fd, operation);
}

int inj_renameat2(int olddirfd, const char* oldpath, int newdirfd, const char* newpath,
                  unsigned int flags) {
  if (state.exchange_unsupported && (flags & RENAME_EXCHANGE) != 0) {
    errno = EINVAL;
    return -1;
  }
  const std::string name = (flags & RENAME_EXCHANGE) != 0 ? "renameat2(EXCHANGE)" : "renameat2";
  if (hit(name)) return fail();
  return real_syscalls().renameat2(olddirfd, oldpath, newdirfd, newpath, flags);
}

int inj_unlinkat(int dirfd, const char* path, int flags) {
  return hit("unlink") ? fail() : real_syscalls().unlinkat(dirfd, path, flags);
}

void* inj_mmap(void* addr, std::size_t length, int prot, int flags, int fd, off_t offset) {
  if (hit((flags & MAP_ANONYMOUS) != 0 ? "mmap(anonymous)" : "mmap(shared)")) {
    fail();
    return MAP_FAILED;
  }
  void* p = real_syscalls().mmap(addr, length, prot, flags, fd, offset);
  const std::lock_guard lock(state_mutex);
  if (p != MAP_FAILED) state.mapped.emplace_back(reinterpret_cast<std::uintptr_t>(p), length);
  return p;
}

// munmap of a whole mapping fails only for invalid arguments; an injected
// failure is reported after the real unmap, like close.
int inj_munmap(void* addr, std::size_t length) {
  const bool h = hit("munmap");
  const int rc = real_syscalls().munmap(addr, length);
  if (rc == 0) {
    const std::lock_guard lock(state_mutex);
    state.unmapped.emplace_back(reinterpret_cast<std::uintptr_t>(addr), length);
  }
  return h ? fail() : rc;
}

int inj_msync(void* addr, std::size_t length, int flags) {
  return hit("msync") ? fail() : real_syscalls().msync(addr, length, flags);
}

// pthread_create reports its error by return value.
int inj_pthread_create(pthread_t* thread, const pthread_attr_t* attributes, void* (*start)(void*),
                       void* argument) {
  if (hit("pthread_create")) return EAGAIN;
  return real_syscalls().pthread_create(thread, attributes, start, argument);
}

int inj_madvise(void* addr, std::size_t length, int advice) {
  const std::string name = advice == MADV_HUGEPAGE         ? "madvise(HUGEPAGE)"
                           : advice == MADV_POPULATE_WRITE ? "madvise(POPULATE_WRITE)"
                           : advice == MADV_POPULATE_READ  ? "madvise(POPULATE_READ)"
                           : advice == MADV_DONTNEED       ? "madvise(DONTNEED)"
                           : advice == MADV_NOHUGEPAGE     ? "madvise(NOHUGEPAGE)"
                           : advice == MADV_DONTFORK       ? "madvise(DONTFORK)"
                           : advice == MADV_DOFORK         ? "madvise(DOFORK)"
                                                           : "madvise";
  return hit(name) ? fail() : real_syscalls().madvise(addr, length, advice);
}

int inj_userfaultfd(int flags) {
  return hit("userfaultfd") ? fail() : real_syscalls().userfaultfd(flags);
}

// The userfaultfd requests by name (the newer ones by number: Debian 12's
// headers predate them).
std::string ioctl_name(unsigned long request) {
  if (request == UFFDIO_API) return "ioctl(UFFDIO_API)";
  if (request == UFFDIO_REGISTER) return "ioctl(UFFDIO_REGISTER)";
  if (request == UFFDIO_UNREGISTER) return "ioctl(UFFDIO_UNREGISTER)";
  if (request == UFFDIO_COPY) return "ioctl(UFFDIO_COPY)";
  if (request == UFFDIO_WAKE) return "ioctl(UFFDIO_WAKE)";
  if (_IOC_TYPE(request) == UFFDIO && _IOC_NR(request) == 0x05) return "ioctl(UFFDIO_MOVE)";
  if (_IOC_TYPE(request) == UFFDIO && _IOC_NR(request) == 0x08) return "ioctl(UFFDIO_POISON)";
  return "ioctl";
}

int inj_ioctl(int fd, unsigned long request, void* argument) {
  return hit(ioctl_name(request)) ? fail() : real_syscalls().ioctl(fd, request, argument);
}

ssize_t inj_read(int fd, void* buffer, std::size_t count) {
  return hit("read") ? fail() : real_syscalls().read(fd, buffer, count);
}

// The real table with every entry this test knows replaced; entries added to
// the table later pass through to the real calls, uncounted.
platform::Syscalls injecting_table() {
  platform::Syscalls table = real_syscalls();
  table.openat = inj_openat;
  table.close = inj_close;
  table.pread = inj_pread;
  table.pwrite = inj_pwrite;
  table.fstat = inj_fstat;
  table.fstatat = inj_fstatat;
  table.fchmod = inj_fchmod;
  table.fchown = inj_fchown;
  table.ftruncate = inj_ftruncate;
  table.fallocate = inj_fallocate;
  table.fsync = inj_fsync;
  table.fdatasync = inj_fdatasync;
  table.sync_file_range = inj_sync_file_range;
  table.cachestat = inj_cachestat;
  table.flock = inj_flock;
  table.renameat2 = inj_renameat2;
  table.unlinkat = inj_unlinkat;
  table.mmap = inj_mmap;
  table.munmap = inj_munmap;
  table.msync = inj_msync;
  table.madvise = inj_madvise;
  table.userfaultfd = inj_userfaultfd;
  table.ioctl = inj_ioctl;
  table.read = inj_read;
  table.pthread_create = inj_pthread_create;
  return table;
}

// Arms the table for one run; the destructor restores the real calls.
class Injection {
 public:
  Injection(Fault fault, long target, bool exchange_unsupported) {
    state = Injector{};
    state.fault = fault;
    state.target = target;
    state.exchange_unsupported = exchange_unsupported;
    syscalls() = injecting_table();
  }
  Injection(const Injection&) = delete;
  Injection& operator=(const Injection&) = delete;
  ~Injection() { syscalls() = real_syscalls(); }
};

// Calls whose failure the library ignores by design, so an ENOSPC / EIO there
// lets the operation succeed: close (the descriptor is gone either way;
// durability comes from the explicit syncs), munmap, and the hints that only
// make things faster: the huge-page advice, dropping page-table entries and
// starting write-back ahead of a sync, and asking what the page cache holds.
const std::set<std::string> kIgnoredFailures = {
    "close",           "munmap",   "madvise(HUGEPAGE)", "madvise(NOHUGEPAGE)", "madvise(DONTNEED)",
    "sync_file_range", "cachestat",
    // A lazy open: the kernel's offer of features, asked first on a
    // descriptor of its own, fails the lazy load only (the open is eager);
    // ending the registration once every page is present changes nothing.
    "ioctl(UFFDIO_API)", "ioctl(UFFDIO_UNREGISTER)", "madvise(DOFORK)"};

// Calls that POSIX / Linux document as able to fail with EINTR; an EINTR there
// must be retried. The others never return EINTR in practice; an injected one
// may surface as an error (it must then still be a clean one).
const std::set<std::string> kMayBeInterrupted = {"open",      "close",     "pread", "pwrite",
                                                 "ftruncate", "fallocate", "fsync", "fdatasync",
                                                 "flock",     "msync"};

// ---------------------------------------------------------------------------
// What a failed operation must not leave behind.

struct Resources {
  std::size_t descriptors;
  std::size_t mappings;

  static Resources now(const std::filesystem::path& dir) {
    return {open_descriptors(), file_mappings(dir)};
  }
};

// ---------------------------------------------------------------------------
// Pool contents.

constexpr std::size_t kDataSize = 3 * 4096 + 100;  // odd: a padded last page too
constexpr std::uint64_t kUserVersion = 9;

void fill(std::span<std::byte> data, std::uint64_t generation) {
  testing::fill_splitmix64(data, generation);
}

bool holds(std::span<const std::byte> data, std::uint64_t generation) {
  const auto expected = testing::splitmix64_bytes(data.size(), generation);
  return data.size() == kDataSize && std::equal(data.begin(), data.end(), expected.begin());
}

FileOptions accept_unclean() {
  FileOptions options;
  options.accept_unclean = true;
  return options;
}

VerifyOptions verify_options(bool accept) {
  VerifyOptions options;
  options.data_size = kDataSize;
  options.user_version = kUserVersion;
  options.accept_unclean = accept;
  return options;
}

// What a crash right now would leave at `path`, verified as open() would
// judge it: a copy is checked, since the pool still holds (and locks) the
// file itself.
VerifyReport verify_as_left(const std::filesystem::path& path, bool accept) {
  const auto copy = path.parent_path() / "as-left";
  std::filesystem::copy_file(path, copy, std::filesystem::copy_options::overwrite_existing);
  return verify_file(copy, verify_options(accept));
}

// The file's bytes with the in-use mark (bit 0 of options, the in-use
// sector) masked out.
std::vector<std::byte> bytes_without_mark(const std::filesystem::path& path) {
  auto bytes = testing::read_file(path);
  if (bytes.size() >= kHeaderSize) {
    bytes[80] &= ~std::byte{1};
    std::fill(bytes.begin() + 512, bytes.begin() + 1024, std::byte{0});
  }
  return bytes;
}

bool marked_in_use(const std::filesystem::path& path) {
  return (read_header(path).options & kOptionInUse) != 0;
}

// The data bytes of a pool file as stored, without opening it.
std::vector<std::byte> stored_data(const std::filesystem::path& path) {
  auto bytes = testing::read_file(path);
  if (bytes.size() < kHeaderSize + kDataSize) return {};
  return {bytes.begin() + kHeaderSize, bytes.begin() + kHeaderSize + kDataSize};
}

// ---------------------------------------------------------------------------
// The sweep.

// One operation under test. For each case the sweep calls, in a fresh
// directory: prepare() without faults, act() with the fault armed, then
// (faults disarmed) either on_success() or on_failure(errno of the failure),
// and release() to drop everything the case holds, before the leak check;
// finally check_files() to inspect the disk.
struct Operation {
  // The durability calls the operation must make, in this order (others may
  // come between): checked on the counting run, so that a save that lost a
  // sync, or synced in the wrong order, fails here.
  std::vector<std::string> durability_order;
  std::function<void(const TempDir&)> prepare;
  std::function<void(const TempDir&)> act;
  std::function<void(const TempDir&)> on_success;
  std::function<void(const TempDir&)> on_failure;
  std::function<void()> release;
  std::function<void(const TempDir&, bool failed)> check_files;
};

struct Tally {
  long calls = 0;
  long injected = 0;
  long failed = 0;         // clean errors
  long retried = 0;        // EINTR / short transfers absorbed
  long fewer_threads = 0;  // refused threads whose work others did
  long ignored = 0;        // ENOSPC / EIO on a call whose failure is ignored
};

Tally grand_total;

// The case the sweep is running, for the operations' checks.
struct CurrentCase {
  std::string what;           // "operation: fault at call N (name)"
  bool after_rename = false;  // the faulted call came after the flush's rename
  bool exchange_unsupported = false;
  Fault fault = Fault::none;
  std::string call;  // the call the fault was injected into
};
CurrentCase current_case;

Tally sweep(const std::string& name, const Operation& op, bool exchange_unsupported = false) {
  Tally tally;
  // The counting run.
  std::vector<std::string> trace;
  {
    TempDir dir;
    op.prepare(dir);
    {
      Injection counting(Fault::none, -1, exchange_unsupported);
      op.act(dir);
      trace = state.trace;
    }
    op.release();
  }
  tally.calls = static_cast<long>(trace.size());
  std::ostringstream calls;
  for (const auto& call : trace) calls << ' ' << call;
  std::cout << "[ faults   ] " << name << ": " << trace.size() << " calls:" << calls.str() << "\n";
  {
    auto at = trace.begin();
    for (const std::string& call : op.durability_order) {
      at = std::find(at, trace.end(), call);
      EXPECT_NE(at, trace.end()) << name << ": no " << call << " where the order needs one";
      if (at == trace.end()) break;
      ++at;
    }
  }

  const std::set<std::string> kinds_of_calls(trace.begin(), trace.end());
  for (Fault fault :
       {Fault::enospc, Fault::eio, Fault::eintr, Fault::short_transfer, Fault::refused_thread}) {
    for (long position = 0; position < tally.calls; ++position) {
      const std::string planned = trace[static_cast<std::size_t>(position)];
      if (!applies(fault, planned)) continue;
      const std::string what = name + ": " + fault_name(fault) + " at call " +
                               std::to_string(position) + " (" + planned + ")";
      SCOPED_TRACE(what);
      const auto rename = std::find_if(trace.begin(), trace.end(), [](const std::string& c) {
        return c.rfind("renameat2", 0) == 0;
      });
      current_case = CurrentCase{};
      current_case.what = what;
      current_case.after_rename = rename != trace.end() && position > rename - trace.begin();
      current_case.exchange_unsupported = exchange_unsupported;
      TempDir dir;
      // Measured before prepare() so that nothing the case made is counted.
      const Resources before = Resources::now(dir.path());
      op.prepare(dir);
      std::optional<Error> error;
      bool fired = false;
      {
        Injection injection(fault, position, exchange_unsupported);
        try {
          op.act(dir);
        } catch (const Error& e) {
          error = e;
        }
        fired = state.fired;
      }
      // Threads may order their calls differently from the counting run:
      // judge by the call actually hit.
      const std::string call = state.hit;
      current_case.fault = fault;
      current_case.call = call;
      const std::set<std::string> kinds_made(state.trace.begin(), state.trace.end());
      const Regions mapped_by_operation = state.mapped;
      Regions unmapped = state.unmapped;
      // The checks run without faults, on the same kind of file system.
      std::optional<Injection> environment;
      environment.emplace(Fault::none, -1, exchange_unsupported);
      if (!fired) {
        // The calls before `position` differed from the counting run's.
        ADD_FAILURE() << "the fault was not injected: the operation made other calls";
        op.release();
        continue;
      }
      ++tally.injected;
      if (error) {
        ++tally.failed;
        EXPECT_EQ(error->code(), std::error_code(fault_errno(fault), std::system_category()))
            << "actual error: " << error->what();
        if (fault == Fault::short_transfer) ADD_FAILURE() << "a short transfer was not retried";
        if (fault == Fault::refused_thread) ADD_FAILURE() << "a refused thread failed the call";
        if (fault == Fault::eintr && kMayBeInterrupted.count(call) != 0) {
          ADD_FAILURE() << "EINTR was not retried: " << error->what();
        }
        op.on_failure(dir);
      } else {
        if (fault == Fault::eintr || fault == Fault::short_transfer) {
          ++tally.retried;
        } else if (fault == Fault::refused_thread) {
          ++tally.fewer_threads;
          EXPECT_EQ(kinds_made, kinds_of_calls) << "with a thread refused, the work done differs";
        } else {
          ++tally.ignored;
          EXPECT_EQ(kIgnoredFailures.count(call), 1u)
              << "the operation succeeded although " << call << " failed";
        }
        op.on_success(dir);
      }
      op.release();  // still through the table, so its unmaps are seen
      unmapped.insert(unmapped.end(), state.unmapped.begin(), state.unmapped.end());
      environment.reset();
      const Resources after = Resources::now(dir.path());
      EXPECT_EQ(after.descriptors, before.descriptors) << "leaked descriptors";
      EXPECT_EQ(after.mappings, before.mappings) << "leaked file mappings";
      EXPECT_EQ(never_unmapped(mapped_by_operation, unmapped), 0u) << "leaked memory mappings";
      op.check_files(dir, error.has_value());
    }
  }
  std::cout << "[ faults   ] " << name << ": " << tally.injected
            << " faults injected: " << tally.failed << " clean errors, " << tally.retried
            << " retried, " << tally.ignored << " ignored by design, " << tally.fewer_threads
            << " done with fewer threads\n";
  grand_total.calls += tally.calls;
  grand_total.injected += tally.injected;
  grand_total.failed += tally.failed;
  grand_total.retried += tally.retried;
  grand_total.ignored += tally.ignored;
  grand_total.fewer_threads += tally.fewer_threads;
  return tally;
}

// Prints the total when the test program ends.
class TotalReporter : public ::testing::Environment {
 public:
  void TearDown() override {
    std::cout << "[ faults   ] total: " << grand_total.injected << " faults injected at "
              << grand_total.calls << " call positions: " << grand_total.failed << " clean errors, "
              << grand_total.retried << " retried, " << grand_total.ignored
              << " ignored by design, " << grand_total.fewer_threads
              << " done with fewer threads\n";
  }
};
const auto* const kReporter = ::testing::AddGlobalTestEnvironment(new TotalReporter);

// ---------------------------------------------------------------------------
// The operations.

std::filesystem::path pool_path(const TempDir& dir) {
  return dir / "pool";
}
std::filesystem::path spare_path(const TempDir& dir) {
  return FileBackedMemory::spare_path(pool_path(dir));
}

// Snapshot of the pool file taken by prepare(), for the "left as it was" checks.
std::vector<std::byte> before_bytes;

TEST(FaultInjection, MmapFileCreate) {
  std::optional<MmapFile> pool;
  Operation op;
  op.durability_order = {"pwrite", "fsync", "fsync"};  // header, file, directory
  op.prepare = [](const TempDir&) {};
  op.act = [&](const TempDir& dir) {
    pool.emplace(MmapFile::create(pool_path(dir), kDataSize, kUserVersion));
  };
  op.on_success = [&](const TempDir&) {
    ASSERT_TRUE(holds(pool->data(), 0) ||
                std::all_of(pool->data().begin(), pool->data().end(),
                            [](std::byte b) { return b == std::byte{0}; }));
    fill(pool->data(), 1);
    pool->close();
  };
  op.on_failure = [](const TempDir&) {};
  op.release = [&] { pool.reset(); };
  op.check_files = [](const TempDir& dir, bool failed) {
    if (failed) {
      // "On failure nothing is left behind."
      EXPECT_FALSE(std::filesystem::exists(pool_path(dir)));
      EXPECT_NO_THROW(MmapFile::create(pool_path(dir), kDataSize, kUserVersion));
      return;
    }
    auto reopened = MmapFile::open(pool_path(dir), kDataSize, kUserVersion);
    EXPECT_TRUE(holds(reopened.data(), 1));
  };
  sweep("MmapFile::create", op);
}

// open() of a saved pool, for either pool type: a failure leaves the file byte
// for byte as before, but for the in-use mark, which a failure after open()
// set stays set (the file was held).
template <typename Pool>
void sweep_open(const std::string& name, const FileOptions& options = {}) {
  std::optional<Pool> pool;
  Operation op;
  op.durability_order = {"pwrite", "fdatasync"};  // the in-use mark
  op.prepare = [&](const TempDir& dir) {
    auto saved = Pool::create(pool_path(dir), kDataSize, kUserVersion, options);
    fill(saved.data(), 1);
    saved.close();
    before_bytes = bytes_without_mark(pool_path(dir));
  };
  op.act = [&](const TempDir& dir) {
    pool.emplace(Pool::open(pool_path(dir), kDataSize, kUserVersion, options));
    // A lazy open's load: its failures are the open's.
    if constexpr (std::is_same_v<Pool, FileBackedMemory>) pool->wait_loaded();
  };
  op.on_success = [&](const TempDir&) { EXPECT_TRUE(holds(pool->data(), 1)); };
  op.on_failure = [](const TempDir&) {};
  op.release = [&] { pool.reset(); };
  op.check_files = [](const TempDir& dir, bool failed) {
    EXPECT_EQ(bytes_without_mark(pool_path(dir)), before_bytes);
    if (failed && !marked_in_use(pool_path(dir))) {
      auto reopened = Pool::open(pool_path(dir), kDataSize, kUserVersion);
      EXPECT_TRUE(holds(reopened.data(), 1));
    }
    auto reopened = Pool::open(pool_path(dir), kDataSize, kUserVersion, accept_unclean());
    EXPECT_TRUE(holds(reopened.data(), 1));
  };
  sweep(name, op);
}

TEST(FaultInjection, MmapFileOpen) {
  sweep_open<MmapFile>("MmapFile::open");
}

// A failed MmapFile::flush cannot keep the previous snapshot: its bytes were
// overwritten in place by the writes being flushed. Its contract is that the
// file is never served as anything but exactly the new bytes: open() reports
// unclean shutdown (the in-use mark stays set), and with accept_unclean
// serves the new bytes if the new header got written, else reports a
// checksum mismatch. A failure of writing back, of the header write or of
// the sync is sticky: every later flush() and close() throws it again. A
// failure before anything was written (the size and name checks) is not.
TEST(FaultInjection, MmapFileFlush) {
  std::optional<MmapFile> pool;
  bool sticky = false;
  Operation op;
  op.durability_order = {"msync", "pwrite", "fdatasync"};  // data, header, header sync
  op.prepare = [&](const TempDir& dir) {
    {
      auto saved = MmapFile::create(pool_path(dir), kDataSize, kUserVersion);
      fill(saved.data(), 1);
      saved.close();
    }
    pool.emplace(MmapFile::open(pool_path(dir), kDataSize, kUserVersion));
    fill(pool->data(), 2);
    sticky = false;
  };
  op.act = [&](const TempDir&) { pool->flush(); };
  op.on_success = [&](const TempDir&) { pool->close(); };
  op.on_failure = [&](const TempDir& dir) {
    // What a crash right now would leave.
    EXPECT_EQ(verify_as_left(pool_path(dir), false).error, errc::unclean_shutdown);
    const VerifyReport accepted = verify_as_left(pool_path(dir), true);
    if (accepted.ok()) {
      EXPECT_TRUE(holds(stored_data(pool_path(dir)), 2));
    } else {
      EXPECT_EQ(accepted.error, errc::checksum_mismatch) << accepted.message;
    }
    const std::error_code first(fault_errno(current_case.fault), std::system_category());
    try {
      pool->close();
    } catch (const Error& again) {
      sticky = true;
      EXPECT_EQ(again.code(), first) << "a later save threw another error: " << again.what();
      EXPECT_DATATIER_ERROR(pool->flush(), first);
    }
    const bool wrote = current_case.call != "fstat" && current_case.call != "fstatat";
    EXPECT_EQ(sticky, wrote) << (wrote ? "a failed write-back was not sticky"
                                       : "a failure before writing anything was sticky");
  };
  op.release = [&] { pool.reset(); };
  op.check_files = [&](const TempDir& dir, bool) {
    if (!sticky) {
      auto reopened = MmapFile::open(pool_path(dir), kDataSize, kUserVersion);
      EXPECT_TRUE(holds(reopened.data(), 2));
      return;
    }
    // Never other bytes than the new ones.
    try {
      auto reopened = MmapFile::open(pool_path(dir), kDataSize, kUserVersion, accept_unclean());
      EXPECT_TRUE(holds(reopened.data(), 2));
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), errc::checksum_mismatch) << e.what();
    }
  };
  sweep("MmapFile::flush", op);
}

TEST(FaultInjection, FileBackedMemoryCreate) {
  std::optional<FileBackedMemory> pool;
  Operation op;
  op.durability_order = {"pwrite", "fsync", "fsync"};  // header, file, directory
  op.prepare = [](const TempDir&) {};
  op.act = [&](const TempDir& dir) {
    pool.emplace(FileBackedMemory::create(pool_path(dir), kDataSize, kUserVersion));
  };
  op.on_success = [&](const TempDir&) {
    ASSERT_TRUE(std::all_of(pool->data().begin(), pool->data().end(),
                            [](std::byte b) { return b == std::byte{0}; }));
    fill(pool->data(), 1);
    pool->flush();
  };
  op.on_failure = [](const TempDir&) {};
  op.release = [&] { pool.reset(); };
  op.check_files = [&](const TempDir& dir, bool failed) {
    if (failed) {
      // The pool file and the spare this call created are both removed.
      EXPECT_FALSE(std::filesystem::exists(pool_path(dir)));
      EXPECT_FALSE(std::filesystem::exists(spare_path(dir)));
      EXPECT_NO_THROW(FileBackedMemory::create(pool_path(dir), kDataSize, kUserVersion));
      return;
    }
    auto reopened = FileBackedMemory::open(pool_path(dir), kDataSize, kUserVersion);
    EXPECT_TRUE(holds(reopened.data(), 1));
  };
  sweep("FileBackedMemory::create", op);
}

TEST(FaultInjection, FileBackedMemoryOpen) {
  sweep_open<FileBackedMemory>("FileBackedMemory::open");
}

// A lazy open, until its load has ended: blocks of 4 KiB give the small pool
// an index, and its one unit (the first, loaded inside open()) a trace
// without the timing of the fault thread's waits.
TEST(FaultInjection, FileBackedMemoryLazyOpen) {
  FileOptions options;
  options.lazy = true;
  options.block_size = 4096;
  sweep_open<FileBackedMemory>("FileBackedMemory::open (lazy)", options);
}

// The previous snapshot (generation 1) is under the pool path after any
// failed flush, exactly; after a successful one the new snapshot is, and the
// spare holds the previous one.
// With `background`, each save is a begin_flush() waited for.
Operation file_backed_memory_flush(std::optional<FileBackedMemory>& pool, bool exchange_unsupported,
                                   bool background = false) {
  const auto save = [&pool, background] {
    if (background) {
      pool->begin_flush().wait();
    } else {
      pool->flush();
    }
  };
  Operation op;
  // The spare's data sync, the swap, the directory sync.
  op.durability_order = {"fdatasync", exchange_unsupported ? "renameat2" : "renameat2(EXCHANGE)",
                         "fsync"};
  op.prepare = [&](const TempDir& dir) {
    pool.emplace(FileBackedMemory::create(pool_path(dir), kDataSize, kUserVersion));
    fill(pool->data(), 1);
    pool->flush();
    fill(pool->data(), 2);
  };
  op.act = [save](const TempDir&) { save(); };
  op.on_success = [](const TempDir&) {};
  op.on_failure = [save](const TempDir& dir) {
    // What a crash right now would leave: exactly the previous snapshot.
    const VerifyReport report = verify_as_left(pool_path(dir), true);
    EXPECT_TRUE(report.ok()) << report.message;
    // An error before the rename leaves the previous snapshot; one after it
    // (syncing the directory, making a new spare) the new one, complete.
    const auto data = stored_data(pool_path(dir));
    EXPECT_TRUE(holds(data, current_case.after_rename ? 2 : 1))
        << "the pool path holds neither the expected snapshot";
    // The pool is still usable: flush again.
    std::string error;
    try {
      save();
    } catch (const Error& e) {
      error = e.what();
    }
    EXPECT_TRUE(error.empty()) << "a flush after the failed one failed: " << error;
  };
  op.release = [&] { pool.reset(); };
  op.check_files = [](const TempDir& dir, bool failed) {
    // The last flush succeeded: the new snapshot, clean.
    std::string error;
    bool ok = false;
    try {
      auto reopened = FileBackedMemory::open(pool_path(dir), kDataSize, kUserVersion);
      ok = holds(reopened.data(), 2);
    } catch (const Error& e) {
      error = e.what();
    }
    EXPECT_TRUE(ok) << "the pool does not hold the new snapshot after a successful flush: "
                    << error;
    // The spare holds the snapshot before the last one, where the file system
    // let flush() keep it: generation 1, or 2 when the failed flush had
    // already swapped the files and the retry wrote generation 2 again.
    if (!current_case.exchange_unsupported) {
      auto previous =
          FileBackedMemory::open(spare_path(dir), kDataSize, kUserVersion, accept_unclean());
      EXPECT_TRUE(holds(previous.data(), 1) ||
                  (failed && current_case.after_rename && holds(previous.data(), 2)));
    }
  };
  return op;
}

TEST(FaultInjection, FileBackedMemoryFlush) {
  std::optional<FileBackedMemory> pool;
  sweep("FileBackedMemory::flush", file_backed_memory_flush(pool, false));
}

TEST(FaultInjection, FileBackedMemoryBackgroundFlush) {
  std::optional<FileBackedMemory> pool;
  sweep("FileBackedMemory::begin_flush", file_backed_memory_flush(pool, false, true));
}

// The same where the file system cannot exchange two names: flush() falls
// back to rename(2) and makes a new spare.
TEST(FaultInjection, FileBackedMemoryFlushWithoutRenameExchange) {
  std::optional<FileBackedMemory> pool;
  sweep("FileBackedMemory::flush (no RENAME_EXCHANGE)", file_backed_memory_flush(pool, true), true);
}

// A pool whose file holds generation 2 and whose spare holds generation 1
// (marked in use: it was the pool file while a pool had it open).
void save_two_generations(const TempDir& dir) {
  {
    auto pool = FileBackedMemory::create(pool_path(dir), kDataSize, kUserVersion);
    fill(pool.data(), 1);
    pool.flush();
  }
  auto pool = FileBackedMemory::open(pool_path(dir), kDataSize, kUserVersion);
  fill(pool.data(), 2);
  pool.flush();
}

// Whether `path` is a pool file holding `generation`, intact.
bool intact_generation(const std::filesystem::path& path, std::uint64_t generation) {
  return std::filesystem::exists(path) && verify_file(path, verify_options(true)).ok() &&
         holds(stored_data(path), generation);
}

// A failed remove_pool() leaves both files, the pool file alone, or (when
// only the directory sync failed) neither; never a spare without its pool
// file.
TEST(FaultInjection, RemovePool) {
  Operation op;
  op.durability_order = {"unlink", "unlink", "fsync"};  // the spare, the pool file, the directory
  op.prepare = [](const TempDir& dir) { save_two_generations(dir); };
  op.act = [](const TempDir& dir) { remove_pool(pool_path(dir)); };
  op.on_success = [](const TempDir&) {};
  op.on_failure = [](const TempDir&) {};
  op.release = [] {};
  op.check_files = [](const TempDir& dir, bool failed) {
    const bool pool = std::filesystem::exists(pool_path(dir));
    const bool spare = std::filesystem::exists(spare_path(dir));
    if (!failed || current_case.call == "fsync") {
      EXPECT_FALSE(pool || spare);
      return;
    }
    EXPECT_TRUE(intact_generation(pool_path(dir), 2));
    if (spare) {
      EXPECT_TRUE(intact_generation(spare_path(dir), 1));
    }
  };
  sweep("remove_pool", op);
}

// restore_previous() loses no snapshot whatever call fails: both generations
// stay somewhere, intact. Where names can be exchanged, the pool's name holds
// one of them at every moment. Success leaves generation 1 under the pool's
// name, unmarked, and generation 2 set aside.
void sweep_restore_previous(const std::string& name, bool exchange_unsupported) {
  Operation op;
  // The cleared mark, the renames, the directory.
  op.durability_order = {"fdatasync", exchange_unsupported ? "renameat2" : "renameat2(EXCHANGE)",
                         "renameat2", "fsync"};
  op.prepare = [](const TempDir& dir) { save_two_generations(dir); };
  op.act = [](const TempDir& dir) { restore_previous(pool_path(dir)); };
  op.on_success = [](const TempDir&) {};
  op.on_failure = [](const TempDir&) {};
  op.release = [] {};
  op.check_files = [exchange_unsupported](const TempDir& dir, bool failed) {
    const auto aside = dir / "pool.damaged";
    if (!failed) {
      EXPECT_TRUE(verify_file(pool_path(dir), verify_options(false)).ok());
      EXPECT_TRUE(intact_generation(pool_path(dir), 1));
      EXPECT_TRUE(intact_generation(aside, 2));
      EXPECT_FALSE(std::filesystem::exists(spare_path(dir)));
      return;
    }
    const std::vector<std::filesystem::path> files = {pool_path(dir), spare_path(dir), aside};
    for (const std::uint64_t generation : {std::uint64_t{1}, std::uint64_t{2}}) {
      EXPECT_TRUE(
          std::any_of(files.begin(), files.end(),
                      [&](const auto& file) { return intact_generation(file, generation); }))
          << "generation " << generation << " was lost";
    }
    if (!exchange_unsupported) {
      EXPECT_TRUE(intact_generation(pool_path(dir), 1) || intact_generation(pool_path(dir), 2));
    }
  };
  sweep(name, op, exchange_unsupported);
}

TEST(FaultInjection, RestorePrevious) {
  sweep_restore_previous("restore_previous", false);
}

TEST(FaultInjection, RestorePreviousWithoutRenameExchange) {
  sweep_restore_previous("restore_previous (no RENAME_EXCHANGE)", true);
}

}  // namespace
}  // namespace datatier
