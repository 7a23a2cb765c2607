// Parsing and printing byte sizes.
#include "size.h"

#include <fmt/format.h>

#include <array>
#include <cctype>
#include <string>

#include "commands.h"

namespace datatier::cli {
namespace {

__extension__ using Uint128 = unsigned __int128;

struct Unit {
  std::string_view name;  // lower case
  std::uint64_t factor;
};

constexpr std::uint64_t kKi = 1024;
constexpr std::uint64_t kK = 1000;

constexpr std::array<Unit, 13> kUnits = {{
    {"b", 1},
    {"k", kKi},
    {"m", kKi* kKi},
    {"g", kKi* kKi* kKi},
    {"t", kKi* kKi* kKi* kKi},
    {"kib", kKi},
    {"mib", kKi* kKi},
    {"gib", kKi* kKi* kKi},
    {"tib", kKi* kKi* kKi* kKi},
    {"kb", kK},
    {"mb", kK* kK},
    {"gb", kK* kK* kK},
    {"tb", kK* kK* kK* kK},
}};

[[noreturn]] void bad_size(std::string_view text, std::string_view why) {
  throw UsageError(
      fmt::format("invalid size \"{}\": {} (examples: 4096, 64KiB, 1.5GiB, 1G; "
                  "K/M/G/T and KiB/MiB/GiB/TiB are powers of 1024, KB/MB/GB/TB "
                  "powers of 1000)",
                  text, why));
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

}  // namespace

std::uint64_t parse_size(std::string_view text) {
  std::size_t i = 0;
  Uint128 whole = 0;
  const std::size_t whole_begin = i;
  for (; i < text.size() && is_digit(text[i]); ++i) {
    whole = whole * 10 + static_cast<unsigned>(text[i] - '0');
    if (whole > UINT64_MAX) bad_size(text, "too large");
  }
  if (i == whole_begin) bad_size(text, "expected a number");

  // The fraction as numerator / denominator, at most 18 digits kept.
  Uint128 numerator = 0;
  Uint128 denominator = 1;
  bool has_fraction = false;
  if (i < text.size() && text[i] == '.') {
    has_fraction = true;
    ++i;
    const std::size_t fraction_begin = i;
    for (; i < text.size() && is_digit(text[i]); ++i) {
      if (i - fraction_begin < 18) {
        numerator = numerator * 10 + static_cast<unsigned>(text[i] - '0');
        denominator *= 10;
      }
    }
    if (i == fraction_begin) bad_size(text, "expected digits after the decimal point");
  }

  std::string unit;
  for (; i < text.size(); ++i) {
    unit.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(text[i]))));
  }
  std::uint64_t factor = 1;
  if (!unit.empty()) {
    bool known = false;
    for (const Unit& u : kUnits) {
      if (u.name == unit) {
        factor = u.factor;
        known = true;
      }
    }
    if (!known) {
      bad_size(text, fmt::format("unknown unit \"{}\"", text.substr(text.size() - unit.size())));
    }
  }
  if (has_fraction && factor == 1) bad_size(text, "a fraction needs a unit larger than a byte");

  // whole < 2^64 and factor <= 2^41, so the products fit in 128 bits.
  const Uint128 bytes = whole * factor + numerator * factor / denominator;
  if (bytes > UINT64_MAX) bad_size(text, "too large");
  return static_cast<std::uint64_t>(bytes);
}

std::string format_size(std::uint64_t bytes) {
  static constexpr std::array<std::string_view, 5> kNames = {"B", "KiB", "MiB", "GiB", "TiB"};
  std::size_t unit = 0;
  std::uint64_t factor = 1;
  while (unit + 1 < kNames.size() && bytes >= factor * 1024) {
    factor *= 1024;
    ++unit;
  }
  if (bytes % factor == 0) return fmt::format("{} {}", bytes / factor, kNames[unit]);
  return fmt::format("{:.1f} {}", static_cast<double>(bytes) / static_cast<double>(factor),
                     kNames[unit]);
}

}  // namespace datatier::cli
