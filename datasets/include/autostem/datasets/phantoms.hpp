#pragma once
// Synthetic ground truths (DESIGN.md §6): deterministic functions of a seed, built in code.
// Each gives a HAADF survey, a low-loss spectrum image on the same grid, a region-of-interest
// mask, labelled marker points and the conditions the "recording" stands for. The spectra are
// noise-free expected counts at those conditions (the simulator adds shot noise); the survey
// carries a little Gaussian noise like a real HAADF image.
//
// Models (shared by both phantoms):
//  - HAADF ∝ Σ_materials thickness × Z^1.7 (Z-contrast; Pennycook 1989/Hartel 1996 give
//    exponents 1.6–1.9 for typical inner angles).
//  - Low-loss EELS by Poisson statistics of plural scattering (Egerton, "Electron
//    Energy-Loss Spectroscopy in the Electron Microscope", 3rd ed., §3.7): with τ = t/λ summed
//    over materials, the n-fold scattering weight is e^{-τ} τⁿ/n!; the zero-loss peak has weight
//    e^{-τ}, single scattering e^{-τ} Σ τ_m f_m(E), double scattering e^{-τ} ½ Σ τ_m τ_n
//    (f_m * f_n)(E). f_m is a sum of Drude loss functions E Γ Ep² / ((E² − Ep²)² + (E Γ)²)
//    (Egerton eq. 3.43), unit area; everything is convolved with the zero-loss peak.
//    Mean free paths λ at 200 kV are typical values (Malis et al. 1988 parametrisation):
//    GaAs 100 nm, Au 80 nm, Ag 90 nm, amorphous C 160 nm.

#include <autostem/core/ground_truth.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace autostem::datasets {

/// Names accepted by make_phantom, in a fixed order: {"nanowire", "nanoparticles", "lattice"}.
std::vector<std::string> phantom_names();

/// The phantom `name` for a seed, rows × cols pixels (each ≥ 16). The field of view is fixed in
/// nm (nanowire 192 nm, nanoparticles 256 nm along the longer side), so the pixel size is
/// fov / max(rows, cols): 1.5 nm and 2 nm at the default 128 × 128.
/// Same (name, seed, rows, cols) → bit-identical result on every platform (own RNG and
/// Box–Muller; no std::*_distribution). Throws std::invalid_argument for an unknown name (listing
/// the known ones) or a size below 16.
///
/// nanowire (seed 002, Fig. 2): a GaAs nanowire (radius ≈ 20 nm) crossing the field from the
///   left edge, ending in an Au catalyst particle (radius ≈ 1.25 × wire radius), suspended over
///   vacuum with a 5-nm amorphous carbon film along the bottom edge. Seeds vary the angle, the
///   position, the radii and the noise. Spectra: −5…74.8 eV, 0.2 eV/ch, 400 channels; ZLP FWHM
///   0.8 eV; GaAs volume plasmon 16.0 eV (FWHM 4 eV) and its double-scattering peak near 32 eV;
///   Au broad losses (6, 15.5, 25 eV); C π 6 eV and σ+π 25 eV; and an interface peak at
///   nanowire_interface_peak_eV (FWHM 2 eV) whose weight decays as a Gaussian (σ = 1.5 nm) with
///   distance from the GaAs/Au interface and is zero beyond 4.5 nm.
///   roi_mask = pixels within 3 nm (2 px at 128²) of the GaAs/Au interface (the arc where the
///   wire meets the particle) — the interface the edge strategy should find.
///   points: label 0 = Au bulk (particle centre), 1 = GaAs bulk (on the wire axis, 25 nm behind
///   the interface), 2 = interface (on the axis, 1 nm into the GaAs) — the red/blue/green markers of
///   seed 002 Fig. 2b.
///   recorded: exposure 0.1 s, 50 pA, survey dwell 10 µs. Total counts per spectrum 1e6.
///
/// nanoparticles (seed 002, Fig. 4): Ag nanoplates (triangles and hexagons, 12 nm thick) and Au
///   spheres (radius 8–14 nm) on a lacey amorphous-carbon film (15 nm strands) over vacuum.
///   Spectra: −2…37.9 eV, 0.1 eV/ch, 400 channels; ZLP FWHM 0.35 eV; Au localized surface
///   plasmon 2.4 eV (also excited in aloof positions, decaying over 5 nm outside), Ag surface
///   plasmon 3.5 eV (strongest at plate edges) and bulk plasmon 3.8 eV, Ag/Au broad
///   interband/collective losses ~15–25 eV, C π 6 eV and σ+π 25 eV. The Au particles, the
///   thickest objects, have the largest response in the volume-plasmon band
///   [nanoparticles_band_lo_eV, nanoparticles_band_hi_eV] that the seed's DKL run maximises.
///   roi_mask = Au particles (projected discs). points: label 1 = Au centres, 2 = Ag centres.
///   recorded: exposure 0.5 s, 20 pA, survey dwell 10 µs. Total counts per spectrum 1e6.
///
/// lattice (issue 9; seed 001/002 Fig. 3): a graphene survey from make_lattice with Si dopants
///   (2 %), vacancies (1 %) and, for half of the seeds, a tilt grain boundary; atom spacing
///   6–9 px drawn per seed (pixel size 0.142 nm / spacing), random rotation, probe blur, Poisson
///   + readout noise, drift and jitter. Spectrum image: see lattice_dopant_band_lo_eV (96
///   channels, 50–525 eV); total ≈ 1e4 counts per spectrum on an atom.
///   roi_mask = pixels within max(1.5, 0.3 × spacing) px of a dopant or a vacancy site (the
///   sites a defect-hunting run should measure). points: every atom with label = class (0 C,
///   1 Si). recorded: exposure 0.05 s, 20 pA, survey dwell 4 µs.
GroundTruth make_phantom(const std::string& name, std::uint64_t seed, std::size_t rows = 128,
                         std::size_t cols = 128);

// ---------------------------------------------------------------------------------------------
// The `lattice` phantom (issue 9): synthetic atomic-resolution surveys with known atom positions
// and classes — the training data of the atom-finding network and the ground truth of the atom
// benchmarks. Documented in docs/atoms.md.

/// Which crystal is projected.
///  - graphene: honeycomb, C–C 0.142 nm; classes 0 = C, 1 = Si (substitutional dopant).
///  - perovskite: ABO3 viewed so that the A columns form a square lattice (a ≈ 0.39 nm, SrTiO3
///    [001]) with the B columns at the centres of the A squares; classes 0 = A-site (Sr, Z 38),
///    1 = B-site (Ti, Z 22), 2 = heavy B-site dopant (Nb, Z 41). Oxygen columns are not imaged
///    (weak in HAADF). With LatticeOptions::perovskite_110_probability a sample is viewed along
///    [110] instead: rows of A and B columns alternating along [001] (A–B = a/2), rows a/√2
///    apart with A above A (a rectangular A lattice a × a/√2, B half-way between two A along
///    the row) — the projection of atomap's SrTiO3 test image.
enum class LatticeKind { graphene, perovskite };

/// What a site is, beyond its class: a regular lattice atom, a substitutional dopant, an atom
/// next to a vacancy (a missing atom) or an atom at a grain boundary (within one spacing of it).
enum class SiteKind { regular, dopant, vacancy_neighbour, boundary };
const char* to_string(SiteKind k);

/// One atom (column) of a lattice sample. position: in the *image* frame (row, col px, pixel
/// centres at integers), i.e. where the distorted scan shows it; cls: class as documented at
/// LatticeKind; z: atomic number used for the Z^1.7 contrast.
struct LatticeAtom {
  Position position;
  int cls = 0;
  SiteKind kind = SiteKind::regular;
  double z = 6.0;
};

/// Options of make_lattice. Ranges [min, max] are sampled uniformly per sample (min == max
/// fixes the value). Lengths in pixels of the output image.
struct LatticeOptions {
  LatticeKind kind = LatticeKind::graphene;
  std::size_t rows = 256, cols = 256;      ///< output size, each ≥ 16
  double spacing_min_px = 10.0, spacing_max_px = 16.0;  ///< nearest-neighbour spacing (graphene
                                           ///< C–C; perovskite A–B: a/√2 in [001], a/2 in
                                           ///< [110]), > 1
  bool random_rotation = true;             ///< uniform in [0, 2π) (else 0)
  double probe_sigma_min = 0.18, probe_sigma_max = 0.28;  ///< Gaussian probe σ as a fraction of
                                           ///< the spacing
  double dose_min = 30.0, dose_max = 300.0;  ///< expected counts at the peak of a C (graphene) or
                                           ///< A (perovskite) column; Poisson noise
  double background_counts = 5.0;          ///< expected counts of the support/vacuum per pixel
  double readout_sd_counts = 2.0;          ///< Gaussian readout noise (counts)
  double drift_max_px = 2.0;               ///< linear drift over the whole scan, per axis (±px)
  double jitter_sd_px = 0.3;               ///< per-scan-line horizontal jitter σ (px)
  double dopant_fraction = 0.02;           ///< graphene: Si per C site; perovskite: Nb per B site
  double vacancy_fraction = 0.01;          ///< graphene: missing C; perovskite: missing A columns
  double grain_boundary_probability = 0.0; ///< chance of a tilt grain boundary (graphene only)
  double perovskite_110_probability = 0.0; ///< perovskite: chance that the sample is viewed along
                                           ///< [110] (LatticeKind); drawn from a stream of its
                                           ///< own, so 0 leaves every sample as it was
  double z_exponent_min = 1.7, z_exponent_max = 1.7;  ///< Z-contrast exponent n (amplitude ∝ Z^n),
                                           ///< drawn per sample from a stream of its own when
                                           ///< min < max (1.7 fixed: samples as before)

  // Microscope realism (issue 15: training and test images that look like real surveys). All off
  // by default; with every one of them off the sample is bit-identical to one made without them
  // (they draw from a random stream of their own, salted apart from the lattice's).
  double contamination_probability = 0.0;  ///< chance of 1..contamination_patches_max amorphous
                                           ///< (hydrocarbon) patches of random shape and size
  std::size_t contamination_patches_max = 3;  ///< ≥ 1
  double contamination_radius_min = 0.08, contamination_radius_max = 0.35;  ///< mean patch radius
                                           ///< as a fraction of min(rows, cols), > 0
  double contamination_level_min = 0.5, contamination_level_max = 6.0;  ///< brightness at full
                                           ///< thickness in units of the dose (a C / A column's
                                           ///< peak); above ≈ 1 it saturates an 8-bit image
  double vacuum_probability = 0.0;         ///< chance of vacuum: an edge region (half of the cases,
                                           ///< 10–40 % of the field) or 1–3 holes
  double gradient_max = 0.0;               ///< slow thickness/intensity field: atoms and support
                                           ///< scaled by a factor in [1 − g, 1 + g], g ∈ [0, max]
                                           ///< (< 1), plus a support ramp up to g × dose / 2
  double line_noise_sd = 0.0;              ///< per-scan-line additive offset σ, in units of the dose
  double probe_tail_max = 0.0;             ///< fraction of every column's (and the contamination's)
                                           ///< intensity moved into a wide tail of σ 3–8 × the
                                           ///< probe σ, drawn in [0, max] (< 1)
  double eight_bit_probability = 0.0;      ///< chance that the image is stored as 8-bit counts
                                           ///< 0…255: the lattice's 99.5th percentile mapped to
                                           ///< 100–250, offset 0–40, rounded and clipped (bright
                                           ///< contamination saturates)
};

/// A lattice sample: the noisy image, the noise-free expected image, every atom, the vacancy
/// sites (image frame) and the parameters drawn.
struct LatticeSample {
  ImageArray image;        ///< (rows, cols) counts with Poisson + readout noise, ≥ 0
  ImageArray clean;        ///< (rows, cols) expected counts (no noise, same distortions)
  std::vector<LatticeAtom> atoms;
  std::vector<Position> vacancies;  ///< where a missing atom would be (image frame)
  LatticeKind kind = LatticeKind::graphene;
  double spacing_px = 0;   ///< nearest-neighbour spacing drawn (px)
  double rotation_rad = 0;
  double probe_sigma_px = 0;
  double dose = 0;         ///< expected peak counts of a C / A column
  bool grain_boundary = false;
  bool projection_110 = false;  ///< perovskite viewed along [110] (else [001]; graphene: false)
  double z_exponent = 1.7;      ///< Z-contrast exponent drawn
  double pixel_size_nm = 0;  ///< 0.142 nm / spacing (graphene), 0.276 nm / spacing (perovskite
                             ///< [001]) or 0.195 nm / spacing (perovskite [110])
  /// Microscope realism (LatticeOptions::contamination_probability …): (rows, cols) maps, zero when
  /// the options are off. contamination: amorphous thickness ∈ [0, 1] (1 = no lattice visible);
  /// non_lattice: 1 where no lattice is imaged (contamination thickness ≥ 0.5, or vacuum), else 0.
  ImageArray contamination, non_lattice;
  /// Atoms under contamination of thickness ≥ 0.5 (drawn, at (1 − t)² of their contrast, but not
  /// in `atoms`: a finder should not report them). Atoms in vacuum are not drawn nor listed.
  std::vector<LatticeAtom> covered;
};

/// A lattice sample for a seed: atoms placed on the (rotated, scaled) lattice, dopants,
/// vacancies and (graphene, with grain_boundary_probability) a tilt grain boundary between two
/// grains rotated by 13–30° (atoms of the second grain closer than 0.75 spacing to the first are
/// removed; atoms within one spacing of the boundary line are SiteKind::boundary); each column
/// drawn as a Gaussian of the probe σ with amplitude dose × (Z/Z_ref)^n, n = 1.7 by default (Z-contrast,
/// Pennycook 1989), sampled on a scan distorted by linear drift and per-line jitter; then
/// Poisson and readout noise. Same (options, seed) → bit-identical result (own RNG).
/// With the realism options (issue 15), in this order: vacuum (atoms removed, support at 0.2 ×
/// background_counts), amorphous patches (smooth thickness t with a soft edge of 0.5–2 spacings,
/// brightness t × level × dose plus an amorphous speckle of probe-sized blobs at 2 per spacing²;
/// atom contrast × (1 − t)²), the gradient field, the probe tail (Gaussian blur of the atoms and
/// contamination), Poisson and readout noise, scan-line offsets, 8-bit storage.
/// Throws std::invalid_argument on rows/cols < 16, an empty or inverted range, spacing ≤ 1,
/// or a fraction or probability outside its range.
LatticeSample make_lattice(const LatticeOptions& options, std::uint64_t seed);

/// The contaminated-lattice test set of issue 15, held apart from every training seed: image
/// `index` ∈ [0, contaminated_test_set_size) is make_lattice(contaminated_test_options(index),
/// contaminated_test_seed + index). Graphene, 256² to 512², spacing 6–20 px, amorphous
/// contamination in every image (levels 1–6 × dose), vacuum (an edge or holes) in the odd ones,
/// gradients, scan-line noise, probe tails, dose 5–60 counts, grain boundaries in some, 8-bit
/// storage in every third. Throws std::invalid_argument for an index out of range.
inline constexpr std::uint64_t contaminated_test_seed = 900000;
inline constexpr std::size_t contaminated_test_set_size = 10;
LatticeOptions contaminated_test_options(std::size_t index);

/// The low-dose lattice sets of issue 15 (the regime of the two real 60 kV graphene images of
/// MANIFEST.md: ≈ 3–5 counts per pixel, a lattice contrast of ≈ 0.3 × the shot noise per pixel —
/// measured statistics, lattice_snr in imaging/bragg.hpp — integer storage, scan jitter). Image
/// `index` ∈ [0, low_dose_set_size) is make_lattice(low_dose_options(index), seed + index) with
/// seed = low_dose_validation_seed (choosing the finders' denoise=auto rule) or low_dose_test_seed
/// (held apart: asserted, never used to choose anything). Graphene, 256² (index even) or 384²,
/// spacing 8–20 px, dose 1–5 counts at a C column's peak over a support of 0.5–4 counts (index
/// dependent), readout noise 0.3 counts, scan-line jitter 0.4–1.0 px, grain boundaries in some,
/// contamination (levels 1–4 × dose) in the images of index % 3 == 1, vacuum in index % 4 == 3,
/// 8-bit storage in the even ones. Throws std::invalid_argument for an index out of range.
inline constexpr std::uint64_t low_dose_validation_seed = 810000;
inline constexpr std::uint64_t low_dose_test_seed = 910000;
inline constexpr std::size_t low_dose_set_size = 10;
LatticeOptions low_dose_options(std::size_t index);

/// Energy axis and feature bands of the lattice phantom's spectrum image (eV): 96 channels from
/// 50 eV at 5 eV/ch. Every atom adds a core-loss-like edge of its species (C K 284 eV, Si L2,3
/// 99 eV, Sr M4,5 133 eV, Ti L2,3 456 eV, Nb M4,5 205 eV) weighted by the probe's overlap with
/// the column; atoms of kind vacancy_neighbour or boundary add a "defect" peak at 265 eV (a
/// stand-in for the changed near-edge structure of under-coordinated atoms). The dopant band
/// (the dopant's edge region) and the defect band let a band_mean scalarizer score the sites.
inline constexpr double lattice_dopant_band_lo_eV = 95.0;   ///< graphene Si L2,3 edge region
inline constexpr double lattice_dopant_band_hi_eV = 125.0;
inline constexpr double lattice_defect_band_lo_eV = 255.0;  ///< defect peak
inline constexpr double lattice_defect_band_hi_eV = 275.0;

/// Energy of the nanowire's interface-only loss peak (eV).
inline constexpr double nanowire_interface_peak_eV = 11.0;
/// GaAs volume plasmon energy used by the nanowire phantom (eV); typical measured 15.8–16.3 eV.
inline constexpr double nanowire_gaas_plasmon_eV = 16.0;
/// The volume-plasmon band (eV) in which the nanoparticles phantom's Au response is largest.
inline constexpr double nanoparticles_band_lo_eV = 20.0;
inline constexpr double nanoparticles_band_hi_eV = 30.0;

}  // namespace autostem::datasets
