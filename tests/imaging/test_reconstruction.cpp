// Tests of the imaging library.s reconstruction methods (imaging/include/autostem/imaging/reconstruction.hpp).

#include <autostem/imaging/metrics.hpp>
#include <autostem/imaging/reconstruction.hpp>

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace autostem {
namespace {

struct Samples {
  std::vector<Position> pos;
  std::vector<double> val;
};

/// Distinct random pixels (fixed seed), a share `fraction` of the grid, valued by f(row, col).
template <class F>
Samples sample(std::size_t rows, std::size_t cols, double fraction, std::uint64_t seed, F f,
               bool corners = false) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  Samples s;
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t c = 0; c < cols; ++c) {
      const bool corner = (r == 0 || r + 1 == rows) && (c == 0 || c + 1 == cols);
      if (u(rng) < fraction || (corners && corner)) {
        s.pos.push_back({double(r), double(c)});
        s.val.push_back(f(double(r), double(c)));
      }
    }
  return s;
}

ReconstructionOptions method(const std::string& m) {
  ReconstructionOptions o;
  o.method = m;
  return o;
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(no exception)";
}

TEST(Reconstruction, EveryDirectMethodReproducesTheSamples) {
  const auto s = sample(20, 23, 0.2, 1, [](double r, double c) { return std::sin(r) * 10 + c; });
  for (const char* m : {"nearest", "linear", "biharmonic"}) {
    const ImageArray out = reconstruct(s.pos, s.val, 20, 23, method(m));
    ASSERT_EQ(out.rows(), 20);
    ASSERT_EQ(out.cols(), 23);
    for (std::size_t i = 0; i < s.pos.size(); ++i)
      EXPECT_DOUBLE_EQ(out(Eigen::Index(s.pos[i].row), Eigen::Index(s.pos[i].col)), s.val[i]) << m;
  }
}

TEST(Reconstruction, NearestIsTheMetricsInpainting) {
  const auto s = sample(17, 19, 0.1, 2, [](double r, double c) { return r * r - c; });
  const ImageArray a = reconstruct(s.pos, s.val, 17, 19, method("nearest"));
  const ImageArray b = inpaint_nearest(s.pos, s.val, 17, 19);
  EXPECT_EQ((a - b).abs().maxCoeff(), 0.0);
}

TEST(Reconstruction, SamplesOnOnePixelAreAveragedAndOutsideOnesIgnored) {
  const std::vector<Position> pos = {{2.2, 3.1}, {1.8, 2.9}, {-5, 0}, {0, 100}, unknown_position()};
  const std::vector<double> val = {1.0, 3.0, 99.0, 99.0, 99.0};
  const PixelSamples s = bin_samples(pos, val, 5, 6);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s.index[0], 2u * 6 + 3);
  EXPECT_DOUBLE_EQ(s.value[0], 2.0);
  EXPECT_DOUBLE_EQ(s.count[0], 2.0);
  const ImageArray out = reconstruct(pos, val, 5, 6, method("linear"));  // < 3 points: nearest
  EXPECT_EQ((out - 2.0).abs().maxCoeff(), 0.0);
}

// A linear function is reproduced exactly by piecewise-linear interpolation on any
// triangulation; with the four corners sampled the hull is the whole field.
TEST(Reconstruction, LinearIsExactOnAPlane) {
  auto plane = [](double r, double c) { return 3.0 + 0.5 * r - 1.25 * c; };
  const auto s = sample(64, 80, 0.05, 3, plane, /*corners=*/true);
  const ImageArray out = reconstruct(s.pos, s.val, 64, 80, method("linear"));
  double worst = 0.0;
  for (Eigen::Index r = 0; r < 64; ++r)
    for (Eigen::Index c = 0; c < 80; ++c) worst = std::max(worst, std::abs(out(r, c) - plane(r, c)));
  EXPECT_LT(worst, 1e-9);
}

// On a full pixel grid minus a few holes (the most degenerate input: every 2×2 block is
// co-circular) the exact predicates must still give a valid triangulation: a plane is exact.
TEST(Reconstruction, LinearCopesWithCocircularGrids) {
  auto plane = [](double r, double c) { return 2.0 * r + c; };
  Samples s;
  for (int r = 0; r < 30; r += 3)
    for (int c = 0; c < 30; c += 2)
      if ((r * 7 + c) % 5 != 1 || (r == 0 || r == 27)) {
        s.pos.push_back({double(r), double(c)});
        s.val.push_back(plane(r, c));
      }
  const ImageArray out = reconstruct(s.pos, s.val, 28, 29, method("linear"));
  for (Eigen::Index r = 0; r <= 27; ++r)
    for (Eigen::Index c = 0; c <= 28; ++c) EXPECT_NEAR(out(r, c), plane(r, c), 1e-9) << r << "," << c;
}

// A piecewise-linear interpolant never leaves the range of its samples (a maximum principle),
// and outside the hull it is the nearest sample.
TEST(Reconstruction, LinearStaysWithinTheSampleRange) {
  const auto s = sample(50, 50, 0.03, 4, [](double r, double c) { return std::cos(r * 0.3) * c; });
  const ImageArray out = reconstruct(s.pos, s.val, 50, 50, method("linear"));
  const double lo = *std::min_element(s.val.begin(), s.val.end());
  const double hi = *std::max_element(s.val.begin(), s.val.end());
  EXPECT_GE(out.minCoeff(), lo - 1e-9);
  EXPECT_LE(out.maxCoeff(), hi + 1e-9);
}

// Reference: tests/imaging/reference/biharmonic_reference.py (Debian python3-skimage
// 0.19.3, skimage.restoration.inpaint_biharmonic), output pasted below.
TEST(Reconstruction, BiharmonicMatchesSkimage) {
  // 32 known of 99 pixels
  const std::vector<std::array<double, 3>> kKnown = {
      {0, 5, 95.041767225017693},
      {1, 1, 109.587801103884},
      {1, 3, 105.03443536768214},
      {1, 6, 93.721692769797926},
      {1, 9, 81.298771093105572},
      {2, 3, 108.15831954510703},
      {2, 4, 91.375113295319153},
      {2, 6, 92.753985505514351},
      {2, 7, 88.94148628762855},
      {2, 10, 78.586400779625933},
      {3, 0, 115.90571353495309},
      {4, 2, 118.58901872009923},
      {4, 6, 96.243273607344264},
      {5, 1, 110.97802159419109},
      {5, 3, 113.65973054742511},
      {5, 4, 99.43735144234077},
      {5, 5, 99.869935511520026},
      {5, 8, 83.419283799007843},
      {6, 2, 95.600449369078518},
      {6, 7, 97.563969486671112},
      {6, 8, 103.77503943695254},
      {7, 2, 102.10412560357096},
      {7, 8, 100.6688811656028},
      {7, 9, 106.88784792672745},
      {7, 10, 104.66918940335886},
      {8, 0, 90.694588974792538},
      {8, 1, 88.962527014914741},
      {8, 2, 87.9840531352162},
      {8, 4, 94.740084592116574},
      {8, 6, 106.27182148290943},
      {8, 8, 107.00642509272788},
      {8, 9, 116.717976079659},
  };
  const double kExpected[9][11] = {
      {108.44127953599566, 107.96375731377404, 107.0947446936655, 103.47865796748748, 97.304103813294788, 95.041767225017693, 93.849168362584734, 90.421532739582574, 85.942337755411586, 82.151907376232401, 80.189369105339949},
      {110.13256869465593, 109.587801103884, 109.294197478965, 105.03443536768214, 95.069001981929176, 93.284211091032162, 93.721692769797926, 90.03638978444269, 85.183412947805692, 81.298771093105572, 79.500591694425282},
      {113.56360592474235, 113.99219548914155, 113.58708142391531, 108.15831954510703, 91.375113295319153, 91.327418561834307, 92.753985505514351, 88.94148628762855, 83.707619041569387, 80.079839172074813, 78.586400779625933},
      {115.90571353495309, 117.22954175050074, 117.06637513260482, 111.01051680514054, 98.270548239091568, 94.917488157421076, 93.494087102772056, 87.906466015783565, 81.858529069448636, 78.883201180968214, 78.586400779625933},
      {115.74874403605634, 117.41693937552678, 118.58901872009923, 114.31613107659933, 102.16851657135737, 98.845779912673081, 96.243273607344264, 88.027322818985056, 80.821378795121902, 79.641008496469084, 79.658519761387723},
      {110.3103736351334, 110.97802159419109, 110.76413671939144, 113.65973054742511, 99.43735144234077, 99.869935511520026, 96.553178992485002, 89.552488893071569, 83.419283799007843, 85.536406770973073, 86.019417667847506},
      {101.66241888230526, 99.873552650281397, 95.600449369078518, 101.60177772002814, 98.465406272714688, 99.496908516883181, 98.995594726985004, 97.563969486671112, 103.77503943695254, 100.21045635582834, 96.870181739110762},
      {96.337810741945745, 97.527561329235908, 102.10412560357096, 99.511521427148395, 97.889734884891311, 100.25551741356429, 102.0080782471214, 100.47688148467638, 100.6688811656028, 106.88784792672745, 104.66918940335886},
      {90.694588974792538, 88.962527014914741, 87.9840531352162, 91.784016986217381, 94.740084592116574, 100.96524680755931, 106.27182148290943, 105.20054488726839, 107.00642509272788, 116.717976079659, 114.88058745496598},
  };
  std::vector<Position> pos;
  std::vector<double> val;
  for (const auto& k : kKnown) {
    pos.push_back({k[0], k[1]});
    val.push_back(k[2]);
  }
  const ImageArray out = reconstruct(pos, val, 9, 11, method("biharmonic"));
  for (Eigen::Index r = 0; r < 9; ++r)
    for (Eigen::Index c = 0; c < 11; ++c)
      EXPECT_NEAR(out(r, c), kExpected[r][c], 1e-9 * std::abs(kExpected[r][c])) << r << "," << c;
}

// The 13-point biharmonic stencil annihilates planes. With the 2-px border band sampled every
// unknown pixel gets the full stencil (no truncated border stencil), so the plane is the exact
// solution and the direct solver must return it to rounding.
TEST(Reconstruction, BiharmonicIsExactOnAPlaneWithKnownBorder) {
  auto plane = [](double r, double c) { return 10.0 + r - 2.0 * c; };
  Samples s;
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (int r = 0; r < 24; ++r)
    for (int c = 0; c < 24; ++c)
      if (r < 2 || c < 2 || r >= 22 || c >= 22 || u(rng) < 0.1) {
        s.pos.push_back({double(r), double(c)});
        s.val.push_back(plane(r, c));
      }
  const ImageArray out = reconstruct(s.pos, s.val, 24, 24, method("biharmonic"));
  for (Eigen::Index r = 0; r < 24; ++r)
    for (Eigen::Index c = 0; c < 24; ++c) EXPECT_NEAR(out(r, c), plane(r, c), 1e-9);
}

// A piecewise-constant image (two flat regions split by an axis-aligned edge) is the unique
// minimiser of TV among images that agree with it on a dense enough sample: every unknown pixel
// has sampled 4-neighbours of its own region on both sides. With noise-free data, uniform
// weights and a small μ the solver must land on it to its tolerance.
TEST(Reconstruction, TvRecoversAPiecewiseConstantImage) {
  auto truth = [](double r, double c) { return (c < 20 && r > 8) ? 10.0 : 2.0; };
  Samples s;
  for (int r = 0; r < 32; ++r)
    for (int c = 0; c < 40; ++c)
      if ((r + c) % 2 == 0 || r == 0 || c == 0 || r == 31 || c == 39) {  // checkerboard + border
        s.pos.push_back({double(r), double(c)});
        s.val.push_back(truth(r, c));
      }
  ReconstructionOptions o = method("tv");
  o.noise = "uniform";
  o.tv_weight = 1e-3;
  o.tolerance = 1e-7;
  o.max_iterations = 50000;
  ReconstructionReport rep;
  const ImageArray out = reconstruct(s.pos, s.val, 32, 40, o, &rep);
  double worst = 0.0;
  for (Eigen::Index r = 0; r < 32; ++r)
    for (Eigen::Index c = 0; c < 40; ++c) worst = std::max(worst, std::abs(out(r, c) - truth(r, c)));
  // Residual bias of the regularised fit at a sampled pixel next to the edge is O(μ·range/w);
  // 1 % of the range leaves room for it.
  EXPECT_LT(worst, 0.08) << rep.iterations << " iterations";
  EXPECT_TRUE(rep.converged);
}

// Chambolle–Pock converges (ergodic O(1/k) gap, Chambolle & Pock 2011 Thm. 1) but is not
// monotone in the primal objective; check that the objective ends well below its start and that
// the last tenth of the record sits below the first tenth (the trend).
TEST(Reconstruction, TvObjectiveDecreases) {
  std::mt19937_64 rng(9);
  auto f = [&](double r, double c) { return (r - 20) * (r - 20) + (c - 25) * (c - 25) < 150 ? 200.0 : 50.0; };
  auto s = sample(48, 48, 0.15, 6, f);
  for (double& v : s.val) v = std::poisson_distribution<int>(v)(rng);
  ReconstructionOptions o = method("tv");
  o.record_objective = true;
  o.max_iterations = 400;
  o.tolerance = 1e-12;
  ReconstructionReport rep;
  reconstruct(s.pos, s.val, 48, 48, o, &rep);
  ASSERT_EQ(rep.objective.size(), 400u);
  EXPECT_LT(rep.objective_end, rep.objective_start);
  double first = 0, last = 0;
  for (std::size_t i = 0; i < 40; ++i) first += rep.objective[i];
  for (std::size_t i = 360; i < 400; ++i) last += rep.objective[i];
  EXPECT_LT(last, first);
  EXPECT_NEAR(rep.objective_end, rep.objective.back(), 1e-9 * std::abs(rep.objective_end));
}

TEST(Reconstruction, TvBeatsNearestOnANoisyPiecewiseConstantImage) {
  auto f = [](double r, double c) { return (r - 30) * (r - 30) + (c - 34) * (c - 34) < 400 ? 400.0 : 100.0; };
  ImageArray truth(64, 64);
  for (int r = 0; r < 64; ++r)
    for (int c = 0; c < 64; ++c) truth(r, c) = f(r, c);
  std::mt19937_64 rng(10);
  auto s = sample(64, 64, 0.1, 11, f);
  for (double& v : s.val) v = std::poisson_distribution<int>(v)(rng);
  const double p_near = psnr(truth, reconstruct(s.pos, s.val, 64, 64, method("nearest")));
  const double p_tv = psnr(truth, reconstruct(s.pos, s.val, 64, 64, method("tv")));
  EXPECT_GT(p_tv, p_near + 1.0);
}

// "particles": three spheres (projected thickness 2√(ρ² − d²), the HAADF contrast of a sphere)
// on a flat support, 10 % noise-free samples. The sphere model is fitted to each bright maximum
// and the residual filled biharmonically: far closer to the truth than biharmonic alone, and the
// samples are still reproduced.
TEST(Reconstruction, ParticlesRecoverSpheresBetterThanBiharmonic) {
  struct Sphere {
    double r, c, rho;
  };
  const std::vector<Sphere> spheres = {{25, 30, 6}, {62, 70, 8}, {72, 20, 5}};
  const auto f = [&](double r, double c) {
    double v = 5.0;
    for (const auto& s : spheres) {
      const double d2 = (r - s.r) * (r - s.r) + (c - s.c) * (c - s.c);
      if (d2 < s.rho * s.rho) v += 12.0 * std::sqrt(s.rho * s.rho - d2);
    }
    return v;
  };
  const std::size_t n = 96;
  ImageArray truth(n, n);
  for (std::size_t r = 0; r < n; ++r)
    for (std::size_t c = 0; c < n; ++c) truth(Eigen::Index(r), Eigen::Index(c)) = f(double(r), double(c));
  const auto s = sample(n, n, 0.1, 3, f);
  ReconstructionReport report;
  const ImageArray bih = reconstruct(s.pos, s.val, n, n, method("biharmonic"));
  const ImageArray par = reconstruct(s.pos, s.val, n, n, method("particles"), &report);
  const double p_bih = psnr(truth, bih), p_par = psnr(truth, par);
  std::printf("spheres, 10 %% samples: biharmonic %.2f dB, particles %.2f dB (%zu particles)\n", p_bih, p_par,
              report.iterations);
  EXPECT_EQ(report.iterations, spheres.size());
  EXPECT_GT(p_par, p_bih + 3.0);
  for (std::size_t i = 0; i < s.pos.size(); ++i)
    EXPECT_NEAR(par(Eigen::Index(s.pos[i].row), Eigen::Index(s.pos[i].col)), s.val[i], 1e-9);
  // Options out of range are named.
  ReconstructionOptions bad = method("particles");
  bad.particle_threshold = 1.5;
  EXPECT_NE(message_of([&] { reconstruct(s.pos, s.val, n, n, bad); }).find("particle_threshold"), std::string::npos);
  bad = method("particles");
  bad.particle_max_radius_px = 0.5;
  EXPECT_NE(message_of([&] { reconstruct(s.pos, s.val, n, n, bad); }).find("particle_max_radius_px"), std::string::npos);
}

TEST(Reconstruction, BadInputIsNamed) {
  const std::vector<Position> pos = {{0, 0}};
  const std::vector<double> val = {1.0};
  EXPECT_NE(message_of([&] { reconstruct(pos, val, 4, 4, method("magic")); })
                .find("unknown method 'magic'; valid: biharmonic, fista, linear, nearest, particles, tv"),
            std::string::npos);
  EXPECT_NE(message_of([&] {
              reconstruct(std::vector<Position>{}, std::vector<double>{}, 4, 4, method("tv"));
            }).find("no samples"),
            std::string::npos);
  EXPECT_NE(message_of([&] { reconstruct(std::vector<Position>{{9, 9}}, val, 4, 4, method("tv")); })
                .find("no samples"),
            std::string::npos);
  EXPECT_NE(message_of([&] { reconstruct(pos, std::vector<double>{1, 2}, 4, 4, method("tv")); })
                .find("1 positions but 2 values"),
            std::string::npos);
  ReconstructionOptions o = method("tv");
  o.tv_weight = -1;
  EXPECT_NE(message_of([&] { reconstruct(pos, val, 4, 4, o); }).find("tv_weight"), std::string::npos);
  o = method("tv");
  o.noise = "gaussian";
  EXPECT_NE(message_of([&] { reconstruct(std::vector<Position>{{0, 0}, {1, 1}},
                                         std::vector<double>{1, 2}, 4, 4, o); })
                .find("not one of poisson, uniform"),
            std::string::npos);
}

// Low rank: an SI that is exactly mean + two components with planar score maps is recovered by
// PCA (rank 2) + linear score maps to float precision (corners sampled: hull = field).
TEST(Reconstruction, LowRankRecoversARankTwoSpectrumImage) {
  const std::size_t rows = 20, cols = 24, C = 50;
  EnergyAxis axis{0.0, 1.0, C};
  SpectrumImage truth(rows, cols, axis);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t c = 0; c < cols; ++c) {
      auto sp = truth.spectrum(r, c);
      for (std::size_t e = 0; e < C; ++e)
        sp[e] = float(100.0 + (1.0 + 0.05 * r) * 50.0 * std::exp(-0.5 * std::pow((e - 15.0) / 3.0, 2)) +
                      (2.0 + 0.1 * c) * 20.0 * std::exp(-0.5 * std::pow((e - 35.0) / 4.0, 2)));
    }
  const auto s = sample(rows, cols, 0.2, 12, [](double, double) { return 0.0; }, true);
  std::vector<std::vector<float>> spectra;
  for (const auto& p : s.pos) {
    const auto sp = truth.spectrum(std::size_t(p.row), std::size_t(p.col));
    spectra.emplace_back(sp.begin(), sp.end());
  }
  LowRankOptions o;
  o.components = 2;
  o.spatial.method = "linear";
  LowRankReport rep;
  const SpectrumImage est = reconstruct_spectrum_image(s.pos, spectra, rows, cols, axis, o, &rep);
  EXPECT_EQ(rep.components, 2u);
  EXPECT_NEAR(rep.explained_variance_fraction, 1.0, 1e-9);
  EXPECT_LT(mean_spectral_angle(truth, est), 1e-5);
  // Channels far in the tails vary by less than float32's resolution of 100 counts; skip those.
  const auto err = per_channel_nrmse(truth, est);
  for (std::size_t e = 0; e < C; ++e) {
    float lo = 1e30f, hi = -1e30f;
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t c = 0; c < cols; ++c) {
        lo = std::min(lo, truth.spectrum(r, c)[e]);
        hi = std::max(hi, truth.spectrum(r, c)[e]);
      }
    if (hi - lo > 1.0f) {
      EXPECT_LT(err[e], 1e-4) << "channel " << e;
    }
  }
  EXPECT_THROW(reconstruct_spectrum_image(s.pos, std::vector<std::vector<float>>(s.pos.size()),
                                          rows, cols, axis, o),
               std::invalid_argument);
}

}  // namespace
}  // namespace autostem
