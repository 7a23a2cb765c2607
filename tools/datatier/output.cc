// Text, JSON and progress output shared by the subcommands.
#include "output.h"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <ctime>

#include "datatier/error.h"
#include "os.h"
#include "size.h"

namespace datatier::cli {

void print_error(std::string_view message) {
  fmt::print(stderr, "datatier: {}\n", message);
}

std::string to_hex(const Checksum& checksum) {
  std::string out;
  out.reserve(2 * checksum.size());
  for (std::byte b : checksum) out += fmt::format("{:02x}", std::to_integer<unsigned>(b));
  return out;
}

std::string utc_time(std::uint64_t unix_seconds) {
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}Z", fmt::gmtime(static_cast<std::time_t>(unix_seconds)));
}

std::string utc_time_ns(std::uint64_t unix_nanoseconds) {
  const std::uint64_t seconds = unix_nanoseconds / 1'000'000'000;
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:09}Z", fmt::gmtime(static_cast<std::time_t>(seconds)),
                     unix_nanoseconds % 1'000'000'000);
}

std::string seconds_ns(std::uint64_t nanoseconds) {
  return fmt::format("{}.{:09}", nanoseconds / 1'000'000'000, nanoseconds % 1'000'000'000);
}

std::string printable_magic(const Header& header) {
  std::string out;
  for (std::byte b : header.magic) {
    const auto c = std::to_integer<unsigned char>(b);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      out += fmt::format("\\x{:02x}", c);
    }
  }
  return out;
}

std::string error_name(std::error_code code) {
  if (code.category() == datatier::error_category()) {
    switch (static_cast<errc>(code.value())) {
      case errc::size_mismatch:
        return "size_mismatch";
      case errc::bad_magic:
        return "bad_magic";
      case errc::incompatible_version:
        return "incompatible_version";
      case errc::user_version_mismatch:
        return "user_version_mismatch";
      case errc::checksum_mismatch:
        return "checksum_mismatch";
      case errc::unclean_shutdown:
        return "unclean_shutdown";
      case errc::pool_in_use:
        return "pool_in_use";
      case errc::file_replaced:
        return "file_replaced";
    }
  }
  return fmt::format("{}:{}", code.category().name(), code.value());
}

nlohmann::json header_to_json(const Header& header) {
  return {
      {"checksum", to_hex(header.checksum)},
      {"magic", printable_magic(header)},
      {"magic_ok", header.magic == kMagic},
      {"version", header.version},
      {"user_version", header.user_version},
      {"options", header.options},
      {"in_use", (header.options & kOptionInUse) != 0},
      {"data_size_recorded", header.data_size},
      {"time_unix_s", header.time_unix_s},
      {"time_unix_s_utc", utc_time(header.time_unix_s)},
      {"time_unix_ns", header.time_unix_ns},
      {"time_unix_ns_utc", utc_time_ns(header.time_unix_ns)},
      {"time_monotonic_s", header.time_monotonic_s},
      {"time_monotonic_ns", header.time_monotonic_ns},
      {"time_monotonic_ns_seconds", seconds_ns(header.time_monotonic_ns)},
  };
}

double gigabytes_per_second(std::uint64_t bytes, double seconds) noexcept {
  return seconds > 0 ? static_cast<double>(bytes) / seconds / 1e9 : 0.0;
}

namespace {

// Erases the line drawn on a terminal's standard error, if `drawn`.
void erase_line(bool& drawn) noexcept {
  if (!drawn) return;
  std::fputs("\r\x1b[K", stderr);
  std::fflush(stderr);
  drawn = false;
}

}  // namespace

ProgressBar::ProgressBar(std::string label, std::chrono::milliseconds delay)
    : label_(std::move(label)),
      enabled_(os::stderr_is_terminal()),
      start_(std::chrono::steady_clock::now()),
      delay_(delay) {}

ProgressBar::~ProgressBar() {
  finish();
}

void ProgressBar::update(std::uint64_t done, std::uint64_t total) {
  if (!enabled_ || total == 0) return;
  const auto now = std::chrono::steady_clock::now();
  if (now - start_ < delay_) return;
  if (drawn_ && now - last_draw_ < std::chrono::milliseconds(100) && done < total) return;
  last_draw_ = now;
  constexpr std::size_t kWidth = 30;
  const double fraction = std::min(1.0, static_cast<double>(done) / static_cast<double>(total));
  const auto filled = static_cast<std::size_t>(fraction * kWidth);
  fmt::print(stderr, "\r\x1b[K{} [{}{}] {:3.0f}%  {} / {}", label_, std::string(filled, '#'),
             std::string(kWidth - filled, ' '), fraction * 100, format_size(done),
             format_size(total));
  std::fflush(stderr);
  drawn_ = true;
}

void ProgressBar::finish() noexcept {
  erase_line(drawn_);
}

StatusLine::StatusLine() : enabled_(os::stderr_is_terminal()) {}

StatusLine::~StatusLine() {
  clear();
}

void StatusLine::show(std::string_view text) {
  if (!enabled_) return;
  fmt::print(stderr, "\r\x1b[K{}", text);
  std::fflush(stderr);
  drawn_ = true;
}

void StatusLine::clear() noexcept {
  erase_line(drawn_);
}

}  // namespace datatier::cli
