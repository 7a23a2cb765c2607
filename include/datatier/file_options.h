// Options shared by the file-backed pools' create() and open().
#pragma once

#include "datatier/cxx_standard.h"

#include <chrono>
#include <cstddef>
#include <filesystem>

#include "datatier/block_index.h"
#include "datatier/lazy_load.h"
#include "datatier/memory_options.h"
#include "datatier/progress.h"

namespace datatier {

struct FileOptions {
  // Permission bits for files the pool creates (before the umask).
  std::filesystem::perms create_mode =
      std::filesystem::perms::owner_read | std::filesystem::perms::owner_write;

  // open() only. By default a file whose in-use mark is set (its owner ended
  // without flush()) is refused with errc::unclean_shutdown. Set this to open
  // it anyway, provided its checksum still verifies: for a FileBackedMemory
  // that is the last snapshot its owner saved; for an MmapFile it is the last
  // flushed contents, which verify only if nothing was written after the flush.
  bool accept_unclean = false;

  // open() only: open the pool to read it, never to write. The file is
  // locked shared (other read-only opens may hold it too, no writer may),
  // not marked in use, and nothing is ever written: no spare file, no block
  // index, no renames (fallback_to_previous loads the previous snapshot
  // without putting it in place). flush() and flush_full() throw
  // std::errc::operation_not_permitted; close() releases the pool. A
  // FileBackedMemory reads through the page cache; an MmapFile's mapping is
  // read-only (a write to data() raises SIGSEGV). create() and
  // open_or_create() refuse it (std::errc::invalid_argument).
  bool read_only = false;

  // Progress of open(), flush(), flush_full() and close(), which the
  // callback may cancel (datatier/progress.h). open() counts the data bytes
  // read (and, for an MmapFile, hashed); a save counts the bytes it hashes
  // plus those it writes (the latter added to the total once the changed
  // blocks are known; an MmapFile's write-back is not counted). Cancelling
  // open() leaves the files as they were; cancelling a FileBackedMemory save
  // leaves the previous snapshot under the pool's name, exactly (the next
  // save rewrites the whole spare); cancelling an MmapFile save leaves the
  // header of the last save, so the file reads as unclean until the next.
  Progress progress;

  // Threads to hash (and fault pages in) on; 0 = all cores. The checksum is
  // the same for every thread count. No thread outlives a call, but for the
  // thread of a FileBackedMemory::begin_flush(), which ends with its save.
  unsigned threads = 0;

  // FileBackedMemory only: move the data between memory and file with direct
  // I/O (O_DIRECT), bypassing the page cache, where the file system allows it;
  // buffered I/O otherwise. open() still copies from the page cache each
  // 8 MiB block that the cache holds whole (a file saved by a buffered writer
  // or copied in; known on Linux 6.5 and later), which is several times
  // faster than reading the disk. Set to false to always use the page cache.
  bool direct_io = true;

  // FileBackedMemory::open() only. When the pool file fails a check that
  // damage explains (errc::size_mismatch, errc::bad_magic,
  // errc::checksum_mismatch), load the previous snapshot from the spare file
  // instead, provided it passes every check (its in-use mark aside: a spare
  // carries the mark it had while it was the pool file). The spare is then
  // put back under the pool's name and the damaged file set aside as
  // `<pool>.damaged` (or `.damaged.1`, `.damaged.2`, ... where that name is
  // taken), never removed by datatier; FileBackedMemory::recovery() says
  // what happened. Other verdicts (version, user version, in-use mark) are
  // reported as without this option: the spare would fail them too.
  bool fallback_to_previous = false;

  // FileBackedMemory::flush(): how a save finds the blocks that changed
  // since the snapshot in the spare file (see datatier/block_index.h). With
  // either, only those are written; flush_full() writes everything.
  // MmapFile::flush() (which writes back only dirty pages in any case): with
  // Changes::marked, only marked blocks are hashed again.
  Changes changes = Changes::compare;

  // The block size of the block index of a file pool (a power of two
  // from 4096 to 16 MiB; 0 = kDefaultBlockSize): the unit a save writes and
  // a failed check names. An index of another block size found on disk is
  // ignored and replaced by the next save.
  std::size_t block_size = 0;

  // FileBackedMemory::begin_flush(): the most memory a background save
  // holds at once for copies of blocks that writers are about to change
  // (rounded down to whole blocks; at least two blocks). A writer that finds
  // it all in use waits until the save has written out a copy.
  std::size_t copy_budget = std::size_t{64} << 20;

  // FileBackedMemory::open() only. When the file's only fault is damage to
  // data blocks that its block index names, open anyway: those ranges are
  // zeroed in memory, never served, and listed by
  // FileBackedMemory::damaged(), so that a cache drops what was stored there
  // and keeps the rest. Damage to the first block (which holds the header),
  // to the header, or a file without a valid index, is reported as without
  // this option (or answered by fallback_to_previous, which salvage, where it
  // applies, goes before).
  bool salvage = false;

  // FileBackedMemory::open() only: open lazily. open() checks the header,
  // reads the block index and authenticates it against the header's
  // checksum, reads and verifies the first block (which holds the header),
  // reserves the memory and returns; threads of the pool then read the rest
  // in order at the disk's speed and verify each block against its value in
  // the index before any byte of it becomes visible. A thread that touches
  // bytes not loaded yet waits while their blocks are fetched first. When
  // every block is in, the pool is as an eager open leaves it (huge pages
  // included, where the kernel gives them). Damage follows `salvage`: with
  // it, the damaged blocks read as zeros, are listed by damaged() and heard
  // by `on_damage`; without it they are never served (a touch raises
  // SIGBUS) and wait_loaded() throws errc::checksum_mismatch naming them.
  // A child fork()ed during the load does not inherit the pool's memory
  // (nothing is mapped there in the child); one forked after it does.
  // See FileBackedMemory::open() and wait_loaded(). Where lazy loading is
  // not possible (no userfaultfd for this process, a kernel without the
  // features it needs, no valid block index, explicit huge pages, shareable
  // or locked memory), open() loads eagerly and reports
  // FallbackKind::eager_load.
  bool lazy = false;

  // Hears of each damaged range a lazy open finds (datatier/lazy_load.h).
  DamageHandler on_damage;

  // Hears of each fallback the pool takes (datatier/fallback.h): buffered
  // I/O, names renamed instead of exchanged, fewer threads, and, for a
  // FileBackedMemory whose `memory.on_fallback` is empty, its memory's.
  FallbackHandler on_fallback;

  // FileBackedMemory::take_over() and adopt() only: hash the pool received
  // on `threads` cores and check it against the pool file's checksum, as
  // open() does, before taking it (errc::checksum_mismatch otherwise, and
  // the predecessor keeps the pool). Costs the time of hashing the pool;
  // without it the hand-off takes no time that grows with the pool's size.
  bool verify_on_take_over = false;

  // FileBackedMemory::take_over() only: how long to wait for the
  // predecessor's socket to appear, and then for each step of the
  // conversation, before giving up with std::errc::timed_out.
  std::chrono::milliseconds take_over_timeout{10000};

  // FileBackedMemory only: how its memory is placed (MemoryOptions::threads
  // of 0 takes `threads` above).
  MemoryOptions memory;
};

}  // namespace datatier
