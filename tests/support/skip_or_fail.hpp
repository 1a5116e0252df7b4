#pragma once
// Optional test prerequisites (a dataset, python3-h5py, gnuplot, …): under CI=true a missing one
// is a failure, never a silent skip (issue 14); locally the test is skipped and says so on stderr,
// so a run that skipped something is visible in its log, not only in the summary line.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace autostem::testing {

/// True when the environment variable CI is exactly "true" (what CI services and .ci/run set).
inline bool in_ci() {
  const char* ci = std::getenv("CI");
  return ci && std::string(ci) == "true";
}

}  // namespace autostem::testing

/// Ends the current test because an optional prerequisite is missing: FAIL() under CI=true,
/// otherwise GTEST_SKIP() with a line "autostem: SKIPPED <test>: <reason>" on stderr. `reason` is
/// anything streamable into a std::string via operator+ (name the Debian package or the dataset).
/// Use only in a function returning void (the GoogleTest assertion rules).
#define AUTOSTEM_SKIP_OR_FAIL(reason)                                                             \
  do {                                                                                            \
    const std::string autostem_skip_reason_ = (reason);                                           \
    if (autostem::testing::in_ci()) {                                                             \
      FAIL() << "CI=true: a missing optional prerequisite is a failure: " << autostem_skip_reason_; \
    }                                                                                             \
    const auto* autostem_skip_info_ = ::testing::UnitTest::GetInstance()->current_test_info();    \
    std::fprintf(stderr, "autostem: SKIPPED %s.%s: %s\n",                                          \
                 autostem_skip_info_ ? autostem_skip_info_->test_suite_name() : "?",              \
                 autostem_skip_info_ ? autostem_skip_info_->name() : "?",                         \
                 autostem_skip_reason_.c_str());                                                  \
    GTEST_SKIP() << autostem_skip_reason_;                                                        \
  } while (false)
