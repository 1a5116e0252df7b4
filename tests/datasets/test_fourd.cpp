// 4D-STEM pattern scalarizers: centre of mass against theory (a transmission with a linear
// phase ramp shifts the pattern by the analytic amount), virtual detectors and CoM against NumPy
// on the real Merlin frames (fixture from scripts/fixtures/merlin_pattern_scalars.py), scan
// rotation and flip recovered by minimising the curl, and the spec syntax.
#include <autostem/datasets/mib.hpp>
#include <autostem/imaging/diffraction.hpp>
#include <autostem/imaging/scalarizer.hpp>

#include "test_data.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <numbers>

namespace ad = autostem::datasets;
using autostem::PatternMask;

namespace {

// t(r) = exp(2πi (qy·row + qx·col) / n): a pure phase whose gradient deflects the beam by
// (qy, qx) detector pixels (the Fourier shift theorem).
std::vector<std::complex<double>> phase_ramp(std::size_t n, double qy, double qx) {
  std::vector<std::complex<double>> t(n * n);
  for (std::size_t r = 0; r < n; ++r)
    for (std::size_t c = 0; c < n; ++c)
      t[r * n + c] = std::polar(1.0, 2.0 * std::numbers::pi * (qy * double(r) + qx * double(c)) / double(n));
  return t;
}

}  // namespace

TEST(FourD, ElectronWavelengthMatchesKirkland) {
  // Kirkland, Advanced Computing in Electron Microscopy, Table 2.2: 100 kV 0.03701 Å,
  // 200 kV 0.02508 Å, 300 kV 0.01969 Å.
  EXPECT_NEAR(autostem::electron_wavelength_A(100), 0.03701, 2e-5);
  EXPECT_NEAR(autostem::electron_wavelength_A(200), 0.02508, 2e-5);
  EXPECT_NEAR(autostem::electron_wavelength_A(300), 0.01969, 2e-5);
  EXPECT_THROW(autostem::electron_wavelength_A(0), std::invalid_argument);
}

// CoM against theory: |FFT(ψ·t)|² with a linear phase ramp is the probe's pattern shifted by
// (qy, qx) px, so the CoM moves by exactly that (≤ 1 % error asked; non-integer shifts).
TEST(FourD, CentreOfMassOfAPhaseRampIsTheAnalyticShift) {
  const std::size_t n = 128;
  const auto probe = autostem::stem_probe(n, 0.2, 200.0, 20.0, 50.0);
  double p2 = 0;
  for (const auto& v : probe) p2 += std::norm(v);
  EXPECT_NEAR(p2, 1.0, 1e-12);
  PatternMask centre;
  centre.centre_row = centre.centre_col = double(n / 2);
  const auto flat = autostem::diffraction_pattern(probe, phase_ramp(n, 0, 0), n);
  const auto c0 = autostem::centre_of_mass(flat, n, n, centre);
  EXPECT_NEAR(c0.total, 1.0, 1e-6);  // Parseval: Σ|ψ|² = 1
  EXPECT_LT(std::hypot(c0.x_px, c0.y_px), 1e-6);
  for (const auto& [qy, qx] : {std::pair{-1.7, 3.3}, std::pair{5.25, 0.6}, std::pair{-0.35, -7.9}}) {
    const auto p = autostem::diffraction_pattern(probe, phase_ramp(n, qy, qx), n);
    const auto c = autostem::centre_of_mass(p, n, n, centre);
    const double mag = std::hypot(qx, qy);
    std::printf("phase ramp (qy, qx) = (%g, %g) px: CoM (%.5f, %.5f), error %.3f %% of |q|\n", qy, qx,
                c.y_px, c.x_px, 100.0 * std::hypot(c.x_px - qx, c.y_px - qy) / mag);
    EXPECT_LE(std::abs(c.x_px - qx), 0.01 * mag) << qx << " got " << c.x_px;
    EXPECT_LE(std::abs(c.y_px - qy), 0.01 * mag) << qy << " got " << c.y_px;
    // Through the scalarizer syntax, as `--scalarizer com_mag:0:1000:64:64`.
    const auto s = autostem::make_scalarizer("com_mag:0:1000:64:64", {});
    EXPECT_LE(std::abs(s->evaluate(p) - mag), 0.01 * mag);
  }
}

// The default centre is the optical axis of an fft-shifted pattern, (⌊ky/2⌋, ⌊kx/2⌋): a vacuum
// pattern (t = 1) of the model has zero CoM about it for even and odd sizes, through the default
// `com_mag`, `com_x`, `com_y` and `com_shift`; about the geometric centre ((n − 1)/2) an even
// pattern would show a spurious (½, ½) px shift (issue 19: |CoM| on the TBG phantom).
TEST(FourD, DefaultCentreIsTheOpticalAxisOfAnFftShiftedPattern) {
  for (const std::size_t n : {64u, 65u}) {
    const auto probe = autostem::stem_probe(n, 0.1, 80.0, 25.0, 0.0);
    const auto p = autostem::diffraction_pattern(probe, phase_ramp(n, 0, 0), n);
    for (const char* spec : {"com_mag", "com_x", "com_y", "com_shift"})
      EXPECT_LT(std::abs(autostem::make_scalarizer(spec, {})->evaluate(p, n, n)), 1e-6) << spec << " n = " << n;
    PatternMask geometric;
    geometric.centre_row = geometric.centre_col = (double(n) - 1.0) / 2.0;
    const auto c = autostem::centre_of_mass(p, n, n, geometric);
    EXPECT_NEAR(c.x_px, n % 2 ? 0.0 : 0.5, 1e-6) << n;
  }
}

// Virtual BF / ADF / annulus sums and masked CoM equal direct NumPy computations on the real
// Merlin frames (single 6-bit 4×2 scan, 12-bit 9 frames, quad 12-bit).
TEST(FourD, VirtualDetectorsAndComEqualNumpyOnRealMerlinFrames) {
  std::ifstream in(std::string(AUTOSTEM_SOURCE_DIR) + "/tests/datasets/fixtures/merlin_pattern_scalars.json");
  ASSERT_TRUE(in) << "fixture missing; run scripts/fixtures/merlin_pattern_scalars.py";
  const auto j = nlohmann::json::parse(in);
  std::size_t checked = 0;
  for (const auto& [file, masks] : j.items()) {
    AUTOSTEM_REQUIRE_DATA(path, std::filesystem::path("4dstem/merlin") / file);
    ad::MibFile f(path);
    std::vector<float> frame(f.ky() * f.kx());
    for (const auto& m : masks) {
      PatternMask mask;
      mask.r_in_px = m["r_in"];
      mask.r_out_px = m["r_out"];
      if (!m["centre"].is_null()) {
        mask.centre_row = m["centre"][0];
        mask.centre_col = m["centre"][1];
      }
      for (std::size_t i = 0; i < f.frames(); ++i) {
        SCOPED_TRACE(file + " " + m["mask"].get<std::string>() + " frame " + std::to_string(i));
        f.read_frame(i, frame);
        const auto& want = m["frames"][i];
        EXPECT_EQ(autostem::virtual_detector(frame, f.ky(), f.kx(), mask), want["sum"].get<double>());
        const auto c = autostem::centre_of_mass(frame, f.ky(), f.kx(), mask);
        EXPECT_NEAR(c.x_px, want["com_x"].get<double>(), 1e-9);
        EXPECT_NEAR(c.y_px, want["com_y"].get<double>(), 1e-9);
        ++checked;
      }
    }
  }
  EXPECT_EQ(checked, 4u * (8 + 9 + 1));
  // The same numbers through --scalarizer specs on the first frame of the 4×2 scan.
  AUTOSTEM_REQUIRE_DATA(p, "4dstem/merlin/001_4x2_6bit.mib");
  ad::MibFile f(p);
  std::vector<float> frame(f.ky() * f.kx());
  f.read_frame(0, frame);
  const auto& bf = j["001_4x2_6bit.mib"][0]["frames"][0];
  const auto& adf = j["001_4x2_6bit.mib"][1]["frames"][0];
  EXPECT_EQ(autostem::make_scalarizer("bf:20", {})->evaluate(frame), bf["sum"].get<double>());
  EXPECT_EQ(autostem::make_scalarizer("adf:40:100", {})->evaluate(frame, 256, 256), adf["sum"].get<double>());
  EXPECT_NEAR(autostem::make_scalarizer("com_x:0:20", {})->evaluate(frame), bf["com_x"].get<double>(), 1e-9);
  EXPECT_NEAR(autostem::make_scalarizer("com_angle:0:20", {})->evaluate(frame),
              std::atan2(bf["com_y"].get<double>(), bf["com_x"].get<double>()), 1e-9);
}

// A curl-free field (the gradient of a sum of Gaussians, like the projected field of atoms) seen
// through a rotated (and mirrored) detector: minimising the curl recovers the rotation (mod π)
// and the flip.
TEST(FourD, ScanRotationAndFlipFromMinimalCurl) {
  const Eigen::Index R = 40, C = 48;
  autostem::ImageArray ex(R, C), ey(R, C);
  const double centres[][3] = {{10, 12, 1.0}, {25, 30, -0.7}, {31, 9, 0.5}, {8, 40, 0.9}};
  for (Eigen::Index r = 0; r < R; ++r)
    for (Eigen::Index c = 0; c < C; ++c) {
      double gx = 0, gy = 0;
      for (const auto& g : centres) {
        const double dy = double(r) - g[0], dx = double(c) - g[1];
        const double v = g[2] * std::exp(-(dx * dx + dy * dy) / (2 * 6.0 * 6.0));
        gx += -dx / 36.0 * v;
        gy += -dy / 36.0 * v;
      }
      ex(r, c) = gx;
      ey(r, c) = gy;
    }
  for (const double deg : {0.0, 23.0, 97.5, 151.0})
    for (const bool flip : {false, true}) {
      SCOPED_TRACE(std::to_string(deg) + (flip ? " flipped" : ""));
      // Detector reading = inverse of the correction: rotate by −θ, then mirror x when flipped.
      const double th = deg * std::numbers::pi / 180.0;
      autostem::ImageArray mx = std::cos(th) * ex + std::sin(th) * ey;
      autostem::ImageArray my = -std::sin(th) * ex + std::cos(th) * ey;
      if (flip) mx = -mx;
      const auto rot = autostem::find_scan_rotation(mx, my);
      EXPECT_EQ(rot.flip, flip);
      double err = std::fmod(std::abs(rot.rotation_rad - th), std::numbers::pi);
      err = std::min(err, std::numbers::pi - err);
      EXPECT_LT(err * 180.0 / std::numbers::pi, 0.2);
      EXPECT_LT(rot.curl_rms, 1e-3);
    }
  EXPECT_THROW(autostem::find_scan_rotation(autostem::ImageArray(2, 2), autostem::ImageArray(2, 2)),
               std::invalid_argument);
}

TEST(FourD, PatternScalarizerSpecsAndErrors) {
  EXPECT_EQ(autostem::make_scalarizer("bf:20", {})->spec(), "bf:20");
  EXPECT_EQ(autostem::make_scalarizer("adf:40:100:120:21", {})->spec(), "adf:40:100:120:21");
  EXPECT_EQ(autostem::make_scalarizer("com_mag", {})->spec(), "com_mag");
  EXPECT_EQ(autostem::make_scalarizer("com_angle", {})->units(), "rad");
  EXPECT_EQ(autostem::make_scalarizer("vdet:0:5", {})->units(), "counts");
  EXPECT_THROW(autostem::make_scalarizer("adf:100:40", {}), std::invalid_argument);
  EXPECT_THROW(autostem::make_scalarizer("bf", {}), std::invalid_argument);
  EXPECT_THROW(autostem::make_scalarizer("com_x:1", {}), std::invalid_argument);
  EXPECT_THROW(autostem::make_scalarizer("vdet:a:5", {}), std::invalid_argument);
  const std::vector<float> not_square(10, 1.0f);
  EXPECT_THROW(autostem::make_scalarizer("bf:3", {})->evaluate(not_square), std::invalid_argument);
  bool listed = false;
  for (const auto& f : autostem::scalarizer_forms()) listed |= f.syntax.rfind("com_mag", 0) == 0;
  EXPECT_TRUE(listed);
}
