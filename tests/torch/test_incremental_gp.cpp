// The DKL fast path's posterior (incremental_gp.hpp): exact row appends against a fresh exact
// GP, the sparse (VFE) posterior against the exact one where it must agree (inducing inputs that
// span every training input), standardisation after the fact, covariance, bad input.
#include <autostem/strategies/incremental_gp.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace {

using namespace autostem::strategies;

struct Problem {
  Eigen::MatrixXd C;  // (N, 2) candidates
  Eigen::VectorXd f;  // (N,) a smooth function of them
};

Problem problem(Eigen::Index N, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(-2.0, 2.0);
  Problem p;
  p.C.resize(N, 2);
  p.f.resize(N);
  for (Eigen::Index i = 0; i < N; ++i) {
    p.C(i, 0) = u(rng);
    p.C(i, 1) = u(rng);
    p.f[i] = 3.0 + 2.0 * std::sin(p.C(i, 0)) * std::cos(0.7 * p.C(i, 1)) + 0.1 * u(rng);
  }
  return p;
}

gp::Hyper hyper() {
  gp::Hyper h;
  h.lengthscale = Eigen::Vector2d(0.8, 1.1);
  h.outputscale = 1.3;
  h.noise = 0.05;
  return h;
}

/// Exact GP on idx with targets standardised by (m, s): mean and variance at every candidate.
void reference(const Problem& p, const std::vector<std::size_t>& idx, double m, double s,
               Eigen::VectorXd& mean, Eigen::VectorXd& var) {
  Eigen::MatrixXd X(Eigen::Index(idx.size()), 2);
  Eigen::VectorXd y(Eigen::Index(idx.size()));
  for (std::size_t i = 0; i < idx.size(); ++i) {
    X.row(Eigen::Index(i)) = p.C.row(Eigen::Index(idx[i]));
    y[Eigen::Index(i)] = (p.f[Eigen::Index(idx[i])] - m) / s;
  }
  gp::ExactGP g;
  g.fit(gp::KernelKind::rbf, hyper(), X, y);
  g.predict(p.C, mean, var);
}

TEST(IncrementalPosterior, ExactAppendsEqualAFreshFit) {
  const Problem p = problem(700, 1);
  std::vector<std::size_t> idx;
  for (std::size_t i = 0; i < 12; ++i) idx.push_back(i * 7);
  Eigen::VectorXd y0(12);
  for (std::size_t i = 0; i < 12; ++i) y0[Eigen::Index(i)] = p.f[Eigen::Index(idx[i])];
  gp::IncrementalOptions o;
  o.exact_max = 1000;
  auto post = gp::IncrementalPosterior::build(gp::KernelKind::rbf, hyper(), p.C, idx, y0, o);
  EXPECT_FALSE(post.sparse());
  // 90 appends: past the first buffer growth (n + 32) and a second one.
  for (std::size_t k = 100; k < 190; ++k) {
    post.add(k * 3, p.f[Eigen::Index(k * 3)]);
    idx.push_back(k * 3);
  }
  ASSERT_EQ(post.size(), idx.size());
  Eigen::VectorXd all(Eigen::Index(idx.size()));
  for (std::size_t i = 0; i < idx.size(); ++i) all[Eigen::Index(i)] = p.f[Eigen::Index(idx[i])];
  const double m = all.mean(), s = std::sqrt((all.array() - m).square().mean());
  Eigen::VectorXd mean, var;
  reference(p, idx, m, s, mean, var);
  EXPECT_LT((post.mean(m, s) - mean).cwiseAbs().maxCoeff(), 1e-8);
  EXPECT_LT((post.variance() - var).cwiseAbs().maxCoeff(), 1e-8);
  EXPECT_NEAR(post.mean_at(5, m, s), mean[5], 1e-8);
  // Posterior covariance with candidate 40: its own entry is the variance.
  const Eigen::VectorXd cov = post.covariance_with(40);
  EXPECT_NEAR(cov[40], var[40], 1e-8);
  EXPECT_LE(cov.cwiseAbs().maxCoeff(), hyper().outputscale + 1e-9);
  // Memory: the cross terms V (n rounded up to the buffer, N) dominate.
  EXPECT_GE(post.bytes(), std::size_t(8 * 700 * idx.size()));
}

TEST(IncrementalPosterior, SparseWithSpanningInducingInputsIsExact) {
  // 60 distinct training inputs and r = 60 inducing inputs: Z = X, and the VFE posterior is the
  // exact one. Appending values at candidates already in Z keeps it exact (the new inputs lie in
  // the span), so the incremental sparse update is checked against a fresh exact fit.
  const Problem p = problem(500, 2);
  std::vector<std::size_t> idx;
  for (std::size_t i = 0; i < 60; ++i) idx.push_back(i * 8);
  Eigen::VectorXd y0(60);
  for (std::size_t i = 0; i < 60; ++i) y0[Eigen::Index(i)] = p.f[Eigen::Index(idx[i])];
  gp::IncrementalOptions o;
  o.exact_max = 10;
  o.inducing = 60;
  auto post = gp::IncrementalPosterior::build(gp::KernelKind::rbf, hyper(), p.C, idx, y0, o);
  ASSERT_TRUE(post.sparse());
  EXPECT_EQ(post.inducing(), 60u);
  Eigen::VectorXd mean, var;
  {
    const double m = y0.mean(), s = std::sqrt((y0.array() - m).square().mean());
    reference(p, idx, m, s, mean, var);
    EXPECT_LT((post.mean(m, s) - mean).cwiseAbs().maxCoeff(), 1e-5);
    EXPECT_LT((post.variance() - var).cwiseAbs().maxCoeff(), 1e-5);
  }
  for (std::size_t i : {3u, 17u, 17u, 42u}) {  // repeated measurements of training candidates
    post.add(idx[i], p.f[Eigen::Index(idx[i])] + 0.05);
    idx.push_back(idx[i]);
  }
  Eigen::VectorXd all(Eigen::Index(idx.size()));
  for (std::size_t i = 0; i < idx.size(); ++i) all[Eigen::Index(i)] = p.f[Eigen::Index(idx[i])] + (i >= 60 ? 0.05 : 0.0);
  const double m = all.mean(), s = std::sqrt((all.array() - m).square().mean());
  // Reference with the same targets.
  Eigen::MatrixXd X(Eigen::Index(idx.size()), 2);
  Eigen::VectorXd y(Eigen::Index(idx.size()));
  for (std::size_t i = 0; i < idx.size(); ++i) {
    X.row(Eigen::Index(i)) = p.C.row(Eigen::Index(idx[i]));
    y[Eigen::Index(i)] = (all[Eigen::Index(i)] - m) / s;
  }
  gp::ExactGP g;
  g.fit(gp::KernelKind::rbf, hyper(), X, y);
  g.predict(p.C, mean, var);
  EXPECT_LT((post.mean(m, s) - mean).cwiseAbs().maxCoeff(), 1e-5);
  EXPECT_LT((post.variance() - var).cwiseAbs().maxCoeff(), 1e-5);
  const Eigen::VectorXd cov = post.covariance_with(7);
  EXPECT_NEAR(cov[7], var[7], 1e-5);
}

TEST(IncrementalPosterior, SparseApproximatesTheExactPosteriorWithFewInducingInputs) {
  // 400 training points, r = 100: on a smooth function the VFE mean is close to the exact one
  // and its variance is never below the exact variance (VFE only adds uncertainty).
  const Problem p = problem(2000, 3);
  std::vector<std::size_t> idx;
  for (std::size_t i = 0; i < 400; ++i) idx.push_back(i * 5);
  Eigen::VectorXd y(400);
  for (std::size_t i = 0; i < 400; ++i) y[Eigen::Index(i)] = p.f[Eigen::Index(idx[i])];
  gp::IncrementalOptions o;
  o.exact_max = 200;
  o.inducing = 100;
  auto post = gp::IncrementalPosterior::build(gp::KernelKind::rbf, hyper(), p.C, idx, y, o);
  ASSERT_TRUE(post.sparse());
  const double m = y.mean(), s = std::sqrt((y.array() - m).square().mean());
  Eigen::VectorXd mean, var;
  reference(p, idx, m, s, mean, var);
  const Eigen::VectorXd pm = post.mean(m, s);
  const double rmse = std::sqrt((pm - mean).squaredNorm() / double(pm.size()));
  std::cout << "VFE r = 100 vs exact, n = 400: mean RMSE " << rmse << " (standardised), max variance excess "
            << (post.variance() - var).maxCoeff() << "\n";
  EXPECT_LT(rmse, 0.05);
  EXPECT_GE((post.variance() - var).minCoeff(), -1e-6);
}

TEST(IncrementalPosterior, BadInput) {
  const Problem p = problem(50, 4);
  gp::IncrementalOptions o;
  const Eigen::VectorXd y = Eigen::VectorXd::Ones(2);
  EXPECT_THROW(gp::IncrementalPosterior::build(gp::KernelKind::rbf, hyper(), p.C, {}, Eigen::VectorXd(), o),
               std::invalid_argument);
  EXPECT_THROW(gp::IncrementalPosterior::build(gp::KernelKind::rbf, hyper(), p.C, {1, 50}, y, o),
               std::invalid_argument);
  EXPECT_THROW(gp::IncrementalPosterior::build(gp::KernelKind::rbf, hyper(), p.C, {1, 2, 3}, y, o),
               std::invalid_argument);
  auto post = gp::IncrementalPosterior::build(gp::KernelKind::rbf, hyper(), p.C, {1, 2}, y, o);
  EXPECT_THROW(post.add(50, 1.0), std::out_of_range);
  EXPECT_THROW(post.add(3, std::nan("")), std::invalid_argument);
  EXPECT_EQ(post.size(), 2u);
}

}  // namespace
