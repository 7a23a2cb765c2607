// What a fork()-based snapshot (Redis's BGSAVE, for one) costs on this
// machine, to set beside FileBackedMemory::begin_flush(): the fork() of a
// process holding a populated heap, which stops its caller for the whole
// call, and the copies the kernel then makes while the child lives, one page
// for each page the parent writes.
#include <benchmark/benchmark.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace {

using Clock = std::chrono::steady_clock;

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// Manual time: the fork() call. Counters: the parent's writes to every page
// of the heap while the child lives (each a copy-on-write fault), the same
// writes with no child, and the bytes the kernel copied for them.
void BM_ForkHeap(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  const long page = sysconf(_SC_PAGESIZE);
  void* mapped = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mapped == MAP_FAILED) {
    state.SkipWithError("mmap failed");
    return;
  }
  auto* heap = static_cast<unsigned char*>(mapped);
  // Small pages, as Redis asks (transparent huge pages copy 2 MiB per write).
  madvise(heap, size, MADV_NOHUGEPAGE);
  std::memset(heap, 1, size);
  const auto touch_every_page = [&] {
    for (std::size_t at = 0; at < size; at += static_cast<std::size_t>(page)) heap[at] ^= 1;
  };
  double cow_seconds = 0;
  double plain_seconds = 0;
  for (auto _ : state) {
    int gate[2];
    if (pipe(gate) != 0) {
      state.SkipWithError("pipe failed");
      break;
    }
    const auto before = Clock::now();
    const pid_t child = fork();
    const auto after = Clock::now();
    if (child == 0) {
      // The child holds the snapshot until the parent closes the pipe.
      close(gate[1]);
      char byte;
      while (read(gate[0], &byte, 1) > 0) {
      }
      _exit(0);
    }
    close(gate[0]);
    const auto writes = Clock::now();
    touch_every_page();
    cow_seconds += seconds_between(writes, Clock::now());
    close(gate[1]);
    waitpid(child, nullptr, 0);
    const auto plain = Clock::now();
    touch_every_page();
    plain_seconds += seconds_between(plain, Clock::now());
    state.SetIterationTime(seconds_between(before, after));
  }
  const auto runs = static_cast<double>(state.iterations());
  state.counters["write_all_pages_with_child_s"] = cow_seconds / runs;
  state.counters["write_all_pages_alone_s"] = plain_seconds / runs;
  state.counters["copied_bytes"] = static_cast<double>(size);
  munmap(heap, size);
}
BENCHMARK(BM_ForkHeap)
    ->Arg(std::int64_t{1} << 30)
    ->Arg(std::int64_t{4} << 30)
    ->UseManualTime()
    ->Iterations(3)
    ->Unit(benchmark::kMillisecond);

}  // namespace
