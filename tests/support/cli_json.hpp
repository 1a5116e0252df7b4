#pragma once
// The JSON summary a CLI command printed (`--json`), for CLI tests.

#include <nlohmann/json.hpp>

#include <string>

namespace autostem::testing {

/// The last line of output that parses as a JSON object (progress and notes may surround it);
/// a null json when there is none.
inline nlohmann::json last_json(const std::string& out) {
  nlohmann::json j;
  std::size_t start = 0;
  while (start < out.size()) {
    auto end = out.find('\n', start);
    if (end == std::string::npos) end = out.size();
    const std::string line = out.substr(start, end - start);
    if (!line.empty() && line.front() == '{') j = nlohmann::json::parse(line, nullptr, false);
    start = end + 1;
  }
  return j;
}

}  // namespace autostem::testing
