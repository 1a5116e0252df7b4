#include <autostem/strategies/grid.hpp>

#include "params.hpp"

#include <algorithm>
#include <stdexcept>

namespace autostem::strategies {

GridStrategy::GridStrategy(const Parameters& params) {
  detail::check_keys(params, {"pattern", "step"}, "grid");
  const std::string pattern = detail::get(params, "pattern", "raster");
  if (pattern != "raster" && pattern != "serpentine")
    throw std::invalid_argument("strategy 'grid': pattern='" + pattern +
                                "' is not one of raster, serpentine");
  serpentine_ = pattern == "serpentine";
  step_ = detail::get_size(params, "step", 1, "grid");
  if (step_ == 0) throw std::invalid_argument("strategy 'grid': step must be at least 1");
}

Parameters GridStrategy::parameters() const {
  return {{"pattern", serpentine_ ? "serpentine" : "raster"}, {"step", std::to_string(step_)}};
}

AcquisitionMode GridStrategy::preferred_mode() const {
  // The instrument's own SI scan acquires a contiguous raster; a sparse grid is point-by-point.
  return step_ == 1 ? AcquisitionMode::si_scan : AcquisitionMode::point;
}

void GridStrategy::begin(const Survey&, const StrategyContext& context) {
  plan_.clear();
  next_ = 0;
  const std::size_t rows = context.instrument.field_rows, cols = context.instrument.field_cols;
  std::size_t line = 0;
  for (std::size_t r = 0; r < rows; r += step_, ++line) {
    const bool reverse = serpentine_ && (line % 2 == 1);
    std::vector<Position> row;
    for (std::size_t c = 0; c < cols; c += step_)
      row.push_back({static_cast<double>(r), static_cast<double>(c)});
    if (reverse) std::reverse(row.begin(), row.end());
    plan_.insert(plan_.end(), row.begin(), row.end());
  }
  // The Session accepts no more than budget_points: the raster stops there (issue 14).
  if (context.budget_points > 0 && plan_.size() > context.budget_points) plan_.resize(context.budget_points);
}

std::vector<Position> GridStrategy::propose(std::size_t max_points) {
  const std::size_t n = std::min(max_points, plan_.size() - next_);
  std::vector<Position> out(plan_.begin() + static_cast<std::ptrdiff_t>(next_),
                            plan_.begin() + static_cast<std::ptrdiff_t>(next_ + n));
  next_ += n;
  return out;
}

}  // namespace autostem::strategies
