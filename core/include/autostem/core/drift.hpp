#pragma once
// Drift correction as a Session service (issue 16; docs/drift.md). The specimen drifts while an
// experiment runs, so a position chosen on the survey is no longer where the feature is. A
// DriftCorrection re-scans a reference patch now and then (Instrument::acquire_patch), measures
// how far it moved since the survey, predicts the drift between re-scans, and the Session
// commands every position minus the predicted drift. It is a service of the Session, not a
// feature of the strategies: every strategy and every backend get it the same way.
//
// Convention (pixels of the survey frame): the drift d(t) is where a commanded position lands
// minus where it was commanded, so to land on the survey position p the Session commands
// p − d̂(t). The simulator's drift model uses the same sign (SimulatedInstrument: actual =
// commanded + d(t)).

#include <autostem/core/instrument.hpp>
#include <autostem/core/types.hpp>

#include <cstddef>
#include <string>

namespace autostem {

/// One re-scan of the drift reference, as the results file stores it (/drift).
struct DriftRecord {
  std::size_t after_measurements = 0;  ///< measurements delivered before this re-scan
  double t_start_s = 0.0;              ///< session time of the re-scan
  double t_end_s = 0.0;
  /// Frame offset the patch was scanned at (px): −d̂ predicted before this re-scan.
  Position offset{0.0, 0.0};
  /// Drift measured by this re-scan (px, survey frame); NaN when the estimate was rejected.
  Position measured = unknown_position();
  /// Drift the corrector predicts right after the update (px), what the next positions use.
  Position predicted{0.0, 0.0};
  double confidence = 0.0;   ///< of the shift estimate, 0…1 (imaging::ShiftEstimate)
  double dose_e_per_A2 = 0.0;  ///< areal dose of the re-scan on the patch
  /// Empty when accepted; otherwise why the estimate was rejected or a fallback was used
  /// (e.g. "reference has no texture", "shift beyond the search window; re-surveyed").
  std::string warning;
  std::size_t row0 = 0, col0 = 0;  ///< the patch's rectangle in the survey frame
  Image patch;                     ///< the patch as scanned
};

/// The service the Session calls. Implementations: imaging::DriftCorrector (phase correlation +
/// a Kalman drift model). Not thread-safe; one per run.
class DriftCorrection {
 public:
  virtual ~DriftCorrection() = default;

  /// Called once after the survey, before the strategy begins: chooses the reference patch.
  /// settings: the survey's (the re-scans use the same dwell and current).
  /// Throws std::invalid_argument when the survey has no usable reference (naming why) and
  /// std::logic_error when the instrument cannot scan a patch (info.can_scan_patch false).
  virtual void begin(const Survey& survey, const InstrumentInfo& info) = 0;

  /// Whether a re-scan is due after `measurements` delivered at session time t_s.
  virtual bool due(std::size_t measurements, double t_s) const = 0;

  /// Re-scans the reference through instrument.acquire_patch (nothing in flight), updates the
  /// drift estimate and returns the record. Never throws for a bad estimate: it warns in the
  /// record and falls back (keeps the prediction, or re-surveys); throws only what the
  /// instrument throws (a lost connection).
  virtual DriftRecord update(Instrument& instrument, std::size_t measurements) = 0;

  /// Predicted drift d̂(t) in pixels of the survey frame at session time t_s.
  virtual Position predicted_px(double t_s) const = 0;
};

}  // namespace autostem
