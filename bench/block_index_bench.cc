// Micro-benchmarks of the block index's costs outside the hashing and the
// writes: FileBackedMemory::mark_dirty() (one small range declared as
// written, on one thread and on two at once, for blocks already marked since
// the last save, the common case, and for blocks marked for the first time,
// which writes the shared bitmap), and what every incremental save does over
// all of the index, whatever changed: merging the block values to the root,
// finding the values that differ from the spare's, copying the index.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "block_index.h"
#include "datatier/file_backed_memory.h"

namespace {

// 4096 blocks of the default 64 KiB: a bitmap of 64 words, 8 cache lines.
constexpr std::size_t kPoolSize = std::size_t{256} << 20;
// Bytes declared per call: a small record.
constexpr std::size_t kRangeLength = 64;
// Offsets cycled through, a power of two.
constexpr std::size_t kOffsets = 4096;

// Offsets spread over the pool in random order, one in each block, at a
// random place in it; a fixed seed, and another order for each thread.
std::vector<std::size_t> spread_offsets(unsigned seed) {
  std::mt19937_64 random(seed);
  std::vector<std::size_t> offsets(kOffsets);
  const std::size_t stride = kPoolSize / kOffsets;
  for (std::size_t i = 0; i < kOffsets; ++i) {
    offsets[i] = i * stride + random() % (stride - kRangeLength);
  }
  std::shuffle(offsets.begin(), offsets.end(), random);
  return offsets;
}

// One pool for all the benchmarks and their threads, in a new temporary
// directory removed at exit.
class SharedPool {
 public:
  static datatier::FileBackedMemory& get() {
    static SharedPool shared;
    return *shared.pool_;
  }

  SharedPool(const SharedPool&) = delete;
  SharedPool& operator=(const SharedPool&) = delete;
  ~SharedPool() {
    pool_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

 private:
  SharedPool()
      : dir_(make_dir()), pool_(datatier::FileBackedMemory::create(dir_ / "pool", kPoolSize, 0)) {}

  static std::filesystem::path make_dir() {
    const auto dir = std::filesystem::temp_directory_path() /
                     ("datatier-mark-dirty-bench-" + std::to_string(std::random_device{}()));
    std::filesystem::create_directory(dir);
    return dir;
  }

  std::filesystem::path dir_;
  std::optional<datatier::FileBackedMemory> pool_;
};

// Blocks marked since the last save: after the first pass over the offsets
// every call finds its block marked and only reads the bitmap.
void MarkDirty(benchmark::State& state) {
  datatier::FileBackedMemory& pool = SharedPool::get();
  const auto offsets = spread_offsets(static_cast<unsigned>(state.thread_index()) + 1);
  std::size_t i = 0;
  for (auto _ : state) {
    pool.mark_dirty(offsets[i++ % kOffsets], kRangeLength);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

// Blocks marked for the first time since the last save: the marks are taken
// (untimed, as a save takes them) after each pass over the offsets, so every
// call sets its block's bit (with two threads, about half find the other
// thread's mark instead). This uses the pool's bitmap type directly, as only
// a whole save takes the marks of a pool.
void MarkDirtyFirstTime(benchmark::State& state) {
  static datatier::detail::DirtyBlocks dirty(
      datatier::detail::BlockLayout(kPoolSize, datatier::kDefaultBlockSize));
  const auto offsets = spread_offsets(static_cast<unsigned>(state.thread_index()) + 1);
  std::size_t i = 0;
  for (auto _ : state) {
    dirty.mark(offsets[i], kRangeLength);
    if (++i == kOffsets) {
      i = 0;
      state.PauseTiming();
      benchmark::DoNotOptimize(dirty.take());
      state.ResumeTiming();
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

// An index of `blocks` blocks with distinct values (a 64 KiB block each);
// `other` differs from it in one block of 100.
datatier::detail::BlockIndex filled_index(std::int64_t blocks, bool other) {
  datatier::detail::BlockIndex index(datatier::detail::BlockLayout(
      static_cast<std::size_t>(blocks) * datatier::kDefaultBlockSize - datatier::kHeaderSize,
      datatier::kDefaultBlockSize));
  std::mt19937_64 random(1);
  std::size_t i = 0;
  for (auto& value : index.values()) {
    for (auto& byte : value) byte = static_cast<std::uint8_t>(random());
    if (other && i++ % 100 == 0) value[0] ^= 1;
  }
  return index;
}

// The root of a pool's checksum from its block values (one thread).
void MergeBlocks(benchmark::State& state) {
  const auto index = filled_index(state.range(0), false);
  for (auto _ : state) benchmark::DoNotOptimize(index.root());
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}

// The blocks whose values differ from the spare's.
void DifferingBlocks(benchmark::State& state) {
  const auto index = filled_index(state.range(0), false);
  const auto spare = filled_index(state.range(0), true);
  for (auto _ : state) benchmark::DoNotOptimize(index.differing(spare));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}

BENCHMARK(MarkDirty)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(MarkDirtyFirstTime)->Threads(1)->Threads(2)->UseRealTime();
// A copy of the index, as a save of marked blocks starts its new index from
// the pool file's.
void CopyIndex(benchmark::State& state) {
  const auto index = filled_index(state.range(0), false);
  for (auto _ : state) {
    datatier::detail::BlockIndex copy(index);
    benchmark::DoNotOptimize(copy.values().data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}

// The blocks of 1, 8 and 64 GiB pools.
void PoolBlocks(benchmark::internal::Benchmark* b) {
  b->ArgName("blocks")->Arg(1 << 14)->Arg(1 << 17)->Arg(1 << 20)->Unit(benchmark::kMillisecond);
}
BENCHMARK(MergeBlocks)->Apply(PoolBlocks);
BENCHMARK(DifferingBlocks)->Apply(PoolBlocks);
BENCHMARK(CopyIndex)->Apply(PoolBlocks);

}  // namespace
