// The C API (datatier/datatier_c.h): the C++ pools behind an opaque handle,
// with every exception turned into a datatier_status at the boundary.
#include "datatier/datatier_c.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <memory>
#include <new>
#include <string>
#include <system_error>

#include "datatier/datapool.h"
#include "datatier/error.h"
#include "datatier/file_backed_memory.h"
#include "datatier/file_options.h"
#include "datatier/memory.h"
#include "datatier/mmap_file.h"

#ifndef DATATIER_VERSION_STRING
#define DATATIER_VERSION_STRING "unknown"
#endif

struct datatier_pool {
  datatier_kind kind;
  std::unique_ptr<datatier::Datapool> pool;
  std::string path;  // "" for memory
};

namespace {

// The last failure on this thread. A fixed buffer, so that recording a
// failure never allocates (it may be recording std::bad_alloc).
constexpr std::size_t kMessageCapacity = 1024;
thread_local char last_message[kMessageCapacity] = "";
thread_local int last_errno = 0;

void set_message(const char* text) noexcept {
  std::size_t n = std::strlen(text);
  if (n >= kMessageCapacity) n = kMessageCapacity - 1;
  std::memcpy(last_message, text, n);
  last_message[n] = '\0';
}

datatier_status fail(datatier_status status, const char* text, int error_number) noexcept {
  set_message(text);
  last_errno = error_number;
  return status;
}

datatier_status from_errc(datatier::errc e) noexcept {
  switch (e) {
    case datatier::errc::size_mismatch:
      return DATATIER_ERR_SIZE_MISMATCH;
    case datatier::errc::bad_magic:
      return DATATIER_ERR_BAD_MAGIC;
    case datatier::errc::incompatible_version:
      return DATATIER_ERR_INCOMPATIBLE_VERSION;
    case datatier::errc::user_version_mismatch:
      return DATATIER_ERR_USER_VERSION_MISMATCH;
    case datatier::errc::checksum_mismatch:
      return DATATIER_ERR_CHECKSUM_MISMATCH;
    case datatier::errc::unclean_shutdown:
      return DATATIER_ERR_UNCLEAN_SHUTDOWN;
    case datatier::errc::pool_in_use:
      return DATATIER_ERR_POOL_IN_USE;
    case datatier::errc::file_replaced:
      return DATATIER_ERR_FILE_REPLACED;
  }
  return DATATIER_ERR_INTERNAL;
}

datatier_status from_errno(int e) noexcept {
  switch (e) {
    case ENOENT:
      return DATATIER_ERR_NOT_FOUND;
    case EEXIST:
      return DATATIER_ERR_EXISTS;
    case EINVAL:
      return DATATIER_ERR_INVALID_ARGUMENT;
    case ENOMEM:
      return DATATIER_ERR_OUT_OF_MEMORY;
    default:
      return DATATIER_ERR_OS;
  }
}

// Maps the exception being handled to a status and records its message.
// Call only from inside a catch block.
datatier_status fail_from_current_exception() noexcept {
  try {
    throw;
  } catch (const std::system_error& e) {
    const std::error_code& code = e.code();
    if (code.category() == datatier::error_category()) {
      return fail(from_errc(static_cast<datatier::errc>(code.value())), e.what(), 0);
    }
    if (code.category() == std::system_category() || code.category() == std::generic_category()) {
      return fail(from_errno(code.value()), e.what(), code.value());
    }
    return fail(DATATIER_ERR_INTERNAL, e.what(), 0);
  } catch (const std::bad_alloc&) {
    return fail(DATATIER_ERR_OUT_OF_MEMORY, "out of memory", ENOMEM);
  } catch (const std::exception& e) {
    return fail(DATATIER_ERR_INTERNAL, e.what(), 0);
  } catch (...) {
    return fail(DATATIER_ERR_INTERNAL, "unknown exception", 0);
  }
}

datatier::FileOptions to_file_options(const datatier_options* options) {
  datatier::FileOptions result;
  if (options != nullptr) {
    result.create_mode =
        static_cast<std::filesystem::perms>(options->create_mode) & std::filesystem::perms::mask;
    result.accept_unclean = options->accept_unclean;
  }
  return result;
}

// Hands the caller, through *out, a new handle of `kind` for the pool that
// `make()` returns; `path` is the pool file's, or nullptr for memory.
template <typename Make>
datatier_status new_handle(datatier_kind kind, const char* path, datatier_pool** out,
                           Make make) noexcept {
  *out = nullptr;
  try {
    auto handle = std::make_unique<datatier_pool>();
    handle->kind = kind;
    if (path != nullptr) handle->path = path;
    handle->pool = make();
    *out = handle.release();
    return DATATIER_OK;
  } catch (...) {
    return fail_from_current_exception();
  }
}

// The signature of MmapFile's and FileBackedMemory's create() and open().
template <typename Pool>
using FilePoolFactory = Pool (*)(const std::filesystem::path&, std::size_t, std::uint64_t,
                                 const datatier::FileOptions&);

// The body of the C entry point `function`, which makes a file pool of `kind`
// with `make` (Pool::create or Pool::open).
template <typename Pool>
datatier_status make_file_pool(datatier_kind kind, const char* function, FilePoolFactory<Pool> make,
                               const char* path, std::size_t data_size, std::uint64_t user_version,
                               const datatier_options* options, datatier_pool** out) noexcept {
  if (out == nullptr || path == nullptr) {
    std::snprintf(last_message, kMessageCapacity, "%s: %s is NULL", function,
                  out == nullptr ? "out" : "path");
    last_errno = 0;
    return DATATIER_ERR_INVALID_ARGUMENT;
  }
  return new_handle(kind, path, out, [&] {
    return std::make_unique<Pool>(make(path, data_size, user_version, to_file_options(options)));
  });
}

}  // namespace

extern "C" {

void datatier_options_init(datatier_options* options) {
  if (options == nullptr) return;
  options->create_mode = 0600;
  options->accept_unclean = false;
}

datatier_status datatier_memory_create(size_t size, datatier_pool** out) {
  if (out == nullptr) {
    return fail(DATATIER_ERR_INVALID_ARGUMENT, "datatier_memory_create: out is NULL", 0);
  }
  return new_handle(DATATIER_KIND_MEMORY, nullptr, out, [&] {
    return std::make_unique<datatier::Memory>(datatier::Memory::create(size));
  });
}

datatier_status datatier_mmap_file_create(const char* path, size_t data_size, uint64_t user_version,
                                          const datatier_options* options, datatier_pool** out) {
  return make_file_pool(DATATIER_KIND_MMAP_FILE, __func__, &datatier::MmapFile::create, path,
                        data_size, user_version, options, out);
}

datatier_status datatier_mmap_file_open(const char* path, size_t data_size, uint64_t user_version,
                                        const datatier_options* options, datatier_pool** out) {
  return make_file_pool(DATATIER_KIND_MMAP_FILE, __func__, &datatier::MmapFile::open, path,
                        data_size, user_version, options, out);
}

datatier_status datatier_file_backed_memory_create(const char* path, size_t data_size,
                                                   uint64_t user_version,
                                                   const datatier_options* options,
                                                   datatier_pool** out) {
  return make_file_pool(DATATIER_KIND_FILE_BACKED_MEMORY, __func__,
                        &datatier::FileBackedMemory::create, path, data_size, user_version, options,
                        out);
}

datatier_status datatier_file_backed_memory_open(const char* path, size_t data_size,
                                                 uint64_t user_version,
                                                 const datatier_options* options,
                                                 datatier_pool** out) {
  return make_file_pool(DATATIER_KIND_FILE_BACKED_MEMORY, __func__,
                        &datatier::FileBackedMemory::open, path, data_size, user_version, options,
                        out);
}

void* datatier_pool_data(datatier_pool* pool) {
  if (pool == nullptr) return nullptr;
  return pool->pool->data().data();
}

size_t datatier_pool_size(const datatier_pool* pool) {
  if (pool == nullptr) return 0;
  return pool->pool->size();
}

datatier_kind datatier_pool_kind(const datatier_pool* pool) {
  return pool->kind;
}

const char* datatier_pool_path(const datatier_pool* pool) {
  return pool->path.c_str();
}

datatier_status datatier_pool_flush(datatier_pool* pool) {
  if (pool == nullptr) {
    return fail(DATATIER_ERR_INVALID_ARGUMENT, "datatier_pool_flush: pool is NULL", 0);
  }
  try {
    pool->pool->flush();
    return DATATIER_OK;
  } catch (...) {
    return fail_from_current_exception();
  }
}

datatier_status datatier_pool_shutdown(datatier_pool* pool) {
  if (pool == nullptr) {
    return fail(DATATIER_ERR_INVALID_ARGUMENT, "datatier_pool_shutdown: pool is NULL", 0);
  }
  try {
    pool->pool->close();
  } catch (...) {
    return fail_from_current_exception();
  }
  delete pool;
  return DATATIER_OK;
}

void datatier_pool_close(datatier_pool* pool) {
  // The pools' destructors are noexcept and never throw.
  delete pool;
}

const char* datatier_strerror(datatier_status status) {
  switch (status) {
    case DATATIER_OK:
      return "success";
    case DATATIER_ERR_NOT_FOUND:
      return "no such file or directory";
    case DATATIER_ERR_EXISTS:
      return "file exists";
    case DATATIER_ERR_SIZE_MISMATCH:
      return "pool size mismatch";
    case DATATIER_ERR_BAD_MAGIC:
      return "not a pool file (bad magic)";
    case DATATIER_ERR_INCOMPATIBLE_VERSION:
      return "incompatible pool format version";
    case DATATIER_ERR_USER_VERSION_MISMATCH:
      return "user version mismatch";
    case DATATIER_ERR_CHECKSUM_MISMATCH:
      return "checksum mismatch";
    case DATATIER_ERR_UNCLEAN_SHUTDOWN:
      return "pool was not cleanly saved";
    case DATATIER_ERR_POOL_IN_USE:
      return "pool is in use";
    case DATATIER_ERR_INVALID_ARGUMENT:
      return "invalid argument";
    case DATATIER_ERR_OUT_OF_MEMORY:
      return "out of memory";
    case DATATIER_ERR_OS:
      return "operating system error";
    case DATATIER_ERR_INTERNAL:
      return "internal error";
    case DATATIER_ERR_FILE_REPLACED:
      return "pool file replaced by another program";
  }
  return "unknown datatier status";
}

const char* datatier_last_error_message(void) {
  return last_message;
}

int datatier_last_errno(void) {
  return last_errno;
}

const char* datatier_version(void) {
  return DATATIER_VERSION_STRING;
}

}  // extern "C"
