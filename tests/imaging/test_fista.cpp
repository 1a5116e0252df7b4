// Tests of autostem::reconstruction (FFTW): the orthonormal DCT and the MFISTA solver.

#include <autostem/imaging/metrics.hpp>
#include <autostem/imaging/reconstruction.hpp>
#include <autostem/imaging/fista.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace autostem {
namespace {

// Reference: tests/imaging/reference/dct_reference.py (scipy.fft.dctn, norm="ortho").
TEST(Dct, MatchesScipyOrthonormalDctII) {
  const double kDct[3][4] = {
      {77.942286340599495, -42.495637017198703, 6.9282032302755159, -3.0200719366418021},
      {-25.455844122715714, 12.617288119595797, -2.8284271247461872, 0.89668305833592932},
      {0.0, 0.0, 0.0, 0.0},  // scipy: |values| < 2e-15 (rounding)
  };
  ImageArray x(3, 4);
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 4; ++j) x(i, j) = (i + 1) * (j + 2) * (j + 2) - 3 * i * j;
  const ImageArray y = reconstruction::dct2(x);
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 4; ++j) EXPECT_NEAR(y(i, j), kDct[i][j], 1e-12) << i << "," << j;
  EXPECT_LT((reconstruction::idct2(y) - x).abs().maxCoeff(), 1e-12);
}

TEST(Dct, IsOrthonormal) {
  std::mt19937_64 rng(1);
  std::normal_distribution<double> g(0, 1);
  ImageArray x(33, 20);
  for (Eigen::Index i = 0; i < x.size(); ++i) x.data()[i] = g(rng);
  const ImageArray y = reconstruction::dct2(x);
  EXPECT_NEAR(y.matrix().norm(), x.matrix().norm(), 1e-12 * x.matrix().norm());
}

/// An image with only a few low-frequency DCT coefficients (bandlimited and sparse).
ImageArray sparse_dct_image(Eigen::Index rows, Eigen::Index cols, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  ImageArray a = ImageArray::Zero(rows, cols);
  a(0, 0) = 50.0 * std::sqrt(double(rows * cols));
  std::uniform_int_distribution<int> k(0, 11);
  std::normal_distribution<double> g(0, 300);
  for (int n = 0; n < 12; ++n) a(k(rng), k(rng)) += g(rng);
  return reconstruction::idct2(a);
}

struct Samples {
  std::vector<Position> pos;
  std::vector<double> val;
};

Samples random_samples(const ImageArray& img, double fraction, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  Samples s;
  for (Eigen::Index r = 0; r < img.rows(); ++r)
    for (Eigen::Index c = 0; c < img.cols(); ++c)
      if (u(rng) < fraction) {
        s.pos.push_back({double(r), double(c)});
        s.val.push_back(img(r, c));
      }
  return s;
}

// Compressed-sensing recovery (Candès, Romberg & Tao 2006): 12 nonzero DCT coefficients of 4096
// are determined by 25 % random samples; the ℓ1 solution with a small λ is the image up to a
// bias of order λ. λ = 1e-5·λ_max and tolerance 1e-10 leave an error far below 1e-3 of the range.
TEST(Fista, RecoversADctSparseImage) {
  const ImageArray truth = sparse_dct_image(64, 64, 2);
  const Samples s = random_samples(truth, 0.25, 3);
  ReconstructionOptions o;
  o.method = "fista";
  o.noise = "uniform";
  o.fista_lambda = 1e-5;
  o.tolerance = 1e-10;
  o.max_iterations = 5000;
  ReconstructionReport rep;
  const ImageArray out = reconstruct(s.pos, s.val, 64, 64, o, &rep);
  EXPECT_LT(nrmse(truth, out), 1e-3) << rep.iterations << " iterations";
}

// MFISTA keeps F(x_k) non-increasing by construction (Beck & Teboulle 2009, TIP, §V.A).
TEST(Fista, MonotoneObjective) {
  ImageArray truth = sparse_dct_image(48, 40, 5);
  truth -= truth.minCoeff() - 20.0;
  Samples s = random_samples(truth, 0.1, 6);
  std::mt19937_64 rng(7);
  for (double& v : s.val) v = std::poisson_distribution<int>(v)(rng);
  ReconstructionOptions o;
  o.method = "fista";
  o.record_objective = true;
  o.tolerance = 1e-12;
  o.max_iterations = 200;
  ReconstructionReport rep;
  reconstruct(s.pos, s.val, 48, 40, o, &rep);
  ASSERT_EQ(rep.objective.size(), 200u);
  EXPECT_LE(rep.objective.front(), rep.objective_start);
  for (std::size_t i = 1; i < rep.objective.size(); ++i)
    EXPECT_LE(rep.objective[i], rep.objective[i - 1]) << "iteration " << i;
  EXPECT_LT(rep.objective_end, 0.5 * rep.objective_start);
}

TEST(Fista, IsAvailableThroughReconstruct) {
  // fista is one of the imaging library's built-in methods: reconstruct() dispatches to it.
  const std::vector<Position> pos = {{0, 0}, {3, 3}};
  const std::vector<double> val = {1.0, 2.0};
  ReconstructionOptions o;
  o.method = "fista";
  EXPECT_NO_THROW(reconstruct(pos, val, 4, 4, o));
  o.fista_lambda = 0.0;
  EXPECT_THROW(reconstruct(pos, val, 4, 4, o), std::invalid_argument);
}

}  // namespace
}  // namespace autostem
