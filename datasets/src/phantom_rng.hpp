#pragma once
// The phantoms' random stream (phantoms.cpp, lattice.cpp): portable and deterministic —
// mt19937_64's output sequence is fixed by the standard; the distributions are the project's
// own (<autostem/core/random.hpp>; std::*_distribution differ between standard libraries).

#include <autostem/core/random.hpp>

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
  double uniform() { return random::uniform53(gen_); }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  /// Standard normal (Box–Muller, one value per two uniforms).
  double normal() {
    return random::normal_box_muller([this] { return uniform(); });
  }
  /// An index in [0, n): ⌊uniform()·n⌋ (not random::below; kept so that the phantoms stay the
  /// same).
  std::size_t below(std::size_t n) { return static_cast<std::size_t>(uniform() * static_cast<double>(n)); }
  /// Poisson: Knuth's product method below 40, a rounded normal approximation above (the
  /// relative error of the approximation's variance is < 1/λ there).
  double poisson(double lambda) {
    if (!(lambda > 0.0)) return 0.0;
    if (lambda < 40.0) return random::poisson_knuth([this] { return uniform(); }, lambda);
    return std::max(0.0, std::round(lambda + std::sqrt(lambda) * normal()));
  }

 private:
  std::mt19937_64 gen_;
};

}  // namespace autostem::datasets::detail
