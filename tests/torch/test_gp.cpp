// ExactGP against scikit-learn's GaussianProcessRegressor (numbers from gp_reference.py, fixed
// hyperparameters, optimizer=None), the marginal likelihood's gradient against central finite
// differences, jitter, and the clear errors.
#include <autostem/strategies/dkl.hpp>

#include "gp_reference.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

namespace {

namespace gp = autostem::strategies::gp;
namespace ref = gp_reference;

Eigen::MatrixXd matrix(const std::vector<double>& v, int rows, int cols) {
  return Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(
      v.data(), rows, cols);
}

gp::Hyper ref_hyper() {
  gp::Hyper h;
  h.lengthscale = Eigen::Map<const Eigen::VectorXd>(ref::lengthscale.data(), ref::d);
  h.outputscale = ref::outputscale;
  h.noise = ref::noise;
  return h;
}

void expect_rel(const Eigen::VectorXd& got, const std::vector<double>& want, double rel,
                const char* what) {
  ASSERT_EQ(static_cast<std::size_t>(got.size()), want.size());
  for (std::size_t i = 0; i < want.size(); ++i)
    EXPECT_NEAR(got[static_cast<Eigen::Index>(i)], want[i], rel * std::abs(want[i]))
        << what << "[" << i << "]";
}

class AgainstSklearn : public ::testing::TestWithParam<gp::KernelKind> {};

TEST_P(AgainstSklearn, MeanVarianceAndLikelihoodMatchTo1e6) {
  const gp::KernelKind kind = GetParam();
  gp::ExactGP g;
  g.fit(kind, ref_hyper(), matrix(ref::X, ref::n, ref::d),
        Eigen::Map<const Eigen::VectorXd>(ref::y.data(), ref::n));
  EXPECT_EQ(g.jitter(), 0.0);
  Eigen::VectorXd mean, var;
  g.predict(matrix(ref::Xs, ref::m, ref::d), mean, var, 4);  // batches of 4: 4 + 4 + 1
  const bool rbf = kind == gp::KernelKind::rbf;
  expect_rel(mean, rbf ? ref::rbf_mean : ref::matern52_mean, 1e-6, "mean");
  expect_rel(var, rbf ? ref::rbf_var : ref::matern52_var, 1e-6, "variance");
  const double lml = rbf ? ref::rbf_lml : ref::matern52_lml;
  EXPECT_NEAR(g.log_marginal_likelihood(), lml, 1e-6 * std::abs(lml));
}

INSTANTIATE_TEST_SUITE_P(Kernels, AgainstSklearn,
                         ::testing::Values(gp::KernelKind::rbf, gp::KernelKind::matern52),
                         [](const auto& info) { return std::string(gp::to_string(info.param)); });

class Gradient : public ::testing::TestWithParam<gp::KernelKind> {};

TEST_P(Gradient, MatchesCentralFiniteDifferences) {
  const gp::KernelKind kind = GetParam();
  const Eigen::MatrixXd X = matrix(ref::X, ref::n, ref::d);
  const Eigen::VectorXd y = Eigen::Map<const Eigen::VectorXd>(ref::y.data(), ref::n);
  const gp::Hyper h0 = ref_hyper();
  auto lml = [&](const Eigen::MatrixXd& x, const gp::Hyper& h) {
    gp::ExactGP g;
    g.fit(kind, h, x, y);
    return g.log_marginal_likelihood();
  };
  gp::ExactGP g;
  g.fit(kind, h0, X, y);
  const gp::MllGradient grad = g.gradient();
  const double eps = 1e-6;
  for (Eigen::Index i = 0; i < X.rows(); ++i)
    for (Eigen::Index k = 0; k < X.cols(); ++k) {
      Eigen::MatrixXd a = X, b = X;
      a(i, k) += eps;
      b(i, k) -= eps;
      const double fd = (lml(a, h0) - lml(b, h0)) / (2 * eps);
      EXPECT_NEAR(grad.inputs(i, k), fd, 1e-6 * std::max(1.0, std::abs(fd))) << i << "," << k;
    }
  for (Eigen::Index k = 0; k < 2; ++k) {
    gp::Hyper a = h0, b = h0;
    a.lengthscale[k] += eps;
    b.lengthscale[k] -= eps;
    const double fd = (lml(X, a) - lml(X, b)) / (2 * eps);
    EXPECT_NEAR(grad.lengthscale[k], fd, 1e-6 * std::max(1.0, std::abs(fd)));
  }
  {
    gp::Hyper a = h0, b = h0;
    a.outputscale += eps;
    b.outputscale -= eps;
    const double fd = (lml(X, a) - lml(X, b)) / (2 * eps);
    EXPECT_NEAR(grad.outputscale, fd, 1e-6 * std::max(1.0, std::abs(fd)));
  }
  {
    gp::Hyper a = h0, b = h0;
    a.noise += eps;
    b.noise -= eps;
    const double fd = (lml(X, a) - lml(X, b)) / (2 * eps);
    EXPECT_NEAR(grad.noise, fd, 1e-6 * std::max(1.0, std::abs(fd)));
  }
  // The gradient is not trivially zero.
  EXPECT_GT(grad.inputs.norm(), 1e-2);
}

INSTANTIATE_TEST_SUITE_P(Kernels, Gradient,
                         ::testing::Values(gp::KernelKind::rbf, gp::KernelKind::matern52),
                         [](const auto& info) { return std::string(gp::to_string(info.param)); });

TEST(ExactGP, PosteriorCovarianceDiagonalIsTheVariance) {
  gp::ExactGP g;
  g.fit(gp::KernelKind::rbf, ref_hyper(), matrix(ref::X, ref::n, ref::d),
        Eigen::Map<const Eigen::VectorXd>(ref::y.data(), ref::n));
  const Eigen::MatrixXd Xs = matrix(ref::Xs, ref::m, ref::d);
  Eigen::VectorXd mean, var;
  g.predict(Xs, mean, var);
  for (Eigen::Index c = 0; c < Xs.rows(); ++c)
    EXPECT_NEAR(g.posterior_covariance(Xs, c)[c], var[c], 1e-10);
}

TEST(ExactGP, DuplicatePointsWithoutNoiseNeedJitter) {
  Eigen::MatrixXd X(4, 1);
  X << 0.0, 0.0, 1.0, 1.0;
  Eigen::VectorXd y(4);
  y << 1.0, 1.0, 2.0, 2.0;
  gp::Hyper h;
  h.lengthscale = Eigen::VectorXd::Constant(1, 1.0);
  h.noise = 0.0;
  gp::ExactGP g;
  g.fit(gp::KernelKind::rbf, h, X, y);
  EXPECT_GT(g.jitter(), 0.0);
  Eigen::VectorXd mean, var;
  g.predict(X, mean, var);
  EXPECT_NEAR(mean[0], 1.0, 1e-3);
  EXPECT_NEAR(mean[3], 2.0, 1e-3);
}

TEST(ExactGP, ClearErrors) {
  const Eigen::MatrixXd X = matrix(ref::X, ref::n, ref::d);
  const Eigen::VectorXd y = Eigen::Map<const Eigen::VectorXd>(ref::y.data(), ref::n);
  gp::ExactGP g;
  // An indefinite "kernel" matrix (eigenvalues 3 and −1): no jitter up to 1e-3 helps.
  Eigen::Matrix2d indefinite;
  indefinite << 1.0, 2.0, 2.0, 1.0;
  double jitter = -1;
  try {
    gp::cholesky_with_jitter(indefinite, 0.0, jitter);
    ADD_FAILURE() << "no NotPositiveDefinite";
  } catch (const gp::NotPositiveDefinite& e) {
    EXPECT_NE(std::string(e.what()).find("(2×2) is not positive definite even with jitter"),
              std::string::npos)
        << e.what();
  }
  // A positive semi-definite one (rank 1) is rescued by the smallest jitter.
  gp::cholesky_with_jitter(Eigen::Matrix2d::Ones(), 0.0, jitter);
  EXPECT_DOUBLE_EQ(jitter, 1e-8);
  Eigen::VectorXd ybad = y;
  ybad[3] = std::nan("");
  EXPECT_THROW(g.fit(gp::KernelKind::rbf, ref_hyper(), X, ybad), std::invalid_argument);
  gp::Hyper neg = ref_hyper();
  neg.lengthscale[0] = -1.0;
  EXPECT_THROW(g.fit(gp::KernelKind::rbf, neg, X, y), std::invalid_argument);
  EXPECT_THROW(g.fit(gp::KernelKind::rbf, ref_hyper(), X, y.head(3)), std::invalid_argument);
  EXPECT_THROW(gp::parse_kernel("matern32"), std::invalid_argument);
}

}  // namespace
