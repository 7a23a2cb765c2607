/* Tests of the C API (datatier/datatier_c.h), compiled as C11: round trips on
 * the three pool kinds and every status the API can be made to return. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

/* Creates `path` holding `size` bytes from `seed`, flushed and closed. */
static int make_saved_pool(const file_kind* k, const char* path, size_t size, uint64_t user_version,
                           unsigned seed) {
  datatier_pool* pool = NULL;
  if (k->create(path, size, user_version, NULL, &pool) != DATATIER_OK) return 0;
  fill(datatier_pool_data(pool), size, seed);
  const datatier_status s = datatier_pool_shutdown(pool);
  if (s != DATATIER_OK) datatier_pool_close(pool);
  return s == DATATIER_OK;
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
  for (int i = DATATIER_OK; i <= DATATIER_ERR_FILE_REPLACED; ++i) {
    const char* text = datatier_strerror((datatier_status)i);
    CHECK(text != NULL && text[0] != '\0' && strstr(text, "unknown") == NULL);
    for (int j = DATATIER_OK; j < i; ++j) {
      CHECK(strcmp(text, datatier_strerror((datatier_status)j)) != 0);
    }
  }
  CHECK(strcmp(datatier_strerror((datatier_status)999), "unknown datatier status") == 0);
  CHECK(strcmp(datatier_strerror(DATATIER_ERR_CHECKSUM_MISMATCH), "checksum mismatch") == 0);
  CHECK(datatier_version()[0] != '\0');

  datatier_options options;
  memset(&options, 0xff, sizeof options);
  datatier_options_init(&options);
  CHECK(options.create_mode == 0600 && !options.accept_unclean);
}

static void remove_dir(void) {
  char command[400];
  snprintf(command, sizeof command, "rm -rf '%s'", dir);
  if (system(command) != 0) fprintf(stderr, "could not remove %s\n", dir);
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

  remove_dir();
  printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
