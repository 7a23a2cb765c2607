// What a FileBackedMemory handed to another process carries beside its
// descriptors, and the frames of the hand-off conversation on its socket:
// docs/format.md, "Hand-off".
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#include "datatier/header.h"
#include "datatier/memory_options.h"
#include "tree_checksum.h"

namespace datatier::detail {

// The version of the state descriptor and of the frames; a reader refuses
// every other (errc::incompatible_version).
inline constexpr std::uint32_t kHandOffVersion = 1;

// The state of a pool at a hand-off. Its descriptors travel beside it, in
// this order: the memory file, the directory, the pool file, and the spare
// file when `spare` is set.
struct HandOffState {
  std::uint64_t data_size = 0;
  std::uint64_t user_version = 0;
  std::uint64_t block_bytes = 0;                // of the block layout of the indexes
  std::uint32_t descriptors = 0;                // how many travel beside it
  bool spare = false;                           // a spare file is held
  bool spare_suspect = false;                   // a save failed after it began
  bool spare_index_file = false;                // the spare's index file may exist
  Placement placement;                          // of the memory, as its creator placed it
  std::string directory;                        // the directory's path, for messages
  std::string name;                             // the pool file's name in it
  std::array<std::byte, kHeaderSize> header{};  // the pool file's, as it holds it
  UserArea user_area{};
  std::vector<std::uint64_t> dirty_blocks;  // marked since the last save
};

std::vector<std::byte> encode_state(const HandOffState& state);

// Throws datatier::Error: errc::bad_magic (not a state descriptor),
// errc::incompatible_version (another version), std::errc::bad_message
// (lengths that do not add up, values out of range).
HandOffState decode_state(std::span<const std::byte> bytes);

// What a frame says.
enum class FrameKind : std::uint32_t {
  offer = 1,      // predecessor: the state follows, the descriptors with this frame
  accept = 2,     // successor: it holds the pool now, unless `committed` fails to come
  reject = 3,     // successor: it will not take the pool; the reason follows
  committed = 4,  // predecessor: it has let go; the successor owns the pool
  refused = 5,    // predecessor: the successor's user may not take the pool
};

// The fixed part of every frame; `length` bytes of payload follow it.
struct Frame {
  FrameKind kind = FrameKind::offer;
  std::uint32_t code = 0;      // reject: the errc or errno value
  std::uint32_t datatier = 0;  // reject: 1 when `code` is a datatier::errc
  std::uint64_t length = 0;
};

inline constexpr std::size_t kFrameSize = 32;
// The largest payload a frame may announce: a state descriptor with block
// indexes of a few million blocks.
inline constexpr std::uint64_t kMaxFramePayload = std::uint64_t{1} << 30;

std::array<std::byte, kFrameSize> encode_frame(const Frame& frame) noexcept;

// Throws datatier::Error: errc::bad_magic, errc::incompatible_version,
// std::errc::bad_message (an unknown kind, a payload too long).
Frame decode_frame(std::span<const std::byte, kFrameSize> bytes);

// The error code a reject frame carries, and the frame that carries `code`.
std::error_code frame_error(const Frame& frame) noexcept;
Frame reject_frame(const std::error_code& code, std::uint64_t length) noexcept;

}  // namespace datatier::detail
