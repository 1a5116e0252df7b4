#pragma once
// The one home of autostem's random numbers (docs/design-notes.md, "Random numbers").
//
// Engines: std::mt19937_64 (whose output sequence the C++ standard fixes) or any other 64-bit
// UniformRandomBitGenerator with min() = 0 and max() = 2^64 − 1 (sim::Rng, xoshiro256++).
// Distributions: ours, never std::*_distribution, whose algorithms the standard leaves to each
// library (libstdc++, libc++ and MSVC give different numbers for the same seed). Those marked
// "libstdc++ 12" below reproduce that library's algorithm bit for bit, so that every result the
// project produced with std distributions on GCC 12 stays identical; tests/imaging/test_random.cpp
// checks the equivalence against the std ones for many seeds.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <limits>
#include <numbers>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

namespace autostem::random {

/// splitmix64 (Steele, Lea & Flood, "Fast splittable pseudorandom number generators", OOPSLA
/// 2014; Vigna's reference code prng.di.unimi.it): advances state by the golden-ratio increment
/// and returns the mixed 64-bit value. Used to derive independent seeds from one seed.
constexpr std::uint64_t splitmix64(std::uint64_t& state) noexcept {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

namespace detail {
template <class Engine>
constexpr void require_64bit_engine() {
  static_assert(Engine::min() == 0 && Engine::max() == std::numeric_limits<std::uint64_t>::max(),
                "autostem::random needs a 64-bit engine (min 0, max 2^64-1), e.g. std::mt19937_64");
}

/// High and low 64-bit halves of a·b.
inline std::pair<std::uint64_t, std::uint64_t> mul128(std::uint64_t a, std::uint64_t b) noexcept {
#if defined(__SIZEOF_INT128__)
  __extension__ typedef unsigned __int128 u128;  // __extension__: no -Wpedantic warning
  const u128 p = static_cast<u128>(a) * b;
  return {static_cast<std::uint64_t>(p >> 64), static_cast<std::uint64_t>(p)};
#else
  const std::uint64_t a_lo = a & 0xFFFFFFFFull, a_hi = a >> 32;
  const std::uint64_t b_lo = b & 0xFFFFFFFFull, b_hi = b >> 32;
  const std::uint64_t ll = a_lo * b_lo, lh = a_lo * b_hi, hl = a_hi * b_lo, hh = a_hi * b_hi;
  const std::uint64_t mid = (ll >> 32) + (lh & 0xFFFFFFFFull) + (hl & 0xFFFFFFFFull);
  return {hh + (lh >> 32) + (hl >> 32) + (mid >> 32), (mid << 32) | (ll & 0xFFFFFFFFull)};
#endif
}
}  // namespace detail

/// Uniform on [0, 1) from the top 53 bits of one draw: (x >> 11)·2^-53. Every value is a
/// multiple of 2^-53; never 1. The phantoms' and the simulator's convention.
template <class Engine>
double uniform53(Engine& g) {
  detail::require_64bit_engine<Engine>();
  return static_cast<double>(g() >> 11) * 0x1.0p-53;
}

/// Uniform on [0, 1) as libstdc++ 12's std::generate_canonical<Real, digits> for a 64-bit engine
/// (one draw): Real(x) / 2^64 (x rounded to Real's precision, so 1 is possible and is then
/// replaced by the largest Real below 1). Real = double or float. What std::uniform_real_distribution
/// and std::normal_distribution draw on GCC 12.
template <class Real = double, class Engine>
Real canonical(Engine& g) {
  static_assert(std::is_floating_point_v<Real>);
  detail::require_64bit_engine<Engine>();
  const Real r = static_cast<Real>(g()) / static_cast<Real>(0x1.0p64);
  return r >= Real(1) ? std::nextafter(Real(1), Real(0)) : r;
}

/// Uniform on [a, b) as libstdc++ 12's std::uniform_real_distribution<Real>(a, b):
/// canonical·(b − a) + a. Requires a ≤ b (not checked, as std).
template <class Real, class Engine>
Real uniform_real(Engine& g, Real a, Real b) {
  return canonical<Real>(g) * (b - a) + a;
}

/// Uniform integer in [a, b] (a ≤ b) as libstdc++ 12's std::uniform_int_distribution<uint64>(a, b)
/// with a 64-bit engine: Lemire's nearly divisionless method ("Fast random integer generation in
/// an interval", ACM TOMACS 29 (2019)); the whole 64-bit range takes one draw as is.
/// Throws std::invalid_argument when a > b.
template <class Engine>
std::uint64_t uniform_int(Engine& g, std::uint64_t a, std::uint64_t b) {
  detail::require_64bit_engine<Engine>();
  if (a > b)
    throw std::invalid_argument("random::uniform_int: empty range [" + std::to_string(a) + ", " +
                                std::to_string(b) + "]");
  const std::uint64_t urange = b - a;
  if (urange == std::numeric_limits<std::uint64_t>::max()) return g() + a;
  const std::uint64_t range = urange + 1;
  std::pair<std::uint64_t, std::uint64_t> p = detail::mul128(g(), range);  // (high, low)
  if (p.second < range) {
    const std::uint64_t threshold = (0 - range) % range;
    while (p.second < threshold) p = detail::mul128(g(), range);
  }
  return p.first + a;
}

/// Uniform index in [0, n) (uniform_int(g, 0, n − 1)). Throws std::invalid_argument when n = 0.
template <class Engine>
std::size_t below(Engine& g, std::size_t n) {
  if (n == 0) throw std::invalid_argument("random::below: n must be at least 1");
  return static_cast<std::size_t>(uniform_int(g, 0, static_cast<std::uint64_t>(n) - 1));
}

/// Normal(mean, stddev) variates as libstdc++ 12's std::normal_distribution<double>: Marsaglia's
/// polar method on canonical() draws, each accepted pair giving two values (the second kept for
/// the next call, so one Normal object must live as long as the std one it replaces did).
class Normal {
 public:
  /// stddev > 0 and finite mean (not checked, as std).
  explicit Normal(double mean = 0.0, double stddev = 1.0) : mean_(mean), stddev_(stddev) {}
  template <class Engine>
  double operator()(Engine& g) {
    double z;
    if (saved_available_) {
      saved_available_ = false;
      z = saved_;
    } else {
      double x, y, r2;
      do {
        x = 2.0 * canonical<double>(g) - 1.0;
        y = 2.0 * canonical<double>(g) - 1.0;
        r2 = x * x + y * y;
      } while (r2 > 1.0 || r2 == 0.0);
      const double mult = std::sqrt(-2 * std::log(r2) / r2);
      saved_ = x * mult;
      saved_available_ = true;
      z = y * mult;
    }
    return z * stddev_ + mean_;
  }
  /// Forgets the saved second value (as std::normal_distribution::reset).
  void reset() { saved_available_ = false; }

 private:
  double mean_, stddev_;
  double saved_ = 0.0;
  bool saved_available_ = false;
};

/// Standard normal by Box–Muller from two uniforms of u01 (a callable returning [0, 1)), one value
/// per pair: √(−2 ln u1)·cos(2π u2), u1 redrawn while 0. The phantoms' normal.
template <class U01>
double normal_box_muller(U01&& u01) {
  double u1 = u01();
  while (u1 <= 0.0) u1 = u01();
  const double u2 = u01();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

/// log Γ(x) for x ≥ 1 by the Stirling series with a shift to x ≥ 7 (the routine NumPy's PTRS
/// uses). Used instead of std::lgamma, which writes the global `signgam` and so is not safe when
/// many simulations run on parallel threads.
inline double log_gamma(double x) {
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

/// Poisson(λ) by Knuth's multiplication method (TAOCP vol. 2, §3.4.1): the number of extra
/// uniforms of u01 (callable returning [0, 1)) whose running product stays above e^{−λ}.
/// λ ≤ 0 or NaN gives 0. Cost ∝ λ: for small λ only.
template <class U01>
double poisson_knuth(U01&& u01, double lambda) {
  if (!(lambda > 0.0)) return 0.0;
  const double limit = std::exp(-lambda);
  double prod = u01();
  double k = 0.0;
  while (prod > limit) {
    k += 1.0;
    prod *= u01();
  }
  return k;
}

/// Poisson(λ), λ ≥ 0 finite: Knuth's method below λ = 10, above it PTRS, the transformed
/// rejection method of Hörmann ("The transformed rejection method for generating Poisson random
/// variables", Insurance: Mathematics and Economics 12 (1993) 39–45; constants as published and
/// as in NumPy's random_poisson_ptrs). u01: callable returning uniforms on [0, 1).
/// Throws std::invalid_argument for a negative or non-finite λ.
template <class U01>
double poisson(U01&& u01, double lambda) {
  if (!(lambda >= 0.0) || !std::isfinite(lambda))
    throw std::invalid_argument("poisson: mean " + std::to_string(lambda) +
                                " is not a finite value >= 0");
  if (lambda == 0.0) return 0.0;
  if (lambda < 10.0) return poisson_knuth(u01, lambda);
  const double slam = std::sqrt(lambda);
  const double b = 0.931 + 2.53 * slam;
  const double a = -0.059 + 0.02483 * b;
  const double vr = 0.9277 - 3.6224 / (b - 2.0);
  // The logarithms are needed only when the quick acceptance fails (~10% of draws); computing
  // them lazily halves the cost of a draw in the simulator's hot loop.
  double loglam = 0.0, log_invalpha = 0.0;
  bool have_logs = false;
  for (;;) {
    const double u = u01() - 0.5;
    const double v = u01();
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

/// Random permutation of [first, last) as libstdc++ 12's std::shuffle with a 64-bit engine
/// (Fisher–Yates from the front; while the range is small enough, one draw yields two swap
/// indices, as libstdc++ does). RandomIt: random-access iterator.
template <class RandomIt, class Engine>
void shuffle(RandomIt first, RandomIt last, Engine& g) {
  detail::require_64bit_engine<Engine>();
  if (first == last) return;
  using std::swap;
  const std::uint64_t n = static_cast<std::uint64_t>(last - first);
  RandomIt i = first + 1;
  // libstdc++: pairs when urngrange / n >= n, i.e. n^2 fits in the engine's range.
  if (std::numeric_limits<std::uint64_t>::max() / n >= n) {
    if ((n % 2) == 0) {
      swap(*i, *(first + static_cast<std::ptrdiff_t>(uniform_int(g, 0, 1))));
      ++i;
    }
    while (i != last) {
      const std::uint64_t swap_range = static_cast<std::uint64_t>(i - first) + 1;
      const std::uint64_t x = uniform_int(g, 0, swap_range * (swap_range + 1) - 1);
      swap(*i++, *(first + static_cast<std::ptrdiff_t>(x / (swap_range + 1))));
      swap(*i++, *(first + static_cast<std::ptrdiff_t>(x % (swap_range + 1))));
    }
    return;
  }
  for (; i != last; ++i)
    swap(*i, *(first + static_cast<std::ptrdiff_t>(
                           uniform_int(g, 0, static_cast<std::uint64_t>(i - first)))));
}

}  // namespace autostem::random
