// Handing a FileBackedMemory to another process: its memory file, its files
// (with their locks) and a descriptor of its state, over a Unix socket or
// through the caller's own channel. Nothing of the pool's data is read,
// written or copied: the successor maps the same pages.
#include "datatier/handoff.h"

#include <sys/types.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "block_index.h"
#include "checksum.h"
#include "datatier/error.h"
#include "datatier/file_backed_memory.h"
#include "file_backed_memory_impl.h"
#include "handoff_state.h"
#include "memory_impl.h"
#include "platform/file.h"
#include "platform/mapping.h"
#include "platform/memory_file.h"
#include "platform/unix_socket.h"
#include "pool_check.h"
#include "pool_file.h"

namespace datatier {

HandOff::HandOff(std::vector<int> fds, std::vector<std::byte> state) noexcept
    : fds_(std::move(fds)), state_(std::move(state)) {}

HandOff::HandOff(HandOff&& other) noexcept
    : fds_(std::exchange(other.fds_, {})), state_(std::exchange(other.state_, {})) {}

HandOff& HandOff::operator=(HandOff&& other) noexcept {
  if (this != &other) {
    close_fds();
    fds_ = std::exchange(other.fds_, {});
    state_ = std::exchange(other.state_, {});
  }
  return *this;
}

HandOff::~HandOff() {
  close_fds();
}

std::vector<int> HandOff::release_fds() noexcept {
  return std::exchange(fds_, {});
}

void HandOff::close_fds() noexcept {
  for (const int fd : fds_) platform::UniqueFd{fd}.reset();
  fds_.clear();
}

namespace {

using Clock = std::chrono::steady_clock;

// The socket's permission bits: only its owner may connect (and root,
// whose credentials the check of the peer's user then refuses).
constexpr mode_t kSocketMode = 0600;

std::span<const std::byte> bytes_of(const std::string& text) noexcept {
  return std::as_bytes(std::span(text));
}

std::string text_of(std::span<const std::byte> bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

// One frame and its payload, sent in one piece so that the descriptors go
// with its first byte.
void send_frame(const platform::UnixConnection& connection, detail::Frame frame,
                std::span<const std::byte> payload, std::span<const int> fds,
                platform::Deadline deadline) {
  frame.length = payload.size();
  const auto head = detail::encode_frame(frame);
  std::vector<std::byte> bytes(head.begin(), head.end());
  bytes.insert(bytes.end(), payload.begin(), payload.end());
  connection.send(bytes, fds, deadline);
}

struct Received {
  detail::Frame frame;
  std::vector<std::byte> payload;
  std::vector<platform::UniqueFd> fds;
};

// The next frame. Descriptors that come with a frame that should carry
// none are closed.
Received receive_frame(const platform::UnixConnection& connection, platform::Deadline deadline) {
  Received received;
  std::array<std::byte, detail::kFrameSize> head;
  connection.receive(head, &received.fds, deadline);
  received.frame = detail::decode_frame(head);
  received.payload.resize(static_cast<std::size_t>(received.frame.length));
  connection.receive(received.payload, &received.fds, deadline);
  return received;
}

std::string who(const platform::PeerCredentials& peer) {
  return "process " + std::to_string(peer.pid) + " (user " + std::to_string(peer.uid) + ")";
}

}  // namespace

std::vector<std::byte> FileBackedMemory::Impl::hand_off_state(std::vector<int>& fds,
                                                              std::vector<std::uint64_t>& marks) {
  Impl& s = *this;
  s.wait_loaded();
  if (s.options.read_only) {
    throw Error(std::make_error_code(std::errc::operation_not_permitted), s.pool.path(),
                "a read-only pool cannot be handed off: it holds its files to read them");
  }
  detail::check_owner_process(s.owner_process, s.pool.path());
  // No save may run (a background one included) while the state is read.
  const detail::SaveGate::Entry one_at_a_time(s.saving);
  const int memory_file = detail::SharedMemory::file(s.memory);
  if (memory_file < 0) {
    throw Error(std::make_error_code(std::errc::operation_not_supported), s.pool.path(),
                "cannot hand the pool off: its memory is private to this process; create or "
                "open it with FileOptions::memory.shareable = true");
  }
  // The successor must receive memory equal to the pool file's snapshot
  // (what verify_on_take_over checks, and what the indexes handed over
  // describe). With marks to go by, a pool with none, the user area as
  // saved and a snapshot in its file (not just created) is known to hold
  // it already, and the hand-off does no I/O at all; otherwise a save, as
  // incremental as flush() can make it, writes what changed.
  std::vector<std::uint64_t> taken = s.dirty.take();
  const bool unchanged = s.options.changes == Changes::marked && taken.empty() &&
                         s.user_area == s.pool.header().user_area &&
                         s.pool.header().checksum != Checksum{};
  if (!unchanged) {
    s.dirty.restore(taken);
    s.save_entered(false);
    taken = s.dirty.take();
  }
  marks = std::move(taken);
  detail::HandOffState state;
  state.data_size = s.pool.data_size();
  state.user_version = s.pool.user_version();
  state.block_bytes = s.layout.block_bytes();
  state.spare = s.spare.has_value();
  state.spare_suspect = s.spare_suspect;
  state.spare_index_file = s.spare_index_file;
  state.placement = detail::SharedMemory::placement(s.memory);
  state.directory = s.location.dir.path().string();
  state.name = s.location.name;
  std::ranges::copy(s.pool.header_bytes(), state.header.begin());
  state.user_area = s.user_area;
  state.dirty_blocks = marks;
  fds = {memory_file, s.location.dir.fd(), s.pool.file().fd()};
  if (s.spare) fds.push_back(s.spare->file().fd());
  state.descriptors = static_cast<std::uint32_t>(fds.size());
  return detail::encode_state(state);
}

std::unique_ptr<FileBackedMemory::Impl> FileBackedMemory::Impl::adopt(
    std::vector<platform::UniqueFd> fds, std::span<const std::byte> bytes, std::size_t data_size,
    std::uint64_t user_version, const FileOptions& options) {
  if (options.read_only) {
    throw Error(std::make_error_code(std::errc::invalid_argument), {},
                "a pool taken over is held to be written: FileOptions::read_only does not apply");
  }
  detail::HandOffState state = detail::decode_state(bytes);
  const std::filesystem::path directory = state.directory;
  const std::filesystem::path path = directory / state.name;
  const std::size_t expected_fds = state.spare ? 4 : 3;
  if (fds.size() != expected_fds || state.descriptors != expected_fds) {
    throw Error(std::make_error_code(std::errc::bad_message), path,
                "the hand-off brought " + std::to_string(fds.size()) + " descriptors; " +
                    std::to_string(expected_fds) + " expected");
  }
  // open()'s checks, in its order, on what the predecessor held.
  const std::uint64_t file_size = detail::checked_file_size(path, data_size);
  platform::File pool_file = platform::File::adopt(std::move(fds[2]), path);
  detail::Verdict verdict = detail::check_file_size(pool_file.size(), data_size);
  if (!verdict && state.data_size != data_size) {
    verdict = {errc::size_mismatch, "the pool handed off holds " + std::to_string(state.data_size) +
                                        " data bytes; " + std::to_string(data_size) + " expected"};
  }
  const detail::Expectation expected{
      .data_size = data_size, .user_version = user_version, .accept_unclean = true};
  if (!verdict) verdict = detail::check_header(decode_header(state.header), expected);
  detail::throw_if_failed(verdict, path);

  const platform::MemoryFileStatus memory_file = platform::memory_file_status(fds[0].get());
  const std::size_t page = platform::page_bytes_of(state.placement.page_size);
  if (state.placement.page_bytes != page || !memory_file.sealed || memory_file.size < data_size) {
    throw Error(errc::size_mismatch, path,
                "the memory handed off is no sealed memory file of " + std::to_string(data_size) +
                    " bytes on pages of " + std::to_string(page) + " bytes (it holds " +
                    std::to_string(memory_file.size) + " bytes)");
  }
  Memory memory = detail::SharedMemory::adopt(std::move(fds[0]), data_size, state.placement,
                                              options.memory.lock);
  detail::PoolLocation location{platform::Directory::adopt(std::move(fds[1]), directory),
                                state.name};
  detail::PoolFile pool = detail::PoolFile::adopt(std::move(pool_file), state.name, data_size,
                                                  user_version, file_size, &state.header);
  std::optional<detail::PoolFile> spare;
  if (state.spare) {
    const std::string spare_name = detail::spare_name(state.name);
    spare =
        detail::PoolFile::adopt(platform::File::adopt(std::move(fds[3]), directory / spare_name),
                                spare_name, data_size, user_version, file_size, nullptr);
  }
  // Direct I/O descriptors are opened anew: they carry no lock.
  if (options.direct_io) {
    pool.enable_direct_io(options.on_fallback);
    if (spare) spare->enable_direct_io(options.on_fallback);
  }
  const detail::BlockLayout layout(
      data_size, detail::BlockLayout::checked_block_bytes(options.block_size, path));
  // The indexes are read from their files at the first save, not carried
  // here: what the hand-off costs does not grow with the pool.
  auto impl = std::make_unique<Impl>(std::move(location), std::move(memory), std::move(pool),
                                     std::move(spare), options, layout, std::nullopt,
                                     detail::FoundIndex{{}, state.spare_index_file}, Recovery{});
  impl->indexes_unread = true;
  impl->user_area = state.user_area;
  impl->spare_suspect = state.spare_suspect;
  // Marks in blocks of another size, or out of range, mark everything.
  const bool marks_fit =
      state.block_bytes == layout.block_bytes() &&
      std::ranges::all_of(state.dirty_blocks, [&](std::uint64_t b) { return b < layout.count(); });
  if (marks_fit) {
    impl->dirty.restore(state.dirty_blocks);
  } else if (!state.dirty_blocks.empty()) {
    impl->dirty.mark_all();
  }
  if (options.verify_on_take_over) {
    detail::TreeHashOptions hashing;
    hashing.threads = options.threads;
    std::optional<detail::BlockIndex> values;
    const Checksum computed =
        detail::hash_stream(detail::covered_header(impl->pool.header_bytes()),
                            std::as_const(impl->memory).data(), layout, &values, hashing);
    detail::throw_if_failed(detail::check_checksum(impl->pool.header(), computed), path);
    // The values just verified are the pool file's index: its first save
    // need not read them again.
    impl->pool_index = std::move(values);
  }
  return impl;
}

void FileBackedMemory::hand_off(const std::filesystem::path& socket,
                                std::chrono::milliseconds timeout) {
  if (!impl_) detail::throw_moved_from();
  const platform::Deadline deadline = Clock::now() + timeout;
  std::vector<int> fds;
  std::vector<std::uint64_t> marks;
  const std::vector<std::byte> state = impl_->hand_off_state(fds, marks);
  detail::MarksBack restore_marks(impl_->dirty, marks);
  // Whatever is thrown from here on, the pool is still this process's.
  {
    const platform::UnixListener listener = platform::UnixListener::listen(socket, kSocketMode);
    for (;;) {
      std::optional<platform::UnixConnection> connection = listener.accept(deadline);
      if (!connection) {
        throw Error(std::make_error_code(std::errc::timed_out), socket,
                    "no successor took the pool within " + std::to_string(timeout.count()) +
                        " ms; the pool is still held by this process");
      }
      const platform::PeerCredentials peer = connection->peer();
      if (peer.uid != platform::effective_user_id()) {
        // Another user's process (root, or one the socket's mode did not
        // stop): told, and the wait goes on for the right one.
        const std::string why = who(peer) + " runs as another user than the pool's owner (user " +
                                std::to_string(platform::effective_user_id()) + ")";
        try {
          send_frame(*connection, {.kind = detail::FrameKind::refused}, bytes_of(why), {},
                     deadline);
        } catch (const Error&) {
          // It may have gone already; it is refused either way.
        }
        continue;
      }
      send_frame(*connection, {.kind = detail::FrameKind::offer}, state, fds, deadline);
      Received reply;
      try {
        reply = receive_frame(*connection, deadline);
      } catch (const Error& e) {
        if (e.code() != std::errc::connection_reset) throw;
        throw Error(e.code(), socket,
                    "the successor, " + who(peer) +
                        ", hung up before it answered; the pool is still held by this process");
      }
      if (reply.frame.kind == detail::FrameKind::reject) {
        throw Error(std::make_error_code(std::errc::connection_refused), socket,
                    "the successor, " + who(peer) + ", rejected the pool: " +
                        text_of(reply.payload) + " (" + detail::frame_error(reply.frame).message() +
                        "); the pool is still held by this process");
      }
      if (reply.frame.kind != detail::FrameKind::accept) {
        throw Error(std::make_error_code(std::errc::bad_message), socket,
                    "the successor answered with an unexpected frame");
      }
      // The successor holds everything now and waits for this word; once
      // sent, the pool is its own. A successor gone already cannot take it:
      // the send fails and the pool stays.
      send_frame(*connection, {.kind = detail::FrameKind::committed}, {}, {}, deadline);
      break;
    }
  }
  restore_marks.disarm();
  impl_.reset();
}

FileBackedMemory FileBackedMemory::take_over(const std::filesystem::path& socket,
                                             std::size_t data_size, std::uint64_t user_version,
                                             const FileOptions& options) {
  const platform::Deadline deadline = Clock::now() + options.take_over_timeout;
  const platform::UnixConnection connection = platform::UnixConnection::connect(socket, deadline);
  const platform::PeerCredentials peer = connection.peer();
  if (peer.uid != platform::effective_user_id()) {
    throw Error(std::make_error_code(std::errc::permission_denied), socket,
                "the process handing off, " + who(peer) + ", runs as another user than this one (" +
                    std::to_string(platform::effective_user_id()) +
                    "): only the same user may take a pool over");
  }
  Received offer = receive_frame(connection, deadline);
  if (offer.frame.kind == detail::FrameKind::refused) {
    throw Error(std::make_error_code(std::errc::permission_denied), socket,
                "the process handing off refused: " + text_of(offer.payload));
  }
  if (offer.frame.kind != detail::FrameKind::offer) {
    throw Error(std::make_error_code(std::errc::bad_message), socket,
                "the process handing off sent an unexpected frame");
  }
  std::unique_ptr<Impl> impl;
  const auto reject = [&](const std::error_code& code, const std::string& why) {
    try {
      send_frame(connection, detail::reject_frame(code, why.size()), bytes_of(why), {}, deadline);
    } catch (const Error&) {
      // The predecessor keeps the pool whether or not it hears why.
    }
  };
  try {
    impl = Impl::adopt(std::move(offer.fds), offer.payload, data_size, user_version, options);
  } catch (const Error& e) {
    reject(e.code(), e.what());
    throw;
  } catch (const std::bad_alloc&) {
    reject(std::make_error_code(std::errc::not_enough_memory), "out of memory");
    throw;
  }
  send_frame(connection, {.kind = detail::FrameKind::accept}, {}, {}, deadline);
  // Only `committed` makes the pool ours; without it the predecessor keeps
  // it, and what arrived here is closed.
  try {
    const Received committed = receive_frame(connection, deadline);
    if (committed.frame.kind != detail::FrameKind::committed) {
      throw Error(std::make_error_code(std::errc::bad_message), socket,
                  "the process handing off sent an unexpected frame");
    }
  } catch (const Error& e) {
    throw Error(e.code(), socket,
                "the hand-off was not committed: the process handing off, " + who(peer) +
                    ", keeps the pool");
  }
  return FileBackedMemory(std::move(impl));
}

HandOff FileBackedMemory::release() {
  if (!impl_) detail::throw_moved_from();
  std::vector<int> borrowed;
  std::vector<std::uint64_t> marks;
  std::vector<std::byte> state = impl_->hand_off_state(borrowed, marks);
  detail::MarksBack restore_marks(impl_->dirty, marks);
  // Duplicates of the pool's descriptors: the same open files, so the locks
  // stay held when the pool closes its own.
  std::vector<platform::UniqueFd> copies;
  for (const int fd : borrowed) copies.push_back(platform::duplicate_fd(fd));
  std::vector<int> fds;
  for (platform::UniqueFd& copy : copies) fds.push_back(copy.release());
  restore_marks.disarm();
  impl_.reset();
  return HandOff(std::move(fds), std::move(state));
}

FileBackedMemory FileBackedMemory::adopt(HandOff&& from, std::size_t data_size,
                                         std::uint64_t user_version, const FileOptions& options) {
  // The pool takes duplicates, so that `from` keeps its own if this fails.
  std::vector<platform::UniqueFd> fds;
  for (const int fd : from.fds()) fds.push_back(platform::duplicate_fd(fd));
  auto impl = Impl::adopt(std::move(fds), from.state(), data_size, user_version, options);
  from = HandOff();
  return FileBackedMemory(std::move(impl));
}

}  // namespace datatier
