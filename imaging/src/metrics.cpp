#include <autostem/imaging/metrics.hpp>

#include <autostem/imaging/image_ops.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <stdexcept>
#include <string>
#include <vector>

namespace autostem {

namespace {

std::string shape(const ImageArray& a) {
  return std::to_string(a.rows()) + "×" + std::to_string(a.cols());
}

void check_map(const ImageArray& a, const char* what, const char* name) {
  if (a.size() == 0) throw std::invalid_argument(std::string(what) + ": " + name + " is empty");
  if (!a.isFinite().all())
    throw std::invalid_argument(std::string(what) + ": " + name + " holds NaN or ±inf");
}

void check_pair(const ImageArray& truth, const ImageArray& est, const char* what) {
  check_map(truth, what, "truth");
  if (truth.rows() != est.rows() || truth.cols() != est.cols())
    throw std::invalid_argument(std::string(what) + ": truth is " + shape(truth) +
                                " but the estimate is " + shape(est));
  check_map(est, what, "estimate");
}

double truth_range(const ImageArray& truth, const char* what) {
  const double r = truth.maxCoeff() - truth.minCoeff();
  if (!(r > 0.0))
    throw std::invalid_argument(std::string(what) + ": truth is constant (range 0); the metric "
                                "is normalised by the truth's range and undefined");
  return r;
}

// The pixel a position lands on, or false when it lands nowhere.
bool landing_pixel(const Position& p, Eigen::Index rows, Eigen::Index cols, Eigen::Index& r,
                   Eigen::Index& c) {
  if (!is_finite(p)) return false;
  const double rr = std::round(p.row), cc = std::round(p.col);
  if (rr < 0.0 || cc < 0.0 || rr >= static_cast<double>(rows) || cc >= static_cast<double>(cols))
    return false;
  r = static_cast<Eigen::Index>(rr);
  c = static_cast<Eigen::Index>(cc);
  return true;
}

}  // namespace

ImageArray top_fraction_mask(const ImageArray& truth, double fraction) {
  check_map(truth, "top_fraction_mask", "truth");
  if (!(fraction > 0.0 && fraction <= 1.0))
    throw std::invalid_argument("top_fraction_mask: fraction = " + std::to_string(fraction) +
                                "; expected (0, 1]");
  const auto n = static_cast<std::size_t>(truth.size());
  const auto k = std::clamp<std::size_t>(
      static_cast<std::size_t>(std::ceil(fraction * static_cast<double>(n) - 1e-9)), 1, n);
  std::vector<double> v(truth.data(), truth.data() + n);
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k - 1), v.end(),
                   std::greater<>());
  const double cut = v[k - 1];
  return (truth >= cut).cast<double>();
}

namespace {

// Calls mark(r, c) for the pixel a position lands on and, with radius_px > 0, for every pixel
// whose centre lies within radius_px of it (clipped to the field; non-finite positions: none).
template <class Mark>
void for_each_hit(const Position& p, Eigen::Index rows, Eigen::Index cols, double radius_px, Mark&& mark) {
  Eigen::Index r, c;
  if (landing_pixel(p, rows, cols, r, c)) mark(r, c);
  if (radius_px > 0.0 && is_finite(p)) {
    const auto r0 = std::max<Eigen::Index>(0, static_cast<Eigen::Index>(std::ceil(p.row - radius_px)));
    const auto r1 = std::min<Eigen::Index>(rows - 1, static_cast<Eigen::Index>(std::floor(p.row + radius_px)));
    const auto c0 = std::max<Eigen::Index>(0, static_cast<Eigen::Index>(std::ceil(p.col - radius_px)));
    const auto c1 = std::min<Eigen::Index>(cols - 1, static_cast<Eigen::Index>(std::floor(p.col + radius_px)));
    for (Eigen::Index rr = r0; rr <= r1; ++rr)
      for (Eigen::Index cc = c0; cc <= c1; ++cc) {
        const double dr = static_cast<double>(rr) - p.row, dc = static_cast<double>(cc) - p.col;
        if (dr * dr + dc * dc <= radius_px * radius_px) mark(rr, cc);
      }
  }
}

// Share of the labelled units (ids 1…n in `label`, row-major; 0 = outside) with at least one
// pixel hit by positions[0..i], after each position. `what` names the metric in errors.
std::vector<double> hit_fraction_curve(const ImageArray& mask, const std::vector<std::size_t>& label, std::size_t n,
                                       std::span<const Position> positions, double radius_px, const std::string& what) {
  if (n == 0)
    throw std::invalid_argument(what + ": the region-of-interest mask (" + shape(mask) +
                                ") has no pixel inside; " + what + " is undefined");
  const Eigen::Index cols = mask.cols();
  std::vector<char> found(n + 1, 0);
  double hits = 0.0;
  auto mark = [&](Eigen::Index r, Eigen::Index c) {
    const std::size_t id = label[static_cast<std::size_t>(r * cols + c)];
    if (id != 0 && !found[id]) {
      found[id] = 1;
      hits += 1.0;
    }
  };
  std::vector<double> curve;
  curve.reserve(positions.size());
  for (const Position& p : positions) {
    for_each_hit(p, mask.rows(), cols, radius_px, mark);
    curve.push_back(hits / static_cast<double>(n));
  }
  return curve;
}

void check_recall_arguments(const ImageArray& mask, double radius_px, const std::string& what) {
  if (mask.size() == 0) throw std::invalid_argument(what + ": the mask is empty (0 pixels)");
  if (!(radius_px >= 0.0) || !std::isfinite(radius_px))
    throw std::invalid_argument(what + ": radius_px = " + std::to_string(radius_px) +
                                "; expected a finite value ≥ 0");
}

}  // namespace

std::vector<double> recall_curve(const ImageArray& mask, std::span<const Position> positions,
                                 double radius_px) {
  check_recall_arguments(mask, radius_px, "recall");
  // Every mask pixel is its own unit.
  std::vector<std::size_t> label(static_cast<std::size_t>(mask.size()), 0);
  std::size_t n = 0;
  for (Eigen::Index k = 0; k < mask.size(); ++k)
    if (mask.data()[k] != 0.0) label[static_cast<std::size_t>(k)] = ++n;
  return hit_fraction_curve(mask, label, n, positions, radius_px, "recall");
}

std::vector<double> site_recall_curve(const ImageArray& mask, std::span<const Position> positions,
                                      double radius_px) {
  check_recall_arguments(mask, radius_px, "site recall");
  std::vector<std::size_t> label;
  const std::size_t n = label_components(mask != 0.0, label);  // sites: 8-connected components
  return hit_fraction_curve(mask, label, n, positions, radius_px, "site recall");
}

double recall(const ImageArray& mask, std::span<const Position> positions, double radius_px) {
  const auto curve = recall_curve(mask, positions, radius_px);
  return curve.empty() ? 0.0 : curve.back();
}

std::vector<double> simple_regret_curve(const ImageArray& truth,
                                        std::span<const Position> positions) {
  check_map(truth, "simple_regret", "truth");
  const double best_possible = truth.maxCoeff();
  double best = truth.minCoeff();
  std::vector<double> curve;
  curve.reserve(positions.size());
  for (const Position& p : positions) {
    Eigen::Index r, c;
    if (landing_pixel(p, truth.rows(), truth.cols(), r, c)) best = std::max(best, truth(r, c));
    curve.push_back(best_possible - best);
  }
  return curve;
}

double nrmse(const ImageArray& truth, const ImageArray& estimate) {
  check_pair(truth, estimate, "nrmse");
  const double range = truth_range(truth, "nrmse");
  return std::sqrt((truth - estimate).square().mean()) / range;
}

double psnr(const ImageArray& truth, const ImageArray& estimate) {
  check_pair(truth, estimate, "psnr");
  const double range = truth_range(truth, "psnr");
  const double mse = (truth - estimate).square().mean();
  if (mse == 0.0) return std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(range * range / mse);
}

namespace {
constexpr double kSsimSigma = 1.5, kSsimTruncate = 3.5, kK1 = 0.01, kK2 = 0.03;
constexpr Eigen::Index kSsimRadius = 5;  // int(3.5 · 1.5 + 0.5)
}  // namespace

ImageArray ssim_map(const ImageArray& truth, const ImageArray& estimate, double data_range) {
  check_pair(truth, estimate, "ssim");
  const Eigen::Index win = 2 * kSsimRadius + 1;
  if (truth.rows() < win || truth.cols() < win)
    throw std::invalid_argument("ssim: maps are " + shape(truth) + "; the 11×11 Gaussian window "
                                "(σ = 1.5 px) needs at least 11×11");
  double R = data_range;
  if (!(R > 0.0)) R = truth_range(truth, "ssim");
  auto g = [](const ImageArray& a) { return gaussian_blur(a, kSsimSigma, kSsimTruncate); };
  const ImageArray ux = g(truth), uy = g(estimate);
  const ImageArray vx = g(truth.square()) - ux.square();
  const ImageArray vy = g(estimate.square()) - uy.square();
  const ImageArray vxy = g(truth * estimate) - ux * uy;
  const double C1 = (kK1 * R) * (kK1 * R), C2 = (kK2 * R) * (kK2 * R);
  return ((2.0 * ux * uy + C1) * (2.0 * vxy + C2)) /
         ((ux.square() + uy.square() + C1) * (vx + vy + C2));
}

double ssim(const ImageArray& truth, const ImageArray& estimate, double data_range) {
  const ImageArray S = ssim_map(truth, estimate, data_range);
  const Eigen::Index p = kSsimRadius;
  return S.block(p, p, S.rows() - 2 * p, S.cols() - 2 * p).mean();
}

ImageArray inpaint_nearest(std::span<const Position> positions, std::span<const double> values,
                           std::size_t rows_u, std::size_t cols_u) {
  if (positions.size() != values.size())
    throw std::invalid_argument("inpaint_nearest: " + std::to_string(positions.size()) +
                                " positions but " + std::to_string(values.size()) + " values");
  if (rows_u == 0 || cols_u == 0)
    throw std::invalid_argument("inpaint_nearest: map shape " + std::to_string(rows_u) + "×" +
                                std::to_string(cols_u) + " has a zero extent");
  const auto rows = static_cast<Eigen::Index>(rows_u), cols = static_cast<Eigen::Index>(cols_u);
  // Average of the samples landing on each pixel.
  ImageArray sum = ImageArray::Zero(rows, cols), count = ImageArray::Zero(rows, cols);
  std::size_t landed = 0;
  for (std::size_t i = 0; i < positions.size(); ++i) {
    if (!std::isfinite(values[i]))
      throw std::invalid_argument("inpaint_nearest: value " + std::to_string(i) + " is not finite");
    Eigen::Index r, c;
    if (!landing_pixel(positions[i], rows, cols, r, c)) continue;
    sum(r, c) += values[i];
    count(r, c) += 1.0;
    ++landed;
  }
  if (landed == 0)
    throw std::invalid_argument("inpaint_nearest: none of the " + std::to_string(positions.size()) +
                                " positions lands inside the " + std::to_string(rows) + "×" +
                                std::to_string(cols) + " map");

  // Felzenszwalb & Huttenlocher's separable squared-distance transform, carrying the index of
  // the sample pixel each minimum comes from. Pass 1: nearest sample within each column.
  constexpr double inf = std::numeric_limits<double>::infinity();
  const std::size_t npx = rows_u * cols_u;
  std::vector<double> f(npx, inf);
  std::vector<std::int64_t> feat(npx, -1);
  // Row-major sweeps (down, then up) keep memory access contiguous.
  std::vector<Eigen::Index> last(static_cast<std::size_t>(cols), -1);
  for (Eigen::Index r = 0; r < rows; ++r)
    for (Eigen::Index c = 0; c < cols; ++c) {
      auto& l = last[static_cast<std::size_t>(c)];
      if (count(r, c) > 0) l = r;
      if (l >= 0) {
        f[r * cols + c] = double((r - l) * (r - l));
        feat[r * cols + c] = l * cols + c;
      }
    }
  std::fill(last.begin(), last.end(), -1);
  for (Eigen::Index r = rows - 1; r >= 0; --r)
    for (Eigen::Index c = 0; c < cols; ++c) {
      auto& l = last[static_cast<std::size_t>(c)];
      if (count(r, c) > 0) l = r;
      if (l >= 0) {
        const double d = double((r - l) * (r - l));
        if (d < f[r * cols + c]) {
          f[r * cols + c] = d;
          feat[r * cols + c] = l * cols + c;
        }
      }
    }
  // Pass 2: lower envelope of the parabolas (c − q)² + f(q) along each row.
  ImageArray out(rows, cols);
  std::vector<Eigen::Index> v(static_cast<std::size_t>(cols));
  std::vector<double> z(static_cast<std::size_t>(cols) + 1);
  for (Eigen::Index r = 0; r < rows; ++r) {
    const double* fr = f.data() + r * cols;
    const std::int64_t* fe = feat.data() + r * cols;
    Eigen::Index k = -1;
    for (Eigen::Index q = 0; q < cols; ++q) {
      if (fr[q] == inf) continue;
      if (k < 0) {
        k = 0;
        v[0] = q;
        z[0] = -inf;
        z[1] = inf;
        continue;
      }
      double s;
      for (;;) {
        const Eigen::Index p = v[static_cast<std::size_t>(k)];
        s = ((fr[q] + double(q * q)) - (fr[p] + double(p * p))) / double(2 * (q - p));
        if (s <= z[static_cast<std::size_t>(k)] && k > 0) --k;
        else break;
      }
      // With k == 0 and s ≤ z[0] = −inf impossible, so parabola q starts at s.
      ++k;
      v[static_cast<std::size_t>(k)] = q;
      z[static_cast<std::size_t>(k)] = s;
      z[static_cast<std::size_t>(k) + 1] = inf;
    }
    Eigen::Index j = 0;
    for (Eigen::Index q = 0; q < cols; ++q) {
      while (z[static_cast<std::size_t>(j) + 1] < static_cast<double>(q)) ++j;
      const std::int64_t src = fe[v[static_cast<std::size_t>(j)]];
      const Eigen::Index sr = src / cols, sc = src % cols;
      out(r, q) = sum(sr, sc) / count(sr, sc);
    }
  }
  return out;
}

double mean_spectral_angle(const SpectrumImage& truth, const SpectrumImage& estimate) {
  if (truth.rows() != estimate.rows() || truth.cols() != estimate.cols() ||
      truth.channels() != estimate.channels())
    throw std::invalid_argument(
        "mean_spectral_angle: truth is " + std::to_string(truth.rows()) + "×" +
        std::to_string(truth.cols()) + "×" + std::to_string(truth.channels()) +
        " but the estimate is " + std::to_string(estimate.rows()) + "×" +
        std::to_string(estimate.cols()) + "×" + std::to_string(estimate.channels()));
  if (truth.rows() == 0) return 0.0;
  double total = 0.0;
  for (std::size_t r = 0; r < truth.rows(); ++r)
    for (std::size_t c = 0; c < truth.cols(); ++c) {
      const auto a = truth.spectrum(r, c), b = estimate.spectrum(r, c);
      double ab = 0, aa = 0, bb = 0;
      for (std::size_t e = 0; e < a.size(); ++e) {
        ab += double(a[e]) * b[e];
        aa += double(a[e]) * a[e];
        bb += double(b[e]) * b[e];
      }
      if (aa == 0.0 && bb == 0.0) continue;
      if (aa == 0.0 || bb == 0.0) {
        total += 0.5 * std::numbers::pi;
        continue;
      }
      total += std::acos(std::clamp(ab / std::sqrt(aa * bb), -1.0, 1.0));
    }
  return total / static_cast<double>(truth.rows() * truth.cols());
}

}  // namespace autostem
