// The 4D-STEM phantom (fourd_phantom.hpp; formulas and sources in docs/models.md §7).
#include <autostem/sim/fourd_phantom.hpp>

#include <autostem/core/random.hpp>
#include <autostem/imaging/diffraction.hpp>

#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <random>
#include <sstream>
#include <stdexcept>

namespace autostem::sim {

namespace {

constexpr double pi = std::numbers::pi;
constexpr double kGrapheneA = 2.46;     // Å, lattice constant
constexpr double kBohrA = 0.5292;       // Å (Kirkland's a0)
constexpr double kElectronVA = 14.4;    // e in V·Å (Kirkland's e)
constexpr double kCutoffA = 3.0;        // projected potential cut-off radius

// Kirkland, Table C.4 (Z = 6): a_i (Å⁻¹), b_i (Å⁻²), c_i (Å), d_i (Å²).
constexpr double kCa[3] = {0.212080767, 0.199811865, 0.168254385};
constexpr double kCb[3] = {0.208605417, 0.208610186, 5.57870773};
constexpr double kCc[3] = {0.14204836, 0.363830672, 0.000835012};
constexpr double kCd[3] = {1.33311887, 3.80800263, 0.040398262};

Atom strain_atom(Atom a, const Strain& s) {
  const double dx = a.x_A - s.x0_A, dy = a.y_A - s.y0_A;
  if (dx * dx + dy * dy > s.radius_A * s.radius_A) return a;
  a.x_A = s.x0_A + (1 + s.exx) * dx + s.exy * dy;
  a.y_A = s.y0_A + s.exy * dx + (1 + s.eyy) * dy;
  return a;
}

}  // namespace

std::vector<Atom> graphene(double width_A, double height_A, double rotation_deg, const Strain& strain) {
  // Primitive vectors a1 = a(1, 0), a2 = a(1/2, √3/2); basis (0, 0) and (a1 + a2)/3.
  const double a = kGrapheneA;
  const double th = rotation_deg * pi / 180.0;
  const double cx = width_A / 2, cy = height_A / 2;
  const double reach = std::hypot(width_A, height_A) / 2 + 2 * a;
  const int n = static_cast<int>(std::ceil(2 * reach / a)) + 2;
  std::vector<Atom> out;
  const double bx[2] = {0.0, a / 2.0}, by[2] = {0.0, a * std::sqrt(3.0) / 6.0};
  for (int i = -n; i <= n; ++i)
    for (int j = -n; j <= n; ++j)
      for (int k = 0; k < 2; ++k) {
        const double x = i * a + j * a / 2 + bx[k], y = j * a * std::sqrt(3.0) / 2 + by[k];
        if (std::abs(x) > reach || std::abs(y) > reach) continue;
        Atom at{cx + std::cos(th) * x - std::sin(th) * y, cy + std::sin(th) * x + std::cos(th) * y, 6};
        at = strain_atom(at, strain);
        if (at.x_A >= -kCutoffA && at.x_A < width_A + kCutoffA && at.y_A >= -kCutoffA &&
            at.y_A < height_A + kCutoffA)
          out.push_back(at);
      }
  return out;
}

std::vector<Atom> twisted_bilayer_graphene(double width_A, double height_A, double twist_deg, double shift_x_A,
                                           double shift_y_A) {
  auto a = graphene(width_A, height_A, 0.0);
  // Layer 2 is built over a field enlarged by the shift so that the translated layer still covers
  // [0, width) × [0, height) (plus the potential's cut-off).
  const double mx = std::abs(shift_x_A), my = std::abs(shift_y_A);
  auto b = graphene(width_A + 2 * mx, height_A + 2 * my, twist_deg);
  for (auto& at : b) {
    at.x_A += shift_x_A - mx;
    at.y_A += shift_y_A - my;
    if (at.x_A >= -kCutoffA && at.x_A < width_A + kCutoffA && at.y_A >= -kCutoffA && at.y_A < height_A + kCutoffA)
      a.push_back(at);
  }
  return a;
}

double moire_period_A(double twist_deg) {
  if (!(twist_deg > 0.0 && twist_deg <= 180.0))
    throw std::invalid_argument("moire_period_A: twist " + std::to_string(twist_deg) + "° is not in (0°, 180°]");
  return kGrapheneA / (2.0 * std::sin(twist_deg * pi / 360.0));
}

double twist_for_moire_period_deg(double period_A) {
  if (!(period_A > kGrapheneA / 2.0) || !std::isfinite(period_A))
    throw std::invalid_argument("twist_for_moire_period_deg: a moiré period of " + std::to_string(period_A) +
                                " Å is not longer than a/2 = 1.23 Å");
  return 2.0 * std::asin(kGrapheneA / (2.0 * period_A)) * 360.0 / (2.0 * pi);
}

std::vector<MoireSite> moire_aa_sites(double width_A, double height_A, double twist_deg, double shift_x_A,
                                      double shift_y_A, double margin_A) {
  for (double v : {width_A, height_A, twist_deg, shift_x_A, shift_y_A, margin_A})
    if (!std::isfinite(v)) throw std::invalid_argument("moire_aa_sites: non-finite argument");
  const double th = twist_deg * pi / 180.0, c = std::cos(th), s = std::sin(th);
  // (I − R)⁻¹ with I − R = [[1 − c, s], [−s, 1 − c]], determinant 2(1 − c).
  const double det = 2.0 * (1.0 - c);
  if (!(det > 1e-12)) throw std::invalid_argument("moire_aa_sites: a twist of 0° (mod 360°) has no moiré");
  const double a = kGrapheneA, cx = width_A / 2, cy = height_A / 2;
  // |t| needed: the sites move by |R t| / (2 sin(θ/2)) = |t| · period / a; cover the field's
  // diagonal plus the margin from the centre.
  const double reach = (std::hypot(width_A, height_A) / 2 + margin_A + std::hypot(shift_x_A, shift_y_A) / std::sqrt(det)) *
                       std::sqrt(det) / a + 2.0;
  const int n = static_cast<int>(std::ceil(2.0 * reach)) + 1;
  std::vector<MoireSite> out;
  for (int i = -n; i <= n; ++i)
    for (int j = -n; j <= n; ++j) {
      const double tx = i * a + j * a / 2, ty = j * a * std::sqrt(3.0) / 2;
      const double vx = shift_x_A - (c * tx - s * ty), vy = shift_y_A - (s * tx + c * ty);
      const double px = ((1 - c) * vx - s * vy) / det, py = (s * vx + (1 - c) * vy) / det;
      const MoireSite site{cx + px, cy + py};
      if (site.x_A >= -margin_A && site.x_A < width_A + margin_A && site.y_A >= -margin_A &&
          site.y_A < height_A + margin_A)
        out.push_back(site);
    }
  return out;
}

double projected_potential_VA(int Z, double r_A) {
  if (Z != 6) throw std::invalid_argument("projected_potential_VA: only carbon (Z = 6) is tabulated, not Z = " + std::to_string(Z));
  const double r = std::max(r_A, 0.01);
  double v = 0;
  for (int i = 0; i < 3; ++i) {
    v += 4 * pi * pi * kBohrA * kElectronVA * kCa[i] * std::cyl_bessel_k(0.0, 2 * pi * r * std::sqrt(kCb[i]));
    v += 2 * pi * pi * kBohrA * kElectronVA * kCc[i] / kCd[i] * std::exp(-pi * pi * r * r / kCd[i]);
  }
  return v;
}

double interaction_parameter(double voltage_kV) {
  const double V = voltage_kV * 1e3, mc2 = 510998.95;  // electron rest energy, eV
  return 2 * pi / (electron_wavelength_A(voltage_kV) * V) * (mc2 + V) / (2 * mc2 + V);
}

GroundTruth make_fourd_phantom(const std::vector<Atom>& atoms, const FourDPhantomConfig& cfg) {
  const std::size_t n = cfg.detector_px;
  if (n == 0 || cfg.scan_rows == 0 || cfg.scan_cols == 0 || cfg.scan_step_px == 0 || !(cfg.pixel_A > 0))
    throw std::invalid_argument("make_fourd_phantom: detector, scan, step and pixel size must be > 0");
  const std::size_t H = (cfg.scan_rows - 1) * cfg.scan_step_px + n;
  const std::size_t W = (cfg.scan_cols - 1) * cfg.scan_step_px + n;
  const double dx = cfg.pixel_A;

  // Projected potential on H × W pixels: a radial table (0.001 Å steps) of each atom's v_z,
  // shifted to 0 at the cut-off (no step at 3 Å), summed over atoms.
  constexpr double dr = 1e-3;
  const auto nt = static_cast<std::size_t>(kCutoffA / dr) + 2;
  std::vector<double> table(nt);
  const double v_cut = projected_potential_VA(6, kCutoffA);
  for (std::size_t i = 0; i < nt; ++i) table[i] = std::max(0.0, projected_potential_VA(6, double(i) * dr) - v_cut);
  std::vector<double> pot(H * W, 0.0);
  const int reach = static_cast<int>(std::ceil(kCutoffA / dx));
  for (const auto& a : atoms) {
    const int ci = static_cast<int>(std::lround(a.y_A / dx)), cj = static_cast<int>(std::lround(a.x_A / dx));
    for (int i = std::max(0, ci - reach); i <= std::min<int>(int(H) - 1, ci + reach); ++i)
      for (int j = std::max(0, cj - reach); j <= std::min<int>(int(W) - 1, cj + reach); ++j) {
        const double r = std::hypot(i * dx - a.y_A, j * dx - a.x_A);
        if (r >= kCutoffA) continue;
        const double t = r / dr;
        const auto k = static_cast<std::size_t>(t);
        pot[std::size_t(i) * W + std::size_t(j)] += table[k] + (t - double(k)) * (table[k + 1] - table[k]);
      }
  }
  const double sigma = interaction_parameter(cfg.voltage_kV);
  std::vector<std::complex<double>> trans(H * W);
  for (std::size_t i = 0; i < H * W; ++i) trans[i] = std::polar(1.0, sigma * pot[i]);

  const auto probe = stem_probe(n, dx, cfg.voltage_kV, cfg.alpha_mrad, cfg.defocus_A, 0.0, 0.0, cfg.aperture_taper_mrad);
  const double lambda = electron_wavelength_A(cfg.voltage_kV);
  const double mrad_per_px = lambda / (double(n) * dx) * 1e3;
  PatternMask adf;
  adf.centre_row = adf.centre_col = double(n / 2);
  adf.r_in_px = cfg.haadf_inner_mrad / mrad_per_px;
  adf.r_out_px = cfg.haadf_outer_mrad / mrad_per_px;

  GroundTruth gt;
  SpatialCalibration cal;
  cal.pixel_size_nm = double(cfg.scan_step_px) * dx / 10.0;
  FourDStem d(cfg.scan_rows, cfg.scan_cols, n, n, cal);
  for (auto* ax : {&d.detector_ky, &d.detector_kx}) {
    ax->units = "mrad";
    ax->scale = mrad_per_px;
    ax->offset = -double(n / 2) * mrad_per_px;
    ax->size = n;
  }
  d.detector_ky.name = "ky";
  d.detector_kx.name = "kx";
  gt.survey.data.resize(static_cast<Eigen::Index>(cfg.scan_rows), static_cast<Eigen::Index>(cfg.scan_cols));
  const std::size_t total = cfg.scan_rows * cfg.scan_cols;
  tbb::parallel_for(tbb::blocked_range<std::size_t>(0, total, 16), [&](const tbb::blocked_range<std::size_t>& range) {
    std::vector<std::complex<double>> window(n * n), work(n * n);
    std::vector<float> pattern(n * n);
    for (std::size_t p = range.begin(); p != range.end(); ++p) {
      const std::size_t r = p / cfg.scan_cols, c = p % cfg.scan_cols;
      const std::size_t r0 = r * cfg.scan_step_px, c0 = c * cfg.scan_step_px;
      for (std::size_t i = 0; i < n; ++i)
        std::copy_n(trans.begin() + static_cast<std::ptrdiff_t>((r0 + i) * W + c0), n,
                    window.begin() + static_cast<std::ptrdiff_t>(i * n));
      diffraction_pattern_into(probe, window, n, work, pattern);
      gt.survey.data(static_cast<Eigen::Index>(r), static_cast<Eigen::Index>(c)) =
          virtual_detector(pattern, n, n, adf) * std::max(1.0, cfg.electrons_per_pattern);
      auto out = d.pattern(r, c);
      if (cfg.electrons_per_pattern > 0 && !cfg.poisson_counts) {
        for (std::size_t i = 0; i < n * n; ++i)
          out[i] = static_cast<float>(double(pattern[i]) * cfg.electrons_per_pattern);
      } else if (cfg.electrons_per_pattern > 0) {
        std::uint64_t state = cfg.seed ^ (0x9E3779B97F4A7C15ull * (p + 1));
        std::mt19937_64 g(random::splitmix64(state));
        auto u01 = [&] { return random::uniform53(g); };
        for (std::size_t i = 0; i < n * n; ++i) {
          const double lam = double(pattern[i]) * cfg.electrons_per_pattern;
          if (lam >= 10.0 || !(lam > 0.0)) {
            out[i] = static_cast<float>(random::poisson(u01, std::max(0.0, lam)));
            continue;
          }
          // Knuth's method (as random::poisson_knuth) with a shortcut that keeps it exact: the
          // count is 0 iff the first uniform u ≤ e^{−λ}, and u < 1 − λ ≤ e^{−λ} needs no exp.
          // Most detector pixels see λ ≪ 1, so most draws cost one uniform.
          double prod = u01();
          if (prod < 1.0 - lam) {
            out[i] = 0.0f;
            continue;
          }
          const double limit = std::exp(-lam);
          double k = 0.0;
          while (prod > limit) {
            k += 1.0;
            prod *= u01();
          }
          out[i] = static_cast<float>(k);
        }
      } else {
        std::copy(pattern.begin(), pattern.end(), out.begin());
      }
    }
  });
  std::ostringstream src;
  src << "phantom:fourd(atoms=" << atoms.size() << ", " << cfg.voltage_kV << " kV, alpha=" << cfg.alpha_mrad
      << " mrad, taper=" << cfg.aperture_taper_mrad << " mrad, defocus=" << cfg.defocus_A << " A, " << cfg.scan_rows << "x" << cfg.scan_cols << " scan of "
      << n << "x" << n << ", e/pattern=" << cfg.electrons_per_pattern
      << (cfg.electrons_per_pattern > 0 ? (cfg.poisson_counts ? " Poisson counts" : " expected counts") : "") << ", seed=" << cfg.seed << ")";
  gt.source = src.str();
  gt.survey.calibration = cal;
  gt.survey.name = "HAADF (virtual, " + std::to_string(int(cfg.haadf_inner_mrad)) + " mrad +)";
  gt.four_d = std::move(d);
  gt.validate();
  return gt;
}

}  // namespace autostem::sim
