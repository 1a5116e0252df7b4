#include <autostem/strategies/registry.hpp>

#include <autostem/strategies/atoms.hpp>
#include <autostem/strategies/edge.hpp>
#include <autostem/strategies/grid.hpp>
#include <autostem/strategies/random.hpp>
#include <autostem/strategies/sparse.hpp>

#include <algorithm>
#include <functional>
#include <map>
#include <stdexcept>

namespace autostem::strategies {

namespace {

struct Entry {
  StrategyFactory make;
  std::string help;
};

std::map<std::string, Entry>& registry() {
  static std::map<std::string, Entry> r = {
      {"atoms",
       {[](const Parameters& p) { return make_atom_plan_strategy("atoms", "log", p); },
        "find the atoms in the survey (classical LoG finder), measure them along a short beam path "
        "(seed 001/002 Fig. 3); target=all|class:K|defects|uncertain, max_points, fraction, "
        "neighbour_factor, two_opt_passes, finder.KEY (finder log: sigma_px, min_distance_px, "
        "threshold, spacing_px, refine, classify=none|outlier|otsu, outlier_z)"}},
      {"cs",
       {[](const Parameters& p) { return std::make_unique<CompressedSensingStrategy>(p); },
        "compressed sensing: sparse pattern + reconstruction; fraction=F in (0,1], "
        "pattern=random|halton|poisson|lines, segment=L, order=serpentine|nearest, "
        "reconstruction=nearest|linear|biharmonic|tv|particles|fista"}},
      {"edge",
       {[](const Parameters& p) { return std::make_unique<EdgeStrategy>(p); },
        "survey gradient above k x mean (or Otsu), thinned, short beam path (seed 002 §V.a); "
        "sigma_px, threshold=mean|otsu, k, min_spacing_px, max_points, two_opt_passes"}},
      {"grid",
       {[](const Parameters& p) { return std::make_unique<GridStrategy>(p); },
        "every pixel (or every k-th) row by row; pattern=raster|serpentine, step=K"}},
      {"random",
       {[](const Parameters& p) { return std::make_unique<RandomStrategy>(p); },
        "distinct random pixels; sequence=uniform|halton, fraction=F in (0,1]"}},
  };
  return r;
}

std::string joined_names() {
  std::string s;
  for (const auto& n : strategy_names()) s += (s.empty() ? "" : ", ") + n;
  return s;
}

}  // namespace

std::vector<std::string> strategy_names() {
  std::vector<std::string> names;
  for (const auto& [name, e] : registry()) names.push_back(name);
  return names;
}

std::string strategy_help(const std::string& name) {
  auto it = registry().find(name);
  return it == registry().end() ? std::string() : it->second.help;
}

std::unique_ptr<Strategy> make_strategy(const std::string& name, const Parameters& params) {
  auto it = registry().find(name);
  if (it == registry().end())
    throw std::invalid_argument("unknown strategy '" + name + "'; valid: " + joined_names());
  return it->second.make(params);
}

void register_strategy(const std::string& name, const std::string& help, StrategyFactory make) {
  if (name.empty()) throw std::invalid_argument("register_strategy: empty strategy name");
  if (!make) throw std::invalid_argument("register_strategy: strategy '" + name + "' has no factory");
  registry()[name] = Entry{std::move(make), help};
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
