// Memory: a Datapool over an anonymous, pre-faulted mapping.
#include "datatier/memory.h"

#include "platform/mapping.h"

namespace datatier {

struct Memory::Impl {
  platform::Mapping mapping;
};

Memory::Memory(std::unique_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {}
Memory::Memory(Memory&& other) noexcept = default;
Memory& Memory::operator=(Memory&& other) noexcept = default;
Memory::~Memory() = default;

Memory Memory::create(std::size_t size) {
  return Memory(std::make_unique<Impl>(Impl{platform::Mapping::anonymous(size)}));
}

std::span<std::byte> Memory::data() noexcept {
  return impl_ ? impl_->mapping.bytes() : std::span<std::byte>{};
}

std::span<const std::byte> Memory::data() const noexcept {
  return impl_ ? impl_->mapping.bytes() : std::span<const std::byte>{};
}

}  // namespace datatier
