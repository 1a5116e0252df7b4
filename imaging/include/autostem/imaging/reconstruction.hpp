#pragma once
// Reconstruction of a full map from sparse samples (DESIGN.md §7 "compressed sensing", §10) and
// of a whole spectrum image from sparsely measured spectra (low rank). Used by the `cs` strategy
// for its prediction map, by `autostem reconstruct`, and by the benchmarks.
//
// Samples sit at the pixel they round to (as the metrics' inpaint_nearest); several samples on
// one pixel are averaged and that pixel's data weight counts them. Positions that are not finite
// or round outside the map are ignored.
//
// Methods (docs/compressed-sensing.md compares them):
//   nearest     Voronoi fill (autostem::inpaint_nearest, the metrics' fixed inpainting).
//   linear      piecewise-linear interpolation on the Delaunay triangulation of the sampled pixels
//               (Bowyer–Watson with exact integer predicates); nearest outside the convex hull.
//   biharmonic  the biharmonic equation with the sampled pixels as Dirichlet data, discretised as
//               scikit-image 0.19's inpaint_biharmonic (13-point stencil, truncated "reflect"
//               stencils within 2 px of the border, result clipped to the samples' range).
//   tv          total-variation regularised fit, Chambolle–Pock primal-dual (Alg. 1).
//   particles   spherical particles as a parametric model (projected thickness of a sphere,
//               fitted to the samples around each bright maximum of the biharmonic fill) plus the
//               biharmonic fill of the residual; for specimens of near-spherical particles.
//   fista       ℓ1 sparsity of the orthonormal 2-D DCT-II, monotone FISTA (MFISTA), on FFTW
//               (private to the imaging library; fista.hpp).
//
// Data weights of tv and fista: w_i = n_i / max(y_i, 1) for noise = "poisson" (the inverse
// variance of the mean of n_i Poisson counts ≈ y_i / n_i), w_i = n_i for noise = "uniform";
// normalised so that max w = 1.

#include <autostem/core/types.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

namespace autostem {

/// Options of reconstruct(). Iterative solvers map the values to [0, 1] by the samples' range
/// (max − min) and stop when the primal image's RMS change per iteration, RMS(x_k − x_{k−1}),
/// falls below `tolerance` in those units, or after `max_iterations`.
struct ReconstructionOptions {
  std::string method = "biharmonic";  ///< nearest | linear | biharmonic | tv | particles | fista
  std::string noise = "poisson";      ///< data weights of tv / fista: poisson | uniform
  /// tv: regularisation weight. With the values mapped to [0, 1] by the samples' range, the
  /// objective is ½ Σ_i w_i (x_i − y_i)² + tv_weight·(n/N)·TV(x) (n samples, N pixels: the data
  /// term has n terms and TV has N, so tv_weight means the same at every sampling fraction).
  double tv_weight = 0.1;
  /// fista: λ relative to λ_max = ‖∇f(0)‖_∞ over the non-DC coefficients (the smallest λ for
  /// which every non-DC coefficient is 0); the DC coefficient is not penalised.
  double fista_lambda = 0.01;
  /// 100: on the comparison images (docs/compressed-sensing.md) more iterations did not raise
  /// fista's PSNR, and lowered tv's (early stopping from the linear fill regularises).
  std::size_t max_iterations = 100;
  double tolerance = 1e-5;
  /// particles: a maximum of the smoothed biharmonic fill is a particle candidate when it exceeds
  /// median + particle_threshold·(max − median), in (0, 1).
  double particle_threshold = 0.35;
  /// particles: largest sphere radius fitted (px, ≥ 1); also sets the fit window (±(⅔·r + 1) px).
  double particle_max_radius_px = 15.0;
  /// Record the objective after every iteration in the report (costs one extra image-domain
  /// pass per iteration for tv).
  bool record_objective = false;
};

/// What an iterative solver did.
struct ReconstructionReport {
  std::string method;
  std::size_t iterations = 0;      ///< 0 for the direct methods
  bool converged = false;          ///< stopping rule met before max_iterations (direct: true)
  double objective_start = 0.0;    ///< objective at the initial image (tv, fista)
  double objective_end = 0.0;      ///< objective at the returned image (tv, fista)
  std::vector<double> objective;   ///< per iteration when record_objective (tv, fista)
};

/// Samples binned onto the pixel grid: one entry per sampled pixel, in ascending flat
/// (row-major) index order.
struct PixelSamples {
  std::size_t rows = 0, cols = 0;
  std::vector<std::size_t> index;  ///< flat index row × cols + col
  std::vector<double> value;       ///< mean of the samples on that pixel
  std::vector<double> count;       ///< how many samples were averaged (≥ 1)
  std::size_t size() const { return index.size(); }
};

/// Bins samples onto the (rows, cols) grid: positions (n,) in the survey pixel frame, values (n,)
/// in any unit. Throws std::invalid_argument on a size mismatch, a zero extent, a non-finite
/// value, or when no position lands in the map ("no samples").
PixelSamples bin_samples(std::span<const Position> positions, std::span<const double> values,
                         std::size_t rows, std::size_t cols);

/// Data weights of tv / fista for the binned samples (see the header comment), max = 1.
/// Throws std::invalid_argument for an unknown noise model, listing poisson, uniform.
std::vector<double> data_weights(const PixelSamples& samples, const std::string& noise);

/// The full (rows, cols) map reconstructed from scattered samples with options.method, in the
/// values' unit. Every method reproduces the sampled pixels exactly except tv and fista, which
/// fit them in the weighted least-squares sense. report (optional) receives the iteration count
/// and objectives. Throws std::invalid_argument on bad samples (see bin_samples), an unknown
/// method (listing the valid ones), a non-positive or non-finite tv_weight / fista_lambda / tolerance, or max_iterations = 0.
ImageArray reconstruct(std::span<const Position> positions, std::span<const double> values,
                       std::size_t rows, std::size_t cols, const ReconstructionOptions& options,
                       ReconstructionReport* report = nullptr);

/// reconstruct() on already binned samples.
ImageArray reconstruct(const PixelSamples& samples, const ReconstructionOptions& options,
                       ReconstructionReport* report = nullptr);

/// Every method name reconstruct() knows, sorted (the built-in ones and any registered).
std::vector<std::string> reconstruction_methods();

/// A reconstruction method added from outside the imaging library (e.g. an experiment or a test).
using ReconstructionMethod = std::function<ImageArray(
    const PixelSamples&, const ReconstructionOptions&, ReconstructionReport*)>;

/// Registers (or replaces, a built-in one included) a method under `name`; thread-safe. Throws
/// std::invalid_argument for an empty name or an empty function.
void register_reconstruction_method(const std::string& name, ReconstructionMethod method);

// ----- individual methods (same samples as reconstruct(); shapes (rows, cols)) -----

/// Piecewise-linear interpolation on the Delaunay triangulation of the sampled pixel centres
/// (Bowyer 1981; Watson 1981; point location by a remembering stochastic walk, Devillers, Pion
/// & Teillaud 2002), exact orientation / in-circle predicates in 128-bit integers, so no
/// tolerance is involved. Pixels outside the convex hull (or in a hull gap near the bounding
/// triangle) take the nearest sample's value. Fewer than 3 non-collinear samples → nearest.
ImageArray reconstruct_linear(const PixelSamples& samples);

/// Biharmonic inpainting as scikit-image 0.19.3 skimage.restoration.inpaint_biharmonic
/// (Damelin & Hoang 2018): for every unknown pixel the discrete biharmonic operator (laplace∘
/// laplace of a delta, 13 points; near the border the laplacians run on the truncated 5×5 window
/// with "reflect" edges, as skimage does) must vanish, with the sampled pixels as known values;
/// the sparse (unknowns × unknowns) system is solved directly with Eigen::SparseLU (COLAMD
/// ordering), then the map is clipped to [min, max] of the samples. Direct solver: no stopping
/// rule. Throws std::runtime_error if the factorisation fails.
ImageArray reconstruct_biharmonic(const PixelSamples& samples);

/// Total-variation regularised reconstruction: with the values mapped to [0, 1] by the samples'
/// range, minimises
///   E(x) = ½ Σ_{i sampled} w_i (x_i − y_i)² + μ Σ_pixels |∇x|₂,  μ = tv_weight·n/N,
/// (reported multiplied by range², i.e. in the data's units squared), ∇ by forward differences with Neumann borders, with Chambolle & Pock 2011 (J. Math. Imaging
/// Vis. 40, 120), Algorithm 1: θ = 1, τ = σ = 1/√8 (‖∇‖² ≤ 8), dual prox = projection onto
/// the μ-balls, primal prox per pixel (x + τ w y)/(1 + τ w). Starts from the linear fill.
/// Stopping rule: RMS(x_k − x_{k−1}) < tolerance (normalised units, checked every iteration) or
/// max_iterations. Primal–dual iterates are not monotone in E; E(final) ≤ E(start) is typical
/// and tested, not guaranteed.
ImageArray reconstruct_tv(const PixelSamples& samples, const ReconstructionOptions& options,
                          ReconstructionReport* report = nullptr);

/// Spherical-particle model plus biharmonic residual ("particles"). HAADF intensity of an
/// amorphous or randomly oriented particle is ≈ proportional to its projected thickness
/// (incoherent Z-contrast imaging; e.g. Pennycook & Jesson 1991), and a sphere of radius ρ
/// projects to a chord profile 2√(ρ² − d²). Steps: (1) f = reconstruct_biharmonic(samples);
/// (2) candidates = 9×9 local maxima of f smoothed by σ = 1 px above median + particle_threshold ·
/// (max − median); (3) for each, the samples within ±(⅔·particle_max_radius_px + 1) px (≥ 8 of
/// them) are fitted by A·√(1 − d²/ρ²)₊ + offset (Levenberg–Marquardt, Eigen's unsupported
/// NonLinearOptimization, numerical Jacobian; stopping: MINPACK's default tolerances or 400
/// evaluations); fits with A ≤ 0 or A > 1.5 × the window's sample range, ρ outside [0.5, particle_max_radius_px] or a centre moved
/// > 3 px are dropped; (4) returns Σ fitted spheres (offset dropped) + biharmonic fill of the
/// samples minus the spheres. Reproduces the samples exactly like biharmonic; with no particle
/// kept it is biharmonic. report->iterations = particles kept. Throws std::invalid_argument on
/// options out of range. Not for atomic-resolution images (columns are not spheres: measured
/// worse than biharmonic on SrTiO3 and graphene, docs/compressed-sensing.md).
ImageArray reconstruct_particles(const PixelSamples& samples, const ReconstructionOptions& options,
                                 ReconstructionReport* report = nullptr);

// ----- spectrum images -----

/// Options of the low-rank spectrum-image reconstruction.
struct LowRankOptions {
  std::size_t components = 8;  ///< k ≥ 1 principal components kept (clamped to the samples)
  /// Method (and its options) used for each component's score map. noise is forced to
  /// "uniform": scores are signed, not counts.
  ReconstructionOptions spatial{.method = "biharmonic"};
  std::uint64_t seed = 0;  ///< of the randomised SVD's test matrix
};

/// What the low-rank reconstruction kept.
struct LowRankReport {
  std::size_t components = 0;
  std::vector<double> singular_values;      ///< (k) of the centred sample matrix
  double explained_variance_fraction = 0.0; ///< Σ_k σ² / ‖X − mean‖²_F
};

/// Low-rank reconstruction of a spectrum image from spectra measured at scattered positions:
/// PCA of the measured spectra (centred on their mean; top k right singular vectors by a
/// randomised SVD with 2 power iterations and 10 oversampling columns, Halko, Martinsson & Tropp
/// 2011, SIAM Rev. 53, 217, Alg. 4.4 + 5.1, with Eigen's HouseholderQR and JacobiSVD), each
/// score map reconstructed on the (rows, cols) grid with options.spatial, recombined as
/// mean + Σ_j score_j(p)·v_j. spectra: (n) × channels counts, channels = axis.channels;
/// several spectra on one pixel are averaged. Throws std::invalid_argument on a size mismatch,
/// spectra of different length, no samples, or components = 0, and as reconstruct().
SpectrumImage reconstruct_spectrum_image(std::span<const Position> positions,
                                         std::span<const std::vector<float>> spectra,
                                         std::size_t rows, std::size_t cols,
                                         const EnergyAxis& axis, const LowRankOptions& options,
                                         LowRankReport* report = nullptr);

/// NRMSE per energy channel between two spectrum images of equal shape: element e =
/// sqrt(mean_p (a − b)²) / (max_p a − min_p a) over the pixels p of channel e (dimensionless;
/// the metrics' nrmse convention); a channel whose truth is constant gets NaN. (channels).
/// Throws std::invalid_argument on a shape mismatch.
std::vector<double> per_channel_nrmse(const SpectrumImage& truth, const SpectrumImage& estimate);

}  // namespace autostem
