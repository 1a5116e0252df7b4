// Core value types: shaped measurement signals (spectrum (E), diffraction pattern (ky, kx)),
// 4D-STEM data and ground-truth validation.
#include <autostem/core/ground_truth.hpp>
#include <autostem/core/types.hpp>

#include <gtest/gtest.h>

#include <stdexcept>

namespace autostem {
namespace {

TEST(SignalShape, ElementsDescribeAndKinds) {
  EXPECT_EQ(SignalShape::spectrum(1024).elements(), 1024u);
  EXPECT_EQ(SignalShape::diffraction(256, 128).elements(), 256u * 128u);
  EXPECT_EQ(SignalShape{}.elements(), 0u);
  EXPECT_EQ(SignalShape::diffraction(3, 4).describe(), "diffraction (3, 4)");
  EXPECT_EQ(SignalShape::spectrum(7).describe(), "spectrum (7)");
  for (SignalKind k : {SignalKind::spectrum, SignalKind::diffraction, SignalKind::image})
    EXPECT_EQ(signal_kind_from_string(to_string(k)), k);
  EXPECT_THROW(signal_kind_from_string("eels"), std::invalid_argument);
}

TEST(Measurement, SignalShapeDefaultsToASpectrumAndChecksItsSize) {
  Measurement m;
  m.signal.assign(12, 1.0f);
  EXPECT_EQ(m.signal_shape(), SignalShape::spectrum(12));  // producers that set no shape
  m.shape = SignalShape::diffraction(3, 4);
  EXPECT_EQ(m.signal_shape(), SignalShape::diffraction(3, 4));
  m.shape = SignalShape::diffraction(3, 5);
  try {
    (void)m.signal_shape();
    FAIL() << "a 3×5 pattern with 12 values was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("diffraction (3, 5)"), std::string::npos) << e.what();
  }
}

TEST(FourDStem, LayoutIsScanThenDetectorCOrder) {
  FourDStem d(2, 3, 4, 5);
  EXPECT_EQ(d.data().size(), 2u * 3 * 4 * 5);
  EXPECT_EQ(d.pattern_shape(), SignalShape::diffraction(4, 5));
  // Value at (r, c, ky, kx) sits at ((r·cols + c)·ky + ky_i)·kx + kx_i.
  d.data()[((1 * 3 + 2) * 4 + 3) * 5 + 4] = 7.0f;
  EXPECT_EQ(d.pattern(1, 2)[3 * 5 + 4], 7.0f);
  EXPECT_EQ(d.pattern(0, 0).size(), 20u);
  EXPECT_THROW((void)d.pattern(2, 0), std::out_of_range);
  EXPECT_THROW(FourDStem(2, 3, 0, 5), std::invalid_argument);
  EXPECT_THROW(FourDStem(1u << 20, 1u << 20, 64, 64), std::invalid_argument);  // 2^52 values
  EXPECT_EQ(d.detector_ky.size, 4u);
  EXPECT_EQ(d.detector_kx.name, "kx");
}

GroundTruth survey_only(std::size_t rows, std::size_t cols) {
  GroundTruth gt;
  gt.source = "test";
  gt.survey.data = ImageArray::Zero(static_cast<Eigen::Index>(rows), static_cast<Eigen::Index>(cols));
  return gt;
}

TEST(GroundTruth, FourDDataMustShareTheSurveyGridAndExcludeASpectrumImage) {
  GroundTruth gt = survey_only(4, 6);
  gt.four_d = FourDStem(4, 6, 8, 8);
  EXPECT_NO_THROW(gt.validate());
  gt.four_d = FourDStem(4, 5, 8, 8);
  try {
    gt.validate();
    FAIL() << "a 4×5 scan on a 4×6 survey was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("4×5"), std::string::npos) << e.what();
  }
  gt.four_d = FourDStem(4, 6, 8, 8);
  gt.spectrum_image = SpectrumImage(4, 6, EnergyAxis{0.0, 1.0, 3});
  EXPECT_THROW(gt.validate(), std::invalid_argument);
}

}  // namespace
}  // namespace autostem
