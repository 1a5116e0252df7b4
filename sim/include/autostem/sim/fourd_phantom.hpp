#pragma once
// The 4D-STEM phantom (issue 19): a physically grounded 4D data set with a matching HAADF survey,
// since the field has no small public 4D data set with one. Atoms (graphene, twisted bilayer
// graphene with its moiré, a strained region) → projected potential (Kirkland's parametrization)
// → transmission function exp(iσ v_z) → at every probe position the pattern |FFT(ψ·t)|² on a
// detector of n × n pixels → electron counting with Poisson noise at the dose of the pattern.
// The survey is a virtual annular dark-field image of the same noiseless patterns. Sources of
// every formula in docs/models.md §7 (Kirkland, "Advanced Computing in Electron Microscopy", 2nd
// ed.; abTEM's documentation as reference). Parallel over probe positions (TBB).

#include <autostem/core/ground_truth.hpp>

#include <complex>
#include <cstdint>
#include <vector>

namespace autostem::sim {

/// One atom: position in Å in the specimen plane (x along columns, y along rows), atomic number.
struct Atom {
  double x_A = 0.0, y_A = 0.0;
  int Z = 6;
};

/// Homogeneous strain applied to positions r → (1 + ε) r about (x0, y0) inside a disc of radius
/// `radius_A` (inf = everywhere): x' = x0 + (1 + exx)(x − x0) + exy (y − y0),
/// y' = y0 + exy (x − x0) + (1 + eyy)(y − y0).
struct Strain {
  double exx = 0.0, eyy = 0.0, exy = 0.0;
  double x0_A = 0.0, y0_A = 0.0;
  double radius_A = 1e300;
};

/// Carbon atoms of a graphene sheet (a = 2.46 Å, two atoms per cell) covering [0, width) ×
/// [0, height) Å, rotated by `rotation_deg` about the field centre, then strained.
std::vector<Atom> graphene(double width_A, double height_A, double rotation_deg = 0.0,
                           const Strain& strain = {});

/// Two graphene layers, the second rotated by `twist_deg` about the field centre and then
/// translated by (shift_x_A, shift_y_A) (moiré period a / (2 sin(θ/2))); in projection the atoms
/// of both layers add. Without a shift an AA site (the atoms of both layers on top of each other)
/// lies at the field centre; a shift s moves the AA sites to c + (I − R)⁻¹(s − R t) (see
/// moire_aa_sites), i.e. by |s| / (2 sin(θ/2)): a shift within one graphene cell puts them anywhere
/// in the moiré cell.
std::vector<Atom> twisted_bilayer_graphene(double width_A, double height_A, double twist_deg,
                                           double shift_x_A = 0.0, double shift_y_A = 0.0);

/// Moiré period of two graphene layers twisted by `twist_deg` (deg, 0 < θ ≤ 180): a / (2 sin(θ/2)),
/// Å (a = 2.46 Å; e.g. 4.70 nm at 3°). Throws std::invalid_argument for θ outside (0, 180].
double moire_period_A(double twist_deg);

/// The twist (deg) whose moiré period equals `period_A` (> a/2): 2 asin(a / (2 period)). Throws
/// std::invalid_argument for a period ≤ a/2 (no twist has so short a moiré).
double twist_for_moire_period_deg(double period_A);

/// AA sites (x, y in Å, the frame of twisted_bilayer_graphene with the same arguments) within
/// [−margin, width + margin) × [−margin, height + margin): the points c + (I − R)⁻¹(s − R t) for
/// every graphene lattice vector t, where c is the field centre, R the rotation by the twist and s
/// the shift (there layer 2's lattice site coincides with layer 1's). Throws std::invalid_argument
/// for a twist of 0 (no moiré) or non-finite arguments.
struct MoireSite {
  double x_A = 0.0, y_A = 0.0;
};
std::vector<MoireSite> moire_aa_sites(double width_A, double height_A, double twist_deg, double shift_x_A = 0.0,
                                      double shift_y_A = 0.0, double margin_A = 0.0);

/// Projected potential of one atom at distance r (Å), V·Å (Kirkland eq. C.20 with the
/// parameters of his Table C.4; Z = 6 only). r is clamped at 0.01 Å (the K0 term diverges
/// logarithmically). Throws std::invalid_argument for another Z.
double projected_potential_VA(int Z, double r_A);

/// Interaction parameter σ (rad / (V·Å)) at an accelerating voltage: 2π/(λV)·(m₀c² + eV) /
/// (2m₀c² + eV) (Kirkland eq. 5.6).
double interaction_parameter(double voltage_kV);

struct FourDPhantomConfig {
  double voltage_kV = 80.0;
  double alpha_mrad = 25.0;     ///< probe convergence semi-angle (large: overlapping discs, CoM)
  double defocus_A = 0.0;
  /// aperture edge taper (mrad; 0 = hard edge): see autostem::stem_probe. NBED strain needs a
  /// soft edge of ~2 detector px, else the Gibbs ringing of the off-grid Bragg discs interferes
  /// between discs and shifts them by ~0.03 px with the probe position (docs/4dstem.md "Strain").
  double aperture_taper_mrad = 0.0;
  double pixel_A = 0.1;         ///< sampling of the potential and the probe window
  std::size_t detector_px = 128;///< pattern n × n = probe window n × n potential pixels
  std::size_t scan_rows = 32, scan_cols = 32;
  std::size_t scan_step_px = 2; ///< scan step in potential pixels (scan pixel = step × pixel_A)
  /// dose of a pattern (electrons; autostem::electrons(current_pA, frame_s) = I·t/e, e.g. 20 pA ×
  /// 1 ms = 1.248·10⁵); 0 = probabilities (Σ = 1)
  double electrons_per_pattern = 0.0;
  /// true: Poisson counts at electrons_per_pattern (one measured realisation); false: the expected
  /// counts (probabilities × electrons_per_pattern), for a ground truth whose counting noise is
  /// drawn by the simulated instrument at the dose of each measurement (as the EELS phantoms).
  bool poisson_counts = true;
  double haadf_inner_mrad = 60.0, haadf_outer_mrad = 1e9;  ///< survey detector (clipped to the pattern)
  std::uint64_t seed = 1;
};

/// Patterns and survey of a specimen. four_d (scan_rows, scan_cols, n, n) float32: noiseless
/// probabilities (electrons_per_pattern = 0), expected counts (probabilities ×
/// electrons_per_pattern, poisson_counts = false) or Poisson counts at that dose;
/// detector axes in mrad; survey the virtual ADF image; source "phantom:fourd(…)". The potential
/// covers the scan plus the probe window; scan position (0, 0) is at window offset 0. Throws
/// std::invalid_argument on zero sizes. Deterministic for a seed whatever the thread count.
GroundTruth make_fourd_phantom(const std::vector<Atom>& atoms, const FourDPhantomConfig& config);

}  // namespace autostem::sim
