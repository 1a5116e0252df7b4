#pragma once
// The phantoms' random stream (phantoms.cpp, lattice.cpp): portable and deterministic —
// mt19937_64's output sequence is fixed by the standard; the distributions are ours
// (std::*_distribution differ between standard libraries).

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numbers>
#include <random>

namespace autostem::datasets::detail {

class PhantomRng {
 public:
  /// `salt` separates the streams of different phantoms with the same seed.
  PhantomRng(std::uint64_t seed, std::uint64_t salt) : gen_(seed ^ salt) {}
  /// Uniform on [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(gen_() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  /// Standard normal (Box–Muller, one value per two uniforms).
  double normal() {
    double u1 = uniform();
    while (u1 <= 0.0) u1 = uniform();
    const double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
  }
  /// An index in [0, n).
  std::size_t below(std::size_t n) { return static_cast<std::size_t>(uniform() * static_cast<double>(n)); }
  /// Poisson: Knuth's product method below 40, a rounded normal approximation above (the
  /// relative error of the approximation's variance is < 1/λ there).
  double poisson(double lambda) {
    if (!(lambda > 0.0)) return 0.0;
    if (lambda < 40.0) {
      const double l = std::exp(-lambda);
      double p = 1.0;
      int k = 0;
      do {
        ++k;
        p *= uniform();
      } while (p > l);
      return static_cast<double>(k - 1);
    }
    return std::max(0.0, std::round(lambda + std::sqrt(lambda) * normal()));
  }

 private:
  std::mt19937_64 gen_;
};

}  // namespace autostem::datasets::detail
