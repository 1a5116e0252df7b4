// autostem strategies: every registered strategy and its parameters, from the schemas.
// `--markdown` prints the tables of docs/strategies.md (tests/apps checks that they agree).

#include "cli.hpp"

#include <autostem/strategies/registry.hpp>

#include <iostream>

namespace autostem::cli {

int cmd_strategies(const std::vector<std::string>& args) {
  po::options_description o("autostem strategies options");
  o.add_options()("help,h", "this help")("markdown", po::bool_switch(),
                                         "print the parameter tables of docs/strategies.md");
  po::variables_map vm;
  if (parse(args, o, vm,
            "usage: autostem strategies [--markdown]\n"
            "Lists every acquisition strategy with its parameters (--param KEY=VALUE of `autostem run`\n"
            "and `autostem bench`): name [default] range (unit): description."))
    return 0;
  if (vm["markdown"].as<bool>()) {
    std::cout << strategies::strategies_markdown();
    return 0;
  }
  for (const auto& n : strategies::strategy_names()) std::cout << strategies::strategy_help(n) << "\n";
  return 0;
}

}  // namespace autostem::cli
