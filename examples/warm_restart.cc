// warm_restart: a small key-value table kept in a FileBackedMemory pool,
// found again intact after the process restarts.
//
//   warm_restart POOL_FILE
//
// The first run creates the pool, fills the table, saves it with flush(),
// closes it and then runs itself again in a new process, standing in for a
// server restart: the new process opens the pool and finds the table. Every later run opens it,
// prints it, counts itself in and saves again.
//
// The point of the example is the layout. Everything in the table refers to
// other parts of the pool by *offset* from the start of data(), never by
// pointer: the next process gets the bytes back at another address, and an
// offset means the same thing there. Values are read and written with memcpy,
// so the table makes no assumption about where the bytes land.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

#include "datatier/datatier.h"

namespace {

constexpr std::size_t kPoolSize = std::size_t{64} * 1024;
// The layout version of the table below. It is stored as the pool's user
// version, so a program with a different layout is refused with
// errc::user_version_mismatch instead of misreading the bytes.
constexpr std::uint64_t kSchemaVersion = 1;
constexpr std::uint64_t kTableMagic = 0x31454c4241545659;  // "YVTABLE1"
constexpr std::uint32_t kCapacity = 64;

// At offset 0 of the pool.
struct TableHeader {
  std::uint64_t magic;
  std::uint32_t capacity;  // number of slots
  std::uint32_t count;     // slots in use
  std::uint64_t heap_end;  // offset of the first free heap byte
};

// kCapacity of these follow the header. key_offset and value_offset point
// into the heap, which follows the slots and grows towards the pool's end.
struct Slot {
  std::uint64_t key_offset;
  std::uint64_t value_offset;
  std::uint32_t key_size;
  std::uint32_t value_size;
};

constexpr std::uint64_t kSlotsOffset = sizeof(TableHeader);
constexpr std::uint64_t kHeapOffset = kSlotsOffset + kCapacity * sizeof(Slot);

// A view of the table in a pool's bytes. Holds no pointers between runs:
// only `bytes_`, which is taken afresh from the pool each time.
class Table {
 public:
  explicit Table(std::span<std::byte> bytes) : bytes_(bytes) {}

  bool formatted() const { return header().magic == kTableMagic; }

  void format() { store(0, TableHeader{kTableMagic, kCapacity, 0, kHeapOffset}); }

  std::uint32_t size() const { return header().count; }

  // Inserts or replaces. Returns false when the table or its heap is full.
  // (A replaced value's old bytes are not reclaimed: a real table would.)
  bool put(std::string_view key, std::string_view value) {
    TableHeader h = header();
    std::optional<std::uint32_t> index = find(key);
    Slot slot{};
    if (index) {
      slot = load<Slot>(slot_offset(*index));
    } else {
      if (h.count == h.capacity) return false;
      index = h.count++;
      auto key_offset = append(h, key);
      if (!key_offset) return false;
      slot.key_offset = *key_offset;
      slot.key_size = static_cast<std::uint32_t>(key.size());
    }
    if (value.size() > slot.value_size) {
      auto value_offset = append(h, value);
      if (!value_offset) return false;
      slot.value_offset = *value_offset;
    } else {
      std::memcpy(bytes_.data() + slot.value_offset, value.data(), value.size());
    }
    slot.value_size = static_cast<std::uint32_t>(value.size());
    store(slot_offset(*index), slot);
    store(0, h);
    return true;
  }

  std::optional<std::string> get(std::string_view key) const {
    auto index = find(key);
    if (!index) return std::nullopt;
    return value_at(*index);
  }

  std::string key_at(std::uint32_t index) const {
    auto slot = load<Slot>(slot_offset(index));
    return string_at(slot.key_offset, slot.key_size);
  }

  std::string value_at(std::uint32_t index) const {
    auto slot = load<Slot>(slot_offset(index));
    return string_at(slot.value_offset, slot.value_size);
  }

 private:
  static std::uint64_t slot_offset(std::uint32_t index) {
    return kSlotsOffset + std::uint64_t{index} * sizeof(Slot);
  }

  TableHeader header() const { return load<TableHeader>(0); }

  template <typename T>
  T load(std::uint64_t offset) const {
    T value;
    std::memcpy(&value, bytes_.data() + offset, sizeof value);
    return value;
  }

  template <typename T>
  void store(std::uint64_t offset, const T& value) {
    std::memcpy(bytes_.data() + offset, &value, sizeof value);
  }

  std::string string_at(std::uint64_t offset, std::uint32_t size) const {
    return {reinterpret_cast<const char*>(bytes_.data() + offset), size};
  }

  std::optional<std::uint32_t> find(std::string_view key) const {
    const std::uint32_t count = header().count;
    for (std::uint32_t i = 0; i < count; ++i) {
      if (key_at(i) == key) return i;
    }
    return std::nullopt;
  }

  // Copies `text` to the end of the heap and returns its offset.
  std::optional<std::uint64_t> append(TableHeader& h, std::string_view text) {
    if (text.size() > bytes_.size() - h.heap_end) return std::nullopt;
    const std::uint64_t offset = h.heap_end;
    std::memcpy(bytes_.data() + offset, text.data(), text.size());
    h.heap_end += text.size();
    return offset;
  }

  std::span<std::byte> bytes_;
};

void say(const char* format, const std::string& text) {
  std::printf("[pid %ld] ", static_cast<long>(getpid()));
  std::printf(format, text.c_str());
  std::printf("\n");
  std::fflush(stdout);
}

// Opens the pool at `path`, creating it if there is none. Sets `created`.
datatier::FileBackedMemory open_or_create(const std::string& path, bool& created) {
  created = false;
  try {
    return datatier::FileBackedMemory::open(path, kPoolSize, kSchemaVersion);
  } catch (const datatier::Error& e) {
    if (e.code() == std::errc::no_such_file_or_directory) {
      say("no pool at %s: creating one", path);
      created = true;
      return datatier::FileBackedMemory::create(path, kPoolSize, kSchemaVersion);
    }
    if (e.code() == datatier::errc::unclean_shutdown) {
      // The previous owner ended without flush(): its last *saved* snapshot
      // is still intact, so take that rather than starting cold.
      say("the last run did not save on exit; restoring its last snapshot (%s)", e.what());
      datatier::FileOptions options;
      options.accept_unclean = true;
      return datatier::FileBackedMemory::open(path, kPoolSize, kSchemaVersion, options);
    }
    throw;
  }
}

int run(const std::string& path, bool restart) {
  bool created = false;
  {
    datatier::FileBackedMemory pool = open_or_create(path, created);
    Table table(pool.data());

    if (created || !table.formatted()) {
      table.format();
      table.put("greeting", "hello from the first run");
      table.put("first pid", std::to_string(getpid()));
      table.put("runs", "1");
    } else {
      const datatier::Header saved = pool.header();
      const auto age = std::time(nullptr) - static_cast<std::time_t>(saved.time_unix_s);
      say("warm restart: found %s",
          std::to_string(table.size()) + " entries, saved " + std::to_string(age) + " s ago:");
      for (std::uint32_t i = 0; i < table.size(); ++i) {
        std::printf("    %-10s = %s\n", table.key_at(i).c_str(), table.value_at(i).c_str());
      }
      const int runs = std::stoi(table.get("runs").value_or("0")) + 1;
      table.put("runs", std::to_string(runs));
    }
    table.put("last pid", std::to_string(getpid()));

    pool.flush();  // the snapshot the next process will find
    say("saved %s entries", std::to_string(table.size()));
  }  // the pool is closed (and its lock released) here

  if (created && restart) {
    // Stand-in for a server restart: a new process running this program.
    say("restarting: a new process will open %s", path);
    std::fflush(stdout);
    const pid_t child = fork();
    if (child == 0) {
      char arg0[] = "warm_restart";
      char no_restart[] = "--no-restart";
      std::string path_copy = path;
      char* argv[] = {arg0, no_restart, path_copy.data(), nullptr};
      execv("/proc/self/exe", argv);
      std::perror("error: execv");
      _exit(127);
    }
    if (child < 0) {
      std::perror("error: fork");
      return 1;
    }
    int status = 0;
    if (waitpid(child, &status, 0) != child) {
      std::perror("error: waitpid");
      return 1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  bool restart = true;
  int arg = 1;
  if (arg < argc && std::string_view(argv[arg]) == "--no-restart") {
    restart = false;
    ++arg;
  }
  if (arg + 1 != argc) {
    std::fprintf(stderr, "usage: %s [--no-restart] POOL_FILE\n", argv[0]);
    return 2;
  }
  try {
    return run(argv[arg], restart);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
