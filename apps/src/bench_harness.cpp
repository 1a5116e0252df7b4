#include "bench_harness.hpp"

#include <autostem/core/random.hpp>
#include <autostem/imaging/diffraction.hpp>
#include <autostem/sim/fourd_phantom.hpp>

#include <autostem/config.hpp>
#include <autostem/core/first_hit.hpp>
#include <autostem/imaging/metrics.hpp>
#include <autostem/imaging/scalarizer.hpp>
#include <autostem/datasets/ground_truth.hpp>
#include <autostem/datasets/phantoms.hpp>
#include <autostem/datasets/results.hpp>
#include <autostem/strategies/registry.hpp>

#include <tbb/global_control.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <mutex>
#include <random>
#include <sstream>

namespace autostem::cli {

namespace {

/// The serial build of HDF5 that Debian ships is not thread-safe: every HDF5 call of the harness
/// (ground-truth files, per-run results files) goes through this lock.
std::mutex& hdf5_mutex() {
  static std::mutex m;
  return m;
}

/// Forwards to the results writer under the HDF5 lock.
class LockedSink final : public MeasurementSink {
 public:
  explicit LockedSink(MeasurementSink& inner) : inner_(inner) {}
  void on_begin(const RunInfo& i, const Survey& s) override {
    std::lock_guard l(hdf5_mutex());
    inner_.on_begin(i, s);
  }
  void on_measurement(const Measurement& m) override {
    std::lock_guard l(hdf5_mutex());
    inner_.on_measurement(m);
  }
  void on_prediction(std::size_t step, const Prediction& p) override {
    std::lock_guard l(hdf5_mutex());
    inner_.on_prediction(step, p);
  }
  void on_drift(const DriftRecord& r) override {
    std::lock_guard l(hdf5_mutex());
    inner_.on_drift(r);
  }
  void on_end(const RunSummary& s, const std::optional<Image>& d) override {
    std::lock_guard l(hdf5_mutex());
    inner_.on_end(s, d);
  }

 private:
  MeasurementSink& inner_;
};

/// Keeps the requested positions and the scalarized measured signals for scoring. Signals are
/// first brought back to the conditions the ground truth was recorded at (counts scale with
/// probe current × exposure), so measured and ground-truth maps share one scale.
class ScoringSink final : public MeasurementSink {
 public:
  ScoringSink(const Scalarizer& s, RecordingConditions recorded) : scalarizer_(s), recorded_(recorded) {}
  void on_begin(const RunInfo&, const Survey&) override {}
  void on_measurement(const Measurement& m) override {
    // Scored where the probe landed: with drift, the requested position may miss the feature.
    positions.push_back(is_finite(m.actual) ? m.actual : m.requested);
    requested.push_back(m.requested);
    commanded.push_back(is_finite(m.commanded) ? m.commanded : m.requested);
    times_s.push_back(m.t_end_s);
    spot_doses.push_back(m.dose_e_per_A2);
    const double measured_dose = m.probe_current_pA * m.exposure_s;
    const double recorded_dose = recorded_.probe_current_pA * recorded_.exposure_s;
    if (recorded_dose > 0.0 && measured_dose > 0.0) {
      std::vector<float> scaled(m.signal);
      const float k = static_cast<float>(recorded_dose / measured_dose);
      for (float& v : scaled) v *= k;
      values.push_back(scalarizer_.evaluate(scaled));
    } else {
      values.push_back(scalarizer_.evaluate(m.signal));
    }
  }
  void on_end(const RunSummary&, const std::optional<Image>&) override {}
  std::vector<Position> positions, requested, commanded;
  std::vector<double> values;
  std::vector<double> times_s, spot_doses;  ///< per measurement: arrival time, dose at its spot

 private:
  const Scalarizer& scalarizer_;
  RecordingConditions recorded_;
};

std::string spec_for_whole_axis(const EnergyAxis& a) {
  std::ostringstream s;
  s.precision(17);
  s << "band_sum:" << a.energy_eV(0) << ":" << a.energy_eV(static_cast<double>(a.channels - 1));
  return s.str();
}

}  // namespace

bool is_fourd_phantom(const std::string& name) { return name.rfind("fourd-", 0) == 0; }

namespace {
constexpr std::size_t kFourDBenchDetectorPx = 64;
}  // namespace

double fourd_phantom_bytes_per_pixel() {
  return 2048.0 + 4.0 * double(kFourDBenchDetectorPx * kFourDBenchDetectorPx);
}

std::vector<std::string> fourd_phantom_names() { return {"fourd-tbg", "fourd-graphene"}; }

FourDBenchOptions parse_fourd_bench_options(const std::string& name, const std::string& options) {
  if (!is_fourd_phantom(name))
    throw std::invalid_argument("phantom '" + name + "' takes no KEY=VALUE options (only the 4D phantoms do)");
  FourDBenchOptions o;
  std::size_t start = 0;
  while (start < options.size()) {
    const std::size_t end = std::min(options.find(':', start), options.size());
    const std::string item = options.substr(start, end - start);
    start = end + 1;
    const auto eq = item.find('=');
    if (eq == std::string::npos)
      throw std::invalid_argument("phantom option '" + item + "' of '" + name + "' is not KEY=VALUE");
    const std::string key = item.substr(0, eq), value = item.substr(eq + 1);
    auto number = [&](const std::string& text) {
      std::size_t used = 0;
      double v = std::numeric_limits<double>::quiet_NaN();
      try {
        v = std::stod(text, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != text.size() || !std::isfinite(v) || !(v > 0.0))
        throw std::invalid_argument("phantom option " + key + "='" + value + "' of '" + name +
                                    "': expected a finite number > 0");
      return v;
    };
    if (key == "current_pA") {
      o.probe_current_pA = number(value);
    } else if (key == "frame_s") {
      o.frame_s = number(value);
    } else if (key == "step_A") {
      o.step_A = number(value);
      const double steps = o.step_A / 0.1;
      if (std::abs(steps - std::round(steps)) > 1e-6)
        throw std::invalid_argument("phantom option step_A=" + value + " of '" + name +
                                    "': the scan step must be a multiple of the potential's 0.1 Å sampling");
    } else if (key == "twist" && name == "fourd-tbg") {
      if (value == "auto") {
        o.twist_min_deg = o.twist_max_deg = 0.0;
      } else {
        const auto dash = value.find('-', 1);
        o.twist_min_deg = number(value.substr(0, dash));
        o.twist_max_deg = dash == std::string::npos ? o.twist_min_deg : number(value.substr(dash + 1));
        if (o.twist_max_deg < o.twist_min_deg || o.twist_max_deg > 60.0)
          throw std::invalid_argument("phantom option twist=" + value + " of '" + name +
                                      "': expected DEG or MIN-MAX with 0 < MIN ≤ MAX ≤ 60");
      }
    } else {
      throw std::invalid_argument("phantom option '" + key + "' of '" + name + "' is not one of current_pA, frame_s, step_A" +
                                  (name == "fourd-tbg" ? ", twist" : ""));
    }
  }
  return o;
}

GroundTruth make_fourd_bench_phantom(const std::string& name, std::uint64_t seed, std::size_t rows,
                                     std::size_t cols, const std::string& options) {
  if (name != "fourd-tbg" && name != "fourd-graphene")
    throw std::invalid_argument("4D phantom '" + name + "' is not one of fourd-tbg, fourd-graphene");
  const FourDBenchOptions o = parse_fourd_bench_options(name, options);
  sim::FourDPhantomConfig cfg;
  cfg.scan_rows = rows;
  cfg.scan_cols = cols;
  cfg.detector_px = kFourDBenchDetectorPx;
  cfg.scan_step_px = static_cast<std::size_t>(std::lround(o.step_A / cfg.pixel_A));
  // Expected counts at the recorded dose; the simulated instrument draws the counting noise of
  // each measured pattern (at this dose unless --current / --exposure say otherwise).
  cfg.electrons_per_pattern = electrons(o.probe_current_pA, o.frame_s);
  cfg.poisson_counts = false;
  cfg.seed = seed;
  const double h = (double(rows - 1) * double(cfg.scan_step_px) + double(cfg.detector_px)) * cfg.pixel_A;
  const double w = (double(cols - 1) * double(cfg.scan_step_px) + double(cfg.detector_px)) * cfg.pixel_A;
  // A new specimen per seed: the twist and the layers' registry (TBG) or the strained disc's
  // place (graphene) vary.
  std::mt19937_64 rng(seed);
  const double u = random::uniform53(rng);
  GroundTruth gt;
  std::ostringstream extra;
  extra.precision(4);
  if (name == "fourd-tbg") {
    double lo = o.twist_min_deg, hi = o.twist_max_deg;
    const double scan_A = double(std::min(rows, cols) - 1) * double(cfg.scan_step_px) * cfg.pixel_A;
    if (!(lo > 0.0)) {
      // auto: the scanned field (probe positions) spans at least one moiré period at every twist.
      if (!(scan_A > 0.0) || scan_A < sim::moire_period_A(28.0))
        throw std::invalid_argument("fourd-tbg: a " + std::to_string(rows) + "x" + std::to_string(cols) +
                                    " scan spans too little to hold a moiré period (twist=auto needs a "
                                    "twist ≤ 28°); give a larger field or twist=DEG");
      lo = sim::twist_for_moire_period_deg(scan_A);
      hi = lo + 2.0;
    }
    const double twist = lo + (hi - lo) * u;
    // Layer 2 translated by a point of the graphene cell: the AA sites land anywhere in the moiré cell.
    const double f1 = random::uniform53(rng), f2 = random::uniform53(rng);
    const double sx = 2.46 * (f1 + 0.5 * f2), sy = 2.46 * std::sqrt(3.0) / 2 * f2;
    gt = sim::make_fourd_phantom(sim::twisted_bilayer_graphene(w, h, twist, sx, sy), cfg);
    extra << ", fourd-tbg twist=" << twist << " deg, moire period=" << sim::moire_period_A(twist)
          << " A, scan spans " << scan_A << " A, layer-2 shift=(" << sx << ", " << sy << ") A";
  } else {
    sim::Strain s;
    s.exx = s.eyy = 0.02;
    s.x0_A = w * (0.3 + 0.4 * u);
    s.y0_A = h * (0.3 + 0.4 * random::uniform53(rng));
    s.radius_A = std::min(w, h) / 4;
    gt = sim::make_fourd_phantom(sim::graphene(w, h, 0.0, s), cfg);
  }
  extra << ", recorded at " << o.probe_current_pA << " pA x " << o.frame_s << " s";
  gt.source += extra.str();
  gt.recorded.probe_current_pA = o.probe_current_pA;
  gt.recorded.exposure_s = o.frame_s;
  return gt;
}

namespace {

GroundTruth load(const BenchDataset& d, std::uint64_t seed) {
  if (is_fourd_phantom(d.phantom)) return make_fourd_bench_phantom(d.phantom, seed, d.rows, d.cols, d.options);
  if (!d.phantom.empty()) return datasets::make_phantom(d.phantom, seed, d.rows, d.cols);
  std::optional<std::filesystem::path> si, survey;
  if (!d.spectrum_image.empty()) si = d.spectrum_image;
  if (!d.survey.empty()) survey = d.survey;
  std::lock_guard l(hdf5_mutex());
  return datasets::load_ground_truth(si, survey);
}

/// First index (1-based count) at which curve[i] satisfies pred, or −1.
template <class Pred>
double first_count(const std::vector<double>& curve, Pred pred) {
  for (std::size_t i = 0; i < curve.size(); ++i)
    if (pred(curve[i])) return static_cast<double>(i + 1);
  return -1.0;
}

/// A budget given to one run by the harness (matched budgets), 0 = none.
struct RunBudget {
  std::size_t points = 0;
  std::string rule;
};

RunResult run_one(const BenchConfig& cfg, const BenchDataset& d, const BenchStrategy& st,
                  std::uint64_t seed, const GroundTruth* shared_truth, double default_radius_px,
                  const RunBudget& budget) {
  RunResult r;
  r.dataset = d.label;
  r.strategy = st.shown();
  r.seed = seed;
  GroundTruth truth = shared_truth ? *shared_truth : load(d, seed);
  if (!truth.spectrum_image && !truth.four_d)
    throw std::invalid_argument("dataset '" + d.label + "' has no spectrum image or 4D data to score");
  r.field_pixels = truth.rows() * truth.cols();
  r.pixel_size_nm = truth.survey.calibration.pixel_size_nm;
  r.recall_radius_px = cfg.recall_radius_nm >= 0.0 ? cfg.recall_radius_nm / r.pixel_size_nm
                       : cfg.recall_radius_px >= 0.0 ? cfg.recall_radius_px
                                                     : default_radius_px;
  // 4D-STEM ground truth: pattern scalarizers (default |CoM|, seed 003's DPC target).
  const EnergyAxis axis = truth.spectrum_image ? truth.spectrum_image->energy() : EnergyAxis{};
  const std::string spec = !cfg.scalarizer.empty() ? cfg.scalarizer
                           : truth.four_d          ? std::string("com_mag")
                                                   : spec_for_whole_axis(axis);
  const auto scalarizer = make_scalarizer(spec, axis);
  r.scalar_units = scalarizer->units();
  const ImageArray truth_map = truth.four_d ? scalarize(*truth.four_d, *scalarizer)
                                            : scalarize(*truth.spectrum_image, *scalarizer);
  if (const auto bad = (!truth_map.isFinite()).count(); bad > 0)
    throw std::invalid_argument(
        "scalarizer '" + spec + "' gives no finite value at " + std::to_string(bad) + " of " +
        std::to_string(truth_map.size()) + " pixels of the ground truth of '" + d.label + "'" +
        (spec.rfind("strain_", 0) == 0 ? " (no lattice could be fitted to the Bragg discs there: overlapping discs, "
                                         "a wrong disc radius or reference basis)"
                                       : "") +
        "; choose another scalarizer or dataset");

  ImageArray mask;
  const std::string roi = cfg.roi == "auto" ? (truth.roi_mask ? "mask" : "top:5") : cfg.roi;
  if (roi == "mask") {
    if (!truth.roi_mask)
      throw std::invalid_argument("dataset '" + d.label + "' has no region-of-interest mask; use --roi top:Q");
    mask = *truth.roi_mask;
  } else if (roi.rfind("points:", 0) == 0) {
    // Discs of 1.5 px around the labelled points (e.g. the lattice phantom's dopant atoms).
    const int label = std::stoi(roi.substr(7));
    mask = ImageArray::Zero(truth_map.rows(), truth_map.cols());
    for (const auto& p : truth.points) {
      if (p.label != label) continue;
      const auto r0 = std::max<Eigen::Index>(0, static_cast<Eigen::Index>(std::ceil(p.position.row - 1.5)));
      const auto r1 = std::min<Eigen::Index>(mask.rows() - 1, static_cast<Eigen::Index>(std::floor(p.position.row + 1.5)));
      const auto c0 = std::max<Eigen::Index>(0, static_cast<Eigen::Index>(std::ceil(p.position.col - 1.5)));
      const auto c1 = std::min<Eigen::Index>(mask.cols() - 1, static_cast<Eigen::Index>(std::floor(p.position.col + 1.5)));
      for (Eigen::Index rr = r0; rr <= r1; ++rr)
        for (Eigen::Index cc = c0; cc <= c1; ++cc)
          if (std::hypot(static_cast<double>(rr) - p.position.row, static_cast<double>(cc) - p.position.col) <= 1.5)
            mask(rr, cc) = 1.0;
    }
  } else {
    mask = top_fraction_mask(truth_map, std::stod(roi.substr(4)) / 100.0);
  }
  const ImageArray top1 = top_fraction_mask(truth_map, 0.01);

  auto strategy = strategies::make_strategy(st.name, st.params);
  backends::SimulatedOptions sim = cfg.sim;
  sim.seed = seed;
  const std::string source = truth.source;
  const RecordingConditions recorded = truth.recorded;
  auto instrument = backends::make_simulated_instrument(std::move(truth), sim);
  SessionConfig sc = cfg.session;
  sc.seed = seed;
  if (budget.points > 0) {
    sc.budget.max_points = budget.points;
    r.budget_points = budget.points;
    r.budget_rule = budget.rule;
  }
  const AcquisitionMode mode = sc.mode.value_or(strategy->preferred_mode());
  if (cfg.batch_defaulted && mode == AcquisitionMode::si_scan)
    sc.batch_size = instrument->describe().field_cols;
  Session session(*instrument, *strategy, sc);
  session.set_prediction_interval(cfg.prediction_every, cfg.prediction_budget);
  std::unique_ptr<DriftCorrector> drift;
  if (st.drift_correction) {
    drift = std::make_unique<DriftCorrector>(*st.drift_correction);
    session.set_drift_correction(*drift);
  }

  r.file = cfg.out_dir / "runs" / (d.label + "_" + file_label(st.shown()) + "_seed" + std::to_string(seed) + ".h5");
  std::unique_ptr<datasets::ResultsWriter> writer;
  {
    std::lock_guard l(hdf5_mutex());
    writer = std::make_unique<datasets::ResultsWriter>(
        r.file, datasets::ResultsProvenance{sim.profile, source, "autostem bench", AUTOSTEM_VERSION});
  }
  LockedSink locked(*writer);
  ScoringSink scoring(*scalarizer, recorded);
  session.add_sink(locked);
  session.add_sink(scoring);
  try {
    r.summary = session.run();
  } catch (const SessionError& e) {
    r.summary = e.summary;
    r.error = e.what();
  }
  {
    std::lock_guard l(hdf5_mutex());
    writer.reset();
  }

  r.positions = scoring.positions;
  r.requested = std::move(scoring.requested);
  r.commanded = std::move(scoring.commanded);
  r.time_curve = std::move(scoring.times_s);
  {
    // Field-mean dose after each measurement: the survey's (and drift re-scans') share is what
    // the run's total leaves after the spectra; each spectrum adds its spot dose × 1 / pixels.
    double spots = 0.0;
    for (double v : scoring.spot_doses) spots += v;
    const double npix = static_cast<double>(r.field_pixels);
    double acc = std::max(0.0, r.summary.dose_e_per_A2 - spots / npix);
    for (double v : scoring.spot_doses) r.dose_curve.push_back(acc += v / npix);
  }
  const bool keep_maps = seed == cfg.seeds.front();
  if (keep_maps) {
    r.truth_map = truth_map;
    r.roi_mask = mask;
  }
  // A specimen without a region of interest (e.g. a lattice seed with no dopant or vacancy) has no
  // recall: NaN with a note, not a failed run.
  const bool roi_empty = !(mask.maxCoeff() > 0.0);
  if (!roi_empty) r.recall_curve = recall_curve(mask, r.positions, r.recall_radius_px);
  else r.metric_note = "recall undefined: the region-of-interest mask has no pixel; ";
  r.regret_curve = simple_regret_curve(truth_map, r.positions);
  const std::vector<double> top1_curve = recall_curve(top1, r.positions);
  r.recall = r.recall_curve.empty() ? 0.0 : r.recall_curve.back();
  r.final_regret = r.regret_curve.empty() ? truth_map.maxCoeff() - truth_map.minCoeff()
                                          : r.regret_curve.back();
  r.n_recall95 = first_count(r.recall_curve, [](double v) { return v >= 0.95; });
  if (!roi_empty) {
    // Sites (a dopant's disc, a vacancy, a particle) counted once each, whatever their size.
    const auto sites = site_recall_curve(mask, r.positions, r.recall_radius_px);
    r.site_recall = sites.empty() ? 0.0 : sites.back();
    r.n_sites90 = first_count(sites, [](double v) { return v >= 0.9; });
  }
  if (roi_empty)
    r.recall = r.n_recall95 = r.site_recall = r.n_sites90 = std::numeric_limits<double>::quiet_NaN();
  r.n_regret0 = first_count(r.regret_curve, [](double v) { return v <= 0.0; });
  r.n_top1 = first_count(top1_curve, [](double v) { return v > 0.0; });
  r.top1_pixels = static_cast<std::size_t>((top1.array() > 0.0).count());

  // Reconstruction error of the one fixed inpainting, at checkpoints spaced geometrically. A
  // metric that is undefined for this run (a constant truth map has no range, e.g. a dopant band
  // on a specimen without dopants; a scalarizer that gave NaN) is NaN with a note — the run and
  // its other figures stand.
  const std::size_t n = scoring.positions.size();
  if (!(truth_map.maxCoeff() > truth_map.minCoeff())) {
    r.nrmse = r.psnr = r.ssim = r.n_top1 = std::numeric_limits<double>::quiet_NaN();  // no "top 1 %"
    r.metric_note += "NRMSE/PSNR/SSIM undefined: the ground-truth scalar map is constant (" +
                    std::to_string(truth_map.maxCoeff()) + ")";
    return r;
  }
  std::vector<std::size_t> checkpoints;
  for (double c = 4; c < static_cast<double>(n); c *= 1.5) checkpoints.push_back(static_cast<std::size_t>(c));
  if (n > 0) checkpoints.push_back(n);
  try {
  for (std::size_t k : checkpoints) {
    const ImageArray map = inpaint_nearest(std::span(scoring.positions).first(k),
                                           std::span(scoring.values).first(k),
                                           static_cast<std::size_t>(truth_map.rows()),
                                           static_cast<std::size_t>(truth_map.cols()));
    const double e = nrmse(truth_map, map);
    r.nrmse_curve.push_back({k, e});
    if (k == n) {
      if (keep_maps) r.reconstruction = map;
      r.nrmse = e;
      r.psnr = psnr(truth_map, map);
      r.ssim = ssim(truth_map, map);
    }
  }
  } catch (const std::invalid_argument& e) {
    r.nrmse = r.psnr = r.ssim = std::numeric_limits<double>::quiet_NaN();
    r.metric_note += std::string("NRMSE/PSNR/SSIM undefined: ") + e.what();
  }
  return r;
}

std::string cell(const std::vector<double>& v, int precision = 4) {
  std::vector<double> ok;
  for (double x : v)
    if (std::isfinite(x)) ok.push_back(x);
  if (ok.empty()) return "–";
  std::ostringstream s;
  s.precision(precision);
  const auto [lo, hi] = std::minmax_element(ok.begin(), ok.end());
  if (*lo == *hi) s << *lo;  // every seed gave the same
  else s << percentile(ok, 50.0) << " [" << percentile(ok, 25.0) << "–" << percentile(ok, 75.0) << "]";
  if (ok.size() < v.size()) s << " (" << ok.size() << "/" << v.size() << ")";
  return s.str();
}

/// A count to an event (measurements to 95 % recall, to the first top-1 % pixel) over seeds
/// (+∞ = never got there, NaN = undefined for that run and left out): a
/// run that never got there is right-censored at its own length, so it counts as +∞ — ignoring
/// it would flatter a strategy that often misses (e.g. random with a small budget). Median and
/// quartiles by linear interpolation between order statistics; a quantile that falls among the
/// runs that never got there reads "never".
std::string censored_cell(const std::vector<double>& counts) {
  if (counts.empty()) return "–";
  std::vector<double> v;
  std::size_t reached = 0;
  for (double x : counts) {
    if (std::isnan(x)) continue;  // undefined for that run
    if (std::isfinite(x)) ++reached;
    v.push_back(x);
  }
  if (v.empty()) return "–";
  std::sort(v.begin(), v.end());
  const auto quantile = [&](double p) {
    const double pos = p * static_cast<double>(v.size() - 1);
    const std::size_t lo = static_cast<std::size_t>(std::floor(pos)), hi = std::min(lo + 1, v.size() - 1);
    const double frac = pos - static_cast<double>(lo);
    if (!std::isfinite(v[lo]) || (frac > 0.0 && !std::isfinite(v[hi]))) return std::string("never");
    std::ostringstream s;
    s.precision(4);
    s << (frac > 0.0 ? v[lo] + (v[hi] - v[lo]) * frac : v[lo]);
    return s.str();
  };
  return quantile(0.5) + " [" + quantile(0.25) + "–" + quantile(0.75) + "] (" + std::to_string(reached) +
         "/" + std::to_string(v.size()) + " got there)";
}

/// The exact baseline beside the sampled runs (issue 22): spectra to the first top-1 % pixel
/// under uniform random sampling without replacement, P(T > t) = C(N − K, t)/C(N, t), mixed over
/// the seeds' specimens (one field per seed: a phantom is a new specimen per seed).
/// Empty when no run of the dataset has a top-1 % mask.
std::string exact_random_line(const std::vector<RunResult>& results, const std::string& dataset) {
  std::map<std::uint64_t, FirstHitField> per_seed;
  for (const auto& r : results)
    // A constant ground-truth map has no top 1 % (n_top1 NaN): left out, as in the table.
    if (r.dataset == dataset && r.error.empty() && r.field_pixels > 0 && r.top1_pixels > 0 &&
        !std::isnan(r.n_top1))
      per_seed.emplace(r.seed, FirstHitField{r.field_pixels, r.top1_pixels});
  if (per_seed.empty()) return "";
  std::vector<FirstHitField> fields;
  std::size_t kmin = SIZE_MAX, kmax = 0, n = 0;
  for (const auto& [seed, f] : per_seed) {
    fields.push_back(f);
    kmin = std::min(kmin, f.targets);
    kmax = std::max(kmax, f.targets);
    n = f.pixels;
  }
  const auto q = [&](double p) {
    const std::size_t t = first_hit_quantile(fields, p);
    return t == kFirstHitNever ? std::string("never") : std::to_string(t);
  };
  std::ostringstream s;
  s << "Exact baseline, not sampled: uniform random sampling without replacement reaches the first "
       "top-1 % pixel after a median of **"
    << q(0.5) << " [" << q(0.25) << "–" << q(0.75) << "]** spectra (P(T > t) = C(N−K, t)/C(N, t), N = " << n
    << " pixels, K = " << (kmin == kmax ? std::to_string(kmin) : std::to_string(kmin) + "–" + std::to_string(kmax))
    << " top-1 % pixels, mixed over the " << fields.size()
    << " seeds' specimens; quartiles are the smallest t with P(T ≤ t) ≥ ¼, ½, ¾; no budget cap). Compare "
       "the strategies' \"spectra to the first top-1 % pixel\" with it rather than with a few sampled random runs.\n";
  return s.str();
}

}  // namespace

std::vector<RunResult> run_bench(const BenchConfig& cfg,
                                 const std::function<void(std::size_t, std::size_t)>& progress) {
  if (cfg.seeds.empty()) throw std::invalid_argument("bench: no seeds");
  if (cfg.datasets.empty()) throw std::invalid_argument("bench: no datasets or phantoms");
  if (cfg.strategies.empty()) throw std::invalid_argument("bench: no strategies");
  for (const auto& s : cfg.strategies) strategies::make_strategy(s.name, s.params);  // validates
  std::filesystem::create_directories(cfg.out_dir / "runs");

  // File ground truths are read once; phantoms are regenerated per seed (a new specimen).
  std::map<std::string, GroundTruth> files;
  for (const auto& d : cfg.datasets) {
    if (!d.phantom.empty()) continue;
    files.emplace(d.label, load(d, 0));
    const auto& t = files.at(d.label);
    if (!t.spectrum_image && !t.four_d)
      throw std::invalid_argument("dataset '" + d.label + "' has no spectrum image or 4D data");
    if (!cfg.scalarizer.empty())
      make_scalarizer(cfg.scalarizer, t.spectrum_image ? t.spectrum_image->energy() : EnergyAxis{});
  }
  if (!cfg.scalarizer.empty()) {
    for (const auto& d : cfg.datasets) {
      if (is_fourd_phantom(d.phantom)) {
        make_scalarizer(cfg.scalarizer, EnergyAxis{});
      } else if (!d.phantom.empty()) {
        const auto t = datasets::make_phantom(d.phantom, cfg.seeds.front(), d.rows, d.cols);
        make_scalarizer(cfg.scalarizer, t.spectrum_image->energy());
      }
    }
  }

  // Strategies with a matched budget run after the others, which set it (seed by seed).
  struct Job {
    const BenchDataset* d;
    const BenchStrategy* s;
    std::uint64_t seed;
    std::size_t index;  ///< into results, in dataset × strategy × seed order
  };
  std::vector<Job> first, second;
  std::size_t index = 0;
  for (const auto& d : cfg.datasets)
    for (const auto& s : cfg.strategies)
      for (auto seed : cfg.seeds) (s.matched_budget ? second : first).push_back({&d, &s, seed, index++});

  const double default_radius = default_recall_radius_px(cfg.strategies).first;
  std::vector<RunResult> results(index);
  std::vector<RunBudget> budgets(index);
  std::mutex progress_mutex;
  std::size_t done = 0;
  std::unique_ptr<tbb::global_control> limit;
  if (cfg.threads > 0)
    limit = std::make_unique<tbb::global_control>(tbb::global_control::max_allowed_parallelism,
                                                  cfg.threads);
  const auto run_jobs = [&](const std::vector<Job>& jobs) {
    tbb::parallel_for(std::size_t{0}, jobs.size(), [&](std::size_t i) {
      const Job& j = jobs[i];
      const auto it = files.find(j.d->label);
      RunResult& out = results[j.index];
      try {
        out = run_one(cfg, *j.d, *j.s, j.seed, it == files.end() ? nullptr : &it->second, default_radius,
                      budgets[j.index]);
      } catch (const std::exception& e) {
        out.dataset = j.d->label;
        out.strategy = j.s->shown();
        out.seed = j.seed;
        out.error = e.what();
      }
      std::lock_guard l(progress_mutex);
      ++done;
      if (progress) progress(done, index);
    });
  };
  run_jobs(first);
  for (const Job& j : second) {
    // The largest spectra count, on this dataset and seed, of a successful run of another strategy
    // that measured less than the whole field (a full grid is no budget to match).
    std::size_t most = 0;
    std::string who;
    for (const Job& o : first) {
      const RunResult& r = results[o.index];
      if (o.d != j.d || o.seed != j.seed || !r.error.empty() || r.summary.measurements >= r.field_pixels) continue;
      if (r.summary.measurements > most) {
        most = r.summary.measurements;
        who = r.strategy;
      }
    }
    if (most > 0) {
      budgets[j.index] = {most, "matched to " + who + " (the most spectra among the other sparse strategies, same seed)"};
    } else {
      const auto it = files.find(j.d->label);
      const auto pixels = static_cast<double>(it == files.end() ? j.d->rows * j.d->cols
                                                                : it->second.rows() * it->second.cols());
      budgets[j.index] = {std::max<std::size_t>(1, static_cast<std::size_t>(std::lround(kDefaultMatchedFraction * pixels))),
                          std::to_string(static_cast<int>(kDefaultMatchedFraction * 100)) +
                              " % of the pixels (no other strategy measured less than the whole field)"};
    }
  }
  run_jobs(second);
  return results;
}

std::pair<double, std::string> default_recall_radius_px(const std::vector<BenchStrategy>& strategies) {
  double best = 0.0;
  std::string why = "no strategy spaces its points, so a measurement stands for its own pixel";
  for (const auto& st : strategies) {
    const char* key = st.name == "edge" ? "min_spacing_px" : st.name == "grid" ? "step" : nullptr;
    if (!key) continue;
    const double v = strategies::strategy_schema(st.name).parse(st.params).number(key);
    if (v > 1.0 && v > best) {
      best = v;
      std::ostringstream w;
      w << st.name << "." << key << " = " << v << " px: one " << st.name
        << " point stands for that much of the specimen around it";
      why = w.str();
    }
  }
  return {best, why};
}

namespace {

/// "1.5" or "0.016–0.024" over the values (successful runs): for a phantom whose pixel size changes
/// with the seed.
std::string range_text(std::vector<double> v, int precision = 3) {
  if (v.empty()) return "–";
  std::sort(v.begin(), v.end());
  std::ostringstream s;
  s.precision(precision);
  s << v.front();
  if (v.back() > v.front() * (1 + 1e-9)) s << "–" << v.back();
  return s.str();
}

/// The scalarizer in words for the legend: its spec and what it computes, with units.
std::string scalarizer_words(const std::string& spec) {
  if (spec.empty()) return "total counts (the sum over the whole energy axis of each spectrum)";
  const std::string name = spec.substr(0, spec.find(':'));
  for (const auto& f : scalarizer_forms())
    if (f.syntax.substr(0, std::min(f.syntax.find(':'), f.syntax.find('['))) == name)
      return "`" + spec + "`, " + f.syntax + ": " + f.meaning + " (result in " + f.result_units + ")";
  return "`" + spec + "`";
}

}  // namespace

void write_summaries(const BenchConfig& cfg, const std::vector<RunResult>& results) {
  {
    std::ofstream csv(cfg.out_dir / "summary.csv");
    // Columns are parsed by name (scripts/reproduce_docs.py): new ones go at the end.
    csv << "dataset,strategy,seed,measurements,sampling_fraction,time_s,survey_time_s,"
           "dose_e_per_A2,max_dose_e_per_A2,latency_median_s,latency_p95_s,recall,n_recall95,"
           "final_regret,n_regret0,n_top1pct,nrmse,psnr_dB,ssim,wall_s,stop_reason,file,error,note,"
           "site_recall,n_sites90,drift_rescans,drift_time_s,drift_warnings,drift_clamped,"
           "status,recall_radius_px,recall_radius_nm,pixel_size_nm,budget_points,budget_rule,top1_pixels\n";
    csv.precision(10);
    for (const auto& r : results) {
      const auto& s = r.summary;
      std::string err = r.error;
      std::replace(err.begin(), err.end(), '"', '\'');
      std::string note = r.metric_note;
      std::replace(note.begin(), note.end(), '"', '\'');
      csv << r.dataset << "," << r.strategy << "," << r.seed << "," << s.measurements << ","
          << (r.field_pixels ? double(s.measurements) / double(r.field_pixels) : 0.0) << ","
          << s.time_s << "," << s.survey_time_s << "," << s.dose_e_per_A2 << ","
          << s.max_dose_e_per_A2 << "," << s.latency_median_s() << "," << s.latency_p95_s() << ","
          << r.recall << "," << r.n_recall95 << "," << r.final_regret << "," << r.n_regret0 << ","
          << r.n_top1 << "," << r.nrmse << "," << r.psnr << "," << r.ssim << "," << s.wall_s << ","
          << to_string(s.stop_reason) << "," << r.file.filename().string() << ",\"" << err << "\",\""
          << note << "\"," << r.site_recall << "," << r.n_sites90 << "," << s.drift_rescans << ","
          << s.drift_time_s << "," << s.drift_warnings << "," << s.drift_clamped << ","
          << (r.error.empty() ? "ok" : "failed") << "," << r.recall_radius_px << ","
          << r.recall_radius_px * r.pixel_size_nm << "," << r.pixel_size_nm << "," << r.budget_points
          << ",\"" << r.budget_rule << "\"," << r.top1_pixels << "\n";
    }
  }

  std::size_t failed_total = 0;
  for (const auto& r : results) failed_total += !r.error.empty();
  const auto [default_radius, radius_why] = default_recall_radius_px(cfg.strategies);

  std::ofstream md(cfg.out_dir / "summary.md");
  md << "# autostem bench summary\n\n"
     << "Every strategy ran " << cfg.seeds.size() << " time(s) (seeds " << cfg.seeds.front() << "–"
     << cfg.seeds.back() << ") on each ground truth in the simulated microscope (timing profile `"
     << cfg.sim.profile << "`"
     << (cfg.sim.detector.empty() ? std::string() : ", patterns timed by detector profile `" + cfg.sim.detector + "`")
     << "); a phantom is a new specimen for every seed, recorded data gets new "
        "detector noise. Each cell is the median over the seeds, with the middle half of the seeds "
        "in brackets [25th–75th percentile]; a single number means every seed gave the same. "
        "Every run, with more columns, is a row of summary.csv. The terms are defined under the tables.\n\n";
  if (failed_total > 0)
    md << "**" << failed_total << " of " << results.size()
       << " runs FAILED** (listed under \"Failed runs\"); the figures below are over the runs that "
          "finished, and `autostem bench` exits with status 1.\n\n";

  for (const auto& d : cfg.datasets) {
    std::vector<double> px_nm, radius_nm;
    for (const auto& r : results)
      if (r.dataset == d.label && r.error.empty() && r.pixel_size_nm > 0) {
        px_nm.push_back(r.pixel_size_nm);
        radius_nm.push_back(r.recall_radius_px * r.pixel_size_nm);
      }
    double radius_px = cfg.recall_radius_px >= 0 ? cfg.recall_radius_px : default_radius;
    md << "## " << d.label << "\n\n";
    md << "Pixel size " << range_text(px_nm) << " nm. Recall radius ";
    if (cfg.recall_radius_nm >= 0)
      md << cfg.recall_radius_nm << " nm (--recall-radius-nm)";
    else
      md << range_text(radius_nm) << " nm = " << radius_px << " px"
         << (cfg.recall_radius_px >= 0 ? " (--recall-radius)" : " (default: " + radius_why + ")");
    md << ".";
    for (const auto& st : cfg.strategies) {
      if (!st.matched_budget) continue;
      std::vector<double> b;
      std::string rule;
      for (const auto& r : results)
        if (r.dataset == d.label && r.strategy == st.shown() && r.budget_points > 0) {
          b.push_back(double(r.budget_points));
          rule = r.budget_rule;
        }
      if (!b.empty())
        md << " " << st.shown() << " had no budget of its own (no " << st.name
           << ".fraction, no --budget-*), so it got a budget of " << cell(b, 6) << " spectra: " << rule << ".";
    }
    md << "\n\n";

    struct Row {
      std::string strategy;
      std::size_t runs = 0, failed = 0;
      std::map<std::string, std::vector<double>> c;
    };
    std::vector<Row> rows;
    for (const auto& st : cfg.strategies) {
      Row row;
      row.strategy = st.shown();
      auto& c = row.c;
      for (const auto& r : results) {
        if (r.dataset != d.label || r.strategy != st.shown()) continue;
        ++row.runs;
        if (!r.error.empty()) {  // a failed run's figures are not figures
          ++row.failed;
          continue;
        }
        const auto& s = r.summary;
        c["n"].push_back(double(s.measurements));
        c["f"].push_back(r.field_pixels ? 100.0 * double(s.measurements) / double(r.field_pixels) : NAN);
        c["t"].push_back(s.time_s);
        c["d"].push_back(s.dose_e_per_A2);
        c["recall"].push_back(r.recall);
        // −1 = never got there (+∞ for the censored median); NaN = undefined (left out).
        c["n95"].push_back(r.n_recall95 < 0 ? INFINITY : r.n_recall95);
        c["ntop1"].push_back(r.n_top1 < 0 ? INFINITY : r.n_top1);  // NaN stays NaN
        c["sites"].push_back(r.site_recall);
        c["n90s"].push_back(r.n_sites90 < 0 ? INFINITY : r.n_sites90);
        c["regret"].push_back(r.final_regret);
        c["nrmse"].push_back(r.nrmse);
        c["psnr"].push_back(r.psnr);
        c["ssim"].push_back(r.ssim);
        c["lat"].push_back(s.latency_p95_s());
      }
      rows.push_back(std::move(row));
    }
    // A strategy whose every run failed has no figures: "FAILED" instead of a made-up 0.
    const auto fig = [](const Row& row, const std::string& text) {
      return row.failed == row.runs ? std::string("FAILED") : text;
    };
    const auto failed_cell = [](const Row& row) {
      return row.failed == 0 ? std::string("0") : "**" + std::to_string(row.failed) + " of " +
                                                      std::to_string(row.runs) + " FAILED**";
    };
    std::string units;
    for (const auto& r : results)
      if (r.dataset == d.label && r.error.empty()) units = r.scalar_units;
    md << "| strategy | spectra | share of the pixels (%) | experiment time (s) | dose, field mean (e⁻/Å²) | "
          "recall of the region of interest | spectra to reach 95 % recall | failed runs |\n"
          "|---|---|---|---|---|---|---|---|\n";
    for (const auto& row : rows) {
      auto c = row.c;
      md << "| " << row.strategy << " | " << fig(row, cell(c["n"], 6)) << " | " << fig(row, cell(c["f"], 3))
         << " | " << fig(row, cell(c["t"])) << " | " << fig(row, cell(c["d"], 3)) << " | "
         << fig(row, cell(c["recall"], 3)) << " | " << fig(row, censored_cell(c["n95"])) << " | "
         << failed_cell(row) << " |\n";
    }
    md << "\nMore figures:\n\n"
       << "| strategy | separate regions found | spectra to find 90 % of the regions | "
          "spectra to the first top-1 % pixel | missed maximum (" << (units.empty() ? "scalar units" : units)
       << ") | map error: NRMSE | PSNR (dB) | SSIM | strategy decision time, 95th percentile (s) |\n"
          "|---|---|---|---|---|---|---|---|---|\n";
    for (const auto& row : rows) {
      auto c = row.c;
      md << "| " << row.strategy << " | " << fig(row, cell(c["sites"], 3)) << " | "
         << fig(row, censored_cell(c["n90s"])) << " | " << fig(row, censored_cell(c["ntop1"])) << " | "
         << fig(row, cell(c["regret"], 3)) << " | " << fig(row, cell(c["nrmse"], 3)) << " | "
         << fig(row, cell(c["psnr"], 3)) << " | " << fig(row, cell(c["ssim"], 3)) << " | "
         << fig(row, cell(c["lat"], 2)) << " |\n";
    }
    md << "\n" << exact_random_line(results, d.label) << "\n";
  }

  bool any_correction = false;
  for (const auto& st : cfg.strategies) any_correction = any_correction || st.drift_correction.has_value();
  if (!cfg.sim.drift_preset.empty() || any_correction) {
    md << "Specimen drift: " << (cfg.sim.drift_preset.empty() ? "off" : cfg.sim.drift_preset)
       << " (docs/models.md). Recall is scored where each measurement landed. A strategy named "
          "NAME+dc:SPEC ran with drift correction SPEC (docs/drift.md); its time and dose include the "
          "reference re-scans (summary.csv: drift_rescans, drift_time_s).";
    std::size_t clamped = 0, runs_clamped = 0, warned = 0;
    for (const auto& r : results) {
      clamped += r.summary.drift_clamped;
      runs_clamped += r.summary.drift_clamped > 0;
      warned += r.summary.drift_warnings;
    }
    if (cfg.session.compute.kind == ComputeTiming::Kind::measured)
      md << " Compute time was measured on this computer (--compute measured): with drift, where a spectrum "
            "lands depends on when it is taken, so model-based strategies' figures vary with this computer's "
            "speed and load; --compute fixed:S makes them reproducible.";
    if (warned > 0) md << " " << warned << " re-scan(s) warned (summary.csv drift_warnings; /drift in the run files).";
    if (clamped > 0)
      md << " In " << runs_clamped << " run(s) " << clamped
         << " corrected position(s) fell outside the scan field and were moved to its edge: the specimen drifted "
            "further than the field allows (summary.csv drift_clamped; docs/drift.md \"Limits\").";
    md << "\n\n";
  }

  if (failed_total > 0) {
    md << "## Failed runs\n\n| dataset | strategy | seed | error |\n|---|---|---|---|\n";
    for (const auto& r : results)
      if (!r.error.empty()) {
        std::string e = r.error;
        std::replace(e.begin(), e.end(), '|', '/');
        std::replace(e.begin(), e.end(), '\n', ' ');
        md << "| " << r.dataset << " | " << r.strategy << " | " << r.seed << " | " << e << " |\n";
      }
    md << "\n";
  }

  const std::string roi_words =
      cfg.roi == "auto" ? "the phantom's labelled region (e.g. nanowire: the pixels within 3 nm of the GaAs/Au "
                          "interface; lattice: discs around the Si dopants and vacancies), or for recorded data "
                          "the 5 % of pixels with the highest value of the ground-truth map (--roi auto)"
      : cfg.roi == "mask" ? "the ground truth's labelled region (--roi mask)"
      : cfg.roi.rfind("top:", 0) == 0
          ? "the " + cfg.roi.substr(4) + " % of pixels with the highest value of the ground-truth map (--roi " + cfg.roi + ")"
          : "discs of 1.5 px around the ground truth's points labelled " + cfg.roi.substr(7) + " (--roi " + cfg.roi + ")";
  md << "## What the columns mean\n\n"
     << "- **spectra**: how many spectra (point measurements) the strategy took; **share of the pixels**: "
        "spectra ÷ pixels of the scan field × 100.\n"
     << "- **experiment time**: simulated microscope time from the start of the survey image to the last "
        "spectrum — survey, beam moves, exposures, read-out, software overhead and the strategy's own "
        "computing time, from the timing profile.\n"
     << "- **dose, field mean**: all electrons the run put on the specimen (survey, spectra, drift re-scans) "
        "divided by the area of the whole field, in electrons per Å². A measured pixel itself gets far more: "
        "the largest dose on one pixel is max_dose_e_per_A2 in summary.csv.\n"
     << "- **scalar value**: each spectrum is turned into one number, the quantity the science is about; "
        "here " << scalarizer_words(cfg.scalarizer) << ". Applied to every pixel of the ground truth it "
        "gives the **ground-truth map**.\n"
     << "- **region of interest**: " << roi_words << ".\n"
     << "- **recall**: the share of the region-of-interest pixels that lie within the **recall radius** of "
        "a measurement (1 = the whole region was sampled). The radius is the distance one measurement is "
        "taken to represent, given per dataset above in nm and px; 0 px counts only the pixel a "
        "measurement landed on.\n"
     << "- **spectra to reach 95 % recall**, **spectra to find 90 % of the regions**, **spectra to the first "
        "top-1 % pixel**: how many spectra it took; \"never\" = not within the run, counted as "
        "infinitely many for the median (so a strategy that often misses is not flattered); "
        "\"(k/n got there)\" = in how many runs it happened. summary.csv writes -1 for never.\n"
     << "- **separate regions found**: the region of interest split into separate patches (a particle, a "
        "dopant, a vacancy; touching pixels belong together), and the share of patches with at least one "
        "measurement within the recall radius.\n"
     << "- **top-1 % pixel**: a pixel among the 1 % with the highest value of the ground-truth map.\n"
     << "- **missed maximum** (regret): the highest value of the ground-truth map minus the highest "
        "ground-truth value at a measured pixel, in the scalar value's units; 0 = the maximum itself "
        "was measured.\n"
     << "- **map error**: the map rebuilt from the measured spectra alone (every pixel takes the value of "
        "the nearest measurement) against the ground-truth map. NRMSE: root-mean-square difference ÷ "
        "the map's range (0 = perfect); PSNR: the same in dB (higher is better); SSIM: structural "
        "similarity (1 = identical). Undefined (–) for a constant map; summary.csv's note says why.\n"
     << "- **strategy decision time**: wall-clock time the strategy took to choose its next points, "
        "95th percentile over its decisions.\n"
     << "- **failed runs**: runs that stopped with an error; their figures are left out and listed above.\n";
}

}  // namespace autostem::cli
