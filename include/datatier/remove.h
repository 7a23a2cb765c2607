// Removing a pool's files, and putting its previous snapshot back in place:
// for tools and operators, while no pool object holds the files.
#pragma once

#include "datatier/cxx_standard.h"

#include <filesystem>
#include <vector>

#include "datatier/verify.h"

namespace datatier {

struct RemoveOptions {
  // Remove the file even when it is not a pool file (it has no pool magic,
  // or is shorter than a header).
  bool force = false;
};

// Removes the block indexes of a pool (`path`.prev.index and `path`.index,
// where they exist; see datatier/block_index.h), the spare file
// (FileBackedMemory::spare_path(path), if there is one) and the pool file
// `path`, then makes the directory durable. `path` is resolved as the pools resolve it: a symbolic
// link names the pool it points to, and that pool's files go (the link
// stays). Nothing is removed while a pool object holds either file: both are
// locked exclusively first, and every name is checked to still name the file
// locked right before it goes.
// Returns the paths removed, in that order.
// Throws: datatier::Error, and removes nothing, for errc::pool_in_use (a
// pool object, in this or another process, holds the pool file or the
// spare), errc::bad_magic (not a pool file, unless options.force),
// errc::file_replaced (a name changed to another file meanwhile) and the
// errno of opening, locking or reading (no_such_file_or_directory,
// is_a_directory, ...); with the errno of a removal or of the directory
// sync after the spare (or both files) went.
// Crash: the spare goes before the pool file, so a crash leaves both files,
// the pool file alone (an intact pool, whose next open makes a new spare) or
// neither (the indexes, gone first, cost the next save a whole write).
std::vector<std::filesystem::path> remove_pool(const std::filesystem::path& path,
                                               const RemoveOptions& options = {});

// What restore_previous() did.
struct RestoreReport {
  // The pool file, which now holds the previous snapshot.
  std::filesystem::path path;
  // Where the file that was under `path` went (`path`.damaged, or
  // .damaged.1, .damaged.2, ... where that name is taken); empty when there
  // was none.
  std::filesystem::path set_aside;
  // The checks the previous snapshot passed before it was put in place: its
  // data size, header and checksum.
  VerifyReport restored;
};

// Puts the previous snapshot a FileBackedMemory keeps in its spare file
// (FileBackedMemory::spare_path(path)) back under `path`, whether or not the
// file there is intact: the spare is verified first (every check of
// verify_file(), against the data size and user version its own header
// gives; its in-use mark, left from when it was the pool file, is accepted
// and then cleared, so the restored pool opens without accept_unclean), and
// then the two names are exchanged and the file that was under `path` is set
// aside as `path`.damaged (the first free of .damaged, .damaged.1, ...);
// datatier never removes it. A missing pool file is no error: the spare
// then only takes its name. Afterwards there is no spare; the pool's next
// open makes one. Both files are locked exclusively for the whole call.
// Throws: datatier::Error, and changes nothing, for errc::pool_in_use (a pool
// object holds the pool file or the spare), the verdict of the spare's first
// failed check (errc::checksum_mismatch also for a spare that never held a
// snapshot, ...), errc::file_replaced (a name changed to another file
// meanwhile) and the errno of opening or reading
// (std::errc::no_such_file_or_directory when there is no spare); with the
// errno of a rename or the directory sync once the names change.
// Crash: where the file system exchanges names (renameat2 RENAME_EXCHANGE),
// `path` holds the old pool file or the previous snapshot at every moment;
// a crash right after the exchange leaves the old pool file under the
// spare's name, where a pool's next save overwrites it. Elsewhere the old
// file is set aside first, and a crash before the spare is renamed leaves no
// file under `path` (both files keep their contents).
RestoreReport restore_previous(const std::filesystem::path& path);

}  // namespace datatier
