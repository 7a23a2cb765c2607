// The help formatter.
#include "help.h"

namespace datatier::cli {

std::string HelpFormatter::make_option_opts(const CLI::Option* option) const {
  const std::string& placeholder = option->get_option_text();
  return placeholder.empty() ? std::string() : " " + placeholder;
}

}  // namespace datatier::cli
