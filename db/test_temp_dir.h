// A per-test temporary directory for db tests: created under
// testing::TempDir() with mkdtemp, removed with everything in it when the
// object goes away.
//
//   TestTempDir dir;
//   std::string path = dir.Path("berth.db");
#ifndef BERTH_DB_TEST_TEMP_DIR_H_
#define BERTH_DB_TEST_TEMP_DIR_H_

#include <stdlib.h>

#include <filesystem>
#include <string>
#include <system_error>

#include "gtest/gtest.h"

namespace berth::db {

class TestTempDir {
 public:
  TestTempDir() {
    std::string pattern = testing::TempDir();
    if (!pattern.empty() && pattern.back() != '/') pattern += '/';
    pattern += "berth_db_XXXXXX";
    if (mkdtemp(pattern.data()) != nullptr) dir_ = pattern;
    EXPECT_FALSE(dir_.empty()) << "mkdtemp failed for " << pattern;
  }
  ~TestTempDir() {
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }
  TestTempDir(const TestTempDir&) = delete;
  TestTempDir& operator=(const TestTempDir&) = delete;

  std::string Path(const std::string& name) const { return dir_ + "/" + name; }

 private:
  std::string dir_;
};

}  // namespace berth::db

#endif  // BERTH_DB_TEST_TEMP_DIR_H_
