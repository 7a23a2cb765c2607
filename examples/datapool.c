/* datapool.h over datatier's C API. */
#include "datapool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datatier/datatier_c.h"

/* The layout version of what the application keeps in its pools: a pool
 * saved under another one is started afresh. */
enum { kDatapoolUserVersion = 1 };

struct datapool {
  datatier_pool* pool;
};

struct datapool* datapool_open(const char* path, size_t size, int* fresh, bool prefault) {
  (void)prefault; /* datatier pre-faults every pool */
  struct datapool* pool = malloc(sizeof *pool);
  if (pool == NULL) return NULL;
  datatier_status status;
  if (path == NULL) {
    status = datatier_memory_create(size, &pool->pool);
    if (status == DATATIER_OK && fresh != NULL) *fresh = 1;
  } else {
    status = datatier_mmap_file_open_or_create(path, size, kDatapoolUserVersion, NULL, &pool->pool,
                                               fresh);
  }
  if (status != DATATIER_OK) {
    free(pool);
    return NULL;
  }
  return pool;
}

void datapool_close(struct datapool* pool) {
  if (pool == NULL) return;
  if (datatier_pool_shutdown(pool->pool) != DATATIER_OK) {
    fprintf(stderr, "datapool: %s\n", datatier_last_error_message());
    datatier_pool_close(pool->pool);
  }
  free(pool);
}

void* datapool_addr(struct datapool* pool) {
  return datatier_pool_data(pool->pool);
}

size_t datapool_size(struct datapool* pool) {
  return datatier_pool_size(pool->pool);
}

/* The part of the user area that `user_size` bytes may use. */
static size_t user_bytes(struct datapool* pool, unsigned char** area, size_t user_size) {
  size_t capacity = 0;
  *area = datatier_pool_user_area(pool->pool, &capacity);
  return user_size < capacity ? user_size : capacity;
}

void datapool_set_user_data(struct datapool* pool, const void* user_data, size_t user_size) {
  unsigned char* area;
  const size_t n = user_bytes(pool, &area, user_size);
  if (n > 0) memcpy(area, user_data, n);
}

void datapool_get_user_data(struct datapool* pool, void* user_data, size_t user_size) {
  unsigned char* area;
  const size_t n = user_bytes(pool, &area, user_size);
  if (n > 0) memcpy(user_data, area, n);
  memset((unsigned char*)user_data + n, 0, user_size - n);
}
