// Image operations against scipy/skimage reference values and closed-form answers.
#include <autostem/imaging/image_ops.hpp>

#include "reference_images.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <stdexcept>

namespace {

using autostem::ImageArray;

TEST(GaussianBlur, MatchesScipyGaussianFilterReflect) {
  // Values printed by tests/imaging/reference/ssim_reference.py (scipy 1.10.1,
  // ndimage.gaussian_filter(..., mode="reflect")).
  const ImageArray t = autostem::testref::pair_truth();
  const ImageArray g = autostem::gaussian_blur(t, 1.5, 3.5);
  EXPECT_NEAR(g(0, 0), 20.324164932466203, 1e-9);
  EXPECT_NEAR(g(20, 17), 131.06971297877797, 1e-9);
  EXPECT_NEAR(autostem::gaussian_blur(t, 2.0)(47, 0), 10.351964101461682, 1e-9);
}

TEST(GaussianBlur, KeepsConstantsAndZeroSigmaIsIdentity) {
  const ImageArray c = ImageArray::Constant(9, 7, 3.25);
  EXPECT_LT((autostem::gaussian_blur(c, 2.5) - c).abs().maxCoeff(), 1e-12);
  const ImageArray t = autostem::testref::pair_truth();
  EXPECT_TRUE((autostem::gaussian_blur(t, 0.0) == t).all());
  EXPECT_THROW(autostem::gaussian_blur(t, -1.0), std::invalid_argument);
  const auto k = autostem::gaussian_kernel(1.5, 3.5);
  EXPECT_EQ(k.size(), 11u);  // scipy radius int(3.5·1.5 + 0.5) = 5
  EXPECT_NEAR(std::accumulate(k.begin(), k.end(), 0.0), 1.0, 1e-15);
}

TEST(Sobel, RampGivesEightTimesTheSlope) {
  // f = 2·row + 3·col: Sobel (un-normalised) gives 8·2 and 8·3 in the interior → 8·√13.
  ImageArray f(12, 10);
  for (int r = 0; r < 12; ++r)
    for (int c = 0; c < 10; ++c) f(r, c) = 2.0 * r + 3.0 * c;
  const ImageArray g = autostem::sobel_magnitude(f);
  for (int r = 1; r < 11; ++r)
    for (int c = 1; c < 9; ++c) EXPECT_NEAR(g(r, c), 8.0 * std::sqrt(13.0), 1e-12);
  EXPECT_DOUBLE_EQ(autostem::sobel_magnitude(ImageArray::Constant(5, 5, 4.0)).maxCoeff(), 0.0);
}

TEST(Otsu, ThresholdOfABimodalImageLiesBetweenTheModes) {
  // Modes 10 ± 3 and 50 ± 3; skimage.filters.threshold_otsu (0.19.3) gives 13.019555407840386
  // (tests/imaging/reference/ssim_reference.py): the first bin of the empty gap.
  const ImageArray b = autostem::testref::bimodal();
  const double t = autostem::otsu_threshold(b);
  EXPECT_GT(t, 13.0);
  EXPECT_LT(t, 47.0);
  EXPECT_NEAR(t, 13.019555407840386, 1e-9);
  EXPECT_EQ((b > t).count(), 40 * 64);  // every pixel of the bright region (cols ≥ 24) is above
  EXPECT_DOUBLE_EQ(autostem::otsu_threshold(ImageArray::Constant(3, 3, 2.0)), 2.0);
  EXPECT_THROW(autostem::otsu_threshold(ImageArray()), std::invalid_argument);
}

TEST(Bilinear, ExactOnAPlaneAndClampedOutside) {
  ImageArray f(6, 8);
  for (int r = 0; r < 6; ++r)
    for (int c = 0; c < 8; ++c) f(r, c) = 1.0 + 0.5 * r - 2.0 * c;
  EXPECT_NEAR(autostem::sample_bilinear(f, 2.25, 3.75), 1.0 + 0.5 * 2.25 - 2.0 * 3.75, 1e-12);
  EXPECT_DOUBLE_EQ(autostem::sample_bilinear(f, 5.0, 7.0), f(5, 7));
  EXPECT_DOUBLE_EQ(autostem::sample_bilinear(f, -3.0, 20.0), f(0, 7));
  const std::vector<autostem::Position> ps{{1.5, 0.5}, {0.0, 0.0}};
  const auto v = autostem::sample_bilinear(f, ps);
  ASSERT_EQ(v.size(), 2u);
  EXPECT_NEAR(v[0], 1.0 + 0.75 - 1.0, 1e-12);
  EXPECT_THROW(autostem::sample_bilinear(f, std::nan(""), 1.0), std::invalid_argument);
}

}  // namespace
