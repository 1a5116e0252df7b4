#pragma once
// Random sampling baselines (DESIGN.md §7; FAST's comparison baselines).

#include <autostem/core/strategy.hpp>
#include <autostem/strategies/schema.hpp>

namespace autostem::strategies {

/// Distinct pixels of the field in random order until the point budget (or fraction) is used.
/// Parameters (sequence, fraction): schema(), docs/strategies.md. sequence=halton is the 2-D
/// Halton sequence in bases 2 and 3 with a seeded Cranley–Patterson rotation (Halton 1960;
/// Cranley & Patterson 1976), mapped to the nearest pixel, duplicates skipped.
/// Deterministic for the context's seed. Throws std::invalid_argument on an unknown key or a
/// value out of range.
class RandomStrategy final : public Strategy {
 public:
  explicit RandomStrategy(const Parameters& params = {});
  static const Schema& schema();
  std::string name() const override { return "random"; }
  Parameters parameters() const override;
  void begin(const Survey& survey, const StrategyContext& context) override;
  std::vector<Position> propose(std::size_t max_points) override;
  void observe(std::span<const Measurement>) override {}

 private:
  ParamValues values_;
  bool halton_ = false;
  double fraction_ = 1.0;
  std::vector<Position> plan_;
  std::size_t next_ = 0;
};

}  // namespace autostem::strategies
