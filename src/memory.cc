// Memory: a Datapool over an anonymous mapping or a memory file, placed and
// faulted in on every core.
#include "datatier/memory.h"

#include <string>
#include <system_error>
#include <vector>

#include "datatier/error.h"
#include "fault_in.h"
#include "memory_impl.h"
#include "platform/mapping.h"
#include "platform/memory_file.h"
#include "platform/memory_map.h"
#include "report_fallback.h"

namespace datatier {
namespace {

// The page sizes to try, most wanted first.
std::vector<PageSize> page_size_chain(const MemoryOptions& options) {
  switch (options.page_size) {
    case PageSize::huge_1gib:
      if (options.fallback) {
        return {PageSize::huge_1gib, PageSize::huge_2mib, PageSize::transparent};
      }
      return {PageSize::huge_1gib};
    case PageSize::huge_2mib:
      if (options.fallback) return {PageSize::huge_2mib, PageSize::transparent};
      return {PageSize::huge_2mib};
    case PageSize::small:
    case PageSize::transparent:
      break;
  }
  return {options.page_size};
}

// The pages of `page_size`, for a fallback's message.
std::string pages_named(PageSize page_size) {
  switch (page_size) {
    case PageSize::huge_1gib:
      return "1 GiB huge pages";
    case PageSize::huge_2mib:
      return "2 MiB huge pages";
    case PageSize::small:
      return "small pages";
    case PageSize::transparent:
      break;
  }
  return "transparent huge pages";
}

// Maps `size` bytes on the first page size of the chain the kernel
// supplies, private or (options.shareable) in a new memory file, which goes
// to `file`; `used` says which page size.
platform::Mapping map_with_fallback(std::size_t size, const MemoryOptions& options,
                                    PageSize& used, platform::UniqueFd& file) {
  const auto chain = page_size_chain(options);
  for (std::size_t i = 0; i < chain.size(); ++i) {
    try {
      used = chain[i];
      if (!options.shareable) return platform::Mapping::anonymous(size, chain[i]);
      file = platform::create_memory_file("datatier", size, chain[i]);
      return platform::Mapping::memory_file(file.get(), size, chain[i]);
    } catch (const Error& e) {
      file.reset();
      // Explicit huge pages the kernel has none of (ENOMEM) or does not
      // support (EINVAL): try the next size down, if there is one.
      const bool unavailable =
          e.code() == std::errc::not_enough_memory || e.code() == std::errc::invalid_argument;
      if (!unavailable || i + 1 == chain.size()) throw;
      detail::report_fallback(
          options.on_fallback, FallbackKind::smaller_pages,
          std::string(e.what()) + "; using " + pages_named(chain[i + 1]) + " instead");
    }
  }
  throw Error(std::make_error_code(std::errc::invalid_argument), {}, "no page size to try");
}

// Shared memory gets transparent huge pages only where the kernel's
// setting for it allows: elsewhere a shareable pool that asked for them has
// small pages, and says so.
void settle_shared_page_size(const MemoryOptions& options, PageSize& used) {
  if (used != PageSize::transparent) return;
  std::string setting;
  if (platform::shared_memory_has_transparent_huge_pages(&setting)) return;
  used = PageSize::small;
  detail::report_fallback(
      options.on_fallback, FallbackKind::smaller_pages,
      "shared memory gets no transparent huge pages here "
      "(/sys/kernel/mm/transparent_hugepage/shmem_enabled: " +
          (setting.empty() ? std::string("unreadable") : setting) + "); using small pages");
}

}  // namespace

Memory::Memory(std::unique_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {}

void Memory::close() noexcept {
  impl_.reset();
}
Memory::Memory(Memory&& other) noexcept = default;
Memory& Memory::operator=(Memory&& other) noexcept = default;
Memory::~Memory() = default;

Memory Memory::create(std::size_t size, const MemoryOptions& options) {
  Memory memory = detail::ReservedMemory::reserve(size, options);
  Impl& impl = *memory.impl_;
  impl.placement.threads = detail::fault_in(impl.mapping, platform::Mapping::Use::writing,
                                            options.threads, options.on_fallback);
  if (options.lock) {
    impl.mapping.lock();
    impl.placement.locked = true;
  }
  return memory;
}

Memory detail::ReservedMemory::reserve(std::size_t size, const MemoryOptions& options) {
  auto impl = std::make_unique<Memory::Impl>();
  Placement& placement = impl->placement;
  impl->mapping = map_with_fallback(size, options, placement.page_size, impl->file);
  if (options.shareable) settle_shared_page_size(options, placement.page_size);
  placement.shared = options.shareable;
  const platform::Mapping& mapping = impl->mapping;
  placement.page_bytes = mapping.page_bytes();
  mapping.set_numa_policy(options.numa, options.numa_node);
  placement.numa = options.numa;
  placement.numa_node = options.numa == NumaPolicy::bind ? options.numa_node : -1;
  return Memory(std::move(impl));
}

std::span<std::byte> Memory::data() noexcept {
  return impl_ ? impl_->mapping.bytes() : std::span<std::byte>{};
}

std::span<const std::byte> Memory::data() const noexcept {
  return impl_ ? impl_->mapping.bytes() : std::span<const std::byte>{};
}

Placement Memory::placement() const noexcept {
  if (!impl_) return {};
  Placement placement = impl_->placement;
  placement.huge_bytes = static_cast<std::size_t>(platform::huge_page_bytes(data()));
  return placement;
}

namespace detail {

int SharedMemory::file(const Memory& memory) noexcept {
  return memory.impl_ ? memory.impl_->file.get() : -1;
}

const Placement& SharedMemory::placement(const Memory& memory) noexcept {
  return memory.impl_->placement;
}

Memory SharedMemory::adopt(platform::UniqueFd file, std::size_t size, const Placement& placement,
                           bool lock) {
  auto impl = std::make_unique<Memory::Impl>();
  // Explicit huge pages are the memory file's own; the page size asked of
  // the mapping only has to match it.
  impl->mapping = platform::Mapping::memory_file(file.get(), size, placement.page_size);
  impl->file = std::move(file);
  impl->placement = placement;
  impl->placement.shared = true;
  impl->placement.locked = false;
  if (lock) {
    impl->mapping.lock();
    impl->placement.locked = true;
  }
  return Memory(std::move(impl));
}

}  // namespace detail
}  // namespace datatier
