// autostem estimate: time and dose of a plan from a timing profile, without ground truth. It
// runs the same Session and simulated instrument as `run` — over the user's survey (--survey) or
// a blank field of the requested shape — so that an estimate and a simulation can never disagree
// about the timing model. Every assumption (field, pixel size, probe current, dwell, exposure,
// compute model, budget) is stated with where it came from: an option, the survey file's tags,
// or the profile.

#include "cli.hpp"
#include "session_options.hpp"
#include "drift_options.hpp"

#include <autostem/backends/simulated.hpp>
#include <autostem/datasets/conditions.hpp>
#include <autostem/datasets/ground_truth.hpp>
#include <autostem/sim/detector_profile.hpp>
#include <autostem/sim/timing_profile.hpp>
#include <autostem/strategies/atoms.hpp>
#include <autostem/strategies/registry.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <optional>

namespace autostem::cli {

namespace {

/// Points a model strategy (Schema::model_per_decision) may take when the user set no budget:
/// the 100 steps of seed 002's DKL run (§V.c). Without it dkl would model every pixel of the field.
constexpr std::size_t kDefaultModelBudgetPoints = 100;

/// A value the estimate assumed and where it came from ("--dwell", "profile rsi2024-remote", …).
struct Assumed {
  double value = 0.0;
  std::string source;
};

nlohmann::json to_json(const Assumed& a) { return {{"value", a.value}, {"source", a.source}}; }

/// The first of: the option's value (given, already parsed), the survey file's tag, the profile's default.
Assumed choose(std::optional<double> given, const char* option, const datasets::TaggedValue& tag,
               const std::string& survey_name, double profile_value, const std::string& profile) {
  if (given) return {*given, std::string("--") + option};
  if (tag.found()) return {tag.value, "survey file " + survey_name + ", tag " + tag.tag};
  return {profile_value, "profile " + profile};
}

/// A double option's value, when given.
std::optional<double> given(const po::variables_map& vm, const char* option) {
  return vm.count(option) ? std::optional<double>(vm[option].as<double>()) : std::nullopt;
}

/// The survey an estimate plans on, read from a file: the first 2-D data set (an image), else the
/// first 3-D one (a spectrum image) summed over its last axis, with the tags of the one chosen.
struct SurveyFile {
  GroundTruth truth;
  std::string description;  ///< e.g. "image 'Gatan HAADF'" or "spectrum image 'EELS_SI' summed over energy"
  datasets::TaggedConditions tags;
};

SurveyFile read_survey_file(const std::filesystem::path& path) {
  std::vector<datasets::Signal> signals = datasets::read_signals(path);
  const auto pick = [&](std::size_t ndim) {
    return std::find_if(signals.begin(), signals.end(),
                        [&](const datasets::Signal& s) { return s.ndim() == ndim; });
  };
  SurveyFile f;
  if (auto it = pick(2); it != signals.end()) {
    f.truth = datasets::ground_truth_from_signals(std::nullopt, *it, path.string());
    f.description = "image '" + it->title + "'";
    f.tags = datasets::tagged_conditions(*it);
  } else if (auto si = pick(3); si != signals.end()) {
    f.truth = datasets::ground_truth_from_signals(*si, std::nullopt, path.string());
    f.description = "spectrum image '" + si->title + "' summed over its last axis";
    f.tags = datasets::tagged_conditions(*si);
  } else {
    std::string shapes;
    for (const auto& s : signals) {
      std::string t;
      for (std::size_t n : s.shape()) t += (t.empty() ? "" : "x") + std::to_string(n);
      shapes += (shapes.empty() ? "" : ", ") + (t.empty() ? std::string("scalar") : t);
    }
    throw std::invalid_argument(path.string() + ": no data set is an image (2-D) or a spectrum image (3-D) "
                                "to plan on; it holds " + (shapes.empty() ? std::string("none") : shapes));
  }
  f.truth.spectrum_image.reset();  // replaced by the timing-only spectra below
  f.truth.recorded = {};           // the survey is seen as recorded: no rescaling of its counts
  return f;
}

/// Counts the decisions the Session charges compute for (begin + every propose, as
/// Session::Run::charge) and the wall time they take here, around the real strategy.
class CountingStrategy final : public Strategy {
 public:
  explicit CountingStrategy(Strategy& inner) : inner_(inner) {}
  std::string name() const override { return inner_.name(); }
  Parameters parameters() const override { return inner_.parameters(); }
  void begin(const Survey& survey, const StrategyContext& context) override {
    const auto t0 = Clock::now();
    inner_.begin(survey, context);
    charged_wall_s += seconds_since(t0);
    ++decisions;
  }
  std::vector<Position> propose(std::size_t max_points) override {
    const auto t0 = Clock::now();
    auto p = inner_.propose(max_points);
    charged_wall_s += seconds_since(t0);
    ++decisions;
    return p;
  }
  void observe(std::span<const Measurement> ms) override {
    const auto t0 = Clock::now();
    inner_.observe(ms);
    charged_wall_s += seconds_since(t0);
  }
  std::optional<Prediction> prediction() const override { return inner_.prediction(); }
  AcquisitionMode preferred_mode() const override { return inner_.preferred_mode(); }

  std::size_t decisions = 0;   ///< begin + propose calls
  double charged_wall_s = 0.0; ///< wall time of begin, propose and observe on this computer

 private:
  using Clock = std::chrono::steady_clock;
  static double seconds_since(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
  }
  Strategy& inner_;
};

/// The dose of the survey and of the spectra, as the simulated instrument charged them.
class DoseSink final : public MeasurementSink {
 public:
  void on_begin(const RunInfo&, const Survey& survey) override { survey_dose_e_per_A2 = survey.dose_e_per_A2; }
  void on_measurement(const Measurement& m) override {
    spectrum_dose_e_per_A2 = std::max(spectrum_dose_e_per_A2, m.dose_e_per_A2);
  }
  void on_end(const RunSummary&, const std::optional<Image>&) override {}
  double survey_dose_e_per_A2 = 0.0;
  double spectrum_dose_e_per_A2 = 0.0;  ///< the largest dose of one spectrum (0 when none)
};

/// Progress of a long estimate on stderr: a line every 5 s once it has run 2 s, with how long
/// the estimate itself still needs (from the rate so far; an upper bound when the strategy stops
/// before its budget).
class EstimateProgress {
 public:
  void update(const SessionProgress& p) {
    const double wall = std::chrono::duration<double>(Clock::now() - t0_).count();
    if (wall < next_s_) return;
    next_s_ = wall + 5.0;
    const double left = p.measurements > 0 && p.budget_points > p.measurements
                            ? wall * double(p.budget_points - p.measurements) / double(p.measurements)
                            : 0.0;
    std::fprintf(stderr,
                 "autostem estimate: %zu/%zu spectra planned, %s of experiment so far; %s of "
                 "computing here, about %s to go\n",
                 p.measurements, p.budget_points, format_duration(p.time_s).c_str(),
                 format_duration(wall).c_str(), format_duration(left).c_str());
    std::fflush(stderr);
  }

 private:
  using Clock = std::chrono::steady_clock;
  Clock::time_point t0_ = Clock::now();
  double next_s_ = 2.0;
};

std::string format_number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

/// Local clock time `seconds` from now, "HH:MM" (with the date when it is not today).
std::string clock_after(double seconds) {
  const std::time_t now = std::time(nullptr);
  const std::time_t then = now + static_cast<std::time_t>(std::llround(std::min(seconds, 1e12)));
  std::tm a{}, b{};
  localtime_r(&now, &a);
  localtime_r(&then, &b);
  char buf[64];
  std::strftime(buf, sizeof buf, a.tm_yday == b.tm_yday && a.tm_year == b.tm_year ? "%H:%M" : "%Y-%m-%d %H:%M", &b);
  return buf;
}

/// `estimate --detector`: time, data and dose of a 4D-STEM acquisition per detector profile
/// (profiles/detectors): a synchronized rows×cols scan (frames + line overheads + setup), or
/// point mode (beam move of the instrument profile + frame + point overhead per pattern).
int estimate_4d(const po::variables_map& vm, const sim::TimingProfile& profile) {
  std::vector<std::string> names;
  const std::string list = vm["detector"].as<std::string>();
  if (list == "all") names = sim::DetectorProfile::builtin_names();
  else
    for (std::size_t a = 0;;) {
      const auto b = list.find(',', a);
      names.push_back(list.substr(a, b == std::string::npos ? std::string::npos : b - a));
      if (b == std::string::npos) break;
      a = b + 1;
    }
  // The session option --mode: point = point mode; auto and si_scan = a synchronized 4D scan.
  const std::string mode = vm["mode"].as<std::string>() == "point" ? "point" : "scan";
  if (!vm.count("shape")) throw UsageError("--detector needs the scan: --shape ROWSxCOLS");
  const auto [rows, cols] = parse_shape(vm["shape"].as<std::string>());
  const std::size_t n = vm.count("points") ? vm["points"].as<std::size_t>() : rows * cols;
  if (mode == "scan" && vm.count("points"))
    throw UsageError("--points chooses patterns for --mode point; a synchronized scan takes every pixel");
  const double current = vm.count("current") ? vm["current"].as<double>() : profile.probe_current_pA;
  const double pixel_nm = vm.count("pixel-size") ? vm["pixel-size"].as<double>() : 1.0;
  const double beam_move_s = profile.point_pre_exposure_s();
  nlohmann::json out = nlohmann::json::array();
  const bool json = vm["json"].as<bool>();
  if (!json)
    std::printf("autostem estimate: 4D-STEM %s of %zux%zu%s, probe current %s pA, pixel %s nm\n"
                "  %-20s %10s %10s %10s %12s %11s %12s %12s\n",
                mode == "scan" ? "synchronized scan" : "point mode", rows, cols,
                mode == "point" ? (" (" + std::to_string(n) + " patterns)").c_str() : "",
                format_number(current).c_str(), format_number(pixel_nm).c_str(), "detector",
                "frame ms", "frames s", "total s", "MB/pattern", "data GB", "e/pattern", "e/A2");
  for (const auto& name : names) {
    const auto d = sim::DetectorProfile::load(name);
    const double frames_s = static_cast<double>(n) * d.frame_time_s;
    const double total_s = mode == "scan" ? d.scan_time_s(rows, cols) : d.point_time_s(n, beam_move_s);
    const double bytes = d.bytes_per_pattern();
    const double e = d.electrons_per_pattern(current);
    const double e_per_A2 = e / (pixel_nm * pixel_nm * 100.0);
    if (json) {
      out.push_back({{"detector", d.name}, {"mode", mode}, {"rows", rows}, {"cols", cols}, {"patterns", n},
                     {"frame_time_s", d.frame_time_s}, {"frames_s", frames_s}, {"total_s", total_s},
                     {"overhead_s", total_s - frames_s}, {"bytes_per_pattern", bytes},
                     {"data_bytes", bytes * static_cast<double>(n)}, {"electrons_per_pattern", e},
                     {"dose_e_per_A2", e_per_A2}, {"probe_current_pA", current}, {"source", d.source_path}});
    } else {
      std::printf("  %-20s %10.4f %10.2f %10.2f %12.4f %11.3f %12.4g %12.4g\n", d.name.c_str(),
                  d.frame_time_s * 1e3, frames_s, total_s, bytes / 1e6, bytes * static_cast<double>(n) / 1e9,
                  e, e_per_A2);
    }
  }
  if (json) std::cout << nlohmann::json{{"estimate_4d", out}}.dump() << std::endl;
  else
    std::printf("  total = %s; dose per pattern = current x frame time over one scan pixel\n",
                mode == "scan" ? "setup + frames + (rows-1) x line overhead (profiles/detectors)"
                               : "patterns x (beam move of the profile + frame + point overhead)");
  return 0;
}

}  // namespace

int cmd_estimate(const std::vector<std::string>& args) {
  po::options_description o("autostem estimate options");
  o.add_options()("help,h", "this help")
      ("survey", po::value<std::string>(),
       "survey image to plan on (DM3/DM4, SER, EMD, .hspy, .npy; a spectrum image is summed over "
       "energy): sets the field and pixel size, and the dwell, exposure and probe current its "
       "tags state")
      ("shape", po::value<std::string>(),
       "blank field ROWSxCOLS when there is no --survey (with --points alone: 128x128)")
      ("points", po::value<std::size_t>(),
       "number of spectra (default: what the strategy plans; with --points the default "
       "strategy is random)")
      ("pixel-size", po::value<double>(),
       "survey pixel size, nm (default: the survey's calibration; 1 nm on a blank field)")
      ("channels", po::value<std::size_t>()->default_value(2048),
       "spectrometer channels (sets the transfer size when the profile's spectrum_channels is 0)");
  add_session_options(o, "");
  po::variables_map vm;
  if (parse(args, o, vm,
            "usage: autostem estimate [--profile NAME] [--strategy NAME]\n"
            "                         (--survey FILE | --shape ROWSxCOLS | --points N)\n"
            "                         [--exposure S] [--dwell S] [--current PA] [--pixel-size NM]\n"
            "                         [--compute fixed:S] [--budget-points N] [--overlap] [--json]\n"
            "Estimates the experiment time and dose of a plan, survey included, from the\n"
            "instrument's timing profile alone (no ground truth), on your survey or on a blank\n"
            "field. States every assumption and where it came from (option, survey tags, profile).\n"
            "Strategies that plan from the survey (edge, atoms, dcnn, dkl) need --survey. Model\n"
            "strategies (dkl, gp) are charged the profile's model_step_s per decision (or --compute)\n"
            "and, without a budget, stop after 100 spectra. E.g.\n"
            "  autostem estimate --survey CuZn_HAADF.hspy --strategy edge\n"
            "  autostem estimate --profile rsi2024-remote --strategy grid --shape 128x128\n"
            "  autostem estimate --profile rsi2024-remote --points 137\n"
            "  autostem estimate --survey haadf.dm4 --strategy dkl --budget-points 200 --compute fixed:2\n"
            "  autostem estimate --detector merlin-single-12bit --shape 256x256   (4D-STEM)"))
    return 0;
  if (vm.count("detector")) return estimate_4d(vm, sim::TimingProfile::load(vm["profile"].as<std::string>()));
  const bool has_survey = vm.count("survey") > 0;
  if (has_survey && vm.count("shape"))
    throw UsageError("--shape and --survey both set the field; the survey's size is its field, drop --shape");
  if (!has_survey && !vm.count("shape") && !vm.count("points"))
    throw UsageError("give the field: --survey FILE, --shape ROWSxCOLS or --points N");
  std::string strategy_name = vm["strategy"].as<std::string>();
  if (strategy_name.empty()) strategy_name = vm.count("points") ? "random" : "grid";
  const strategies::Schema schema = strategies::strategy_schema(strategy_name);
  if (!has_survey && !schema.survey_use().empty())
    throw UsageError("strategy '" + strategy_name + "' plans from " + schema.survey_use() +
                     "; a blank field gives it nothing to plan (0 measurements). Give the survey "
                     "to plan on: --survey FILE (DM3/DM4, SER, EMD, .hspy)");
  SessionConfig config = session_config(vm);
  const std::string profile_name = vm["profile"].as<std::string>();
  const sim::TimingProfile profile = sim::TimingProfile::load(profile_name);
  if (vm.count("pixel-size") && !(vm["pixel-size"].as<double>() > 0.0 && std::isfinite(vm["pixel-size"].as<double>())))
    throw UsageError("--pixel-size must be a finite number > 0 nm");
  const std::size_t channels = vm["channels"].as<std::size_t>();
  if (channels == 0) throw UsageError("--channels must be at least 1");

  // --- the field: the user's survey, or a blank one -------------------------------------------
  GroundTruth truth;
  datasets::TaggedConditions tags;
  std::string field_source, survey_name;
  Assumed pixel;
  if (has_survey) {
    const std::filesystem::path path = vm["survey"].as<std::string>();
    survey_name = path.filename().string();
    SurveyFile f = read_survey_file(path);
    truth = std::move(f.truth);
    tags = f.tags;
    field_source = "survey file " + path.string() + " (" + f.description + ")";
    pixel = {truth.survey.calibration.pixel_size_nm, "survey file " + survey_name + " (axis calibration)"};
  } else {
    const auto [rows, cols] = parse_shape(vm.count("shape") ? vm["shape"].as<std::string>() : "128x128");
    truth.source = "blank field " + std::to_string(rows) + "x" + std::to_string(cols);
    // No structure, no signal: time and dose do not depend on the contents.
    truth.survey.data = ImageArray::Constant(static_cast<Eigen::Index>(rows), static_cast<Eigen::Index>(cols), 1.0);
    truth.survey.name = "HAADF";
    field_source = vm.count("shape") ? "blank field (--shape)" : "blank field (default 128x128 with --points)";
    pixel = {1.0, "default for a blank field (give --pixel-size)"};
  }
  if (vm.count("pixel-size")) pixel = {vm["pixel-size"].as<double>(), "--pixel-size"};
  truth.survey.calibration.pixel_size_nm = pixel.value;
  const std::size_t rows = truth.rows(), cols = truth.cols();
  if (vm.count("points")) {
    const std::size_t n = vm["points"].as<std::size_t>();
    if (n == 0) throw UsageError("--points must be at least 1");
    if (n > rows * cols)
      throw UsageError("--points " + std::to_string(n) + " exceeds the " + std::to_string(rows) + "x" +
                       std::to_string(cols) + " field" + (has_survey ? "" : "; give a larger --shape"));
    config.budget.max_points = std::min(config.budget.max_points, n);
  }
  // Timing-only spectra. A profile that states the camera width (spectrum_channels > 0, as every
  // shipped one does) times transfers by it, so one channel suffices, not rows × cols × 2048
  // floats (512 MB at 256×256). Its value is the survey's there, so a model strategy's targets
  // follow the survey's contrast rather than being constant.
  const std::size_t sim_channels = profile.spectrum_channels > 0 ? 1 : channels;
  truth.spectrum_image.emplace(rows, cols, EnergyAxis{0.0, 1.0, sim_channels}, truth.survey.calibration);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t c = 0; c < cols; ++c) {
      const auto v = static_cast<float>(truth.survey.data(static_cast<Eigen::Index>(r), static_cast<Eigen::Index>(c)));
      for (float& x : truth.spectrum_image->spectrum(r, c)) x = v;
    }

  // --- acquisition conditions: option, else the survey's tags, else the profile ---------------
  const Assumed current = choose(given(vm, "current"), "current", tags.probe_current_pA, survey_name, profile.probe_current_pA, profile.name);
  const Assumed dwell = choose(given(vm, "dwell"), "dwell", tags.dwell_s, survey_name, profile.default_dwell_s, profile.name);
  // --exposure is SECONDS or "file" (a string option): session_config parsed and checked it.
  const Assumed exposure = choose(vm.count("exposure") ? std::optional<double>(config.point.exposure_s) : std::nullopt,
                                  "exposure", tags.exposure_s, survey_name, profile.default_exposure_s, profile.name);
  config.survey.dwell_s = dwell.value;
  config.survey.probe_current_pA = current.value;
  config.point.exposure_s = exposure.value;
  config.point.probe_current_pA = current.value;

  // --- compute model: the target computer's figure, not this one's wall time ------------------
  std::string compute_text, compute_source;
  if (!vm["compute"].defaulted()) {
    compute_source = "--compute";
  } else if (schema.model_per_decision()) {
    if (!(profile.model_step_s > 0.0))
      throw UsageError("strategy '" + strategy_name + "' fits a model at every decision, and profile '" +
                       profile.name + "' does not say how long that takes on the computer that runs it "
                       "(model_step_s); give --compute fixed:S (seconds per decision there), or "
                       "--compute measured for this computer's wall time");
    config.compute.kind = ComputeTiming::Kind::fixed;
    config.compute.value = profile.model_step_s;
    compute_source = "profile " + profile.name + " (model_step_s)";
  } else {
    compute_source = "default: the strategy plans without a model";
  }
  switch (config.compute.kind) {
    case ComputeTiming::Kind::measured: compute_text = "measured: this computer's wall time"; break;
    case ComputeTiming::Kind::scaled:
      compute_text = "scaled: " + format_number(config.compute.value) + " x this computer's wall time"; break;
    case ComputeTiming::Kind::fixed:
      compute_text = "fixed: " + format_number(config.compute.value) + " s per decision"; break;
  }

  // --- budget: a model strategy without one would model every pixel ---------------------------
  std::string budget_text;
  const bool bounded = vm.count("points") || vm.count("budget-points") || vm.count("budget-time") ||
                       vm.count("budget-dose");
  if (!bounded && schema.model_per_decision()) {
    config.budget.max_points = kDefaultModelBudgetPoints;
    budget_text = std::to_string(kDefaultModelBudgetPoints) +
                  " spectra (default for a model strategy; set --budget-points N)";
  } else {
    if (config.budget.max_points != Budget{}.max_points)
      budget_text += std::to_string(config.budget.max_points) + " spectra" +
                     (vm.count("points") ? " (--points)" : " (--budget-points)");
    if (std::isfinite(config.budget.max_time_s))
      budget_text += (budget_text.empty() ? "" : ", ") + format_number(config.budget.max_time_s) + " s (--budget-time)";
    if (std::isfinite(config.budget.max_dose_e_per_A2))
      budget_text += (budget_text.empty() ? "" : ", ") + format_number(config.budget.max_dose_e_per_A2) +
                     " e-/A^2 (--budget-dose)";
    if (budget_text.empty()) budget_text = "none: the strategy's own plan, at most the whole field";
  }

  // --- run the plan in the simulated instrument -------------------------------------------------
  backends::SimulatedOptions sim = simulated_options(vm);
  sim.noise = false;
  sim.probe_current_pA = current.value;
  auto instrument = backends::make_simulated_instrument(std::move(truth), sim);
  const InstrumentInfo info = instrument->describe();
  Parameters params = strategy_parameters(vm);
  auto strategy = strategies::make_strategy(strategy_name, params);
  CountingStrategy counted(*strategy);
  const AcquisitionMode mode = config.mode.value_or(strategy->preferred_mode());
  if (vm["batch"].defaulted() && mode == AcquisitionMode::si_scan) config.batch_size = cols;
  Session session(*instrument, counted, config);
  DoseSink dose;
  session.add_sink(dose);
  EstimateProgress progress;
  session.set_progress([&](const SessionProgress& p) { progress.update(p); });
  // Drift correction: the re-scans are timed and dosed, no drift is measured.
  std::unique_ptr<DriftCorrection> drift;
  if (auto d = drift_correction_options(vm)) {
    drift = make_timing_only_drift_correction(*d);
    session.set_drift_correction(*drift);
  }
  const RunSummary s = session.run();

  double compute_s = 0.0;
  switch (config.compute.kind) {
    case ComputeTiming::Kind::measured: compute_s = counted.charged_wall_s; break;
    case ComputeTiming::Kind::scaled: compute_s = counted.charged_wall_s * config.compute.value; break;
    case ComputeTiming::Kind::fixed: compute_s = double(counted.decisions) * config.compute.value; break;
  }
  const double pixel_area_A2 = info.calibration.pixel_area_A2();
  const double spectrum_dose = s.measurements > 0 ? dose.spectrum_dose_e_per_A2
                                                  : electrons(current.value, exposure.value) / pixel_area_A2;
  const double measured_pixel_dose = dose.survey_dose_e_per_A2 + spectrum_dose;
  const double probe_rate = electrons(current.value, 1.0) / pixel_area_A2;
  const double mean_rate = s.time_s > 0.0 ? s.dose_e_per_A2 / s.time_s : 0.0;
  std::string note;
  if (s.measurements == 0 && s.stop_reason == StopReason::strategy_done) {
    note = "strategy '" + strategy_name + "' planned no measurements on this field";
    if (const auto* ap = dynamic_cast<const strategies::AtomPlanStrategy*>(strategy.get()))
      note += " (" + ap->status() + ")";
  }

  if (vm["json"].as<bool>()) {
    nlohmann::json j = summary_json(s, info);
    j["strategy"] = strategy_name;
    j["mode"] = to_string(mode);
    j["assumptions"] = {
        {"profile", profile.name},
        {"field", {rows, cols}},
        {"field_source", field_source},
        {"survey", has_survey ? nlohmann::json(vm["survey"].as<std::string>()) : nlohmann::json(nullptr)},
        {"pixel_size_nm", to_json(pixel)},
        {"probe_current_pA", to_json(current)},
        {"dwell_s", to_json(dwell)},
        {"exposure_s", to_json(exposure)},
        {"compute", {{"model", compute_text}, {"source", compute_source}}},
        {"budget", budget_text},
    };
    j["compute_s"] = compute_s;
    j["compute_decisions"] = counted.decisions;
    j["eta_s"] = s.time_s;
    j["ends_at_if_started_now"] = clock_after(s.time_s);
    j["survey_dose_e_per_A2"] = dose.survey_dose_e_per_A2;
    j["spectrum_dose_e_per_A2"] = spectrum_dose;
    j["measured_pixel_dose_e_per_A2"] = measured_pixel_dose;
    j["field_mean_dose_e_per_A2"] = s.dose_e_per_A2;
    j["probe_dose_rate_e_per_A2_s"] = probe_rate;
    j["field_mean_dose_rate_e_per_A2_s"] = mean_rate;
    if (!note.empty()) j["warning"] = note;
    std::cout << j.dump() << std::endl;
  } else {
    const auto line = [](const char* key, const std::string& value, const std::string& source) {
      std::printf("  %-23s %s%s%s\n", key, value.c_str(), source.empty() ? "" : "  <- ", source.c_str());
    };
    std::printf("autostem estimate: %s (%s) on %s%zux%zu field, profile %s\n", strategy_name.c_str(),
                to_string(mode), has_survey ? (survey_name + ", a ").c_str() : "a blank ", rows, cols,
                profile.name.c_str());
    std::printf(" assumptions (<- where each came from)\n");
    line("field", std::to_string(rows) + "x" + std::to_string(cols) + " px = " +
                      format_number(double(rows) * pixel.value) + " x " +
                      format_number(double(cols) * pixel.value) + " nm", field_source);
    line("pixel size", format_number(pixel.value) + " nm", pixel.source);
    line("probe current", format_number(current.value) + " pA", current.source);
    line("survey dwell", format_number(dwell.value) + " s (" + format_number(dwell.value * 1e6) + " us)", dwell.source);
    line("spectrum exposure", format_number(exposure.value) + " s", exposure.source);
    line("compute", compute_text, compute_source);
    line("budget", budget_text, "");
    std::printf(" plan\n");
    print_summary(s, "", "", false, info);
    std::printf("  compute charged         %.4g s over %zu decisions (%s)\n", compute_s, counted.decisions,
                compute_text.c_str());
    std::printf("  ETA                     %s; started now, it would end at %s\n",
                format_duration(s.time_s).c_str(), clock_after(s.time_s).c_str());
    std::printf("  dose at a measured px   %.4g e-/A^2 (survey %.4g + one spectrum %.4g)\n",
                measured_pixel_dose, dose.survey_dose_e_per_A2, spectrum_dose);
    std::printf("  field-mean dose         %.4g e-/A^2\n", s.dose_e_per_A2);
    std::printf("  dose rate               %.4g e-/A^2/s at the probe (current / pixel area); "
                "field mean %.4g e-/A^2/s over the experiment\n", probe_rate, mean_rate);
  }
  if (!note.empty()) std::cerr << "autostem estimate: " << note << "\n";
  return 0;
}

}  // namespace autostem::cli
