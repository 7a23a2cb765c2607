// A power-loss simulator for tests, after SQLite's crash-test VFS: it stands
// in for the system-call table, keeps a model of what is durable in one
// directory, cuts the power at a chosen call and builds what the disk may hold
// when the power comes back.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace datatier::testing {

// When the simulated machine fails.
struct PowerLossPlan {
  // The call, counted from 0 from arming over every entry of the system-call
  // table, at which the power goes off, before the call takes effect. Empty:
  // the power stays on until disarm().
  std::optional<std::uint64_t> cut_at;
  // The fsync / fdatasync, counted from 0 from arming among those calls only,
  // that fails with EIO without syncing anything ("fsyncgate"). For a file,
  // its pending writes are lost for good: they never become durable, although
  // reads still see them. For the directory, its pending operations stay
  // pending: a later sync may make them durable.
  std::optional<std::uint64_t> failing_sync;
};

// What the disk holds when the power comes back.
struct SurvivingState {
  std::map<std::string, std::vector<std::byte>> files;  // name -> contents
  // How each change that was not durable was chosen to end, for reports.
  std::string choices;

  // Writes the files into `dir`, which must exist and hold none of them.
  void lay_out(const std::filesystem::path& dir) const;
};

// Arms on construction: installs its own entries in platform::syscalls(),
// takes the regular files now in `dir` as durable, and from then on passes
// every call through to the real one while keeping a model of what a power
// loss would keep of the files in `dir` (identified by device and inode, so
// renames and exchanges are followed):
//   - pwrite (also through O_DIRECT descriptors: the device cache is
//     volatile), ftruncate, fallocate and O_TRUNC become durable at an fsync
//     or fdatasync of the file, through any descriptor;
//   - writes through a shared writable mapping become durable at
//     msync(MS_SYNC) of their pages; until then each dirty page may or may not
//     have been written back;
//   - creating, renaming (plain, RENAME_EXCHANGE, RENAME_NOREPLACE) and
//     unlinking a file in `dir` become durable at an fsync of `dir`.
// At the planned call the power goes off: that call and every later one
// fails with EIO and changes no file (close and munmap still release the
// descriptor or mapping: they write nothing), so cleanup code that runs while
// the caller unwinds changes nothing either.
//
// Entries added to the system-call table after this simulator pass through
// uncounted and unmodelled until it learns them. One simulator at a time;
// the calls may come from any thread. Not movable.
class PowerLossSimulator {
 public:
  PowerLossSimulator(const std::filesystem::path& dir, const PowerLossPlan& plan);
  PowerLossSimulator(const PowerLossSimulator&) = delete;
  PowerLossSimulator& operator=(const PowerLossSimulator&) = delete;
  // Disarms, if still armed.
  ~PowerLossSimulator();

  // Cuts the power now if it is still on and puts the real system calls back.
  // The model stays for surviving().
  void disarm();

  bool power_off() const;
  // Calls made so far, and fsync / fdatasync calls among them.
  std::uint64_t calls() const;
  std::uint64_t syncs() const;
  // Whether the planned sync failure happened, and at which call.
  std::optional<std::uint64_t> failed_sync_call() const;
  // The calls made so far, one line each ("12 pwrite pool.prev 4096 at 0").
  std::vector<std::string> trace() const;
  // Calls on files in the directory that the model cannot follow (a rename
  // into another directory, an unknown fallocate mode, a sync that really
  // failed): a test using the simulator expects none.
  std::vector<std::string> unmodelled() const;

  // One state the disk may hold after the power loss: every unsynced write
  // independently kept, dropped or torn (each 512-byte sector it touches
  // kept, left as it was, or filled with garbage), every unsynced size change
  // kept or not, every dirty mapped page written back or not, and the
  // unsynced directory operations kept up to a random point, in order.
  // Requires: disarmed.
  SurvivingState surviving(std::mt19937_64& random) const;

  struct Model;

 private:
  std::unique_ptr<Model> model_;
};

}  // namespace datatier::testing
