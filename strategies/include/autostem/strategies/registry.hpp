#pragma once
// The strategy registry: names the command line and the benchmark harness accept.

#include <autostem/core/strategy.hpp>

#include <memory>
#include <string>
#include <vector>

namespace autostem::strategies {

/// Names of every registered strategy, sorted.
std::vector<std::string> strategy_names();

/// One-line description of a strategy and its parameters, for --help.
std::string strategy_help(const std::string& name);

/// Builds a strategy by name with its parameters (key → value text). Throws
/// std::invalid_argument for an unknown name (listing the valid ones) or bad parameters.
std::unique_ptr<Strategy> make_strategy(const std::string& name, const Parameters& params = {});

/// Parses "key=value,key=value" into Parameters. Throws std::invalid_argument on a malformed item.
Parameters parse_parameters(const std::string& text);

}  // namespace autostem::strategies
