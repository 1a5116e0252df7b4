#include <autostem/strategies/random.hpp>
#include <autostem/strategies/registry.hpp>

#include <autostem/core/random.hpp>

#include "params.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

namespace autostem::strategies {

const Schema& RandomStrategy::schema() {
  static const Schema s = [] {
    Schema s("strategy", "random", "distinct random pixels until the point budget (or fraction) is used");
    s.choice("sequence", {"uniform", "halton"}, "uniform",
             "uniform: a seeded permutation; halton: the 2-D Halton sequence with a seeded "
             "Cranley–Patterson rotation (Halton 1960)");
    s.number("fraction", 1.0, "share of the field to measure (the point budget applies on top)").above(0).at_most(1);
    return s;
  }();
  return s;
}

RandomStrategy::RandomStrategy(const Parameters& params) : values_(schema().parse(params)) {
  halton_ = values_.text("sequence") == "halton";
  fraction_ = values_.number("fraction");
}

Parameters RandomStrategy::parameters() const { return values_.provenance(); }

void RandomStrategy::begin(const Survey&, const StrategyContext& context) {
  plan_.clear();
  next_ = 0;
  const std::size_t rows = context.instrument.field_rows, cols = context.instrument.field_cols;
  const std::size_t field = rows * cols;
  std::size_t n = static_cast<std::size_t>(std::ceil(fraction_ * static_cast<double>(field)));
  if (context.budget_points > 0) n = std::min(n, context.budget_points);
  n = std::min(n, field);
  std::mt19937_64 rng(context.seed);
  if (!halton_) {
    std::vector<std::size_t> order(field);
    std::iota(order.begin(), order.end(), std::size_t{0});
    // Partial Fisher–Yates: only the first n entries are needed.
    for (std::size_t i = 0; i < n; ++i) {
      std::swap(order[i], order[random::uniform_int(rng, i, field - 1)]);
    }
    for (std::size_t i = 0; i < n; ++i)
      plan_.push_back({static_cast<double>(order[i] / cols), static_cast<double>(order[i] % cols)});
    return;
  }
  std::vector<char> taken(field, 0);
  detail::append_halton_pixels(rows, cols, n, rng, taken, plan_);
}

std::vector<Position> RandomStrategy::propose(std::size_t max_points) {
  const std::size_t n = std::min(max_points, plan_.size() - next_);
  std::vector<Position> out(plan_.begin() + static_cast<std::ptrdiff_t>(next_),
                            plan_.begin() + static_cast<std::ptrdiff_t>(next_ + n));
  next_ += n;
  return out;
}

StrategyInfo random_strategy() {
  return {RandomStrategy::schema(), [](const Parameters& p) { return std::make_unique<RandomStrategy>(p); }};
}

}  // namespace autostem::strategies
