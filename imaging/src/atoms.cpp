#include <autostem/imaging/atoms.hpp>
#include <autostem/imaging/bragg.hpp>
#include <autostem/imaging/image_ops.hpp>

#include <algorithm>
#include <cmath>
#include <complex>
#include <limits>
#include <numbers>
#include <initializer_list>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>

namespace autostem {

namespace {

using Index = Eigen::Index;

void check_finite_image(const ImageArray& image, const char* who) {
  if (image.size() == 0) throw std::invalid_argument(std::string(who) + ": empty image (0 pixels)");
  for (Index i = 0; i < image.size(); ++i)
    if (!std::isfinite(image.data()[i]))
      throw std::invalid_argument(std::string(who) + ": non-finite value at pixel (" +
                                  std::to_string(i / image.cols()) + ", " + std::to_string(i % image.cols()) + ")");
}

// In-place iterative radix-2 FFT (n a power of two); inverse without the 1/n factor.
void fft1(std::vector<std::complex<double>>& a, bool inverse) {
  const std::size_t n = a.size();
  for (std::size_t i = 1, j = 0; i < n; ++i) {
    std::size_t bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) std::swap(a[i], a[j]);
  }
  for (std::size_t len = 2; len <= n; len <<= 1) {
    const double ang = 2.0 * std::numbers::pi / static_cast<double>(len) * (inverse ? 1.0 : -1.0);
    const std::complex<double> wl(std::cos(ang), std::sin(ang));
    for (std::size_t i = 0; i < n; i += len) {
      std::complex<double> w(1.0, 0.0);
      for (std::size_t k = 0; k < len / 2; ++k) {
        const auto u = a[i + k], v = a[i + k + len / 2] * w;
        a[i + k] = u + v;
        a[i + k + len / 2] = u - v;
        w *= wl;
      }
    }
  }
}

void fft2(std::vector<std::complex<double>>& a, std::size_t nr, std::size_t nc, bool inverse) {
  std::vector<std::complex<double>> line(nc);
  for (std::size_t r = 0; r < nr; ++r) {
    std::copy_n(a.begin() + static_cast<std::ptrdiff_t>(r * nc), nc, line.begin());
    fft1(line, inverse);
    std::copy_n(line.begin(), nc, a.begin() + static_cast<std::ptrdiff_t>(r * nc));
  }
  line.resize(nr);
  for (std::size_t c = 0; c < nc; ++c) {
    for (std::size_t r = 0; r < nr; ++r) line[r] = a[r * nc + c];
    fft1(line, inverse);
    for (std::size_t r = 0; r < nr; ++r) a[r * nc + c] = line[r];
  }
}

std::size_t next_pow2(std::size_t n) {
  std::size_t p = 1;
  while (p < n) p <<= 1;
  return p;
}

// Scale-normalised LoG response −σ²∇²(G_σ ∗ I) with the 5-point Laplacian.
ImageArray log_response(const ImageArray& image, double sigma) {
  const ImageArray g = gaussian_blur(image, sigma);
  const Index R = g.rows(), C = g.cols();
  ImageArray out(R, C);
  const double s2 = sigma * sigma;
  for (Index r = 0; r < R; ++r)
    for (Index c = 0; c < C; ++c) {
      const double up = g(r > 0 ? r - 1 : r, c), dn = g(r + 1 < R ? r + 1 : r, c);
      const double lf = g(r, c > 0 ? c - 1 : c), rt = g(r, c + 1 < C ? c + 1 : c);
      out(r, c) = -s2 * (up + dn + lf + rt - 4.0 * g(r, c));
    }
  return out;
}

struct Peak {
  Index r, c;
  double v;
};

// Pixels that are the strict maximum (ties broken by raster order) of `a` within a disc of
// radius `radius` px and > floor.
std::vector<Peak> disc_maxima(const ImageArray& a, double radius, double floor) {
  const Index R = a.rows(), C = a.cols();
  const Index rad = static_cast<Index>(std::floor(radius));
  std::vector<std::pair<Index, Index>> offsets;
  for (Index dr = -rad; dr <= rad; ++dr)
    for (Index dc = -rad; dc <= rad; ++dc)
      if ((dr != 0 || dc != 0) && static_cast<double>(dr * dr + dc * dc) <= radius * radius) offsets.emplace_back(dr, dc);
  // Cheap 3×3 pre-filter first, then the disc.
  std::vector<Peak> peaks;
  for (Index r = 0; r < R; ++r)
    for (Index c = 0; c < C; ++c) {
      const double v = a(r, c);
      if (!(v > floor)) continue;
      bool is_max = true;
      for (Index dr = -1; dr <= 1 && is_max; ++dr)
        for (Index dc = -1; dc <= 1; ++dc) {
          const Index rr = r + dr, cc = c + dc;
          if ((dr == 0 && dc == 0) || rr < 0 || cc < 0 || rr >= R || cc >= C) continue;
          const double w = a(rr, cc);
          if (w > v || (w == v && (rr * C + cc) < (r * C + c))) { is_max = false; break; }
        }
      if (!is_max) continue;
      for (const auto& [dr, dc] : offsets) {
        const Index rr = r + dr, cc = c + dc;
        if (rr < 0 || cc < 0 || rr >= R || cc >= C) continue;
        const double w = a(rr, cc);
        if (w > v || (w == v && (rr * C + cc) < (r * C + c))) { is_max = false; break; }
      }
      if (is_max) peaks.push_back({r, c, v});
    }
  return peaks;
}

double quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const auto hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (pos - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

// Lattice scale L (px) from the autocorrelation, or nullopt when none is found.
std::optional<double> autocorrelation_scale(const ImageArray& image) {
  const Index R = image.rows(), C = image.cols();
  const double hi = std::max(4.0, static_cast<double>(std::min(R, C)) / 8.0);
  ImageArray bp = gaussian_blur(image, 1.0) - gaussian_blur(image, hi);
  bp -= bp.mean();
  const double var = bp.square().mean();
  if (!(var > 0.0)) return std::nullopt;
  const std::size_t nr = next_pow2(static_cast<std::size_t>(R) * 3 / 2), nc = next_pow2(static_cast<std::size_t>(C) * 3 / 2);
  std::vector<std::complex<double>> a(nr * nc, {0.0, 0.0});
  for (Index r = 0; r < R; ++r)
    for (Index c = 0; c < C; ++c) a[static_cast<std::size_t>(r) * nc + static_cast<std::size_t>(c)] = bp(r, c);
  fft2(a, nr, nc, false);
  for (auto& z : a) z = std::norm(z);
  fft2(a, nr, nc, true);
  // Autocorrelation at lags (dr, dc) with |dr|, |dc| ≤ maxlag, normalised by the number of
  // overlapping pixels so the zero padding does not bias towards small lags.
  const Index maxlag = std::min(R, C) / 3;
  if (maxlag < 4) return std::nullopt;
  const Index W = 2 * maxlag + 1;
  ImageArray ac(W, W);
  for (Index dr = -maxlag; dr <= maxlag; ++dr)
    for (Index dc = -maxlag; dc <= maxlag; ++dc) {
      const std::size_t ir = static_cast<std::size_t>((dr + static_cast<Index>(nr)) % static_cast<Index>(nr));
      const std::size_t ic = static_cast<std::size_t>((dc + static_cast<Index>(nc)) % static_cast<Index>(nc));
      const double overlap = static_cast<double>((R - std::abs(dr)) * (C - std::abs(dc)));
      ac(dr + maxlag, dc + maxlag) = a[ir * nc + ic].real() / overlap;
    }
  std::vector<std::tuple<double, double>> cand;  // (distance, value)
  double top = 0.0;
  for (Index r = 1; r + 1 < W; ++r)
    for (Index c = 1; c + 1 < W; ++c) {
      const double dist = std::hypot(static_cast<double>(r - maxlag), static_cast<double>(c - maxlag));
      if (dist < 3.0 || dist > static_cast<double>(maxlag)) continue;
      const double v = ac(r, c);
      if (!(v > 0.0)) continue;
      bool is_max = true;
      for (Index dr = -2; dr <= 2 && is_max; ++dr)
        for (Index dc = -2; dc <= 2; ++dc) {
          const Index rr = r + dr, cc = c + dc;
          if ((dr == 0 && dc == 0) || rr < 0 || cc < 0 || rr >= W || cc >= W) continue;
          if (ac(rr, cc) > v) { is_max = false; break; }
        }
      if (!is_max) continue;
      cand.emplace_back(dist, v);
      top = std::max(top, v);
    }
  if (cand.empty()) return std::nullopt;
  std::sort(cand.begin(), cand.end());
  for (const auto& [dist, v] : cand)
    if (v >= 0.3 * top) return dist;
  return std::nullopt;
}

double median_nn_distance(const std::vector<Position>& p) {
  std::vector<double> d;
  d.reserve(p.size());
  for (std::size_t i = 0; i < p.size(); ++i) {
    double best = std::numeric_limits<double>::infinity();
    for (std::size_t j = 0; j < p.size(); ++j)
      if (j != i) best = std::min(best, std::hypot(p[i].row - p[j].row, p[i].col - p[j].col));
    d.push_back(best);
  }
  return quantile(d, 0.5);
}

struct Resolved {
  double spacing, sigma, min_distance;
};

std::vector<Atom> find_with(const ImageArray& image, const Resolved& p, double threshold, bool refine) {
  const ImageArray resp = log_response(image, p.sigma);
  auto peaks = disc_maxima(resp, p.min_distance, 0.0);
  if (peaks.empty()) return {};
  double t = threshold;
  if (t <= 0.0) {
    std::vector<double> v;
    v.reserve(peaks.size());
    for (const auto& q : peaks) v.push_back(q.v);
    t = 0.3 * quantile(v, 0.9);
  }
  std::erase_if(peaks, [&](const Peak& q) { return q.v < t; });
  if (peaks.empty()) return {};
  double vmax = 0.0;
  for (const auto& q : peaks) vmax = std::max(vmax, q.v);

  const ImageArray sm = refine ? gaussian_blur(image, std::max(0.5, p.sigma / 2.0)) : ImageArray();
  const double rad = std::max(1.5, 0.3 * p.spacing);
  const Index irad = static_cast<Index>(std::ceil(rad));
  std::vector<Atom> atoms;
  atoms.reserve(peaks.size());
  for (const auto& q : peaks) {
    Atom a;
    a.position = {static_cast<double>(q.r), static_cast<double>(q.c)};
    a.probability = std::clamp(q.v / vmax, 0.0, 1.0);
    if (refine) {
      Position cur = a.position;
      for (int it = 0; it < 2; ++it) {
        const Index r0 = static_cast<Index>(std::lround(cur.row)), c0 = static_cast<Index>(std::lround(cur.col));
        double lo = std::numeric_limits<double>::infinity();
        for (Index r = std::max<Index>(0, r0 - irad); r <= std::min(sm.rows() - 1, r0 + irad); ++r)
          for (Index c = std::max<Index>(0, c0 - irad); c <= std::min(sm.cols() - 1, c0 + irad); ++c)
            if (std::hypot(static_cast<double>(r) - cur.row, static_cast<double>(c) - cur.col) <= rad) lo = std::min(lo, sm(r, c));
        double w = 0, wr = 0, wc = 0;
        for (Index r = std::max<Index>(0, r0 - irad); r <= std::min(sm.rows() - 1, r0 + irad); ++r)
          for (Index c = std::max<Index>(0, c0 - irad); c <= std::min(sm.cols() - 1, c0 + irad); ++c)
            if (std::hypot(static_cast<double>(r) - cur.row, static_cast<double>(c) - cur.col) <= rad) {
              const double x = sm(r, c) - lo;
              w += x;
              wr += x * static_cast<double>(r);
              wc += x * static_cast<double>(c);
            }
        if (!(w > 0)) break;
        cur = {wr / w, wc / w};
      }
      if (std::hypot(cur.row - a.position.row, cur.col - a.position.col) <= 0.5 * p.spacing) a.position = cur;
    }
    atoms.push_back(a);
  }
  return atoms;
}

// keep: optional (rows, cols) map of where peaks count (the lattice away from other regions).
std::optional<double> try_estimate_spacing(const ImageArray& image, std::optional<double> scale = std::nullopt,
                                           const MaskArray* keep = nullptr) {
  const auto L = scale ? scale : autocorrelation_scale(image);
  if (!L) return std::nullopt;
  const Resolved stage{*L, 0.12 * *L, 0.4 * *L};
  const auto atoms = find_with(image, stage, 0.0, false);
  std::vector<Position> pos;
  for (const auto& a : atoms)
    if (!keep || (*keep)(static_cast<Index>(a.position.row), static_cast<Index>(a.position.col))) pos.push_back(a.position);
  if (pos.size() < 3) return *L;
  return median_nn_distance(pos);
}

// Several quantiles of v (sorted once); q in [0, 1].
std::vector<double> quantiles(std::vector<double> v, std::initializer_list<double> qs) {
  std::vector<double> out;
  if (v.empty()) {
    out.assign(qs.size(), 0.0);
    return out;
  }
  std::sort(v.begin(), v.end());
  for (double q : qs) {
    const double pos = q * static_cast<double>(v.size() - 1);
    const auto lo = static_cast<std::size_t>(std::floor(pos));
    const auto hi = std::min(lo + 1, v.size() - 1);
    out.push_back(v[lo] + (pos - static_cast<double>(lo)) * (v[hi] - v[lo]));
  }
  return out;
}

double masked_median(const ImageArray& a, const MaskArray& keep) {
  std::vector<double> v;
  v.reserve(static_cast<std::size_t>(a.size()));
  for (Index i = 0; i < a.size(); ++i)
    if (keep.data()[i]) v.push_back(a.data()[i]);
  if (v.empty()) return 0.0;
  auto mid = v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2);
  std::nth_element(v.begin(), mid, v.end());
  return *mid;
}

// Lattice scale from tiles: the median of the tiles' autocorrelation scales (nullopt if none);
// with `lattice`, only tiles of which at least 3/4 of the pixels are lattice count.
std::optional<double> tiled_scale(const ImageArray& z, const MaskArray* lattice = nullptr) {
  const Index R = z.rows(), C = z.cols(), side = std::min(R, C);
  const Index T = std::min(side, std::max<Index>(96, side / 4));
  const Index nr = (R + T - 1) / T, nc = (C + T - 1) / T;
  std::vector<double> scales;
  for (Index i = 0; i < nr; ++i)
    for (Index j = 0; j < nc; ++j) {
      const Index r0 = nr == 1 ? 0 : i * (R - T) / (nr - 1), c0 = nc == 1 ? 0 : j * (C - T) / (nc - 1);
      if (lattice && 4 * lattice->block(r0, c0, T, T).count() < 3 * T * T) continue;
      const ImageArray tile = z.block(r0, c0, T, T);
      if (const auto L = autocorrelation_scale(tile)) scales.push_back(*L);
    }
  if (scales.empty()) return std::nullopt;
  return quantile(scales, 0.5);
}

}  // namespace

bool in_non_lattice_region(const RegionMap& map, const Position& p) {
  if (map.size() == 0 || !is_finite(p)) return false;
  const auto r = static_cast<Index>(std::lround(p.row)), c = static_cast<Index>(std::lround(p.col));
  if (r < 0 || c < 0 || r >= map.rows() || c >= map.cols()) return false;
  return map(r, c) != static_cast<std::uint8_t>(RegionKind::lattice);
}

LatticeRegion find_lattice_region(const ImageArray& image, const LatticeRegionOptions& o) {
  check_finite_image(image, "find_lattice_region");
  const Index R = image.rows(), C = image.cols();
  if (R < 16 || C < 16)
    throw std::invalid_argument("find_lattice_region: image is " + std::to_string(R) + "×" + std::to_string(C) +
                                "; expected at least 16×16");
  for (double v : {o.bright_z, o.dark_z, o.flat_fraction})
    if (!(v > 0.0) || !std::isfinite(v))
      throw std::invalid_argument("find_lattice_region: bright_z, dark_z and flat_fraction must be finite and > 0 (" +
                                  std::to_string(o.bright_z) + ", " + std::to_string(o.dark_z) + ", " +
                                  std::to_string(o.flat_fraction) + ")");
  if (!(o.dark_spread_z >= 0.0) || !std::isfinite(o.dark_spread_z))
    throw std::invalid_argument("find_lattice_region: dark_spread_z = " + std::to_string(o.dark_spread_z) +
                                "; expected a finite value ≥ 0 (0 = off)");
  if (!(o.clip_percent >= 0.0 && o.clip_percent < 50.0))
    throw std::invalid_argument("find_lattice_region: clip_percent = " + std::to_string(o.clip_percent) +
                                "; expected a value in [0, 50)");
  if (!(o.spacing_px >= 0.0) || !std::isfinite(o.spacing_px))
    throw std::invalid_argument("find_lattice_region: spacing_px = " + std::to_string(o.spacing_px) +
                                "; expected a finite value ≥ 0");
  LatticeRegion out;
  out.kind = RegionMap::Constant(R, C, static_cast<std::uint8_t>(RegionKind::flat));
  out.image = ImageArray::Zero(R, C);
  const auto no_lattice = [&]() { return out; };

  // (1) unit-free image
  std::vector<double> all(image.data(), image.data() + image.size());
  const double med = quantiles(all, {0.5})[0];
  for (double& v : all) v = std::abs(v - med);
  double unit = 1.4826 * quantiles(all, {0.5})[0];
  if (!(unit > 0.0)) unit = image.maxCoeff() - image.minCoeff();
  if (!(unit > 0.0)) return no_lattice();  // constant image
  const ImageArray z = (image - med) / unit;

  // (2) lattice scale: the given spacing, else the median over tiles (clipped so that one
  // saturated region's edge does not dominate a tile's autocorrelation), else the whole image.
  double L = o.spacing_px;
  if (L <= 0.0) {
    const ImageArray zc = z.cwiseMax(-6.0).cwiseMin(6.0);
    auto t = tiled_scale(zc);
    if (!t) t = autocorrelation_scale(zc);
    if (!t) return no_lattice();
    L = *t;
  }

  // (3) local mean and local r.m.s. contrast at two scales
  // texture: the image minus its local mean at L/2 (so that a step at a region's edge adds
  // little); its local r.m.s. is the lattice contrast (plus noise)
  const ImageArray mf = gaussian_blur(z, 0.5 * L), mc = gaussian_blur(z, L);
  const ImageArray t2 = (z - mf).square();
  // the share of the texture r.m.s. that is lattice contrast rather than white noise: 1 at high
  // dose (the dark test below is then the dark_z one alone), ≈ 0.3 at the 60 kV graphene images'
  // dose, where the smoothed mean shows vacuum plainly while the texture r.m.s. is mostly noise
  double lattice_share = 1.0;
  if (o.dark_spread_z > 0 && L > 1.0) {
    const double snr = lattice_snr(z.cwiseMax(-6.0).cwiseMin(6.0), L);
    lattice_share = snr / std::sqrt(1.0 + snr * snr);
  }
  const ImageArray sf = gaussian_blur(t2, 0.5 * L).sqrt(), sc = gaussian_blur(t2, L).sqrt();
  MaskArray lat = MaskArray::Constant(R, C, true);
  RegionMap kind(R, C);
  for (int it = 0; it < 3; ++it) {
    const double ref_c = masked_median(mc, lat), ref_f = masked_median(mf, lat);
    const double d = masked_median(sc, lat), d_f = masked_median(sf, lat);
    if (!(d > 0.0) || !(d_f > 0.0)) return no_lattice();
    // the local mean's own spread over the lattice (noise and gradients): at low dose the texture
    // r.m.s. d is mostly shot noise and hides vacuum that the smoothed mean shows plainly
    const double s_c = 1.4826 * masked_median((mc - ref_c).abs(), lat), s_f = 1.4826 * masked_median((mf - ref_f).abs(), lat);
    for (Index i = 0; i < z.size(); ++i) {
      const double a = mc.data()[i], b = mf.data()[i];
      RegionKind k = RegionKind::lattice;
      if (a > ref_c + o.bright_z * d && b > ref_f + o.bright_z * d)
        k = RegionKind::bright;
      else if (a < ref_c - o.dark_z * d && b < ref_f - o.dark_z * d)
        k = RegionKind::dark;
      else if (o.dark_spread_z > 0 && a < ref_c - std::max(o.dark_spread_z * s_c, o.dark_z * lattice_share * d) &&
               b < ref_f - std::max(o.dark_spread_z * s_f, o.dark_z * lattice_share * d))
        k = RegionKind::dark;
      else if (sc.data()[i] < o.flat_fraction * d && sf.data()[i] < o.flat_fraction * d_f)
        k = RegionKind::flat;
      kind.data()[i] = static_cast<std::uint8_t>(k);
    }
    // small non-lattice specks (a noise fluctuation, a bright dopant) go back to the lattice
    std::vector<std::size_t> label;
    const std::size_t n = label_components(kind != static_cast<std::uint8_t>(RegionKind::lattice), label);
    std::vector<std::size_t> area(n + 1, 0);
    for (std::size_t id : label) ++area[id];
    for (Index i = 0; i < z.size(); ++i)
      if (const std::size_t id = label[static_cast<std::size_t>(i)]; id != 0 && static_cast<double>(area[id]) < L * L)
        kind.data()[i] = static_cast<std::uint8_t>(RegionKind::lattice);
    const MaskArray next = kind == static_cast<std::uint8_t>(RegionKind::lattice);
    const bool same = (next == lat).all();
    lat = next;
    if (same) break;
  }
  const auto n_lat = static_cast<double>(lat.count());
  if (n_lat < std::max(16.0, 4.0 * L * L)) {
    out.kind = kind;
    out.lattice_fraction = n_lat / static_cast<double>(z.size());
    return out;  // too little lattice to normalise on or to estimate a spacing from
  }
  out.kind = kind;
  out.lattice_fraction = n_lat / static_cast<double>(z.size());

  // (4) robust normalisation on the lattice pixels (of the input, so that it is exactly affine)
  std::vector<double> v;
  v.reserve(static_cast<std::size_t>(n_lat));
  for (Index i = 0; i < image.size(); ++i)
    if (lat.data()[i]) v.push_back(image.data()[i]);
  const double qc = o.clip_percent / 100.0;
  const auto q = quantiles(std::move(v), {0.01, 0.5, 0.99, qc, 1.0 - qc});
  double span = q[2] - q[0];
  if (!(span > 0.0)) span = unit;
  for (Index i = 0; i < image.size(); ++i)
    out.image.data()[i] = lat.data()[i] ? (std::clamp(image.data()[i], q[3], q[4]) - q[1]) / span : 0.0;
  // non-lattice pixels at the lattice's mean, so that a region's edge is not a step in the mean
  double fill = 0.0;
  for (Index i = 0; i < image.size(); ++i)
    if (lat.data()[i]) fill += out.image.data()[i];
  fill /= n_lat;
  for (Index i = 0; i < image.size(); ++i)
    if (!lat.data()[i]) out.image.data()[i] = fill;

  // (5) spacing on the lattice only
  if (o.spacing_px > 0.0) {
    out.spacing_px = o.spacing_px;
  } else if (const auto L1 = tiled_scale(out.image, &lat); L1 || autocorrelation_scale(out.image)) {
    // the lattice part itself must be periodic (its tiles, else the whole image: no 2-D FFT of
    // the whole image when a tile shows it). LoG peaks count only ≥ L/2 from a non-lattice region
    // (the region's edge makes peaks of its own).
    const ImageArray near = gaussian_blur((!lat).cast<double>(), 0.25 * L);
    const MaskArray keep = lat && (near < 0.02);
    if (const auto s = try_estimate_spacing(out.image, L1.value_or(L), &keep))
      out.spacing_px = *s;
  }
  return out;
}

AtomMatchScore match_atoms(std::span<const Position> found, std::span<const Position> truth, double radius_px) {
  if (!(radius_px > 0.0) || !std::isfinite(radius_px))
    throw std::invalid_argument("match_atoms: radius_px = " + std::to_string(radius_px) + "; expected a finite value > 0");
  for (const auto& p : found)
    if (!is_finite(p)) throw std::invalid_argument("match_atoms: a found position is not finite");
  for (const auto& p : truth)
    if (!is_finite(p)) throw std::invalid_argument("match_atoms: a true position is not finite");
  // Candidate pairs, found by sorting truth by row and scanning the band |Δrow| ≤ radius.
  std::vector<std::size_t> order(truth.size());
  for (std::size_t j = 0; j < order.size(); ++j) order[j] = j;
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return truth[a].row < truth[b].row; });
  std::vector<std::tuple<double, std::size_t, std::size_t>> pairs;
  for (std::size_t i = 0; i < found.size(); ++i) {
    auto it = std::lower_bound(order.begin(), order.end(), found[i].row - radius_px,
                               [&](std::size_t j, double v) { return truth[j].row < v; });
    for (; it != order.end() && truth[*it].row <= found[i].row + radius_px; ++it) {
      const double d = std::hypot(found[i].row - truth[*it].row, found[i].col - truth[*it].col);
      if (d <= radius_px) pairs.emplace_back(d, i, *it);
    }
  }
  std::sort(pairs.begin(), pairs.end());
  std::vector<char> used_f(found.size(), 0), used_t(truth.size(), 0);
  AtomMatchScore s;
  for (const auto& [d, i, j] : pairs) {
    if (used_f[i] || used_t[j]) continue;
    used_f[i] = used_t[j] = 1;
    ++s.true_positives;
  }
  s.false_positives = found.size() - s.true_positives;
  s.false_negatives = truth.size() - s.true_positives;
  if (found.empty() && truth.empty()) {
    s.precision = s.recall = s.f1 = 1.0;
    return s;
  }
  s.precision = found.empty() ? 0.0 : static_cast<double>(s.true_positives) / static_cast<double>(found.size());
  s.recall = truth.empty() ? 0.0 : static_cast<double>(s.true_positives) / static_cast<double>(truth.size());
  s.f1 = (s.precision + s.recall) > 0 ? 2.0 * s.precision * s.recall / (s.precision + s.recall) : 0.0;
  return s;
}

std::vector<Atom> atoms_from_probability(const ImageArray& probability, double threshold, std::size_t min_area_px) {
  if (!(threshold > 0.0 && threshold <= 1.0))
    throw std::invalid_argument("atoms_from_probability: threshold = " + std::to_string(threshold) +
                                "; expected a value in (0, 1]");
  if (probability.size() == 0) return {};
  for (Index i = 0; i < probability.size(); ++i)
    if (!std::isfinite(probability.data()[i]))
      throw std::invalid_argument("atoms_from_probability: non-finite probability at pixel (" +
                                  std::to_string(i / probability.cols()) + ", " +
                                  std::to_string(i % probability.cols()) + ")");
  const Index C = probability.cols();
  std::vector<std::size_t> label;
  const std::size_t n = label_components(probability >= threshold, label);
  struct Sums {
    double w = 0, wr = 0, wc = 0, pmax = 0;
    std::size_t area = 0;
  };
  std::vector<Sums> sums(n + 1);
  for (Index k = 0; k < probability.size(); ++k) {
    const std::size_t id = label[static_cast<std::size_t>(k)];
    if (id == 0) continue;
    const double p = probability.data()[k];
    Sums& t = sums[id];
    ++t.area;
    t.w += p;
    t.wr += p * static_cast<double>(k / C);
    t.wc += p * static_cast<double>(k % C);
    t.pmax = std::max(t.pmax, p);
  }
  std::vector<Atom> atoms;
  for (std::size_t id = 1; id <= n; ++id) {
    const Sums& t = sums[id];
    if (t.area < min_area_px || !(t.w > 0)) continue;
    Atom a;
    a.position = {t.wr / t.w, t.wc / t.w};
    a.probability = std::clamp(t.pmax, 0.0, 1.0);
    atoms.push_back(a);
  }
  return atoms;
}

std::vector<Atom> find_atoms_log(const ImageArray& image, const LogPeakOptions& options) {
  check_finite_image(image, "find_atoms_log");
  for (double v : {options.sigma_px, options.min_distance_px, options.threshold, options.spacing_px})
    if (!(v >= 0.0) || !std::isfinite(v))
      throw std::invalid_argument("find_atoms_log: options must be finite and ≥ 0 (sigma_px " +
                                  std::to_string(options.sigma_px) + ", min_distance_px " +
                                  std::to_string(options.min_distance_px) + ", threshold " +
                                  std::to_string(options.threshold) + ", spacing_px " +
                                  std::to_string(options.spacing_px) + ")");
  double s = options.spacing_px;
  if (s == 0.0 && (options.sigma_px == 0.0 || options.min_distance_px == 0.0 || options.refine)) {
    if (image.rows() < 16 || image.cols() < 16) return {};
    const auto est = try_estimate_spacing(image);
    if (!est) return {};
    s = *est;
  }
  Resolved p;
  p.spacing = s > 0 ? s : 2.5 * std::max(options.sigma_px, options.min_distance_px / 2.0);
  p.sigma = options.sigma_px > 0 ? options.sigma_px : 0.3 * p.spacing;
  p.min_distance = options.min_distance_px > 0 ? options.min_distance_px : 0.5 * p.spacing;
  return find_with(image, p, options.threshold, options.refine);
}

double estimate_atom_spacing_px(const ImageArray& image) {
  check_finite_image(image, "estimate_atom_spacing_px");
  if (image.rows() < 16 || image.cols() < 16)
    throw std::invalid_argument("estimate_atom_spacing_px: image is " + std::to_string(image.rows()) + "×" +
                                std::to_string(image.cols()) + "; expected at least 16×16");
  const auto s = try_estimate_spacing(image);
  if (!s) throw std::runtime_error("estimate_atom_spacing_px: no lattice periodicity found in the image");
  return *s;
}

double split_atoms_by_intensity(const ImageArray& image, std::vector<Atom>& atoms, int bright_class, int dim_class,
                                double sigma_px) {
  if (image.size() == 0) throw std::invalid_argument("split_atoms_by_intensity: empty image");
  if (!(sigma_px >= 0.0)) throw std::invalid_argument("split_atoms_by_intensity: sigma_px < 0");
  if (atoms.size() < 2) {
    for (auto& a : atoms) a.cls = bright_class;
    return std::numeric_limits<double>::quiet_NaN();
  }
  const ImageArray sm = gaussian_blur(image, sigma_px);
  std::vector<Position> pos;
  for (const auto& a : atoms) pos.push_back(a.position);
  const auto v = sample_bilinear(sm, pos);
  ImageArray col(static_cast<Index>(v.size()), 1);
  for (std::size_t i = 0; i < v.size(); ++i) col(static_cast<Index>(i), 0) = v[i];
  const double t = otsu_threshold(col);
  for (std::size_t i = 0; i < atoms.size(); ++i) atoms[i].cls = v[i] > t ? bright_class : dim_class;
  return t;
}

std::vector<std::size_t> neighbour_counts(std::span<const Atom> atoms, double radius_px) {
  if (!(radius_px > 0.0)) throw std::invalid_argument("neighbour_counts: radius_px must be > 0");
  std::vector<std::size_t> order(atoms.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](std::size_t a, std::size_t b) { return atoms[a].position.row < atoms[b].position.row; });
  std::vector<std::size_t> n(atoms.size(), 0);
  for (std::size_t x = 0; x < order.size(); ++x)
    for (std::size_t y = x + 1; y < order.size(); ++y) {
      const auto& a = atoms[order[x]].position;
      const auto& b = atoms[order[y]].position;
      if (b.row - a.row > radius_px) break;
      if (std::hypot(a.row - b.row, a.col - b.col) <= radius_px) {
        ++n[order[x]];
        ++n[order[y]];
      }
    }
  return n;
}

}  // namespace autostem
