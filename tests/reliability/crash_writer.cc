// The crash test's victim: saves generation after generation of a pool until
// it is killed, saying on stdout which generation it started from and which
// ones it completed.
//
//   crash_writer mmap|fbm <path> <data size> [max generations]
//
// If <path> exists it is opened (accepting an unclean shutdown: the previous
// writer was killed) and must hold a generation exactly; the writer carries
// on from the next one. Otherwise a new pool is created at generation 0
// (nothing saved yet). Output lines, each written with one write(2):
//   start <g>   the pool holds generation g (0: newly created, never saved)
//   flush <g>   the pool's bytes are generation g; flush() is called next
//   done <g>    flush() of generation g returned: g is durable
// Exit status: 0 after max generations, 2 on any error (message on stderr).
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

#include "datatier/datatier.h"
#include "generation.h"

namespace {

constexpr std::uint64_t kUserVersion = 5;

void say(const std::string& word, std::uint64_t generation) {
  const std::string line = word + " " + std::to_string(generation) + "\n";
  if (::write(STDOUT_FILENO, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
    std::_Exit(2);
  }
}

template <typename Pool>
int run(const std::filesystem::path& path, std::size_t size, std::uint64_t max_generations) {
  std::uint64_t generation = 0;
  std::unique_ptr<Pool> pool;
  if (std::filesystem::exists(path)) {
    datatier::FileOptions options;
    options.accept_unclean = true;
    pool = std::make_unique<Pool>(Pool::open(path, size, kUserVersion, options));
    const auto held = datatier::crash::generation_of(pool->data());
    if (!held) {
      std::cerr << "crash_writer: " << path << " opened but holds no generation\n";
      return 2;
    }
    generation = *held;
  } else {
    pool = std::make_unique<Pool>(Pool::create(path, size, kUserVersion));
  }
  say("start", generation);
  for (std::uint64_t n = 0; n < max_generations; ++n) {
    ++generation;
    datatier::crash::fill_generation(pool->data(), generation);
    say("flush", generation);
    pool->flush();
    say("done", generation);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::cerr << "usage: crash_writer mmap|fbm <path> <data size> [max generations]\n";
    return 2;
  }
  const std::string kind = argv[1];
  const std::filesystem::path path = argv[2];
  const std::size_t size = std::stoull(argv[3]);
  const std::uint64_t max_generations = argc > 4 ? std::stoull(argv[4]) : 1'000'000;
  try {
    if (kind == "mmap") return run<datatier::MmapFile>(path, size, max_generations);
    if (kind == "fbm") return run<datatier::FileBackedMemory>(path, size, max_generations);
    std::cerr << "crash_writer: unknown pool kind " << kind << "\n";
  } catch (const std::exception& e) {
    std::cerr << "crash_writer: " << e.what() << "\n";
  }
  return 2;
}
