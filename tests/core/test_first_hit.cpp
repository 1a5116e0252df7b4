// The exact first-hit baseline of uniform random sampling without replacement (core/first_hit.hpp):
// against full enumeration on small fields, against a simulation with the project's own random
// generator, the closed-form mean, the 64×64 nanoparticles case quoted in docs (median 69), and bad
// input.
#include <autostem/core/first_hit.hpp>
#include <autostem/core/random.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <vector>

namespace {

using namespace autostem;

// P(T > t) by enumerating every ordering's first-t prefix: C(N−K, t)/C(N, t) counted directly.
double survival_by_counting(std::size_t N, std::size_t K, std::size_t t) {
  // Number of t-subsets without a target over all t-subsets (the prefix of a uniform permutation
  // is a uniform t-subset).
  std::vector<int> pick(N, 0);
  std::fill(pick.begin(), pick.begin() + long(t), 1);
  std::sort(pick.begin(), pick.end());
  std::size_t all = 0, none = 0;
  do {
    ++all;
    bool hit = false;
    for (std::size_t i = 0; i < K; ++i) hit = hit || pick[i];  // pixels 0…K−1 are the targets
    none += !hit;
  } while (std::next_permutation(pick.begin(), pick.end()));
  return double(none) / double(all);
}

TEST(FirstHit, SurvivalMatchesEnumeration) {
  for (std::size_t N : {1u, 5u, 9u})
    for (std::size_t K = 0; K <= N; ++K)
      for (std::size_t t = 0; t <= N; ++t)
        EXPECT_NEAR(first_hit_survival({N, K}, t), survival_by_counting(N, K, t), 1e-12)
            << "N " << N << " K " << K << " t " << t;
}

TEST(FirstHit, MeanIsClosedForm) {
  // E[T] = Σ_{t≥0} P(T > t) = (N + 1)/(K + 1).
  for (auto [N, K] : {std::pair<std::size_t, std::size_t>{4096, 41}, {100, 1}, {37, 36}}) {
    double mean = 0.0;
    for (std::size_t t = 0; t <= N; ++t) mean += first_hit_survival({N, K}, t);
    EXPECT_NEAR(mean, double(N + 1) / double(K + 1), 1e-9 * double(N));
  }
}

TEST(FirstHit, QuantilesOfTheNanoparticlesField) {
  // 64×64 field, its top 1 % = 41 pixels: the exact median quoted in docs/validation.md.
  const FirstHitField f{4096, 41};
  EXPECT_EQ(first_hit_quantile({&f, 1}, 0.5), 69u);
  EXPECT_EQ(first_hit_quantile({&f, 1}, 0.25), 29u);
  EXPECT_EQ(first_hit_quantile({&f, 1}, 0.75), 136u);
  // Definition: the smallest t with P(T ≤ t) ≥ p.
  const std::size_t m = first_hit_quantile({&f, 1}, 0.5);
  EXPECT_GE(first_hit_cdf({&f, 1}, m), 0.5);
  EXPECT_LT(first_hit_cdf({&f, 1}, m - 1), 0.5);
  EXPECT_EQ(first_hit_quantile({&f, 1}, 1.0), 4096u - 41u + 1u);
}

TEST(FirstHit, AgreesWithSimulatedRandomSampling) {
  // 20,000 shuffles with the project's generator: the empirical median and quartiles within ±2
  // counts of the exact ones, the empirical CDF within 0.015 (≈ 4.5 standard errors).
  const std::vector<FirstHitField> fields{{900, 9}, {900, 12}};  // a mixture of two specimens
  std::mt19937_64 rng(5);
  std::vector<double> first;
  for (int run = 0; run < 20000; ++run) {
    const FirstHitField f = fields[std::size_t(run % 2)];
    std::vector<std::size_t> order(f.pixels);
    std::iota(order.begin(), order.end(), 0);
    for (std::size_t i = f.pixels - 1; i > 0; --i) std::swap(order[i], order[random::below(rng, i + 1)]);
    for (std::size_t i = 0; i < f.pixels; ++i)
      if (order[i] < f.targets) {
        first.push_back(double(i + 1));
        break;
      }
  }
  std::sort(first.begin(), first.end());
  for (double p : {0.25, 0.5, 0.75}) {
    const double emp = first[std::size_t(p * double(first.size()))];
    EXPECT_NEAR(emp, double(first_hit_quantile(fields, p)), 2.0) << p;
  }
  for (std::size_t t : {10u, 50u, 100u, 200u}) {
    const double emp = double(std::upper_bound(first.begin(), first.end(), double(t)) - first.begin()) /
                       double(first.size());
    EXPECT_NEAR(emp, first_hit_cdf(fields, t), 0.015) << t;
  }
}

TEST(FirstHit, NoTargetsAndBadInput) {
  const std::vector<FirstHitField> none{{10, 0}, {10, 0}};
  EXPECT_EQ(first_hit_quantile(none, 0.5), kFirstHitNever);
  const std::vector<FirstHitField> half{{10, 0}, {10, 10}};  // one specimen without targets
  EXPECT_EQ(first_hit_quantile(half, 0.5), 1u);
  EXPECT_EQ(first_hit_quantile(half, 0.75), kFirstHitNever);
  EXPECT_THROW(first_hit_survival({0, 0}, 1), std::invalid_argument);
  EXPECT_THROW(first_hit_survival({5, 6}, 1), std::invalid_argument);
  EXPECT_THROW(first_hit_quantile(half, 0.0), std::invalid_argument);
  EXPECT_THROW(first_hit_quantile(half, 1.5), std::invalid_argument);
  EXPECT_THROW(first_hit_cdf({}, 3), std::invalid_argument);
}

}  // namespace
