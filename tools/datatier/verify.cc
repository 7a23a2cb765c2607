// `datatier verify FILE`: every check open() makes, read-only, with a verdict.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "commands.h"
#include "datatier/block_index.h"
#include "datatier/error.h"
#include "datatier/verify.h"
#include "output.h"
#include "size.h"

namespace datatier::cli {
namespace {

struct VerifyCommandOptions {
  std::string file;
  std::string size;
  CLI::Option* size_option = nullptr;
  std::uint64_t user_version = 0;
  CLI::Option* user_version_option = nullptr;
  bool accept_unclean = false;
  bool json = false;
};

// One line on a verdict: "ok: ...", "in use: ..." or "not intact: ...".
std::string verdict_line(const VerifyReport& report, std::uint64_t user_version) {
  if (report.ok()) {
    return fmt::format("ok: {} data bytes ({}), user version {}, checksum {}", report.data_size,
                       format_size(report.data_size), user_version,
                       to_hex(report.header->checksum));
  }
  if (report.error == errc::pool_in_use) return fmt::format("in use: {}", report.message);
  if (report.error == errc::bad_magic) return printable_text(report.message);  // not a pool file
  return fmt::format("not intact: {}: {}", report.error.message(), printable_text(report.message));
}

// How many damaged ranges the text output lists before it counts the rest.
constexpr std::size_t kDamagedRangesListed = 16;

// "damaged data: offset N, length N" per range the block index names (the
// first kDamagedRangesListed, then a count of the rest), each line after
// `prefix`.
void print_damaged(const VerifyReport& report, std::string_view prefix) {
  const std::size_t listed = std::min(report.damaged.size(), kDamagedRangesListed);
  for (std::size_t i = 0; i < listed; ++i) {
    fmt::print("{}damaged data: offset {}, length {}\n", prefix, report.damaged[i].offset,
               report.damaged[i].length);
  }
  if (report.damaged.size() > listed) {
    fmt::print("{}damaged data: {} more ranges\n", prefix, report.damaged.size() - listed);
  }
}

nlohmann::json verdict_json(const std::filesystem::path& path, const VerifyReport& report) {
  nlohmann::json damaged = nlohmann::json::array();
  for (const ByteRange& range : report.damaged) {
    damaged.push_back({{"offset", range.offset}, {"length", range.length}});
  }
  return {
      {"path", printable_path(path)},
      {"ok", report.ok()},
      {"error", report.ok() ? nlohmann::json(nullptr) : nlohmann::json(error_name(report.error))},
      {"error_description",
       report.ok() ? nlohmann::json(nullptr) : nlohmann::json(report.error.message())},
      {"message", printable_text(report.message)},
      {"damaged", std::move(damaged)},
  };
}

int run_verify(const VerifyCommandOptions& options) {
  const std::filesystem::path path = options.file;
  VerifyOptions verify;
  if (options.size_option->count() > 0) {
    const std::uint64_t size = parse_size(options.size);
    if (size > SIZE_MAX) throw UsageError(fmt::format("--size {} is too large", options.size));
    verify.data_size = static_cast<std::size_t>(size);
  }
  if (options.user_version_option->count() > 0) verify.user_version = options.user_version;
  verify.accept_unclean = options.accept_unclean;
  ProgressBar progress("verifying");
  verify.progress = [&progress](std::uint64_t done, std::uint64_t total) {
    progress.update(done, total);
    return true;
  };

  VerifyReport report = verify_file(path, verify);  // throws only for I/O errors
  progress.finish();
  // The library checks the size first, as open() does; a file that is no
  // pool at all is better called that than the wrong size.
  const auto foreign = report.error == errc::pool_in_use
                           ? std::nullopt
                           : not_a_pool(report.file_size, report.header);
  if (foreign) {
    report.error = errc::bad_magic;
    report.message = "not a pool file: " + *foreign;
  }

  // A check that could not even be made (a --size too large for any file) is
  // a usage error, not a verdict about the file.
  if (report.error && report.error.category() != datatier::error_category()) {
    throw UsageError(fmt::format("'{}': {}", path.string(), report.message));
  }
  const std::uint64_t user_version =
      verify.user_version.value_or(report.header ? report.header->user_version : 0);

  // The previous snapshot a FileBackedMemory keeps beside its pool file: what
  // FileOptions::fallback_to_previous would load. Its in-use mark says
  // nothing (it was the pool file when it was marked).
  std::filesystem::path spare = path;
  spare += ".prev";
  std::optional<VerifyReport> previous;
  if (std::error_code ec; std::filesystem::is_regular_file(spare, ec)) {
    VerifyOptions spare_options = verify;
    spare_options.accept_unclean = true;
    spare_options.progress = {};
    // Checked against what the pool file says, unless that is no pool
    // (then against what was asked for, else its own header).
    if (!foreign) {
      spare_options.user_version = user_version;
      spare_options.data_size = report.data_size;
    }
    previous = verify_file(spare, spare_options);
    // A spare that never held a snapshot (the pool was created and saved
    // once since) is no damage: say so instead of "checksum mismatch".
    if (previous->error == errc::checksum_mismatch && previous->header &&
        previous->header->checksum == Checksum{}) {
      previous->message = "no previous snapshot yet (the pool was saved only once)";
    }
  }

  if (options.json) {
    nlohmann::json out = verdict_json(path, report);
    out["not_a_pool"] = foreign.has_value();
    out["file_size"] = report.file_size;
    out["data_size"] = report.data_size;
    out["user_version"] = user_version;
    out["computed_checksum"] = report.computed_checksum
                                   ? nlohmann::json(to_hex(*report.computed_checksum))
                                   : nlohmann::json(nullptr);
    out["header"] = report.header ? header_to_json(*report.header) : nlohmann::json(nullptr);
    out["previous"] = previous ? verdict_json(spare, *previous) : nlohmann::json(nullptr);
    print_json(out);
  } else {
    fmt::print("{}\n", verdict_line(report, user_version));
    print_damaged(report, "");
    if (previous) {
      fmt::print("previous snapshot '{}': {}\n", printable_path(spare),
                 verdict_line(*previous, user_version));
      print_damaged(*previous, "previous snapshot ");
    }
  }
  return report.ok() ? kExitOk : kExitNotIntact;
}

}  // namespace

Command add_verify_command(CLI::App& parent) {
  auto options = std::make_shared<VerifyCommandOptions>();
  CLI::App* app = parent.add_subcommand(
      "verify",
      "Check a pool file as opening it would (size, magic, version, user version, in-use mark, "
      "checksum), and the previous snapshot FILE.prev beside it; read-only. A file with a "
      "block index (FILE.index) that fails the checksum has its damaged data ranges named. "
      "Exit 0 intact, 1 not intact, not a pool file, or in use by a running pool");
  app->add_option("FILE", options->file, "Pool file")->required();
  options->size_option =
      app->add_option(
             "--size", options->size,
             "Data size to check against (default: recorded in the header, else file size - 4096)")
          ->option_text("SIZE");
  options->user_version_option = app->add_option("--user-version", options->user_version,
                                                 "User version to expect (default: the header's)")
                                     ->check(kNotNegative)
                                     ->option_text("N");
  app->add_flag("--accept-unclean", options->accept_unclean,
                "Accept a file marked in use (owner ended without flushing) if its checksum holds");
  app->add_flag("--json", options->json, "Print JSON instead of text (also on failure)");
  return {app, [options] { return run_verify(*options); }};
}

}  // namespace datatier::cli
