// `datatier create FILE --size N`: a new pool file, filled and flushed.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <filesystem>
#include <memory>
#include <string>

#include "commands.h"
#include "datatier/file_backed_memory.h"
#include "datatier/mmap_file.h"
#include "datatier/verify.h"
#include "output.h"
#include "size.h"
#include "splitmix64.h"

namespace datatier::cli {
namespace {

struct CreateOptions {
  std::string file;
  std::string size;
  std::uint64_t user_version = 0;
  std::string kind = "mmap";
  std::string fill = "zero";
  std::uint64_t seed = 0;
  CLI::Option* seed_option = nullptr;
  bool json = false;
};

// Fills the pool's data() (all of it, as the reference's test files do), saves
// it with a clean close and returns the header now on disk. On failure
// removes the files the pool made, so no half-made pool is left behind.
template <typename Pool>
Header fill_and_close(Pool pool, const CreateOptions& options, bool fbm) {
  const std::filesystem::path path = pool.path();
  try {
    if (options.fill == "random") SplitMix64(options.seed).fill(pool.data());
    pool.close();
    return read_header(path);
  } catch (...) {
    { const Pool released = std::move(pool); }
    std::error_code ignored;
    std::filesystem::remove(path, ignored);
    if (fbm) {
      const std::filesystem::path spare = FileBackedMemory::spare_path(path);
      for (const auto& file :
           {FileBackedMemory::index_path(path), FileBackedMemory::index_path(spare), spare}) {
        std::filesystem::remove(file, ignored);
      }
    }
    throw;
  }
}

int run_create(const CreateOptions& options) {
  const std::filesystem::path path = options.file;
  const std::uint64_t size = parse_size(options.size);
  if (size > SIZE_MAX) throw UsageError(fmt::format("--size {} is too large", options.size));
  const auto data_size = static_cast<std::size_t>(size);
  if (options.seed_option->count() > 0 && options.fill != "random") {
    throw UsageError("--seed needs --fill random");
  }

  const bool fbm = options.kind == "fbm";
  const Header header =
      fbm ? fill_and_close(FileBackedMemory::create(path, data_size, options.user_version), options,
                           true)
          : fill_and_close(MmapFile::create(path, data_size, options.user_version), options, false);
  const std::uint64_t file_size = std::filesystem::file_size(path);
  const std::string fill =
      options.fill == "random" ? fmt::format("random (splitmix64, seed {})", options.seed) : "zero";
  const std::string spare =
      fbm ? printable_path(FileBackedMemory::spare_path(path)) : std::string();
  // The save wrote a block index beside the file, unless the pool is too
  // small to have more than one block.
  const std::filesystem::path index_path = FileBackedMemory::index_path(path);
  std::error_code ec;
  const bool indexed = fbm && std::filesystem::exists(index_path, ec);
  const std::string index = indexed ? printable_path(index_path) : std::string();

  if (options.json) {
    nlohmann::json out = {
        {"ok", true},
        {"path", printable_path(path)},
        {"kind", options.kind},
        {"file_size", file_size},
        {"data_size", data_size},
        {"fill", options.fill},
        {"seed", options.fill == "random" ? nlohmann::json(options.seed) : nlohmann::json(nullptr)},
        {"spare_path", fbm ? nlohmann::json(spare) : nlohmann::json(nullptr)},
        {"index_path", indexed ? nlohmann::json(index) : nlohmann::json(nullptr)}};
    out.update(header_to_json(header));
    print_json(out);
    return kExitOk;
  }
  fmt::print("created {} ({} pool): {} data bytes ({}) in a {}-byte file, user version {}\n",
             printable_path(path), options.kind, data_size, format_size(data_size), file_size,
             options.user_version);
  fmt::print("fill            {}\n", fill);
  fmt::print("checksum        {}\n", to_hex(header.checksum));
  if (fbm) fmt::print("spare file      {} (holds the previous snapshot after a save)\n", spare);
  if (indexed) {
    fmt::print("block index     {} (lets a save write only the blocks that changed)\n", index);
  }
  return kExitOk;
}

}  // namespace

Command add_create_command(CLI::App& parent) {
  auto options = std::make_shared<CreateOptions>();
  CLI::App* app = parent.add_subcommand("create", "Create a pool file, fill it and flush it");
  app->add_option("FILE", options->file, "Pool file to create (must not exist)")->required();
  app->add_option("--size", options->size, "Data size (required), e.g. 4096, 64KiB, 1.5GiB")
      ->required()
      ->option_text("SIZE");
  app->add_option("--user-version", options->user_version, "User version to record (default 0)")
      ->check(kNotNegative)
      ->option_text("N");
  app->add_option("--kind", options->kind,
                  "mmap (MmapFile, the default) or fbm (FileBackedMemory, which also makes the "
                  "spare file FILE.prev)")
      ->check(CLI::IsMember({"mmap", "fbm"}))
      ->option_text("mmap|fbm");
  app->add_option("--fill", options->fill,
                  "zero (the default), or random: the splitmix64 stream from --seed over all data "
                  "bytes, 64-bit words little-endian (the data of the reference "
                  "implementation's test files)")
      ->check(CLI::IsMember({"zero", "random"}))
      ->option_text("zero|random");
  options->seed_option =
      app->add_option("--seed", options->seed, "Seed of the random fill (default 0)")
          ->check(kNotNegative)
          ->option_text("N");
  app->add_flag("--json", options->json, "Print JSON instead of text (also on failure)");
  return {app, [options] { return run_create(*options); }};
}

}  // namespace datatier::cli
