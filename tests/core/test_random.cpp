// <autostem/core/random.hpp>: the project's own distributions. On libstdc++ (the project's GCC 12
// builds) each one marked "libstdc++ 12" must give, draw for draw, what the std distribution it
// replaced gives, so that every result computed before the switch stays identical; elsewhere the
// std comparisons are skipped (the std algorithms differ there, which is why ours exist).
#include <autostem/core/random.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <numeric>
#include <random>
#include <stdexcept>
#include <vector>

namespace {

using namespace autostem;

#if defined(__GLIBCXX__)
constexpr bool kLibstdcxx = true;
#else
constexpr bool kLibstdcxx = false;
#endif

#define SKIP_UNLESS_LIBSTDCXX() \
  if (!kLibstdcxx) GTEST_SKIP() << "the std algorithms compared here are libstdc++'s"

/// A second 64-bit engine (splitmix64 as a generator), to check that nothing depends on
/// mt19937_64 itself.
struct SplitMixEngine {
  using result_type = std::uint64_t;
  std::uint64_t state;
  static constexpr result_type min() { return 0; }
  static constexpr result_type max() { return ~result_type{0}; }
  result_type operator()() { return random::splitmix64(state); }
};

constexpr int kSeeds = 200;

TEST(Random, Splitmix64MatchesVignasReference) {
  std::uint64_t st = 0;
  EXPECT_EQ(random::splitmix64(st), 0xE220A8397B1DCDAFull);
  EXPECT_EQ(random::splitmix64(st), 0x6E789E6AA1B965F4ull);
  EXPECT_EQ(st, 2 * 0x9E3779B97F4A7C15ull);
}

TEST(Random, Uniform53IsTheTop53Bits) {
  std::mt19937_64 a(5), b(5);
  for (int i = 0; i < 1000; ++i) {
    const double u = random::uniform53(a);
    EXPECT_EQ(u, static_cast<double>(b() >> 11) / 9007199254740992.0);
    EXPECT_GE(u, 0.0);
    EXPECT_LT(u, 1.0);
  }
}

TEST(Random, CanonicalMatchesLibstdcxx) {
  SKIP_UNLESS_LIBSTDCXX();
  for (std::uint64_t seed = 0; seed < kSeeds; ++seed) {
    std::mt19937_64 a(seed), b(seed);
    for (int i = 0; i < 500; ++i) {
      ASSERT_EQ(random::canonical<double>(a), (std::generate_canonical<double, 53>(b))) << seed;
      ASSERT_EQ(random::canonical<float>(a), (std::generate_canonical<float, 24>(b))) << seed;
    }
  }
}

TEST(Random, CanonicalClampsBelowOne) {
  // An engine stuck at 2^64 − 1 rounds to 2^64 in double: 1 must become the largest double < 1.
  struct Max {
    using result_type = std::uint64_t;
    static constexpr result_type min() { return 0; }
    static constexpr result_type max() { return ~result_type{0}; }
    result_type operator()() { return max(); }
  } g;
  EXPECT_EQ(random::canonical<double>(g), std::nextafter(1.0, 0.0));
  EXPECT_EQ(random::canonical<float>(g), std::nextafter(1.0f, 0.0f));
  if (kLibstdcxx) {
    EXPECT_EQ(random::canonical<double>(g), (std::generate_canonical<double, 53>(g)));
  }
}

TEST(Random, UniformRealMatchesLibstdcxx) {
  SKIP_UNLESS_LIBSTDCXX();
  const std::pair<double, double> ranges[] = {{0.0, 1.0}, {-3.5, 2.25}, {1e-9, 1e9}, {7.0, 7.0}};
  for (std::uint64_t seed = 0; seed < kSeeds; ++seed)
    for (const auto& [lo, hi] : ranges) {
      std::mt19937_64 a(seed), b(seed);
      std::uniform_real_distribution<double> d(lo, hi);
      std::uniform_real_distribution<float> f(static_cast<float>(-lo), static_cast<float>(hi));
      for (int i = 0; i < 100; ++i) {
        ASSERT_EQ(random::uniform_real(a, lo, hi), d(b));
        ASSERT_EQ(random::uniform_real(a, static_cast<float>(-lo), static_cast<float>(hi)), f(b));
      }
    }
}

TEST(Random, UniformIntMatchesLibstdcxx) {
  SKIP_UNLESS_LIBSTDCXX();
  const std::uint64_t big = std::uint64_t{1} << 63;
  const std::pair<std::uint64_t, std::uint64_t> ranges[] = {
      {0, 0}, {0, 1}, {0, 2}, {3, 9}, {0, 255}, {17, 65535}, {0, 1000003},
      {5, (std::uint64_t{1} << 32) + 7}, {0, big + 12345}, {100, ~std::uint64_t{0} - 1},
      {0, ~std::uint64_t{0}}};
  for (std::uint64_t seed = 0; seed < kSeeds; ++seed)
    for (const auto& [lo, hi] : ranges) {
      std::mt19937_64 a(seed), b(seed);
      SplitMixEngine c{seed}, e{seed};
      std::uniform_int_distribution<std::size_t> d(lo, hi);
      for (int i = 0; i < 50; ++i) {
        ASSERT_EQ(random::uniform_int(a, lo, hi), d(b)) << lo << ".." << hi << " seed " << seed;
        ASSERT_EQ(random::uniform_int(c, lo, hi), d(e)) << lo << ".." << hi << " seed " << seed;
      }
    }
  // Partial Fisher–Yates as the strategies draw it: the range shrinks every step.
  std::mt19937_64 a(42), b(42);
  for (std::size_t i = 0; i < 5000; ++i) {
    std::uniform_int_distribution<std::size_t> d(i, 9999);
    ASSERT_EQ(random::uniform_int(a, i, 9999), d(b));
  }
}

TEST(Random, UniformIntRejectsAnEmptyRange) {
  std::mt19937_64 g(1);
  EXPECT_THROW(random::uniform_int(g, 5, 4), std::invalid_argument);
  EXPECT_THROW(random::below(g, 0), std::invalid_argument);
  for (int i = 0; i < 1000; ++i) EXPECT_LT(random::below(g, 7), 7u);
}

TEST(Random, NormalMatchesLibstdcxxIncludingTheSavedValue) {
  SKIP_UNLESS_LIBSTDCXX();
  const std::pair<double, double> params[] = {{0.0, 1.0}, {3.0, 0.25}, {-1e3, 40.0}};
  for (std::uint64_t seed = 0; seed < kSeeds; ++seed)
    for (const auto& [mean, sd] : params) {
      std::mt19937_64 a(seed), b(seed);
      SplitMixEngine c{seed}, e{seed};
      random::Normal ours(mean, sd), ours2(mean, sd);
      std::normal_distribution<double> theirs(mean, sd), theirs2(mean, sd);
      for (int i = 0; i < 101; ++i) {  // odd: ends with a saved value pending
        ASSERT_EQ(ours(a), theirs(b)) << seed << " draw " << i;
        ASSERT_EQ(ours2(c), theirs2(e)) << seed << " draw " << i;
      }
      // The engines moved in step too (the same number of uniforms drawn).
      ASSERT_EQ(a(), b());
    }
}

TEST(Random, ShuffleMatchesLibstdcxx) {
  SKIP_UNLESS_LIBSTDCXX();
  for (std::uint64_t seed = 0; seed < 50; ++seed)
    for (std::size_t n : {0u, 1u, 2u, 3u, 4u, 5u, 10u, 11u, 100u, 1001u}) {
      std::vector<int> x(n), y(n);
      std::iota(x.begin(), x.end(), 0);
      y = x;
      std::mt19937_64 a(seed), b(seed);
      random::shuffle(x.begin(), x.end(), a);
      std::shuffle(y.begin(), y.end(), b);
      ASSERT_EQ(x, y) << "n " << n << " seed " << seed;
      ASSERT_EQ(a(), b());
    }
}

TEST(Random, ShuffleIsAPermutation) {
  std::vector<int> x(257);
  std::iota(x.begin(), x.end(), 0);
  std::mt19937_64 g(9);
  random::shuffle(x.begin(), x.end(), g);
  std::vector<int> sorted = x;
  std::sort(sorted.begin(), sorted.end());
  for (int i = 0; i < 257; ++i) EXPECT_EQ(sorted[static_cast<std::size_t>(i)], i);
  EXPECT_NE(x, sorted);
}

TEST(Random, LogGammaAgreesWithLgamma) {
  for (double x : {1.0, 2.0, 3.0, 4.5, 6.99, 7.0, 10.0, 31.0, 1000.0, 1e6})
    EXPECT_NEAR(random::log_gamma(x), std::lgamma(x), 1e-12 * std::max(1.0, std::lgamma(x))) << x;
}

TEST(Random, PoissonHasTheRightMeanAndVariance) {
  std::mt19937_64 g(3);
  auto u = [&g] { return random::uniform53(g); };
  for (double lambda : {0.5, 4.0, 9.9, 10.0, 35.0, 1000.0}) {
    const int n = 40000;
    double s = 0, s2 = 0;
    for (int i = 0; i < n; ++i) {
      const double k = random::poisson(u, lambda);
      ASSERT_EQ(k, std::floor(k));
      ASSERT_GE(k, 0.0);
      s += k;
      s2 += k * k;
    }
    const double mean = s / n, var = s2 / n - mean * mean;
    EXPECT_NEAR(mean, lambda, 5 * std::sqrt(lambda / n)) << lambda;
    EXPECT_NEAR(var / lambda, 1.0, 0.05) << lambda;
  }
  EXPECT_EQ(random::poisson(u, 0.0), 0.0);
  EXPECT_THROW(random::poisson(u, -1.0), std::invalid_argument);
  EXPECT_THROW(random::poisson(u, std::nan("")), std::invalid_argument);
}

TEST(Random, PoissonKnuthCountsUniformsAboveTheLimit) {
  // Running products 0.9, 0.63, 0.315 against e^{-0.5} ≈ 0.6065: two stay above → k = 2.
  const double seq[] = {0.9, 0.7, 0.5};
  int i = 0;
  EXPECT_EQ(random::poisson_knuth([&] { return seq[i++]; }, 0.5), 2.0);
  EXPECT_EQ(i, 3);
  EXPECT_EQ(random::poisson_knuth([] { return 0.5; }, 0.0), 0.0);
}

TEST(Random, BoxMullerRedrawsZero) {
  const double seq[] = {0.0, 0.25, 0.5};
  int i = 0;
  const double z = random::normal_box_muller([&] { return seq[i++]; });
  EXPECT_EQ(i, 3);
  EXPECT_DOUBLE_EQ(z, std::sqrt(-2.0 * std::log(0.25)) * std::cos(std::numbers::pi));
}

}  // namespace
