// Crash test (issue 4, item 5): crash_writer saves generation after generation
// while this test kills it with SIGKILL at random moments, then checks what
// the pool file holds and starts the writer again on the same file.
//
// After each kill:
//   FileBackedMemory: open() with accept_unclean succeeds and holds exactly
//     the last generation the writer reported done, or the one in flight;
//     a default open() either does the same or reports unclean_shutdown.
//   MmapFile: open() either holds exactly one of those generations or reports
//     unclean_shutdown (no flush since the writer took the file) or
//     checksum_mismatch (the writer was changing the flushed bytes in place);
//     an unrecoverable pool is removed and the writer starts a new one.
//   Before the first generation was ever saved, any verdict but a successful
//     open is right (the writer was killed inside create()).
//
// Environment: DATATIER_CRASH_KILLS (kills per pool kind, default 30),
// DATATIER_CRASH_SEED (default 1), DATATIER_CRASH_MAX_DELAY_US (default 100000).
// scripts/crash-test.sh runs it with many kills.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "datatier/datatier.h"
#include "generation.h"
#include "temp_dir.h"

namespace datatier {
namespace {

constexpr std::size_t kDataSize = std::size_t{1} << 20;
constexpr std::uint64_t kUserVersion = 5;  // crash_writer's

std::uint64_t env_or(const char* name, std::uint64_t fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? std::stoull(value) : fallback;
}

// What one run of the writer said before it was killed.
struct Run {
  std::optional<std::uint64_t> start;  // the generation it found (0: created)
  std::optional<std::uint64_t> done;   // the last generation it completed
  std::size_t done_count = 0;
  bool killed = false;  // ended by our SIGKILL
  int status = 0;
};

void parse_lines(std::string& buffer, Run& run) {
  for (std::size_t eol; (eol = buffer.find('\n')) != std::string::npos;) {
    std::istringstream line(buffer.substr(0, eol));
    buffer.erase(0, eol + 1);
    std::string word;
    std::uint64_t generation = 0;
    line >> word >> generation;
    if (word == "start") run.start = generation;
    if (word == "done") {
      run.done = generation;
      ++run.done_count;
    }
  }
}

// Starts crash_writer, lets it run for `delay`, kills it with SIGKILL and
// collects everything it wrote.
Run run_and_kill(const std::string& kind, const std::filesystem::path& path,
                 std::chrono::microseconds delay) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::system_error(errno, std::system_category(), "pipe");
  const std::string size = std::to_string(kDataSize);
  const pid_t pid = ::fork();
  if (pid < 0) throw std::system_error(errno, std::system_category(), "fork");
  if (pid == 0) {
    ::dup2(fds[1], STDOUT_FILENO);
    ::execl(DATATIER_CRASH_WRITER, DATATIER_CRASH_WRITER, kind.c_str(), path.c_str(), size.c_str(),
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(fds[1]);
  Run run;
  std::string buffer;
  char chunk[4096];
  const auto deadline = std::chrono::steady_clock::now() + delay;
  bool eof = false;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::microseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || eof) break;
    pollfd p{fds[0], POLLIN, 0};
    // poll() counts milliseconds; below one, sleep the rest precisely.
    if (left.count() < 1000) {
      ::usleep(static_cast<useconds_t>(left.count()));
      continue;
    }
    if (::poll(&p, 1, static_cast<int>(left.count() / 1000)) > 0) {
      const ssize_t n = ::read(fds[0], chunk, sizeof chunk);
      if (n <= 0) {
        eof = true;
      } else {
        buffer.append(chunk, static_cast<std::size_t>(n));
      }
    }
  }
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  for (ssize_t n; (n = ::read(fds[0], chunk, sizeof chunk)) > 0;) {
    buffer.append(chunk, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  parse_lines(buffer, run);
  run.status = status;
  run.killed = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
  return run;
}

struct Tally {
  long kills = 0;
  long last_done = 0;    // held the last generation reported done
  long in_flight = 0;    // held the generation being written
  long unclean = 0;      // default open said unclean_shutdown
  long checksum = 0;     // MmapFile: checksum_mismatch (changed after a flush)
  long never_saved = 0;  // killed before any generation was saved
  long discarded = 0;    // MmapFile pools that could not be recovered
};

FileOptions accept_unclean() {
  FileOptions options;
  options.accept_unclean = true;
  return options;
}

template <typename Pool>
void crash_loop(const std::string& kind) {
  const std::uint64_t kills = env_or("DATATIER_CRASH_KILLS", 30);
  const std::uint64_t seed = env_or("DATATIER_CRASH_SEED", 1);
  const std::uint64_t max_delay_us = env_or("DATATIER_CRASH_MAX_DELAY_US", 100000);
  std::cout << "[ crash    ] " << kind << ": " << kills << " kills, seed " << seed
            << ", delays up to " << max_delay_us << " us\n";
  std::mt19937_64 random(seed);
  testing::TempDir dir;
  const std::filesystem::path path = dir / "pool";
  std::optional<std::uint64_t> base;  // what the file holds at launch; none: no file
  Tally tally;
  const auto started = std::chrono::steady_clock::now();

  for (std::uint64_t k = 0; k < kills; ++k) {
    // A quarter of the kills land early (in open/create); the rest anywhere.
    const std::uint64_t bound = random() % 4 == 0 ? max_delay_us / 10 : max_delay_us;
    const auto delay = std::chrono::microseconds(random() % (bound + 1));
    const Run run = run_and_kill(kind, path, delay);
    std::ostringstream context;
    context << kind << " kill " << k << " after " << delay.count() << " us: base "
            << (base ? std::to_string(*base) : "none") << ", start "
            << (run.start ? std::to_string(*run.start) : "-") << ", done "
            << (run.done ? std::to_string(*run.done) : "-");
    SCOPED_TRACE(context.str());
    ASSERT_TRUE(run.killed) << "the writer ended by itself, status " << run.status;
    ++tally.kills;

    // The generations the file may hold: the last one completed (or found at
    // start) and the one in flight. Generation 0 is "never saved".
    const std::optional<std::uint64_t> last = run.done ? run.done : run.start ? run.start : base;
    std::set<std::uint64_t> allowed;
    if (last && *last > 0) allowed.insert(*last);
    if (run.start) allowed.insert((last ? *last : 0) + 1);
    const bool saved_before = last && *last > 0;

    std::optional<std::uint64_t> held;
    std::optional<std::error_code> plain_error;
    try {
      Pool pool = Pool::open(path, kDataSize, kUserVersion);
      held = crash::generation_of(pool.data());
      ASSERT_TRUE(held) << "the pool opened cleanly holding no generation";
    } catch (const Error& e) {
      plain_error = e.code();
    }
    if (plain_error && *plain_error == errc::unclean_shutdown) {
      ++tally.unclean;
      // The writer flushed in this run: the mark was cleared (a kill right
      // after that flush leaves a clean file).
      if constexpr (std::is_same_v<Pool, MmapFile>) {
        EXPECT_EQ(run.done_count, 0u) << "unclean shutdown after a completed flush";
      }
      try {
        Pool pool = Pool::open(path, kDataSize, kUserVersion, accept_unclean());
        held = crash::generation_of(pool.data());
        ASSERT_TRUE(held) << "the pool opened (accepting unclean) holding no generation";
        plain_error.reset();
      } catch (const Error& e) {
        plain_error = e.code();
        if constexpr (std::is_same_v<Pool, FileBackedMemory>) {
          EXPECT_FALSE(saved_before) << "FileBackedMemory lost its last snapshot: " << e.what();
        } else {
          // The writer was changing the bytes in place when it was killed.
          EXPECT_EQ(e.code(), errc::checksum_mismatch) << e.what();
        }
      }
    } else if (plain_error && *plain_error == errc::checksum_mismatch) {
      ++tally.checksum;
      if constexpr (std::is_same_v<Pool, FileBackedMemory>) {
        ADD_FAILURE() << "FileBackedMemory file fails its checksum after a kill";
      } else {
        EXPECT_GE(run.done_count, 1u) << "checksum mismatch without a flush in this run";
      }
    } else if (plain_error) {
      // Killed inside create(): no file, or a file not yet a pool.
      EXPECT_FALSE(saved_before) << "unexpected error " << plain_error->message();
    }

    if (held) {
      EXPECT_EQ(allowed.count(*held), 1u) << "the pool holds generation " << *held;
      if (run.done && *held == *run.done)
        ++tally.last_done;
      else if (!run.done && run.start && *held == *run.start)
        ++tally.last_done;
      else if (!run.start && base && *held == *base)
        ++tally.last_done;
      else
        ++tally.in_flight;
      base = held;
    } else {
      if (saved_before) {
        ++tally.discarded;
      } else {
        ++tally.never_saved;
      }
      if constexpr (std::is_same_v<Pool, FileBackedMemory>) {
        EXPECT_FALSE(saved_before) << "FileBackedMemory did not survive the kill";
      }
      // Start afresh: the writer creates a new pool.
      std::filesystem::remove(path);
      std::filesystem::remove(FileBackedMemory::spare_path(path));
      base.reset();
    }
    if (::testing::Test::HasFatalFailure()) return;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::cout << "[ crash    ] " << kind << ": " << tally.kills << " kills survived in " << seconds
            << " s: held the last completed generation " << tally.last_done
            << ", the one in flight " << tally.in_flight << "; verdicts unclean_shutdown "
            << tally.unclean << ", checksum_mismatch " << tally.checksum
            << "; killed before the first save " << tally.never_saved
            << ", unrecoverable in-place pools discarded " << tally.discarded
            << "; last generation " << (base ? *base : 0) << "\n";
}

TEST(CrashTest, FileBackedMemorySurvivesSigkillAtAnyMoment) {
  crash_loop<FileBackedMemory>("fbm");
}

TEST(CrashTest, MmapFileServesOnlyFlushedGenerationsAfterSigkill) {
  crash_loop<MmapFile>("mmap");
}

}  // namespace
}  // namespace datatier
