#include <autostem/sim/models.hpp>

#include <cmath>
#include <numbers>
#include <random>
#include <stdexcept>
#include <string>

namespace autostem::sim {

namespace {

// Uniform double in [0, 1) from the top 53 bits.
inline double uniform01(Rng& rng) {
  return static_cast<double>(rng() >> 11) * 0x1.0p-53;
}

void require_finite(double v, const char* field, bool non_negative) {
  if (!std::isfinite(v) || (non_negative && v < 0.0))
    throw std::invalid_argument(std::string("DriftModel: ") + field + " = " + std::to_string(v) +
                                (non_negative ? "; expected a finite value >= 0"
                                              : "; expected a finite value"));
}

// log Γ(x) for x ≥ 1 by the Stirling series with a shift to x ≥ 7 (the routine NumPy's PTRS
// uses). Used instead of std::lgamma, which writes the global `signgam` and so is not safe when
// many simulations run on parallel threads.
double log_gamma(double x) {
  static constexpr double a[10] = {8.333333333333333e-02, -2.777777777777778e-03,
                                   7.936507936507937e-04, -5.952380952380952e-04,
                                   8.417508417508418e-04, -1.917526917526918e-03,
                                   6.410256410256410e-03, -2.955065359477124e-02,
                                   1.796443723688307e-01, -1.39243221690590e+00};
  if (x == 1.0 || x == 2.0) return 0.0;
  const int n = x < 7.0 ? static_cast<int>(7.0 - x) : 0;
  double x0 = x + n;
  const double x2 = 1.0 / (x0 * x0);
  double gl0 = a[9];
  for (int k = 8; k >= 0; --k) gl0 = gl0 * x2 + a[k];
  double gl = gl0 / x0 + 0.5 * std::log(2.0 * std::numbers::pi) + (x0 - 0.5) * std::log(x0) - x0;
  for (int k = 1; k <= n; ++k) {
    gl -= std::log(x0 - 1.0);
    x0 -= 1.0;
  }
  return gl;
}

template <class T>
void apply_noise_impl(const NoiseModel& noise, Rng& rng, std::span<T> values) {
  if (!noise.enabled) {
    for (auto& v : values) v = v > T(0) ? v : T(0);
    return;
  }
  std::normal_distribution<double> readout(0.0, noise.readout_sigma > 0 ? noise.readout_sigma : 1.0);
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
  if (!(lambda >= 0.0) || !std::isfinite(lambda))
    throw std::invalid_argument("poisson: mean " + std::to_string(lambda) +
                                " is not a finite value >= 0");
  if (lambda == 0.0) return 0.0;
  if (lambda < 10.0) {
    // Knuth's multiplication method: count uniforms until their product drops below e^{-λ}.
    const double limit = std::exp(-lambda);
    double prod = uniform01(rng);
    double k = 0.0;
    while (prod > limit) {
      k += 1.0;
      prod *= uniform01(rng);
    }
    return k;
  }
  // PTRS, Hörmann (1993), constants as published (and as in NumPy's random_poisson_ptrs).
  const double slam = std::sqrt(lambda);
  const double b = 0.931 + 2.53 * slam;
  const double a = -0.059 + 0.02483 * b;
  const double vr = 0.9277 - 3.6224 / (b - 2.0);
  // The logarithms are needed only when the quick acceptance fails (~10% of draws); computing
  // them lazily halves the cost of a draw in the simulator's hot loop.
  double loglam = 0.0, log_invalpha = 0.0;
  bool have_logs = false;
  for (;;) {
    const double u = uniform01(rng) - 0.5;
    const double v = uniform01(rng);
    const double us = 0.5 - std::abs(u);
    const double k = std::floor((2.0 * a / us + b) * u + lambda + 0.43);
    if (us >= 0.07 && v <= vr) return k;
    if (k < 0.0 || (us < 0.013 && v > us)) continue;
    if (!have_logs) {
      loglam = std::log(lambda);
      log_invalpha = std::log(1.1239 + 1.1328 / (b - 3.4));
      have_logs = true;
    }
    if (std::log(v) + log_invalpha - std::log(a / (us * us) + b) <=
        -lambda + k * loglam - log_gamma(k + 1.0))
      return k;
  }
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
    std::normal_distribution<double> step(0.0, D * std::sqrt(t_s - last_t_s_));
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
