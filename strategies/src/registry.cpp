#include <autostem/strategies/registry.hpp>

#include <autostem/core/registry.hpp>

#include <algorithm>
#include <stdexcept>

namespace autostem::strategies {

// Every built-in strategy, one line each: NAME's own source file defines
// `StrategyInfo NAME_strategy()` (its schema and factory). Adding a strategy = that file (listed
// in strategies/CMakeLists.txt) + one line here (docs/strategies.md, "Adding a strategy").
#define AUTOSTEM_BUILTIN_STRATEGIES(X) \
  X(atoms)                             \
  X(cs)                                \
  X(edge)                              \
  X(grid)                              \
  X(random)

#define AUTOSTEM_DECLARE_STRATEGY(id) StrategyInfo id##_strategy();
AUTOSTEM_BUILTIN_STRATEGIES(AUTOSTEM_DECLARE_STRATEGY)
#undef AUTOSTEM_DECLARE_STRATEGY

namespace {

using StrategyRegistry = Registry<StrategyFactory, Schema>;

StrategyRegistry& registry() {
  static StrategyRegistry r("strategy");
  static const bool builtins = [] {
#define AUTOSTEM_ADD_STRATEGY(id)                              \
  {                                                            \
    StrategyInfo info = id##_strategy();                       \
    const std::string key = info.schema.name();                \
    r.add(key, std::move(info.schema), std::move(info.make));  \
  }
    AUTOSTEM_BUILTIN_STRATEGIES(AUTOSTEM_ADD_STRATEGY)
#undef AUTOSTEM_ADD_STRATEGY
    return true;
  }();
  (void)builtins;
  return r;
}

}  // namespace

std::vector<std::string> strategy_names() { return registry().names(); }

std::string strategy_help(const std::string& name) {
  const auto e = registry().find(name);
  return e ? e->info.help() : std::string();
}

Schema strategy_schema(const std::string& name) { return registry().at(name).info; }

std::string strategies_markdown() {
  std::string s;
  for (const auto& n : strategy_names()) s += (s.empty() ? "" : "\n") + registry().at(n).info.markdown();
  return s;
}

std::unique_ptr<Strategy> make_strategy(const std::string& name, const Parameters& params) {
  return registry().at(name).make(params);
}

void register_strategy(StrategyInfo info) {
  const std::string name = info.schema.name();
  registry().add(name, std::move(info.schema), std::move(info.make));
}

void register_strategy(const std::string& name, const std::string& help, StrategyFactory make) {
  register_strategy(StrategyInfo{Schema("strategy", name, help), std::move(make)});
}

Parameters parse_parameters(const std::string& text) {
  Parameters out;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t end = std::min(text.find(',', start), text.size());
    const std::string item = text.substr(start, end - start);
    if (!item.empty()) {
      const auto eq = item.find('=');
      if (eq == std::string::npos || eq == 0)
        throw std::invalid_argument("strategy parameter '" + item + "' is not of the form key=value");
      out[item.substr(0, eq)] = item.substr(eq + 1);
    }
    start = end + 1;
  }
  return out;
}

}  // namespace autostem::strategies
