#include <autostem/imaging/image_ops.hpp>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace autostem {

namespace {

// scipy.ndimage "reflect": … b a | a b c … c b | b a …  (period 2n).
inline Eigen::Index reflect(Eigen::Index i, Eigen::Index n) {
  if (n == 1) return 0;
  const Eigen::Index period = 2 * n;
  i %= period;
  if (i < 0) i += period;
  return i < n ? i : period - 1 - i;
}

// Correlates every row with taps (centred), reflect borders.
ImageArray filter_rows(const ImageArray& in, const std::vector<double>& taps) {
  const Eigen::Index rows = in.rows(), cols = in.cols();
  const Eigen::Index R = static_cast<Eigen::Index>(taps.size() / 2);
  ImageArray out(rows, cols);
  std::vector<double> padded(static_cast<std::size_t>(cols + 2 * R));
  for (Eigen::Index r = 0; r < rows; ++r) {
    for (Eigen::Index c = -R; c < cols + R; ++c)
      padded[static_cast<std::size_t>(c + R)] = in(r, reflect(c, cols));
    for (Eigen::Index c = 0; c < cols; ++c) {
      double acc = 0.0;
      const double* p = padded.data() + c;
      for (std::size_t k = 0; k < taps.size(); ++k) acc += taps[k] * p[k];
      out(r, c) = acc;
    }
  }
  return out;
}

// Same along columns, processed row-wise for cache friendliness (RowMajor storage).
ImageArray filter_cols(const ImageArray& in, const std::vector<double>& taps) {
  const Eigen::Index rows = in.rows(), cols = in.cols();
  const Eigen::Index R = static_cast<Eigen::Index>(taps.size() / 2);
  ImageArray out = ImageArray::Zero(rows, cols);
  for (Eigen::Index r = 0; r < rows; ++r)
    for (Eigen::Index k = -R; k <= R; ++k)
      out.row(r) += taps[static_cast<std::size_t>(k + R)] * in.row(reflect(r + k, rows));
  return out;
}

}  // namespace

std::vector<double> gaussian_kernel(double sigma_px, double truncate) {
  if (!(sigma_px > 0.0) || !std::isfinite(sigma_px) || !(truncate > 0.0))
    throw std::invalid_argument("gaussian_kernel: sigma_px = " + std::to_string(sigma_px) +
                                ", truncate = " + std::to_string(truncate) + "; both must be > 0");
  const int R = static_cast<int>(truncate * sigma_px + 0.5);
  std::vector<double> taps(static_cast<std::size_t>(2 * R + 1));
  double sum = 0.0;
  for (int x = -R; x <= R; ++x) {
    const double w = std::exp(-0.5 * x * x / (sigma_px * sigma_px));
    taps[static_cast<std::size_t>(x + R)] = w;
    sum += w;
  }
  for (double& w : taps) w /= sum;
  return taps;
}

ImageArray gaussian_blur(const ImageArray& image, double sigma_px, double truncate) {
  if (!(sigma_px >= 0.0) || !std::isfinite(sigma_px))
    throw std::invalid_argument("gaussian_blur: sigma_px = " + std::to_string(sigma_px) +
                                "; expected a finite value ≥ 0");
  if (sigma_px == 0.0 || image.size() == 0) return image;
  const auto taps = gaussian_kernel(sigma_px, truncate);
  return filter_cols(filter_rows(image, taps), taps);
}

ImageArray sobel_magnitude(const ImageArray& image) {
  if (image.size() == 0) return {};
  const std::vector<double> smooth{1.0, 2.0, 1.0}, diff{-1.0, 0.0, 1.0};
  const ImageArray gc = filter_cols(filter_rows(image, diff), smooth);
  const ImageArray gr = filter_rows(filter_cols(image, diff), smooth);
  return (gc.square() + gr.square()).sqrt();
}

double otsu_threshold(const ImageArray& image, int bins) {
  if (image.size() == 0) throw std::invalid_argument("otsu_threshold: the image is empty");
  if (bins < 2)
    throw std::invalid_argument("otsu_threshold: bins = " + std::to_string(bins) +
                                "; expected ≥ 2");
  if (!image.isFinite().all())
    throw std::invalid_argument("otsu_threshold: the image holds NaN or ±inf");
  const double lo = image.minCoeff(), hi = image.maxCoeff();
  if (lo == hi) return lo;
  std::vector<double> hist(static_cast<std::size_t>(bins), 0.0);
  const double width = (hi - lo) / bins;
  for (Eigen::Index i = 0; i < image.size(); ++i) {
    int b = static_cast<int>((image.data()[i] - lo) / width);
    hist[static_cast<std::size_t>(std::clamp(b, 0, bins - 1))] += 1.0;
  }
  auto centre = [&](int b) { return lo + (b + 0.5) * width; };
  // Class weights and means for a split after bin b (skimage's formulation).
  double total_w = 0.0, total_m = 0.0;
  for (int b = 0; b < bins; ++b) {
    total_w += hist[b];
    total_m += hist[b] * centre(b);
  }
  double w0 = 0.0, m0 = 0.0, best = -1.0;
  int best_b = 0;
  for (int b = 0; b < bins - 1; ++b) {
    w0 += hist[b];
    m0 += hist[b] * centre(b);
    const double w1 = total_w - w0;
    if (w0 == 0.0 || w1 == 0.0) continue;
    const double mu0 = m0 / w0, mu1 = (total_m - m0) / w1;
    const double between = w0 * w1 * (mu0 - mu1) * (mu0 - mu1);
    if (between > best) {
      best = between;
      best_b = b;
    }
  }
  return centre(best_b);
}

double sample_bilinear(const ImageArray& image, double row, double col) {
  if (image.size() == 0) throw std::invalid_argument("sample_bilinear: the image is empty");
  if (!std::isfinite(row) || !std::isfinite(col))
    throw std::invalid_argument("sample_bilinear: position (" + std::to_string(row) + ", " +
                                std::to_string(col) + ") is not finite");
  const double r = std::clamp(row, 0.0, static_cast<double>(image.rows() - 1));
  const double c = std::clamp(col, 0.0, static_cast<double>(image.cols() - 1));
  const Eigen::Index r0 = static_cast<Eigen::Index>(std::floor(r));
  const Eigen::Index c0 = static_cast<Eigen::Index>(std::floor(c));
  const Eigen::Index r1 = std::min<Eigen::Index>(r0 + 1, image.rows() - 1);
  const Eigen::Index c1 = std::min<Eigen::Index>(c0 + 1, image.cols() - 1);
  const double fr = r - static_cast<double>(r0), fc = c - static_cast<double>(c0);
  return (1 - fr) * ((1 - fc) * image(r0, c0) + fc * image(r0, c1)) +
         fr * ((1 - fc) * image(r1, c0) + fc * image(r1, c1));
}

std::vector<double> sample_bilinear(const ImageArray& image, std::span<const Position> positions) {
  std::vector<double> out;
  out.reserve(positions.size());
  for (const Position& p : positions) out.push_back(sample_bilinear(image, p.row, p.col));
  return out;
}

std::size_t label_components(const MaskArray& mask, std::vector<std::size_t>& labels) {
  const Eigen::Index R = mask.rows(), C = mask.cols();
  labels.assign(static_cast<std::size_t>(R * C), 0);
  std::size_t n = 0;
  std::vector<Eigen::Index> stack;
  for (Eigen::Index start = 0; start < R * C; ++start) {
    if (!mask.data()[start] || labels[static_cast<std::size_t>(start)] != 0) continue;
    labels[static_cast<std::size_t>(start)] = ++n;
    stack.assign(1, start);
    while (!stack.empty()) {
      const Eigen::Index k = stack.back();
      stack.pop_back();
      const Eigen::Index r = k / C, c = k % C;
      for (Eigen::Index dr = -1; dr <= 1; ++dr)
        for (Eigen::Index dc = -1; dc <= 1; ++dc) {
          const Eigen::Index rr = r + dr, cc = c + dc;
          if (rr < 0 || cc < 0 || rr >= R || cc >= C) continue;
          const Eigen::Index kk = rr * C + cc;
          if (!mask.data()[kk] || labels[static_cast<std::size_t>(kk)] != 0) continue;
          labels[static_cast<std::size_t>(kk)] = n;
          stack.push_back(kk);
        }
    }
  }
  return n;
}

}  // namespace autostem
