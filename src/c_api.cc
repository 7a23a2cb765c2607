// The C API (datatier/datatier_c.h): the C++ pools behind an opaque handle,
// with every exception turned into a datatier_status at the boundary.
#include "datatier/datatier_c.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <iterator>
#include <memory>
#include <new>
#include <string>
#include <system_error>
#include <vector>

#include "datatier/block_index.h"
#include "datatier/datapool.h"
#include "datatier/error.h"
#include "datatier/file_backed_memory.h"
#include "datatier/file_options.h"
#include "datatier/memory.h"
#include "datatier/memory_options.h"
#include "datatier/mmap_file.h"
#include "datatier/opened.h"
#include "datatier/remove.h"
#include "datatier/verify.h"

#ifndef DATATIER_VERSION_STRING
#define DATATIER_VERSION_STRING "unknown"
#endif

struct datatier_pool {
  datatier_kind kind;
  std::unique_ptr<datatier::Datapool> pool;
  std::string path;  // "" for memory
  datatier_open_outcome outcome = DATATIER_OUTCOME_CREATED;
  datatier_status reason = DATATIER_OK;  // why the file was recreated
  // A FileBackedMemory's damaged(), as C ranges: fixed once it is opened,
  // or, after a lazy open, once its load has ended.
  std::vector<datatier_byte_range> damaged;

  // Lists the damaged ranges of the FileBackedMemory `fbm` it holds.
  void list_damaged(const datatier::FileBackedMemory& fbm) {
    for (const datatier::ByteRange& range : fbm.damaged()) {
      damaged.push_back({range.offset, range.length});
    }
  }
};

// The C enums carry the values of the C++ ones, so that a cast converts.
static_assert(static_cast<int>(datatier::PageSize::transparent) == DATATIER_PAGE_SIZE_TRANSPARENT);
static_assert(static_cast<int>(datatier::PageSize::small) == DATATIER_PAGE_SIZE_SMALL);
static_assert(static_cast<int>(datatier::PageSize::huge_2mib) == DATATIER_PAGE_SIZE_HUGE_2MIB);
static_assert(static_cast<int>(datatier::PageSize::huge_1gib) == DATATIER_PAGE_SIZE_HUGE_1GIB);
static_assert(static_cast<int>(datatier::NumaPolicy::local) == DATATIER_NUMA_LOCAL);
static_assert(static_cast<int>(datatier::NumaPolicy::bind) == DATATIER_NUMA_BIND);
static_assert(static_cast<int>(datatier::NumaPolicy::interleave) == DATATIER_NUMA_INTERLEAVE);
static_assert(static_cast<int>(datatier::FallbackKind::buffered_io) ==
              DATATIER_FALLBACK_BUFFERED_IO);
static_assert(static_cast<int>(datatier::FallbackKind::no_rename_exchange) ==
              DATATIER_FALLBACK_NO_RENAME_EXCHANGE);
static_assert(static_cast<int>(datatier::FallbackKind::smaller_pages) ==
              DATATIER_FALLBACK_SMALLER_PAGES);
static_assert(static_cast<int>(datatier::FallbackKind::fewer_threads) ==
              DATATIER_FALLBACK_FEWER_THREADS);
static_assert(static_cast<int>(datatier::FallbackKind::eager_load) ==
              DATATIER_FALLBACK_EAGER_LOAD);
static_assert(static_cast<int>(datatier::Changes::compare) == DATATIER_CHANGES_COMPARE);
static_assert(static_cast<int>(datatier::Changes::marked) == DATATIER_CHANGES_MARKED);
static_assert(static_cast<int>(datatier::Outcome::opened) == DATATIER_OUTCOME_OPENED);
static_assert(static_cast<int>(datatier::Outcome::created) == DATATIER_OUTCOME_CREATED);
static_assert(static_cast<int>(datatier::Outcome::recreated) == DATATIER_OUTCOME_RECREATED);
static_assert(DATATIER_USER_AREA_SIZE == datatier::kUserAreaSize);
static_assert(DATATIER_OPTION_IN_USE == datatier::kOptionInUse);

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

// Records that `function` was called with `argument` NULL.
datatier_status fail_null(const char* function, const char* argument) noexcept {
  std::snprintf(last_message, kMessageCapacity, "%s: %s is NULL", function, argument);
  last_errno = 0;
  return DATATIER_ERR_INVALID_ARGUMENT;
}

// Records that `function` does not apply to `pool`'s kind.
datatier_status fail_kind(const char* function, const datatier_pool& pool) noexcept {
  static constexpr const char* kKindNames[] = {"a memory pool", "an mmap file pool",
                                               "a file-backed memory pool"};
  std::snprintf(last_message, kMessageCapacity, "%s: not for %s", function, kKindNames[pool.kind]);
  last_errno = 0;
  return DATATIER_ERR_WRONG_KIND;
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
    case ECANCELED:
      return DATATIER_ERR_CANCELED;
    default:
      return DATATIER_ERR_OS;
  }
}

bool is_errno(const std::error_code& code) noexcept {
  return code.category() == std::system_category() || code.category() == std::generic_category();
}

// The status of an error code the library threw or reported.
datatier_status status_of(const std::error_code& code) noexcept {
  if (code.category() == datatier::error_category()) {
    return from_errc(static_cast<datatier::errc>(code.value()));
  }
  if (is_errno(code)) return from_errno(code.value());
  return DATATIER_ERR_INTERNAL;
}

// Maps the exception being handled to a status and records its message.
// Call only from inside a catch block.
datatier_status fail_from_current_exception() noexcept {
  try {
    throw;
  } catch (const std::system_error& e) {
    return fail(status_of(e.code()), e.what(), is_errno(e.code()) ? e.code().value() : 0);
  } catch (const std::bad_alloc&) {
    return fail(DATATIER_ERR_OUT_OF_MEMORY, "out of memory", ENOMEM);
  } catch (const std::exception& e) {
    return fail(DATATIER_ERR_INTERNAL, e.what(), 0);
  } catch (...) {
    return fail(DATATIER_ERR_INTERNAL, "unknown exception", 0);
  }
}

// Runs `call`, which may throw; returns DATATIER_OK or the status of what it
// threw, with its message recorded.
template <typename Call>
datatier_status guarded(Call call) noexcept {
  try {
    call();
    return DATATIER_OK;
  } catch (...) {
    return fail_from_current_exception();
  }
}

// Whether the caller's struct `s`, whose first version ends at `minimum`,
// says it is at least that long; records the failure if not. `name` is the
// argument's name in `function`.
template <typename Struct>
bool size_ok(const char* function, const char* name, const Struct& s,
             std::size_t minimum) noexcept {
  if (s.size >= minimum) return true;
  std::snprintf(last_message, kMessageCapacity,
                "%s: %s->size is %zu, less than the %zu bytes of the struct's first version "
                "(set it with the struct's _init function or to sizeof the struct)",
                function, name, s.size, minimum);
  last_errno = 0;
  return false;
}

// The end of the first version of each output struct that carries its size.
constexpr std::size_t kPlacementMinSize =
    offsetof(datatier_placement, threads) + sizeof(datatier_placement::threads);
constexpr std::size_t kLoadProgressMinSize = sizeof(datatier_load_progress);
constexpr std::size_t kRecoveryMinSize =
    offsetof(datatier_recovery, set_aside) + sizeof(datatier_recovery::set_aside);
constexpr std::size_t kVerifyReportMinSize = offsetof(datatier_verify_report, computed_checksum) +
                                             sizeof(datatier_verify_report::computed_checksum);

// The caller's `in` as this library's struct: the bytes within in.size
// copied over `defaults`, which keeps the fields beyond. Each version's
// fields start at or beyond the previous version's end (see
// datatier_options), so the copied prefix holds whole fields only.
template <typename Struct>
Struct read_sized(const Struct& in, Struct defaults) noexcept {
  std::memcpy(&defaults, &in, std::min(in.size, sizeof(Struct)));
  defaults.size = sizeof(Struct);
  return defaults;
}

// Writes the fields of `full` that lie within out.size into `out`;
// out.size stays as the caller set it.
template <typename Struct>
void write_sized(Struct full, Struct& out) noexcept {
  full.size = out.size;
  std::memcpy(&out, &full, std::min(out.size, sizeof(Struct)));
}

// Whether the enum field options->`field` (of C type `type`), whose values
// run from 0 to `last`, holds one of them; records the failure if not. The
// field is read as the int a C caller may have stored there, since loading
// a value outside the enumerators as the enum is undefined in C++.
template <typename Enum>
bool enum_ok(const char* function, const char* field, const char* type, const Enum& value,
             Enum last) noexcept {
  static_assert(sizeof(Enum) == sizeof(int));
  int number = 0;
  std::memcpy(&number, &value, sizeof number);
  if (number >= 0 && number <= static_cast<int>(last)) return true;
  std::snprintf(last_message, kMessageCapacity, "%s: options->%s is %d, not a %s", function, field,
                number, type);
  last_errno = 0;
  return false;
}

// Reads the caller's options (NULL: the defaults) into `resolved`; records
// the failure and returns false when their size or an enum is out of range.
bool resolve_options(const char* function, const datatier_options* options,
                     datatier_options& resolved) noexcept {
  datatier_options_init(&resolved);
  if (options == nullptr) return true;
  if (!size_ok(function, "options", *options, DATATIER_OPTIONS_MIN_SIZE)) return false;
  resolved = read_sized(*options, resolved);
  return enum_ok(function, "page_size", "datatier_page_size", resolved.page_size,
                 DATATIER_PAGE_SIZE_HUGE_1GIB) &&
         enum_ok(function, "numa", "datatier_numa_policy", resolved.numa,
                 DATATIER_NUMA_INTERLEAVE) &&
         enum_ok(function, "changes", "datatier_changes", resolved.changes,
                 DATATIER_CHANGES_MARKED);
}

// A C fallback callback as a datatier::FallbackHandler; empty for NULL.
datatier::FallbackHandler to_fallback_handler(const datatier_options& options) {
  if (options.on_fallback == nullptr) return {};
  return [call = options.on_fallback,
          context = options.fallback_context](const datatier::Fallback& fallback) {
    call(static_cast<datatier_fallback_kind>(fallback.kind), fallback.message.c_str(), context);
  };
}

datatier::MemoryOptions to_memory_options(const datatier_options& options) {
  datatier::MemoryOptions result;
  result.page_size = static_cast<datatier::PageSize>(options.page_size);
  result.fallback = options.page_size_fallback;
  result.numa = static_cast<datatier::NumaPolicy>(options.numa);
  result.numa_node = options.numa_node;
  result.lock = options.lock_memory;
  result.shareable = options.shareable;
  result.threads = options.memory_threads != 0 ? options.memory_threads : options.threads;
  result.on_fallback = to_fallback_handler(options);
  return result;
}

// A C progress callback as a datatier::Progress; empty for NULL.
datatier::Progress to_progress(datatier_progress_fn progress, void* context) {
  if (progress == nullptr) return {};
  return [progress, context](std::uint64_t done, std::uint64_t total) {
    return progress(done, total, context);
  };
}

datatier::FileOptions to_file_options(const datatier_options& options) {
  datatier::FileOptions result;
  result.create_mode =
      static_cast<std::filesystem::perms>(options.create_mode) & std::filesystem::perms::mask;
  result.accept_unclean = options.accept_unclean;
  result.threads = options.threads;
  result.direct_io = options.direct_io;
  result.fallback_to_previous = options.fallback_to_previous;
  result.changes = static_cast<datatier::Changes>(options.changes);
  result.block_size = options.block_size;
  result.salvage = options.salvage;
  result.read_only = options.read_only;
  result.progress = to_progress(options.progress, options.progress_context);
  result.on_fallback = to_fallback_handler(options);
  result.memory = to_memory_options(options);
  result.verify_on_take_over = options.verify_on_take_over;
  result.take_over_timeout = std::chrono::milliseconds(options.take_over_timeout_ms);
  result.lazy = options.lazy;
  if (options.on_damage != nullptr) {
    result.on_damage = [call = options.on_damage,
                        context = options.damage_context](const datatier::ByteRange& range) {
      call(range.offset, range.length, context);
    };
  }
  return result;
}

// Hands the caller, through *out, a new handle of `kind` whose pool `fill`
// makes; `path` is the pool file's, or nullptr for memory.
template <typename Fill>
datatier_status new_handle(datatier_kind kind, const char* path, datatier_pool** out,
                           Fill fill) noexcept {
  *out = nullptr;
  return guarded([&] {
    auto handle = std::make_unique<datatier_pool>();
    handle->kind = kind;
    if (path != nullptr) handle->path = path;
    fill(*handle);
    if (const auto* fbm = dynamic_cast<const datatier::FileBackedMemory*>(handle->pool.get())) {
      handle->list_damaged(*fbm);
    }
    *out = handle.release();
  });
}

// Checks the arguments every file pool call takes and resolves its options;
// records the failure and returns false if one is wrong.
bool file_arguments_ok(const char* function, const char* path, const datatier_options* options,
                       datatier_pool** out, datatier::FileOptions& file_options) noexcept {
  if (out == nullptr) {
    fail_null(function, "out");
    return false;
  }
  *out = nullptr;
  if (path == nullptr) {
    fail_null(function, "path");
    return false;
  }
  datatier_options resolved;
  if (!resolve_options(function, options, resolved)) return false;
  file_options = to_file_options(resolved);
  return true;
}

// The signature of MmapFile's and FileBackedMemory's create() and open().
template <typename Pool>
using FilePoolFactory = Pool (*)(const std::filesystem::path&, std::size_t, std::uint64_t,
                                 const datatier::FileOptions&);

// The body of the C entry point `function`, which makes a file pool of `kind`
// with `make` (Pool::create or Pool::open, whose outcome is `outcome`).
template <typename Pool>
datatier_status make_file_pool(datatier_kind kind, const char* function, FilePoolFactory<Pool> make,
                               datatier_open_outcome outcome, const char* path,
                               std::size_t data_size, std::uint64_t user_version,
                               const datatier_options* options, datatier_pool** out) noexcept {
  datatier::FileOptions file_options;
  if (!file_arguments_ok(function, path, options, out, file_options)) {
    return DATATIER_ERR_INVALID_ARGUMENT;
  }
  return new_handle(kind, path, out, [&](datatier_pool& handle) {
    handle.pool = std::make_unique<Pool>(make(path, data_size, user_version, file_options));
    handle.outcome = outcome;
  });
}

// The body of the C entry point `function`: Pool::open_or_create.
template <typename Pool>
datatier_status open_or_create_file_pool(datatier_kind kind, const char* function, const char* path,
                                         std::size_t data_size, std::uint64_t user_version,
                                         const datatier_options* options, datatier_pool** out,
                                         int* fresh) noexcept {
  datatier::FileOptions file_options;
  if (!file_arguments_ok(function, path, options, out, file_options)) {
    return DATATIER_ERR_INVALID_ARGUMENT;
  }
  const datatier_status status = new_handle(kind, path, out, [&](datatier_pool& handle) {
    datatier::Opened<Pool> opened =
        Pool::open_or_create(path, data_size, user_version, file_options);
    handle.pool = std::make_unique<Pool>(std::move(opened.pool));
    handle.outcome = static_cast<datatier_open_outcome>(opened.outcome);
    handle.reason = opened.reason ? status_of(opened.reason) : DATATIER_OK;
  });
  if (status == DATATIER_OK && fresh != nullptr) {
    *fresh = (*out)->outcome == DATATIER_OUTCOME_OPENED ? 0 : 1;
  }
  return status;
}

// Calls `call` with `pool`'s MmapFile or FileBackedMemory and returns true,
// or returns false for a memory pool.
template <typename Call>
bool with_file_pool(const datatier_pool& pool, Call call) {
  if (auto* mmap = dynamic_cast<datatier::MmapFile*>(pool.pool.get())) {
    call(*mmap);
    return true;
  }
  if (auto* fbm = dynamic_cast<datatier::FileBackedMemory*>(pool.pool.get())) {
    call(*fbm);
    return true;
  }
  return false;
}

// The body of the C entry point `function`, which reports what the `Pool`
// behind `pool` says of itself (`describe`) in the caller's sized struct
// `out`, whose first version ends at `minimum`.
template <typename Pool, typename Struct, typename Describe>
datatier_status describe_pool(const char* function, const datatier_pool* pool, Struct* out,
                              std::size_t minimum, Describe describe) noexcept {
  if (pool == nullptr) return fail_null(function, "pool");
  if (out == nullptr) return fail_null(function, "out");
  if (!size_ok(function, "out", *out, minimum)) return DATATIER_ERR_INVALID_ARGUMENT;
  const auto* typed = dynamic_cast<const Pool*>(pool->pool.get());
  if (typed == nullptr) return fail_kind(function, *pool);
  write_sized(describe(*typed), *out);
  return DATATIER_OK;
}

datatier_header to_c_header(const datatier::Header& header) noexcept {
  datatier_header out;
  std::memcpy(out.checksum, header.checksum.data(), sizeof out.checksum);
  std::memcpy(out.magic, header.magic.data(), sizeof out.magic);
  out.version = header.version;
  out.time_monotonic_s = header.time_monotonic_s;
  out.time_unix_s = header.time_unix_s;
  out.time_monotonic_ns = header.time_monotonic_ns;
  out.time_unix_ns = header.time_unix_ns;
  out.user_version = header.user_version;
  out.options = header.options;
  out.data_size = header.data_size;
  std::memcpy(out.user_area, header.user_area.data(), sizeof out.user_area);
  return out;
}

datatier_verify_report to_c_report(const datatier::VerifyReport& report) noexcept {
  datatier_verify_report out{};
  out.damaged_count = report.damaged.size();
  const std::size_t listed = std::min(report.damaged.size(), std::size(out.damaged));
  for (std::size_t i = 0; i < listed; ++i) {
    out.damaged[i] = {report.damaged[i].offset, report.damaged[i].length};
  }
  out.status = report.ok() ? DATATIER_OK : status_of(report.error);
  const std::size_t n = std::min(report.message.size(), sizeof out.message - 1);
  std::memcpy(out.message, report.message.data(), n);
  out.file_size = report.file_size;
  out.data_size = report.data_size;
  out.has_header = report.header.has_value();
  if (report.header) out.header = to_c_header(*report.header);
  out.has_computed_checksum = report.computed_checksum.has_value();
  if (report.computed_checksum) {
    std::memcpy(out.computed_checksum, report.computed_checksum->data(),
                sizeof out.computed_checksum);
  }
  return out;
}

datatier::VerifyOptions to_verify_options(const datatier_verify_options& options) {
  datatier::VerifyOptions result;
  if (options.check_data_size) result.data_size = options.data_size;
  if (options.check_user_version) result.user_version = options.user_version;
  result.accept_unclean = options.accept_unclean;
  result.threads = options.threads;
  result.progress = to_progress(options.progress, options.progress_context);
  return result;
}

}  // namespace

extern "C" {

void datatier_options_init(datatier_options* options) {
  if (options == nullptr) return;
  *options = datatier_options{};
  options->size = sizeof(datatier_options);
  options->create_mode = 0600;
  options->accept_unclean = false;
  options->direct_io = true;
  options->fallback_to_previous = false;
  options->threads = 0;
  options->page_size = DATATIER_PAGE_SIZE_TRANSPARENT;
  options->page_size_fallback = true;
  options->lock_memory = false;
  options->numa = DATATIER_NUMA_LOCAL;
  options->numa_node = 0;
  options->memory_threads = 0;
  options->changes = DATATIER_CHANGES_COMPARE;
  options->block_size = 0;
  options->salvage = false;
  options->read_only = false;
  options->progress = nullptr;
  options->progress_context = nullptr;
  options->on_fallback = nullptr;
  options->fallback_context = nullptr;
  options->shareable = false;
  options->verify_on_take_over = false;
  options->take_over_timeout_ms = 10000;
  options->lazy = false;
  options->on_damage = nullptr;
  options->damage_context = nullptr;
}

datatier_status datatier_memory_create(size_t size, datatier_pool** out) {
  if (out == nullptr) return fail_null(__func__, "out");
  return datatier_memory_create_with_options(size, nullptr, out);
}

datatier_status datatier_memory_create_with_options(size_t size, const datatier_options* options,
                                                    datatier_pool** out) {
  if (out == nullptr) return fail_null(__func__, "out");
  *out = nullptr;
  datatier_options resolved;
  if (!resolve_options(__func__, options, resolved)) return DATATIER_ERR_INVALID_ARGUMENT;
  return new_handle(DATATIER_KIND_MEMORY, nullptr, out, [&](datatier_pool& handle) {
    handle.pool = std::make_unique<datatier::Memory>(
        datatier::Memory::create(size, to_memory_options(resolved)));
  });
}

datatier_status datatier_mmap_file_create(const char* path, size_t data_size, uint64_t user_version,
                                          const datatier_options* options, datatier_pool** out) {
  return make_file_pool(DATATIER_KIND_MMAP_FILE, __func__, &datatier::MmapFile::create,
                        DATATIER_OUTCOME_CREATED, path, data_size, user_version, options, out);
}

datatier_status datatier_mmap_file_open(const char* path, size_t data_size, uint64_t user_version,
                                        const datatier_options* options, datatier_pool** out) {
  return make_file_pool(DATATIER_KIND_MMAP_FILE, __func__, &datatier::MmapFile::open,
                        DATATIER_OUTCOME_OPENED, path, data_size, user_version, options, out);
}

datatier_status datatier_file_backed_memory_create(const char* path, size_t data_size,
                                                   uint64_t user_version,
                                                   const datatier_options* options,
                                                   datatier_pool** out) {
  return make_file_pool(DATATIER_KIND_FILE_BACKED_MEMORY, __func__,
                        &datatier::FileBackedMemory::create, DATATIER_OUTCOME_CREATED, path,
                        data_size, user_version, options, out);
}

datatier_status datatier_file_backed_memory_open(const char* path, size_t data_size,
                                                 uint64_t user_version,
                                                 const datatier_options* options,
                                                 datatier_pool** out) {
  return make_file_pool(DATATIER_KIND_FILE_BACKED_MEMORY, __func__,
                        &datatier::FileBackedMemory::open, DATATIER_OUTCOME_OPENED, path, data_size,
                        user_version, options, out);
}

datatier_status datatier_mmap_file_open_or_create(const char* path, size_t data_size,
                                                  uint64_t user_version,
                                                  const datatier_options* options,
                                                  datatier_pool** out, int* fresh) {
  return open_or_create_file_pool<datatier::MmapFile>(DATATIER_KIND_MMAP_FILE, __func__, path,
                                                      data_size, user_version, options, out, fresh);
}

datatier_status datatier_file_backed_memory_open_or_create(const char* path, size_t data_size,
                                                           uint64_t user_version,
                                                           const datatier_options* options,
                                                           datatier_pool** out, int* fresh) {
  return open_or_create_file_pool<datatier::FileBackedMemory>(DATATIER_KIND_FILE_BACKED_MEMORY,
                                                              __func__, path, data_size,
                                                              user_version, options, out, fresh);
}

datatier_status datatier_pool_outcome(const datatier_pool* pool, datatier_open_outcome* outcome,
                                      datatier_status* reason) {
  if (pool == nullptr || outcome == nullptr) {
    return fail_null(__func__, pool == nullptr ? "pool" : "outcome");
  }
  *outcome = pool->outcome;
  if (reason != nullptr) *reason = pool->reason;
  return DATATIER_OK;
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

void* datatier_pool_user_area(datatier_pool* pool, size_t* size) {
  std::span<std::byte> area;
  if (pool != nullptr) {
    with_file_pool(*pool, [&](auto& file_pool) { area = file_pool.user_area(); });
  }
  if (size != nullptr) *size = area.size();
  return area.empty() ? nullptr : area.data();
}

datatier_status datatier_pool_header(const datatier_pool* pool, datatier_header* out) {
  if (pool == nullptr) return fail_null(__func__, "pool");
  if (out == nullptr) return fail_null(__func__, "out");
  bool file_pool = false;
  const datatier_status status = guarded(
      [&] { file_pool = with_file_pool(*pool, [&](auto& p) { *out = to_c_header(p.header()); }); });
  if (status == DATATIER_OK && !file_pool) return fail_kind(__func__, *pool);
  return status;
}

datatier_status datatier_pool_placement(const datatier_pool* pool, datatier_placement* out) {
  return describe_pool<datatier::Datapool>(
      __func__, pool, out, kPlacementMinSize, [pool](const datatier::Datapool& any) {
        datatier::Placement placement;
        if (const auto* memory = dynamic_cast<const datatier::Memory*>(&any)) {
          placement = memory->placement();
        } else {
          with_file_pool(*pool, [&](const auto& file_pool) { placement = file_pool.placement(); });
        }
        datatier_placement full{};
        full.page_size = static_cast<datatier_page_size>(placement.page_size);
        full.page_bytes = placement.page_bytes;
        full.numa = static_cast<datatier_numa_policy>(placement.numa);
        full.numa_node = placement.numa_node;
        full.locked = placement.locked;
        full.threads = placement.threads;
        full.huge_bytes = placement.huge_bytes;
        full.shared = placement.shared;
        return full;
      });
}

datatier_status datatier_file_backed_memory_hand_off(datatier_pool* pool, const char* socket,
                                                     uint32_t timeout_ms) {
  if (pool == nullptr) return fail_null(__func__, "pool");
  if (socket == nullptr) return fail_null(__func__, "socket");
  auto* fbm = dynamic_cast<datatier::FileBackedMemory*>(pool->pool.get());
  if (fbm == nullptr) return fail_kind(__func__, *pool);
  const datatier_status status =
      guarded([&] { fbm->hand_off(socket, std::chrono::milliseconds(timeout_ms)); });
  if (status == DATATIER_OK) delete pool;
  return status;
}

datatier_status datatier_file_backed_memory_take_over(const char* socket, size_t data_size,
                                                      uint64_t user_version,
                                                      const datatier_options* options,
                                                      datatier_pool** out) {
  datatier::FileOptions file_options;
  if (!file_arguments_ok(__func__, socket, options, out, file_options)) {
    return DATATIER_ERR_INVALID_ARGUMENT;
  }
  return new_handle(DATATIER_KIND_FILE_BACKED_MEMORY, nullptr, out, [&](datatier_pool& handle) {
    auto pool =
        datatier::FileBackedMemory::take_over(socket, data_size, user_version, file_options);
    handle.path = pool.path().string();
    handle.pool = std::make_unique<datatier::FileBackedMemory>(std::move(pool));
    handle.outcome = DATATIER_OUTCOME_OPENED;
  });
}

datatier_status datatier_pool_recovery(const datatier_pool* pool, datatier_recovery* out) {
  return describe_pool<datatier::FileBackedMemory>(
      __func__, pool, out, kRecoveryMinSize, [](const datatier::FileBackedMemory& fbm) {
        const datatier::Recovery& recovery = fbm.recovery();
        datatier_recovery full{};
        full.used_previous = recovery.used_previous;
        full.reason = recovery.reason ? status_of(recovery.reason) : DATATIER_OK;
        full.message = recovery.message.c_str();
        full.set_aside = recovery.set_aside.c_str();
        return full;
      });
}

datatier_status datatier_pool_flush(datatier_pool* pool) {
  if (pool == nullptr) return fail_null(__func__, "pool");
  return guarded([&] { pool->pool->flush(); });
}

datatier_status datatier_pool_flush_full(datatier_pool* pool) {
  if (pool == nullptr) return fail_null(__func__, "pool");
  auto* fbm = dynamic_cast<datatier::FileBackedMemory*>(pool->pool.get());
  if (fbm == nullptr) return fail_kind(__func__, *pool);
  return guarded([&] { fbm->flush_full(); });
}

void datatier_pool_mark_dirty(datatier_pool* pool, size_t offset, size_t length) {
  if (pool != nullptr) pool->pool->mark_dirty(offset, length);
}

datatier_status datatier_pool_damaged(const datatier_pool* pool, const datatier_byte_range** ranges,
                                      size_t* count) {
  if (pool == nullptr) return fail_null(__func__, "pool");
  if (ranges == nullptr) return fail_null(__func__, "ranges");
  if (count == nullptr) return fail_null(__func__, "count");
  *ranges = nullptr;
  *count = 0;
  if (pool->kind != DATATIER_KIND_FILE_BACKED_MEMORY) return fail_kind(__func__, *pool);
  if (!pool->damaged.empty()) *ranges = pool->damaged.data();
  *count = pool->damaged.size();
  return DATATIER_OK;
}

datatier_status datatier_pool_load_progress(const datatier_pool* pool,
                                            datatier_load_progress* out) {
  if (pool == nullptr) return fail_null(__func__, "pool");
  if (out == nullptr) return fail_null(__func__, "out");
  if (!size_ok(__func__, "out", *out, kLoadProgressMinSize)) return DATATIER_ERR_INVALID_ARGUMENT;
  const auto* fbm = dynamic_cast<const datatier::FileBackedMemory*>(pool->pool.get());
  if (fbm == nullptr) return fail_kind(__func__, *pool);
  const datatier::LoadProgress progress = fbm->load_progress();
  datatier_load_progress full{};
  full.lazy = progress.lazy;
  full.done = progress.done;
  full.loaded_bytes = progress.loaded_bytes;
  full.total_bytes = progress.total_bytes;
  full.damaged_bytes = progress.damaged_bytes;
  write_sized(full, *out);
  return DATATIER_OK;
}

datatier_status datatier_pool_wait_loaded(datatier_pool* pool) {
  if (pool == nullptr) return fail_null(__func__, "pool");
  auto* fbm = dynamic_cast<datatier::FileBackedMemory*>(pool->pool.get());
  if (fbm == nullptr) return fail_kind(__func__, *pool);
  return guarded([&] {
    fbm->wait_loaded();
    // A lazy open's ranges are known now; none were listed before, so no
    // address handed out earlier changes.
    if (pool->damaged.empty()) pool->list_damaged(*fbm);
  });
}

datatier_status datatier_pool_shutdown(datatier_pool* pool) {
  if (pool == nullptr) return fail_null(__func__, "pool");
  const datatier_status status = guarded([&] { pool->pool->close(); });
  if (status == DATATIER_OK) delete pool;
  return status;
}

void datatier_pool_close(datatier_pool* pool) {
  // The pools' destructors are noexcept and never throw.
  delete pool;
}

void datatier_verify_options_init(datatier_verify_options* options) {
  if (options == nullptr) return;
  *options = datatier_verify_options{};
  options->size = sizeof(datatier_verify_options);
}

datatier_status datatier_verify_file(const char* path, const datatier_verify_options* options,
                                     datatier_verify_report* out) {
  if (path == nullptr) return fail_null(__func__, "path");
  if (out == nullptr) return fail_null(__func__, "out");
  if (!size_ok(__func__, "out", *out, kVerifyReportMinSize)) return DATATIER_ERR_INVALID_ARGUMENT;
  datatier_verify_options resolved;
  datatier_verify_options_init(&resolved);
  if (options != nullptr) {
    if (!size_ok(__func__, "options", *options, DATATIER_VERIFY_OPTIONS_MIN_SIZE)) {
      return DATATIER_ERR_INVALID_ARGUMENT;
    }
    resolved = read_sized(*options, resolved);
  }
  return guarded([&] {
    write_sized(to_c_report(datatier::verify_file(path, to_verify_options(resolved))), *out);
  });
}

datatier_status datatier_remove_pool(const char* path, int force) {
  if (path == nullptr) return fail_null(__func__, "path");
  datatier::RemoveOptions options;
  options.force = force != 0;
  return guarded([&] { datatier::remove_pool(path, options); });
}

datatier_status datatier_restore_previous(const char* path) {
  if (path == nullptr) return fail_null(__func__, "path");
  return guarded([&] { datatier::restore_previous(path); });
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
    case DATATIER_ERR_WRONG_KIND:
      return "not for this kind of pool";
    case DATATIER_ERR_CANCELED:
      return "cancelled";
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
