// Turning an errno value into a thrown datatier::Error.
#pragma once

#include <filesystem>
#include <string_view>

namespace datatier::platform {

// Throws datatier::Error with `err` in std::system_category(), naming `path`
// and what was being done.
[[noreturn]] void throw_errno(int err, const std::filesystem::path& path, std::string_view what);

}  // namespace datatier::platform
