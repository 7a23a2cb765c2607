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
 * interface, and nothing here calls abort().
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
  DATATIER_ERR_FILE_REPLACED = 14
} datatier_status;

/* Options for creating and opening file pools. Initialise with
 * datatier_options_init() and then change fields, so that fields added in
 * later versions get their defaults. Passing NULL means the defaults. */
typedef struct datatier_options {
  /* Permission bits for files the pool creates, before the umask.
   * Default 0600. */
  uint32_t create_mode;
  /* open only. By default a file whose owner ended without flushing is
   * refused with DATATIER_ERR_UNCLEAN_SHUTDOWN. When true it is opened
   * anyway, provided its checksum still verifies: for a file-backed memory
   * pool that is the last snapshot saved; for an mmap file pool, the last
   * flushed contents if nothing was written after the flush. Default false. */
  bool accept_unclean;
} datatier_options;

/* Sets every field of *options to its default. */
void datatier_options_init(datatier_options* options);

/* Creates a volatile pool of `size` zero bytes in anonymous memory, pre-faulted.
 * `size` may be 0. On success stores the new pool in *out.
 * Errors: DATATIER_ERR_OUT_OF_MEMORY, DATATIER_ERR_INVALID_ARGUMENT (out is
 * NULL). */
datatier_status datatier_memory_create(size_t size, datatier_pool** out);

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

/* Persists the current bytes: nothing for a memory pool; for a file pool, a
 * checked snapshot that a later open finds exactly. What a failed or
 * interrupted flush leaves on disk is as for the C++ flush() of that kind:
 * never a mixture that open would serve.
 * Errors: DATATIER_ERR_OS (errno of the write, sync or rename),
 * DATATIER_ERR_INVALID_ARGUMENT (pool is NULL). */
datatier_status datatier_pool_flush(datatier_pool* pool);

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
