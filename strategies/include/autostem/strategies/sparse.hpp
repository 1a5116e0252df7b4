#pragma once
// Compressed-sensing acquisition (DESIGN.md §7): measure a few percent of the pixels on a sparse
// pattern and reconstruct the rest (Stevens et al. 2014, Microscopy 63, 41: 5 % sampling;
// Zobelli et al. 2020, Ultramicroscopy 212, 112912: random scans for hyperspectral STEM; FAST,
// Kandel et al. 2023: reconstruction NRMSE/SSIM versus coverage). docs/compressed-sensing.md
// compares the patterns and reconstructions.

#include <autostem/imaging/reconstruction.hpp>
#include <autostem/core/strategy.hpp>
#include <autostem/strategies/schema.hpp>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace autostem::strategies {

/// n distinct pixels (pixel centres, survey frame) of a rows × cols field on a sparse pattern,
/// in generation order; deterministic for seed. n is clamped to rows × cols.
///  random   uniformly random distinct pixels (partial Fisher–Yates);
///  halton   the 2-D Halton sequence in bases 3 (rows) and 2 (cols) with a seeded
///           Cranley–Patterson rotation, duplicates skipped (Halton 1960);
///  poisson  Poisson-disc (blue-noise) points by Bridson's algorithm (Bridson 2007, SIGGRAPH
///           sketches, 30 candidates per active point) with the disc radius r = sqrt(0.65 /
///           density) — about the density of a maximal disc packing — shrunk by 10 % per round
///           until n points exist, then a random n of them; where the radius would fall below
///           one pixel the rest are uniformly random;
///  lines    short horizontal line segments (along the fast scan direction: what scan coils do
///           well) of `segment` pixels at uniformly random starts, overlaps skipped, the last
///           one cut to reach n.
/// Throws std::invalid_argument for an unknown pattern (listing the valid ones), segment = 0 or
/// an empty field.
std::vector<Position> sampling_pattern(const std::string& pattern, std::size_t rows,
                                       std::size_t cols, std::size_t n, std::uint64_t seed,
                                       std::size_t segment = 8);

/// The points re-ordered into a short beam path.
///  serpentine  the strip method (Beardwood, Halton & Hammersley 1959): horizontal bands of
///              band_rows rows, each swept by column, alternate bands reversed. band_rows = 0
///              picks round(sqrt(3·area/n)), the width for which the strip tour of uniform
///              random points is shortest (≈ 0.92·sqrt(n·area)); band_rows = 1 is the row-by-row
///              serpentine (line segments stay contiguous);
///  nearest     greedy nearest neighbour from the point nearest the top-left corner (bucket grid,
///              ties to the lower index).
/// Throws std::invalid_argument for an unknown order, listing serpentine, nearest.
std::vector<Position> order_path(std::vector<Position> points, const std::string& order,
                                 std::size_t band_rows = 0);

/// Euclidean length (px) of the path through the points in order; 0 for fewer than 2.
double path_length(std::span<const Position> points);

/// The `cs` strategy. Parameters (fraction, pattern, segment, order, reconstruction): schema(),
/// docs/strategies.md.
/// The plan is made in begin() for the field and the context's seed and point budget; observe()
/// keeps each spectrum's total counts at its position (the actual one where known); prediction()
/// returns the reconstructed map of total counts as `mean` (recomputed only when new
/// measurements arrived). Throws std::invalid_argument on an unknown key or a bad value, naming
/// the valid choices.
class CompressedSensingStrategy final : public Strategy {
 public:
  explicit CompressedSensingStrategy(const Parameters& params = {});
  static const Schema& schema();
  std::string name() const override { return "cs"; }
  Parameters parameters() const override;
  void begin(const Survey& survey, const StrategyContext& context) override;
  std::vector<Position> propose(std::size_t max_points) override;
  void observe(std::span<const Measurement> measurements) override;
  /// Mean = reconstruction of the total counts; empty before any measurement.
  std::optional<Prediction> prediction() const override;

  /// The whole planned path (survey pixel frame), in beam order.
  const std::vector<Position>& plan() const { return plan_; }

 private:
  ParamValues values_;
  double fraction_ = 0.1;
  std::string pattern_ = "random", order_ = "serpentine";
  std::size_t segment_ = 8;
  ReconstructionOptions recon_;
  std::size_t rows_ = 0, cols_ = 0;
  std::vector<Position> plan_;
  std::size_t next_ = 0;
  std::vector<Position> measured_;
  std::vector<double> totals_;
  mutable std::size_t cached_n_ = 0;
  mutable ImageArray cached_;
};

}  // namespace autostem::strategies
