// The state of a FileBackedMemory, shared by the files that implement its
// parts (saving, handing off).
#pragma once

#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "background_flush.h"
#include "block_index.h"
#include "lazy_load.h"
#include "datatier/file_backed_memory.h"
#include "datatier/memory.h"
#include "platform/process.h"
#include "platform/thread.h"
#include "platform/unique_fd.h"
#include "pool_file.h"

namespace datatier {

struct FileBackedMemory::Impl {
  Impl(detail::PoolLocation at, Memory mem, detail::PoolFile pool_file,
       std::optional<detail::PoolFile> spare_file, const FileOptions& opts,
       const detail::BlockLayout& blocks, std::optional<detail::BlockIndex> pool_values,
       detail::FoundIndex spare_values, Recovery found)
      : location(std::move(at)),
        memory(std::move(mem)),
        pool(std::move(pool_file)),
        spare(std::move(spare_file)),
        options(opts),
        recovery(std::move(found)),
        user_area(pool.header().user_area),
        layout(blocks),
        pool_index(std::move(pool_values)),
        spare_index(std::move(spare_values.index)),
        spare_index_file(spare_values.file_exists),
        dirty(blocks),
        cut(blocks, std::as_const(memory).data()) {}
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
  // Stops a background save still running and waits for its thread.
  ~Impl();

  detail::PoolLocation location;  // the directory held open, the pool file's name
  Memory memory;
  detail::PoolFile pool;  // the file under the pool's name: the last snapshot
  // The file under the spare's name: where the next snapshot goes. Empty
  // after a save that had to replace the pool file (no RENAME_EXCHANGE) and
  // could not make a new spare; the next flush() makes one first.
  std::optional<detail::PoolFile> spare;
  FileOptions options;
  Recovery recovery;
  UserArea user_area;  // saved into the header of every snapshot
  int owner_process = platform::process_id();
  detail::SaveGate saving;  // one save at a time, in the foreground or not
  // A save failed after it began: what the spare holds, what the page cache
  // will still write of it, and which names the directory's durable state
  // gives, are unknown. The next save starts from a new spare.
  bool spare_suspect = false;

  detail::BlockLayout layout;  // of the index of both files
  // The block values of the snapshot in the pool file, and in the spare
  // file, when known: what lets a save write only the blocks that changed.
  std::optional<detail::BlockIndex> pool_index;
  std::optional<detail::BlockIndex> spare_index;
  // Memory for the next snapshot's values: the three indexes take turns, so
  // that a save hashes into memory faulted in already (at 64 GiB an index
  // is 32 MiB, and fresh memory costs far more than the hashing on some
  // machines).
  std::optional<detail::BlockIndex> next_values;
  // Whether the spare's index file may exist (and vouch for the spare).
  bool spare_index_file = true;
  // A pool taken over: spare_index, and pool_index unless a verification
  // computed it, are still in their files (read_indexes() reads them).
  bool indexes_unread = false;
  detail::DirtyBlocks dirty;       // mark_dirty()'s marks
  std::vector<ByteRange> damaged;  // zeroed by a salvaging open()

  // A lazy open's load (FileOptions::lazy), kept once done for
  // load_progress(); what wait_loaded() made of its outcome.
  std::unique_ptr<detail::LazyLoad> lazy;
  std::mutex load_settling;
  bool load_settled = false;
  std::exception_ptr load_failure;

  // The background save (begin_flush()): the blocks it has yet to take, its
  // thread, and what its handle sees.
  detail::BlockCut cut;
  std::optional<platform::Thread> saver;
  std::shared_ptr<detail::FlushJob> job;

  // wait_loaded(): waits for a lazy load; the first call settles its
  // outcome (settle_load()); every call throws its failure.
  void wait_loaded();
  // Takes what the load found: damaged blocks' values into pool_index,
  // then with salvage their ranges into `damaged`, their marks into `dirty`
  // and the pool file's index removed; without it, load_failure.
  void settle_load();

  // Removes the spare's index file, durably, before the spare is written;
  // the memory of its values goes to next_values.
  void forget_spare_index();

  // flush(), or with `full`, flush_full(): save_entered() once no other
  // save runs.
  void save(bool full);
  // The save, by a caller that holds `saving`.
  void save_entered(bool full);

  // The first step of every save, once it holds `saving`: refuses a pool
  // that may not save, reads the indexes if still unread, readies the spare
  // and counts it suspect until the save completes.
  void start_save();

  // Reads the indexes of both files not known yet, as open() finds them (a
  // missing or stale one is none), if indexes_unread.
  void read_indexes();

  // The last steps of every save, once the data of the new snapshot is in
  // the spare: writes `header` (its checksum set), syncs, writes `next` (the
  // new snapshot's block values) as the spare's index, exchanges the files
  // and their indexes, syncs the directory.
  void commit(const Header& header, std::optional<detail::BlockIndex> next);

  // The new snapshot's values start from the memory of a stale index (see
  // next_values); the spare's index, about to go stale, gives its memory
  // to the save after.
  std::optional<detail::BlockIndex> take_next_values();

  // begin_flush()'s thread: saves the blocks `cut` hands out as `plan`
  // says, reporting to `outcome`; leaves `saving` when it ends.
  struct CutPlan;
  void save_in_background(const CutPlan& plan, detail::FlushJob& outcome);

  // Hand-off (handoff.cc). Saves if the memory may differ from the pool
  // file's snapshot, then describes the pool: the state descriptor is
  // returned, the pool's descriptors (still its own) go to `fds` and the
  // marks taken from `dirty` (to restore if the hand-off fails) to `marks`.
  std::vector<std::byte> hand_off_state(std::vector<int>& fds, std::vector<std::uint64_t>& marks);
  // The pool that `fds` and `state` describe, checked against what the
  // caller expects as open() checks a file.
  static std::unique_ptr<Impl> adopt(std::vector<platform::UniqueFd> fds,
                                     std::span<const std::byte> state, std::size_t data_size,
                                     std::uint64_t user_version, const FileOptions& options);

  // Makes sure the spare can take the next snapshot: a regular file that
  // only the spare's name links to, of the pool's size. A spare removed
  // since is made again, one linked elsewhere or suspect after a failed save
  // is replaced (and the directory synced, before anything is written into
  // the new one); another file under the spare's name is an error.
  void ready_spare();
};

}  // namespace datatier
