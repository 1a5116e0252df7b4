#pragma once
// Atoms in an atomic-resolution survey (issue 9): the atom record shared by the classical
// finder (Laplacian of Gaussian, below) and the network finder (strategies/torch, "dcnn"),
// the conversion of a network's probability map to atoms, and the scoring of a found list
// against a known one. Positions are in the survey's pixel frame (row, col; pixel centres at
// integers), lengths in pixels.

#include <autostem/core/types.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace autostem {

/// One atom (atomic column): sub-pixel position, class label, detection probability in [0, 1]
/// and an uncertainty (e.g. the ensemble's standard deviation of the probability; 0 = unknown).
/// Class conventions (documented in docs/atoms.md): graphene 0 = C, 1 = Si; perovskite
/// 0 = A-site, 1 = B-site.
struct Atom {
  Position position;
  int cls = 0;
  double probability = 1.0;
  double uncertainty = 0.0;
};

/// Counts and scores of a one-to-one matching of found atoms to true atoms.
struct AtomMatchScore {
  std::size_t true_positives = 0, false_positives = 0, false_negatives = 0;
  double precision = 0, recall = 0, f1 = 0;
};

/// One-to-one matching of `found` (n,) to `truth` (m,) positions (px): every pair closer than
/// radius_px (distance ≤ radius_px) is a candidate; pairs are accepted greedily by ascending
/// distance (ties by found index, then truth index), each point used at most once. Greedy,
/// not Hungarian: with radius_px below half the atom spacing (the usual 3 px for ~17 px
/// spacing) every point has at most one candidate and both give the same matching.
/// precision = TP/n, recall = TP/m, F1 = 2PR/(P+R) (0 where undefined; both lists empty gives
/// precision = recall = F1 = 1). Throws std::invalid_argument on radius_px ≤ 0 or not finite,
/// or a non-finite position.
AtomMatchScore match_atoms(std::span<const Position> found, std::span<const Position> truth, double radius_px);

/// Atoms from a probability map (rows, cols) with values in [0, 1] (e.g. a network's sigmoid
/// output): pixels with p ≥ threshold, 8-connected components of at least min_area_px pixels,
/// each giving one atom at its probability-weighted centroid (sub-pixel, pixel centres at
/// integers); probability = the component's maximum, uncertainty = 0, cls = 0. Atoms are
/// returned in raster order of their first pixel. An empty map gives no atoms. Throws
/// std::invalid_argument on a non-finite value or a threshold outside (0, 1].
std::vector<Atom> atoms_from_probability(const ImageArray& probability, double threshold = 0.5,
                                         std::size_t min_area_px = 3);

/// Options of the classical finder. 0 means "derive from the estimated atom spacing s":
/// sigma_px = 0.3 s (LoG responds best to a blob of std σ, Lindeberg 1998; 0.3 s is a little
/// wider than a column so that it also averages shot noise — tuned on the graphene images of
/// MANIFEST.md, where 0.2 s gives F1 0.53 and 0.3 s 0.78, while still separating SrTiO3's A and
/// B columns), min_distance_px = 0.5 s, threshold = automatic (see find_atoms_log).
struct LogPeakOptions {
  double sigma_px = 0;         ///< LoG scale (px), > 0, or 0 = from the spacing
  double min_distance_px = 0;  ///< minimum distance between two atoms (px), or 0 = from the spacing
  double threshold = 0;        ///< minimum scale-normalised LoG response (image units), 0 = automatic
  bool refine = true;          ///< sub-pixel refinement by an intensity-weighted centroid
  double spacing_px = 0;       ///< atom spacing s (px) if known; 0 = estimate_atom_spacing_px
};

/// The classical baseline (what atomap does without a network, Nord et al. 2017 Adv. Struct.
/// Chem. Imaging 3:9): bright atomic columns as local maxima of the scale-normalised
/// Laplacian of Gaussian −σ²∇²(G_σ ∗ I) (Lindeberg 1998, IJCV 30:79) that are the largest within
/// min_distance_px and above the threshold; the automatic threshold is 0.3 × the 90th percentile
/// of the candidate maxima's responses (atoms in a lattice respond alike; noise and holes are
/// much weaker). Refinement: the centroid of the σ/2-smoothed image minus its local minimum in a
/// disc of radius 0.3 s (two iterations; a shift larger than 0.5 s keeps the pixel position).
/// image: (rows, cols), bright atoms (HAADF/ADF; invert ABF images first).
/// Returns atoms with cls = 0, probability = response / max response in [0, 1], uncertainty 0;
/// empty when the image has no lattice periodicity (e.g. a constant or pure-noise image).
/// Throws std::invalid_argument on an empty image, a non-finite value or a negative option.
std::vector<Atom> find_atoms_log(const ImageArray& image, const LogPeakOptions& options = {});

/// Median nearest-neighbour distance (px) of the atoms of an atomic-resolution image (rows,
/// cols), each side ≥ 16 px. Two stages: (1) the image is band-passed (G_1 − G_{min(rows,cols)/8})
/// and its autocorrelation (FFT, zero-padded) searched for 2-D local maxima between 3 px and
/// min(rows, cols)/3; the nearest one with at least 0.3 × the strongest off-centre peak gives a
/// lattice scale L (the nearest-neighbour vector, or for a honeycomb possibly the lattice constant
/// √3 × that); (2) LoG peaks are found at s = L (σ = 0.12·L, min distance 0.4·L) and the median
/// of their nearest-neighbour distances is returned. Throws std::invalid_argument on an empty or
/// too small image or non-finite values, std::runtime_error when no periodicity is found.
double estimate_atom_spacing_px(const ImageArray& image);

/// What a pixel of an atomic-resolution image shows (issue 15): codes of a RegionMap and of the
/// regions file `autostem atoms` writes (docs/atoms.md "Regions that are not lattice").
enum class RegionKind : std::uint8_t {
  lattice = 0,  ///< the crystal: atoms are looked for here
  bright = 1,   ///< local mean far above the lattice's (bright amorphous contamination, saturation)
  dark = 2,     ///< local mean far below the lattice's (vacuum, a hole)
  flat = 3,     ///< neither, but without the lattice's local contrast (e.g. featureless film)
};

/// (rows, cols) map of RegionKind codes, row-major like ImageArray.
using RegionMap = Eigen::Array<std::uint8_t, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// Options of find_lattice_region(). The three thresholds are in units of d, the median over the
/// lattice of the local r.m.s. contrast (below); they were chosen on the G-Si-2nm-derived blob and
/// vacuum images and on lattice phantoms with a disc and a vacuum strip (docs/atoms.md), never on
/// the labelled images' F1.
struct LatticeRegionOptions {
  double spacing_px = 0;       ///< atom spacing (px) if known; 0 = estimated on the lattice region
  double bright_z = 1.5;       ///< bright: local mean > lattice median of it + bright_z × d
  double dark_z = 1.5;         ///< dark: local mean < lattice median of it − dark_z × d
  double flat_fraction = 0.3;  ///< flat: local r.m.s. contrast < flat_fraction × d
  double dark_spread_z = 4;    ///< also dark: local mean < lattice median of it − dark_spread_z × s, s the
                               ///< robust spread (1.4826 MAD) of the local mean over the lattice (0 = off;
                               ///< finds vacuum at low dose; 4 chosen on validation phantoms, docs/dcnn.md)
  double clip_percent = 0;     ///< the normalised image is clipped to the lattice's
                               ///< [clip_percent, 100 − clip_percent] percentiles (0 = no clip)
};

/// The lattice part of an image and the image as a finder should see it (issue 15).
struct LatticeRegion {
  RegionMap kind;              ///< (rows, cols) RegionKind codes
  double spacing_px = 0;       ///< atom spacing (px) estimated on the lattice region only (or the
                               ///< given one); 0 when no lattice periodicity was found
  double lattice_fraction = 0; ///< share of the pixels that are lattice, [0, 1]
  /// (rows, cols) robustly normalised image: (x − m) / (p99 − p1) with m, p1, p99 the median and
  /// percentiles of the lattice pixels (optionally clipped, clip_percent); pixels that are not
  /// lattice are set to the lattice pixels' mean of it, so that neither a saturated blob nor vacuum
  /// enters a later mean/std normalisation, an autocorrelation or a relative threshold. Exactly
  /// equivariant: a gain a > 0 and an offset b applied to the input change it only by rounding.
  ImageArray image;
};

/// Finds the regions of an atomic-resolution image (rows, cols; each side ≥ 16 px) that are not
/// lattice, estimates the atom spacing on the lattice only, and normalises the image robustly.
/// Steps: (1) z = (x − median) / (1.4826 MAD) (unit-free); (2) a lattice scale L: the median of
/// the autocorrelation scales (estimate_atom_spacing_px's stage 1) of tiles of side
/// max(96, min(rows, cols)/4) px, so that a blob or vacuum in some tiles does not decide it
/// (options.spacing_px when given); (3) local mean and local r.m.s. contrast
/// sqrt(G_σ ∗ (z − G_σ ∗ z)²) at σ = L and σ = L/2; a pixel is bright/dark/flat (thresholds in
/// LatticeRegionOptions, relative to the medians over the lattice pixels, three iterations) when
/// both scales agree — the coarse scale decides, the fine one keeps the boundary within ≈ L/2 of
/// the region; dark also when both local means lie more than max(dark_spread_z robust spreads
/// of the lattice's local mean, dark_z × d × q) below its median, q = r/√(1 + r²) the lattice's
/// share of the texture r.m.s. d (r = lattice_snr, bragg.hpp; q → 1 at high dose, where this is
/// the dark_z test; vacuum at low dose, where d is mostly shot noise); non-lattice components smaller than L² px are returned to the lattice; (4) the
/// normalised image (LatticeRegion::image); (5) the spacing: estimate_atom_spacing_px's stage 2
/// on that image, at the median autocorrelation scale of the tiles that are ≥ 3/4 lattice (L if
/// none), counting only LoG peaks ≈ L/2 or more from a non-lattice region — provided that the
/// lattice part shows a periodicity (stage 1 of estimate_atom_spacing_px on such a tile or all). A constant image or one with no periodicity gives spacing_px = 0 and every pixel
/// `flat`. Throws std::invalid_argument on an empty or too small image, non-finite values or
/// options out of range (thresholds ≤ 0, dark_spread_z < 0, clip_percent outside [0, 50), spacing_px < 0).
LatticeRegion find_lattice_region(const ImageArray& image, const LatticeRegionOptions& options = {});

/// True when `position` (px, pixel centres at integers) lies on a pixel of `map` that is not
/// lattice; positions outside the map are not. An empty map marks nothing.
bool in_non_lattice_region(const RegionMap& map, const Position& position);

/// Splits atoms into a bright and a dim class by their intensity (the image smoothed by
/// sigma_px, sampled bilinearly at each atom) with Otsu's threshold over those intensities;
/// sets cls = bright_class or dim_class in place and returns the threshold (image units).
/// Z-contrast: in HAADF/ADF the heavier column is brighter (e.g. SrTiO3's Sr A-site columns over
/// the Ti B-site columns, a Si dopant in graphene). Fewer than 2 atoms: all get bright_class and
/// the return value is NaN. Throws std::invalid_argument on an empty image or sigma_px < 0.
double split_atoms_by_intensity(const ImageArray& image, std::vector<Atom>& atoms, int bright_class,
                                int dim_class, double sigma_px = 1.0);

/// Number of neighbours of each atom within radius_px (itself excluded): (atoms.size(),).
/// Used to find defects (an unusual neighbour count). Throws std::invalid_argument on
/// radius_px ≤ 0.
std::vector<std::size_t> neighbour_counts(std::span<const Atom> atoms, double radius_px);

}  // namespace autostem
