#include "bench_harness.hpp"

#include <autostem/config.hpp>
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

GroundTruth load(const BenchDataset& d, std::uint64_t seed) {
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

RunResult run_one(const BenchConfig& cfg, const BenchDataset& d, const BenchStrategy& st,
                  std::uint64_t seed, const GroundTruth* shared_truth) {
  RunResult r;
  r.dataset = d.label;
  r.strategy = st.shown();
  r.seed = seed;
  GroundTruth truth = shared_truth ? *shared_truth : load(d, seed);
  if (!truth.spectrum_image)
    throw std::invalid_argument("dataset '" + d.label + "' has no spectrum image to score");
  r.field_pixels = truth.rows() * truth.cols();
  const EnergyAxis axis = truth.spectrum_image->energy();
  const std::string spec = cfg.scalarizer.empty() ? spec_for_whole_axis(axis) : cfg.scalarizer;
  const auto scalarizer = make_scalarizer(spec, axis);
  const ImageArray truth_map = scalarize(*truth.spectrum_image, *scalarizer);

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
  // A specimen without a region of interest (e.g. a lattice seed with no dopant or vacancy) has no
  // recall: NaN with a note, not a failed run.
  const bool roi_empty = !(mask.maxCoeff() > 0.0);
  if (!roi_empty) r.recall_curve = recall_curve(mask, r.positions, cfg.recall_radius_px);
  else r.metric_note = "recall undefined: the region-of-interest mask has no pixel; ";
  r.regret_curve = simple_regret_curve(truth_map, r.positions);
  const std::vector<double> top1_curve = recall_curve(top1, r.positions);
  r.recall = r.recall_curve.empty() ? 0.0 : r.recall_curve.back();
  r.final_regret = r.regret_curve.empty() ? truth_map.maxCoeff() - truth_map.minCoeff()
                                          : r.regret_curve.back();
  r.n_recall95 = first_count(r.recall_curve, [](double v) { return v >= 0.95; });
  if (!roi_empty) {
    // Sites (a dopant's disc, a vacancy, a particle) counted once each, whatever their size.
    const auto sites = site_recall_curve(mask, r.positions, cfg.recall_radius_px);
    r.site_recall = sites.empty() ? 0.0 : sites.back();
    r.n_sites90 = first_count(sites, [](double v) { return v >= 0.9; });
  }
  if (roi_empty)
    r.recall = r.n_recall95 = r.site_recall = r.n_sites90 = std::numeric_limits<double>::quiet_NaN();
  r.n_regret0 = first_count(r.regret_curve, [](double v) { return v <= 0.0; });
  r.n_top1 = first_count(top1_curve, [](double v) { return v > 0.0; });

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
  s << percentile(ok, 50.0) << " [" << percentile(ok, 25.0) << "–" << percentile(ok, 75.0) << "]";
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
    if (!t.spectrum_image) throw std::invalid_argument("dataset '" + d.label + "' has no spectrum image");
    if (!cfg.scalarizer.empty()) make_scalarizer(cfg.scalarizer, t.spectrum_image->energy());
  }
  if (!cfg.scalarizer.empty())
    for (const auto& d : cfg.datasets)
      if (!d.phantom.empty()) {
        const auto t = datasets::make_phantom(d.phantom, cfg.seeds.front(), d.rows, d.cols);
        make_scalarizer(cfg.scalarizer, t.spectrum_image->energy());
      }

  struct Job {
    const BenchDataset* d;
    const BenchStrategy* s;
    std::uint64_t seed;
  };
  std::vector<Job> jobs;
  for (const auto& d : cfg.datasets)
    for (const auto& s : cfg.strategies)
      for (auto seed : cfg.seeds) jobs.push_back({&d, &s, seed});

  std::vector<RunResult> results(jobs.size());
  std::mutex progress_mutex;
  std::size_t done = 0;
  std::unique_ptr<tbb::global_control> limit;
  if (cfg.threads > 0)
    limit = std::make_unique<tbb::global_control>(tbb::global_control::max_allowed_parallelism,
                                                  cfg.threads);
  tbb::parallel_for(std::size_t{0}, jobs.size(), [&](std::size_t i) {
    const Job& j = jobs[i];
    const auto it = files.find(j.d->label);
    try {
      results[i] = run_one(cfg, *j.d, *j.s, j.seed, it == files.end() ? nullptr : &it->second);
    } catch (const std::exception& e) {
      results[i].dataset = j.d->label;
      results[i].strategy = j.s->name;
      results[i].seed = j.seed;
      results[i].error = e.what();
    }
    std::lock_guard l(progress_mutex);
    ++done;
    if (progress) progress(done, jobs.size());
  });
  return results;
}

void write_summaries(const BenchConfig& cfg, const std::vector<RunResult>& results) {
  {
    std::ofstream csv(cfg.out_dir / "summary.csv");
    csv << "dataset,strategy,seed,measurements,sampling_fraction,time_s,survey_time_s,"
           "dose_e_per_A2,max_dose_e_per_A2,latency_median_s,latency_p95_s,recall,n_recall95,"
           "final_regret,n_regret0,n_top1pct,nrmse,psnr_dB,ssim,wall_s,stop_reason,file,error,note,"
           "site_recall,n_sites90,drift_rescans,drift_time_s,drift_warnings,drift_clamped\n";
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
          << s.drift_time_s << "," << s.drift_warnings << "," << s.drift_clamped << "\n";
    }
  }
  std::ofstream md(cfg.out_dir / "summary.md");
  md << "# autostem bench summary\n\nMedian [interquartile range] over " << cfg.seeds.size()
     << " seed(s). Recall: share of the region-of-interest pixels measured (ROI: " << cfg.roi
     << ", radius " << cfg.recall_radius_px << " px). n95: measurements to reach 95 % recall; sites: share of the ROI's separate sites (8-connected "
        "components: a dopant, a vacancy, a particle) with a measurement within the radius, n90 sites: "
        "measurements to find 90 % of them; ntop1: measurements until a pixel of the top 1 % "
        "of the ground-truth scalar map was measured. For n95 and ntop1 a run that never got there counts as "
        "+∞ (right-censored at its length: the median over all seeds, \"never\" when it falls among those runs; "
        "runs that got there in brackets); -1 in summary.csv. "
        "NRMSE/PSNR/SSIM: the scalar map inpainted from the measured points (nearest neighbour, "
        "core/metrics.hpp) against the ground-truth map (undefined for a constant map: the note column of "
        "summary.csv says why, the run's other figures stand). Scalarizer: "
     << (cfg.scalarizer.empty() ? "total counts (whole energy axis)" : cfg.scalarizer) << ".\n\n";
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
  md << "| dataset | strategy | measurements | fraction | time (s) | dose (e⁻/Å²) | recall | n95 | "
        "sites | n90 sites | ntop1 | regret | NRMSE | PSNR (dB) | SSIM | latency p95 (s) | failed |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (const auto& d : cfg.datasets)
    for (const auto& st : cfg.strategies) {
      std::map<std::string, std::vector<double>> c;
      std::size_t failed = 0;
      for (const auto& r : results) {
        if (r.dataset != d.label || r.strategy != st.shown()) continue;
        if (!r.error.empty()) ++failed;
        const auto& s = r.summary;
        c["n"].push_back(double(s.measurements));
        c["f"].push_back(r.field_pixels ? double(s.measurements) / double(r.field_pixels) : NAN);
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
      md << "| " << d.label << " | " << st.shown() << " | " << cell(c["n"], 6) << " | " << cell(c["f"], 3)
         << " | " << cell(c["t"]) << " | " << cell(c["d"], 3) << " | " << cell(c["recall"], 3)
         << " | " << censored_cell(c["n95"]) << " | " << cell(c["sites"], 3) << " | "
         << censored_cell(c["n90s"]) << " | " << censored_cell(c["ntop1"]) << " | " << cell(c["regret"], 3)
         << " | " << cell(c["nrmse"], 3) << " | " << cell(c["psnr"], 3) << " | "
         << cell(c["ssim"], 3) << " | " << cell(c["lat"], 2) << " | " << failed << " |\n";
    }
}

}  // namespace autostem::cli
