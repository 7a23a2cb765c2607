// Encoding of the hand-off state descriptor and frames (docs/format.md,
// "Hand-off"): little-endian fields at fixed offsets, then the variable
// parts in a fixed order, every length checked before it is used.
#include "handoff_state.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "datatier/error.h"
#include "little_endian.h"

namespace datatier::detail {
namespace {

constexpr std::array<std::byte, 8> kStateMagic = magic_bytes("DTHANDST");
constexpr std::array<std::byte, 8> kFrameMagic = magic_bytes("DTHANDFR");

// The fixed part of the state descriptor.
constexpr std::size_t kFixedSize = 96;

// Flags at offset 12.
constexpr std::uint32_t kSpare = 1;
constexpr std::uint32_t kSpareSuspect = 2;
constexpr std::uint32_t kSpareIndexFile = 4;
constexpr std::uint32_t kLocked = 32;
constexpr std::uint32_t kKnownFlags = kSpare | kSpareSuspect | kSpareIndexFile | kLocked;

[[noreturn]] void malformed(const std::string& what) {
  throw Error(std::make_error_code(std::errc::bad_message), {},
              "malformed hand-off state: " + what);
}

void check_magic(std::span<const std::byte> bytes, const std::array<std::byte, 8>& magic,
                 const char* what) {
  if (bytes.size() < magic.size() || !std::equal(magic.begin(), magic.end(), bytes.begin())) {
    throw Error(errc::bad_magic, {}, std::string("not a datatier hand-off ") + what);
  }
}

void check_version(std::uint32_t version, const char* what) {
  if (version == kHandOffVersion) return;
  throw Error(errc::incompatible_version, {},
              std::string("hand-off ") + what + " of version " + std::to_string(version) +
                  "; this library speaks version " + std::to_string(kHandOffVersion));
}

// Appends to, or reads from, the variable part in order.
class Writer {
 public:
  explicit Writer(std::vector<std::byte>& out) : out_(out) {}
  void bytes(std::span<const std::byte> in) {
    // Resized, then copied into: GCC 12 at -O3 warns (-Warray-bounds,
    // wrongly) of vector::insert here.
    const std::size_t at = out_.size();
    out_.resize(at + in.size());
    if (!in.empty()) std::memcpy(out_.data() + at, in.data(), in.size());
  }
  void text(const std::string& in) { bytes(std::as_bytes(std::span(in))); }
  void u64(std::uint64_t v) {
    const std::size_t at = out_.size();
    out_.resize(at + 8);
    put_le<std::uint64_t>(out_, at, v);
  }

 private:
  std::vector<std::byte>& out_;
};

class Reader {
 public:
  explicit Reader(std::span<const std::byte> in) : in_(in) {}
  std::span<const std::byte> bytes(std::uint64_t n) {
    if (n > in_.size()) malformed("it ends early");
    const auto part = in_.first(static_cast<std::size_t>(n));
    in_ = in_.subspan(static_cast<std::size_t>(n));
    return part;
  }
  std::string text(std::uint64_t n) {
    const auto part = bytes(n);
    return {reinterpret_cast<const char*>(part.data()), part.size()};
  }
  std::uint64_t u64() { return get_le<std::uint64_t>(bytes(8), 0); }
  bool done() const noexcept { return in_.empty(); }

 private:
  std::span<const std::byte> in_;
};

}  // namespace

std::vector<std::byte> encode_state(const HandOffState& state) {
  std::vector<std::byte> out(kFixedSize);
  std::copy(kStateMagic.begin(), kStateMagic.end(), out.begin());
  std::uint32_t flags = 0;
  if (state.spare) flags |= kSpare;
  if (state.spare_suspect) flags |= kSpareSuspect;
  if (state.spare_index_file) flags |= kSpareIndexFile;
  if (state.placement.locked) flags |= kLocked;
  put_le<std::uint32_t>(out, 8, kHandOffVersion);
  put_le<std::uint32_t>(out, 12, flags);
  put_le<std::uint64_t>(out, 16, state.data_size);
  put_le<std::uint64_t>(out, 24, state.user_version);
  put_le<std::uint64_t>(out, 32, state.block_bytes);
  put_le<std::uint64_t>(out, 40, 0);
  put_le<std::uint32_t>(out, 48, static_cast<std::uint32_t>(state.placement.page_size));
  put_le<std::uint32_t>(out, 52, static_cast<std::uint32_t>(state.placement.numa));
  put_le<std::uint32_t>(out, 56, static_cast<std::uint32_t>(state.placement.numa_node));
  put_le<std::uint32_t>(out, 60, state.placement.threads);
  put_le<std::uint64_t>(out, 64, state.placement.page_bytes);
  put_le<std::uint32_t>(out, 72, state.descriptors);
  put_le<std::uint32_t>(out, 76, static_cast<std::uint32_t>(state.name.size()));
  put_le<std::uint32_t>(out, 80, static_cast<std::uint32_t>(state.directory.size()));
  put_le<std::uint32_t>(out, 84, 0);
  put_le<std::uint64_t>(out, 88, state.dirty_blocks.size());
  Writer writer(out);
  writer.bytes(state.header);
  writer.bytes(state.user_area);
  writer.text(state.name);
  writer.text(state.directory);
  for (std::uint64_t block : state.dirty_blocks) writer.u64(block);
  return out;
}

HandOffState decode_state(std::span<const std::byte> bytes) {
  check_magic(bytes, kStateMagic, "state");
  if (bytes.size() < kFixedSize) malformed("it ends early");
  check_version(get_le<std::uint32_t>(bytes, 8), "state");
  const auto flags = get_le<std::uint32_t>(bytes, 12);
  if ((flags & ~kKnownFlags) != 0) malformed("unknown flags");
  HandOffState state;
  state.spare = (flags & kSpare) != 0;
  state.spare_suspect = (flags & kSpareSuspect) != 0;
  state.spare_index_file = (flags & kSpareIndexFile) != 0;
  state.placement.locked = (flags & kLocked) != 0;
  state.data_size = get_le<std::uint64_t>(bytes, 16);
  state.user_version = get_le<std::uint64_t>(bytes, 24);
  state.block_bytes = get_le<std::uint64_t>(bytes, 32);
  if (get_le<std::uint64_t>(bytes, 40) != 0 || get_le<std::uint32_t>(bytes, 84) != 0) {
    malformed("reserved fields not zero");
  }
  const auto page_size = get_le<std::uint32_t>(bytes, 48);
  const auto numa = get_le<std::uint32_t>(bytes, 52);
  if (page_size > static_cast<std::uint32_t>(PageSize::huge_1gib)) malformed("unknown page size");
  if (numa > static_cast<std::uint32_t>(NumaPolicy::interleave)) malformed("unknown NUMA policy");
  state.placement.page_size = static_cast<PageSize>(page_size);
  state.placement.numa = static_cast<NumaPolicy>(numa);
  state.placement.numa_node = static_cast<int>(get_le<std::uint32_t>(bytes, 56));
  state.placement.threads = get_le<std::uint32_t>(bytes, 60);
  state.placement.page_bytes = static_cast<std::size_t>(get_le<std::uint64_t>(bytes, 64));
  state.placement.shared = true;
  state.descriptors = get_le<std::uint32_t>(bytes, 72);
  const auto name_length = get_le<std::uint32_t>(bytes, 76);
  const auto directory_length = get_le<std::uint32_t>(bytes, 80);
  const auto dirty_count = get_le<std::uint64_t>(bytes, 88);
  if (state.data_size > std::numeric_limits<std::size_t>::max()) malformed("data size too large");
  Reader reader(bytes.subspan(kFixedSize));
  std::ranges::copy(reader.bytes(kHeaderSize), state.header.begin());
  std::ranges::copy(reader.bytes(kUserAreaSize), state.user_area.begin());
  state.name = reader.text(name_length);
  state.directory = reader.text(directory_length);
  if (dirty_count > bytes.size() / 8) malformed("it ends early");
  state.dirty_blocks.resize(static_cast<std::size_t>(dirty_count));
  for (std::uint64_t& block : state.dirty_blocks) block = reader.u64();
  if (!reader.done()) malformed("bytes past its end");
  if (state.name.empty() || state.name.find('/') != std::string::npos) malformed("bad file name");
  return state;
}

std::array<std::byte, kFrameSize> encode_frame(const Frame& frame) noexcept {
  std::array<std::byte, kFrameSize> out{};
  std::copy(kFrameMagic.begin(), kFrameMagic.end(), out.begin());
  put_le<std::uint32_t>(out, 8, kHandOffVersion);
  put_le<std::uint32_t>(out, 12, static_cast<std::uint32_t>(frame.kind));
  put_le<std::uint32_t>(out, 16, frame.code);
  put_le<std::uint32_t>(out, 20, frame.datatier);
  put_le<std::uint64_t>(out, 24, frame.length);
  return out;
}

Frame decode_frame(std::span<const std::byte, kFrameSize> bytes) {
  check_magic(bytes, kFrameMagic, "frame");
  check_version(get_le<std::uint32_t>(bytes, 8), "frame");
  Frame frame;
  const auto kind = get_le<std::uint32_t>(bytes, 12);
  if (kind < static_cast<std::uint32_t>(FrameKind::offer) ||
      kind > static_cast<std::uint32_t>(FrameKind::refused)) {
    malformed("unknown frame kind " + std::to_string(kind));
  }
  frame.kind = static_cast<FrameKind>(kind);
  frame.code = get_le<std::uint32_t>(bytes, 16);
  frame.datatier = get_le<std::uint32_t>(bytes, 20);
  frame.length = get_le<std::uint64_t>(bytes, 24);
  if (frame.length > kMaxFramePayload) malformed("a frame payload too long");
  return frame;
}

std::error_code frame_error(const Frame& frame) noexcept {
  const auto value = static_cast<int>(frame.code);
  if (frame.datatier != 0) return make_error_code(static_cast<errc>(value));
  return {value, std::system_category()};
}

Frame reject_frame(const std::error_code& code, std::uint64_t length) noexcept {
  Frame frame;
  frame.kind = FrameKind::reject;
  frame.code = static_cast<std::uint32_t>(code.value());
  frame.datatier = code.category() == error_category() ? 1 : 0;
  frame.length = length;
  return frame;
}

}  // namespace datatier::detail
