// Total-variation regularised reconstruction with the primal-dual algorithm of Chambolle & Pock
// 2011 (J. Math. Imaging Vis. 40, 120–145), Algorithm 1 with θ = 1:
//   p ← Π_{|p|≤μ}(p + σ∇x̄),  x⁺ ← prox_{τG}(x + τ div p),  x̄ ← 2x⁺ − x,
// with G(x) = ½ Σ_{i sampled} w_i (x_i − y_i)² (prox: (v + τ w y)/(1 + τ w) on sampled pixels,
// identity elsewhere), F(∇x) = μ‖∇x‖_{2,1} (isotropic TV; F* is the indicator of the μ-balls,
// whose prox is the projection), ∇ by forward differences with Neumann borders and div = −∇ᵀ
// (Chambolle 2004, J. Math. Imaging Vis. 20, 89, eq. 2.1–2.2), τ = σ = 1/√8 since ‖∇‖² ≤ 8.
// The values are mapped to [0, 1] by the samples' range first, so tv_weight and the tolerance are
// independent of the data's unit. Stopping rule: RMS(x_k − x_{k−1}) < tolerance (in those
// normalised units) or max_iterations.

#include <autostem/imaging/metrics.hpp>
#include <autostem/imaging/reconstruction.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

namespace autostem {

namespace {

/// E(x) = ½ Σ w (x − y)² + μ Σ |∇x|₂ on the normalised problem.
double tv_objective(const std::vector<double>& x, const std::vector<double>& w,
                    const std::vector<double>& y, double mu, std::size_t rows, std::size_t cols) {
  double data = 0.0, tv = 0.0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double d = x[i] - y[i];
    data += w[i] * d * d;
  }
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t c = 0; c < cols; ++c) {
      const std::size_t i = r * cols + c;
      const double gx = c + 1 < cols ? x[i + 1] - x[i] : 0.0;
      const double gy = r + 1 < rows ? x[i + cols] - x[i] : 0.0;
      tv += std::sqrt(gx * gx + gy * gy);
    }
  return 0.5 * data + mu * tv;
}

}  // namespace

ImageArray reconstruct_tv(const PixelSamples& s, const ReconstructionOptions& o,
                          ReconstructionReport* report) {
  const std::size_t rows = s.rows, cols = s.cols, N = rows * cols;
  const auto [lo_it, hi_it] = std::minmax_element(s.value.begin(), s.value.end());
  const double lo = *lo_it, range = *hi_it - *lo_it;
  if (report) {
    *report = ReconstructionReport{};
    report->method = "tv";
  }
  if (!(range > 0.0)) {  // constant samples: the constant map is the exact minimiser
    if (report) report->converged = true;
    return ImageArray::Constant(static_cast<Eigen::Index>(rows), static_cast<Eigen::Index>(cols), lo);
  }
  const std::vector<double> ws = data_weights(s, o.noise);
  std::vector<double> w(N, 0.0), y(N, 0.0);
  for (std::size_t i = 0; i < s.size(); ++i) {
    w[s.index[i]] = ws[i];
    y[s.index[i]] = (s.value[i] - lo) / range;
  }
  // Start from the piecewise-linear interpolant: closer to the minimiser than the nearest fill,
  // so fewer of CP's slow diffusion-like iterations are needed in the unsampled areas.
  const ImageArray init = reconstruct_linear(s);
  std::vector<double> x(N), xbar(N), xold(N), px(N, 0.0), py(N, 0.0);
  for (std::size_t i = 0; i < N; ++i) x[i] = (init.data()[i] - lo) / range;
  xbar = x;
  // Data term summed over n samples, TV over N pixels: scale μ by n/N so that tv_weight means
  // the same at every sampling fraction.
  const double mu = o.tv_weight * static_cast<double>(s.size()) / static_cast<double>(N);
  const double tau = 1.0 / std::sqrt(8.0), sigma = 1.0 / std::sqrt(8.0);
  const double range2 = range * range;
  // Per-pixel primal prox denominators.
  std::vector<double> inv(N), tw_y(N);
  for (std::size_t i = 0; i < N; ++i) {
    inv[i] = 1.0 / (1.0 + tau * w[i]);
    tw_y[i] = tau * w[i] * y[i];
  }
  if (report) report->objective_start = range2 * tv_objective(x, w, y, mu, rows, cols);

  std::size_t it = 0;
  bool converged = false;
  while (it < o.max_iterations) {
    ++it;
    // Dual ascent and projection onto {|p| ≤ μ}.
    for (std::size_t r = 0; r < rows; ++r) {
      const double* xr = xbar.data() + r * cols;
      double* pxr = px.data() + r * cols;
      double* pyr = py.data() + r * cols;
      const bool last_row = r + 1 == rows;
      for (std::size_t c = 0; c < cols; ++c) {
        const double gx = c + 1 < cols ? xr[c + 1] - xr[c] : 0.0;
        const double gy = last_row ? 0.0 : xr[c + cols] - xr[c];
        const double qx = pxr[c] + sigma * gx, qy = pyr[c] + sigma * gy;
        const double norm = std::sqrt(qx * qx + qy * qy);
        const double scale = norm > mu ? mu / norm : 1.0;
        pxr[c] = qx * scale;
        pyr[c] = qy * scale;
      }
    }
    // Primal descent along div p and the data prox; over-relaxation.
    xold.swap(x);
    double change2 = 0.0;
    for (std::size_t r = 0; r < rows; ++r) {
      const std::size_t b = r * cols;
      for (std::size_t c = 0; c < cols; ++c) {
        const std::size_t i = b + c;
        const double dx = px[i] - (c > 0 ? px[i - 1] : 0.0);
        const double dy = py[i] - (r > 0 ? py[i - cols] : 0.0);
        const double v = (xold[i] + tau * (dx + dy) + tw_y[i]) * inv[i];
        x[i] = v;
        const double d = v - xold[i];
        xbar[i] = v + d;
        change2 += d * d;
      }
    }
    if (report && o.record_objective)
      report->objective.push_back(range2 * tv_objective(x, w, y, mu, rows, cols));
    if (std::sqrt(change2 / static_cast<double>(N)) < o.tolerance) {
      converged = true;
      break;
    }
  }
  if (report) {
    report->iterations = it;
    report->converged = converged;
    report->objective_end = range2 * tv_objective(x, w, y, mu, rows, cols);
  }
  ImageArray out(static_cast<Eigen::Index>(rows), static_cast<Eigen::Index>(cols));
  for (std::size_t i = 0; i < N; ++i) out.data()[i] = lo + range * x[i];
  return out;
}

}  // namespace autostem
