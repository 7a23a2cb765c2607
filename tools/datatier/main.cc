// The datatier command-line tool: parses the command line, runs the chosen
// subcommand and turns failures into one line on stderr and an exit status.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <exception>
#include <vector>

#include "commands.h"
#include "datatier/error.h"
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

int run(int argc, char** argv) {
  CLI::App app("Inspect, check, create and benchmark datatier pool files.", "datatier");
  app.set_version_flag("--version", "datatier " DATATIER_VERSION, "Print the version and exit");
  app.require_subcommand(1);
  app.footer(
      "Exit status: 0 success (verify: intact), 1 the pool file failed a check, 2 usage or I/O "
      "error.\nSizes: 4096, 64KiB, 1.5GiB, 1G (K/M/G/T and KiB/MiB/GiB/TiB = powers of 1024, "
      "KB/MB/GB/TB = powers of 1000).");

  const std::vector<Command> commands = {add_info_command(app), add_verify_command(app),
                                         add_create_command(app), add_bench_command(app)};
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    print_error(fmt::format("{} ({})", e.what(), help_hint(app)));
    return kExitError;
  }

  for (const Command& command : commands) {
    if (command.app->parsed()) return command.run();
  }
  return kExitError;  // not reached: require_subcommand(1)
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const os::Interrupted& e) {
    // Every scratch file was removed while the stack unwound.
    print_error(fmt::format("{}; removed the files it had made", e.what()));
    os::reraise(e.signal());
  } catch (const UsageError& e) {
    print_error(e.what());
    return kExitError;
  } catch (const datatier::Error& e) {
    print_error(e.what());
    return e.code().category() == datatier::error_category() ? kExitNotIntact : kExitError;
  } catch (const std::exception& e) {
    print_error(e.what());
    return kExitError;
  }
}
