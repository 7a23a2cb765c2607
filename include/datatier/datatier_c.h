/* The C API of datatier: the three pool kinds behind one opaque handle. */
#ifndef DATATIER_DATATIER_C_H_
#define DATATIER_DATATIER_C_H_

/*
 * A C11 interface to the same pools as the C++ API (datatier/datatier.h),
 * with the same files: a pool created here opens from C++, from the
 * `datatier` tool and from the reference implementation, and the other way
 * round.
 *
 *   datatier_pool* pool = NULL;
 *   datatier_status s = datatier_mmap_file_create("/dev/shm/cache.pool", 1 << 20,
 *                                                 1, NULL, &pool);
 *   if (s != DATATIER_OK) {
 *     fprintf(stderr, "%s\n", datatier_last_error_message());
 *     return 1;
 *   }
 *   memcpy(datatier_pool_data(pool), "hello", 5);
 *   s = datatier_pool_flush(pool);
 *   datatier_pool_close(pool);
 *
 * Errors. Every function that can fail returns a datatier_status; DATATIER_OK
 * is 0. On failure it also records, for the calling thread, a message saying
 * what was being done to which file and what was expected and found
 * (datatier_last_error_message()) and, for failures of a system call, the
 * errno value (datatier_last_errno()). No C++ exception ever crosses this
 * interface, and nothing here calls abort(). A function that hands out a
 * pool through `out` stores NULL there when it fails (unless `out` is NULL).
 *
 * Structs that may grow (options, reports) start with a `size_t size` that
 * the caller sets, through the *_init function or to sizeof the struct: the
 * library reads and writes only the fields within it, and refuses a size
 * smaller than the struct's first version with DATATIER_ERR_INVALID_ARGUMENT.
 *
 * Thread safety: as in C++. Different pools may be used from different
 * threads at once. One pool's data may be read and written from any number
 * of threads, but datatier_pool_flush() and datatier_pool_close() must not
 * run concurrently with each other or with writes to that pool's data.
 */

/* NOLINTBEGIN(modernize-*): C declarations, also read by C++ compilers. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A pool: a Memory, an MmapFile or a FileBackedMemory. Created by one of the
 * *_create or *_open functions, released by datatier_pool_close(). */
typedef struct datatier_pool datatier_pool;

typedef enum datatier_kind {
  /* Volatile anonymous memory; flush does nothing. */
  DATATIER_KIND_MEMORY = 0,
  /* A pool file mapped MAP_SHARED: writes go to the file's pages. */
  DATATIER_KIND_MMAP_FILE = 1,
  /* Memory saved to, and restored from, a pool file (crash-safe snapshots). */
  DATATIER_KIND_FILE_BACKED_MEMORY = 2
} datatier_kind;

/* Results. The file verdicts are those of datatier::errc (datatier/error.h),
 * in the order open checks them. */
typedef enum datatier_status {
  DATATIER_OK = 0,
  /* The file (or a directory on its path) does not exist: ENOENT. */
  DATATIER_ERR_NOT_FOUND = 1,
  /* create: the file already exists: EEXIST. */
  DATATIER_ERR_EXISTS = 2,
  /* The file's size is not that of a pool with the requested data size, or
   * the data size recorded in the header differs. */
  DATATIER_ERR_SIZE_MISMATCH = 3,
  /* The file does not start with the magic bytes "PELIKAN!": not a pool. */
  DATATIER_ERR_BAD_MAGIC = 4,
  /* The header's format version or option bits are unknown to this library. */
  DATATIER_ERR_INCOMPATIBLE_VERSION = 5,
  /* The header's user version differs from the one the caller expects. */
  DATATIER_ERR_USER_VERSION_MISMATCH = 6,
  /* The stored checksum does not match: corrupted or partly written. */
  DATATIER_ERR_CHECKSUM_MISMATCH = 7,
  /* The file is marked in use: its owner ended without flushing. See
   * datatier_options.accept_unclean. */
  DATATIER_ERR_UNCLEAN_SHUTDOWN = 8,
  /* Another pool, in this process or another, holds the file. */
  DATATIER_ERR_POOL_IN_USE = 9,
  /* A NULL or empty argument where one is required, a size whose file would
   * not fit in off_t, or EINVAL from the system. */
  DATATIER_ERR_INVALID_ARGUMENT = 10,
  /* Memory could not be had: ENOMEM, or an allocation inside the library. */
  DATATIER_ERR_OUT_OF_MEMORY = 11,
  /* Any other failed system call (EACCES, ENOSPC, EIO, ...): the errno value
   * is datatier_last_errno(). */
  DATATIER_ERR_OS = 12,
  /* A failure the library did not expect; the message says what it was. */
  DATATIER_ERR_INTERNAL = 13,
  /* flush: another program removed, renamed or replaced the pool file or
   * its spare; nothing was swapped. */
  DATATIER_ERR_FILE_REPLACED = 14,
  /* The call does not apply to the pool's kind (e.g. the user area of a
   * memory pool). */
  DATATIER_ERR_WRONG_KIND = 15,
  /* The progress callback cancelled the call (see datatier_progress_fn). */
  DATATIER_ERR_CANCELED = 16
} datatier_status;

/* The page size to back memory with (MemoryOptions::page_size). */
typedef enum datatier_page_size {
  /* Ordinary pages, with transparent huge pages requested wherever the
   * kernel allows them. The default. */
  DATATIER_PAGE_SIZE_TRANSPARENT = 0,
  /* Ordinary pages only. */
  DATATIER_PAGE_SIZE_SMALL = 1,
  /* Explicit 2 MiB huge pages from the kernel's pool (MAP_HUGETLB). */
  DATATIER_PAGE_SIZE_HUGE_2MIB = 2,
  /* Explicit 1 GiB huge pages from the kernel's pool (MAP_HUGETLB). */
  DATATIER_PAGE_SIZE_HUGE_1GIB = 3
} datatier_page_size;

/* The NUMA policy for memory pages (MemoryOptions::numa). BIND and
 * INTERLEAVE need a library built with libnuma; one built without it refuses
 * them with DATATIER_ERR_OS, errno ENOTSUP. */
typedef enum datatier_numa_policy {
  /* The kernel's default: each page on the node of the thread that faults it. */
  DATATIER_NUMA_LOCAL = 0,
  /* Every page on datatier_options.numa_node. */
  DATATIER_NUMA_BIND = 1,
  /* Pages spread round-robin over all nodes. */
  DATATIER_NUMA_INTERLEAVE = 2
} datatier_numa_policy;

/* How a file-backed memory pool's flush finds the blocks that changed since
 * the snapshot in its spare file (FileOptions::changes; see
 * datatier/block_index.h). Either way only those blocks are written;
 * datatier_pool_flush_full() writes everything. */
typedef enum datatier_changes {
  /* Every block is hashed again, on all cores, and compared with the spare's
   * block index. Always right: a hash of the pool plus a write of what
   * changed. The default. */
  DATATIER_CHANGES_COMPARE = 0,
  /* Only the blocks declared with datatier_pool_mark_dirty() since the last
   * save (and those that differ between the last two snapshots) are hashed
   * and written. Bytes written without a mark may be missing from the next
   * snapshot; the snapshot itself always verifies. */
  DATATIER_CHANGES_MARKED = 1
} datatier_changes;

/* A progress callback (see datatier_options.progress): the work done so far
 * and the total, in bytes, and the caller's context. Returns true to go on,
 * false to cancel the call. */
typedef bool (*datatier_progress_fn)(uint64_t done, uint64_t total, void* context);

/* The fallbacks a pool takes where the system refuses what was asked (C++
 * datatier::FallbackKind, datatier/fallback.h); each is a working
 * substitute, never an error. */
typedef enum datatier_fallback_kind {
  /* File-backed memory: no direct I/O for a file; buffered I/O used. */
  DATATIER_FALLBACK_BUFFERED_IO = 0,
  /* File-backed memory: the file system cannot exchange names atomically;
   * a save renames the spare over the pool file instead. */
  DATATIER_FALLBACK_NO_RENAME_EXCHANGE = 1,
  /* Explicit huge pages refused; the next page size down used. */
  DATATIER_FALLBACK_SMALLER_PAGES = 2,
  /* A thread to fault pages in on refused; fewer threads did the work. */
  DATATIER_FALLBACK_FEWER_THREADS = 3,
  DATATIER_FALLBACK_EAGER_LOAD = 4
} datatier_fallback_kind;

/* A fallback callback (see datatier_options.on_fallback): what was done
 * instead, a message for people (valid only during the call) and the
 * caller's context. Called on the thread that called the library, before
 * that call returns; it must not call into the pool that reports. */
/* Hears of a damaged data range [offset, offset + length) found by a lazy
 * open (datatier_options.on_damage). */
typedef void (*datatier_damage_fn)(uint64_t offset, uint64_t length, void* context);

typedef void (*datatier_fallback_fn)(datatier_fallback_kind kind, const char* message,
                                     void* context);

/* Options for creating and opening pools (C++ FileOptions with its
 * MemoryOptions). Initialise with datatier_options_init() and then change
 * fields. Passing NULL means the defaults.
 *
 * The struct carries its own size: datatier_options_init() sets `size` to
 * the size of the struct in the header the caller was compiled with. The
 * library reads only the fields that lie within `size` and uses the defaults
 * for the others, so a program compiled against an older header keeps
 * working with a newer library; fields the library does not know (a program
 * compiled against a newer header) are ignored. Fields are only ever added
 * at the end, each at or beyond the previous version's sizeof, so a field
 * lies within `size` only if the caller's header had it. A size smaller than
 * DATATIER_OPTIONS_MIN_SIZE (the fields of the first version, all those
 * below) is refused with DATATIER_ERR_INVALID_ARGUMENT. */
typedef struct datatier_options {
  /* sizeof(datatier_options) as the caller was compiled; set by
   * datatier_options_init(). */
  size_t size;
  /* Permission bits for files the pool creates, before the umask.
   * Default 0600. */
  uint32_t create_mode;
  /* open only. By default a file whose owner ended without flushing is
   * refused with DATATIER_ERR_UNCLEAN_SHUTDOWN. When true it is opened
   * anyway, provided its checksum still verifies: for a file-backed memory
   * pool that is the last snapshot saved; for an mmap file pool, the last
   * flushed contents if nothing was written after the flush. Default false. */
  bool accept_unclean;
  /* File-backed memory only: move the data between memory and file with
   * direct I/O (O_DIRECT) where the file system allows it, buffered I/O
   * otherwise. Default true. */
  bool direct_io;
  /* File-backed memory open only. When the pool file fails a check that
   * damage explains (size, magic, checksum), load the previous snapshot from
   * the spare file (path + ".prev") instead, provided it passes every check;
   * the damaged file is set aside as path + ".damaged" (or .damaged.1, ...)
   * and datatier_pool_recovery() says what happened. Default false. */
  bool fallback_to_previous;
  /* Threads to hash and fault pages in on; 0 = all cores (the default). The
   * checksum is the same for every thread count. No thread outlives a call. */
  unsigned threads;
  /* Memory and file-backed memory: the page size of the memory. Default
   * DATATIER_PAGE_SIZE_TRANSPARENT. */
  datatier_page_size page_size;
  /* When explicit huge pages cannot be had, fall back along
   * 1 GiB -> 2 MiB -> transparent instead of failing (datatier_pool_placement()
   * says what was used). Default true. */
  bool page_size_fallback;
  /* Lock the memory in RAM (mlock), so it is never swapped out. Default
   * false. */
  bool lock_memory;
  /* The NUMA policy of the memory. Default DATATIER_NUMA_LOCAL. */
  datatier_numa_policy numa;
  /* The node for DATATIER_NUMA_BIND. Default 0. */
  int numa_node;
  /* Threads to fault the memory in on; 0 (the default) takes `threads`. */
  unsigned memory_threads;

  /* Second version: the block index (datatier/block_index.h). A caller
   * whose `size` ends before these gets their defaults. */

  /* File-backed memory flush: how a save finds what changed. Default
   * DATATIER_CHANGES_COMPARE. */
  datatier_changes changes;
  /* File-backed memory: the block size of the block index, the unit a save
   * writes and a failed check names: a power of two from 4096 to 16 MiB, or
   * 0 (the default) for 64 KiB. An index of another block size found on
   * disk is ignored and replaced by the next save; other values are refused
   * with DATATIER_ERR_INVALID_ARGUMENT. */
  size_t block_size;
  /* File-backed memory open only. When the file's only fault is damage to
   * data blocks that its block index names, open anyway: those ranges are
   * zeroed in memory and listed by datatier_pool_damaged(), so that a cache
   * drops what was stored there and keeps the rest. Damage to the first
   * block (which holds the header), or a file without a valid index, is
   * reported as without this option (or answered by fallback_to_previous,
   * which salvage, where it applies, goes before). Default false. */
  bool salvage;
  /* Open only: open the pool to read it, never to write: locked shared
   * (other read-only opens may hold it too, no writer may), not marked in
   * use, no spare file, no block index, no renames. datatier_pool_flush()
   * and datatier_pool_flush_full() return DATATIER_ERR_OS with
   * datatier_last_errno() EPERM; datatier_pool_shutdown() releases the pool. An mmap file's
   * mapping is read-only: a write to its bytes raises SIGSEGV. Create and
   * open_or_create refuse it (DATATIER_ERR_INVALID_ARGUMENT). Default
   * false. */
  bool read_only;
  /* Progress of open, flush, flush_full and shutdown, as for
   * datatier_verify_options.progress; cancelling returns
   * DATATIER_ERR_CANCELED. An open cancelled leaves the files as they were;
   * a file-backed memory save cancelled leaves the previous snapshot; an
   * mmap file save cancelled leaves the last save's header (the file reads
   * as unclean until the next save). open counts the data bytes read (mmap
   * file: hashed), a save the bytes hashed plus those written. May be NULL
   * (the default). */
  datatier_progress_fn progress;
  void* progress_context;
  /* Called with `fallback_context` for each fallback the pool takes
   * (datatier_fallback_kind), so that none is silent. May be NULL (the
   * default). */
  datatier_fallback_fn on_fallback;
  void* fallback_context;

  /* Third version: hand-off (datatier/handoff.h). */

  /* Memory and file-backed memory: put the memory in a memory file
   * (memfd_create) mapped shared, so that a file-backed memory pool can be
   * handed to another process (datatier_file_backed_memory_hand_off).
   * Shared memory gets transparent huge pages only where
   * /sys/kernel/mm/transparent_hugepage/shmem_enabled allows; elsewhere
   * small pages (datatier_pool_placement() says which). Default false. */
  bool shareable;
  /* datatier_file_backed_memory_take_over only: verify the pool received
   * against its checksum before taking it (DATATIER_ERR_CHECKSUM_MISMATCH
   * otherwise). Default false. */
  bool verify_on_take_over;
  /* datatier_file_backed_memory_take_over only: milliseconds to wait for
   * the socket to appear, and for each step after, before failing with
   * DATATIER_ERR_OS and datatier_last_errno() ETIMEDOUT. Default 10000. */
  uint32_t take_over_timeout_ms;

  /* Fourth version: the lazy open (datatier/lazy_load.h). */

  /* File-backed memory open only: return once the header and the block
   * index are checked, and load the pool in the background, every block
   * verified before any byte of it is visible; a thread touching bytes not
   * loaded yet waits for them (FileOptions::lazy). Where that is not
   * possible, the open is eager and on_fallback hears
   * DATATIER_FALLBACK_EAGER_LOAD. Default false. */
  bool lazy;
  /* Called with `damage_context` for each damaged range a lazy open finds,
   * on a loader thread, before any thread can see the range (zeros with
   * salvage, never served without it). Must not block for long or call
   * into the pool. May be NULL (the default). */
  datatier_damage_fn on_damage;
  void* damage_context;
} datatier_options;

/* The smallest datatier_options.size the library accepts: the end of the
 * first version's last field (sizeof the first version's struct is this,
 * rounded up to the alignment of size_t). */
#define DATATIER_OPTIONS_MIN_SIZE (offsetof(datatier_options, memory_threads) + sizeof(unsigned))

/* Sets every field of *options to its default, and `size` to
 * sizeof(datatier_options). */
void datatier_options_init(datatier_options* options);

/* Creates a volatile pool of `size` zero bytes in anonymous memory, pre-faulted.
 * `size` may be 0. On success stores the new pool in *out.
 * Errors: DATATIER_ERR_OUT_OF_MEMORY, DATATIER_ERR_INVALID_ARGUMENT (out is
 * NULL). */
datatier_status datatier_memory_create(size_t size, datatier_pool** out);

/* As datatier_memory_create, with the memory placed as `options` asks
 * (page_size, page_size_fallback, lock_memory, numa, numa_node, and
 * memory_threads or else threads; the file fields are not used). NULL
 * options means the defaults.
 * Errors: DATATIER_ERR_OUT_OF_MEMORY (also explicit huge pages the kernel has
 * none of, without page_size_fallback), DATATIER_ERR_INVALID_ARGUMENT (out is
 * NULL, options->size too small), DATATIER_ERR_OS (a refused NUMA policy or
 * mlock). */
datatier_status datatier_memory_create_with_options(size_t size, const datatier_options* options,
                                                    datatier_pool** out);

/* Creates the pool file `path`, which must not exist, with room for
 * `data_size` zero bytes, reserving its disk space, and maps it. The file is
 * marked in use until the first flush. On failure nothing is left behind.
 * Errors: DATATIER_ERR_EXISTS, DATATIER_ERR_NOT_FOUND (no such directory),
 * DATATIER_ERR_INVALID_ARGUMENT, DATATIER_ERR_POOL_IN_USE, DATATIER_ERR_OS
 * (e.g. ENOSPC). */
datatier_status datatier_mmap_file_create(const char* path, size_t data_size, uint64_t user_version,
                                          const datatier_options* options, datatier_pool** out);

/* Opens a pool file written by create + flush (here, in C++ or by the
 * reference implementation) and maps it. Checks in this order and reports
 * the first failure: file size, magic, format version, recorded data size,
 * user version, in-use mark, checksum. A failed open leaves the file as it
 * was. */
datatier_status datatier_mmap_file_open(const char* path, size_t data_size, uint64_t user_version,
                                        const datatier_options* options, datatier_pool** out);

/* As datatier_mmap_file_create, for a pool kept in memory whose flush saves a
 * snapshot to `path`. Also creates the spare file `path` + ".prev"; twice the
 * file size of disk space is reserved. */
datatier_status datatier_file_backed_memory_create(const char* path, size_t data_size,
                                                   uint64_t user_version,
                                                   const datatier_options* options,
                                                   datatier_pool** out);

/* Reads the last snapshot saved in `path` into memory, after the same checks
 * as datatier_mmap_file_open. */
datatier_status datatier_file_backed_memory_open(const char* path, size_t data_size,
                                                 uint64_t user_version,
                                                 const datatier_options* options,
                                                 datatier_pool** out);

/* How datatier_*_open_or_create came by its pool. */
typedef enum datatier_open_outcome {
  /* The file was there and passed every check (also every pool made by a
   * *_open function). */
  DATATIER_OUTCOME_OPENED = 0,
  /* There was no file: a new, zero-filled pool (also every pool made by a
   * *_create function). */
  DATATIER_OUTCOME_CREATED = 1,
  /* The file failed a format check: it was replaced by a new, zero-filled
   * pool. */
  DATATIER_OUTCOME_RECREATED = 2
} datatier_open_outcome;

/* Opens `path` if it holds a pool that passes every check of
 * datatier_mmap_file_open; creates it when there is no file; when the file
 * fails a format check (size, magic, version, user version, in-use mark,
 * checksum), removes it and creates a new pool in its place. On success
 * stores 1 in *fresh (when `fresh` is not NULL) if the pool is new and
 * zero-filled, 0 if it was opened; datatier_pool_outcome() says which and
 * why. Operating-system errors, DATATIER_ERR_POOL_IN_USE and
 * DATATIER_ERR_FILE_REPLACED are returned, never replaced.
 * Errors: as datatier_mmap_file_open and datatier_mmap_file_create. */
datatier_status datatier_mmap_file_open_or_create(const char* path, size_t data_size,
                                                  uint64_t user_version,
                                                  const datatier_options* options,
                                                  datatier_pool** out, int* fresh);

/* As datatier_mmap_file_open_or_create, for a file-backed memory pool. With
 * options->fallback_to_previous, a damaged file whose previous snapshot
 * passes every check loads that snapshot instead (*fresh 0, outcome OPENED;
 * datatier_pool_recovery() says so). */
datatier_status datatier_file_backed_memory_open_or_create(const char* path, size_t data_size,
                                                           uint64_t user_version,
                                                           const datatier_options* options,
                                                           datatier_pool** out, int* fresh);

/* How `pool` was come by: stores the outcome in *outcome and, when `reason`
 * is not NULL, why the file was not opened in *reason (the format verdict,
 * e.g. DATATIER_ERR_CHECKSUM_MISMATCH, for DATATIER_OUTCOME_RECREATED;
 * DATATIER_OK otherwise). A memory pool is DATATIER_OUTCOME_CREATED.
 * Errors: DATATIER_ERR_INVALID_ARGUMENT (pool or outcome is NULL). */
datatier_status datatier_pool_outcome(const datatier_pool* pool, datatier_open_outcome* outcome,
                                      datatier_status* reason);

/* The pool's bytes: datatier_pool_size(pool) of them, valid until the pool
 * is closed. NULL for a NULL pool; may be NULL for a pool of size 0. */
void* datatier_pool_data(datatier_pool* pool);

/* The number of bytes at datatier_pool_data(pool); 0 for a NULL pool. */
size_t datatier_pool_size(const datatier_pool* pool);

/* The pool's kind. `pool` must not be NULL. */
datatier_kind datatier_pool_kind(const datatier_pool* pool);

/* The pool file's path, or "" for a memory pool; valid until the pool is
 * closed. `pool` must not be NULL. */
const char* datatier_pool_path(const datatier_pool* pool);

/* The size of the application's area of the header. */
#define DATATIER_USER_AREA_SIZE 2048

/* The application's 2 KiB of a file pool's header (DATATIER_USER_AREA_SIZE
 * bytes), for what a program wants saved with its pool beside the data (root
 * offsets, a schema version, a count): as the last saved snapshot had it
 * after an open, zeros after a create. Written into the header by every
 * flush and shutdown and covered by the checksum; changes reach the file only
 * through them. Valid until the pool is closed. Stores its size in *size
 * when `size` is not NULL. NULL (and size 0) for a memory pool or a NULL
 * pool. Thread safety: as the pool's data. */
void* datatier_pool_user_area(datatier_pool* pool, size_t* size);

/* A pool file's header, decoded (docs/format.md). The fields are those of
 * the file format, which changes only with its format version, so this
 * struct has no size field. */
typedef struct datatier_header {
  /* BLAKE3 over header and data, as stored. */
  uint8_t checksum[32];
  /* "PELIKAN!" in a pool file. */
  uint8_t magic[8];
  /* The format version. */
  uint64_t version;
  /* When the header was last written: CLOCK_MONOTONIC_COARSE and
   * CLOCK_REALTIME_COARSE seconds, CLOCK_MONOTONIC and CLOCK_REALTIME
   * nanoseconds. */
  uint32_t time_monotonic_s;
  uint32_t time_unix_s;
  uint64_t time_monotonic_ns;
  uint64_t time_unix_ns;
  uint64_t user_version;
  /* Option bits; bit 0 (DATATIER_OPTION_IN_USE) is the in-use mark. */
  uint64_t options;
  /* The data size as recorded: only when it is not a multiple of 4096, 0
   * otherwise (the file size then tells it). */
  uint64_t data_size;
  /* The application's area, as stored. */
  uint8_t user_area[DATATIER_USER_AREA_SIZE];
} datatier_header;

/* datatier_header.options: set while a pool holds the file, cleared by a
 * clean shutdown. */
#define DATATIER_OPTION_IN_USE 1u

/* Reads and decodes the header now in a file pool's file into *out.
 * Errors: DATATIER_ERR_INVALID_ARGUMENT (pool or out is NULL),
 * DATATIER_ERR_WRONG_KIND (a memory pool), DATATIER_ERR_OS (a read error). */
datatier_status datatier_pool_header(const datatier_pool* pool, datatier_header* out);

/* What memory a pool actually got (C++ Memory::placement(),
 * MmapFile::placement(), FileBackedMemory::placement()). */
typedef struct datatier_placement {
  /* The caller sets sizeof(datatier_placement) here; the library fills the
   * fields that fit, so a struct compiled against an older header keeps
   * working. At least the size of this first version. */
  size_t size;
  datatier_page_size page_size;
  /* Bytes per page of the mapping: the base page size, 2 MiB or 1 GiB. */
  size_t page_bytes;
  datatier_numa_policy numa;
  /* The node for DATATIER_NUMA_BIND, else -1. */
  int numa_node;
  bool locked;
  /* Threads the pages were faulted in on (fewer than asked where the system
   * refused a thread). */
  unsigned threads;
  /* Bytes of the pool that huge pages back now, transparent ones included,
   * as /proc/self/smaps counts them (read once per call); 0 where the kernel
   * does not say. Since version 2 of this struct. */
  size_t huge_bytes;
  /* The memory is a memory file mapped shared (datatier_options.shareable).
   * Since version 3 of this struct. */
  bool shared;
} datatier_placement;

/* Stores the placement of any pool's memory in *out: for a memory or a
 * file-backed memory pool its memory, for an mmap file pool its mapping of
 * the file (transparent pages, local NUMA policy, not locked).
 * Errors: DATATIER_ERR_INVALID_ARGUMENT (pool or out is NULL, out->size too
 * small). */
datatier_status datatier_pool_placement(const datatier_pool* pool, datatier_placement* out);

/* Hands the file-backed memory pool `pool`, whose memory is shareable, to
 * another process that calls datatier_file_backed_memory_take_over() on
 * `socket` within `timeout_ms` milliseconds, without any I/O of its data
 * (C++ FileBackedMemory::hand_off(), whose contract applies: it first saves
 * if the pool may have changed since its last save). On success the pool is
 * the successor's and `pool` is freed, as by datatier_pool_shutdown(). On
 * failure `pool` is unchanged and still usable.
 * Errors: DATATIER_ERR_INVALID_ARGUMENT (pool or socket NULL),
 * DATATIER_ERR_WRONG_KIND, DATATIER_ERR_OS with datatier_last_errno()
 * EOPNOTSUPP (memory not shareable), ETIMEDOUT (no successor took it),
 * ECONNREFUSED (the successor rejected it; the message says why),
 * ECONNRESET (the successor ended mid-way), or that of a failed save. */
datatier_status datatier_file_backed_memory_hand_off(datatier_pool* pool, const char* socket,
                                                     uint32_t timeout_ms);

/* Takes over the file-backed memory pool another process hands off at
 * `socket` (C++ FileBackedMemory::take_over()): checks it as an open checks
 * a file (DATATIER_ERR_SIZE_MISMATCH, DATATIER_ERR_USER_VERSION_MISMATCH,
 * DATATIER_ERR_INCOMPATIBLE_VERSION, ...; DATATIER_ERR_CHECKSUM_MISMATCH
 * with options->verify_on_take_over), and on success stores the pool, which
 * goes on where its predecessor stopped, in *out.
 * Errors: those, DATATIER_ERR_INVALID_ARGUMENT, DATATIER_ERR_OS with
 * datatier_last_errno() EACCES (another user), ETIMEDOUT, ECONNRESET (the
 * predecessor gave up: it keeps the pool). */
datatier_status datatier_file_backed_memory_take_over(const char* socket, size_t data_size,
                                                      uint64_t user_version,
                                                      const datatier_options* options,
                                                      datatier_pool** out);

/* What a file-backed memory open did to find a snapshot it could load. */
typedef struct datatier_recovery {
  /* The caller sets sizeof(datatier_recovery) here, as for
   * datatier_placement. */
  size_t size;
  /* True when the pool file failed a check and the previous snapshot, from
   * the spare file, was loaded instead (options.fallback_to_previous). */
  bool used_previous;
  /* Why the pool file was not loaded (e.g. DATATIER_ERR_CHECKSUM_MISMATCH);
   * DATATIER_OK when it was. */
  datatier_status reason;
  /* The details of `reason`, or "". Valid until the pool is closed. */
  const char* message;
  /* Where the damaged pool file was set aside, or "". Valid until the pool
   * is closed. */
  const char* set_aside;
} datatier_recovery;

/* Stores in *out what the open of a file-backed memory pool did; all empty
 * after a create or when the pool file itself was loaded.
 * Errors: DATATIER_ERR_INVALID_ARGUMENT (pool or out is NULL, out->size too
 * small), DATATIER_ERR_WRONG_KIND (not a file-backed memory pool). */
datatier_status datatier_pool_recovery(const datatier_pool* pool, datatier_recovery* out);

/* Persists the current bytes: nothing for a memory pool; for a file pool, a
 * checked snapshot that a later open finds exactly. What a failed or
 * interrupted flush leaves on disk is as for the C++ flush() of that kind:
 * never a mixture that open would serve.
 * Errors: DATATIER_ERR_OS (errno of the write, sync or rename),
 * DATATIER_ERR_INVALID_ARGUMENT (pool is NULL). */
datatier_status datatier_pool_flush(datatier_pool* pool);

/* As datatier_pool_flush, but hashes and writes every block of a
 * file-backed memory pool, whatever the block indexes and marks say: a save
 * that depends on nothing but the pool's bytes.
 * Errors: as datatier_pool_flush; DATATIER_ERR_WRONG_KIND for a pool that is
 * not a file-backed memory pool. */
datatier_status datatier_pool_flush_full(datatier_pool* pool);

/* Declares that bytes [offset, offset + length) of the pool's data were
 * written since the last flush, for a file-backed memory pool opened with
 * options.changes = DATATIER_CHANGES_MARKED: a bit per block of the block
 * index, set atomically, no lock, no system call. Bytes past the end are
 * ignored. Thread-safe, also while other threads write the data. Ignored by
 * the pools that find changes themselves or save nothing (memory, mmap
 * file, a file-backed memory pool comparing blocks), and for a NULL pool:
 * there is nothing to fail, so no status. */
void datatier_pool_mark_dirty(datatier_pool* pool, size_t offset, size_t length);

/* Bytes [offset, offset + length) of a pool's data. */
typedef struct datatier_byte_range {
  uint64_t offset;
  uint64_t length;
} datatier_byte_range;

/* The data ranges an open with options.salvage found damaged and zeroed:
 * stores their address in *ranges (NULL when there are none) and their
 * number in *count, ascending, each whole blocks of the block index (the
 * last block may end early). Valid until the pool is closed. None after a
 * create or an open that found no damage. After a lazy open, complete once
 * datatier_pool_wait_loaded() has returned (none before).
 * Errors: DATATIER_ERR_INVALID_ARGUMENT (pool, ranges or count is NULL),
 * DATATIER_ERR_WRONG_KIND (not a file-backed memory pool). */
datatier_status datatier_pool_damaged(const datatier_pool* pool, const datatier_byte_range** ranges,
                                      size_t* count);

/* Where a lazy open's load is (datatier_pool_load_progress). */
typedef struct datatier_load_progress {
  /* The caller sets sizeof(datatier_load_progress) here; the library fills
   * the fields that fit. */
  size_t size;
  /* The pool is being, or was, loaded lazily. */
  bool lazy;
  /* Every block is in and the load's threads are gone (always true for a
   * pool not loaded lazily). */
  bool done;
  /* Data bytes verified and visible, of total_bytes. */
  uint64_t loaded_bytes;
  uint64_t total_bytes;
  /* Data bytes found damaged so far (zeroed with salvage, else never
   * served). */
  uint64_t damaged_bytes;
} datatier_load_progress;

/* Stores where a file-backed memory pool's lazy load is in *out.
 * Thread-safe. Errors: DATATIER_ERR_INVALID_ARGUMENT (pool or out is NULL,
 * out->size too small), DATATIER_ERR_WRONG_KIND (not a file-backed memory
 * pool). */
datatier_status datatier_pool_load_progress(const datatier_pool* pool,
                                            datatier_load_progress* out);

/* Waits until a lazy open's load has ended (at once for a pool not loaded
 * lazily); after it, datatier_pool_damaged() lists every range a salvaging
 * load zeroed. Flush and shutdown wait for the load themselves.
 * Errors: DATATIER_ERR_CHECKSUM_MISMATCH when the load found damage without
 * options.salvage (those ranges are never served: a touch raises SIGBUS; no
 * save may run); DATATIER_ERR_OS for a failed read of the load; the same at
 * every later call. DATATIER_ERR_INVALID_ARGUMENT (pool is NULL),
 * DATATIER_ERR_WRONG_KIND (not a file-backed memory pool). */
datatier_status datatier_pool_wait_loaded(datatier_pool* pool);

/* The clean shutdown: flushes, marks a file pool as cleanly saved and
 * releases the pool (as datatier_pool_close). On an error the pool is still
 * open and must still be closed; an MmapFile left open (not shut down) is
 * later reported as DATATIER_ERR_UNCLEAN_SHUTDOWN.
 * Errors: as datatier_pool_flush. */
datatier_status datatier_pool_shutdown(datatier_pool* pool);

/* Releases the pool: unmaps, unlocks, frees. Does not flush: a file pool is
 * left as after a crash (an MmapFile is later reported as
 * DATATIER_ERR_UNCLEAN_SHUTDOWN, and so is a file pool never flushed since it
 * was opened). NULL is allowed and does nothing. */
void datatier_pool_close(datatier_pool* pool);

/* Options for datatier_verify_file. Initialise with
 * datatier_verify_options_init(); `size` works as in datatier_options. */
typedef struct datatier_verify_options {
  size_t size;
  /* Check the file against `data_size` when true. Default false: the size
   * recorded in the header, or else the one the file size implies. */
  bool check_data_size;
  size_t data_size;
  /* Expect `user_version` when true. Default false: whatever the header
   * holds. */
  bool check_user_version;
  uint64_t user_version;
  /* Accept a file whose in-use mark is set. Default false. */
  bool accept_unclean;
  /* Threads to hash on; 0 = all cores (the default). */
  unsigned threads;
  /* Called now and then while the data is read and hashed, with the bytes
   * done so far, the total and `progress_context` (from any of the call's
   * threads, never two at once). Return true to go on, false to cancel:
   * datatier_verify_file() then returns DATATIER_ERR_CANCELED. May be NULL
   * (the default). */
  datatier_progress_fn progress;
  void* progress_context;
} datatier_verify_options;

/* The smallest datatier_verify_options.size the library accepts: the end of
 * the first version's last field. */
#define DATATIER_VERIFY_OPTIONS_MIN_SIZE \
  (offsetof(datatier_verify_options, progress_context) + sizeof(void*))

/* Sets every field of *options to its default, and `size` to
 * sizeof(datatier_verify_options). */
void datatier_verify_options_init(datatier_verify_options* options);

/* How many damaged ranges a datatier_verify_report holds. */
#define DATATIER_VERIFY_DAMAGED_CAPACITY 32

/* What datatier_verify_file found. */
typedef struct datatier_verify_report {
  /* The caller sets sizeof(datatier_verify_report) here, as for
   * datatier_placement. */
  size_t size;
  /* DATATIER_OK when every check passed; else the verdict of the first
   * failed check, in the order open checks them, or DATATIER_ERR_POOL_IN_USE
   * when a pool holds the file (nothing was checked). */
  datatier_status status;
  /* What failed, with the expected and the found values ("" when intact);
   * cut short to fit. */
  char message[1024];
  uint64_t file_size;
  /* The data size the file was checked against. */
  size_t data_size;
  /* Whether `header` holds the file's header (the file is long enough). */
  bool has_header;
  datatier_header header;
  /* Whether `computed_checksum` holds the checksum computed over header and
   * data (the checks got that far). */
  bool has_computed_checksum;
  uint8_t computed_checksum[32];

  /* Second version: the damaged ranges. A caller whose `size` ends before
   * these finds them untouched. */

  /* After DATATIER_ERR_CHECKSUM_MISMATCH, when a valid block index lies
   * beside the file: how many data ranges hold blocks that differ from
   * what the index recorded; 0 otherwise. A range in the first block may be
   * damage to the header. */
  size_t damaged_count;
  /* The first min(damaged_count, DATATIER_VERIFY_DAMAGED_CAPACITY) of those
   * ranges, ascending; the rest of the array is zero. */
  datatier_byte_range damaged[DATATIER_VERIFY_DAMAGED_CAPACITY];
} datatier_verify_report;

/* Runs every check an open runs on the pool file `path`, read-only, without
 * changing it, and stores what it found in *out: a failed check is
 * DATATIER_OK with out->status saying which. Takes a shared lock for the
 * call: a file a pool holds is reported as DATATIER_ERR_POOL_IN_USE in
 * out->status without being read. NULL options means the defaults.
 * Errors (the file could not be read at all; *out is then not filled):
 * DATATIER_ERR_NOT_FOUND, DATATIER_ERR_OS, DATATIER_ERR_SIZE_MISMATCH (the
 * file shrank while read), DATATIER_ERR_INVALID_ARGUMENT (path or out NULL,
 * a size field too small). */
datatier_status datatier_verify_file(const char* path, const datatier_verify_options* options,
                                     datatier_verify_report* out);

/* Removes the pool file `path`, its spare (path + ".prev", if there is
 * one) and their block indexes (path + ".index", path + ".prev.index"),
 * then makes the directory durable. A symbolic link at `path` names
 * the pool it points to (the link stays). Nothing is removed while a pool
 * holds either file. With `force` nonzero, a file that is not a pool file
 * is removed too. A crash leaves both files, the pool file alone (an intact
 * pool) or neither.
 * Errors, with nothing removed: DATATIER_ERR_POOL_IN_USE,
 * DATATIER_ERR_BAD_MAGIC (not a pool file, without force),
 * DATATIER_ERR_FILE_REPLACED, DATATIER_ERR_NOT_FOUND, DATATIER_ERR_OS;
 * DATATIER_ERR_OS also for a failed removal or directory sync.
 * DATATIER_ERR_INVALID_ARGUMENT: path is NULL. */
datatier_status datatier_remove_pool(const char* path, int force);

/* Puts the previous snapshot a file-backed memory pool keeps in its spare
 * file (path + ".prev") back under `path`, after verifying it; the file that
 * was under `path` is set aside as path + ".damaged" (or .damaged.1, ...),
 * never removed. A missing pool file is no error. Afterwards there is no
 * spare; the pool's next open makes one. Both files are locked for the call.
 * Errors, with nothing changed: DATATIER_ERR_POOL_IN_USE, the verdict of the
 * spare's first failed check, DATATIER_ERR_FILE_REPLACED,
 * DATATIER_ERR_NOT_FOUND (no spare), DATATIER_ERR_OS;
 * DATATIER_ERR_INVALID_ARGUMENT: path is NULL. */
datatier_status datatier_restore_previous(const char* path);

/* A fixed English description of `status`, e.g. "checksum mismatch". Never
 * NULL; unknown values give "unknown datatier status". */
const char* datatier_strerror(datatier_status status);

/* The message of the last failure on the calling thread, naming the file and
 * what was expected and found; "" if no call on this thread has failed. The
 * text stays valid until the next failing datatier call on this thread. */
const char* datatier_last_error_message(void);

/* The errno value of the last failure on the calling thread when it was a
 * failed system call (always for DATATIER_ERR_OS, and for NOT_FOUND, EXISTS,
 * INVALID_ARGUMENT and OUT_OF_MEMORY when they came from the system); 0
 * otherwise. */
int datatier_last_errno(void);

/* The library's version, e.g. "0.1.0". */
const char* datatier_version(void);

#ifdef __cplusplus
} /* extern "C" */
#endif
/* NOLINTEND(modernize-*) */

#endif /* DATATIER_DATATIER_C_H_ */
