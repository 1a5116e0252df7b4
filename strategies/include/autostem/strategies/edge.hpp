#pragma once
// The edge strategy (DESIGN.md §7; seed 002 §V.a): spectra only where the survey changes. On a
// 128×128 HAADF survey of a GaAs nanowire with an Au cap the paper's edge filter kept 137 of
// 16,384 pixels (≈1 %) at the interface — 2 minutes instead of 80 for the full grid.
//
// Plan, made once in begin():
//  1. smooth the survey with a Gaussian (sigma_px; 0 = none) so that shot noise does not make
//     gradient;
//  2. Sobel gradient magnitude;
//  3. keep the pixels whose gradient exceeds the threshold: k × mean gradient (threshold=mean, the
//     paper's rule) or Otsu's threshold of the gradient image (threshold=otsu);
//  4. thin them greedily by descending gradient so no two kept points are closer than
//     min_spacing_px (Euclidean, between pixel centres); keep at most max_points (and the
//     context's point budget) — the strongest edges survive a cut;
//  5. order them into a short beam path: nearest neighbour from the point closest to the field's
//     top-left corner, then 2-opt with neighbour lists (bounded passes, so thousands of points
//     plan in milliseconds).
// propose() then hands the path out in order; observe() ignores the signals. No randomness: the
// plan depends only on the survey and the parameters.

#include <autostem/core/strategy.hpp>
#include <autostem/strategies/schema.hpp>

#include <cstddef>
#include <span>
#include <vector>

namespace autostem::strategies {

/// Parameters (sigma_px, threshold, k, min_spacing_px, max_points, two_opt_passes): schema(),
/// docs/strategies.md; k applies to threshold=mean only. Throws std::invalid_argument on an
/// unknown key (listing the valid ones) or a bad value.
class EdgeStrategy final : public Strategy {
 public:
  explicit EdgeStrategy(const Parameters& params = {});
  static const Schema& schema();
  std::string name() const override { return "edge"; }
  Parameters parameters() const override;
  /// Plans the path on survey.image. Throws std::invalid_argument if the survey is empty or
  /// holds non-finite values.
  void begin(const Survey& survey, const StrategyContext& context) override;
  std::vector<Position> propose(std::size_t max_points) override;
  void observe(std::span<const Measurement>) override {}
  /// The gradient magnitude as the "acquisition" map (mean and uncertainty left empty).
  std::optional<Prediction> prediction() const override;

  /// The whole planned path (survey pixel frame), in beam order.
  const std::vector<Position>& plan() const { return plan_; }
  /// Gradient threshold used by the last begin() (gradient units: survey units per pixel × 8).
  double threshold_value() const { return threshold_; }
  /// Pixels above the threshold before thinning, in the last begin().
  std::size_t candidates() const { return candidates_; }

 private:
  Parameters provenance_;
  double sigma_px_ = 1.0;
  bool otsu_ = false;
  double k_ = 3.0;
  double min_spacing_px_ = 3.0;
  std::size_t max_points_ = 0;
  std::size_t two_opt_passes_ = 50;

  ImageArray gradient_;
  double threshold_ = 0.0;
  std::size_t candidates_ = 0;
  std::vector<Position> plan_;
  std::size_t next_ = 0;
};

/// Total length (px) of the open path visiting points in the given order. order: indices into
/// points (each at most once).
double path_length(std::span<const Position> points, std::span<const std::size_t> order);

/// Nearest-neighbour open path: starts at the point closest to (0, 0) (ties: lowest index), then
/// repeatedly the nearest unvisited point (ties: lowest index). Returns an order of all indices.
/// Bucket grid search: about O(n) for evenly spread points.
std::vector<std::size_t> nearest_neighbour_path(std::span<const Position> points);

/// Improves an open path in place with 2-opt moves (segment reversals, including reversing a
/// prefix or suffix) among each point's `neighbours` nearest points, first improvement, until a
/// pass finds none or after max_passes passes. Never lengthens the path. Deterministic.
void two_opt(std::span<const Position> points, std::vector<std::size_t>& order,
             std::size_t max_passes, std::size_t neighbours = 10);

}  // namespace autostem::strategies
