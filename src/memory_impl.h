// The state of a Memory pool, for the files that hand it to another process.
#pragma once

#include "datatier/memory.h"
#include "datatier/memory_options.h"
#include "platform/mapping.h"
#include "platform/unique_fd.h"

namespace datatier {

struct Memory::Impl {
  platform::Mapping mapping;
  Placement placement;
  // The memory file the mapping maps (MemoryOptions::shareable); empty for
  // private anonymous memory.
  platform::UniqueFd file;
};

}  // namespace datatier
