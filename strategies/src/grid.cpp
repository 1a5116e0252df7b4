#include <autostem/strategies/grid.hpp>
#include <autostem/strategies/registry.hpp>

#include <algorithm>

namespace autostem::strategies {

const Schema& GridStrategy::schema() {
  static const Schema s = [] {
    Schema s("strategy", "grid", "every pixel (or every k-th) row by row; a full grid prefers the instrument's SI scan");
    s.choice("pattern", {"raster", "serpentine"}, "raster",
             "raster: each row left to right (flyback); serpentine: alternate rows reversed");
    s.integer("step", 1, "every k-th row and column (1 = the full grid)").at_least(1).in_unit("px");
    return s;
  }();
  return s;
}

GridStrategy::GridStrategy(const Parameters& params) : values_(schema().parse(params)) {
  serpentine_ = values_.text("pattern") == "serpentine";
  step_ = values_.size("step");
}

Parameters GridStrategy::parameters() const { return values_.provenance(); }

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

StrategyInfo grid_strategy() {
  return {GridStrategy::schema(), [](const Parameters& p) { return std::make_unique<GridStrategy>(p); }};
}

}  // namespace autostem::strategies
