// Power-loss test: the power goes off at every system call of MmapFile and
// FileBackedMemory create, open and flush in turn (power_loss.h simulates
// what the disk keeps), and the real open() of many states the disk may hold
// afterwards must give the last saved snapshot ("old") or the one being saved
// ("new"), byte for byte, or refuse it: never a file that verifies with other
// bytes ("wrong"), never both snapshots gone ("lost").
//
// Each pool lives through: create, fill generation 1, flush, destroy, open
// (accepting an unclean file), fill generation 2, flush, destroy; large
// pools (20 MiB: several 8 MiB transfer blocks) only from the open on, to
// keep the time down. A run without a power cut counts the calls of that life; then
// for every call position N a run cuts the power at call N and the simulator
// draws many surviving states, each laid out in a fresh directory and
// opened:
//   - FileBackedMemory: once a first snapshot was saved, open() with
//     accept_unclean (after a default open() that may say unclean_shutdown)
//     gives the old or the new snapshot exactly.
//   - MmapFile, whose flush overwrites the data in place: the same, except
//     that while data written since the last save may be on disk, open()
//     with accept_unclean may say checksum_mismatch instead.
//   - Before the first save completes: any error, or the new snapshot.
// The same with one fsync / fdatasync failing (EIO, its pending writes lost
// for good): the life goes on, trying the failed step again, and the power
// goes off at every later call.
// Incremental saves (FileBackedMemory with a block index, comparing or
// marked): generations a 4 KiB block apart, saved over a start where both
// files hold a snapshot and its index, so that saves write a block or two;
// and after the power comes back, one more save that takes those changes
// back must open with exactly its bytes, so that an index left vouching for
// a file it no longer describes is caught when the next save trusts it.
//
// Environment: DATATIER_POWERLOSS_CUTS (simulated power cuts over all tests;
// default 10000, 2000 in unoptimized builds; 100000 for a long run),
// DATATIER_POWERLOSS_SEED (default 1), TMPDIR (where the real files go;
// default /dev/shm, where syncs cost nothing).
#include <fcntl.h>
#include <malloc.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "datatier/datatier.h"
#include "platform/syscalls.h"
#include "power_loss.h"
#include "temp_dir.h"
#include "test_util.h"

namespace datatier {
namespace {

using testing::PowerLossPlan;
using testing::PowerLossSimulator;
using testing::SurvivingState;
using testing::TempDir;

constexpr std::uint64_t kUserVersion = 11;
// Odd: a partial last page; small, for many outcomes per call position.
constexpr std::size_t kSmallSize = 3 * 4096 + 100;
// Large: several 8 MiB transfer blocks and a partial page. Unoptimized
// builds (the sanitizer presets) hash and copy tens of times slower: there
// the large pools have one whole block, a 4 KiB one and a partial page, and
// the sweeps draw a fifth of the surviving states by default.
#ifdef __OPTIMIZE__
constexpr std::size_t kLargeSize = (std::size_t{20} << 20) + 100;
constexpr std::uint64_t kDefaultCuts = 10000;
#else
constexpr std::size_t kLargeSize = (std::size_t{8} << 20) + 4096 + 100;
constexpr std::uint64_t kDefaultCuts = 2000;
#endif

std::uint64_t env_or(const char* name, std::uint64_t fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? std::stoull(value) : fallback;
}

const std::uint64_t kSeed = env_or("DATATIER_POWERLOSS_SEED", 1);
const std::uint64_t kTotalCuts = env_or("DATATIER_POWERLOSS_CUTS", kDefaultCuts);

// Generations from kFirstStep on are small steps from generation 1: each
// changes one 4 KiB block more (cumulatively), so that a save of one over
// the one before writes only a block or two.
constexpr std::uint64_t kFirstStep = 10;
constexpr std::size_t kStepBlock = 4096;

const std::vector<std::byte>& generation_bytes(std::size_t size, std::uint64_t generation) {
  static std::map<std::pair<std::size_t, std::uint64_t>, std::vector<std::byte>> cache;
  auto& bytes = cache[{size, generation}];
  if (!bytes.empty()) return bytes;
  if (generation < kFirstStep) {
    bytes = testing::splitmix64_bytes(size, generation);
    return bytes;
  }
  bytes = generation_bytes(size, generation == kFirstStep ? 1 : generation - 1);
  const std::size_t blocks = (size + kStepBlock - 1) / kStepBlock;
  const std::size_t at = static_cast<std::size_t>(generation * 5 % blocks) * kStepBlock;
  const std::size_t length = std::min(kStepBlock, size - at);
  testing::fill_splitmix64(std::span(bytes).subspan(at, length), generation);
  return bytes;
}

FileOptions accept_unclean(FileOptions options = {}) {
  options.accept_unclean = true;
  return options;
}

template <typename Pool>
constexpr bool kInPlace = std::is_same_v<Pool, MmapFile>;

// ---------------------------------------------------------------------------
// One life of a pool, up to the power cut.

// What the disk may hold, as the life went up to the power cut.
struct Expectation {
  std::optional<std::uint64_t> saved;  // the last generation a flush() returned on
  std::set<std::uint64_t> in_flight;   // generations whose save began after it
  bool changed_in_place = false;       // MmapFile: data written since that save
};

// Thrown to end a life early: an MmapFile whose save failed refuses to save
// again, and an application must reopen its file after the owner ended.
struct LifeEnded {};

// Runs `step`. A step that the planned sync failure failed, with the power
// still on, is tried again, as an application would. With `sticky` (an
// MmapFile's save), the retry must fail with the same error, and the life
// ends there.
void attempt(const PowerLossSimulator& simulator, const std::function<void()>& step,
             bool sticky = false) {
  const std::uint64_t start = simulator.calls();
  try {
    step();
  } catch (const Error& first) {
    const auto failed = simulator.failed_sync_call();
    if (simulator.power_off() || !failed || *failed < start) throw;
    if (!sticky) {
      step();
      return;
    }
    try {
      step();
      ADD_FAILURE() << "a save after a failed sync succeeded: the failure was not sticky";
    } catch (const Error& again) {
      EXPECT_EQ(again.code(), first.code()) << again.what();
    }
    throw LifeEnded{};
  }
}

// Writes `generation` into the pool as an application would: only the
// blocks that change, each declared with mark_dirty().
void fill(Datapool& pool, std::uint64_t generation) {
  const auto& bytes = generation_bytes(pool.data().size(), generation);
  const std::span<std::byte> data = pool.data();
  for (std::size_t at = 0; at < data.size(); at += kStepBlock) {
    const std::size_t length = std::min(kStepBlock, data.size() - at);
    const auto from = bytes.begin() + static_cast<std::ptrdiff_t>(at);
    const auto to = data.begin() + static_cast<std::ptrdiff_t>(at);
    if (std::equal(from, from + static_cast<std::ptrdiff_t>(length), to)) continue;
    pool.mark_dirty(at, length);  // before the write, as a background save needs
    std::copy(from, from + static_cast<std::ptrdiff_t>(length), to);
  }
}

// Bytes a writer puts into the pool while a background save runs: they
// must never reach the disk (a generation no life saves).
constexpr std::uint64_t kScribble = 7;

// begin_flush() of `generation`, while a writer writes kScribble (each
// write declared with mark_dirty()); then the pool holds `generation` again,
// so that a retried step saves the same.
void save_while_writing(FileBackedMemory& pool, std::uint64_t generation) {
  BackgroundFlush save = pool.begin_flush();
  fill(pool, kScribble);
  std::error_code ec;
  save.wait(ec);
  fill(pool, generation);
  if (ec) save.wait();
}

template <typename Pool>
void save(Pool& pool, std::uint64_t generation, const PowerLossSimulator& simulator,
          Expectation& expected, bool background) {
  fill(pool, generation);
  if constexpr (kInPlace<Pool>) expected.changed_in_place = true;
  expected.in_flight.insert(generation);
  attempt(
      simulator,
      [&] {
        if constexpr (std::is_same_v<Pool, FileBackedMemory>) {
          if (background) return save_while_writing(pool, generation);
        }
        pool.flush();
      },
      kInPlace<Pool>);
  expected.saved = generation;
  expected.in_flight.clear();
  expected.changed_in_place = false;
}

// A pool's life under test: create, save generation 1, destroy, open, save
// the later generations, destroy.
struct Life {
  std::string name;
  std::size_t size;
  // Empty: the simulator sees all of the life. Otherwise a directory holding
  // the pool created and generation 1 saved (save_first_generation()), which
  // each run copies: the simulator sees the life from open() on.
  std::filesystem::path start;
  // Saved after the open, in order.
  std::vector<std::uint64_t> later = {2};
  FileOptions options = {};
  // After the power comes back and open() serves a generation, save one more
  // (with `options`) and open it again: what the block indexes left on disk
  // must not spoil the next save.
  bool save_again = false;
  // FileBackedMemory: the saves after open() are background saves, during
  // which a writer writes other bytes.
  bool background = false;
};

// The generation the check of Life::save_again saves: the first, so that it
// takes back changes of the saves in the life, which a stale block index
// would have it skip.
constexpr std::uint64_t kAfterRecovery = 1;

// Creates the pool and saves generation 1 `saves` times: twice, and both
// files hold a snapshot and its block index.
template <typename Pool>
void save_first_generation(const std::filesystem::path& dir, std::size_t size,
                           const FileOptions& options = {}, int saves = 1) {
  Pool pool = Pool::create(dir / "pool", size, kUserVersion, options);
  fill(pool, 1);
  for (int i = 0; i < saves; ++i) pool.flush();
}

// Puts the start of `life` into `dir`.
void begin(const Life& life, const std::filesystem::path& dir, Expectation& expected) {
  if (life.start.empty()) return;
  for (const auto& entry : std::filesystem::directory_iterator(life.start)) {
    std::filesystem::copy_file(entry.path(), dir / entry.path().filename());
  }
  expected.saved = 1;
}

template <typename Pool>
void live(const Life& life, const std::filesystem::path& path, const PowerLossSimulator& simulator,
          Expectation& expected) {
  std::optional<Pool> pool;
  if (life.start.empty()) {
    attempt(simulator,
            [&] { pool.emplace(Pool::create(path, life.size, kUserVersion, life.options)); });
    save(*pool, 1, simulator, expected, false);
    pool.reset();
  }
  attempt(simulator, [&] {
    pool.emplace(Pool::open(path, life.size, kUserVersion, accept_unclean(life.options)));
  });
  for (const std::uint64_t generation : life.later) {
    save(*pool, generation, simulator, expected, life.background);
  }
  pool.reset();
}

// ---------------------------------------------------------------------------
// Judging what the real open() makes of a surviving state.

struct Reopened {
  std::optional<std::uint64_t> generation;  // opened, holding this generation
  bool other_bytes = false;                 // opened, holding no generation
  bool next_save_wrong = false;             // Life::save_again found other bytes
  bool unclean = false;                     // the default open() said unclean_shutdown
  std::optional<Error> error;               // the open() that decided failed
};

bool holds(std::span<const std::byte> data, std::uint64_t generation) {
  const auto& bytes = generation_bytes(data.size(), generation);
  return std::equal(data.begin(), data.end(), bytes.begin(), bytes.end());
}

// Life::save_again's check: whether a save of kAfterRecovery into the pool
// at `path` opens again with those bytes.
template <typename Pool>
bool saves_again(const std::filesystem::path& path, const Life& life) {
  try {
    {
      Pool pool = Pool::open(path, life.size, kUserVersion, accept_unclean(life.options));
      fill(pool, kAfterRecovery);
      pool.close();
    }
    return holds(Pool::open(path, life.size, kUserVersion).data(), kAfterRecovery);
  } catch (const Error& e) {
    std::cout << "[ power    ] the save after recovery failed: " << e.what() << "\n";
    return false;
  }
}

// Opens the pool at `path` and finds which of the generations of `life`
// it holds.
template <typename Pool>
Reopened reopen(const std::filesystem::path& path, const Life& life) {
  Reopened result;
  std::vector<std::uint64_t> generations = life.later;
  generations.push_back(1);
  for (const bool accept : {false, true}) {
    try {
      Pool pool =
          Pool::open(path, life.size, kUserVersion, accept ? accept_unclean() : FileOptions{});
      for (const std::uint64_t generation : generations) {
        if (holds(pool.data(), generation)) result.generation = generation;
      }
      result.other_bytes = !result.generation;
      if (life.save_again && result.generation) {
        { const Pool released = std::move(pool); }
        result.next_save_wrong = !saves_again<Pool>(path, life);
      }
      return result;
    } catch (const Error& e) {
      if (accept || e.code() != errc::unclean_shutdown) {
        result.error = e;
        return result;
      }
      result.unclean = true;
    }
  }
  return result;
}

enum class Verdict { right, lost, wrong };

template <typename Pool>
Verdict judge(const Reopened& reopened, const Expectation& expected) {
  if (reopened.next_save_wrong) return Verdict::wrong;
  if (reopened.generation || reopened.other_bytes) {
    const bool allowed = reopened.generation && (reopened.generation == expected.saved ||
                                                 expected.in_flight.count(*reopened.generation));
    return allowed ? Verdict::right : Verdict::wrong;
  }
  if (!expected.saved) return Verdict::right;  // nothing was saved yet
  if (kInPlace<Pool> && expected.changed_in_place &&
      reopened.error->code() == errc::checksum_mismatch) {
    return Verdict::right;
  }
  return Verdict::lost;
}

std::string describe(const Reopened& reopened, const Expectation& expected) {
  const std::string prefix = reopened.unclean ? "unclean, then " : "";
  if (reopened.next_save_wrong) return prefix + "a later save spoiled";
  if (reopened.generation) {
    if (reopened.generation == expected.saved) return prefix + "old";
    if (expected.in_flight.count(*reopened.generation) != 0) return prefix + "new";
    return prefix + "generation " + std::to_string(*reopened.generation);
  }
  if (reopened.other_bytes) return prefix + "other bytes";
  return prefix + reopened.error->code().message();
}

// ---------------------------------------------------------------------------
// Sweeps.

struct Tally {
  std::uint64_t runs = 0;
  std::uint64_t cuts = 0;
  std::uint64_t opened = 0;  // distinct surviving states opened
  std::uint64_t lost = 0;
  std::uint64_t wrong = 0;
  std::map<std::string, std::uint64_t> outcomes;
  std::uint64_t reported = 0;  // failures printed in full
};

Tally grand_total;

// Failures printed in full per test; the rest are counted.
constexpr std::uint64_t kReportedFailures = 3;

void report_failure(const std::string& name, Verdict verdict, const PowerLossSimulator& simulator,
                    const PowerLossPlan& plan, const std::string& outcome,
                    const SurvivingState& state, Tally& tally) {
  if (tally.reported++ >= kReportedFailures) return;
  const std::vector<std::string> trace = simulator.trace();
  std::ostringstream out;
  out << "[ power    ] " << (verdict == Verdict::lost ? "LOST" : "WRONG") << ": " << name
      << ", power cut at call " << (plan.cut_at ? std::to_string(*plan.cut_at) : "end");
  if (plan.failing_sync) out << ", sync " << *plan.failing_sync << " failing";
  out << ": open() gave " << outcome << "\n  surviving state: " << state.choices << "\n  calls:\n";
  for (const std::string& call : trace) out << "    " << call << "\n";
  std::cout << out.str();
}

// One run: the life with the power cut as planned, then `outcomes` surviving
// states judged. Returns whether the power went off before the life ended
// and how many calls the life made.
struct Run {
  bool cut = false;
  std::uint64_t calls = 0;
  std::optional<std::uint64_t> failed_sync_call;
};

template <typename Pool>
Run run_and_judge(const Life& life, const PowerLossPlan& plan, std::uint64_t outcomes,
                  std::mt19937_64& random, Tally& tally) {
  const TempDir scratch;
  Expectation expected;
  begin(life, scratch.path(), expected);
  PowerLossSimulator simulator(scratch.path(), plan);
  try {
    live<Pool>(life, scratch / "pool", simulator, expected);
  } catch (const Error& e) {
    if (!simulator.power_off()) {
      ADD_FAILURE() << life.name << ": failed with the power on: " << e.what();
    }
  } catch (const LifeEnded&) {
    // What a cut after the failed save leaves is judged below as ever.
  }
  Run run;
  run.calls = simulator.calls();
  run.cut = plan.cut_at && *plan.cut_at < run.calls;
  run.failed_sync_call = simulator.failed_sync_call();
  simulator.disarm();
  for (const std::string& problem : simulator.unmodelled()) {
    ADD_FAILURE() << life.name << ": the simulator could not follow: " << problem;
  }
  ++tally.runs;
  const TempDir layout;
  // The states of this run opened so far: one drawn again is judged as it
  // was the first time.
  std::vector<std::pair<std::map<std::string, std::vector<std::byte>>, Reopened>> opened;
  for (std::uint64_t i = 0; i < outcomes; ++i) {
    const SurvivingState state = simulator.surviving(random);
    auto same = std::find_if(opened.begin(), opened.end(),
                             [&](const auto& earlier) { return earlier.first == state.files; });
    if (same == opened.end()) {
      for (const auto& entry : std::filesystem::directory_iterator(layout.path())) {
        std::filesystem::remove_all(entry.path());
      }
      state.lay_out(layout.path());
      opened.emplace_back(state.files, reopen<Pool>(layout / "pool", life));
      same = opened.end() - 1;
      ++tally.opened;
    }
    const Reopened& reopened = same->second;
    const Verdict verdict = judge<Pool>(reopened, expected);
    const std::string outcome = describe(reopened, expected);
    ++tally.cuts;
    ++tally.outcomes[outcome];
    if (verdict == Verdict::right) continue;
    ++(verdict == Verdict::lost ? tally.lost : tally.wrong);
    report_failure(life.name, verdict, simulator, plan, outcome, state, tally);
  }
  return run;
}

// Outcomes per call position for a sweep that gets `share` of all cuts.
std::uint64_t outcomes_per_position(double share, std::uint64_t positions) {
  const auto cuts = static_cast<std::uint64_t>(share * static_cast<double>(kTotalCuts));
  return std::max<std::uint64_t>(1, (cuts + positions - 1) / positions);
}

void finish(const std::string& name, const Tally& tally, double seconds) {
  std::ostringstream out;
  out << "[ power    ] " << name << ": " << tally.cuts << " cuts (" << tally.opened
      << " distinct states opened) in " << tally.runs << " runs, " << seconds << " s:";
  for (const auto& [outcome, count] : tally.outcomes) out << " " << outcome << " " << count << ";";
  std::cout << out.str() << "\n"
            << tally.cuts << " simulated power cuts, " << tally.lost << " lost, " << tally.wrong
            << " wrong\n";
  grand_total.cuts += tally.cuts;
  grand_total.lost += tally.lost;
  grand_total.wrong += tally.wrong;
  EXPECT_EQ(tally.lost, 0u) << name << ": both snapshots lost";
  EXPECT_EQ(tally.wrong, 0u) << name << ": a file that verifies with other bytes";
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The power goes off at every call of the life in turn.
template <typename Pool>
void sweep_every_call(const Life& life, double share) {
  const auto start = std::chrono::steady_clock::now();
  std::mt19937_64 random(kSeed);
  Tally tally;
  // Without a cut the power goes off after the last call: also a case.
  const Run whole = run_and_judge<Pool>(life, {}, 1, random, tally);
  const std::uint64_t outcomes = outcomes_per_position(share, whole.calls + 1);
  std::cout << "[ power    ] " << life.name << ": " << whole.calls << " calls, " << outcomes
            << " surviving states per call position, seed " << kSeed << "\n";
  for (std::uint64_t position = 0;; ++position) {
    const PowerLossPlan plan{.cut_at = position, .failing_sync = std::nullopt};
    if (!run_and_judge<Pool>(life, plan, outcomes, random, tally).cut) break;
  }
  finish(life.name, tally, seconds_since(start));
}

// For every fsync / fdatasync of the life: that one fails, the life goes on,
// and the power goes off at every later call in turn.
template <typename Pool>
void sweep_failed_syncs(const Life& life, double share) {
  const auto start = std::chrono::steady_clock::now();
  std::mt19937_64 random(kSeed);
  Tally tally;
  std::uint64_t syncs = 0;
  {
    const TempDir scratch;
    Expectation expected;
    begin(life, scratch.path(), expected);
    PowerLossSimulator simulator(scratch.path(), {});
    live<Pool>(life, scratch / "pool", simulator, expected);
    syncs = simulator.syncs();
  }
  // Runs with each sync failing and no cut: where it fails, how long the life is.
  std::vector<Run> lives;
  std::uint64_t positions = 0;
  for (std::uint64_t sync = 0; sync < syncs; ++sync) {
    const PowerLossPlan plan{.cut_at = std::nullopt, .failing_sync = sync};
    lives.push_back(run_and_judge<Pool>(life, plan, 1, random, tally));
    EXPECT_TRUE(lives.back().failed_sync_call) << life.name << ": sync " << sync << " never failed";
    positions += lives.back().calls - lives.back().failed_sync_call.value_or(0);
  }
  const std::uint64_t outcomes = outcomes_per_position(share, positions);
  std::cout << "[ power    ] " << life.name << ": " << syncs << " syncs, " << positions
            << " call positions after a failed one, " << outcomes << " surviving states each, seed "
            << kSeed << "\n";
  for (std::uint64_t sync = 0; sync < syncs; ++sync) {
    for (std::uint64_t position = lives[sync].failed_sync_call.value_or(0) + 1;; ++position) {
      const PowerLossPlan plan{.cut_at = position, .failing_sync = sync};
      if (!run_and_judge<Pool>(life, plan, outcomes, random, tally).cut) break;
    }
  }
  finish(life.name, tally, seconds_since(start));
}

// Where and how the sweeps run, set before any test.
class Setting : public ::testing::Environment {
 public:
  void SetUp() override {
    // The simulator models the disk, so the real files need only behave as
    // files: on a memory file system the real syncs cost nothing (the sweeps
    // ran 7 times faster than on ext4 on a virtual disk). TMPDIR chooses
    // another place.
    if (std::getenv("TMPDIR") == nullptr && std::filesystem::is_directory("/dev/shm")) {
      ::setenv("TMPDIR", "/dev/shm", 0);
    }
    // The model copies whole files. glibc would give each freed 20 MiB block
    // back to the system and fault the next one in page by page, which on a
    // virtual machine cost more than all the rest (10 times as much): keep
    // freed memory in the heap.
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
  }
};
const auto* const kSetting = ::testing::AddGlobalTestEnvironment(new Setting);

// Prints the total over the sweeps when the program ends.
class TotalReporter : public ::testing::Environment {
 public:
  void TearDown() override {
    std::cout << grand_total.cuts << " simulated power cuts, " << grand_total.lost << " lost, "
              << grand_total.wrong << " wrong\n";
  }
};
const auto* const kReporter = ::testing::AddGlobalTestEnvironment(new TotalReporter);

TEST(PowerLoss, FileBackedMemoryKeepsOldOrNewSnapshot) {
  sweep_every_call<FileBackedMemory>({"FileBackedMemory", kSmallSize, {}}, 0.3);
}

TEST(PowerLoss, MmapFileServesOnlyFlushedSnapshots) {
  sweep_every_call<MmapFile>({"MmapFile", kSmallSize, {}}, 0.3);
}

TEST(PowerLoss, FileBackedMemoryOfSeveralBlocksKeepsOldOrNewSnapshot) {
  const TempDir start;
  save_first_generation<FileBackedMemory>(start.path(), kLargeSize);
  sweep_every_call<FileBackedMemory>({"FileBackedMemory, several blocks", kLargeSize, start.path()},
                                     0.015);
}

TEST(PowerLoss, MmapFileOfSeveralBlocksServesOnlyFlushedSnapshots) {
  const TempDir start;
  save_first_generation<MmapFile>(start.path(), kLargeSize);
  sweep_every_call<MmapFile>({"MmapFile, several blocks", kLargeSize, start.path()}, 0.015);
}

// Saves that write only what changed: generations a block apart, over a
// start whose two files both hold a snapshot and its index.
Life incremental_life(const std::string& name, Changes changes,
                      const std::filesystem::path& start) {
  Life life{name, 12 * kStepBlock + 100, start, {kFirstStep, kFirstStep + 1, kFirstStep + 2}, {},
            true};
  life.options.block_size = kStepBlock;
  life.options.changes = changes;
  save_first_generation<FileBackedMemory>(start, life.size, life.options, 2);
  return life;
}

TEST(PowerLoss, FileBackedMemoryIncrementalSavesKeepOldOrNewSnapshot) {
  const TempDir start;
  sweep_every_call<FileBackedMemory>(
      incremental_life("FileBackedMemory, incremental", Changes::compare, start.path()), 0.1);
}

TEST(PowerLoss, FileBackedMemoryMarkedSavesKeepOldOrNewSnapshot) {
  const TempDir start;
  sweep_every_call<FileBackedMemory>(
      incremental_life("FileBackedMemory, marked", Changes::marked, start.path()), 0.1);
}

// Opened lazily: the open reads only the pool file's index (the spare's
// waits for the first save), and the saves after it start from there.
TEST(PowerLoss, FileBackedMemoryLazilyOpenedSavesKeepOldOrNewSnapshot) {
  for (const Changes changes : {Changes::compare, Changes::marked}) {
    const TempDir start;
    Life life = incremental_life(
        changes == Changes::compare ? "FileBackedMemory, lazy open, incremental"
                                    : "FileBackedMemory, lazy open, marked",
        changes, start.path());
    life.options.lazy = true;
    sweep_every_call<FileBackedMemory>(life, 0.1);
  }
}

TEST(PowerLoss, FileBackedMemoryBackgroundSavesKeepOldOrNewSnapshot) {
  const TempDir start;
  Life life =
      incremental_life("FileBackedMemory, background, marked", Changes::marked, start.path());
  life.background = true;
  sweep_every_call<FileBackedMemory>(life, 0.1);
}

TEST(PowerLoss, FileBackedMemoryWholeBackgroundSavesKeepOldOrNewSnapshot) {
  Life life{"FileBackedMemory, background, whole", kSmallSize, {}};
  life.background = true;
  life.later = {2, 3};
  sweep_every_call<FileBackedMemory>(life, 0.2);
}

TEST(PowerLoss, FileBackedMemoryBackgroundSavesKeepOldOrNewSnapshotAfterAFailedSync) {
  const TempDir start;
  Life life =
      incremental_life("FileBackedMemory, background, failed sync", Changes::marked, start.path());
  life.background = true;
  sweep_failed_syncs<FileBackedMemory>(life, 0.1);
}

TEST(PowerLoss, MarkedMmapFileServesOnlyFlushedSnapshots) {
  const TempDir start;
  Life life{"MmapFile, marked",
            12 * kStepBlock + 100,
            start.path(),
            {kFirstStep, kFirstStep + 1, kFirstStep + 2},
            {},
            true};
  life.options.block_size = kStepBlock;
  life.options.changes = Changes::marked;
  save_first_generation<MmapFile>(start.path(), life.size, life.options);
  sweep_every_call<MmapFile>(life, 0.05);
}

TEST(PowerLoss, FileBackedMemoryIncrementalSavesKeepOldOrNewSnapshotAfterAFailedSync) {
  const TempDir start;
  sweep_failed_syncs<FileBackedMemory>(
      incremental_life("FileBackedMemory, incremental, failed sync", Changes::marked, start.path()),
      0.1);
}

TEST(PowerLoss, FileBackedMemoryKeepsOldOrNewSnapshotAfterAFailedSync) {
  sweep_failed_syncs<FileBackedMemory>({"FileBackedMemory, failed sync", kSmallSize, {}}, 0.185);
}

TEST(PowerLoss, MmapFileServesOnlyFlushedSnapshotsAfterAFailedSync) {
  sweep_failed_syncs<MmapFile>({"MmapFile, failed sync", kSmallSize, {}}, 0.185);
}

// ---------------------------------------------------------------------------
// The simulator is not vacuous: saves that are not crash-safe fail its check.

enum class Saver {
  in_place,              // truncate and rewrite the file, no sync
  rename_without_sync,   // write a new file, rename it over, sync the directory only
  mapped_without_msync,  // write through a shared mapping, never msync
  careful,               // write a new file, fdatasync, rename it over, sync the directory
};

// Saves `bytes` as the file "data" of `dir` through the system-call table;
// stops at the first failing call.
void save_with(Saver saver, const std::filesystem::path& dir, std::span<const std::byte> bytes) {
  const platform::Syscalls& calls = platform::syscalls();
  const std::string data = (dir / "data").string();
  const std::string temp = (dir / "data.tmp").string();
  if (saver == Saver::in_place) {
    const int fd = calls.openat(AT_FDCWD, data.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC, 0);
    if (fd < 0) return;
    calls.pwrite(fd, bytes.data(), bytes.size(), 0);
    calls.close(fd);
    return;
  }
  if (saver == Saver::mapped_without_msync) {
    const int fd = calls.openat(AT_FDCWD, data.c_str(), O_RDWR | O_CLOEXEC, 0);
    if (fd < 0) return;
    void* p = calls.mmap(nullptr, bytes.size(), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p != MAP_FAILED) {
      std::memcpy(p, bytes.data(), bytes.size());
      calls.munmap(p, bytes.size());
    }
    calls.close(fd);
    return;
  }
  const int fd =
      calls.openat(AT_FDCWD, temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return;
  const bool written =
      calls.pwrite(fd, bytes.data(), bytes.size(), 0) == static_cast<ssize_t>(bytes.size()) &&
      (saver != Saver::careful || calls.fdatasync(fd) == 0);
  calls.close(fd);
  if (!written || calls.renameat2(AT_FDCWD, temp.c_str(), AT_FDCWD, data.c_str(), 0) != 0) return;
  const int dir_fd = calls.openat(AT_FDCWD, dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
  if (dir_fd < 0) return;
  calls.fsync(dir_fd);
  calls.close(dir_fd);
}

// Cuts the power at every call of a save of generation 2 over a durable
// generation 1, and judges 200 surviving states each: "data" must hold
// generation 1 or 2 (only 2 once the save returned).
Tally sweep_saver(Saver saver) {
  std::mt19937_64 random(kSeed);
  Tally tally;
  const std::vector<std::byte>& old_bytes = generation_bytes(kSmallSize, 1);
  const std::vector<std::byte>& new_bytes = generation_bytes(kSmallSize, 2);
  for (std::uint64_t position = 0;; ++position) {
    const TempDir scratch;
    testing::write_file(scratch / "data", old_bytes);
    PowerLossSimulator simulator(scratch.path(),
                                 {.cut_at = position, .failing_sync = std::nullopt});
    save_with(saver, scratch.path(), new_bytes);
    const bool cut = position < simulator.calls();
    simulator.disarm();
    for (int i = 0; i < 200; ++i) {
      const auto files = simulator.surviving(random).files;
      const auto data = files.find("data");
      ++tally.cuts;
      if (data == files.end()) {
        ++tally.lost;
      } else if (data->second == new_bytes) {
        ++tally.outcomes["new"];
      } else if (data->second == old_bytes && cut) {
        ++tally.outcomes["old"];
      } else {
        ++tally.wrong;
      }
    }
    if (!cut) return tally;
  }
}

TEST(PowerLoss, SimulatorCatchesSavesThatAreNotCrashSafe) {
  for (const Saver saver :
       {Saver::in_place, Saver::rename_without_sync, Saver::mapped_without_msync}) {
    const Tally tally = sweep_saver(saver);
    std::cout << "[ power    ] broken save " << static_cast<int>(saver) << ": " << tally.cuts
              << " cuts, " << tally.lost << " lost, " << tally.wrong << " wrong\n";
    EXPECT_GT(tally.lost + tally.wrong, 0u) << "saver " << static_cast<int>(saver);
  }
}

TEST(PowerLoss, SimulatorPassesACrashSafeSave) {
  Tally tally = sweep_saver(Saver::careful);
  std::cout << "[ power    ] careful save: " << tally.cuts << " cuts, old " << tally.outcomes["old"]
            << ", new " << tally.outcomes["new"] << "\n";
  EXPECT_EQ(tally.lost, 0u);
  EXPECT_EQ(tally.wrong, 0u);
  // And it does not keep everything, nor nothing.
  EXPECT_GT(tally.outcomes["old"], 0u);
  EXPECT_GT(tally.outcomes["new"], 0u);
}

}  // namespace
}  // namespace datatier
