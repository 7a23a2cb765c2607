// datatier::Error and the datatier::errc category.
#include <gtest/gtest.h>

#include <iterator>
#include <set>
#include <string>

#include "datatier/error.h"

namespace datatier {
namespace {

TEST(Error, FormatVerdictsCompareEqualToTheirErrc) {
  const Error e(errc::checksum_mismatch, "/pools/a", "stored x, computed y");
  EXPECT_EQ(e.code(), errc::checksum_mismatch);
  EXPECT_NE(e.code(), errc::size_mismatch);
  EXPECT_EQ(e.code().category().name(), std::string("datatier"));
  EXPECT_EQ(e.path(), "/pools/a");
  const std::string what = e.what();
  EXPECT_NE(what.find("/pools/a"), std::string::npos) << what;
  EXPECT_NE(what.find("stored x, computed y"), std::string::npos) << what;
  EXPECT_NE(what.find("checksum mismatch"), std::string::npos) << what;
}

TEST(Error, OperatingSystemErrorsKeepTheirErrno) {
  const Error e(std::error_code(ENOENT, std::system_category()), "/nope", "cannot open");
  EXPECT_EQ(e.code(), std::errc::no_such_file_or_directory);
  EXPECT_NE(e.code(), errc::size_mismatch);
}

TEST(Error, IsASystemError) {
  try {
    throw Error(errc::pool_in_use, "p", "held");
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), errc::pool_in_use);
  }
}

TEST(Error, EveryErrcHasItsOwnMessage) {
  const errc all[] = {errc::size_mismatch,        errc::bad_magic,
                      errc::incompatible_version, errc::user_version_mismatch,
                      errc::checksum_mismatch,    errc::unclean_shutdown,
                      errc::pool_in_use};
  std::set<std::string> messages;
  for (errc e : all) messages.insert(make_error_code(e).message());
  EXPECT_EQ(messages.size(), std::size(all));
}

}  // namespace
}  // namespace datatier
