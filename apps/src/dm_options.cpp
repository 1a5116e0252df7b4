#include "dm_options.hpp"

#if AUTOSTEM_HAVE_DM_CLIENT
#include <autostem/backends/dm_client.hpp>
#endif
#include <autostem/core/instrument.hpp>

namespace autostem::cli {

void add_backend_options(po::options_description& o) {
  o.add_options()
      ("backend", po::value<std::string>()->default_value("sim"),
       "sim (the simulated microscope over --dataset/--phantom) or dm (a live microscope "
       "through the autostem server in DigitalMicrograph, docs/live.md)")
      ("host", po::value<std::string>()->default_value("127.0.0.1"), "live server address (dm)")
      ("port", po::value<unsigned>(), "live server port (dm)")
      ("key-file", po::value<std::string>(), "file holding the shared key (dm)")
      ("dm-timeout", po::value<double>()->default_value(30.0),
       "seconds to wait for an answer beyond the exposure (dm)")
      ("dm-retries", po::value<int>()->default_value(5),
       "reconnection attempts after a lost connection (dm)");
}

bool live_backend(const po::variables_map& vm) {
  const std::string b = vm["backend"].as<std::string>();
  if (b != "sim" && b != "dm") throw UsageError("--backend '" + b + "' is not one of sim, dm");
  return b == "dm";
}

std::unique_ptr<Instrument> make_live_instrument(const po::variables_map& vm) {
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
  return std::make_unique<backends::DmInstrument>(std::move(o));
#else
  (void)vm;
  throw UsageError("this autostem was built without the live DM client (install libssl-dev and "
                   "rebuild)");
#endif
}

}  // namespace autostem::cli
