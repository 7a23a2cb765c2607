// Micro-benchmarks of Memory::create: faulting a fresh pool in, by page size
// and thread count.
#include <benchmark/benchmark.h>

#include <thread>

#include "datatier/memory.h"

namespace {

void MemoryCreate(benchmark::State& state) {
  datatier::MemoryOptions options;
  options.page_size = static_cast<datatier::PageSize>(state.range(1));
  options.threads = static_cast<unsigned>(state.range(2));
  for (auto _ : state) {
    auto pool = datatier::Memory::create(static_cast<std::size_t>(state.range(0)), options);
    benchmark::DoNotOptimize(pool.data().data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}

const std::int64_t kCores = std::max(1u, std::thread::hardware_concurrency());

BENCHMARK(MemoryCreate)
    ->ArgNames({"bytes", "page_size", "threads"})
    ->ArgsProduct({{16 << 20, 256 << 20},
                   {static_cast<std::int64_t>(datatier::PageSize::transparent),
                    static_cast<std::int64_t>(datatier::PageSize::small)},
                   {1, kCores}})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
