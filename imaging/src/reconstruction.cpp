// Dispatch, sample binning, data weights and the low-rank spectrum-image path of
// reconstruction.hpp. The individual solvers are in reconstruction_{linear,biharmonic,tv}.cpp.

#include <autostem/imaging/metrics.hpp>
#include <autostem/imaging/fista.hpp>
#include <autostem/imaging/reconstruction.hpp>
#include <autostem/core/registry.hpp>
#include <autostem/core/random.hpp>

#include <Eigen/Dense>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <stdexcept>

namespace autostem {

namespace {

// Every method reconstruct() knows: the built-in ones, then any registered from outside.
Registry<ReconstructionMethod>& methods() {
  static Registry<ReconstructionMethod> r("method");
  static const bool builtins = [] {
    r.add("nearest", "", [](const PixelSamples& s, const ReconstructionOptions&, ReconstructionReport*) {
      std::vector<Position> pos(s.size());
      for (std::size_t i = 0; i < s.size(); ++i)
        pos[i] = {static_cast<double>(s.index[i] / s.cols), static_cast<double>(s.index[i] % s.cols)};
      return inpaint_nearest(pos, s.value, s.rows, s.cols);
    });
    r.add("linear", "", [](const PixelSamples& s, const ReconstructionOptions&, ReconstructionReport*) {
      return reconstruct_linear(s);
    });
    r.add("biharmonic", "", [](const PixelSamples& s, const ReconstructionOptions&, ReconstructionReport*) {
      return reconstruct_biharmonic(s);
    });
    r.add("tv", "", reconstruct_tv);
    r.add("particles", "", reconstruct_particles);
    r.add("fista", "", reconstruction::reconstruct_fista);
    return true;
  }();
  (void)builtins;
  return r;
}

void check_options(const ReconstructionOptions& o) {
  auto positive = [](double v) { return std::isfinite(v) && v > 0.0; };
  if (o.method == "tv" && !positive(o.tv_weight))
    throw std::invalid_argument("reconstruct: tv_weight must be a positive finite number, got " +
                                std::to_string(o.tv_weight));
  if (o.method == "fista" && !positive(o.fista_lambda))
    throw std::invalid_argument(
        "reconstruct: fista_lambda must be a positive finite number, got " +
        std::to_string(o.fista_lambda));
  if (!positive(o.tolerance))
    throw std::invalid_argument("reconstruct: tolerance must be a positive finite number, got " +
                                std::to_string(o.tolerance));
  if (o.max_iterations == 0)
    throw std::invalid_argument("reconstruct: max_iterations must be at least 1");
}

}  // namespace

PixelSamples bin_samples(std::span<const Position> positions, std::span<const double> values,
                         std::size_t rows, std::size_t cols) {
  if (positions.size() != values.size())
    throw std::invalid_argument("reconstruct: " + std::to_string(positions.size()) +
                                " positions but " + std::to_string(values.size()) + " values");
  if (rows == 0 || cols == 0)
    throw std::invalid_argument("reconstruct: map shape " + std::to_string(rows) + "×" +
                                std::to_string(cols) + " has a zero extent");
  std::map<std::size_t, std::pair<double, double>> acc;  // flat index → (sum, count)
  for (std::size_t i = 0; i < positions.size(); ++i) {
    if (!std::isfinite(values[i]))
      throw std::invalid_argument("reconstruct: value " + std::to_string(i) + " is not finite");
    const Position& p = positions[i];
    if (!is_finite(p)) continue;
    const double r = std::round(p.row), c = std::round(p.col);
    if (r < 0 || c < 0 || r >= static_cast<double>(rows) || c >= static_cast<double>(cols))
      continue;
    auto& a = acc[static_cast<std::size_t>(r) * cols + static_cast<std::size_t>(c)];
    a.first += values[i];
    a.second += 1.0;
  }
  if (acc.empty())
    throw std::invalid_argument("reconstruct: no samples — none of the " +
                                std::to_string(positions.size()) + " positions lands inside the " +
                                std::to_string(rows) + "×" + std::to_string(cols) + " map");
  PixelSamples s;
  s.rows = rows;
  s.cols = cols;
  s.index.reserve(acc.size());
  s.value.reserve(acc.size());
  s.count.reserve(acc.size());
  for (const auto& [idx, a] : acc) {
    s.index.push_back(idx);
    s.value.push_back(a.first / a.second);
    s.count.push_back(a.second);
  }
  return s;
}

std::vector<double> data_weights(const PixelSamples& samples, const std::string& noise) {
  std::vector<double> w(samples.size());
  if (noise == "poisson") {
    for (std::size_t i = 0; i < w.size(); ++i)
      w[i] = samples.count[i] / std::max(samples.value[i], 1.0);
  } else if (noise == "uniform") {
    w = samples.count;
  } else {
    throw std::invalid_argument("reconstruct: noise='" + noise +
                                "' is not one of poisson, uniform");
  }
  const double wmax = *std::max_element(w.begin(), w.end());
  for (double& x : w) x /= wmax;
  return w;
}

std::vector<std::string> reconstruction_methods() { return methods().names(); }

void register_reconstruction_method(const std::string& name, ReconstructionMethod method) {
  if (name.empty() || !method)
    throw std::invalid_argument("register_reconstruction_method: empty name or function");
  methods().add(name, "", std::move(method));
}

ImageArray reconstruct(const PixelSamples& samples, const ReconstructionOptions& options,
                       ReconstructionReport* report) {
  if (samples.size() == 0)
    throw std::invalid_argument("reconstruct: no samples (at least one is needed)");
  check_options(options);
  const std::string& m = options.method;
  if (report) {
    *report = ReconstructionReport{};
    report->method = m;
    report->converged = true;
  }
  const auto method = methods().find(m);
  if (!method) throw std::invalid_argument("reconstruct: " + methods().unknown_message(m));
  return method->make(samples, options, report);
}

ImageArray reconstruct(std::span<const Position> positions, std::span<const double> values,
                       std::size_t rows, std::size_t cols, const ReconstructionOptions& options,
                       ReconstructionReport* report) {
  // Check the method before the samples so that a bad method is reported even with no samples.
  if (!methods().contains(options.method))
    throw std::invalid_argument("reconstruct: " + methods().unknown_message(options.method));
  return reconstruct(bin_samples(positions, values, rows, cols), options, report);
}

SpectrumImage reconstruct_spectrum_image(std::span<const Position> positions,
                                         std::span<const std::vector<float>> spectra,
                                         std::size_t rows, std::size_t cols,
                                         const EnergyAxis& axis, const LowRankOptions& options,
                                         LowRankReport* report) {
  if (positions.size() != spectra.size())
    throw std::invalid_argument("reconstruct_spectrum_image: " + std::to_string(positions.size()) +
                                " positions but " + std::to_string(spectra.size()) + " spectra");
  if (options.components == 0)
    throw std::invalid_argument("reconstruct_spectrum_image: components must be at least 1");
  const std::size_t C = axis.channels;
  if (C == 0) throw std::invalid_argument("reconstruct_spectrum_image: energy axis has 0 channels");
  for (std::size_t i = 0; i < spectra.size(); ++i)
    if (spectra[i].size() != C)
      throw std::invalid_argument("reconstruct_spectrum_image: spectrum " + std::to_string(i) +
                                  " has " + std::to_string(spectra[i].size()) +
                                  " channels; the energy axis has " + std::to_string(C));
  // Bin spectra onto pixels (the same rule as bin_samples; its index order is ascending).
  std::vector<double> ordinal(positions.size());
  for (std::size_t i = 0; i < ordinal.size(); ++i) ordinal[i] = static_cast<double>(i);
  const PixelSamples where = bin_samples(positions, ordinal, rows, cols);
  const std::size_t n = where.size();
  std::map<std::size_t, std::size_t> row_of;
  for (std::size_t j = 0; j < n; ++j) row_of[where.index[j]] = j;
  Eigen::MatrixXd X = Eigen::MatrixXd::Zero(static_cast<Eigen::Index>(n), static_cast<Eigen::Index>(C));
  Eigen::VectorXd cnt = Eigen::VectorXd::Zero(static_cast<Eigen::Index>(n));
  for (std::size_t i = 0; i < positions.size(); ++i) {
    const Position& p = positions[i];
    if (!is_finite(p)) continue;
    const double r = std::round(p.row), c = std::round(p.col);
    if (r < 0 || c < 0 || r >= static_cast<double>(rows) || c >= static_cast<double>(cols)) continue;
    const auto j = static_cast<Eigen::Index>(
        row_of.at(static_cast<std::size_t>(r) * cols + static_cast<std::size_t>(c)));
    X.row(j) += Eigen::Map<const Eigen::VectorXf>(spectra[i].data(), static_cast<Eigen::Index>(C))
                    .cast<double>()
                    .transpose();
    cnt(j) += 1.0;
  }
  X.array().colwise() /= cnt.array();
  const Eigen::RowVectorXd mean = X.colwise().mean();
  X.rowwise() -= mean;

  // Randomised SVD (Halko et al. 2011): range of X from X·Ω, two power iterations with
  // re-orthonormalisation (Alg. 4.4), then the SVD of the small QᵀX (Alg. 5.1).
  const auto k_max = static_cast<Eigen::Index>(std::min(n, C));
  const Eigen::Index k = std::min<Eigen::Index>(static_cast<Eigen::Index>(options.components), k_max);
  const Eigen::Index l = std::min<Eigen::Index>(k + 10, k_max);
  std::mt19937_64 rng(options.seed);
  random::Normal gauss(0.0, 1.0);
  Eigen::MatrixXd omega(static_cast<Eigen::Index>(C), l);
  for (Eigen::Index j = 0; j < l; ++j)
    for (Eigen::Index i = 0; i < omega.rows(); ++i) omega(i, j) = gauss(rng);
  auto orthonormal = [](const Eigen::MatrixXd& A) {
    Eigen::HouseholderQR<Eigen::MatrixXd> qr(A);
    return Eigen::MatrixXd(qr.householderQ() * Eigen::MatrixXd::Identity(A.rows(), A.cols()));
  };
  Eigen::MatrixXd Q = orthonormal(X * omega);
  for (int it = 0; it < 2; ++it) {
    const Eigen::MatrixXd Z = orthonormal(X.transpose() * Q);
    Q = orthonormal(X * Z);
  }
  const Eigen::MatrixXd B = Q.transpose() * X;  // (l, C)
  Eigen::JacobiSVD<Eigen::MatrixXd> svd(B, Eigen::ComputeThinV);
  const Eigen::MatrixXd V = svd.matrixV().leftCols(k);  // (C, k)
  const Eigen::MatrixXd scores = X * V;                  // (n, k)

  if (report) {
    report->components = static_cast<std::size_t>(k);
    report->singular_values.assign(svd.singularValues().data(), svd.singularValues().data() + k);
    const double total = X.squaredNorm();
    report->explained_variance_fraction =
        total > 0 ? svd.singularValues().head(k).squaredNorm() / total : 1.0;
  }

  // Each score map on the grid; the map shares the binned samples' pixels.
  ReconstructionOptions spatial = options.spatial;
  spatial.noise = "uniform";
  PixelSamples s = where;
  const std::size_t npx = rows * cols;
  Eigen::MatrixXd maps(static_cast<Eigen::Index>(npx), k);
  for (Eigen::Index j = 0; j < k; ++j) {
    for (std::size_t i = 0; i < n; ++i) s.value[i] = scores(static_cast<Eigen::Index>(i), j);
    const ImageArray m = reconstruct(s, spatial);
    maps.col(j) = Eigen::Map<const Eigen::VectorXd>(m.data(), static_cast<Eigen::Index>(npx));
  }
  SpectrumImage si(rows, cols, axis);
  Eigen::Map<Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> out(
      si.data().data(), static_cast<Eigen::Index>(npx), static_cast<Eigen::Index>(C));
  out = ((maps * V.transpose()).rowwise() + mean).cast<float>();
  return si;
}

std::vector<double> per_channel_nrmse(const SpectrumImage& truth, const SpectrumImage& estimate) {
  if (truth.rows() != estimate.rows() || truth.cols() != estimate.cols() ||
      truth.channels() != estimate.channels())
    throw std::invalid_argument(
        "per_channel_nrmse: shapes differ: truth " + std::to_string(truth.rows()) + "×" +
        std::to_string(truth.cols()) + "×" + std::to_string(truth.channels()) + ", estimate " +
        std::to_string(estimate.rows()) + "×" + std::to_string(estimate.cols()) + "×" +
        std::to_string(estimate.channels()));
  const auto npx = static_cast<Eigen::Index>(truth.rows() * truth.cols());
  const auto C = static_cast<Eigen::Index>(truth.channels());
  using M = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  Eigen::Map<const M> a(truth.data().data(), npx, C), b(estimate.data().data(), npx, C);
  std::vector<double> out(static_cast<std::size_t>(C));
  for (Eigen::Index e = 0; e < C; ++e) {
    const Eigen::VectorXd ta = a.col(e).cast<double>(), tb = b.col(e).cast<double>();
    const double range = ta.maxCoeff() - ta.minCoeff();
    const double rmse = std::sqrt((ta - tb).squaredNorm() / static_cast<double>(npx));
    out[static_cast<std::size_t>(e)] =
        range > 0 ? rmse / range : std::numeric_limits<double>::quiet_NaN();
  }
  return out;
}

}  // namespace autostem
