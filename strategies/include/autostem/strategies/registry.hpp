#pragma once
// The strategy registry: names the command line and the benchmark harness accept.

#include <autostem/core/strategy.hpp>

#include <functional>
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

/// Builds a strategy from its parameters; throws std::invalid_argument on bad parameters.
using StrategyFactory = std::function<std::unique_ptr<Strategy>(const Parameters&)>;

/// Adds a strategy to the registry at run time — how optional parts (autostem::strategies_torch:
/// dkl, gp, dcnn) join without autostem::strategies depending on them. Replaces an entry of the
/// same name. Not thread-safe against concurrent make_strategy(); call it at start-up
/// (autostem::strategies::register_torch_strategies() does this for the LibTorch strategies).
/// Throws std::invalid_argument for an empty name or an empty factory.
void register_strategy(const std::string& name, const std::string& help, StrategyFactory make);

/// Parses "key=value,key=value" into Parameters. Throws std::invalid_argument on a malformed item.
Parameters parse_parameters(const std::string& text);

}  // namespace autostem::strategies
