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

/// Names accepted by make_phantom, in a fixed order: {"nanowire", "nanoparticles"}.
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
GroundTruth make_phantom(const std::string& name, std::uint64_t seed, std::size_t rows = 128,
                         std::size_t cols = 128);

/// Energy of the nanowire's interface-only loss peak (eV).
inline constexpr double nanowire_interface_peak_eV = 11.0;
/// GaAs volume plasmon energy used by the nanowire phantom (eV); typical measured 15.8–16.3 eV.
inline constexpr double nanowire_gaas_plasmon_eV = 16.0;
/// The volume-plasmon band (eV) in which the nanoparticles phantom's Au response is largest.
inline constexpr double nanoparticles_band_lo_eV = 20.0;
inline constexpr double nanoparticles_band_hi_eV = 30.0;

}  // namespace autostem::datasets
