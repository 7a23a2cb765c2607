// The datatier command-line tool: parses the command line, runs the chosen
// subcommand and turns failures into one line on stderr (and, with --json, a
// JSON object on stdout) and an exit status.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <exception>
#include <memory>
#include <optional>
#include <string_view>
#include <system_error>
#include <vector>

#include "commands.h"
#include "datatier/error.h"
#include "help.h"
#include "os.h"
#include "output.h"

namespace {

using namespace datatier::cli;

// The subcommand named on the command line, for "see 'datatier X --help'".
std::string help_hint(const CLI::App& app) {
  for (const CLI::App* sub : app.get_subcommands()) {
    return fmt::format("see 'datatier {} --help'", sub->get_name());
  }
  return "see 'datatier --help'";
}

// Whether the command line asks for JSON output: then every outcome, a
// failure to parse it included, is reported as JSON too.
bool asks_for_json(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--") return false;
    if (arg == "--json") return true;
  }
  return false;
}

// The first argument that is not an option: the command's name. The tool's
// own options (--help, --version) take no value.
std::optional<std::string_view> command_name(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (!arg.starts_with('-')) return arg;
  }
  return std::nullopt;
}

// The first argument that is not one of the tool's own options, when there
// is no command name: what CLI11 reports only as "a subcommand is required".
std::optional<std::string_view> unknown_option(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg != "-h" && arg != "--help" && arg != "--version") return arg;
  }
  return std::nullopt;
}

// Reports a failure: one line on standard error and, with `json`, the
// failure's JSON object on standard output. Returns `status`.
int fail(int status, std::string_view error, std::string_view message, bool json) {
  print_error(message);
  if (json) print_json(failure_json(error, message));
  return status;
}

int run(int argc, char** argv, bool json) {
  CLI::App app("Inspect, check, create, remove, restore and benchmark datatier pool files.",
               "datatier");
  app.formatter(std::make_shared<HelpFormatter>());
  app.set_version_flag("--version", "datatier " DATATIER_VERSION, "Print the version and exit");
  app.require_subcommand(1);
  app.footer(
      "Exit status: 0 success (verify: intact), 1 the pool file failed a check or is in use, 2 "
      "usage or I/O error.\nSizes: 4096, 64KiB, 1.5GiB, 1G (K/M/G/T and KiB/MiB/GiB/TiB = "
      "powers of 1024, KB/MB/GB/TB = powers of 1000).\n");

  const std::vector<Command> commands = {add_info_command(app),         add_verify_command(app),
                                         add_create_command(app),       add_rm_command(app),
                                         add_restore_prev_command(app), add_bench_command(app)};
  const auto name = command_name(argc, argv);
  const bool known = name && std::any_of(commands.begin(), commands.end(), [&](const Command& c) {
                       return c.app->get_name() == *name;
                     });
  if (name && !known) {
    return fail(kExitError, "usage",
                fmt::format("unknown command '{}' (see 'datatier --help')", *name), json);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    std::string what = e.what();
    if (!name) {
      const auto option = unknown_option(argc, argv);
      what = option ? fmt::format("unknown option '{}'", *option) : "no command given";
    }
    return fail(kExitError, "usage", fmt::format("{} ({})", what, help_hint(app)), json);
  }

  for (const Command& command : commands) {
    if (command.app->parsed()) return command.run();
  }
  return kExitError;  // not reached: require_subcommand(1)
}

}  // namespace

int main(int argc, char** argv) {
  const bool json = asks_for_json(argc, argv);
  try {
    return run(argc, argv, json);
  } catch (const os::Interrupted& e) {
    // Every scratch file was removed while the stack unwound.
    fail(kExitError, "interrupted", fmt::format("{}; removed the files it had made", e.what()),
         json);
    os::reraise(e.signal());
  } catch (const UsageError& e) {
    return fail(kExitError, "usage", e.what(), json);
  } catch (const datatier::Error& e) {
    const bool verdict = e.code().category() == datatier::error_category();
    return fail(verdict ? kExitNotIntact : kExitError, error_name(e.code()), e.what(), json);
  } catch (const std::system_error& e) {
    return fail(kExitError, error_name(e.code()), e.what(), json);
  } catch (const std::exception& e) {
    return fail(kExitError, "error", e.what(), json);
  }
}
