// Construction of datatier::Error from errno values.
#include "platform/system_error.h"

#include <string>
#include <system_error>

#include "datatier/error.h"

namespace datatier::platform {

void throw_errno(int err, const std::filesystem::path& path, std::string_view what) {
  throw Error(std::error_code(err, std::system_category()), path, std::string(what));
}

}  // namespace datatier::platform
