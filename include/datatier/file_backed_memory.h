// A pool in memory whose snapshots are saved to, and restored from, a file.
#pragma once

#include "datatier/cxx_standard.h"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#include "datatier/background_flush.h"
#include "datatier/block_index.h"
#include "datatier/datapool.h"
#include "datatier/file_options.h"
#include "datatier/handoff.h"
#include "datatier/header.h"
#include "datatier/lazy_load.h"
#include "datatier/opened.h"

namespace datatier {

// What FileBackedMemory::open() did to find a snapshot it could load.
struct Recovery {
  // True when the pool file failed a check and the previous snapshot, from
  // the spare file, was loaded instead (FileOptions::fallback_to_previous).
  bool used_previous = false;
  // Why the pool file was not loaded (a datatier::errc), and the details.
  std::error_code reason;
  std::string message;
  // Where the damaged pool file was set aside (empty for a read-only pool,
  // which renames nothing: the previous snapshot stays under the spare's
  // name, which path() then gives).
  std::filesystem::path set_aside;
};

// FileBackedMemory keeps its bytes in DRAM (a Memory) and saves a checked
// snapshot of them to a pool file on flush(); open() restores the last
// snapshot. The file layout is docs/format.md's, interchangeable with the
// reference implementation's for data sizes that are multiples of 4096.
//
// Where the files are. The path given to create() or open() is resolved
// once (symbolic links followed, a relative path made absolute) and the
// directory it ends in is held open: every later save renames, creates and
// syncs in that directory, whatever the process's working directory or the
// links on the way become. path() is the resolved path.
//
// Saves are crash-safe. The pool keeps a spare file beside the pool file,
// `spare_path(path)` (the pool file's name with ".prev" appended), of the
// same size: flush() writes the new snapshot into the spare, makes it
// durable, and swaps the two names in one atomic step. So the disk space
// needed is twice the pool file's size, reserved when the pool is created or
// opened (not at save time), and after a save the spare holds the previous
// snapshot (FileOptions::fallback_to_previous restores it). The spare is
// never written through a symbolic link or a second hard link, and carries
// the pool file's permission bits and (when a superuser saves) its owner.
//
// While a FileBackedMemory holds a file, both files are locked (a second
// create() or open(), in any process, fails with errc::pool_in_use) and the
// pool file is marked in use; a flush() writes a clean snapshot. A later
// open() of a file whose owner ended without flushing reports
// errc::unclean_shutdown unless the caller accepts the last saved snapshot
// (FileOptions::accept_unclean).
//
// Saves write only what changed. Each pool file and spare has a block index
// beside it (datatier/block_index.h), so a save knows the snapshot the spare
// holds block by block and writes into it only the blocks that differ from
// the current bytes, found by hashing the pool again
// (FileOptions::changes = Changes::compare) or from the caller's
// mark_dirty() calls (Changes::marked). The first save after create(), or
// when the spare's index is missing or stale, writes everything. Whatever
// is written, the snapshot's checksum is the full-file checksum, bit for bit
// what a whole save gives: the file opens in every reader of the format.
//
// Saves while writers write. begin_flush() saves in the background the
// bytes as they are when it is called, while writers go on writing, each
// write preceded by mark_dirty() of its bytes; the first mark_dirty() of a
// block that the save has not yet taken copies the block for it first.
//
// Thread safety: data(), user_area() and mark_dirty() may be used from any
// number of threads. One save runs at a time: flush(), flush_full(),
// close() and begin_flush() may be called from any thread, and each first
// waits until the save running (in the foreground or the background) has
// ended. During flush(), flush_full() and close() callers keep writers away
// from data() (each saves the bytes as they are when it writes them);
// during a background save, writers may write as described at
// begin_flush(). Moves must not run concurrently with anything else;
// destruction neither (a background save still running is then stopped,
// see ~FileBackedMemory). Only the process that created or opened the pool
// may save it (a fork()ed child may not). Move-only.
class FileBackedMemory final : public Datapool {
 public:
  // Creates `path`, which must not exist, and its spare, reserving the disk
  // space of both, and `data_size` zero bytes of memory. The new file is
  // marked in use until the first flush(). A symbolic link at `path` is
  // followed; one whose target exists is file_exists like any file.
  // Whatever holds the spare's name is used only if it is a regular file of
  // ours that nothing else links to; otherwise it is replaced.
  // Requires: `path` non-empty; its directory exists.
  // Throws: datatier::Error — std::errc::file_exists, std::errc::invalid_argument
  // (empty path, or a size whose file would not fit in off_t), errno of a
  // failed system call (e.g. no_space_on_device, not_enough_memory),
  // errc::pool_in_use. On failure the files this call created are removed.
  // Power cut: before the call returns, `path` may be missing or hold a
  // header marked in use (never a snapshot); once it returns, the file and
  // its directory entry are durable.
  static FileBackedMemory create(const std::filesystem::path& path, std::size_t data_size,
                                 std::uint64_t user_version, const FileOptions& options = {});

  // Reads the whole file into memory and verifies it. Checks, in this order,
  // and reports the first that fails: file size (errc::size_mismatch), magic
  // (errc::bad_magic), format version and option bits
  // (errc::incompatible_version), the data size recorded in the header
  // (errc::size_mismatch), user version (errc::user_version_mismatch), in-use
  // mark (errc::unclean_shutdown, unless options.accept_unclean), checksum
  // (errc::checksum_mismatch; when the file's block index is valid, the
  // message names the damaged data ranges, and options.salvage may open the
  // rest, see FileOptions). With options.fallback_to_previous, a file
  // failing the size, magic or checksum check is replaced by the previous
  // snapshot if that passes (see FileOptions and recovery()). Then marks the
  // file in use and prepares the spare file (neither with
  // FileOptions::read_only: such a pool writes nothing, ever).
  // Throws: datatier::Error with that errc (when the fallback fails too, the
  // pool file's errc, the message saying why the spare failed), or the errno
  // of a failed system call (std::errc::no_such_file_or_directory,
  // permission_denied, ...).
  // A failed open() leaves the pool file as it was, with one exception: if
  // setting the in-use mark, the last step, fails (the write of the header's
  // options field or its fdatasync), the mark may already be in the file, in
  // the page cache and possibly on disk. Nothing else has changed, and the
  // mark is not covered by the checksum: the next open() reports
  // errc::unclean_shutdown, and with options.accept_unclean restores the same
  // snapshot. A failure at or after preparing the spare file may leave the
  // spare created or resized to the pool's size (its contents are never read).
  // Power cut during a fallback: the pool's name holds the damaged file or
  // the previous snapshot, and the spare's name the other one.
  // Lazily (FileOptions::lazy): the checks above up to the in-use mark, then
  // the block index (a missing or stale one means an eager open, reported as
  // FallbackKind::eager_load) and the first block, which holds the header:
  // a damaged header or first block is answered as by an eager open
  // (fallback_to_previous, or the error). Then open() returns, in a time
  // that does not grow with the pool's size, and the data arrives in the
  // background (see wait_loaded()). Damage found after open() returned can
  // no longer be answered by the previous snapshot: it follows
  // FileOptions::salvage. The loader only reads the pool file; a crash or
  // power cut during the load changes no file.
  static FileBackedMemory open(const std::filesystem::path& path, std::size_t data_size,
                               std::uint64_t user_version, const FileOptions& options = {});

  // Opens `path` if it holds a pool that passes every check of open();
  // creates it when there is no file; when the file fails a format check
  // (size, magic, version, user version, in-use mark, checksum), loads the
  // previous snapshot if options.fallback_to_previous allows (outcome
  // opened, recovery() says so), else removes the file and creates a new
  // pool in its place. outcome says which, and reason why the file was not
  // opened. Operating-system errors, errc::pool_in_use and
  // errc::file_replaced are thrown, never replaced.
  // Throws: datatier::Error, as open() and create().
  static Opened<FileBackedMemory> open_or_create(const std::filesystem::path& path,
                                                 std::size_t data_size, std::uint64_t user_version,
                                                 const FileOptions& options = {});

  // The same calls without exceptions, in the style of std::filesystem:
  // on failure `ec` holds what the throwing form would have thrown (the
  // datatier::errc or errno; std::errc::not_enough_memory for a failed
  // allocation) and the result is empty; on success `ec` is cleared. Never
  // throw, so a server built with -fno-exceptions can call them.
  static std::optional<FileBackedMemory> create(const std::filesystem::path& path, std::size_t data_size,
                                         std::uint64_t user_version, const FileOptions& options,
                                         std::error_code& ec) noexcept;
  static std::optional<FileBackedMemory> open(const std::filesystem::path& path, std::size_t data_size,
                                       std::uint64_t user_version, const FileOptions& options,
                                       std::error_code& ec) noexcept;
  static std::optional<Opened<FileBackedMemory>> open_or_create(const std::filesystem::path& path,
                                                         std::size_t data_size,
                                                         std::uint64_t user_version,
                                                         const FileOptions& options,
                                                         std::error_code& ec) noexcept;
  void flush(std::error_code& ec) noexcept;
  void flush_full(std::error_code& ec) noexcept;
  void close(std::error_code& ec) noexcept;

  FileBackedMemory(FileBackedMemory&& other) noexcept;
  FileBackedMemory& operator=(FileBackedMemory&& other) noexcept;
  FileBackedMemory(const FileBackedMemory&) = delete;
  FileBackedMemory& operator=(const FileBackedMemory&) = delete;
  // Frees the memory and unlocks the files. Does not flush: a background
  // save still running is cancelled (BackgroundFlush::cancel()) and waited
  // for, leaving the previous snapshot, or the new one where it had already
  // been renamed into place.
  ~FileBackedMemory() override;

  std::span<std::byte> data() noexcept override;
  std::span<const std::byte> data() const noexcept override;

  // Saves the current bytes as a new snapshot: writes header and the blocks
  // that changed (see above) to the spare file, syncs it, writes the spare's
  // block index and syncs it, checks that both names still name the files the
  // pool holds, swaps them and syncs the directory. When flush() returns the
  // new snapshot is durable under `path`, and the spare holds the one before.
  // Crash or power cut inside flush(): `path` holds either the previous
  // snapshot or the new one, exactly, never a mixture. The spare's index
  // file is removed, durably, before the first byte is written into the
  // spare, and written again only once the spare is durable: an index never
  // vouches for bytes that are not in its file. A cut between the exchange
  // of the two files and that of their indexes leaves indexes whose roots
  // do not match their files, which are ignored (the next save is whole).
  // Errors are sticky: after a flush() that failed once it had begun to
  // write (a failed write, data sync or directory sync leaves the page
  // cache, or the directory's durable state, unknown), the next flush()
  // first replaces the spare with a new file and syncs the directory, before
  // it writes anything, so that no save ever writes into a file the durable
  // directory may still call `path`.
  // An error thrown before the exchange leaves the previous snapshot under
  // `path`, untouched. The only errors after it come from syncing the
  // directory (or, without RENAME_EXCHANGE, from making a new spare): the
  // new snapshot is then complete under `path`, the rename possibly not
  // durable yet; the next flush() makes it so.
  // Other programs: a spare that was removed is made again; a spare hard
  // linked elsewhere is replaced (the link keeps its file); a pool file or
  // spare whose name now names another file stops the save with
  // errc::file_replaced before anything is swapped; a file resized while
  // held is given back its size before it is written.
  // Throws: datatier::Error — errno of the write, sync or rename,
  // errc::file_replaced, std::errc::operation_not_permitted in a process
  // other than the one that opened the pool, std::errc::bad_file_descriptor
  // on a moved-from pool.
  void flush() override;

  // As flush(), but hashes and writes every block, whatever the indexes
  // say: a save that depends on nothing but the pool's bytes.
  // Throws: as flush().
  void flush_full();

  // Starts saving, on a thread of its own, the pool's bytes and user area as
  // they are now, and returns at once (after any save already running has
  // ended). The new snapshot is saved as flush() saves (only the blocks
  // that changed are written, by FileOptions::changes; crash-safe, with the
  // same order of steps and the same guarantees) and is exactly the content
  // at this call, provided every write from the moment this call returns
  // is preceded by a mark_dirty() call covering its bytes that began after
  // this call returned. Writes that overlap this call itself, or that rely
  // on a mark made before it, may land in the snapshot or not, even in
  // part: begin the save when no write is in flight, or at least none whose
  // bytes the snapshot must pin down.
  // While the save runs, mark_dirty() of a block the save has not taken yet
  // copies the block's bytes (one block, FileOptions::block_size) before it
  // returns; the save takes blocks in ascending order and from the copies,
  // and no writer waits for the disk unless the copies fill
  // FileOptions::copy_budget, when mark_dirty() waits until the save has
  // written out one. The save hashes on the saving thread and writes as
  // flush() does (direct I/O where the file system allows it), syncing
  // before the exchange.
  // With Changes::marked, the save rehashes only the blocks marked before
  // this call (and writes those whose values changed since the spare's
  // snapshot): every write must be marked, as for flush(). With
  // Changes::compare, or when the spare's index is missing, every block is
  // taken, hashed and, where it changed, written.
  // The handle's wait() gives the outcome; cancel() stops the save (see
  // BackgroundFlush). FileOptions::progress is called on the saving thread
  // with the bytes taken. Crash or power cut at any moment: as in flush().
  // Throws (nothing started): datatier::Error — std::errc::invalid_argument
  // when FileOptions::copy_budget holds fewer than two blocks; as flush()
  // for a pool that may not save (read-only, another process, moved from);
  // the errno of making the spare ready or of reserving the copies' memory
  // (mapped, not touched). Where the system refuses the save a thread, it
  // runs on the caller's before begin_flush() returns (the handle is then
  // done), reported as FallbackKind::fewer_threads.
  BackgroundFlush begin_flush();

  // Marks data bytes [offset, offset + length) as written since the last
  // save, for FileOptions::changes = Changes::marked (see Datapool); while a
  // background save runs, first copies the blocks it has not taken (see
  // begin_flush()).
  void mark_dirty(std::size_t offset, std::size_t length) noexcept override;

  // The clean shutdown: flush(), then release the pool (memory, files,
  // locks), leaving it as a moved-from pool. On an error the pool is still
  // held, as after a failed flush().
  // Throws: as flush().
  void close() override;

  // The application's 2 KiB of the header (kUserAreaSize bytes, see
  // header.h): as the last saved snapshot had it after open(), zeros after
  // create(). Written into the header by every flush() and close(), covered
  // by the checksum; changes reach the file only through them. Valid until
  // the pool is moved from, closed or destroyed; empty for a moved-from pool.
  // Thread safety: as data().
  std::span<std::byte> user_area() noexcept;
  std::span<const std::byte> user_area() const noexcept;

  // The header now in the pool file, decoded. Throws: datatier::Error on a
  // read error, std::errc::bad_file_descriptor on a moved-from pool.
  Header header() const;

  const std::filesystem::path& path() const noexcept;

  // What open() did to find its snapshot; all empty after create(), or when
  // the pool file itself was loaded.
  const Recovery& recovery() const noexcept;

  // How the pool's memory was placed: Memory::placement() of its memory.
  Placement placement() const noexcept;

  // The data ranges found damaged and zeroed by an open() with
  // FileOptions::salvage, ascending; empty otherwise. Each range is whole
  // blocks of the block index (the last block may end early). After a lazy
  // open, empty until wait_loaded() has returned and complete after it (read
  // it on that thread, or one that wait_loaded()'s return happens before);
  // FileOptions::on_damage hears of each range as the load finds it.
  const std::vector<ByteRange>& damaged() const noexcept;

  // Waits until a lazy open's load has ended (FileOptions::lazy) and its
  // threads are gone; returns at once for a pool not loaded lazily. After it
  // returns, damaged() lists every range found damaged, and a salvaged
  // pool's damaged blocks are marked for the next save (its pool file's
  // index, which vouches for the damaged bytes, is removed).
  // Throws: datatier::Error — errc::checksum_mismatch naming the damaged
  // ranges when the load found damage without FileOptions::salvage (those
  // ranges are never served: a touch raises SIGBUS; every other byte is
  // served, and the pool can no longer be saved, see flush()); the errno of
  // a failed read, or of a failed userfaultfd request, of the load (the
  // unit of max(2 MiB, FileOptions::block_size) it was for is never served:
  // its pages raise SIGBUS); std::errc::bad_file_descriptor on a moved-from
  // pool. The same error again at every later call.
  // flush(), flush_full(), begin_flush(), close() and hand_off() call this
  // first: a save never reads bytes that have not been verified. The
  // destructor stops the load and waits for its threads.
  // Thread safety: may be called from any thread, like load_progress().
  void wait_loaded();
  void wait_loaded(std::error_code& ec) noexcept;

  // How far a lazy open's load is (datatier/lazy_load.h). Thread-safe.
  LoadProgress load_progress() const noexcept;

  // Hands the pool to the next process, with no I/O of its data
  // (datatier/handoff.h). First waits for a save running (begin_flush()'s
  // included) to end; then saves, incrementally, if the pool may have
  // changed since its last snapshot, so that the successor receives memory
  // equal to the pool file's snapshot: with Changes::marked only when
  // blocks were marked or the user area changed (no marks, no save: no
  // I/O at all); with Changes::compare always (which hashes the whole pool
  // to find the changes). Then listens at `socket` (a Unix socket made with
  // mode 0600; a socket file already there, say one left by an ended
  // process, is replaced) for
  // one successor of the same user (SO_PEERCRED), passes it the pool's
  // descriptors and state, and waits for its acceptance. Connections of
  // other users are refused and waiting goes on. On return the pool is
  // empty, as if moved from, and the socket file is removed.
  // Requires: memory placed with FileOptions::memory.shareable; no other
  // call on the pool, and no writer to data(), until the call returns.
  // Throws: datatier::Error, the pool still held and usable —
  // std::errc::operation_not_supported (memory not shareable),
  // std::errc::operation_not_permitted (read-only pool, or another
  // process than the owner), std::errc::timed_out (no successor within
  // `timeout`, or none that answered), std::errc::connection_refused (the
  // successor rejected the pool; the message says why),
  // std::errc::connection_reset (the successor ended or hung up mid-way),
  // as flush() for the save, errno of the socket calls.
  void hand_off(const std::filesystem::path& socket, std::chrono::milliseconds timeout);

  // Takes over the pool that another process hands off at `socket`: waits
  // up to options.take_over_timeout for it to listen there, checks that it
  // runs as the same user, then checks the pool it offers as open() checks
  // a file, in that order: size (errc::size_mismatch), the state's and the
  // header's format (errc::bad_magic, errc::incompatible_version), user
  // version (errc::user_version_mismatch), and with
  // options.verify_on_take_over the checksum (errc::checksum_mismatch).
  // A refused pool stays with its owner. The pool returned goes on where
  // the predecessor stopped: same memory (mapped, not copied: pages fault
  // in on first touch), files, locks, user area, block indexes (its next
  // save is incremental), marks. recovery() and damaged() are empty.
  // options apply from now on (block size: indexes of another block size
  // are dropped and the next save is whole); options.memory.lock locks the
  // pages (touching each); other memory options are the predecessor's.
  // Throws: datatier::Error — those errc, std::errc::permission_denied
  // (another user's socket or process), std::errc::timed_out,
  // std::errc::connection_reset (the predecessor ended or gave up before
  // it committed), std::errc::invalid_argument (options.read_only), errno.
  static FileBackedMemory take_over(const std::filesystem::path& socket, std::size_t data_size,
                                    std::uint64_t user_version, const FileOptions& options = {});

  // hand_off() for a channel of the caller's own: saves as hand_off() does,
  // then gives up the pool's descriptors and state (datatier/handoff.h),
  // leaving the pool empty. Requires and throws as hand_off(), less the
  // socket's errors.
  HandOff release();

  // take_over() from what release() gave, in this process or another.
  // Checks and throws as take_over(), less the socket's errors; `from` is
  // emptied (its descriptors now the pool's) only on success.
  static FileBackedMemory adopt(HandOff&& from, std::size_t data_size, std::uint64_t user_version,
                                const FileOptions& options = {});

  // Where the spare file of a pool at `path` lives: `path` + ".prev".
  static std::filesystem::path spare_path(const std::filesystem::path& path);

  // Where the block index of the pool or spare file `file` lives: `file` +
  // ".index" (datatier/block_index.h).
  static std::filesystem::path index_path(const std::filesystem::path& file);

 private:
  struct Impl;
  explicit FileBackedMemory(std::unique_ptr<Impl> impl) noexcept;
  std::unique_ptr<Impl> impl_;
};

}  // namespace datatier
