#pragma once
// Scalarizers (DESIGN.md §2, §10): map one measured signal — an EELS spectrum on a known energy
// axis, or a diffraction pattern — to one number, the "target property" that a strategy hunts
// for and that the metrics score. Small classes with run-time parameters in the style of limbo's
// acquisition functions (STYLE.md), built from a command-line spec by make_scalarizer().
//
// Spec syntax (energies in eV, fields separated by ':'):
//   band_sum:LO:HI            sum of counts over the channels whose centre lies in [LO, HI]
//   band_mean:LO:HI           mean of those channels
//   band_max:LO:HI            maximum of those channels
//   edge:ONSET:WIDTH[:PRE_LO:PRE_HI]
//                             background-subtracted core-loss edge intensity (counts)
//   ratio:LO1:HI1:LO2:HI2     band_mean(LO1, HI1) / band_mean(LO2, HI2)
//   peak_position:LO:HI       energy (eV) of the maximum in [LO, HI], sub-channel refined
//   com_shift[:KY:KX]         centre-of-mass shift (px) of a KY×KX diffraction pattern
//   com_x, com_y, com_mag, com_angle, vdet, bf, abf, adf   diffraction patterns: see
//                             diffraction.hpp (CoM with annulus masks, virtual detectors)
//
// Presets for the CuZn spectrum image (eels/cuzn_si, E = 700 eV + 8 eV/channel, 700–1988 eV;
// Cu-L2,3 onset 931 eV, Zn-L2,3 onset 1020 eV):
//   edge:931:60:850:920       Cu-L2,3 (integrates 932…988 eV, fits 852…916 eV)
//   edge:1020:80:965:1015     Zn-L2,3 (integrates 1020…1100 eV, fits 972…1012 eV)
//   band_mean:920:960         raw Cu-L2,3 white-line region (no background removal)

#include <autostem/core/types.hpp>

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace autostem {

/// A channel window [first, last] (inclusive) on an energy axis, built from an energy window.
struct ChannelWindow {
  std::size_t first = 0;
  std::size_t last = 0;
  std::size_t size() const { return last - first + 1; }
};

/// The channels whose centre energy_eV(ch) lies in [lo_eV, hi_eV] (a relative tolerance of 1e-9
/// channel absorbs rounding in the spec). `what` names the window in messages (e.g. "band_mean").
/// Throws std::invalid_argument when lo_eV or hi_eV is not finite, hi_eV ≤ lo_eV ("reversed"),
/// the window extends beyond the axis' channel centres (the message names the range, e.g.
/// "700–1988 eV"), or no channel centre lies inside ("empty").
ChannelWindow channel_window(const EnergyAxis& axis, double lo_eV, double hi_eV,
                             const std::string& what);

/// Base of every scalarizer. evaluate() checks the signal's length against the axis (or pattern
/// shape) the scalarizer was built for, then calls the implementation — so implementations never
/// see a mis-sized signal (the pagmo2 wrapper idiom).
class Scalarizer {
 public:
  virtual ~Scalarizer() = default;

  /// Registry name, e.g. "band_mean".
  virtual std::string name() const = 0;
  /// Canonical spec that rebuilds this scalarizer with make_scalarizer(), for provenance.
  virtual std::string spec() const = 0;
  /// Unit of the result, e.g. "counts", "eV", "px", "" (dimensionless).
  virtual std::string units() const = 0;

  /// The number for one spectrum of channels() values (counts). Throws std::invalid_argument if
  /// the length differs from the axis this scalarizer was built for, or if this is a pattern
  /// scalarizer without a pattern shape.
  double evaluate(std::span<const float> spectrum) const;

  /// The number for one diffraction pattern, flat C-order (ky, kx). Throws std::invalid_argument
  /// if pattern.size() != ky × kx or this scalarizer does not take patterns.
  double evaluate(std::span<const float> pattern, std::size_t ky, std::size_t kx) const;

  /// Signal length evaluate(span) expects (axis channels, or ky × kx for a shaped pattern
  /// scalarizer; 0 when it does not accept a flat signal).
  virtual std::size_t expected_length() const = 0;

  /// The energy axis this scalarizer was built for; nullptr for pattern scalarizers.
  virtual const EnergyAxis* energy_axis() const { return nullptr; }

 protected:
  virtual double evaluate_spectrum(std::span<const float> spectrum) const = 0;
  /// Default: throws std::invalid_argument ("<name> scalarizes spectra, not patterns").
  virtual double evaluate_pattern(std::span<const float> pattern, std::size_t ky,
                                  std::size_t kx) const;
  /// Called by evaluate(span) when expected_length() is 0 (no shape known). Default: throws
  /// std::invalid_argument asking for a pattern shape; pattern scalarizers (diffraction.hpp)
  /// take a square pattern.
  virtual double evaluate_unshaped(std::span<const float> signal) const;
};

/// Shared state of scalarizers that read one energy window.
class WindowScalarizer : public Scalarizer {
 public:
  WindowScalarizer(const EnergyAxis& axis, double lo_eV, double hi_eV, const std::string& name);
  std::size_t expected_length() const override { return axis_.channels; }
  const EnergyAxis* energy_axis() const override { return &axis_; }
  const ChannelWindow& window() const { return window_; }

 protected:
  std::string window_spec() const;  ///< "LO:HI" as given
  EnergyAxis axis_;
  double lo_eV_, hi_eV_;
  ChannelWindow window_;
};

/// Σ counts over the window's channels (counts). Same windowing as band_mean.
class BandSum final : public WindowScalarizer {
 public:
  BandSum(const EnergyAxis& axis, double lo_eV, double hi_eV)
      : WindowScalarizer(axis, lo_eV, hi_eV, "band_sum") {}
  std::string name() const override { return "band_sum"; }
  std::string spec() const override { return "band_sum:" + window_spec(); }
  std::string units() const override { return "counts"; }

 protected:
  double evaluate_spectrum(std::span<const float> s) const override;
};

/// Mean counts per channel over the window (counts) — the seed 003 "band mean" scalarizer.
class BandMean final : public WindowScalarizer {
 public:
  BandMean(const EnergyAxis& axis, double lo_eV, double hi_eV)
      : WindowScalarizer(axis, lo_eV, hi_eV, "band_mean") {}
  std::string name() const override { return "band_mean"; }
  std::string spec() const override { return "band_mean:" + window_spec(); }
  std::string units() const override { return "counts"; }

 protected:
  double evaluate_spectrum(std::span<const float> s) const override;
};

/// Maximum counts over the window (counts).
class BandMax final : public WindowScalarizer {
 public:
  BandMax(const EnergyAxis& axis, double lo_eV, double hi_eV)
      : WindowScalarizer(axis, lo_eV, hi_eV, "band_max") {}
  std::string name() const override { return "band_max"; }
  std::string spec() const override { return "band_max:" + window_spec(); }
  std::string units() const override { return "counts"; }

 protected:
  double evaluate_spectrum(std::span<const float> s) const override;
};

/// Energy (eV) of the maximum channel in the window, refined by the vertex of the parabola
/// through it and its two neighbours (when both lie in the window; the shift is clamped to
/// ±½ channel). A flat window returns its first channel's energy.
class PeakPosition final : public WindowScalarizer {
 public:
  PeakPosition(const EnergyAxis& axis, double lo_eV, double hi_eV)
      : WindowScalarizer(axis, lo_eV, hi_eV, "peak_position") {}
  std::string name() const override { return "peak_position"; }
  std::string spec() const override { return "peak_position:" + window_spec(); }
  std::string units() const override { return "eV"; }

 protected:
  double evaluate_spectrum(std::span<const float> s) const override;
};

/// Ratio of two windows' mean counts, band_mean(LO1, HI1) / band_mean(LO2, HI2) (dimensionless).
/// Means rather than maxima: less sensitive to shot noise, and independent of the windows'
/// widths. A zero denominator gives ±inf or NaN (IEEE division), which the caller sees.
class PeakRatio final : public Scalarizer {
 public:
  PeakRatio(const EnergyAxis& axis, double lo1_eV, double hi1_eV, double lo2_eV, double hi2_eV);
  std::string name() const override { return "ratio"; }
  std::string spec() const override;
  std::string units() const override { return ""; }
  std::size_t expected_length() const override { return num_.expected_length(); }
  const EnergyAxis* energy_axis() const override { return num_.energy_axis(); }

 protected:
  double evaluate_spectrum(std::span<const float> s) const override;

 private:
  BandMean num_, den_;
};

/// Background-subtracted core-loss edge intensity (counts), Egerton, "Electron Energy-Loss
/// Spectroscopy in the Electron Microscope", 3rd ed., §4.4: the pre-edge background is the power
/// law A·E^−r, fitted by least squares to ln I = ln A − r ln E over the pre-edge window's
/// channels with I > 0; the result is Σ (I(E) − A·E^−r) over the channels of [onset,
/// onset + width]. Default pre-edge window: [onset − width, onset − ½ channel]. With fewer than
/// two positive pre-edge channels the background is their mean (a constant), not a power law.
/// Throws std::invalid_argument (construction) on width ≤ 0, a pre-edge window with < 2
/// channels, below 0 eV, or not ending before the onset, or on any window outside the axis.
class EdgeIntensity final : public Scalarizer {
 public:
  EdgeIntensity(const EnergyAxis& axis, double onset_eV, double width_eV);
  EdgeIntensity(const EnergyAxis& axis, double onset_eV, double width_eV, double pre_lo_eV,
                double pre_hi_eV);
  std::string name() const override { return "edge"; }
  std::string spec() const override;
  std::string units() const override { return "counts"; }
  std::size_t expected_length() const override { return axis_.channels; }
  const EnergyAxis* energy_axis() const override { return &axis_; }

  /// Fitted background (A, r) for one spectrum: I_bg(E) = A·E^−r; r = 0 for the constant fallback.
  struct Background {
    double A = 0.0;
    double r = 0.0;
  };
  Background fit_background(std::span<const float> spectrum) const;

 protected:
  double evaluate_spectrum(std::span<const float> s) const override;

 private:
  EnergyAxis axis_;
  double onset_eV_, width_eV_, pre_lo_eV_, pre_hi_eV_;
  ChannelWindow signal_, pre_;
};

/// Magnitude (px) of the shift of a diffraction pattern's centre of mass from the optical axis
/// of an fft-shifted pattern (⌊ky/2⌋, ⌊kx/2⌋), as diffraction.hpp: |Σ I·k / Σ I − centre|, the COM of 4D-STEM (DESIGN.md §2). A pattern
/// with Σ I ≤ 0 has no centre of mass and gives 0. Built with a shape (ky, kx) it also accepts
/// flat signals (Measurement::signal); without one only evaluate(pattern, ky, kx).
class ComShift final : public Scalarizer {
 public:
  ComShift() = default;
  ComShift(std::size_t ky, std::size_t kx);
  std::string name() const override { return "com_shift"; }
  std::string spec() const override;
  std::string units() const override { return "px"; }
  std::size_t expected_length() const override { return ky_ * kx_; }

 protected:
  double evaluate_spectrum(std::span<const float> s) const override;
  double evaluate_pattern(std::span<const float> p, std::size_t ky, std::size_t kx) const override;

 private:
  std::size_t ky_ = 0, kx_ = 0;
};

/// Centre-of-mass shift magnitude (px) of one pattern (flat C-order, ky × kx); see ComShift.
/// Throws std::invalid_argument if pattern.size() != ky × kx or either extent is 0.
double com_shift(std::span<const float> pattern, std::size_t ky, std::size_t kx);

/// One form of spec that make_scalarizer() accepts, for help texts: the syntax (e.g.
/// "band_mean:LO:HI"), what it computes with every field and its unit, and the result's unit.
struct ScalarizerForm {
  std::string syntax;
  std::string meaning;
  std::string result_units;
};

/// Every form make_scalarizer() accepts, in the order of the header comment above. The one table
/// behind scalarizer_syntax(), make_scalarizer()'s "unknown name" message and `--help`.
const std::vector<ScalarizerForm>& scalarizer_forms();

/// Names make_scalarizer() accepts, with their field syntax, e.g. "band_mean:LO:HI".
std::vector<std::string> scalarizer_syntax();

/// Builds a scalarizer from a spec such as "band_mean:920:960" (see the syntax at the top of this
/// header) for spectra on `axis`. Throws std::invalid_argument with a one-line message naming the
/// spec and the problem: unknown name (lists the valid syntaxes), wrong number of fields,
/// non-numeric or non-finite field, reversed or empty window, window outside the axis (names the
/// axis range in eV).
std::unique_ptr<Scalarizer> make_scalarizer(const std::string& spec, const EnergyAxis& axis);

/// The scalarizer applied to every pixel: the ground-truth map (rows, cols) of the target
/// property. Throws std::invalid_argument if the spectrum image's energy axis differs from the
/// one the scalarizer was built for (channels, offset or dispersion).
ImageArray scalarize(const SpectrumImage& si, const Scalarizer& scalarizer);

}  // namespace autostem
