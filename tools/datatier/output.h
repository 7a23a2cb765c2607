// What the subcommands print: error lines, header fields as text and JSON,
// and progress on a terminal.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

#include "datatier/header.h"

namespace datatier::cli {

// Prints "datatier: <message>" on standard error.
void print_error(std::string_view message);

// Lower-case hexadecimal, 64 characters.
std::string to_hex(const Checksum& checksum);

// "2026-11-23T12:34:17Z" for unix seconds.
std::string utc_time(std::uint64_t unix_seconds);
// "2026-11-23T12:34:17.391762246Z" for unix nanoseconds.
std::string utc_time_ns(std::uint64_t unix_nanoseconds);
// "519.574574892" for nanoseconds.
std::string seconds_ns(std::uint64_t nanoseconds);

// The magic bytes, with non-printable ones as \xNN.
std::string printable_magic(const Header& header);

// The snake_case name of a datatier::errc ("checksum_mismatch"), or the
// category and value of any other code ("system:2").
std::string error_name(std::error_code code);

// Every header field, with the timestamps also as ISO-8601 UTC and seconds.
nlohmann::json header_to_json(const Header& header);

// Decimal gigabytes (10^9 bytes) per second; 0 for a zero duration.
double gigabytes_per_second(std::uint64_t bytes, double seconds) noexcept;

// A progress bar on standard error for long work: drawn only when standard
// error is a terminal and the work has been going for `delay`, redrawn at most
// ten times a second, erased by finish() or destruction.
class ProgressBar {
 public:
  explicit ProgressBar(std::string label,
                       std::chrono::milliseconds delay = std::chrono::seconds(1));
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;
  ~ProgressBar();

  void update(std::uint64_t done, std::uint64_t total);
  void finish() noexcept;

 private:
  std::string label_;
  bool enabled_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_{};
  std::chrono::milliseconds delay_;
  bool drawn_ = false;
};

// One line of status on standard error, overwritten by each show(), when
// standard error is a terminal; nothing otherwise.
class StatusLine {
 public:
  StatusLine();
  StatusLine(const StatusLine&) = delete;
  StatusLine& operator=(const StatusLine&) = delete;
  ~StatusLine();

  void show(std::string_view text);
  void clear() noexcept;

 private:
  bool enabled_;
  bool drawn_ = false;
};

}  // namespace datatier::cli
