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
// projection_110 (perovskite): the [110] view, A at (√2 s·j, 2 s·i), B at (√2 s·j, 2 s·i + s).
void add_grain(std::vector<Site>& out, LatticeKind kind, bool projection_110, double spacing, double theta,
               double off_r, double off_c, double rows, double cols, double margin, int grain) {
  std::vector<std::array<double, 2>> basis;
  double a1r, a1c, a2r, a2c;
  if (kind == LatticeKind::graphene) {
    const double a = std::sqrt(3.0) * spacing;
    a1r = 0;
    a1c = a;
    a2r = a * std::sqrt(3.0) / 2.0;
    a2c = a / 2.0;
    basis = {{0.0, 0.0}, {a / (2.0 * std::sqrt(3.0)), a / 2.0}};
  } else if (projection_110) {
    a1r = 0;
    a1c = 2.0 * spacing;
    a2r = std::sqrt(2.0) * spacing;
    a2c = 0;
    basis = {{0.0, 0.0}, {0.0, spacing}};
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
  const auto check_probability = [](const char* what, double v) {
    if (!(v >= 0.0 && v <= 1.0))
      throw std::invalid_argument(std::string("make_lattice: ") + what + " = " + std::to_string(v) +
                                  "; expected a probability in [0, 1]");
  };
  check_probability("contamination_probability", o.contamination_probability);
  check_probability("vacuum_probability", o.vacuum_probability);
  check_probability("eight_bit_probability", o.eight_bit_probability);
  if (o.contamination_patches_max < 1)
    throw std::invalid_argument("make_lattice: contamination_patches_max must be >= 1");
  check_range("contamination_radius", o.contamination_radius_min, o.contamination_radius_max);
  if (!(o.contamination_radius_min > 0.0))
    throw std::invalid_argument("make_lattice: contamination_radius_min must be > 0");
  check_range("contamination_level", o.contamination_level_min, o.contamination_level_max);
  if (!(o.contamination_level_min >= 0.0))
    throw std::invalid_argument("make_lattice: contamination_level_min must be >= 0");
  check_range("z_exponent", o.z_exponent_min, o.z_exponent_max);
  if (!(o.z_exponent_min > 0.0)) throw std::invalid_argument("make_lattice: z_exponent_min must be > 0");
  if (!(o.perovskite_110_probability >= 0.0 && o.perovskite_110_probability <= 1.0))
    throw std::invalid_argument("make_lattice: perovskite_110_probability must be in [0, 1]");
  check_fraction("gradient_max", o.gradient_max);
  check_fraction("probe_tail_max", o.probe_tail_max);
  if (!(o.line_noise_sd >= 0.0) || !std::isfinite(o.line_noise_sd))
    throw std::invalid_argument("make_lattice: line_noise_sd must be finite and >= 0");
}

bool realism_on(const LatticeOptions& o) {
  return o.contamination_probability > 0.0 || o.vacuum_probability > 0.0 || o.gradient_max > 0.0 ||
         o.line_noise_sd > 0.0 || o.probe_tail_max > 0.0 || o.eight_bit_probability > 0.0;
}

// The realism's own random stream (independent of the lattice's, so that switching it on leaves
// the lattice, its defects and its distortions as they were).
class RealismRng : public detail::PhantomRng {
 public:
  explicit RealismRng(std::uint64_t seed) : PhantomRng(seed, 0xbb67ae8584caa73bULL) {}
};

// An irregular closed shape: radius R(θ) = R0 (1 + Σ_{m=2..4} a_m cos(mθ + φ_m)) about a centre.
struct Blob {
  double r0 = 0, c0 = 0, radius = 0;
  std::array<double, 3> amp{}, phase{};
  // Signed distance-like value (px): > 0 inside, ≈ distance to the outline near it.
  double inside(double r, double c) const {
    const double dr = r - r0, dc = c - c0;
    const double th = std::atan2(dr, dc);
    double R = 1.0;
    for (int m = 0; m < 3; ++m) R += amp[static_cast<std::size_t>(m)] * std::cos((m + 2) * th + phase[static_cast<std::size_t>(m)]);
    return radius * R - std::hypot(dr, dc);
  }
};

Blob random_blob(RealismRng& rr, double rows, double cols, double radius) {
  Blob b;
  b.r0 = rr.uniform(-0.1, 1.1) * rows;
  b.c0 = rr.uniform(-0.1, 1.1) * cols;
  b.radius = radius;
  for (std::size_t m = 0; m < 3; ++m) {
    b.amp[m] = rr.uniform(0.0, 0.3) / static_cast<double>(m + 1);
    b.phase[m] = rr.uniform(0.0, 2.0 * pi);
  }
  return b;
}

// Separable Gaussian blur (σ px, truncated at 3σ, edges clamped).
ImageArray gaussian_blur(const ImageArray& in, double sigma) {
  const int rad = std::max(1, static_cast<int>(std::ceil(3.0 * sigma)));
  std::vector<double> k(static_cast<std::size_t>(2 * rad + 1));
  double sum = 0;
  for (int t = -rad; t <= rad; ++t) sum += k[static_cast<std::size_t>(t + rad)] = std::exp(-0.5 * t * t / (sigma * sigma));
  for (auto& v : k) v /= sum;
  const Eigen::Index R = in.rows(), C = in.cols();
  ImageArray tmp(R, C), out(R, C);
  for (Eigen::Index i = 0; i < R; ++i)
    for (Eigen::Index j = 0; j < C; ++j) {
      double acc = 0;
      for (int t = -rad; t <= rad; ++t)
        acc += k[static_cast<std::size_t>(t + rad)] * in(i, std::clamp<Eigen::Index>(j + t, 0, C - 1));
      tmp(i, j) = acc;
    }
  for (Eigen::Index i = 0; i < R; ++i)
    for (Eigen::Index j = 0; j < C; ++j) {
      double acc = 0;
      for (int t = -rad; t <= rad; ++t)
        acc += k[static_cast<std::size_t>(t + rad)] * tmp(std::clamp<Eigen::Index>(i + t, 0, R - 1), j);
      out(i, j) = acc;
    }
  return out;
}

// What the realism options drew for one sample.
struct Realism {
  ImageArray thickness;            // contamination thickness t ∈ [0, 1]
  ImageArray vacuum;               // 1 in vacuum
  ImageArray gain;                 // multiplicative field (1 ± g)
  ImageArray support_ramp;         // additive support (counts)
  double tail_fraction = 0, tail_sigma_px = 0;
  std::vector<double> line_offset; // per row (counts)
  bool eight_bit = false;
  double eight_bit_top = 0, eight_bit_offset = 0;
  double level = 0;                // contamination brightness at t = 1, × dose
};

Realism draw_realism(const LatticeOptions& o, std::uint64_t seed, double spacing, double sigma, double dose) {
  RealismRng rr(seed);
  const auto R = static_cast<Eigen::Index>(o.rows), C = static_cast<Eigen::Index>(o.cols);
  const double rows = static_cast<double>(o.rows), cols = static_cast<double>(o.cols);
  Realism z;
  z.thickness = ImageArray::Zero(R, C);
  z.vacuum = ImageArray::Zero(R, C);
  // Contamination: union of irregular blobs with a soft edge of 0.5–2 spacings.
  if (rr.uniform() < o.contamination_probability) {
    const std::size_t n = 1 + rr.below(o.contamination_patches_max);
    for (std::size_t k = 0; k < n; ++k) {
      const double radius = rr.uniform(o.contamination_radius_min, o.contamination_radius_max) * std::min(rows, cols);
      const Blob b = random_blob(rr, rows, cols, radius);
      const double edge = rr.uniform(0.5, 2.0) * spacing;
      for (Eigen::Index i = 0; i < R; ++i)
        for (Eigen::Index j = 0; j < C; ++j) {
          const double x = std::clamp(0.5 + b.inside(static_cast<double>(i), static_cast<double>(j)) / edge, 0.0, 1.0);
          const double t = x * x * (3.0 - 2.0 * x);  // smoothstep
          z.thickness(i, j) = std::max(z.thickness(i, j), t);
        }
    }
  }
  // Vacuum: an edge region (a half-plane with a wavy edge) or 1–3 holes; hard outline.
  if (rr.uniform() < o.vacuum_probability) {
    if (rr.uniform() < 0.5) {
      const double phi = rr.uniform(0.0, 2.0 * pi);
      const double nr = std::sin(phi), nc = std::cos(phi);
      // extent of the field along the normal, from the centre
      const double half = 0.5 * (std::abs(nr) * rows + std::abs(nc) * cols);
      const double depth = rr.uniform(0.1, 0.4) * 2.0 * half;
      const double wave = rr.uniform(0.0, 1.5) * spacing, wl = rr.uniform(8.0, 30.0) * spacing, ph = rr.uniform(0.0, 2.0 * pi);
      for (Eigen::Index i = 0; i < R; ++i)
        for (Eigen::Index j = 0; j < C; ++j) {
          const double dr = static_cast<double>(i) - rows / 2.0, dc = static_cast<double>(j) - cols / 2.0;
          const double along = dr * nr + dc * nc, across = -dr * nc + dc * nr;
          if (along + wave * std::sin(2.0 * pi * across / wl + ph) > half - depth) z.vacuum(i, j) = 1.0;
        }
    } else {
      const std::size_t n = 1 + rr.below(3);
      for (std::size_t k = 0; k < n; ++k) {
        const Blob b = random_blob(rr, rows, cols, rr.uniform(0.05, 0.2) * std::min(rows, cols));
        for (Eigen::Index i = 0; i < R; ++i)
          for (Eigen::Index j = 0; j < C; ++j)
            if (b.inside(static_cast<double>(i), static_cast<double>(j)) > 0) z.vacuum(i, j) = 1.0;
      }
    }
  }
  // Gradient: a linear ramp and a broad bump, mixed; support ramp along another direction.
  const double g = rr.uniform(0.0, o.gradient_max);
  const double phi1 = rr.uniform(0.0, 2.0 * pi), phi2 = rr.uniform(0.0, 2.0 * pi), mix = rr.uniform();
  const double br = rr.uniform(0.0, rows), bc = rr.uniform(0.0, cols), bs = rr.uniform(0.3, 0.6) * std::max(rows, cols);
  const double ramp_support = rr.uniform(0.0, 0.5) * g * dose;
  z.gain = ImageArray::Ones(R, C);
  z.support_ramp = ImageArray::Zero(R, C);
  const double diag = 0.5 * std::hypot(rows, cols);
  for (Eigen::Index i = 0; i < R; ++i)
    for (Eigen::Index j = 0; j < C; ++j) {
      const double dr = static_cast<double>(i) - rows / 2.0, dc = static_cast<double>(j) - cols / 2.0;
      const double ramp = (dr * std::sin(phi1) + dc * std::cos(phi1)) / diag;  // [-1, 1]
      const double bump = 2.0 * std::exp(-0.5 * (std::pow(static_cast<double>(i) - br, 2) +
                                                 std::pow(static_cast<double>(j) - bc, 2)) / (bs * bs)) - 1.0;
      z.gain(i, j) = std::max(0.05, 1.0 + g * (mix * ramp + (1.0 - mix) * bump));
      z.support_ramp(i, j) = ramp_support * 0.5 * (1.0 + (dr * std::sin(phi2) + dc * std::cos(phi2)) / diag);
    }
  z.tail_fraction = rr.uniform(0.0, o.probe_tail_max);
  z.tail_sigma_px = rr.uniform(3.0, 8.0) * sigma;
  z.line_offset.resize(o.rows);
  for (auto& v : z.line_offset) v = o.line_noise_sd * dose * rr.normal();
  z.eight_bit = rr.uniform() < o.eight_bit_probability;
  z.eight_bit_top = rr.uniform(100.0, 250.0);
  z.eight_bit_offset = rr.uniform(0.0, 40.0);
  z.level = rr.uniform(o.contamination_level_min, o.contamination_level_max);
  return z;
}

// Amorphous speckle on the contamination: probe-sized blobs (σ 1–2 × probe σ) at 2 per spacing²,
// amplitude 0.2–1 × dose × the local thickness.
void add_amorphous(const Realism& z, std::uint64_t seed, double spacing, double sigma, double dose, ImageArray& img) {
  RealismRng rr(seed ^ 0x3c6ef372fe94f82bULL);
  const auto R = img.rows(), C = img.cols();
  const double area = static_cast<double>(R) * static_cast<double>(C);
  const auto n = static_cast<std::size_t>(2.0 * area / (spacing * spacing));
  for (std::size_t k = 0; k < n; ++k) {
    const double pr = rr.uniform(-0.5, static_cast<double>(R) - 0.5), pc = rr.uniform(-0.5, static_cast<double>(C) - 0.5);
    const double sg = sigma * rr.uniform(1.0, 2.0), a = rr.uniform(0.2, 1.0);
    const auto ii = std::clamp<Eigen::Index>(static_cast<Eigen::Index>(std::lround(pr)), 0, R - 1);
    const auto jj = std::clamp<Eigen::Index>(static_cast<Eigen::Index>(std::lround(pc)), 0, C - 1);
    const double t = z.thickness(ii, jj);
    if (t <= 0.02) continue;
    const double amp = a * dose * t, reach = 3.0 * sg;
    const auto i0 = std::max<Eigen::Index>(0, static_cast<Eigen::Index>(std::floor(pr - reach)));
    const auto i1 = std::min<Eigen::Index>(R - 1, static_cast<Eigen::Index>(std::ceil(pr + reach)));
    const auto j0 = std::max<Eigen::Index>(0, static_cast<Eigen::Index>(std::floor(pc - reach)));
    const auto j1 = std::min<Eigen::Index>(C - 1, static_cast<Eigen::Index>(std::ceil(pc + reach)));
    for (Eigen::Index i = i0; i <= i1; ++i)
      for (Eigen::Index j = j0; j <= j1; ++j) {
        const double d2 = std::pow(static_cast<double>(i) - pr, 2) + std::pow(static_cast<double>(j) - pc, 2);
        img(i, j) += amp * std::exp(-0.5 * d2 / (sg * sg));
      }
  }
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
    add_grain(sites, o.kind, out.projection_110, s, out.rotation_rad, off_r, off_c, rows, cols, margin, 0);
    return sites;
  }
  const double phi = rng.uniform(0.0, pi);
  const double nr = std::sin(phi), nc = std::cos(phi);  // boundary line: normal and a point on it
  const double p0r = rows / 2.0 + rng.uniform(-0.15, 0.15) * rows;
  const double p0c = cols / 2.0 + rng.uniform(-0.15, 0.15) * cols;
  const double tilt = rng.uniform(13.0, 30.0) * pi / 180.0 * (rng.uniform() < 0.5 ? -1.0 : 1.0);
  std::vector<Site> g1, g2;
  add_grain(g1, o.kind, out.projection_110, s, out.rotation_rad, off_r, off_c, rows, cols, margin, 0);
  add_grain(g2, o.kind, out.projection_110, s, out.rotation_rad + tilt, rng.uniform(0.0, s), rng.uniform(0.0, s), rows, cols, margin, 1);
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

// Noise-free image: background + a Gaussian probe image per atom, amplitude ∝ (Z/Z_ref)^n
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
    const double amp = out.dose * std::pow(q.z / z_ref, out.z_exponent);
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

// make_lattice's second half with the realism options on (documented at make_lattice).
void finish_realistic(const LatticeOptions& o, std::uint64_t seed, const ScanDistortion& scan, Rng& rng,
                      std::vector<Site> kept, std::vector<Site> vacant, LatticeSample& out) {
  const auto R = static_cast<Eigen::Index>(o.rows), C = static_cast<Eigen::Index>(o.cols);
  const double s = out.spacing_px, sigma = out.probe_sigma_px, dose = out.dose;
  const Realism z = draw_realism(o, seed, s, sigma, dose);
  const auto at = [&](const ImageArray& m, const Position& p) {
    const auto i = std::clamp<Eigen::Index>(static_cast<Eigen::Index>(std::lround(p.row)), 0, R - 1);
    const auto j = std::clamp<Eigen::Index>(static_cast<Eigen::Index>(std::lround(p.col)), 0, C - 1);
    return m(i, j);
  };
  const auto in_vacuum = [&](const Site& q) { return at(z.vacuum, scan.to_image(q.r, q.c)) > 0.5; };
  std::erase_if(kept, in_vacuum);
  std::erase_if(vacant, in_vacuum);
  // Atoms alone (no support), then contrast × gain × (1 − t)².
  LatticeOptions bare = o;
  bare.background_counts = 0.0;
  render(bare, scan, kept, vacant, out);
  std::vector<LatticeAtom> visible;
  for (const auto& a : out.atoms) (at(z.thickness, a.position) >= 0.5 ? out.covered : visible).push_back(a);
  out.atoms = std::move(visible);
  ImageArray signal = out.clean * z.gain * (1.0 - z.thickness).square() + z.level * dose * z.thickness;
  add_amorphous(z, seed, s, sigma, dose, signal);
  if (z.tail_fraction > 0.0) signal = (1.0 - z.tail_fraction) * signal + z.tail_fraction * gaussian_blur(signal, z.tail_sigma_px);
  const ImageArray support = (z.vacuum > 0.5).select(ImageArray::Constant(R, C, 0.2 * o.background_counts),
                                                     o.background_counts * z.gain + z.support_ramp);
  out.clean = support + signal;
  out.contamination = z.thickness;
  out.non_lattice = ((z.thickness >= 0.5) || (z.vacuum > 0.5)).cast<double>();
  // Shot noise, readout noise, scan-line offsets (clipped at 0), then optionally 8-bit storage.
  out.image = out.clean;
  for (Eigen::Index i = 0; i < R; ++i)
    for (Eigen::Index j = 0; j < C; ++j) {
      const double v = rng.poisson(out.clean(i, j)) + o.readout_sd_counts * rng.normal() +
                       z.line_offset[static_cast<std::size_t>(i)];
      out.image(i, j) = std::max(0.0, v);
    }
  if (z.eight_bit) {
    std::vector<double> lattice;
    for (Eigen::Index k = 0; k < out.image.size(); ++k)
      if (out.non_lattice.data()[k] < 0.5) lattice.push_back(out.image.data()[k]);
    if (lattice.empty()) lattice.assign(out.image.data(), out.image.data() + out.image.size());
    const auto q = static_cast<std::ptrdiff_t>(0.995 * static_cast<double>(lattice.size() - 1));
    std::nth_element(lattice.begin(), lattice.begin() + q, lattice.end());
    const double top = std::max(1e-9, lattice[static_cast<std::size_t>(q)]);
    const double gain = z.eight_bit_top / top;
    out.image = (out.image * gain + z.eight_bit_offset).round().max(0.0).min(255.0);
  }
}

}  // namespace

LatticeOptions contaminated_test_options(std::size_t index) {
  if (index >= contaminated_test_set_size)
    throw std::invalid_argument("contaminated_test_options: index " + std::to_string(index) + " is outside [0, " +
                                std::to_string(contaminated_test_set_size) + ")");
  LatticeOptions o;
  o.kind = LatticeKind::graphene;
  o.rows = o.cols = 256 + 64 * (index % 5);
  o.spacing_min_px = 6.0;
  o.spacing_max_px = 20.0;
  o.dose_min = 5.0;
  o.dose_max = 60.0;
  o.jitter_sd_px = 0.5;
  o.grain_boundary_probability = 0.3;
  o.contamination_probability = 1.0;
  o.contamination_level_min = 1.0;
  o.contamination_level_max = 6.0;
  o.contamination_radius_min = 0.1;
  o.contamination_radius_max = 0.3;
  o.vacuum_probability = index % 2 == 1 ? 1.0 : 0.0;
  o.gradient_max = 0.4;
  o.line_noise_sd = 0.05;
  o.probe_tail_max = 0.2;
  o.eight_bit_probability = index % 3 == 0 ? 1.0 : 0.0;
  return o;
}

LatticeOptions low_dose_options(std::size_t index) {
  if (index >= low_dose_set_size)
    throw std::invalid_argument("low_dose_options: index " + std::to_string(index) + " is outside [0, " +
                                std::to_string(low_dose_set_size) + ")");
  LatticeOptions o;
  o.kind = LatticeKind::graphene;
  o.rows = o.cols = index % 2 == 0 ? 256 : 384;
  o.spacing_min_px = 8.0;
  o.spacing_max_px = 20.0;
  o.dose_min = 1.0;
  o.dose_max = 5.0;
  o.background_counts = 0.5 + 3.5 * static_cast<double>(index % 5) / 4.0;
  o.readout_sd_counts = 0.3;
  o.jitter_sd_px = 0.4 + 0.6 * static_cast<double>(index % 4) / 3.0;
  o.grain_boundary_probability = 0.3;
  o.contamination_probability = index % 3 == 1 ? 1.0 : 0.0;
  o.contamination_level_min = 1.0;
  o.contamination_level_max = 4.0;
  o.contamination_radius_min = 0.1;
  o.contamination_radius_max = 0.25;
  o.vacuum_probability = index % 4 == 3 ? 1.0 : 0.0;
  o.gradient_max = 0.2;
  o.line_noise_sd = 0.05;
  o.probe_tail_max = 0.2;
  o.eight_bit_probability = index % 2 == 0 ? 1.0 : 0.0;
  return o;
}

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
  // The projection draws from a stream of its own (no draw at probability 0: samples as before).
  out.projection_110 = o.kind == LatticeKind::perovskite && o.perovskite_110_probability > 0.0 &&
                       detail::PhantomRng(seed, 0x510e527fade682d1ULL).uniform() < o.perovskite_110_probability;
  out.z_exponent = o.z_exponent_min < o.z_exponent_max
                       ? detail::PhantomRng(seed, 0x9b05688c2b3e6c1fULL).uniform(o.z_exponent_min, o.z_exponent_max)
                       : o.z_exponent_min;
  out.pixel_size_nm = (o.kind == LatticeKind::graphene ? 0.142
                       : out.projection_110         ? 0.3905 / 2.0
                                                    : 0.3905 / std::sqrt(2.0)) /
                      out.spacing_px;
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
  const auto R = static_cast<Eigen::Index>(o.rows), C = static_cast<Eigen::Index>(o.cols);
  if (realism_on(o)) {
    finish_realistic(o, seed, scan, rng, kept, vacant, out);
    return out;
  }
  out.contamination = ImageArray::Zero(R, C);
  out.non_lattice = ImageArray::Zero(R, C);
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
