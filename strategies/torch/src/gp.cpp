// Exact GP regression in Eigen (float64): kernels, Cholesky with jitter, marginal likelihood and
// its closed-form gradient, batched prediction. No LibTorch here (compiles fast; used by both the
// "gp" and the "dkl" strategies).
#include <autostem/strategies/dkl.hpp>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <sstream>
#include <stdexcept>

// LAPACK/BLAS (OpenBLAS here, DESIGN.md §11): Eigen alone runs the n³ parts on SSE2 only.
extern "C" {
void dpotrf_(const char* uplo, const int* n, double* a, const int* lda, int* info);
void dpotri_(const char* uplo, const int* n, double* a, const int* lda, int* info);
void dtrsm_(const char* side, const char* uplo, const char* transa, const char* diag,
            const int* m, const int* n, const double* alpha, const double* a, const int* lda,
            double* b, const int* ldb);
}

namespace autostem::strategies::gp {

namespace {

/// In-place lower Cholesky factor of a (n, n) column-major; false when not positive definite
/// (or not finite). Zeroes the strict upper triangle on success.
bool potrf_lower(Eigen::MatrixXd& a) {
  const int n = static_cast<int>(a.rows());
  int info = 0;
  dpotrf_("L", &n, a.data(), &n, &info);
  if (info != 0 || !a.diagonal().allFinite()) return false;
  a.triangularView<Eigen::StrictlyUpper>().setZero();
  return true;
}

/// B ← L⁻¹ B for lower-triangular L (n, n) and B (n, m), in place.
void trsm_lower(const Eigen::MatrixXd& L, Eigen::MatrixXd& B) {
  const int n = static_cast<int>(L.rows()), m = static_cast<int>(B.cols());
  if (n == 0 || m == 0) return;
  const double one = 1.0;
  dtrsm_("L", "L", "N", "N", &n, &m, &one, L.data(), &n, B.data(), &n);
}

constexpr double kSqrt5 = 2.23606797749978969641;

/// Pairwise scaled squared distances r² (n, m).
Eigen::MatrixXd scaled_sqdist(const Eigen::MatrixXd& A, const Eigen::MatrixXd& B,
                              const Eigen::VectorXd& ell) {
  const Eigen::RowVectorXd inv = ell.cwiseInverse().transpose();
  const Eigen::MatrixXd a = A.array().rowwise() * inv.array();
  const Eigen::MatrixXd b = B.array().rowwise() * inv.array();
  Eigen::MatrixXd r2 = (-2.0 * a) * b.transpose();
  r2.colwise() += a.rowwise().squaredNorm();
  r2.rowwise() += b.rowwise().squaredNorm().transpose();
  return r2.cwiseMax(0.0);
}

/// k(r²) in place, and optionally D = ∂k/∂(r²).
void apply_kernel(KernelKind kind, double s2, Eigen::MatrixXd& r2, Eigen::MatrixXd* D) {
  if (kind == KernelKind::rbf) {
    r2 = s2 * (-0.5 * r2.array()).exp();
    if (D) *D = -0.5 * r2;
    return;
  }
  const Eigen::ArrayXXd r = r2.array().sqrt();
  const Eigen::ArrayXXd e = (-kSqrt5 * r).exp();
  if (D) *D = (-s2 * 5.0 / 6.0) * (1.0 + kSqrt5 * r) * e;
  r2 = s2 * (1.0 + kSqrt5 * r + (5.0 / 3.0) * r2.array()) * e;
}

void check_hyper(const Hyper& h, Eigen::Index d, const char* what) {
  if (h.lengthscale.size() != d)
    throw std::invalid_argument(std::string(what) + ": inputs have " + std::to_string(d) +
                                " columns but there are " + std::to_string(h.lengthscale.size()) +
                                " lengthscales");
  if (!(h.lengthscale.array() > 0.0).all() || !h.lengthscale.allFinite() ||
      !(h.outputscale > 0.0) || !std::isfinite(h.outputscale) || !(h.noise >= 0.0) ||
      !std::isfinite(h.noise))
    throw std::invalid_argument(std::string(what) +
                                ": lengthscales and outputscale must be finite and > 0, noise ≥ 0");
}

}  // namespace

KernelKind parse_kernel(const std::string& text) {
  if (text == "rbf") return KernelKind::rbf;
  if (text == "matern52") return KernelKind::matern52;
  throw std::invalid_argument("kernel '" + text + "' is not one of rbf, matern52");
}

const char* to_string(KernelKind k) { return k == KernelKind::rbf ? "rbf" : "matern52"; }

Eigen::MatrixXd kernel(KernelKind kind, const Hyper& h, const Eigen::MatrixXd& A,
                       const Eigen::MatrixXd& B) {
  check_hyper(h, A.cols(), "gp::kernel");
  if (B.cols() != A.cols())
    throw std::invalid_argument("gp::kernel: A has " + std::to_string(A.cols()) +
                                " columns, B " + std::to_string(B.cols()));
  Eigen::MatrixXd k = scaled_sqdist(A, B, h.lengthscale);
  apply_kernel(kind, h.outputscale, k, nullptr);
  return k;
}

Eigen::MatrixXd cholesky_with_jitter(const Eigen::MatrixXd& K, double noise, double& jitter) {
  const Eigen::Index n = K.rows();
  if (K.cols() != n) throw std::invalid_argument("cholesky_with_jitter: K is not square");
  Eigen::MatrixXd L = K;
  L.diagonal().array() += noise;
  jitter = 0.0;
  const double scale = std::abs(K.diagonal().mean());
  for (double j = 1e-8; !potrf_lower(L); j *= 10.0) {
    if (j > 1.001e-3) {
      std::ostringstream msg;
      msg << "kernel matrix (" << n << "×" << n
          << ") is not positive definite even with jitter 1e-3 × mean(diag K) = " << jitter;
      throw NotPositiveDefinite(msg.str());
    }
    jitter = j * scale;
    L = K;
    L.diagonal().array() += noise + jitter;
  }
  return L;
}

void ExactGP::fit(KernelKind kind, Hyper h, Eigen::MatrixXd X, Eigen::VectorXd y) {
  if (X.rows() == 0) throw std::invalid_argument("ExactGP::fit: no training points");
  if (X.rows() != y.size())
    throw std::invalid_argument("ExactGP::fit: " + std::to_string(X.rows()) + " inputs but " +
                                std::to_string(y.size()) + " targets");
  if (!X.allFinite() || !y.allFinite())
    throw std::invalid_argument("ExactGP::fit: inputs or targets are not finite (NaN or inf)");
  check_hyper(h, X.cols(), "ExactGP::fit");
  kind_ = kind;
  h_ = std::move(h);
  X_ = std::move(X);
  y_ = std::move(y);
  K_ = scaled_sqdist(X_, X_, h_.lengthscale);
  apply_kernel(kind_, h_.outputscale, K_, nullptr);
  try {
    L_ = cholesky_with_jitter(K_, h_.noise, jitter_);
  } catch (const NotPositiveDefinite& e) {
    std::ostringstream msg;
    msg << "ExactGP::fit: " << e.what() << " (σ_f² = " << h_.outputscale
        << ", σ_n² = " << h_.noise << ")";
    throw NotPositiveDefinite(msg.str());
  }
  alpha_ = L_.triangularView<Eigen::Lower>().solve(y_);
  L_.triangularView<Eigen::Lower>().transpose().solveInPlace(alpha_);
}

double ExactGP::log_marginal_likelihood() const {
  const Eigen::Index n = X_.rows();
  const double logdet_half = L_.diagonal().array().log().sum();
  return -0.5 * y_.dot(alpha_) - logdet_half -
         0.5 * static_cast<double>(n) * std::log(2.0 * std::numbers::pi);
}

MllGradient ExactGP::gradient() const {
  const Eigen::Index n = X_.rows(), d = X_.cols();
  // G = ½(ααᵀ − K⁻¹), K⁻¹ from the Cholesky factor (LAPACK dpotri).
  Eigen::MatrixXd G = L_;
  {
    const int ni = static_cast<int>(n);
    int info = 0;
    dpotri_("L", &ni, G.data(), &ni, &info);
    if (info != 0) throw NotPositiveDefinite("ExactGP::gradient: the Cholesky factor is singular");
  }
  G.triangularView<Eigen::StrictlyUpper>() = G.transpose();
  G *= -0.5;
  G.noalias() += 0.5 * alpha_ * alpha_.transpose();
  MllGradient g;
  g.noise = G.trace();
  g.outputscale = (G.array() * K_.array()).sum() / h_.outputscale;
  // D = ∂k/∂r², from K (noise-free) without recomputing r² for the RBF.
  Eigen::MatrixXd M;
  if (kind_ == KernelKind::rbf) {
    M = G.array() * K_.array() * -0.5;
  } else {
    Eigen::MatrixXd r2 = scaled_sqdist(X_, X_, h_.lengthscale), D;
    apply_kernel(kind_, h_.outputscale, r2, &D);
    M = G.array() * D.array();
  }
  const Eigen::VectorXd m1 = M.rowwise().sum();
  g.inputs.resize(n, d);
  g.lengthscale.resize(d);
  for (Eigen::Index k = 0; k < d; ++k) {
    const Eigen::VectorXd x = X_.col(k);
    const Eigen::VectorXd Mx = M * x;
    const double l2 = h_.lengthscale[k] * h_.lengthscale[k];
    g.inputs.col(k) = (4.0 / l2) * (x.cwiseProduct(m1) - Mx);
    // Σ_ij M_ij Δ_ij² = 2 Σ_i x_i² (M1)_i − 2 xᵀMx; ∂r²/∂ℓ = −2Δ²/ℓ³.
    const double s = 2.0 * x.cwiseProduct(x).dot(m1) - 2.0 * x.dot(Mx);
    g.lengthscale[k] = -2.0 * s / (l2 * h_.lengthscale[k]);
  }
  return g;
}

void ExactGP::predict(const Eigen::MatrixXd& Xs, Eigen::VectorXd& mean, Eigen::VectorXd& variance,
                      Eigen::Index batch) const {
  if (X_.rows() == 0) throw std::logic_error("ExactGP::predict: fit() first");
  if (Xs.cols() != X_.cols())
    throw std::invalid_argument("ExactGP::predict: candidates have " + std::to_string(Xs.cols()) +
                                " columns, training inputs " + std::to_string(X_.cols()));
  const Eigen::Index N = Xs.rows();
  mean.resize(N);
  variance.resize(N);
  batch = std::max<Eigen::Index>(batch, 1);
  for (Eigen::Index s = 0; s < N; s += batch) {
    const Eigen::Index b = std::min(batch, N - s);
    Eigen::MatrixXd Kst = scaled_sqdist(X_, Xs.middleRows(s, b), h_.lengthscale);  // (n, b)
    apply_kernel(kind_, h_.outputscale, Kst, nullptr);
    mean.segment(s, b).noalias() = Kst.transpose() * alpha_;
    trsm_lower(L_, Kst);
    variance.segment(s, b) =
        (h_.outputscale - Kst.colwise().squaredNorm().transpose().array()).cwiseMax(0.0);
  }
}

Eigen::VectorXd ExactGP::posterior_covariance(const Eigen::MatrixXd& Xs, Eigen::Index c) const {
  if (c < 0 || c >= Xs.rows()) throw std::out_of_range("ExactGP::posterior_covariance: index");
  const Eigen::MatrixXd xc = Xs.row(c);
  Eigen::VectorXd w = kernel(kind_, h_, X_, xc);  // → K⁻¹ k(X, x_c)
  L_.triangularView<Eigen::Lower>().solveInPlace(w);
  L_.triangularView<Eigen::Lower>().transpose().solveInPlace(w);
  Eigen::VectorXd cov = kernel(kind_, h_, Xs, xc);
  const Eigen::Index N = Xs.rows(), batch = 4096;
  for (Eigen::Index s = 0; s < N; s += batch) {
    const Eigen::Index b = std::min(batch, N - s);
    cov.segment(s, b).noalias() -= kernel(kind_, h_, Xs.middleRows(s, b), X_) * w;
  }
  return cov;
}

}  // namespace autostem::strategies::gp
