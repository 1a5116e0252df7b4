// Noise and drift models against theory. Every statistical test uses a fixed seed and a
// tolerance of 5 standard errors of the estimator (two-sided p ≈ 6e-7 for a correct model), so a
// test fails only if the model is wrong, not by chance.
#include <autostem/sim/engine.hpp>
#include <autostem/sim/models.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

using namespace autostem::sim;

namespace {

struct Moments {
  double mean = 0, var = 0;
};

Moments moments(const std::vector<double>& x) {
  double m = 0;
  for (double v : x) m += v;
  m /= static_cast<double>(x.size());
  double s = 0;
  for (double v : x) s += (v - m) * (v - m);
  return {m, s / static_cast<double>(x.size() - 1)};
}

}  // namespace

// Theory: X ~ Poisson(λ) has E[X] = Var[X] = λ. For n samples the sample mean has standard
// error sqrt(λ/n); the sample variance has variance (μ4 − σ⁴(n−3)/(n−1))/n ≈ (λ + 2λ²)/n since
// the Poisson fourth central moment is μ4 = λ(1 + 3λ).
class PoissonMoments : public ::testing::TestWithParam<double> {};

TEST_P(PoissonMoments, MeanAndVarianceMatchTheory) {
  const double lambda = GetParam();
  const int n = 200000;
  auto rng = component_stream(2024, static_cast<std::uint64_t>(lambda * 1000));
  std::vector<double> x(n);
  for (auto& v : x) {
    v = poisson(rng, lambda);
    ASSERT_GE(v, 0.0);
    ASSERT_EQ(v, std::floor(v));
  }
  const Moments m = moments(x);
  const double se_mean = std::sqrt(lambda / n);
  const double se_var = std::sqrt((lambda + 2 * lambda * lambda) / n);
  EXPECT_NEAR(m.mean, lambda, 5 * se_mean) << "λ = " << lambda;
  EXPECT_NEAR(m.var, lambda, 5 * se_var) << "λ = " << lambda;
}

// Both algorithms (multiplication below 10, PTRS from 10) and the switch between them.
INSTANTIATE_TEST_SUITE_P(Lambdas, PoissonMoments,
                         ::testing::Values(0.05, 0.5, 3.0, 9.99, 10.0, 25.0, 400.0, 1.0e5));

TEST(Poisson, SmallMeanProbabilitiesMatchThePmf) {
  // P(X = k) = e^{-λ} λ^k / k!; the empirical frequency of n samples has standard error
  // sqrt(p(1−p)/n).
  const double lambda = 2.5;
  const int n = 200000;
  auto rng = component_stream(7, 7);
  std::vector<int> counts(8, 0);
  for (int i = 0; i < n; ++i) {
    const double k = poisson(rng, lambda);
    if (k < 8) ++counts[static_cast<int>(k)];
  }
  for (int k = 0; k < 8; ++k) {
    const double p = std::exp(-lambda + k * std::log(lambda) - std::lgamma(k + 1.0));
    EXPECT_NEAR(counts[k] / double(n), p, 5 * std::sqrt(p * (1 - p) / n)) << "k = " << k;
  }
}

TEST(Poisson, RejectsInvalidMeans) {
  auto rng = component_stream(1, 1);
  EXPECT_EQ(poisson(rng, 0.0), 0.0);
  EXPECT_THROW(poisson(rng, -1.0), std::invalid_argument);
  EXPECT_THROW(poisson(rng, std::nan("")), std::invalid_argument);
}

TEST(Noise, ReadoutNoiseIsGaussianWithTheGivenSigma) {
  // λ = 0: measured = dark_offset + Normal(0, σ). Sample mean SE = σ/sqrt(n); sample variance
  // SE = σ² sqrt(2/(n−1)).
  NoiseModel nm;
  nm.readout_sigma = 3.0;
  nm.dark_offset = 100.0;
  const int n = 200000;
  std::vector<double> x(n, 0.0);
  auto rng = component_stream(11, 2);
  apply_noise(nm, rng, std::span<double>(x));
  const Moments m = moments(x);
  EXPECT_NEAR(m.mean, 100.0, 5 * 3.0 / std::sqrt(n));
  EXPECT_NEAR(m.var, 9.0, 5 * 9.0 * std::sqrt(2.0 / (n - 1)));
}

TEST(Noise, GainScalesShotNoiseAndReadoutAdds) {
  // measured = g·Poisson(λ) + d + N(0, σ): mean g·λ + d, variance g²λ + σ²; fourth central moment
  // of the sum is g⁴λ(1+3λ) + 6g²λσ² + 3σ⁴, so Var(s²) ≈ (μ4 − v²)/n.
  NoiseModel nm;
  nm.gain = 2.0;
  nm.dark_offset = 5.0;
  nm.readout_sigma = 4.0;
  const double lambda = 50.0, g = 2.0, s = 4.0;
  const int n = 200000;
  std::vector<float> x(n, static_cast<float>(lambda));
  auto rng = component_stream(12, 2);
  apply_noise(nm, rng, std::span<float>(x));
  std::vector<double> xd(x.begin(), x.end());
  const Moments m = moments(xd);
  const double v = g * g * lambda + s * s;
  const double mu4 = std::pow(g, 4) * lambda * (1 + 3 * lambda) + 6 * g * g * lambda * s * s + 3 * std::pow(s, 4);
  EXPECT_NEAR(m.mean, g * lambda + 5.0, 5 * std::sqrt(v / n));
  EXPECT_NEAR(m.var, v, 5 * std::sqrt((mu4 - v * v) / n));
}

TEST(Noise, DisabledReturnsExpectedCountsExactly) {
  NoiseModel nm;
  nm.enabled = false;
  nm.gain = 3;
  nm.dark_offset = 7;
  std::vector<double> x{0.0, 1.25, 1e6, -4.0};
  auto rng = component_stream(1, 2);
  apply_noise(nm, rng, std::span<double>(x));
  EXPECT_EQ(x, (std::vector<double>{0.0, 1.25, 1e6, 0.0}));
}

TEST(Drift, LinearVelocityGivesVTimesT) {
  DriftModel dm;
  dm.velocity_row_nm_per_s = 0.02;
  dm.velocity_col_nm_per_s = -0.05;
  DriftProcess d(dm, component_stream(3, 3));
  for (double t : {0.0, 1.0, 10.0, 3600.0}) {
    const auto [r, c] = d.displacement_nm(t);
    EXPECT_NEAR(r, 0.02 * t, 1e-12);
    EXPECT_NEAR(c, -0.05 * t, 1e-12);
  }
  EXPECT_THROW(d.displacement_nm(1.0), std::invalid_argument);  // backwards in time
}

TEST(Drift, RandomWalkVarianceGrowsLinearlyInTime) {
  // Wiener process: increments over disjoint intervals Δ are independent Normal(0, D²Δ). Over n
  // increments the sample variance has SE D²Δ sqrt(2/(n−1)). Two Δ show Var ∝ t.
  const double D = 0.3;
  DriftModel dm;
  dm.random_walk_nm_per_sqrt_s = D;
  for (double delta : {0.5, 8.0}) {
    DriftProcess d(dm, component_stream(5, static_cast<std::uint64_t>(delta * 10)));
    const int n = 100000;
    std::vector<double> inc_r(n), inc_c(n);
    auto prev = d.displacement_nm(0.0);
    for (int i = 1; i <= n; ++i) {
      const auto cur = d.displacement_nm(i * delta);
      inc_r[i - 1] = cur.first - prev.first;
      inc_c[i - 1] = cur.second - prev.second;
      prev = cur;
    }
    const double v = D * D * delta;
    for (const auto* inc : {&inc_r, &inc_c}) {
      const Moments m = moments(*inc);
      EXPECT_NEAR(m.mean, 0.0, 5 * std::sqrt(v / n));
      EXPECT_NEAR(m.var, v, 5 * v * std::sqrt(2.0 / (n - 1))) << "Δ = " << delta;
    }
  }
}

TEST(Drift, JitterIsPeriodicAndBounded) {
  DriftModel dm;
  dm.jitter_amplitude_nm = 0.4;
  dm.jitter_period_s = 2.0;
  DriftProcess d(dm, component_stream(9, 3));
  std::vector<std::pair<double, double>> first;
  for (int i = 0; i < 20; ++i) first.push_back(d.displacement_nm(i * 0.1));
  double max_abs = 0;
  for (int i = 0; i < 20; ++i) {
    const auto later = d.displacement_nm(2.0 + i * 0.1);
    EXPECT_NEAR(later.first, first[i].first, 1e-9);
    EXPECT_NEAR(later.second, first[i].second, 1e-9);
    max_abs = std::max({max_abs, std::abs(later.first), std::abs(later.second)});
  }
  EXPECT_LE(max_abs, 0.4 + 1e-12);
  EXPECT_GT(max_abs, 0.3);  // 20 samples per period reach near the amplitude
}

TEST(Drift, RejectsNonFiniteParameters) {
  DriftModel dm;
  dm.random_walk_nm_per_sqrt_s = -1;
  EXPECT_THROW(DriftProcess(dm, component_stream(1, 3)), std::invalid_argument);
  dm = {};
  dm.velocity_row_nm_per_s = std::nan("");
  EXPECT_THROW(DriftProcess(dm, component_stream(1, 3)), std::invalid_argument);
}
