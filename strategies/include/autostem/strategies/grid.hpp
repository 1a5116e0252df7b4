#pragma once
// Grid strategies: the baseline every smart strategy is compared with (DESIGN.md §7).

#include <autostem/core/strategy.hpp>
#include <autostem/strategies/schema.hpp>

namespace autostem::strategies {

/// Every step-th pixel of the field, row by row. Parameters (pattern, step): schema(),
/// docs/strategies.md. A full grid (step 1) prefers the instrument's synchronized SI scan.
/// Throws std::invalid_argument on an unknown key or value, listing the valid ones.
class GridStrategy final : public Strategy {
 public:
  explicit GridStrategy(const Parameters& params = {});
  static const Schema& schema();
  std::string name() const override { return "grid"; }
  Parameters parameters() const override;
  void begin(const Survey& survey, const StrategyContext& context) override;
  std::vector<Position> propose(std::size_t max_points) override;
  void observe(std::span<const Measurement>) override {}
  AcquisitionMode preferred_mode() const override;

 private:
  ParamValues values_;
  bool serpentine_ = false;
  std::size_t step_ = 1;
  std::vector<Position> plan_;
  std::size_t next_ = 0;
};

}  // namespace autostem::strategies
