// The 4D-STEM phantom against physics: the interaction parameter and the carbon projected
// potential against Kirkland, graphene's first-order spots at 1/2.13 Å⁻¹ (and 1 % closer under
// 1 % tensile strain), the CoM deflected towards an atom (its field), Poisson counting at the
// pattern dose, determinism; and the detector profiles as data.
#include <autostem/imaging/diffraction.hpp>
#include <autostem/sim/detector_profile.hpp>
#include <autostem/sim/fourd_phantom.hpp>
#include <autostem/sim/simulated_instrument.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <numbers>
#include <numeric>

namespace as = autostem::sim;

TEST(FourDPhantom, InteractionParameterMatchesKirkland) {
  // Kirkland (2nd ed.) §5.2: σ ≈ 0.000924 at 100 kV, 0.000729 at 200 kV, 0.000653 at 300 kV (rad/(V·Å)).
  EXPECT_NEAR(as::interaction_parameter(100), 0.924e-3, 0.003e-3);
  EXPECT_NEAR(as::interaction_parameter(200), 0.729e-3, 0.003e-3);
  EXPECT_NEAR(as::interaction_parameter(300), 0.653e-3, 0.003e-3);
}

// ∫ v_z d²r = 2π a₀e f_e(0) with f_e(0) = Σ a_i/b_i + Σ c_i (the q = 0 limit of the same
// parametrization), a₀e = 0.5292 Å × 14.4 V·Å.
TEST(FourDPhantom, CarbonProjectedPotentialIntegratesToTheScatteringFactor) {
  const double a[3] = {0.212080767, 0.199811865, 0.168254385}, b[3] = {0.208605417, 0.208610186, 5.57870773};
  const double c[3] = {0.14204836, 0.363830672, 0.000835012};
  double f0 = 0;
  for (int i = 0; i < 3; ++i) f0 += a[i] / b[i] + c[i];
  const double expected = 2 * std::numbers::pi * 0.5292 * 14.4 * f0;
  double integral = 0;
  const double dr = 1e-4;
  for (double r = dr / 2; r < 20.0; r += dr) integral += as::projected_potential_VA(6, r) * 2 * std::numbers::pi * r * dr;
  EXPECT_NEAR(integral / expected, 1.0, 0.005);
  EXPECT_THROW(as::projected_potential_VA(14, 1.0), std::invalid_argument);
}

namespace {

// Radius (px) of the intensity-weighted first-order ring of a noiseless pattern: the CoM of
// |k| over the annulus between 0.6 and 1.4 × the expected radius, excluding the central disc.
double ring_radius(std::span<const float> p, std::size_t n, double r_expected) {
  double s = 0, w = 0;
  const double c = double(n / 2);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < n; ++j) {
      const double r = std::hypot(double(i) - c, double(j) - c);
      if (r < 0.75 * r_expected || r > 1.25 * r_expected) continue;
      s += p[i * n + j] * r;
      w += p[i * n + j];
    }
  return s / w;
}

}  // namespace

// Small α (non-overlapping discs): graphene's {100} spots at 1/d, d = a√3/2 = 2.1304 Å, i.e.
// n·dx/d detector px; 1 % isotropic tensile strain moves them 1 % inwards.
TEST(FourDPhantom, GrapheneSpotsAtTheLatticeSpacingAndMoveWithStrain) {
  as::FourDPhantomConfig cfg;
  cfg.alpha_mrad = 4.0;
  cfg.detector_px = 256;
  cfg.pixel_A = 0.1;
  cfg.scan_rows = cfg.scan_cols = 1;
  const double field = 25.6;
  const double r_expected = 256 * 0.1 / (2.46 * std::sqrt(3.0) / 2);  // 12.02 px
  const auto plain = as::make_fourd_phantom(as::graphene(field, field), cfg);
  const double r0 = ring_radius(plain.four_d->pattern(0, 0), 256, r_expected);
  EXPECT_NEAR(r0, r_expected, 0.05 * r_expected);
  as::Strain s;
  s.exx = s.eyy = 0.01;
  s.x0_A = s.y0_A = field / 2;
  const auto strained = as::make_fourd_phantom(as::graphene(field, field, 0.0, s), cfg);
  const double r1 = ring_radius(strained.four_d->pattern(0, 0), 256, r_expected);
  std::printf("graphene {100} ring: expected %.4f px, measured %.4f px; 1 %% strain: %.4f px (ratio %.5f, "
              "expected %.5f)\n", r_expected, r0, r1, r1 / r0, 1.0 / 1.01);
  EXPECT_NEAR(r1 / r0, 1.0 / 1.01, 0.002) << r0 << " " << r1;
}

// The positive potential of a nucleus attracts the electrons: left of an atom the CoM points to
// +x (towards it), right of it to −x, and on it ≈ 0.
TEST(FourDPhantom, CentreOfMassPointsTowardsAnAtom) {
  as::FourDPhantomConfig cfg;
  cfg.detector_px = 128;
  cfg.scan_rows = 1;
  cfg.scan_cols = 21;
  cfg.scan_step_px = 2;  // 0.2 Å
  // Window 12.8 Å; scan position c sees the window [0.2c, 0.2c + 12.8) Å, probe at its centre
  // (6.4 + 0.2c Å). The atom at x = 8.4 Å is under the probe at c = 10.
  const std::vector<as::Atom> atom = {{8.4, 6.4, 6}};
  const auto gt = as::make_fourd_phantom(atom, cfg);
  autostem::PatternMask m;
  m.centre_row = m.centre_col = 64;
  const auto com = [&](std::size_t c) { return autostem::centre_of_mass(gt.four_d->pattern(0, c), 128, 128, m); };
  EXPECT_GT(com(7).x_px, 0.02);
  EXPECT_LT(com(13).x_px, -0.02);
  EXPECT_NEAR(com(7).x_px, -com(13).x_px, 0.05 * std::abs(com(7).x_px));  // symmetric
  EXPECT_LT(std::abs(com(10).x_px), 0.05 * std::abs(com(7).x_px));
  EXPECT_LT(std::abs(com(7).y_px), 0.05 * std::abs(com(7).x_px));
  // The virtual HAADF survey peaks on the atom.
  Eigen::Index best = 0;
  gt.survey.data.row(0).maxCoeff(&best);
  EXPECT_EQ(best, 10);
}

TEST(FourDPhantom, PoissonCountsAtThePatternDoseAndDeterministic) {
  as::FourDPhantomConfig cfg;
  cfg.detector_px = 64;
  cfg.scan_rows = cfg.scan_cols = 4;
  cfg.electrons_per_pattern = 5000;
  cfg.seed = 7;
  const auto atoms = as::twisted_bilayer_graphene(20, 20, 5.0);
  const auto a = as::make_fourd_phantom(atoms, cfg), b = as::make_fourd_phantom(atoms, cfg);
  ASSERT_TRUE(a.four_d && b.four_d);
  EXPECT_TRUE(std::equal(a.four_d->data().begin(), a.four_d->data().end(), b.four_d->data().begin()));
  double total = 0;
  for (float v : a.four_d->data()) {
    EXPECT_EQ(v, std::floor(v));
    total += v;
  }
  // 16 patterns of 5000 electrons (Σ probabilities = 1 by Parseval): Poisson total, σ = √80000.
  EXPECT_NEAR(total, 16 * 5000.0, 5 * std::sqrt(16 * 5000.0));
  cfg.seed = 8;
  const auto c = as::make_fourd_phantom(atoms, cfg);
  EXPECT_FALSE(std::equal(a.four_d->data().begin(), a.four_d->data().end(), c.four_d->data().begin()));
  EXPECT_EQ(a.four_d->detector_kx.units, "mrad");
}

TEST(DetectorProfile, BuiltInProfilesCarryTheMeasuredFramePeriods) {
  EXPECT_DOUBLE_EQ(as::DetectorProfile::load("merlin-single-12bit").frame_time_s, 1.000e-3);
  EXPECT_DOUBLE_EQ(as::DetectorProfile::load("merlin-single-6bit").frame_time_s, 1.000e-3);
  EXPECT_DOUBLE_EQ(as::DetectorProfile::load("merlin-single-1bit").frame_time_s, 1.000e-3);
  EXPECT_DOUBLE_EQ(as::DetectorProfile::load("merlin-single-24bit").frame_time_s, 2.095e-3);
  EXPECT_DOUBLE_EQ(as::DetectorProfile::load("merlin-quad-12bit").frame_time_s, 2.094e-3);
  EXPECT_DOUBLE_EQ(as::DetectorProfile::load("arina").frame_time_s, 199.6e-6);
  EXPECT_NEAR(as::DetectorProfile::load("empad").frame_time_s, 0.9e-3, 1e-12);
  const auto m = as::DetectorProfile::load("merlin-single-12bit");
  EXPECT_DOUBLE_EQ(m.bytes_per_pattern(), 131456.0);  // one U16 frame of the real .mib files
  EXPECT_NEAR(m.scan_frames_s(256, 256), 65.536, 1e-12);
  EXPECT_NEAR(m.scan_time_s(256, 256), 65.536 + 0.1 + 255 * 500e-6, 1e-12);
  EXPECT_NEAR(m.point_time_s(10, 0.01), 10 * (0.01 + 1e-3 + 1e-3), 1e-12);
  EXPECT_THROW(as::DetectorProfile::load("nosuch"), std::invalid_argument);
}

// A pixelated detector profile times each simulated pattern (SimConfig::detector): point mode =
// beam move (set + settle + read back of the instrument profile) + frame + point overhead; the
// synchronized 4D scan = setup once, one frame per pattern, the line overhead per new line. The
// dose of a pattern is current × frame time.
TEST(DetectorProfile, TimesTheSimulatedInstrumentsPatterns) {
  as::FourDPhantomConfig cfg;
  cfg.detector_px = 32;
  cfg.scan_rows = cfg.scan_cols = 4;
  cfg.electrons_per_pattern = 1000;
  const auto truth = as::make_fourd_phantom(as::twisted_bilayer_graphene(12, 12, 3.0), cfg);
  const auto detector = as::DetectorProfile::load("merlin-single-12bit");
  as::SimConfig sc = as::SimConfig::from_profile(as::TimingProfile::load("rsi2024-remote"), 1);
  sc.detector = detector;
  const double current = sc.profile.probe_current_pA;
  const double beam_move = sc.profile.point_pre_exposure_s();
  const double area = truth.survey.calibration.pixel_area_A2();

  as::SimulatedInstrument point(truth, sc);
  EXPECT_DOUBLE_EQ(point.describe().default_exposure_s, 1e-3);
  std::vector<autostem::Position> pos = {{0, 0}, {1, 2}, {3, 3}, {2, 0}, {0, 3}};
  point.submit(pos, autostem::PointSettings{}, autostem::AcquisitionMode::point);
  std::vector<autostem::Measurement> got;
  while (got.size() < pos.size())
    for (auto& m : point.collect(true)) got.push_back(std::move(m));
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_DOUBLE_EQ(got[i].exposure_s, 1e-3);
    EXPECT_EQ(got[i].signal.size(), 32u * 32u);
    EXPECT_NEAR(got[i].dose_e_per_A2 * area, detector.electrons_per_pattern(current), 1e-6);
    if (i > 0)  // steady state: one pattern per beam move + frame + overhead
      EXPECT_NEAR(got[i].t_end_s - got[i - 1].t_end_s, detector.point_time_s(1, beam_move), 1e-9);
  }
  const auto est = point.estimate_point({}, autostem::AcquisitionMode::point);
  EXPECT_NEAR(est.time_s, detector.point_time_s(1, beam_move), 1e-12);

  as::SimulatedInstrument scan(truth, sc);
  std::vector<autostem::Position> all;
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 4; ++c) all.push_back({double(r), double(c)});
  scan.submit(all, autostem::PointSettings{}, autostem::AcquisitionMode::si_scan);
  got.clear();
  while (got.size() < all.size())
    for (auto& m : scan.collect(true)) got.push_back(std::move(m));
  // First pattern: connection + scan setup + frame; the other 15: frames plus 3 line overheads.
  EXPECT_NEAR(got.front().t_end_s, sc.profile.connection_s + detector.scan_setup_s + 1e-3, 1e-9);
  EXPECT_NEAR(got.back().t_end_s - got.front().t_end_s, 15 * 1e-3 + 3 * detector.scan_line_overhead_s, 1e-9);
  EXPECT_NEAR(got.back().t_end_s - got.front().t_start_s, sc.profile.connection_s + detector.scan_time_s(4, 4), 1e-9);

  // Refused: an exposure shorter than a frame; a detector without diffraction patterns.
  autostem::PointSettings fast;
  fast.exposure_s = 0.5e-3;
  EXPECT_THROW(scan.submit(all, fast, autostem::AcquisitionMode::point), std::invalid_argument);
  auto no_patterns = truth;
  no_patterns.four_d.reset();
  EXPECT_THROW(as::SimulatedInstrument(no_patterns, sc), std::invalid_argument);
}
