// autostem dm-server --fake: runs the real DigitalMicrograph server script under python3 with the
// fake DigitalMicrograph module (backed by the simulator through the autostem_sim binding), so a
// whole live session can be rehearsed, and tested, without a microscope (docs/live.md).

#include "cli.hpp"
#include "drift_options.hpp"

#include <autostem/config.hpp>
#include <autostem/datasets/ground_truth.hpp>
#include <autostem/datasets/phantoms.hpp>
#include <autostem/sim/timing_profile.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <unistd.h>

namespace autostem::cli {

int cmd_dm_server(const std::vector<std::string>& args) {
  po::options_description o("autostem dm-server options");
  o.add_options()("help,h", "this help")
      ("fake", po::bool_switch(), "serve a simulated microscope (the fake DigitalMicrograph module)")
      ("dataset", po::value<std::string>(), "ground-truth spectrum image (as for autostem run)")
      ("survey", po::value<std::string>(), "survey image on the same grid as --dataset")
      ("phantom", po::value<std::string>(), "built-in phantom (default nanowire)")
      ("phantom-shape", po::value<std::string>()->default_value("128x128"), "phantom ROWSxCOLS")
      ("profile", po::value<std::string>()->default_value("rsi2024-remote"), "timing profile")
      ("seed", po::value<std::uint64_t>()->default_value(0), "simulator seed")
      ("no-noise", po::bool_switch(), "expected counts, no noise")
      ("drift", po::value<std::string>()->default_value("off"),
       "simulated specimen drift, as for `autostem run --drift` (off | settled | "
       "after-stage-move; docs/models.md): a rehearsal of --drift-correction")
      ("realtime", po::value<double>()->default_value(0.0),
       "sleep this factor x the simulated time of each acquisition (0: as fast as possible)")
      ("port", po::value<unsigned>()->required(), "TCP port (0: any free port, see --port-file)")
      ("host", po::value<std::string>()->default_value("127.0.0.1"), "address to listen on")
      ("key-file", po::value<std::string>()->required(), "file holding the shared key")
      ("settings", po::value<std::string>(),
       "server settings file (JSON, docs/live.md); default: written for the simulated field")
      ("port-file", po::value<std::string>(), "write the bound port to this file")
      ("lifetime-s", po::value<double>(), "exit after this many seconds")
      ("python", po::value<std::string>()->default_value(AUTOSTEM_DM_PYTHON), "python3 to run");
  po::variables_map vm;
  if (parse(args, o, vm,
            "usage: autostem dm-server --fake [--dataset FILE | --phantom NAME] --port N\n"
            "                          --key-file K [--settings FILE] [--seed N] [--realtime F]\n"
            "                          [--drift PRESET]\n"
            "Runs backends/dm/server/autostem_dm_server.py, the script that runs inside\n"
            "DigitalMicrograph, against the simulated microscope: rehearse a live session with\n"
            "`autostem run --backend dm --port N --key-file K ...` (docs/live.md)."))
    return 0;
  if (!vm["fake"].as<bool>())
    throw UsageError("only --fake is served from here; on the microscope open " AUTOSTEM_DM_SERVER_SCRIPT
                     " in DigitalMicrograph and run it (docs/live.md)");
  if (vm.count("phantom") && (vm.count("dataset") || vm.count("survey")))
    throw UsageError("give either --phantom or --dataset/--survey, not both");

  if (vm.count("lifetime-s") && !(vm["lifetime-s"].as<double>() > 0.0))
    throw UsageError("--lifetime-s must be > 0 seconds");
  if (vm["realtime"].as<double>() < 0.0)
    throw UsageError("--realtime must be ≥ 0 (0 = as fast as possible; 1 = real time)");
  nlohmann::json fake = {{"profile", vm["profile"].as<std::string>()},
                         {"seed", vm["seed"].as<std::uint64_t>()},
                         {"noise", !vm["no-noise"].as<bool>()},
                         {"drift", drift_preset(vm)},
                         {"realtime", vm["realtime"].as<double>()}};
  GroundTruth truth;
  if (vm.count("dataset") || vm.count("survey")) {
    std::optional<std::filesystem::path> si, sv;
    if (vm.count("dataset")) si = vm["dataset"].as<std::string>();
    if (vm.count("survey")) sv = vm["survey"].as<std::string>();
    // Made absolute: the server may run from another directory.
    if (si) fake["dataset"] = std::filesystem::absolute(*si).string();
    if (sv) fake["survey"] = std::filesystem::absolute(*sv).string();
    truth = datasets::load_ground_truth(si, sv);
  } else {
    const std::string name = vm.count("phantom") ? vm["phantom"].as<std::string>() : "nanowire";
    const auto [rows, cols] = parse_shape(vm["phantom-shape"].as<std::string>());
    check_phantom_memory(rows, cols);
    truth = datasets::make_phantom(name, vm["seed"].as<std::uint64_t>(), rows, cols);
    fake["phantom"] = name;
    fake["rows"] = rows;
    fake["cols"] = cols;
  }

  const std::string key_file = std::filesystem::absolute(vm["key-file"].as<std::string>()).string();
  std::string settings_path;
  if (vm.count("settings")) {
    settings_path = vm["settings"].as<std::string>();
  } else {
    char dir_template[] = "/tmp/autostem-dm-XXXXXX";
    if (!mkdtemp(dir_template))
      throw std::runtime_error(std::string("cannot create a temporary directory: ") + std::strerror(errno));
    settings_path = std::string(dir_template) + "/settings.json";
    const sim::TimingProfile profile = sim::TimingProfile::load(vm["profile"].as<std::string>());
    const nlohmann::json settings = {
        {"name", "fake DigitalMicrograph (" + truth.source + ")"},
        {"host", vm["host"].as<std::string>()},
        {"port", vm["port"].as<unsigned>()},
        {"key_file", key_file},
        {"allowed_clients", {"127.0.0.1"}},
        {"survey_shape", {truth.rows(), truth.cols()}},
        {"pixel_size_nm", truth.survey.calibration.pixel_size_nm},
        {"detectors", {{truth.survey.name.empty() ? "HAADF" : truth.survey.name, 0}}},
        {"probe_current_pA", profile.probe_current_pA},
        {"default_dwell_s", profile.default_dwell_s},
        {"default_exposure_s", profile.default_exposure_s},
        // The simulated survey is float64; sending it whole keeps a rehearsal bit-identical to
        // an in-process simulated run (a DigiScan image is usually 4-byte real).
        {"survey_bytes_per_pixel", 8},
        // A rehearsal lets the client choose the session's field (--survey-shape, --pixel-size,
        // issue 17): a phantom is made again at the asked shape over its field of view.
        {"limits", {{"max_exposure_s", profile.max_exposure_s}, {"max_frame_bytes", 1 << 20},
                    {"max_survey_shape", {std::max<std::size_t>(truth.rows(), 1024),
                                          std::max<std::size_t>(truth.cols(), 1024)}},
                    {"pixel_size_nm_range", {1e-3, 1e3}}}}};
    std::ofstream(settings_path) << settings.dump(2) << "\n";
    std::cerr << "autostem dm-server: settings written to " << settings_path
              << " (removed once read; pass --settings FILE to keep your own)\n";
  }

  const std::string pythonpath = std::string(AUTOSTEM_DM_FAKE_DIR) + ":" + AUTOSTEM_PYTHON_MODULE_DIR;
  ::setenv("PYTHONPATH", pythonpath.c_str(), 1);
  ::setenv("AUTOSTEM_FAKE_DM", fake.dump().c_str(), 1);
  std::vector<std::string> argv = {vm["python"].as<std::string>(), AUTOSTEM_DM_SERVER_SCRIPT,
                                   "--settings", settings_path,
                                   "--port", std::to_string(vm["port"].as<unsigned>()),
                                   "--host", vm["host"].as<std::string>(),
                                   "--key-file", key_file};
  if (vm.count("port-file")) argv.insert(argv.end(), {"--port-file", vm["port-file"].as<std::string>()});
  if (!vm.count("settings")) argv.push_back("--settings-is-temporary");
  if (vm.count("lifetime-s"))
    argv.insert(argv.end(), {"--lifetime-s", std::to_string(vm["lifetime-s"].as<double>())});
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  std::cout.flush();
  ::execvp(cargv[0], cargv.data());
  throw std::runtime_error("cannot run " + argv[0] + ": " + std::strerror(errno));
}

}  // namespace autostem::cli
