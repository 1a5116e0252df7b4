#pragma once
// The strategy registry: names the command line and the benchmark harness accept, each with its
// parameter schema (schema.hpp). docs/strategies.md is generated from it
// (`autostem strategies --markdown`) and says how to add a strategy: one source file + one line.

#include <autostem/core/strategy.hpp>
#include <autostem/strategies/schema.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace autostem::strategies {

/// Builds a strategy from its parameters; throws std::invalid_argument on bad parameters.
using StrategyFactory = std::function<std::unique_ptr<Strategy>(const Parameters&)>;

/// What the registry holds for one strategy: its schema (name, summary, parameters) and factory.
struct StrategyInfo {
  Schema schema;
  StrategyFactory make;
};

/// Names of every registered strategy, sorted.
std::vector<std::string> strategy_names();

/// Description of a strategy and its parameters from its schema (several lines, for --help);
/// empty for an unknown name.
std::string strategy_help(const std::string& name);

/// The schema of a registered strategy. Throws std::invalid_argument for an unknown name.
Schema strategy_schema(const std::string& name);

/// Every registered strategy's parameter table (Schema::markdown), sorted by name: the generated
/// part of docs/strategies.md.
std::string strategies_markdown();

/// Builds a strategy by name with its parameters (key → value text). Throws
/// std::invalid_argument for an unknown name (listing the valid ones) or bad parameters.
std::unique_ptr<Strategy> make_strategy(const std::string& name, const Parameters& params = {});

/// Adds a strategy to the registry at run time under info.schema.name() — how optional parts
/// (autostem::strategies_torch: dkl, gp, dcnn) and tests join without autostem::strategies
/// depending on them. Replaces an entry of the same name. Thread-safe, but call it at start-up
/// (autostem::strategies::register_torch_strategies() does this for the LibTorch strategies).
/// Throws std::invalid_argument for an empty name or an empty factory.
void register_strategy(StrategyInfo info);

/// As above for a strategy without a schema: help is its one-line description, and its
/// parameters are checked by the factory alone.
void register_strategy(const std::string& name, const std::string& help, StrategyFactory make);

/// Parses "key=value,key=value" into Parameters. Throws std::invalid_argument on a malformed item.
Parameters parse_parameters(const std::string& text);

}  // namespace autostem::strategies
