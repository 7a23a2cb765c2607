// open_or_create() of both file pools: open, else create, else replace.
#pragma once

#include <filesystem>

#include "datatier/error.h"
#include "datatier/file_options.h"
#include "datatier/opened.h"
#include "pool_file.h"

namespace datatier::detail {

// Whether `code` is a verdict on the file's contents that a new pool
// replaces: not an operating-system error, not a pool another object holds,
// not a file another program swapped in.
inline bool replaceable(const std::error_code& code) {
  return code.category() == error_category() && code != errc::pool_in_use &&
         code != errc::file_replaced;
}

template <typename Pool>
Opened<Pool> open_or_create(const std::filesystem::path& path, std::size_t data_size,
                            std::uint64_t user_version, const FileOptions& options) {
  refuse_read_only_create(path, options);
  // Another program may create or remove the file between the two calls:
  // look again a few times, then report what the last attempt found.
  constexpr int kAttempts = 3;
  for (int attempt = 1;; ++attempt) {
    try {
      return {Pool::open(path, data_size, user_version, options), Outcome::opened, {}};
    } catch (const Error& e) {
      const bool missing = e.code() == std::errc::no_such_file_or_directory;
      if (!missing && !replaceable(e.code())) throw;
      try {
        if (!missing) {
          const PoolLocation at = PoolLocation::of(path);
          at.dir.remove(at.name);
        }
        return {Pool::create(path, data_size, user_version, options),
                missing ? Outcome::created : Outcome::recreated,
                missing ? std::error_code{} : e.code()};
      } catch (const Error& again) {
        if (again.code() != std::errc::file_exists || attempt == kAttempts) throw;
      }
    }
  }
}

}  // namespace datatier::detail
