/* Tests of the C API (datatier/datatier_c.h), compiled as C11: round trips on
 * the three pool kinds, every call and every status the API can be made to
 * return. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "datatier/datatier_c.h"

static int passed = 0;
static int failed = 0;

#define CHECK(cond)                                                                           \
  do {                                                                                        \
    if (cond) {                                                                               \
      ++passed;                                                                               \
    } else {                                                                                  \
      ++failed;                                                                               \
      fprintf(stderr, "%s:%d: CHECK(%s) failed in %s (last error: %s)\n", __FILE__, __LINE__, \
              #cond, current_test, datatier_last_error_message());                            \
    }                                                                                         \
  } while (0)

/* Checks that `call` returns `expected`, printing both names if not. */
#define CHECK_STATUS(call, expected)                                                              \
  do {                                                                                            \
    datatier_status got_ = (call);                                                                \
    if (got_ == (expected)) {                                                                     \
      ++passed;                                                                                   \
    } else {                                                                                      \
      ++failed;                                                                                   \
      fprintf(stderr, "%s:%d: %s returned %d (%s), expected %s, in %s: %s\n", __FILE__, __LINE__, \
              #call, (int)got_, datatier_strerror(got_), #expected, current_test,                 \
              datatier_last_error_message());                                                     \
    }                                                                                             \
  } while (0)

enum { kHeaderSize = 4096, kOffsetMagic = 32, kOffsetVersion = 40 };

static const char* current_test = "";
static char dir[256];

/* `dir`/`name` in a static buffer (one per call site is enough here). */
static const char* path_in(char* buffer, size_t capacity, const char* name) {
  snprintf(buffer, capacity, "%s/%s", dir, name);
  return buffer;
}

static void fill(unsigned char* bytes, size_t size, unsigned seed) {
  for (size_t i = 0; i < size; ++i) bytes[i] = (unsigned char)((i * 31u + seed) & 0xffu);
}

static int matches(const unsigned char* bytes, size_t size, unsigned seed) {
  for (size_t i = 0; i < size; ++i) {
    if (bytes[i] != (unsigned char)((i * 31u + seed) & 0xffu)) return 0;
  }
  return 1;
}

/* Overwrites one byte of a file at `offset` with `value`. */
static int poke(const char* path, long offset, unsigned char value) {
  FILE* f = fopen(path, "r+b");
  if (f == NULL) return 0;
  int ok = fseek(f, offset, SEEK_SET) == 0 && fwrite(&value, 1, 1, f) == 1;
  return fclose(f) == 0 && ok;
}

static int peek(const char* path, long offset) {
  FILE* f = fopen(path, "rb");
  if (f == NULL) return -1;
  int c = fseek(f, offset, SEEK_SET) == 0 ? fgetc(f) : -1;
  fclose(f);
  return c;
}

typedef datatier_status (*file_pool_fn)(const char*, size_t, uint64_t, const datatier_options*,
                                        datatier_pool**);

typedef struct file_kind {
  const char* name;
  datatier_kind kind;
  file_pool_fn create;
  file_pool_fn open;
} file_kind;

static const file_kind kFileKinds[] = {
    {"mmap_file", DATATIER_KIND_MMAP_FILE, datatier_mmap_file_create, datatier_mmap_file_open},
    {"file_backed_memory", DATATIER_KIND_FILE_BACKED_MEMORY, datatier_file_backed_memory_create,
     datatier_file_backed_memory_open},
};

/* Fills `pool` from `seed` and shuts it down (closes it all the same if
 * that fails); whether the shutdown succeeded. */
static int fill_and_shut_down(datatier_pool* pool, unsigned seed) {
  fill(datatier_pool_data(pool), datatier_pool_size(pool), seed);
  const datatier_status s = datatier_pool_shutdown(pool);
  if (s != DATATIER_OK) datatier_pool_close(pool);
  return s == DATATIER_OK;
}

/* Creates `path` holding `size` bytes from `seed`, flushed and closed. */
static int make_saved_pool(const file_kind* k, const char* path, size_t size, uint64_t user_version,
                           unsigned seed) {
  datatier_pool* pool = NULL;
  if (k->create(path, size, user_version, NULL, &pool) != DATATIER_OK) return 0;
  return fill_and_shut_down(pool, seed);
}

static void test_memory_round_trip(void) {
  current_test = "memory_round_trip";
  datatier_pool* pool = NULL;
  CHECK_STATUS(datatier_memory_create(1u << 20, &pool), DATATIER_OK);
  CHECK(pool != NULL);
  if (pool == NULL) return;
  CHECK(datatier_pool_kind(pool) == DATATIER_KIND_MEMORY);
  CHECK(datatier_pool_size(pool) == 1u << 20);
  CHECK(strcmp(datatier_pool_path(pool), "") == 0);
  unsigned char* bytes = datatier_pool_data(pool);
  CHECK(bytes != NULL && bytes[0] == 0 && bytes[(1u << 20) - 1] == 0);
  fill(bytes, 1u << 20, 5);
  CHECK_STATUS(datatier_pool_flush(pool), DATATIER_OK);
  CHECK(matches(bytes, 1u << 20, 5));
  datatier_pool_close(pool);

  CHECK_STATUS(datatier_memory_create(0, &pool), DATATIER_OK);
  CHECK(datatier_pool_size(pool) == 0);
  datatier_pool_close(pool);
}

static void test_file_round_trip(const file_kind* k) {
  current_test = k->name;
  char path[512];
  path_in(path, sizeof path, k->name);
  const size_t size = 3 * 4096 + 17;

  datatier_pool* pool = NULL;
  datatier_options options;
  datatier_options_init(&options);
  options.create_mode = 0640;
  CHECK_STATUS(k->create(path, size, 42, &options, &pool), DATATIER_OK);
  if (pool == NULL) return;
  CHECK(datatier_pool_kind(pool) == k->kind);
  CHECK(datatier_pool_size(pool) == size);
  CHECK(strcmp(datatier_pool_path(pool), path) == 0);
  fill(datatier_pool_data(pool), size, 9);
  CHECK_STATUS(datatier_pool_flush(pool), DATATIER_OK);
  CHECK_STATUS(datatier_pool_shutdown(pool), DATATIER_OK);

  struct stat st;
  CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0640);

  pool = NULL;
  CHECK_STATUS(k->open(path, size, 42, NULL, &pool), DATATIER_OK);
  if (pool == NULL) return;
  CHECK(datatier_pool_size(pool) == size);
  CHECK(matches(datatier_pool_data(pool), size, 9));
  /* A second cycle: write, shut down, reopen. */
  fill(datatier_pool_data(pool), size, 10);
  CHECK_STATUS(datatier_pool_shutdown(pool), DATATIER_OK);
  pool = NULL;
  CHECK_STATUS(k->open(path, size, 42, NULL, &pool), DATATIER_OK);
  CHECK(pool != NULL && matches(datatier_pool_data(pool), size, 10));
  datatier_pool_close(pool);
}

/* Both file kinds share one format: a file saved by one opens as the other. */
static void test_kinds_share_the_format(void) {
  current_test = "kinds_share_the_format";
  char path[512];
  path_in(path, sizeof path, "shared_format");
  CHECK(make_saved_pool(&kFileKinds[0], path, 8192, 3, 21));
  datatier_pool* pool = NULL;
  CHECK_STATUS(datatier_file_backed_memory_open(path, 8192, 3, NULL, &pool), DATATIER_OK);
  CHECK(pool != NULL && matches(datatier_pool_data(pool), 8192, 21));
  datatier_pool_close(pool);
}

static void test_file_errors(const file_kind* k) {
  current_test = k->name;
  char path[512];
  char name[128];
  datatier_pool* pool = NULL;
  const size_t size = 8192;

  /* Missing file. */
  snprintf(name, sizeof name, "%s_missing", k->name);
  path_in(path, sizeof path, name);
  CHECK_STATUS(k->open(path, size, 0, NULL, &pool), DATATIER_ERR_NOT_FOUND);
  CHECK(pool == NULL);
  CHECK(datatier_last_errno() == ENOENT);
  CHECK(strstr(datatier_last_error_message(), name) != NULL);

  /* The same kind of failure keeps reporting once a success came between. */
  snprintf(name, sizeof name, "%s_errors", k->name);
  path_in(path, sizeof path, name);
  CHECK(make_saved_pool(k, path, size, 7, 1));

  CHECK_STATUS(k->create(path, size, 7, NULL, &pool), DATATIER_ERR_EXISTS);
  CHECK(datatier_last_errno() == EEXIST);
  CHECK_STATUS(k->open(path, size + 4096, 7, NULL, &pool), DATATIER_ERR_SIZE_MISMATCH);
  CHECK(datatier_last_errno() == 0);
  CHECK_STATUS(k->open(path, size, 8, NULL, &pool), DATATIER_ERR_USER_VERSION_MISMATCH);

  /* Held by another pool object. */
  datatier_pool* holder = NULL;
  CHECK_STATUS(k->open(path, size, 7, NULL, &holder), DATATIER_OK);
  CHECK_STATUS(k->open(path, size, 7, NULL, &pool), DATATIER_ERR_POOL_IN_USE);
  CHECK(pool == NULL);
  CHECK(strstr(datatier_last_error_message(), "locked by this process") != NULL);
  /* Closed without a flush: the file keeps its in-use mark. */
  datatier_pool_close(holder);
  CHECK_STATUS(k->open(path, size, 7, NULL, &pool), DATATIER_ERR_UNCLEAN_SHUTDOWN);
  datatier_options options;
  datatier_options_init(&options);
  options.accept_unclean = true;
  CHECK_STATUS(k->open(path, size, 7, &options, &pool), DATATIER_OK);
  CHECK(pool != NULL && matches(datatier_pool_data(pool), size, 1));
  CHECK_STATUS(datatier_pool_shutdown(pool), DATATIER_OK);
  pool = NULL;

  /* Corruption, one header field or data byte at a time. */
  const int data_byte = peek(path, kHeaderSize + 100);
  CHECK(poke(path, kHeaderSize + 100, (unsigned char)(data_byte ^ 0x01)));
  CHECK_STATUS(k->open(path, size, 7, NULL, &pool), DATATIER_ERR_CHECKSUM_MISMATCH);
  CHECK(poke(path, kHeaderSize + 100, (unsigned char)data_byte));
  CHECK_STATUS(k->open(path, size, 7, NULL, &pool), DATATIER_OK);
  CHECK_STATUS(datatier_pool_shutdown(pool), DATATIER_OK);
  pool = NULL;

  CHECK(poke(path, kOffsetVersion, 9));
  CHECK_STATUS(k->open(path, size, 7, NULL, &pool), DATATIER_ERR_INCOMPATIBLE_VERSION);
  CHECK(poke(path, kOffsetVersion, 0));
  CHECK(poke(path, kOffsetMagic, 'X'));
  CHECK_STATUS(k->open(path, size, 7, NULL, &pool), DATATIER_ERR_BAD_MAGIC);
  CHECK(strlen(datatier_last_error_message()) > 0);
  CHECK(pool == NULL);

  /* Bad arguments. */
  CHECK_STATUS(k->open(NULL, size, 7, NULL, &pool), DATATIER_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(k->open(path, size, 7, NULL, NULL), DATATIER_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(k->create(NULL, size, 7, NULL, &pool), DATATIER_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(k->create("", size, 7, NULL, &pool), DATATIER_ERR_INVALID_ARGUMENT);

  /* Some other errno: a path through a regular file (ENOTDIR). */
  char through_file[600];
  snprintf(through_file, sizeof through_file, "%s/pool", path);
  CHECK_STATUS(k->create(through_file, size, 7, NULL, &pool), DATATIER_ERR_OS);
  CHECK(datatier_last_errno() == ENOTDIR);
}

static void test_other_errors(void) {
  current_test = "other_errors";
  datatier_pool* pool = NULL;
  CHECK_STATUS(datatier_memory_create(16, NULL), DATATIER_ERR_INVALID_ARGUMENT);
  CHECK(strstr(datatier_last_error_message(), "NULL") != NULL);
  CHECK_STATUS(datatier_pool_flush(NULL), DATATIER_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(datatier_pool_shutdown(NULL), DATATIER_ERR_INVALID_ARGUMENT);
  /* More memory than any machine has: the mapping fails. */
  CHECK_STATUS(datatier_memory_create((size_t)1 << 62, &pool), DATATIER_ERR_OUT_OF_MEMORY);
  CHECK(pool == NULL);
  CHECK(datatier_last_errno() == ENOMEM);
  datatier_pool_close(NULL);
  CHECK(datatier_pool_data(NULL) == NULL);
  CHECK(datatier_pool_size(NULL) == 0);
}

static void test_strerror(void) {
  current_test = "strerror";
  for (int i = DATATIER_OK; i <= DATATIER_ERR_WRONG_KIND; ++i) {
    const char* text = datatier_strerror((datatier_status)i);
    CHECK(text != NULL && text[0] != '\0' && strstr(text, "unknown") == NULL);
    for (int j = DATATIER_OK; j < i; ++j) {
      CHECK(strcmp(text, datatier_strerror((datatier_status)j)) != 0);
    }
  }
  CHECK(strcmp(datatier_strerror((datatier_status)999), "unknown datatier status") == 0);
  CHECK(strcmp(datatier_strerror(DATATIER_ERR_CHECKSUM_MISMATCH), "checksum mismatch") == 0);
  CHECK(datatier_version()[0] != '\0');
}

static int exists(const char* path) {
  return access(path, F_OK) == 0;
}

/* `path` with `suffix` appended, in a static buffer per call site. */
static const char* with_suffix(char* buffer, size_t capacity, const char* path,
                               const char* suffix) {
  snprintf(buffer, capacity, "%s%s", path, suffix);
  return buffer;
}

typedef datatier_status (*open_or_create_fn)(const char*, size_t, uint64_t, const datatier_options*,
                                             datatier_pool**, int*);

static const open_or_create_fn kOpenOrCreate[] = {datatier_mmap_file_open_or_create,
                                                  datatier_file_backed_memory_open_or_create};

static void test_options_init(void) {
  current_test = "options_init";
  datatier_options options;
  memset(&options, 0xff, sizeof options);
  datatier_options_init(&options);
  CHECK(options.size == sizeof options);
  CHECK(options.create_mode == 0600 && !options.accept_unclean);
  CHECK(options.direct_io && !options.fallback_to_previous && options.threads == 0);
  CHECK(options.page_size == DATATIER_PAGE_SIZE_TRANSPARENT && options.page_size_fallback);
  CHECK(!options.lock_memory && options.numa == DATATIER_NUMA_LOCAL && options.numa_node == 0);
  CHECK(options.memory_threads == 0);
  CHECK(options.changes == DATATIER_CHANGES_COMPARE && options.block_size == 0);
  CHECK(!options.salvage);
  CHECK(!options.shareable && !options.verify_on_take_over);
  CHECK(options.take_over_timeout_ms == 10000);
  CHECK(DATATIER_OPTIONS_MIN_SIZE < sizeof options && DATATIER_OPTIONS_MIN_SIZE > 0);
  datatier_options_init(NULL);

  datatier_verify_options verify;
  memset(&verify, 0xff, sizeof verify);
  datatier_verify_options_init(&verify);
  CHECK(verify.size == sizeof verify);
  CHECK(!verify.check_data_size && !verify.check_user_version && !verify.accept_unclean);
  CHECK(verify.threads == 0 && verify.progress == NULL && verify.progress_context == NULL);
  datatier_verify_options_init(NULL);
}

/* A caller's options from a newer header: the library's fields, then ones
 * it does not know. */
typedef struct newer_options {
  datatier_options known;
  uint64_t unknown;
} newer_options;

static void test_options_size(void) {
  current_test = "options_size";
  char path[512];
  path_in(path, sizeof path, "options_size");
  datatier_pool* pool = NULL;
  datatier_options options;
  datatier_options_init(&options);

  /* Too small for the first version: refused by every call taking options,
   * with a message naming the field. */
  options.size = DATATIER_OPTIONS_MIN_SIZE - 1;
  for (size_t i = 0; i < sizeof kFileKinds / sizeof kFileKinds[0]; ++i) {
    CHECK_STATUS(kFileKinds[i].create(path, 4096, 1, &options, &pool),
                 DATATIER_ERR_INVALID_ARGUMENT);
    CHECK(pool == NULL && !exists(path));
    CHECK(strstr(datatier_last_error_message(), "options->size") != NULL);
    CHECK(datatier_last_errno() == 0);
    CHECK_STATUS(kFileKinds[i].open(path, 4096, 1, &options, &pool), DATATIER_ERR_INVALID_ARGUMENT);
    int fresh = -1;
    CHECK_STATUS(kOpenOrCreate[i](path, 4096, 1, &options, &pool, &fresh),
                 DATATIER_ERR_INVALID_ARGUMENT);
    CHECK(pool == NULL && fresh == -1 && !exists(path));
  }
  CHECK_STATUS(datatier_memory_create_with_options(4096, &options, &pool),
               DATATIER_ERR_INVALID_ARGUMENT);
  options.size = 0;
  CHECK_STATUS(datatier_memory_create_with_options(4096, &options, &pool),
               DATATIER_ERR_INVALID_ARGUMENT);
  CHECK(pool == NULL);

  /* The first version's size exactly: every field read. */
  options.size = DATATIER_OPTIONS_MIN_SIZE;
  options.create_mode = 0604;
  CHECK_STATUS(datatier_mmap_file_create(path, 4096, 1, &options, &pool), DATATIER_OK);
  datatier_pool_close(pool);
  struct stat st;
  CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == (0604 & ~(unsigned)umask(022)));
  umask(022);
  unlink(path);

  /* A first-version caller: the fields after its size are never read, so
   * whatever lies there (here values the library would refuse) is
   * ignored. */
  options.size = DATATIER_OPTIONS_MIN_SIZE;
  options.changes = (datatier_changes)9;
  options.block_size = 3;
  options.salvage = true;
  CHECK_STATUS(datatier_file_backed_memory_create(path, 4096, 1, &options, &pool), DATATIER_OK);
  CHECK_STATUS(datatier_pool_shutdown(pool), DATATIER_OK);
  /* The same fields within the size are read, and refused. */
  options.size = sizeof options;
  CHECK_STATUS(datatier_file_backed_memory_open(path, 4096, 1, &options, &pool),
               DATATIER_ERR_INVALID_ARGUMENT);
  CHECK(strstr(datatier_last_error_message(), "changes") != NULL);
  options.changes = DATATIER_CHANGES_MARKED;
  CHECK_STATUS(datatier_file_backed_memory_open(path, 4096, 1, &options, &pool),
               DATATIER_ERR_INVALID_ARGUMENT);
  CHECK(strstr(datatier_last_error_message(), "block size 3") != NULL);
  CHECK(pool == NULL);
  CHECK_STATUS(datatier_remove_pool(path, 0), DATATIER_OK);

  /* A newer caller's larger struct: the fields known are read, the rest
   * ignored. */
  newer_options newer;
  datatier_options_init(&newer.known);
  newer.known.size = sizeof newer;
  newer.known.create_mode = 0640;
  newer.unknown = 0xdeadbeef;
  CHECK_STATUS(datatier_file_backed_memory_create(path, 4096, 1, &newer.known, &pool), DATATIER_OK);
  CHECK_STATUS(datatier_pool_shutdown(pool), DATATIER_OK);
  CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0640);
  CHECK_STATUS(datatier_remove_pool(path, 0), DATATIER_OK);

  /* Enum fields outside their enums. */
  datatier_options_init(&options);
  options.page_size = (datatier_page_size)7;
  CHECK_STATUS(datatier_memory_create_with_options(4096, &options, &pool),
               DATATIER_ERR_INVALID_ARGUMENT);
  CHECK(strstr(datatier_last_error_message(), "page_size") != NULL);
  datatier_options_init(&options);
  options.numa = (datatier_numa_policy)-1;
  CHECK_STATUS(datatier_mmap_file_create(path, 4096, 1, &options, &pool),
               DATATIER_ERR_INVALID_ARGUMENT);
  CHECK(strstr(datatier_last_error_message(), "numa") != NULL);
  CHECK(pool == NULL && !exists(path));
}

/* Counts the smaller-pages fallbacks heard, in *(int*)context, and checks
 * that each names the pages refused. */
static void count_smaller_pages(datatier_fallback_kind kind, const char* message, void* context) {
  CHECK(kind == DATATIER_FALLBACK_SMALLER_PAGES);
  CHECK(strstr(message, "huge pages") != NULL);
  ++*(int*)context;
}

static void test_memory_placement(void) {
  current_test = "memory_placement";
  datatier_pool* pool = NULL;
  datatier_options options;
  datatier_options_init(&options);
  options.page_size = DATATIER_PAGE_SIZE_SMALL;
  options.memory_threads = 1;
  options.threads = 2; /* memory_threads wins */
  CHECK_STATUS(datatier_memory_create_with_options(1u << 20, &options, &pool), DATATIER_OK);
  if (pool == NULL) return;
  CHECK(datatier_pool_size(pool) == 1u << 20);
  datatier_placement placement;
  placement.size = sizeof placement;
  CHECK_STATUS(datatier_pool_placement(pool, &placement), DATATIER_OK);
  CHECK(placement.size == sizeof placement);
  CHECK(placement.page_size == DATATIER_PAGE_SIZE_SMALL);
  CHECK(placement.page_bytes == (size_t)sysconf(_SC_PAGESIZE));
  CHECK(placement.numa == DATATIER_NUMA_LOCAL && placement.numa_node == -1);
  CHECK(!placement.locked && placement.threads == 1);
  CHECK(placement.huge_bytes <= 1u << 20);
  /* A struct of the first version, which ends before huge_bytes. */
  placement.size = offsetof(datatier_placement, huge_bytes);
  placement.huge_bytes = 12345;
  CHECK_STATUS(datatier_pool_placement(pool, &placement), DATATIER_OK);
  CHECK(placement.huge_bytes == 12345 && placement.threads == 1);

  /* Errors: NULL, a size too small. */
  CHECK_STATUS(datatier_pool_placement(NULL, &placement), DATATIER_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(datatier_pool_placement(pool, NULL), DATATIER_ERR_INVALID_ARGUMENT);
  placement.size = sizeof placement.size;
  CHECK_STATUS(datatier_pool_placement(pool, &placement), DATATIER_ERR_INVALID_ARGUMENT);
  CHECK(strstr(datatier_last_error_message(), "out->size") != NULL);
  datatier_pool_close(pool);

  /* Defaults through NULL options. */
  CHECK_STATUS(datatier_memory_create_with_options(4096, NULL, &pool), DATATIER_OK);
  placement.size = sizeof placement;
  CHECK_STATUS(datatier_pool_placement(pool, &placement), DATATIER_OK);
  CHECK(placement.page_size == DATATIER_PAGE_SIZE_TRANSPARENT);
  datatier_pool_close(pool);
  CHECK_STATUS(datatier_memory_create_with_options(4096, NULL, NULL),
               DATATIER_ERR_INVALID_ARGUMENT);

  /* Explicit 1 GiB pages: with the fallback the pool is made with what the
   * kernel has; without, it fails only when the kernel has none. */
  datatier_options_init(&options);
  options.page_size = DATATIER_PAGE_SIZE_HUGE_1GIB;
  int steps_down = 0;
  options.on_fallback = count_smaller_pages;
  options.fallback_context = &steps_down;
  CHECK_STATUS(datatier_memory_create_with_options(1u << 20, &options, &pool), DATATIER_OK);
  placement.size = sizeof placement;
  CHECK_STATUS(datatier_pool_placement(pool, &placement), DATATIER_OK);
  const int got_1gib = placement.page_size == DATATIER_PAGE_SIZE_HUGE_1GIB;
  /* Each step down the page sizes was heard. */
  CHECK(steps_down == (got_1gib ? 0 : placement.page_size == DATATIER_PAGE_SIZE_HUGE_2MIB ? 1 : 2));
  options.on_fallback = NULL;
  CHECK(!got_1gib || placement.page_bytes == (size_t)1 << 30);
  datatier_pool_close(pool);
  options.page_size_fallback = false;
  const datatier_status s = datatier_memory_create_with_options(1u << 20, &options, &pool);
  if (got_1gib) {
    CHECK(s == DATATIER_OK);
    datatier_pool_close(pool);
  } else {
    CHECK(s == DATATIER_ERR_OUT_OF_MEMORY && pool == NULL);
    CHECK(strstr(datatier_last_error_message(), "1 GiB huge pages") != NULL);
  }

  char path[512];
  path_in(path, sizeof path, "placement_mmap");
  CHECK_STATUS(datatier_mmap_file_create(path, 4096, 1, NULL, &pool), DATATIER_OK);
  placement.size = sizeof placement;
  CHECK_STATUS(datatier_pool_placement(pool, &placement), DATATIER_OK);
  CHECK(placement.page_size == DATATIER_PAGE_SIZE_TRANSPARENT);
  CHECK(placement.numa == DATATIER_NUMA_LOCAL && !placement.locked);
  CHECK(placement.threads >= 1 && placement.huge_bytes <= 4096);
  datatier_pool_close(pool);
}

static void test_open_or_create(size_t i) {
  const file_kind* k = &kFileKinds[i];
  current_test = k->name;
  char path[512];
  char name[128];
  snprintf(name, sizeof name, "%s_open_or_create", k->name);
  path_in(path, sizeof path, name);
  const size_t size = 2 * 4096 + 5;
  datatier_pool* pool = NULL;
  datatier_open_outcome outcome = DATATIER_OUTCOME_OPENED;
  datatier_status reason = DATATIER_ERR_INTERNAL;

  /* No file: created. */
  int fresh = -1;
  CHECK_STATUS(kOpenOrCreate[i](path, size, 5, NULL, &pool, &fresh), DATATIER_OK);
  if (pool == NULL) return;
  CHECK(fresh == 1 && datatier_pool_kind(pool) == k->kind && datatier_pool_size(pool) == size);
  CHECK_STATUS(datatier_pool_outcome(pool, &outcome, &reason), DATATIER_OK);
  CHECK(outcome == DATATIER_OUTCOME_CREATED && reason == DATATIER_OK);
  fill(datatier_pool_data(pool), size, 3);

  /* Held: returned, never replaced. */
  datatier_pool* second = NULL;
  CHECK_STATUS(kOpenOrCreate[i](path, size, 5, NULL, &second, &fresh), DATATIER_ERR_POOL_IN_USE);
  CHECK(second == NULL);
  CHECK_STATUS(datatier_pool_shutdown(pool), DATATIER_OK);

  /* A saved pool: opened, with its bytes; `fresh` may be NULL. */
  CHECK_STATUS(kOpenOrCreate[i](path, size, 5, NULL, &pool, &fresh), DATATIER_OK);
  CHECK(fresh == 0 && matches(datatier_pool_data(pool), size, 3));
  CHECK_STATUS(datatier_pool_outcome(pool, &outcome, NULL), DATATIER_OK);
  CHECK(outcome == DATATIER_OUTCOME_OPENED);
  CHECK_STATUS(datatier_pool_shutdown(pool), DATATIER_OK);
  CHECK_STATUS(kOpenOrCreate[i](path, size, 5, NULL, &pool, NULL), DATATIER_OK);
  CHECK_STATUS(datatier_pool_shutdown(pool), DATATIER_OK);

  /* A damaged pool: recreated, zero-filled, with the reason. */
  const int data_byte = peek(path, kHeaderSize + 7);
  CHECK(poke(path, kHeaderSize + 7, (unsigned char)(data_byte ^ 0x10)));
  CHECK_STATUS(kOpenOrCreate[i](path, size, 5, NULL, &pool, &fresh), DATATIER_OK);
  CHECK(fresh == 1);
  CHECK_STATUS(datatier_pool_outcome(pool, &outcome, &reason), DATATIER_OK);
  CHECK(outcome == DATATIER_OUTCOME_RECREATED && reason == DATATIER_ERR_CHECKSUM_MISMATCH);
  const unsigned char* bytes = datatier_pool_data(pool);
  CHECK(bytes[0] == 0 && bytes[7] == 0 && bytes[size - 1] == 0);
  CHECK_STATUS(datatier_pool_shutdown(pool), DATATIER_OK);

  /* Another user version is a format verdict too. */
  CHECK_STATUS(kOpenOrCreate[i](path, size, 6, NULL, &pool, &fresh), DATATIER_OK);
  CHECK_STATUS(datatier_pool_outcome(pool, &outcome, &reason), DATATIER_OK);
  CHECK(fresh == 1 && reason == DATATIER_ERR_USER_VERSION_MISMATCH);
  datatier_pool_close(pool);

  /* Bad arguments, and an OS error. */
  CHECK_STATUS(kOpenOrCreate[i](NULL, size, 5, NULL, &pool, &fresh), DATATIER_ERR_INVALID_ARGUMENT);
  CHECK(strstr(datatier_last_error_message(), "path is NULL") != NULL);
  CHECK_STATUS(kOpenOrCreate[i](path, size, 5, NULL, NULL, &fresh), DATATIER_ERR_INVALID_ARGUMENT);
  char through_file[600];
  snprintf(through_file, sizeof through_file, "%s/pool", path);
  CHECK_STATUS(kOpenOrCreate[i](through_file, size, 5, NULL, &pool, &fresh), DATATIER_ERR_OS);
  CHECK(datatier_last_errno() == ENOTDIR && pool == NULL);

  CHECK_STATUS(datatier_pool_outcome(NULL, &outcome, &reason), DATATIER_ERR_INVALID_ARGUMENT);
}

/* Pools from *_create and *_open report those outcomes; memory is created. */
static void test_outcome_of_plain_calls(void) {
  current_test = "outcome_of_plain_calls";
  char path[512];
  path_in(path, sizeof path, "plain_outcome");
  datatier_pool* pool = NULL;
  datatier_open_outcome outcome = DATATIER_OUTCOME_RECREATED;
  CHECK_STATUS(datatier_memory_create(16, &pool), DATATIER_OK);
  CHECK_STATUS(datatier_pool_outcome(pool, &outcome, NULL), DATATIER_OK);
  CHECK(outcome == DATATIER_OUTCOME_CREATED);
  CHECK_STATUS(datatier_pool_outcome(pool, NULL, NULL), DATATIER_ERR_INVALID_ARGUMENT);
  datatier_pool_close(pool);
  CHECK(make_saved_pool(&kFileKinds[0], path, 4096, 1, 1));
  CHECK_STATUS(datatier_mmap_file_open(path, 4096, 1, NULL, &pool), DATATIER_OK);
  datatier_status reason = DATATIER_ERR_INTERNAL;
  CHECK_STATUS(datatier_pool_outcome(pool, &outcome, &reason), DATATIER_OK);
  CHECK(outcome == DATATIER_OUTCOME_OPENED && reason == DATATIER_OK);
  datatier_pool_close(pool);
}

static void test_user_area_and_header(const file_kind* k) {
  current_test = k->name;
  char path[512];
  char name[128];
  snprintf(name, sizeof name, "%s_user_area", k->name);
  path_in(path, sizeof path, name);
  const size_t size = 4096 + 100;
  datatier_pool* pool = NULL;
  CHECK_STATUS(k->create(path, size, 77, NULL, &pool), DATATIER_OK);
  if (pool == NULL) return;
  size_t area_size = 0;
  unsigned char* area = datatier_pool_user_area(pool, &area_size);
  CHECK(area != NULL && area_size == DATATIER_USER_AREA_SIZE);
  CHECK(area[0] == 0 && area[DATATIER_USER_AREA_SIZE - 1] == 0);
  CHECK(datatier_pool_user_area(pool, NULL) == area);
  fill(area, area_size, 40);
  const time_t before = time(NULL);
  CHECK_STATUS(datatier_pool_shutdown(pool), DATATIER_OK);

  CHECK_STATUS(k->open(path, size, 77, NULL, &pool), DATATIER_OK);
  if (pool == NULL) return;
  area = datatier_pool_user_area(pool, &area_size);
  CHECK(area != NULL && matches(area, DATATIER_USER_AREA_SIZE, 40));

  /* The header in the file: held, so marked in use. */
  datatier_header header;
  CHECK_STATUS(datatier_pool_header(pool, &header), DATATIER_OK);
  CHECK(memcmp(header.magic, "PELIKAN!", 8) == 0);
  CHECK(header.version == 0 && header.user_version == 77);
  CHECK(header.data_size == size); /* recorded: not a multiple of 4096 */
  CHECK((header.options & DATATIER_OPTION_IN_USE) != 0);
  CHECK(matches(header.user_area, DATATIER_USER_AREA_SIZE, 40));
  CHECK((time_t)header.time_unix_s + 1 >= before && (time_t)header.time_unix_s <= time(NULL));
  CHECK(header.time_unix_ns / 1000000000u + 1 >= (uint64_t)before);
  CHECK(header.time_monotonic_ns / 1000000000u + 1 >= header.time_monotonic_s);
  unsigned char zero[32] = {0};
  CHECK(memcmp(header.checksum, zero, sizeof zero) != 0);
  CHECK_STATUS(datatier_pool_shutdown(pool), DATATIER_OK);

  /* Errors: NULL, and memory has neither. */
  CHECK_STATUS(datatier_pool_header(NULL, &header), DATATIER_ERR_INVALID_ARGUMENT);
  CHECK(datatier_pool_user_area(NULL, &area_size) == NULL && area_size == 0);
}

static void test_memory_has_no_header(void) {
  current_test = "memory_has_no_header";
  datatier_pool* pool = NULL;
  CHECK_STATUS(datatier_memory_create(4096, &pool), DATATIER_OK);
  size_t area_size = 1;
  CHECK(datatier_pool_user_area(pool, &area_size) == NULL && area_size == 0);
  datatier_header header;
  CHECK_STATUS(datatier_pool_header(pool, &header), DATATIER_ERR_WRONG_KIND);
  CHECK(strstr(datatier_last_error_message(), "memory pool") != NULL);
  CHECK_STATUS(datatier_pool_header(pool, NULL), DATATIER_ERR_INVALID_ARGUMENT);
  datatier_recovery recovery;
  recovery.size = sizeof recovery;
  CHECK_STATUS(datatier_pool_recovery(pool, &recovery), DATATIER_ERR_WRONG_KIND);
  datatier_pool_close(pool);
}

static bool count_progress(uint64_t done, uint64_t total, void* context) {
  if (done <= total) ++*(int*)context;
  return true;
}

static bool cancel_progress(uint64_t done, uint64_t total, void* context) {
  (void)done;
  (void)total;
  ++*(int*)context;
  return false;
}

static bool cancel_when(uint64_t done, uint64_t total, void* context) {
  (void)done;
  (void)total;
  return !*(bool*)context;
}

static void test_verify(void) {
  current_test = "verify";
  char path[512];
  path_in(path, sizeof path, "verify");
  const size_t size = 64 * 1024;
  CHECK(make_saved_pool(&kFileKinds[1], path, size, 9, 2));

  datatier_verify_report report;
  report.size = sizeof report;
  CHECK_STATUS(datatier_verify_file(path, NULL, &report), DATATIER_OK);
  CHECK(report.size == sizeof report);
  CHECK(report.status == DATATIER_OK && report.message[0] == '\0');
  CHECK(report.file_size == kHeaderSize + size && report.data_size == size);
  CHECK(report.has_header && report.header.user_version == 9 && report.header.options == 0);
  CHECK(report.has_computed_checksum &&
        memcmp(report.computed_checksum, report.header.checksum, 32) == 0);
  CHECK(report.damaged_count == 0);

  /* Options: the expected user version and data size, a progress callback. */
  datatier_verify_options options;
  datatier_verify_options_init(&options);
  int calls = 0;
  options.progress = count_progress;
  options.progress_context = &calls;
  options.threads = 1;
  CHECK_STATUS(datatier_verify_file(path, &options, &report), DATATIER_OK);
  CHECK(report.status == DATATIER_OK && calls > 0);
  /* Cancelled by the callback at its first report. */
  calls = 0;
  options.progress = cancel_progress;
  CHECK_STATUS(datatier_verify_file(path, &options, &report), DATATIER_ERR_CANCELED);
  CHECK(calls == 1);
  options.progress = NULL;
  options.check_user_version = true;
  options.user_version = 10;
  CHECK_STATUS(datatier_verify_file(path, &options, &report), DATATIER_OK);
  CHECK(report.status == DATATIER_ERR_USER_VERSION_MISMATCH && strlen(report.message) > 0);
  options.check_user_version = false;
  options.check_data_size = true;
  options.data_size = size + 4096;
  CHECK_STATUS(datatier_verify_file(path, &options, &report), DATATIER_OK);
  CHECK(report.status == DATATIER_ERR_SIZE_MISMATCH && report.data_size == size + 4096);

  /* A flipped data byte: a verdict in the report, not a failed call. */
  const int data_byte = peek(path, kHeaderSize + 1000);
  CHECK(poke(path, kHeaderSize + 1000, (unsigned char)(data_byte ^ 0x80)));
  CHECK_STATUS(datatier_verify_file(path, NULL, &report), DATATIER_OK);
  CHECK(report.status == DATATIER_ERR_CHECKSUM_MISMATCH && report.has_computed_checksum);
  CHECK(strstr(report.message, "checksum") != NULL);
  CHECK(memcmp(report.computed_checksum, report.header.checksum, 32) != 0);
  /* The pool's block index (64 KiB blocks of header and data) names the
   * first block, which holds the header and the first 60 KiB of data. */
  CHECK(report.damaged_count == 1);
  CHECK(report.damaged[0].offset == 0 && report.damaged[0].length == 65536 - kHeaderSize);
  CHECK(poke(path, kHeaderSize + 1000, (unsigned char)data_byte));

  /* Held by a pool: in use, nothing read. */
  datatier_pool* pool = NULL;
  CHECK_STATUS(datatier_file_backed_memory_open(path, size, 9, NULL, &pool), DATATIER_OK);
  CHECK_STATUS(datatier_verify_file(path, NULL, &report), DATATIER_OK);
  CHECK(report.status == DATATIER_ERR_POOL_IN_USE);
  datatier_pool_close(pool);
  /* Closed without a flush: unclean, unless accepted. */
  CHECK_STATUS(datatier_verify_file(path, NULL, &report), DATATIER_OK);
  CHECK(report.status == DATATIER_ERR_UNCLEAN_SHUTDOWN);
  datatier_verify_options_init(&options);
  options.accept_unclean = true;
  CHECK_STATUS(datatier_verify_file(path, &options, &report), DATATIER_OK);
  CHECK(report.status == DATATIER_OK);

  /* Failed calls: no file, NULL, sizes too small. */
  char missing[512];
  path_in(missing, sizeof missing, "verify_missing");
  CHECK_STATUS(datatier_verify_file(missing, NULL, &report), DATATIER_ERR_NOT_FOUND);
  CHECK(datatier_last_errno() == ENOENT);
  CHECK_STATUS(datatier_verify_file(NULL, NULL, &report), DATATIER_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(datatier_verify_file(path, NULL, NULL), DATATIER_ERR_INVALID_ARGUMENT);
  report.size = 0;
  CHECK_STATUS(datatier_verify_file(path, NULL, &report), DATATIER_ERR_INVALID_ARGUMENT);
  report.size = sizeof report;
  options.size = DATATIER_VERIFY_OPTIONS_MIN_SIZE - 1;
  CHECK_STATUS(datatier_verify_file(path, &options, &report), DATATIER_ERR_INVALID_ARGUMENT);
  CHECK(strstr(datatier_last_error_message(), "options->size") != NULL);
}

static void test_remove_pool(void) {
  current_test = "remove_pool";
  char path[512];
  char spare[600];
  path_in(path, sizeof path, "remove");
  with_suffix(spare, sizeof spare, path, ".prev");
  CHECK(make_saved_pool(&kFileKinds[1], path, 4096, 1, 1));
  CHECK(exists(path) && exists(spare));

  /* Held: nothing removed. */
  datatier_pool* pool = NULL;
  CHECK_STATUS(datatier_file_backed_memory_open(path, 4096, 1, NULL, &pool), DATATIER_OK);
  CHECK_STATUS(datatier_remove_pool(path, 0), DATATIER_ERR_POOL_IN_USE);
  CHECK_STATUS(datatier_remove_pool(path, 1), DATATIER_ERR_POOL_IN_USE);
  CHECK(exists(path) && exists(spare));
  CHECK_STATUS(datatier_pool_shutdown(pool), DATATIER_OK);

  CHECK_STATUS(datatier_remove_pool(path, 0), DATATIER_OK);
  CHECK(!exists(path) && !exists(spare));
  CHECK_STATUS(datatier_remove_pool(path, 0), DATATIER_ERR_NOT_FOUND);
  CHECK_STATUS(datatier_remove_pool(NULL, 0), DATATIER_ERR_INVALID_ARGUMENT);

  /* Not a pool file: removed only with force. */
  FILE* f = fopen(path, "wb");
  CHECK(f != NULL && fputs("not a pool", f) >= 0 && fclose(f) == 0);
  CHECK_STATUS(datatier_remove_pool(path, 0), DATATIER_ERR_BAD_MAGIC);
  CHECK(exists(path));
  CHECK_STATUS(datatier_remove_pool(path, 1), DATATIER_OK);
  CHECK(!exists(path));
}

/* Leaves `path` holding the snapshot of `seed2` and its spare that of
 * `seed1`. */
static int make_two_snapshots(const char* path, size_t size, unsigned seed1, unsigned seed2) {
  if (!make_saved_pool(&kFileKinds[1], path, size, 1, seed1)) return 0;
  datatier_pool* pool = NULL;
  if (datatier_file_backed_memory_open(path, size, 1, NULL, &pool) != DATATIER_OK) return 0;
  return fill_and_shut_down(pool, seed2);
}

static void test_restore_previous(void) {
  current_test = "restore_previous";
  char path[512];
  char spare[600];
  char damaged[600];
  path_in(path, sizeof path, "restore");
  with_suffix(spare, sizeof spare, path, ".prev");
  with_suffix(damaged, sizeof damaged, path, ".damaged");
  const size_t size = 8192;
  CHECK(make_two_snapshots(path, size, 11, 12));

  datatier_pool* pool = NULL;
  CHECK_STATUS(datatier_file_backed_memory_open(path, size, 1, NULL, &pool), DATATIER_OK);
  CHECK_STATUS(datatier_restore_previous(path), DATATIER_ERR_POOL_IN_USE);
  /* Released without a save, which would make the spare a copy of the pool
   * file. */
  datatier_pool_close(pool);

  CHECK_STATUS(datatier_restore_previous(path), DATATIER_OK);
  CHECK(exists(damaged) && !exists(spare));
  CHECK_STATUS(datatier_file_backed_memory_open(path, size, 1, NULL, &pool), DATATIER_OK);
  CHECK(pool != NULL && matches(datatier_pool_data(pool), size, 11));
  datatier_pool_close(pool);

  /* No spare any more. */
  unlink(spare);
  CHECK_STATUS(datatier_restore_previous(path), DATATIER_ERR_NOT_FOUND);
  CHECK_STATUS(datatier_restore_previous(NULL), DATATIER_ERR_INVALID_ARGUMENT);
}

static void test_recovery(void) {
  current_test = "recovery";
  char path[512];
  path_in(path, sizeof path, "recovery");
  const size_t size = 8192;
  CHECK(make_two_snapshots(path, size, 21, 22));
  datatier_recovery recovery;
  recovery.size = sizeof recovery;

  /* The pool file itself loaded: nothing to say. */
  datatier_pool* pool = NULL;
  datatier_options options;
  datatier_options_init(&options);
  options.fallback_to_previous = true;
  CHECK_STATUS(datatier_file_backed_memory_open(path, size, 1, &options, &pool), DATATIER_OK);
  CHECK_STATUS(datatier_pool_recovery(pool, &recovery), DATATIER_OK);
  CHECK(!recovery.used_previous && recovery.reason == DATATIER_OK);
  CHECK(strcmp(recovery.message, "") == 0 && strcmp(recovery.set_aside, "") == 0);
  CHECK_STATUS(datatier_pool_shutdown(pool), DATATIER_OK);

  /* A damaged pool file: the previous snapshot (the same bytes: the last
   * shutdown saved them again) loaded, the file set aside. */
  CHECK(poke(path, kHeaderSize + 3, (unsigned char)(peek(path, kHeaderSize + 3) ^ 0xff)));
  CHECK_STATUS(datatier_file_backed_memory_open(path, size, 1, NULL, &pool),
               DATATIER_ERR_CHECKSUM_MISMATCH);
  CHECK_STATUS(datatier_file_backed_memory_open(path, size, 1, &options, &pool), DATATIER_OK);
  if (pool == NULL) return;
  CHECK(matches(datatier_pool_data(pool), size, 22));
  CHECK_STATUS(datatier_pool_recovery(pool, &recovery), DATATIER_OK);
  CHECK(recovery.used_previous && recovery.reason == DATATIER_ERR_CHECKSUM_MISMATCH);
  CHECK(strlen(recovery.message) > 0);
  char damaged[600];
  with_suffix(damaged, sizeof damaged, path, ".damaged");
  CHECK(strcmp(recovery.set_aside, damaged) == 0 && exists(damaged));

  /* Errors: NULL, a size too small, a pool of another kind. */
  CHECK_STATUS(datatier_pool_recovery(NULL, &recovery), DATATIER_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(datatier_pool_recovery(pool, NULL), DATATIER_ERR_INVALID_ARGUMENT);
  recovery.size = 1;
  CHECK_STATUS(datatier_pool_recovery(pool, &recovery), DATATIER_ERR_INVALID_ARGUMENT);
  datatier_pool_close(pool);

  char mmap_path[512];
  path_in(mmap_path, sizeof mmap_path, "recovery_mmap");
  CHECK_STATUS(datatier_mmap_file_create(mmap_path, 4096, 1, NULL, &pool), DATATIER_OK);
  recovery.size = sizeof recovery;
  CHECK_STATUS(datatier_pool_recovery(pool, &recovery), DATATIER_ERR_WRONG_KIND);
  datatier_pool_close(pool);
}

/* Flips every bit of the byte at `offset` of `path`. */
static int flip(const char* path, long offset) {
  const int byte = peek(path, offset);
  return byte >= 0 && poke(path, offset, (unsigned char)(byte ^ 0xff));
}

enum { kBlockSize = 4096 };

/* Options for a file-backed memory pool whose block index has 4096-byte
 * blocks (the header alone in the first), finding changes by `changes`. */
static datatier_options indexed_options(datatier_changes changes) {
  datatier_options options;
  datatier_options_init(&options);
  options.changes = changes;
  options.block_size = kBlockSize;
  return options;
}

/* Opens `path` with `options` and checks that its byte `offset` is `value`;
 * returns the pool, or NULL when it did not open. */
static datatier_pool* open_and_expect(const char* path, size_t size,
                                      const datatier_options* options, size_t offset,
                                      unsigned char value) {
  datatier_pool* pool = NULL;
  CHECK_STATUS(datatier_file_backed_memory_open(path, size, 1, options, &pool), DATATIER_OK);
  if (pool != NULL) CHECK(((unsigned char*)datatier_pool_data(pool))[offset] == value);
  return pool;
}

/* Creates a file-backed memory pool at `path` whose byte `offset` is
 * `value`, saved and closed; false if that failed. */
static bool save_byte(const char* path, size_t size, size_t offset, unsigned char value) {
  datatier_pool* pool = NULL;
  CHECK_STATUS(datatier_file_backed_memory_create(path, size, 1, NULL, &pool), DATATIER_OK);
  if (pool == NULL) return false;
  ((unsigned char*)datatier_pool_data(pool))[offset] = value;
  CHECK_STATUS(datatier_pool_shutdown(pool), DATATIER_OK);
  return true;
}

/* A cancelled open changes nothing; a cancelled save leaves the previous
 * snapshot. */
static void test_cancel(void) {
  current_test = "cancel";
  char path[512];
  path_in(path, sizeof path, "cancel");
  const size_t size = 256 * 1024;
  if (!save_byte(path, size, 100, 1)) return;
  datatier_options options;
  datatier_options_init(&options);
  datatier_pool* pool = NULL;

  int calls = 0;
  options.progress = cancel_progress;
  options.progress_context = &calls;
  CHECK_STATUS(datatier_file_backed_memory_open(path, size, 1, &options, &pool),
               DATATIER_ERR_CANCELED);
  CHECK(pool == NULL && calls == 1);
  options.progress = NULL;
  pool = open_and_expect(path, size, &options, 100, 1);
  if (pool == NULL) return;
  ((unsigned char*)datatier_pool_data(pool))[100] = 2;
  datatier_pool_close(pool);

  /* Its save cancelled, the pool file keeps the previous snapshot; the next
   * save works. */
  bool cancel = false;
  options.progress = cancel_when;
  options.progress_context = &cancel;
  options.accept_unclean = true;
  CHECK_STATUS(datatier_file_backed_memory_open(path, size, 1, &options, &pool), DATATIER_OK);
  if (pool == NULL) return;
  ((unsigned char*)datatier_pool_data(pool))[100] = 3;
  cancel = true;
  CHECK_STATUS(datatier_pool_flush(pool), DATATIER_ERR_CANCELED);
  datatier_pool_close(pool);
  cancel = false;
  pool = open_and_expect(path, size, &options, 100, 1);
  if (pool == NULL) return;
  ((unsigned char*)datatier_pool_data(pool))[100] = 4;
  CHECK_STATUS(datatier_pool_shutdown(pool), DATATIER_OK);
  datatier_pool_close(open_and_expect(path, size, NULL, 100, 4));
}

/* A read-only open serves the snapshot, shares the file with other readers
 * and refuses to save; creating read-only is refused. */
static void test_read_only(void) {
  current_test = "read_only";
  char path[512];
  path_in(path, sizeof path, "read_only");
  const size_t size = 3 * 4096;
  if (!save_byte(path, size, 7, 42)) return;
  datatier_options options;
  datatier_options_init(&options);
  datatier_pool* pool = NULL;

  options.read_only = true;
  datatier_pool* reader = NULL;
  datatier_pool* second = NULL;
  CHECK_STATUS(datatier_file_backed_memory_open(path, size, 1, &options, &reader), DATATIER_OK);
  CHECK_STATUS(datatier_mmap_file_open(path, size, 1, &options, &second), DATATIER_OK);
  if (reader != NULL) {
    CHECK(((unsigned char*)datatier_pool_data(reader))[7] == 42);
    CHECK_STATUS(datatier_pool_flush(reader), DATATIER_ERR_OS);
    CHECK(datatier_last_errno() == EPERM);
    CHECK_STATUS(datatier_pool_shutdown(reader), DATATIER_OK);
  }
  if (second != NULL) CHECK(((unsigned char*)datatier_pool_data(second))[7] == 42);
  datatier_pool_close(second);

  char other[512];
  path_in(other, sizeof other, "read_only_new");
  CHECK_STATUS(datatier_mmap_file_create(other, size, 1, &options, &pool),
               DATATIER_ERR_INVALID_ARGUMENT);
  CHECK(pool == NULL);
}

/* With DATATIER_CHANGES_MARKED a save writes the blocks marked dirty: a byte
 * written and marked survives a reopen, one written without a mark does not,
 * unless a full flush saves it. */
static void test_marked_saves(void) {
  current_test = "marked_saves";
  char path[512];
  path_in(path, sizeof path, "marked");
  const size_t size = 16 * kBlockSize;
  const size_t marked_at = 5 * kBlockSize + 1;
  const size_t unmarked_at = 9 * kBlockSize + 2;
  const datatier_options options = indexed_options(DATATIER_CHANGES_MARKED);
  datatier_pool* pool = NULL;
  CHECK_STATUS(datatier_file_backed_memory_create(path, size, 1, &options, &pool), DATATIER_OK);
  if (pool == NULL) return;
  unsigned char* bytes = datatier_pool_data(pool);
  fill(bytes, size, 4);
  /* The first saves write everything: the spare holds no indexed snapshot
   * of these bytes until the second. */
  CHECK_STATUS(datatier_pool_flush(pool), DATATIER_OK);
  CHECK_STATUS(datatier_pool_flush(pool), DATATIER_OK);
  const unsigned char marked_old = bytes[marked_at];
  const unsigned char unmarked_old = bytes[unmarked_at];
  bytes[marked_at] ^= 0xff;
  datatier_pool_mark_dirty(pool, marked_at, 1);
  bytes[unmarked_at] ^= 0xff;
  CHECK_STATUS(datatier_pool_shutdown(pool), DATATIER_OK);

  pool = open_and_expect(path, size, &options, marked_at, (unsigned char)(marked_old ^ 0xff));
  if (pool == NULL) return;
  bytes = datatier_pool_data(pool);
  CHECK(bytes[unmarked_at] == unmarked_old);
  /* A full flush saves what no mark declared. */
  bytes[unmarked_at] ^= 0xff;
  CHECK_STATUS(datatier_pool_flush_full(pool), DATATIER_OK);
  /* Released without another save: the flush_full snapshot is the last. */
  datatier_pool_close(pool);
  datatier_options reopen = options;
  reopen.accept_unclean = true;
  pool = open_and_expect(path, size, &reopen, unmarked_at, (unsigned char)(unmarked_old ^ 0xff));
  datatier_pool_close(pool);
}

/* flush_full is for file-backed memory only; marks are ignored elsewhere. */
static void test_flush_full_and_marks_on_other_kinds(void) {
  current_test = "flush_full_and_marks_on_other_kinds";
  CHECK_STATUS(datatier_pool_flush_full(NULL), DATATIER_ERR_INVALID_ARGUMENT);
  datatier_pool_mark_dirty(NULL, 0, 1);
  datatier_pool* pool = NULL;
  CHECK_STATUS(datatier_memory_create(4096, &pool), DATATIER_OK);
  datatier_pool_mark_dirty(pool, 0, 4096);
  CHECK_STATUS(datatier_pool_flush_full(pool), DATATIER_ERR_WRONG_KIND);
  CHECK(strstr(datatier_last_error_message(), "memory pool") != NULL);
  datatier_pool_close(pool);

  char path[512];
  path_in(path, sizeof path, "flush_full_mmap");
  CHECK_STATUS(datatier_mmap_file_create(path, 4096, 1, NULL, &pool), DATATIER_OK);
  datatier_pool_mark_dirty(pool, 4000, 1 << 20); /* past the end: ignored */
  CHECK_STATUS(datatier_pool_flush_full(pool), DATATIER_ERR_WRONG_KIND);
  CHECK(strstr(datatier_last_error_message(), "mmap file") != NULL);
  const datatier_byte_range* ranges = NULL;
  size_t count = 1;
  CHECK_STATUS(datatier_pool_damaged(pool, &ranges, &count), DATATIER_ERR_WRONG_KIND);
  CHECK(ranges == NULL && count == 0);
  CHECK_STATUS(datatier_pool_shutdown(pool), DATATIER_OK);
}

/* A byte of data beyond the first block, damaged: the block index names its
 * block, verify reports it, and salvage opens the rest with it zeroed. */
static void test_salvage(void) {
  current_test = "salvage";
  char path[512];
  path_in(path, sizeof path, "salvage");
  const size_t size = 20 * kBlockSize;
  datatier_options options = indexed_options(DATATIER_CHANGES_COMPARE);
  datatier_pool* pool = NULL;
  CHECK_STATUS(datatier_file_backed_memory_create(path, size, 1, &options, &pool), DATATIER_OK);
  if (pool == NULL) return;
  const datatier_byte_range* ranges = NULL;
  size_t count = 1;
  CHECK_STATUS(datatier_pool_damaged(pool, &ranges, &count), DATATIER_OK);
  CHECK(ranges == NULL && count == 0);
  CHECK(fill_and_shut_down(pool, 6));
  char index[600];
  CHECK(exists(with_suffix(index, sizeof index, path, ".index")));

  /* Data byte 10 * 4096 + 5 lies in block 11 of the hashed stream (header,
   * then data), which holds data bytes [10 * 4096, 11 * 4096). */
  const uint64_t damaged_offset = 10 * kBlockSize;
  CHECK(flip(path, kHeaderSize + 10 * kBlockSize + 5));
  datatier_verify_report report;
  report.size = sizeof report;
  CHECK_STATUS(datatier_verify_file(path, NULL, &report), DATATIER_OK);
  CHECK(report.status == DATATIER_ERR_CHECKSUM_MISMATCH && report.damaged_count == 1);
  CHECK(report.damaged[0].offset == damaged_offset && report.damaged[0].length == kBlockSize);
  CHECK(report.damaged[1].offset == 0 && report.damaged[1].length == 0);

  CHECK_STATUS(datatier_file_backed_memory_open(path, size, 1, &options, &pool),
               DATATIER_ERR_CHECKSUM_MISMATCH);
  CHECK(strstr(datatier_last_error_message(), "40960+4096") != NULL);
  options.salvage = true;
  CHECK_STATUS(datatier_file_backed_memory_open(path, size, 1, &options, &pool), DATATIER_OK);
  if (pool == NULL) return;
  CHECK_STATUS(datatier_pool_damaged(pool, &ranges, &count), DATATIER_OK);
  CHECK(count == 1 && ranges != NULL);
  if (count == 1 && ranges != NULL) {
    CHECK(ranges[0].offset == damaged_offset && ranges[0].length == kBlockSize);
  }
  /* The rest as saved, the damaged block zeroed. */
  unsigned char* expected = malloc(size);
  CHECK(expected != NULL);
  if (expected != NULL) {
    fill(expected, size, 6);
    memset(expected + damaged_offset, 0, kBlockSize);
    CHECK(memcmp(datatier_pool_data(pool), expected, size) == 0);
  }
  CHECK_STATUS(datatier_pool_damaged(NULL, &ranges, &count), DATATIER_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(datatier_pool_damaged(pool, NULL, &count), DATATIER_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(datatier_pool_damaged(pool, &ranges, NULL), DATATIER_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(datatier_pool_shutdown(pool), DATATIER_OK);

  /* Saved again, the file is intact and holds what was salvaged. */
  options.salvage = false;
  CHECK_STATUS(datatier_file_backed_memory_open(path, size, 1, &options, &pool), DATATIER_OK);
  if (pool == NULL) return;
  CHECK_STATUS(datatier_pool_damaged(pool, &ranges, &count), DATATIER_OK);
  CHECK(count == 0);
  CHECK(expected != NULL && memcmp(datatier_pool_data(pool), expected, size) == 0);
  free(expected);
  datatier_pool_close(pool);
}

/* More damaged ranges than the report holds: the first ones and the count of
 * all; a first-version report is not written past its size. */
static void test_verify_many_damaged_ranges(void) {
  current_test = "verify_many_damaged_ranges";
  char path[512];
  path_in(path, sizeof path, "verify_damaged");
  enum { kDamaged = DATATIER_VERIFY_DAMAGED_CAPACITY + 8 };
  const size_t size = (2 * kDamaged + 2) * kBlockSize;
  const datatier_options options = indexed_options(DATATIER_CHANGES_COMPARE);
  datatier_pool* pool = NULL;
  CHECK_STATUS(datatier_file_backed_memory_create(path, size, 1, &options, &pool), DATATIER_OK);
  if (pool == NULL || !fill_and_shut_down(pool, 8)) return;
  /* Every other block, so that no two ranges merge: data blocks 2, 4, ... */
  for (long k = 1; k <= kDamaged; ++k) CHECK(flip(path, kHeaderSize + 2 * k * kBlockSize + 7));

  datatier_verify_report report;
  report.size = sizeof report;
  CHECK_STATUS(datatier_verify_file(path, NULL, &report), DATATIER_OK);
  CHECK(report.status == DATATIER_ERR_CHECKSUM_MISMATCH && report.damaged_count == kDamaged);
  for (size_t i = 0; i < DATATIER_VERIFY_DAMAGED_CAPACITY; ++i) {
    CHECK(report.damaged[i].offset == 2 * (i + 1) * kBlockSize &&
          report.damaged[i].length == kBlockSize);
  }

  memset(&report, 0xab, sizeof report);
  report.size = offsetof(datatier_verify_report, damaged_count);
  CHECK_STATUS(datatier_verify_file(path, NULL, &report), DATATIER_OK);
  CHECK(report.size == offsetof(datatier_verify_report, damaged_count));
  CHECK(report.status == DATATIER_ERR_CHECKSUM_MISMATCH);
  const unsigned char* past = (const unsigned char*)&report.damaged_count;
  size_t untouched = 0;
  while (untouched < sizeof report - report.size && past[untouched] == 0xab) ++untouched;
  CHECK(untouched == sizeof report - report.size);
}

static void remove_dir(void) {
  char command[400];
  snprintf(command, sizeof command, "rm -rf '%s'", dir);
  if (system(command) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

/* A pool handed to a child process, which takes it over, checks it, changes
 * it and saves; the failures leave the pool with its owner. */
static void test_hand_off(void) {
  current_test = "hand_off";
  char path[512];
  char socket_path[512];
  path_in(path, sizeof path, "handoff.pool");
  path_in(socket_path, sizeof socket_path, "handoff.sock");
  const size_t size = 1u << 16;
  datatier_options options;
  datatier_options_init(&options);
  options.changes = DATATIER_CHANGES_MARKED;

  /* Private memory cannot be handed off. */
  char private_path[512];
  path_in(private_path, sizeof private_path, "handoff_private.pool");
  datatier_pool* pool = NULL;
  CHECK(datatier_file_backed_memory_create(private_path, size, 3, &options, &pool) == DATATIER_OK);
  CHECK(datatier_file_backed_memory_hand_off(pool, socket_path, 100) == DATATIER_ERR_OS);
  CHECK(datatier_last_errno() == EOPNOTSUPP);
  datatier_pool_close(pool);

  options.shareable = true;
  options.take_over_timeout_ms = 50;
  pool = NULL;
  CHECK(datatier_file_backed_memory_take_over(socket_path, size, 3, &options, &pool) ==
        DATATIER_ERR_OS);
  CHECK(datatier_last_errno() == ETIMEDOUT && pool == NULL);

  CHECK(datatier_file_backed_memory_create(path, size, 3, &options, &pool) == DATATIER_OK);
  datatier_placement placement;
  placement.size = sizeof placement;
  CHECK(datatier_pool_placement(pool, &placement) == DATATIER_OK && placement.shared);
  fill(datatier_pool_data(pool), size, 31);
  CHECK(datatier_pool_flush(pool) == DATATIER_OK);

  /* A successor that expects another user version: the pool stays. */
  fflush(NULL);
  pid_t child = fork();
  if (child == 0) {
    datatier_options mine = options;
    mine.take_over_timeout_ms = 5000;
    datatier_pool* taken = NULL;
    _exit(datatier_file_backed_memory_take_over(socket_path, size, 4, &mine, &taken) ==
                  DATATIER_ERR_USER_VERSION_MISMATCH
              ? 0
              : 1);
  }
  CHECK(datatier_file_backed_memory_hand_off(pool, socket_path, 5000) == DATATIER_ERR_OS);
  CHECK(datatier_last_errno() == ECONNREFUSED);
  int status = 1;
  CHECK(waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0);
  CHECK(datatier_pool_flush(pool) == DATATIER_OK);

  /* The right successor. */
  child = fork();
  if (child == 0) {
    datatier_options mine = options;
    mine.take_over_timeout_ms = 5000;
    mine.verify_on_take_over = true;
    datatier_pool* taken = NULL;
    if (datatier_file_backed_memory_take_over(socket_path, size, 3, &mine, &taken) != DATATIER_OK) {
      _exit(1);
    }
    if (!matches(datatier_pool_data(taken), size, 31) ||
        strcmp(datatier_pool_path(taken), path) != 0) {
      _exit(2);
    }
    fill(datatier_pool_data(taken), size, 32);
    datatier_pool_mark_dirty(taken, 0, size);
    _exit(datatier_pool_shutdown(taken) == DATATIER_OK ? 0 : 3);
  }
  CHECK(datatier_file_backed_memory_hand_off(pool, socket_path, 5000) == DATATIER_OK);
  status = 1;
  CHECK(waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0);
  CHECK(datatier_file_backed_memory_open(path, size, 3, &options, &pool) == DATATIER_OK);
  CHECK(pool != NULL && matches(datatier_pool_data(pool), size, 32));
  datatier_pool_close(pool);
}

/* The ranges a lazy open's on_damage heard. */
typedef struct heard_damage {
  int count;
  uint64_t offset;
  uint64_t length;
} heard_damage;

static void hear_damage(uint64_t offset, uint64_t length, void* context) {
  heard_damage* heard = context;
  ++heard->count;
  heard->offset = offset;
  heard->length = length;
}

/* A lazy open: progress, the wait, damage salvaged (heard, then listed) or
 * not (the wait fails, every time). */
static void test_lazy_open(void) {
  current_test = "lazy open";
  char path[512];
  path_in(path, sizeof path, "lazy");
  const size_t size = 20 * kBlockSize;
  datatier_options options = indexed_options(DATATIER_CHANGES_COMPARE);
  datatier_pool* pool = NULL;
  CHECK_STATUS(datatier_file_backed_memory_create(path, size, 1, &options, &pool), DATATIER_OK);
  if (pool == NULL) return;
  CHECK(fill_and_shut_down(pool, 8));

  options.lazy = true;
  CHECK_STATUS(datatier_file_backed_memory_open(path, size, 1, &options, &pool), DATATIER_OK);
  if (pool == NULL) return;
  datatier_load_progress progress;
  progress.size = sizeof progress;
  CHECK_STATUS(datatier_pool_wait_loaded(pool), DATATIER_OK);
  CHECK_STATUS(datatier_pool_load_progress(pool, &progress), DATATIER_OK);
  CHECK(progress.lazy && progress.done && progress.loaded_bytes == size &&
        progress.total_bytes == size && progress.damaged_bytes == 0);
  progress.size = 3;
  CHECK_STATUS(datatier_pool_load_progress(pool, &progress), DATATIER_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(datatier_pool_load_progress(pool, NULL), DATATIER_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(datatier_pool_wait_loaded(NULL), DATATIER_ERR_INVALID_ARGUMENT);
  unsigned char* expected = malloc(size);
  CHECK(expected != NULL);
  if (expected != NULL) {
    fill(expected, size, 8);
    CHECK(memcmp(datatier_pool_data(pool), expected, size) == 0);
  }
  CHECK_STATUS(datatier_pool_shutdown(pool), DATATIER_OK);

  /* Damage in block 6 (data bytes [5 * 4096, 6 * 4096)). */
  CHECK(flip(path, kHeaderSize + 5 * kBlockSize + 7));
  CHECK_STATUS(datatier_file_backed_memory_open(path, size, 1, &options, &pool), DATATIER_OK);
  if (pool != NULL) {
    CHECK_STATUS(datatier_pool_wait_loaded(pool), DATATIER_ERR_CHECKSUM_MISMATCH);
    CHECK(strstr(datatier_last_error_message(), "20480+4096") != NULL);
    CHECK_STATUS(datatier_pool_wait_loaded(pool), DATATIER_ERR_CHECKSUM_MISMATCH);
    CHECK_STATUS(datatier_pool_flush(pool), DATATIER_ERR_CHECKSUM_MISMATCH);
    datatier_pool_close(pool);
  }
  heard_damage heard = {0, 0, 0};
  options.salvage = true;
  options.accept_unclean = true;
  options.on_damage = hear_damage;
  options.damage_context = &heard;
  CHECK_STATUS(datatier_file_backed_memory_open(path, size, 1, &options, &pool), DATATIER_OK);
  if (pool != NULL) {
    const datatier_byte_range* ranges = NULL;
    size_t count = 0;
    CHECK_STATUS(datatier_pool_wait_loaded(pool), DATATIER_OK);
    CHECK(heard.count == 1 && heard.offset == 5 * kBlockSize && heard.length == kBlockSize);
    CHECK_STATUS(datatier_pool_damaged(pool, &ranges, &count), DATATIER_OK);
    CHECK(count == 1 && ranges != NULL && ranges[0].offset == 5 * kBlockSize);
    if (expected != NULL) {
      memset(expected + 5 * kBlockSize, 0, kBlockSize);
      CHECK(memcmp(datatier_pool_data(pool), expected, size) == 0);
    }
    CHECK_STATUS(datatier_pool_shutdown(pool), DATATIER_OK);
  }
  free(expected);

  /* Only a file-backed memory pool loads. */
  CHECK_STATUS(datatier_memory_create(4096, &pool), DATATIER_OK);
  if (pool != NULL) {
    CHECK_STATUS(datatier_pool_wait_loaded(pool), DATATIER_ERR_WRONG_KIND);
    progress.size = sizeof progress;
    CHECK_STATUS(datatier_pool_load_progress(pool, &progress), DATATIER_ERR_WRONG_KIND);
    datatier_pool_close(pool);
  }
}

int main(void) {
  const char* tmp = getenv("TMPDIR");
  snprintf(dir, sizeof dir, "%s/datatier_c_api_XXXXXX", tmp != NULL && tmp[0] ? tmp : "/tmp");
  if (mkdtemp(dir) == NULL) {
    perror("mkdtemp");
    return 2;
  }

  test_memory_round_trip();
  for (size_t i = 0; i < sizeof kFileKinds / sizeof kFileKinds[0]; ++i) {
    test_file_round_trip(&kFileKinds[i]);
    test_file_errors(&kFileKinds[i]);
  }
  test_kinds_share_the_format();
  test_other_errors();
  test_strerror();
  test_options_init();
  test_options_size();
  test_memory_placement();
  for (size_t i = 0; i < sizeof kFileKinds / sizeof kFileKinds[0]; ++i) {
    test_open_or_create(i);
    test_user_area_and_header(&kFileKinds[i]);
  }
  test_outcome_of_plain_calls();
  test_memory_has_no_header();
  test_verify();
  test_remove_pool();
  test_restore_previous();
  test_recovery();
  test_marked_saves();
  test_read_only();
  test_cancel();
  test_flush_full_and_marks_on_other_kinds();
  test_salvage();
  test_verify_many_damaged_ranges();
  test_hand_off();
  test_lazy_open();

  remove_dir();
  printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
