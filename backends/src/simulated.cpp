#include <autostem/backends/simulated.hpp>

#include <autostem/sim/simulated_instrument.hpp>

#include <cmath>
#include <stdexcept>

namespace autostem::backends {

std::unique_ptr<Instrument> make_simulated_instrument(GroundTruth truth,
                                                      const SimulatedOptions& options) {
  truth.validate();
  if (!std::isfinite(options.probe_current_pA) || options.probe_current_pA < 0.0)
    throw std::invalid_argument("probe current must be a finite number of pA > 0, got " +
                                std::to_string(options.probe_current_pA));
  sim::SimConfig config;
  config.profile = sim::TimingProfile::load(options.profile);
  config.probe_current_pA = options.probe_current_pA;
  config.seed = options.seed;
  config.noise.enabled = options.noise;
  if (!options.detector.empty()) config.detector = sim::DetectorProfile::load(options.detector);
  if (!options.drift_preset.empty()) config.drift = sim::drift_preset(options.drift_preset, options.seed);
  if (options.drift_velocity_row_nm_per_s)
    config.drift.velocity_row_nm_per_s = *options.drift_velocity_row_nm_per_s;
  if (options.drift_velocity_col_nm_per_s)
    config.drift.velocity_col_nm_per_s = *options.drift_velocity_col_nm_per_s;
  if (options.drift_random_walk_nm_per_sqrt_s)
    config.drift.random_walk_nm_per_sqrt_s = *options.drift_random_walk_nm_per_sqrt_s;
  return std::make_unique<sim::SimulatedInstrument>(std::move(truth), std::move(config));
}

}  // namespace autostem::backends
