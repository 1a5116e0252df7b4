#include <autostem/sim/models.hpp>

#include <autostem/core/random.hpp>

#include <cmath>
#include <numbers>
#include <stdexcept>
#include <string>

namespace autostem::sim {

namespace {

// Uniform double in [0, 1) from the top 53 bits.
inline double uniform01(Rng& rng) { return random::uniform53(rng); }

void require_finite(double v, const char* field, bool non_negative) {
  if (!std::isfinite(v) || (non_negative && v < 0.0))
    throw std::invalid_argument(std::string("DriftModel: ") + field + " = " + std::to_string(v) +
                                (non_negative ? "; expected a finite value >= 0"
                                              : "; expected a finite value"));
}

template <class T>
void apply_noise_impl(const NoiseModel& noise, Rng& rng, std::span<T> values) {
  if (!noise.enabled) {
    for (auto& v : values) v = v > T(0) ? v : T(0);
    return;
  }
  random::Normal readout(0.0, noise.readout_sigma > 0 ? noise.readout_sigma : 1.0);
  const bool with_readout = noise.readout_sigma > 0.0;
  for (auto& v : values) {
    const double lambda = v > T(0) ? static_cast<double>(v) : 0.0;
    double x = noise.gain * poisson(rng, lambda) + noise.dark_offset;
    if (with_readout) x += readout(rng);
    v = static_cast<T>(x);
  }
}

}  // namespace

void DriftModel::validate() const {
  require_finite(velocity_row_nm_per_s, "velocity_row_nm_per_s", false);
  require_finite(velocity_col_nm_per_s, "velocity_col_nm_per_s", false);
  require_finite(random_walk_nm_per_sqrt_s, "random_walk_nm_per_sqrt_s", true);
  require_finite(jitter_amplitude_nm, "jitter_amplitude_nm", true);
  require_finite(jitter_period_s, "jitter_period_s", true);
  require_finite(settling_velocity_row_nm_per_s, "settling_velocity_row_nm_per_s", false);
  require_finite(settling_velocity_col_nm_per_s, "settling_velocity_col_nm_per_s", false);
  require_finite(settling_tau_s, "settling_tau_s", true);
  require_finite(jumps_per_s, "jumps_per_s", true);
  require_finite(jump_nm, "jump_nm", true);
  if ((settling_velocity_row_nm_per_s != 0.0 || settling_velocity_col_nm_per_s != 0.0) &&
      settling_tau_s == 0.0)
    throw std::invalid_argument(
        "DriftModel: settling_tau_s = 0 with a settling velocity set; expected a time constant > 0 s");
}

std::pair<double, double> DriftModel::velocity_nm_per_s(double t_s) const {
  double row = velocity_row_nm_per_s, col = velocity_col_nm_per_s;
  if (has_settling()) {
    const double f = std::exp(-t_s / settling_tau_s);
    row += settling_velocity_row_nm_per_s * f;
    col += settling_velocity_col_nm_per_s * f;
  }
  return {row, col};
}

std::vector<std::string> drift_preset_names() { return {"off", "settled", "after-stage-move"}; }

DriftModel drift_preset(std::string_view name, std::uint64_t seed) {
  // Direction from the seed: one splitmix64 output of the seed mixed with a fixed tag, so that
  // the direction does not coincide with any component stream's first draw.
  std::uint64_t state = seed ^ 0x6472696674707265ull;  // "driftpre"
  const double theta = 2.0 * std::numbers::pi *
                       static_cast<double>(random::splitmix64(state) >> 11) * 0x1.0p-53;
  const double ur = std::cos(theta), uc = std::sin(theta);
  constexpr double per_min = 1.0 / 60.0;
  DriftModel m;
  if (name == "off") return m;
  if (name == "settled") {
    m.velocity_row_nm_per_s = 0.7 * per_min * ur;
    m.velocity_col_nm_per_s = 0.7 * per_min * uc;
    m.random_walk_nm_per_sqrt_s = 0.01;
    return m;
  }
  if (name == "after-stage-move") {
    m.velocity_row_nm_per_s = 0.7 * per_min * ur;
    m.velocity_col_nm_per_s = 0.7 * per_min * uc;
    m.settling_velocity_row_nm_per_s = 4.3 * per_min * ur;
    m.settling_velocity_col_nm_per_s = 4.3 * per_min * uc;
    m.settling_tau_s = 600.0;
    m.random_walk_nm_per_sqrt_s = 0.02;
    m.jumps_per_s = 1.0 / 900.0;
    m.jump_nm = 0.5;
    return m;
  }
  std::string names;
  for (const auto& n : drift_preset_names()) names += (names.empty() ? "" : ", ") + n;
  throw std::invalid_argument("unknown drift preset '" + std::string(name) + "'; valid presets: " +
                              names);
}

double poisson(Rng& rng, double lambda) {
  return random::poisson([&rng] { return uniform01(rng); }, lambda);
}

void apply_noise(const NoiseModel& noise, Rng& rng, std::span<double> values) {
  apply_noise_impl(noise, rng, values);
}
void apply_noise(const NoiseModel& noise, Rng& rng, std::span<float> values) {
  apply_noise_impl(noise, rng, values);
}

DriftProcess::DriftProcess(DriftModel model, Rng rng) : model_(model), rng_(std::move(rng)) {
  model_.validate();
  // Jitter phases drawn once so that the jitter is not synchronised with the start of the run.
  phase_row_ = 2.0 * std::numbers::pi * uniform01(rng_);
  phase_col_ = 2.0 * std::numbers::pi * uniform01(rng_);
  if (model_.has_jumps()) {
    jump_rng_ = Rng(rng_());
    next_jump_t_s_ = exponential_interval();
  }
}

double DriftProcess::exponential_interval() {
  // Exp(rate) by inversion; 1 − u ∈ (0, 1] so the logarithm is finite.
  return -std::log1p(-uniform01(jump_rng_)) / model_.jumps_per_s;
}

std::pair<double, double> DriftProcess::displacement_nm(double t_s) {
  if (!std::isfinite(t_s) || t_s < last_t_s_)
    throw std::invalid_argument("DriftProcess: sample time " + std::to_string(t_s) +
                                " s is before the previous sample at " + std::to_string(last_t_s_) +
                                " s; drift must be sampled forward in time");
  const double D = model_.random_walk_nm_per_sqrt_s;
  if (D > 0.0 && t_s > last_t_s_) {
    // Wiener increment over (last, t]: independent Normal(0, D²·Δt) per axis.
    random::Normal step(0.0, D * std::sqrt(t_s - last_t_s_));
    walk_row_nm_ += step(rng_);
    walk_col_nm_ += step(rng_);
  }
  if (model_.has_jumps()) {
    // Jumps at the Poisson event times up to t; each an isotropic Gaussian step of rms length
    // jump_nm (Normal(0, jump_nm²/2) per axis, Box–Muller).
    const double sigma = model_.jump_nm / std::numbers::sqrt2;
    const auto u01 = [this] { return uniform01(jump_rng_); };
    while (next_jump_t_s_ <= t_s) {
      jump_row_nm_ += sigma * random::normal_box_muller(u01);
      jump_col_nm_ += sigma * random::normal_box_muller(u01);
      ++jumps_;
      next_jump_t_s_ += exponential_interval();
    }
  }
  last_t_s_ = t_s;
  double row = model_.velocity_row_nm_per_s * t_s + walk_row_nm_;
  double col = model_.velocity_col_nm_per_s * t_s + walk_col_nm_;
  if (model_.has_settling()) {
    // v₀·τ·(1 − e^(−t/τ)); −expm1 keeps precision for t ≪ τ.
    const double g = -model_.settling_tau_s * std::expm1(-t_s / model_.settling_tau_s);
    row += model_.settling_velocity_row_nm_per_s * g;
    col += model_.settling_velocity_col_nm_per_s * g;
  }
  if (model_.has_jumps()) {
    row += jump_row_nm_;
    col += jump_col_nm_;
  }
  if (model_.jitter_amplitude_nm > 0.0 && model_.jitter_period_s > 0.0) {
    const double w = 2.0 * std::numbers::pi * t_s / model_.jitter_period_s;
    row += model_.jitter_amplitude_nm * std::sin(w + phase_row_);
    col += model_.jitter_amplitude_nm * std::sin(w + phase_col_);
  }
  return {row, col};
}

}  // namespace autostem::sim
