// Ground truth from files: spectrum image + survey on one grid (CuZn, MANIFEST.md).
#include <autostem/datasets/ground_truth.hpp>
#include <autostem/datasets/hspy.hpp>

#include <gtest/gtest.h>
#include <test_data.hpp>

#include <cmath>

#include <unistd.h>

namespace ds = autostem::datasets;
namespace fs = std::filesystem;

namespace {

double pearson(const autostem::ImageArray& a, const autostem::ImageArray& b) {
  const double ma = a.mean(), mb = b.mean();
  const double cov = ((a - ma) * (b - mb)).sum();
  return cov / std::sqrt(((a - ma).square().sum()) * ((b - mb).square().sum()));
}

}  // namespace

TEST(GroundTruth, LengthUnits) {
  EXPECT_EQ(ds::length_unit_in_nm("nm"), 1.0);
  EXPECT_EQ(ds::length_unit_in_nm(""), 1.0);
  EXPECT_EQ(ds::length_unit_in_nm("µm"), 1000.0);
  EXPECT_EQ(ds::length_unit_in_nm("um"), 1000.0);
  EXPECT_EQ(ds::length_unit_in_nm("Å"), 0.1);
  EXPECT_EQ(ds::length_unit_in_nm("pm"), 0.001);
  EXPECT_THROW(ds::length_unit_in_nm("eV"), std::invalid_argument);
}

TEST(GroundTruth, CuZnSpectrumImageAndSurvey) {
  fs::path si;
  { AUTOSTEM_REQUIRE_DATA(path, "eels/cuzn_si/CuZn_EELS_mapping_tutorial.hspy"); si = path; }
  fs::path haadf;
  { AUTOSTEM_REQUIRE_DATA(path, "eels/cuzn_si/CuZn_HAADF.hspy"); haadf = path; }
  const autostem::GroundTruth gt = ds::load_ground_truth(si, haadf);
  // MANIFEST: (50, 40, 162), 0.9214 nm/px, E = 700 eV + 8 eV/ch, values 65…19288.
  ASSERT_TRUE(gt.spectrum_image);
  const auto& cube = *gt.spectrum_image;
  EXPECT_EQ(cube.rows(), 50u);
  EXPECT_EQ(cube.cols(), 40u);
  EXPECT_EQ(cube.channels(), 162u);
  EXPECT_DOUBLE_EQ(cube.energy().offset_eV, 700.0);
  EXPECT_DOUBLE_EQ(cube.energy().dispersion_eV, 8.0);
  EXPECT_NEAR(cube.calibration().pixel_size_nm, 0.9214, 5e-5);
  auto [lo, hi] = std::minmax_element(cube.data().begin(), cube.data().end());
  EXPECT_EQ(*lo, 65.0f);
  EXPECT_EQ(*hi, 19288.0f);
  // MANIFEST: HAADF (50, 40) uint16, values 0…2352, same grid and pixel size.
  EXPECT_EQ(gt.rows(), 50u);
  EXPECT_EQ(gt.cols(), 40u);
  EXPECT_EQ(gt.survey.data.minCoeff(), 0.0);
  EXPECT_EQ(gt.survey.data.maxCoeff(), 2352.0);
  EXPECT_NEAR(gt.survey.calibration.pixel_size_nm, 0.9214, 5e-5);
  EXPECT_NE(gt.source.find("CuZn_HAADF.hspy"), std::string::npos);
  // MANIFEST: the HAADF correlates ≈0.75 with the SI's total counts (checked within 0.05).
  EXPECT_NEAR(pearson(gt.survey.data, cube.total_counts()), 0.75, 0.05);
  // beam_current is stored as 0 (unknown) in this file.
  EXPECT_EQ(gt.recorded.probe_current_pA, 0.0);
}

TEST(GroundTruth, SpectrumImageAloneUsesTotalCounts) {
  fs::path si;
  { AUTOSTEM_REQUIRE_DATA(path, "eels/cuzn_si/CuZn_EELS_mapping_tutorial.hspy"); si = path; }
  const autostem::GroundTruth gt = ds::load_ground_truth(si, std::nullopt);
  ASSERT_TRUE(gt.spectrum_image);
  EXPECT_EQ(gt.survey.name, "SI total counts");
  EXPECT_TRUE((gt.survey.data == gt.spectrum_image->total_counts()).all());
  EXPECT_NEAR(gt.survey.calibration.pixel_size_nm, 0.9214, 5e-5);
}

TEST(GroundTruth, SurveyAloneInPicometres) {
  // MANIFEST: atomap ADF (400, 380), 9.326 pm/px (scale 0.009326, no units → nm).
  fs::path adf;
  { AUTOSTEM_REQUIRE_DATA(path, "haadf/atomap_sto/test_ADF_cropped.hdf5"); adf = path; }
  const autostem::GroundTruth gt = ds::load_ground_truth(std::nullopt, adf);
  EXPECT_FALSE(gt.spectrum_image);
  EXPECT_EQ(gt.rows(), 400u);
  EXPECT_EQ(gt.cols(), 380u);
  EXPECT_NEAR(gt.survey.calibration.pixel_size_nm * 1000.0, 9.326, 5e-4);
}

TEST(GroundTruth, DifferentGridsNameBothShapes) {
  fs::path si;
  { AUTOSTEM_REQUIRE_DATA(path, "eels/cuzn_si/CuZn_EELS_mapping_tutorial.hspy"); si = path; }
  fs::path other;
  { AUTOSTEM_REQUIRE_DATA(path, "haadf/atomap_sto/test_ADF_cropped.hdf5"); other = path; }
  try {
    ds::load_ground_truth(si, other);
    ADD_FAILURE() << "expected an exception";
  } catch (const std::invalid_argument& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("(50, 40, 162)"), std::string::npos) << msg;
    EXPECT_NE(msg.find("(400, 380)"), std::string::npos) << msg;
  }
}

TEST(GroundTruth, ConditionsFromMetadataAndUnitConversion) {
  ds::Signal si;
  si.dtype = ds::DType::float32;
  si.axes = {{"y", "µm", 0.0, 0.002, 2, true}, {"x", "µm", 0.0, 0.002, 3, true}, {"E", "keV", 0.1, 0.0005, 4, false}};
  si.bytes.resize(2 * 3 * 4 * 4);
  si.metadata["Acquisition_instrument.TEM.Detector.EELS.exposure"] = "0.25";
  si.metadata["Acquisition_instrument.TEM.beam_current"] = "0.05";  // nA
  si.metadata["Acquisition_instrument.TEM.dwell_time"] = "2e-06";
  const auto gt = ds::ground_truth_from_signals(si, std::nullopt, "synthetic");
  EXPECT_DOUBLE_EQ(gt.recorded.exposure_s, 0.25);
  EXPECT_DOUBLE_EQ(gt.recorded.probe_current_pA, 50.0);
  EXPECT_DOUBLE_EQ(gt.recorded.dwell_s, 2e-6);
  EXPECT_DOUBLE_EQ(gt.spectrum_image->calibration().pixel_size_nm, 2.0);
  EXPECT_DOUBLE_EQ(gt.spectrum_image->energy().offset_eV, 100.0);
  EXPECT_DOUBLE_EQ(gt.spectrum_image->energy().dispersion_eV, 0.5);

  ds::Signal two_d = si;
  two_d.axes.pop_back();
  EXPECT_THROW(ds::ground_truth_from_signals(two_d, std::nullopt, "x"), std::invalid_argument);
  EXPECT_THROW(ds::ground_truth_from_signals(std::nullopt, si, "x"), std::invalid_argument);
  EXPECT_THROW(ds::ground_truth_from_signals(std::nullopt, std::nullopt, "x"), std::invalid_argument);
}

TEST(GroundTruth, MissingFileIsAClearError) {
  const fs::path missing = fs::temp_directory_path() / "autostem_no_such_si.hspy";
  try {
    ds::load_ground_truth(missing, std::nullopt);
    ADD_FAILURE();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(missing.string()), std::string::npos) << e.what();
  }
}
