// autostem run: a strategy on ground truth in the simulated microscope, or live on a microscope
// through the DigitalMicrograph server (--backend dm, docs/live.md).

#include "cli.hpp"
#include "dm_options.hpp"
#include "session_options.hpp"

#include <autostem/backends/simulated.hpp>
#include <autostem/config.hpp>
#include <autostem/datasets/ground_truth.hpp>
#include <autostem/datasets/phantoms.hpp>
#include <autostem/datasets/results.hpp>
#include <autostem/strategies/registry.hpp>

#include <filesystem>
#include <iostream>

namespace autostem::cli {

namespace {

Parameters strategy_parameters(const po::variables_map& vm) {
  Parameters params;
  if (vm.count("param"))
    for (const auto& item : vm["param"].as<std::vector<std::string>>())
      for (auto& [k, v] : strategies::parse_parameters(item)) params[k] = v;
  return params;
}

}  // namespace

int cmd_run(const std::vector<std::string>& args, const std::string& command_line) {
  po::options_description o("autostem run options");
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
      ("out", po::value<std::string>()->required(), "results file to write (HDF5)");
  add_session_options(o, "grid");
  add_backend_options(o);
  po::variables_map vm;
  if (parse(args, o, vm,
            "usage: autostem run [--dataset SI_FILE [--survey SURVEY_FILE] | --phantom NAME]\n"
            "                    --strategy NAME [--exposure S] [--dwell S] [--current PA]\n"
            "                    [--profile NAME|FILE] [--budget-points N] [--budget-time S]\n"
            "                    [--budget-dose E_PER_A2] [--seed N] --out RUN.h5\n"
            "       autostem run --backend dm --host H --port N --key-file K --strategy NAME\n"
            "                    [...] --out RUN.h5          (a live microscope, docs/live.md)\n"
            "Replays an acquisition strategy in the simulated microscope over ground truth and\n"
            "writes every measurement to an HDF5 results file as it arrives (docs/results-format.md).\n"
            "Ctrl-C stops cleanly: the file keeps everything measured so far."))
    return 0;

  if (vm.count("phantom") && (vm.count("dataset") || vm.count("survey")))
    throw UsageError("give either --phantom or --dataset/--survey, not both");
  const bool live = live_backend(vm);
  if (live && (vm.count("phantom") || vm.count("dataset") || vm.count("survey")))
    throw UsageError("--backend dm measures a real sample: --phantom/--dataset/--survey do not apply");

  const SessionConfig base = session_config(vm);
  const std::string strategy_name = vm["strategy"].as<std::string>();
  std::unique_ptr<Strategy> strategy =
      strategies::make_strategy(strategy_name, strategy_parameters(vm));

  GroundTruth truth;
  std::string dataset_label;
  std::unique_ptr<Instrument> instrument;
  if (live) {
    instrument = make_live_instrument(vm);
  } else if (vm.count("dataset") || vm.count("survey")) {
    std::optional<std::filesystem::path> si, survey;
    if (vm.count("dataset")) si = vm["dataset"].as<std::string>();
    if (vm.count("survey")) survey = vm["survey"].as<std::string>();
    truth = datasets::load_ground_truth(si, survey);
  } else {
    const std::string name = vm.count("phantom") ? vm["phantom"].as<std::string>() : "nanowire";
    const auto [rows, cols] = parse_shape(vm["phantom-shape"].as<std::string>());
    truth = datasets::make_phantom(name, base.seed, rows, cols);
  }
  if (live) {
    dataset_label = "live: " + instrument->describe().name;
  } else {
    dataset_label = truth.source;
    instrument = backends::make_simulated_instrument(std::move(truth), simulated_options(vm));
  }
  const InstrumentInfo info = instrument->describe();

  SessionConfig config = base;
  const AcquisitionMode mode = config.mode.value_or(strategy->preferred_mode());
  // A synchronized SI scan is driven a scan line at a time unless the user chose a batch size.
  if (vm["batch"].defaulted() && mode == AcquisitionMode::si_scan) config.batch_size = info.field_cols;

  Session session(*instrument, *strategy, config);
  const std::string out = vm["out"].as<std::string>();
  datasets::ResultsWriter writer(
      out, datasets::ResultsProvenance{live ? std::string("live") : vm["profile"].as<std::string>(),
                                       dataset_label,
                                       command_line, AUTOSTEM_VERSION});
  session.add_sink(writer);
  const bool json = vm["json"].as<bool>();
  Progress progress("run " + strategy_name);
  if (!json) session.set_progress([&](const SessionProgress& p) { progress.update(p); });
  const auto& stop = install_stop_handler();

  const std::string what = "autostem run: " + strategy_name + " on " + dataset_label + " (" +
                           info.name + ")";
  try {
    RunSummary s = session.run(&stop);
    progress.finish();
    print_summary(s, what, out, json, info);
    return s.stop_reason == StopReason::operator_stop ? 130 : 0;
  } catch (const SessionError& e) {
    progress.finish();
    print_summary(e.summary, what, out, json, info);
    std::cerr << "autostem run: error: " << e.what() << " (the " << e.summary.measurements
              << " measurements made are in " << out << ")\n";
    return 1;
  }
}

}  // namespace autostem::cli
