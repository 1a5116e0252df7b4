// Scalarizers: windows, values with known answers, the factory's error messages, and scalarize().
#include <autostem/imaging/scalarizer.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using autostem::EnergyAxis;
using autostem::make_scalarizer;

// The CuZn spectrum image's axis (MANIFEST.md: E = 700 eV + 8 eV/channel, 700–1988 eV, 162 ch).
const EnergyAxis kCuZn{700.0, 8.0, 162};

std::vector<float> ramp(std::size_t n) {
  std::vector<float> s(n);
  for (std::size_t c = 0; c < n; ++c) s[c] = static_cast<float>(c);
  return s;
}

// Message of the std::invalid_argument thrown by make_scalarizer(spec), or "" if none.
std::string error_of(const std::string& spec, const EnergyAxis& axis = kCuZn) {
  try {
    make_scalarizer(spec, axis);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

TEST(ChannelWindow, IncludesChannelsWhoseCentreLiesInside) {
  // 920 eV is channel 27.5 and 960 eV channel 32.5: centres 924…956 eV = channels 28…32.
  const auto w = autostem::channel_window(kCuZn, 920.0, 960.0, "t");
  EXPECT_EQ(w.first, 28u);
  EXPECT_EQ(w.last, 32u);
  // Edges exactly on a centre are included (both ends).
  const auto v = autostem::channel_window(kCuZn, 924.0, 956.0, "t");
  EXPECT_EQ(v.first, 28u);
  EXPECT_EQ(v.last, 32u);
  // The whole axis.
  const auto all = autostem::channel_window(kCuZn, 700.0, 1988.0, "t");
  EXPECT_EQ(all.first, 0u);
  EXPECT_EQ(all.last, 161u);
}

TEST(Scalarizer, BandSumMeanMaxOnARamp) {
  const auto s = ramp(kCuZn.channels);  // value = channel index
  EXPECT_DOUBLE_EQ(make_scalarizer("band_sum:920:960", kCuZn)->evaluate(s), 28 + 29 + 30 + 31 + 32);
  EXPECT_DOUBLE_EQ(make_scalarizer("band_mean:920:960", kCuZn)->evaluate(s), 30.0);
  EXPECT_DOUBLE_EQ(make_scalarizer("band_max:920:960", kCuZn)->evaluate(s), 32.0);
  EXPECT_EQ(make_scalarizer("band_mean:920:960", kCuZn)->spec(), "band_mean:920:960");
  EXPECT_EQ(make_scalarizer("band_sum:920.5:960", kCuZn)->units(), "counts");
}

TEST(Scalarizer, RatioOfWindowMeans) {
  const auto s = ramp(kCuZn.channels);
  // mean(ch 28…32) / mean(ch 10…12) = 30 / 11.
  const auto r = make_scalarizer("ratio:920:960:780:796", kCuZn);
  EXPECT_DOUBLE_EQ(r->evaluate(s), 30.0 / 11.0);
  EXPECT_EQ(r->spec(), "ratio:920:960:780:796");
}

TEST(Scalarizer, PeakPositionRefinesAParabolaExactly) {
  // y = 1000 − (c − 40.3)²: the parabola through any three samples has its vertex at 40.3.
  std::vector<float> s(kCuZn.channels);
  for (std::size_t c = 0; c < s.size(); ++c) s[c] = 1000.0f - float((c - 40.3) * (c - 40.3));
  const double expected_eV = 700.0 + 40.3 * 8.0;
  EXPECT_NEAR(make_scalarizer("peak_position:900:1100", kCuZn)->evaluate(s), expected_eV, 2e-3);
  // The maximum on the window's edge is not refined (no neighbour inside the window).
  EXPECT_DOUBLE_EQ(make_scalarizer("peak_position:1020:1100", kCuZn)->evaluate(s), 1020.0);
}

TEST(Scalarizer, EdgeRemovesAnExactPowerLawBackground) {
  // Spectrum = A·E^−3 + a 50-count step from the Cu-L2,3 onset (931 eV). The log-log fit over
  // 852…916 eV recovers the background exactly up to float32 rounding (relative 6e-8 of ≤ 1.3e4
  // counts ≈ 1e-3 per channel); the edge window 932…988 eV holds 8 channels → 400 counts.
  const double A = 1e4 * std::pow(900.0, 3.0);
  auto spectrum = [&](double onset_eV) {
    std::vector<float> s(kCuZn.channels);
    for (std::size_t c = 0; c < s.size(); ++c) {
      const double E = kCuZn.energy_eV(double(c));
      s[c] = float(A * std::pow(E, -3.0) + (E >= onset_eV ? 50.0 : 0.0));
    }
    return s;
  };
  const auto s = spectrum(931.0);
  const auto edge = make_scalarizer("edge:931:60:850:920", kCuZn);
  EXPECT_NEAR(edge->evaluate(s), 400.0, 0.05);
  auto* e = dynamic_cast<autostem::EdgeIntensity*>(edge.get());
  ASSERT_NE(e, nullptr);
  const auto bg = e->fit_background(s);
  EXPECT_NEAR(bg.r, 3.0, 1e-5);
  EXPECT_NEAR(bg.A / A, 1.0, 1e-4);
  EXPECT_EQ(edge->spec(), "edge:931:60:850:920");
  // Default pre-edge window [onset − width, onset − ½ channel] = [871, 927] eV → 876…924 eV.
  EXPECT_NEAR(make_scalarizer("edge:931:60", kCuZn)->evaluate(s), 400.0, 0.05);
  // Zn-L2,3 preset on a Zn-only step: 1020…1100 eV = 11 channels × 50 counts.
  EXPECT_NEAR(make_scalarizer("edge:1020:80:965:1015", kCuZn)->evaluate(spectrum(1020.0)), 550.0,
              0.05);
  // Without an edge the background-subtracted intensity is ≈ 0 (what a map's "off" pixels read).
  EXPECT_NEAR(edge->evaluate(spectrum(1e9)), 0.0, 0.05);
}

TEST(Scalarizer, ComShiftOfASinglePixel) {
  std::vector<float> p(11 * 11, 0.0f);
  p[5 * 11 + 5] = 7.0f;  // centre of an 11×11 pattern is (5, 5)
  EXPECT_DOUBLE_EQ(autostem::com_shift(p, 11, 11), 0.0);
  p[5 * 11 + 5] = 0.0f;
  p[9 * 11 + 8] = 3.0f;  // shift (4, 3) → 5 px
  EXPECT_DOUBLE_EQ(autostem::com_shift(p, 11, 11), 5.0);
  const auto unshaped = make_scalarizer("com_shift", kCuZn);
  EXPECT_DOUBLE_EQ(unshaped->evaluate(p, 11, 11), 5.0);
  EXPECT_THROW(unshaped->evaluate(p), std::invalid_argument);  // no shape: flat signal refused
  const auto shaped = make_scalarizer("com_shift:11:11", kCuZn);
  EXPECT_DOUBLE_EQ(shaped->evaluate(p), 5.0);
  EXPECT_THROW(autostem::com_shift(p, 10, 11), std::invalid_argument);
  // An empty pattern has no centre of mass.
  EXPECT_DOUBLE_EQ(autostem::com_shift(std::vector<float>(9, 0.0f), 3, 3), 0.0);
  // Spectral scalarizers refuse patterns.
  EXPECT_THROW(make_scalarizer("band_mean:920:960", kCuZn)->evaluate(p, 11, 11),
               std::invalid_argument);
}

TEST(Scalarizer, EvaluateChecksTheSignalLength) {
  const auto s = make_scalarizer("band_mean:920:960", kCuZn);
  EXPECT_THROW(s->evaluate(ramp(161)), std::invalid_argument);
}

TEST(MakeScalarizer, ErrorsNameTheProblemAndWhatIsValid) {
  const std::string unknown = error_of("band_median:920:960");
  EXPECT_NE(unknown.find("unknown name 'band_median'"), std::string::npos) << unknown;
  EXPECT_NE(unknown.find("band_mean:LO:HI"), std::string::npos) << unknown;
  EXPECT_NE(unknown.find("edge:ONSET:WIDTH[:PRE_LO:PRE_HI]"), std::string::npos) << unknown;

  const std::string count = error_of("band_mean:920");
  EXPECT_NE(count.find("band_mean:LO:HI"), std::string::npos) << count;
  EXPECT_NE(count.find("got 1 field"), std::string::npos) << count;
  EXPECT_NE(error_of("edge:931:60:850").find("2 or 4"), std::string::npos);
  EXPECT_NE(error_of("ratio:1:2:3").find("got 3 fields"), std::string::npos);

  const std::string nan = error_of("band_mean:920:abc");
  EXPECT_NE(nan.find("field 2 is 'abc'; expected a finite number"), std::string::npos) << nan;
  EXPECT_NE(error_of("band_mean::960").find("expected a finite number"), std::string::npos);
  EXPECT_NE(error_of("band_mean:920:inf").find("expected a finite number"), std::string::npos);
  EXPECT_NE(error_of("band_mean:920:960x").find("expected a finite number"), std::string::npos);

  const std::string reversed = error_of("band_mean:960:920");
  EXPECT_NE(reversed.find("reversed"), std::string::npos) << reversed;

  const std::string empty = error_of("band_mean:921:923");
  EXPECT_NE(empty.find("empty"), std::string::npos) << empty;

  const std::string outside = error_of("band_sum:1900:2100");
  EXPECT_NE(outside.find("outside the energy axis 700–1988 eV"), std::string::npos) << outside;
  EXPECT_NE(error_of("edge:931:60:650:920").find("700–1988 eV"), std::string::npos);

  EXPECT_NE(error_of("edge:931:60:920:930").find("at least 2"), std::string::npos);
  EXPECT_NE(error_of("edge:931:60:850:940").find("before the onset"), std::string::npos);
  EXPECT_NE(error_of("edge:931:-5").find("WIDTH > 0"), std::string::npos);
  EXPECT_NE(error_of("com_shift:0:4").find("positive integer"), std::string::npos);
  EXPECT_NE(error_of("com_shift:4").find("got 1 field"), std::string::npos);
}

TEST(MakeScalarizer, EverySyntaxBuildsOnTheCuZnAxis) {
  for (const char* spec : {"band_sum:920:960", "band_mean:920:960", "band_max:920:960",
                           "edge:931:60:850:920", "edge:931:60", "ratio:920:960:1010:1050",
                           "peak_position:920:960", "com_shift", "com_shift:64:64"}) {
    const auto s = make_scalarizer(spec, kCuZn);
    EXPECT_EQ(make_scalarizer(s->spec(), kCuZn)->spec(), s->spec()) << spec;
  }
}

TEST(Scalarize, MapsEveryPixel) {
  autostem::SpectrumImage si(3, 4, kCuZn);
  for (std::size_t r = 0; r < 3; ++r)
    for (std::size_t c = 0; c < 4; ++c) {
      auto s = si.spectrum(r, c);
      for (std::size_t e = 0; e < s.size(); ++e) s[e] = float(10 * r + c);
    }
  const auto map = autostem::scalarize(si, *make_scalarizer("band_mean:920:960", kCuZn));
  ASSERT_EQ(map.rows(), 3);
  ASSERT_EQ(map.cols(), 4);
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 4; ++c) EXPECT_DOUBLE_EQ(map(r, c), 10.0 * r + c);

  // A scalarizer built for another axis is refused, naming both axes.
  const EnergyAxis shifted{696.0, 8.0, 162};
  try {
    autostem::scalarize(si, *make_scalarizer("band_mean:920:960", shifted));
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("696–1984 eV"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("700–1988 eV"), std::string::npos) << e.what();
  }
}

}  // namespace
