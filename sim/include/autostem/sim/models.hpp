#pragma once
// The physical models of the simulated instrument (DESIGN.md §5): detector noise and specimen
// drift. Equations and the sources of every default are in docs/models.md.

#include <autostem/sim/engine.hpp>

#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

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
///   d(t) = v·t + v₀·τ·(1 − e^(−t/τ)) + W(t) + J(t) + A·(sin(2πt/T + φ_row), sin(2πt/T + φ_col))
/// with v = (velocity_row, velocity_col) nm/s the constant (settled) velocity; v₀ =
/// (settling_velocity_row, settling_velocity_col) nm/s an extra initial velocity that decays
/// exponentially with time constant τ = settling_tau_s (thermal settling after a stage move:
/// the velocity is v + v₀·e^(−t/τ)); W a 2-D Wiener process with variance D²·t per axis
/// (D = random_walk_nm_per_sqrt_s); J a compound Poisson process of jumps (rate jumps_per_s;
/// each jump an isotropic 2-D Gaussian displacement, Normal(0, jump_nm²/2) per axis, so its
/// length has rms jump_nm and its direction is uniform); A, T the jitter amplitude and period
/// (jitter off when A = 0 or T = 0). Defaults: zero drift (the seed paper does not measure
/// drift; the timing calibration must not depend on it). Units nm and s. Presets:
/// drift_preset(); sources of the numbers in docs/models.md §4.
struct DriftModel {
  double velocity_row_nm_per_s = 0.0;
  double velocity_col_nm_per_s = 0.0;
  double random_walk_nm_per_sqrt_s = 0.0;
  double jitter_amplitude_nm = 0.0;
  double jitter_period_s = 0.0;
  /// Settling: initial extra velocity v₀ (nm/s, may be negative) decaying with settling_tau_s.
  double settling_velocity_row_nm_per_s = 0.0;
  double settling_velocity_col_nm_per_s = 0.0;
  double settling_tau_s = 0.0;  ///< τ (s), > 0 when a settling velocity is set
  /// Jumps: Poisson rate (1/s) and rms length (nm) of each sudden displacement; off when either
  /// is 0.
  double jumps_per_s = 0.0;
  double jump_nm = 0.0;

  bool has_settling() const {
    return settling_tau_s > 0.0 &&
           (settling_velocity_row_nm_per_s != 0.0 || settling_velocity_col_nm_per_s != 0.0);
  }
  bool has_jumps() const { return jumps_per_s > 0.0 && jump_nm > 0.0; }
  /// True when every term is zero (the probe lands exactly where commanded).
  bool is_zero() const {
    return velocity_row_nm_per_s == 0.0 && velocity_col_nm_per_s == 0.0 &&
           random_walk_nm_per_sqrt_s == 0.0 && (jitter_amplitude_nm == 0.0 || jitter_period_s == 0.0) &&
           !has_settling() && !has_jumps();
  }
  /// Deterministic part of the velocity at time t_s ≥ 0 (nm/s, (row, col)): v + v₀·e^(−t/τ).
  std::pair<double, double> velocity_nm_per_s(double t_s) const;
  /// Throws std::invalid_argument naming the field when a value is not finite or negative
  /// (velocities may be negative), or when a settling velocity is set with settling_tau_s = 0.
  void validate() const;
};

/// Names of the drift presets: "off", "settled", "after-stage-move".
std::vector<std::string> drift_preset_names();

/// A DriftModel for a named situation (docs/models.md §4 gives the sources; the numbers are
/// order-of-magnitude assumptions where marked there). The direction θ of the drift in the
/// (row, col) plane is drawn from `seed` (uniform on [0, 2π), the same for both presets at one
/// seed, so "after-stage-move" settles to "settled"); speeds in nm/min below:
///   off:               zero drift.
///   settled:           0.7 nm/min along θ; random walk D = 0.01 nm/√s; no settling, jumps or
///                      jitter.
///   after-stage-move:  0.7 nm/min along θ plus a settling velocity of 4.3 nm/min along θ with
///                      τ = 600 s (5 nm/min at t = 0, 0.91 nm/min after 30 min, 0.71 after 60 min); random walk
///                      D = 0.02 nm/√s; jumps at 1 per 900 s with rms 0.5 nm.
/// Throws std::invalid_argument naming the valid presets for an unknown name.
DriftModel drift_preset(std::string_view name, std::uint64_t seed);

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
/// stream). Jump times and sizes come from a generator seeded from that stream when jumps are
/// on (one draw after the jitter phases), so they do not depend on how often d is sampled and
/// configurations without jumps consume the stream exactly as before.
/// Throws std::invalid_argument if t is before the previous sample.
class DriftProcess {
 public:
  /// rng: this component's own stream. Throws std::invalid_argument (DriftModel::validate).
  DriftProcess(DriftModel model, Rng rng);
  /// Displacement (row_nm, col_nm) at time t_s ≥ the previous call's t_s.
  std::pair<double, double> displacement_nm(double t_s);
  const DriftModel& model() const { return model_; }
  /// Jumps that have happened up to the last sample time.
  std::size_t jumps() const { return jumps_; }

 private:
  double exponential_interval();  ///< Exp(jumps_per_s) waiting time from jump_rng_

  DriftModel model_;
  Rng rng_;
  double last_t_s_ = 0.0;
  double walk_row_nm_ = 0.0, walk_col_nm_ = 0.0;
  double phase_row_ = 0.0, phase_col_ = 0.0;
  // Jumps: their own generator (seeded from rng_ only when jumps are on, so the random walk of
  // existing configurations is unchanged), the time of the next jump and the jumps so far.
  Rng jump_rng_;
  double next_jump_t_s_ = 0.0;
  double jump_row_nm_ = 0.0, jump_col_nm_ = 0.0;
  std::size_t jumps_ = 0;
};

}  // namespace autostem::sim
