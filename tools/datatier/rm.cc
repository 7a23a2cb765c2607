// `datatier rm FILE`: removes a pool file and its spare, never while a pool
// object holds them.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "commands.h"
#include "datatier/error.h"
#include "datatier/remove.h"
#include "output.h"

namespace datatier::cli {
namespace {

struct RmOptions {
  std::string file;
  bool force = false;
  bool json = false;
};

int run_rm(const RmOptions& options) {
  RemoveOptions remove;
  remove.force = options.force;
  std::vector<std::filesystem::path> removed;
  try {
    removed = remove_pool(options.file, remove);
  } catch (const Error& e) {
    if (e.code() != errc::bad_magic) throw;
    // The hint goes before the ": not a pool file (bad magic)" the error adds.
    std::string what = e.what();
    const std::string verdict = ": " + e.code().message();
    if (what.ends_with(verdict)) what.resize(what.size() - verdict.size());
    throw Error(e.code(), {}, what + " (--force removes it anyway)");
  }

  if (options.json) {
    nlohmann::json paths = nlohmann::json::array();
    for (const auto& path : removed) paths.push_back(printable_path(path));
    print_json({{"ok", true}, {"removed", std::move(paths)}});
    return kExitOk;
  }
  for (const auto& path : removed) fmt::print("removed {}\n", printable_path(path));
  return kExitOk;
}

}  // namespace

Command add_rm_command(CLI::App& parent) {
  auto options = std::make_shared<RmOptions>();
  CLI::App* app = parent.add_subcommand(
      "rm",
      "Remove a pool file and its spare FILE.prev; refuses a pool that a running pool object "
      "holds, and a file that is not a pool file");
  app->add_option("FILE", options->file, "Pool file")->required();
  app->add_flag("--force", options->force,
                "Remove FILE (and FILE.prev) even if it is not a pool file; a held pool is still "
                "refused");
  app->add_flag("--json", options->json, "Print JSON instead of text (also on failure)");
  return {app, [options] { return run_rm(*options); }};
}

}  // namespace datatier::cli
