// `datatier info FILE`: the decoded header of a pool file, without checking it.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <filesystem>
#include <memory>
#include <string>

#include "commands.h"
#include "datatier/error.h"
#include "datatier/verify.h"
#include "output.h"
#include "size.h"

namespace datatier::cli {
namespace {

struct InfoOptions {
  std::string file;
  bool json = false;
};

int run_info(const InfoOptions& options) {
  const std::filesystem::path path = options.file;
  Header header;
  try {
    header = read_header(path);
  } catch (const Error& e) {
    if (e.code() != errc::size_mismatch) throw;  // a missing file, no permission, ...
    throw Error(errc::bad_magic, path, *not_a_pool(std::filesystem::file_size(path), {}));
  }
  const std::uint64_t file_size = std::filesystem::file_size(path);
  // The reference implementation records no data size; its files hold whole
  // pages, so the data size is what follows the header.
  const bool recorded = header.data_size != 0;
  const std::uint64_t data_size = recorded ? header.data_size : file_size - kHeaderSize;

  if (options.json) {
    nlohmann::json out = {{"ok", true},
                          {"path", printable_path(path)},
                          {"file_size", file_size},
                          {"data_size", data_size},
                          {"data_size_source", recorded ? "header" : "file size"}};
    out.update(header_to_json(header));
    print_json(out);
    return kExitOk;
  }

  const bool in_use = (header.options & kOptionInUse) != 0;
  fmt::print("file            {}\n", printable_path(path));
  fmt::print("file size       {} bytes ({})\n", file_size, format_size(file_size));
  fmt::print("data size       {} bytes ({}), {}\n", data_size, format_size(data_size),
             recorded ? "recorded in the header" : "implied by the file size");
  fmt::print("magic           {}{}\n", printable_magic(header),
             header.magic == kMagic ? "" : "  (not a pool file)");
  fmt::print("format version  {}{}\n", header.version,
             header.version == kFormatVersion ? "" : "  (not readable by this version)");
  fmt::print("user version    {}\n", header.user_version);
  fmt::print("options         {:#x}{}\n", header.options,
             in_use ? "  (in use: not cleanly saved, or open now)" : "");
  fmt::print("checksum        {}\n", to_hex(header.checksum));
  fmt::print("saved at        {}  (coarse: {})\n", utc_time_ns(header.time_unix_ns),
             utc_time(header.time_unix_s));
  fmt::print("monotonic       {} s since boot  (coarse: {} s)\n",
             seconds_ns(header.time_monotonic_ns), header.time_monotonic_s);
  return kExitOk;
}

}  // namespace

Command add_info_command(CLI::App& parent) {
  auto options = std::make_shared<InfoOptions>();
  CLI::App* app = parent.add_subcommand(
      "info", "Print a pool file's header (reads only the header; checks nothing)");
  app->add_option("FILE", options->file, "Pool file")->required();
  app->add_flag("--json", options->json, "Print JSON instead of text (also on failure)");
  return {app, [options] { return run_info(*options); }};
}

}  // namespace datatier::cli
