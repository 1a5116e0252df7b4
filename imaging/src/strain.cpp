// Strain from NBED patterns: disc detection, lattice fit, strain (strain.hpp; method and
// convention in docs/4dstem.md "Strain").
#include <autostem/imaging/strain.hpp>

#include "fft.hpp"
#include "spec_fields.hpp"

#include <Eigen/Dense>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <complex>
#include <memory>
#include <numbers>
#include <sstream>
#include <stdexcept>
#include <tuple>

namespace autostem {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

void check_inputs(std::span<const float> p, std::size_t ky, std::size_t kx, double radius) {
  if (ky == 0 || kx == 0 || p.size() != ky * kx)
    throw std::invalid_argument("detect_discs: pattern has " + std::to_string(p.size()) +
                                " values; expected ky × kx = " + std::to_string(ky) + " × " +
                                std::to_string(kx) + " (both > 0)");
  if (!(radius > 0) || !(radius < static_cast<double>(std::min(ky, kx)) / 4.0))
    throw std::invalid_argument("detect_discs: disc radius " + std::to_string(radius) +
                                " px; expected 0 < R < min(ky, kx)/4 = " +
                                std::to_string(static_cast<double>(std::min(ky, kx)) / 4.0));
}

// The FFT of a disc template of radius R centred on pixel (0, 0) (wrapped), conjugated, cached
// per thread for the last (ky, kx, R): a scalarizer calls detect_discs once per pattern.
const std::vector<std::complex<double>>& template_spectrum(std::size_t ky, std::size_t kx, double radius) {
  thread_local std::tuple<std::size_t, std::size_t, double> key{0, 0, 0.0};
  thread_local std::vector<std::complex<double>> spec;
  if (key == std::make_tuple(ky, kx, radius) && !spec.empty()) return spec;
  spec.assign(ky * kx, {0.0, 0.0});
  const auto reach = static_cast<std::ptrdiff_t>(std::ceil(radius + 1.0));
  for (std::ptrdiff_t dr = -reach; dr <= reach; ++dr)
    for (std::ptrdiff_t dc = -reach; dc <= reach; ++dc) {
      const double w = std::clamp(radius + 0.5 - std::hypot(double(dr), double(dc)), 0.0, 1.0);
      if (w <= 0) continue;
      const auto r = static_cast<std::size_t>((dr + static_cast<std::ptrdiff_t>(ky)) % static_cast<std::ptrdiff_t>(ky));
      const auto c = static_cast<std::size_t>((dc + static_cast<std::ptrdiff_t>(kx)) % static_cast<std::ptrdiff_t>(kx));
      spec[r * kx + c] = w;
    }
  imaging::detail::fft2_cached(spec.data(), ky, kx, false);
  for (auto& v : spec) v = std::conj(v);
  key = {ky, kx, radius};
  return spec;
}

// The refinement template: a disc of radius R with Gaussian-blurred edge (σ px),
// w(d) = ½ erfc((d − R)/(√2 σ)) (a disc convolved with a Gaussian, straight-edge approximation),
// tabulated in d (1/256 px steps, linear interpolation) out to R + 5σ.
struct SmoothDisc {
  double radius = 0, sigma = 0, reach = 0;
  std::vector<double> table;
  static constexpr double kStep = 1.0 / 256.0;
  SmoothDisc(double R, double s) : radius(R), sigma(s), reach(R + 5.0 * s) {
    table.resize(static_cast<std::size_t>(reach / kStep) + 2);
    for (std::size_t i = 0; i < table.size(); ++i)
      table[i] = 0.5 * std::erfc((double(i) * kStep - R) / (std::sqrt(2.0) * s));
  }
  double operator()(double d) const {
    if (d >= reach) return 0.0;
    const double t = d / kStep;
    const auto i = static_cast<std::size_t>(t);
    return table[i] + (t - double(i)) * (table[i + 1] - table[i]);
  }
};

// Σ P(p) · w(|p − s|) about the sub-pixel position s = (sr, sc): the template correlation at a
// sub-pixel offset. A smooth w keeps Σ over the pixel grid close to the integral, which is
// symmetric about the disc centre (strain.hpp).
double correlation_at(std::span<const float> p, std::size_t ky, std::size_t kx, const SmoothDisc& w, double reach,
                      double sr, double sc) {
  const auto r0 = static_cast<std::ptrdiff_t>(std::max(0.0, std::ceil(sr - reach)));
  const auto r1 = static_cast<std::ptrdiff_t>(std::min(double(ky) - 1, std::floor(sr + reach)));
  const auto c0 = static_cast<std::ptrdiff_t>(std::max(0.0, std::ceil(sc - reach)));
  const auto c1 = static_cast<std::ptrdiff_t>(std::min(double(kx) - 1, std::floor(sc + reach)));
  double s = 0;
  for (std::ptrdiff_t r = r0; r <= r1; ++r) {
    const double dy = double(r) - sr;
    const float* row = p.data() + static_cast<std::size_t>(r) * kx;
    for (std::ptrdiff_t c = c0; c <= c1; ++c) {
      const double v = row[c];
      if (v == 0.0) continue;
      const double d = std::hypot(dy, double(c) - sc);
      if (d < reach) s += v * w(d);
    }
  }
  return s;
}

// Iterated per-axis 3-point parabolas towards the symmetric maximum (strain.hpp).
BraggDisc refine(std::span<const float> p, std::size_t ky, std::size_t kx, const SmoothDisc& w, double reach,
                 double r, double c) {
  for (const double h : {0.5, 0.25, 0.12, 0.06, 0.03, 0.03}) {
    const double f0 = correlation_at(p, ky, kx, w, reach, r, c);
    const double fu = correlation_at(p, ky, kx, w, reach, r - h, c), fd = correlation_at(p, ky, kx, w, reach, r + h, c);
    const double fl = correlation_at(p, ky, kx, w, reach, r, c - h), fr = correlation_at(p, ky, kx, w, reach, r, c + h);
    auto step = [h](double fm, double f0_, double fp) {
      const double den = fm - 2 * f0_ + fp;
      if (!(den < 0)) return fp > fm ? h : (fm > fp ? -h : 0.0);
      return std::clamp(h * (fm - fp) / (2 * den), -h, h);
    };
    r += step(fu, f0, fd);
    c += step(fl, f0, fr);
  }
  return {r, c, correlation_at(p, ky, kx, w, reach, r, c)};
}

double len(double r, double c) { return std::hypot(r, c); }

}  // namespace

std::vector<BraggDisc> detect_discs(std::span<const float> pattern, std::size_t ky, std::size_t kx,
                                    const DiscDetectionOptions& o) {
  const double R = o.disc_radius_px;
  check_inputs(pattern, ky, kx, R);
  if (!(o.edge_sigma_px > 0) || !(o.edge_sigma_px <= R))
    throw std::invalid_argument("detect_discs: edge_sigma_px " + std::to_string(o.edge_sigma_px) +
                                "; expected 0 < σ ≤ R = " + std::to_string(R));
  thread_local std::vector<std::complex<double>> work;
  work.resize(ky * kx);
  for (std::size_t i = 0; i < ky * kx; ++i) work[i] = pattern[i];
  imaging::detail::fft2_cached(work.data(), ky, kx, false);
  const auto& t = template_spectrum(ky, kx, R);
  for (std::size_t i = 0; i < ky * kx; ++i) work[i] *= t[i];
  imaging::detail::fft2_cached(work.data(), ky, kx, true);
  // corr(s) = Σ_p P(p) T(p − s), up to the factor ky·kx of the unnormalised inverse.
  double cmax = 0;
  for (const auto& v : work) cmax = std::max(cmax, v.real());
  if (!(cmax > 0)) return {};
  const double thr = o.min_relative_intensity * cmax;
  // A maximum must be the largest within a circle of radius R about it. The correlation of a
  // bright disc falls monotonically out to 2R, so the ringing of its edge (maxima within 3R of
  // it) is suppressed, while a weak disc ≥ 3R from a bright one is kept (the bright disc's
  // correlation is 0 beyond 2R).
  const auto s = static_cast<std::ptrdiff_t>(std::max(1.0, std::floor(R)));
  const double s2 = std::max(1.0, R) * std::max(1.0, R);
  const double margin = R + 5.0 * o.edge_sigma_px;  // the refinement template's reach
  std::vector<std::pair<std::size_t, std::size_t>> peaks;
  for (std::size_t r = 0; r < ky; ++r) {
    if (double(r) < margin || double(r) > double(ky) - 1 - margin) continue;
    for (std::size_t c = 0; c < kx; ++c) {
      if (double(c) < margin || double(c) > double(kx) - 1 - margin) continue;
      const double v = work[r * kx + c].real();
      if (v < thr) continue;
      bool is_max = true;
      for (std::ptrdiff_t dr = -s; dr <= s && is_max; ++dr)
        for (std::ptrdiff_t dc = -s; dc <= s; ++dc) {
          if ((dr == 0 && dc == 0) || double(dr * dr + dc * dc) > s2) continue;
          const auto rr = static_cast<std::ptrdiff_t>(r) + dr, cc = static_cast<std::ptrdiff_t>(c) + dc;
          if (rr < 0 || cc < 0 || rr >= static_cast<std::ptrdiff_t>(ky) || cc >= static_cast<std::ptrdiff_t>(kx)) continue;
          const double u = work[static_cast<std::size_t>(rr) * kx + static_cast<std::size_t>(cc)].real();
          // Ties go to the first pixel in C-order, so a plateau gives one peak.
          if (u > v || (u == v && (dr < 0 || (dr == 0 && dc < 0)))) {
            is_max = false;
            break;
          }
        }
      if (is_max) peaks.emplace_back(r, c);
    }
  }
  std::vector<BraggDisc> discs;
  discs.reserve(peaks.size());
  thread_local std::unique_ptr<SmoothDisc> smooth;
  if (!smooth || smooth->radius != R || smooth->sigma != o.edge_sigma_px) smooth = std::make_unique<SmoothDisc>(R, o.edge_sigma_px);
  // The template stops 1 px short of the nearest other disc's edge (its reach otherwise
  // R + 5σ): the undiffracted disc can be 10⁴ times brighter than its neighbours, so even the
  // template's faint tail on it would pull them.
  for (const auto& [r, c] : peaks) {
    double nearest = 1e300;
    for (const auto& [r2, c2] : peaks)
      if (r2 != r || c2 != c) nearest = std::min(nearest, std::hypot(double(r2) - double(r), double(c2) - double(c)));
    const double reach = std::max(R + 0.5, std::min(smooth->reach, nearest - R - 1.0));
    discs.push_back(refine(pattern, ky, kx, *smooth, reach, double(r), double(c)));
  }
  std::sort(discs.begin(), discs.end(), [](const BraggDisc& a, const BraggDisc& b) { return a.intensity > b.intensity; });
  if (discs.size() > o.max_discs) discs.resize(o.max_discs);
  return discs;
}

DiffractionLattice guess_lattice(const std::vector<BraggDisc>& discs) {
  DiffractionLattice L;
  if (discs.size() < 3) return L;
  const auto origin = std::max_element(discs.begin(), discs.end(),
                                       [](const BraggDisc& a, const BraggDisc& b) { return a.intensity < b.intensity; });
  struct V { double r, c, l, a; };
  std::vector<V> v;
  for (const auto& d : discs) {
    const double r = d.row - origin->row, c = d.col - origin->col, l = len(r, c);
    if (l < 1.0) continue;
    v.push_back({r, c, l, std::atan2(r, c)});
  }
  if (v.size() < 2) return L;
  const double shortest = std::min_element(v.begin(), v.end(), [](const V& a, const V& b) { return a.l < b.l; })->l;
  // g1: of the first shell, the vector nearest the +x direction (|angle| smallest; an exact
  // tie goes to the positive angle).
  const V* g1 = nullptr;
  for (const auto& x : v) {
    if (x.l > 1.05 * shortest) continue;
    if (!g1 || std::abs(x.a) < std::abs(g1->a) - 1e-9 || (std::abs(x.a) <= std::abs(g1->a) + 1e-9 && x.a > g1->a))
      g1 = &x;
  }
  const V* g2 = nullptr;
  double g2_angle = 0;
  const double min_sin = std::sin(20.0 * std::numbers::pi / 180.0);
  for (const auto& x : v) {
    const double cross = g1->c * x.r - g1->r * x.c;  // in (x, y) = (col, row)
    if (!(cross > min_sin * g1->l * x.l)) continue;
    const double ang = std::acos(std::clamp((g1->c * x.c + g1->r * x.r) / (g1->l * x.l), -1.0, 1.0));
    if (!g2 || x.l < 0.95 * g2->l || (x.l <= 1.05 * g2->l && ang < g2_angle)) {
      g2 = &x;
      g2_angle = ang;
    }
  }
  if (!g2) return L;
  L.origin_row = origin->row;
  L.origin_col = origin->col;
  L.g1_row = g1->r;
  L.g1_col = g1->c;
  L.g2_row = g2->r;
  L.g2_col = g2->c;
  L.discs = 3;
  L.ok = true;
  return L;
}

DiffractionLattice fit_lattice(const std::vector<BraggDisc>& discs, const DiffractionLattice& basis,
                               double tolerance) {
  const double det = basis.g1_row * basis.g2_col - basis.g1_col * basis.g2_row;
  if (!std::isfinite(det) || std::abs(det) < 1e-9 * (len(basis.g1_row, basis.g1_col) * len(basis.g2_row, basis.g2_col) + 1e-300))
    throw std::invalid_argument("fit_lattice: the basis vectors g1 = (" + std::to_string(basis.g1_row) + ", " +
                                std::to_string(basis.g1_col) + ") and g2 = (" + std::to_string(basis.g2_row) +
                                ", " + std::to_string(basis.g2_col) + ") px are not finite and independent");
  if (!(tolerance > 0 && tolerance <= 0.5))
    throw std::invalid_argument("fit_lattice: tolerance " + std::to_string(tolerance) + "; expected (0, 0.5]");
  DiffractionLattice out;
  if (discs.size() < 3) return out;
  // Origin guess: the disc nearest the basis' origin, or the strongest disc without one.
  const BraggDisc* o = &discs.front();
  if (std::isfinite(basis.origin_row) && std::isfinite(basis.origin_col)) {
    for (const auto& d : discs)
      if (len(d.row - basis.origin_row, d.col - basis.origin_col) < len(o->row - basis.origin_row, o->col - basis.origin_col))
        o = &d;
  } else {
    for (const auto& d : discs)
      if (d.intensity > o->intensity) o = &d;
  }
  const double gmin = std::min(len(basis.g1_row, basis.g1_col), len(basis.g2_row, basis.g2_col));
  Eigen::Matrix3d A = Eigen::Matrix3d::Zero();
  Eigen::Vector3d br = Eigen::Vector3d::Zero(), bc = Eigen::Vector3d::Zero();
  struct Row { double h, k, r, c, w; };
  std::vector<Row> used;
  for (const auto& d : discs) {
    const double dr = d.row - o->row, dc = d.col - o->col;
    // B = [[g1r, g2r], [g1c, g2c]] (columns g1, g2); (h, k) = B⁻¹ (dr, dc).
    const double h = std::round((basis.g2_col * dr - basis.g2_row * dc) / det);
    const double k = std::round((-basis.g1_col * dr + basis.g1_row * dc) / det);
    const double er = dr - h * basis.g1_row - k * basis.g2_row, ec = dc - h * basis.g1_col - k * basis.g2_col;
    if (len(er, ec) > tolerance * gmin || !(d.intensity > 0)) continue;
    const Eigen::Vector3d x(1.0, h, k);
    A += d.intensity * x * x.transpose();
    br += d.intensity * d.row * x;
    bc += d.intensity * d.col * x;
    used.push_back({h, k, d.row, d.col, d.intensity});
  }
  if (used.size() < 3) return out;
  const Eigen::FullPivLU<Eigen::Matrix3d> lu(A);
  if (lu.rank() < 3) return out;
  const Eigen::Vector3d pr = lu.solve(br), pc = lu.solve(bc);
  out.origin_row = pr(0);
  out.g1_row = pr(1);
  out.g2_row = pr(2);
  out.origin_col = pc(0);
  out.g1_col = pc(1);
  out.g2_col = pc(2);
  double s = 0, w = 0;
  for (const auto& u : used) {
    const double er = u.r - pr(0) - u.h * pr(1) - u.k * pr(2), ec = u.c - pc(0) - u.h * pc(1) - u.k * pc(2);
    s += u.w * (er * er + ec * ec);
    w += u.w;
  }
  out.rms_px = std::sqrt(s / w);
  out.discs = used.size();
  out.ok = true;
  return out;
}

DiffractionLattice to_scan_frame(const DiffractionLattice& lattice, const ScanRotation& rotation) {
  DiffractionLattice out = lattice;
  rotate_to_scan_frame(rotation, out.g1_col, out.g1_row);
  rotate_to_scan_frame(rotation, out.g2_col, out.g2_row);
  return out;
}

StrainTensor lattice_strain(const DiffractionLattice& m, const DiffractionLattice& ref) {
  if (!m.ok || !ref.ok) return {kNaN, kNaN, kNaN, kNaN};
  // Rows of M are g1ᵀ, g2ᵀ in (x, y) = (col, row); D = M_meas⁻¹ M_ref.
  Eigen::Matrix2d M, Mr;
  M << m.g1_col, m.g1_row, m.g2_col, m.g2_row;
  Mr << ref.g1_col, ref.g1_row, ref.g2_col, ref.g2_row;
  if (!(std::abs(M.determinant()) > 0)) return {kNaN, kNaN, kNaN, kNaN};
  const Eigen::Matrix2d D = M.inverse() * Mr;
  return {D(0, 0) - 1.0, D(1, 1) - 1.0, (D(0, 1) + D(1, 0)) / 2.0, (D(1, 0) - D(0, 1)) / 2.0};
}

std::vector<DiffractionLattice> fit_lattice_map(const FourDStem& data, const DiscDetectionOptions& options,
                                                const DiffractionLattice& basis) {
  const std::size_t n = data.rows() * data.cols();
  std::vector<DiffractionLattice> out(n);
  // Check the inputs once in this thread so the errors are not thrown inside TBB.
  if (n > 0) {
    (void)fit_lattice({}, basis);
    check_inputs(data.pattern(0, 0), data.ky(), data.kx(), options.disc_radius_px);
  }
  tbb::parallel_for(tbb::blocked_range<std::size_t>(0, n, 4), [&](const tbb::blocked_range<std::size_t>& range) {
    for (std::size_t i = range.begin(); i != range.end(); ++i) {
      const auto p = data.pattern(i / data.cols(), i % data.cols());
      out[i] = fit_lattice(detect_discs(p, data.ky(), data.kx(), options), basis);
    }
  });
  return out;
}

DiffractionLattice reference_lattice(const std::vector<DiffractionLattice>& lattices,
                                     std::span<const std::uint8_t> region) {
  if (region.size() != lattices.size())
    throw std::invalid_argument("reference_lattice: region has " + std::to_string(region.size()) +
                                " entries for " + std::to_string(lattices.size()) + " lattices");
  std::vector<double> v[6];
  for (std::size_t i = 0; i < lattices.size(); ++i) {
    const auto& L = lattices[i];
    if (!region[i] || !L.ok) continue;
    const double x[6] = {L.origin_row, L.origin_col, L.g1_row, L.g1_col, L.g2_row, L.g2_col};
    for (int j = 0; j < 6; ++j) v[j].push_back(x[j]);
  }
  if (v[0].empty())
    throw std::invalid_argument("reference_lattice: no fitted lattice inside the reference region");
  auto median = [](std::vector<double>& x) {
    const auto mid = x.begin() + static_cast<std::ptrdiff_t>(x.size() / 2);
    std::nth_element(x.begin(), mid, x.end());
    if (x.size() % 2 == 1) return *mid;
    return (*mid + *std::max_element(x.begin(), mid)) / 2.0;
  };
  DiffractionLattice r;
  r.origin_row = median(v[0]);
  r.origin_col = median(v[1]);
  r.g1_row = median(v[2]);
  r.g1_col = median(v[3]);
  r.g2_row = median(v[4]);
  r.g2_col = median(v[5]);
  r.discs = v[0].size();  // here: the patterns the median is over
  r.ok = true;
  return r;
}

namespace {

StrainMaps maps_from(const FourDStem& data, const std::vector<DiffractionLattice>& lattices,
                     const DiffractionLattice& reference, const ScanRotation& rot) {
  const DiffractionLattice ref_scan = to_scan_frame(reference, rot);
  const auto R = static_cast<Eigen::Index>(data.rows()), C = static_cast<Eigen::Index>(data.cols());
  StrainMaps m;
  m.exx.resize(R, C);
  m.eyy.resize(R, C);
  m.exy.resize(R, C);
  m.rotation_rad.resize(R, C);
  for (Eigen::Index r = 0; r < R; ++r)
    for (Eigen::Index c = 0; c < C; ++c) {
      const auto e = lattice_strain(to_scan_frame(lattices[static_cast<std::size_t>(r * C + c)], rot), ref_scan);
      m.exx(r, c) = e.exx;
      m.eyy(r, c) = e.eyy;
      m.exy(r, c) = e.exy;
      m.rotation_rad(r, c) = e.rotation_rad;
    }
  m.reference = reference;
  return m;
}

}  // namespace

StrainMaps strain_map(const FourDStem& data, const DiscDetectionOptions& options,
                      std::span<const std::uint8_t> region, const ScanRotation& scan_rotation) {
  const std::size_t n = data.rows() * data.cols(), np = data.ky() * data.kx();
  if (region.size() != n)
    throw std::invalid_argument("strain_map: region has " + std::to_string(region.size()) + " entries; the scan has " +
                                std::to_string(n) + " positions");
  std::vector<float> mean(np, 0.0f);
  std::size_t count = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (!region[i]) continue;
    const auto p = data.pattern(i / data.cols(), i % data.cols());
    for (std::size_t j = 0; j < np; ++j) mean[j] += p[j];
    ++count;
  }
  if (count == 0) throw std::invalid_argument("strain_map: the reference region is empty");
  for (auto& v : mean) v /= static_cast<float>(count);
  const auto discs = detect_discs(mean, data.ky(), data.kx(), options);
  const auto guess = guess_lattice(discs);
  if (!guess.ok)
    throw std::invalid_argument("strain_map: the mean pattern of the reference region shows " +
                                std::to_string(discs.size()) + " discs and no lattice");
  DiffractionLattice basis = fit_lattice(discs, guess);
  if (!basis.ok) basis = guess;
  const auto lattices = fit_lattice_map(data, options, basis);
  return maps_from(data, lattices, reference_lattice(lattices, region), scan_rotation);
}

StrainMaps strain_map(const FourDStem& data, const DiscDetectionOptions& options,
                      const DiffractionLattice& reference, const ScanRotation& scan_rotation) {
  return maps_from(data, fit_lattice_map(data, options, reference), reference, scan_rotation);
}

// ---------------------------------------------------------------------------------------------
StrainScalarizer::StrainScalarizer(Component c, double disc_radius_px, const DiffractionLattice& reference,
                                   std::optional<ScanRotation> scan_rotation)
    : c_(c), reference_(reference), scan_rotation_(scan_rotation) {
  if (!(disc_radius_px > 0) || !std::isfinite(disc_radius_px))
    throw std::invalid_argument(name() + ": disc radius " + std::to_string(disc_radius_px) + " px; expected > 0");
  options_.disc_radius_px = disc_radius_px;
  (void)fit_lattice({}, reference_);  // throws on non-finite or collinear vectors
  reference_.ok = true;
}

std::string StrainScalarizer::name() const {
  switch (c_) {
    case Component::exx: return "strain_xx";
    case Component::eyy: return "strain_yy";
    case Component::exy: return "strain_xy";
    default: return "strain_rot";
  }
}

std::string StrainScalarizer::spec() const {
  std::ostringstream o;
  o.precision(10);
  o << name() << ':' << options_.disc_radius_px << ':' << reference_.g1_row << ':' << reference_.g1_col << ':'
    << reference_.g2_row << ':' << reference_.g2_col;
  if (scan_rotation_) o << ':' << format_scan_rotation(*scan_rotation_);
  return o.str();
}

double StrainScalarizer::evaluate_pattern(std::span<const float> p, std::size_t ky, std::size_t kx) const {
  const auto L = fit_lattice(detect_discs(p, ky, kx, options_), reference_);
  const auto e = scan_rotation_ ? lattice_strain(to_scan_frame(L, *scan_rotation_), to_scan_frame(reference_, *scan_rotation_))
                                : lattice_strain(L, reference_);
  switch (c_) {
    case Component::exx: return e.exx;
    case Component::eyy: return e.eyy;
    case Component::exy: return e.exy;
    default: return e.rotation_rad;
  }
}

double StrainScalarizer::evaluate_unshaped(std::span<const float> s) const {
  const std::size_t side = detail::square_pattern_side(s.size(), spec());
  return evaluate_pattern(s, side, side);
}

double StrainScalarizer::evaluate_spectrum(std::span<const float> s) const { return evaluate_unshaped(s); }

const std::vector<ScalarizerForm>& strain_scalarizer_forms() {
  static const std::vector<ScalarizerForm> forms = {
      {"strain_xx:R:G1Y:G1X:G2Y:G2X",
       "diffraction pattern (NBED, non-overlapping discs): strain εxx (along columns) of the lattice fitted to "
       "the Bragg discs (template disc radius R px) against the reference basis g1 = (G1Y, G1X), g2 = (G2Y, G2X) "
       "detector px",
       "dimensionless"},
      {"strain_yy:R:G1Y:G1X:G2Y:G2X", "diffraction pattern: strain εyy (along rows), as strain_xx", "dimensionless"},
      {"strain_xy:R:G1Y:G1X:G2Y:G2X", "diffraction pattern: shear strain εxy (tensor, = γ/2), as strain_xx",
       "dimensionless"},
      {"strain_rot:R:G1Y:G1X:G2Y:G2X", "diffraction pattern: lattice rotation (+x towards +y), as strain_xx", "rad"},
      {"strain_xx:R:G1Y:G1X:G2Y:G2X:DEG[:flip]",
       "as strain_xx|yy|xy|rot, along the scan axes: the detector is rotated by DEG degrees (mirrored first with "
       "flip) relative to the scan, as autostem dpc prints it",
       "dimensionless"},
  };
  return forms;
}

std::unique_ptr<Scalarizer> make_strain_scalarizer(const std::string& spec) {
  const std::vector<std::string> f = detail::split_spec(spec);
  using C = StrainScalarizer::Component;
  C c;
  if (f[0] == "strain_xx") c = C::exx;
  else if (f[0] == "strain_yy") c = C::eyy;
  else if (f[0] == "strain_xy") c = C::exy;
  else if (f[0] == "strain_rot") c = C::rotation;
  else return nullptr;
  if (f.size() < 6 || f.size() > 8)
    throw std::invalid_argument("scalarizer '" + spec + "': " + f[0] + " takes " + f[0] +
                                ":R:G1Y:G1X:G2Y:G2X[:DEG[:flip]] (disc radius and the reference basis in detector "
                                "px; the scan rotation in degrees); got " +
                                std::to_string(f.size() - 1) + " fields after the name");
  std::optional<ScanRotation> rot;
  if (f.size() > 6) {
    try {
      rot = parse_scan_rotation(f[6] + (f.size() == 8 ? ":" + f[7] : std::string()));
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument("scalarizer '" + spec + "': " + e.what());
    }
  }
  double v[5];
  for (std::size_t i = 1; i < 6; ++i) v[i - 1] = detail::spec_number(spec, f[i], i);
  DiffractionLattice ref;
  ref.g1_row = v[1];
  ref.g1_col = v[2];
  ref.g2_row = v[3];
  ref.g2_col = v[4];
  try {
    return std::make_unique<StrainScalarizer>(c, v[0], ref, rot);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument("scalarizer '" + spec + "': " + e.what());
  }
}

}  // namespace autostem
