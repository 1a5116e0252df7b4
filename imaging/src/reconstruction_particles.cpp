// The "particles" reconstruction: spherical particles as a parametric model plus the biharmonic
// fill of what the model leaves (reconstruction.hpp, docs/compressed-sensing.md).
#include <autostem/imaging/image_ops.hpp>
#include <autostem/imaging/reconstruction.hpp>

#include <unsupported/Eigen/NonLinearOptimization>
#include <unsupported/Eigen/NumericalDiff>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

namespace autostem {

namespace {

// Projected thickness of a sphere (incoherent HAADF ∝ thickness): p = (A, row0, col0, ρ, offset),
// value A·√(1 − d²/ρ²) inside the disc of radius ρ, offset everywhere.
double chord(const Eigen::VectorXd& p, double r, double c) {
  const double d2 = (r - p[1]) * (r - p[1]) + (c - p[2]) * (c - p[2]);
  return p[0] * std::sqrt(std::max(0.0, 1.0 - d2 / (p[3] * p[3]))) + p[4];
}

// Residuals of the chord model on the samples of one window, for Eigen's Levenberg–Marquardt.
struct ChordFunctor {
  using Scalar = double;
  using InputType = Eigen::VectorXd;
  using ValueType = Eigen::VectorXd;
  using JacobianType = Eigen::MatrixXd;
  enum { InputsAtCompileTime = Eigen::Dynamic, ValuesAtCompileTime = Eigen::Dynamic };
  const std::vector<double>* r;
  const std::vector<double>* c;
  const std::vector<double>* y;
  int inputs() const { return 5; }
  int values() const { return static_cast<int>(y->size()); }
  int operator()(const Eigen::VectorXd& p, Eigen::VectorXd& f) const {
    // Outside the physical range the residual is made large (Eigen's LM has no bounds).
    const double penalty = (p[0] < 0 || p[3] < 0.5) ? 1e3 : 0.0;
    for (std::size_t i = 0; i < y->size(); ++i)
      f[static_cast<Eigen::Index>(i)] = chord(p, (*r)[i], (*c)[i]) - (*y)[i] + penalty;
    return 0;
  }
};

}  // namespace

ImageArray reconstruct_particles(const PixelSamples& samples, const ReconstructionOptions& o,
                                 ReconstructionReport* report) {
  if (!(o.particle_threshold > 0 && o.particle_threshold < 1))
    throw std::invalid_argument("reconstruct: particle_threshold must be in (0, 1)");
  if (!(o.particle_max_radius_px >= 1) || !std::isfinite(o.particle_max_radius_px))
    throw std::invalid_argument("reconstruct: particle_max_radius_px must be ≥ 1");
  const auto R = static_cast<Eigen::Index>(samples.rows), C = static_cast<Eigen::Index>(samples.cols);
  const ImageArray fill = reconstruct_biharmonic(samples);

  // Candidate particles: local maxima of the lightly smoothed fill (window 9 × 9) above
  // median + threshold·(max − median).
  const ImageArray smooth = gaussian_blur(fill, 1.0);
  std::vector<double> sorted(smooth.data(), smooth.data() + smooth.size());
  std::nth_element(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(sorted.size() / 2), sorted.end());
  const double median = sorted[sorted.size() / 2];
  const double cut = median + o.particle_threshold * (smooth.maxCoeff() - median);
  const Eigen::Index md = 4;  // minimum distance between particle centres (px)
  struct Peak {
    Eigen::Index r, c;
  };
  std::vector<Peak> peaks;
  for (Eigen::Index r = 0; r < R; ++r)
    for (Eigen::Index c = 0; c < C; ++c) {
      const double v = smooth(r, c);
      if (v < cut) continue;
      bool is_max = true;
      for (Eigen::Index dr = -md; dr <= md && is_max; ++dr)
        for (Eigen::Index dc = -md; dc <= md; ++dc) {
          const Eigen::Index rr = r + dr, cc = c + dc;
          if (rr < 0 || cc < 0 || rr >= R || cc >= C || (dr == 0 && dc == 0)) continue;
          if (smooth(rr, cc) > v || (smooth(rr, cc) == v && (dr < 0 || (dr == 0 && dc < 0)))) {
            is_max = false;
            break;
          }
        }
      if (is_max) peaks.push_back({r, c});
    }

  // Sample coordinates (px), once.
  std::vector<double> srow(samples.size()), scol(samples.size());
  for (std::size_t i = 0; i < samples.size(); ++i) {
    srow[i] = static_cast<double>(samples.index[i] / samples.cols);
    scol[i] = static_cast<double>(samples.index[i] % samples.cols);
  }

  // Fit each particle to the samples in a window around it; keep physical fits only.
  const double W = std::ceil(o.particle_max_radius_px * 2.0 / 3.0 + 1.0);  // 10 px for 15
  ImageArray model = ImageArray::Zero(R, C);
  std::vector<double> at_samples(samples.size(), 0.0);
  std::size_t kept = 0;
  for (const Peak& pk : peaks) {
    std::vector<double> rs, cs, ys;
    for (std::size_t i = 0; i < samples.size(); ++i)
      if (std::abs(srow[i] - static_cast<double>(pk.r)) <= W && std::abs(scol[i] - static_cast<double>(pk.c)) <= W) {
        rs.push_back(srow[i]);
        cs.push_back(scol[i]);
        ys.push_back(samples.value[i]);
      }
    if (ys.size() < 8) continue;
    std::vector<double> tmp = ys;
    std::nth_element(tmp.begin(), tmp.begin() + static_cast<std::ptrdiff_t>(tmp.size() / 2), tmp.end());
    const double base = tmp[tmp.size() / 2];
    Eigen::VectorXd p(5);
    p << std::max(fill(pk.r, pk.c) - base, 1e-9), static_cast<double>(pk.r), static_cast<double>(pk.c),
        std::min(5.0, o.particle_max_radius_px), base;
    ChordFunctor f{&rs, &cs, &ys};
    Eigen::NumericalDiff<ChordFunctor> nd(f);
    Eigen::LevenbergMarquardt<Eigen::NumericalDiff<ChordFunctor>> lm(nd);
    lm.parameters.maxfev = 400;
    lm.minimize(p);
    const auto [lo, hi] = std::minmax_element(ys.begin(), ys.end());
    if (!p.allFinite() || p[0] <= 0 || p[0] > 1.5 * (*hi - *lo) || p[3] < 0.5 || p[3] > o.particle_max_radius_px ||
        std::abs(p[1] - static_cast<double>(pk.r)) > 3 || std::abs(p[2] - static_cast<double>(pk.c)) > 3)
      continue;
    p[4] = 0.0;  // the offset belongs to the background, which the residual fill carries
    ++kept;
    const auto r0 = std::max<Eigen::Index>(0, static_cast<Eigen::Index>(std::floor(p[1] - p[3]))),
               r1 = std::min<Eigen::Index>(R - 1, static_cast<Eigen::Index>(std::ceil(p[1] + p[3])));
    const auto c0 = std::max<Eigen::Index>(0, static_cast<Eigen::Index>(std::floor(p[2] - p[3]))),
               c1 = std::min<Eigen::Index>(C - 1, static_cast<Eigen::Index>(std::ceil(p[2] + p[3])));
    for (Eigen::Index r = r0; r <= r1; ++r)
      for (Eigen::Index c = c0; c <= c1; ++c) model(r, c) += chord(p, static_cast<double>(r), static_cast<double>(c));
    for (std::size_t i = 0; i < samples.size(); ++i) at_samples[i] += chord(p, srow[i], scol[i]);
  }
  if (report) report->iterations = kept;  // particles in the model
  if (kept == 0) return fill;
  PixelSamples residual = samples;
  for (std::size_t i = 0; i < samples.size(); ++i) residual.value[i] -= at_samples[i];
  return model + reconstruct_biharmonic(residual);
}

}  // namespace autostem
