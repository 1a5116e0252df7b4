// DKL model (LibTorch MLP + Eigen exact GP) and the "dkl" / "gp" strategies.
#include <autostem/strategies/dkl.hpp>
#include <autostem/strategies/incremental_gp.hpp>

#include <autostem/core/random.hpp>
#include <autostem/imaging/acquisition.hpp>
#include <autostem/imaging/scalarizer.hpp>
#include <autostem/strategies/registry.hpp>

#include "../../src/params.hpp"


#include <torch/torch.h>

#include <Eigen/Eigenvalues>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <future>
#include <limits>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>

namespace autostem::strategies {

namespace {

double softplus(double r) { return r > 30.0 ? r : std::log1p(std::exp(r)); }
double softplus_inv(double v) { return v > 30.0 ? v : std::log(std::expm1(v)); }
double sigmoid(double r) { return 1.0 / (1.0 + std::exp(-r)); }

/// Sets LibTorch's intra-op threads for a scope and restores them after.
class TorchThreads {
 public:
  explicit TorchThreads(int n) : saved_(at::get_num_threads()) {
    if (saved_ != n) at::set_num_threads(n);
  }
  ~TorchThreads() {
    if (at::get_num_threads() != saved_) at::set_num_threads(saved_);
  }
  TorchThreads(const TorchThreads&) = delete;
  TorchThreads& operator=(const TorchThreads&) = delete;

 private:
  int saved_;
};

// Layer widths "64-64"; throws std::invalid_argument saying what is wrong (the schema adds the
// strategy, key and value).
std::vector<int> parse_layers(const std::string& text) {
  std::vector<int> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, '-')) {
    int v = 0;
    try {
      std::size_t used = 0;
      v = std::stoi(item, &used);
      if (used != item.size()) throw std::invalid_argument("trailing");
    } catch (const std::exception&) {
      v = 0;
    }
    if (v <= 0) throw std::invalid_argument("must be layer widths > 0 joined by '-', e.g. 64-64");
    out.push_back(v);
  }
  if (out.empty()) throw std::invalid_argument("is empty");
  return out;
}

/// Standard normal quantile Φ⁻¹(p) for 0 < p < 1 by bisection on Φ(x) = erfc(−x/√2)/2 (|x| ≤ 12;
/// to 1e-12, enough for normal scores of n ≤ 10⁶ values).
double normal_quantile(double p) {
  double lo = -12.0, hi = 12.0;
  for (int i = 0; i < 80; ++i) {
    const double mid = 0.5 * (lo + hi);
    (0.5 * std::erfc(-mid / std::sqrt(2.0)) < p ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

/// Monotone output warping by normal scores ("Gaussian copula" transform, Salinas et al. 2020,
/// ICML, "A quantile-based approach for hyperparameter transfer learning", §3): value y_i of n →
/// Φ⁻¹((r_i + ½)/n), r_i its 0-based rank (ties share their mean rank). A heavy tail (a few
/// plasmon hot spots among many near-zero values) becomes Gaussian-shaped, so a stationary GP
/// need not explain it with short lengthscales. The maximum stays the maximum, so EI/UCB still
/// look for the largest value. back() maps a warped value to the original units by piecewise-
/// linear interpolation of the sorted pairs (linear extrapolation with the end slopes).
struct NormalScores {
  std::vector<double> z_sorted, y_sorted;

  Eigen::VectorXd fit(const Eigen::VectorXd& y) {
    const auto n = y.size();
    std::vector<Eigen::Index> order(static_cast<std::size_t>(n));
    for (Eigen::Index i = 0; i < n; ++i) order[static_cast<std::size_t>(i)] = i;
    std::stable_sort(order.begin(), order.end(), [&](Eigen::Index a, Eigen::Index b) { return y[a] < y[b]; });
    Eigen::VectorXd z(n);
    z_sorted.clear();
    y_sorted.clear();
    for (Eigen::Index i = 0; i < n;) {
      Eigen::Index j = i;
      while (j + 1 < n && y[order[static_cast<std::size_t>(j + 1)]] == y[order[static_cast<std::size_t>(i)]]) ++j;
      const double rank = 0.5 * double(i + j);  // ties: mean rank
      const double v = normal_quantile((rank + 0.5) / double(n));
      for (Eigen::Index k = i; k <= j; ++k) z[order[static_cast<std::size_t>(k)]] = v;
      z_sorted.push_back(v);
      y_sorted.push_back(y[order[static_cast<std::size_t>(i)]]);
      i = j + 1;
    }
    return z;
  }
  /// Original-units value at warped value z and the local slope dy/dz there.
  double back(double z, double* slope = nullptr) const {
    const std::size_t m = z_sorted.size();
    if (m < 2) {
      if (slope) *slope = 0.0;
      return m ? y_sorted[0] : 0.0;
    }
    std::size_t k = static_cast<std::size_t>(
        std::upper_bound(z_sorted.begin(), z_sorted.end(), z) - z_sorted.begin());
    k = std::clamp<std::size_t>(k, 1, m - 1);
    const double s = (y_sorted[k] - y_sorted[k - 1]) / (z_sorted[k] - z_sorted[k - 1]);
    if (slope) *slope = s;
    return y_sorted[k - 1] + s * (z - z_sorted[k - 1]);
  }
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// DklModel

struct DklModel::Impl {
  std::size_t input_dim;
  DklOptions options;
  torch::nn::Sequential net{nullptr};
  torch::Tensor raw_ls, raw_os, raw_noise;  ///< softplus-parametrised GP hyperparameters (f64)
  std::unique_ptr<torch::optim::Adam> adam;
  gp::ExactGP gp;

  gp::Hyper hyper() const {
    gp::Hyper h;
    const auto e = options.embedding;
    h.lengthscale.resize(e);
    auto ls = raw_ls.accessor<double, 1>();
    for (int k = 0; k < e; ++k) h.lengthscale[k] = softplus(ls[k]);
    h.outputscale = softplus(raw_os.item<double>());
    h.noise = softplus(raw_noise.item<double>()) + options.min_noise;
    return h;
  }

  torch::Tensor as_tensor(const PatchMatrix& X) const {
    return torch::from_blob(const_cast<float*>(X.data()),
                            {static_cast<long>(X.rows()), static_cast<long>(X.cols())},
                            torch::kFloat32);
  }

  static Eigen::MatrixXd to_eigen(const torch::Tensor& z) {
    const torch::Tensor c = z.contiguous();
    const auto n = c.size(0), e = c.size(1);
    Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> m(
        c.data_ptr<float>(), n, e);
    return m.cast<double>();
  }

  void check(const PatchMatrix& X, const Eigen::VectorXd& y) const {
    if (static_cast<std::size_t>(X.cols()) != input_dim)
      throw std::invalid_argument("DklModel: patches have " + std::to_string(X.cols()) +
                                  " values, the network takes " + std::to_string(input_dim));
    if (X.rows() != y.size())
      throw std::invalid_argument("DklModel: " + std::to_string(X.rows()) + " patches but " +
                                  std::to_string(y.size()) + " targets");
  }
};

DklModel::DklModel(std::size_t input_dim, DklOptions options) : impl_(std::make_unique<Impl>()) {
  if (input_dim == 0) throw std::invalid_argument("DklModel: input dimension is 0");
  if (options.embedding <= 0) throw std::invalid_argument("DklModel: embedding must be ≥ 1");
  if (options.hidden.empty()) throw std::invalid_argument("DklModel: no hidden layer");
  for (int h : options.hidden)
    if (h <= 0) throw std::invalid_argument("DklModel: hidden layer widths must be ≥ 1");
  if (!(options.learning_rate > 0.0))
    throw std::invalid_argument("DklModel: learning rate must be > 0");
  if (!(options.weight_decay >= 0.0) || !std::isfinite(options.weight_decay))
    throw std::invalid_argument("DklModel: weight_decay must be a finite number ≥ 0");
  if (!(options.min_noise >= 0.0) || !std::isfinite(options.min_noise))
    throw std::invalid_argument("DklModel: min_noise must be a finite number ≥ 0");
  impl_->input_dim = input_dim;
  impl_->options = options;
  // Deterministic initialisation from our own generator (the global torch generator is shared
  // between threads of `autostem bench`): PyTorch's default Linear init, U(±1/√fan_in).
  std::mt19937_64 rng(options.seed ^ 0x9e3779b97f4a7c15ULL);
  torch::nn::Sequential net;
  std::vector<int> widths = options.hidden;
  widths.push_back(options.embedding);
  int fan_in = static_cast<int>(input_dim);
  for (std::size_t l = 0; l < widths.size(); ++l) {
    torch::nn::Linear lin(fan_in, widths[l]);
    const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
    const auto lo = static_cast<float>(-bound), hi = static_cast<float>(bound);
    torch::NoGradGuard ng;
    for (auto* t : {&lin->weight, &lin->bias}) {
      auto flat = t->view({-1});
      auto acc = flat.accessor<float, 1>();
      for (long i = 0; i < flat.size(0); ++i) acc[i] = random::uniform_real(rng, lo, hi);
    }
    net->push_back(lin);
    if (l + 1 < widths.size()) net->push_back(torch::nn::ReLU());
    fan_in = widths[l];
  }
  impl_->net = net;
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  impl_->raw_ls = torch::full({options.embedding}, softplus_inv(1.0), f64).requires_grad_(true);
  impl_->raw_os = torch::full({1}, softplus_inv(1.0), f64).requires_grad_(true);
  impl_->raw_noise = torch::full({1}, softplus_inv(0.1), f64).requires_grad_(true);
  // Two parameter groups: the network's weights (with the optional L2 weight decay) and the
  // GP hyperparameters (no decay: their scale is set by the data, not by a prior at 0).
  std::vector<torch::optim::OptimizerParamGroup> groups;
  auto net_options = std::make_unique<torch::optim::AdamOptions>(options.learning_rate);
  net_options->weight_decay(options.weight_decay);
  groups.emplace_back(impl_->net->parameters(), std::move(net_options));
  groups.emplace_back(std::vector<torch::Tensor>{impl_->raw_ls, impl_->raw_os, impl_->raw_noise},
                      std::make_unique<torch::optim::AdamOptions>(options.learning_rate));
  impl_->adam = std::make_unique<torch::optim::Adam>(
      std::move(groups), torch::optim::AdamOptions(options.learning_rate));
}

DklModel::~DklModel() = default;
DklModel::DklModel(DklModel&&) noexcept = default;
DklModel& DklModel::operator=(DklModel&&) noexcept = default;

double DklModel::train(const PatchMatrix& X, const Eigen::VectorXd& y, int iterations) {
  Impl& m = *impl_;
  m.check(X, y);
  TorchThreads one(1);
  const torch::Tensor Xt = m.as_tensor(X);
  const double n = static_cast<double>(X.rows());
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  for (int it = 0; it < iterations; ++it) {
    m.adam->zero_grad();
    torch::Tensor z = m.net->forward(Xt);
    m.gp.fit(m.options.kernel, m.hyper(), Impl::to_eigen(z.detach()), y);
    const gp::MllGradient g = m.gp.gradient();
    // Loss −L/n: back-propagate ∂(−L/n)/∂z through the network only.
    const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> dz =
        (-g.inputs / n).cast<float>();
    z.backward(torch::from_blob(const_cast<float*>(dz.data()), {dz.rows(), dz.cols()},
                                torch::kFloat32).clone());
    // Hyperparameters: chain rule through softplus (dv/draw = sigmoid(raw)).
    torch::Tensor gls = torch::empty({m.options.embedding}, f64);
    {
      auto acc = gls.accessor<double, 1>();
      auto raw = m.raw_ls.accessor<double, 1>();
      for (int k = 0; k < m.options.embedding; ++k)
        acc[k] = -g.lengthscale[k] * sigmoid(raw[k]) / n;
    }
    m.raw_ls.mutable_grad() = gls;
    m.raw_os.mutable_grad() =
        torch::full({1}, -g.outputscale * sigmoid(m.raw_os.item<double>()) / n, f64);
    m.raw_noise.mutable_grad() =
        torch::full({1}, -g.noise * sigmoid(m.raw_noise.item<double>()) / n, f64);
    m.adam->step();
  }
  torch::NoGradGuard ng;
  m.gp.fit(m.options.kernel, m.hyper(), Impl::to_eigen(m.net->forward(Xt)), y);
  return m.gp.log_marginal_likelihood() / n;
}

void DklModel::refit(const PatchMatrix& X, const Eigen::VectorXd& y) {
  impl_->check(X, y);
  impl_->gp.fit(impl_->options.kernel, impl_->hyper(), embed(X), y);
}

Eigen::MatrixXd DklModel::embed(const PatchMatrix& X) const {
  if (static_cast<std::size_t>(X.cols()) != impl_->input_dim)
    throw std::invalid_argument("DklModel::embed: patches have " + std::to_string(X.cols()) +
                                " values, the network takes " + std::to_string(impl_->input_dim));
  torch::NoGradGuard ng;
  Eigen::MatrixXd out(X.rows(), impl_->options.embedding);
  const Eigen::Index batch = 4096;
  for (Eigen::Index s = 0; s < X.rows(); s += batch) {
    const Eigen::Index b = std::min(batch, X.rows() - s);
    const torch::Tensor xt = torch::from_blob(const_cast<float*>(X.row(s).data()),
                                              {static_cast<long>(b), static_cast<long>(X.cols())},
                                              torch::kFloat32);
    out.middleRows(s, b) = Impl::to_eigen(impl_->net->forward(xt));
  }
  return out;
}

const gp::ExactGP& DklModel::gp() const { return impl_->gp; }
gp::Hyper DklModel::hyper() const { return impl_->hyper(); }

PatchMatrix principal_component_scores(const PatchMatrix& X, std::size_t k, double* explained) {
  const auto D = static_cast<std::size_t>(X.cols());
  if (k == 0 || k > D)
    throw std::invalid_argument("principal_component_scores: k = " + std::to_string(k) +
                                " must be between 1 and the patch size " + std::to_string(D));
  if (X.rows() < 2)
    throw std::invalid_argument("principal_component_scores: need at least 2 patches, got " +
                                std::to_string(X.rows()));
  const Eigen::MatrixXd Xd = X.cast<double>();
  const Eigen::RowVectorXd mu = Xd.colwise().mean();
  const Eigen::MatrixXd C = Xd.rowwise() - mu;
  const Eigen::MatrixXd cov = (C.transpose() * C) / double(X.rows() - 1);
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(cov);
  if (es.info() != Eigen::Success)
    throw std::runtime_error("principal_component_scores: eigendecomposition failed");
  // Eigenvalues ascending: the k leading ones are the last k columns.
  const auto kk = static_cast<Eigen::Index>(k);
  const Eigen::MatrixXd V = es.eigenvectors().rightCols(kk);
  const Eigen::VectorXd lambda = es.eigenvalues().tail(kk).cwiseMax(0.0);
  const double total = es.eigenvalues().cwiseMax(0.0).sum();
  if (explained) *explained = total > 0.0 ? lambda.sum() / total : 0.0;
  const double mean_var = lambda.mean();
  const double scale = mean_var > 0.0 ? 1.0 / std::sqrt(mean_var) : 1.0;
  // Leading component first.
  return ((C * V.rowwise().reverse()) * scale).cast<float>();
}

// ---------------------------------------------------------------------------------------------
// The strategies

namespace {

/// Adam on a handful of doubles (the "gp" strategy's raw hyperparameters).
struct SmallAdam {
  Eigen::VectorXd m, v;
  double lr, b1 = 0.9, b2 = 0.999, eps = 1e-8;
  long t = 0;
  explicit SmallAdam(Eigen::Index n, double rate) : m(Eigen::VectorXd::Zero(n)), v(m), lr(rate) {}
  void step(Eigen::VectorXd& x, const Eigen::VectorXd& grad) {
    ++t;
    m = b1 * m + (1 - b1) * grad;
    v = b2 * v + (1 - b2) * grad.cwiseProduct(grad);
    const double c1 = 1 - std::pow(b1, double(t)), c2 = 1 - std::pow(b2, double(t));
    x.array() -= lr * (m.array() / c1) / ((v.array() / c2).sqrt() + eps);
  }
};

class ModelStrategy final : public Strategy {
 public:
  ModelStrategy(bool patches, const Parameters& p) : patches_(patches) {
    const ParamValues v = (patches ? dkl_strategy_schema() : gp_strategy_schema()).parse(p);
    scalarizer_spec_ = v.text("scalarizer");
    acq_ = acquisition::parse_acquisition(v.text("acquisition"));
    train_iters_ = v.size("train_iters");
    init_iters_ = v.size("init_iters");
    lr_ = v.number("lr");
    retrain_every_ = v.size("retrain_every");
    stop_retrain_after_ = v.size("stop_retrain_after");
    n_init_ = v.size("n_init");
    kernel_ = gp::parse_kernel(v.text("kernel"));
    min_distance_ = v.number("min_distance");
    if (patches) {
      patch_auto_ = v.text("patch") == "auto";
      if (!patch_auto_) patch_ = static_cast<std::size_t>(std::stoul(v.text("patch")));
      stride_ = v.size("stride");
      hidden_ = v.text("hidden");
      layers_ = parse_layers(hidden_);
      embedding_ = v.size("embedding");
      weight_decay_ = v.number("weight_decay");
      min_noise_ = v.number("min_noise");
      rank_targets_ = v.text("targets") == "rank";
      pca_ = v.size("pca");
      pca_explicit_ = v.given("pca");
      fast_ = v.text("update") == "fast";
      inc_.exact_max = v.size("exact_max");
      inc_.inducing = v.size("inducing");
      retrain_auto_ = v.text("retrain_s") == "auto";
      if (!retrain_auto_) retrain_s_ = std::stod(v.text("retrain_s"));
      surprise_ = v.number("surprise");
      surprise_gap_ = v.size("surprise_gap");
      calibrate_ = v.size("calibrate");
      calibrate_acquisition_ = v.flag("calibrate_acquisition");
      retrain_subset_ = v.size("retrain_subset");
      // update=fast without an explicit retrain_every: the growing schedule of retrain_interval().
      retrain_every_given_ = v.given("retrain_every");
      if (fast_ && rank_targets_)
        throw std::invalid_argument("strategy 'dkl': targets=rank needs update=exact (the normal "
                                    "scores of every value move with each new one)");
    }
    provenance_ = v.provenance();
  }

  ~ModelStrategy() override {
    wait_for_job();
    write_stats();
  }

  std::string name() const override { return patches_ ? "dkl" : "gp"; }

  /// Fast-path counters (update=fast), for dkl_fast_stats().
  DklFastStats stats() const { return stats_; }

  Parameters parameters() const override { return provenance_; }

  void begin(const Survey& survey, const StrategyContext& ctx) override {
    wait_for_job();  // a retrain of the previous experiment still running owns model_
    job_.reset();
    post_.reset();
    stats_ = {};
    train_t_.clear();
    acq_clock_ = 0.0;
    n_posted_ = n_scored_ = 0;
    surprised_ = false;
    abs_z_.clear();
    calibration_ = 1.0;
    seed_ = ctx.seed;
    rows_ = ctx.instrument.field_rows;
    cols_ = ctx.instrument.field_cols;
    if (rows_ == 0 || cols_ == 0)
      throw std::invalid_argument("strategy '" + name() + "': the field is empty");
    const EnergyAxis& axis = ctx.instrument.energy;
    // Default scalarizer: total counts over the whole energy axis (as `autostem bench`).
    scalarizer_ = scalarizer_spec_.empty() ? nullptr : make_scalarizer(scalarizer_spec_, axis);
    rng_.seed(ctx.seed);
    budget_ = ctx.budget_points;
    proposed_ = 0;
    fallback_coordinates_ = !patches_;
    if (patches_) {
      if (static_cast<std::size_t>(survey.image.data.rows()) != rows_ ||
          static_cast<std::size_t>(survey.image.data.cols()) != cols_)
        throw std::invalid_argument("strategy 'dkl': the survey is not the field's size");
      if (patch_auto_) {
        // docs/dkl.md "patch=auto": 3.5 autocorrelation half-widths of this survey.
        const AutoPatch a = auto_patch_size(survey.image.data);
        patch_ = a.patch;
        half_width_px_ = a.half_width_px;
      }
      set_ = extract_patches(survey.image.data, patch_, stride_);
      // Documented fallback: a survey without structure carries no information for the
      // network; the strategy then models (row, col) like "gp".
      fallback_coordinates_ = set_.constant;
      if (pca_ > 0 && !set_.constant) {
        const auto values = static_cast<std::size_t>(set_.data.cols());
        if (pca_ > values && !pca_explicit_) {
          // The default (16) on a patch of fewer values (patch ≤ 3): use the raw patch.
        } else if (pca_ > values)
          throw std::invalid_argument("strategy 'dkl': pca=" + std::to_string(pca_) +
                                      " is more than the " + std::to_string(set_.data.cols()) +
                                      " values of a patch");
        else
          set_.data = principal_component_scores(set_.data, pca_);
      }
    } else {
      set_ = PatchSet{};
      set_.rows = rows_;
      set_.cols = cols_;
      set_.stride = 1;
      set_.positions.resize(static_cast<Eigen::Index>(rows_ * cols_), 2);
      for (std::size_t r = 0; r < rows_; ++r)
        for (std::size_t c = 0; c < cols_; ++c) {
          set_.positions(static_cast<Eigen::Index>(r * cols_ + c), 0) = double(r);
          set_.positions(static_cast<Eigen::Index>(r * cols_ + c), 1) = double(c);
        }
    }
    const auto N = static_cast<std::size_t>(set_.positions.rows());
    coords_ = set_.positions / static_cast<double>(std::max(rows_, cols_));
    status_.assign(N, 0);
    train_idx_.clear();
    train_y_.clear();
    n_observed_ = n_at_train_ = n_at_model_ = 0;
    trained_ = false;
    model_.reset();
    if (patches_ && !fallback_coordinates_) {
      DklOptions o;
      o.hidden = layers_;
      o.embedding = static_cast<int>(embedding_);
      o.kernel = kernel_;
      o.learning_rate = lr_;
      o.weight_decay = weight_decay_;
      o.min_noise = min_noise_;
      o.seed = ctx.seed;
      model_ = std::make_unique<DklModel>(set_.data.cols(), o);
    }
    raw_ = Eigen::VectorXd(4);
    raw_ << softplus_inv(0.1), softplus_inv(0.1), softplus_inv(1.0), softplus_inv(0.1);
    adam_ = std::make_unique<SmallAdam>(4, lr_);
    halton_taken_.assign(rows_ * cols_, 0);
    halton_.clear();
    halton_next_ = 0;
    prediction_.reset();
    warp_.reset();
  }

  std::vector<Position> propose(std::size_t max_points) override {
    std::vector<Position> out;
    // Never more than the Session's budget_points in all (0 = no limit).
    if (budget_ > 0) max_points = std::min(max_points, budget_ - std::min(budget_, proposed_));
    if (max_points == 0) return out;
    if (proposed_ < n_init_ || train_y_.size() < 2) {
      // Space-filling start (rotated Halton), also while too few values are back to fit a model.
      while (out.size() < max_points) {
        if (halton_next_ >= halton_.size()) {
          const std::size_t want = halton_.size() + std::max<std::size_t>(max_points, 16);
          detail::append_halton_pixels(rows_, cols_, want, rng_, halton_taken_, halton_);
          if (halton_next_ >= halton_.size()) break;
        }
        const Position p = halton_[halton_next_++];
        const std::size_t k = set_.candidate_of(std::size_t(p.row), std::size_t(p.col));
        if (status_[k]) continue;
        status_[k] = 2;
        out.push_back({set_.positions(static_cast<Eigen::Index>(k), 0),
                       set_.positions(static_cast<Eigen::Index>(k), 1)});
      }
      if (!out.empty() || train_y_.size() < 2) {
        proposed_ += out.size();
        return out;
      }
    }
    if (fast_ && model_) fast_update();
    else update_model();
    std::vector<char> available(status_.size());
    for (std::size_t i = 0; i < status_.size(); ++i) available[i] = status_[i] == 0;
    Eigen::MatrixX2d taken(static_cast<Eigen::Index>(std::count_if(
                               status_.begin(), status_.end(), [](char s) { return s != 0; })),
                           2);
    if (min_distance_ > 0.0) {
      for (std::size_t i = 0, j = 0; i < status_.size(); ++i)
        if (status_[i]) taken.row(static_cast<Eigen::Index>(j++)) = set_.positions.row(static_cast<Eigen::Index>(i));
    } else {
      taken.resize(0, 2);
    }
    std::vector<Eigen::VectorXd> columns;
    std::vector<double> denominators;
    // update=fast with calibrate_acquisition: var_ carries the conformal scale²; the believer's
    // covariances carry it too.
    const double c2 = post_ && calibrate_acquisition_ ? calibration_ * calibration_ : 1.0;
    // The published σ map is calibrated whether or not the acquisition saw the scale.
    const double map_sd_scale = post_ && !calibrate_acquisition_ ? calibration_ : 1.0;
    const double noise = post_ ? c2 * post_->hyper().noise : current_gp().hyper().noise;
    acquisition::Conditioner believer = [&](std::size_t c, Eigen::VectorXd& var) {
      Eigen::VectorXd cov = post_ ? Eigen::VectorXd(c2 * post_->covariance_with(c))
                                  : current_gp().posterior_covariance(features_, static_cast<Eigen::Index>(c));
      for (std::size_t j = 0; j < columns.size(); ++j)
        cov -= columns[j] * (columns[j][static_cast<Eigen::Index>(c)] / denominators[j]);
      const double v = cov[static_cast<Eigen::Index>(c)] + noise;
      var = (var.array() - cov.array().square() / v).cwiseMax(0.0);
      columns.push_back(std::move(cov));
      denominators.push_back(v);
    };
    acquisition::BatchOptions bo;
    bo.q = max_points;
    bo.min_distance_px = min_distance_;
    std::mt19937_64 rng_copy = rng_;  // the acquisition map below re-draws the same Thompson sample
    const std::vector<std::size_t> picks =
        acquisition::select_batch(acq_, mean_, var_, best_, set_.positions, taken, available, bo,
                                  rng_, believer);
    // Prediction maps (original units).
    Prediction pred;
    pred.mean.resize(static_cast<Eigen::Index>(rows_), static_cast<Eigen::Index>(cols_));
    pred.uncertainty.resizeLike(pred.mean);
    pred.acquisition.resizeLike(pred.mean);
    const Eigen::VectorXd acq = acquisition::evaluate(acq_, mean_, var_, best_, rng_copy);
    for (std::size_t r = 0; r < rows_; ++r)
      for (std::size_t c = 0; c < cols_; ++c) {
        const auto k = static_cast<Eigen::Index>(set_.candidate_of(r, c));
        const auto rr = static_cast<Eigen::Index>(r), cc = static_cast<Eigen::Index>(c);
        const double sd = map_sd_scale * std::sqrt(std::max(var_[k], 0.0));
        if (warp_) {
          // Normal scores back to scalarizer units; σ by the local slope (delta method).
          double slope = 0.0;
          pred.mean(rr, cc) = warp_->back(y_mean_ + y_sd_ * mean_[k], &slope);
          pred.uncertainty(rr, cc) = std::abs(slope) * y_sd_ * sd;
        } else {
          pred.mean(rr, cc) = y_mean_ + y_sd_ * mean_[k];
          pred.uncertainty(rr, cc) = y_sd_ * sd;
        }
        pred.acquisition(rr, cc) = acq[k];
      }
    prediction_ = std::move(pred);
    for (std::size_t k : picks) {
      status_[k] = 2;
      out.push_back({set_.positions(static_cast<Eigen::Index>(k), 0),
                     set_.positions(static_cast<Eigen::Index>(k), 1)});
    }
    proposed_ += out.size();
    return out;
  }

  void observe(std::span<const Measurement> ms) override {
    for (const Measurement& m : ms) {
      const Position p = is_finite(m.requested) ? m.requested : m.actual;
      if (!is_finite(p)) continue;
      const auto r = static_cast<std::size_t>(
          std::clamp(std::round(p.row), 0.0, static_cast<double>(rows_ - 1)));
      const auto c = static_cast<std::size_t>(
          std::clamp(std::round(p.col), 0.0, static_cast<double>(cols_ - 1)));
      const std::size_t k = set_.candidate_of(r, c);
      status_[k] = 1;
      ++n_observed_;
      // The instrument's clock: acquisition time only (beam move, exposure, read-out), not the
      // session's compute waits, so that update=fast is deterministic for a seed whatever
      // --compute says (the retrain runs while the spectra are taken).
      if (std::isfinite(m.t_end_s - m.t_start_s)) acq_clock_ += std::max(0.0, m.t_end_s - m.t_start_s);
      double v = 0.0;
      if (scalarizer_) {
        v = scalarizer_->evaluate(m.signal);
      } else {
        for (float x : m.signal) v += x;
      }
      // Documented fallback: a value that is not finite (e.g. a ratio over an empty band) is
      // not used for training; the pixel counts as measured and the Session's file keeps it.
      if (!std::isfinite(v)) {
        ++n_nonfinite_;
        continue;
      }
      train_idx_.push_back(k);
      train_y_.push_back(v);
      train_t_.push_back(acq_clock_);
    }
  }

  std::optional<Prediction> prediction() const override { return prediction_; }

 private:
  const gp::ExactGP& current_gp() const { return model_ ? model_->gp() : gp_; }

  /// Trains or refits on everything observed so far; refreshes mean_/var_ over the candidates.
  void update_model() {
    if (n_at_model_ == train_y_.size() && trained_) return;
    const auto n = static_cast<Eigen::Index>(train_y_.size());
    Eigen::VectorXd y = Eigen::Map<const Eigen::VectorXd>(train_y_.data(), n);
    if (rank_targets_) {
      if (!warp_) warp_.emplace();
      y = warp_->fit(y);
    } else {
      warp_.reset();
    }
    y_mean_ = y.mean();
    y_sd_ = std::sqrt((y.array() - y_mean_).square().mean());
    if (!(y_sd_ > 0.0)) y_sd_ = 1.0;
    y = (y.array() - y_mean_) / y_sd_;
    best_ = y.maxCoeff();
    const bool may_train = stop_retrain_after_ == 0 || !trained_ ||
                           train_y_.size() <= stop_retrain_after_;
    const bool train = may_train && (!trained_ || train_y_.size() - n_at_train_ >= retrain_every_);
    const int iters = static_cast<int>(trained_ ? train_iters_ : init_iters_);
    // Small-matrix work on one thread: LAPACK/OpenBLAS and LibTorch would otherwise start an
    // OpenMP team per call (from `autostem bench`'s worker threads, too) — DESIGN.md §11.
    std::optional<TorchThreads> one(std::in_place, 1);
    if (model_) {
      PatchMatrix X(n, set_.data.cols());
      for (Eigen::Index i = 0; i < n; ++i)
        X.row(i) = set_.data.row(static_cast<Eigen::Index>(train_idx_[static_cast<std::size_t>(i)]));
      if (train) {
        model_->train(X, y, iters);
        features_ = model_->embed(set_.data);
      } else {
        model_->refit(X, y);
      }
    } else {
      Eigen::MatrixXd X(n, 2);
      for (Eigen::Index i = 0; i < n; ++i)
        X.row(i) = coords_.row(static_cast<Eigen::Index>(train_idx_[static_cast<std::size_t>(i)]));
      if (train) {
        for (int it = 0; it < iters; ++it) {
          gp_.fit(kernel_, hyper_from_raw(), X, y);
          const gp::MllGradient g = gp_.gradient();
          Eigen::VectorXd grad(4);
          grad << g.lengthscale[0], g.lengthscale[1], g.outputscale, g.noise;
          for (int k = 0; k < 4; ++k) grad[k] *= -sigmoid(raw_[k]) / double(n);
          adam_->step(raw_, grad);
        }
      }
      gp_.fit(kernel_, hyper_from_raw(), X, y);
      features_ = coords_;
    }
    if (train) {
      trained_ = true;
      n_at_train_ = train_y_.size();
    }
    n_at_model_ = train_y_.size();
    one.reset();  // the prediction over all candidates is big enough for the default threads
    current_gp().predict(features_, mean_, var_);
  }

  // ---- update=fast (issue 22; docs/dkl.md "Fast path") ------------------------------------

  /// A retrain's product: the network's embedding of every candidate and the posterior of the
  /// first n values under the new weights and hyperparameters.
  struct JobResult {
    Eigen::MatrixXd features;
    std::optional<gp::IncrementalPosterior> post;
    std::size_t n = 0;
    double seconds = 0.0;
  };
  struct Job {
    std::future<JobResult> result;
    std::size_t n_start = 0;
    double t_start = 0.0;
    double modelled_s = 0.0;  ///< acquisition-clock seconds after which it counts as finished
    std::size_t k = 0;        ///< ... or after this many more values (a clock that does not move)
  };

  /// update=fast: values between background retrains. An explicit retrain_every is used as is;
  /// by default max(50, ⌈0.1·n⌉) at n values (Riquelme et al. 2018 retrain every ≈ 50 steps; a
  /// schedule that grows with n keeps the number of retrains — and their total cost, each
  /// O(N·r²) for the posterior — logarithmic in n beyond 500 values).
  std::size_t retrain_interval(std::size_t n) const {
    if (retrain_every_given_) return retrain_every_;
    return std::max<std::size_t>(50, (n + 9) / 10);
  }
  /// update=fast: a surprising value starts a retrain only this many values after the last
  /// retrain started: max(surprise_gap, ⌈0.1·n⌉), so surprise retrains cannot follow one another.
  std::size_t surprise_spacing(std::size_t n) const { return std::max(surprise_gap_, (n + 9) / 10); }

  /// Weights of the MLP (for the retrain cost model).
  std::size_t net_params() const {
    std::size_t total = 0, fan_in = static_cast<std::size_t>(set_.data.cols());
    for (int w : layers_) {
      total += (fan_in + 1) * std::size_t(w);
      fan_in = std::size_t(w);
    }
    return total + (fan_in + 1) * embedding_;
  }

  /// Split-conformal scale of the predictive sd (Vovk et al. 2005; Angelopoulos & Bates 2023,
  /// "Conformal prediction: a gentle introduction", §1): the ⌈0.95·(m+1)⌉-th smallest of the last
  /// m ≤ `calibrate` absolute standardised residuals |y − μ|/σ (each scored before its value was
  /// learned), divided by 1.96 — so mean ± 1.96·scale·σ covers 95 % of recent values. 1 while
  /// fewer than 10 residuals are in the window; at least 0.25.
  void update_calibration() {
    const std::size_t m = abs_z_.size();
    if (m < 10) {
      calibration_ = 1.0;
      return;
    }
    std::vector<double> v(abs_z_.begin(), abs_z_.end());
    const auto k = std::min(m, static_cast<std::size_t>(std::ceil(0.95 * double(m + 1))));
    std::nth_element(v.begin(), v.begin() + long(k - 1), v.end());
    calibration_ = std::max(0.25, v[k - 1] / 1.959964);
  }

  /// Diagnostic (docs/dkl.md "Fast path"): with AUTOSTEM_DKL_STATS=FILE set, each update=fast
  /// run appends one JSON line of its counters to FILE when the strategy ends (the predictive
  /// interval coverage of `autostem bench` runs is measured this way). One write() per line with
  /// O_APPEND semantics (std::ofstream app), so parallel bench threads do not interleave lines.
  void write_stats() const {
    const char* path = std::getenv("AUTOSTEM_DKL_STATS");
    // update=exact runs write a line too (their counters are 0): the patch they used.
    if (!path || !*path || !patches_ || rows_ == 0 || (fast_ && stats_.scored == 0)) return;  // rows_ = 0: never begun
    std::ostringstream line;
    line << "{\"seed\": " << seed_ << ", \"patch\": " << patch_ << ", \"half_width_px\": " << half_width_px_
         << ", \"values\": " << train_y_.size() << ", \"scored\": " << stats_.scored
         << ", \"covered95\": " << stats_.covered95 << ", \"surprises\": " << stats_.surprises
         << ", \"retrains_started\": " << stats_.retrains_started << ", \"retrains_applied\": "
         << stats_.retrains_applied << ", \"waits\": " << stats_.waits << ", \"last_retrain_s\": "
         << stats_.last_retrain_s << ", \"last_modelled_s\": " << stats_.last_modelled_s
         << ", \"calibration\": " << calibration_ << ", \"sparse\": " << (stats_.sparse ? "true" : "false")
         << ", \"posterior_bytes\": " << stats_.posterior_bytes << "}\n";
    std::ofstream out(path, std::ios::app);
    out << line.str() << std::flush;
  }

  void wait_for_job() {
    if (job_ && job_->result.valid()) job_->result.wait();
  }

  /// The slow path: trains the network and the GP hyperparameters on (a random subset of at most
  /// retrain_subset of) the first n values, embeds every candidate and builds the posterior of
  /// all n values. Reads model_ (exclusively: the decisions in the meantime use only post_ and
  /// features_), set_ (constant during a run) and its own copies of the values.
  JobResult retrain(std::vector<std::size_t> idx, std::vector<double> values, int iters,
                    std::uint64_t subset_seed) const {
    const auto t0 = std::chrono::steady_clock::now();
    const auto n = static_cast<Eigen::Index>(values.size());
    const Eigen::VectorXd raw = Eigen::Map<const Eigen::VectorXd>(values.data(), n);
    const double m = raw.mean();
    double sd = std::sqrt((raw.array() - m).square().mean());
    if (!(sd > 0.0)) sd = 1.0;
    std::vector<Eigen::Index> pick(static_cast<std::size_t>(n));
    for (Eigen::Index i = 0; i < n; ++i) pick[std::size_t(i)] = i;
    if (std::size_t(n) > retrain_subset_) {  // partial Fisher–Yates, the project's generator
      std::mt19937_64 g(subset_seed);
      for (std::size_t i = 0; i < retrain_subset_; ++i)
        std::swap(pick[i], pick[i + random::below(g, pick.size() - i)]);
      pick.resize(retrain_subset_);
      std::sort(pick.begin(), pick.end());
    }
    PatchMatrix X(static_cast<Eigen::Index>(pick.size()), set_.data.cols());
    Eigen::VectorXd y(static_cast<Eigen::Index>(pick.size()));
    for (std::size_t i = 0; i < pick.size(); ++i) {
      X.row(Eigen::Index(i)) = set_.data.row(Eigen::Index(idx[std::size_t(pick[i])]));
      y[Eigen::Index(i)] = (raw[pick[i]] - m) / sd;
    }
    JobResult out;
    {
      TorchThreads one(1);
      model_->train(X, y, iters);
      out.features = model_->embed(set_.data);
    }
    out.post = gp::IncrementalPosterior::build(kernel_, model_->hyper(), out.features, idx, raw, inc_);
    out.n = idx.size();
    out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return out;
  }

  /// Every decision of update=fast: swap in a finished retrain (deterministic rule), append the
  /// new values to the posterior (O(N·n) exact, O(N·r) sparse), refresh mean_/var_, and start a
  /// retrain in the background every retrain_every values or after a surprising value.
  void fast_update() {
    const std::size_t n = train_y_.size();
    const bool may_train = stop_retrain_after_ == 0 || !trained_ || n <= stop_retrain_after_;
    if (!post_) {  // the first model: trained here, once (nothing to decide with before it)
      JobResult r = retrain(train_idx_, train_y_, static_cast<int>(init_iters_), seed_ ^ n);
      features_ = std::move(r.features);
      post_ = std::move(r.post);
      n_posted_ = n_scored_ = r.n;
      trained_ = true;
      n_at_train_ = n;
      ++stats_.retrains_started;
      stats_.retrain_starts.push_back(n);
      ++stats_.retrains_applied;
      stats_.last_retrain_s = r.seconds;
    }
    // Deterministic swap: the retrain counts as finished once the acquisition clock (Σ t_end_s −
    // t_start_s of the measurements since) has passed its start + retrain_s, or once retrain_every more values arrived (a
    // clock that does not move, e.g. a test driving the strategy by hand). Waiting happens only
    // when the real retrain is slower than that (counted in stats_.waits).
    if (job_ && (acq_clock_ >= job_->t_start + job_->modelled_s || n - job_->n_start >= job_->k)) {
      if (job_->result.wait_for(std::chrono::seconds(0)) != std::future_status::ready) ++stats_.waits;
      JobResult r = job_->result.get();
      const double job_modelled_s = job_->modelled_s;
      job_.reset();
      features_ = std::move(r.features);
      post_ = std::move(r.post);
      n_posted_ = r.n;
      ++stats_.retrains_applied;
      stats_.last_retrain_s = r.seconds;
      stats_.last_modelled_s = job_modelled_s;
    }
    const auto nn = static_cast<Eigen::Index>(n);
    const Eigen::VectorXd raw = Eigen::Map<const Eigen::VectorXd>(train_y_.data(), nn);
    y_mean_ = raw.mean();
    y_sd_ = std::sqrt((raw.array() - y_mean_).square().mean());
    if (!(y_sd_ > 0.0)) y_sd_ = 1.0;
    for (; n_posted_ < n; ++n_posted_) {
      const std::size_t k = train_idx_[n_posted_];
      const double yv = train_y_[n_posted_];
      if (n_posted_ >= n_scored_) {  // a value seen for the first time (not a catch-up after a swap)
        // Predictive z-score of the new value before it is added (latent variance + noise),
        // with the conformal scale of the values before it.
        const double sd = std::sqrt(post_->variance()[Eigen::Index(k)] + post_->hyper().noise);
        const double z_model = ((yv - y_mean_) / y_sd_ - post_->mean_at(k, y_mean_, y_sd_)) / sd;
        const double z = z_model / calibration_;
        ++stats_.scored;
        stats_.covered95 += std::abs(z) <= 1.959964;
        if (surprise_ > 0.0 && std::abs(z) > surprise_) {
          surprised_ = true;
          ++stats_.surprises;
        }
        if (calibrate_ > 0) {
          abs_z_.push_back(std::abs(z_model));
          if (abs_z_.size() > calibrate_) abs_z_.pop_front();
          update_calibration();
        }
        n_scored_ = n_posted_ + 1;
      }
      post_->add(k, yv);
    }
    mean_ = post_->mean(y_mean_, y_sd_);
    // The acquisition sees the calibrated variance only with calibrate_acquisition; the
    // published uncertainty map, coverage and surprises always use the calibrated sd.
    var_ = calibrate_acquisition_ ? Eigen::VectorXd(post_->variance() * (calibration_ * calibration_))
                                  : post_->variance();
    best_ = (raw.maxCoeff() - y_mean_) / y_sd_;
    stats_.sparse = post_->sparse();
    stats_.posterior_bytes = post_->bytes();
    stats_.calibration = calibration_;
    const std::size_t since = n - n_at_train_;
    const bool due = since >= retrain_interval(n_at_train_) || (surprised_ && since >= surprise_spacing(n));
    if (!job_ && may_train && due) {
      Job j;
      j.n_start = n;
      j.t_start = acq_clock_;
      j.k = retrain_interval(n);
      DklRetrainSize size;
      size.iterations = train_iters_;
      size.subset = std::min(n, retrain_subset_);
      size.candidates = static_cast<std::size_t>(set_.data.rows());
      size.net_params = net_params();
      size.values = n;
      size.exact_max = inc_.exact_max;
      size.inducing = inc_.inducing;
      j.modelled_s = retrain_auto_ ? dkl_modelled_retrain_s(size) : retrain_s_;
      j.result = std::async(std::launch::async, &ModelStrategy::retrain, this, train_idx_, train_y_,
                            static_cast<int>(train_iters_), seed_ ^ (n * 0x9e3779b97f4a7c15ULL));
      job_ = std::move(j);
      surprised_ = false;
      n_at_train_ = n;
      ++stats_.retrains_started;
      stats_.retrain_starts.push_back(n);
    }
  }

  gp::Hyper hyper_from_raw() const {
    gp::Hyper h;
    h.lengthscale.resize(2);
    h.lengthscale << softplus(raw_[0]), softplus(raw_[1]);
    h.outputscale = softplus(raw_[2]);
    h.noise = softplus(raw_[3]) + 1e-4;
    return h;
  }

  // Parameters.
  bool patches_;
  std::string scalarizer_spec_, hidden_ = "64-64";
  acquisition::Spec acq_;
  bool patch_auto_ = true;
  double half_width_px_ = 0.0;  ///< the survey's autocorrelation half-width (patch=auto)
  std::size_t patch_ = 8, stride_ = 1, train_iters_, init_iters_, retrain_every_, stop_retrain_after_,
      n_init_, embedding_ = 2;
  double lr_, min_distance_, weight_decay_ = 0.0, min_noise_ = 1e-4;
  bool rank_targets_ = false;
  std::size_t pca_ = 16;
  bool pca_explicit_ = false;
  std::vector<int> layers_{64, 64};
  gp::KernelKind kernel_;
  // State.
  std::size_t rows_ = 0, cols_ = 0;
  std::unique_ptr<Scalarizer> scalarizer_;
  std::mt19937_64 rng_;
  bool fallback_coordinates_ = false;
  PatchSet set_;
  Eigen::MatrixXd coords_, features_;
  std::vector<char> status_;  ///< per candidate: 0 free, 1 measured, 2 in flight
  std::vector<std::size_t> train_idx_;
  std::vector<double> train_y_;
  std::size_t n_observed_ = 0, n_nonfinite_ = 0, n_at_train_ = 0, n_at_model_ = 0, proposed_ = 0;
  std::size_t budget_ = 0;  ///< StrategyContext::budget_points of the last begin() (0 = none)
  bool trained_ = false;
  std::unique_ptr<DklModel> model_;
  Parameters provenance_;
  gp::ExactGP gp_;
  Eigen::VectorXd raw_;
  std::unique_ptr<SmallAdam> adam_;
  double y_mean_ = 0.0, y_sd_ = 1.0, best_ = 0.0;
  std::optional<NormalScores> warp_;  ///< targets=rank: the current normal-scores warping
  Eigen::VectorXd mean_, var_;
  std::vector<char> halton_taken_;
  std::vector<Position> halton_;
  std::size_t halton_next_ = 0;
  std::optional<Prediction> prediction_;
  // update=fast.
  bool fast_ = false;
  gp::IncrementalOptions inc_;
  double retrain_s_ = 2.0, surprise_ = 3.0;
  bool retrain_auto_ = true, retrain_every_given_ = false;
  std::size_t retrain_subset_ = 256, surprise_gap_ = 3, calibrate_ = 100;
  bool calibrate_acquisition_ = false;
  std::deque<double> abs_z_;  ///< |standardised residual| of the last `calibrate` values
  double calibration_ = 1.0;  ///< conformal scale of the predictive sd (update_calibration())
  std::uint64_t seed_ = 0;
  std::vector<double> train_t_;  ///< acq_clock_ when each value arrived
  double acq_clock_ = 0.0;
  std::size_t n_posted_ = 0;     ///< values in post_
  std::size_t n_scored_ = 0;     ///< values already scored (z-score) once
  bool surprised_ = false;
  std::optional<gp::IncrementalPosterior> post_;
  DklFastStats stats_;
  std::optional<Job> job_;       ///< declared last: destroyed (and waited for) first
};

}  // namespace

double dkl_modelled_retrain_s(const DklRetrainSize& z) {
  // Per-unit CPU costs (s) from bench_dkl's BM_BackgroundRetrain on the 2-core VM (one core;
  // docs/performance.md "DKL fast path"; CPU rather than wall time, the VM being shared), times
  // 1.5 for headroom. The sparse term assumes the full r (the benchmark's smooth embedding keeps
  // fewer inducing inputs, so it overestimates there).
  constexpr double per_iteration = 1.5 * 1.0e-3;       // Adam step, LibTorch call overhead
  constexpr double per_m3 = 1.5 * 7.5e-11;             // Cholesky + inverse + gradient of m×m
  constexpr double per_mp = 1.5 * 3.0e-10;             // forward + backward, one value, one weight
  constexpr double per_np_embed = 1.5 * 1.0e-10;       // forward, one candidate, one weight
  constexpr double per_exact = 1.5 * 1.5e-9;           // exact build, per N·n²
  constexpr double per_sparse = 1.5 * 1.0e-9;          // sparse build, per N·r² (kernel, two solves)
  const double m = double(z.subset), N = double(z.candidates), P = double(z.net_params),
               n = double(z.values), r = double(std::min(z.inducing, z.values));
  double t = double(z.iterations) * (per_iteration + per_m3 * m * m * m + per_mp * m * P);
  t += per_np_embed * N * P;
  t += z.values <= z.exact_max ? per_exact * N * n * n : per_sparse * (2.0 * N * r * r + n * r * r);
  return t;
}

DklFastStats dkl_fast_stats(const Strategy& strategy) {
  const auto* m = dynamic_cast<const ModelStrategy*>(&strategy);
  if (!m) throw std::invalid_argument("dkl_fast_stats: strategy '" + strategy.name() + "' is not dkl or gp");
  return m->stats();
}

std::unique_ptr<Strategy> make_dkl_strategy(const Parameters& params) {
  return std::make_unique<ModelStrategy>(true, params);
}
std::unique_ptr<Strategy> make_gp_strategy(const Parameters& params) {
  return std::make_unique<ModelStrategy>(false, params);
}

namespace {

// The parameters dkl and gp share; lr's default differs.
Schema model_schema(const char* name, const char* summary, double lr) {
  Schema s("strategy", name, summary);
  s.text("scalarizer", "", "SPEC", "spectrum → number, e.g. band_mean:920:960 (empty = total counts)");
  s.text("acquisition", "ei", "ei[:XI] | ucb[:BETA] | pi[:XI] | maxvar | thompson", "acquisition function")
      .normalize = [](const std::string& t) { return acquisition::parse_acquisition(t).spec(); };
  s.integer("train_iters", 100, "Adam iterations per (warm-started) retraining");
  s.integer("init_iters", 200, "Adam iterations of the first training");
  s.number("lr", lr, "Adam learning rate").above(0);
  s.integer("retrain_every", 1, "retrain after every K new measurements").at_least(1);
  s.integer("stop_retrain_after", 0, "stop retraining after this many measurements (0 = never)");
  s.integer("n_init", 10, "Halton points measured before the model decides");
  s.choice("kernel", {"rbf", "matern52"}, "rbf", "GP kernel");
  s.number("min_distance", 0.0, "no proposal closer than this to a measured point").at_least(0).in_unit("px");
  s.fits_model_per_decision();
  return s;
}

}  // namespace

const Schema& dkl_strategy_schema() {
  // Defaults chosen on the nanoparticles phantom with tuning seeds 100–119, not the bench's
  // seeds 0–9 (docs/dkl.md "Why these defaults"): an 8×8 patch reduced to its 16 leading
  // principal components leaves the network little room to memorise the training patches.
  // patch=auto (2026-12-07, docs/dkl.md "patch=auto") keeps 8 there and scales it with the
  // survey's autocorrelation half-width elsewhere (4 on the TBG 4D-STEM survey).
  static const Schema s = [] {
    Schema s = model_schema("dkl",
                            "deep kernel learning (seed 003): survey patches -> MLP -> exact GP on a scalarizer "
                            "(docs/dkl.md)",
                            0.01);
    s.text("patch", "auto", "auto | PX",
           "survey patch size in px; auto: 3.5 autocorrelation half-widths of the survey, rounded to 4, 8, 12 or 16 "
           "(docs/dkl.md \"patch=auto\")")
        .normalize = [](const std::string& t) {
          if (t == "auto") return t;
          std::size_t used = 0;
          long v = 0;
          try {
            v = std::stol(t, &used);
          } catch (const std::exception&) {
            used = 0;
          }
          if (used != t.size() || v < 1) throw std::invalid_argument("must be auto or a whole number of px ≥ 1");
          return std::to_string(v);
        };
    s.integer("stride", 1, "candidate pixel stride").at_least(1).in_unit("px");
    s.text("hidden", "64-64", "W-W-...", "MLP hidden layer widths")
        .normalize = [](const std::string& t) { return (void)parse_layers(t), t; };
    s.integer("embedding", 2, "MLP output (GP input) dimension").at_least(1);
    s.number("weight_decay", 0.0, "AdamW weight decay of the network").at_least(0);
    s.number("min_noise", 1e-4, "lower bound of the GP noise variance (standardised targets)").at_least(0);
    s.choice("targets", {"standard", "rank"}, "standard",
             "standard: standardised scalarizer values; rank: normal scores of their ranks");
    s.integer("pca", 16, "principal components of the patches (0 = the raw patch)");
    s.choice("update", {"exact", "fast"}, "exact",
             "exact: retrain and refit every decision; fast: add each value to the posterior "
             "incrementally and retrain in the background (docs/dkl.md \"Fast path\")");
    s.integer("exact_max", 100, "fast: exact posterior up to this many values, sparse (VFE) beyond").at_least(1);
    s.integer("inducing", 100, "fast: inducing inputs of the sparse posterior").at_least(1);
    s.text("retrain_s", "auto", "auto | SECONDS",
           "fast: modelled duration of a background retrain on the acquisition clock (auto: a cost model of its size)")
        .normalize = [](const std::string& t) {
          if (t == "auto") return t;
          double v = 0.0;
          std::size_t used = 0;
          try {
            v = std::stod(t, &used);
          } catch (const std::exception&) {
            used = 0;
          }
          if (used != t.size() || !std::isfinite(v) || v < 0.0)
            throw std::invalid_argument("must be auto or a number of seconds ≥ 0");
          std::ostringstream out;
          out << v;
          return out.str();
        };
    s.number("surprise", 3.0, "fast: retrain early after a value with |z| above this (0 = never)").at_least(0);
    s.integer("surprise_gap", 3, "fast: a surprise retrain starts at least max(this, 0.1 n) values after the last retrain").at_least(1);
    s.integer("calibrate", 100, "fast: conformal scale of the predictive sd from the last K residuals (0 = off)");
    s.boolean("calibrate_acquisition", false,
              "fast: the acquisition also uses the calibrated sd (false: only the published sd, coverage and surprises)");
    s.integer("retrain_subset", 256, "fast: train the network on at most this many values (random subset)").at_least(2);
    // A constant survey is accepted (the model then falls back to (row, col), as gp), but that
    // is not the plan it makes on a specimen.
    s.plans_from_survey("the survey image's patches, the input of its model");
    return s;
  }();
  return s;
}

const Schema& gp_strategy_schema() {
  static const Schema s =
      model_schema("gp", "Bayesian optimisation with an exact GP on (row, col) only (docs/dkl.md)", 0.05);
  return s;
}

std::string dkl_strategy_help() { return dkl_strategy_schema().help(); }
std::string gp_strategy_help() { return gp_strategy_schema().help(); }

}  // namespace autostem::strategies
