// How --help shows options: each with its placeholder, never the parser's
// type names.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

namespace datatier::cli {

// Shows an option as its names and the placeholder given with
// CLI::Option::option_text ("--size SIZE", "--kind mmap|fbm"), or its names
// alone: no type names ("TEXT", "UINT:UINT"), validator ranges, defaults or
// "REQUIRED", which the descriptions say in words. Install it on the top
// App before adding subcommands, which inherit it.
class HelpFormatter : public CLI::Formatter {
 public:
  std::string make_option_opts(const CLI::Option* option) const override;
};

}  // namespace datatier::cli
