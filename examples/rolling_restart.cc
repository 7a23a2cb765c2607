// rolling_restart: a server that restarts without reloading its heap. Each
// generation hands its FileBackedMemory pool to the next process through a
// Unix socket: the memory, the files and their locks change hands, and no
// byte of the pool is read or written.
//
//   rolling_restart POOL_FILE [GENERATIONS]
//
// Generation 0 opens (or creates) the pool, serves a while (here: counts
// requests into the pool, marking what it writes), then starts its
// successor and hands the pool over. Each successor takes it over, checks
// that it found every request its predecessors served, serves some more and
// hands on, until the last one saves the pool and closes it. Each process
// waits for its successor only so that the test running the example sees
// one exit status; a real server would exit as soon as hand_off() returns.
//
// The pool's memory must be shareable (FileOptions::memory.shareable), and
// saves are driven by marks (Changes::marked): with every write marked, a
// pool saved before it is handed off hands off without any I/O.
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <system_error>

#include "datatier/datatier.h"

namespace {

using namespace std::chrono_literals;

constexpr std::size_t kPoolSize = std::size_t{4} << 20;
constexpr std::uint64_t kSchemaVersion = 1;
constexpr std::uint64_t kRequestsPerGeneration = 1000;

// The heap's layout: a request counter at offset 0, then one 8-byte slot per
// request, holding the generation that served it.
std::uint64_t load(const datatier::FileBackedMemory& pool, std::size_t offset) {
  std::uint64_t value = 0;
  std::memcpy(&value, pool.data().data() + offset, sizeof value);
  return value;
}

void store(datatier::FileBackedMemory& pool, std::size_t offset, std::uint64_t value) {
  std::memcpy(pool.data().data() + offset, &value, sizeof value);
  pool.mark_dirty(offset, sizeof value);
}

datatier::FileOptions options() {
  datatier::FileOptions o;
  o.memory.shareable = true;
  o.changes = datatier::Changes::marked;
  o.accept_unclean = true;  // after a crash, the last saved snapshot will do
  return o;
}

void serve(datatier::FileBackedMemory& pool, std::uint64_t generation) {
  std::uint64_t served = load(pool, 0);
  for (std::uint64_t i = 0; i < kRequestsPerGeneration; ++i) {
    store(pool, 8 * (1 + served), generation);
    ++served;
  }
  store(pool, 0, served);
}

// Every request the generations before `generation` served is there.
bool intact(const datatier::FileBackedMemory& pool, std::uint64_t generation) {
  if (load(pool, 0) != generation * kRequestsPerGeneration) return false;
  for (std::uint64_t r = 0; r < load(pool, 0); ++r) {
    if (load(pool, 8 * (1 + r)) != r / kRequestsPerGeneration) return false;
  }
  return true;
}

// Starts this program again as generation `generation`.
pid_t start_successor(const char* self, const std::string& path, std::uint64_t generation,
                      std::uint64_t generations) {
  const pid_t pid = fork();
  if (pid == 0) {
    const std::string g = std::to_string(generation);
    const std::string n = std::to_string(generations);
    execl(self, self, path.c_str(), n.c_str(), g.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

int run(const char* self, const std::string& path, std::uint64_t generations,
        std::uint64_t generation) {
  const std::string socket = path + ".handoff";
  datatier::FileBackedMemory pool = [&] {
    if (generation > 0) {
      return datatier::FileBackedMemory::take_over(socket, kPoolSize, kSchemaVersion, options());
    }
    auto opened =
        datatier::FileBackedMemory::open_or_create(path, kPoolSize, kSchemaVersion, options());
    // A pool left by an earlier run of the example starts over.
    std::memset(opened.pool.data().data(), 0, kPoolSize);
    opened.pool.mark_dirty(0, kPoolSize);
    return std::move(opened.pool);
  }();
  if (!intact(pool, generation)) {
    std::printf("rolling restart: error: generation %llu found the heap changed\n",
                static_cast<unsigned long long>(generation));
    return 1;
  }
  serve(pool, generation);
  if (generation + 1 == generations) {
    pool.close();
    std::printf("rolling restart: generation %llu found %llu requests without reloading\n",
                static_cast<unsigned long long>(generation),
                static_cast<unsigned long long>(generation * kRequestsPerGeneration));
    return 0;
  }
  const pid_t successor = start_successor(self, path, generation + 1, generations);
  const auto start = std::chrono::steady_clock::now();
  pool.hand_off(socket, 10s);
  const auto took = std::chrono::steady_clock::now() - start;
  std::printf("generation %llu handed the pool off in %.2f ms\n",
              static_cast<unsigned long long>(generation),
              std::chrono::duration<double, std::milli>(took).count());
  std::fflush(stdout);
  int status = 0;
  waitpid(successor, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 4) {
    std::fprintf(stderr, "usage: %s POOL_FILE [GENERATIONS]\n", argv[0]);
    return 2;
  }
  const std::uint64_t generations = argc > 2 ? std::stoull(argv[2]) : 4;
  const std::uint64_t generation = argc > 3 ? std::stoull(argv[3]) : 0;
  try {
    return run(argv[0], argv[1], generations, generation);
  } catch (const datatier::Error& e) {
    std::printf("rolling restart: error: %s\n", e.what());
    return 1;
  }
}
