// The subcommands of the datatier tool and what they share: exit statuses and
// the error for bad command-line input.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <stdexcept>
#include <string>

namespace datatier::cli {

// Exit statuses, the same for every subcommand.
inline constexpr int kExitOk = 0;
// verify: the file is not an intact pool (a failed size, magic, version, user
// version, in-use or checksum check), or a pool object holds it. Other
// subcommands: a pool file check failed, or a pool object holds the file
// (datatier::errc).
inline constexpr int kExitNotIntact = 1;
// Bad usage, or an operating-system error (missing file, no permission, no
// space).
inline constexpr int kExitError = 2;

// Thrown for command-line input that parses but makes no sense (a bad size,
// an unknown pool kind); main() prints it and exits with kExitError.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Rejects a negative value for an unsigned option, which CLI11 would
// otherwise wrap around ("-1" as 2^64 - 1).
inline const CLI::Validator kNotNegative(
    [](std::string& value) {
      return !value.empty() && value.front() == '-' ? std::string("must not be negative")
                                                    : std::string();
    },
    "UINT", "not negative");

// A subcommand: its CLI11 App (owned by the parent App) and what runs it
// after a successful parse, returning the exit status.
struct Command {
  CLI::App* app = nullptr;
  std::function<int()> run;
};

Command add_info_command(CLI::App& parent);
Command add_verify_command(CLI::App& parent);
Command add_create_command(CLI::App& parent);
Command add_rm_command(CLI::App& parent);
Command add_restore_prev_command(CLI::App& parent);
Command add_bench_command(CLI::App& parent);

}  // namespace datatier::cli
