// The `lattice` phantom (issue 9): synthetic atomic-resolution surveys with known atoms.
// Model and classes: datasets/include/autostem/datasets/phantoms.hpp and docs/atoms.md.
#include <autostem/datasets/phantoms.hpp>

#include "lattice_internal.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <numbers>
#include <random>
#include <stdexcept>
#include <string>

#include "phantom_rng.hpp"

namespace autostem::datasets {

namespace {

constexpr double pi = std::numbers::pi;

// The phantom's random stream (phantom_rng.hpp), salted so that phantoms do not share one.
class Rng : public detail::PhantomRng {
 public:
  explicit Rng(std::uint64_t seed) : PhantomRng(seed, 0x6a09e667f3bcc909ULL) {}
};

void check_range(const char* what, double lo, double hi) {
  if (!std::isfinite(lo) || !std::isfinite(hi) || lo > hi)
    throw std::invalid_argument(std::string("make_lattice: ") + what + " range [" + std::to_string(lo) + ", " +
                                std::to_string(hi) + "] is empty or not finite");
}

void check_fraction(const char* what, double v) {
  if (!(v >= 0.0 && v < 1.0))
    throw std::invalid_argument(std::string("make_lattice: ") + what + " = " + std::to_string(v) +
                                "; expected a value in [0, 1)");
}

struct Site {
  double r, c;  // specimen frame (px)
  int cls;
  SiteKind kind;
  double z;
  int grain;
};

// Lattice sites of one grain covering the field (plus margin), specimen frame.
void add_grain(std::vector<Site>& out, LatticeKind kind, double spacing, double theta, double off_r, double off_c,
               double rows, double cols, double margin, int grain) {
  std::vector<std::array<double, 2>> basis;
  double a1r, a1c, a2r, a2c;
  if (kind == LatticeKind::graphene) {
    const double a = std::sqrt(3.0) * spacing;
    a1r = 0;
    a1c = a;
    a2r = a * std::sqrt(3.0) / 2.0;
    a2c = a / 2.0;
    basis = {{0.0, 0.0}, {a / (2.0 * std::sqrt(3.0)), a / 2.0}};
  } else {
    const double a = std::sqrt(2.0) * spacing;
    a1r = 0;
    a1c = a;
    a2r = a;
    a2c = 0;
    basis = {{0.0, 0.0}, {a / 2.0, a / 2.0}};
  }
  const double ct = std::cos(theta), st = std::sin(theta);
  auto rot = [&](double r, double c) { return std::array<double, 2>{ct * r - st * c, st * r + ct * c}; };
  const auto A1 = rot(a1r, a1c), A2 = rot(a2r, a2c);
  const double cr = rows / 2.0 + off_r, cc = cols / 2.0 + off_c;
  const double reach = std::hypot(rows, cols) / 2.0 + margin + 2.0 * spacing;
  const int n = static_cast<int>(std::ceil(reach / (spacing * (kind == LatticeKind::graphene ? 1.2 : 1.0)))) + 2;
  for (int i = -n; i <= n; ++i)
    for (int j = -n; j <= n; ++j)
      for (std::size_t b = 0; b < basis.size(); ++b) {
        const auto B = rot(basis[b][0], basis[b][1]);
        const double r = cr + i * A1[0] + j * A2[0] + B[0];
        const double c = cc + i * A1[1] + j * A2[1] + B[1];
        if (r < -margin || c < -margin || r > rows - 1 + margin || c > cols - 1 + margin) continue;
        Site s{r, c, 0, SiteKind::regular, 6.0, grain};
        if (kind == LatticeKind::perovskite) {
          s.cls = b == 0 ? 0 : 1;
          s.z = b == 0 ? 38.0 : 22.0;
        }
        out.push_back(s);
      }
}

}  // namespace

const char* to_string(SiteKind k) {
  switch (k) {
    case SiteKind::regular: return "regular";
    case SiteKind::dopant: return "dopant";
    case SiteKind::vacancy_neighbour: return "vacancy_neighbour";
    case SiteKind::boundary: return "boundary";
  }
  return "?";
}

namespace {

void check_options(const LatticeOptions& o) {
  if (o.rows < 16 || o.cols < 16)
    throw std::invalid_argument("make_lattice: size " + std::to_string(o.rows) + "×" + std::to_string(o.cols) +
                                " too small; expected at least 16×16");
  check_range("spacing_px", o.spacing_min_px, o.spacing_max_px);
  if (!(o.spacing_min_px > 1.0))
    throw std::invalid_argument("make_lattice: spacing_min_px = " + std::to_string(o.spacing_min_px) +
                                "; expected > 1 px");
  check_range("probe_sigma", o.probe_sigma_min, o.probe_sigma_max);
  if (!(o.probe_sigma_min > 0.0)) throw std::invalid_argument("make_lattice: probe_sigma_min must be > 0");
  check_range("dose", o.dose_min, o.dose_max);
  if (!(o.dose_min > 0.0)) throw std::invalid_argument("make_lattice: dose_min must be > 0");
  if (!(o.background_counts >= 0.0) || !(o.readout_sd_counts >= 0.0) || !(o.drift_max_px >= 0.0) ||
      !(o.jitter_sd_px >= 0.0))
    throw std::invalid_argument("make_lattice: background, readout noise, drift and jitter must be finite and ≥ 0");
  check_fraction("dopant_fraction", o.dopant_fraction);
  check_fraction("vacancy_fraction", o.vacancy_fraction);
  if (!(o.grain_boundary_probability >= 0.0 && o.grain_boundary_probability <= 1.0))
    throw std::invalid_argument("make_lattice: grain_boundary_probability must be in [0, 1]");
}

// Scan distortion: image pixel (i, j) samples the specimen at
// (i·kr, j + drift_c·i/rows + jitter_i) with kr = 1 + drift_r/rows.
struct ScanDistortion {
  double rows = 0.0, kr = 1.0, drift_c = 0.0;
  std::vector<double> jitter;  // (rows) line offsets, px

  double jitter_at(double i) const {
    const double ic = std::clamp(i, 0.0, rows - 1.0);
    const auto i0 = static_cast<std::size_t>(std::floor(ic));
    const std::size_t i1 = std::min(i0 + 1, jitter.size() - 1);
    const double t = ic - static_cast<double>(i0);
    return jitter[i0] * (1 - t) + jitter[i1] * t;
  }
  // Specimen-frame position (r, c) → where it appears in the image.
  Position to_image(double r, double c) const {
    const double i = r / kr;
    return Position{i, c - drift_c * i / rows - jitter_at(i)};
  }
};

// The lattice sites in the specimen frame: one grain, or (graphene, with probability
// grain_boundary_probability) two grains tilted by 13–30° meeting at a straight boundary.
std::vector<Site> lattice_sites(const LatticeOptions& o, Rng& rng, LatticeSample& out, double off_r,
                                double off_c, double margin) {
  const double rows = static_cast<double>(o.rows), cols = static_cast<double>(o.cols);
  const double s = out.spacing_px;
  std::vector<Site> sites;
  out.grain_boundary = o.kind == LatticeKind::graphene && rng.uniform() < o.grain_boundary_probability;
  if (!out.grain_boundary) {
    add_grain(sites, o.kind, s, out.rotation_rad, off_r, off_c, rows, cols, margin, 0);
    return sites;
  }
  const double phi = rng.uniform(0.0, pi);
  const double nr = std::sin(phi), nc = std::cos(phi);  // boundary line: normal and a point on it
  const double p0r = rows / 2.0 + rng.uniform(-0.15, 0.15) * rows;
  const double p0c = cols / 2.0 + rng.uniform(-0.15, 0.15) * cols;
  const double tilt = rng.uniform(13.0, 30.0) * pi / 180.0 * (rng.uniform() < 0.5 ? -1.0 : 1.0);
  std::vector<Site> g1, g2;
  add_grain(g1, o.kind, s, out.rotation_rad, off_r, off_c, rows, cols, margin, 0);
  add_grain(g2, o.kind, s, out.rotation_rad + tilt, rng.uniform(0.0, s), rng.uniform(0.0, s), rows, cols, margin, 1);
  auto side = [&](const Site& q) { return (q.r - p0r) * nr + (q.c - p0c) * nc; };
  for (const auto& q : g1)
    if (side(q) < 0) sites.push_back(q);
  const std::size_t n1 = sites.size();
  for (const auto& q : g2) {
    if (side(q) < 0) continue;
    bool clash = false;
    for (std::size_t k = 0; k < n1 && !clash; ++k)
      clash = std::abs(sites[k].r - q.r) < 0.75 * s && std::hypot(sites[k].r - q.r, sites[k].c - q.c) < 0.75 * s;
    if (!clash) sites.push_back(q);
  }
  for (auto& q : sites)
    if (std::abs(side(q)) < s) q.kind = SiteKind::boundary;
  return sites;
}

// Vacancies (graphene: C sites; perovskite: A sites) and dopants (graphene: Si on C; perovskite:
// Nb on B), decided site by site in a fixed order; regular sites next to a vacancy are marked.
void place_defects(const LatticeOptions& o, Rng& rng, double spacing, const std::vector<Site>& sites,
                   std::vector<Site>& kept, std::vector<Site>& vacant) {
  for (const auto& q : sites) {
    const bool vacancy_site = o.kind == LatticeKind::graphene || q.cls == 0;
    const double u = rng.uniform();
    if (vacancy_site && q.kind == SiteKind::regular && u < o.vacancy_fraction) {
      vacant.push_back(q);
      continue;
    }
    kept.push_back(q);
  }
  for (auto& q : kept) {
    const double u = rng.uniform();
    const bool dopant_site = o.kind == LatticeKind::graphene ? true : q.cls == 1;
    if (dopant_site && q.kind == SiteKind::regular && u < o.dopant_fraction) {
      q.kind = SiteKind::dopant;
      if (o.kind == LatticeKind::graphene) {
        q.cls = 1;
        q.z = 14.0;
      } else {
        q.cls = 2;
        q.z = 41.0;
      }
    }
  }
  for (auto& q : kept) {
    if (q.kind != SiteKind::regular) continue;
    for (const auto& v : vacant)
      if (std::hypot(v.r - q.r, v.c - q.c) < 1.2 * spacing) {
        q.kind = SiteKind::vacancy_neighbour;
        break;
      }
  }
}

// Noise-free image: background + a Gaussian probe image per atom, amplitude ∝ (Z/Z_ref)^1.7
// (incoherent Z-contrast), seen through the scan distortion; fills out.clean, out.atoms and
// out.vacancies (those inside the field, image frame).
void render(const LatticeOptions& o, const ScanDistortion& scan, const std::vector<Site>& kept,
            const std::vector<Site>& vacant, LatticeSample& out) {
  const double rows = static_cast<double>(o.rows), cols = static_cast<double>(o.cols);
  const double sigma = out.probe_sigma_px;
  const double z_ref = o.kind == LatticeKind::graphene ? 6.0 : 38.0;
  out.clean = ImageArray::Constant(static_cast<Eigen::Index>(o.rows), static_cast<Eigen::Index>(o.cols),
                                   o.background_counts);
  const double reach = 4.0 * sigma + 4.0 * o.jitter_sd_px + 2.0;
  for (const auto& q : kept) {
    const Position p = scan.to_image(q.r, q.c);
    const double amp = out.dose * std::pow(q.z / z_ref, 1.7);
    const auto i_lo = static_cast<Eigen::Index>(std::max(0.0, std::floor(p.row - reach)));
    const auto i_hi = static_cast<Eigen::Index>(std::min(rows - 1.0, std::ceil(p.row + reach)));
    const auto j_lo = static_cast<Eigen::Index>(std::max(0.0, std::floor(p.col - reach)));
    const auto j_hi = static_cast<Eigen::Index>(std::min(cols - 1.0, std::ceil(p.col + reach)));
    for (Eigen::Index i = i_lo; i <= i_hi; ++i) {
      const double sr = static_cast<double>(i) * scan.kr;
      const double sc0 = scan.drift_c * static_cast<double>(i) / rows + scan.jitter[static_cast<std::size_t>(i)];
      for (Eigen::Index j = j_lo; j <= j_hi; ++j) {
        const double dr = sr - q.r, dc = static_cast<double>(j) + sc0 - q.c;
        const double d2 = dr * dr + dc * dc;
        if (d2 < 16.0 * sigma * sigma) out.clean(i, j) += amp * std::exp(-0.5 * d2 / (sigma * sigma));
      }
    }
    const bool inside = p.row >= -0.5 && p.col >= -0.5 && p.row <= rows - 0.5 && p.col <= cols - 0.5;
    if (inside) out.atoms.push_back({p, q.cls, q.kind, q.z});
  }
  for (const auto& v : vacant) {
    const Position p = scan.to_image(v.r, v.c);
    if (p.row >= -0.5 && p.col >= -0.5 && p.row <= rows - 0.5 && p.col <= cols - 0.5) out.vacancies.push_back(p);
  }
}

}  // namespace

LatticeSample make_lattice(const LatticeOptions& o, std::uint64_t seed) {
  check_options(o);
  Rng rng(seed);
  const double rows = static_cast<double>(o.rows);
  LatticeSample out;
  out.kind = o.kind;
  out.spacing_px = rng.uniform(o.spacing_min_px, o.spacing_max_px);
  out.rotation_rad = o.random_rotation ? rng.uniform(0.0, 2.0 * pi) : 0.0;
  out.probe_sigma_px = out.spacing_px * rng.uniform(o.probe_sigma_min, o.probe_sigma_max);
  out.dose = rng.uniform(o.dose_min, o.dose_max);
  out.pixel_size_nm = (o.kind == LatticeKind::graphene ? 0.142 : 0.3905 / std::sqrt(2.0)) / out.spacing_px;
  const double s = out.spacing_px, sigma = out.probe_sigma_px;
  const double drift_r = rng.uniform(-o.drift_max_px, o.drift_max_px);
  ScanDistortion scan;
  scan.rows = rows;
  scan.kr = 1.0 + drift_r / rows;
  scan.drift_c = rng.uniform(-o.drift_max_px, o.drift_max_px);
  scan.jitter.resize(o.rows);
  for (auto& j : scan.jitter) j = o.jitter_sd_px * rng.normal();
  const double margin = 4.0 * sigma + o.drift_max_px + 4.0 * o.jitter_sd_px + 2.0;
  const double off_r = rng.uniform(0.0, s), off_c = rng.uniform(0.0, s);

  const std::vector<Site> sites = lattice_sites(o, rng, out, off_r, off_c, margin);
  std::vector<Site> kept, vacant;
  place_defects(o, rng, s, sites, kept, vacant);
  render(o, scan, kept, vacant, out);
  // Shot noise on the clean counts, then Gaussian readout noise, clipped at 0.
  out.image = out.clean;
  for (Eigen::Index k = 0; k < out.image.size(); ++k) {
    const double v = rng.poisson(out.clean.data()[k]) + o.readout_sd_counts * rng.normal();
    out.image.data()[k] = std::max(0.0, v);
  }
  return out;
}

namespace detail {

GroundTruth lattice_phantom(std::uint64_t seed, std::size_t rows, std::size_t cols) {
  if (rows < 16 || cols < 16)
    throw std::invalid_argument("phantom 'lattice': size " + std::to_string(rows) + "×" + std::to_string(cols) +
                                " too small; expected at least 16×16");
  LatticeOptions o;
  o.kind = LatticeKind::graphene;
  o.rows = rows;
  o.cols = cols;
  o.spacing_min_px = 6.0;
  o.spacing_max_px = 9.0;
  o.dose_min = 60.0;
  o.dose_max = 200.0;
  o.grain_boundary_probability = 0.5;
  const LatticeSample smp = make_lattice(o, seed);

  GroundTruth gt;
  gt.source = "phantom:lattice(seed=" + std::to_string(seed) + ", " + std::to_string(rows) + "x" +
              std::to_string(cols) + ")";
  gt.survey.data = smp.image;
  gt.survey.calibration.pixel_size_nm = smp.pixel_size_nm;
  gt.survey.name = "HAADF";
  gt.survey.units = "counts";

  // Per-pixel probe overlap with each species' columns, and with the defect sites.
  const auto R = static_cast<Eigen::Index>(rows), C = static_cast<Eigen::Index>(cols);
  ImageArray w_c = ImageArray::Zero(R, C), w_si = ImageArray::Zero(R, C), w_def = ImageArray::Zero(R, C);
  ImageArray roi = ImageArray::Zero(R, C);
  const double sig = smp.probe_sigma_px;
  const double roi_r = std::max(1.5, 0.3 * smp.spacing_px);
  auto splat = [&](ImageArray& w, const Position& p, double radius, bool binary) {
    const auto i_lo = static_cast<Eigen::Index>(std::max(0.0, std::floor(p.row - radius)));
    const auto i_hi = static_cast<Eigen::Index>(std::min(static_cast<double>(R - 1), std::ceil(p.row + radius)));
    const auto j_lo = static_cast<Eigen::Index>(std::max(0.0, std::floor(p.col - radius)));
    const auto j_hi = static_cast<Eigen::Index>(std::min(static_cast<double>(C - 1), std::ceil(p.col + radius)));
    for (Eigen::Index i = i_lo; i <= i_hi; ++i)
      for (Eigen::Index j = j_lo; j <= j_hi; ++j) {
        const double d2 = (static_cast<double>(i) - p.row) * (static_cast<double>(i) - p.row) +
                          (static_cast<double>(j) - p.col) * (static_cast<double>(j) - p.col);
        if (binary) {
          if (d2 <= radius * radius) w(i, j) = 1.0;
        } else if (d2 <= radius * radius) {
          w(i, j) += std::exp(-0.5 * d2 / (sig * sig));
        }
      }
  };
  for (const auto& a : smp.atoms) {
    splat(a.cls == 1 ? w_si : w_c, a.position, 4.0 * sig, false);
    if (a.kind == SiteKind::vacancy_neighbour || a.kind == SiteKind::boundary) splat(w_def, a.position, 4.0 * sig, false);
    if (a.kind == SiteKind::dopant) splat(roi, a.position, roi_r, true);
    gt.points.push_back({a.position, a.cls});
  }
  for (const auto& v : smp.vacancies) splat(roi, v, roi_r, true);

  // Spectra (expected counts): power-law background, C K edge at 284 eV, Si L2,3 at 99 eV,
  // a defect peak at 265 eV; edges as a white-line peak on a (E0/E)² tail.
  const EnergyAxis axis{50.0, 5.0, 96};
  auto edge = [&](double e, double e0, double height) {
    if (e < e0 - 6.0) return 0.0;
    const double onset = 1.0 / (1.0 + std::exp(-(e - e0) / 2.0));
    return height * (onset * (e0 / std::max(e, e0)) * (e0 / std::max(e, e0)) +
                     0.8 * std::exp(-0.5 * (e - e0 - 4.0) * (e - e0 - 4.0) / 16.0));
  };
  std::vector<double> bg(axis.channels), ck(axis.channels), sil(axis.channels), def(axis.channels);
  for (std::size_t k = 0; k < axis.channels; ++k) {
    const double e = axis.energy_eV(static_cast<double>(k));
    bg[k] = 300.0 * std::pow(50.0 / e, 3.0);
    ck[k] = edge(e, 284.0, 200.0);
    sil[k] = edge(e, 99.0, 400.0);
    def[k] = 250.0 * std::exp(-0.5 * (e - 265.0) * (e - 265.0) / (4.0 * 4.0));
  }
  SpectrumImage si(rows, cols, axis, gt.survey.calibration);
  for (Eigen::Index i = 0; i < R; ++i)
    for (Eigen::Index j = 0; j < C; ++j) {
      auto spec = si.spectrum(static_cast<std::size_t>(i), static_cast<std::size_t>(j));
      const double a = w_c(i, j), b = w_si(i, j), d = std::min(1.0, w_def(i, j));
      for (std::size_t k = 0; k < axis.channels; ++k)
        spec[k] = static_cast<float>(bg[k] + a * ck[k] + b * (sil[k] + 0.3 * ck[k]) + d * def[k]);
    }
  gt.spectrum_image = std::move(si);
  gt.roi_mask = roi;
  gt.recorded = RecordingConditions{20.0, 0.05, 4e-6};
  gt.validate();
  return gt;
}

}  // namespace detail

}  // namespace autostem::datasets
