// The simulated instrument against its models: signal interpolation and scaling, dose
// bookkeeping, drift, timing of point and si_scan modes, validation, determinism, and the seed
// 002 workflow figures (§IV.b, §V) end to end through the Instrument interface.
#include <autostem/sim/simulated_instrument.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <thread>
#include <vector>

using namespace autostem;
using namespace autostem::sim;

namespace {

constexpr std::size_t kRows = 6, kCols = 8, kChannels = 5;

// Survey value 10·row + col; spectrum channel k at (r, c) = 100 + 10·r + c + 1000·k, recorded at
// 10 pA and 0.1 s per spectrum, 1e-6 s dwell. Pixel 0.5 nm.
GroundTruth make_truth(bool with_si = true, std::size_t rows = kRows, std::size_t cols = kCols) {
  GroundTruth gt;
  gt.source = "test:hand-made";
  gt.survey.name = "HAADF";
  gt.survey.calibration.pixel_size_nm = 0.5;
  gt.survey.data.resize(static_cast<Eigen::Index>(rows), static_cast<Eigen::Index>(cols));
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t c = 0; c < cols; ++c)
      gt.survey.data(static_cast<Eigen::Index>(r), static_cast<Eigen::Index>(c)) = 10.0 * r + c;
  if (with_si) {
    SpectrumImage si(rows, cols, EnergyAxis{10.0, 0.5, kChannels}, gt.survey.calibration);
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t c = 0; c < cols; ++c) {
        auto s = si.spectrum(r, c);
        for (std::size_t k = 0; k < kChannels; ++k) s[k] = static_cast<float>(100 + 10 * r + c + 1000 * k);
      }
    gt.spectrum_image = std::move(si);
  }
  gt.recorded = {10.0, 0.1, 1e-6};
  return gt;
}

SimConfig config(const std::string& profile = "rsi2024-remote", bool noise = false,
                 std::uint64_t seed = 1) {
  SimConfig c = SimConfig::from_profile(TimingProfile::load(profile), seed);
  c.noise.enabled = noise;
  return c;
}

std::vector<Measurement> acquire(SimulatedInstrument& inst, const std::vector<Position>& pos,
                                 PointSettings s = {}, AcquisitionMode mode = AcquisitionMode::point) {
  inst.submit(pos, s, mode);
  std::vector<Measurement> out;
  while (inst.in_flight() > 0)
    for (auto& m : inst.collect(true)) out.push_back(std::move(m));
  return out;
}

}  // namespace

TEST(SimulatedInstrument, DescribesTheGroundTruthField) {
  SimulatedInstrument inst(make_truth(), config());
  const InstrumentInfo info = inst.describe();
  EXPECT_EQ(info.field_rows, kRows);
  EXPECT_EQ(info.field_cols, kCols);
  EXPECT_DOUBLE_EQ(info.calibration.pixel_size_nm, 0.5);
  EXPECT_EQ(info.energy.channels, kChannels);
  EXPECT_DOUBLE_EQ(info.energy.offset_eV, 10.0);
  EXPECT_EQ(info.profile, "rsi2024-remote");
  EXPECT_EQ(info.detectors, std::vector<std::string>{"HAADF"});
  EXPECT_DOUBLE_EQ(info.default_exposure_s, 0.25);
  EXPECT_DOUBLE_EQ(info.max_exposure_s, 10.0);
  SimulatedInstrument no_si(make_truth(false), config());
  EXPECT_EQ(no_si.describe().energy.channels, 1u);
}

TEST(SimulatedInstrument, SignalIsBilinearAndScaledToTheDose) {
  SimulatedInstrument inst(make_truth(), config());
  // Recorded at 10 pA × 0.1 s; simulated 20 pA × 0.5 s → expected counts × 10.
  PointSettings s{0.5, 20.0};
  const auto m = acquire(inst, {{2.25, 3.5}, {0.0, 0.0}, {5.4, 7.45}}, s);
  ASSERT_EQ(m.size(), 3u);
  for (std::size_t k = 0; k < kChannels; ++k) {
    EXPECT_NEAR(m[0].signal[k], 10 * (100 + 10 * 2.25 + 3.5 + 1000.0 * k), 1e-2);
    EXPECT_NEAR(m[1].signal[k], 10 * (100 + 1000.0 * k), 1e-2);
    // Beyond the last pixel centre: clamped to the edge pixel (5, 7).
    EXPECT_NEAR(m[2].signal[k], 10 * (100 + 50 + 7 + 1000.0 * k), 1e-2);
  }
  EXPECT_EQ(m[0].requested, (Position{2.25, 3.5}));
  EXPECT_EQ(m[0].actual, m[0].requested);  // no drift
  EXPECT_EQ(m[1].index, 1u);
}

TEST(SimulatedInstrument, WithoutSpectrumImageTheSignalComesFromTheSurvey) {
  SimulatedInstrument inst(make_truth(false), config());
  // Scale: (10 pA / 10 pA) × (0.5 s / 1e-6 s recorded dwell) = 5e5.
  const auto m = acquire(inst, {{1.5, 2.0}}, PointSettings{0.5, 10.0});
  ASSERT_EQ(m[0].signal.size(), 1u);
  EXPECT_NEAR(m[0].signal[0], 5e5 * (15 + 2), 1.0);
}

TEST(SimulatedInstrument, FourDGroundTruthGivesShapedDiffractionPatterns) {
  // 4D-STEM ground truth: each measurement is the (ky, kx) pattern at the probe, bilinear between
  // scan pixels like spectra, with its shape; describe() says what a measurement is.
  GroundTruth gt = make_truth(false);
  FourDStem d(kRows, kCols, 3, 4, gt.survey.calibration);
  for (std::size_t r = 0; r < kRows; ++r)
    for (std::size_t c = 0; c < kCols; ++c) {
      auto p = d.pattern(r, c);
      for (std::size_t k = 0; k < p.size(); ++k) p[k] = static_cast<float>(10 * r + c + 100 * k);
    }
  gt.four_d = std::move(d);
  gt.recorded = {10.0, 0.1, 1e-6};
  SimulatedInstrument inst(gt, config());
  EXPECT_EQ(inst.describe().signal, SignalShape::diffraction(3, 4));
  const auto ms = acquire(inst, {{2.0, 3.0}, {2.5, 3.0}}, PointSettings{0.1, 10.0});
  ASSERT_EQ(ms.size(), 2u);
  EXPECT_EQ(ms[0].signal_shape(), SignalShape::diffraction(3, 4));
  ASSERT_EQ(ms[0].signal.size(), 12u);
  for (std::size_t k = 0; k < 12; ++k) {
    EXPECT_FLOAT_EQ(ms[0].signal[k], 23.0f + 100.0f * k);  // pixel (2, 3), recorded conditions
    EXPECT_FLOAT_EQ(ms[1].signal[k], 28.0f + 100.0f * k);  // halfway to (3, 3)
  }
}

TEST(SimulatedInstrument, UnknownRecordingConditionsMeanScaleOne) {
  GroundTruth gt = make_truth();
  gt.recorded = {};
  SimulatedInstrument inst(std::move(gt), config());
  const auto m = acquire(inst, {{1, 1}}, PointSettings{2.0, 50.0});
  EXPECT_NEAR(m[0].signal[0], 111, 1e-3);
}

TEST(SimulatedInstrument, NoisySignalHasPoissonStatistics) {
  // Many spectra at one pixel: channel k has λ_k = 10·(111 + 1000k) (×10 dose scale); the sample
  // mean over n has SE sqrt((λ + σ²)/n).
  SimConfig c = config("ideal", true, 99);
  SimulatedInstrument inst(make_truth(), c);
  const int n = 2000;
  std::vector<Position> pos(n, Position{1, 1});
  const auto m = acquire(inst, pos, PointSettings{0.5, 20.0});
  for (std::size_t k = 0; k < kChannels; ++k) {
    const double lambda = 10 * (111 + 1000.0 * k);
    double mean = 0, var = 0;
    for (const auto& x : m) mean += x.signal[k];
    mean /= n;
    for (const auto& x : m) var += (x.signal[k] - mean) * (x.signal[k] - mean);
    var /= n - 1;
    const double v = lambda + c.noise.readout_sigma * c.noise.readout_sigma;
    EXPECT_NEAR(mean, lambda, 5 * std::sqrt(v / n)) << k;
    EXPECT_NEAR(var, v, 5 * std::sqrt((lambda + 2 * lambda * lambda) / n)) << k;
  }
}

TEST(SimulatedInstrument, SurveyIsTheScaledGroundTruthWithItsTimeAndDose) {
  SimulatedInstrument inst(make_truth(), config());
  const Survey s = inst.acquire_survey(SurveySettings{2e-6, 20.0, "HAADF"});
  // (20/10) × (2e-6/1e-6) = 4.
  EXPECT_DOUBLE_EQ(s.image.data(3, 5), 4 * 35.0);
  const TimingProfile& p = inst.config().profile;
  EXPECT_NEAR(s.t_end_s - s.t_start_s, p.connection_s + p.survey_time_s(kRows, kCols, 2e-6), 1e-9);
  EXPECT_DOUBLE_EQ(s.t_start_s, 0.0);
  EXPECT_NEAR(s.dose_e_per_A2, electrons(20.0, 2e-6) / 25.0, 1e-12);  // 0.5 nm px = 25 Å²
  EXPECT_THROW(inst.acquire_survey(SurveySettings{0, 0, "BF"}), std::invalid_argument);
  EXPECT_THROW(inst.acquire_survey(SurveySettings{-1e-6, 0, ""}), std::invalid_argument);
}

TEST(SimulatedInstrument, DoseBookkeepingMatchesCurrentTimesBeamOnTime) {
  SimConfig c = config();
  c.probe_current_pA = 40.0;
  SimulatedInstrument inst(make_truth(), c);
  const double dwell = 5e-6, exposure = 0.3;
  inst.acquire_survey(SurveySettings{dwell, 0, ""});
  const std::vector<Position> pos{{1, 1}, {1, 1}, {4.2, 6.7}, {0, 7}};
  const auto m = acquire(inst, pos, PointSettings{exposure, 0});
  const double expected_e = electrons(40.0, dwell * kRows * kCols + exposure * pos.size());
  EXPECT_NEAR(inst.total_electrons(), expected_e, 1e-9 * expected_e);
  EXPECT_NEAR(expected_e, 40.0 * (dwell * kRows * kCols + exposure * 4) * 6.2415e6, 1e-4 * expected_e);

  const Image dose = *inst.dose_map();
  const double area = 25.0;  // Å² per 0.5 nm pixel
  EXPECT_NEAR(dose.data.sum() * area, expected_e, 1e-9 * expected_e);
  const double survey_dose = electrons(40.0, dwell) / area;
  const double point_dose = electrons(40.0, exposure) / area;
  EXPECT_NEAR(dose.data(1, 1), survey_dose + 2 * point_dose, 1e-9);
  EXPECT_NEAR(dose.data(4, 7), survey_dose + point_dose, 1e-9);  // (4.2, 6.7) rounds to (4, 7)
  EXPECT_NEAR(dose.data(2, 2), survey_dose, 1e-12);
  for (const auto& x : m) EXPECT_NEAR(x.dose_e_per_A2, point_dose, 1e-9);
  const CostEstimate est = inst.estimate_point(PointSettings{exposure, 0}, AcquisitionMode::point);
  EXPECT_NEAR(est.electrons, electrons(40.0, exposure), 1e-9);
  EXPECT_NEAR(est.dose_e_per_A2, point_dose, 1e-9);
}

TEST(SimulatedInstrument, DriftMovesTheProbeByVelocityTimesTime) {
  SimConfig c = config();
  c.drift.velocity_row_nm_per_s = 0.05;
  c.drift.velocity_col_nm_per_s = -0.05;
  SimulatedInstrument inst(make_truth(), c);
  inst.elapse(2.0);  // drift of (0.1, -0.1) px/s stays inside the field over the run
  // 2 pA × 0.5 s = the recorded 10 pA × 0.1 s: expected counts equal the ground truth.
  const auto m = acquire(inst, {{2, 4}, {2, 4}}, PointSettings{0.5, 2.0});
  const TimingProfile& p = c.profile;
  for (const auto& x : m) {
    // The beam lands after the move, settle and read-back (and the one-off setups for the first).
    const double post = p.readout_s + p.spectrum_transfer_s(kChannels) + p.software_overhead_s;
    const double t_beam = x.t_end_s - post - x.exposure_s;
    EXPECT_NEAR(x.actual.row - x.requested.row, 0.05 * t_beam / 0.5, 1e-6);
    EXPECT_NEAR(x.actual.col - x.requested.col, -0.05 * t_beam / 0.5, 1e-6);
  }
  EXPECT_GT(m[1].actual.row, m[0].actual.row);
  // Noise-free signal follows the drifted position.
  EXPECT_NEAR(m[0].signal[0], 100 + 10 * m[0].actual.row + m[0].actual.col, 1e-3);
}

TEST(SimulatedInstrument, PointModeTimingFollowsTheProfile) {
  SimulatedInstrument inst(make_truth(), config());
  const TimingProfile& p = inst.config().profile;
  const auto m = acquire(inst, {{1, 1}, {2, 2}, {3, 3}}, PointSettings{1.0, 0});
  // Isolated (first) acquisition with a 1 s exposure: seed 002 table, 7.02 s.
  EXPECT_NEAR(m[0].t_end_s, 7.02, 0.05 * 7.02);
  EXPECT_NEAR(m[0].t_end_s, p.isolated_point_time_s(1.0, kChannels), 1e-8);
  EXPECT_NEAR(m[1].t_end_s - m[0].t_end_s, p.point_time_s(1.0, kChannels), 1e-8);
  EXPECT_NEAR(m[2].t_end_s - m[1].t_end_s, p.point_time_s(1.0, kChannels), 1e-8);
  EXPECT_DOUBLE_EQ(m[1].t_start_s, m[0].t_end_s);
  EXPECT_NEAR(inst.estimate_point(PointSettings{1.0, 0}, AcquisitionMode::point).time_s,
              p.point_time_s(1.0, kChannels), 1e-12);
  // A new exposure needs the one-off camera prepare again.
  const auto n = acquire(inst, {{1, 1}}, PointSettings{0.5, 0});
  EXPECT_NEAR(n[0].t_end_s - n[0].t_start_s, p.spectrum_setup_s + p.point_time_s(0.5, kChannels), 1e-8);
}

TEST(SimulatedInstrument, SiScanTimingChargesPixelsAndLineFlyback) {
  SimulatedInstrument inst(make_truth(), config());
  const TimingProfile& p = inst.config().profile;
  const std::vector<Position> pos{{0, 0}, {0, 1}, {0, 2}, {1, 0}, {1, 1}};
  const auto m = acquire(inst, pos, PointSettings{0.25, 0}, AcquisitionMode::si_scan);
  ASSERT_EQ(m.size(), 5u);
  EXPECT_NEAR(m[0].t_end_s, p.connection_s + p.camera_activation_s + p.si_setup_s + p.si_pixel_time_s(0.25), 1e-8);
  EXPECT_NEAR(m[1].t_end_s - m[0].t_end_s, p.si_pixel_time_s(0.25), 1e-8);
  EXPECT_NEAR(m[3].t_end_s - m[2].t_end_s, p.si_pixel_time_s(0.25) + p.si_line_flyback_s, 1e-8);
  // si_scan is far cheaper per spectrum than point mode with the remote profile.
  EXPECT_LT(p.si_pixel_time_s(0.25) * 2, p.point_time_s(0.25, kChannels));
  // Switching back to point mode prepares the camera again.
  const auto n = acquire(inst, {{1, 1}}, PointSettings{0.25, 0});
  EXPECT_NEAR(n[0].t_end_s - n[0].t_start_s, p.spectrum_setup_s + p.point_time_s(0.25, kChannels), 1e-8);
}

TEST(SimulatedInstrument, AcquisitionsProgressWhileTheStrategyComputes) {
  SimulatedInstrument inst(make_truth(), config());
  const std::vector<Position> pos{{1, 1}, {2, 2}, {3, 3}};
  inst.submit(pos, {}, AcquisitionMode::point);
  EXPECT_EQ(inst.in_flight(), 3u);
  EXPECT_TRUE(inst.collect(false).empty());  // no time has passed
  EXPECT_EQ(inst.now_s(), 0.0);
  auto first = inst.collect(true);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_DOUBLE_EQ(inst.now_s(), first[0].t_end_s);
  EXPECT_EQ(inst.in_flight(), 2u);
  inst.elapse(100.0);  // compute time: both remaining spectra finish meanwhile
  EXPECT_EQ(inst.in_flight(), 2u);
  const auto rest = inst.collect(false);
  ASSERT_EQ(rest.size(), 2u);
  EXPECT_LT(rest[1].t_end_s, inst.now_s());
  EXPECT_EQ(rest[1].index, 2u);
  EXPECT_EQ(inst.in_flight(), 0u);
  EXPECT_TRUE(inst.collect(true).empty());  // nothing in flight: returns at once
  EXPECT_THROW(inst.elapse(-1), std::invalid_argument);
  EXPECT_THROW(inst.elapse(std::nan("")), std::invalid_argument);
}

TEST(SimulatedInstrument, SurveyWaitsForSpectraInFlight) {
  SimulatedInstrument inst(make_truth(), config());
  inst.submit(std::vector<Position>{{1, 1}}, {}, AcquisitionMode::point);
  const Survey s = inst.acquire_survey({});
  const auto m = inst.collect(false);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_DOUBLE_EQ(s.t_start_s, m[0].t_end_s);
}

TEST(SimulatedInstrument, InvalidPositionsAndSettingsThrowAndQueueNothing) {
  SimulatedInstrument inst(make_truth(), config());
  const double nan = std::nan("");
  for (Position bad : {Position{nan, 1}, Position{1, double(INFINITY)}, Position{-0.51, 1},
                       Position{kRows - 0.5, 1}, Position{1, kCols - 0.5}}) {
    const std::vector<Position> pos{{1, 1}, bad};
    EXPECT_THROW(inst.submit(pos, {}, AcquisitionMode::point), std::invalid_argument);
  }
  try {
    inst.submit(std::vector<Position>{{1, 99}}, {}, AcquisitionMode::point);
  } catch (const std::invalid_argument& e) {
    // The one message format of autostem::check_inside_field (core/field.hpp).
    EXPECT_EQ(std::string(e.what()),
              "SimulatedInstrument::submit: position (row 1, col 99) is outside the field "
              "[-0.5, 5.5) x [-0.5, 7.5)");  // kRows = 6, kCols = 8
  }
  const std::vector<Position> ok{{-0.5, -0.5}, {kRows - 0.51, kCols - 0.51}};
  for (double bad : {-1.0, nan, 10.5, double(INFINITY)}) {
    try {
      inst.submit(ok, PointSettings{bad, 0}, AcquisitionMode::si_scan);
      ADD_FAILURE() << "exposure " << bad << " accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("exposure_s"), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(inst.submit(ok, PointSettings{0.1, -5}, AcquisitionMode::point), std::invalid_argument);
  EXPECT_EQ(inst.in_flight(), 0u);
  inst.submit(ok, {}, AcquisitionMode::point);  // the field's corners are fine
  EXPECT_EQ(inst.in_flight(), 2u);
  GroundTruth bad = make_truth();
  bad.survey.calibration.pixel_size_nm = 0;
  EXPECT_THROW(SimulatedInstrument(bad, config()), std::invalid_argument);
}

TEST(SimulatedInstrument, SameSeedGivesIdenticalRunsAndAnotherSeedDiffers) {
  auto run = [](std::uint64_t seed) {
    SimConfig c = config("rsi2024-remote", true, seed);
    c.drift.random_walk_nm_per_sqrt_s = 0.05;
    SimulatedInstrument inst(make_truth(), c);
    std::vector<float> all;
    const Survey s = inst.acquire_survey({});
    all.insert(all.end(), s.image.data.data(), s.image.data.data() + s.image.data.size());
    for (const auto& m : acquire(inst, {{1, 1}, {2.5, 3.5}, {4, 6}})) {
      all.insert(all.end(), m.signal.begin(), m.signal.end());
      all.push_back(static_cast<float>(m.actual.row));
      all.push_back(static_cast<float>(m.t_end_s));
    }
    return all;
  };
  EXPECT_EQ(run(5), run(5));
  EXPECT_NE(run(5), run(6));
}

TEST(SimulatedInstrument, DamageFadesTheSignalWithTheDoseReceived) {
  // S = S₀·exp(−D/D_c) with D the dose the pixel held before the acquisition (DESIGN.md §5).
  SimConfig c = config();
  c.damage.critical_dose_e_per_A2 = 5e6;
  SimulatedInstrument inst(make_truth(), c);
  const PointSettings s{0.5, 2.0};  // = recorded electrons: S₀ is the ground truth
  const auto m = acquire(inst, {{2, 3}, {2, 3}, {2, 3}, {4, 4}}, s);
  const double d = electrons(2.0, 0.5) / 25.0;  // per spectrum, 0.5 nm pixel
  for (int k = 0; k < 3; ++k)
    EXPECT_NEAR(m[k].signal[1], (1123.0) * std::exp(-k * d / 5e6), 1e-3) << k;
  EXPECT_NEAR(m[3].signal[0], 144.0, 1e-4);  // an undosed pixel is intact
  const Survey sv = inst.acquire_survey({});
  EXPECT_NEAR(sv.image.data(2, 3) / sv.image.data(2, 2), 23.0 / 22.0 * std::exp(-3 * d / 5e6), 1e-9);
  c.damage.critical_dose_e_per_A2 = -1;
  EXPECT_THROW(SimulatedInstrument(make_truth(), c), std::invalid_argument);
}

TEST(SimulatedInstrument, SimulationsRunSideBySideOnThreads) {
  // Each instrument owns its engine and streams: results on parallel threads equal sequential ones.
  auto run = [](std::uint64_t seed) {
    SimConfig c = config("rsi2024-remote", true, seed);
    c.drift.random_walk_nm_per_sqrt_s = 0.02;
    SimulatedInstrument inst(make_truth(), c);
    std::vector<Position> pos;
    for (int i = 0; i < 200; ++i) pos.push_back({double(i % kRows), double(i % kCols)});
    std::vector<float> out;
    for (const auto& m : acquire(inst, pos)) out.insert(out.end(), m.signal.begin(), m.signal.end());
    return out;
  };
  std::vector<std::vector<float>> parallel(4);
  {
    std::vector<std::thread> threads;
    for (std::uint64_t i = 0; i < 4; ++i) threads.emplace_back([&, i] { parallel[i] = run(i + 10); });
    for (auto& t : threads) t.join();
  }
  for (std::uint64_t i = 0; i < 4; ++i) EXPECT_EQ(parallel[i], run(i + 10)) << i;
}

// ---- seed 002 workflow figures, end to end, rsi2024-remote, default exposure ----

TEST(SeedWorkflows, GridSpectrumImagesTakeThirtyMinutesToFourHours) {
  // §IV.b: "30 minutes (80x80 pixels) to 4 hours (256x256 pixels)"; §V.a: 128×128 grid "80
  // minutes". One per-pixel time cannot meet all three (0.281, 0.293, 0.220 s/pixel); the
  // profile's is the minimax fit, each within 15% (docs/models.md §1.4).
  for (auto [n, minutes] : {std::pair{80, 30.0}, std::pair{128, 80.0}, std::pair{256, 240.0}}) {
    SimulatedInstrument inst(make_truth(false, n, n), config());
    std::vector<Position> grid;
    for (int r = 0; r < n; ++r)
      for (int c = 0; c < n; ++c) grid.push_back({double(r), double(c)});
    const auto m = acquire(inst, grid, {}, AcquisitionMode::si_scan);
    ASSERT_EQ(m.size(), grid.size());
    EXPECT_NEAR(inst.now_s() / 60.0, minutes, 0.15 * minutes) << n << "×" << n;
    EXPECT_NEAR(inst.now_s(), inst.config().profile.si_grid_time_s(n, n, 0.25) + inst.config().profile.connection_s, 1e-5);
  }
}

TEST(SeedWorkflows, EdgeWorkflowWith137PointsTakesTwoMinutes) {
  // §V.a: survey (128×128) + 137 points ≈ 2 min.
  SimulatedInstrument inst(make_truth(false, 128, 128), config());
  const Survey s = inst.acquire_survey({});
  EXPECT_NEAR(s.t_end_s - s.t_start_s, 4.12, 0.05 * 4.12);  // seed 002 table, DigiScan 128×128
  std::vector<Position> pts;
  for (int i = 0; i < 137; ++i) pts.push_back({20.0 + (i % 60), 30.0 + i / 60.0});
  acquire(inst, pts);
  EXPECT_NEAR(inst.now_s(), 120.0, 0.15 * 120.0);
}

TEST(SeedWorkflows, RecordedRunOf466PointsIn406Seconds) {
  SimulatedInstrument inst(make_truth(false, 128, 128), config());
  std::vector<Position> pts;
  for (int i = 0; i < 466; ++i) pts.push_back({double(i % 128), double((i * 7) % 128)});
  acquire(inst, pts);
  EXPECT_NEAR(inst.now_s(), 406.0, 0.15 * 406.0);
}

TEST(SeedWorkflows, DklHundredStepsTakeTenMinutes) {
  // §V.c: 5 s of training (beam blanked) + 0.5 s EELS per step, 100 steps ≈ 10 min.
  SimulatedInstrument inst(make_truth(false, 128, 128), config());
  inst.acquire_survey({});
  for (int step = 0; step < 100; ++step) {
    inst.blank();
    inst.elapse(5.0);
    const auto m = acquire(inst, {{double(step % 128), 64.0}}, PointSettings{0.5, 0});
    ASSERT_EQ(m.size(), 1u);
  }
  EXPECT_NEAR(inst.now_s(), 600.0, 0.15 * 600.0);
}
