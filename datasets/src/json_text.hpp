#pragma once
// JSON text that autostem::datasets writes (results-file attributes, DM tags as JSON): strings
// are quoted and escaped by nlohmann_json, never by hand. Private to autostem::datasets.

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace autostem::datasets::detail {

/// s as a JSON string literal, quotes included ("a\"b" for a"b). Invalid UTF-8 sequences become
/// U+FFFD instead of throwing (tag text from files is not trusted to be UTF-8).
inline std::string json_quote(std::string_view s) {
  return nlohmann::json(std::string(s)).dump(-1, ' ', false,
                                             nlohmann::json::error_handler_t::replace);
}

}  // namespace autostem::datasets::detail
