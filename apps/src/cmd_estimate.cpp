// autostem estimate: time and dose of a plan from a timing profile, without ground truth. It
// runs the same Session and simulated instrument as `run`, over a blank field of the requested
// shape, so that an estimate and a simulation can never disagree about the timing model.

#include "cli.hpp"
#include "session_options.hpp"
#include "drift_options.hpp"

#include <autostem/backends/simulated.hpp>
#include <autostem/sim/timing_profile.hpp>
#include <autostem/strategies/registry.hpp>

#include <iostream>

namespace autostem::cli {

int cmd_estimate(const std::vector<std::string>& args) {
  po::options_description o("autostem estimate options");
  o.add_options()("help,h", "this help")
      ("shape", po::value<std::string>(), "survey (field) size ROWSxCOLS (default 128x128)")
      ("points", po::value<std::size_t>(),
       "number of spectra (default: what the strategy plans; with --points the default "
       "strategy is random)")
      ("pixel-size", po::value<double>()->default_value(1.0), "survey pixel size, nm")
      ("channels", po::value<std::size_t>()->default_value(2048),
       "spectrometer channels (sets the transfer size when the profile's spectrum_channels is 0)");
  add_session_options(o, "");
  po::variables_map vm;
  if (parse(args, o, vm,
            "usage: autostem estimate --profile NAME [--strategy NAME] (--shape ROWSxCOLS | --points N)\n"
            "                         [--exposure S] [--dwell S] [--current PA] [--compute fixed:S]\n"
            "                         [--overlap] [--json]\n"
            "Estimates the experiment time and dose of a plan, survey included, from the\n"
            "instrument's timing profile alone (no ground truth), e.g.\n"
            "  autostem estimate --profile rsi2024-remote --strategy grid --shape 128x128\n"
            "  autostem estimate --profile rsi2024-remote --points 137\n"
            "  autostem estimate --profile rsi2024-remote --points 100 --compute fixed:5"))
    return 0;
  if (!vm.count("shape") && !vm.count("points"))
    throw UsageError("give --shape ROWSxCOLS, --points N, or both");
  const auto [rows, cols] = parse_shape(vm.count("shape") ? vm["shape"].as<std::string>() : "128x128");
  std::string strategy_name = vm["strategy"].as<std::string>();
  if (strategy_name.empty()) strategy_name = vm.count("points") ? "random" : "grid";
  SessionConfig config = session_config(vm);
  if (vm.count("points")) {
    const std::size_t n = vm["points"].as<std::size_t>();
    if (n == 0) throw UsageError("--points must be at least 1");
    if (n > rows * cols)
      throw UsageError("--points " + std::to_string(n) + " exceeds the " + std::to_string(rows) +
                       "x" + std::to_string(cols) + " field; give a larger --shape");
    config.budget.max_points = std::min(config.budget.max_points, n);
  }
  const double pixel_nm = vm["pixel-size"].as<double>();
  if (!(pixel_nm > 0.0)) throw UsageError("--pixel-size must be > 0 nm");
  const std::size_t channels = vm["channels"].as<std::size_t>();
  if (channels == 0) throw UsageError("--channels must be at least 1");

  // A blank field: no structure, no signal. Timing and dose do not depend on the contents.
  GroundTruth blank;
  blank.source = "blank field " + std::to_string(rows) + "x" + std::to_string(cols);
  blank.survey.data = ImageArray::Constant(rows, cols, 1.0);
  blank.survey.calibration.pixel_size_nm = pixel_nm;
  blank.survey.name = "HAADF";
  // A profile that states the camera width (spectrum_channels > 0, as every shipped one does)
  // times transfers by it, so the blank field needs one channel, not rows × cols × 2048 floats
  // (512 MB at 256×256).
  const bool profile_sets_width =
      sim::TimingProfile::load(vm["profile"].as<std::string>()).spectrum_channels > 0;
  blank.spectrum_image.emplace(rows, cols, EnergyAxis{0.0, 1.0, profile_sets_width ? 1 : channels},
                               blank.survey.calibration);

  backends::SimulatedOptions sim = simulated_options(vm);
  sim.noise = false;
  auto instrument = backends::make_simulated_instrument(std::move(blank), sim);
  const InstrumentInfo info = instrument->describe();
  auto strategy = strategies::make_strategy(strategy_name, {});
  const AcquisitionMode mode = config.mode.value_or(strategy->preferred_mode());
  if (vm["batch"].defaulted() && mode == AcquisitionMode::si_scan) config.batch_size = cols;
  Session session(*instrument, *strategy, config);
  // Drift correction on a blank field: the re-scans are timed and dosed, no drift is measured.
  std::unique_ptr<DriftCorrection> drift;
  if (auto o = drift_correction_options(vm)) {
    drift = make_timing_only_drift_correction(*o);
    session.set_drift_correction(*drift);
  }
  const RunSummary s = session.run();
  print_summary(s,
                "autostem estimate: " + strategy_name + " (" + to_string(mode) + ") on a " +
                    std::to_string(rows) + "x" + std::to_string(cols) + " field, profile " +
                    info.profile,
                "", vm["json"].as<bool>(), info);
  return 0;
}

}  // namespace autostem::cli
