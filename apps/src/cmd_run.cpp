// autostem run: a strategy on ground truth in the simulated microscope, or live on a microscope
// through the DigitalMicrograph server (--backend dm, docs/live.md).

#include "cli.hpp"
#include "backend_options.hpp"
#include "session_options.hpp"
#include "drift_options.hpp"
#include "live_view.hpp"

#include <autostem/config.hpp>
#include <autostem/datasets/ground_truth.hpp>
#include <autostem/datasets/phantoms.hpp>
#include <autostem/datasets/results.hpp>
#include <autostem/strategies/atoms.hpp>
#include <autostem/strategies/registry.hpp>

#include <filesystem>
#include <iostream>
#include <optional>
#include <thread>

namespace autostem::cli {

namespace {

void add_run_options(po::options_description& o) {
  std::string phantoms;
  for (const auto& n : datasets::phantom_names()) phantoms += (phantoms.empty() ? "" : ", ") + n;
  o.add_options()("help,h", "this help")
      ("dataset", po::value<std::string>(),
       "ground-truth spectrum image (y, x, E): .hspy, HDF5, .npy (and DM/SER/EMD when built)")
      ("survey", po::value<std::string>(), "survey image on the same pixel grid as --dataset")
      ("phantom", po::value<std::string>(),
       ("built-in synthetic ground truth: " + phantoms + " (default nanowire)").c_str())
      ("phantom-shape", po::value<std::string>()->default_value("128x128"),
       "phantom size ROWSxCOLS")
      ("detector", po::value<std::string>(),
       "pixelated-detector profile (merlin-single-12bit, arina, ... or an .ini; profiles/detectors) "
       "that times each 4D-STEM pattern in point mode: beam move + frame (the default exposure) + "
       "the detector's point overhead (docs/4dstem.md)")
      ("out", po::value<std::string>()->required(), "results file to write (HDF5)")
      ("resume", po::value<std::string>(),
       "continue the run in this results file (e.g. after a lost microscope connection): the\n"
       "strategy, its parameters and seed come from the file unless given; its measurements are\n"
       "copied to --out (a new file) and never measured again")
      ("view", po::value<int>()->implicit_value(8765)->value_name("PORT"),
       "serve a live page of the run on PORT (default 8765; 0 = any free port) where you watch it\n"
       "and pause, resume, stop it or exclude regions (docs/live-view.md)")
      ("view-bind", po::value<std::string>()->default_value("127.0.0.1"),
       "address the live view listens on; any but 127.0.0.1/localhost needs the token printed at\n"
       "the start on every request")
      ("view-read-only", po::bool_switch(), "the live view only shows the run (no steering)")
      ("pace", po::value<double>()->default_value(0.0)->value_name("S"),
       "at least S wall seconds per measurement (a simulated run slowed to be watched and steered;\n"
       "session time is unchanged)");
  add_session_options(o, "grid");
  add_model_options(o, true);
  add_backend_options(o);
}

/// --resume FILE: the earlier run, and the strategy, parameters and seed its decisions replay
/// with (unless given on the command line).
std::optional<datasets::RunRecord> load_resumed(const po::variables_map& vm, std::string& strategy_name,
                                                Parameters& params, SessionConfig& base) {
  if (!vm.count("resume")) return std::nullopt;
  const std::filesystem::path from = vm["resume"].as<std::string>();
  std::error_code ec;
  if (std::filesystem::equivalent(from, vm["out"].as<std::string>(), ec))
    throw UsageError("--out must be a new file: writing to " + from.string() +
                     " would overwrite the measurements being resumed");
  datasets::RunRecord resumed = datasets::read_results(from);
  if (vm["strategy"].defaulted()) strategy_name = resumed.attribute("strategy");
  if (!vm.count("param")) params = resumed.strategy_parameters;
  if (vm["seed"].defaulted()) base.seed = std::stoull(resumed.attribute("seed"));
  std::cerr << "autostem run: resuming " << from.string() << " (" << resumed.measurements()
            << " measurements, strategy " << strategy_name << ", seed " << base.seed
            << (resumed.complete ? ", a run that had ended" : ", a run that was cut off") << ")\n";
  return resumed;
}

/// The instrument of --backend: live, or simulated over --dataset/--survey or a phantom. Sets
/// dataset_label (provenance).
std::unique_ptr<Instrument> make_instrument(const po::variables_map& vm, const Backend& backend,
                                            std::uint64_t seed, std::string& dataset_label) {
  if (backend.live()) {
    auto instrument = backend.make(vm, GroundTruth{});
    dataset_label = "live: " + instrument->describe().name;
    return instrument;
  }
  GroundTruth truth;
  if (vm.count("dataset") || vm.count("survey")) {
    std::optional<std::filesystem::path> si, survey;
    if (vm.count("dataset")) si = vm["dataset"].as<std::string>();
    if (vm.count("survey")) survey = vm["survey"].as<std::string>();
    truth = datasets::load_ground_truth(si, survey);
  } else {
    const std::string name = vm.count("phantom") ? vm["phantom"].as<std::string>() : "nanowire";
    const auto [rows, cols] = parse_shape(vm["phantom-shape"].as<std::string>());
    check_phantom_memory(rows, cols);
    truth = datasets::make_phantom(name, seed, rows, cols);
  }
  dataset_label = truth.source;
  return backend.make(vm, std::move(truth));
}

/// Hands the earlier run's measurements to the Session (Session::resume_from). Throws
/// std::invalid_argument when its survey does not match this instrument's field.
void resume_session(Session& session, datasets::RunRecord& resumed, const InstrumentInfo& info) {
  std::vector<Measurement> recorded(resumed.measurements());
  for (std::size_t i = 0; i < recorded.size(); ++i) {
    Measurement& m = recorded[i];
    m.index = i;
    m.requested = resumed.requested[i];
    m.actual = resumed.actual[i];
    m.signal = std::move(resumed.signals[i]);
    m.shape = resumed.signal_shape;
    m.exposure_s = resumed.exposure_s[i];
    m.probe_current_pA = resumed.probe_current_pA[i];
    m.t_start_s = resumed.t_start_s[i];
    m.t_end_s = resumed.t_end_s[i];
    m.dose_e_per_A2 = resumed.dose_e_per_A2[i];
  }
  if (resumed.survey.image.rows() != info.field_rows || resumed.survey.image.cols() != info.field_cols)
    throw std::invalid_argument(
        "--resume: the earlier run's survey is " + std::to_string(resumed.survey.image.rows()) + "x" +
        std::to_string(resumed.survey.image.cols()) + " pixels but this instrument's field is " +
        std::to_string(info.field_rows) + "x" + std::to_string(info.field_cols));
  session.resume_from(resumed.survey, std::move(recorded));
}

/// --pace: holds each measurement until S wall seconds have passed since the previous one.
class PaceSink final : public MeasurementSink {
 public:
  explicit PaceSink(double seconds) : pace_(seconds) {}
  void on_begin(const RunInfo&, const Survey&) override { last_ = std::chrono::steady_clock::now(); }
  void on_measurement(const Measurement&) override {
    const auto due = last_ + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                 std::chrono::duration<double>(pace_));
    std::this_thread::sleep_until(due);
    last_ = std::max(due, std::chrono::steady_clock::now());
  }
  void on_end(const RunSummary&, const std::optional<Image>&) override {}

 private:
  double pace_;
  std::chrono::steady_clock::time_point last_;
};

/// What the atom planners found, and how much of a resumed run came from its file (stderr).
void report_notes(const Strategy& strategy, const RunSummary& s) {
  // The atom planners (atoms, dcnn) say what they found, e.g. "no atoms found in the survey".
  if (const auto* ap = dynamic_cast<const strategies::AtomPlanStrategy*>(&strategy))
    std::cerr << "autostem run: " << ap->status() << "\n";
  if (s.resumed_measurements > 0)
    std::cerr << "autostem run: " << s.resumed_measurements << " measurements came from the resumed file, "
              << s.measurements - s.resumed_measurements << " were acquired now"
              << (s.resume_unused > 0
                      ? "; " + std::to_string(s.resume_unused) +
                            " recorded points were never proposed again (the strategy's decisions "
                            "differ from the earlier run's; they are kept in the file)"
                      : std::string())
              << "\n";
}

}  // namespace

int cmd_run(const std::vector<std::string>& args, const std::string& command_line) {
  po::options_description o("autostem run options");
  add_run_options(o);
  po::variables_map vm;
  if (parse(args, o, vm,
            "usage: autostem run [--dataset SI_FILE [--survey SURVEY_FILE] | --phantom NAME]\n"
            "                    --strategy NAME [--exposure S|file] [--dwell S] [--current PA]\n"
            "                    [--profile NAME|FILE] [--budget-points N] [--budget-time S]\n"
            "                    [--budget-dose E_PER_A2] [--seed N] --out RUN.h5\n"
            "       autostem run --backend dm --host H --port N --key-file K --strategy NAME\n"
            "                    [...] --out RUN.h5          (a live microscope, docs/live.md)\n"
            "Replays an acquisition strategy in the simulated microscope over ground truth and\n"
            "writes every measurement to an HDF5 results file as it arrives (docs/results-format.md).\n"
            "Ctrl-C stops cleanly: the file keeps everything measured so far.")) {
    std::cout << "Strategies and their parameters (--param KEY=VALUE; docs/strategies.md):\n";
    for (const auto& n : strategies::strategy_names()) std::cout << "  " << strategies::strategy_help(n);
    return 0;
  }

  if (vm.count("phantom") && (vm.count("dataset") || vm.count("survey")))
    throw UsageError("give either --phantom or --dataset/--survey, not both");
  const auto backend = selected_backend(vm);
  const bool live = backend->live();
  if (live && (vm.count("phantom") || vm.count("dataset") || vm.count("survey")))
    throw UsageError("--backend " + vm["backend"].as<std::string>() +
                     " measures a real sample: --phantom/--dataset/--survey do not apply");

  if (live && !vm["drift"].defaulted() && drift_preset(vm) != "off")
    throw UsageError("--drift simulates specimen drift; a live specimen drifts by itself (use --drift-correction)");
  SessionConfig config = session_config(vm, /*allow_file_exposure=*/true);
  std::string exposure_note;
  if (exposure_from_file(vm)) {
    if (!vm.count("dataset"))
      throw UsageError("--exposure file takes the exposure from the --dataset file (the spectrum "
                       "image); this run has none: give --exposure SECONDS");
    const FileExposure fe = file_exposure(vm["dataset"].as<std::string>());
    config.point.exposure_s = fe.exposure_s;
    exposure_note = fe.note();
  }
  const std::optional<DriftCorrectorOptions> drift_options = drift_correction_options(vm);
  std::string strategy_name = vm["strategy"].as<std::string>();
  Parameters params = strategy_parameters(vm);
  std::optional<datasets::RunRecord> resumed = load_resumed(vm, strategy_name, params, config);
  apply_model_options(vm, strategy_name,
                      vm.count("scalarizer") ? vm["scalarizer"].as<std::string>() : "", params);
  std::unique_ptr<Strategy> strategy = strategies::make_strategy(strategy_name, params);
  std::string dataset_label;
  std::unique_ptr<Instrument> instrument = make_instrument(vm, *backend, config.seed, dataset_label);
  const InstrumentInfo info = instrument->describe();
  if (drift_options && !info.can_scan_patch)
    throw UsageError("--drift-correction re-scans a reference patch, which " + info.name +
                     " cannot do" +
                     (live ? " (its server does not announce the scan_patch capability: an "
                             "autostem_dm_server.py older than this autostem; update the script in "
                             "DigitalMicrograph, docs/live.md)"
                           : ""));

  const AcquisitionMode mode = config.mode.value_or(strategy->preferred_mode());
  // A synchronized SI scan is driven a scan line at a time unless the user chose a batch size.
  if (vm["batch"].defaulted() && mode == AcquisitionMode::si_scan) config.batch_size = info.field_cols;
  Session session(*instrument, *strategy, config);
  session.set_prediction_interval(vm["prediction-every"].as<std::size_t>(), vm["prediction-budget"].as<double>());
  std::unique_ptr<DriftCorrector> drift;
  if (drift_options) {
    drift = std::make_unique<DriftCorrector>(*drift_options);
    session.set_drift_correction(*drift);
  }
  if (resumed) resume_session(session, *resumed, info);
  const double pace = vm["pace"].as<double>();
  if (!(pace >= 0.0)) throw UsageError("--pace must be >= 0 s");
  // --view: the live page, bound before the results file is created (a taken port loses nothing);
  // its sink goes after the writer's, so what the page shows is already in the file.
  OperatorControl control;
  std::unique_ptr<LiveView> view;
  if (vm.count("view")) {
    LiveViewOptions vo;
    vo.host = vm["view-bind"].as<std::string>();
    vo.port = vm["view"].as<int>();
    vo.read_only = vm["view-read-only"].as<bool>();
    if (vo.port < 0 || vo.port > 65535) throw UsageError("--view PORT must be 0…65535");
    if (!is_loopback(vo.host)) vo.token = make_token();
    view = std::make_unique<LiveView>(vo, vo.read_only ? nullptr : &control);
    session.set_operator_control(control);
    std::cerr << "autostem run: live view at " << view->url() << (vo.read_only ? " (read-only)" : "") << "\n";
    if (!vo.token.empty())
      std::cerr << "autostem run: the live view listens on " << vo.host
                << "; every request needs the token " << vo.token << " (in the URL above)\n";
  }
  const std::string out = vm["out"].as<std::string>();
  datasets::ResultsWriter writer(
      out, datasets::ResultsProvenance{live ? std::string("live") : vm["profile"].as<std::string>(),
                                       dataset_label, command_line, AUTOSTEM_VERSION});
  session.add_sink(writer);
  PaceSink pacer(pace);
  if (pace > 0.0) session.add_sink(pacer);
  if (view) session.add_sink(*view);
  const bool json = vm["json"].as<bool>();
  Progress progress("run " + strategy_name);
  session.set_progress([&](const SessionProgress& p) {
    if (!json) progress.update(p);
    if (view) view->on_progress(p);
  });
  const auto& stop = install_stop_handler();

  const std::string what = "autostem run: " + strategy_name + " on " + dataset_label + " (" +
                           info.name + ")";
  try {
    RunSummary s = session.run(&stop);
    if (view) view->close();
    progress.finish();
    print_summary(s, what, out, json, info, exposure_note);
    report_notes(*strategy, s);
    // Stopped from the live page: a normal end; by Ctrl-C: 130, as a shell expects.
    return s.stop_reason == StopReason::operator_stop && !control.stop_requested() ? 130 : 0;
  } catch (const SessionError& e) {
    if (view) view->close();
    progress.finish();
    print_summary(e.summary, what, out, json, info, exposure_note);
    std::cerr << "autostem run: error: " << e.what() << " (the " << e.summary.measurements
              << " measurements made are in " << out << ")\n";
    return 1;
  }
}

}  // namespace autostem::cli
