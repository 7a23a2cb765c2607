/* c_example: the C API in one page — create a file pool, save it, open it
 * again, and see what an error looks like.
 *
 *   c_example [DIRECTORY]
 *
 * Works in DIRECTORY (default: a new directory under $TMPDIR or /tmp) and
 * removes what it made. Exits 0 when everything went as expected. */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "datatier/datatier_c.h"

enum { kDataSize = 1 << 20, kUserVersion = 1 };

/* What the program keeps at the start of its pool. Plain data, no pointers. */
struct counters {
  char label[32];
  unsigned long long starts;
};

static int report(const char* what, datatier_status status) {
  fprintf(stderr, "c_example: %s failed: %s (%s)\n", what, datatier_strerror(status),
          datatier_last_error_message());
  return 1;
}

int main(int argc, char** argv) {
  char dir[256];
  int made_dir = 0;
  if (argc > 1) {
    snprintf(dir, sizeof dir, "%s", argv[1]);
  } else {
    const char* tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/datatier_c_example_XXXXXX", tmp != NULL && tmp[0] ? tmp : "/tmp");
    if (mkdtemp(dir) == NULL) {
      perror("c_example: mkdtemp");
      return 1;
    }
    made_dir = 1;
  }
  char path[300];
  snprintf(path, sizeof path, "%s/counters.pool", dir);
  printf("c_example: datatier %s, pool file %s\n", datatier_version(), path);

  /* 1. Create a pool file, write to it, save it. */
  datatier_pool* pool = NULL;
  datatier_status status = datatier_mmap_file_create(path, kDataSize, kUserVersion, NULL, &pool);
  if (status != DATATIER_OK) return report("create", status);
  struct counters c = {"example counters", 1};
  memcpy(datatier_pool_data(pool), &c, sizeof c);
  /* The clean shutdown: save, mark the file cleanly saved, release. */
  status = datatier_pool_shutdown(pool);
  if (status != DATATIER_OK) {
    datatier_pool_close(pool);
    return report("shutdown", status);
  }
  printf("c_example: created and saved %zu bytes\n", (size_t)kDataSize);

  /* 2. Open it again, as a restarted process would, and update it. */
  status = datatier_mmap_file_open(path, kDataSize, kUserVersion, NULL, &pool);
  if (status != DATATIER_OK) return report("open", status);
  memcpy(&c, datatier_pool_data(pool), sizeof c);
  printf("c_example: reopened: label \"%s\", starts %llu\n", c.label, c.starts);
  ++c.starts;
  memcpy(datatier_pool_data(pool), &c, sizeof c);
  status = datatier_pool_flush(pool);
  if (status != DATATIER_OK) return report("flush", status);

  /* 3. Errors are values: a second open while the pool is held... */
  datatier_pool* second = NULL;
  status = datatier_mmap_file_open(path, kDataSize, kUserVersion, NULL, &second);
  printf("c_example: second open while held -> %s\n", datatier_strerror(status));
  int ok = status == DATATIER_ERR_POOL_IN_USE;
  status = datatier_pool_shutdown(pool);
  if (status != DATATIER_OK) {
    datatier_pool_close(pool);
    return report("shutdown", status);
  }

  /* ...and an open expecting another layout version. */
  status = datatier_mmap_file_open(path, kDataSize, kUserVersion + 1, NULL, &second);
  printf("c_example: open with user version %d -> %s\n  %s\n", kUserVersion + 1,
         datatier_strerror(status), datatier_last_error_message());
  ok = ok && status == DATATIER_ERR_USER_VERSION_MISMATCH;

  /* A volatile pool has the same interface. */
  status = datatier_memory_create(4096, &pool);
  if (status != DATATIER_OK) return report("memory_create", status);
  printf("c_example: memory pool of %zu bytes\n", datatier_pool_size(pool));
  datatier_pool_close(pool);

  unlink(path);
  if (made_dir) rmdir(dir);
  printf("c_example: %s\n", ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}
