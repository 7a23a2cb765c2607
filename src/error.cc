// The datatier::errc category and datatier::Error.
#include "datatier/error.h"

#include <string>

namespace datatier {
namespace {

class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "datatier"; }

  std::string message(int value) const override {
    switch (static_cast<errc>(value)) {
      case errc::size_mismatch:
        return "pool size mismatch";
      case errc::bad_magic:
        return "not a pool file (bad magic)";
      case errc::incompatible_version:
        return "incompatible pool format version";
      case errc::user_version_mismatch:
        return "user version mismatch";
      case errc::checksum_mismatch:
        return "checksum mismatch";
      case errc::unclean_shutdown:
        return "pool was not cleanly saved";
      case errc::pool_in_use:
        return "pool is in use";
      case errc::file_replaced:
        return "pool file replaced by another program";
    }
    return "unknown datatier error " + std::to_string(value);
  }
};

std::string describe(const std::filesystem::path& path, const std::string& message) {
  if (path.empty()) return message;
  // Appended piece by piece: GCC 12 warns (-Wrestrict, wrongly) about the
  // memcpy it inlines for "'" + std::string.
  std::string text = "'";
  text += path.string();
  text += "': ";
  text += message;
  return text;
}

}  // namespace

const std::error_category& error_category() noexcept {
  static const Category kCategory;
  return kCategory;
}

std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), error_category()};
}

Error::Error(std::error_code code, std::filesystem::path path, const std::string& message)
    : std::system_error(code, describe(path, message)), path_(std::move(path)) {}

}  // namespace datatier
