// Drift correction's simulator side (issue 16): the settling and jump terms of the drift model
// against their analytic forms, the named presets, and SimulatedInstrument::acquire_patch (a
// re-scan of a reference patch, distorted by the drift sampled at every pixel). Statistical
// tests use fixed seeds and 5-standard-error tolerances, as test_models.cpp.
#include <autostem/sim/models.hpp>
#include <autostem/sim/simulated_instrument.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

using namespace autostem;
using namespace autostem::sim;

namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(no std::invalid_argument)";
}

double speed_nm_per_min(const DriftModel& m, double t_s) {
  const auto [r, c] = m.velocity_nm_per_s(t_s);
  return std::hypot(r, c) * 60.0;
}

}  // namespace

// ---- settling and jumps ----

TEST(DriftSettling, DisplacementIsV0TauOneMinusExpPlusTheConstantVelocity) {
  DriftModel dm;
  dm.velocity_row_nm_per_s = 0.01;
  dm.settling_velocity_row_nm_per_s = 0.1;
  dm.settling_velocity_col_nm_per_s = -0.05;
  dm.settling_tau_s = 100.0;
  EXPECT_FALSE(dm.is_zero());
  DriftProcess d(dm, component_stream(3, 3));
  for (double t : {0.0, 1.0, 50.0, 100.0, 1000.0, 1e5}) {
    const auto [r, c] = d.displacement_nm(t);
    const double g = 100.0 * (1.0 - std::exp(-t / 100.0));
    EXPECT_NEAR(r, 0.01 * t + 0.1 * g, 1e-9) << t;
    EXPECT_NEAR(c, -0.05 * g, 1e-12) << t;
    const auto [vr, vc] = dm.velocity_nm_per_s(t);
    EXPECT_NEAR(vr, 0.01 + 0.1 * std::exp(-t / 100.0), 1e-15);
    EXPECT_NEAR(vc, -0.05 * std::exp(-t / 100.0), 1e-15);
  }
  // After t ≫ τ the settling term is the constant v₀·τ: 10 nm and −5 nm here.
  EXPECT_NEAR(d.displacement_nm(2e5).second, -5.0, 1e-12);
}

TEST(DriftSettling, AddsToTheRandomWalkWithoutDrawingRandomNumbers) {
  // The settling term is deterministic: with the same stream the walk is the same, so the
  // difference is exactly the analytic term (existing configurations keep their numbers).
  DriftModel walk;
  walk.random_walk_nm_per_sqrt_s = 0.3;
  DriftModel both = walk;
  both.settling_velocity_row_nm_per_s = 0.2;
  both.settling_tau_s = 30.0;
  DriftProcess a(walk, component_stream(4, 3)), b(both, component_stream(4, 3));
  for (double t = 0.0; t < 200.0; t += 7.5) {
    const auto pa = a.displacement_nm(t), pb = b.displacement_nm(t);
    EXPECT_NEAR(pb.first - pa.first, 0.2 * 30.0 * (1.0 - std::exp(-t / 30.0)), 1e-12) << t;
    EXPECT_EQ(pb.second, pa.second) << t;
  }
}

TEST(DriftJumps, CountIsPoissonWithTheRateOverALongTime) {
  // N(T) ~ Poisson(rate·T): mean 1000 here, standard deviation √1000 ≈ 32.
  DriftModel dm;
  dm.jumps_per_s = 0.01;
  dm.jump_nm = 1.0;
  const double T = 1e5, mean = dm.jumps_per_s * T;
  double total = 0.0;
  for (std::uint64_t seed = 1; seed <= 5; ++seed) {
    DriftProcess d(dm, component_stream(seed, 3));
    d.displacement_nm(T);
    EXPECT_NEAR(static_cast<double>(d.jumps()), mean, 5.0 * std::sqrt(mean)) << seed;
    total += static_cast<double>(d.jumps());
  }
  EXPECT_NEAR(total / 5.0, mean, 5.0 * std::sqrt(mean / 5.0));
}

TEST(DriftJumps, JumpsAreIsotropicGaussianWithTheRmsLength) {
  // Each jump is Normal(0, j²/2) per axis: |J|² is exponential with mean j² (sd j²), each
  // component has mean 0 and variance j²/2. Intervals with exactly one jump are collected.
  DriftModel dm;
  dm.jumps_per_s = 1.0;
  dm.jump_nm = 2.0;
  DriftProcess d(dm, component_stream(7, 3));
  std::vector<double> sq, rows, cols;
  auto prev = d.displacement_nm(0.0);
  std::size_t prev_n = d.jumps();
  for (int k = 1; k <= 400000; ++k) {
    const auto cur = d.displacement_nm(k * 0.05);
    if (d.jumps() == prev_n + 1) {
      const double dr = cur.first - prev.first, dc = cur.second - prev.second;
      sq.push_back(dr * dr + dc * dc);
      rows.push_back(dr);
      cols.push_back(dc);
    } else if (d.jumps() == prev_n) {
      EXPECT_EQ(cur, prev);  // pure-jump model: nothing moves between jumps
    }
    prev = cur;
    prev_n = d.jumps();
  }
  const double n = static_cast<double>(sq.size());
  ASSERT_GT(n, 15000.0);
  double msq = 0, mr = 0, mc = 0, vr = 0, vc = 0;
  for (std::size_t i = 0; i < sq.size(); ++i) {
    msq += sq[i] / n;
    mr += rows[i] / n;
    mc += cols[i] / n;
    vr += rows[i] * rows[i] / n;
    vc += cols[i] * cols[i] / n;
  }
  EXPECT_NEAR(msq, 4.0, 5.0 * 4.0 / std::sqrt(n));
  EXPECT_NEAR(mr, 0.0, 5.0 * std::sqrt(2.0 / n));
  EXPECT_NEAR(mc, 0.0, 5.0 * std::sqrt(2.0 / n));
  EXPECT_NEAR(vr, 2.0, 5.0 * 2.0 * std::sqrt(2.0 / n));
  EXPECT_NEAR(vc, 2.0, 5.0 * 2.0 * std::sqrt(2.0 / n));
}

TEST(DriftJumps, DoNotDependOnHowOftenTheDriftIsSampled) {
  DriftModel dm;
  dm.jumps_per_s = 0.05;
  dm.jump_nm = 1.0;
  dm.random_walk_nm_per_sqrt_s = 0.0;
  DriftProcess coarse(dm, component_stream(11, 3)), fine(dm, component_stream(11, 3));
  for (double t = 0.0; t <= 1000.0; t += 0.5) fine.displacement_nm(t);
  const auto a = coarse.displacement_nm(1000.0), b = fine.displacement_nm(1000.0);
  EXPECT_EQ(a, b);
  EXPECT_EQ(coarse.jumps(), fine.jumps());
  EXPECT_GT(coarse.jumps(), 0u);
}

TEST(DriftModelValidation, NewFieldsAreCheckedAndNamed) {
  const auto err = [](DriftModel m) { return error_of([&] { m.validate(); }); };
  DriftModel m;
  m.settling_tau_s = -1;
  EXPECT_NE(err(m).find("settling_tau_s"), std::string::npos) << err(m);
  m = {};
  m.settling_velocity_col_nm_per_s = std::nan("");
  EXPECT_NE(err(m).find("settling_velocity_col_nm_per_s"), std::string::npos) << err(m);
  m = {};
  m.settling_velocity_row_nm_per_s = 0.1;  // with τ = 0
  EXPECT_NE(err(m).find("settling_tau_s"), std::string::npos) << err(m);
  m.settling_velocity_row_nm_per_s = -0.1;  // negative velocities are fine
  m.settling_tau_s = 10;
  EXPECT_NO_THROW(m.validate());
  m = {};
  m.jumps_per_s = -0.1;
  EXPECT_NE(err(m).find("jumps_per_s"), std::string::npos) << err(m);
  m = {};
  m.jump_nm = INFINITY;
  EXPECT_NE(err(m).find("jump_nm"), std::string::npos) << err(m);
  EXPECT_THROW(DriftProcess(m, component_stream(1, 3)), std::invalid_argument);
  // is_zero: a term counts only when it can move the probe.
  m = {};
  m.settling_tau_s = 10;
  m.jumps_per_s = 1;
  EXPECT_TRUE(m.is_zero());
  m.jump_nm = 0.5;
  EXPECT_FALSE(m.is_zero());
}

// ---- presets ----

TEST(DriftPreset, NamesAndMagnitudes) {
  EXPECT_EQ(drift_preset_names(), (std::vector<std::string>{"off", "settled", "after-stage-move"}));
  EXPECT_TRUE(drift_preset("off", 3).is_zero());

  const DriftModel s = drift_preset("settled", 3);
  EXPECT_NO_THROW(s.validate());
  EXPECT_NEAR(speed_nm_per_min(s, 0.0), 0.7, 1e-12);
  EXPECT_NEAR(speed_nm_per_min(s, 1800.0), 0.7, 1e-12);
  EXPECT_GT(s.random_walk_nm_per_sqrt_s, 0.0);
  EXPECT_FALSE(s.has_jumps());
  EXPECT_FALSE(s.has_settling());

  const DriftModel a = drift_preset("after-stage-move", 3);
  EXPECT_NO_THROW(a.validate());
  EXPECT_NEAR(speed_nm_per_min(a, 0.0), 5.0, 1e-12);
  EXPECT_NEAR(speed_nm_per_min(a, 1800.0), 0.7 + 4.3 * std::exp(-3.0), 1e-12);  // 0.91
  EXPECT_NEAR(speed_nm_per_min(a, 7200.0), 0.7, 1e-4);  // settled after 2 h
  EXPECT_DOUBLE_EQ(a.settling_tau_s, 600.0);
  EXPECT_TRUE(a.has_jumps());
  // One direction per seed, shared by both presets; another seed turns it.
  EXPECT_NEAR(std::atan2(a.velocity_col_nm_per_s, a.velocity_row_nm_per_s),
              std::atan2(s.velocity_col_nm_per_s, s.velocity_row_nm_per_s), 1e-12);
  EXPECT_NEAR(std::atan2(a.settling_velocity_col_nm_per_s, a.settling_velocity_row_nm_per_s),
              std::atan2(s.velocity_col_nm_per_s, s.velocity_row_nm_per_s), 1e-12);
  const DriftModel s4 = drift_preset("settled", 4);
  EXPECT_NE(s4.velocity_row_nm_per_s, s.velocity_row_nm_per_s);
  EXPECT_EQ(drift_preset("settled", 3).velocity_col_nm_per_s, s.velocity_col_nm_per_s);
}

TEST(DriftPreset, DirectionsSpreadOverTheCircle) {
  // 400 seeds: every quadrant gets a share near 1/4 (binomial sd ≈ 0.022).
  int quadrant[4] = {0, 0, 0, 0};
  for (std::uint64_t seed = 0; seed < 400; ++seed) {
    const DriftModel m = drift_preset("settled", seed);
    quadrant[(m.velocity_row_nm_per_s >= 0 ? 0 : 1) + (m.velocity_col_nm_per_s >= 0 ? 0 : 2)]++;
  }
  for (int q : quadrant) EXPECT_NEAR(q / 400.0, 0.25, 5 * 0.0217) << q;
}

TEST(DriftPreset, UnknownNameListsTheValidOnes) {
  const std::string e = error_of([] { drift_preset("wobbly", 1); });
  for (const char* n : {"wobbly", "off", "settled", "after-stage-move"})
    EXPECT_NE(e.find(n), std::string::npos) << e;
}

TEST(DriftPreset, ProfileKeysCarryTheNewTerms) {
  const auto src = std::filesystem::path(TimingProfile::profile_dir()) / "rsi2024-remote.ini";
  const auto dst = std::filesystem::temp_directory_path() / "autostem_profile_drift_terms.ini";
  {
    std::ifstream in(src);
    std::ofstream out(dst);
    out << in.rdbuf() << "\ndrift_settling_velocity_row_nm_per_s = -0.07\n"
        << "drift_settling_velocity_col_nm_per_s = 0.02\ndrift_settling_tau_s = 600\n"
        << "drift_jumps_per_s = 0.001\ndrift_jump_nm = 0.5\n";
  }
  const SimConfig c = SimConfig::from_profile(TimingProfile::load(dst.string()), 1);
  EXPECT_DOUBLE_EQ(c.drift.settling_velocity_row_nm_per_s, -0.07);
  EXPECT_DOUBLE_EQ(c.drift.settling_velocity_col_nm_per_s, 0.02);
  EXPECT_DOUBLE_EQ(c.drift.settling_tau_s, 600.0);
  EXPECT_DOUBLE_EQ(c.drift.jumps_per_s, 0.001);
  EXPECT_DOUBLE_EQ(c.drift.jump_nm, 0.5);
  std::filesystem::remove(dst);
}

// ---- acquire_patch ----

namespace {

constexpr std::size_t kN = 24;
constexpr double kPx = 0.5;  // nm

// Survey value 10·row + col (a plane, so bilinear interpolation is exact anywhere inside),
// recorded at 10 pA and 1e-5 s dwell; no spectrum image.
GroundTruth plane_truth() {
  GroundTruth gt;
  gt.source = "test:plane";
  gt.survey.name = "HAADF";
  gt.survey.units = "counts";
  gt.survey.calibration.pixel_size_nm = kPx;
  gt.survey.data.resize(kN, kN);
  for (std::size_t r = 0; r < kN; ++r)
    for (std::size_t c = 0; c < kN; ++c)
      gt.survey.data(static_cast<Eigen::Index>(r), static_cast<Eigen::Index>(c)) = 10.0 * r + c;
  gt.recorded = {10.0, 0.1, 1e-5};
  return gt;
}

SimConfig quiet(DriftModel drift = {}, bool noise = false, std::uint64_t seed = 1) {
  SimConfig c = SimConfig::from_profile(TimingProfile::load("rsi2024-remote"), seed);
  c.noise.enabled = noise;
  c.drift = drift;
  return c;
}

const SurveySettings kAsRecorded{1e-5, 10.0, ""};  // scale 1

}  // namespace

TEST(AcquirePatch, WithoutDriftOrNoiseIsTheSurveysRegion) {
  SimulatedInstrument inst(plane_truth(), quiet());
  EXPECT_TRUE(inst.describe().can_scan_patch);
  const Survey sv = inst.acquire_survey(kAsRecorded);
  const Survey p = inst.acquire_patch(PatchScan{5, 7, 6, 9, {0.0, 0.0}, kAsRecorded});
  ASSERT_EQ(p.image.rows(), 6u);
  ASSERT_EQ(p.image.cols(), 9u);
  EXPECT_TRUE((p.image.data == sv.image.data.block(5, 7, 6, 9)).all());
  EXPECT_EQ(p.image.name, "HAADF");
  EXPECT_EQ(p.image.units, "counts");
  EXPECT_DOUBLE_EQ(p.image.calibration.pixel_size_nm, kPx);
  EXPECT_EQ(p.detector, "HAADF");
  EXPECT_DOUBLE_EQ(p.dwell_s, 1e-5);
  EXPECT_DOUBLE_EQ(p.probe_current_pA, 10.0);
  // The whole field is a valid patch too.
  const Survey all = inst.acquire_patch(PatchScan{0, 0, kN, kN, {0.0, 0.0}, kAsRecorded});
  EXPECT_TRUE((all.image.data == sv.image.data).all());
}

TEST(AcquirePatch, LinearDriftSamplesTheSurveyAtThePositionOfEachPixelsTime) {
  DriftModel dm;
  dm.velocity_row_nm_per_s = 0.02;
  dm.velocity_col_nm_per_s = -0.03;
  SimulatedInstrument inst(plane_truth(), quiet(dm));
  inst.elapse(10.0);  // connection not yet made: the patch pays it before its first pixel
  const double dwell = 0.01;  // slow enough that the drift within the patch is visible
  const SurveySettings set{dwell, 10.0, ""};
  const TimingProfile& prof = inst.config().profile;
  const double t0 = inst.now_s() + prof.connection_s;
  const Survey p = inst.acquire_patch(PatchScan{8, 9, 5, 6, {0.25, -0.5}, set});
  const double line = 6 * dwell + prof.line_flyback_s;
  const double scale = 1000.0;  // dwell / recorded dwell
  for (auto [i, j] : {std::pair{0, 0}, std::pair{0, 5}, std::pair{4, 0}, std::pair{4, 5}, std::pair{2, 3}}) {
    const double t = t0 + i * line + j * dwell;
    const double r = 8 + i + 0.25 + 0.02 * t / kPx;
    const double c = 9 + j - 0.5 - 0.03 * t / kPx;
    EXPECT_NEAR(p.image.data(i, j), scale * (10.0 * r + c), 1e-7) << i << "," << j;
  }
  // Scan distortion: the drift along the slow axis stretches the rows by v·line time per line.
  const double stretch = (p.image.data(4, 0) - p.image.data(0, 0)) / (4 * scale * 10.0);
  EXPECT_NEAR(stretch, 1.0 + 0.02 * line / kPx - 0.03 * line / kPx / 10.0, 1e-9);
}

TEST(AcquirePatch, AnOffsetEqualToMinusAConstantDriftGivesBackTheSurvey) {
  // Settling with τ = 1 s: after 100 s the drift is the constant v₀·τ = (1, −0.375) nm
  // = (2, −0.75) px and no longer moves (e^−100).
  DriftModel dm;
  dm.settling_velocity_row_nm_per_s = 1.0;
  dm.settling_velocity_col_nm_per_s = -0.375;
  dm.settling_tau_s = 1.0;
  SimulatedInstrument inst(plane_truth(), quiet(dm));
  const Survey sv = inst.acquire_survey(kAsRecorded);
  inst.elapse(100.0);
  const Survey uncorrected = inst.acquire_patch(PatchScan{4, 4, 8, 8, {0.0, 0.0}, kAsRecorded});
  const Survey corrected = inst.acquire_patch(PatchScan{4, 4, 8, 8, {-2.0, 0.75}, kAsRecorded});
  for (Eigen::Index i = 0; i < 8; ++i)
    for (Eigen::Index j = 0; j < 8; ++j) {
      EXPECT_NEAR(corrected.image.data(i, j), sv.image.data(4 + i, 4 + j), 1e-9);
      EXPECT_NEAR(uncorrected.image.data(i, j), sv.image.data(4 + i, 4 + j) + 20.0 - 0.75, 1e-9);
    }
}

TEST(AcquirePatch, TakesTheSurveyTimingOfItsSizeAndAddsItsDose) {
  SimulatedInstrument inst(plane_truth(), quiet());
  const TimingProfile& prof = inst.config().profile;
  const Survey sv = inst.acquire_survey(kAsRecorded);  // pays the connection
  const Image dose0 = *inst.dose_map();
  const double e0 = inst.total_electrons();
  const double t0 = inst.now_s();
  const Survey p = inst.acquire_patch(PatchScan{2, 3, 4, 5, {0.0, 0.0}, kAsRecorded});
  EXPECT_DOUBLE_EQ(p.t_start_s, t0);
  EXPECT_NEAR(p.t_end_s - t0, prof.survey_time_s(4, 5, 1e-5), 1e-9);
  EXPECT_DOUBLE_EQ(inst.now_s(), p.t_end_s);
  const double per_pixel = electrons(10.0, 1e-5) / (kPx * kPx * 100.0);  // e⁻/Å²
  EXPECT_NEAR(p.dose_e_per_A2, per_pixel, 1e-12 * per_pixel);
  EXPECT_NEAR(sv.dose_e_per_A2, per_pixel, 1e-12 * per_pixel);
  const Image dose1 = *inst.dose_map();
  for (Eigen::Index r = 0; r < static_cast<Eigen::Index>(kN); ++r)
    for (Eigen::Index c = 0; c < static_cast<Eigen::Index>(kN); ++c) {
      const bool inside = r >= 2 && r < 6 && c >= 3 && c < 8;
      EXPECT_NEAR(dose1.data(r, c) - dose0.data(r, c), inside ? per_pixel : 0.0, 1e-9 * per_pixel)
          << r << "," << c;
    }
  EXPECT_NEAR(inst.total_electrons() - e0, electrons(10.0, 1e-5 * 20), 1e-9 * e0);
  // A fresh instrument's first patch also pays the connection.
  SimulatedInstrument fresh(plane_truth(), quiet());
  const Survey q = fresh.acquire_patch(PatchScan{2, 3, 4, 5, {0.0, 0.0}, {}});
  EXPECT_NEAR(q.t_end_s, prof.connection_s + prof.survey_time_s(4, 5, prof.default_dwell_s), 1e-9);
}

TEST(AcquirePatch, NoiseComesFromItsOwnStream) {
  // The patch is noisy and reproducible, and scanning one leaves the survey's and the
  // spectra's noise untouched (separate component streams).
  auto run = [](bool with_patch) {
    SimulatedInstrument inst(plane_truth(), quiet({}, true, 9));
    inst.acquire_survey({});
    std::vector<double> out;
    if (with_patch) {
      const Survey p = inst.acquire_patch(PatchScan{0, 0, 6, 6, {0.0, 0.0}, kAsRecorded});
      out.assign(p.image.data.data(), p.image.data.data() + p.image.data.size());
    }
    const Survey s = inst.acquire_survey(kAsRecorded);
    out.insert(out.end(), s.image.data.data(), s.image.data.data() + s.image.data.size());
    return out;
  };
  const auto a = run(true), b = run(true), c = run(false);
  EXPECT_EQ(a, b);
  EXPECT_TRUE(std::equal(c.begin(), c.end(), a.end() - static_cast<std::ptrdiff_t>(c.size())));
  double differs = 0;
  for (int k = 0; k < 36; ++k) differs += a[k] != 10.0 * (k / 6) + (k % 6);
  EXPECT_GT(differs, 30);
}

TEST(AcquirePatch, BadInputsThrowNamingTheProblem) {
  SimulatedInstrument inst(plane_truth(), quiet());
  const auto err = [&](const PatchScan& s) { return error_of([&] { inst.acquire_patch(s); }); };
  const auto has = [](const std::string& e, const char* what) {
    return e.find(what) != std::string::npos;
  };
  EXPECT_TRUE(has(err({0, 0, 1, 5, {0, 0}, {}}), "2 x 2")) << err({0, 0, 1, 5, {0, 0}, {}});
  EXPECT_TRUE(has(err({0, 0, 5, 1, {0, 0}, {}}), "2 x 2"));
  EXPECT_TRUE(has(err({20, 0, 5, 5, {0, 0}, {}}), "not inside")) << err({20, 0, 5, 5, {0, 0}, {}});
  EXPECT_TRUE(has(err({0, 23, 2, 2, {0, 0}, {}}), "not inside"));
  EXPECT_TRUE(has(err({kN, 0, 2, 2, {0, 0}, {}}), "not inside"));
  EXPECT_TRUE(has(err({0, 0, 4, 4, {std::nan(""), 0}, {}}), "offset"));
  EXPECT_TRUE(has(err({0, 0, 4, 4, {0, INFINITY}, {}}), "offset"));
  EXPECT_TRUE(has(err({0, 0, 4, 4, {0, 0}, {-1.0, 0.0, ""}}), "dwell_s"));
  EXPECT_TRUE(has(err({0, 0, 4, 4, {0, 0}, {0.0, -3.0, ""}}), "probe_current_pA"));
  EXPECT_TRUE(has(err({0, 0, 4, 4, {0, 0}, {0.0, 0.0, "BF"}}), "detector"));
  EXPECT_DOUBLE_EQ(inst.now_s(), 0.0);  // nothing was scanned
  const std::vector<Position> one{{3, 3}};
  inst.submit(one, {}, AcquisitionMode::point);
  EXPECT_TRUE(has(err({0, 0, 4, 4, {0, 0}, {}}), "in flight"));
  const auto got = inst.collect(true);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].commanded, got[0].requested);  // no correction inside the instrument
  EXPECT_NO_THROW(inst.acquire_patch({0, 0, 4, 4, {0, 0}, {}}));
}

TEST(AcquirePatch, DriftDuringAndAfterThePatchIsOneProcess) {
  // Spectra after a patch sample the drift later than its last pixel: no "backwards in time"
  // error, and a random-walk run is reproducible for a seed.
  DriftModel dm = drift_preset("after-stage-move", 5);
  auto run = [&] {
    SimulatedInstrument inst(plane_truth(), quiet(dm, true, 5));
    inst.acquire_survey({});
    std::vector<double> out;
    for (int k = 0; k < 3; ++k) {
      const std::vector<Position> pos{{10, 10}, {11, 12}};
      inst.submit(pos, {}, AcquisitionMode::point);
      while (inst.in_flight() > 0)
        for (const auto& m : inst.collect(true)) out.push_back(m.actual.row);
      const Survey p = inst.acquire_patch({6, 6, 12, 12, {0, 0}, {}});
      out.push_back(p.image.data.sum());
      inst.elapse(120.0);
    }
    return out;
  };
  const auto a = run();
  EXPECT_EQ(a, run());
  EXPECT_EQ(a.size(), 9u);
}
