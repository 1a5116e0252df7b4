#pragma once
// Bragg filtering of a periodic (crystalline) image (issue 9): the classical HRTEM/STEM Fourier
// filter that keeps only the lattice's Bragg spots, used as an optional denoiser in front of the
// atom finders ("log", "dcnn": finder parameter denoise=bragg).
//
// Where it lives: the imaging library (autostem::imaging), on its one FFT (FFTW, private to the
// library: src/fft.hpp); strategies link the library and call it directly. For 256²–512² images
// it costs a few tens of ms.

#include <autostem/core/types.hpp>

#include <cstddef>

namespace autostem {

/// Options of bragg_filter. Every frequency is in units of 1/s (cycles per atom spacing s), so the
/// same defaults apply to any image size and magnification; spacing_px = 0 estimates s.
/// Default rule (chosen on the two real graphene HAADF images of MANIFEST.md — see
/// docs/atoms.md "Bragg filter", an honest caveat):
///  * candidate spots: local maxima (5×5 reciprocal px) of the power spectrum smoothed by a
///    σ = 1 reciprocal-px Gaussian, with min_frequency ≤ |g|·s ≤ max_frequency (0.35 … 1.5: the
///    first three orders of a honeycomb/hexagonal/square lattice, not the low-frequency
///    background nor the high-frequency shot noise);
///  * kept spots: those with power ≥ relative_power (0.03) × the strongest candidate's (at most
///    max_spots, strongest first; 0 = no limit);
///  * each kept spot (and the centre, g = 0) passes through a Gaussian window of std
///    spot_sigma / s cycles/px (0.12: in reciprocal px 0.12·rows/s by 0.12·cols/s), i.e. each
///    lattice frequency is averaged over a real-space region of std s/(2π·0.12) ≈ 1.3 s;
///    overlapping spot windows are capped at 1.
/// How bragg_filter treats the image border. `periodic`: the DFT's own wrap-around (the far
/// edge's lattice, at a random phase, leaks into the near edge). `normalized`: the image is
/// zero-padded by ⌈4·s/(2π·spot_sigma)⌉ px (4 real-space stds of the windows) and the result is
/// divided by the same low-pass of the image's indicator (normalised convolution), so fringes
/// near the border keep their phase and amplitude, estimated from the pixels inside only.
enum class BraggEdge { periodic, normalized };

struct BraggFilterOptions {
  double spacing_px = 0;         ///< atom spacing s (px) > 0, or 0 = estimate_atom_spacing_px
  double min_frequency = 0.35;   ///< lowest spot frequency |g|·s (> 0)
  double max_frequency = 1.5;    ///< highest spot frequency |g|·s (> min_frequency)
  double relative_power = 0.03;  ///< keep spots with power ≥ this × the strongest, in (0, 1]
  double spot_sigma = 0.12;      ///< Gaussian window std around each spot and the centre, × 1/s (> 0)
  std::size_t max_spots = 0;     ///< at most this many spots (strongest first), 0 = no limit
  BraggEdge edge = BraggEdge::normalized;  ///< border treatment (see BraggEdge)
};

/// Bragg filter ("Bragg filtering" / periodic Fourier filtering of HRTEM images, e.g. Hÿtch,
/// Snoeck & Kilaas 1998 Ultramicroscopy 74:131 (the Bragg-mask step of geometric phase analysis);
/// Kilaas 1998 J. Microsc. 190:45): F = FFT(image − mean); M = min(Σ_spots W_g, 1) + W_0 with
/// Gaussian windows W centred on the kept Bragg spots g and on the origin (see
/// BraggFilterOptions); returns Re(IFFT(F·M)) + mean. The mask is symmetric under g → −g
/// (the power spectrum of a real image is), so the result is real up to rounding. With
/// BraggEdge::normalized (default) the spots are found on the image's own DFT and the mask is
/// applied to the zero-padded image, the result divided by W_0's low-pass of the image
/// indicator (normalised convolution, Knutsson & Westin 1993).
/// image: (rows, cols), any units; returns the filtered image (rows, cols), same units.
/// A candidate-free spectrum (no local maximum in the frequency band) leaves only the centre
/// window, i.e. a Gaussian low-pass of std spot_sigma/s cycles/px.
/// Throws std::invalid_argument on an empty image, a side < 16 px, a non-finite value or an
/// option out of range; std::runtime_error (from estimate_atom_spacing_px) when spacing_px = 0
/// and the image shows no lattice periodicity.
ImageArray bragg_filter(const ImageArray& image, const BraggFilterOptions& options = {});

/// Shot-noise signal-to-noise ratio of a lattice image at its lattice frequencies (issue 15: the
/// quantity that decides whether the Bragg filter is applied by default, finder denoise=auto).
/// With P(k) = |DFT(image − mean)|² / (rows·cols) (the periodogram; white noise of variance σ²
/// has E[P] = σ² at every k):
///  * noise variance per pixel w = median of P over |f| ≥ max(2.5 / s, 0.25) cycles/px, divided
///    by ln 2 (the median of an exponentially distributed periodogram bin is ln 2 × its mean):
///    frequencies the probe (σ ≥ 0.18 s) has all but removed from the lattice, and the median is
///    not moved by a few high-order Bragg spots nor by the axes' scan-line / edge streaks;
///  * lattice signal variance per pixel S = Σ (P(k) − w) / (rows·cols) over the Bragg band
///    0.35 ≤ |f|·s ≤ 1.5 (the band bragg_filter looks for spots in);
///  * returns sqrt(max(S, 0) / w): the lattice's r.m.s. contrast over the white noise's r.m.s.
///    per pixel. Unit-free: a gain g > 0 scales P and w by g², an offset only changes P(0), so the
///    value is unchanged (up to rounding). ≈ 0.33 on both 60 kV graphene images of MANIFEST.md
///    (measured, not a tuned value); ≫ 1 on a clean, well-dosed image.
/// image: (rows, cols), any units; spacing_px: atom spacing s (> 1). Throws std::invalid_argument
/// on an empty image, a side < 16 px, a non-finite value or spacing_px ≤ 1. A flat image gives 0.
double lattice_snr(const ImageArray& image, double spacing_px);

}  // namespace autostem
