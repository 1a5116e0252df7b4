// Synthetic phantoms: determinism, shapes, masks, and the spectral features they promise.
#include <autostem/datasets/phantoms.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

namespace ds = autostem::datasets;

namespace {

std::vector<double> spectrum_at(const autostem::GroundTruth& gt, const autostem::Position& p) {
  auto s = gt.spectrum_image->spectrum(static_cast<std::size_t>(std::lround(p.row)),
                                       static_cast<std::size_t>(std::lround(p.col)));
  return {s.begin(), s.end()};
}

const autostem::LabelledPoint& marker(const autostem::GroundTruth& gt, int label) {
  for (const auto& p : gt.points)
    if (p.label == label) return p;
  throw std::runtime_error("marker missing");
}

double at_energy(const autostem::GroundTruth& gt, const std::vector<double>& s, double e) {
  return s[static_cast<std::size_t>(std::lround(gt.spectrum_image->energy().channel_of(e)))];
}

// Channels (as energies) that are local maxima of s within [lo, hi] eV.
std::vector<double> local_maxima(const autostem::GroundTruth& gt, const std::vector<double>& s, double lo, double hi) {
  const auto& ax = gt.spectrum_image->energy();
  std::vector<double> out;
  for (std::size_t k = 1; k + 1 < s.size(); ++k) {
    const double e = ax.energy_eV(static_cast<double>(k));
    if (e < lo || e > hi) continue;
    if (s[k] > s[k - 1] && s[k] >= s[k + 1]) out.push_back(e);
  }
  return out;
}

double band_mean(const autostem::GroundTruth& gt, std::size_t r, std::size_t c) {
  const auto& ax = gt.spectrum_image->energy();
  auto s = gt.spectrum_image->spectrum(r, c);
  double sum = 0;
  int n = 0;
  for (std::size_t k = 0; k < s.size(); ++k) {
    const double e = ax.energy_eV(static_cast<double>(k));
    if (e >= ds::nanoparticles_band_lo_eV && e <= ds::nanoparticles_band_hi_eV) {
      sum += s[k];
      ++n;
    }
  }
  return sum / n;
}

}  // namespace

TEST(Phantoms, NamesAndUnknownName) {
  EXPECT_EQ(ds::phantom_names(), (std::vector<std::string>{"nanowire", "nanoparticles", "lattice"}));
  try {
    ds::make_phantom("nanotube", 1);
    ADD_FAILURE();
  } catch (const std::invalid_argument& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("nanotube"), std::string::npos);
    EXPECT_NE(msg.find("nanowire"), std::string::npos);
    EXPECT_NE(msg.find("nanoparticles"), std::string::npos);
  }
  EXPECT_THROW(ds::make_phantom("nanowire", 1, 8, 8), std::invalid_argument);
}

class PhantomEach : public ::testing::TestWithParam<std::string> {};

TEST_P(PhantomEach, DeterministicShapesAndMask) {
  const auto a = ds::make_phantom(GetParam(), 7);
  const auto b = ds::make_phantom(GetParam(), 7);
  const auto c = ds::make_phantom(GetParam(), 8);
  EXPECT_EQ(a.rows(), 128u);
  EXPECT_EQ(a.cols(), 128u);
  ASSERT_TRUE(a.spectrum_image);
  EXPECT_EQ(a.spectrum_image->rows(), 128u);
  EXPECT_EQ(a.spectrum_image->channels(), 400u);
  EXPECT_TRUE((a.survey.data == b.survey.data).all());
  EXPECT_TRUE(std::equal(a.spectrum_image->data().begin(), a.spectrum_image->data().end(),
                         b.spectrum_image->data().begin()));
  EXPECT_FALSE((a.survey.data == c.survey.data).all());
  EXPECT_FALSE((*a.roi_mask == *c.roi_mask).all());
  ASSERT_TRUE(a.roi_mask);
  const double in_mask = a.roi_mask->sum();
  EXPECT_GT(in_mask, 20.0);
  EXPECT_LT(in_mask, 0.2 * 128 * 128);
  EXPECT_GT(a.recorded.exposure_s, 0.0);
  EXPECT_GT(a.recorded.probe_current_pA, 0.0);
  EXPECT_GE(a.survey.calibration.pixel_size_nm, 1.0);
  EXPECT_LE(a.survey.calibration.pixel_size_nm, 2.0);
  EXPECT_TRUE(std::all_of(a.spectrum_image->data().begin(), a.spectrum_image->data().end(),
                          [](float v) { return std::isfinite(v) && v >= 0; }));
  EXPECT_NE(a.source.find(GetParam()), std::string::npos);
  // Non-square grids work and keep the field of view.
  const auto r = ds::make_phantom(GetParam(), 7, 64, 96);
  EXPECT_EQ(r.rows(), 64u);
  EXPECT_EQ(r.cols(), 96u);
  EXPECT_NO_THROW(r.validate());
}

INSTANTIATE_TEST_SUITE_P(All, PhantomEach, ::testing::Values("nanowire", "nanoparticles"));

TEST(Nanowire, InterfacePeakOnlyAtInterface) {
  for (std::uint64_t seed : {1u, 2u, 3u}) {
    SCOPED_TRACE(seed);
    const auto gt = ds::make_phantom("nanowire", seed);
    const auto interface = spectrum_at(gt, marker(gt, 2).position);
    const auto gaas = spectrum_at(gt, marker(gt, 1).position);
    const auto au = spectrum_at(gt, marker(gt, 0).position);
    const double e_if = ds::nanowire_interface_peak_eV;
    // Interface: a local maximum within ±1 eV of the interface peak; bulk GaAs and bulk Au
    // rise monotonically towards their plasmons there.
    auto peaks_if = local_maxima(gt, interface, e_if - 1.0, e_if + 1.0);
    EXPECT_FALSE(peaks_if.empty());
    EXPECT_TRUE(local_maxima(gt, gaas, e_if - 3.0, e_if + 2.0).empty());
    // The interface-peak height relative to the GaAs plasmon is several times the bulk value.
    const double ratio_if = at_energy(gt, interface, e_if) / at_energy(gt, interface, 16.0);
    const double ratio_bulk = at_energy(gt, gaas, e_if) / at_energy(gt, gaas, 16.0);
    EXPECT_GT(ratio_if, 2.0 * ratio_bulk);
    // Bulk GaAs: volume plasmon at 16 ± 0.6 eV and its double-scattering peak near 32 eV.
    auto plasmon = local_maxima(gt, gaas, 10.0, 22.0);
    ASSERT_EQ(plasmon.size(), 1u);
    EXPECT_NEAR(plasmon[0], ds::nanowire_gaas_plasmon_eV, 0.6);
    auto dbl = local_maxima(gt, gaas, 26.0, 38.0);
    ASSERT_EQ(dbl.size(), 1u);
    EXPECT_NEAR(dbl[0], 32.0, 1.5);
    // The interface marker is in the mask; the bulk markers are not.
    auto in_mask = [&](const autostem::Position& p) {
      return (*gt.roi_mask)(std::lround(p.row), std::lround(p.col)) > 0;
    };
    EXPECT_TRUE(in_mask(marker(gt, 2).position));
    EXPECT_FALSE(in_mask(marker(gt, 1).position));
    EXPECT_FALSE(in_mask(marker(gt, 0).position));
    // HAADF Z-contrast: Au > GaAs > vacuum.
    auto survey_at = [&](const autostem::Position& p) { return gt.survey.data(std::lround(p.row), std::lround(p.col)); };
    EXPECT_GT(survey_at(marker(gt, 0).position), 2.0 * survey_at(marker(gt, 1).position));
    EXPECT_GT(survey_at(marker(gt, 1).position), 50.0);
    (void)au;
  }
}

TEST(Nanowire, VacuumIsZeroLossOnly) {
  const auto gt = ds::make_phantom("nanowire", 4);
  // Top-right corner: no wire, no film.
  auto s = gt.spectrum_image->spectrum(2, 125);
  const auto& ax = gt.spectrum_image->energy();
  double total = 0, beyond = 0;
  for (std::size_t k = 0; k < s.size(); ++k) {
    total += s[k];
    if (ax.energy_eV(static_cast<double>(k)) > 2.0) beyond += s[k];
  }
  EXPECT_NEAR(total, 1e6, 1e6 * 1e-3);
  EXPECT_LT(beyond / total, 1e-4);
  EXPECT_LT(gt.survey.data(2, 125), 20.0);
}

TEST(Nanoparticles, GoldStrongestInTheBand) {
  const auto gt = ds::make_phantom("nanoparticles", 11);
  double au = 0, ag = 0;
  int nau = 0, nag = 0;
  for (const auto& p : gt.points) {
    const double v = band_mean(gt, static_cast<std::size_t>(std::lround(p.position.row)),
                               static_cast<std::size_t>(std::lround(p.position.col)));
    if (p.label == 1) { au += v; ++nau; }
    if (p.label == 2) { ag += v; ++nag; }
  }
  ASSERT_GT(nau, 0);
  ASSERT_GT(nag, 0);
  au /= nau;
  ag /= nag;
  // Maximum band response over non-Au pixels (carbon, Ag, vacuum) stays below the Au mean.
  double other_max = 0, au_mask_min_centre = au;
  for (std::size_t r = 0; r < gt.rows(); ++r)
    for (std::size_t c = 0; c < gt.cols(); ++c)
      if ((*gt.roi_mask)(r, c) == 0) other_max = std::max(other_max, band_mean(gt, r, c));
  EXPECT_GT(au, 1.3 * ag);
  EXPECT_GT(au_mask_min_centre, other_max);
  // Au localized surface plasmon at 2.4 eV at a particle centre.
  const auto& p = marker(gt, 1).position;
  auto s = spectrum_at(gt, p);
  auto lsp = local_maxima(gt, s, 1.8, 3.0);
  ASSERT_FALSE(lsp.empty());
  EXPECT_NEAR(lsp[0], 2.4, 0.2);
}
