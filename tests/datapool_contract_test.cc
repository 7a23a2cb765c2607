// The Datapool contract, run on every pool type.
#include <gtest/gtest.h>

#include <type_traits>

#include "pool_kinds.h"
#include "test_util.h"

namespace datatier {
namespace {

using testing::FileBackedMemoryKind;
using testing::MemoryKind;
using testing::MmapFileKind;

template <typename Kind>
class DatapoolContract : public ::testing::Test {
 protected:
  testing::TempDir dir_;
};

using Kinds = ::testing::Types<MemoryKind, MmapFileKind, FileBackedMemoryKind>;
TYPED_TEST_SUITE(DatapoolContract, Kinds, testing::PoolKindNames);

TYPED_TEST(DatapoolContract, IsMoveOnlyDatapool) {
  using Pool = typename TypeParam::Pool;
  static_assert(std::is_base_of_v<Datapool, Pool>);
  static_assert(!std::is_copy_constructible_v<Pool>);
  static_assert(!std::is_copy_assignable_v<Pool>);
  static_assert(std::is_nothrow_move_constructible_v<Pool>);
  static_assert(std::is_nothrow_move_assignable_v<Pool>);
}

TYPED_TEST(DatapoolContract, HasExactlyTheRequestedSize) {
  for (std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{4095}, std::size_t{8192},
                           std::size_t{100'003}}) {
    testing::TempDir dir;
    auto pool = TypeParam::create(dir, size);
    EXPECT_EQ(pool.size(), size);
    EXPECT_EQ(pool.data().size(), size);
    EXPECT_EQ(std::as_const(pool).data().size(), size);
  }
}

TYPED_TEST(DatapoolContract, StartsZeroed) {
  auto pool = TypeParam::create(this->dir_, 3 * 4096 + 5);
  for (std::byte b : pool.data()) ASSERT_EQ(b, std::byte{0});
}

TYPED_TEST(DatapoolContract, WritesAreVisibleThroughBothViews) {
  auto pool = TypeParam::create(this->dir_, 10'000);
  testing::fill_splitmix64(pool.data(), 11);
  const auto expected = testing::splitmix64_bytes(10'000, 11);
  const Datapool& view = pool;
  EXPECT_TRUE(std::equal(view.data().begin(), view.data().end(), expected.begin(), expected.end()));
}

TYPED_TEST(DatapoolContract, FlushKeepsTheContents) {
  auto pool = TypeParam::create(this->dir_, 9'000);
  testing::fill_splitmix64(pool.data(), 12);
  Datapool& base = pool;
  base.flush();
  base.flush();
  const auto expected = testing::splitmix64_bytes(9'000, 12);
  EXPECT_TRUE(std::equal(pool.data().begin(), pool.data().end(), expected.begin(), expected.end()));
}

TYPED_TEST(DatapoolContract, MoveTransfersTheBytesAndEmptiesTheSource) {
  auto pool = TypeParam::create(this->dir_, 5'000);
  pool.data()[4'999] = std::byte{7};
  const std::byte* address = pool.data().data();
  auto moved = std::move(pool);
  EXPECT_EQ(moved.size(), 5'000u);
  EXPECT_EQ(moved.data().data(), address);
  EXPECT_EQ(moved.data()[4'999], std::byte{7});
  EXPECT_EQ(pool.size(), 0u);  // NOLINT(bugprone-use-after-move): the contract under test
  EXPECT_TRUE(pool.data().empty());
  if constexpr (TypeParam::kPersistent) {
    // Nothing to save from: an error, never a silent success.
    EXPECT_DATATIER_ERROR(pool.flush(), std::errc::bad_file_descriptor);
  } else {
    pool.flush();  // a moved-from memory pool has nothing to keep
  }
}

TYPED_TEST(DatapoolContract, MoveAssignmentReleasesTheOldPool) {
  testing::TempDir other_dir;
  auto a = TypeParam::create(this->dir_, 4'096);
  auto b = TypeParam::create(other_dir, 8'192);
  a = std::move(b);
  EXPECT_EQ(a.size(), 8'192u);
  EXPECT_EQ(b.size(), 0u);  // NOLINT(bugprone-use-after-move)
}

TYPED_TEST(DatapoolContract, UsableThroughTheBaseClass) {
  std::unique_ptr<Datapool> pool =
      std::make_unique<typename TypeParam::Pool>(TypeParam::create(this->dir_, 4'096));
  pool->data()[0] = std::byte{1};
  pool->flush();
  EXPECT_EQ(pool->size(), 4'096u);
  EXPECT_EQ(pool->data()[0], std::byte{1});
}

}  // namespace
}  // namespace datatier
