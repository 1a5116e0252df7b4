// Monotone FISTA in the orthonormal DCT basis; see fista.hpp for the problem, the source and the
// stopping rule. Coefficient-domain iterates (α) and their images (Ψᵀα) are both kept: y_{k+1}
// is a linear combination of z_k, x_k, x_{k−1}, so its image is the same combination of theirs
// and each iteration needs only two transforms (∇f at y, and the image of z).

#include "dct.hpp"

#include <autostem/imaging/fista.hpp>

#include <algorithm>
#include <cmath>
#include <mutex>
#include <vector>

namespace autostem::reconstruction {

namespace {

struct Problem {
  std::size_t N = 0;
  std::vector<double> w, y;  // full-grid weights (0 off the samples) and normalised data
  double lambda = 0.0;
};

double data_term(const Problem& p, const std::vector<double>& img) {
  double s = 0.0;
  for (std::size_t i = 0; i < p.N; ++i) {
    const double d = img[i] - p.y[i];
    s += p.w[i] * d * d;
  }
  return 0.5 * s;
}

double l1_no_dc(const std::vector<double>& a) {
  double s = 0.0;
  for (std::size_t i = 1; i < a.size(); ++i) s += std::abs(a[i]);
  return s;
}

}  // namespace

ImageArray reconstruct_fista(const PixelSamples& s, const ReconstructionOptions& o,
                             ReconstructionReport* report) {
  const std::size_t rows = s.rows, cols = s.cols, N = rows * cols;
  if (s.size() == 0) throw std::invalid_argument("reconstruct: no samples (at least one is needed)");
  if (!(std::isfinite(o.fista_lambda) && o.fista_lambda > 0))
    throw std::invalid_argument("reconstruct: fista_lambda must be a positive finite number, got " +
                                std::to_string(o.fista_lambda));
  if (report) {
    *report = ReconstructionReport{};
    report->method = "fista";
  }
  const auto [lo_it, hi_it] = std::minmax_element(s.value.begin(), s.value.end());
  const double lo = *lo_it, range = *hi_it - *lo_it;
  const auto R = static_cast<Eigen::Index>(rows), Cc = static_cast<Eigen::Index>(cols);
  if (!(range > 0.0)) {
    if (report) report->converged = true;
    return ImageArray::Constant(R, Cc, lo);
  }
  Problem p;
  p.N = N;
  p.w.assign(N, 0.0);
  p.y.assign(N, 0.0);
  const std::vector<double> ws = data_weights(s, o.noise);
  double sw = 0.0, swy = 0.0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    p.w[s.index[i]] = ws[i];
    p.y[s.index[i]] = (s.value[i] - lo) / range;
    sw += ws[i];
    swy += ws[i] * p.y[s.index[i]];
  }
  detail::Dct2Plan dct(rows, cols);

  // Start: the best constant image (the solution for λ ≥ λ_max).
  const double c0 = swy / sw;
  std::vector<double> img_x(N, c0), a_x(N, 0.0);
  a_x[0] = c0 * std::sqrt(static_cast<double>(N));  // DC of a constant image, orthonormal
  std::vector<double> resid(N), grad(N);
  auto gradient = [&](const std::vector<double>& img) {
    for (std::size_t i = 0; i < N; ++i) resid[i] = p.w[i] * (img[i] - p.y[i]);
    dct.forward(resid.data(), grad.data());
  };
  gradient(img_x);
  double gmax = 0.0;
  for (std::size_t i = 1; i < N; ++i) gmax = std::max(gmax, std::abs(grad[i]));
  p.lambda = o.fista_lambda * gmax;
  const double lambda = p.lambda;
  constexpr double L = 1.0;  // max w = 1 and Ψ orthonormal: ‖∇²f‖ ≤ 1

  auto objective = [&](const std::vector<double>& a, const std::vector<double>& img) {
    return data_term(p, img) + lambda * l1_no_dc(a);
  };
  double F_x = objective(a_x, img_x);
  const double range2 = range * range;
  if (report) report->objective_start = range2 * F_x;

  std::vector<double> a_y = a_x, img_y = img_x;
  std::vector<double> a_z(N), img_z(N);
  double t = 1.0;
  std::size_t it = 0;
  bool converged = false;
  const double thr = lambda / L;
  while (it < o.max_iterations) {
    ++it;
    gradient(img_y);
    // z = soft-threshold(y − ∇f(y)/L, λ/L); DC not penalised.
    a_z[0] = a_y[0] - grad[0] / L;
    for (std::size_t i = 1; i < N; ++i) {
      const double v = a_y[i] - grad[i] / L;
      a_z[i] = v > thr ? v - thr : (v < -thr ? v + thr : 0.0);
    }
    dct.inverse(a_z.data(), img_z.data());
    const double F_z = objective(a_z, img_z);
    // Here a_x = x_{k−1}. x_k = argmin{F(z_k), F(x_{k−1})};
    // y_{k+1} = x_k + (t_k/t_{k+1})(z_k − x_k) + ((t_k − 1)/t_{k+1})(x_k − x_{k−1}).
    double change2 = 0.0;
    for (std::size_t i = 0; i < N; ++i) {
      const double d = img_z[i] - img_x[i];
      change2 += d * d;
    }
    const bool take_z = F_z <= F_x;
    const double tn = 0.5 * (1.0 + std::sqrt(1.0 + 4.0 * t * t));
    const double c1 = t / tn, c2 = (t - 1.0) / tn;
    if (take_z) {  // x_k = z_k: y = z + c2 (z − x_{k−1})
      for (std::size_t i = 0; i < N; ++i) {
        a_y[i] = a_z[i] + c2 * (a_z[i] - a_x[i]);
        img_y[i] = img_z[i] + c2 * (img_z[i] - img_x[i]);
      }
      a_x.swap(a_z);
      img_x.swap(img_z);
      F_x = F_z;
    } else {  // x_k = x_{k−1}: y = x_{k−1} + c1 (z − x_{k−1})
      for (std::size_t i = 0; i < N; ++i) {
        a_y[i] = a_x[i] + c1 * (a_z[i] - a_x[i]);
        img_y[i] = img_x[i] + c1 * (img_z[i] - img_x[i]);
      }
    }
    t = tn;
    if (report && o.record_objective) report->objective.push_back(range2 * F_x);
    if (std::sqrt(change2 / static_cast<double>(N)) < o.tolerance) {
      converged = true;
      break;
    }
  }
  if (report) {
    report->iterations = it;
    report->converged = converged;
    report->objective_end = range2 * F_x;
  }
  ImageArray out(R, Cc);
  for (std::size_t i = 0; i < N; ++i) out.data()[i] = lo + range * img_x[i];
  return out;
}

}  // namespace autostem::reconstruction
