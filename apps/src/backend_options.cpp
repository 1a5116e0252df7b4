#include "backend_options.hpp"

#include "session_options.hpp"

#if AUTOSTEM_HAVE_DM_CLIENT
#include <autostem/backends/dm_client.hpp>
#endif
#include <autostem/backends/simulated.hpp>
#include <autostem/core/instrument.hpp>
#include <autostem/core/registry.hpp>

#include <cmath>
#include <string>
#include <tuple>

namespace autostem::cli {

namespace {

/// The simulated microscope over the ground truth (--dataset/--phantom), backends/src/simulated.cpp.
class SimBackend final : public Backend {
 public:
  bool live() const override { return false; }
  std::unique_ptr<Instrument> make(const po::variables_map& vm, GroundTruth truth) const override {
    for (const char* live_only : {"survey-shape", "pixel-size"})
      if (vm.count(live_only))
        throw UsageError(std::string("--") + live_only + " asks a live server for the session's field "
                         "(--backend dm); the simulator's field is the dataset's or the phantom's "
                         "(--phantom-shape)");
    return backends::make_simulated_instrument(std::move(truth), simulated_options(vm));
  }
};

/// A live microscope through the autostem server in DigitalMicrograph (backends/dm, docs/live.md).
class DmBackend final : public Backend {
 public:
  bool live() const override { return true; }
  void add_options(po::options_description& o) const override {
    o.add_options()
        ("host", po::value<std::string>()->default_value("127.0.0.1"), "live server address (dm)")
        ("port", po::value<unsigned>(), "live server port (dm)")
        ("key-file", po::value<std::string>(), "file holding the shared key (dm)")
        ("dm-timeout", po::value<double>()->default_value(30.0),
         "seconds to wait for an answer beyond the exposure (dm)")
        ("dm-retries", po::value<int>()->default_value(5),
         "reconnection attempts after a lost connection (dm)")
        ("survey-shape", po::value<std::string>(),
         "the session's survey ROWSxCOLS, within the server's limits.max_survey_shape (dm; "
         "default: the server's settings)")
        ("pixel-size", po::value<double>(),
         "the session's pixel size in nm, within the server's limits.pixel_size_nm_range and "
         "checked against DM's calibration of the survey (dm; default: the server's settings)");
  }
  std::unique_ptr<Instrument> make(const po::variables_map& vm, GroundTruth) const override {
#if AUTOSTEM_HAVE_DM_CLIENT
    if (!vm.count("port") || !vm.count("key-file"))
      throw UsageError("--backend dm needs --port and --key-file");
    backends::DmClientOptions o;
    o.host = vm["host"].as<std::string>();
    const unsigned port = vm["port"].as<unsigned>();
    if (port == 0 || port > 65535) throw UsageError("--port must be 1..65535");
    o.port = static_cast<std::uint16_t>(port);
    o.key = backends::read_key_file(vm["key-file"].as<std::string>());
    o.call_timeout_s = vm["dm-timeout"].as<double>();
    if (!(o.call_timeout_s > 0)) throw UsageError("--dm-timeout must be > 0");
    o.reconnect_attempts = vm["dm-retries"].as<int>();
    if (o.reconnect_attempts < 0) throw UsageError("--dm-retries must be >= 0");
    if (vm.count("survey-shape")) {
      const std::string text = vm["survey-shape"].as<std::string>();
      try {
        std::tie(o.survey_rows, o.survey_cols) = parse_shape(text);
      } catch (const UsageError&) {
        throw UsageError("--survey-shape '" + text + "' is not ROWSxCOLS with both > 0 (e.g. 128x128)");
      }
    }
    if (vm.count("pixel-size")) {
      o.pixel_size_nm = vm["pixel-size"].as<double>();
      if (!(o.pixel_size_nm > 0) || !std::isfinite(o.pixel_size_nm))
        throw UsageError("--pixel-size must be a number of nm > 0");
    }
    return std::make_unique<backends::DmInstrument>(std::move(o));
#else
    (void)vm;
    throw UsageError("this autostem was built without the live DM client (install libssl-dev and "
                     "rebuild)");
#endif
  }
};

using BackendRegistry = Registry<std::shared_ptr<const Backend>>;

BackendRegistry& backend_registry() {
  static BackendRegistry r("backend");
  static const bool builtins = [] {
    // One line per backend.
    r.add("dm", "a live microscope through the autostem server in DigitalMicrograph (docs/live.md)",
          std::make_shared<DmBackend>());
    r.add("sim", "the simulated microscope over --dataset/--phantom", std::make_shared<SimBackend>());
    return true;
  }();
  (void)builtins;
  return r;
}

}  // namespace

void add_backend_options(po::options_description& o) {
  std::string help;
  for (const auto& n : backend_registry().names())
    help += (help.empty() ? "" : " or ") + n + " (" + backend_registry().at(n).info + ")";
  o.add_options()("backend", po::value<std::string>()->default_value("sim"), help.c_str());
  for (const auto& n : backend_registry().names()) backend_registry().at(n).make->add_options(o);
}

std::shared_ptr<const Backend> selected_backend(const po::variables_map& vm) {
  const std::string b = vm["backend"].as<std::string>();
  const auto e = backend_registry().find(b);
  if (!e) throw UsageError("--backend: " + backend_registry().unknown_message(b));
  return e->make;
}

}  // namespace autostem::cli
