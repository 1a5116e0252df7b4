// The child-process reader for HDF5 files (datasets/src/isolate.hpp): results come back intact,
// errors keep their message, and a crash of the reader becomes an exception in the caller.
#include "isolate.hpp"

#include <autostem/datasets/hspy.hpp>
#include <autostem/datasets/signal.hpp>

#include "test_data.hpp"

#include <gtest/gtest.h>

#include <csignal>
#include <cstdlib>
#include <stdexcept>
#include <string>

namespace ad = autostem::datasets;
namespace dd = autostem::datasets::detail;

TEST(IsolatedReader, ResultComesBackIntact) {
  std::string big(3 << 20, 'x');  // larger than a pipe buffer: the parent must read while the child writes
  big[12345] = 'y';
  std::string got;
  dd::run_isolated(
      "test", [&](dd::PipeWriter& w) { w.write_string(big); },
      [&](dd::PipeReader& r) { got = r.read_string(); });
  EXPECT_EQ(got, big);
}

TEST(IsolatedReader, ErrorsKeepTheirMessage) {
  try {
    dd::run_isolated(
        "test", [](dd::PipeWriter&) { throw std::invalid_argument("file.h5: dataset 'x' is 5-D"); },
        [](dd::PipeReader&) { FAIL() << "nothing to consume"; });
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "file.h5: dataset 'x' is 5-D");
  }
}

TEST(IsolatedReader, ACrashInTheReaderIsAnErrorHere) {
  try {
    dd::run_isolated(
        "corrupt.emd", [](dd::PipeWriter&) { std::raise(SIGSEGV); },
        [](dd::PipeReader&) {});
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("corrupt.emd"), std::string::npos) << m;
    EXPECT_NE(m.find("crashed"), std::string::npos) << m;
    EXPECT_NE(m.find("signal 11"), std::string::npos) << m;
  }
}

TEST(IsolatedReader, SameSignalsAsInProcess) {
  AUTOSTEM_REQUIRE_DATA(path, "eels/cuzn_si/CuZn_EELS_mapping_tutorial.hspy");
  const auto isolated = ad::read_signals(path);
  ::setenv("AUTOSTEM_HDF5_IN_PROCESS", "1", 1);
  const auto direct = ad::read_signals(path);
  ::unsetenv("AUTOSTEM_HDF5_IN_PROCESS");
  ASSERT_EQ(isolated.size(), direct.size());
  for (std::size_t i = 0; i < direct.size(); ++i) {
    EXPECT_EQ(isolated[i].title, direct[i].title);
    EXPECT_EQ(isolated[i].signal_type, direct[i].signal_type);
    EXPECT_EQ(isolated[i].dtype, direct[i].dtype);
    EXPECT_EQ(isolated[i].shape(), direct[i].shape());
    EXPECT_EQ(isolated[i].metadata, direct[i].metadata);
    EXPECT_TRUE(isolated[i].bytes == direct[i].bytes);
    for (std::size_t a = 0; a < direct[i].axes.size(); ++a) {
      EXPECT_EQ(isolated[i].axes[a].units, direct[i].axes[a].units);
      EXPECT_EQ(isolated[i].axes[a].scale, direct[i].axes[a].scale);
      EXPECT_EQ(isolated[i].axes[a].offset, direct[i].axes[a].offset);
    }
  }
}
