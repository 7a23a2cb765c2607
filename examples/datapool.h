/* datapool: a Pelikan-style data pool over datatier's C API.
 *
 * The same four calls as the datapool interface of the Pelikan cache
 * (src/datapool/datapool.h), so that a C server written against it can keep
 * its cache in a datatier pool: anonymous memory when no path is given, else
 * a pool file mapped shared, checked on open and saved on close.
 */
#ifndef DATAPOOL_H_
#define DATAPOOL_H_

#include <stdbool.h>
#include <stddef.h>

struct datapool;

/* Opens the pool file `path` holding `size` bytes, or creates it when there
 * is none, or when the one there fails a check (another size, another
 * layout version, corruption, an owner that ended without
 * datapool_close()); then the bytes are zero. With path NULL, the pool is
 * `size` bytes of anonymous memory, zeroed. On success stores in *fresh
 * (when not NULL) 1 if the bytes are new and zero, 0 if they are those the
 * last datapool_close() saved. `prefault` is accepted for compatibility:
 * datatier always faults the pages in before it returns. Returns NULL on
 * failure; datatier_last_error_message() then says why. */
struct datapool* datapool_open(const char* path, size_t size, int* fresh, bool prefault);

/* Saves a file pool and marks it cleanly closed (the next open finds these
 * bytes), then releases the pool. A pool that could not be saved is
 * released all the same, and its next open starts fresh. NULL does
 * nothing. */
void datapool_close(struct datapool* pool);

/* The pool's bytes, datapool_size(pool) of them, until datapool_close(). */
void* datapool_addr(struct datapool* pool);

/* The size the pool was opened with. */
size_t datapool_size(struct datapool* pool);

/* Copy `user_size` bytes of the application's own data to or from the
 * pool's header (at most 2048 bytes, saved with the pool); nothing for an
 * anonymous pool, which has no header (get then gives zeros). */
void datapool_set_user_data(struct datapool* pool, const void* user_data, size_t user_size);
void datapool_get_user_data(struct datapool* pool, void* user_data, size_t user_size);

#endif /* DATAPOOL_H_ */
