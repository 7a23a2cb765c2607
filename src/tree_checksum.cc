// Parallel BLAKE3 tree hashing on top of the official C implementation's
// compression functions.
#include "tree_checksum.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cstring>
#include <unordered_map>
#include <vector>

#include "parallel.h"

extern "C" {
#include <blake3_impl.h>
}

namespace datatier::detail {
namespace {

constexpr std::uint64_t kChunk = BLAKE3_CHUNK_LEN;
constexpr std::uint64_t kBlock = BLAKE3_BLOCK_LEN;
// Complete subtrees of up to this many chunks are hashed in one SIMD batch.
constexpr std::uint64_t kBatchChunks = 512;
// Leaf tasks are at least this large, so thread hand-offs stay negligible.
constexpr std::uint64_t kMinTaskBytes = std::uint64_t{1} << 20;
// Aim for this many tasks per thread, so that uneven progress evens out and a
// streamed input keeps every thread busy until near its end.
constexpr std::uint64_t kTasksPerThread = 16;

static_assert(sizeof(ChainingValue) == BLAKE3_OUT_LEN);

ChainingValue to_bytes(const std::uint32_t (&words)[8]) noexcept {
  ChainingValue out;
  for (std::size_t i = 0; i < 8; ++i) {
    for (std::size_t b = 0; b < 4; ++b) {
      out[4 * i + b] = static_cast<std::uint8_t>(words[i] >> (8 * b));
    }
  }
  return out;
}

// The length of the left subtree of a node over `len` bytes (len > 1 chunk):
// the largest power-of-two number of whole chunks that leaves bytes over.
std::uint64_t left_length(std::uint64_t len) noexcept {
  return std::bit_floor((len - 1) / kChunk) * kChunk;
}

// The parent node of two chaining values (the root's hash, with `root`).
ChainingValue parent(const ChainingValue& left, const ChainingValue& right, bool root) noexcept {
  std::uint8_t block[kBlock];
  std::memcpy(block, left.data(), left.size());
  std::memcpy(block + left.size(), right.data(), right.size());
  std::uint32_t cv[8];
  std::memcpy(cv, IV, sizeof cv);
  blake3_compress_in_place(cv, block, kBlock, 0,
                           static_cast<std::uint8_t>(PARENT | (root ? ROOT : 0)));
  return to_bytes(cv);
}

// Working memory for complete_subtree(), one per thread: on the heap, since a
// batch needs tens of KiB and callers' threads may have small stacks.
struct Scratch {
  std::vector<const std::uint8_t*> inputs = std::vector<const std::uint8_t*>(kBatchChunks);
  std::vector<std::uint8_t> level = std::vector<std::uint8_t>(kBatchChunks * BLAKE3_OUT_LEN);
  std::vector<std::uint8_t> next = std::vector<std::uint8_t>(kBatchChunks * BLAKE3_OUT_LEN);
};

// Chaining values already computed for some nodes, keyed by their offset.
struct KnownNode {
  std::uint64_t len;
  ChainingValue cv;
};
using KnownNodes = std::unordered_map<std::uint64_t, KnownNode>;

// The hash input: the 4096-byte header followed by the data, addressed by
// offset; or, for a windowed hash, the header and one window of the stream.
// Every chunk lies wholly in one of the two spans.
class TreeInput {
 public:
  TreeInput(std::span<const std::byte, kHeaderSize> header,
            std::span<const std::byte> data) noexcept
      : TreeInput(header, data.data(), kHeaderSize, kHeaderSize + data.size()) {}

  // Stream bytes [0, 4096) from `header`, bytes from `rest_offset` on from
  // `rest`, of a stream of `length` bytes.
  TreeInput(std::span<const std::byte, kHeaderSize> header, const std::byte* rest,
            std::uint64_t rest_offset, std::uint64_t length) noexcept
      : header_(reinterpret_cast<const std::uint8_t*>(header.data())),
        rest_(reinterpret_cast<const std::uint8_t*>(rest)),
        rest_offset_(rest_offset),
        length_(length) {}

  std::uint64_t length() const noexcept { return length_; }

  // The chaining value (or, with `root`, the hash) of the tree node covering
  // bytes [offset, offset + len), following BLAKE3's tree shape exactly.
  ChainingValue node(std::uint64_t offset, std::uint64_t len, bool root, const KnownNodes* known,
                     Scratch& scratch) const noexcept {
    if (!root && known != nullptr) {
      const auto it = known->find(offset);
      if (it != known->end() && it->second.len == len) return it->second.cv;
    }
    if (len <= kChunk) return chunk(offset, len, root);
    const std::uint64_t chunks = len / kChunk;
    if (!root && len % kChunk == 0 && std::has_single_bit(chunks) && chunks <= kBatchChunks) {
      return complete_subtree(offset, chunks, scratch);
    }
    const std::uint64_t left = left_length(len);
    return parent(node(offset, left, false, known, scratch),
                  node(offset + left, len - left, false, known, scratch), root);
  }

 private:
  const std::uint8_t* at(std::uint64_t offset) const noexcept {
    return offset < kHeaderSize ? header_ + offset : rest_ + (offset - rest_offset_);
  }

  // One chunk of 1..1024 bytes, block by block.
  ChainingValue chunk(std::uint64_t offset, std::uint64_t len, bool root) const noexcept {
    std::uint32_t cv[8];
    std::memcpy(cv, IV, sizeof cv);
    const std::uint8_t* bytes = at(offset);
    const std::uint64_t blocks = std::max<std::uint64_t>(1, (len + kBlock - 1) / kBlock);
    for (std::uint64_t b = 0; b < blocks; ++b) {
      const std::uint64_t block_len = std::min(kBlock, len - b * kBlock);
      std::uint8_t flags = b == 0 ? CHUNK_START : 0;
      if (b == blocks - 1) flags = static_cast<std::uint8_t>(flags | CHUNK_END | (root ? ROOT : 0));
      std::uint8_t block[kBlock] = {};
      std::memcpy(block, bytes + b * kBlock, block_len);
      blake3_compress_in_place(cv, block, static_cast<std::uint8_t>(block_len), offset / kChunk,
                               flags);
    }
    return to_bytes(cv);
  }

  // A complete subtree of `chunks` (a power of two, at most kBatchChunks)
  // whole chunks: all chunks in one SIMD call, then each level of parents.
  ChainingValue complete_subtree(std::uint64_t offset, std::uint64_t chunks,
                                 Scratch& scratch) const noexcept {
    auto& [inputs, level, next] = scratch;
    for (std::uint64_t i = 0; i < chunks; ++i) inputs[i] = at(offset + i * kChunk);
    blake3_hash_many(inputs.data(), chunks, kChunk / kBlock, IV, offset / kChunk, true, 0,
                     CHUNK_START, CHUNK_END, level.data());
    for (std::uint64_t n = chunks; n > 1; n /= 2) {
      for (std::uint64_t i = 0; i < n / 2; ++i) {
        inputs[i] = level.data() + 2 * std::uint64_t{BLAKE3_OUT_LEN} * i;
      }
      blake3_hash_many(inputs.data(), n / 2, 1, IV, 0, false, PARENT, 0, 0, next.data());
      level.swap(next);
    }
    ChainingValue out;
    std::memcpy(out.data(), level.data(), out.size());
    return out;
  }

  const std::uint8_t* header_;
  const std::uint8_t* rest_;
  std::uint64_t rest_offset_;
  std::uint64_t length_;
};

struct Task {
  std::uint64_t offset;
  std::uint64_t len;
};

// Splits the node [offset, offset + len) along the tree's own shape into
// nodes of at most `task_bytes`: every left subtree on the way is complete,
// so all tasks but the last are complete subtrees of exactly task_bytes.
void split_tasks(std::uint64_t offset, std::uint64_t len, std::uint64_t task_bytes,
                 std::vector<Task>& tasks) {
  while (len > task_bytes) {
    const std::uint64_t left = left_length(len);
    for (std::uint64_t o = offset; o < offset + left; o += task_bytes) {
      tasks.push_back({o, task_bytes});
    }
    offset += left;
    len -= left;
  }
  tasks.push_back({offset, len});
}

// BLAKE3's C dispatch detects the CPU's SIMD features on first use and caches
// them in a plain global, unsynchronised: two threads hashing for the first
// time at once race on it (ThreadSanitizer reports it). Run the detection once
// here, under C++'s thread-safe static initialisation, before any thread of
// ours hashes; afterwards every thread only reads the cached value.
void detect_cpu_features_once() noexcept {
  static const bool kDetected = [] {
    std::uint32_t cv[8];
    std::memcpy(cv, IV, sizeof cv);
    const std::uint8_t block[kBlock] = {};
    blake3_compress_in_place(cv, block, 0, 0, CHUNK_START | CHUNK_END | ROOT);
    return true;
  }();
  static_cast<void>(kDetected);
}

Checksum to_checksum(const ChainingValue& cv) noexcept {
  Checksum out;
  std::memcpy(out.data(), cv.data(), out.size());
  return out;
}

// The root over `tasks`, whose chaining values are `results`.
Checksum combine(const TreeInput& input, const std::vector<Task>& tasks,
                 const std::vector<ChainingValue>& results) {
  KnownNodes known;
  known.reserve(tasks.size());
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    known.emplace(tasks[i].offset, KnownNode{tasks[i].len, results[i]});
  }
  Scratch scratch;
  return to_checksum(input.node(0, input.length(), true, &known, scratch));
}

// The bytes per leaf task for an input of `length` bytes (header included):
// a power of two, so task boundaries fall on multiples of it.
std::uint64_t task_bytes(std::uint64_t length, unsigned threads) noexcept {
  const std::uint64_t target = length / (std::uint64_t{resolve_threads(threads)} * kTasksPerThread);
  return std::max(kMinTaskBytes, std::bit_ceil(std::max<std::uint64_t>(target, 1)));
}

}  // namespace

Checksum tree_hash(std::span<const std::byte, kHeaderSize> header, std::span<const std::byte> data,
                   const TreeHashOptions& options) {
  detect_cpu_features_once();
  const TreeInput input(header, data);
  std::vector<Task> tasks;
  split_tasks(0, input.length(), task_bytes(input.length(), options.threads), tasks);

  std::vector<ChainingValue> results(tasks.size());
  std::atomic<std::size_t> next_task{0};
  std::atomic<std::uint64_t> done{0};
  std::atomic<bool> abandoned{false};
  const auto work = [&](unsigned worker) {
    Scratch scratch;
    for (;;) {
      const std::size_t i = next_task.fetch_add(1);
      if (i >= tasks.size() || abandoned.load()) return;
      const Task& task = tasks[i];
      const std::uint64_t begin = std::max(task.offset, std::uint64_t{kHeaderSize}) - kHeaderSize;
      const std::uint64_t end = task.offset + task.len - kHeaderSize;
      if (options.before_hashing && end > begin && !options.before_hashing(begin, end)) {
        abandoned.store(true);
        return;
      }
      // A lone task is the whole tree: hash it as the root directly.
      results[i] = input.node(task.offset, task.len, tasks.size() == 1, nullptr, scratch);
      const std::uint64_t so_far = done.fetch_add(end - begin) + (end - begin);
      if (worker == 0 && options.progress) options.progress(so_far, data.size());
    }
  };
  const auto workers =
      static_cast<unsigned>(std::min<std::size_t>(resolve_threads(options.threads), tasks.size()));
  run_parallel(workers, work);
  if (abandoned.load()) return {};
  if (options.progress) options.progress(data.size(), data.size());
  if (tasks.size() == 1) return to_checksum(results[0]);

  return combine(input, tasks, results);
}

StreamBytes whole_stream(std::span<const std::byte, kHeaderSize> header,
                         std::span<const std::byte> data) noexcept {
  return {header, data.data(), kHeaderSize, kHeaderSize + std::uint64_t{data.size()}};
}

std::uint64_t block_count(std::uint64_t length, std::uint64_t block_bytes) noexcept {
  return (length + block_bytes - 1) / block_bytes;
}

bool hash_blocks(const StreamBytes& stream, std::uint64_t block_bytes,
                 std::span<const std::uint64_t> blocks, std::span<ChainingValue> out,
                 const TreeHashOptions& options) {
  detect_cpu_features_once();
  const TreeInput input(stream.header, stream.rest, stream.rest_offset, stream.length);
  // Groups of blocks as large as tree_hash()'s tasks over the bytes asked for.
  const std::uint64_t per_task = std::max<std::uint64_t>(
      1, task_bytes(blocks.size() * block_bytes, options.threads) / block_bytes);
  const std::size_t tasks = static_cast<std::size_t>((blocks.size() + per_task - 1) / per_task);
  std::atomic<std::size_t> next_task{0};
  std::atomic<bool> abandoned{false};
  const auto work = [&](unsigned) {
    Scratch scratch;
    for (std::size_t t = next_task++; t < tasks && !abandoned.load(); t = next_task++) {
      const std::size_t first = t * static_cast<std::size_t>(per_task);
      const std::size_t last = std::min(blocks.size(), first + static_cast<std::size_t>(per_task));
      const std::uint64_t begin = std::max(blocks[first] * block_bytes, std::uint64_t{kHeaderSize});
      const std::uint64_t end = std::min((blocks[last - 1] + 1) * block_bytes, stream.length);
      if (options.before_hashing &&
          !options.before_hashing(begin - kHeaderSize, end - kHeaderSize)) {
        abandoned.store(true);
        return;
      }
      for (std::size_t i = first; i < last; ++i) {
        const std::uint64_t offset = blocks[i] * block_bytes;
        out[blocks[i]] = input.node(offset, std::min(block_bytes, stream.length - offset), false,
                                    nullptr, scratch);
      }
    }
  };
  run_parallel(static_cast<unsigned>(std::min<std::size_t>(resolve_threads(options.threads),
                                                           std::max<std::size_t>(tasks, 1))),
               work);
  return !abandoned.load();
}

ChainingValue block_value(const StreamBytes& stream, std::uint64_t block_bytes,
                          std::uint64_t block) {
  detect_cpu_features_once();
  const TreeInput input(stream.header, stream.rest, stream.rest_offset, stream.length);
  const std::uint64_t offset = block * block_bytes;
  Scratch scratch;
  return input.node(offset, std::min(block_bytes, stream.length - offset), false, nullptr, scratch);
}

Checksum merge_blocks(std::span<const ChainingValue> blocks) {
  detect_cpu_features_once();
  // BLAKE3's tree over the blocks, level by level: each level pairs its
  // nodes left to right and carries an odd last one up unchanged, which
  // gives exactly the tree whose left subtrees are complete powers of two.
  // The first level is read where it is and the levels above alternate
  // between two buffers of at most half its size: a copy of all the values
  // (32 MiB for a 64 GiB pool) is too large for the allocator to keep, and
  // its fresh pages at every save cost fifteen times the hashing.
  std::span<const ChainingValue> level = blocks;
  std::vector<ChainingValue> buffers[2];
  std::vector<const std::uint8_t*> inputs;
  for (int b = 0; level.size() > 2; b ^= 1) {
    const std::size_t pairs = level.size() / 2;
    inputs.resize(pairs);
    for (std::size_t i = 0; i < pairs; ++i) inputs[i] = level[2 * i].data();
    std::vector<ChainingValue>& next = buffers[b];
    next.resize(pairs + level.size() % 2);
    blake3_hash_many(inputs.data(), pairs, 1, IV, 0, false, PARENT, 0, 0, next[0].data());
    if (level.size() % 2 != 0) next.back() = level.back();
    level = next;
  }
  return to_checksum(parent(level[0], level[1], true));
}

}  // namespace datatier::detail
