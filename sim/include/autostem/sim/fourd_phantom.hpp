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

/// Two graphene layers, the second rotated by `twist_deg` (moiré period a / (2 sin(θ/2))); in
/// projection the atoms of both layers add.
std::vector<Atom> twisted_bilayer_graphene(double width_A, double height_A, double twist_deg);

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
  double electrons_per_pattern = 0.0;  ///< Poisson counting at this dose; 0 = noiseless intensities
  double haadf_inner_mrad = 60.0, haadf_outer_mrad = 1e9;  ///< survey detector (clipped to the pattern)
  std::uint64_t seed = 1;
};

/// Patterns and survey of a specimen. four_d (scan_rows, scan_cols, n, n) float32: noiseless
/// probabilities × electrons_per_pattern, or Poisson counts when electrons_per_pattern > 0;
/// detector axes in mrad; survey the virtual ADF image; source "phantom:fourd(…)". The potential
/// covers the scan plus the probe window; scan position (0, 0) is at window offset 0. Throws
/// std::invalid_argument on zero sizes. Deterministic for a seed whatever the thread count.
GroundTruth make_fourd_phantom(const std::vector<Atom>& atoms, const FourDPhantomConfig& config);

}  // namespace autostem::sim
