// Reading /proc/self/smaps (platform/memory_map.h).
#include "platform/memory_map.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <optional>
#include <string>

#include "platform/proc_file.h"

namespace datatier::platform {
namespace {

// The smaps lines, in kB, that count memory backed by huge pages.
constexpr std::string_view kHugeFields[] = {
    "AnonHugePages:", "ShmemPmdMapped:", "FilePmdMapped:", "Shared_Hugetlb:", "Private_Hugetlb:"};

bool huge_field(std::string_view name) {
  return std::find(std::begin(kHugeFields), std::end(kHugeFields), name) != std::end(kHugeFields);
}

}  // namespace

std::uint64_t huge_page_bytes(std::string_view smaps, std::uintptr_t begin, std::uintptr_t end) {
  std::uint64_t total = 0;
  std::uint64_t overlap = 0;  // of the mapping whose lines follow; 0 outside the range
  std::uint64_t counted = 0;  // its huge bytes so far
  const auto close_mapping = [&] { total += std::min(counted, overlap); };
  while (!smaps.empty()) {
    const std::size_t line_end = std::min(smaps.find('\n'), smaps.size());
    const std::string line(smaps.substr(0, line_end));
    smaps.remove_prefix(std::min(line_end + 1, smaps.size()));
    // A mapping starts "7f0a00000000-7f0a04000000 rw-p 00000000 00:00 0 ...";
    // its fields follow, one a line: "AnonHugePages:     63488 kB".
    std::uintmax_t first = 0;
    std::uintmax_t last = 0;
    char separator = 0;
    if (std::sscanf(line.c_str(), "%jx-%jx%c", &first, &last, &separator) == 3 &&
        separator == ' ') {
      close_mapping();
      const std::uintmax_t from = std::max<std::uintmax_t>(first, begin);
      const std::uintmax_t to = std::min<std::uintmax_t>(last, end);
      overlap = to > from ? static_cast<std::uint64_t>(to - from) : 0;
      counted = 0;
      continue;
    }
    char name[32] = "";
    std::uint64_t kib = 0;
    if (std::sscanf(line.c_str(), "%31s %" SCNu64 " kB", name, &kib) == 2 && huge_field(name)) {
      counted += kib * 1024;
    }
  }
  close_mapping();
  return total;
}

std::uint64_t huge_page_bytes(std::span<const std::byte> range) noexcept {
  if (range.empty()) return 0;
  const std::optional<std::string> smaps = read_proc_file("/proc/self/smaps");
  if (!smaps) return 0;
  const auto begin = reinterpret_cast<std::uintptr_t>(range.data());
  try {
    return huge_page_bytes(*smaps, begin, begin + range.size());
  } catch (...) {
    // Only an allocation can fail here: then the kernel has not told.
    return 0;
  }
}

}  // namespace datatier::platform
