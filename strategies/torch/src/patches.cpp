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

}  // namespace autostem::strategies
