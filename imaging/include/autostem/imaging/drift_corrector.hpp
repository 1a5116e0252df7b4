#pragma once
// Drift correction (issue 16; docs/drift.md): a constant-velocity Kalman filter of the drift and
// the DriftCorrection service (core/drift.hpp) that re-scans a reference patch, registers it
// against the survey (registration.hpp) and predicts the drift between re-scans.

#include <autostem/core/drift.hpp>
#include <autostem/core/instrument.hpp>
#include <autostem/core/types.hpp>
#include <autostem/imaging/registration.hpp>

#include <array>
#include <cstddef>
#include <optional>

namespace autostem {

/// Process and prior parameters of DriftKalman (per axis, both axes alike).
struct DriftKalmanOptions {
  /// Random walk of the position: q_p, variance growth px²/s (jitter, stage creep).
  double position_diffusion_px2_per_s = 1e-3;
  /// White noise of the acceleration: q_v, px²/s³ (the drift rate changes, thermal settling):
  /// σ_v grows by sqrt(q_v·Δt), 0.1 px/s in 100 s for the default.
  double velocity_diffusion_px2_per_s3 = 1e-4;
  /// Prior 1-σ of the drift rate at t0 (px/s); the prior mean is 0.
  double initial_velocity_sigma_px_per_s = 1.0;
  /// Prior 1-σ of the drift at t0 (px); 0 = the survey defines the frame, d(t0) = 0 exactly.
  double initial_position_sigma_px = 0.0;
};

/// The drift d(t) (px, survey frame, two axes independent) as a linear trend plus a random walk:
/// per axis the state x = (p, v), p in px, v in px/s, evolves as the continuous white-noise
/// acceleration model plus a position random walk,
///   x(t+Δ) = F x(t) + w,  F = [[1, Δ], [0, 1]],
///   Q = q_v [[Δ³/3, Δ²/2], [Δ²/2, Δ]] + q_p [[Δ, 0], [0, 0]],
/// measured as z = p + e, e ~ N(0, σ²), with the standard Kalman predict / update
///   x⁻ = F x, P⁻ = F P Fᵀ + Q;  S = P⁻₀₀ + σ², K = P⁻₍·,0₎ / S, x = x⁻ + K (z − x⁻₀), P = P⁻ − K P⁻₍0,·₎
/// (Bar-Shalom, Li & Kirubarajan, "Estimation with Applications to Tracking and Navigation",
/// Wiley 2001, §5.2 and §6.2.2). Deterministic; not thread-safe.
class DriftKalman {
 public:
  /// Starts at session time t0_s with d = 0, v = 0 and the prior of `options`. Throws
  /// std::invalid_argument on a non-finite t0_s or a negative / non-finite option.
  explicit DriftKalman(double t0_s = 0.0, const DriftKalmanOptions& options = {});

  /// Incorporates a measured drift (px) at t_s with 1-σ sigma_px per axis (> 0). Throws
  /// std::invalid_argument when t_s is before the last update / t0, or a value is not finite or
  /// sigma_px ≤ 0.
  void update(double t_s, Position measured_px, Position sigma_px);
  /// Same σ on both axes.
  void update(double t_s, Position measured_px, double sigma_px) {
    update(t_s, measured_px, Position{sigma_px, sigma_px});
  }

  /// Predicted drift d̂(t_s) = p + v (t_s − t_last) (px). t_s before the last update extrapolates
  /// backwards along the same line. Throws std::invalid_argument on a non-finite t_s.
  Position predict(double t_s) const;
  /// Predicted 1-σ of d̂(t_s) per axis (px), process noise included for t_s > the last update.
  Position predict_sigma(double t_s) const;
  /// Current drift-rate estimate (px/s).
  Position velocity_px_per_s() const { return {axes_[0].x[1], axes_[1].x[1]}; }
  /// Time of the last update (t0 before any).
  double last_time_s() const { return t_; }
  std::size_t updates() const { return updates_; }

 private:
  struct Axis {
    std::array<double, 2> x{0.0, 0.0};
    std::array<double, 4> P{0.0, 0.0, 0.0, 0.0};  // row-major 2×2
  };
  Axis propagated(const Axis& a, double dt) const;
  DriftKalmanOptions options_;
  double t_ = 0.0;
  std::size_t updates_ = 0;
  std::array<Axis, 2> axes_;
};

/// Options of DriftCorrector; every default is explained in docs/drift.md.
struct DriftCorrectorOptions {
  /// Re-scan after this many measurements since the last one (0 = not by count).
  std::size_t every_measurements = 200;
  /// Re-scan when this much session time passed since the last one (s; 0 = not by time).
  double every_s = 30.0;
  /// Side of the square reference patch (px); clipped to the field.
  std::size_t patch_px = 64;
  /// User-chosen reference patch corner (survey px); std::nullopt = the most textured patch.
  std::optional<std::size_t> row0, col0;
  /// Sub-pixel factor of the shift estimate.
  int upsample_factor = 100;
  /// Estimates with confidence below this are rejected (ShiftEstimate::confidence).
  double min_confidence = 0.2;
  /// Largest residual shift searched on the patch (px); 0 = patch_px / 4. The full-field
  /// fallback searches a quarter of the field.
  double max_shift_px = 0.0;
  /// Floor of the measurement 1-σ given to the Kalman filter (px): the registration's own σ is
  /// a lower bound that ignores scan distortion.
  double min_sigma_px = 0.05;
  /// Factor on ShiftEstimate::sigma_px for the Kalman measurement noise: that σ assumes white
  /// noise, and Poisson noise is strongest on the bright columns where the gradients are; the
  /// measured RMS errors on the test images were 2–5 × the predicted σ (docs/drift.md).
  double sigma_scale = 3.0;
  DriftKalmanOptions kalman;
  /// Registration options other than upsample_factor and max_shift_px (set from the above).
  ShiftOptions shift;
};

/// A reference patch proposal: its corner in the survey frame and its predicted registration
/// precision (px, from the patch's own spectrum: sqrt(2 σn² / min-axis gradient energy)).
struct ReferencePatch {
  std::size_t row0 = 0, col0 = 0, rows = 0, cols = 0;
  double texture_snr = 0.0;
  double predicted_sigma_px = 0.0;
};

/// The most textured patch of `survey` (rows, cols): candidates on a grid of stride side/4, at least
/// `margin_px` from the border where the field allows, skipping patches where > 1 % of pixels
/// equal the survey's maximum (saturated); the one with the smallest predicted registration σ
/// among those whose texture_snr ≥ min_texture_snr. Throws std::invalid_argument when the survey
/// is smaller than 8 px, the side is < 8 or larger than the survey, or no patch has texture.
ReferencePatch select_reference_patch(const ImageArray& survey, std::size_t side_px, double margin_px = 0.0,
                                      double min_texture_snr = 0.1);

/// The DriftCorrection service: phase-correlation registration of a re-scanned reference patch
/// against the survey, and a DriftKalman of the drift.
///
/// Sign derivation: PatchScan pixel (i, j) is commanded at p_ij + o with p_ij = (row0+i, col0+j)
/// and o = −d̂ (the prediction in force); it lands at p_ij + d − d̂, so the re-scan shows the survey
/// sampled at p_ij + r, r = d − d̂: a survey feature at q appears in the patch at q − r, i.e.
/// estimate_shift(survey patch, re-scan).shift = −r, and the measured drift is d = d̂ + r =
/// −o − shift.
class DriftCorrector : public DriftCorrection {
 public:
  /// Throws std::invalid_argument on a bad option (patch_px < 8, upsample_factor < 1,
  /// min_confidence outside [0, 1], negative or non-finite numbers, only one of row0 / col0).
  explicit DriftCorrector(DriftCorrectorOptions options = {});

  /// Chooses the reference (the user's row0/col0, else select_reference_patch with a margin of
  /// max_shift_px) and starts the Kalman filter at the time the survey scanned the patch's centre
  /// row (linear in the survey's t_start_s…t_end_s). Throws std::logic_error when
  /// info.can_scan_patch is false, std::invalid_argument when the survey is smaller than 8 px,
  /// the user's patch leaves the field or has no texture, or no patch has texture.
  void begin(const Survey& survey, const InstrumentInfo& info) override;
  /// every_measurements since the last re-scan reached, or every_s elapsed since the last re-scan
  /// began (the survey's end before the first). False before begin.
  bool due(std::size_t measurements, double t_s) const override;
  /// Re-scans the patch at offset −d̂(now); accepts the estimate when it is textured, not at the
  /// window edge, confidence ≥ min_confidence and not low_confidence (relative to expected); otherwise warns, re-scans the whole field
  /// (offset −d̂) and registers it against the survey (max shift: a quarter of the field); if that
  /// also fails, keeps the prediction (measured = NaN) and says so. Throws std::logic_error
  /// before begin and what the instrument throws.
  DriftRecord update(Instrument& instrument, std::size_t measurements) override;
  /// d̂(t_s) from the Kalman filter (0 before begin).
  Position predicted_px(double t_s) const override;

  /// The reference chosen by begin().
  const ReferencePatch& reference() const { return reference_; }
  const DriftKalman& filter() const { return kalman_; }

 private:
  DriftCorrectorOptions options_;
  bool begun_ = false;
  Survey survey_;
  ImageArray reference_image_;
  ReferencePatch reference_;
  DriftKalman kalman_;
  std::size_t last_measurements_ = 0;
  double last_time_s_ = 0.0;
};

}  // namespace autostem
