// `autostem estimate` on the user's own survey (issue 21): the field, pixel size, dwell, exposure
// and probe current come from the file's tags where they are stated (MANIFEST.md facts), else
// from the profile, and the output says which; strategies that plan from the survey are refused
// on a blank field; model strategies are bounded and charged the target computer's compute time.

#include <autostem/core/types.hpp>

#include "test_data.hpp"

#include "cli_json.hpp"
#include "cli_runner.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <string>

namespace {

using Result = autostem::testing::CliResult;
using autostem::testing::last_json;
using autostem::testing::run_cli;

bool contains(const std::string& text, const std::string& piece) { return text.find(piece) != std::string::npos; }

}  // namespace

TEST(CliEstimate, EdgeOnTheCuZnSurveyStatesItsAssumptions) {
  // MANIFEST: CuZn_HAADF.hspy is a (50, 40) HAADF survey at 0.9214 nm/px; its metadata state no
  // dwell and beam_current 0 (unknown), so those come from the profile.
  AUTOSTEM_REQUIRE_DATA(survey, "eels/cuzn_si/CuZn_HAADF.hspy");
  const Result r = run_cli("estimate --survey '" + survey.string() + "' --strategy edge");
  ASSERT_EQ(r.status, 0) << r.out;
  for (const char* piece : {"assumptions", "50x40", "CuZn_HAADF.hspy", "0.9214 nm", "probe current",
                            "30 pA", "survey dwell", "spectrum exposure", "profile rsi2024-remote",
                            "compute", "ETA", "dose at a measured px", "field-mean dose", "dose rate"})
    EXPECT_TRUE(contains(r.out, piece)) << piece << " missing from:\n" << r.out;

  const Result j = run_cli("estimate --survey '" + survey.string() + "' --strategy edge --json");
  ASSERT_EQ(j.status, 0) << j.out;
  const auto doc = last_json(j.out);
  ASSERT_TRUE(doc.is_object()) << j.out;
  EXPECT_GT(doc["measurements"].get<std::size_t>(), 0u) << "edge finds the particles' edges";
  EXPECT_EQ(doc["field"], nlohmann::json({50, 40}));
  const auto& a = doc["assumptions"];
  EXPECT_NEAR(a["pixel_size_nm"]["value"].get<double>(), 0.9214, 5e-5);
  EXPECT_TRUE(contains(a["pixel_size_nm"]["source"].get<std::string>(), "survey file"));
  EXPECT_DOUBLE_EQ(a["probe_current_pA"]["value"].get<double>(), 30.0);  // profile rsi2024-remote
  EXPECT_TRUE(contains(a["probe_current_pA"]["source"].get<std::string>(), "profile rsi2024-remote"));
  EXPECT_DOUBLE_EQ(a["dwell_s"]["value"].get<double>(), 16e-6);
  EXPECT_DOUBLE_EQ(a["exposure_s"]["value"].get<double>(), 0.25);
  EXPECT_EQ(a["profile"], "rsi2024-remote");
  EXPECT_TRUE(a["compute"]["model"].is_string());
  EXPECT_TRUE(a["budget"].is_string());

  // Dose at one pixel: current × time / e over the pixel's area (DESIGN.md §5).
  const double px_A2 = std::pow(a["pixel_size_nm"]["value"].get<double>() * 10.0, 2);
  const double spectrum = 30.0 * 0.25 * autostem::constants::electrons_per_pA_s / px_A2;
  const double survey_px = 30.0 * 16e-6 * autostem::constants::electrons_per_pA_s / px_A2;
  EXPECT_NEAR(doc["spectrum_dose_e_per_A2"].get<double>() / spectrum, 1.0, 1e-6);
  EXPECT_NEAR(doc["survey_dose_e_per_A2"].get<double>() / survey_px, 1.0, 1e-6);
  EXPECT_NEAR(doc["measured_pixel_dose_e_per_A2"].get<double>() / (spectrum + survey_px), 1.0, 1e-6);
  EXPECT_NEAR(doc["probe_dose_rate_e_per_A2_s"].get<double>() / (spectrum / 0.25), 1.0, 1e-6);
  EXPECT_DOUBLE_EQ(doc["field_mean_dose_e_per_A2"].get<double>(), doc["dose_e_per_A2"].get<double>());
  EXPECT_NEAR(doc["field_mean_dose_rate_e_per_A2_s"].get<double>(),
              doc["dose_e_per_A2"].get<double>() / doc["time_s"].get<double>(), 1e-9);
  EXPECT_DOUBLE_EQ(doc["eta_s"].get<double>(), doc["time_s"].get<double>());
}

TEST(CliEstimate, OptionsOverrideTheSurveyAndSaySo) {
  AUTOSTEM_REQUIRE_DATA(survey, "eels/cuzn_si/CuZn_HAADF.hspy");
  const Result r = run_cli("estimate --survey '" + survey.string() +
                           "' --strategy grid --current 50 --dwell 2e-6 --exposure 0.1 --pixel-size 0.5 --json");
  ASSERT_EQ(r.status, 0) << r.out;
  const auto a = last_json(r.out)["assumptions"];
  EXPECT_EQ(a["probe_current_pA"]["source"], "--current");
  EXPECT_DOUBLE_EQ(a["probe_current_pA"]["value"].get<double>(), 50.0);
  EXPECT_EQ(a["dwell_s"]["source"], "--dwell");
  EXPECT_EQ(a["exposure_s"]["source"], "--exposure");
  EXPECT_EQ(a["pixel_size_nm"]["source"], "--pixel-size");
  EXPECT_DOUBLE_EQ(a["pixel_size_nm"]["value"].get<double>(), 0.5);
}

TEST(CliEstimate, ExposureAndPixelSizeComeFromADm4SpectrumImagesTags) {
  // MANIFEST: EELS_SI.dm4 is a 2×2×2048 spectrum image, 1.992 nm/px, dwell 19.95 ms (its
  // EELS.Acquisition.Exposure tag); the estimate plans on its sum over energy.
  AUTOSTEM_REQUIRE_DATA(si, "eels/si_dm4/EELS_SI.dm4");
  const Result r = run_cli("estimate --survey '" + si.string() + "' --strategy grid --json");
  ASSERT_EQ(r.status, 0) << r.out;
  const auto doc = last_json(r.out);
  ASSERT_TRUE(doc.is_object()) << r.out;
  EXPECT_EQ(doc["measurements"].get<std::size_t>(), 4u);
  const auto& a = doc["assumptions"];
  EXPECT_NEAR(a["exposure_s"]["value"].get<double>(), 0.01995, 5e-6);
  EXPECT_TRUE(contains(a["exposure_s"]["source"].get<std::string>(), "EELS.Acquisition.Exposure")) << a.dump();
  EXPECT_NEAR(a["pixel_size_nm"]["value"].get<double>(), 1.992, 5e-4);
  EXPECT_TRUE(contains(a["field_source"].get<std::string>(), "spectrum image")) << a.dump();
  // GMS writes Probe Current (nA) = 0 when it does not know it: the profile's value applies.
  EXPECT_TRUE(contains(a["probe_current_pA"]["source"].get<std::string>(), "profile")) << a.dump();
}

TEST(CliEstimate, DwellComesFromASerFilesEmi) {
  // MANIFEST: 16_STOimage_1.ser, 1024×1024, 10.013 pm/px, 29 µs dwell (DwellTimePath in the .emi).
  AUTOSTEM_REQUIRE_DATA(ser, "haadf/sto_ser/16_STOimage_1.ser");
  const Result r = run_cli("estimate --survey '" + ser.string() + "' --points 10 --json");
  ASSERT_EQ(r.status, 0) << r.out;
  const auto doc = last_json(r.out);
  ASSERT_TRUE(doc.is_object()) << r.out;
  const auto& a = doc["assumptions"];
  EXPECT_NEAR(a["dwell_s"]["value"].get<double>(), 29e-6, 1e-9);
  EXPECT_TRUE(contains(a["dwell_s"]["source"].get<std::string>(), "DwellTimePath")) << a.dump();
  EXPECT_NEAR(a["pixel_size_nm"]["value"].get<double>(), 0.010013, 1e-6);
  EXPECT_EQ(doc["measurements"].get<std::size_t>(), 10u);
}

TEST(CliEstimate, StrategiesThatPlanFromTheSurveyAreRefusedOnABlankField) {
  for (const char* strategy : {"edge", "atoms"}) {
    const Result r = run_cli(std::string("estimate --strategy ") + strategy + " --shape 64x64");
    EXPECT_NE(r.status, 0) << strategy << ": " << r.out;
    EXPECT_TRUE(contains(r.out, std::string("strategy '") + strategy + "'")) << r.out;
    EXPECT_TRUE(contains(r.out, "--survey")) << r.out;
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  }
  // Those that do not (grid, random, cs) still estimate on a blank field.
  for (const char* strategy : {"grid", "random", "cs"}) {
    const Result r = run_cli(std::string("estimate --strategy ") + strategy + " --shape 16x16 --json");
    EXPECT_EQ(r.status, 0) << strategy << ": " << r.out;
    EXPECT_GT(last_json(r.out)["measurements"].get<std::size_t>(), 0u) << strategy;
  }
}

TEST(CliEstimate, HelpAndBehaviourAgreeOnTheField) {
  const Result h = run_cli("estimate --help");
  ASSERT_EQ(h.status, 0);
  EXPECT_FALSE(contains(h.out, "(default 128x128)")) << h.out;
  EXPECT_TRUE(contains(h.out, "--points alone: 128x128")) << h.out;
  EXPECT_TRUE(contains(h.out, "--survey")) << h.out;
  const Result none = run_cli("estimate");
  EXPECT_EQ(none.status, 2) << none.out;
  EXPECT_TRUE(contains(none.out, "--survey FILE, --shape ROWSxCOLS or --points N")) << none.out;
  const Result points = run_cli("estimate --points 5 --json");
  ASSERT_EQ(points.status, 0) << points.out;
  EXPECT_EQ(last_json(points.out)["field"], nlohmann::json({128, 128}));
  EXPECT_TRUE(contains(last_json(points.out)["assumptions"]["field_source"].get<std::string>(), "128x128"));
}

TEST(CliEstimate, ShapeAndSurveyTogetherAreRefused) {
  AUTOSTEM_REQUIRE_DATA(survey, "eels/cuzn_si/CuZn_HAADF.hspy");
  const Result r = run_cli("estimate --survey '" + survey.string() + "' --shape 8x8");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_TRUE(contains(r.out, "--shape")) << r.out;
}

#ifdef AUTOSTEM_TEST_TORCH
TEST(CliEstimate, DklIsBoundedAndChargedTheProfilesComputeTime) {
  // rsi2024-remote's model_step_s = 5 s (seed 002 §V.c); no budget given → 100 spectra.
  AUTOSTEM_REQUIRE_DATA(survey, "eels/cuzn_si/CuZn_HAADF.hspy");
  const std::string base = "estimate --survey '" + survey.string() +
                           "' --strategy dkl --param train_iters=5,init_iters=10 --json";
  const Result r = run_cli(base);
  ASSERT_EQ(r.status, 0) << r.out;
  const auto doc = last_json(r.out);
  ASSERT_TRUE(doc.is_object()) << r.out;
  EXPECT_EQ(doc["measurements"].get<std::size_t>(), 100u);
  const auto& a = doc["assumptions"];
  EXPECT_TRUE(contains(a["budget"].get<std::string>(), "100")) << a.dump();
  EXPECT_TRUE(contains(a["compute"]["source"].get<std::string>(), "model_step_s")) << a.dump();
  EXPECT_TRUE(contains(a["compute"]["model"].get<std::string>(), "fixed: 5 s")) << a.dump();
  const auto decisions = doc["compute_decisions"].get<double>();
  EXPECT_GE(decisions, 101.0);  // begin + one decision per spectrum (batch 1)
  EXPECT_DOUBLE_EQ(doc["compute_s"].get<double>(), 5.0 * decisions);
  EXPECT_GT(doc["time_s"].get<double>(), doc["compute_s"].get<double>());

  const Result fixed = run_cli(base + " --budget-points 12 --compute fixed:2");
  ASSERT_EQ(fixed.status, 0) << fixed.out;
  const auto f = last_json(fixed.out);
  EXPECT_EQ(f["measurements"].get<std::size_t>(), 12u);
  EXPECT_EQ(f["assumptions"]["compute"]["source"], "--compute");
  EXPECT_DOUBLE_EQ(f["compute_s"].get<double>(), 2.0 * f["compute_decisions"].get<double>());
}

TEST(CliEstimate, DklWithoutASurveyOrAComputeFigureIsRefused) {
  const Result blank = run_cli("estimate --strategy dkl --shape 64x64");
  EXPECT_NE(blank.status, 0) << blank.out;
  EXPECT_TRUE(contains(blank.out, "strategy 'dkl'")) << blank.out;
  EXPECT_TRUE(contains(blank.out, "--survey")) << blank.out;
  // gp models (row, col) only: no survey needed, but the ideal profile states no model_step_s.
  const Result ideal = run_cli("estimate --strategy gp --shape 16x16 --profile ideal");
  EXPECT_NE(ideal.status, 0) << ideal.out;
  EXPECT_TRUE(contains(ideal.out, "model_step_s")) << ideal.out;
  EXPECT_TRUE(contains(ideal.out, "--compute fixed:S")) << ideal.out;
}
#endif

// 4D-STEM (issue 19): a 256×256 synchronized scan on the Merlin 12-bit profile is 65 536 frames of
// 1.000 ms = 65.5 s of frames, plus the setup and (rows − 1) line overheads of the profile file;
// every built-in detector is listed with its bytes per pattern and dose per pattern.
TEST(CliEstimate, FourDScanTimeAndDosePerDetectorProfile) {
  const Result r = run_cli("estimate --detector merlin-single-12bit --shape 256x256 --json");
  ASSERT_EQ(r.status, 0) << r.out;
  const auto doc = last_json(r.out);
  ASSERT_TRUE(doc.is_object()) << r.out;
  const auto& m = doc["estimate_4d"].at(0);
  EXPECT_EQ(m["detector"], "merlin-single-12bit");
  EXPECT_EQ(m["patterns"], 65536);
  EXPECT_NEAR(m["frames_s"].get<double>(), 65.536, 1e-9);
  // Overheads from profiles/detectors/merlin-single-12bit.ini: setup 0.1 s + 255 × 0.5 ms.
  EXPECT_NEAR(m["total_s"].get<double>(), 65.536 + 0.1 + 255 * 500e-6, 1e-9);
  EXPECT_DOUBLE_EQ(m["bytes_per_pattern"].get<double>(), 384.0 + 2.0 * 256 * 256);  // a U16 MIB frame
  // 30 pA (profile rsi2024-remote) × 1 ms.
  EXPECT_NEAR(m["electrons_per_pattern"].get<double>(), 30.0 * 1e-3 * autostem::constants::electrons_per_pA_s, 1e-6);

  const Result all = run_cli("estimate --detector all --shape 256x256");
  ASSERT_EQ(all.status, 0) << all.out;
  for (const char* d : {"merlin-single-1bit", "merlin-single-6bit", "merlin-single-24bit",
                        "merlin-quad-12bit", "arina", "empad"})
    EXPECT_TRUE(contains(all.out, d)) << d << " missing from:\n" << all.out;
  const Result q = run_cli("estimate --detector merlin-single-24bit,arina --shape 10x10 --json");
  ASSERT_EQ(q.status, 0) << q.out;
  const auto qd = last_json(q.out);
  EXPECT_NEAR(qd["estimate_4d"][0]["frames_s"].get<double>(), 100 * 2.095e-3, 1e-12);
  EXPECT_NEAR(qd["estimate_4d"][1]["frames_s"].get<double>(), 100 * 199.6e-6, 1e-12);

  const Result point = run_cli("estimate --detector arina --shape 64x64 --mode point --points 100 --json");
  ASSERT_EQ(point.status, 0) << point.out;
  EXPECT_EQ(last_json(point.out)["estimate_4d"][0]["patterns"], 100);

  const Result bad = run_cli("estimate --detector nosuch --shape 8x8");
  EXPECT_NE(bad.status, 0);
  EXPECT_TRUE(contains(bad.out, "merlin-single-12bit")) << bad.out;  // lists the built-in names
}
