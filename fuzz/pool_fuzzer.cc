// libFuzzer target: arbitrary bytes as a pool file's contents, with a data
// size and options taken from the input, fed to decode_header, verify_file
// and both pools' open(). Any outcome but a datatier::Error or success (a
// crash, a sanitizer report, another exception, a hang) is a bug, and so is:
//   - verify_file and either pool's open() reaching different verdicts (the
//     same error, or both accepting the file) for the same expectations;
//   - an open() that serves bytes which the official single-threaded BLAKE3,
//     over the header with its checksum zeroed and its in-use mark cleared
//     followed by the data served, does not hash to the stored checksum
//     (docs/format.md, "Checksum").
//
// Input: byte 0 flags, bytes 1..8 a little-endian number v, then the file.
//   flags bit 0: open with accept_unclean
//   flags bit 1: data size = v as it is (else derived from the file size:
//                file size - 4096 - v % 4096, so that it usually fits)
//   flags bit 2: user version = v (else the header's own)
//   flags bit 3: data size = the size recorded in the header, when non-zero
// The golden files prefixed with 9 zero bytes open successfully
// (scripts/fuzz.sh builds that seed corpus).
#include <blake3.h>
#include <stdlib.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <system_error>

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

void write_file(const std::filesystem::path& path, std::span<const std::uint8_t> contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(contents.data()),
            static_cast<std::streamsize>(contents.size()));
}

// The checksum a file with this header and these data bytes must store: the
// official BLAKE3 of the header with bytes 0..32 zeroed and bit 0 of byte 80
// cleared, followed by the data. Reads every byte served, so the sanitizers
// also see a bad span.
std::array<std::uint8_t, BLAKE3_OUT_LEN> official_checksum(std::span<const std::uint8_t> header,
                                                           std::span<const std::byte> data) {
  std::array<std::uint8_t, datatier::kHeaderSize> covered;
  std::memcpy(covered.data(), header.data(), covered.size());
  std::memset(covered.data(), 0, BLAKE3_OUT_LEN);
  covered[80] &= 0xfe;
  blake3_hasher hasher;
  blake3_hasher_init(&hasher);
  blake3_hasher_update(&hasher, covered.data(), covered.size());
  blake3_hasher_update(&hasher, data.data(), data.size());
  std::array<std::uint8_t, BLAKE3_OUT_LEN> out;
  blake3_hasher_finalize(&hasher, out.data(), out.size());
  return out;
}

// Opens the file as a `Pool` and returns the verdict (empty: opened). An
// open that serves bytes must serve `data_size` of them, hashing with the
// header in `contents` to the checksum stored there.
template <typename Pool>
std::error_code open_verdict(const std::filesystem::path& path,
                             std::span<const std::uint8_t> contents, std::size_t data_size,
                             std::uint64_t user_version, const datatier::FileOptions& options) {
  try {
    Pool pool = Pool::open(path, data_size, user_version, options);
    if (pool.size() != data_size || contents.size() < datatier::kHeaderSize) {
      std::fprintf(stderr, "an open served %zu bytes of a %zu-byte file; %zu expected\n",
                   pool.size(), contents.size(), data_size);
      abort();
    }
    const auto computed = official_checksum(contents, pool.data());
    if (std::memcmp(computed.data(), contents.data(), computed.size()) != 0) {
      std::fprintf(stderr, "the bytes served do not hash to the stored checksum\n");
      abort();
    }
    return {};
  } catch (const datatier::Error& e) {
    return e.code();  // the expected answer to most inputs
  }
}

// verify_file's verdict on the same expectations (empty: intact).
std::error_code verify_verdict(const std::filesystem::path& path,
                               const datatier::VerifyOptions& options) {
  try {
    return datatier::verify_file(path, options).error;
  } catch (const datatier::Error& e) {
    return e.code();
  }
}

// Aborts, saying why, unless `who` reached verify_file's verdict.
void expect_same_verdict(const char* who, const std::error_code& got,
                         const std::error_code& verified) {
  if (got == verified) return;
  std::fprintf(stderr, "%s says \"%s\", verify_file \"%s\"\n", who,
               got ? got.message().c_str() : "ok", verified ? verified.message().c_str() : "ok");
  abort();
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
  const std::span<const std::uint8_t> file(contents, file_size);
  write_file(path, file);
  (void)datatier::pool_file_size(data_size);

  datatier::VerifyOptions verify;
  verify.data_size = data_size;
  verify.user_version = user_version;
  verify.accept_unclean = options.accept_unclean;
  const std::error_code verified = verify_verdict(path, verify);
  (void)verify_verdict(path, {});  // with the sizes the file itself implies
  try {
    (void)datatier::read_header(path);
  } catch (const datatier::Error&) {
  }
  expect_same_verdict(
      "MmapFile::open",
      open_verdict<datatier::MmapFile>(path, file, data_size, user_version, options), verified);
  // Open rewrites the in-use mark: start from the input again.
  write_file(path, file);
  expect_same_verdict(
      "FileBackedMemory::open",
      open_verdict<datatier::FileBackedMemory>(path, file, data_size, user_version, options),
      verified);
  return 0;
}
