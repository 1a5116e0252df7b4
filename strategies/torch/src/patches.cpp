// Survey patches for DKL: w×w windows around candidate pixels, reflect padding, standardised.
#include <autostem/strategies/dkl.hpp>

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace autostem::strategies {

namespace {

/// numpy "reflect" (edge pixel not repeated): −1 → 1, n → n − 2. Needs n ≥ 2 unless i in range.
long reflect(long i, long n) {
  if (n == 1) return 0;
  const long period = 2 * (n - 1);
  i %= period;
  if (i < 0) i += period;
  return i < n ? i : period - i;
}

}  // namespace

std::size_t PatchSet::candidate_of(std::size_t r, std::size_t c) const {
  const std::size_t crow = (rows + stride - 1) / stride, ccol = (cols + stride - 1) / stride;
  const std::size_t i = std::min(r / stride, crow - 1), j = std::min(c / stride, ccol - 1);
  return i * ccol + j;
}

PatchSet extract_patches(const ImageArray& survey, std::size_t window, std::size_t stride) {
  const auto rows = static_cast<std::size_t>(survey.rows());
  const auto cols = static_cast<std::size_t>(survey.cols());
  if (window == 0) throw std::invalid_argument("patches: the window must be at least 1 px");
  if (stride == 0) throw std::invalid_argument("patches: the stride must be at least 1 px");
  if (window > rows || window > cols)
    throw std::invalid_argument("patches: the " + std::to_string(window) + "×" +
                                std::to_string(window) + " patch is larger than the " +
                                std::to_string(rows) + "×" + std::to_string(cols) + " survey");
  if (!survey.allFinite())
    throw std::invalid_argument("patches: the survey holds non-finite values (NaN or inf)");
  PatchSet p;
  p.window = window;
  p.stride = stride;
  p.rows = rows;
  p.cols = cols;
  const double mean = survey.mean();
  const double sd = std::sqrt((survey - mean).square().mean());
  p.constant = !(sd > 1e-12 * std::max(1.0, std::abs(mean)));
  const double inv = p.constant ? 0.0 : 1.0 / sd;
  const std::size_t crow = (rows + stride - 1) / stride, ccol = (cols + stride - 1) / stride;
  const std::size_t N = crow * ccol, w2 = window * window;
  p.data.resize(static_cast<Eigen::Index>(N), static_cast<Eigen::Index>(w2));
  p.positions.resize(static_cast<Eigen::Index>(N), 2);
  const long half = static_cast<long>(window / 2);
  for (std::size_t i = 0; i < crow; ++i)
    for (std::size_t j = 0; j < ccol; ++j) {
      const std::size_t k = i * ccol + j;
      const long r0 = static_cast<long>(i * stride), c0 = static_cast<long>(j * stride);
      p.positions(static_cast<Eigen::Index>(k), 0) = static_cast<double>(r0);
      p.positions(static_cast<Eigen::Index>(k), 1) = static_cast<double>(c0);
      float* out = p.data.row(static_cast<Eigen::Index>(k)).data();
      for (long a = 0; a < static_cast<long>(window); ++a) {
        const long rr = reflect(r0 - half + a, static_cast<long>(rows));
        for (long b = 0; b < static_cast<long>(window); ++b) {
          const long cc = reflect(c0 - half + b, static_cast<long>(cols));
          *out++ = static_cast<float>((survey(rr, cc) - mean) * inv);
        }
      }
    }
  return p;
}

double autocorrelation_half_width(const ImageArray& survey, double max_lag_px) {
  const auto rows = static_cast<long>(survey.rows()), cols = static_cast<long>(survey.cols());
  if (rows == 0 || cols == 0) throw std::invalid_argument("autocorrelation_half_width: the survey is empty");
  if (!survey.allFinite())
    throw std::invalid_argument("autocorrelation_half_width: the survey holds non-finite values (NaN or inf)");
  if (!(max_lag_px >= 1.0))
    throw std::invalid_argument("autocorrelation_half_width: max_lag_px must be at least 1");
  const double mean = survey.mean();
  const double sd = std::sqrt((survey - mean).square().mean());
  if (!(sd > 1e-12 * std::max(1.0, std::abs(mean)))) return 0.0;  // constant: no structure
  const ImageArray z = (survey - mean) / sd;
  const long rmax = std::min<long>(static_cast<long>(std::ceil(max_lag_px)), std::min(rows, cols) - 1);
  if (rmax < 1) return max_lag_px;
  double prev = 1.0;  // ρ(0)
  for (long r = 1; r <= rmax; ++r) {
    // Lags of ring r in the half plane (dy > 0, or dy = 0 and dx > 0): ρ(−d) = ρ(d).
    double sum = 0.0;
    long lags = 0;
    for (long dy = 0; dy <= r; ++dy)
      for (long dx = -r; dx <= r; ++dx) {
        if (dy == 0 && dx <= 0) continue;
        if (std::lround(std::sqrt(double(dy * dy + dx * dx))) != r) continue;
        if (dy >= rows || std::abs(dx) >= cols) continue;
        const long c0 = std::max(0L, -dx), c1 = std::min(cols, cols - dx);
        double acc = 0.0;
        for (long y = 0; y + dy < rows; ++y) {
          const double* a = &z(y, 0);
          const double* b = &z(y + dy, 0);
          for (long x = c0; x < c1; ++x) acc += a[x] * b[x + dx];
        }
        sum += acc / double((rows - dy) * (c1 - c0));
        ++lags;
      }
    if (lags == 0) continue;
    const double rho = sum / double(lags);
    if (rho < 0.5) return double(r - 1) + (prev - 0.5) / (prev - rho);
    prev = rho;
  }
  return double(rmax) < max_lag_px ? double(rmax) : max_lag_px;
}

AutoPatch auto_patch_size(const ImageArray& survey) {
  AutoPatch a;
  // Ladder 4…16: every ℓ ≥ 4 px gives 16 (3.5·ℓ/4 ≥ 3.5), so 6 px of lag suffice.
  a.half_width_px = autocorrelation_half_width(survey, 6.0);
  const std::size_t shorter = std::min<std::size_t>(survey.rows(), survey.cols());
  if (a.half_width_px <= 0.0) {
    a.patch = std::min<std::size_t>(8, shorter);
    return a;
  }
  const double steps = std::round(kAutoPatchHalfWidths * a.half_width_px / 4.0);
  a.patch = std::min<std::size_t>(4 * static_cast<std::size_t>(std::clamp(steps, 1.0, 4.0)), shorter);
  return a;
}

}  // namespace autostem::strategies
