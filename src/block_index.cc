// The block index's side file and the marks of written blocks.
#include "block_index.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <string>
#include <system_error>

#include "datatier/error.h"
#include "little_endian.h"
#include "platform/file.h"

namespace datatier::detail {
namespace {

// The index file (docs/format.md, "Block index"): a 64-byte head, then the
// chaining values of the blocks in order.
constexpr std::array<std::byte, 8> kIndexMagic = magic_bytes("DTBLKIDX");
constexpr std::uint32_t kIndexVersion = 1;
constexpr std::size_t kVersionAt = 8;
constexpr std::size_t kBlockShiftAt = 12;
constexpr std::size_t kLengthAt = 16;
constexpr std::size_t kRootAt = 24;
constexpr std::size_t kHeadSize = 64;
constexpr auto kMinBlockShift = static_cast<std::uint32_t>(std::countr_zero(kHeaderSize));
constexpr auto kMaxBlockShift = static_cast<std::uint32_t>(std::countr_zero(kMaxBlockBytes));

std::uint64_t head_and_values(const BlockLayout& layout) noexcept {
  return kHeadSize + layout.count() * sizeof(ChainingValue);
}

// The index file `open` opens; nullopt where there is none to read: no
// entry, or one that is no regular file (a symbolic link, a directory, a
// FIFO), which the next save replaces. Other errors are thrown.
template <typename Open>
std::optional<platform::File> open_index(Open open) {
  try {
    return open();
  } catch (const Error& e) {
    if (e.code() == std::errc::no_such_file_or_directory ||
        e.code() == std::errc::too_many_symbolic_link_levels ||
        e.code() == std::errc::is_a_directory || e.code() == std::errc::invalid_argument) {
      return std::nullopt;
    }
    throw;
  }
}

}  // namespace

std::vector<ByteRange> BlockLayout::data_ranges(std::span<const std::uint64_t> blocks) const {
  std::vector<ByteRange> ranges;
  for (const std::uint64_t block : blocks) {
    const std::uint64_t begin = std::max(block * block_bytes_, std::uint64_t{kHeaderSize});
    const std::uint64_t end = std::min((block + 1) * block_bytes_, length_);
    if (!ranges.empty() && ranges.back().offset + ranges.back().length == begin - kHeaderSize) {
      ranges.back().length += end - begin;
    } else {
      ranges.push_back({begin - kHeaderSize, end - begin});
    }
  }
  return ranges;
}

std::uint64_t BlockLayout::checked_block_bytes(std::size_t requested,
                                               const std::filesystem::path& path) {
  if (requested == 0) return kDefaultBlockSize;
  if (!std::has_single_bit(requested) || requested < kHeaderSize || requested > kMaxBlockBytes) {
    throw Error(std::make_error_code(std::errc::invalid_argument), path,
                "block size " + std::to_string(requested) + " is not a power of two from 4096 to " +
                    std::to_string(kMaxBlockBytes));
  }
  return requested;
}

std::vector<std::uint64_t> BlockLayout::all_blocks() const {
  std::vector<std::uint64_t> blocks(static_cast<std::size_t>(count()));
  for (std::size_t i = 0; i < blocks.size(); ++i) blocks[i] = i;
  return blocks;
}

BlockLayout::Span BlockLayout::blocks_of(std::uint64_t offset,
                                         std::uint64_t length) const noexcept {
  const std::uint64_t data_size = length_ - kHeaderSize;
  if (length == 0 || offset >= data_size) return {};
  const std::uint64_t end = kHeaderSize + std::min(data_size, offset + std::min(length, data_size));
  return {(kHeaderSize + offset) / block_bytes_, (end + block_bytes_ - 1) / block_bytes_};
}

Checksum hash_stream(std::span<const std::byte, kHeaderSize> header,
                     std::span<const std::byte> data, const BlockLayout& layout,
                     std::optional<BlockIndex>* index, const TreeHashOptions& options) {
  if (!layout.indexed()) return tree_hash(header, data, options);
  // An index of this layout is hashed over in place: its memory is faulted
  // in already.
  if (!*index || (*index)->layout() != layout || (*index)->values().size() != layout.count()) {
    index->emplace(layout);
  }
  if (!hash_blocks(whole_stream(header, data), layout.block_bytes(), layout.all_blocks(),
                   (*index)->values(), options)) {
    return {};
  }
  if (options.progress) options.progress(data.size(), data.size());
  return (*index)->root();
}

std::vector<std::uint64_t> BlockIndex::differing(const BlockIndex& other) const {
  std::vector<std::uint64_t> blocks;
  for (std::size_t i = 0; i < values_.size(); ++i) {
    if (values_[i] != other.values_[i]) blocks.push_back(i);
  }
  return blocks;
}

std::optional<BlockIndex> BlockIndex::read(const platform::File& file, std::uint64_t length,
                                           const Checksum& root) {
  const std::uint64_t size = file.size();
  if (size < kHeadSize) return std::nullopt;
  std::array<std::byte, kHeadSize> head;
  file.read_exact(head, 0);
  const std::span<const std::byte> in(head);
  const std::uint32_t shift = get_le<std::uint32_t>(in, kBlockShiftAt);
  if (!std::equal(kIndexMagic.begin(), kIndexMagic.end(), in.begin()) ||
      get_le<std::uint32_t>(in, kVersionAt) != kIndexVersion || shift < kMinBlockShift ||
      shift > kMaxBlockShift || get_le<std::uint64_t>(in, kLengthAt) != length ||
      !std::equal(root.begin(), root.end(), in.begin() + kRootAt)) {
    return std::nullopt;
  }
  const BlockLayout layout(static_cast<std::size_t>(length - kHeaderSize),
                           std::uint64_t{1} << shift);
  if (!layout.indexed() || size != head_and_values(layout)) return std::nullopt;
  BlockIndex index(layout);
  const std::span<ChainingValue> values = index.values();
  file.read_exact(std::as_writable_bytes(values), kHeadSize);
  // The values, not the root recorded beside them, are what must agree.
  if (index.root() != root) return std::nullopt;
  return index;
}

std::optional<BlockIndex> BlockIndex::read(const platform::Directory& dir, const std::string& name,
                                           std::uint64_t length, const Checksum& root) {
  const auto file =
      open_index([&] { return dir.open_file(name, platform::File::Access::read_only); });
  return file ? read(*file, length, root) : std::nullopt;
}

std::optional<BlockIndex> BlockIndex::read(const std::filesystem::path& path, std::uint64_t length,
                                           const Checksum& root) {
  const auto file =
      open_index([&] { return platform::File::open(path, platform::File::Access::read_only); });
  return file ? read(*file, length, root) : std::nullopt;
}

void BlockIndex::write(const platform::Directory& dir, const std::string& name,
                       const Checksum& root, mode_t mode) const {
  std::array<std::byte, kHeadSize> head{};
  const std::span<std::byte> out(head);
  std::copy(kIndexMagic.begin(), kIndexMagic.end(), out.begin());
  put_le(out, kVersionAt, kIndexVersion);
  put_le(out, kBlockShiftAt, static_cast<std::uint32_t>(std::countr_zero(layout_.block_bytes())));
  put_le(out, kLengthAt, layout_.length());
  std::copy(root.begin(), root.end(), out.begin() + kRootAt);
  // A new file every time: one written in place could be torn by a power cut
  // (harmless, its values would no longer merge to the root, but then the
  // last good index is gone too), and whatever is under the name now (a
  // planted link, another program's file) is never written through.
  dir.remove(name);
  const platform::File file = dir.create_file(name, mode);
  // The values straight from memory: at 64 GiB they are 32 MiB, whose copy
  // into fresh memory would cost more than writing them.
  file.write_all(head, 0);
  file.write_all(std::as_bytes(values()), kHeadSize);
  file.sync_data();
}

std::uint64_t byte_count(std::span<const ByteRange> ranges) noexcept {
  std::uint64_t bytes = 0;
  for (const ByteRange& range : ranges) bytes += range.length;
  return bytes;
}

FoundIndex find_index(const platform::Directory& dir, const std::string& name,
                      const Checksum& checksum, const BlockLayout& layout) {
  FoundIndex found;
  const std::string index = index_name(name);
  found.file_exists = dir.entry(index).has_value();
  if (!found.file_exists) return found;
  found.index = BlockIndex::read(dir, index, layout.length(), checksum);
  if (found.index && found.index->layout() != layout) found.index.reset();
  return found;
}

std::string index_name(const std::string& name) {
  return name + ".index";
}

DirtyBlocks::DirtyBlocks(const BlockLayout& layout)
    : layout_(layout), word_count_(static_cast<std::size_t>((layout.count() + 63) / 64)) {
  words_ = std::make_unique<std::atomic<std::uint64_t>[]>(word_count_);
}

void DirtyBlocks::set(std::uint64_t block) noexcept {
  std::atomic<std::uint64_t>& word = words_[static_cast<std::size_t>(block / 64)];
  const std::uint64_t bit = std::uint64_t{1} << (block % 64);
  // Only the first mark of a block since the last save writes the shared
  // word: later ones only read it, so writers on many cores do not bounce
  // its cache line between them.
  if ((word.load(std::memory_order_relaxed) & bit) == 0) {
    word.fetch_or(bit, std::memory_order_relaxed);
  }
}

void DirtyBlocks::mark(std::uint64_t offset, std::uint64_t length) noexcept {
  const BlockLayout::Span blocks = layout_.blocks_of(offset, length);
  for (std::uint64_t block = blocks.first; block < blocks.end; ++block) set(block);
}

void DirtyBlocks::mark_all() noexcept {
  for (std::uint64_t block = 0; block < layout_.count(); ++block) set(block);
}

std::vector<std::uint64_t> DirtyBlocks::take() {
  std::vector<std::uint64_t> blocks;
  for (std::size_t w = 0; w < word_count_; ++w) {
    if (words_[w].load(std::memory_order_relaxed) == 0) continue;
    std::uint64_t bits = words_[w].exchange(0, std::memory_order_acquire);
    while (bits != 0) {
      blocks.push_back(w * 64 + static_cast<std::uint64_t>(std::countr_zero(bits)));
      bits &= bits - 1;
    }
  }
  return blocks;
}

void DirtyBlocks::restore(std::span<const std::uint64_t> blocks) noexcept {
  for (const std::uint64_t block : blocks) set(block);
}

}  // namespace datatier::detail
