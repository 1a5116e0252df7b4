#pragma once
// Deep kernel learning (issue 6, seed 003; Wilson et al. 2016, "Deep Kernel Learning", AISTATS)
// and the exact Gaussian process under it. Plain C++ (Eigen): LibTorch stays inside
// strategies/torch/src/dkl.cpp behind DklModel's pimpl.
//
//  - gp::ExactGP: exact GP regression with an RBF or Matérn-5/2 kernel (ARD lengthscales,
//    output scale, Gaussian noise), float64 Cholesky solves with jitter (LAPACK dpotrf/dpotri, BLAS dtrsm), the exact marginal
//    log-likelihood and its closed-form gradient with respect to inputs and hyperparameters
//    (Rasmussen & Williams 2006, eqs. 2.25–2.26, 5.8–5.9), batched predictive mean/variance.
//  - extract_patches(): w×w survey windows around candidate pixels (reflect padding).
//  - DklModel: MLP feature extractor (LibTorch, float32) feeding the ExactGP, trained jointly by
//    Adam on the exact marginal log-likelihood; the GP part is float64 Eigen.
//  - make_dkl_strategy()/make_gp_strategy(): the "dkl" and "gp" strategies (docs/dkl.md).

#include <autostem/core/strategy.hpp>
#include <autostem/core/types.hpp>
#include <autostem/strategies/schema.hpp>

#include <Eigen/Core>

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace autostem::strategies {

namespace gp {

enum class KernelKind { rbf, matern52 };

/// "rbf" or "matern52"; throws std::invalid_argument naming the text otherwise.
KernelKind parse_kernel(const std::string& text);
const char* to_string(KernelKind k);

/// Kernel hyperparameters (natural scale, all > 0).
struct Hyper {
  Eigen::VectorXd lengthscale;  ///< (d,) one per input dimension, input units
  double outputscale = 1.0;     ///< σ_f², units of y²
  double noise = 1e-2;          ///< σ_n², units of y²
};

/// k(a, b) for all rows: A (n, d), B (m, d) → (n, m).
///   rbf:      σ_f² exp(−r²/2),                     r² = Σ_d (a_d − b_d)² / ℓ_d²
///   matern52: σ_f² (1 + √5 r + 5r²/3) exp(−√5 r)   (Rasmussen & Williams eq. 4.17)
/// Throws std::invalid_argument if the column counts differ from lengthscale.size().
Eigen::MatrixXd kernel(KernelKind kind, const Hyper& h, const Eigen::MatrixXd& A,
                       const Eigen::MatrixXd& B);

/// The kernel matrix plus noise could not be factorised even with the largest jitter.
class NotPositiveDefinite : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Lower Cholesky factor L (n, n) of K + noise·I (K (n, n) symmetric, noise ≥ 0), LAPACK dpotrf. When it fails, jitter
/// 1e-8, 1e-7, …, 1e-3 × mean(diag K) is added in turn and reported in `jitter` (0 if none was
/// needed). Throws NotPositiveDefinite naming n and the largest jitter tried when even that
/// fails (an indefinite matrix, or one whose values overflow).
Eigen::MatrixXd cholesky_with_jitter(const Eigen::MatrixXd& K, double noise, double& jitter);

/// Gradient of the marginal log-likelihood (same units as its arguments' reciprocals).
struct MllGradient {
  Eigen::MatrixXd inputs;       ///< (n, d) ∂L/∂X
  Eigen::VectorXd lengthscale;  ///< (d,) ∂L/∂ℓ_d
  double outputscale = 0.0;     ///< ∂L/∂σ_f²
  double noise = 0.0;           ///< ∂L/∂σ_n²
};

/// Exact zero-mean GP regression (standardise y first if it has an offset).
class ExactGP {
 public:
  /// Factorises K + σ_n² I = L Lᵀ for inputs X (n, d) and targets y (n,). When the Cholesky
  /// fails, jitter 1e-8, 1e-7, …, 1e-3 × mean(diag K) is added in turn (jitter() reports the one
  /// used). Throws std::invalid_argument on empty/mismatched/non-finite input or non-positive
  /// hyperparameters; NotPositiveDefinite when even the largest jitter fails (the message
  /// names n, σ_f², σ_n²).
  void fit(KernelKind kind, Hyper h, Eigen::MatrixXd X, Eigen::VectorXd y);

  /// log p(y | X) = −½ yᵀα − Σ log L_ii − (n/2) log 2π, α = (K + σ_n² I)⁻¹ y (R&W eq. 2.30).
  double log_marginal_likelihood() const;

  /// ∂L/∂θ = ½ tr((ααᵀ − K⁻¹) ∂K/∂θ) (R&W eq. 5.9), for the inputs (through r²) and the
  /// hyperparameters; O(n³) for K⁻¹, O(n²d) for the rest.
  MllGradient gradient() const;

  /// Predictive mean and variance of the latent f (noise-free, as scikit-learn's
  /// GaussianProcessRegressor with alpha) at Xs (N, d), in batches of `batch` rows reusing the
  /// Cholesky factor: mean = K*α, var = σ_f² − ‖L⁻¹K*ᵀ‖² (clamped at 0). Results (N,).
  void predict(const Eigen::MatrixXd& Xs, Eigen::VectorXd& mean, Eigen::VectorXd& variance,
               Eigen::Index batch = 2048) const;

  /// Posterior covariance cov(f(x_i), f(x_c)) for all rows x_i of Xs (N,) with x_c = row c of Xs.
  Eigen::VectorXd posterior_covariance(const Eigen::MatrixXd& Xs, Eigen::Index c) const;

  const Hyper& hyper() const { return h_; }
  KernelKind kind() const { return kind_; }
  const Eigen::MatrixXd& inputs() const { return X_; }
  const Eigen::VectorXd& alpha() const { return alpha_; }
  double jitter() const { return jitter_; }
  Eigen::Index size() const { return X_.rows(); }

 private:
  KernelKind kind_ = KernelKind::rbf;
  Hyper h_;
  Eigen::MatrixXd X_;
  Eigen::VectorXd y_, alpha_;
  Eigen::MatrixXd K_;  ///< noise-free kernel matrix
  Eigen::MatrixXd L_;   ///< lower Cholesky factor of K + (σ_n² + jitter) I
  double jitter_ = 0.0;
};

}  // namespace gp

/// Row-major float matrix (patches, one per row).
using PatchMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// Survey windows around candidate pixels.
struct PatchSet {
  PatchMatrix data;              ///< (N, window²) standardised intensities, row-major window
  Eigen::MatrixX2d positions;    ///< (N, 2) candidate centre (row, col), px
  std::size_t window = 0, stride = 1, rows = 0, cols = 0;
  bool constant = false;         ///< the survey has no structure (all pixels equal)
  /// Candidate index for pixel (r, c): the candidate of the stride cell it falls in.
  std::size_t candidate_of(std::size_t r, std::size_t c) const;
};

/// Cuts a window × window patch around every stride-th pixel (rows 0, stride, 2·stride, …;
/// the same for columns). The window of pixel (r, c) covers rows r − ⌊w/2⌋ … r − ⌊w/2⌋ + w − 1;
/// pixels outside the survey are filled by reflection about the edge (numpy "reflect"), so every
/// pixel is a candidate. The image is standardised once (z = (I − mean)/std over the whole
/// survey); a constant survey gives all-zero patches and constant = true.
/// Throws std::invalid_argument if window is 0 or larger than the survey (either side), stride
/// is 0, or the image holds non-finite values.
PatchSet extract_patches(const ImageArray& survey, std::size_t window, std::size_t stride = 1);

/// Half-width (px) of the survey's radially averaged autocorrelation: the lag r at which
/// ρ(r) first falls below ½, linearly interpolated between integer rings, where ρ(r) is the mean
/// over the lags (dy, dx) with round(√(dy² + dx²)) = r of the overlap-normalised autocorrelation
/// Σ_p z(p)·z(p + d) / (number of overlapping pixels) of the standardised survey z (z-score over
/// the whole image, population sd; ρ(0) = 1). A correlation length that does not depend on the
/// intensity scale: ≈ 2.2 px on the 64×64 nanoparticles phantom, ≈ 0.84 px on the 64×64 TBG
/// 4D-STEM survey (docs/dkl.md "patch=auto"). Stops at max_lag_px: returns max_lag_px when ρ is
/// still ≥ ½ there (a lower bound), and min(rows, cols) − 1 caps max_lag_px. Cost ≈ π·r²/2 lags
/// × rows·cols. A constant survey returns 0. Throws std::invalid_argument on an empty image, a
/// non-finite pixel or max_lag_px < 1.
double autocorrelation_half_width(const ImageArray& survey, double max_lag_px = 8.0);

/// Result of auto_patch_size(): the patch and the half-width it came from.
struct AutoPatch {
  std::size_t patch = 8;        ///< px, one of 4, 8, 12, 16 (or the survey's shorter side if smaller)
  double half_width_px = 0.0;   ///< autocorrelation_half_width() (a lower bound when it hit its cap)
};

/// The `dkl` strategy's `patch=auto` rule (docs/dkl.md "patch=auto"): the patch spans
/// kAutoPatchHalfWidths (3.5) autocorrelation half-widths ℓ of the survey, rounded to the nearest
/// of 4, 8, 12, 16 px: 4·clamp(round(3.5·ℓ/4), 1, 4). 3.5 = the patch 8 chosen on the
/// nanoparticles phantom (tuning seeds 100–119) over its median ℓ of 2.24 px (seeds 100–109), so
/// that patch expressed in the survey's own correlation length carries over to other surveys
/// (the 0.84 px TBG survey gets 4). Never larger than the survey's shorter side; a constant
/// survey gets 8 (it falls back to coordinates anyway). Throws as autocorrelation_half_width().
AutoPatch auto_patch_size(const ImageArray& survey);
inline constexpr double kAutoPatchHalfWidths = 3.5;

/// Principal-component scores of the rows of X (N, D): X − mean(X) projected onto the k leading
/// eigenvectors of the D×D covariance (Eigen SelfAdjointEigenSolver, float64), scaled by one
/// common factor so that the k scores have mean variance 1 (not whitened: the leading component
/// keeps the largest spread). Used by the `dkl` strategy (`pca=K`) to feed the network K smooth
/// survey features instead of D raw pixels: the components are estimated from every candidate
/// patch (the whole survey, no labels needed), and the noise-dominated directions in which a
/// network can memorise the few training patches are dropped. `explained` (optional) receives
/// the fraction of the total variance the k components carry. Result (N, k). Throws
/// std::invalid_argument if k is 0 or larger than D, or X has fewer than 2 rows.
PatchMatrix principal_component_scores(const PatchMatrix& X, std::size_t k,
                                       double* explained = nullptr);

/// Options of DklModel.
struct DklOptions {
  std::vector<int> hidden{64, 64};  ///< hidden layer widths of the MLP (ReLU)
  int embedding = 2;                ///< output (feature) dimension fed to the GP
  gp::KernelKind kernel = gp::KernelKind::rbf;
  double learning_rate = 0.01;      ///< Adam step
  std::uint64_t seed = 0;           ///< weights' initialisation (own generator)
  double min_noise = 1e-4;          ///< σ_n² floor (units of standardised y)
  double weight_decay = 0.0;        ///< L2 penalty on the MLP weights (Adam weight_decay;
                                    ///< a Gaussian prior on the weights); not on the GP
                                    ///< hyperparameters
};

/// The DKL model: MLP (LibTorch float32) → embedding → ExactGP (Eigen float64). Training keeps
/// the weights and Adam's state between calls (warm start). Deterministic for a seed on one
/// thread (training always runs on one LibTorch thread; prediction uses the caller's setting).
class DklModel {
 public:
  /// Throws std::invalid_argument for input_dim 0, an empty or non-positive layer size.
  DklModel(std::size_t input_dim, DklOptions options);
  ~DklModel();
  DklModel(DklModel&&) noexcept;
  DklModel& operator=(DklModel&&) noexcept;

  /// `iterations` Adam steps on −L/n (L the exact marginal log-likelihood, y standardised by the
  /// caller) for patches X (n, input_dim), targets y (n,); the GP gradient is closed form and
  /// only the MLP is back-propagated (embedding.backward(∂(−L/n)/∂z)). Leaves gp() fitted on the
  /// final embedding. Returns the final L/n. Throws what ExactGP::fit throws.
  double train(const PatchMatrix& X, const Eigen::VectorXd& y, int iterations);

  /// Refits gp() on X, y with the current weights and hyperparameters (no training).
  void refit(const PatchMatrix& X, const Eigen::VectorXd& y);

  /// Embedding z (N, embedding) of patches X (N, input_dim), in batches, no gradient.
  Eigen::MatrixXd embed(const PatchMatrix& X) const;

  const gp::ExactGP& gp() const;
  gp::Hyper hyper() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Counters of the dkl strategy's fast path (update=fast; all 0 with update=exact).
struct DklFastStats {
  std::size_t retrains_started = 0, retrains_applied = 0;
  std::size_t waits = 0;      ///< decisions that waited for a retrain slower than retrain_s
  std::size_t surprises = 0;  ///< values with |z| > surprise (each may start a retrain)
  std::size_t scored = 0;     ///< values scored against the predictive distribution before use
  std::size_t covered95 = 0;  ///< of those, inside the 95 % predictive interval (|z| ≤ 1.96)
  double last_retrain_s = 0.0;  ///< wall time of the last applied retrain (s)
  double last_modelled_s = 0.0;  ///< its modelled duration (retrain_s, or the cost model's for auto)
  double calibration = 1.0;     ///< the conformal scale of the predictive sd at the end (1 = off)
  bool sparse = false;          ///< the posterior is the sparse (VFE) one
  std::size_t posterior_bytes = 0;
  std::vector<std::size_t> retrain_starts;  ///< values n when each retrain started (the first fit included)
};

/// The sizes that set what one background retrain of update=fast costs.
struct DklRetrainSize {
  std::size_t iterations = 100;  ///< Adam iterations (train_iters)
  std::size_t subset = 256;      ///< m, values the network is trained on (≤ retrain_subset)
  std::size_t candidates = 0;    ///< N, candidates embedded (survey pixels / stride²)
  std::size_t net_params = 0;    ///< weights of the MLP (input·h₁ + h₁·h₂ + … + h_L·embedding)
  std::size_t values = 0;        ///< n, values in the rebuilt posterior
  std::size_t exact_max = 100;   ///< the posterior is exact while n ≤ this
  std::size_t inducing = 100;    ///< r of the sparse posterior (min(r, n) used)
};

/// Modelled wall time (s) of one background retrain on one core of the reference machine (the
/// 2-core AMD EPYC VM of docs/performance.md, CPU time of bench_dkl's BM_BackgroundRetrain,
/// plus 50 % headroom): iterations × (m³ Cholesky/inverse + m·P network passes +
/// a fixed per-iteration cost) + N·P (embedding) + the posterior's build (N·n² exact; 2·N·r²
/// + n·r² sparse). A deterministic function of the sizes, so that `retrain_s=auto` keeps a
/// simulated run reproducible for a seed (docs/dkl.md "Fast path"). Never throws.
double dkl_modelled_retrain_s(const DklRetrainSize& size);

/// The counters of a strategy made by make_dkl_strategy()/make_gp_strategy(); throws
/// std::invalid_argument for any other strategy.
DklFastStats dkl_fast_stats(const Strategy& strategy);

/// Strategy "dkl" (patches of the survey → DKL) and "gp" (the same GP on (row, col) only).
/// Parameters and their defaults are listed by strategy_help("dkl") and in docs/dkl.md.
/// Throw std::invalid_argument on an unknown key or a malformed value.
std::unique_ptr<Strategy> make_dkl_strategy(const Parameters& params);
std::unique_ptr<Strategy> make_gp_strategy(const Parameters& params);

/// The parameter schemas of the two strategies and their help texts (Schema::help).
const Schema& dkl_strategy_schema();
const Schema& gp_strategy_schema();
std::string dkl_strategy_help();
std::string gp_strategy_help();

}  // namespace autostem::strategies
