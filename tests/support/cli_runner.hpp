#pragma once
// Runs the autostem binary (AUTOSTEM_BIN, set by tests/apps/CMakeLists.txt) from CLI tests.

#include <array>
#include <cstdio>
#include <string>

#include <sys/wait.h>

namespace autostem::testing {

struct CliResult {
  int status = -1;   ///< exit status; -1 when the binary could not be started or was killed
  std::string out;   ///< stdout and stderr together
};

/// Runs the autostem binary with arguments (shell-quoted by the caller where needed).
inline CliResult run_cli(const std::string& args) {
  const std::string cmd = std::string(AUTOSTEM_BIN) + " " + args + " 2>&1";
  CliResult r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf{};
  while (std::fgets(buf.data(), buf.size(), p)) r.out += buf.data();
  const int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

}  // namespace autostem::testing
