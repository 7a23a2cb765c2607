// The whole public C++ API of datatier.
#pragma once

#include "datatier/cxx_standard.h"

#include "datatier/background_flush.h"
#include "datatier/block_index.h"
#include "datatier/datapool.h"
#include "datatier/error.h"
#include "datatier/fallback.h"
#include "datatier/file_backed_memory.h"
#include "datatier/handoff.h"
#include "datatier/file_options.h"
#include "datatier/header.h"
#include "datatier/memory.h"
#include "datatier/mmap_file.h"
#include "datatier/opened.h"
#include "datatier/progress.h"
#include "datatier/remove.h"
#include "datatier/verify.h"
