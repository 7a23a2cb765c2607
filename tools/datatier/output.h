// What the subcommands print: error lines, header fields as text and JSON,
// and progress on a terminal.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "datatier/header.h"

namespace datatier::cli {

// `text` made safe for a terminal and for JSON: control characters and bytes
// that are not UTF-8 become escapes (\n, \r, \t, \xNN) and a backslash is
// doubled, so a file name can neither drive the terminal nor make the JSON
// output invalid, and no two names look alike.
std::string printable_text(std::string_view text);
// A file name, as printable_text() shows it.
std::string printable_path(const std::filesystem::path& path);

// Prints "datatier: <message>" on standard error, as printable_text().
void print_error(std::string_view message);

// Prints `value` on standard output, indented. Its strings must be printable
// already; should one not be UTF-8 even so, its bad bytes are replaced rather
// than the printing failing after the command has done its work.
void print_json(const nlohmann::json& value);

// {"ok": false, "error": `error`, "message": `message`}: what --json prints
// for a command that failed. `error` is a datatier::errc name, an errno name
// ("ENOENT"), "usage", "interrupted" or "error"; `message` is made printable.
nlohmann::json failure_json(std::string_view error, std::string_view message);

// Why a file of `file_size` bytes whose header is `header` (none when the
// file is too short for one) is not a pool file: too short for a header, or
// without the pool magic; nullopt when it is one. The text holds the magic
// bytes as found: print it through printable_text().
std::optional<std::string> not_a_pool(std::uint64_t file_size, const std::optional<Header>& header);

// Lower-case hexadecimal, 64 characters.
std::string to_hex(const Checksum& checksum);

// "2026-11-23T12:34:17Z" for unix seconds.
std::string utc_time(std::uint64_t unix_seconds);
// "2026-11-23T12:34:17.391762246Z" for unix nanoseconds.
std::string utc_time_ns(std::uint64_t unix_nanoseconds);
// "519.574574892" for nanoseconds.
std::string seconds_ns(std::uint64_t nanoseconds);

// The magic bytes, escaped as printable_path() escapes a file name.
std::string printable_magic(const Header& header);

// The snake_case name of a datatier::errc ("checksum_mismatch"), the name of
// an errno value ("ENOENT"), or the category and value of any other code.
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
