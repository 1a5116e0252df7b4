#pragma once
// The DKL fast path (issue 22): a GP posterior over a FIXED candidate set (every survey pixel's
// embedding) that takes one new training point at a time in O(N·n) (exact) or O(N·r) (sparse),
// without refactorising anything. Plain Eigen, float64; no LibTorch (compiles fast).
//
//  - exact (n ≤ exact_max): the lower Cholesky factor L of K + σ_n² I grows by one row per point
//    (l = L⁻¹k, d = √(k(x,x) + σ_n² − ‖l‖²)); the cross terms V = L⁻¹ K(X, C) (n, N) gain the row
//    v = (k(x, C) − lᵀV)/d, so var(c) −= v(c)² and the mean's two projections gain v(c)·β_new
//    (Rasmussen & Williams 2006, Alg. 2.1; the row-append update of limbo's `kernel_lf`).
//  - sparse (n > exact_max at build time): the variational free-energy posterior of Titsias 2009
//    ("Variational learning of inducing variables in sparse Gaussian processes", AISTATS; SGPR)
//    with r inducing inputs Z picked among the training inputs by greedy conditional variance
//    (pivoted Cholesky; Burt, Rasmussen & van der Wilk 2020, JMLR, §4.1). Whitened: A = Luu⁻¹
//    K(Z, C) (r, N), Q = I + σ_n⁻² Σ_i a_i a_iᵀ (r, r, Eigen LLT, rank-1 updated per point),
//    mean(c) = σ_n⁻² a(c)ᵀ Q⁻¹ Σ_i a_i y_i, var(c) = σ_f² − ‖a(c)‖² + a(c)ᵀ Q⁻¹ a(c); a new
//    point changes var(c) by −σ_n⁻² (a(c)ᵀQ⁻¹a_n)² / (1 + σ_n⁻² a_nᵀQ⁻¹a_n) (Sherman–Morrison).
//
// Targets enter raw: the posterior keeps the projections of y and of 1 separately, so the mean
// for targets standardised with ANY (offset m, scale s) is (μ_y − m μ_1)/s — exactly what a refit
// on the re-standardised targets gives, without redoing anything when m and s move.
//
// Memory for N candidates: exact 8·N·n bytes (V) + 8·n² (L); sparse 8·N·r (A) + 8·r² — 52 MB
// for N = 65,536 and n or r = 100 (the strategy's defaults); the build needs another 8·N·r
// temporarily (sparse).

#include <autostem/strategies/dkl.hpp>

#include <Eigen/Cholesky>
#include <Eigen/Core>

#include <cstddef>
#include <vector>

namespace autostem::strategies::gp {

/// Options of IncrementalPosterior::build.
struct IncrementalOptions {
  std::size_t exact_max = 100;  ///< build an exact posterior while n ≤ this, else sparse
  std::size_t inducing = 100;   ///< r, inducing inputs of the sparse posterior (≤ n)
};

class IncrementalPosterior {
 public:
  /// Builds the posterior of training candidates `idx` (rows of `candidates`, (N, d) inputs)
  /// with raw targets `y` (n,) under kernel `kind`, hyperparameters `h` (in units of the
  /// standardised targets, as trained). Exact when n ≤ options.exact_max, else sparse (VFE).
  /// O(N·n²) exact, O(N·r² + n·r²) sparse. Throws std::invalid_argument on sizes that do not
  /// match, an index ≥ N, non-finite input or bad hyperparameters; NotPositiveDefinite when
  /// K + σ_n² I cannot be factorised even with the largest jitter.
  static IncrementalPosterior build(KernelKind kind, const Hyper& h, Eigen::MatrixXd candidates,
                                    const std::vector<std::size_t>& idx, const Eigen::VectorXd& y,
                                    const IncrementalOptions& options);

  /// Adds candidate `k` measured at raw value `y` (finite): O(N·n) exact, O(N·r + r²) sparse.
  /// Throws std::out_of_range for k ≥ N, std::invalid_argument for a non-finite y.
  void add(std::size_t k, double y);

  /// Latent predictive mean for targets standardised as (y − offset)/scale, at every candidate
  /// (N,); scale > 0.
  Eigen::VectorXd mean(double offset, double scale) const;
  /// Latent predictive variance (N,), units of the standardised targets², clamped at 0.
  const Eigen::VectorXd& variance() const { return var_; }
  /// mean and variance at one candidate (standardised as in mean()).
  double mean_at(std::size_t k, double offset, double scale) const;
  /// Posterior covariance cov(f(c), f(x_k)) for every candidate c (N,) (kriging believer).
  Eigen::VectorXd covariance_with(std::size_t k) const;

  bool sparse() const { return sparse_; }
  std::size_t size() const { return n_; }
  std::size_t inducing() const { return static_cast<std::size_t>(A_.rows()); }
  const Hyper& hyper() const { return h_; }
  const Eigen::MatrixXd& candidates() const { return C_; }
  /// Bytes held by the per-candidate matrices (V or A, the candidate inputs, mean/var vectors).
  std::size_t bytes() const;

 private:
  void add_exact(std::size_t k, double y);
  void add_sparse(std::size_t k, double y);

  KernelKind kind_ = KernelKind::rbf;
  Hyper h_;
  Eigen::MatrixXd C_;   ///< (N, d) candidate inputs
  bool sparse_ = false;
  std::size_t n_ = 0;
  std::vector<std::size_t> idx_;  ///< training candidates, in order
  Eigen::VectorXd var_;            ///< (N,) latent variance
  Eigen::VectorXd mu_y_, mu_1_;    ///< (N,) projections of y and of 1 (see mean())
  // Exact: L (n, n) in the top-left of a growing buffer; V rows = training points (row-major).
  Eigen::MatrixXd L_;
  Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> V_;
  Eigen::VectorXd beta_y_, beta_1_;  ///< L⁻¹y, L⁻¹1 (n,)
  // Sparse: A = Luu⁻¹ K(Z, C) (r, N); Q's factor; b_y = Σ a_i y_i, b_1 = Σ a_i.
  Eigen::MatrixXd A_;
  Eigen::LLT<Eigen::MatrixXd> Q_;
  Eigen::VectorXd b_y_, b_1_;
};

}  // namespace autostem::strategies::gp
