// An outside C++ program using an installed datatier: a round trip through
// each pool kind and one error. Exits 0 and prints "ok" when all went well.
#include <datatier/datatier.h>

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

int main() {
  namespace fs = std::filesystem;
  const fs::path dir =
      fs::temp_directory_path() / ("datatier_consumer_" + std::to_string(getpid()));
  fs::create_directories(dir);
  int failures = 0;
  try {
    auto memory = datatier::Memory::create(4096);
    memory.data()[0] = std::byte{1};

    const char text[] = "written by the consumer";
    {
      auto pool = datatier::MmapFile::create(dir / "mmap.pool", 8192, 5);
      std::memcpy(pool.data().data(), text, sizeof text);
      pool.close();  // the clean shutdown: saves and clears the in-use mark
    }
    {
      auto pool = datatier::FileBackedMemory::open(dir / "mmap.pool", 8192, 5);
      if (std::memcmp(pool.data().data(), text, sizeof text) != 0) ++failures;
      pool.flush();  // saves a clean snapshot (open marked the file in use)
    }
    if (!datatier::verify_file(dir / "mmap.pool").ok()) ++failures;
    try {
      (void)datatier::MmapFile::open(dir / "mmap.pool", 8192, 6);
      ++failures;
    } catch (const datatier::Error& e) {
      if (e.code() != datatier::errc::user_version_mismatch) ++failures;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "consumer: %s\n", e.what());
    ++failures;
  }
  fs::remove_all(dir);
  std::printf("consumer (C++): %s\n", failures == 0 ? "ok" : "FAILED");
  return failures == 0 ? 0 : 1;
}
