#pragma once
// The physical models of the simulated instrument (DESIGN.md §5): detector noise and specimen
// drift. Equations and the sources of every default are in docs/models.md.

#include <autostem/sim/engine.hpp>

#include <cmath>
#include <cstdint>
#include <span>
#include <utility>

namespace autostem::sim {

/// Detector model: measured = gain × Poisson(λ) + dark_offset + Normal(0, readout_sigma), where
/// λ (counts) is the expected signal at the simulated dose. With enabled = false the measured
/// value is λ exactly (no gain, offset or noise) — for tests and noise-free planning runs.
struct NoiseModel {
  bool enabled = true;
  double gain = 1.0;           ///< output counts per detected event; assumed 1 (counting units)
  double dark_offset = 0.0;    ///< counts added to every channel; assumed 0 (dark-subtracted data)
  /// Gaussian readout noise, counts rms per channel. Assumed: a few counts rms, the order of a
  /// scientific CCD's read noise; see docs/models.md.
  double readout_sigma = 2.0;
};

/// Specimen drift relative to the survey frame, sampled at the instant the beam lands:
///   d(t) = v·t + W(t) + A·(sin(2πt/T + φ_row), sin(2πt/T + φ_col))
/// with v = (velocity_row, velocity_col) nm/s, W a 2-D Wiener process with variance D²·t per
/// axis (D = random_walk_nm_per_sqrt_s) and A, T the jitter amplitude and period (jitter off
/// when A = 0 or T = 0). Defaults: zero drift (the seed paper does not measure drift; the timing
/// calibration must not depend on it). Units nm and s.
struct DriftModel {
  double velocity_row_nm_per_s = 0.0;
  double velocity_col_nm_per_s = 0.0;
  double random_walk_nm_per_sqrt_s = 0.0;
  double jitter_amplitude_nm = 0.0;
  double jitter_period_s = 0.0;
  /// True when every term is zero (the probe lands exactly where commanded).
  bool is_zero() const {
    return velocity_row_nm_per_s == 0.0 && velocity_col_nm_per_s == 0.0 &&
           random_walk_nm_per_sqrt_s == 0.0 && (jitter_amplitude_nm == 0.0 || jitter_period_s == 0.0);
  }
  /// Throws std::invalid_argument naming the field when a value is not finite or negative
  /// (velocities may be negative).
  void validate() const;
};

/// Beam damage (DESIGN.md §5, optional): the expected signal at a spot fades with the areal dose
/// D (e⁻/Å²) that spot received before the acquisition, S = S₀·exp(−D/D_c). One critical dose
/// for the whole field (the ground truth carries no material map). Off by default: seed 002
/// reports no damage and D_c depends on the material (docs/models.md §5).
struct DamageModel {
  double critical_dose_e_per_A2 = 0.0;  ///< D_c > 0; 0 = no damage
  bool enabled() const { return critical_dose_e_per_A2 > 0.0; }
  /// exp(−D/D_c), or 1 when disabled.
  double factor(double dose_e_per_A2) const {
    return enabled() ? std::exp(-dose_e_per_A2 / critical_dose_e_per_A2) : 1.0;
  }
};

/// Draws one Poisson(λ) variate. λ ≥ 0 (λ = 0 gives 0). λ < 10: multiplication method (Knuth,
/// TAOCP vol. 2, §3.4.1); λ ≥ 10: transformed rejection with squeeze, PTRS (W. Hörmann, "The
/// transformed rejection method for generating Poisson random variables", Insurance:
/// Mathematics and Economics 12 (1993) 39–45) — the algorithm NumPy uses. Returns a double
/// because λ may exceed the int range. Throws std::invalid_argument when λ is negative or not
/// finite.
double poisson(Rng& rng, double lambda);

/// Applies the NoiseModel in place: values holds expected counts λ (negative values are
/// clamped to 0 first); each becomes gain × Poisson(λ) + dark_offset + Normal(0, readout_sigma).
void apply_noise(const NoiseModel& noise, Rng& rng, std::span<double> values);
void apply_noise(const NoiseModel& noise, Rng& rng, std::span<float> values);

/// The drift process d(t) of DriftModel, in nm. Samples must be requested at non-decreasing
/// times (the Wiener increment from the previous sample is drawn from the process's own random
/// stream). Throws std::invalid_argument if t is before the previous sample.
class DriftProcess {
 public:
  /// rng: this component's own stream. Throws std::invalid_argument (DriftModel::validate).
  DriftProcess(DriftModel model, Rng rng);
  /// Displacement (row_nm, col_nm) at time t_s ≥ the previous call's t_s.
  std::pair<double, double> displacement_nm(double t_s);
  const DriftModel& model() const { return model_; }

 private:
  DriftModel model_;
  Rng rng_;
  double last_t_s_ = 0.0;
  double walk_row_nm_ = 0.0, walk_col_nm_ = 0.0;
  double phase_row_ = 0.0, phase_col_ = 0.0;
};

}  // namespace autostem::sim
