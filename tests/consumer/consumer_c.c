/* An outside C program using an installed datatier through its C API.
 * Exits 0 and prints "ok" when all went well. */
#define _POSIX_C_SOURCE 200809L
#include <datatier/datatier_c.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(void) {
  char dir[] = "/tmp/datatier_consumer_c_XXXXXX";
  if (mkdtemp(dir) == NULL) return 1;
  char path[64];
  snprintf(path, sizeof path, "%s/fbm.pool", dir);
  int failures = 0;

  datatier_pool* pool = NULL;
  if (datatier_file_backed_memory_create(path, 4096, 1, NULL, &pool) != DATATIER_OK) {
    fprintf(stderr, "consumer: %s\n", datatier_last_error_message());
    return 1;
  }
  strcpy(datatier_pool_data(pool), "hello from C");
  if (datatier_pool_flush(pool) != DATATIER_OK) ++failures;
  datatier_pool_close(pool);

  pool = NULL;
  if (datatier_mmap_file_open(path, 4096, 1, NULL, &pool) != DATATIER_OK ||
      strcmp(datatier_pool_data(pool), "hello from C") != 0) {
    ++failures;
  }
  datatier_pool_close(pool);
  if (datatier_mmap_file_open(path, 8192, 1, NULL, &pool) != DATATIER_ERR_SIZE_MISMATCH) ++failures;

  char prev[80];
  snprintf(prev, sizeof prev, "%s.prev", path);
  unlink(path);
  unlink(prev);
  rmdir(dir);
  printf("consumer (C, datatier %s): %s\n", datatier_version(), failures == 0 ? "ok" : "FAILED");
  return failures == 0 ? 0 : 1;
}
