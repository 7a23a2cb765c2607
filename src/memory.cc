// Memory: a Datapool over an anonymous mapping, placed and faulted in on
// every core.
#include "datatier/memory.h"

#include <string>
#include <system_error>
#include <vector>

#include "datatier/error.h"
#include "fault_in.h"
#include "platform/mapping.h"
#include "platform/memory_map.h"
#include "report_fallback.h"

namespace datatier {

struct Memory::Impl {
  platform::Mapping mapping;
  Placement placement;
};

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

platform::Mapping map_with_fallback(std::size_t size, const MemoryOptions& options,
                                    PageSize& used) {
  const auto chain = page_size_chain(options);
  for (std::size_t i = 0; i < chain.size(); ++i) {
    try {
      used = chain[i];
      return platform::Mapping::anonymous(size, chain[i]);
    } catch (const Error& e) {
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

}  // namespace

Memory::Memory(std::unique_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {}

void Memory::close() noexcept {
  impl_.reset();
}
Memory::Memory(Memory&& other) noexcept = default;
Memory& Memory::operator=(Memory&& other) noexcept = default;
Memory::~Memory() = default;

Memory Memory::create(std::size_t size, const MemoryOptions& options) {
  auto impl = std::make_unique<Impl>();
  Placement& placement = impl->placement;
  impl->mapping = map_with_fallback(size, options, placement.page_size);
  const platform::Mapping& mapping = impl->mapping;
  placement.page_bytes = mapping.page_bytes();
  mapping.set_numa_policy(options.numa, options.numa_node);
  placement.numa = options.numa;
  placement.numa_node = options.numa == NumaPolicy::bind ? options.numa_node : -1;

  placement.threads = detail::fault_in(mapping, platform::Mapping::Use::writing, options.threads,
                                       options.on_fallback);
  if (options.lock) {
    mapping.lock();
    placement.locked = true;
  }
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

}  // namespace datatier
