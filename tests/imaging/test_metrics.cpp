// Metrics with known answers, and SSIM / PSNR / NRMSE against skimage reference values.
#include <autostem/imaging/metrics.hpp>

#include "reference_images.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <numbers>
#include <random>
#include <set>
#include <stdexcept>
#include <vector>

namespace {

using autostem::ImageArray;
using autostem::Position;

ImageArray counting(int rows, int cols) {  // value = raster index
  ImageArray a(rows, cols);
  for (int i = 0; i < rows * cols; ++i) a.data()[i] = i;
  return a;
}

TEST(TopFractionMask, KeepsTheLargestValues) {
  const ImageArray t = counting(10, 10);
  const ImageArray m = autostem::top_fraction_mask(t, 0.05);
  EXPECT_EQ((m != 0).count(), 5);
  for (int i = 95; i < 100; ++i) EXPECT_EQ(m.data()[i], 1.0);
  // Ties at the cut are all kept.
  EXPECT_EQ((autostem::top_fraction_mask(ImageArray::Constant(4, 4, 1.0), 0.1) != 0).count(), 16);
  EXPECT_THROW(autostem::top_fraction_mask(t, 0.0), std::invalid_argument);
  EXPECT_THROW(autostem::top_fraction_mask(t, 1.5), std::invalid_argument);
}

TEST(Recall, OfTheMaskItselfIsOne) {
  ImageArray mask = ImageArray::Zero(20, 30);
  mask.block(5, 7, 4, 6) = 1.0;  // 24 pixels
  std::vector<Position> ps;
  for (int r = 5; r < 9; ++r)
    for (int c = 7; c < 13; ++c) ps.push_back({double(r), double(c)});
  const auto curve = autostem::recall_curve(mask, ps);
  ASSERT_EQ(curve.size(), 24u);
  for (std::size_t i = 0; i < curve.size(); ++i) EXPECT_DOUBLE_EQ(curve[i], (i + 1) / 24.0);
  EXPECT_DOUBLE_EQ(autostem::recall(mask, ps), 1.0);
}

TEST(Recall, RoundsPositionsCountsDistinctPixelsAndIgnoresMisses) {
  ImageArray mask = ImageArray::Zero(10, 10);
  mask(2, 3) = mask(2, 4) = mask(7, 7) = mask(0, 0) = 1.0;
  const std::vector<Position> ps{{2.4, 3.4},    // rounds to (2, 3): hit
                                 {1.6, 2.6},    // (2, 3) again: no new pixel
                                 {5.0, 5.0},    // outside the mask
                                 {-3.0, 1.0},   // outside the field
                                 autostem::unknown_position(),
                                 {7.49, 6.5}};  // rounds to (7, 7) (half away from zero)
  const auto curve = autostem::recall_curve(mask, ps);
  const std::vector<double> expected{0.25, 0.25, 0.25, 0.25, 0.25, 0.5};
  EXPECT_EQ(curve, expected);
  // Radius 1: the position (2, 3.5) reaches (2, 3) and (2, 4) (0.5 px away); (0.9, 0.9) reaches
  // (0, 0) at 1.27 px only with radius ≥ 1.28.
  const std::vector<Position> q{{2.0, 3.5}, {0.9, 0.9}};
  EXPECT_DOUBLE_EQ(autostem::recall(mask, q, 1.0), 0.5);
  EXPECT_DOUBLE_EQ(autostem::recall(mask, q, 1.3), 0.75);
  EXPECT_THROW(autostem::recall(ImageArray::Zero(3, 3), q), std::invalid_argument);
  EXPECT_THROW(autostem::recall(mask, q, -1.0), std::invalid_argument);
  EXPECT_DOUBLE_EQ(autostem::recall(mask, {}), 0.0);
}

TEST(SimpleRegret, IsZeroAfterMeasuringTheMaximum) {
  ImageArray t = counting(6, 8);  // max 47 at (5, 7), min 0
  const std::vector<Position> ps{{0.0, 0.0}, {3.0, 2.0}, {9.0, 9.0}, {5.0, 7.0}, {1.0, 1.0}};
  const auto curve = autostem::simple_regret_curve(t, ps);
  const std::vector<double> expected{47.0, 47.0 - 26.0, 47.0 - 26.0, 0.0, 0.0};
  EXPECT_EQ(curve, expected);
}

TEST(Reconstruction, PerfectEstimateGivesNrmseZeroSsimOnePsnrInfinite) {
  const ImageArray t = autostem::testref::pair_truth();
  EXPECT_DOUBLE_EQ(autostem::nrmse(t, t), 0.0);
  EXPECT_DOUBLE_EQ(autostem::ssim(t, t), 1.0);
  EXPECT_EQ(autostem::psnr(t, t), std::numeric_limits<double>::infinity());
}

TEST(Reconstruction, MatchesSkimageOnAReferencePair) {
  // Reference values printed by tests/imaging/reference/ssim_reference.py with Debian's
  // python3-skimage 0.19.3: structural_similarity(truth, estimate, gaussian_weights=True,
  // sigma=1.5, use_sample_covariance=False, data_range=...), peak_signal_noise_ratio(...,
  // data_range=range), normalized_root_mse(..., normalization="min-max").
  const ImageArray t = autostem::testref::pair_truth(), e = autostem::testref::pair_estimate();
  EXPECT_NEAR(t.maxCoeff() - t.minCoeff(), 275.68573104573971, 1e-9);
  EXPECT_NEAR(autostem::ssim(t, e), 0.7813538617570559, 1e-10);
  EXPECT_NEAR(autostem::ssim(t, e, 500.0), 0.81513690348112089, 1e-10);
  EXPECT_NEAR(autostem::psnr(t, e), 25.464129864060077, 1e-9);
  EXPECT_NEAR(autostem::nrmse(t, e), 0.053308137199626245, 1e-12);
  // SSIM is symmetric in its images when the data range is fixed.
  EXPECT_NEAR(autostem::ssim(e, t, 275.68573104573971), 0.7813538617570559, 1e-10);
}

TEST(Reconstruction, ErrorsNameShapes) {
  const ImageArray t = autostem::testref::pair_truth();
  EXPECT_THROW(autostem::ssim(t, ImageArray::Zero(48, 39)), std::invalid_argument);
  EXPECT_THROW(autostem::ssim(ImageArray::Zero(10, 40), ImageArray::Zero(10, 40), 1.0),
               std::invalid_argument);  // smaller than the 11×11 window
  EXPECT_THROW(autostem::nrmse(ImageArray::Constant(5, 5, 1.0), ImageArray::Zero(5, 5)),
               std::invalid_argument);  // constant truth: range 0
}

TEST(InpaintNearest, EveryPixelTakesItsNearestSample) {
  // Brute force check on random distinct sample pixels: the value each pixel receives (the
  // sample's index) must be a sample at the minimum distance (ties may go either way).
  const int rows = 37, cols = 53;
  std::mt19937_64 rng(12345);
  std::uniform_int_distribution<int> ur(0, rows - 1), uc(0, cols - 1);
  std::set<std::pair<int, int>> used;
  std::vector<Position> ps;
  std::vector<double> vs;
  while (ps.size() < 60) {
    const int r = ur(rng), c = uc(rng);
    if (!used.insert({r, c}).second) continue;
    ps.push_back({r + 0.3, c - 0.2});  // rounds to (r, c)
    vs.push_back(double(ps.size() - 1));
  }
  const ImageArray out = autostem::inpaint_nearest(ps, vs, rows, cols);
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) {
      double best = 1e300;
      for (const auto& [sr, sc] : used) best = std::min(best, double((sr - r) * (sr - r) + (sc - c) * (sc - c)));
      const auto k = static_cast<std::size_t>(out(r, c));
      const double kr = std::round(ps[k].row), kc = std::round(ps[k].col);
      EXPECT_EQ((kr - r) * (kr - r) + (kc - c) * (kc - c), best) << r << "," << c;
    }
}

TEST(InpaintNearest, FullSamplingReproducesTheMapAndDuplicatesAverage) {
  const ImageArray t = autostem::testref::pair_truth(12, 13);
  std::vector<Position> ps;
  std::vector<double> vs;
  for (int r = 0; r < 12; ++r)
    for (int c = 0; c < 13; ++c) {
      ps.push_back({double(r), double(c)});
      vs.push_back(t(r, c));
    }
  EXPECT_DOUBLE_EQ(autostem::nrmse(t, autostem::inpaint_nearest(ps, vs, 12, 13)), 0.0);
  const std::vector<Position> two{{1.0, 1.0}, {1.2, 0.9}};
  const std::vector<double> v2{2.0, 4.0};
  EXPECT_TRUE((autostem::inpaint_nearest(two, v2, 3, 3) == 3.0).all());
  const std::vector<Position> outside{{-5.0, 0.0}};
  const std::vector<double> v1{1.0};
  EXPECT_THROW(autostem::inpaint_nearest(outside, v1, 3, 3), std::invalid_argument);
  EXPECT_THROW(autostem::inpaint_nearest(two, v1, 3, 3), std::invalid_argument);
}

TEST(SpectralAngle, KnownAngles) {
  const autostem::EnergyAxis axis{0.0, 1.0, 2};
  autostem::SpectrumImage a(1, 2, axis), b(1, 2, axis);
  a.spectrum(0, 0)[0] = 1.0f;  // (1, 0)
  b.spectrum(0, 0)[0] = 3.0f;  // (3, 0): same direction → 0
  a.spectrum(0, 1)[0] = 1.0f;  // (1, 0)
  b.spectrum(0, 1)[1] = 2.0f;  // (0, 2): orthogonal → π/2
  EXPECT_NEAR(autostem::mean_spectral_angle(a, b), 0.25 * std::numbers::pi, 1e-12);
  EXPECT_DOUBLE_EQ(autostem::mean_spectral_angle(a, a), 0.0);
  autostem::SpectrumImage c(1, 3, axis);
  EXPECT_THROW(autostem::mean_spectral_angle(a, c), std::invalid_argument);
}

TEST(Latency, MedianAndP95MatchNumpyLinear) {
  // numpy.percentile([4, 1, 3, 2], [50, 95]) = [2.5, 3.85].
  const std::vector<double> v{4.0, 1.0, 3.0, 2.0};
  const auto s = autostem::latency_stats(v);
  EXPECT_DOUBLE_EQ(s.median_s, 2.5);
  EXPECT_NEAR(s.p95_s, 3.85, 1e-12);
  EXPECT_DOUBLE_EQ(autostem::latency_stats({}).median_s, 0.0);
  EXPECT_THROW(autostem::percentile(v, 101.0), std::invalid_argument);
}

}  // namespace

// Site recall: three sites of very different sizes (a 1-px dopant, a 2×2 vacancy, a 10×10
// particle); hitting one pixel of a site finds it, so after the particle and the dopant the site
// recall is 2/3 while the pixel recall is still 101/105.
TEST(SiteRecall, CountsConnectedSitesNotPixels) {
  ImageArray mask = ImageArray::Zero(32, 32);
  mask(2, 2) = 1;                            // site A: one pixel
  mask.block(10, 20, 2, 2).setOnes();        // site B: 2×2 (8-connected with its diagonal)
  mask.block(18, 4, 10, 10).setOnes();       // site C: 10×10
  const std::vector<Position> p = {{20.0, 6.0}, {25.0, 10.0}, {2.0, 2.0}, {0.0, 31.0}, {12.4, 22.4}};
  const auto sites = site_recall_curve(mask, p);
  ASSERT_EQ(sites.size(), 5u);
  EXPECT_DOUBLE_EQ(sites[0], 1.0 / 3);
  EXPECT_DOUBLE_EQ(sites[1], 1.0 / 3);  // the same site again
  EXPECT_DOUBLE_EQ(sites[2], 2.0 / 3);
  EXPECT_DOUBLE_EQ(sites[3], 2.0 / 3);  // outside every site
  EXPECT_DOUBLE_EQ(sites[4], 2.0 / 3);  // lands on (12, 22): next to site B, not on it
  EXPECT_DOUBLE_EQ(site_recall_curve(mask, p, 1.0)[4], 2.0 / 3);  // (11, 21) is 1.98 px away
  EXPECT_DOUBLE_EQ(site_recall_curve(mask, p, 2.0)[4], 1.0);
  EXPECT_NEAR(recall_curve(mask, std::span(p).first(3)).back(), 3.0 / 105.0, 1e-12);
  // Diagonal neighbours are one site (8-connectivity).
  ImageArray diag = ImageArray::Zero(8, 8);
  diag(1, 1) = diag(2, 2) = diag(3, 3) = 1;
  EXPECT_DOUBLE_EQ(site_recall_curve(diag, std::vector<Position>{{3.0, 3.0}}).back(), 1.0);
  EXPECT_THROW(site_recall_curve(ImageArray::Zero(4, 4), p), std::invalid_argument);
  EXPECT_THROW(site_recall_curve(ImageArray(), p), std::invalid_argument);
  EXPECT_THROW(site_recall_curve(mask, p, -1.0), std::invalid_argument);
}
