// Handing a FileBackedMemory to another process: the successor goes on where
// the predecessor stopped; every failure (a refused pool, a successor that
// dies, another user, a timeout, a failed system call on either side)
// leaves exactly one owner, the predecessor, with a usable pool.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "child_process.h"
#include "datatier/datatier.h"
#include "handoff_state.h"
#include "platform/syscalls.h"
#include "process_state.h"
#include "temp_dir.h"
#include "test_util.h"

namespace datatier {
namespace {

using namespace std::chrono_literals;
using platform::real_syscalls;
using platform::syscalls;
using testing::RestoreSyscalls;
using testing::spawn;
using testing::wait_for;

constexpr std::size_t kSize = std::size_t{1} << 20;
constexpr std::uint64_t kUserVersion = 7;
constexpr std::size_t kBlock = 64 << 10;

// Options for a shareable pool saved by marks, in small blocks.
FileOptions shareable() {
  FileOptions options;
  options.memory.shareable = true;
  options.changes = Changes::marked;
  options.block_size = kBlock;
  options.threads = 2;
  options.take_over_timeout = 5s;
  return options;
}

// 0 when `call` throws datatier::Error with `expected`, else 1 (printed).
template <typename Code>
int fails_with(const std::function<void()>& call, Code expected) {
  try {
    call();
  } catch (const Error& e) {
    if (e.code() == expected) return 0;
    std::fprintf(stderr, "child: unexpected error: %s\n", e.what());
    return 1;
  }
  std::fprintf(stderr, "child: no error\n");
  return 1;
}

// A pool of the test's options filled with the stream of `seed`, saved
// twice: then both files have block indexes and saves are incremental.
FileBackedMemory saved_pool(const std::filesystem::path& path, std::uint64_t seed,
                            const FileOptions& options = shareable()) {
  auto pool = FileBackedMemory::create(path, kSize, kUserVersion, options);
  testing::fill_splitmix64(pool.data(), seed);
  pool.user_area()[0] = std::byte{0x5a};
  pool.flush();
  pool.flush();
  return pool;
}

// What the successor in the first tests does: takes over, checks what it
// got, changes one block, saves, counting what the save hashes and writes,
// and closes. Returns 0 when all is as it should be.
int take_over_and_change(const std::filesystem::path& socket, bool verify) {
  FileOptions options = shareable();
  options.verify_on_take_over = verify;
  std::uint64_t save_total = 0;
  options.progress = [&](std::uint64_t, std::uint64_t total) {
    save_total = total;
    return true;
  };
  auto pool = FileBackedMemory::take_over(socket, kSize, kUserVersion, options);
  if (!testing::holds_splitmix64(pool.data(), 1)) return 2;
  if (pool.user_area()[0] != std::byte{0x5a}) return 3;
  if (!pool.placement().shared) return 4;
  pool.data()[3 * kBlock + 5] = std::byte{0xee};
  pool.mark_dirty(3 * kBlock + 5, 1);
  pool.user_area()[1] = std::byte{0xa5};
  pool.flush();
  // Incremental: the first block (which holds the header) and the changed
  // one hashed and written, nothing else.
  if (save_total > 4 * kBlock) {
    std::fprintf(stderr, "child: the save after taking over counted %llu bytes\n",
                 static_cast<unsigned long long>(save_total));
    return 5;
  }
  pool.close();
  return 0;
}

void expect_changed_by_successor(const std::filesystem::path& path) {
  const auto reopened = FileBackedMemory::open(path, kSize, kUserVersion, shareable());
  auto expected = testing::splitmix64_bytes(kSize, 1);
  expected[3 * kBlock + 5] = std::byte{0xee};
  EXPECT_TRUE(std::ranges::equal(reopened.data(), expected));
  EXPECT_EQ(reopened.user_area()[0], std::byte{0x5a});
  EXPECT_EQ(reopened.user_area()[1], std::byte{0xa5});
}

TEST(HandOff, TheSuccessorGoesOnWhereThePredecessorStoppedAndSavesIncrementally) {
  for (const bool verify : {false, true}) {
    SCOPED_TRACE(verify ? "verified" : "not verified");
    testing::TempDir dir;
    const auto socket = dir / "socket";
    const pid_t child = spawn([&] { return take_over_and_change(socket, verify); });
    auto pool = saved_pool(dir / "pool", 1);
    pool.hand_off(socket, 5s);
    EXPECT_TRUE(pool.data().empty());
    EXPECT_TRUE(pool.path().empty());
    EXPECT_DATATIER_ERROR(pool.flush(), std::errc::bad_file_descriptor);
    EXPECT_FALSE(std::filesystem::exists(socket));
    EXPECT_EQ(wait_for(child), 0);
    expect_changed_by_successor(dir / "pool");
  }
}

TEST(HandOff, UnsavedMarkedChangesAndTheUserAreaAreSavedBeforeTheHandOff) {
  testing::TempDir dir;
  const auto socket = dir / "socket";
  const pid_t child = spawn([&] {
    FileOptions options = shareable();
    options.verify_on_take_over = true;
    auto pool = FileBackedMemory::take_over(socket, kSize, kUserVersion, options);
    const bool ok =
        testing::holds_splitmix64(pool.data(), 2) && pool.user_area()[0] == std::byte{0x11};
    // Verified: memory and snapshot agree. The successor just lets go.
    pool.close();
    return ok ? 0 : 2;
  });
  auto pool = saved_pool(dir / "pool", 1);
  testing::fill_splitmix64(pool.data(), 2);
  pool.mark_dirty(0, kSize);
  pool.user_area()[0] = std::byte{0x11};
  pool.hand_off(socket, 5s);
  EXPECT_EQ(wait_for(child), 0);
}

TEST(HandOff, APoolThatComparesIsSavedBeforeItIsHandedOff) {
  testing::TempDir dir;
  const auto socket = dir / "socket";
  FileOptions options = shareable();
  options.changes = Changes::compare;
  options.verify_on_take_over = true;
  const pid_t child = spawn([&] {
    auto pool = FileBackedMemory::take_over(socket, kSize, kUserVersion, options);
    return pool.data()[kSize - 1] == std::byte{0x77} ? 0 : 2;
  });
  auto pool = saved_pool(dir / "pool", 1, options);
  pool.data()[kSize - 1] = std::byte{0x77};  // not marked: found by comparing
  pool.hand_off(socket, 5s);
  EXPECT_EQ(wait_for(child), 0);
}

TEST(HandOff, AJustCreatedPoolIsSavedBeforeItIsHandedOff) {
  testing::TempDir dir;
  const auto socket = dir / "socket";
  const pid_t child = spawn([&] {
    FileOptions options = shareable();
    options.verify_on_take_over = true;
    auto pool = FileBackedMemory::take_over(socket, kSize, kUserVersion, options);
    return testing::holds_splitmix64(pool.data(), 3) ? 0 : 2;
  });
  auto pool = FileBackedMemory::create(dir / "pool", kSize, kUserVersion, shareable());
  testing::fill_splitmix64(pool.data(), 3);
  pool.hand_off(socket, 5s);
  EXPECT_EQ(wait_for(child), 0);
}

TEST(HandOff, ASuccessorExpectingAnotherSizeOrUserVersionGetsOpensErrorAndThePoolStays) {
  testing::TempDir dir;
  const auto socket = dir / "socket";
  auto pool = saved_pool(dir / "pool", 1);
  struct Case {
    std::size_t size;
    std::uint64_t user_version;
    errc expected;
  };
  for (const Case c : {Case{2 * kSize, kUserVersion, errc::size_mismatch},
                       Case{kSize + 1, kUserVersion, errc::size_mismatch},
                       Case{kSize, kUserVersion + 1, errc::user_version_mismatch}}) {
    const pid_t child = spawn([&] {
      return fails_with(
          [&] { FileBackedMemory::take_over(socket, c.size, c.user_version, shareable()); },
          c.expected);
    });
    try {
      pool.hand_off(socket, 5s);
      ADD_FAILURE() << "hand_off did not throw";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), std::errc::connection_refused) << e.what();
      EXPECT_NE(std::string(e.what()).find("still held"), std::string::npos) << e.what();
    }
    EXPECT_EQ(wait_for(child), 0);
    EXPECT_TRUE(testing::holds_splitmix64(pool.data(), 1));
    pool.flush();
  }
  // And a successor that expects the right pool then gets it.
  const pid_t child = spawn([&] { return take_over_and_change(socket, true); });
  pool.hand_off(socket, 5s);
  EXPECT_EQ(wait_for(child), 0);
  expect_changed_by_successor(dir / "pool");
}

TEST(HandOff, ASuccessorKilledMidHandOffLeavesThePoolWithItsOwner) {
  testing::TempDir dir;
  const auto socket = dir / "socket";
  const pid_t child = spawn([&] {
    // Dies as it would answer: after it received the offer.
    syscalls().sendmsg = [](int, const msghdr*, int) -> ssize_t {
      ::raise(SIGKILL);
      return -1;
    };
    FileBackedMemory::take_over(socket, kSize, kUserVersion, shareable());
    return 1;
  });
  auto pool = saved_pool(dir / "pool", 1);
  EXPECT_DATATIER_ERROR(pool.hand_off(socket, 5s), std::errc::connection_reset);
  EXPECT_EQ(wait_for(child), 128 + SIGKILL);
  testing::fill_splitmix64(pool.data(), 4);
  pool.mark_dirty(0, kSize);
  pool.close();
  const auto reopened = FileBackedMemory::open(dir / "pool", kSize, kUserVersion, shareable());
  EXPECT_TRUE(testing::holds_splitmix64(reopened.data(), 4));
}

TEST(HandOff, ASuccessorThatConnectsAndDiesLeavesThePoolWithItsOwner) {
  testing::TempDir dir;
  const auto socket = dir / "socket";
  const pid_t child = spawn([&] {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::snprintf(address.sun_path, sizeof address.sun_path, "%s", socket.c_str());
    while (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
      ::usleep(1000);
    }
    ::raise(SIGKILL);
    return 1;
  });
  auto pool = saved_pool(dir / "pool", 1);
  EXPECT_DATATIER_ERROR(pool.hand_off(socket, 5s), std::errc::connection_reset);
  EXPECT_EQ(wait_for(child), 128 + SIGKILL);
  pool.flush();
}

TEST(HandOff, AnotherUserCannotReachTheSocket) {
  testing::TempDir dir;
  const auto socket = dir / "socket";
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to become another user";
  const pid_t child = spawn([&] {
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) return 3;
    FileOptions options = shareable();
    options.take_over_timeout = 3s;
    return fails_with([&] { FileBackedMemory::take_over(socket, kSize, kUserVersion, options); },
                      std::errc::permission_denied);
  });
  auto pool = saved_pool(dir / "pool", 1);
  EXPECT_DATATIER_ERROR(pool.hand_off(socket, 1s), std::errc::timed_out);
  EXPECT_EQ(wait_for(child), 0);
  pool.flush();
}

// getsockopt(2) reporting every peer as user 65534.
int peer_is_a_stranger(int fd, int level, int name, void* value, socklen_t* length) {
  const int rc = real_syscalls().getsockopt(fd, level, name, value, length);
  if (rc == 0 && level == SOL_SOCKET && name == SO_PEERCRED) {
    static_cast<ucred*>(value)->uid = 65534;
  }
  return rc;
}

TEST(HandOff, ThePredecessorRefusesAPeerOfAnotherUserAndWaitsOn) {
  testing::TempDir dir;
  const auto socket = dir / "socket";
  const pid_t stranger = spawn([&] {
    return fails_with(
        [&] { FileBackedMemory::take_over(socket, kSize, kUserVersion, shareable()); },
        std::errc::permission_denied);
  });
  RestoreSyscalls restore;
  syscalls().getsockopt = peer_is_a_stranger;
  auto pool = saved_pool(dir / "pool", 1);
  EXPECT_DATATIER_ERROR(pool.hand_off(socket, 1s), std::errc::timed_out);
  EXPECT_EQ(wait_for(stranger), 0);
  pool.flush();
}

TEST(HandOff, TheSuccessorRefusesAPredecessorOfAnotherUser) {
  testing::TempDir dir;
  const auto socket = dir / "socket";
  const pid_t child = spawn([&] {
    syscalls().getsockopt = peer_is_a_stranger;
    return fails_with(
        [&] { FileBackedMemory::take_over(socket, kSize, kUserVersion, shareable()); },
        std::errc::permission_denied);
  });
  auto pool = saved_pool(dir / "pool", 1);
  EXPECT_DATATIER_ERROR(pool.hand_off(socket, 5s), std::errc::connection_reset);
  EXPECT_EQ(wait_for(child), 0);
  pool.flush();
}

// A pipe between the test and its child, one byte at a time.
class Signal {
 public:
  Signal() {
    if (::pipe(fds_) != 0) throw std::system_error(errno, std::system_category(), "pipe");
  }
  ~Signal() {
    ::close(fds_[0]);
    ::close(fds_[1]);
  }
  void send() const { EXPECT_EQ(::write(fds_[1], "x", 1), 1); }
  bool wait() const {
    char c = 0;
    return ::read(fds_[0], &c, 1) == 1;
  }

 private:
  int fds_[2] = {-1, -1};
};

TEST(HandOff, TheLockMovesWithThePool) {
  testing::TempDir dir;
  const auto socket = dir / "socket";
  Signal holding;
  Signal done;
  const pid_t child = spawn([&] {
    auto pool = FileBackedMemory::take_over(socket, kSize, kUserVersion, shareable());
    holding.send();
    done.wait();
    pool.close();
    return 0;
  });
  auto pool = saved_pool(dir / "pool", 1);
  pool.hand_off(socket, 5s);
  ASSERT_TRUE(holding.wait());
  EXPECT_DATATIER_ERROR(FileBackedMemory::open(dir / "pool", kSize, kUserVersion, shareable()),
                        errc::pool_in_use);
  done.send();
  EXPECT_EQ(wait_for(child), 0);
  const auto reopened = FileBackedMemory::open(dir / "pool", kSize, kUserVersion, shareable());
  EXPECT_TRUE(testing::holds_splitmix64(reopened.data(), 1));
}

TEST(HandOff, PrivateMemoryCannotBeHandedOff) {
  testing::TempDir dir;
  FileOptions options = shareable();
  options.memory.shareable = false;
  auto pool = saved_pool(dir / "pool", 1, options);
  EXPECT_DATATIER_ERROR(pool.hand_off(dir / "socket", 1s), std::errc::operation_not_supported);
  EXPECT_DATATIER_ERROR(pool.release(), std::errc::operation_not_supported);
  EXPECT_FALSE(std::filesystem::exists(dir / "socket"));
  pool.flush();
}

TEST(HandOff, WithoutASuccessorTheHandOffTimesOutAndThePoolStays) {
  testing::TempDir dir;
  auto pool = saved_pool(dir / "pool", 1);
  pool.data()[10] = std::byte{1};
  pool.mark_dirty(10, 1);
  EXPECT_DATATIER_ERROR(pool.hand_off(dir / "socket", 50ms), std::errc::timed_out);
  EXPECT_FALSE(std::filesystem::exists(dir / "socket"));
  pool.close();
  const auto reopened = FileBackedMemory::open(dir / "pool", kSize, kUserVersion, shareable());
  EXPECT_EQ(reopened.data()[10], std::byte{1});
}

TEST(HandOff, WithoutAPredecessorTakeOverTimesOut) {
  testing::TempDir dir;
  FileOptions options = shareable();
  options.take_over_timeout = 50ms;
  EXPECT_DATATIER_ERROR(FileBackedMemory::take_over(dir / "socket", kSize, kUserVersion, options),
                        std::errc::timed_out);
}

TEST(HandOff, ReleasedDescriptorsAreAdoptedAfterAFailedAdoption) {
  testing::TempDir dir;
  auto pool = saved_pool(dir / "pool", 1);
  pool.data()[7] = std::byte{9};
  pool.mark_dirty(7, 1);
  HandOff handed = pool.release();
  EXPECT_TRUE(pool.data().empty());
  EXPECT_EQ(handed.fds().size(), 4u);
  EXPECT_DATATIER_ERROR(FileBackedMemory::open(dir / "pool", kSize, kUserVersion, shareable()),
                        errc::pool_in_use);
  EXPECT_DATATIER_ERROR(FileBackedMemory::adopt(std::move(handed), kSize, 1, shareable()),
                        errc::user_version_mismatch);
  EXPECT_FALSE(handed.empty());
  auto adopted = FileBackedMemory::adopt(std::move(handed), kSize, kUserVersion, shareable());
  EXPECT_TRUE(handed.empty());
  EXPECT_EQ(adopted.data()[7], std::byte{9});
  adopted.close();
  const auto reopened = FileBackedMemory::open(dir / "pool", kSize, kUserVersion, shareable());
  EXPECT_EQ(reopened.data()[7], std::byte{9});
}

TEST(HandOff, ADroppedHandOffLeavesTheSnapshotItStartedFrom) {
  testing::TempDir dir;
  {
    auto pool = saved_pool(dir / "pool", 1);
    testing::fill_splitmix64(pool.data(), 2);
    pool.mark_dirty(0, kSize);
    const HandOff dropped = pool.release();
  }
  const auto reopened = FileBackedMemory::open(dir / "pool", kSize, kUserVersion, shareable());
  EXPECT_TRUE(testing::holds_splitmix64(reopened.data(), 2));
}

// ---------------------------------------------------------------------------
// Fault injection: each system call of hand_off() and of take_over() made to
// fail (EIO) or be interrupted (EINTR), one call position at a time, in one
// process while the other runs normally. Whatever the position, exactly one
// process ends up owning the pool: the successor (its take_over() returned)
// when and only when hand_off() returned; otherwise the predecessor, whose
// pool still saves, with no descriptor left behind.

struct Injection {
  int error = EIO;
  long target = -1;  // the call position to fail, counted from arming
  long calls = 0;
  bool fired = false;
};

Injection injection;

// Whether this call is the one to fail; sets errno if so.
bool inject() {
  if (injection.target < 0 || injection.calls++ != injection.target) return false;
  injection.fired = true;
  errno = injection.error;
  return true;
}

void arm_injection(int error, long target) {
  injection = {error, target, 0, false};
  syscalls().socket = [](int d, int t, int p) {
    return inject() ? -1 : real_syscalls().socket(d, t, p);
  };
  syscalls().bind = [](int fd, const sockaddr* a, socklen_t l) {
    return inject() ? -1 : real_syscalls().bind(fd, a, l);
  };
  syscalls().listen = [](int fd, int b) { return inject() ? -1 : real_syscalls().listen(fd, b); };
  syscalls().accept4 = [](int fd, sockaddr* a, socklen_t* l, int f) {
    return inject() ? -1 : real_syscalls().accept4(fd, a, l, f);
  };
  syscalls().connect = [](int fd, const sockaddr* a, socklen_t l) {
    return inject() ? -1 : real_syscalls().connect(fd, a, l);
  };
  syscalls().sendmsg = [](int fd, const msghdr* m, int f) -> ssize_t {
    return inject() ? -1 : real_syscalls().sendmsg(fd, m, f);
  };
  syscalls().recvmsg = [](int fd, msghdr* m, int f) -> ssize_t {
    return inject() ? -1 : real_syscalls().recvmsg(fd, m, f);
  };
  syscalls().getsockopt = [](int fd, int level, int name, void* v, socklen_t* l) {
    return inject() ? -1 : real_syscalls().getsockopt(fd, level, name, v, l);
  };
  syscalls().poll = [](pollfd* fds, nfds_t n, int ms) {
    return inject() ? -1 : real_syscalls().poll(fds, n, ms);
  };
  syscalls().fchmod = [](int fd, mode_t m) {
    return inject() ? -1 : real_syscalls().fchmod(fd, m);
  };
  syscalls().fstatat = [](int d, const char* p, struct stat* st, int f) {
    return inject() ? -1 : real_syscalls().fstatat(d, p, st, f);
  };
  syscalls().fstat = [](int fd, struct stat* st) {
    return inject() ? -1 : real_syscalls().fstat(fd, st);
  };
  syscalls().fcntl = [](int fd, int cmd, int arg) {
    return inject() ? -1 : real_syscalls().fcntl(fd, cmd, arg);
  };
  syscalls().mmap = [](void* a, std::size_t l, int p, int f, int fd, off_t o) {
    return inject() ? MAP_FAILED : real_syscalls().mmap(a, l, p, f, fd, o);
  };
}

// Exit statuses of a successor in the sweep.
constexpr int kTookOver = 0;
constexpr int kFailed = 1;
// Failed after it accepted: it cannot know whether the predecessor let go.
constexpr int kFailedUncommitted = 2;
constexpr int kNotFired = 10;  // added when the fault was armed but never hit

// A successor: waits for the socket, arms `error` at `target` (none for -1),
// takes over, and closes the pool when it got it.
int successor(const std::filesystem::path& socket, int error, long target) {
  // A predecessor that failed before it listened makes no socket.
  for (int waited = 0; !std::filesystem::exists(socket) && waited < 500; ++waited) ::usleep(1000);
  FileOptions options = shareable();
  options.verify_on_take_over = true;
  options.take_over_timeout = 1s;
  int status = kFailed;
  try {
    arm_injection(error, target);
    auto pool = FileBackedMemory::take_over(socket, kSize, kUserVersion, options);
    syscalls() = real_syscalls();
    status = testing::holds_splitmix64(pool.data(), 1) ? kTookOver : 20;
    pool.close();
  } catch (const Error& e) {
    syscalls() = real_syscalls();
    if (std::string(e.what()).find("not committed") != std::string::npos) {
      status = kFailedUncommitted;
    }
  }
  return status + (target >= 0 && !injection.fired ? kNotFired : 0);
}

// One hand-off with the fault in the predecessor (`in_successor` false) or
// the successor. Returns whether the fault fired.
bool hand_off_with_fault(bool in_successor, int error, long target) {
  testing::TempDir dir;
  const auto socket = dir / "socket";
  const pid_t child = spawn([&] { return successor(socket, error, in_successor ? target : -1); });
  auto pool = saved_pool(dir / "pool", 1);
  const std::size_t descriptors = testing::open_descriptors();
  bool handed = false;
  {
    RestoreSyscalls restore;
    if (!in_successor) arm_injection(error, target);
    try {
      pool.hand_off(socket, 1s);
      handed = true;
    } catch (const Error& e) {
      syscalls() = real_syscalls();
      if (!in_successor && injection.fired) {
        EXPECT_EQ(e.code().value(), error) << e.what();
      }
    }
  }
  const bool fired_here = !in_successor && injection.fired;
  const int status = wait_for(child);
  const bool fired = in_successor ? status < kNotFired : fired_here;
  const int outcome = status % kNotFired;
  // One owner: the successor exactly when the predecessor let go; except
  // that a successor whose own call fails between its acceptance and the
  // predecessor's word that it let go cannot keep the pool (it may not have
  // been let go), and leaves none: the pool file's snapshot is what
  // remains, as after a crash of its owner.
  if (handed) {
    EXPECT_TRUE(outcome == kTookOver || (in_successor && outcome == kFailedUncommitted))
        << "status " << status;
  } else {
    EXPECT_TRUE(outcome == kFailed || outcome == kFailedUncommitted) << "status " << status;
  }
  if (!handed) {
    EXPECT_EQ(testing::open_descriptors(), descriptors);
    EXPECT_TRUE(testing::holds_splitmix64(pool.data(), 1));
    pool.flush();
    pool.close();
  }
  const auto reopened = FileBackedMemory::open(dir / "pool", kSize, kUserVersion, shareable());
  EXPECT_TRUE(testing::holds_splitmix64(reopened.data(), 1));
  return fired;
}

TEST(HandOffFaults, EveryFailedCallOfEitherSideLeavesExactlyOneOwner) {
  for (const bool in_successor : {false, true}) {
    long positions = 0;
    for (long target = 0; target < 100; ++target) {
      SCOPED_TRACE((in_successor ? "successor, call " : "predecessor, call ") +
                   std::to_string(target));
      if (!hand_off_with_fault(in_successor, EIO, target)) break;
      ++positions;
    }
    EXPECT_GT(positions, 5);
    std::printf("%s: %ld call positions failed in turn\n", in_successor ? "take_over" : "hand_off",
                positions);
  }
}

// ---------------------------------------------------------------------------
// The state descriptor's encoding.

detail::HandOffState sample_state() {
  detail::HandOffState state;
  state.data_size = 12345;
  state.user_version = 99;
  state.block_bytes = 4096;
  state.descriptors = 4;
  state.spare = true;
  state.spare_index_file = true;
  state.placement.page_size = PageSize::small;
  state.placement.threads = 3;
  state.directory = "/some/dir";
  state.name = "pool";
  state.header[100] = std::byte{7};
  state.user_area[5] = std::byte{8};
  state.dirty_blocks = {1, 4};
  return state;
}

TEST(HandOffState, RoundTrips) {
  const auto bytes = detail::encode_state(sample_state());
  const detail::HandOffState back = detail::decode_state(bytes);
  EXPECT_EQ(back.data_size, 12345u);
  EXPECT_EQ(back.user_version, 99u);
  EXPECT_EQ(back.descriptors, 4u);
  EXPECT_TRUE(back.spare);
  EXPECT_FALSE(back.spare_suspect);
  EXPECT_EQ(back.placement.page_size, PageSize::small);
  EXPECT_EQ(back.placement.threads, 3u);
  EXPECT_EQ(back.directory, "/some/dir");
  EXPECT_EQ(back.name, "pool");
  EXPECT_EQ(back.header[100], std::byte{7});
  EXPECT_EQ(back.user_area[5], std::byte{8});
  EXPECT_TRUE(back.spare_index_file);
  EXPECT_EQ(back.dirty_blocks, (std::vector<std::uint64_t>{1, 4}));
}

TEST(HandOffState, EveryTruncationAndAnExtraByteAreMalformed) {
  auto bytes = detail::encode_state(sample_state());
  for (std::size_t n = 8; n < bytes.size(); ++n) {
    EXPECT_DATATIER_ERROR(detail::decode_state(std::span(bytes).first(n)), std::errc::bad_message);
  }
  bytes.push_back(std::byte{0});
  EXPECT_DATATIER_ERROR(detail::decode_state(bytes), std::errc::bad_message);
  // Unknown flags and reserved fields set are malformed too.
  for (const std::size_t at : {std::size_t{13}, std::size_t{40}, std::size_t{84}}) {
    SCOPED_TRACE(at);
    auto changed = detail::encode_state(sample_state());
    changed[at] |= std::byte{0x40};
    EXPECT_DATATIER_ERROR(detail::decode_state(changed), std::errc::bad_message);
  }
}

TEST(HandOffState, AnotherMagicOrVersionIsRefusedWithOpensErrors) {
  auto bytes = detail::encode_state(sample_state());
  bytes[8] = std::byte{2};
  EXPECT_DATATIER_ERROR(detail::decode_state(bytes), errc::incompatible_version);
  bytes[0] = std::byte{'X'};
  EXPECT_DATATIER_ERROR(detail::decode_state(bytes), errc::bad_magic);
  auto frame = detail::encode_frame({.kind = detail::FrameKind::accept});
  EXPECT_EQ(detail::decode_frame(frame).kind, detail::FrameKind::accept);
  frame[12] = std::byte{9};
  EXPECT_DATATIER_ERROR(detail::decode_frame(frame), std::errc::bad_message);
}

}  // namespace
}  // namespace datatier
