// libFuzzer target: arbitrary bytes as a pool file's contents, with a data
// size and options taken from the input, fed to decode_header, verify_file
// and both pools' open(). Any outcome but a datatier::Error or success (a
// crash, a sanitizer report, another exception, a hang) is a bug.
//
// Input: byte 0 flags, bytes 1..8 a little-endian number v, then the file.
//   flags bit 0: open with accept_unclean
//   flags bit 1: data size = v as it is (else derived from the file size:
//                file size - 4096 - v % 4096, so that it usually fits)
//   flags bit 2: user version = v (else the header's own)
//   flags bit 3: data size = the size recorded in the header, when non-zero
// The golden files prefixed with 9 zero bytes open successfully
// (scripts/fuzz.sh builds that seed corpus).
#include <stdlib.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "datatier/datatier.h"

namespace {

constexpr std::size_t kPrefix = 9;

const std::filesystem::path& work_file() {
  static const std::filesystem::path path = [] {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "datatier-fuzz-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) abort();
    static const std::filesystem::path dir = pattern;
    ::atexit([] {
      std::error_code ignored;
      std::filesystem::remove_all(dir, ignored);
    });
    return dir / "pool";
  }();
  return path;
}

template <typename Pool>
void try_open(const std::filesystem::path& path, std::size_t data_size, std::uint64_t user_version,
              const datatier::FileOptions& options) {
  try {
    Pool pool = Pool::open(path, data_size, user_version, options);
    // Touch every byte served, so the sanitizers see a bad span.
    volatile std::uint8_t sum = 0;
    for (std::byte b : pool.data())
      sum = static_cast<std::uint8_t>(sum + std::to_integer<std::uint8_t>(b));
    if (pool.size() != data_size) abort();
  } catch (const datatier::Error&) {
    // The expected answer to most inputs.
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* input, std::size_t size) {
  if (size < kPrefix) return -1;
  const std::uint8_t flags = input[0];
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < 8; ++i) v |= std::uint64_t{input[1 + i]} << (8 * i);
  const std::uint8_t* contents = input + kPrefix;
  const std::size_t file_size = size - kPrefix;

  // Header decoding accepts any 4096 bytes.
  std::array<std::byte, datatier::kHeaderSize> header_bytes{};
  std::memcpy(header_bytes.data(), contents, std::min(file_size, header_bytes.size()));
  const datatier::Header header = datatier::decode_header(header_bytes);
  datatier::Header again = datatier::decode_header(header_bytes);
  if (!(header == again)) abort();
  std::array<std::byte, datatier::kHeaderSize> encoded{};
  datatier::encode_header(header, encoded);
  if (!(datatier::decode_header(encoded) == header)) abort();

  std::size_t data_size;
  if ((flags & 8) != 0 && header.data_size != 0) {
    data_size = static_cast<std::size_t>(header.data_size);
  } else if ((flags & 2) != 0) {
    data_size = static_cast<std::size_t>(v);
  } else if (file_size >= datatier::kHeaderSize) {
    const std::size_t room = file_size - datatier::kHeaderSize;
    data_size = room - std::min<std::size_t>(room, static_cast<std::size_t>(v % 4096));
  } else {
    data_size = static_cast<std::size_t>(v % 8192);
  }
  const std::uint64_t user_version = (flags & 4) != 0 ? v : header.user_version;
  datatier::FileOptions options;
  options.accept_unclean = (flags & 1) != 0;

  const std::filesystem::path& path = work_file();
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(contents), static_cast<std::streamsize>(file_size));
  }
  (void)datatier::pool_file_size(data_size);

  try {
    datatier::VerifyOptions verify;
    verify.data_size = data_size;
    verify.user_version = user_version;
    verify.accept_unclean = options.accept_unclean;
    (void)datatier::verify_file(path, verify);
    (void)datatier::verify_file(path);  // with the sizes the file itself implies
    (void)datatier::read_header(path);
  } catch (const datatier::Error&) {
  }
  try_open<datatier::MmapFile>(path, data_size, user_version, options);
  // Open rewrites the in-use mark: start from the input again.
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(contents), static_cast<std::streamsize>(file_size));
  }
  try_open<datatier::FileBackedMemory>(path, data_size, user_version, options);
  return 0;
}
