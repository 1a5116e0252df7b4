#pragma once
// Diffraction patterns (4D-STEM): centre of mass and virtual detectors of one pattern, the
// pattern scalarizers built on them (same --scalarizer syntax as the spectrum ones), the scan
// rotation found by minimising the curl of the CoM field, and the probe × transmission FFT model
// of one pattern (the start of the 4D-STEM phantom).
//
// Pattern coordinates: pixel (row, col) of a (ky, kx) pattern, C-order; the default centre is
// the optical axis of an fft-shifted pattern, pixel (⌊ky/2⌋, ⌊kx/2⌋): where numpy.fft.fftshift
// and diffraction_pattern() put the zero frequency, so for even sizes half a pixel below and
// right of the geometric centre ((ky − 1)/2, (kx − 1)/2) (same for odd sizes). Real detectors
// put the undiffracted beam wherever the optics do: give CY:CX then. A mask is the annulus
// r_in ≤ r < r_out (px) about the centre, r = √((row − cy)² + (col − cx)²).
//
// Spec syntax (radii and centres in detector pixels; fields separated by ':'):
//   com_x[:R_IN:R_OUT[:CY:CX]]      CoM column offset from the centre (px), optional annulus mask
//   com_y[:R_IN:R_OUT[:CY:CX]]      CoM row offset (px)
//   com_mag[:R_IN:R_OUT[:CY:CX]]    |CoM offset| (px) — DPC magnitude, seed 003's target
//   com_angle[:R_IN:R_OUT[:CY:CX]]  atan2(com_y, com_x) (rad, −π…π)
//   vdet:R_IN:R_OUT[:CY:CX]         virtual annular detector: Σ counts with R_IN ≤ r < R_OUT
//   bf:R[:CY:CX]                    virtual bright field, = vdet:0:R
//   abf:R_IN:R_OUT[:CY:CX], adf:R_IN:R_OUT[:CY:CX]   annular bright / dark field, = vdet
// A flat signal (Measurement::signal) is taken as a square pattern (side √n); otherwise use
// evaluate(pattern, ky, kx).

#include <autostem/core/types.hpp>
#include <autostem/imaging/scalarizer.hpp>

#include <complex>
#include <cstddef>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace autostem {

/// Annular mask in the detector plane (px). r_out = +inf and r_in = 0: every pixel. Centre
/// NaN = the default centre (⌊ky/2⌋, ⌊kx/2⌋), the optical axis of an fft-shifted pattern.
struct PatternMask {
  double r_in_px = 0.0;
  double r_out_px = std::numeric_limits<double>::infinity();
  double centre_row = std::numeric_limits<double>::quiet_NaN();
  double centre_col = std::numeric_limits<double>::quiet_NaN();
};

/// Centre of mass of one pattern relative to the mask centre: x (columns) and y (rows) in px,
/// and the total counts inside the mask.
struct CentreOfMass {
  double x_px = 0.0, y_px = 0.0, total = 0.0;
};

/// CoM of a (ky, kx) pattern (flat C-order) over the pixels of `mask`: x = Σ I·(col − cx)/Σ I,
/// y = Σ I·(row − cy)/Σ I; (0, 0) when Σ I ≤ 0. Throws std::invalid_argument when
/// pattern.size() != ky·kx, an extent is 0, or the mask has r_out ≤ r_in or r_in < 0.
CentreOfMass centre_of_mass(std::span<const float> pattern, std::size_t ky, std::size_t kx,
                            const PatternMask& mask = {});

/// Σ counts of the pixels inside `mask` (a virtual detector). Throws as centre_of_mass.
double virtual_detector(std::span<const float> pattern, std::size_t ky, std::size_t kx,
                        const PatternMask& mask);

/// A scalarizer of diffraction patterns: the CoM components / magnitude / angle or a virtual
/// detector (see the spec syntax at the top of this header).
class PatternScalarizer final : public Scalarizer {
 public:
  enum class Quantity { com_x, com_y, com_mag, com_angle, virtual_detector };
  /// `alias` is the name the spec used (e.g. "bf", "adf"), kept for spec(). Throws
  /// std::invalid_argument on a bad mask (r_out ≤ r_in, r_in < 0, non-finite centre given).
  PatternScalarizer(Quantity q, PatternMask mask, std::string alias);
  std::string name() const override { return alias_; }
  std::string spec() const override;
  std::string units() const override;
  std::size_t expected_length() const override { return 0; }
  Quantity quantity() const { return q_; }
  const PatternMask& mask() const { return mask_; }

 protected:
  double evaluate_spectrum(std::span<const float> s) const override;
  double evaluate_pattern(std::span<const float> p, std::size_t ky, std::size_t kx) const override;
  double evaluate_unshaped(std::span<const float> s) const override;

 private:
  Quantity q_;
  PatternMask mask_;
  std::string alias_;
};

/// Builds a pattern scalarizer from a spec (syntax above), or returns nullptr when the name is
/// not a pattern scalarizer's. Throws std::invalid_argument naming the spec and the problem
/// (wrong number of fields, non-numeric field, bad radii).
std::unique_ptr<Scalarizer> make_pattern_scalarizer(const std::string& spec);

/// The spec forms above, for scalarizer_forms().
const std::vector<ScalarizerForm>& pattern_scalarizer_forms();

/// The scalarizer applied to every pattern of 4D data: the ground-truth map (rows, cols) of the
/// target property. Throws std::invalid_argument from the scalarizer (e.g. a spectrum scalarizer).
ImageArray scalarize(const FourDStem& data, const Scalarizer& scalarizer);

/// Radius (detector px) of the central (undiffracted, bright-field) disc of the scan's mean
/// pattern: the pixels at or above half its maximum, as an equal-area circle, √(N/π). Bragg discs
/// of a thin specimen are far weaker than the central one (≈ 10⁻⁴ of it for graphene's {100} at
/// 80 kV), so they are not counted. Throws std::invalid_argument on an empty scan or a mean
/// pattern with no positive value.
double bright_field_disc_radius_px(const FourDStem& data);

/// Scan rotation and flip of a CoM field: the detector axes are rotated by `rotation_rad` (and,
/// with `flip`, the detector x axis mirrored first) relative to the scan axes.
struct ScanRotation {
  double rotation_rad = 0.0;
  bool flip = false;
  double curl_rms = 0.0;  ///< RMS curl of the corrected field (px per scan px)
};

/// Finds the rotation (and flip) that, applied to the CoM field (com_x, com_y over the scan, px),
/// minimises the RMS curl ∂y'/∂c − ∂x'/∂r (central differences over interior scan pixels): an
/// electric field is a gradient, so the right rotation leaves it curl-free (LiberTEM's and
/// py4DSTEM's DPC calibration: py4DSTEM `get_rotation_and_flip` / LiberTEM `com` analysis docs).
/// Corrected field: x' = cos θ·x̃ − sin θ·y, y' = sin θ·x̃ + cos θ·y, x̃ = ±x. Search: 1° steps
/// over [0°, 180°) then golden-section refinement to 1e-4 rad; the result is defined modulo π
/// (the curl cannot tell θ from θ + π; choose by the sign of the divergence where the physics
/// fixes it). Throws std::invalid_argument when the maps differ in shape or are smaller than 3×3.
ScanRotation find_scan_rotation(const ImageArray& com_x, const ImageArray& com_y);

/// The corrected CoM field of a rotation: (x', y') as in find_scan_rotation.
void apply_scan_rotation(const ScanRotation& r, const ImageArray& com_x, const ImageArray& com_y,
                         ImageArray& out_x, ImageArray& out_y);

/// RMS curl ∂y/∂c − ∂x/∂r of a vector field (x = columns, y = rows components, e.g. CoM px) by
/// central differences over the interior pixels (px per scan px); NaN when the maps are smaller
/// than 3×3. Throws std::invalid_argument when the maps differ in shape.
double curl_rms(const ImageArray& x, const ImageArray& y);

/// One detector-frame vector (x = columns, y = rows, px) in the scan frame: the transform of
/// apply_scan_rotation, x' = cos θ·x̃ − sin θ·y, y' = sin θ·x̃ + cos θ·y, x̃ = ±x. Throws nothing.
void rotate_to_scan_frame(const ScanRotation& r, double& x, double& y);

/// Settles the half-turn that the curl cannot see (θ or θ + π) from the physics of a thin
/// specimen: the CoM shift is proportional to the gradient of the projected potential's phase
/// (⟨k⟩ = ∇φ/2π for a weak phase object; Müller et al., Nat. Commun. 5 (2014) 5653; Lazić et al.,
/// Ultramicroscopy 160 (2016) 265), which points towards the atoms, so the corrected field's
/// divergence ∇²φ/2π is negative on the atoms, where an annular dark-field image (`atoms_bright`,
/// same shape as the maps, e.g. a virtual ADF of the same scan) is bright. Returns r, or r with
/// θ + π (wrapped to [0, 2π)), whichever makes the Pearson correlation of divergence (central
/// differences, interior pixels) and atoms_bright negative; r unchanged when the correlation is
/// not finite (flat maps). Thick or strongly dynamical specimens can break the weak-phase rule:
/// give the rotation by hand then. Throws std::invalid_argument when the three maps differ in
/// shape or are smaller than 3×3.
ScanRotation resolve_half_turn(const ScanRotation& r, const ImageArray& com_x, const ImageArray& com_y,
                               const ImageArray& atoms_bright);

/// Integrated centre of mass (iCoM, "iDPC"): the scalar map f whose gradient is closest (least
/// squares) to the CoM field in the scan frame, ∇f ≈ (com_x, com_y), solved by Fourier
/// integration f = F⁻¹[(k_x F[x] + k_y F[y]) / (2πi |k|²)] with the mean set to 0 (Lazić, Bosch &
/// Lazar, Ultramicroscopy 160 (2016) 265, eq. 11; py4DSTEM's `get_phase_from_CoM`). The maps are
/// mirrored to 2R × 2C first (even extension) so the field's non-periodic edges do not wrap
/// around. Units: CoM px × scan px; for a thin specimen f ∝ the projected potential (bright on
/// the atoms when the rotation's half-turn is right). Throws std::invalid_argument when the maps
/// differ in shape or one is empty.
ImageArray integrate_com(const ImageArray& com_x, const ImageArray& com_y);

/// Parses a scan rotation given by hand: "DEG" or "DEG:flip" (degrees, any finite value; flip =
/// the detector x axis mirrored first), as autostem dpc prints it. Throws std::invalid_argument
/// naming the text otherwise.
ScanRotation parse_scan_rotation(const std::string& text);

/// "DEG" or "DEG:flip" of a rotation (θ in degrees, 4 decimals): parse_scan_rotation's input.
std::string format_scan_rotation(const ScanRotation& r);

/// Relativistic electron wavelength (Å) at an accelerating voltage (kV):
/// λ = h / √(2 m₀ e V (1 + e V / (2 m₀ c²))) = 12.2643 / √(V (1 + 0.978476e−6 V)) Å, V in volts
/// (Kirkland, "Advanced Computing in Electron Microscopy", 2nd ed., eq. 2.5). Throws
/// std::invalid_argument on V ≤ 0.
double electron_wavelength_A(double voltage_kV);

/// A STEM probe ψ(r) on an n × n grid of pixel size dx (Å), centred at (n/2, n/2) + (row, col)
/// shift in pixels: inverse FFT of the objective aperture A(k) (1 for λ|k| ≤ α) times
/// exp(−iχ(k)), χ = π λ Δf |k|² (defocus Δf in Å, positive = underfocus; Kirkland eq. 3.42, Cs
/// ignored), normalised so Σ|ψ|² = 1. Row-major (n, n). taper_mrad > 0 softens the aperture
/// edge: A = ½(1 + cos(π(θ − α + τ/2)/τ)) for |θ − α| < τ/2, θ = λ|k| (half transmission at α;
/// abTEM's `Aperture(taper=…)` does the same). A hard edge on the sampled k grid puts Gibbs
/// ringing around every disc that lands off the grid (any Bragg disc), which a taper of a pixel
/// or two removes; a real disc edge is softened by the source size and the detector's MTF
/// likewise. Throws std::invalid_argument on n = 0, dx ≤ 0, α ≤ 0, taper < 0 or ≥ 2α.
std::vector<std::complex<double>> stem_probe(std::size_t n, double pixel_A, double voltage_kV,
                                             double alpha_mrad, double defocus_A,
                                             double shift_row_px = 0.0, double shift_col_px = 0.0,
                                             double taper_mrad = 0.0);

/// One diffraction pattern |FFT(ψ · t)|² (Kirkland eq. 6.? / the multislice exit wave in the
/// single-slice limit), fft-shifted so the zero frequency sits at pixel (n/2, n/2), as float32
/// intensities summing to Σ|ψ·t|² (Parseval). probe and transmission are (n, n) row-major.
/// Throws std::invalid_argument when the sizes differ or are not n².
std::vector<float> diffraction_pattern(std::span<const std::complex<double>> probe,
                                       std::span<const std::complex<double>> transmission,
                                       std::size_t n);

/// As diffraction_pattern, into `out` (n² values) with `work` as scratch (resized to n²), for
/// loops over many probe positions (no allocation per pattern). Throws as diffraction_pattern,
/// and when out.size() != n².
void diffraction_pattern_into(std::span<const std::complex<double>> probe,
                              std::span<const std::complex<double>> transmission, std::size_t n,
                              std::vector<std::complex<double>>& work, std::span<float> out);

}  // namespace autostem
