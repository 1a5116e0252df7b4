#pragma once
// The benchmark harness behind `autostem bench` (DESIGN.md §10): a matrix of ground truths ×
// strategies × seeds, run in parallel, each run through the same Session and simulated backend as
// `autostem run`, scored against the ground truth with the metrics of core/metrics.hpp.

#include <autostem/backends/simulated.hpp>
#include <autostem/core/ground_truth.hpp>
#include <autostem/core/session.hpp>
#include <autostem/imaging/drift_corrector.hpp>

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace autostem::cli {

/// One ground truth of the matrix: a phantom (regenerated for every seed) or files.
struct BenchDataset {
  std::string label;                              ///< short name used in file names and tables
  std::string phantom;                            ///< phantom name, or empty for files
  std::size_t rows = 128, cols = 128;             ///< phantom size
  std::string options;                            ///< 4D phantom KEY=VALUE options, ':'-separated
  std::filesystem::path spectrum_image, survey;   ///< files (either may be empty)
};

struct BenchStrategy {
  std::string name;
  Parameters params;
  /// How the strategy is named in the outputs: name, or name+"+dc:"+spec for a drift-correction
  /// variant (`--drift-correction off/every:50`). Empty = name.
  std::string label;
  /// Drift correction for this variant (std::nullopt = off).
  std::optional<DriftCorrectorOptions> drift_correction;
  /// Budget matched to the comparison (set by `bench` for random without random.fraction and
  /// without a --budget-*): per dataset and seed, as many spectra as the largest count of the other
  /// strategies that measured less than the whole field; kDefaultMatchedFraction of the field's
  /// pixels when there is none.
  bool matched_budget = false;
  const std::string& shown() const { return label.empty() ? name : label; }
};

/// A matched-budget strategy's share of the field when no other strategy measured less than the
/// whole field (random benched alone or with the full grid only).
inline constexpr double kDefaultMatchedFraction = 0.05;

/// A strategy label as a file-name part: ':', ',', '/' and ' ' become '-'.
inline std::string file_label(std::string s) {
  for (char& c : s)
    if (c == ':' || c == ',' || c == '/' || c == ' ') c = '-';
  return s;
}

struct BenchConfig {
  std::vector<BenchDataset> datasets;
  std::vector<BenchStrategy> strategies;
  std::vector<std::uint64_t> seeds;
  std::string scalarizer;        ///< spec; empty = total counts over the whole energy axis
  std::string roi = "auto";      ///< auto (phantom mask, else top:5) | mask | top:Q (percent)
  /// A region-of-interest pixel counts as found when a measurement lands within this distance
  /// of it; 0 = only the pixel a measurement rounds to. Given in px (--recall-radius) or nm
  /// (--recall-radius-nm, converted with each ground truth's pixel size); neither given (< 0):
  /// default_recall_radius_px().
  double recall_radius_px = -1.0;
  double recall_radius_nm = -1.0;
  SessionConfig session;         ///< budgets and settings shared by every run
  bool batch_defaulted = true;   ///< use whole scan lines for si_scan runs
  backends::SimulatedOptions sim;
  std::filesystem::path out_dir;
  std::size_t threads = 0;       ///< 0 = TBB's default (all cores)
  /// Prediction maps stored every N measurements (strategies with a model); 0 = never.
  std::size_t prediction_every = 0;
  double prediction_budget = 0.1;  ///< Session::set_prediction_interval's max_wall_fraction
};

/// The recall radius when neither --recall-radius nor --recall-radius-nm is given: the largest
/// spacing (> 1 px) that a benched strategy keeps between its points — edge's min_spacing_px (one
/// edge point stands for that stretch of the edge), grid's step — so that every strategy is scored
/// with the radius one point of the sparsest regular pattern represents; 0 px (the measured pixel
/// only) when no strategy spaces its points. Returns (radius px, why: one line for summary.md).
std::pair<double, std::string> default_recall_radius_px(const std::vector<BenchStrategy>& strategies);

/// Everything measured about one run.
struct RunResult {
  std::string dataset, strategy;
  std::uint64_t seed = 0;
  std::size_t field_pixels = 0;
  RunSummary summary;
  double recall = 0.0;                  ///< of the ROI at the end
  double n_recall95 = -1;               ///< measurements to reach 95 % recall, −1 = never
  double final_regret = 0.0;            ///< simple regret at the end (scalarizer units)
  double n_regret0 = -1;                ///< measurements until the maximum was measured, −1 = never
  double n_top1 = -1;                   ///< measurements until a top-1 % pixel was measured
  std::size_t top1_pixels = 0;          ///< pixels in the top-1 % mask (ties included), for the
                                        ///< exact random baseline (core/first_hit.hpp)
  double site_recall = 0.0;             ///< share of ROI sites (connected components) found at the end
  double n_sites90 = -1;                ///< measurements to find 90 % of the ROI sites, −1 = never
  double nrmse = 0.0, psnr = 0.0, ssim = 0.0;  ///< of the inpainted map at the end; NaN = undefined
  std::string metric_note;              ///< why a metric is undefined (e.g. a constant truth map)
  double pixel_size_nm = 0.0;           ///< of the ground truth's scan
  double recall_radius_px = 0.0;        ///< as scored (px of this ground truth)
  std::size_t budget_points = 0;        ///< matched budget given to this run, 0 = none
  std::string budget_rule;              ///< how that budget was chosen (empty = none)
  std::vector<double> time_curve;       ///< (measurements) session time (s) when each arrived
  std::vector<double> dose_curve;       ///< (measurements) field-mean dose (e⁻/Å²) after each
  std::string scalar_units;             ///< unit of the scalarizer's value (regret, maps)
  /// First seed only (the plots): the ground-truth scalar map, the region of interest (1 = in) and
  /// the map inpainted from the measured points (nearest neighbour); empty for other seeds.
  ImageArray truth_map, roi_mask, reconstruction;
  std::vector<double> recall_curve;     ///< (measurements)
  std::vector<double> regret_curve;     ///< (measurements)
  std::vector<std::pair<std::size_t, double>> nrmse_curve;  ///< (measurements, NRMSE) checkpoints
  std::vector<Position> positions;      ///< where each measurement landed (actual; requested when unknown), in order
  std::vector<Position> requested;      ///< as the strategy proposed
  std::vector<Position> commanded;      ///< where the beam was sent (drift correction applied)
  std::filesystem::path file;           ///< the run's HDF5 file
  std::string error;                    ///< non-empty when the run failed
};

/// Runs the matrix; calls progress(done, total) after each run (from worker threads, serialised).
/// Writes per-run HDF5 files under out_dir/runs/. Throws std::invalid_argument on a bad
/// configuration (unknown strategy or scalarizer, no seeds) before any run starts; a failing run
/// is recorded with its error and the others go on.
std::vector<RunResult> run_bench(const BenchConfig& config,
                                 const std::function<void(std::size_t, std::size_t)>& progress);

/// Writes summary.csv (one row per run) and summary.md (median and interquartile range per
/// dataset × strategy) into out_dir.
void write_summaries(const BenchConfig& config, const std::vector<RunResult>& results);

/// Runs gnuplot on a script (the bench plots, the `atoms` overlay). Throws std::runtime_error
/// naming the script and gnuplot's output when gnuplot is missing or fails.
void run_gnuplot(const std::filesystem::path& script);

/// Writes PNG plots with gnuplot (pngcairo) into out_dir/plots: visited points over the survey
/// per strategy, recall and reconstruction error versus measurements, time and dose per strategy.
/// Returns the files written; throws std::runtime_error if gnuplot is missing or fails.
std::vector<std::filesystem::path> write_plots(const BenchConfig& config,
                                               const std::vector<RunResult>& results);

/// `autostem bench` (cmd_bench.cpp) that also hands back every run's result (the Python
/// package's autostem.bench: the recall, regret, time and dose curves). results may be null.
int cmd_bench(const std::vector<std::string>& args, std::vector<RunResult>* results);

/// 4D-STEM phantoms of `bench --phantom NAME[:RxC][:KEY=VALUE]…` (issue 19, docs/4dstem.md), built
/// by sim::make_fourd_phantom: 80 kV, α = 25 mrad, 64 × 64 patterns, 0.1 Å sampling; the patterns
/// are the expected counts at the recorded dose (probe current × frame time), the simulated
/// instrument draws each measured pattern's counting noise; survey the virtual ADF (≥ 60 mrad).
/// "fourd-tbg": twisted bilayer graphene, twist drawn from the seed in [θ₁, θ₁ + 2°] where the
/// moiré period at θ₁ equals the scanned field's shorter side (so the scan spans ≥ 1 moiré period),
/// layer 2 translated by a random point of the graphene cell (the AA sites anywhere);
/// "fourd-graphene": graphene with a 2 % strained disc placed from the seed.
bool is_fourd_phantom(const std::string& name);
/// Memory of a 4D bench phantom per scan pixel (bytes): its float32 64 × 64 pattern (16 KiB) plus
/// the 2 KiB of maps every phantom has. Measured: `autostem bench --phantom fourd-tbg:RxC
/// --strategies random --seeds 1 --threads 1` peak resident memory 236 MB at 64² and 433 MB at
/// 128², i.e. 16.0 KiB per pixel (docs/4dstem.md).
double fourd_phantom_bytes_per_pixel();
std::vector<std::string> fourd_phantom_names();

/// The KEY=VALUE options of a 4D bench phantom.
struct FourDBenchOptions {
  double probe_current_pA = 20.0;  ///< current_pA: probe current, pA (4D-STEM uses 5–50 pA)
  double frame_s = 1e-3;           ///< frame_s: time per pattern, s (a Merlin frame, 1/6/12 bit)
  double step_A = 0.4;             ///< step_A: scan pixel, Å, a multiple of 0.1 Å (0.4 Å: Nyquist of the probe's 2α/λ = 1.2 Å⁻¹)
  /// twist (fourd-tbg): DEG or MIN-MAX degrees; 0 = auto (see above)
  double twist_min_deg = 0.0, twist_max_deg = 0.0;
};

/// Parses "KEY=VALUE:KEY=VALUE…" ("" = defaults) for a 4D phantom name. Throws
/// std::invalid_argument naming the bad item: an unknown key, a value that is not a finite
/// number > 0, a step that is not a multiple of 0.1 Å, a twist range outside (0, 60], or options
/// given to a phantom that is not a 4D one.
FourDBenchOptions parse_fourd_bench_options(const std::string& name, const std::string& options);

/// The 4D phantom `name` for a seed on a rows × cols scan with `options`. The source names the
/// drawn twist, moiré period, scan span and layer shift (fourd-tbg) and the recorded dose;
/// recorded = {current_pA, frame_s}. Throws std::invalid_argument for a name not in
/// fourd_phantom_names(), bad options, or (fourd-tbg, twist=auto) a scan shorter than the moiré
/// period at 28°.
GroundTruth make_fourd_bench_phantom(const std::string& name, std::uint64_t seed, std::size_t rows,
                                     std::size_t cols, const std::string& options = "");

}  // namespace autostem::cli
