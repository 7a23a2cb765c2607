// `datatier bench`: what creating, filling, saving (whole, and with a few
// blocks changed), dropping and loading a pool of each kind costs on this
// machine, next to what the machine's memory, disk and hash function can do
// at best (baselines measured in the same run).
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <exception>
#include <filesystem>
#include <memory>
#include <numeric>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <blake3.h>  // the official BLAKE3 C API, for the hashing baseline

#include "commands.h"
#include "datatier/block_index.h"
#include "datatier/error.h"
#include "datatier/file_backed_memory.h"
#include "datatier/memory.h"
#include "datatier/mmap_file.h"
#include "lazy_open.h"
#include "os.h"
#include "output.h"
#include "serving.h"
#include "size.h"
#include "splitmix64.h"

namespace datatier::cli {
namespace {

// Plain-file baselines use large sequential I/O, as the pools' own code does.
constexpr std::size_t kIoChunk = std::size_t{8} << 20;
// Long in-memory loops check for Ctrl-C after each chunk of this size.
constexpr std::size_t kLoopChunk = std::size_t{64} << 20;
// The incremental saves change whole blocks of the pool's default block
// index; their write baseline keeps as many writes in flight as the pool's
// own transfers do.
constexpr std::size_t kChangedBlock = kDefaultBlockSize;
constexpr unsigned kChangedDepth = 4;
// flush_serving: how long the writers run without a save, for their idle rate.
constexpr double kServingIdleSeconds = 1.0;

struct BenchOptions {
  std::string size = "1GiB";
  std::string dir;
  std::string kinds = "memory,mmap,fbm";
  unsigned repeat = 3;
  unsigned threads = 0;  // 0 = all cores
  double changed = 1;    // percent of the fbm pool's blocks an incremental save finds changed
  bool cold = false;
  bool json = false;
};

enum class Kind { memory, mmap, fbm };

std::string_view kind_name(Kind kind) {
  switch (kind) {
    case Kind::memory:
      return "memory";
    case Kind::mmap:
      return "mmap";
    case Kind::fbm:
      return "fbm";
  }
  return "?";
}

std::vector<Kind> parse_kinds(const std::string& text) {
  std::vector<Kind> kinds;
  std::size_t begin = 0;
  while (begin <= text.size()) {
    const std::size_t end = std::min(text.find(',', begin), text.size());
    const std::string_view name = std::string_view(text).substr(begin, end - begin);
    Kind kind;
    if (name == "memory") {
      kind = Kind::memory;
    } else if (name == "mmap") {
      kind = Kind::mmap;
    } else if (name == "fbm") {
      kind = Kind::fbm;
    } else {
      throw UsageError(
          fmt::format("--kinds \"{}\": unknown pool kind \"{}\" (expected a comma-separated "
                      "list of memory, mmap, fbm)",
                      text, name));
    }
    if (std::find(kinds.begin(), kinds.end(), kind) != kinds.end()) {
      throw UsageError(fmt::format(R"(--kinds "{}": "{}" is named twice)", text, name));
    }
    kinds.push_back(kind);
    begin = end + 1;
  }
  return kinds;
}

// --- Measurements ------------------------------------------------------------

using Clock = std::chrono::steady_clock;

template <typename F>
double seconds_of(F&& work) {
  const auto start = Clock::now();
  work();
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// The times of one thing over the repeats.
struct Runs {
  std::vector<double> seconds;

  double median() const {
    std::vector<double> sorted = seconds;
    std::sort(sorted.begin(), sorted.end());
    const std::size_t n = sorted.size();
    if (n == 0) return 0;
    return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  }
};

// What the machine can do for the same size; each phase is compared with one.
enum Baseline : std::size_t {
  kFaultIn,
  kFaultInAll,
  kFill,
  kBlake3,
  kBlake3All,
  kBlake3Changed,
  kWriteFsync,
  kWriteDirect,
  kWriteChanged,
  kRead,
  kReadDirect,
  kMsync,
  kUnmap,
  kBaselineCount
};

struct BaselineInfo {
  const char* key;    // JSON name
  const char* label;  // table row
  const char* short_name;
};

constexpr std::array<BaselineInfo, kBaselineCount> kBaselines = {{
    {"fault_in", "fault-in of fresh anonymous memory, 1 thread", "fault-in"},
    {"fault_in_all", "fault-in, huge pages (MADV_HUGEPAGE), all threads", "fault-in all cores"},
    {"fill", "fill (splitmix64) of that memory", "fill"},
    {"blake3", "BLAKE3 over that memory, 1 thread", "BLAKE3"},
    {"blake3_all", "BLAKE3, all threads (one hasher per slice)", "BLAKE3 all cores"},
    {"blake3_changed", "BLAKE3 of the changed blocks, all threads", "BLAKE3 of changed blocks"},
    {"write_fsync", "write + fsync of a reserved file (8 MiB writes)", "write+fsync"},
    {"write_direct", "write + fsync with O_DIRECT (no page cache)", "O_DIRECT write"},
    {"write_changed", "write + fsync of the changed blocks, random order",
     "write of changed blocks"},
    {"read", "read of that file (8 MiB reads)", "read"},
    {"read_direct", "read of that file with O_DIRECT (8 MiB reads)", "O_DIRECT read"},
    {"msync", "msync(MS_SYNC) of a dirtied shared mapping", "msync"},
    {"unmap", "unmap of the memory", "unmap"},
}};

enum Phase : std::size_t {
  kCreate,
  kFillPhase,
  kFlush,
  kFlushCompare,
  kFlushMarked,
  kFlushServing,
  kDrop,
  kOpen,
  kReopen,
  kOpenLazy,
  kHandOff,
  kPhaseCount
};

struct PhaseInfo {
  const char* name;
  const char* what;  // for --help and docs
};

constexpr std::array<PhaseInfo, kPhaseCount> kPhases = {{
    {"create", "create(), which faults in the memory or maps the file"},
    {"fill", "splitmix64 over all of data()"},
    {"flush", "flush()"},
    {"flush_compare",
     "flush() after --changed percent of the blocks changed, Changes::compare (fbm only)"},
    {"flush_marked",
     "flush() after --changed percent of the blocks changed, each declared with mark_dirty(), "
     "Changes::marked (fbm and mmap)"},
    {"flush_serving",
     "begin_flush() of the whole pool (Changes::compare) while writer threads (all cores but "
     "one) write random 4-64 KiB values at full speed, each declared with mark_dirty(), until "
     "the save has ended (fbm only)"},
    {"drop", "destroying the pool"},
    {"open", "open(), which reads and verifies the file"},
    {"reopen",
     "open() again with the whole file in the page cache (fbm only: its flush bypasses the "
     "cache, so open reads the disk; an mmap open always finds the file cached)"},
    {"open_lazy",
     "open() with FileOptions::lazy of the file dropped from the page cache, until it returns "
     "(fbm only); loaded_seconds: until wait_loaded() returns, also as a fraction of an eager "
     "open() of the same file, dropped from the cache too (eager_seconds, loaded_vs_open); "
     "first_read_*: the latencies of one thread's 8-byte reads at random 4 KiB-aligned offsets "
     "of the pool while the load ran (reads: how many); huge_bytes, eager_huge_bytes: the "
     "pool's bytes on huge pages after each"},
    {"handoff",
     "hand_off() of the pool, opened with shareable memory, to a child process, from the call "
     "until the child's take_over() returns (fbm only); verified_seconds: the same with "
     "FileOptions::verify_on_take_over; io_bytes: the storage bytes both processes read and "
     "wrote meanwhile (/proc/PID/io), the most of any hand-off"},
}};

struct KindResult {
  Kind kind;
  std::array<Runs, kPhaseCount> phases;
  Runs verified_handoff;                // kHandOff with verify_on_take_over
  std::vector<std::uint64_t> io_bytes;  // of each hand-off, both processes
};

// The steady clock's reading in nanoseconds: CLOCK_MONOTONIC, the same in
// every process of the machine.
std::uint64_t steady_ns() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
          .count());
}

// The storage bytes this process read and wrote since `before` (a reading
// of os::storage_io_bytes()); 0 where the kernel does not count them.
std::uint64_t storage_io_since(const std::optional<std::uint64_t>& before) {
  const auto now = os::storage_io_bytes();
  return before && now ? *now - *before : 0;
}

// How long a hand-off may wait for its other side: long enough for a child
// that verifies a large pool on all cores.
constexpr std::chrono::minutes kHandOffTimeout{10};

// Removes, at the latest on destruction (also while an exception unwinds,
// e.g. after Ctrl-C), every file the bench may have made, and the directory
// when the bench made that too.
class Scratch {
 public:
  Scratch(std::filesystem::path dir, bool owns_dir) : dir_(std::move(dir)), owns_dir_(owns_dir) {}
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  ~Scratch() {
    std::error_code ignored;
    for (const auto& path : files_) std::filesystem::remove(path, ignored);
    if (owns_dir_) std::filesystem::remove_all(dir_, ignored);
  }

  const std::filesystem::path& dir() const noexcept { return dir_; }

  // A path in the directory for this process; removed by remove_all().
  std::filesystem::path file(std::string_view name) {
    files_.push_back(dir_ / fmt::format("datatier-bench-{}-{}", os::process_id(), name));
    return files_.back();
  }

  // Tracks a path some other code names (a pool's spare file).
  void track(std::filesystem::path path) { files_.push_back(std::move(path)); }

  // Removes every file now; throws on failure, as a leftover would skew what follows.
  void remove_all() {
    for (const auto& path : files_) std::filesystem::remove(path);
  }

 private:
  std::filesystem::path dir_;
  bool owns_dir_;
  std::vector<std::filesystem::path> files_;
};

// Default options but for the thread count (--threads; 0 = all cores) and
// how an fbm save finds what changed.
FileOptions file_options(unsigned threads, Changes changes = Changes::compare) {
  FileOptions options;
  options.threads = threads;
  options.changes = changes;
  // The drop phase releases the pool as a server's exit would, without a
  // clean close (which would save it again): an MmapFile keeps its in-use
  // mark, and open() serves the last flush.
  options.accept_unclean = true;
  return options;
}

std::unique_ptr<Datapool> create_pool(Kind kind, const std::filesystem::path& path,
                                      std::size_t size, unsigned threads) {
  switch (kind) {
    case Kind::memory: {
      MemoryOptions options;
      options.threads = threads;
      return std::make_unique<Memory>(Memory::create(size, options));
    }
    case Kind::mmap:
      return std::make_unique<MmapFile>(MmapFile::create(path, size, 0, file_options(threads)));
    case Kind::fbm:
      return std::make_unique<FileBackedMemory>(
          FileBackedMemory::create(path, size, 0, file_options(threads)));
  }
  return nullptr;
}

std::unique_ptr<Datapool> open_pool(Kind kind, const std::filesystem::path& path, std::size_t size,
                                    unsigned threads, Changes changes) {
  if (kind == Kind::mmap) {
    return std::make_unique<MmapFile>(
        MmapFile::open(path, size, 0, file_options(threads, changes)));
  }
  return std::make_unique<FileBackedMemory>(
      FileBackedMemory::open(path, size, 0, file_options(threads, changes)));
}

// --- Changed blocks ----------------------------------------------------------

// How many of the kChangedBlock-byte blocks of `size` bytes `percent` of
// them is: at least one.
std::size_t changed_block_count(std::size_t size, double percent) {
  const std::size_t blocks = (size + kChangedBlock - 1) / kChangedBlock;
  const auto wanted =
      static_cast<std::size_t>(std::llround(static_cast<double>(blocks) * percent / 100));
  return std::clamp<std::size_t>(wanted, 1, blocks);
}

// The data offsets of `count` distinct kChangedBlock-byte blocks of `size`
// bytes, picked at random from a fixed `seed` (a partial Fisher-Yates
// shuffle), ascending.
std::vector<std::uint64_t> random_blocks(std::size_t size, std::size_t count, std::uint64_t seed) {
  std::vector<std::uint64_t> blocks((size + kChangedBlock - 1) / kChangedBlock);
  std::iota(blocks.begin(), blocks.end(), std::uint64_t{0});
  SplitMix64 random(seed);
  for (std::size_t i = 0; i < count; ++i) {
    std::swap(blocks[i], blocks[i + random.next() % (blocks.size() - i)]);
  }
  blocks.resize(count);
  std::sort(blocks.begin(), blocks.end());
  for (auto& block : blocks) block *= kChangedBlock;
  return blocks;
}

// Seeds of the sets of changed blocks: a fresh set for each run and use.
enum class ChangeSeed : std::uint64_t { write_baseline, hash_baseline, compare, marked };
std::uint64_t change_seed(ChangeSeed use, unsigned run) {
  return std::uint64_t{run} * 4 + static_cast<std::uint64_t>(use);
}

// Inverts the first word of each block at `offsets` in `pool` (so that every
// one of them changes), declaring each with mark_dirty() when `mark`.
void change_blocks(Datapool& pool, std::span<const std::uint64_t> offsets, bool mark) {
  const std::span<std::byte> data = pool.data();
  for (const std::uint64_t offset : offsets) {
    const auto at = static_cast<std::size_t>(offset);
    const std::size_t length = std::min<std::size_t>(8, data.size() - at);
    for (std::byte& b : data.subspan(at, length)) b = ~b;
    if (mark) pool.mark_dirty(at, length);
  }
}

// For the file transfers: ends them between chunks once Ctrl-C or SIGTERM
// has arrived.
void check_interrupted_after_chunk(std::uint64_t /*done*/) {
  os::throw_if_interrupted();
}

void interruptible_fill(std::span<std::byte> data) {
  SplitMix64 generator(1);
  for (std::size_t offset = 0; offset < data.size(); offset += kLoopChunk) {
    generator.fill(data.subspan(offset, std::min(kLoopChunk, data.size() - offset)));
    os::throw_if_interrupted();
  }
}

// Plain single-threaded BLAKE3, the official implementation with its SIMD
// kernels: what hashing costs without any of the library's own machinery.
Checksum interruptible_blake3(std::span<const std::byte> data) {
  blake3_hasher hasher;
  blake3_hasher_init(&hasher);
  for (std::size_t offset = 0; offset < data.size(); offset += kLoopChunk) {
    const std::size_t n = std::min(kLoopChunk, data.size() - offset);
    blake3_hasher_update(&hasher, data.data() + offset, n);
    os::throw_if_interrupted();
  }
  Checksum out;
  blake3_hasher_finalize(&hasher, reinterpret_cast<std::uint8_t*>(out.data()), out.size());
  return out;
}

// Runs work(t) for t in [0, threads) on as many threads (this one among
// them), then rethrows the first exception any of them threw.
template <typename Work>
void run_on_threads(unsigned threads, Work work) {
  threads = std::max(1u, threads);
  std::vector<std::exception_ptr> errors(threads);
  auto guarded = [&](unsigned t) {
    try {
      work(t);
    } catch (...) {
      errors[t] = std::current_exception();
    }
  };
  {
    std::vector<std::jthread> pool;
    for (unsigned t = 1; t < threads; ++t) pool.emplace_back(guarded, t);
    guarded(0);
  }
  for (const auto& error : errors) {
    if (error) std::rethrow_exception(error);
  }
}

// The machine's hashing limit: `threads` threads each run the official
// single-threaded hasher over its own disjoint slice (the digests are thrown
// away; only the aggregate throughput matters).
void interruptible_blake3_parallel(std::span<const std::byte> data, unsigned threads) {
  threads = std::max(1u, threads);
  run_on_threads(threads, [&](unsigned t) {
    const std::size_t begin = data.size() * t / threads;
    const std::size_t end = data.size() * (t + 1) / threads;
    interruptible_blake3(data.subspan(begin, end - begin));
  });
}

// The limit for hashing the changed blocks: `threads` threads take the
// kChangedBlock-byte blocks at `offsets` in turn and hash each with its own
// official hasher, as a save hashes each block of its index on its own.
void blake3_blocks_parallel(std::span<const std::byte> data, std::span<const std::uint64_t> offsets,
                            unsigned threads) {
  std::atomic<std::size_t> next{0};
  run_on_threads(threads, [&](unsigned) {
    for (std::size_t i = next++; i < offsets.size(); i = next++) {
      const auto offset = static_cast<std::size_t>(offsets[i]);
      interruptible_blake3(data.subspan(offset, std::min(kChangedBlock, data.size() - offset)));
    }
  });
}

class Bench {
 public:
  Bench(const BenchOptions& options, std::size_t size, std::vector<Kind> kinds, Scratch& scratch)
      : options_(options),
        size_(size),
        threads_(options.threads != 0 ? options.threads
                                      : std::max(1u, std::thread::hardware_concurrency())),
        changed_blocks_(changed_block_count(size, options.changed)),
        kinds_(std::move(kinds)),
        scratch_(scratch) {}

  void run_baselines() {
    const auto plain = scratch_.file("baseline.dat");
    const os::ChunkCallback check = check_interrupted_after_chunk;
    // Untimed warm-up: the first fault-in of memory the process (or, in a
    // virtual machine, the guest) never touched before can cost ten times
    // the later ones, and would skew whichever phase came first.
    status_.show("datatier bench: warming up");
    os::AnonymousMemory::map_populated(size_).unmap();
    for (unsigned r = 1; r <= options_.repeat; ++r) {
      auto step = [&](Baseline b) {
        status_.show(fmt::format("datatier bench: baseline {}/{}: {}", r, options_.repeat,
                                 kBaselines[b].label));
        os::throw_if_interrupted();
      };
      // One fault-in mapping at a time, each unmapped before the next: the
      // pools reuse memory the process just gave back, and a second live
      // mapping would make the kernel (and, in a virtual machine, the host)
      // find fresh pages, which can cost several times more.
      step(kFaultInAll);
      {
        std::optional<os::AnonymousMemory> all;
        baselines_[kFaultInAll].seconds.push_back(seconds_of(
            [&] { all = os::AnonymousMemory::map_populated_parallel(size_, threads_); }));
      }
      step(kFaultIn);
      std::optional<os::AnonymousMemory> memory;
      baselines_[kFaultIn].seconds.push_back(
          seconds_of([&] { memory = os::AnonymousMemory::map_populated(size_); }));
      step(kFill);
      baselines_[kFill].seconds.push_back(seconds_of([&] { interruptible_fill(memory->bytes()); }));
      step(kBlake3);
      baselines_[kBlake3].seconds.push_back(
          seconds_of([&] { interruptible_blake3(memory->bytes()); }));
      step(kBlake3All);
      baselines_[kBlake3All].seconds.push_back(
          seconds_of([&] { interruptible_blake3_parallel(memory->bytes(), threads_); }));
      step(kBlake3Changed);
      {
        const auto offsets =
            random_blocks(size_, changed_blocks_, change_seed(ChangeSeed::hash_baseline, r));
        baselines_[kBlake3Changed].seconds.push_back(
            seconds_of([&] { blake3_blocks_parallel(memory->bytes(), offsets, threads_); }));
      }
      // Direct first: it drops the file's cached pages, which the buffered
      // write then leaves in the page cache for the (warm) read.
      os::create_reserved_file(plain, size_);  // untimed, like a pool's create
      step(kWriteDirect);
      bool direct = false;
      const double direct_seconds = seconds_of(
          [&] { direct = os::write_file_synced(plain, memory->bytes(), kIoChunk, true, check); });
      if (direct) baselines_[kWriteDirect].seconds.push_back(direct_seconds);
      step(kWriteFsync);
      baselines_[kWriteFsync].seconds.push_back(seconds_of(
          [&] { os::write_file_synced(plain, memory->bytes(), kIoChunk, false, check); }));
      step(kReadDirect);
      {
        std::optional<std::uint64_t> read;
        const double read_seconds =
            seconds_of([&] { read = os::read_file_direct(plain, kIoChunk, check); });
        if (read) baselines_[kReadDirect].seconds.push_back(read_seconds);
      }
      if (options_.cold) os::evict_from_page_cache(plain);
      step(kRead);
      baselines_[kRead].seconds.push_back(
          seconds_of([&] { os::read_file(plain, kIoChunk, check); }));
      // Into the file written whole above, as a save writes into a spare
      // written before; direct where the file system has it (`direct`), as
      // the pool writes.
      step(kWriteChanged);
      {
        const auto offsets =
            random_blocks(size_, changed_blocks_, change_seed(ChangeSeed::write_baseline, r));
        baselines_[kWriteChanged].seconds.push_back(seconds_of([&] {
          os::write_blocks_synced(plain, memory->bytes(), offsets, kChangedBlock, kChangedDepth,
                                  direct, check);
        }));
      }
      std::filesystem::remove(plain);
      // msync: a reserved file mapped and faulted in as MmapFile::create does,
      // dirtied (untimed), synced.
      os::create_reserved_file(plain, size_);
      step(kMsync);
      baselines_[kMsync].seconds.push_back(os::dirty_and_msync(
          plain, size_, [](std::span<std::byte> data) { interruptible_fill(data); }));
      std::filesystem::remove(plain);
      step(kUnmap);
      baselines_[kUnmap].seconds.push_back(seconds_of([&] { memory->unmap(); }));
    }
  }

  void run_kinds() {
    for (Kind kind : kinds_) {
      KindResult result{kind, {}, {}, {}};
      const auto path = scratch_.file(fmt::format("{}.pool", kind_name(kind)));
      if (kind == Kind::fbm) {
        scratch_.track(FileBackedMemory::spare_path(path));
        scratch_.track(FileBackedMemory::index_path(path));
        scratch_.track(FileBackedMemory::index_path(FileBackedMemory::spare_path(path)));
      }
      for (unsigned r = 1; r <= options_.repeat; ++r) {
        auto step = [&](Phase p) {
          status_.show(fmt::format("datatier bench: {} {}/{}: {}", kind_name(kind), r,
                                   options_.repeat, kPhases[p].name));
          os::throw_if_interrupted();
        };
        auto& phases = result.phases;
        std::unique_ptr<Datapool> pool;
        step(kCreate);
        phases[kCreate].seconds.push_back(
            seconds_of([&] { pool = create_pool(kind, path, size_, options_.threads); }));
        step(kFillPhase);
        phases[kFillPhase].seconds.push_back(seconds_of([&] { interruptible_fill(pool->data()); }));
        step(kFlush);
        phases[kFlush].seconds.push_back(seconds_of([&] { pool->flush(); }));
        if (kind == Kind::fbm) {
          // The second save writes everything too, as the spare holds no
          // snapshot yet; from the third on, a save writes what differs
          // from the spare's snapshot (untimed).
          pool->flush();
          step(kFlushCompare);
          time_incremental_flush(*pool, phases[kFlushCompare], ChangeSeed::compare, r);
          pool->flush();
          step(kFlushServing);
          time_flush_serving(static_cast<FileBackedMemory&>(*pool), phases[kFlushServing]);
          // Untimed: both files take the same snapshot, so that the marked
          // save below finds only its own changes (each save of a steady
          // stream of changes also writes the blocks changed before the
          // previous save: the spare is a snapshot older).
          pool->flush();
          pool->flush();
        }
        step(kDrop);
        phases[kDrop].seconds.push_back(seconds_of([&] { pool.reset(); }));
        if (kind != Kind::memory) {
          if (options_.cold) os::evict_from_page_cache(path);
          step(kOpen);
          // Opened to save marked blocks: an fbm pool's first save after
          // open() writes only what changed when the spare's index is valid;
          // an mmap pool hashes only the marked blocks from its first save.
          phases[kOpen].seconds.push_back(seconds_of(
              [&] { pool = open_pool(kind, path, size_, options_.threads, Changes::marked); }));
          step(kFlushMarked);
          time_incremental_flush(*pool, phases[kFlushMarked], ChangeSeed::marked, r);
          if (kind == Kind::fbm && !options_.cold) {
            // As a file saved through the page cache would be (untimed): saved
            // cleanly and read once through the cache while the pool still
            // holds its memory, which the new pool then takes over, as it
            // does after a buffered flush. (Memory that the page cache took
            // in between could be memory the guest of a virtual machine gave
            // back to its host, slow to touch again.)
            pool->flush();
            os::read_file(path, kIoChunk, check_interrupted_after_chunk);
            pool.reset();
            step(kReopen);
            phases[kReopen].seconds.push_back(seconds_of(
                [&] { pool = open_pool(kind, path, size_, options_.threads, Changes::compare); }));
          }
          pool.reset();
        }
        if (kind == Kind::fbm) {
          step(kOpenLazy);
          time_open_lazy(path, phases[kOpenLazy]);
          step(kHandOff);
          time_hand_offs(path, result);
        }
        scratch_.remove_all();
      }
      results_.push_back(std::move(result));
    }
    status_.clear();
  }

  void print_json(const std::filesystem::path& dir) const {
    nlohmann::json baselines = nlohmann::json::object();
    for (std::size_t b = 0; b < kBaselineCount; ++b) {
      if (baselines_[b].seconds.empty()) {  // O_DIRECT where the file system has none
        baselines[kBaselines[b].key] = {
            {"seconds", nullptr}, {"gbps", nullptr}, {"runs", nlohmann::json::array()}};
      } else {
        baselines[kBaselines[b].key] =
            measurement_json(baselines_[b].seconds, baselines_[b].median());
      }
      baselines[kBaselines[b].key]["description"] = kBaselines[b].label;
    }
    for (std::size_t d = 0; d < kDerivedCount; ++d) {
      const DerivedLimit limit = derived(static_cast<Derived>(d));
      baselines[limit.key] = {{"description", limit.description},
                              {"seconds", limit.seconds},
                              {"gbps", gigabytes_per_second(size_, limit.seconds)}};
    }
    nlohmann::json kinds = nlohmann::json::object();
    for (const KindResult& result : results_) {
      nlohmann::json phases = nlohmann::json::object();
      for (std::size_t p = 0; p < kPhaseCount; ++p) {
        if (result.phases[p].seconds.empty()) continue;
        const double median = result.phases[p].median();
        nlohmann::json entry = measurement_json(result.phases[p].seconds, median);
        const auto baseline = baseline_of(result.kind, static_cast<Phase>(p));
        entry["baseline"] = baseline ? nlohmann::json(baseline->key) : nlohmann::json(nullptr);
        entry["ratio"] = baseline && median > 0 ? nlohmann::json(baseline->seconds / median)
                                                : nlohmann::json(nullptr);
        if (incremental(static_cast<Phase>(p)) || p == kFlushServing) {
          entry["time_vs_flush"] = median / result.phases[kFlush].median();
        }
        if (p == kFlushServing) entry.update(serving_json());
        if (p == kOpenLazy) entry.update(lazy_open_json());
        if (p == kHandOff) {
          const double verified = result.verified_handoff.median();
          entry["verified_seconds"] = verified;
          entry["verified_runs"] = result.verified_handoff.seconds;
          entry["verified_vs_blake3_all"] = verified / baselines_[kBlake3All].median();
          entry["io_bytes"] = *std::max_element(result.io_bytes.begin(), result.io_bytes.end());
          entry["io_bytes_runs"] = result.io_bytes;
        }
        phases[kPhases[p].name] = std::move(entry);
      }
      kinds[kind_name(result.kind)] = std::move(phases);
    }
    const nlohmann::json out = {
        {"ok", true},
        {"version", DATATIER_VERSION},
        {"size", size_},
        {"file_size", *pool_file_size(size_)},
        {"dir", printable_path(dir)},
        {"repeat", options_.repeat},
        {"threads", threads_},
        {"page_cache", options_.cold ? "cold" : "warm"},
        {"statistic", "median"},
        {"gbps_unit", "1e9 bytes per second"},
        {"ratio",
         "phase speed / baseline speed (= baseline seconds / phase seconds; 1 = at the "
         "baseline, higher is faster)"},
        {"time_vs_flush",
         "flush_compare and flush_marked: phase seconds / seconds of the whole first flush of "
         "the same pool (lower is faster)"},
        {"loaded_vs_open",
         "open_lazy: seconds from the lazy open's start until its data is all in / seconds of an "
         "eager open of the same file, both with the file dropped from the page cache (lower is "
         "faster)"},
        {"changed",
         {{"percent", options_.changed},
          {"blocks", changed_blocks_},
          {"block_size", kChangedBlock},
          {"description",
           "before flush_compare and flush_marked, one word in each of this many blocks, a "
           "fresh random set each time, is changed; write_changed and blake3_changed take as "
           "many blocks"}}},
        {"baselines", std::move(baselines)},
        {"kinds", std::move(kinds)},
    };
    cli::print_json(out);
  }

  void print_table(const std::filesystem::path& dir) const {
    fmt::print(
        "datatier bench: {} ({} bytes) per pool, median of {} run{}, in {}, page cache {}, "
        "{} thread{}\n\n",
        format_size(size_), size_, options_.repeat, options_.repeat == 1 ? "" : "s",
        printable_path(dir), options_.cold ? "cold" : "warm", threads_, threads_ == 1 ? "" : "s");
    fmt::print("{:<50} {:>9} {:>9}\n", "baseline", "seconds", "GB/s");
    for (std::size_t b = 0; b < kBaselineCount; ++b) {
      if (baselines_[b].seconds.empty()) {
        fmt::print("{:<50} {:>9} {:>9}   (not supported here)\n", kBaselines[b].label, "-", "-");
        continue;
      }
      const double s = baselines_[b].median();
      fmt::print("{:<50} {:>9.3f} {:>9}\n", kBaselines[b].label, s, rate(s));
    }
    for (std::size_t d = 0; d < kDerivedCount; ++d) {
      const DerivedLimit limit = derived(static_cast<Derived>(d));
      fmt::print("{:<50} {:>9.3f} {:>9}\n", limit.label, limit.seconds, rate(limit.seconds));
    }
    if (std::find(kinds_.begin(), kinds_.end(), Kind::fbm) != kinds_.end()) {
      fmt::print(
          "\nfbm flush_compare, flush_marked: after {:g}% of the pool's {} blocks ({} of them, at "
          "random) changed; time x flush = their time / the whole flush's\n",
          options_.changed, format_size(kChangedBlock), changed_blocks_);
    }

    fmt::print("\n{:<8} {:<13} {:>9} {:>9}   {}\n", "kind", "phase", "seconds", "GB/s",
               "vs baseline (speed / baseline speed)");
    for (const KindResult& result : results_) {
      bool first = true;
      for (std::size_t p = 0; p < kPhaseCount; ++p) {
        if (result.phases[p].seconds.empty()) continue;
        const std::string kind = first ? std::string(kind_name(result.kind)) : std::string();
        first = false;
        const double s = result.phases[p].median();
        const auto baseline = baseline_of(result.kind, static_cast<Phase>(p));
        if (result.kind == Kind::memory && p == kFlush) {
          fmt::print("{:<8} {:<13} {:>9} {:>9}   (nothing to save)\n", kind, kPhases[p].name, "-",
                     "-");
          continue;
        }
        std::string versus =
            baseline && baseline->seconds > 0
                ? fmt::format("{:.2f} x {}", baseline->seconds / s, baseline->short_name)
                : std::string();
        if (incremental(static_cast<Phase>(p)) || p == kFlushServing) {
          versus += fmt::format("{}time {:.3f} x flush", versus.empty() ? "" : "; ",
                                s / result.phases[kFlush].median());
        }
        if (p == kFlushServing) {
          const nlohmann::json serving = serving_json();
          versus += fmt::format(
              "\n{:<33} writes {:.0f}/s vs {:.0f}/s idle ({:.2f} x); mark_dirty p99 {:.1f} us, "
              "p99.9 {:.1f} us; copies held at most {}",
              "", serving["writes_per_s"].get<double>(), serving["writes_per_s_idle"].get<double>(),
              serving["writes_ratio"].get<double>(), serving["mark_p99_us"].get<double>(),
              serving["mark_p999_us"].get<double>(),
              format_size(serving["extra_bytes_peak"].get<std::uint64_t>()));
        }
        if (p == kOpenLazy) {
          const nlohmann::json lazy = lazy_open_json();
          versus = fmt::format(
              "{}loaded after {:.3f} s = {:.2f} x an eager open's time ({:.3f} s)\n{:<33} {} "
              "first reads of 2 MiB regions during the load: p50 {:.1f} us, p99 {:.1f} us, "
              "p99.9 {:.1f} us, max {:.1f} us; {} waited for the loader: p50 {:.1f} us, p99 "
              "{:.1f} us; huge pages {} (eager: {})",
              lazy["lazy"].get<bool>() ? "" : "opened eagerly (a fallback); ",
              lazy["loaded_seconds"].get<double>(),
              lazy["loaded_vs_open"].is_null() ? 0.0 : lazy["loaded_vs_open"].get<double>(),
              lazy["eager_seconds"].get<double>(), "", lazy["reads"].get<std::uint64_t>(),
              lazy["first_read_p50_us"].get<double>(), lazy["first_read_p99_us"].get<double>(),
              lazy["first_read_p999_us"].get<double>(), lazy["first_read_max_us"].get<double>(),
              lazy["misses"].get<std::uint64_t>(), lazy["miss_p50_us"].get<double>(),
              lazy["miss_p99_us"].get<double>(), format_size(lazy["huge_bytes"].get<std::uint64_t>()),
              format_size(lazy["eager_huge_bytes"].get<std::uint64_t>()));
        }
        if (p == kHandOff) {
          const double verified = result.verified_handoff.median();
          versus = fmt::format(
              "verified: {:.3f} s = {:.2f} x BLAKE3 all cores' time; {} bytes of I/O at most",
              verified, verified / baselines_[kBlake3All].median(),
              *std::max_element(result.io_bytes.begin(), result.io_bytes.end()));
        }
        fmt::print("{:<8} {:<13} {:>9.3f} {:>9}   {}\n", kind, kPhases[p].name, s, rate(s), versus);
      }
    }
    fmt::print(
        "\nGB/s = 10^9 bytes per second. Ratio = phase speed / baseline speed: 1.00 x = as fast as "
        "the baseline, 0.50 x = half its speed (twice its time).\n");
  }

 private:
  struct BaselineRef {
    const char* key;
    std::string short_name;
    double seconds;
  };

  // The limits made of two baselines.
  enum Derived : std::size_t { kReadHash, kMsyncHash, kCompareLimit, kMarkedLimit, kDerivedCount };
  struct DerivedLimit {
    const char* key;          // JSON name
    std::string label;        // table row, and what a phase is compared with
    std::string description;  // JSON
    double seconds;
  };

  static bool incremental(Phase phase) { return phase == kFlushCompare || phase == kFlushMarked; }

  // Where a hand-off's socket goes: on tmpfs (/dev/shm) where there is
  // one, since a socket file made on a disk file system costs a metadata
  // write that io_bytes would count; in the bench's directory otherwise.
  std::filesystem::path socket_path(std::string_view name) {
    const std::filesystem::path shm = "/dev/shm";
    std::error_code ignored;
    if (!std::filesystem::is_directory(shm, ignored)) return scratch_.file(name);
    auto path = shm / fmt::format("datatier-bench-{}-{}.sock", os::process_id(), name);
    scratch_.track(path);
    return path;
  }

  // Opens the fbm pool at `path` with shareable memory (untimed; its pages
  // fault in as small pages where the kernel gives shared memory no huge
  // ones), then hands it to a child process twice: taking it without, then
  // with verification. Each child hands it back (untimed), so the pool is
  // never read again. Times each from the call of hand_off() until the
  // child's take_over() returned (the same clock in both processes), and
  // counts the storage bytes both read and wrote meanwhile.
  void time_hand_offs(const std::filesystem::path& path, KindResult& result) {
    FileOptions options = file_options(options_.threads, Changes::marked);
    options.memory.shareable = true;
    options.take_over_timeout = kHandOffTimeout;
    const auto socket = socket_path("handoff");
    const auto back = socket_path("handback");
    auto pool = FileBackedMemory::open(path, size_, 0, options);
    for (const bool verify : {false, true}) {
      FileOptions successor = options;
      successor.verify_on_take_over = verify;
      os::Child child = os::Child::start([&](const os::Child::Send& send) {
        const auto io_before = os::storage_io_bytes();
        auto taken = FileBackedMemory::take_over(socket, size_, 0, successor);
        send(steady_ns());
        send(storage_io_since(io_before));
        taken.hand_off(back, kHandOffTimeout);
        return 0;
      });
      const auto io_before = os::storage_io_bytes();
      const std::uint64_t start = steady_ns();
      pool.hand_off(socket, kHandOffTimeout);
      const std::uint64_t io = storage_io_since(io_before);
      const auto held = child.receive();
      const auto child_io = child.receive();
      if (!held || !child_io) {
        throw datatier::Error(std::make_error_code(std::errc::connection_reset), socket,
                              "the child process taking the pool over failed");
      }
      pool = FileBackedMemory::take_over(back, size_, 0, options);
      if (const int status = child.wait(); status != 0) {
        throw datatier::Error(
            std::make_error_code(std::errc::connection_reset), socket,
            fmt::format("the child process taking the pool over ended with {}", status));
      }
      const double seconds = static_cast<double>(*held - start) / 1e9;
      (verify ? result.verified_handoff : result.phases[kHandOff]).seconds.push_back(seconds);
      result.io_bytes.push_back(*child_io + io);
    }
  }

  // Changes a fresh random set of the pool's blocks, declaring them with
  // mark_dirty() for a marked save, and times the save that follows.
  void time_incremental_flush(Datapool& pool, Runs& runs, ChangeSeed use, unsigned run) const {
    const auto offsets = random_blocks(size_, changed_blocks_, change_seed(use, run));
    change_blocks(pool, offsets, use == ChangeSeed::marked);
    runs.seconds.push_back(seconds_of([&] { pool.flush(); }));
  }

  // A background save of the whole pool while writers write; the save's
  // time to `runs`, the rest to serving_.
  void time_flush_serving(FileBackedMemory& pool, Runs& runs) {
    const unsigned writers = threads_ > 1 ? threads_ - 1 : 1;
    serving_.push_back(
        measure_flush_serving(pool, writers, kServingIdleSeconds, os::throw_if_interrupted));
    runs.seconds.push_back(serving_.back().seconds);
  }

  // A lazy open of the saved pool at `path`, with an eager one as its
  // measure; the lazy open's time to `runs`, the rest to lazy_opens_.
  void time_open_lazy(const std::filesystem::path& path, Runs& runs) {
    lazy_opens_.push_back(measure_open_lazy(
        path, size_, file_options(options_.threads, Changes::compare), os::throw_if_interrupted));
    runs.seconds.push_back(lazy_opens_.back().seconds);
  }

  // The median over `runs` of one of their fields.
  template <typename Run, typename Field>
  static double median_of(const std::vector<Run>& runs, Field Run::*field) {
    Runs values;
    for (const Run& run : runs) values.seconds.push_back(static_cast<double>(run.*field));
    return values.median();
  }

  // The medians of the flush_serving figures.
  nlohmann::json serving_json() const {
    const auto median = [&](auto field) { return median_of(serving_, field); };
    return {{"begin_us", median(&ServingRun::begin_us)},
            {"writes_per_s", median(&ServingRun::writes_per_s)},
            {"writes_per_s_idle", median(&ServingRun::writes_per_s_idle)},
            {"writes_ratio", median(&ServingRun::writes_per_s) /
                                 std::max(1.0, median(&ServingRun::writes_per_s_idle))},
            {"mark_p99_us", median(&ServingRun::mark_p99_us)},
            {"mark_p999_us", median(&ServingRun::mark_p999_us)},
            {"extra_bytes_peak", static_cast<std::uint64_t>(median(&ServingRun::extra_bytes_peak))},
            {"copy_budget", FileOptions{}.copy_budget}};
  }

  // The medians of the open_lazy figures (beside its `seconds`); `lazy`:
  // whether every run's open was lazy rather than an eager fallback.
  nlohmann::json lazy_open_json() const {
    const auto median = [&](auto field) { return median_of(lazy_opens_, field); };
    const auto all_runs = [&](auto field) {
      nlohmann::json values = nlohmann::json::array();
      for (const LazyOpenRun& run : lazy_opens_) values.push_back(run.*field);
      return values;
    };
    const double loaded = median(&LazyOpenRun::loaded_seconds);
    const double eager = median(&LazyOpenRun::eager_seconds);
    return {
        {"lazy", std::all_of(lazy_opens_.begin(), lazy_opens_.end(),
                             [](const LazyOpenRun& run) { return run.lazy; })},
        {"loaded_seconds", loaded},
        {"loaded_runs", all_runs(&LazyOpenRun::loaded_seconds)},
        {"eager_seconds", eager},
        {"eager_runs", all_runs(&LazyOpenRun::eager_seconds)},
        {"loaded_vs_open", eager > 0 ? nlohmann::json(loaded / eager) : nlohmann::json(nullptr)},
        {"reads", static_cast<std::uint64_t>(median(&LazyOpenRun::reads))},
        {"first_read_p50_us", median(&LazyOpenRun::read_p50_us)},
        {"first_read_p99_us", median(&LazyOpenRun::read_p99_us)},
        {"first_read_p999_us", median(&LazyOpenRun::read_p999_us)},
        {"first_read_max_us", median(&LazyOpenRun::read_max_us)},
        {"misses", static_cast<std::uint64_t>(median(&LazyOpenRun::misses))},
        {"miss_p50_us", median(&LazyOpenRun::miss_p50_us)},
        {"miss_p99_us", median(&LazyOpenRun::miss_p99_us)},
        {"huge_bytes", static_cast<std::uint64_t>(median(&LazyOpenRun::huge_bytes))},
        {"eager_huge_bytes", static_cast<std::uint64_t>(median(&LazyOpenRun::eager_huge_bytes))}};
  }

  // Direct read where the file system has it (what the fbm pool does), the
  // buffered read otherwise.
  Baseline read_baseline() const {
    return baselines_[kReadDirect].seconds.empty() ? kRead : kReadDirect;
  }

  DerivedLimit derived(Derived limit) const {
    const double blake3_all = baselines_[kBlake3All].median();
    const double write_changed = baselines_[kWriteChanged].median();
    const std::string read = kBaselines[read_baseline()].short_name;
    switch (limit) {
      // Work that runs side by side: the slower (in time, the larger) is the limit.
      case kReadHash:
        return {"read_hash", fmt::format("min({}, BLAKE3 all cores)", read),
                fmt::format("min speed of ({}, all-core BLAKE3): the limit for reading and "
                            "verifying",
                            read),
                std::max(baselines_[read_baseline()].median(), blake3_all)};
      case kMsyncHash:
        return {"msync_hash", "min(msync, BLAKE3 all cores)",
                "min speed of (msync, all-core BLAKE3): the limit for an mmap flush",
                std::max(baselines_[kMsync].median(), blake3_all)};
      // A save that writes only what changed hashes first, then writes: the
      // times add up.
      case kCompareLimit:
        return {"compare_limit", "BLAKE3 all cores + write of changed blocks",
                "all-core BLAKE3 of the whole pool, then the write of the changed blocks: the "
                "limit for an fbm save that compares every block",
                blake3_all + write_changed};
      case kMarkedLimit:
        return {"marked_limit", "BLAKE3 + write of changed blocks",
                "all-core BLAKE3 of the changed blocks, then their write: the limit for an fbm "
                "save of marked blocks",
                baselines_[kBlake3Changed].median() + write_changed};
      case kDerivedCount:
        break;
    }
    return {};
  }

  // The baseline a phase is compared with; none for saving a Memory pool.
  std::optional<BaselineRef> baseline_of(Kind kind, Phase phase) const {
    auto ref = [this](Baseline b) {
      return BaselineRef{kBaselines[b].key, kBaselines[b].short_name, baselines_[b].median()};
    };
    auto derived_ref = [this](Derived d) {
      DerivedLimit limit = derived(d);
      return BaselineRef{limit.key, std::move(limit.label), limit.seconds};
    };
    switch (phase) {
      case kCreate:  // the fastest fault-in the machine allows
        return ref(baselines_[kFaultInAll].median() < baselines_[kFaultIn].median() ? kFaultInAll
                                                                                    : kFaultIn);
      case kFillPhase:
        return ref(kFill);
      case kFlush: {
        if (kind == Kind::memory) return std::nullopt;
        if (kind == Kind::mmap) {
          return derived_ref(kMsyncHash);
        }
        // Sequential direct write: the most a save can write; buffered where
        // the file system has no direct I/O.
        return ref(baselines_[kWriteDirect].seconds.empty() ? kWriteFsync : kWriteDirect);
      }
      case kFlushCompare:
        return derived_ref(kCompareLimit);
      case kFlushMarked:
        return derived_ref(kMarkedLimit);
      case kFlushServing:  // its measure is time_vs_flush: a flush with writers stopped
        return std::nullopt;
      case kDrop:
        return ref(kUnmap);
      case kReopen:  // the file is in the page cache, which reads at memory speed
        return ref(kBlake3All);
      case kOpen:
        if (kind == Kind::mmap) return ref(kBlake3All);  // the file is in the page cache
        return derived_ref(kReadHash);
      case kOpenLazy:  // its measure is loaded_vs_open; its time should not grow with the size
      case kHandOff:   // no transfer to compare with: its time should not grow with the size
        return std::nullopt;
      case kPhaseCount:
        break;
    }
    return std::nullopt;
  }

  nlohmann::json measurement_json(const std::vector<double>& runs, double median) const {
    return {{"seconds", median}, {"gbps", gigabytes_per_second(size_, median)}, {"runs", runs}};
  }

  std::string rate(double seconds) const {
    if (seconds <= 0) return "-";
    return fmt::format("{:.2f}", gigabytes_per_second(size_, seconds));
  }

  const BenchOptions& options_;
  std::size_t size_;
  unsigned threads_;
  std::size_t changed_blocks_;  // for the incremental saves and their baselines
  std::vector<Kind> kinds_;
  Scratch& scratch_;
  StatusLine status_;
  std::array<Runs, kBaselineCount> baselines_;
  std::vector<KindResult> results_;
  std::vector<ServingRun> serving_;      // fbm's flush_serving, one per run
  std::vector<LazyOpenRun> lazy_opens_;  // fbm's open_lazy, one per run
};

// Refuses to start when the directory's file system cannot hold what the
// bench writes: the baseline file, plus the largest pool's files (an fbm
// pool has a spare of the same size beside its file).
void check_space(const std::filesystem::path& dir, std::size_t size,
                 const std::vector<Kind>& kinds) {
  const std::uint64_t file_size = *pool_file_size(size);
  std::uint64_t pool_bytes = 0;
  std::string pool_what;
  for (Kind kind : kinds) {
    if (kind == Kind::mmap && pool_bytes < file_size) {
      pool_bytes = file_size;
      pool_what = fmt::format(", plus the mmap pool's {} file", format_size(file_size));
    }
    if (kind == Kind::fbm) {
      pool_bytes = 2 * file_size;
      pool_what = fmt::format(", plus the fbm pool's {} file and its spare of the same size",
                              format_size(file_size));
    }
  }
  const std::uint64_t needed = size + pool_bytes;
  const std::uint64_t available = std::filesystem::space(dir).available;
  if (available < needed) {
    throw UsageError(fmt::format(
        "not enough free space in '{}': the bench needs {} there (a {} baseline file{}), but {} "
        "is free; use a smaller --size or another --dir",
        dir.string(), format_size(needed), format_size(size), pool_what, format_size(available)));
  }
  const auto memory = os::available_memory();
  if (memory && *memory < size) {
    throw UsageError(
        fmt::format("not enough memory: the bench holds {} in memory, but {} is available; "
                    "use a smaller --size",
                    format_size(size), format_size(*memory)));
  }
}

int run_bench(const BenchOptions& options) {
  const std::uint64_t size64 = parse_size(options.size);
  if (size64 == 0) throw UsageError("--size must be at least 1 byte");
  if (size64 > SIZE_MAX || !pool_file_size(static_cast<std::size_t>(size64))) {
    throw UsageError(fmt::format("--size {} is too large", options.size));
  }
  const auto size = static_cast<std::size_t>(size64);
  std::vector<Kind> kinds = parse_kinds(options.kinds);
  if (!(options.changed > 0 && options.changed <= 100)) {
    throw UsageError(fmt::format(
        "--changed {:g}: the percentage of blocks to change must be more than 0 and at most 100",
        options.changed));
  }
  if (!options.dir.empty() && !std::filesystem::is_directory(options.dir)) {
    throw UsageError(fmt::format("--dir '{}' is not a directory", options.dir));
  }

  os::catch_interrupts();
  const bool own_dir = options.dir.empty();
  Scratch scratch(
      own_dir ? os::make_temp_dir("datatier-bench-") : std::filesystem::path(options.dir), own_dir);
  check_space(scratch.dir(), size, kinds);

  Bench bench(options, size, std::move(kinds), scratch);
  bench.run_baselines();
  bench.run_kinds();
  if (options.json) {
    bench.print_json(scratch.dir());
  } else {
    bench.print_table(scratch.dir());
  }
  return kExitOk;
}

}  // namespace

Command add_bench_command(CLI::App& parent) {
  auto options = std::make_shared<BenchOptions>();
  CLI::App* app = parent.add_subcommand(
      "bench",
      "Time create, fill, flush, drop and open for each pool kind, and for fbm flush_compare, "
      "flush_marked (a save after --changed percent of the blocks changed), flush_serving (a "
      "background save while writers write), open_lazy (a lazy open of a file not in the page "
      "cache, until it returns and until the data is in, with read latencies meanwhile) and "
      "handoff (to a child process, with shareable memory), next to this "
      "machine's baselines for the same size (memory fault-in, fill, BLAKE3, file write + "
      "fsync, read)");
  app->add_option("--size", options->size, "Data size of each pool (default 1GiB), e.g. 256MiB")
      ->option_text("SIZE");
  app->add_option("--dir", options->dir,
                  "Directory for the files (default: a new temporary directory under $TMPDIR or "
                  "/tmp); the files are always removed, also on Ctrl-C")
      ->option_text("DIR");
  app->add_option("--kinds", options->kinds,
                  "Comma-separated pool kinds: memory, mmap, fbm (default: all three)")
      ->option_text("LIST");
  app->add_option("--repeat", options->repeat,
                  "Runs of everything, 1 to 1000 (default 3); the median is reported")
      ->check(CLI::Range(1u, 1000u))
      ->option_text("N");
  app->add_option("--changed", options->changed,
                  "fbm only: percent of the pool's 64 KiB blocks changed at random before the "
                  "timed flush_compare and flush_marked saves, more than 0 and at most 100 "
                  "(default 1), e.g. 0.5")
      ->option_text("P");
  app->add_option("--threads", options->threads,
                  "Threads for the all-core baselines and the pools (default 0: all cores)")
      ->check(kNotNegative)
      ->option_text("N");
  app->add_flag("--cold", options->cold,
                "Drop each file from the page cache before reading it (default: warm cache, as on "
                "a process restart)");
  app->add_flag("--json", options->json, "Print JSON instead of a table (also on failure)");
  return {app, [options] { return run_bench(*options); }};
}

}  // namespace datatier::cli
