// The fallbacks a pool takes where the system refuses what was asked, and
// the callback that hears of each.
#pragma once

#include "datatier/cxx_standard.h"

#include <functional>
#include <string>

namespace datatier {

// What a pool did instead of what it was asked to or would have liked to.
// Each is a working substitute, never an error: the call goes on and
// succeeds, only slower or with weaker guarantees.
enum class FallbackKind {
  // FileBackedMemory: the file system refused direct I/O (O_DIRECT) for a
  // pool or spare file; data moves through the page cache instead.
  buffered_io,
  // FileBackedMemory: the file system cannot exchange two names atomically
  // (renameat2 RENAME_EXCHANGE). A save then renames the spare over the pool
  // file, and a restore of the previous snapshot renames in two steps: a
  // crash in between can leave no file under the pool's name (open() then
  // fails with ENOENT; the snapshot is whole under the spare's name).
  no_rename_exchange,
  // Memory, FileBackedMemory: explicit huge pages (PageSize::huge_1gib or
  // huge_2mib) the kernel could not supply, with MemoryOptions::fallback; the
  // next size down was used (Placement::page_size says which).
  smaller_pages,
  // Memory, FileBackedMemory, MmapFile::create(): the system refused a
  // thread to fault pages in on; the threads that started did the work
  // (Placement::threads says how many). FileBackedMemory::begin_flush():
  // the system refused the save its thread; the save ran on the caller's.
  fewer_threads,
  // FileBackedMemory::open() with FileOptions::lazy: the pool could not be
  // loaded lazily (the message says why: userfaultfd refused or missing a
  // feature, no valid block index, a kind of memory lazy loading does not
  // serve); it was loaded and verified before open() returned.
  eager_load,
};

struct Fallback {
  FallbackKind kind;
  // What was refused and what was done instead, with the path or the
  // system's error where there is one; for people, not for parsing.
  std::string message;
};

// Called once for each fallback, as it is taken: on the thread that called
// the pool function taking it (create, open, flush, close), before that
// function returns. Calls from pools used on several threads may overlap.
// Requires: it does not throw (an exception it throws anyway is ignored)
// and does not call into the pool that reports, which is mid-operation and
// may hold its lock. An empty function hears nothing.
using FallbackHandler = std::function<void(const Fallback&)>;

}  // namespace datatier
