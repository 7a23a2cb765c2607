// Hostile input: a read-only file system, a file that
// shrinks or grows under open() or under a pool that holds it, a path that is
// a directory, a file without permission, files that are not pools at all.
// Each gives a datatier::Error (or a verify_file() report) with the exact
// code, never a crash or a hang, and leaves nothing behind. Checks that need
// another identity or mount namespace run in a forked child.
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <mutex>
#include <string>
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

constexpr std::uint64_t kUserVersion = 11;

// The two file pools, as test parameters.
template <typename P>
struct Kind {
  using Pool = P;
  static constexpr const char* kName =
      std::is_same_v<P, MmapFile> ? "MmapFile" : "FileBackedMemory";
};
using Kinds = ::testing::Types<Kind<MmapFile>, Kind<FileBackedMemory>>;

class KindNames {
 public:
  template <typename T>
  static std::string GetName(int) {
    return T::kName;
  }
};

// ---------------------------------------------------------------------------
// Helpers.

std::uint64_t file_size_of(std::size_t data_size) {
  return *pool_file_size(data_size);
}

// A saved pool of `data_size` bytes from `seed` at `path`, released again.
template <typename Pool>
void make_pool(const std::filesystem::path& path, std::size_t data_size, std::uint64_t seed) {
  auto pool = Pool::create(path, data_size, kUserVersion);
  testing::fill_splitmix64(pool.data(), seed);
  pool.close();
}

// Whether `pool` holds exactly the bytes from `seed`.
bool holds(std::span<const std::byte> data, std::uint64_t seed) {
  const auto expected = testing::splitmix64_bytes(data.size(), seed);
  return std::equal(data.begin(), data.end(), expected.begin(), expected.end());
}

VerifyOptions verify_options(std::size_t data_size) {
  VerifyOptions options;
  options.data_size = data_size;
  options.user_version = kUserVersion;
  return options;
}

// The whole file, read in one go (testing::read_file goes byte by byte,
// which is slow for large files under the sanitizers).
std::vector<std::byte> file_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<std::byte> bytes(std::filesystem::file_size(path));
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  return bytes;
}

void set_file_size(const std::filesystem::path& path, std::uint64_t size) {
  ASSERT_EQ(::truncate(path.c_str(), static_cast<off_t>(size)), 0) << std::strerror(errno);
}

// ---------------------------------------------------------------------------
// Checks in a forked child, which has no gtest of its own: it collects the
// failed expectations as text and sends them to the parent through a pipe.

// Thrown by a child body that cannot run here (not root, no namespaces).
struct Skip {
  std::string why;
};

class ChildChecks {
 public:
  void expect(bool ok, const std::string& what) {
    if (!ok) failures_ += what + "\n";
  }

  // `statement` throws a datatier::Error whose code() == `expected`.
  template <typename Code>
  void expect_error(const std::function<void()>& statement, Code expected,
                    const std::string& what) {
    try {
      statement();
      failures_ += what + ": did not throw\n";
    } catch (const Error& e) {
      if (!(e.code() == expected)) {
        failures_ += what + ": expected " + std::make_error_code(expected).message() +
                     ", got: " + e.what() + "\n";
      }
    } catch (const std::exception& e) {
      failures_ += what + ": not a datatier::Error: " + e.what() + "\n";
    }
  }

  const std::string& failures() const { return failures_; }
  void add(const std::string& text) { failures_ += text; }

 private:
  std::string failures_;
};

constexpr int kSkipStatus = 77;
// A child that takes longer than this is hung: SIGALRM ends it.
constexpr unsigned kChildTimeoutSeconds = 120;

struct ChildOutcome {
  int status = 0;    // from waitpid
  std::string text;  // failures, or why it skipped
};

ChildOutcome run_in_child(const std::function<void(ChildChecks&)>& body) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return {-1, std::string("pipe2: ") + std::strerror(errno)};
  std::cout.flush();
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) return {-1, std::string("fork: ") + std::strerror(errno)};
  if (pid == 0) {
    ::close(fds[0]);
    ::alarm(kChildTimeoutSeconds);
    ChildChecks checks;
    int status = 0;
    try {
      body(checks);
      if (!checks.failures().empty()) status = 1;
    } catch (const Skip& skip) {
      checks.add(skip.why);
      status = kSkipStatus;
    } catch (const std::exception& e) {
      checks.add(std::string("unexpected exception: ") + e.what() + "\n");
      status = 1;
    }
    const std::string& text = checks.failures();
    for (std::size_t done = 0; done < text.size();) {
      const ssize_t n = ::write(fds[1], text.data() + done, text.size() - done);
      if (n <= 0) break;
      done += static_cast<std::size_t>(n);
    }
    ::_exit(status);
  }
  ::close(fds[1]);
  ChildOutcome outcome;
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::read(fds[0], buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    outcome.text.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  while (::waitpid(pid, &outcome.status, 0) < 0 && errno == EINTR) {
  }
  return outcome;
}

// Skips the test if the child skipped; else expects it to have passed.
#define EXPECT_CHILD_PASSED(outcome)                                                            \
  do {                                                                                          \
    const ChildOutcome& o_ = (outcome);                                                         \
    if (WIFEXITED(o_.status) && WEXITSTATUS(o_.status) == kSkipStatus) GTEST_SKIP() << o_.text; \
    ASSERT_TRUE(WIFEXITED(o_.status))                                                           \
        << "child ended by signal " << WTERMSIG(o_.status)                                      \
        << (WTERMSIG(o_.status) == SIGALRM ? " (SIGALRM: it hung)" : "") << "\n"                \
        << o_.text;                                                                             \
    EXPECT_EQ(WEXITSTATUS(o_.status), 0) << o_.text;                                            \
  } while (false)

// ---------------------------------------------------------------------------
// A read-only file system.

// Both pools on a tmpfs that is then remounted read-only: opening either for
// writing and creating either fail with EROFS; verify_file() still reads them.
TEST(HostileInput, ReadOnlyFileSystemRefusesOpenAndCreateButVerifies) {
  TempDir dir;
  const std::filesystem::path mount_point = dir / "ro";
  std::filesystem::create_directory(mount_point);
  constexpr std::size_t kSize = (std::size_t{1} << 20) + 100;

  const auto outcome = run_in_child([&](ChildChecks& checks) {
    if (::geteuid() != 0) throw Skip{"mounting a tmpfs needs root (CI runs as root)"};
    if (::unshare(CLONE_NEWNS) != 0) {
      throw Skip{std::string("unshare(CLONE_NEWNS) refused: ") + std::strerror(errno)};
    }
    // Private mounts, so that nothing below propagates out of this namespace.
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
      checks.add(std::string("making mounts private failed: ") + std::strerror(errno) + "\n");
      return;
    }
    if (::mount("datatier-test", mount_point.c_str(), "tmpfs", 0, "size=16m,mode=0700") != 0) {
      checks.add(std::string("mounting a tmpfs failed: ") + std::strerror(errno) + "\n");
      return;
    }
    const auto mmap_path = mount_point / "mmap";
    const auto fbm_path = mount_point / "fbm";
    make_pool<MmapFile>(mmap_path, kSize, 1);
    make_pool<FileBackedMemory>(fbm_path, kSize, 2);
    const auto mmap_bytes = file_bytes(mmap_path);
    const auto fbm_bytes = file_bytes(fbm_path);
    const auto fbm_spare_bytes = file_bytes(FileBackedMemory::spare_path(fbm_path));

    if (::mount("datatier-test", mount_point.c_str(), "tmpfs", MS_REMOUNT | MS_RDONLY, nullptr) !=
        0) {
      checks.add(std::string("remounting read-only failed: ") + std::strerror(errno) + "\n");
      return;
    }
    const std::size_t descriptors = open_descriptors();
    constexpr auto kReadOnly = std::errc::read_only_file_system;
    checks.expect_error([&] { MmapFile::open(mmap_path, kSize, kUserVersion); }, kReadOnly,
                        "MmapFile::open");
    checks.expect_error([&] { FileBackedMemory::open(fbm_path, kSize, kUserVersion); }, kReadOnly,
                        "FileBackedMemory::open");
    FileOptions accept;
    accept.accept_unclean = true;
    checks.expect_error([&] { FileBackedMemory::open(fbm_path, kSize, kUserVersion, accept); },
                        kReadOnly, "FileBackedMemory::open with accept_unclean");
    checks.expect_error([&] { MmapFile::create(mount_point / "new-mmap", kSize, kUserVersion); },
                        kReadOnly, "MmapFile::create");
    checks.expect_error(
        [&] { FileBackedMemory::create(mount_point / "new-fbm", kSize, kUserVersion); }, kReadOnly,
        "FileBackedMemory::create");
    checks.expect(open_descriptors() == descriptors, "a failed call left a descriptor open");
    checks.expect(!std::filesystem::exists(mount_point / "new-mmap") &&
                      !std::filesystem::exists(mount_point / "new-fbm"),
                  "a failed create left a file");

    for (const auto& path : {mmap_path, fbm_path}) {
      const VerifyReport report = verify_file(path, verify_options(kSize));
      checks.expect(report.ok(), "verify_file(" + path.string() + "): " + report.message);
    }
    checks.expect(file_bytes(mmap_path) == mmap_bytes, "the MmapFile's file changed");
    checks.expect(file_bytes(fbm_path) == fbm_bytes, "the FileBackedMemory's file changed");
    checks.expect(file_bytes(FileBackedMemory::spare_path(fbm_path)) == fbm_spare_bytes,
                  "the FileBackedMemory's spare file changed");
  });
  EXPECT_CHILD_PASSED(outcome);
}

// A pool file with holes on a full tmpfs: a page of a hole gets memory only
// when a mapping touches it, and on a full tmpfs that touch raises SIGBUS.
// verify_file() reads with pread (holes read as zeros, nothing allocated) and
// says ok; MmapFile::open() reserves the holes first and fails cleanly with
// ENOSPC. Neither kills the process.
TEST(HostileInput, SparsePoolOnAFullTmpfsIsAnErrorNotASignal) {
  TempDir dir;
  const std::filesystem::path mount_point = dir / "full";
  std::filesystem::create_directory(mount_point);
  constexpr std::size_t kSize = std::size_t{4} << 20;
  // A pool of zeros, saved cleanly: its data can be holes.
  MmapFile::create(dir / "zeros", kSize, 0).close();
  std::vector<std::byte> header = testing::read_file(dir / "zeros");
  header.resize(kHeaderSize);

  const auto outcome = run_in_child([&](ChildChecks& checks) {
    if (::geteuid() != 0) throw Skip{"mounting a tmpfs needs root (CI runs as root)"};
    if (::unshare(CLONE_NEWNS) != 0) {
      throw Skip{std::string("unshare(CLONE_NEWNS) refused: ") + std::strerror(errno)};
    }
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
        ::mount("datatier-test", mount_point.c_str(), "tmpfs", 0, "size=1m,mode=0700") != 0) {
      checks.add(std::string("mounting a tmpfs failed: ") + std::strerror(errno) + "\n");
      return;
    }
    const auto path = mount_point / "pool";
    {
      const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
      checks.expect(fd >= 0 && ::pwrite(fd, header.data(), header.size(), 0) ==
                                   static_cast<ssize_t>(header.size()) &&
                        ::ftruncate(fd, static_cast<off_t>(kHeaderSize + kSize)) == 0,
                    "cannot lay out the sparse pool");
      if (fd >= 0) ::close(fd);
    }
    // Fill the rest of the tmpfs.
    {
      const int fd = ::open((mount_point / "filler").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
      const std::vector<char> block(4096, 'x');
      while (::write(fd, block.data(), block.size()) > 0) {
      }
      ::close(fd);
    }
    VerifyOptions options;
    options.data_size = kSize;
    options.accept_unclean = true;
    const VerifyReport report = verify_file(path, options);
    checks.expect(report.ok(), "verify_file of the sparse pool: " + report.message);
    checks.expect_error([&] { MmapFile::open(path, kSize, 0, FileOptions{}); },
                        std::errc::no_space_on_device, "MmapFile::open on a full tmpfs");
  });
  EXPECT_CHILD_PASSED(outcome);
}

// ---------------------------------------------------------------------------
// A file that shrinks while open() reads it, or between two opens.

// A system call table whose pread finds the file ending at `end`, and which
// records the memory mmap hands out.
struct ShrunkReads {
  static inline std::atomic<std::uint64_t> end{0};
  static inline std::mutex mutex;
  static inline Regions mapped;
  static inline Regions unmapped;

  static ssize_t pread(int fd, void* buf, std::size_t count, off_t offset) {
    const auto at = static_cast<std::uint64_t>(offset);
    if (at >= end.load()) return 0;
    return real_syscalls().pread(fd, buf, std::min<std::uint64_t>(count, end.load() - at), offset);
  }

  static void* mmap(void* addr, std::size_t length, int prot, int flags, int fd, off_t offset) {
    void* p = real_syscalls().mmap(addr, length, prot, flags, fd, offset);
    const std::lock_guard lock(mutex);
    if (p != MAP_FAILED) mapped.emplace_back(reinterpret_cast<std::uintptr_t>(p), length);
    return p;
  }

  static int munmap(void* addr, std::size_t length) {
    const int rc = real_syscalls().munmap(addr, length);
    const std::lock_guard lock(mutex);
    if (rc == 0) unmapped.emplace_back(reinterpret_cast<std::uintptr_t>(addr), length);
    return rc;
  }

  // Installs the table; the destructor restores the real system calls.
  explicit ShrunkReads(std::uint64_t file_end) {
    end = file_end;
    mapped.clear();
    unmapped.clear();
    syscalls().pread = &ShrunkReads::pread;
    syscalls().mmap = &ShrunkReads::mmap;
    syscalls().munmap = &ShrunkReads::munmap;
  }
  ShrunkReads(const ShrunkReads&) = delete;
  ShrunkReads& operator=(const ShrunkReads&) = delete;
  ~ShrunkReads() { syscalls() = real_syscalls(); }
};

// The file ends (pread returns 0) in the middle of the data FileBackedMemory
// is reading, on its several reader threads: errc::size_mismatch, nothing left
// open or mapped, the file untouched and still opening afterwards.
TEST(HostileInput, FileBackedMemoryOpenOfAFileThatEndsMidReadIsSizeMismatch) {
  TempDir dir;
  const auto path = dir / "pool";
  constexpr std::size_t kSize = std::size_t{24} << 20;  // three bulk blocks
  make_pool<FileBackedMemory>(path, kSize, 3);
  const auto bytes = file_bytes(path);

  for (const std::uint64_t end :
       {std::uint64_t{kHeaderSize} + kSize / 2, std::uint64_t{kHeaderSize} + kSize - 4096,
        std::uint64_t{kHeaderSize}, std::uint64_t{100}}) {
    SCOPED_TRACE("file ends at " + std::to_string(end));
    const std::size_t descriptors = open_descriptors();
    Regions mapped;
    Regions unmapped;
    {
      const ShrunkReads shrunk(end);
      EXPECT_DATATIER_ERROR(FileBackedMemory::open(path, kSize, kUserVersion), errc::size_mismatch);
      const std::lock_guard lock(ShrunkReads::mutex);
      mapped = ShrunkReads::mapped;
      unmapped = ShrunkReads::unmapped;
    }
    // A header read cut short fails before the pool's memory is mapped.
    if (end >= kHeaderSize) {
      EXPECT_FALSE(mapped.empty()) << "the pool's memory was never mapped";
    }
    EXPECT_EQ(never_unmapped(mapped, unmapped), 0u) << "leaked memory mappings";
    EXPECT_EQ(open_descriptors(), descriptors) << "leaked descriptors";
    EXPECT_EQ(file_mappings(dir.path()), 0u) << "leaked file mappings";
    EXPECT_TRUE(file_bytes(path) == bytes) << "the failed open changed the file";
  }
  // A header read cut short fails the same way for MmapFile.
  {
    const auto mmap_path = dir / "mmap";
    make_pool<MmapFile>(mmap_path, kSize, 4);
    const std::size_t descriptors = open_descriptors();
    {
      const ShrunkReads shrunk(100);
      EXPECT_DATATIER_ERROR(MmapFile::open(mmap_path, kSize, kUserVersion), errc::size_mismatch);
    }
    EXPECT_EQ(open_descriptors(), descriptors) << "leaked descriptors";
    EXPECT_EQ(file_mappings(dir.path()), 0u) << "leaked file mappings";
  }
  auto pool = FileBackedMemory::open(path, kSize, kUserVersion);
  EXPECT_TRUE(holds(pool.data(), 3));
}

template <typename K>
class HostileFile : public ::testing::Test {
 protected:
  using PoolType = typename K::Pool;
  std::filesystem::path path() const { return dir_ / "pool"; }
  TempDir dir_;
};
TYPED_TEST_SUITE(HostileFile, Kinds, KindNames);

// A pool file truncated, or grown, between two opens: errc::size_mismatch
// from open() and from verify_file().
TYPED_TEST(HostileFile, FileResizedBetweenOpensIsSizeMismatch) {
  using Pool = typename TestFixture::PoolType;
  constexpr std::size_t kSize = (std::size_t{4} << 20) + 100;
  const auto path = this->path();
  make_pool<Pool>(path, kSize, 5);
  { auto pool = Pool::open(path, kSize, kUserVersion); }
  for (const std::uint64_t size : {file_size_of(kSize) / 2, file_size_of(kSize) - 1,
                                   file_size_of(kSize) + 4096, std::uint64_t{kHeaderSize}}) {
    SCOPED_TRACE("file size " + std::to_string(size));
    set_file_size(path, size);
    EXPECT_DATATIER_ERROR(Pool::open(path, kSize, kUserVersion), errc::size_mismatch);
    EXPECT_EQ(verify_file(path, verify_options(kSize)).error, errc::size_mismatch);
  }
}

// ---------------------------------------------------------------------------
// A file resized by someone else while a pool holds it.

// FileBackedMemory writes each snapshot into its spare file and exchanges the
// two: whichever of them another descriptor truncates or extends, the next
// saves still leave a pool file of the right size with exactly the last
// snapshot, and the spare file is back to its size too.
TEST(HostileInput, FileBackedMemorySavesCorrectlyAfterItsFilesAreResized) {
  constexpr std::size_t kSize = (std::size_t{4} << 20) + 100;
  const std::uint64_t expected_size = file_size_of(kSize);
  for (const bool spare : {false, true}) {
    for (const std::uint64_t size :
         {expected_size / 2, std::uint64_t{0}, expected_size + (1 << 20), expected_size + 1}) {
      SCOPED_TRACE(std::string(spare ? "spare" : "pool") + " file resized to " +
                   std::to_string(size));
      TempDir dir;
      const auto path = dir / "pool";
      const auto spare_path = FileBackedMemory::spare_path(path);
      {
        auto pool = FileBackedMemory::create(path, kSize, kUserVersion);
        testing::fill_splitmix64(pool.data(), 1);
        pool.flush();
        set_file_size(spare ? spare_path : path, size);
        // The resized file is written to by one of the next two saves.
        testing::fill_splitmix64(pool.data(), 2);
        pool.flush();
        testing::fill_splitmix64(pool.data(), 3);
        pool.flush();
        EXPECT_EQ(std::filesystem::file_size(path), expected_size);
        EXPECT_EQ(std::filesystem::file_size(spare_path), expected_size);
      }
      EXPECT_TRUE(verify_file(path, verify_options(kSize)).ok());
      auto reopened = FileBackedMemory::open(path, kSize, kUserVersion);
      EXPECT_TRUE(holds(reopened.data(), 3)) << "reopened pool does not hold the last snapshot";
    }
  }
}

// An MmapFile's file truncated or extended by someone else while it is held:
// touching data() beyond the new end would raise SIGBUS, which is inherent to
// a mapping and not tested here. flush() notices the changed size before it
// reads the data and fails with errc::size_mismatch, writing no header.
TEST(HostileInput, MmapFileFlushOfAResizedFileIsSizeMismatch) {
  constexpr std::size_t kSize = (std::size_t{4} << 20) + 100;
  const std::uint64_t expected_size = file_size_of(kSize);
  for (const std::uint64_t size :
       {expected_size / 2, expected_size - 1, std::uint64_t{kHeaderSize}, expected_size + 4096}) {
    SCOPED_TRACE("file resized to " + std::to_string(size));
    TempDir dir;
    const auto path = dir / "pool";
    {
      auto pool = MmapFile::create(path, kSize, kUserVersion);
      testing::fill_splitmix64(pool.data(), 1);
      pool.flush();
      testing::fill_splitmix64(pool.data(), 2);
      set_file_size(path, size);
      const auto header_before = file_bytes(path);
      EXPECT_DATATIER_ERROR(pool.flush(), errc::size_mismatch);
      const auto header_after = file_bytes(path);
      ASSERT_GE(header_after.size(), kHeaderSize);
      EXPECT_TRUE(std::equal(header_before.begin(), header_before.begin() + kHeaderSize,
                             header_after.begin()))
          << "the failed flush() wrote a header";
      // The pool object is dropped without touching data().
    }
    EXPECT_EQ(verify_file(path, verify_options(kSize)).error, errc::size_mismatch);
  }
}

// ---------------------------------------------------------------------------
// Paths that are not pool files.

// A directory: open() and verify_file() report EISDIR, create() finds the
// name taken. A directory where FileBackedMemory's spare file goes fails
// open() and create() with EISDIR too, leaving the pool file as it was.
TYPED_TEST(HostileFile, PathThatIsADirectory) {
  using Pool = typename TestFixture::PoolType;
  const auto path = this->path();
  std::filesystem::create_directory(path);
  EXPECT_DATATIER_ERROR(Pool::open(path, 4096, kUserVersion), std::errc::is_a_directory);
  EXPECT_DATATIER_ERROR(Pool::create(path, 4096, kUserVersion), std::errc::file_exists);
  EXPECT_DATATIER_ERROR(verify_file(path), std::errc::is_a_directory);
  EXPECT_DATATIER_ERROR(read_header(path), std::errc::is_a_directory);
  EXPECT_TRUE(std::filesystem::is_directory(path));
}

TEST(HostileInput, FileBackedMemorySparePathThatIsADirectory) {
  TempDir dir;
  const auto path = dir / "pool";
  constexpr std::size_t kSize = 3 * 4096;
  make_pool<FileBackedMemory>(path, kSize, 6);
  std::filesystem::remove(FileBackedMemory::spare_path(path));
  std::filesystem::create_directory(FileBackedMemory::spare_path(path));
  const auto bytes = file_bytes(path);
  EXPECT_DATATIER_ERROR(FileBackedMemory::open(path, kSize, kUserVersion),
                        std::errc::is_a_directory);
  EXPECT_TRUE(file_bytes(path) == bytes) << "the failed open changed the pool file";

  const auto fresh = dir / "fresh";
  std::filesystem::create_directory(FileBackedMemory::spare_path(fresh));
  EXPECT_DATATIER_ERROR(FileBackedMemory::create(fresh, kSize, kUserVersion),
                        std::errc::is_a_directory);
  EXPECT_FALSE(std::filesystem::exists(fresh)) << "the failed create left its pool file";
  EXPECT_TRUE(std::filesystem::is_directory(FileBackedMemory::spare_path(fresh)));
}

// Anonymous memory that cannot be had: FileBackedMemory::create fails after
// making its files, while this is alive.
class NoAnonymousMemory {
 public:
  NoAnonymousMemory() { syscalls().mmap = refuse_anonymous; }
  NoAnonymousMemory(const NoAnonymousMemory&) = delete;
  NoAnonymousMemory& operator=(const NoAnonymousMemory&) = delete;
  ~NoAnonymousMemory() { syscalls().mmap = real_syscalls().mmap; }

 private:
  static void* refuse_anonymous(void* addr, std::size_t length, int prot, int flags, int fd,
                                off_t offset) {
    if ((flags & MAP_ANONYMOUS) != 0) {
      errno = ENOMEM;
      return MAP_FAILED;
    }
    return real_syscalls().mmap(addr, length, prot, flags, fd, offset);
  }
};

TEST(HostileInput, FileBackedMemoryFailedCreateRemovesOnlyTheFilesItMade) {
  TempDir dir;
  constexpr std::size_t kSize = 3 * 4096;
  const auto fresh = dir / "fresh";
  const auto leftover = dir / "leftover";
  std::ofstream(FileBackedMemory::spare_path(leftover)) << "someone's bytes";
  {
    const NoAnonymousMemory no_memory;
    EXPECT_DATATIER_ERROR(FileBackedMemory::create(fresh, kSize, kUserVersion),
                          std::errc::not_enough_memory);
    EXPECT_DATATIER_ERROR(FileBackedMemory::create(leftover, kSize, kUserVersion),
                          std::errc::not_enough_memory);
  }
  EXPECT_FALSE(std::filesystem::exists(fresh));
  EXPECT_FALSE(std::filesystem::exists(FileBackedMemory::spare_path(fresh)));
  EXPECT_FALSE(std::filesystem::exists(leftover));
  // A spare that was there before is the pool's size now, but still there.
  EXPECT_TRUE(std::filesystem::exists(FileBackedMemory::spare_path(leftover)));
}

// Whatever another program planted under the spare's name is never written
// through: a symbolic link (dangling or not) or a hard link to a victim loses
// only its name, the victim keeps its bytes, and the pool saves and reopens.
TEST(HostileInput, FileBackedMemoryNeverWritesThroughAPlantedSpare) {
  enum class Plant { dangling_link, link_to_victim, hard_link_to_victim, fifo };
  for (const Plant plant :
       {Plant::dangling_link, Plant::link_to_victim, Plant::hard_link_to_victim, Plant::fifo}) {
    SCOPED_TRACE(static_cast<int>(plant));
    for (const bool at_create : {true, false}) {
      SCOPED_TRACE(at_create ? "planted before create()" : "planted before open()");
      TempDir dir;
      const auto path = dir / "pool";
      const auto spare = FileBackedMemory::spare_path(path);
      const auto victim = dir / "victim";
      const std::vector<std::byte> victim_bytes(100, std::byte{0x5a});
      testing::write_file(victim, victim_bytes);
      if (!at_create) {
        make_pool<FileBackedMemory>(path, 8192, 1);
        std::filesystem::remove(spare);
      }
      switch (plant) {
        case Plant::dangling_link:
          std::filesystem::create_symlink(dir / "nowhere", spare);
          break;
        case Plant::link_to_victim:
          std::filesystem::create_symlink(victim, spare);
          break;
        case Plant::hard_link_to_victim:
          std::filesystem::create_hard_link(victim, spare);
          break;
        case Plant::fifo:
          ASSERT_EQ(::mkfifo(spare.c_str(), 0600), 0);
          break;
      }
      {
        auto pool = at_create ? FileBackedMemory::create(path, 8192, kUserVersion)
                              : FileBackedMemory::open(path, 8192, kUserVersion);
        testing::fill_splitmix64(pool.data(), 2);
        pool.flush();
        testing::fill_splitmix64(pool.data(), 3);
        pool.close();
      }
      EXPECT_EQ(testing::read_file(victim), victim_bytes) << "the victim was written";
      EXPECT_FALSE(std::filesystem::exists(dir / "nowhere")) << "the link's target was created";
      EXPECT_TRUE(std::filesystem::is_regular_file(std::filesystem::symlink_status(spare)));
      auto reopened = FileBackedMemory::open(path, 8192, kUserVersion);
      EXPECT_TRUE(holds(reopened.data(), 3));
    }
  }
}

// A spare that another program removed between saves is made again, and one
// it hard-linked elsewhere (a backup by `cp -l`) is replaced, so the other
// link keeps its snapshot.
TEST(HostileInput, FileBackedMemoryRemakesARemovedOrLinkedSpare) {
  TempDir dir;
  const auto path = dir / "pool";
  const auto spare = FileBackedMemory::spare_path(path);
  auto pool = FileBackedMemory::create(path, 8192, kUserVersion);
  testing::fill_splitmix64(pool.data(), 1);
  pool.flush();
  std::filesystem::remove(spare);
  testing::fill_splitmix64(pool.data(), 2);
  EXPECT_NO_THROW(pool.flush());
  EXPECT_TRUE(std::filesystem::exists(spare));
  std::filesystem::create_hard_link(spare, dir / "backup");
  const auto backup = testing::read_file(dir / "backup");
  testing::fill_splitmix64(pool.data(), 3);
  pool.flush();
  testing::fill_splitmix64(pool.data(), 4);
  pool.close();
  EXPECT_EQ(testing::read_file(dir / "backup"), backup) << "a save wrote through a hard link";
  auto reopened = FileBackedMemory::open(path, 8192, kUserVersion);
  EXPECT_TRUE(holds(reopened.data(), 4));
}

// Another file under the spare's name (rsync, a restored backup) stops the
// save with an error naming both files; it is never swapped in, and the pool
// file keeps the last snapshot.
TEST(HostileInput, FileBackedMemoryRefusesAForeignSpare) {
  TempDir dir;
  const auto path = dir / "pool";
  const auto spare = FileBackedMemory::spare_path(path);
  auto pool = FileBackedMemory::create(path, 8192, kUserVersion);
  testing::fill_splitmix64(pool.data(), 1);
  pool.flush();
  const std::vector<std::byte> foreign(8192 + 4096, std::byte{0x33});
  testing::write_file(dir / "foreign", foreign);
  std::filesystem::rename(dir / "foreign", spare);
  testing::fill_splitmix64(pool.data(), 2);
  try {
    pool.flush();
    ADD_FAILURE() << "flush() saved beside a foreign spare";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), errc::file_replaced) << e.what();
    EXPECT_NE(std::string(e.what()).find(spare.string()), std::string::npos) << e.what();
  }
  EXPECT_EQ(testing::read_file(spare), foreign);
  { const FileBackedMemory released = std::move(pool); }
  auto reopened = FileBackedMemory::open(path, 8192, kUserVersion);
  EXPECT_TRUE(holds(reopened.data(), 1));
}

// A save keeps the pool file's permission bits (and, for a superuser, its
// owner): the spare it swaps in takes them over.
TEST(HostileInput, FileBackedMemorySaveKeepsModeAndOwner) {
  TempDir dir;
  const auto path = dir / "pool";
  make_pool<FileBackedMemory>(path, 8192, 1);
  std::filesystem::permissions(path, std::filesystem::perms(0644));
  const bool root = ::geteuid() == 0;
  if (root) {
    ASSERT_EQ(::chown(path.c_str(), 65534, 65534), 0);
  }
  {
    auto pool = FileBackedMemory::open(path, 8192, kUserVersion);
    testing::fill_splitmix64(pool.data(), 2);
    pool.flush();
    pool.close();
  }
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u);
  if (root) {
    EXPECT_EQ(st.st_uid, 65534u);
    EXPECT_EQ(st.st_gid, 65534u);
  }
  ASSERT_EQ(::stat(FileBackedMemory::spare_path(path).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u);
}

// A device: not a regular file, std::errc::invalid_argument.
TYPED_TEST(HostileFile, PathThatIsADevice) {
  using Pool = typename TestFixture::PoolType;
  EXPECT_DATATIER_ERROR(Pool::open("/dev/null", 4096, kUserVersion), std::errc::invalid_argument);
  EXPECT_DATATIER_ERROR(verify_file("/dev/null"), std::errc::invalid_argument);
  EXPECT_DATATIER_ERROR(read_header("/dev/null"), std::errc::invalid_argument);
}

// A FIFO: not a regular file, std::errc::invalid_argument, without waiting
// for a writer (in a child, which SIGALRM ends if it hangs).
TYPED_TEST(HostileFile, PathThatIsAFifoFailsWithoutWaiting) {
  using Pool = typename TestFixture::PoolType;
  const auto path = this->path();
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0) << std::strerror(errno);
  const auto outcome = run_in_child([&](ChildChecks& checks) {
    constexpr auto kInvalid = std::errc::invalid_argument;
    checks.expect_error([&] { Pool::open(path, 4096, kUserVersion); }, kInvalid, "open");
    checks.expect_error([&] { verify_file(path); }, kInvalid, "verify_file");
    checks.expect_error([&] { read_header(path); }, kInvalid, "read_header");
  });
  EXPECT_CHILD_PASSED(outcome);
}

// Pool files the caller may not read or write, and a directory it may not
// write in: std::errc::permission_denied from open(), create(),
// verify_file() and read_header(). Root bypasses permission bits, so as root
// the checks run in a child that has become nobody (uid and gid 65534).
TYPED_TEST(HostileFile, FileWithoutPermission) {
  using Pool = typename TestFixture::PoolType;
  constexpr std::size_t kSize = 2 * 4096;
  const std::filesystem::path& dir = this->dir_.path();
  const auto path = this->path();
  make_pool<Pool>(path, kSize, 7);
  const auto locked = dir / "locked";
  std::filesystem::create_directory(locked);
  namespace fs = std::filesystem;
  fs::permissions(dir, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                           fs::perms::others_read | fs::perms::others_exec);
  fs::permissions(locked, fs::perms::owner_read | fs::perms::owner_exec | fs::perms::group_read |
                              fs::perms::group_exec | fs::perms::others_read |
                              fs::perms::others_exec);
  fs::permissions(path, fs::perms::none);
  if (fs::exists(FileBackedMemory::spare_path(path))) {
    fs::permissions(FileBackedMemory::spare_path(path), fs::perms::none);
  }
  const auto bytes = file_bytes(path);

  const auto outcome = run_in_child([&](ChildChecks& checks) {
    if (::geteuid() == 0) {
      constexpr uid_t kNobody = 65534;
      if (::setgroups(0, nullptr) != 0 || ::setresgid(kNobody, kNobody, kNobody) != 0 ||
          ::setresuid(kNobody, kNobody, kNobody) != 0) {
        throw Skip{std::string("cannot become uid/gid 65534 to drop root's permission bypass: ") +
                   std::strerror(errno)};
      }
    }
    constexpr auto kDenied = std::errc::permission_denied;
    checks.expect_error([&] { Pool::open(path, kSize, kUserVersion); }, kDenied, "open");
    checks.expect_error([&] { Pool::create(locked / "new", kSize, kUserVersion); }, kDenied,
                        "create in a directory without write permission");
    checks.expect_error([&] { verify_file(path); }, kDenied, "verify_file");
    checks.expect_error([&] { read_header(path); }, kDenied, "read_header");
    checks.expect(!std::filesystem::exists(locked / "new"), "a failed create left a file");
  });
  fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_CHILD_PASSED(outcome);
  EXPECT_TRUE(file_bytes(path) == bytes) << "a failed call changed the file";
}

// Files that are not pools: empty, one byte, short text, and text or random
// bytes of exactly a pool's size. Each the exact error from open(), and the
// same verdict from verify_file(); a failed open() creates no spare file and
// changes nothing.
TYPED_TEST(HostileFile, FileThatIsNotAPool) {
  using Pool = typename TestFixture::PoolType;
  constexpr std::size_t kSize = 4096;
  const auto path = this->path();
  const auto spare = FileBackedMemory::spare_path(path);

  std::string text;
  while (text.size() < file_size_of(kSize)) text += "This is a text file, not a pool file.\n";
  text.resize(file_size_of(kSize));
  const auto as_bytes = [](const std::string& s) {
    std::vector<std::byte> out(s.size());
    std::memcpy(out.data(), s.data(), s.size());
    return out;
  };

  std::vector<std::byte> overflowing;
  {
    const TempDir elsewhere;
    make_pool<Pool>(elsewhere / "pool", kSize, 10);
    overflowing = file_bytes(elsewhere / "pool");
    std::fill_n(overflowing.begin() + 88, 8, std::byte{0xff});  // data_size (docs/format.md)
  }

  struct Case {
    const char* name;
    std::vector<std::byte> bytes;
    errc expected;          // from open() and verify_file() told the data size
    errc expected_default;  // from verify_file() with the data size left to the file
  };
  const std::vector<Case> cases = {
      {"empty file", {}, errc::size_mismatch, errc::size_mismatch},
      {"one byte", {std::byte{'P'}}, errc::size_mismatch, errc::size_mismatch},
      {"short text", as_bytes("not a pool\n"), errc::size_mismatch, errc::size_mismatch},
      // Left to the file, the data size is 0, whose pool file is a header alone.
      {"header-sized text", as_bytes(text.substr(0, kHeaderSize)), errc::size_mismatch,
       errc::bad_magic},
      // verify_file() takes no data size from a header without the magic.
      {"text of a pool's size", as_bytes(text), errc::bad_magic, errc::bad_magic},
      {"random bytes of a pool's size", testing::splitmix64_bytes(file_size_of(kSize), 8),
       errc::bad_magic, errc::bad_magic},
      // Not a whole number of pages: no pool file has this size.
      {"random bytes of a large size", testing::splitmix64_bytes(file_size_of(kSize) * 64 + 17, 9),
       errc::size_mismatch, errc::size_mismatch},
      // A pool header recording a data size no file can hold.
      {"a pool whose recorded data size overflows", overflowing, errc::size_mismatch,
       errc::size_mismatch},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    testing::write_file(path, c.bytes);
    EXPECT_DATATIER_ERROR(Pool::open(path, kSize, kUserVersion), c.expected);
    FileOptions accept;
    accept.accept_unclean = true;
    EXPECT_DATATIER_ERROR(Pool::open(path, kSize, kUserVersion, accept), c.expected);
    EXPECT_EQ(verify_file(path, verify_options(kSize)).error, c.expected);
    EXPECT_EQ(verify_file(path).error, c.expected_default);
    if (c.bytes.size() < kHeaderSize) {
      EXPECT_DATATIER_ERROR(read_header(path), errc::size_mismatch);
    }
    EXPECT_TRUE(file_bytes(path) == c.bytes) << "a failed open changed the file";
    EXPECT_FALSE(std::filesystem::exists(spare)) << "a failed open made a spare file";
  }
}

}  // namespace
}  // namespace datatier
