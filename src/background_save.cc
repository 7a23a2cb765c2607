// FileBackedMemory::begin_flush(): a save that takes the pool's blocks
// through a copy-on-write cut, on a thread of its own, while writers write.
#include <algorithm>
#include <exception>
#include <iterator>
#include <memory>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "background_flush.h"
#include "block_index.h"
#include "bulk_io.h"
#include "checksum.h"
#include "datatier/error.h"
#include "datatier/file_backed_memory.h"
#include "file_backed_memory_impl.h"
#include "parallel.h"
#include "pool_file.h"
#include "progress_report.h"
#include "report_fallback.h"
#include "tree_checksum.h"

namespace datatier {

// What begin_flush() decided, for its thread.
struct FileBackedMemory::Impl::CutPlan {
  Header header;                      // the new snapshot's, its checksum to come
  std::vector<std::uint64_t> marked;  // the marks taken, put back on failure
  std::vector<std::uint64_t> taken;   // the blocks the save takes, ascending
  std::vector<bool> rehash;           // per block: hash again (else the pool file's value)
  bool from_pool_values = false;      // start from the pool file's values
};

namespace {

// Ends the cut on every way out of the saving thread, so that writers never
// wait for a save that has stopped.
class EndCut {
 public:
  explicit EndCut(detail::BlockCut& cut) noexcept : cut_(cut) {}
  EndCut(const EndCut&) = delete;
  EndCut& operator=(const EndCut&) = delete;
  ~EndCut() { cut_.end(); }

 private:
  detail::BlockCut& cut_;
};

// The largest write coalesce() makes.
constexpr std::size_t kJoinedWrite = std::size_t{2} << 20;
// The bytes the saving thread takes at once (at most a quarter of the copy
// budget): several joined writes, kBulkDepth of them in flight.
constexpr std::uint64_t kBatchBytes = std::uint64_t{8} << 20;

// Sorts `writes` by offset and joins those adjacent both in memory and in
// the file, up to kJoinedWrite bytes each.
void coalesce(std::vector<detail::BufferWrite>& writes) {
  std::sort(writes.begin(), writes.end(),
            [](const auto& a, const auto& b) { return a.offset < b.offset; });
  std::size_t kept = 0;
  for (const detail::BufferWrite& w : writes) {
    if (kept > 0) {
      detail::BufferWrite& last = writes[kept - 1];
      if (last.bytes.data() + last.bytes.size() == w.bytes.data() &&
          last.offset + last.bytes.size() == w.offset &&
          last.bytes.size() + w.bytes.size() <= kJoinedWrite) {
        last.bytes = {last.bytes.data(), last.bytes.size() + w.bytes.size()};
        continue;
      }
    }
    writes[kept++] = w;
  }
  writes.resize(kept);
}

}  // namespace

BackgroundFlush FileBackedMemory::begin_flush() {
  if (!impl_) detail::throw_moved_from();
  Impl& s = *impl_;
  s.wait_loaded();
  const std::uint64_t block_bytes = s.layout.block_bytes();
  const std::size_t slots = static_cast<std::size_t>(s.options.copy_budget / block_bytes);
  if (slots < 2) {
    std::string message = "FileOptions::copy_budget (";
    message.append(std::to_string(s.options.copy_budget)).append(" bytes) holds fewer than two ");
    message.append("blocks of ").append(std::to_string(block_bytes)).append(" bytes");
    throw Error(std::make_error_code(std::errc::invalid_argument), s.pool.path(), message);
  }
  s.saving.enter();
  bool started = false;
  bool cut_begun = false;
  try {
    s.saver.reset();  // the thread of the last background save, ended: joined
    s.start_save();
    started = true;
    auto plan = std::make_shared<Impl::CutPlan>();
    if (s.options.changes == Changes::marked) plan->marked = s.dirty.take();
    detail::MarksBack marks_back(s.dirty, plan->marked);
    plan->header = s.pool.fresh_header();
    plan->header.user_area = s.user_area;
    const std::size_t count = static_cast<std::size_t>(s.layout.count());
    plan->from_pool_values =
        s.layout.indexed() && s.options.changes == Changes::marked && s.pool_index && s.spare_index;
    if (plan->from_pool_values) {
      // The marked blocks (and block 0, which holds the header) are hashed
      // again; those whose values differ between the two files are written
      // from the pool's bytes, unchanged since the pool file's snapshot.
      plan->rehash.assign(count, false);
      plan->rehash[0] = true;
      std::vector<std::uint64_t> rehashed{0};
      for (const std::uint64_t block : plan->marked) {
        if (block != 0) rehashed.push_back(block);
        plan->rehash[block] = true;
      }
      const std::vector<std::uint64_t> stale = s.pool_index->differing(*s.spare_index);
      std::set_union(rehashed.begin(), rehashed.end(), stale.begin(), stale.end(),
                     std::back_inserter(plan->taken));
    } else {
      plan->rehash.assign(count, true);
      plan->taken = s.layout.all_blocks();
    }
    const std::uint64_t total = detail::byte_count(s.layout.data_ranges(plan->taken));
    auto job = std::make_shared<detail::FlushJob>(total);
    s.cut.begin(plan->taken, slots);
    cut_begun = true;
    s.job = job;
    auto thread = platform::Thread::start([&s, plan, job] { s.save_in_background(*plan, *job); });
    marks_back.disarm();  // the save puts them back if it fails
    if (thread) {
      s.saver = std::move(*thread);
    } else {
      // As everywhere a thread is refused, the work is done on fewer: here
      // on the caller's, before the handle is returned (done, its outcome
      // in wait()).
      detail::report_fallback(s.options.on_fallback, FallbackKind::fewer_threads,
                              "the system refused a thread for the background save of '" +
                                  s.pool.path().string() + "'; it ran in begin_flush()");
      s.save_in_background(*plan, *job);
    }
    return BackgroundFlush(std::move(job));
  } catch (...) {
    // Nothing was written into the spare.
    if (cut_begun) s.cut.end();
    if (started) s.spare_suspect = false;
    s.saving.leave();
    throw;
  }
}

void FileBackedMemory::Impl::save_in_background(const CutPlan& plan, detail::FlushJob& outcome) {
  Impl& s = *this;
  std::exception_ptr error;
  try {
    detail::MarksBack marks_back(s.dirty, plan.marked);
    detail::PoolFile& spare_file = *s.spare;
    const bool indexed = s.layout.indexed();
    Header header = plan.header;
    const detail::CoveredHeader covered = detail::covered_header(header);
    std::optional<detail::BlockIndex> next = s.take_next_values();
    if (!indexed) {
      next.reset();
    } else if (plan.from_pool_values) {
      if (next) {
        *next = *s.pool_index;  // into the memory it has
      } else {
        next.emplace(*s.pool_index);
      }
    } else if (!next) {
      next.emplace(s.layout);
    }
    // The spare's values decide which blocks are written; their memory then
    // serves the save after this one.
    std::optional<detail::BlockIndex> spare_values = std::exchange(s.spare_index, std::nullopt);
    s.forget_spare_index();
    detail::ProgressReport report(s.options.progress, outcome.progress().total);
    detail::TreeHashOptions one_thread;
    one_thread.threads = 1;
    // Blocks are taken in batches, written up to kBulkDepth requests at a
    // time through direct I/O as flush()'s transfers are, adjacent blocks
    // joined, and their slots then freed together; the next batch is taken
    // and hashed while one is written. A batch holds at most a quarter of
    // the slots, so writers keep the rest.
    const std::size_t batch_size =
        std::clamp<std::size_t>(static_cast<std::size_t>(kBatchBytes / s.layout.block_bytes()), 1,
                                std::max<std::size_t>(1, s.cut.slots() / 4));
    struct Batch {
      std::vector<detail::BlockCut::Taken> taken;
      std::vector<detail::BufferWrite> writes;
      std::uint64_t bytes = 0;
    };
    // Takes the next batch and hashes it; false when the cut has no more.
    const auto take = [&](Batch& batch) {
      batch.taken.clear();
      batch.writes.clear();
      batch.bytes = 0;
      // Waits only with no slot of the batch held: a writer may need one.
      for (auto taken = s.cut.next(); taken; taken = s.cut.next_ready()) {
        batch.taken.push_back(*taken);
        if (batch.taken.size() == batch_size) break;
      }
      for (const detail::BlockCut::Taken& t : batch.taken) {
        const ByteRange range = s.layout.data_range(t.block);
        bool write = true;
        if (indexed) {
          if (plan.rehash[t.block]) {
            const detail::StreamBytes stream{covered, t.bytes.data(), kHeaderSize + range.offset,
                                             s.layout.length()};
            detail::hash_blocks(stream, s.layout.block_bytes(), std::span(&t.block, 1),
                                next->values(), one_thread);
          }
          write = t.block == 0 || !spare_values ||
                  next->values()[t.block] != spare_values->values()[t.block];
        } else {
          header.checksum = detail::tree_hash(covered, t.bytes, one_thread);
        }
        if (write && !t.bytes.empty())
          batch.writes.push_back({t.bytes, kHeaderSize + range.offset});
        batch.bytes += range.length;
      }
      coalesce(batch.writes);
      return !batch.taken.empty();
    };
    bool cancelled = false;
    {
      const EndCut end_cut(s.cut);
      Batch writing;
      Batch taking;
      for (bool more = take(writing); more && !cancelled;) {
        detail::run_side_by_side(
            [&] { detail::write_buffers(spare_file.data_file(), writing.writes); },
            [&] { more = take(taking); });
        // Freed last first: the slots are handed out again in this order,
        // so consecutive blocks of the sweep land in consecutive slots and
        // their writes join.
        for (auto t = writing.taken.rbegin(); t != writing.taken.rend(); ++t) s.cut.release(*t);
        outcome.add_done(writing.bytes);
        cancelled = !report.add(writing.bytes) || outcome.cancel_requested();
        std::swap(writing, taking);
      }
    }
    outcome.set_peak(s.cut.peak_bytes());
    s.next_values = std::move(spare_values);
    if (cancelled) {
      // Nothing failed: the spare is not suspect, its index is gone.
      s.spare_suspect = false;
      throw Error(std::make_error_code(std::errc::operation_canceled), s.pool.path(),
                  "the background save was cancelled; the previous snapshot is in place");
    }
    spare_file.zero_tail();
    if (indexed) header.checksum = next->root();
    s.commit(header, std::move(next));
    marks_back.disarm();
    report.finish();
  } catch (...) {
    error = std::current_exception();
  }
  // The outcome first: once wait() has returned, done() is true and the
  // caller's next save waits only for this thread to leave.
  outcome.finish(std::move(error));
  s.saving.leave();
}

}  // namespace datatier
