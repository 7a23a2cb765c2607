// remove_pool() and restore_previous(): changing a pool's names from outside,
// with both files locked as a pool object would lock them.
#include "datatier/remove.h"

#include <array>
#include <optional>
#include <span>
#include <string>

#include "block_index.h"
#include "datatier/error.h"
#include "datatier/header.h"
#include "header_layout.h"
#include "platform/directory.h"
#include "platform/file.h"
#include "pool_file.h"
#include "verify_locked.h"

namespace datatier {
namespace {

// Opens the regular file `name` of `dir` (never through a symbolic link) and
// locks it exclusively, as a pool object holds its files.
platform::File open_locked(const platform::Directory& dir, const std::string& name,
                           platform::File::Access access) {
  platform::File file = dir.open_file(name, access);
  detail::lock_or_throw(file, "a pool object, in this or another process, holds the file",
                        ": nothing was changed");
  return file;
}

// Throws errc::file_replaced unless the entry `name` of `dir` is still
// `file`: checked right before a name changes, so that another program's
// file, put there since `file` was opened and locked, is never touched.
void check_still_named(const platform::Directory& dir, const std::string& name,
                       const platform::File& file) {
  const auto entry = dir.entry(name);
  if (entry && entry->id == file.status().id) return;
  throw Error(errc::file_replaced, file.path(),
              "the name no longer names the file that was locked (removed, renamed or replaced "
              "by another program): nothing was changed");
}

// Throws errc::bad_magic unless `file` starts with a pool header.
void check_is_pool(const platform::File& file) {
  const std::uint64_t size = file.size();
  if (size < kHeaderSize) {
    throw Error(errc::bad_magic, file.path(),
                "not removed: " + std::to_string(size) + " bytes, shorter than the " +
                    std::to_string(kHeaderSize) + "-byte header of a pool");
  }
  std::array<std::byte, kHeaderSize> bytes;
  file.read_exact(bytes, 0);
  detail::recover_first_sector(bytes);  // a header write torn by a power cut
  if (decode_header(bytes).magic != kMagic) {
    throw Error(errc::bad_magic, file.path(), "not removed: no pool magic \"PELIKAN!\"");
  }
}

// The message for a spare that failed verification: a spare a pool made and
// never saved into has an all-zero checksum, which is no damage.
std::string not_restorable(const VerifyReport& report) {
  const bool never_saved = report.error == errc::checksum_mismatch && report.header &&
                           report.header->checksum == Checksum{};
  return "the previous snapshot cannot be restored: " +
         (never_saved ? std::string("it holds none yet (the pool was saved at most once)")
                      : report.message) +
         "; nothing was changed";
}

// Clears the in-use mark of `file`, whose header is `header`, and makes that
// durable. The checksum covers neither place the mark lives in, so it still
// holds.
void clear_in_use_mark(const platform::File& file, const Header& header) {
  if ((header.options & kOptionInUse) == 0) return;
  Header cleared = header;
  cleared.options &= ~kOptionInUse;
  std::array<std::byte, kHeaderSize> bytes;
  encode_header(cleared, bytes);
  // Only the mark's two places are rewritten, the bit in the options field
  // and the in-use sector: every byte the checksum covers stays as stored.
  const auto write = [&](std::size_t offset, std::size_t size) {
    file.write_all(std::span(bytes).subspan(offset, size), offset);
  };
  write(detail::kOptionsOffset, sizeof cleared.options);
  write(detail::kInUseSectorOffset, detail::kInUseSectorSize);
  file.sync_data();
}

}  // namespace

std::vector<std::filesystem::path> remove_pool(const std::filesystem::path& path,
                                               const RemoveOptions& options) {
  const auto at = detail::PoolLocation::of(path);
  const std::string spare = detail::spare_name(at.name);
  const platform::File pool = open_locked(at.dir, at.name, platform::File::Access::read_only);
  if (!options.force) check_is_pool(pool);
  // Whatever else has the spare's name (a symbolic link, a FIFO) is only a
  // name: it goes without being opened.
  const auto spare_entry = at.dir.entry(spare);
  std::optional<platform::File> spare_file;
  if (spare_entry && spare_entry->regular()) {
    spare_file.emplace(open_locked(at.dir, spare, platform::File::Access::read_only));
  }

  check_still_named(at.dir, at.name, pool);
  if (spare_file) check_still_named(at.dir, spare, *spare_file);
  std::vector<std::filesystem::path> removed;
  // The block indexes first (never opened: only names): an index is only
  // ever an aid, so a failure here leaves both pool files whole.
  for (const std::string& index : {detail::index_name(spare), detail::index_name(at.name)}) {
    if (!at.dir.entry(index)) continue;
    at.dir.remove(index);
    removed.push_back(at.dir.entry_path(index));
  }
  if (spare_entry) {
    at.dir.remove(spare);
    removed.push_back(at.dir.entry_path(spare));
  }
  at.dir.remove(at.name);
  removed.push_back(at.path());
  at.dir.sync();
  return removed;
}

RestoreReport restore_previous(const std::filesystem::path& path) {
  const auto at = detail::PoolLocation::of(path);
  const std::string spare = detail::spare_name(at.name);
  // The pool file first, then the spare: the order the pools lock them in.
  std::optional<platform::File> current;
  if (at.dir.entry(at.name)) {
    current.emplace(open_locked(at.dir, at.name, platform::File::Access::read_only));
  }
  const platform::File previous = open_locked(at.dir, spare, platform::File::Access::read_write);

  RestoreReport report;
  // The spare was the pool file, marked in use, until the save that swapped
  // it out: its mark says nothing about its snapshot.
  VerifyOptions verify;
  verify.accept_unclean = true;
  report.restored = detail::verify_locked(previous, verify);
  if (!report.restored.ok()) {
    throw Error(report.restored.error, previous.path(), not_restorable(report.restored));
  }

  if (current) check_still_named(at.dir, at.name, *current);
  check_still_named(at.dir, spare, previous);
  clear_in_use_mark(previous, *report.restored.header);
  report.restored.header->options &= ~kOptionInUse;
  if (current) {
    // restore_previous() takes no options: no one hears of a fallback.
    report.set_aside = at.dir.entry_path(detail::put_spare_in_place(at.dir, at.name, {}));
  } else {
    if (!at.dir.rename_if_free(spare, at.name)) {
      throw Error(std::make_error_code(std::errc::file_exists), at.path(),
                  "another program created the pool file meanwhile: the previous snapshot stays "
                  "in '" +
                      previous.path().string() + "'");
    }
    at.dir.sync();
  }
  report.path = at.path();
  return report;
}

}  // namespace datatier
