// The DKL fast path: exact row-append and sparse (VFE) GP posteriors over a fixed candidate set
// (include/autostem/strategies/incremental_gp.hpp). Eigen only, float64.
#include <autostem/strategies/incremental_gp.hpp>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace autostem::strategies::gp {

namespace {

Eigen::MatrixXd rows_of(const Eigen::MatrixXd& C, const std::vector<std::size_t>& idx) {
  Eigen::MatrixXd X(static_cast<Eigen::Index>(idx.size()), C.cols());
  for (std::size_t i = 0; i < idx.size(); ++i) X.row(Eigen::Index(i)) = C.row(Eigen::Index(idx[i]));
  return X;
}

/// Greedy conditional-variance selection (pivoted Cholesky of K(X, X)): up to r rows of X, each
/// the one with the largest posterior variance given those chosen before; stops early when every
/// remaining variance is below 1e-10·σ_f² (the chosen rows already span the rest).
std::vector<Eigen::Index> select_inducing(KernelKind kind, const Hyper& h, const Eigen::MatrixXd& X,
                                          std::size_t r) {
  const Eigen::Index n = X.rows();
  Eigen::VectorXd d = Eigen::VectorXd::Constant(n, h.outputscale);
  Eigen::MatrixXd G(n, static_cast<Eigen::Index>(std::min<std::size_t>(r, std::size_t(n))));
  std::vector<Eigen::Index> chosen;
  for (Eigen::Index j = 0; j < G.cols(); ++j) {
    Eigen::Index best = 0;
    const double dmax = d.maxCoeff(&best);
    if (!(dmax > 1e-10 * h.outputscale)) break;
    Eigen::VectorXd e = kernel(kind, h, X, X.row(best));
    if (j > 0) e.noalias() -= G.leftCols(j) * G.row(best).leftCols(j).transpose();
    e /= std::sqrt(dmax);
    G.col(j) = e;
    d -= e.cwiseAbs2();
    d[best] = 0.0;
    chosen.push_back(best);
  }
  return chosen;
}

}  // namespace

IncrementalPosterior IncrementalPosterior::build(KernelKind kind, const Hyper& h,
                                                 Eigen::MatrixXd candidates,
                                                 const std::vector<std::size_t>& idx,
                                                 const Eigen::VectorXd& y,
                                                 const IncrementalOptions& options) {
  const auto N = static_cast<std::size_t>(candidates.rows());
  if (idx.empty()) throw std::invalid_argument("IncrementalPosterior::build: no training points");
  if (idx.size() != static_cast<std::size_t>(y.size()))
    throw std::invalid_argument("IncrementalPosterior::build: " + std::to_string(idx.size()) +
                                " training indices but " + std::to_string(y.size()) + " targets");
  for (std::size_t k : idx)
    if (k >= N)
      throw std::invalid_argument("IncrementalPosterior::build: training index " + std::to_string(k) +
                                  " ≥ " + std::to_string(N) + " candidates");
  if (!candidates.allFinite() || !y.allFinite())
    throw std::invalid_argument("IncrementalPosterior::build: inputs or targets are not finite");
  if (h.lengthscale.size() != candidates.cols())
    throw std::invalid_argument("IncrementalPosterior::build: inputs have " +
                                std::to_string(candidates.cols()) + " columns but there are " +
                                std::to_string(h.lengthscale.size()) + " lengthscales");
  if (options.inducing == 0)
    throw std::invalid_argument("IncrementalPosterior::build: inducing must be ≥ 1");
  IncrementalPosterior p;
  p.kind_ = kind;
  p.h_ = h;
  p.C_ = std::move(candidates);
  p.idx_ = idx;
  p.n_ = idx.size();
  const auto n = static_cast<Eigen::Index>(idx.size());
  const Eigen::MatrixXd X = rows_of(p.C_, idx);
  const Eigen::VectorXd ones = Eigen::VectorXd::Ones(n);
  if (idx.size() <= options.exact_max) {
    double jitter = 0.0;
    const Eigen::MatrixXd L = cholesky_with_jitter(kernel(kind, h, X, X), h.noise, jitter);
    p.h_.noise = h.noise + jitter;  // the factor's effective noise, kept for the appended rows
    const Eigen::Index cap = n + 32;  // room for a few appends before the first grow
    p.L_ = Eigen::MatrixXd::Zero(cap, cap);
    p.L_.topLeftCorner(n, n) = L;
    Eigen::MatrixXd Kxc = kernel(kind, h, X, p.C_);  // (n, N)
    L.triangularView<Eigen::Lower>().solveInPlace(Kxc);
    p.V_.resize(cap, p.C_.rows());
    p.V_.topRows(n) = Kxc;
    p.beta_y_ = L.triangularView<Eigen::Lower>().solve(y);
    p.beta_1_ = L.triangularView<Eigen::Lower>().solve(ones);
    p.var_ = (h.outputscale - Kxc.colwise().squaredNorm().transpose().array()).cwiseMax(0.0);
    p.mu_y_.noalias() = Kxc.transpose() * p.beta_y_;
    p.mu_1_.noalias() = Kxc.transpose() * p.beta_1_;
    return p;
  }
  p.sparse_ = true;
  const std::vector<Eigen::Index> zi = select_inducing(kind, h, X, options.inducing);
  Eigen::MatrixXd Z(static_cast<Eigen::Index>(zi.size()), X.cols());
  for (std::size_t j = 0; j < zi.size(); ++j) Z.row(Eigen::Index(j)) = X.row(zi[j]);
  double jitter = 0.0;
  const Eigen::MatrixXd Luu = cholesky_with_jitter(kernel(kind, h, Z, Z), 1e-8 * h.outputscale, jitter);
  p.A_ = kernel(kind, h, Z, p.C_);  // (r, N)
  Luu.triangularView<Eigen::Lower>().solveInPlace(p.A_);
  const Eigen::Index r = p.A_.rows();
  Eigen::MatrixXd Af(r, n);
  for (Eigen::Index i = 0; i < n; ++i) Af.col(i) = p.A_.col(Eigen::Index(idx[std::size_t(i)]));
  Eigen::MatrixXd Q = Eigen::MatrixXd::Identity(r, r);
  Q.selfadjointView<Eigen::Lower>().rankUpdate(Af, 1.0 / h.noise);
  Q.triangularView<Eigen::StrictlyUpper>() = Q.transpose();
  p.Q_.compute(Q);
  if (p.Q_.info() != Eigen::Success)
    throw NotPositiveDefinite("IncrementalPosterior::build: I + Aᵀ A / σ_n² is not positive definite");
  p.b_y_.noalias() = Af * y;
  p.b_1_.noalias() = Af * ones;
  {
    Eigen::MatrixXd B = p.A_;  // L_Q⁻¹ A, (r, N), a temporary
    p.Q_.matrixL().solveInPlace(B);
    p.var_ = (h.outputscale - p.A_.colwise().squaredNorm().transpose().array() +
              B.colwise().squaredNorm().transpose().array())
                 .cwiseMax(0.0);
  }
  Eigen::MatrixXd m(r, 2);
  m.col(0) = p.Q_.solve(p.b_y_) / h.noise;
  m.col(1) = p.Q_.solve(p.b_1_) / h.noise;
  const Eigen::MatrixXd mu = p.A_.transpose() * m;
  p.mu_y_ = mu.col(0);
  p.mu_1_ = mu.col(1);
  return p;
}

void IncrementalPosterior::add(std::size_t k, double y) {
  if (k >= static_cast<std::size_t>(C_.rows()))
    throw std::out_of_range("IncrementalPosterior::add: candidate " + std::to_string(k) + " of " +
                            std::to_string(C_.rows()));
  if (!std::isfinite(y)) throw std::invalid_argument("IncrementalPosterior::add: the value is not finite");
  if (sparse_) add_sparse(k, y);
  else add_exact(k, y);
  idx_.push_back(k);
  ++n_;
}

void IncrementalPosterior::add_exact(std::size_t k, double y) {
  const auto n = static_cast<Eigen::Index>(n_);
  const Eigen::VectorXd kc = kernel(kind_, h_, C_, C_.row(Eigen::Index(k)));  // (N,)
  Eigen::VectorXd l(n);
  for (Eigen::Index i = 0; i < n; ++i) l[i] = kc[Eigen::Index(idx_[std::size_t(i)])];
  L_.topLeftCorner(n, n).triangularView<Eigen::Lower>().solveInPlace(l);
  const double d2 = h_.outputscale + h_.noise - l.squaredNorm();
  const double d = std::sqrt(std::max(d2, 1e-12 * h_.outputscale));
  Eigen::VectorXd v = kc;
  v.noalias() -= V_.topRows(n).transpose() * l;
  v /= d;
  if (n + 1 > L_.rows()) {  // grow both buffers by a quarter (at least 32 rows): O(N) amortised
    const Eigen::Index cap = L_.rows() + std::max<Eigen::Index>(32, L_.rows() / 4);
    Eigen::MatrixXd L2 = Eigen::MatrixXd::Zero(cap, cap);
    L2.topLeftCorner(n, n) = L_.topLeftCorner(n, n);
    L_.swap(L2);
    Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> V2(cap, V_.cols());
    V2.topRows(n) = V_.topRows(n);
    V_.swap(V2);
  }
  L_.row(n).head(n) = l.transpose();
  L_(n, n) = d;
  V_.row(n) = v.transpose();
  const double by = (y - l.dot(beta_y_)) / d, b1 = (1.0 - l.dot(beta_1_)) / d;
  beta_y_.conservativeResize(n + 1);
  beta_1_.conservativeResize(n + 1);
  beta_y_[n] = by;
  beta_1_[n] = b1;
  var_ = (var_.array() - v.array().square()).cwiseMax(0.0);
  mu_y_ += by * v;
  mu_1_ += b1 * v;
}

void IncrementalPosterior::add_sparse(std::size_t k, double y) {
  const Eigen::VectorXd a = A_.col(Eigen::Index(k));
  const Eigen::VectorXd u = Q_.solve(a);  // with the old Q
  const double den = h_.noise + a.dot(u);
  Q_.rankUpdate(a, 1.0 / h_.noise);
  b_y_ += y * a;
  b_1_ += a;
  Eigen::MatrixXd rhs(A_.rows(), 3);
  rhs.col(0) = u;
  rhs.col(1) = Q_.solve(b_y_) / h_.noise;
  rhs.col(2) = Q_.solve(b_1_) / h_.noise;
  const Eigen::MatrixXd out = A_.transpose() * rhs;  // one pass over A: (N, 3)
  var_ = (var_.array() - out.col(0).array().square() / den).cwiseMax(0.0);
  mu_y_ = out.col(1);
  mu_1_ = out.col(2);
}

Eigen::VectorXd IncrementalPosterior::mean(double offset, double scale) const {
  return (mu_y_ - offset * mu_1_) / scale;
}

double IncrementalPosterior::mean_at(std::size_t k, double offset, double scale) const {
  return (mu_y_[Eigen::Index(k)] - offset * mu_1_[Eigen::Index(k)]) / scale;
}

Eigen::VectorXd IncrementalPosterior::covariance_with(std::size_t k) const {
  if (k >= static_cast<std::size_t>(C_.rows()))
    throw std::out_of_range("IncrementalPosterior::covariance_with: candidate " + std::to_string(k));
  Eigen::VectorXd cov = kernel(kind_, h_, C_, C_.row(Eigen::Index(k)));
  if (sparse_) {
    const Eigen::VectorXd a = A_.col(Eigen::Index(k));
    const Eigen::VectorXd w = a - Q_.solve(a);
    cov.noalias() -= A_.transpose() * w;
  } else {
    const auto n = static_cast<Eigen::Index>(n_);
    const Eigen::VectorXd vk = V_.topRows(n).col(Eigen::Index(k));
    cov.noalias() -= V_.topRows(n).transpose() * vk;
  }
  return cov;
}

std::size_t IncrementalPosterior::bytes() const {
  const auto s = sizeof(double);
  return s * static_cast<std::size_t>(C_.size() + V_.size() + L_.size() + A_.size() + var_.size() +
                                      mu_y_.size() + mu_1_.size());
}

}  // namespace autostem::strategies::gp
