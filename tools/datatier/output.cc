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

namespace {

// The length of the UTF-8 sequence `text` starts with, if it is a well-formed
// one (no overlong form, no surrogate, nothing past U+10FFFF) that encodes
// no control character; 0 otherwise.
std::size_t printable_sequence(std::string_view text) {
  const auto byte = [&](std::size_t i) {
    return i < text.size() ? static_cast<unsigned char>(text[i]) : 0u;
  };
  const unsigned lead = byte(0);
  const auto continues = [&](std::size_t i, unsigned low, unsigned high) {
    return byte(i) >= low && byte(i) <= high;
  };
  if (lead >= 0x20 && lead < 0x7f) return 1;
  // Two bytes from U+00A0: U+0080 to U+009F are the C1 controls.
  if (lead == 0xc2) return continues(1, 0xa0, 0xbf) ? 2 : 0;
  if (lead >= 0xc3 && lead <= 0xdf) return continues(1, 0x80, 0xbf) ? 2 : 0;
  if (lead >= 0xe0 && lead <= 0xef) {
    const unsigned low = lead == 0xe0 ? 0xa0 : 0x80;
    const unsigned high = lead == 0xed ? 0x9f : 0xbf;
    return continues(1, low, high) && continues(2, 0x80, 0xbf) ? 3 : 0;
  }
  if (lead >= 0xf0 && lead <= 0xf4) {
    const unsigned low = lead == 0xf0 ? 0x90 : 0x80;
    const unsigned high = lead == 0xf4 ? 0x8f : 0xbf;
    return continues(1, low, high) && continues(2, 0x80, 0xbf) && continues(3, 0x80, 0xbf) ? 4 : 0;
  }
  return 0;
}

std::string escaped(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    const char c = text[i];
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (const std::size_t n = printable_sequence(text.substr(i)); n > 0) {
      out.append(text.substr(i, n));
      i += n;
      continue;
    } else {
      out += fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
    }
    ++i;
  }
  return out;
}

}  // namespace

std::string printable_text(std::string_view text) {
  return escaped(text);
}

std::string printable_path(const std::filesystem::path& path) {
  return escaped(path.native());
}

void print_error(std::string_view message) {
  fmt::print(stderr, "datatier: {}\n", printable_text(message));
}

void print_json(const nlohmann::json& value) {
  fmt::print("{}\n", value.dump(2, ' ', false, nlohmann::json::error_handler_t::replace));
  // Out now: a process ended by a signal next (an interrupted bench) would
  // lose what is still buffered.
  std::fflush(stdout);
}

nlohmann::json failure_json(std::string_view error, std::string_view message) {
  return {{"ok", false}, {"error", error}, {"message", printable_text(message)}};
}

std::optional<std::string> not_a_pool(std::uint64_t file_size,
                                      const std::optional<Header>& header) {
  if (file_size < kHeaderSize || !header) {
    return fmt::format("{} bytes, shorter than the {}-byte header of a pool", file_size,
                       kHeaderSize);
  }
  if (header->magic != kMagic) {
    const auto* magic = reinterpret_cast<const char*>(header->magic.data());
    return fmt::format(R"(no pool magic "PELIKAN!" at offset 32, found "{}")",
                       std::string_view(magic, header->magic.size()));
  }
  return std::nullopt;
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
  std::string bytes;
  for (std::byte b : header.magic) bytes.push_back(static_cast<char>(b));
  return escaped(bytes);
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
  if (code.category() == std::system_category() || code.category() == std::generic_category()) {
    if (const char* name = os::errno_name(code.value())) return name;
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
