// The 4D-STEM phantom against physics: the interaction parameter and the carbon projected
// potential against Kirkland, graphene's first-order spots at 1/2.13 Å⁻¹ (and 1 % closer under
// 1 % tensile strain), the CoM deflected towards an atom (its field), Poisson counting at the
// pattern dose, determinism; and the detector profiles as data.
#include <autostem/core/types.hpp>
#include <autostem/imaging/diffraction.hpp>
#include <autostem/sim/detector_profile.hpp>
#include <autostem/sim/fourd_phantom.hpp>
#include <autostem/sim/simulated_instrument.hpp>

#include "dpc_phantom.hpp"
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numbers>
#include <numeric>
#include <tuple>

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

// Moiré geometry: the period a / (2 sin(θ/2)) and its inverse; at every predicted AA site the
// two layers' atoms lie on top of each other (each layer-1 atom within 2 Å of the site has a
// layer-2 atom within 0.25 Å), including after a translation of layer 2, which moves the sites.
TEST(FourDPhantom, MoireAASitesAreWhereTheLayersCoincide) {
  EXPECT_NEAR(as::moire_period_A(3.0), 2.46 / (2 * std::sin(1.5 * std::numbers::pi / 180)), 1e-9);
  EXPECT_NEAR(as::moire_period_A(3.0), 46.98, 0.01);  // ≈ 4.7 nm at 3°
  EXPECT_NEAR(as::twist_for_moire_period_deg(as::moire_period_A(5.5)), 5.5, 1e-9);
  EXPECT_THROW(as::moire_period_A(0.0), std::invalid_argument);
  EXPECT_THROW(as::twist_for_moire_period_deg(1.0), std::invalid_argument);
  EXPECT_THROW(as::moire_aa_sites(10, 10, 0.0), std::invalid_argument);
  const double w = 60, h = 50, twist = 6.0;
  for (const auto& [sx, sy] : {std::pair{0.0, 0.0}, std::pair{1.1, 0.7}, std::pair{-0.9, 1.6}}) {
    const auto layer1 = as::graphene(w, h, 0.0);
    const auto both = as::twisted_bilayer_graphene(w, h, twist, sx, sy);
    const std::vector<as::Atom> layer2(both.begin() + static_cast<std::ptrdiff_t>(layer1.size()), both.end());
    const auto sites = as::moire_aa_sites(w, h, twist, sx, sy, -5.0);  // sites ≥ 5 Å inside the field
    // The field (50 × 60 Å) holds about area / (√3/2 L²) ≈ 4 moiré cells of L = 23.5 Å.
    EXPECT_GE(sites.size(), 2u) << sx << " " << sy;
    if (sx == 0.0) {
      bool centre = false;
      for (const auto& s : sites) centre = centre || std::hypot(s.x_A - w / 2, s.y_A - h / 2) < 1e-9;
      EXPECT_TRUE(centre) << "without a shift an AA site is at the field centre";
    }
    for (const auto& s : sites) {
      int near = 0;
      for (const auto& a1 : layer1) {
        if (std::hypot(a1.x_A - s.x_A, a1.y_A - s.y_A) > 2.0) continue;
        ++near;
        double best = 1e9;
        for (const auto& a2 : layer2) best = std::min(best, std::hypot(a2.x_A - a1.x_A, a2.y_A - a1.y_A));
        EXPECT_LT(best, 0.25) << "site (" << s.x_A << ", " << s.y_A << "), shift (" << sx << ", " << sy << ")";
      }
      EXPECT_GE(near, 3);
    }
    // Half way between two neighbouring AA sites (a saddle point: the layers displaced by a/2)
    // no layer-1 atom within 2 Å has a layer-2 atom within 0.4 Å (at the point itself the nearest
    // is 0.71 Å away; 2 Å off it the displacement changes by ≤ 2 Å · 2 sin(θ/2) = 0.21 Å).
    if (sites.size() >= 2) {
      std::size_t bi = 0, bj = 1;
      for (std::size_t i = 0; i < sites.size(); ++i)
        for (std::size_t j = i + 1; j < sites.size(); ++j)
          if (std::hypot(sites[i].x_A - sites[j].x_A, sites[i].y_A - sites[j].y_A) <
              std::hypot(sites[bi].x_A - sites[bj].x_A, sites[bi].y_A - sites[bj].y_A))
            std::tie(bi, bj) = std::pair{i, j};
      EXPECT_NEAR(std::hypot(sites[bi].x_A - sites[bj].x_A, sites[bi].y_A - sites[bj].y_A), as::moire_period_A(twist), 0.01);
      const double mx = (sites[bi].x_A + sites[bj].x_A) / 2, my = (sites[bi].y_A + sites[bj].y_A) / 2;
      int lonely = 0, near_mid = 0;
      for (const auto& a1 : layer1) {
        if (std::hypot(a1.x_A - mx, a1.y_A - my) > 2.0) continue;
        double best = 1e9;
        for (const auto& a2 : layer2) best = std::min(best, std::hypot(a2.x_A - a1.x_A, a2.y_A - a1.y_A));
        lonely += best > 0.4;
        ++near_mid;
      }
      EXPECT_GE(near_mid, 3);
      EXPECT_EQ(lonely, near_mid);
    }
  }
}

// poisson_counts = false: the patterns are the expected counts, Σ = electrons_per_pattern
// (Parseval), at I·t/e: 20 pA × 1 ms = 1.248·10⁵ electrons.
TEST(FourDPhantom, ExpectedCountsSumToTheDose) {
  as::FourDPhantomConfig cfg;
  cfg.detector_px = 64;
  cfg.scan_rows = cfg.scan_cols = 3;
  cfg.electrons_per_pattern = autostem::electrons(20.0, 1e-3);
  EXPECT_NEAR(cfg.electrons_per_pattern, 1.2483e5, 1.0);
  cfg.poisson_counts = false;
  const auto gt = as::make_fourd_phantom(as::twisted_bilayer_graphene(20, 20, 5.0), cfg);
  bool fractional = false;
  for (std::size_t r = 0; r < 3; ++r)
    for (std::size_t c = 0; c < 3; ++c) {
      const auto p = gt.four_d->pattern(r, c);
      double total = 0;
      for (float v : p) {
        total += v;
        fractional = fractional || v != std::floor(v);
      }
      EXPECT_NEAR(total / cfg.electrons_per_pattern, 1.0, 1e-4);
    }
  EXPECT_TRUE(fractional) << "expected counts, not integer draws";
  EXPECT_NE(gt.source.find("expected counts"), std::string::npos) << gt.source;
}

// The strongest projected field of twisted bilayer graphene is at the AA stacking: there every
// column holds two atoms. On a scan that spans a moiré period (64 × 64 at 0.4 Å, 25.2 Å; twist 6°:
// L = 23.5 Å) most of the noiseless |CoM| map's top 1 % lies within L/4 of an AA site, which
// discs cover only ≈ 23 % of the plane (π/16 / (√3/2)).
TEST(FourDPhantom, StrongestFieldOfTwistedBilayerGrapheneIsAtTheAASites) {
  as::FourDPhantomConfig cfg;
  cfg.detector_px = 64;
  cfg.scan_rows = cfg.scan_cols = 64;
  cfg.scan_step_px = 4;
  const double side = (63 * 4 + 64) * 0.1;
  const double twist = 6.0, L = as::moire_period_A(twist);
  autostem::PatternMask m;
  m.centre_row = m.centre_col = 32;
  for (const auto& [sx, sy] : {std::pair{0.4, 0.9}, std::pair{1.7, 0.3}}) {
    const auto gt = as::make_fourd_phantom(as::twisted_bilayer_graphene(side, side, twist, sx, sy), cfg);
    const auto sites = as::moire_aa_sites(side, side, twist, sx, sy, L);
    std::vector<std::pair<double, std::size_t>> mag;
    for (std::size_t p = 0; p < 64 * 64; ++p) {
      const auto com = autostem::centre_of_mass(gt.four_d->pattern(p / 64, p % 64), 64, 64, m);
      mag.emplace_back(std::hypot(com.x_px, com.y_px), p);
    }
    std::sort(mag.rbegin(), mag.rend());
    const std::size_t K = 41;  // ⌈1 % of 4096⌉
    std::size_t near = 0;
    for (std::size_t k = 0; k < K; ++k) {
      // Probe at the centre of its 6.4 Å window.
      const double x = (double(mag[k].second % 64) * 4 + 32) * 0.1, y = (double(mag[k].second / 64) * 4 + 32) * 0.1;
      double best = 1e9;
      for (const auto& s : sites) best = std::min(best, std::hypot(s.x_A - x, s.y_A - y));
      near += best < L / 4;
    }
    std::printf("twist %.1f deg, shift (%.1f, %.1f) A: %zu of the %zu highest |CoM| within L/4 = %.1f A of an AA site\n",
                twist, sx, sy, near, K, L / 4);
    EXPECT_GE(double(near) / double(K), 0.5) << sx << " " << sy;
  }
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
    if (i > 0) {  // steady state: one pattern per beam move + frame + overhead
      EXPECT_NEAR(got[i].t_end_s - got[i - 1].t_end_s, detector.point_time_s(1, beam_move), 1e-9);
    }
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

namespace {

// CoM (default centre, every pixel) and virtual ADF (beyond 1.25 × the bright-field disc) maps of a
// 16 × 16 scan at 0.2 Å over graphene, 80 kV, α = 25 mrad (overlapping discs, atomic-scale DPC).
struct ComMaps {
  autostem::ImageArray x, y, adf;
};

ComMaps graphene_com_maps() {
  const auto gt = autostem::testing::graphene_dpc_phantom();
  const auto& d = *gt.four_d;
  autostem::PatternMask adf;
  adf.r_in_px = 1.25 * autostem::bright_field_disc_radius_px(d);
  ComMaps m{autostem::ImageArray(16, 16), autostem::ImageArray(16, 16), autostem::ImageArray(16, 16)};
  for (Eigen::Index r = 0; r < 16; ++r)
    for (Eigen::Index c = 0; c < 16; ++c) {
      const auto p = d.pattern(std::size_t(r), std::size_t(c));
      const auto com = autostem::centre_of_mass(p, 64, 64);
      m.x(r, c) = com.x_px;
      m.y(r, c) = com.y_px;
      m.adf(r, c) = autostem::virtual_detector(p, 64, 64, adf);
    }
  return m;
}

double correlation(const autostem::ImageArray& a, const autostem::ImageArray& b) {
  const autostem::ImageArray da = a - a.mean(), db = b - b.mean();
  return (da * db).sum() / std::sqrt(da.square().sum() * db.square().sum());
}

}  // namespace

// The curl fixes the scan rotation modulo 180°; the weak-phase physics (CoM towards the atoms, so
// a negative divergence where the ADF is bright) fixes the half-turn. Detector readings are made by
// turning the phantom's CoM field by −θ (and mirroring x), the inverse of the correction.
TEST(FourDPhantom, ScanRotationAndHalfTurnOfAGrapheneComField) {
  const auto m = graphene_com_maps();
  const auto angle_error_deg = [](double a, double b) {
    double e = std::fmod(std::abs(a - b), 2 * std::numbers::pi);
    return std::min(e, 2 * std::numbers::pi - e) * 180.0 / std::numbers::pi;
  };
  // The phantom's own axes: no rotation, and the half-turn rule keeps 0°, not 180°.
  const auto own = autostem::resolve_half_turn(autostem::find_scan_rotation(m.x, m.y), m.x, m.y, m.adf);
  EXPECT_FALSE(own.flip);
  EXPECT_LT(angle_error_deg(own.rotation_rad, 0.0), 0.5);
  for (const double deg : {35.0, 200.0, 290.0})
    for (const bool flip : {false, true}) {
      SCOPED_TRACE(std::to_string(deg) + (flip ? " flipped" : ""));
      const double th = deg * std::numbers::pi / 180.0;
      autostem::ImageArray mx = std::cos(th) * m.x + std::sin(th) * m.y;
      const autostem::ImageArray my = -std::sin(th) * m.x + std::cos(th) * m.y;
      if (flip) mx = -mx;
      const auto rot = autostem::resolve_half_turn(autostem::find_scan_rotation(mx, my), mx, my, m.adf);
      EXPECT_EQ(rot.flip, flip);
      EXPECT_LT(angle_error_deg(rot.rotation_rad, th), 0.5);
      // The corrected field is the phantom's.
      autostem::ImageArray fx, fy;
      autostem::apply_scan_rotation(rot, mx, my, fx, fy);
      EXPECT_LT((fx - m.x).abs().maxCoeff(), 0.02 * m.x.abs().maxCoeff());
    }
  // The integrated CoM of the right field is bright on the atoms, like the ADF.
  EXPECT_GT(correlation(autostem::integrate_com(m.x, m.y), m.adf), 0.8);
  EXPECT_LT(correlation(autostem::integrate_com(-m.x, -m.y), m.adf), -0.8);
}

// Fourier integration of an exact gradient returns the function (up to its mean).
TEST(FourDPhantom, IntegratedComOfAGradientFieldIsItsPotential) {
  const Eigen::Index R = 40, C = 52;
  autostem::ImageArray f(R, C), gx(R, C), gy(R, C);
  for (Eigen::Index r = 0; r < R; ++r)
    for (Eigen::Index c = 0; c < C; ++c) {
      const double dy = double(r) - 17.0, dx = double(c) - 30.0, s2 = 2 * 5.0 * 5.0;
      const double v = std::exp(-(dx * dx + dy * dy) / s2);
      f(r, c) = v + 0.02 * double(c);  // a ramp: a uniform field, as a tilted specimen gives
      gx(r, c) = -2 * dx / s2 * v + 0.02;
      gy(r, c) = -2 * dy / s2 * v;
    }
  const autostem::ImageArray got = autostem::integrate_com(gx, gy);
  const autostem::ImageArray want = f - f.mean();
  EXPECT_GT(correlation(got, want), 0.995);
  EXPECT_LT((got - want).abs().maxCoeff(), 0.08 * (want.maxCoeff() - want.minCoeff()));
  EXPECT_THROW((void)autostem::integrate_com(autostem::ImageArray(3, 3), autostem::ImageArray(3, 4)),
               std::invalid_argument);
  EXPECT_THROW((void)autostem::resolve_half_turn({}, gx, gy, autostem::ImageArray(2, 2)), std::invalid_argument);
}

TEST(FourDPhantom, ScanRotationTextRoundTrips) {
  const auto r = autostem::parse_scan_rotation("270:flip");
  EXPECT_NEAR(r.rotation_rad, 1.5 * std::numbers::pi, 1e-12);
  EXPECT_TRUE(r.flip);
  EXPECT_EQ(autostem::format_scan_rotation(r), "270.0000:flip");
  EXPECT_FALSE(autostem::parse_scan_rotation("-12.5").flip);
  for (const char* bad : {"", "abc", "12:mirror", "1:flip:2", "nan"})
    EXPECT_THROW((void)autostem::parse_scan_rotation(bad), std::invalid_argument) << bad;
  // A detector vector turned to the scan frame: 270° + flip swaps x and y.
  double x = 1.0, y = 2.0;
  autostem::rotate_to_scan_frame(r, x, y);
  EXPECT_NEAR(x, 2.0, 1e-12);
  EXPECT_NEAR(y, 1.0, 1e-12);
}
