#pragma once
// The simulated backend: builds the simulated microscope (sim/) over a ground truth. The
// command line and the benchmark harness go through this factory so that they never depend on
// sim/'s internals, and so that the live DigitalMicrograph backend can sit beside it.

#include <autostem/core/ground_truth.hpp>
#include <autostem/core/instrument.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace autostem::backends {

struct SimulatedOptions {
  std::string profile = "rsi2024-remote";  ///< built-in profile name or a profile file path
  double probe_current_pA = 0.0;           ///< 0 = the profile's default
  std::uint64_t seed = 0;
  bool noise = true;                       ///< false: expected counts, no shot/readout noise
  /// Pixelated-detector profile (built-in name or .ini path, sim::DetectorProfile::load) that
  /// times each 4D pattern in point mode (sim::SimConfig::detector); empty = none.
  std::string detector;
  /// Drift preset (sim::drift_preset_names(): off, settled, after-stage-move; direction drawn
  /// from `seed`); empty = no drift (this factory does not read a profile's drift_* keys). The
  /// overrides below apply on top.
  std::string drift_preset;
  /// Drift overrides (nm/s, nm/√s); std::nullopt = the preset's value (0 without one).
  std::optional<double> drift_velocity_row_nm_per_s, drift_velocity_col_nm_per_s;
  std::optional<double> drift_random_walk_nm_per_sqrt_s;
};

/// A simulated instrument over truth. Throws std::invalid_argument on an unknown profile or
/// detector profile (listing the built-in ones), a detector profile for a ground truth without 4D
/// data, or drift preset (listing the presets), bad options, or an invalid ground
/// truth.
std::unique_ptr<Instrument> make_simulated_instrument(GroundTruth truth,
                                                      const SimulatedOptions& options);

}  // namespace autostem::backends
