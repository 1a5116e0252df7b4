#pragma once
// Metrics against ground truth (DESIGN.md §10): recall of a region of interest and simple regret
// versus the number of measurements, NRMSE / PSNR / SSIM of a reconstructed map, the one fixed
// inpainting every strategy's samples are reconstructed with, spectral angle for spectrum
// images, and decision-latency statistics.
//
// Positions are in the survey pixel frame (row, col), pixel centres at integers. A position
// "lands on" the pixel it rounds to (std::round per coordinate); positions that are not finite or
// round outside the map land nowhere and are ignored (they neither hit nor improve anything).

#include <autostem/core/statistics.hpp>
#include <autostem/core/types.hpp>

#include <span>
#include <vector>

namespace autostem {

/// Mask (rows, cols) with 1 at the pixels of `truth` whose value is ≥ the k-th largest value,
/// k = ceil(fraction · pixels), 0 elsewhere: "the top q %" region of interest. Ties at the cut
/// are all included, so the mask may hold more than k pixels. Throws std::invalid_argument on
/// an empty map, non-finite values, or fraction outside (0, 1].
ImageArray top_fraction_mask(const ImageArray& truth, double fraction);

/// Recall of the region of interest after each measurement: element i = (distinct mask pixels
/// hit by positions[0..i]) / (mask pixels), (n,) in [0, 1]. mask: (rows, cols), nonzero = inside.
/// A position hits the mask pixel it rounds to; with radius_px > 0 it also hits every mask pixel
/// whose centre lies within radius_px (Euclidean) of the position (e.g. atoms within a radius).
/// Throws std::invalid_argument on an empty mask array, a mask with no pixel inside, or a
/// negative / non-finite radius.
std::vector<double> recall_curve(const ImageArray& mask, std::span<const Position> positions,
                                 double radius_px = 0.0);

/// Site recall after each measurement: the region of interest as separate sites (8-connected
/// components of the mask: a dopant's disc, a vacancy, a particle), element i = (sites with at
/// least one pixel hit by positions[0..i], hits as in recall_curve) / (sites), (n,) in [0, 1].
/// "Found 90 % of the dopants" is site recall 0.9, whatever their sizes in pixels. Throws
/// std::invalid_argument on an empty mask array, a mask with no pixel inside, or a negative /
/// non-finite radius.
std::vector<double> site_recall_curve(const ImageArray& mask, std::span<const Position> positions,
                                      double radius_px = 0.0);

/// Final recall: recall_curve(...).back(), or 0 with no positions. Same arguments and throws.
double recall(const ImageArray& mask, std::span<const Position> positions, double radius_px = 0.0);

/// Simple regret of the maximum after each measurement: element i = max(truth) − max over
/// j ≤ i of truth at the pixel positions[j] rounds to, (n,) ≥ 0 in truth's units. Before any
/// position has landed in the map the regret is max(truth) − min(truth). Throws
/// std::invalid_argument on an empty map or non-finite values.
std::vector<double> simple_regret_curve(const ImageArray& truth,
                                        std::span<const Position> positions);

/// Normalised root-mean-square error sqrt(mean((truth − estimate)²)) / (max(truth) − min(truth)),
/// dimensionless — normalised by the truth's range (not by its norm or mean, as FAST's tables
/// and skimage's "min-max" option). Throws std::invalid_argument on shape mismatch, an empty or
/// constant truth, or non-finite values.
double nrmse(const ImageArray& truth, const ImageArray& estimate);

/// Peak signal-to-noise ratio 10·log10(R² / MSE) in dB with R = max(truth) − min(truth)
/// (skimage's peak_signal_noise_ratio with data_range = R); +inf for a perfect estimate. Throws
/// as nrmse.
double psnr(const ImageArray& truth, const ImageArray& estimate);

/// Local SSIM map (Wang, Bovik, Sheikh & Simoncelli 2004, IEEE TIP 13, 600, eq. 13) with a
/// Gaussian window σ = 1.5 px truncated at 3.5σ (11 taps), K1 = 0.01, K2 = 0.03, population
/// (co)variances, reflect borders — skimage's structural_similarity(..., gaussian_weights=True,
/// sigma=1.5, use_sample_covariance=False, data_range=R). data_range ≤ 0 means R = max(truth) −
/// min(truth). Same shape as the inputs. Throws std::invalid_argument on shape mismatch, a map
/// smaller than 11×11, non-finite values, or a zero data range.
ImageArray ssim_map(const ImageArray& truth, const ImageArray& estimate, double data_range = 0.0);

/// Mean SSIM: the mean of ssim_map over the pixels at least 5 px (the window radius) from the
/// border, as skimage crops. 1 for identical maps. Throws as ssim_map.
double ssim(const ImageArray& truth, const ImageArray& estimate, double data_range = 0.0);

/// The one fixed inpainting (DESIGN.md §10): a full (rows, cols) map from scattered samples by
/// nearest-neighbour (Voronoi) fill — every pixel takes the value of the sample nearest to its
/// centre (Euclidean; samples sit at the pixel they round to; several samples on one pixel are
/// averaged; ties go to a fixed order, so the result is deterministic). Chosen over
/// Gaussian-weighted normalised convolution because it has no bandwidth to tune (a bandwidth
/// right for 1 % sampling is wrong for 20 %, and would favour some strategies), is defined for
/// any sampling density, reproduces every measured pixel exactly, and is exact and fast:
/// O(rows·cols) with the separable Euclidean distance transform with feature propagation
/// (Felzenszwalb & Huttenlocher 2012, Theory of Computing 8, 415). values: (n,), one per
/// position. Throws std::invalid_argument on size mismatch, zero rows or cols, non-finite values,
/// or no position landing in the map.
ImageArray inpaint_nearest(std::span<const Position> positions, std::span<const double> values,
                           std::size_t rows, std::size_t cols);

/// Mean spectral angle (radians, in [0, π]) between two spectrum images of equal shape: the mean
/// over pixels of arccos(a·b / (|a||b|)). A pixel where both spectra are zero counts 0, where one
/// is zero π/2. Throws std::invalid_argument on shape mismatch (rows, cols, channels).
double mean_spectral_angle(const SpectrumImage& truth, const SpectrumImage& estimate);


}  // namespace autostem
