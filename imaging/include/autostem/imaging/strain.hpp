#pragma once
// Strain from nanobeam electron diffraction (NBED, 4D-STEM with a small convergence angle, so the
// Bragg discs do not overlap): disc detection by template cross-correlation, sub-pixel
// refinement, a lattice fit (two reciprocal basis vectors g1, g2 by least squares over the
// indexed discs) and the strain of the fitted lattice relative to a reference lattice.
//
// Method (docs/4dstem.md "Strain"): as py4DSTEM's disc detection and strain mapping
// (py4DSTEM.process.diskdetection / process.strain: correlation with a probe template, lattice
// vectors fitted to indexed discs, reference = median over an unstrained region; Savitzky et al.,
// Microsc. Microanal. 27 (2021) 712) and the disc-registration study of Pekin et al.,
// Ultramicroscopy 176 (2017) 170 (cross-correlation with a disc template is among the most
// precise registrations for non-overlapping discs).
//
// Coordinates: detector pixels (row, col) of a (ky, kx) pattern, C-order; x = columns, y = rows
// (image convention, y pointing down), for the strain as for the scan.
//
// Strain convention. A reciprocal basis g1, g2 (detector px, as rows of M = [g1ᵀ; g2ᵀ] in (x, y))
// follows a real-space deformation r' = D r as M' = M D⁻¹ (reciprocal vectors transform with
// D⁻ᵀ), so D = M'⁻¹ M_ref. Reported: the infinitesimal strain ε = (D + Dᵀ)/2 − I, i.e.
// εxx = D_xx − 1, εyy = D_yy − 1, εxy = (D_xy + D_yx)/2 (tensor shear; the engineering shear is
// 2εxy), and the rotation θ = (D_yx − D_xy)/2 (rad, positive from +x towards +y, i.e. clockwise
// as an image with y down is displayed). This is the deformation the 4D phantom applies
// (sim::Strain: x' = x0 + (1 + exx)(x − x0) + exy(y − y0), …), so applied values are recovered
// directly. py4DSTEM reports the first-order form 1 − (D⁻ᵀ)ᵢᵢ (same to O(ε²)) and names its first
// array axis (our rows, y) "x": its e_xx is our εyy.
//
// Spec syntax (same --scalarizer option as the other pattern scalarizers):
//   strain_xx:R:G1Y:G1X:G2Y:G2X     εxx of the pattern's lattice against the reference basis
//   strain_yy:…, strain_xy:…        εyy, εxy (dimensionless, 0.01 = 1 %)
//   strain_rot:…                    lattice rotation θ (rad)
//   strain_…:R:G1Y:G1X:G2Y:G2X:DEG[:flip]   the same in the scan frame: the detector is rotated
//                                   by DEG (and mirrored with flip) relative to the scan, as
//                                   `autostem dpc` finds it (ScanRotation, diffraction.hpp)
// R: disc (probe) radius in detector px (convergence semi-angle / mrad per px); G1Y:G1X and
// G2Y:G2X: the reference reciprocal basis vectors in detector px (row, col), e.g. the g1, g2 of
// reference_lattice() over an unstrained region, as `autostem strain FILE --reference …` prints
// them (apps/src/cmd_strain.cpp). A pattern whose lattice cannot be fitted (fewer
// than 3 indexed discs, collinear discs) gives NaN.

#include <autostem/core/types.hpp>
#include <autostem/imaging/diffraction.hpp>
#include <autostem/imaging/scalarizer.hpp>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace autostem {

/// One detected Bragg disc: centre (detector px, sub-pixel) and the template correlation at
/// the centre (counts × template weight; a relative measure of the disc's intensity).
struct BraggDisc {
  double row = 0.0, col = 0.0;
  double intensity = 0.0;
};

struct DiscDetectionOptions {
  double disc_radius_px = 0.0;            ///< template disc radius (px), > 0
  /// keep correlation maxima ≥ this × the largest (the undiffracted disc, usually): the {100}
  /// discs of single-layer graphene at 80 kV carry ≈ 2·10⁻⁴ of it ((σ V_g)², Kirkland ch. 5).
  double min_relative_intensity = 5e-5;
  std::size_t max_discs = 200;            ///< keep at most this many (strongest first)
  /// σ (px) of the Gaussian edge of the sub-pixel refinement template (see detect_discs)
  double edge_sigma_px = 1.0;
};

/// Detects the Bragg discs of one (ky, kx) pattern: cross-correlation with a disc template of
/// radius R by FFT (FFTW) → local maxima (the largest within radius R: a bright disc's edge
/// ringing within 3R of it is suppressed, a disc ≥ 3R away is kept) whose centre lies ≥ R + 5σ
/// px inside the pattern and whose correlation is ≥ min_relative_intensity × the largest → each
/// refined to sub-pixel by maximising c(s) = Σ_p P(p) w(|p − s|), the correlation with a disc of radius R
/// whose edge is blurred by a Gaussian (w(d) = ½ erfc((d − R)/(√2 σ)), σ = edge_sigma_px),
/// evaluated directly at sub-pixel offsets s: iterated 3-point parabolas per axis with steps
/// 0.5, 0.25, 0.12, 0.06, 0.03, 0.03 px. The integral ∫ P(p) w(|p − s|) d²p of a symmetric disc
/// is symmetric about the disc centre, so the iteration's fixed point is the centre; the smooth
/// edge keeps the sum over pixels close to that integral (for patterns band-limited by the
/// detector sampling, as the phantom's, the aliasing term is ~exp(−2π²σ²·¼)), and avoids the
/// pull towards whole pixels of one parabola through a cusped peak. The template stops 1 px
/// short of the nearest other disc's edge (reach min(R + 5σ, d_nearest − R − 1), at least
/// R + ½): the undiffracted disc may be 10⁴ times brighter than its neighbours. Sorted by intensity,
/// strongest first. Throws std::invalid_argument when pattern.size() != ky·kx, an extent is 0,
/// R ≤ 0 or R ≥ min(ky, kx)/4, or σ ∉ (0, R].
std::vector<BraggDisc> detect_discs(std::span<const float> pattern, std::size_t ky, std::size_t kx,
                                    const DiscDetectionOptions& options);

/// A lattice in the detector plane: the origin (the undiffracted disc) and two reciprocal basis
/// vectors, all in detector px (row, col). ok = false when no fit was possible (values NaN).
struct DiffractionLattice {
  double origin_row = std::numeric_limits<double>::quiet_NaN();
  double origin_col = std::numeric_limits<double>::quiet_NaN();
  double g1_row = std::numeric_limits<double>::quiet_NaN(), g1_col = std::numeric_limits<double>::quiet_NaN();
  double g2_row = std::numeric_limits<double>::quiet_NaN(), g2_col = std::numeric_limits<double>::quiet_NaN();
  std::size_t discs = 0;  ///< discs used in the fit
  double rms_px = 0.0;    ///< weighted RMS residual of the fit (px)
  bool ok = false;
};

/// A first lattice from detected discs alone: origin = the strongest disc; g1 = among the
/// shortest vectors to other discs (within 5 % of the shortest), the one nearest the +x
/// direction (smallest |atan2(row, col)|); g2 = the shortest vector with cross(g1, g2) > 0 and
/// an angle to g1 of at least 20° (ties within 5 % in length: the smaller angle to g1). For
/// a hexagonal lattice g2 is at +60° from g1. ok = false with fewer than 3 discs.
DiffractionLattice guess_lattice(const std::vector<BraggDisc>& discs);

/// Least-squares fit of origin, g1, g2 to the discs indexed by `basis`: each disc gets
/// (h, k) = round(B⁻¹ (q − origin_guess)) with B = [g1 g2] of `basis` and origin_guess = the
/// disc nearest basis' origin, is kept when |q − origin_guess − h g1 − k g2| ≤ tolerance ×
/// min(|g1|, |g2|), and q = origin + h g1 + k g2 is solved by weighted least squares (weights =
/// disc intensity, as py4DSTEM's fit_lattice_vectors) separately for rows and columns. Without
/// a finite basis origin the origin guess is the strongest disc. ok = false (NaN values) with
/// fewer than 3 kept discs or a singular system (collinear indices). Throws
/// std::invalid_argument when the basis vectors are not finite or are collinear, or tolerance
/// ∉ (0, 0.5].
DiffractionLattice fit_lattice(const std::vector<BraggDisc>& discs, const DiffractionLattice& basis,
                               double tolerance = 0.25);

/// The lattice's basis vectors g1, g2 in the scan frame: each rotated by rotate_to_scan_frame
/// (diffraction.hpp). The origin, a detector position, is unchanged. The strain of two lattices
/// both in the scan frame is the strain along the scan's x (columns) and y (rows). Throws nothing.
DiffractionLattice to_scan_frame(const DiffractionLattice& lattice, const ScanRotation& rotation);

/// Strain of a lattice relative to a reference (see the convention at the top of this header).
/// NaN components when either lattice is not ok. Throws nothing.
struct StrainTensor {
  double exx = 0.0, eyy = 0.0, exy = 0.0;
  double rotation_rad = 0.0;
};
StrainTensor lattice_strain(const DiffractionLattice& measured, const DiffractionLattice& reference);

/// The fitted lattice of every pattern of a 4D data set (row-major rows·cols): discs detected
/// with `options`, indexed by `basis` (e.g. guess_lattice of an unstrained pattern or of the
/// mean pattern) with fit_lattice's default tolerance. Parallel over patterns (TBB).
/// Throws as detect_discs and fit_lattice.
std::vector<DiffractionLattice> fit_lattice_map(const FourDStem& data, const DiscDetectionOptions& options,
                                                const DiffractionLattice& basis);

/// The reference lattice of a region: the component-wise median of the ok lattices whose
/// `region` entry (row-major rows·cols, as lattices) is non-zero (py4DSTEM get_reference_g1g2).
/// Throws std::invalid_argument when the sizes differ or no ok lattice lies in the region.
DiffractionLattice reference_lattice(const std::vector<DiffractionLattice>& lattices,
                                     std::span<const std::uint8_t> region);

/// Strain maps (rows, cols) of a 4D data set relative to a reference lattice (NaN where a fit
/// failed), and the reference used (in detector px: what the strain_* specs take).
struct StrainMaps {
  ImageArray exx, eyy, exy, rotation_rad;
  DiffractionLattice reference;
};

/// strain_map: the whole chain. The basis for indexing is guess_lattice of the mean pattern of
/// the region; the reference is reference_lattice over the region; every pattern's fitted
/// lattice is compared with it. region: row-major rows·cols, non-zero = unstrained reference.
/// Throws as fit_lattice_map / reference_lattice, and std::invalid_argument when the region's
/// mean pattern gives no lattice. scan_rotation: the detector's rotation (and flip) relative to
/// the scan (find_scan_rotation, or given); the strain is then along the scan axes (the lattices
/// are fitted in detector px and turned by to_scan_frame); the default (0°, no flip) keeps the
/// detector axes.
StrainMaps strain_map(const FourDStem& data, const DiscDetectionOptions& options,
                      std::span<const std::uint8_t> region, const ScanRotation& scan_rotation = {});

/// As above with a given reference lattice (detector px; basis for indexing and reference at once).
StrainMaps strain_map(const FourDStem& data, const DiscDetectionOptions& options,
                      const DiffractionLattice& reference, const ScanRotation& scan_rotation = {});

/// The strain scalarizers strain_xx|strain_yy|strain_xy|strain_rot (syntax at the top).
class StrainScalarizer final : public Scalarizer {
 public:
  enum class Component { exx, eyy, exy, rotation };
  /// reference in detector px; scan_rotation turns both lattices to the scan frame before the
  /// strain (default: detector axes). Throws std::invalid_argument when R ≤ 0, or the reference
  /// vectors are not finite or are collinear.
  StrainScalarizer(Component c, double disc_radius_px, const DiffractionLattice& reference,
                   std::optional<ScanRotation> scan_rotation = std::nullopt);
  std::string name() const override;
  std::string spec() const override;
  std::string units() const override { return c_ == Component::rotation ? "rad" : ""; }
  std::size_t expected_length() const override { return 0; }

 protected:
  double evaluate_spectrum(std::span<const float> s) const override;
  double evaluate_pattern(std::span<const float> p, std::size_t ky, std::size_t kx) const override;
  double evaluate_unshaped(std::span<const float> s) const override;

 private:
  Component c_;
  DiscDetectionOptions options_;
  DiffractionLattice reference_;
  std::optional<ScanRotation> scan_rotation_;
};

/// Builds a strain scalarizer from a spec, or nullptr when the name is not strain_*. Throws
/// std::invalid_argument naming the spec and the problem.
std::unique_ptr<Scalarizer> make_strain_scalarizer(const std::string& spec);

/// The spec forms of the strain scalarizers, for scalarizer_forms().
const std::vector<ScalarizerForm>& strain_scalarizer_forms();

}  // namespace autostem
