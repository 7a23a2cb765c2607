// Crash test: crash_writer saves generation after generation while this test
// kills it with SIGKILL, then checks what the pool file holds against
// docs/design.md's failure model and starts the writer again on the same file.
//
// The kills take turns among three kinds: at a random moment after the
// launch (inside create() or open(), while filling, or saving); a random
// moment after the writer says it calls flush(), within half the median time
// a save has taken so far (mid-save: for pools of several 8 MiB blocks, with
// several write requests in flight), twice as often as the others; and as
// soon as it says a flush() returned.
//
// After each kill, with A the generations the file may hold (the last one
// saved, and the one being saved if the writer had called flush() for it):
//   - verify_file() and open() with accept_unclean give the same verdict, and
//     a default open() says unclean_shutdown or gives that verdict too;
//   - open() with accept_unclean holds a generation of A exactly, or fails
//     with checksum_mismatch where the file may hold no snapshot: an MmapFile
//     whose flushed bytes were being changed in place, or either pool before
//     its first save;
//   - before the first save, only what docs/design.md lists for a death inside
//     create(): no_such_file_or_directory, size_mismatch, bad_magic, or
//     unclean_shutdown and, accepting that, checksum_mismatch;
//   - a header without the in-use mark only after a flush() in this run;
//   - FileBackedMemory: unclean_shutdown only while no flush() completed since
//     the writer took the file; once a generation was saved, always a saved
//     generation; and after flush() of N returned (and none of N + 1 began),
//     <pool>.prev holds N - 1 exactly, verified.
// The tallies must show that every kind of kill landed: after a save, inside
// flush(), and (FileBackedMemory) between saves, where the spare is checked,
// and that FileBackedMemory served generations.
//
// Environment: DATATIER_CRASH_KILLS (kills per pool kind on a 1 MiB pool,
// default 30), DATATIER_CRASH_LARGE_KILLS (on a 40 MiB pool, default 6; at
// least 6 each), DATATIER_CRASH_SEED (default 1), DATATIER_CRASH_MAX_DELAY_US
// (the random moment's bound on a 1 MiB pool, default 100000; ten times that
// on 40 MiB). scripts/crash-test.sh runs it with many kills.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
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

using std::chrono::microseconds;

constexpr std::size_t kMiB = std::size_t{1} << 20;
constexpr std::uint64_t kUserVersion = 5;  // crash_writer's
// Fewer kills cannot show every kind of kill landing.
constexpr std::uint64_t kMinKills = 6;

std::uint64_t env_or(const char* name, std::uint64_t fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? std::stoull(value) : fallback;
}

// When to kill the writer: `delay` after its `count`-th line starting with
// `after`, or after its launch when `after` is empty.
struct KillPlan {
  std::string after;
  std::size_t count = 1;
  microseconds delay{0};

  std::string text() const {
    std::string moment = std::to_string(delay.count()) + " us after ";
    if (after.empty()) return moment + "the launch";
    return moment + "\"" + after + "\" line " + std::to_string(count);
  }
};

// What one run of the writer said before it was killed.
struct Run {
  std::optional<std::uint64_t> start;     // the generation it found (0: created)
  std::optional<std::uint64_t> flushing;  // the last generation it called flush() for
  std::optional<std::uint64_t> done;      // the last generation whose flush() returned
  std::size_t flush_count = 0;
  std::size_t done_count = 0;
  bool killed = false;  // ended by our SIGKILL
  int status = 0;
  // How long each completed flush() took, from the "flush" line's arrival to
  // the "done" line's, for the saves whose lines came before the kill.
  std::vector<microseconds> flush_times;
  std::optional<std::chrono::steady_clock::time_point> flush_seen;

  std::size_t count(const std::string& word) const {
    return word == "flush" ? flush_count : word == "done" ? done_count : 0;
  }
  // Killed between calling flush() and its return.
  bool inside_flush() const { return flushing && (!done || *done < *flushing); }
};

// Consumes the whole lines in `buffer`; `arrival` is when they came, if they
// came while the writer ran.
void parse_lines(std::string& buffer, Run& run,
                 std::optional<std::chrono::steady_clock::time_point> arrival) {
  for (std::size_t eol; (eol = buffer.find('\n')) != std::string::npos;) {
    std::istringstream line(buffer.substr(0, eol));
    buffer.erase(0, eol + 1);
    std::string word;
    std::uint64_t generation = 0;
    line >> word >> generation;
    if (word == "start") run.start = generation;
    if (word == "flush") {
      run.flushing = generation;
      ++run.flush_count;
      run.flush_seen = arrival;
    }
    if (word == "done") {
      run.done = generation;
      ++run.done_count;
      if (arrival && run.flush_seen) {
        run.flush_times.push_back(
            std::chrono::duration_cast<microseconds>(*arrival - *run.flush_seen));
      }
    }
  }
}

// Starts crash_writer on a pool of `data_size` bytes, kills it with SIGKILL
// as `plan` says and collects everything it wrote. `met` tells whether the
// plan's line came (else the writer is killed after a long wait).
Run run_and_kill(const std::string& kind, const std::filesystem::path& path, std::size_t data_size,
                 const KillPlan& plan, bool& met) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::system_error(errno, std::system_category(), "pipe");
  const std::string size = std::to_string(data_size);
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
  met = plan.after.empty();
  auto deadline = std::chrono::steady_clock::now() +
                  (met ? std::chrono::duration_cast<std::chrono::steady_clock::duration>(plan.delay)
                       : std::chrono::seconds(120));
  for (bool eof = false; !eof;) {
    const auto left =
        std::chrono::duration_cast<microseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    // poll() counts milliseconds; below one, sleep the rest precisely.
    if (left.count() < 1000) {
      ::usleep(static_cast<useconds_t>(left.count()));
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count() / 1000)) <= 0) continue;
    const ssize_t n = ::read(fds[0], chunk, sizeof chunk);
    if (n <= 0) {
      eof = true;
      continue;
    }
    buffer.append(chunk, static_cast<std::size_t>(n));
    parse_lines(buffer, run, std::chrono::steady_clock::now());
    if (!met && run.count(plan.after) >= plan.count) {
      met = true;
      if (plan.delay.count() == 0) break;
      deadline = std::chrono::steady_clock::now() +
                 std::chrono::duration_cast<std::chrono::steady_clock::duration>(plan.delay);
    }
  }
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  for (ssize_t n; (n = ::read(fds[0], chunk, sizeof chunk)) > 0;) {
    buffer.append(chunk, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  parse_lines(buffer, run, std::nullopt);
  run.status = status;
  run.killed = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
  return run;
}

// What an open (or verify_file) of the pool file said: the generation it
// held, or its error.
struct Verdict {
  bool served = false;
  std::optional<std::uint64_t> held;  // when served: the generation, if exactly one
  std::error_code error;

  bool operator==(const Verdict&) const = default;
  std::string text() const {
    if (!served) return error.message();
    return held ? "generation " + std::to_string(*held) : "bytes of no generation";
  }
};

// The data bytes of a pool file as stored.
std::vector<std::byte> stored_data(const std::filesystem::path& path, std::size_t data_size) {
  std::vector<std::byte> data(data_size);
  std::ifstream in(path, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(kHeaderSize));
  in.read(reinterpret_cast<char*>(data.data()), static_cast<std::streamsize>(data_size));
  if (in.gcount() != static_cast<std::streamsize>(data_size)) return {};
  return data;
}

template <typename Pool>
Verdict open_verdict(const std::filesystem::path& path, std::size_t data_size,
                     bool accept_unclean) {
  FileOptions options;
  options.accept_unclean = accept_unclean;
  try {
    Pool pool = Pool::open(path, data_size, kUserVersion, options);
    return {true, crash::generation_of(pool.data()), {}};
  } catch (const Error& e) {
    return {false, std::nullopt, e.code()};
  }
}

// verify_file() of `path`, and when it verifies, the generation stored.
Verdict verify_verdict(const std::filesystem::path& path, std::size_t data_size,
                       bool accept_unclean) {
  VerifyOptions options;
  options.data_size = data_size;
  options.user_version = kUserVersion;
  options.accept_unclean = accept_unclean;
  try {
    const VerifyReport report = verify_file(path, options);
    if (!report.ok()) return {false, std::nullopt, report.error};
    return {true, crash::generation_of(stored_data(path, data_size)), {}};
  } catch (const Error& e) {
    return {false, std::nullopt, e.code()};
  }
}

struct Tally {
  long kills = 0;
  long after_save = 0;         // a generation had been saved before the kill
  long inside_flush = 0;       // killed between calling flush() and its return
  long held_last = 0;          // held the last generation saved
  long held_in_flight = 0;     // held the generation being saved
  long unclean = 0;            // a default open said unclean_shutdown
  long checksum = 0;           // accepting unclean, checksum_mismatch
  long before_first_save = 0;  // no generation saved yet
  long spares_checked = 0;     // FileBackedMemory: .prev held N - 1 exactly
  long discarded = 0;          // pools without a snapshot, removed for a fresh start
  long unexpected = 0;         // outcomes outside the allowed set
};

// A delay from 0 to `bound`, uniformly.
microseconds random_delay(std::mt19937_64& random, microseconds bound) {
  const auto n = random() % (static_cast<std::uint64_t>(bound.count()) + 1);
  return microseconds(static_cast<microseconds::rep>(n));
}

struct LoopSettings {
  std::size_t data_size;
  std::uint64_t kills;
  microseconds max_delay;  // bound of a random moment after the launch
  // Bound of a random moment after "flush" until a save has been timed.
  microseconds first_flush_delay;
};

template <typename Pool>
void crash_loop(const std::string& kind, const LoopSettings& settings) {
  constexpr bool kFbm = std::is_same_v<Pool, FileBackedMemory>;
  const std::uint64_t seed = env_or("DATATIER_CRASH_SEED", 1);
  const std::uint64_t kills = std::max(settings.kills, kMinKills);
  const std::size_t size = settings.data_size;
  std::cout << "[ crash    ] " << kind << ", " << size << " bytes: " << kills << " kills, seed "
            << seed << ", delays up to " << settings.max_delay.count() << " us after the launch, "
            << settings.first_flush_delay.count()
            << " us after flush() was called until saves were timed, then half the median save\n";
  std::mt19937_64 random(seed);
  testing::TempDir dir;
  const std::filesystem::path path = dir / "pool";
  const std::filesystem::path spare = FileBackedMemory::spare_path(path);
  std::optional<std::uint64_t> base;  // what the file holds at launch; none: no file
  // The saves timed so far and their median: kills inside flush() come
  // within that long of its start, whatever this machine's disk takes.
  std::vector<microseconds> flush_times;
  std::optional<microseconds> median_flush_time;
  Tally tally;
  const auto started = std::chrono::steady_clock::now();

  for (std::uint64_t k = 0; k < kills; ++k) {
    KillPlan plan;
    switch (k % 4) {
      case 0: {  // anywhere; a quarter of these early, in open() or create()
        const auto bound = random() % 4 == 0 ? settings.max_delay / 10 : settings.max_delay;
        plan.delay = random_delay(random, bound);
        break;
      }
      case 2:  // between saves; on a new pool after the second, so that the
               // spare holds a saved generation
        plan.after = "done";
        plan.count = base ? 1 + random() % 2 : 2;
        break;
      default:  // inside a save, or just after it
        plan.after = "flush";
        plan.count = 1 + random() % 2;
        // Half the median: a save's time varies, and so does how soon its
        // line reaches this process on a busy machine.
        plan.delay = random_delay(
            random, median_flush_time ? *median_flush_time / 2 : settings.first_flush_delay);
        break;
    }
    bool met = false;
    const Run run = run_and_kill(kind, path, size, plan, met);
    std::ostringstream context;
    context << kind << " kill " << k << " " << plan.text() << ": base "
            << (base ? std::to_string(*base) : "none") << ", start "
            << (run.start ? std::to_string(*run.start) : "-") << ", flushing "
            << (run.flushing ? std::to_string(*run.flushing) : "-") << ", done "
            << (run.done ? std::to_string(*run.done) : "-");
    SCOPED_TRACE(context.str());
    ASSERT_TRUE(run.killed) << "the writer ended by itself, status " << run.status;
    ASSERT_TRUE(met) << "the writer never said what the kill waited for";
    ++tally.kills;
    const auto expect = [&](bool ok, const std::string& what) {
      if (ok) return;
      ++tally.unexpected;
      ADD_FAILURE() << what;
    };

    // The generations the file may hold: the last one saved (or found at
    // start; 0 is "created, never saved") and the one being saved.
    const std::optional<std::uint64_t> last = run.done ? run.done : run.start ? run.start : base;
    const bool saved_before = last && *last > 0;
    std::set<std::uint64_t> allowed;
    if (saved_before) allowed.insert(*last);
    if (run.flushing && (!last || *run.flushing > *last)) allowed.insert(*run.flushing);
    if (saved_before) ++tally.after_save;
    if (run.inside_flush()) ++tally.inside_flush;
    if (!run.flush_times.empty()) {
      flush_times.insert(flush_times.end(), run.flush_times.begin(), run.flush_times.end());
      const auto middle = flush_times.begin() + static_cast<std::ptrdiff_t>(flush_times.size() / 2);
      std::nth_element(flush_times.begin(), middle, flush_times.end());
      median_flush_time = *middle;
    }

    // The spare, before anything opens the pool: after flush() of N returned,
    // and before any of N + 1, it holds N - 1 (marked in use if that is the
    // file the writer opened).
    if constexpr (kFbm) {
      if (run.done && run.flushing == run.done && *run.done >= 2) {
        const std::uint64_t previous = *run.done - 1;
        const bool opened = run.start && *run.start == previous;
        const Verdict found = verify_verdict(spare, size, opened);
        expect(found == Verdict{true, previous, {}},
               "the spare holds " + found.text() + ", not generation " + std::to_string(previous));
        ++tally.spares_checked;
      }
    }

    const Verdict verified = verify_verdict(path, size, /*accept_unclean=*/true);
    const Verdict plain = open_verdict<Pool>(path, size, /*accept_unclean=*/false);
    const Verdict accepted = open_verdict<Pool>(path, size, /*accept_unclean=*/true);
    const std::string verdicts = "verify_file " + verified.text() + ", open " + plain.text() +
                                 ", open accepting unclean " + accepted.text();
    expect(verified == accepted, "verify_file and open disagree: " + verdicts);
    const bool unclean = plain.error == errc::unclean_shutdown;
    if (unclean) {
      ++tally.unclean;
      if constexpr (kFbm) {
        expect(run.done_count == 0, "unclean after a completed flush(): " + verdicts);
      }
    } else {
      expect(plain == accepted, "a default open disagrees with one accepting unclean: " + verdicts);
      // The header is unmarked: only a flush() writes such a header, and the
      // mark was set when the writer (or this test) last opened the file.
      if (plain.served || plain.error == errc::checksum_mismatch) {
        expect(run.flushing.has_value(), "a clean header without a flush(): " + verdicts);
      }
    }

    if (accepted.served) {
      expect(accepted.held && allowed.count(*accepted.held) == 1,
             "the pool holds " + accepted.text() + ": " + verdicts);
      if (accepted.held && saved_before && *accepted.held == *last) {
        ++tally.held_last;
      } else {
        ++tally.held_in_flight;
      }
    } else if (accepted.error == errc::checksum_mismatch) {
      ++tally.checksum;
      expect(!kFbm || !saved_before, "a saved FileBackedMemory fails its checksum: " + verdicts);
      if (!saved_before) expect(unclean, "a pool never saved is not unclean: " + verdicts);
    } else {
      // Killed inside create(): no file, or not yet a pool.
      const bool in_create = accepted.error == std::errc::no_such_file_or_directory ||
                             accepted.error == errc::size_mismatch ||
                             accepted.error == errc::bad_magic;
      expect(in_create && !saved_before, "unexpected verdict: " + verdicts);
    }
    if (!saved_before) ++tally.before_first_save;

    if (accepted.served && accepted.held) {
      base = accepted.held;
    } else {
      // No snapshot to carry on from: the writer creates a new pool.
      ++tally.discarded;
      std::filesystem::remove(path);
      std::filesystem::remove(spare);
      base.reset();
    }
    if (::testing::Test::HasFatalFailure()) return;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::cout << "[ crash    ] " << kind << ", " << size << " bytes: " << tally.kills << " kills in "
            << seconds << " s: " << tally.after_save << " after a save, " << tally.inside_flush
            << " inside flush(), " << tally.before_first_save << " before the first save; held "
            << "the last generation saved " << tally.held_last << ", the one being saved "
            << tally.held_in_flight << "; unclean_shutdown " << tally.unclean
            << ", checksum_mismatch accepting unclean " << tally.checksum << "; spares checked "
            << tally.spares_checked << "; pools discarded " << tally.discarded
            << "; unexpected outcomes " << tally.unexpected << "; last generation "
            << (base ? *base : 0) << "; median save "
            << (median_flush_time ? median_flush_time->count() : 0) << " us\n";
  EXPECT_EQ(tally.unexpected, 0);
  EXPECT_GE(tally.after_save, 1) << "no kill landed after a generation was saved";
  EXPECT_GE(tally.inside_flush, 1) << "no kill landed inside flush()";
  // An MmapFile holds a generation only if the kill came before the writer
  // changed its bytes again, which a kill after a save seldom does.
  if constexpr (kFbm) {
    EXPECT_GE(tally.held_last + tally.held_in_flight, 1) << "no kill left a generation to open";
    EXPECT_GE(tally.spares_checked, 1) << "no kill landed where the spare could be checked";
  }
}

LoopSettings small_pool() {
  const microseconds max_delay(env_or("DATATIER_CRASH_MAX_DELAY_US", 100000));
  return {kMiB, env_or("DATATIER_CRASH_KILLS", 30), max_delay, microseconds(1000)};
}

// Five 8 MiB blocks: a save has four write requests in flight at a time.
LoopSettings large_pool() {
  const microseconds max_delay(10 * env_or("DATATIER_CRASH_MAX_DELAY_US", 100000));
  return {40 * kMiB, env_or("DATATIER_CRASH_LARGE_KILLS", 6), max_delay, microseconds(10000)};
}

TEST(CrashTest, FileBackedMemorySurvivesSigkillAtAnyMoment) {
  crash_loop<FileBackedMemory>("fbm", small_pool());
}

TEST(CrashTest, FileBackedMemorySurvivesSigkillWithBlocksInFlight) {
  crash_loop<FileBackedMemory>("fbm", large_pool());
}

TEST(CrashTest, MmapFileServesOnlyFlushedGenerationsAfterSigkill) {
  crash_loop<MmapFile>("mmap", small_pool());
}

TEST(CrashTest, MmapFileServesOnlyFlushedGenerationsOfALargePoolAfterSigkill) {
  crash_loop<MmapFile>("mmap", large_pool());
}

}  // namespace
}  // namespace datatier
