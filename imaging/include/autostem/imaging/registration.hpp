#pragma once
// Image registration for drift correction (issue 16; docs/drift.md): the sub-pixel shift between
// two images of the same field by phase correlation refined with the matrix-multiply upsampled
// DFT of Guizar-Sicairos, Thurman & Fienup, "Efficient subpixel image registration algorithms",
// Opt. Lett. 33, 156 (2008).
//
// Sign convention: a feature at p in `reference` appears at p + shift in `moving`
// (moving(x) = reference(x − shift)). skimage.registration.phase_cross_correlation(reference,
// moving) returns the shift that registers moving onto reference, i.e. the NEGATIVE of ours.

#include <autostem/core/types.hpp>

#include <cstddef>

namespace autostem {

/// Options of estimate_shift. Defaults are those measured in docs/drift.md.
struct ShiftOptions {
  /// Sub-pixel resolution 1/upsample_factor px of the upsampled-DFT refinement (≥ 1; 1 = the
  /// integer peak only). Guizar-Sicairos et al. 2008 and skimage use 100.
  int upsample_factor = 100;
  /// Largest |shift| searched per axis (px); 0 = the whole correlation surface (±N/2).
  double max_shift_px = 0.0;
  /// Regulariser ε of the cross-power spectrum R_k = X_k / (|X_k| + ε·mean|X|): 0 = pure phase
  /// correlation (every frequency weighted alike, skimage's default), large = plain
  /// cross-correlation. The default 1000 is cross-correlation in effect: on noisy HAADF patches
  /// whitening gives the noise-dominated high frequencies full weight, and the RMS error fell
  /// monotonically with ε on the test images (docs/drift.md).
  double regularisation = 1000.0;
  /// Tukey (tapered cosine) window fraction α applied to both images after the mean is removed
  /// (0 = rectangular, 1 = Hann). Suppresses the edge discontinuity of non-periodic patches.
  double window_alpha = 0.5;
  /// `textured` is false when the reference's signal variance / noise variance is below this.
  double min_texture_snr = 0.1;
  /// `low_confidence` is set when confidence < this × expected_confidence.
  double min_relative_confidence = 0.6;
};

/// The result of estimate_shift.
struct ShiftEstimate {
  /// Shift in px (row, col): a feature at p in reference appears at p + shift in moving.
  Position shift{0.0, 0.0};
  /// Pearson correlation of the windowed reference and moving images after alignment by `shift`
  /// (computed in Fourier space), clipped to [0, 1]. With independent white noise of equal variance
  /// in both images it is ≈ SNR / (1 + SNR), SNR = signal variance / noise variance; 0 for
  /// unrelated images, 1 for a noise-free, exactly shifted pair.
  double confidence = 0.0;
  /// Predicted 1-σ error per axis (px) of the shift: the linearised cross-correlation error
  /// sqrt(2 σn² / Σ (∂s/∂x)²), σn² the per-pixel noise variance from the aligned residual and the
  /// signal gradient energy from the cross-power spectrum (noise-free in expectation). Infinite
  /// when the signal has no gradient energy.
  Position sigma_px{0.0, 0.0};
  /// Signal variance / noise variance of the reference, the noise level taken from the outer
  /// quarter of its spectrum (|k_row| > N_row/4 and |k_col| > N_col/4, where a STEM image sampled
  /// finer than the probe has only noise).
  double texture_snr = 0.0;
  /// texture_snr ≥ ShiftOptions::min_texture_snr.
  bool textured = false;
  /// The confidence a true match would have if moving is as noisy as reference:
  /// texture_snr / (1 + texture_snr).
  double expected_confidence = 0.0;
  /// confidence < min_relative_confidence × expected_confidence: moving does not look like the
  /// reference shifted — a lost reference, or on a periodic lattice a false peak one lattice
  /// vector away when the true shift is beyond the window.
  bool low_confidence = false;
  /// The integer peak lies on the edge of the searched window (max_shift_px, or ±(N/2 − 1) when
  /// unlimited): the true shift is probably beyond the window.
  bool at_window_edge = false;
};

/// Shift between two same-size images (rows, cols), both ≥ 8 px per side, any finite values
/// (counts, arbitrary units). Steps: subtract each image's mean, apply a Tukey window, FFT, the
/// regularised cross-power spectrum, the integer peak of its inverse within ±max_shift_px, then
/// the peak of the upsampled DFT (Guizar-Sicairos et al. 2008, eq. 5 evaluated by matrix
/// products) in a 1.5-px window, refined in two stages (factor 10, then upsample_factor in
/// ±1.5/10 px) so the cost stays small for factor 100. Thread-safe.
/// Throws std::invalid_argument on a size mismatch, a side < 8 px, a non-finite value (naming the
/// image and the pixel), upsample_factor < 1, or a negative / non-finite option.
ShiftEstimate estimate_shift(const ImageArray& reference, const ImageArray& moving,
                             const ShiftOptions& options = {});

/// Texture of one image, from its own spectrum after the mean is removed and the Tukey window
/// applied: the white-noise power N₀ is the mean |F_k|² of the outer quarter (as ShiftEstimate).
struct TextureMeasure {
  /// Signal variance / noise variance (ShiftEstimate::texture_snr).
  double texture_snr = 0.0;
  /// Predicted 1-σ (px, per axis) of registering this image against an equally noisy copy:
  /// sqrt(2 σn² / G), G = Σ_k (2π k/N)² max(|F_k|² − N₀, 0) / n per axis. Infinite without texture.
  Position predicted_sigma_px{0.0, 0.0};
};

/// Throws as estimate_shift (size < 8 px, non-finite value, window_alpha outside [0, 1]).
TextureMeasure measure_texture(const ImageArray& image, double window_alpha = 0.5);

/// Shifts an image by a sub-pixel amount with the Fourier shift theorem (circular: what leaves
/// one side enters the other): result(x) = image(x − shift), so estimate_shift(image, result) ≈
/// shift. For a test of registration; shapes (rows, cols), shift in px. Throws
/// std::invalid_argument on an empty image or a non-finite shift.
ImageArray fourier_shift(const ImageArray& image, Position shift);

/// Where a re-scanned patch (h, w) lies in the survey (R, C) — the drift reference's two-stage
/// registration: the integer shift (dr, dc), |dr|, |dc| ≤ max_shift_px, maximising the normalised
/// cross-correlation of the patch with the survey window at (row0 + dr, col0 + dc) (windows that
/// would leave the survey are skipped), then estimate_shift between that window and the patch for
/// the sub-pixel residual. Unlike estimate_shift on the window at (row0, col0), nothing of the
/// patch falls outside the compared region and the apodisation window sits on the aligned pair,
/// so a shift of many pixels is not pulled towards zero (measured on the nanowire phantom,
/// docs/drift.md). Returns the shift in estimate_shift's convention between the survey window at
/// (row0, col0) and the patch (a feature at p in that window appears at p + shift in the patch),
/// with at_window_edge when the best integer shift lies on the border of the search and
/// confidence, sigma_px and texture flags from the sub-pixel stage. Cost O((2·max_shift+1)²·h·w).
/// Throws std::invalid_argument when the patch is < 8 px a side or has a non-finite value, the
/// window at (row0, col0) leaves the survey, or max_shift_px is negative or not finite.
ShiftEstimate locate_patch(const ImageArray& survey, std::size_t row0, std::size_t col0,
                           const ImageArray& patch, double max_shift_px, const ShiftOptions& options = {});

}  // namespace autostem
