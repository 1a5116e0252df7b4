// The toy strategy of docs/strategies.md, "Adding a strategy": a whole strategy in one file. A
// built-in one would add `X(toy)` to AUTOSTEM_BUILTIN_STRATEGIES in strategies/src/registry.cpp;
// a test (or an optional library) registers it at run time with one line:
//   strategies::register_strategy(toy_strategy());
#include <autostem/strategies/registry.hpp>

#include <algorithm>

namespace autostem::strategies {

/// Every step-th pixel of the field's main diagonal, at most `count` of them.
class ToyStrategy final : public Strategy {
 public:
  static const Schema& schema() {
    static const Schema s = [] {
      Schema s("strategy", "toy", "the main diagonal, every step-th pixel (docs/strategies.md example)");
      s.integer("step", 1, "distance between points along the diagonal").at_least(1).in_unit("px");
      s.integer("count", 0, "at most this many points (0 = no limit)");
      return s;
    }();
    return s;
  }
  explicit ToyStrategy(const Parameters& params) : values_(schema().parse(params)) {}
  std::string name() const override { return "toy"; }
  Parameters parameters() const override { return values_.provenance(); }
  void begin(const Survey&, const StrategyContext& context) override {
    plan_.clear();
    next_ = 0;
    const std::size_t n = std::min(context.instrument.field_rows, context.instrument.field_cols);
    for (std::size_t i = 0; i < n; i += values_.size("step")) {
      if (values_.size("count") > 0 && plan_.size() == values_.size("count")) break;
      plan_.push_back({static_cast<double>(i), static_cast<double>(i)});
    }
  }
  std::vector<Position> propose(std::size_t max_points) override {
    const std::size_t n = std::min(max_points, plan_.size() - next_);
    std::vector<Position> out(plan_.begin() + static_cast<std::ptrdiff_t>(next_),
                              plan_.begin() + static_cast<std::ptrdiff_t>(next_ + n));
    next_ += n;
    return out;
  }
  void observe(std::span<const Measurement>) override {}

 private:
  ParamValues values_;
  std::vector<Position> plan_;
  std::size_t next_ = 0;
};

StrategyInfo toy_strategy() {
  return {ToyStrategy::schema(), [](const Parameters& p) { return std::make_unique<ToyStrategy>(p); }};
}

}  // namespace autostem::strategies
