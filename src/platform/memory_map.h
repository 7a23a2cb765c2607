// How the kernel backs a range of this process's memory, as it lists it in
// /proc/self/smaps.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace datatier::platform {

// The bytes of the address range [begin, end) that huge pages back, as the
// text of /proc/<pid>/smaps (`smaps`) gives them: for each mapping (VMA)
// that overlaps the range, the sum of its AnonHugePages (transparent huge
// pages of anonymous memory), ShmemPmdMapped (of tmpfs and shared memory),
// FilePmdMapped (of other files' page cache), Shared_Hugetlb and
// Private_Hugetlb (explicit huge pages) lines. smaps counts per mapping, not
// per address: a mapping that reaches past the range counts at most the
// bytes it shares with it. Lines that do not parse are skipped.
std::uint64_t huge_page_bytes(std::string_view smaps, std::uintptr_t begin, std::uintptr_t end);

// The same for `range`, reading /proc/self/smaps: the cost of one read of
// that file (which lists every mapping of the process, and which the kernel
// generates by walking each one's page tables). 0 where the kernel does not
// say: no /proc, or a read error. Never throws.
std::uint64_t huge_page_bytes(std::span<const std::byte> range) noexcept;

}  // namespace datatier::platform
