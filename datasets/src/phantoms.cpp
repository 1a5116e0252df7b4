#include <autostem/datasets/phantoms.hpp>

#include "lattice_internal.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <numbers>
#include <random>
#include <stdexcept>

#include "phantom_rng.hpp"

namespace autostem::datasets {

namespace {

constexpr double pi = std::numbers::pi;

// The phantom's random stream (phantom_rng.hpp), salted so that phantoms do not share one.
class Rng : public detail::PhantomRng {
 public:
  explicit Rng(std::uint64_t seed) : PhantomRng(seed, 0x9e3779b97f4a7c15ULL) {}
};

struct Peak {
  double energy_eV;
  double fwhm_eV;
  double weight;
};

struct Material {
  double Z;           // (mean) atomic number for Z-contrast
  double mfp_nm;      // inelastic mean free path λ at 200 kV (typical value)
  std::vector<Peak> peaks;
};

// Drude energy-loss function shape (Egerton eq. 3.43), zero for E ≤ 0.
double drude(double e, double ep, double gamma) {
  if (e <= 0) return 0.0;
  const double d = e * e - ep * ep;
  return e * gamma * ep * ep / (d * d + (e * gamma) * (e * gamma));
}

double gaussian(double e, double centre, double fwhm) {
  const double s = fwhm / (2.0 * std::sqrt(2.0 * std::log(2.0)));
  return std::exp(-0.5 * (e - centre) * (e - centre) / (s * s));
}

// Spectra are built from a few basis spectra on the channel grid, combined per pixel.
struct SpectralModel {
  EnergyAxis axis;
  double zlp_fwhm_eV;
  // Loss functions on a fine 0-based grid, step = dispersion, up to the axis' last energy.
  std::size_t n_loss = 0;

  std::vector<double> loss_grid(const std::vector<Peak>& peaks, bool as_gaussian) const {
    std::vector<double> f(n_loss, 0.0);
    for (const auto& p : peaks)
      for (std::size_t k = 0; k < n_loss; ++k) {
        const double e = static_cast<double>(k) * axis.dispersion_eV;
        f[k] += p.weight * (as_gaussian ? gaussian(e, p.energy_eV, p.fwhm_eV) : drude(e, p.energy_eV, p.fwhm_eV));
      }
    double area = 0;
    for (double v : f) area += v;
    if (area > 0)
      for (double& v : f) v /= area;  // unit sum over the grid (counts fraction per channel)
    return f;
  }

  static std::vector<double> convolve(const std::vector<double>& a, const std::vector<double>& b) {
    std::vector<double> c(a.size(), 0.0);
    for (std::size_t k = 0; k < a.size(); ++k)
      for (std::size_t j = 0; j <= k; ++j) c[k] += a[j] * b[k - j];
    return c;
  }

  // Places a 0-based loss function on the channel grid, broadened by the zero-loss peak.
  std::vector<float> on_channels(const std::vector<double>& loss) const {
    std::vector<float> out(axis.channels, 0.0f);
    const double s = zlp_fwhm_eV / (2.0 * std::sqrt(2.0 * std::log(2.0)));
    const double d = axis.dispersion_eV;
    // Discrete Gaussian kernel, unit sum.
    const int half = static_cast<int>(std::ceil(4.0 * s / d));
    std::vector<double> kernel(2 * half + 1);
    double ksum = 0;
    for (int i = -half; i <= half; ++i) ksum += kernel[i + half] = std::exp(-0.5 * (i * d / s) * (i * d / s));
    for (double& k : kernel) k /= ksum;
    for (std::size_t c = 0; c < axis.channels; ++c) {
      double acc = 0;
      const double e = axis.energy_eV(static_cast<double>(c));
      for (int i = -half; i <= half; ++i) {
        const double idx = (e - i * d) / d;  // fractional index into the loss grid
        if (idx < 0) continue;
        const auto k0 = static_cast<std::size_t>(idx);
        if (k0 + 1 >= loss.size()) continue;
        const double t = idx - static_cast<double>(k0);
        acc += kernel[i + half] * (loss[k0] * (1 - t) + loss[k0 + 1] * t);
      }
      out[c] = static_cast<float>(acc);
    }
    return out;
  }

  std::vector<float> zlp() const {
    std::vector<float> out(axis.channels);
    double sum = 0;
    for (std::size_t c = 0; c < axis.channels; ++c)
      sum += out[c] = static_cast<float>(gaussian(axis.energy_eV(static_cast<double>(c)), 0.0, zlp_fwhm_eV));
    for (auto& v : out) v = static_cast<float>(v / sum);
    return out;
  }
};

// Per-pixel composition handed to the spectral synthesis.
struct PixelComposition {
  std::vector<double> tau;      // t/λ per material
  std::vector<double> extra;    // weights of extra (localized) single-scattering peaks
};

// Builds the spectrum image from per-pixel compositions with Poisson plural-scattering weights.
SpectrumImage synthesize(std::size_t rows, std::size_t cols, const SpectralModel& model,
                         const std::vector<Material>& materials, const std::vector<std::vector<Peak>>& extras,
                         const std::vector<PixelComposition>& pixels, double total_counts,
                         const SpatialCalibration& cal) {
  const std::size_t nm = materials.size();
  std::vector<std::vector<double>> f(nm);
  for (std::size_t m = 0; m < nm; ++m) f[m] = model.loss_grid(materials[m].peaks, false);
  std::vector<std::vector<float>> single(nm), extra(extras.size());
  for (std::size_t m = 0; m < nm; ++m) single[m] = model.on_channels(f[m]);
  for (std::size_t x = 0; x < extras.size(); ++x) extra[x] = model.on_channels(model.loss_grid(extras[x], true));
  std::vector<std::vector<float>> dbl(nm * nm);
  for (std::size_t m = 0; m < nm; ++m)
    for (std::size_t n = m; n < nm; ++n) dbl[m * nm + n] = model.on_channels(SpectralModel::convolve(f[m], f[n]));
  const std::vector<float> zlp = model.zlp();

  SpectrumImage si(rows, cols, model.axis, cal);
  std::vector<double> acc(model.axis.channels);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t c = 0; c < cols; ++c) {
      const PixelComposition& p = pixels[r * cols + c];
      double tau = 0;
      for (double t : p.tau) tau += t;
      for (double w : p.extra) tau += w;
      const double p0 = std::exp(-tau);
      for (std::size_t k = 0; k < acc.size(); ++k) acc[k] = p0 * zlp[k];
      auto add = [&](const std::vector<float>& basis, double w) {
        if (w <= 0) return;
        for (std::size_t k = 0; k < acc.size(); ++k) acc[k] += w * basis[k];
      };
      for (std::size_t m = 0; m < nm; ++m) add(single[m], p0 * p.tau[m]);
      for (std::size_t x = 0; x < extra.size(); ++x) add(extra[x], p0 * p.extra[x]);
      for (std::size_t m = 0; m < nm; ++m)
        for (std::size_t n = m; n < nm; ++n)
          add(dbl[m * nm + n], p0 * 0.5 * p.tau[m] * p.tau[n] * (m == n ? 1.0 : 2.0));
      auto spec = si.spectrum(r, c);
      for (std::size_t k = 0; k < acc.size(); ++k) spec[k] = static_cast<float>(total_counts * acc[k]);
    }
  return si;
}

// HAADF survey from projected thicknesses: scale × Σ t_m Z_m^1.7 + background + noise.
ImageArray haadf(std::size_t rows, std::size_t cols, const std::vector<Material>& materials,
                 const std::vector<std::vector<double>>& thickness_nm, double scale, double background,
                 double noise_sd, Rng& rng) {
  ImageArray img(static_cast<Eigen::Index>(rows), static_cast<Eigen::Index>(cols));
  for (std::size_t i = 0; i < rows * cols; ++i) {
    double v = background;
    for (std::size_t m = 0; m < materials.size(); ++m) v += scale * thickness_nm[m][i] * std::pow(materials[m].Z, 1.7);
    v += noise_sd * rng.normal();
    img.data()[i] = std::max(0.0, v);
  }
  return img;
}

double chord(double radius, double r) { return r < radius ? 2.0 * std::sqrt(radius * radius - r * r) : 0.0; }

void check_size(const std::string& name, std::size_t rows, std::size_t cols) {
  if (rows < 16 || cols < 16)
    throw std::invalid_argument("phantom '" + name + "': size " + std::to_string(rows) + "×" +
                                std::to_string(cols) + " too small; expected at least 16×16");
}

// ---------------------------------------------------------------------------------------------
GroundTruth nanowire(std::uint64_t seed, std::size_t rows, std::size_t cols) {
  check_size("nanowire", rows, cols);
  Rng rng(seed);
  const double px = 192.0 / static_cast<double>(std::max(rows, cols));  // nm per pixel
  const double H = px * static_cast<double>(rows), W = px * static_cast<double>(cols);

  // Geometry (nm, row/col frame). Materials: 0 GaAs, 1 Au, 2 C.
  const double theta = (20.0 + rng.uniform(-10.0, 10.0)) * pi / 180.0;
  const double ur = std::sin(theta), uc = std::cos(theta);  // wire direction, towards the cap
  const double c_row = 0.45 * H + rng.uniform(-8.0, 8.0);
  const double c_col = 0.68 * W + rng.uniform(-5.0, 5.0);
  const double rw = 20.0 + rng.uniform(-3.0, 3.0);
  const double rc = 1.25 * rw + rng.uniform(0.0, 3.0);
  const double film_phase = rng.uniform(0.0, 2.0 * pi);
  const double film_edge = 0.78 * H;
  const double film_t = 5.0;

  const std::vector<Material> materials = {
      // GaAs: mean Z 32; volume plasmon 16.0 eV, FWHM ≈ 4 eV (typical measured 15.8–16.3 eV).
      {32.0, 100.0, {{nanowire_gaas_plasmon_eV, 4.0, 1.0}}},
      // Au: broad interband/collective losses; typical peaks near 6, 15.5 and 25 eV.
      {79.0, 80.0, {{6.0, 4.0, 0.12}, {15.5, 8.0, 0.28}, {25.0, 14.0, 0.60}}},
      // Amorphous carbon: π plasmon ≈ 6 eV, σ+π ≈ 25 eV (graphite: 27 eV).
      {6.0, 160.0, {{6.0, 3.0, 0.08}, {25.0, 16.0, 0.92}}},
  };
  const std::vector<std::vector<Peak>> extras = {{{nanowire_interface_peak_eV, 2.0, 1.0}}};
  const double interface_weight = 0.08;  // t/λ-like weight of the interface loss at the interface
  const double interface_sigma_nm = 1.5, interface_cut_nm = 4.5, roi_nm = 3.0;

  // Distance (nm) from point to the GaAs/Au interface: the arc of the cap circle on the wire side
  // that lies within the wire (|perp| ≤ rw).
  const double s_end = -std::sqrt(std::max(0.0, rc * rc - rw * rw));
  auto interface_distance = [&](double pr, double pc) {
    const double dr = pr - c_row, dc = pc - c_col;
    const double r = std::hypot(dr, dc);
    if (r > 1e-9) {
      const double qr = c_row + rc * dr / r, qc = c_col + rc * dc / r;
      const double qs = (qr - c_row) * ur + (qc - c_col) * uc;
      const double qp = -(qr - c_row) * uc + (qc - c_col) * ur;
      if (qs <= 0 && std::abs(qp) <= rw) return std::abs(r - rc);
    }
    double best = 1e300;
    for (double sign : {-1.0, 1.0}) {
      const double er = c_row + s_end * ur - sign * rw * uc;
      const double ec = c_col + s_end * uc + sign * rw * ur;
      best = std::min(best, std::hypot(pr - er, pc - ec));
    }
    return best;
  };

  const std::size_t n = rows * cols;
  std::vector<std::vector<double>> thick(3, std::vector<double>(n, 0.0));
  std::vector<PixelComposition> comp(n, PixelComposition{{0, 0, 0}, {0}});
  ImageArray roi = ImageArray::Zero(static_cast<Eigen::Index>(rows), static_cast<Eigen::Index>(cols));
  for (std::size_t i = 0; i < rows; ++i)
    for (std::size_t j = 0; j < cols; ++j) {
      const double pr = (static_cast<double>(i) + 0.5) * px, pc = (static_cast<double>(j) + 0.5) * px;
      const double dr = pr - c_row, dc = pc - c_col;
      const double s = dr * ur + dc * uc;      // along the wire (0 at the cap centre)
      const double perp = -dr * uc + dc * ur;  // across the wire
      const double r = std::hypot(dr, dc);
      const std::size_t k = i * cols + j;
      const double t_au = chord(rc, r);
      double t_gaas = 0.0;
      if (std::abs(perp) < rw && s <= -std::sqrt(std::max(0.0, rc * rc - perp * perp))) t_gaas = chord(rw, std::abs(perp));
      const double edge = film_edge + 6.0 * std::sin(2.0 * pi * pc / 80.0 + film_phase);
      const double t_c = pr > edge ? film_t : 0.0;
      thick[0][k] = t_gaas;
      thick[1][k] = t_au;
      thick[2][k] = t_c;
      comp[k].tau = {t_gaas / materials[0].mfp_nm, t_au / materials[1].mfp_nm, t_c / materials[2].mfp_nm};
      const double d = interface_distance(pr, pc);
      if ((t_gaas > 0 || t_au > 0) && d <= interface_cut_nm)
        comp[k].extra[0] = interface_weight * std::exp(-0.5 * d * d / (interface_sigma_nm * interface_sigma_nm));
      if (d <= roi_nm) roi(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(j)) = 1.0;
    }

  SpatialCalibration cal;
  cal.pixel_size_nm = px;
  // HAADF: thickest Au (2 rc) ≈ 1000 counts at the recorded dwell.
  const double scale = 1000.0 / (50.0 * std::pow(79.0, 1.7));
  GroundTruth gt;
  gt.source = "phantom:nanowire(seed=" + std::to_string(seed) + ", " + std::to_string(rows) + "x" +
              std::to_string(cols) + ")";
  gt.survey.data = haadf(rows, cols, materials, thick, scale, 2.0, 3.0, rng);
  gt.survey.calibration = cal;
  gt.survey.name = "HAADF";
  gt.survey.units = "counts";

  SpectralModel model;
  model.axis = EnergyAxis{-5.0, 0.2, 400};
  model.zlp_fwhm_eV = 0.8;
  model.n_loss = static_cast<std::size_t>(std::ceil(model.axis.energy_eV(400.0) / model.axis.dispersion_eV)) + 2;
  gt.spectrum_image = synthesize(rows, cols, model, materials, extras, comp, 1e6, cal);
  gt.roi_mask = roi;
  gt.recorded = RecordingConditions{50.0, 0.1, 10e-6};

  auto marker = [&](double s, int label) {
    const double pr = c_row + s * ur, pc = c_col + s * uc;
    gt.points.push_back({{pr / px - 0.5, pc / px - 0.5}, label});
  };
  marker(0.0, 0);            // Au bulk: the particle centre
  marker(-rc - 25.0, 1);     // GaAs bulk: 25 nm behind the interface
  marker(-rc - 1.0, 2);      // interface: on the axis, 1 nm into the GaAs
  gt.validate();
  return gt;
}

// ---------------------------------------------------------------------------------------------
struct Plate {
  double row, col, radius, rotation;
  int sides;
};
struct Sphere {
  double row, col, radius;
};

std::vector<std::array<double, 2>> plate_vertices(const Plate& p) {
  std::vector<std::array<double, 2>> v;
  for (int k = 0; k < p.sides; ++k) {
    const double a = p.rotation + 2.0 * pi * k / p.sides;
    v.push_back({p.row + p.radius * std::sin(a), p.col + p.radius * std::cos(a)});
  }
  return v;
}

// Signed distance to a convex polygon: negative inside.
double polygon_distance(const std::vector<std::array<double, 2>>& v, double pr, double pc) {
  bool inside = true;
  double best = 1e300;
  const std::size_t n = v.size();
  // Orientation of the polygon (vertices generated counter-clockwise in (col, row) or not).
  double area = 0;
  for (std::size_t k = 0; k < n; ++k) {
    const auto& a = v[k];
    const auto& b = v[(k + 1) % n];
    area += a[1] * b[0] - b[1] * a[0];
  }
  const double orient = area > 0 ? 1.0 : -1.0;
  for (std::size_t k = 0; k < n; ++k) {
    const auto& a = v[k];
    const auto& b = v[(k + 1) % n];
    const double er = b[0] - a[0], ec = b[1] - a[1];
    const double cross = ec * (pr - a[0]) - er * (pc - a[1]);
    if (orient * cross < 0) inside = false;
    const double len2 = er * er + ec * ec;
    double t = ((pr - a[0]) * er + (pc - a[1]) * ec) / len2;
    t = std::clamp(t, 0.0, 1.0);
    best = std::min(best, std::hypot(pr - (a[0] + t * er), pc - (a[1] + t * ec)));
  }
  return inside ? -best : best;
}

GroundTruth nanoparticles(std::uint64_t seed, std::size_t rows, std::size_t cols) {
  check_size("nanoparticles", rows, cols);
  Rng rng(seed);
  const double px = 256.0 / static_cast<double>(std::max(rows, cols));
  const double H = px * static_cast<double>(rows), W = px * static_cast<double>(cols);

  // Lacey carbon: where a smooth random field is near zero (a network of strands).
  struct Wave { double kr, kc, phase; };
  std::vector<Wave> waves;
  for (int k = 0; k < 10; ++k) {
    const double wavelength = rng.uniform(60.0, 140.0), dir = rng.uniform(0.0, pi);
    waves.push_back({2 * pi * std::sin(dir) / wavelength, 2 * pi * std::cos(dir) / wavelength, rng.uniform(0.0, 2 * pi)});
  }
  const double lace_halfwidth = 0.45 * std::sqrt(static_cast<double>(waves.size()) / 2.0);  // in field units

  // Particles placed without overlap (rejection sampling, bounded tries).
  std::vector<Plate> plates;
  std::vector<Sphere> spheres;
  auto free_at = [&](double r, double c, double radius) {
    if (r < radius + 4 || c < radius + 4 || r > H - radius - 4 || c > W - radius - 4) return false;
    for (const auto& p : plates) if (std::hypot(r - p.row, c - p.col) < radius + p.radius + 6) return false;
    for (const auto& s : spheres) if (std::hypot(r - s.row, c - s.col) < radius + s.radius + 6) return false;
    return true;
  };
  const std::size_t n_plates = 3 + rng.below(3), n_spheres = 5 + rng.below(4);
  const double size_scale = std::min(H, W) / 256.0;
  for (int tries = 0; plates.size() < n_plates && tries < 2000; ++tries) {
    Plate p{rng.uniform(0, H), rng.uniform(0, W), rng.uniform(15.0, 30.0) * std::max(size_scale, 0.3),
            rng.uniform(0, 2 * pi), rng.uniform() < 0.5 ? 3 : 6};
    if (free_at(p.row, p.col, p.radius)) plates.push_back(p);
  }
  for (int tries = 0; spheres.size() < n_spheres && tries < 2000; ++tries) {
    Sphere s{rng.uniform(0, H), rng.uniform(0, W), rng.uniform(8.0, 14.0) * std::max(size_scale, 0.3)};
    if (free_at(s.row, s.col, s.radius)) spheres.push_back(s);
  }

  const std::vector<Material> materials = {
      // Ag: bulk plasmon 3.8 eV plus broad 4d-interband/collective losses near 17 and 25 eV.
      {47.0, 90.0, {{3.8, 0.4, 0.08}, {17.0, 10.0, 0.42}, {25.0, 12.0, 0.50}}},
      // Au: broad losses near 6, 15.5 and 25 eV (the "volume plasmon" band of seed 002 Fig. 4).
      {79.0, 80.0, {{6.0, 4.0, 0.10}, {15.5, 8.0, 0.30}, {25.0, 14.0, 0.60}}},
      // Amorphous carbon: π ≈ 6 eV, σ+π ≈ 25 eV (graphite: 27 eV).
      {6.0, 160.0, {{6.0, 3.0, 0.08}, {25.0, 16.0, 0.92}}},
  };
  // Localized surface plasmons (typical values for 20–30 nm particles): Au dipole 2.4 eV,
  // Ag plate edge modes ≈ 3.5 eV.
  const std::vector<std::vector<Peak>> extras = {{{2.4, 0.35, 1.0}}, {{3.5, 0.3, 1.0}}};
  const double au_lsp = 0.05, ag_sp = 0.06, decay_nm = 5.0;

  const std::size_t n = rows * cols;
  std::vector<std::vector<double>> thick(3, std::vector<double>(n, 0.0));
  std::vector<PixelComposition> comp(n, PixelComposition{{0, 0, 0}, {0, 0}});
  ImageArray roi = ImageArray::Zero(static_cast<Eigen::Index>(rows), static_cast<Eigen::Index>(cols));
  std::vector<std::vector<std::array<double, 2>>> verts;
  for (const auto& p : plates) verts.push_back(plate_vertices(p));
  const double plate_t = 12.0, strand_t = 15.0;
  for (std::size_t i = 0; i < rows; ++i)
    for (std::size_t j = 0; j < cols; ++j) {
      const double pr = (static_cast<double>(i) + 0.5) * px, pc = (static_cast<double>(j) + 0.5) * px;
      const std::size_t k = i * cols + j;
      double f = 0;
      for (const auto& w : waves) f += std::cos(w.kr * pr + w.kc * pc + w.phase);
      thick[2][k] = std::abs(f) < lace_halfwidth ? strand_t : 0.0;
      double au_extra = 0, ag_extra = 0;
      for (std::size_t q = 0; q < plates.size(); ++q) {
        const double d = polygon_distance(verts[q], pr, pc);
        if (d < 0) thick[0][k] += plate_t;
        ag_extra += ag_sp * std::exp(-std::abs(d) / decay_nm);
      }
      for (const auto& s : spheres) {
        const double r = std::hypot(pr - s.row, pc - s.col);
        thick[1][k] += chord(s.radius, r);
        if (r < s.radius) roi(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(j)) = 1.0;
        au_extra += au_lsp * (r < s.radius ? 1.0 : std::exp(-(r - s.radius) / decay_nm));
      }
      for (std::size_t m = 0; m < 3; ++m) comp[k].tau[m] = thick[m][k] / materials[m].mfp_nm;
      comp[k].extra = {std::min(au_extra, au_lsp), std::min(ag_extra, ag_sp)};
    }

  SpatialCalibration cal;
  cal.pixel_size_nm = px;
  const double scale = 1000.0 / (28.0 * std::pow(79.0, 1.7));
  GroundTruth gt;
  gt.source = "phantom:nanoparticles(seed=" + std::to_string(seed) + ", " + std::to_string(rows) + "x" +
              std::to_string(cols) + ")";
  gt.survey.data = haadf(rows, cols, materials, thick, scale, 2.0, 3.0, rng);
  gt.survey.calibration = cal;
  gt.survey.name = "HAADF";
  gt.survey.units = "counts";
  SpectralModel model;
  model.axis = EnergyAxis{-2.0, 0.1, 400};
  model.zlp_fwhm_eV = 0.35;
  model.n_loss = static_cast<std::size_t>(std::ceil(model.axis.energy_eV(400.0) / model.axis.dispersion_eV)) + 2;
  gt.spectrum_image = synthesize(rows, cols, model, materials, extras, comp, 1e6, cal);
  gt.roi_mask = roi;
  gt.recorded = RecordingConditions{20.0, 0.5, 10e-6};
  for (const auto& s : spheres) gt.points.push_back({{s.row / px - 0.5, s.col / px - 0.5}, 1});
  for (const auto& p : plates) gt.points.push_back({{p.row / px - 0.5, p.col / px - 0.5}, 2});
  gt.validate();
  return gt;
}

}  // namespace

std::vector<std::string> phantom_names() { return {"nanowire", "nanoparticles", "lattice"}; }

GroundTruth make_phantom(const std::string& name, std::uint64_t seed, std::size_t rows, std::size_t cols) {
  if (name == "nanowire") return nanowire(seed, rows, cols);
  if (name == "nanoparticles") return nanoparticles(seed, rows, cols);
  if (name == "lattice") return detail::lattice_phantom(seed, rows, cols);
  std::string known;
  for (const auto& n : phantom_names()) known += (known.empty() ? "" : ", ") + n;
  throw std::invalid_argument("unknown phantom '" + name + "'; known phantoms: " + known);
}

}  // namespace autostem::datasets
