/* datapool_example: a Pelikan-style cache start-up over datapool.h — the
 * pool is fresh on the first start, warm on the next, and fresh again when
 * the configured size changes.
 *
 *   datapool_example POOL_FILE
 *
 * Makes the pool file POOL_FILE (replacing what is there) and removes it at
 * the end. Exits 0 when everything went as expected. */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "datapool.h"
#include "datatier/datatier_c.h"

enum { kSize = 4 << 20 };

/* What the cache keeps in the header beside its data. */
struct cache_root {
  unsigned long long starts;
  unsigned long long items;
};

/* One start of the cache: opens the pool, counts the start, stores one more
 * item, closes. Returns the value of *fresh, or -1 on failure. */
static int start_cache(const char* path, size_t size) {
  int fresh = -1;
  struct datapool* pool = datapool_open(path, size, &fresh, true);
  if (pool == NULL) {
    fprintf(stderr, "datapool_example: open failed: %s\n", datatier_last_error_message());
    return -1;
  }
  struct cache_root root;
  datapool_get_user_data(pool, &root, sizeof root);
  if (fresh) memset(&root, 0, sizeof root);
  ++root.starts;
  char* items = datapool_addr(pool);
  snprintf(items + root.items * 16, 16, "item %llu", root.items);
  ++root.items;
  datapool_set_user_data(pool, &root, sizeof root);
  printf("datapool_example: %s %zu bytes at %s: %s, start %llu, %llu items, last \"%s\"\n",
         path == NULL ? "anonymous" : "file", datapool_size(pool), path == NULL ? "-" : path,
         fresh ? "fresh" : "warm", root.starts, root.items, items + (root.items - 1) * 16);
  datapool_close(pool);
  return fresh;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: datapool_example POOL_FILE\n");
    return 2;
  }
  const char* path = argv[1];
  unlink(path); /* a first start: no pool file yet */

  int ok = start_cache(NULL, kSize) == 1;   /* anonymous: always fresh */
  ok = start_cache(path, kSize) == 1 && ok; /* first start: no file yet */
  ok = start_cache(path, kSize) == 0 && ok; /* restart: the saved pool */
  ok = start_cache(path, kSize) == 0 && ok;
  ok = start_cache(path, 2 * kSize) == 1 && ok; /* resized: started afresh */

  unlink(path);
  printf("datapool_example: %s\n", ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}
