#pragma once
// Value types shared by every part of autostem: probe positions, calibrations, images,
// spectrum images, surveys and measurements. Units follow DESIGN.md §4: one base unit per
// dimension (seconds, nm for lengths in the sample plane, eV, pA), named in the identifier.

#include <Eigen/Core>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace autostem {

/// Row-major 2-D array of doubles, (rows, cols): the layout of every image in autostem.
using ImageArray = Eigen::Array<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// A probe position in the survey image's pixel frame: (row, col), sub-pixel, pixel centres at
/// integers. Backends convert to instrument units; strategies never do.
struct Position {
  double row = 0.0;
  double col = 0.0;
  friend bool operator==(const Position&, const Position&) = default;
};

/// True when both coordinates are finite (neither NaN nor ±inf).
inline bool is_finite(const Position& p) { return std::isfinite(p.row) && std::isfinite(p.col); }

/// A position whose coordinates are NaN: "not known" (e.g. the actual probe position on a live
/// instrument that cannot read it back).
inline Position unknown_position() {
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  return {nan, nan};
}

/// Calibration of one axis of an n-dimensional signal: value = offset + index × scale
/// (HyperSpy's convention; DM's is value = (index − origin) × scale, i.e. offset = −origin × scale).
struct AxisCalibration {
  std::string name;   ///< e.g. "y", "x", "Energy loss"
  std::string units;  ///< e.g. "nm", "eV"; empty when unknown
  double offset = 0.0;
  double scale = 1.0;
  std::size_t size = 0;
  bool navigate = false;  ///< HyperSpy's navigation (true) vs signal (false) axis
  double value(double index) const { return offset + index * scale; }
};

/// Energy-loss axis of a spectrometer: energy_eV(ch) = offset_eV + ch × dispersion_eV.
struct EnergyAxis {
  double offset_eV = 0.0;
  double dispersion_eV = 1.0;  ///< eV per channel, > 0
  std::size_t channels = 0;
  double energy_eV(double channel) const { return offset_eV + channel * dispersion_eV; }
  /// Fractional channel index of an energy (may be outside [0, channels)).
  double channel_of(double energy_eV) const { return (energy_eV - offset_eV) / dispersion_eV; }
};

/// Spatial calibration of the survey frame: physical position (nm) of pixel (row, col) is
/// (origin_row_nm + row × pixel_size_nm, origin_col_nm + col × pixel_size_nm). Square pixels.
struct SpatialCalibration {
  double pixel_size_nm = 1.0;
  double origin_row_nm = 0.0;
  double origin_col_nm = 0.0;
  /// Area of one pixel in Å² (1 nm² = 100 Å²).
  double pixel_area_A2() const { return pixel_size_nm * pixel_size_nm * 100.0; }
};

/// A 2-D image (survey, map, dose map): data (rows, cols) row-major with its calibration.
struct Image {
  ImageArray data;
  SpatialCalibration calibration;
  std::string name;   ///< e.g. "HAADF"
  std::string units;  ///< units of the pixel values, e.g. "counts"; empty when unknown
  std::size_t rows() const { return static_cast<std::size_t>(data.rows()); }
  std::size_t cols() const { return static_cast<std::size_t>(data.cols()); }
};

/// A spectrum image (y, x, E) stored C-order (E fastest), float32 as recorded by detectors.
class SpectrumImage {
 public:
  SpectrumImage() = default;
  /// Allocates rows × cols × axis.channels zeros. Throws std::invalid_argument on a zero extent.
  SpectrumImage(std::size_t rows, std::size_t cols, EnergyAxis axis, SpatialCalibration cal = {});

  std::size_t rows() const { return rows_; }
  std::size_t cols() const { return cols_; }
  std::size_t channels() const { return energy_.channels; }
  const EnergyAxis& energy() const { return energy_; }
  const SpatialCalibration& calibration() const { return calibration_; }
  void set_calibration(const SpatialCalibration& c) { calibration_ = c; }

  /// The spectrum at pixel (row, col): channels() values. Throws std::out_of_range.
  std::span<const float> spectrum(std::size_t row, std::size_t col) const;
  std::span<float> spectrum(std::size_t row, std::size_t col);
  /// All values, C-order (rows, cols, channels).
  std::span<const float> data() const { return data_; }
  std::span<float> data() { return data_; }
  /// Sum over the energy axis at every pixel: (rows, cols).
  ImageArray total_counts() const;

 private:
  std::size_t rows_ = 0, cols_ = 0;
  EnergyAxis energy_;
  SpatialCalibration calibration_;
  std::vector<float> data_;
};

/// What one measurement is (DESIGN.md §2, §12 "Measurements have shapes").
///  - spectrum:    (E) channels on the instrument's energy axis (EELS, EDS);
///  - diffraction: a diffraction pattern (ky, kx) on the detector (4D-STEM);
///  - image:       a 2-D image (rows, cols), e.g. a small re-scanned patch.
enum class SignalKind { spectrum, diffraction, image };
const char* to_string(SignalKind k);
/// Parses "spectrum" | "diffraction" | "image"; throws std::invalid_argument listing them.
SignalKind signal_kind_from_string(const std::string& text);

/// The shape of one measured signal, C-order (last index fastest): (E) for a spectrum, (ky, kx)
/// for a diffraction pattern, (rows, cols) for an image. Every extent ≥ 1.
struct SignalShape {
  SignalKind kind = SignalKind::spectrum;
  std::vector<std::size_t> dims;

  /// Number of values, the product of dims (0 when dims is empty).
  std::size_t elements() const;
  /// "spectrum (1024)", "diffraction (256, 256)": for messages and file attributes.
  std::string describe() const;
  static SignalShape spectrum(std::size_t channels) { return {SignalKind::spectrum, {channels}}; }
  static SignalShape diffraction(std::size_t ky, std::size_t kx) {
    return {SignalKind::diffraction, {ky, kx}};
  }
  friend bool operator==(const SignalShape&, const SignalShape&) = default;
};

/// 4D-STEM data: one diffraction pattern (ky, kx) per scan pixel (rows, cols), stored C-order
/// (rows, cols, ky, kx), float32 counts as recorded by pixelated detectors (Merlin, ARINA,
/// EMPAD). The detector axes carry their own calibration (e.g. mrad or 1/nm per pixel).
class FourDStem {
 public:
  FourDStem() = default;
  /// Allocates rows × cols × ky × kx zeros. Throws std::invalid_argument on a zero extent or a
  /// size beyond 2^40 values (naming the shape).
  FourDStem(std::size_t rows, std::size_t cols, std::size_t ky, std::size_t kx,
            SpatialCalibration cal = {});

  std::size_t rows() const { return rows_; }
  std::size_t cols() const { return cols_; }
  std::size_t ky() const { return ky_; }
  std::size_t kx() const { return kx_; }
  SignalShape pattern_shape() const { return SignalShape::diffraction(ky_, kx_); }
  const SpatialCalibration& calibration() const { return calibration_; }
  void set_calibration(const SpatialCalibration& c) { calibration_ = c; }
  /// Calibration of the detector axes (ky, kx); names "ky", "kx", units empty when unknown.
  AxisCalibration detector_ky, detector_kx;

  /// The pattern at scan pixel (row, col): ky()·kx() values, C-order. Throws std::out_of_range.
  std::span<const float> pattern(std::size_t row, std::size_t col) const;
  std::span<float> pattern(std::size_t row, std::size_t col);
  std::span<const float> data() const { return data_; }
  std::span<float> data() { return data_; }

 private:
  std::size_t rows_ = 0, cols_ = 0, ky_ = 0, kx_ = 0;
  SpatialCalibration calibration_;
  std::vector<float> data_;
};

/// How a batch of spectra is taken.
///  - point: remote point-by-point acquisition (beam move + exposure + readout + transfer per
///    point), seed 002 §IV.b;
///  - si_scan: the instrument's own synchronized spectrum-image scan (DigiScan + spectrometer in
///    lock-step, line flyback), how a full grid is acquired today.
enum class AcquisitionMode { point, si_scan };
const char* to_string(AcquisitionMode m);

/// Settings of a survey (overview image).
struct SurveySettings {
  double dwell_s = 0.0;           ///< per pixel, > 0; 0 = the instrument's default
  double probe_current_pA = 0.0;  ///< 0 = the instrument's default
  std::string detector;           ///< e.g. "HAADF"; empty = the instrument's default
};

/// Settings of a spectrum (or diffraction pattern) acquisition at a probe position.
struct PointSettings {
  double exposure_s = 0.0;        ///< per spectrum, > 0; 0 = the instrument's default
  double probe_current_pA = 0.0;  ///< 0 = the instrument's default
};

/// A survey image as acquired, with its timing and dose.
struct Survey {
  Image image;
  double dwell_s = 0.0;
  double probe_current_pA = 0.0;
  std::string detector;
  double t_start_s = 0.0;
  double t_end_s = 0.0;
  double dose_e_per_A2 = 0.0;  ///< areal dose delivered by the survey scan (uniform over the field)
};

/// One measured signal (a spectrum or a diffraction pattern), as it arrives from the instrument.
struct Measurement {
  std::size_t index = 0;               ///< 0-based order of arrival within the session
  Position requested;                  ///< as proposed by the strategy (survey pixel frame)
  /// Where the beam was sent (survey pixel frame): `requested` minus the drift correction the
  /// Session applied (DriftCorrection); equal to `requested` when no correction runs.
  Position commanded = unknown_position();
  Position actual = unknown_position();///< where the probe really was (drift), NaN when unknown
  std::vector<float> signal;           ///< the values (counts), C-order in `shape`
  /// What `signal` is and its dims: (E) spectrum, (ky, kx) diffraction pattern. Empty dims mean
  /// a spectrum of signal.size() channels (see signal_shape()).
  SignalShape shape;
  double exposure_s = 0.0;
  double probe_current_pA = 0.0;
  double t_start_s = 0.0;              ///< session time when the acquisition began (beam move)
  double t_end_s = 0.0;                ///< session time when the signal was available
  double dose_e_per_A2 = 0.0;          ///< areal dose this measurement delivered at its spot

  /// The signal's shape with the default filled in: `shape` when it has dims, else a spectrum
  /// of signal.size() channels. Throws std::invalid_argument when `shape` has dims whose product
  /// is not signal.size() (naming both).
  SignalShape signal_shape() const;
};

/// Physical constants used by the dose bookkeeping.
namespace constants {
/// Electrons per pA·s: 1e-12 C/s × 1 s / 1.602176634e-19 C (CODATA 2018 exact e).
inline constexpr double electrons_per_pA_s = 1e-12 / 1.602176634e-19;
}  // namespace constants

/// Number of electrons delivered by a current for a time: current_pA × time_s × 6.2415e6.
inline double electrons(double current_pA, double time_s) {
  return current_pA * time_s * constants::electrons_per_pA_s;
}

}  // namespace autostem
