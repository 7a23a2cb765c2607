// The std::error_code overloads of the pools' calls: the throwing call, its
// datatier::Error (or a failed allocation) turned into a code.
#pragma once

#include <new>
#include <optional>
#include <system_error>
#include <type_traits>

#include "datatier/error.h"

namespace datatier::detail {

// Runs `call`; returns its result (std::nullopt on failure) and sets `ec` to
// what it threw, or clears it. Never throws.
template <typename Call>
auto capture(std::error_code& ec, Call call) noexcept {
  using Result = std::invoke_result_t<Call>;
  using Returned = std::conditional_t<std::is_void_v<Result>, bool, std::optional<Result>>;
  ec.clear();
  try {
    if constexpr (std::is_void_v<Result>) {
      call();
      return Returned{true};
    } else {
      return Returned{call()};
    }
  } catch (const std::system_error& e) {
    ec = e.code();
  } catch (const std::bad_alloc&) {
    ec = std::make_error_code(std::errc::not_enough_memory);
  } catch (...) {
    // Nothing else leaves the library; should it, say so rather than abort.
    ec = std::make_error_code(std::errc::state_not_recoverable);
  }
  return Returned{};
}

}  // namespace datatier::detail
