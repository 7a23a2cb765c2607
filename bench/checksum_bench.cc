// Micro-benchmarks of the pool checksum: the parallel tree hash on 1..N
// threads against the official single-threaded BLAKE3 over the same bytes.
#include <blake3.h>

#include <benchmark/benchmark.h>

#include <thread>
#include <vector>

#include "checksum.h"

namespace {

using datatier::detail::CoveredHeader;

std::vector<std::byte> bench_bytes(std::size_t size) {
  std::vector<std::byte> bytes(size);
  for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<std::byte>(i * 131 + (i >> 12));
  return bytes;
}

void OfficialBlake3(benchmark::State& state) {
  const auto data = bench_bytes(static_cast<std::size_t>(state.range(0)));
  const CoveredHeader header{};
  for (auto _ : state) {
    blake3_hasher hasher;
    blake3_hasher_init(&hasher);
    blake3_hasher_update(&hasher, header.data(), header.size());
    blake3_hasher_update(&hasher, data.data(), data.size());
    std::uint8_t out[BLAKE3_OUT_LEN];
    blake3_hasher_finalize(&hasher, out, sizeof out);
    benchmark::DoNotOptimize(out);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}

void TreeHash(benchmark::State& state) {
  const auto data = bench_bytes(static_cast<std::size_t>(state.range(0)));
  const CoveredHeader header{};
  datatier::detail::TreeHashOptions options;
  options.threads = static_cast<unsigned>(state.range(1));
  for (auto _ : state) {
    benchmark::DoNotOptimize(datatier::detail::pool_checksum(header, data, options));
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}

const std::int64_t kCores = std::max(1u, std::thread::hardware_concurrency());

BENCHMARK(OfficialBlake3)
    ->Arg(16 << 20)
    ->Arg(256 << 20)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(TreeHash)
    ->ArgsProduct({{16 << 20, 256 << 20}, {1, kCores}})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
