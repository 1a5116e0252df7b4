// Acquisition functions: closed forms against Monte Carlo integrals of the Gaussian, spec parsing
// and its errors, seeded Thompson draws, distances, and greedy batches (kriging believer and
// exclusion).
#include <autostem/imaging/acquisition.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <stdexcept>
#include <string>

namespace {

namespace acq = autostem::acquisition;

std::string error_of(const std::string& spec) {
  try {
    acq::parse_acquisition(spec);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

// E[max(Y − t, 0)] and P(Y > t) for Y ~ N(mu, sigma²) by Monte Carlo (2e6 draws).
std::pair<double, double> mc_improvement(double mu, double sigma, double t) {
  std::mt19937_64 rng(7);
  std::normal_distribution<double> n(mu, sigma);
  double ei = 0, pi = 0;
  const int draws = 2000000;
  for (int i = 0; i < draws; ++i) {
    const double y = n(rng);
    ei += std::max(y - t, 0.0);
    pi += y > t ? 1.0 : 0.0;
  }
  return {ei / draws, pi / draws};
}

TEST(Acquisition, ExpectedImprovementAndPiMatchMonteCarlo) {
  for (auto [mu, sigma, best] : {std::tuple{0.3, 1.2, 0.8}, std::tuple{-2.0, 0.5, -1.0},
                                 std::tuple{5.0, 2.0, 3.0}}) {
    const auto [ei_mc, pi_mc] = mc_improvement(mu, sigma, best + 0.1);
    EXPECT_NEAR(acq::expected_improvement(mu, sigma, best, 0.1), ei_mc, 3e-3 * sigma)
        << mu << " " << sigma;
    EXPECT_NEAR(acq::probability_of_improvement(mu, sigma, best, 0.1), pi_mc, 2e-3);
  }
  // Deterministic limit: no uncertainty.
  EXPECT_DOUBLE_EQ(acq::expected_improvement(2.0, 0.0, 1.5), 0.5);
  EXPECT_DOUBLE_EQ(acq::expected_improvement(1.0, 0.0, 1.5), 0.0);
  EXPECT_DOUBLE_EQ(acq::probability_of_improvement(2.0, 0.0, 1.5), 1.0);
  EXPECT_DOUBLE_EQ(acq::upper_confidence_bound(1.0, 0.5, 4.0), 2.0);
}

TEST(Acquisition, ParsesSpecsAndNamesBadOnes) {
  EXPECT_EQ(acq::parse_acquisition("ucb:2.5").kind, acq::Kind::ucb);
  EXPECT_DOUBLE_EQ(acq::parse_acquisition("ucb:2.5").beta, 2.5);
  EXPECT_EQ(acq::parse_acquisition("ei").kind, acq::Kind::ei);
  EXPECT_DOUBLE_EQ(acq::parse_acquisition("pi:0.2").xi, 0.2);
  EXPECT_EQ(acq::parse_acquisition("maxvar").kind, acq::Kind::maxvar);
  EXPECT_EQ(acq::parse_acquisition("thompson").kind, acq::Kind::thompson);
  EXPECT_EQ(acq::parse_acquisition(acq::parse_acquisition("ucb:9").spec()).beta, 9.0);
  EXPECT_NE(error_of("foo").find("is not one of"), std::string::npos);
  EXPECT_NE(error_of("ucb:x").find("BETA 'x' is not a number"), std::string::npos);
  EXPECT_NE(error_of("ucb:-1").find("≥ 0"), std::string::npos);
  EXPECT_NE(error_of("maxvar:1").find("at most 0"), std::string::npos);
  EXPECT_NE(error_of("ei:1:2").find("at most 1"), std::string::npos);
}

TEST(Acquisition, EvaluateRanksAndChecksInput) {
  Eigen::VectorXd mean(3), var(3);
  mean << 1.0, 2.0, 0.0;
  var << 4.0, 0.01, 0.0;
  std::mt19937_64 rng(1);
  const Eigen::VectorXd mv = acq::evaluate(acq::parse_acquisition("maxvar"), mean, var, 2.0, rng);
  EXPECT_EQ(mv[0], 4.0);
  const Eigen::VectorXd ucb = acq::evaluate(acq::parse_acquisition("ucb:1"), mean, var, 2.0, rng);
  EXPECT_DOUBLE_EQ(ucb[0], 3.0);
  EXPECT_DOUBLE_EQ(ucb[1], 2.1);
  // EI favours the uncertain point over the one sitting at the best value.
  const Eigen::VectorXd ei = acq::evaluate(acq::parse_acquisition("ei:0"), mean, var, 2.0, rng);
  EXPECT_GT(ei[0], ei[1]);
  EXPECT_EQ(ei[2], 0.0);
  Eigen::VectorXd bad = var;
  bad[1] = std::nan("");
  EXPECT_THROW(acq::evaluate(acq::Spec{}, mean, bad, 0.0, rng), std::invalid_argument);
  EXPECT_THROW(acq::evaluate(acq::Spec{}, mean, Eigen::VectorXd(2), 0.0, rng),
               std::invalid_argument);
}

TEST(Acquisition, ThompsonIsSeededAndHasThePosteriorMoments) {
  const Eigen::Index n = 200000;
  Eigen::VectorXd mean = Eigen::VectorXd::Constant(n, 3.0), var = Eigen::VectorXd::Constant(n, 0.25);
  std::mt19937_64 a(42), b(42), c(43);
  const auto spec = acq::parse_acquisition("thompson");
  const Eigen::VectorXd da = acq::evaluate(spec, mean, var, 0.0, a);
  EXPECT_EQ(da, acq::evaluate(spec, mean, var, 0.0, b));
  EXPECT_NE(da, acq::evaluate(spec, mean, var, 0.0, c));
  EXPECT_NEAR(da.mean(), 3.0, 0.005);
  EXPECT_NEAR(std::sqrt((da.array() - da.mean()).square().mean()), 0.5, 0.005);
}

TEST(Acquisition, MinDistance) {
  Eigen::MatrixX2d cand(3, 2), meas(2, 2);
  cand << 0, 0, 3, 4, 10, 10;
  meas << 0, 0, 6, 8;
  const Eigen::VectorXd d = acq::min_distance(cand, meas);
  EXPECT_DOUBLE_EQ(d[0], 0.0);
  EXPECT_DOUBLE_EQ(d[1], 5.0);
  EXPECT_DOUBLE_EQ(d[2], std::sqrt(16.0 + 4.0));
  EXPECT_TRUE(std::isinf(acq::min_distance(cand, Eigen::MatrixX2d(0, 2))[0]));
}

// A 1-D row of 20 candidates with a smooth bump of variance around index 5.
struct Row {
  Eigen::VectorXd mean = Eigen::VectorXd::Zero(20), var{20};
  Eigen::MatrixX2d pos{20, 2};
  Row() {
    for (int i = 0; i < 20; ++i) {
      var[i] = std::exp(-0.02 * (i - 5) * (i - 5)) + 0.1 * std::exp(-0.02 * (i - 15) * (i - 15));
      pos(i, 0) = 0;
      pos(i, 1) = i;
    }
  }
};

TEST(Acquisition, BatchWithoutConditionerExcludesNeighbours) {
  Row r;
  std::mt19937_64 rng(0);
  const auto picks = acq::select_batch(acq::parse_acquisition("maxvar"), r.mean, r.var, 0.0, r.pos,
                                       Eigen::MatrixX2d(0, 2), std::vector<char>(20, 1),
                                       {.q = 3, .min_distance_px = 3.0}, rng);
  ASSERT_EQ(picks.size(), 3u);
  EXPECT_EQ(picks[0], 5u);
  for (std::size_t a = 0; a < 3; ++a)
    for (std::size_t b = a + 1; b < 3; ++b)
      EXPECT_GT(std::abs(double(picks[a]) - double(picks[b])), 3.0);
}

TEST(Acquisition, KrigingBelieverMovesToTheOtherBump) {
  Row r;
  std::mt19937_64 rng(0);
  // A conditioner that, like a GP with a long lengthscale, wipes the variance within 8 px.
  auto cond = [&](std::size_t k, Eigen::VectorXd& v) {
    for (Eigen::Index i = 0; i < v.size(); ++i)
      if (std::abs(double(i) - double(k)) < 8) v[i] *= 0.01;
  };
  std::vector<char> avail(20, 1);
  avail[5] = 0;  // already in flight
  const auto picks = acq::select_batch(acq::parse_acquisition("maxvar"), r.mean, r.var, 0.0, r.pos,
                                       Eigen::MatrixX2d(0, 2), avail, {.q = 2}, rng, cond);
  ASSERT_EQ(picks.size(), 2u);
  EXPECT_TRUE(picks[0] == 4u || picks[0] == 6u);
  // The second pick leaves the wiped zone: the variance maximiser outside it (index 14, where
  // the tail of the first bump adds to the second).
  EXPECT_EQ(picks[1], picks[0] + 8);
  // Fewer available than asked.
  std::vector<char> one(20, 0);
  one[7] = 1;
  EXPECT_EQ(acq::select_batch(acq::Spec{}, r.mean, r.var, 0.0, r.pos, Eigen::MatrixX2d(0, 2), one,
                              {.q = 4}, rng, cond),
            std::vector<std::size_t>{7});
  EXPECT_THROW(acq::select_batch(acq::Spec{}, r.mean, r.var, 0.0, r.pos, Eigen::MatrixX2d(0, 2),
                                 std::vector<char>(3, 1), {.q = 1}, rng),
               std::invalid_argument);
}

}  // namespace
