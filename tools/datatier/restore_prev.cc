// `datatier restore-prev FILE`: puts the previous snapshot FILE.prev back
// under FILE, setting the file that was there aside.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <memory>
#include <string>

#include "commands.h"
#include "datatier/file_backed_memory.h"
#include "datatier/remove.h"
#include "output.h"
#include "size.h"

namespace datatier::cli {
namespace {

struct RestorePrevOptions {
  std::string file;
  bool json = false;
};

int run_restore_prev(const RestorePrevOptions& options) {
  const RestoreReport report = restore_previous(options.file);
  const VerifyReport& restored = report.restored;
  const std::uint64_t user_version = restored.header->user_version;
  const std::string checksum = to_hex(restored.header->checksum);
  const std::string spare = printable_path(FileBackedMemory::spare_path(report.path));

  if (options.json) {
    print_json(
        {{"ok", true},
         {"path", printable_path(report.path)},
         {"restored_from", spare},
         {"set_aside", report.set_aside.empty() ? nlohmann::json(nullptr)
                                                : nlohmann::json(printable_path(report.set_aside))},
         {"data_size", restored.data_size},
         {"user_version", user_version},
         {"checksum", checksum}});
    return kExitOk;
  }
  fmt::print("restored {} from {}: {} data bytes ({}), user version {}, checksum {}\n",
             printable_path(report.path), spare, restored.data_size,
             format_size(restored.data_size), user_version, checksum);
  if (report.set_aside.empty()) {
    fmt::print("there was no pool file to set aside\n");
  } else {
    fmt::print("the file that was there is now {}\n", printable_path(report.set_aside));
  }
  return kExitOk;
}

}  // namespace

Command add_restore_prev_command(CLI::App& parent) {
  auto options = std::make_shared<RestorePrevOptions>();
  CLI::App* app = parent.add_subcommand(
      "restore-prev",
      "Put the previous snapshot FILE.prev back under FILE after verifying it, setting the "
      "file that was there aside as FILE.damaged; refuses while a running pool object holds "
      "either file");
  app->add_option("FILE", options->file, "Pool file")->required();
  app->add_flag("--json", options->json, "Print JSON instead of text (also on failure)");
  return {app, [options] { return run_restore_prev(*options); }};
}

}  // namespace datatier::cli
