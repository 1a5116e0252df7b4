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
  last_t_s_ = t_s;
  double row = model_.velocity_row_nm_per_s * t_s + walk_row_nm_;
  double col = model_.velocity_col_nm_per_s * t_s + walk_col_nm_;
  if (model_.jitter_amplitude_nm > 0.0 && model_.jitter_period_s > 0.0) {
    const double w = 2.0 * std::numbers::pi * t_s / model_.jitter_period_s;
    row += model_.jitter_amplitude_nm * std::sin(w + phase_row_);
    col += model_.jitter_amplitude_nm * std::sin(w + phase_col_);
  }
  return {row, col};
}

}  // namespace autostem::sim
