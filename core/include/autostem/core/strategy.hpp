#pragma once
// The Strategy interface (DESIGN.md §4). A strategy sees the survey, proposes probe positions,
// observes measurements, and may publish a prediction map. It never sees sim/ or backends/.

#include <autostem/core/instrument.hpp>
#include <autostem/core/types.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace autostem {

/// Everything a strategy may know at begin(): the instrument's description, the seed of its
/// random stream, the point budget and the acquisition settings.
struct StrategyContext {
  InstrumentInfo instrument;
  std::uint64_t seed = 0;
  /// Maximum spectra the Session will accept (0 = field size). A strategy proposes at most this
  /// many positions in all, then returns empty (tests/strategies/test_conformance.cpp).
  std::size_t budget_points = 0;
  PointSettings settings;
};

/// A strategy's current belief, for plots and metrics: maps of (field_rows, field_cols).
/// Empty arrays mean "not provided".
struct Prediction {
  ImageArray mean;
  ImageArray uncertainty;   ///< standard deviation, same units as mean
  ImageArray acquisition;   ///< acquisition function value
};

/// Strategy parameters as text, for provenance and the command line ("key" → "value").
using Parameters = std::map<std::string, std::string>;

class Strategy {
 public:
  virtual ~Strategy() = default;

  /// Registry name, e.g. "grid".
  virtual std::string name() const = 0;

  /// Parameters in effect (after defaults), for the results file.
  virtual Parameters parameters() const = 0;

  /// Starts an experiment on this survey. Resets all state; deterministic for context.seed.
  virtual void begin(const Survey& survey, const StrategyContext& context) = 0;

  /// Up to max_points positions to measure next (survey pixel frame); empty = done.
  /// May be called while earlier proposals are still being acquired (overlap).
  virtual std::vector<Position> propose(std::size_t max_points) = 0;

  /// Measurements that arrived since the last call, in arrival order.
  virtual void observe(std::span<const Measurement> measurements) = 0;

  /// Current prediction maps, if the strategy has a model.
  virtual std::optional<Prediction> prediction() const { return std::nullopt; }

  /// How this strategy's spectra are best taken: a full raster can use the instrument's own
  /// synchronized SI scan; anything else is point-by-point.
  virtual AcquisitionMode preferred_mode() const { return AcquisitionMode::point; }
};

}  // namespace autostem
