#pragma once
// Locating the real datasets of ../shared/datasets (MANIFEST.md) from tests. In CI (CI=true) a
// missing file is a failure with a clear message; locally the test is skipped.
#include "skip_or_fail.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace autostem::testing {

inline std::filesystem::path data_dir() {
  if (const char* env = std::getenv("AUTOSTEM_DATA"); env && *env) return env;
  return AUTOSTEM_DEFAULT_DATA_DIR;
}

}  // namespace autostem::testing

/// Declares `var` as the dataset file `rel` (e.g. "eels/cuzn_si/CuZn_HAADF.hspy");
/// fails in CI and skips locally when it is missing.
#define AUTOSTEM_REQUIRE_DATA(var, rel)                                                     \
  const std::filesystem::path var = autostem::testing::data_dir() / (rel);                  \
  if (!std::filesystem::exists(var))                                                         \
  AUTOSTEM_SKIP_OR_FAIL("test dataset missing: " + var.string() +                            \
                        " (set AUTOSTEM_DATA to ../shared/datasets)")
