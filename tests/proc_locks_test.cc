// errc::pool_in_use names the process holding the lock, as /proc/locks tells.
#include <gtest/gtest.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "datatier/datatier.h"
#include "platform/proc_locks.h"
#include "temp_dir.h"

namespace datatier {
namespace {

// The message of the datatier::Error that `call` throws; "" if none.
template <typename Call>
std::string error_message(Call call) {
  try {
    call();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), errc::pool_in_use) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return "";
}

std::string this_process() {
  return "(locked by this process, " + std::to_string(::getpid()) + ")";
}

TEST(LockHolders, ProcLocksGivesTheProcessesHoldingFlockLocksOnTheFile) {
  const platform::FileId id{makedev(0xfe, 0x01), 10953558};
  const std::string text =
      "1: FLOCK  ADVISORY  WRITE 5112 fe:01:10953558 0 EOF\n"
      "1: -> FLOCK  ADVISORY  WRITE 6000 fe:01:10953558 0 EOF\n"  // waiting
      "2: FLOCK  ADVISORY  READ 77 fe:01:10953559 0 EOF\n"        // another inode
      "3: POSIX  ADVISORY  WRITE 78 fe:01:10953558 0 EOF\n"       // not flock
      "4: FLOCK  ADVISORY  READ 79 fe:02:10953558 0 EOF\n"        // another device
      "5: OFDLCK ADVISORY  WRITE -1 fe:01:10953558 0 EOF\n"
      "6: FLOCK  ADVISORY  READ 81 fe:01:10953558 0 EOF\n"
      "7: FLOCK  ADVISORY  READ 5112 fe:01:10953558 0 EOF\n"  // listed again
      "garbage\n"
      "8: FLOCK  ADVISORY  READ 82 fe:01:10953558 0 EOF";  // no final newline
  EXPECT_EQ(platform::flock_holders(text, id), (std::vector<int>{5112, 81, 82}));
  EXPECT_TRUE(platform::flock_holders("", id).empty());
}

TEST(LockHolders, PoolInUseNamesThisProcessWhenItHoldsThePool) {
  testing::TempDir dir;
  const auto path = dir / "pool";
  auto held = MmapFile::create(path, 4096, 1);
  EXPECT_NE(error_message([&] { MmapFile::open(path, 4096, 1); }).find(this_process()),
            std::string::npos);
  EXPECT_NE(error_message([&] { FileBackedMemory::open(path, 4096, 1); }).find(this_process()),
            std::string::npos);
  EXPECT_NE(error_message([&] { remove_pool(path); }).find(this_process()), std::string::npos);
  const VerifyReport report = verify_file(path);
  EXPECT_EQ(report.error, errc::pool_in_use);
  EXPECT_NE(report.message.find(this_process()), std::string::npos) << report.message;
  held.close();
}

TEST(LockHolders, PoolInUseNamesTheOtherProcessHoldingThePool) {
  testing::TempDir dir;
  const auto path = dir / "pool";
  FileBackedMemory::create(path, 4096, 1).close();
  int ready[2];
  int done[2];
  ASSERT_EQ(::pipe(ready), 0);
  ASSERT_EQ(::pipe(done), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // Holds the pool until the parent closes its end of `done`.
    ::close(ready[0]);
    ::close(done[1]);
    auto pool = FileBackedMemory::open(path, 4096, 1);
    char c = 'r';
    if (::write(ready[1], &c, 1) != 1) ::_exit(2);
    while (::read(done[0], &c, 1) > 0) {
    }
    ::_exit(0);
  }
  ::close(ready[1]);
  ::close(done[0]);
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  const std::string message = error_message([&] { FileBackedMemory::open(path, 4096, 1); });
  EXPECT_NE(message.find("(locked by process " + std::to_string(child) + ")"), std::string::npos)
      << message;
  ::close(done[1]);
  ::close(ready[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

}  // namespace
}  // namespace datatier
