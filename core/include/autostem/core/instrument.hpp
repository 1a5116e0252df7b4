#pragma once
// The Instrument interface (DESIGN.md §4): one contract for the simulated microscope (sim/) and
// the live one (backends/dm). Acquisition is asynchronous: submit() queues positions and returns
// at once, collect() hands back what has finished, so a strategy's computation (accounted with
// elapse()) can overlap the exposure in flight.

#include <autostem/core/types.hpp>

#include <optional>
#include <span>
#include <string>
#include <vector>

namespace autostem {

/// What an instrument says about itself. The field is the survey frame the strategies work in.
struct InstrumentInfo {
  std::string name;                 ///< e.g. "simulated Spectra 300 (rsi2024-remote)"
  std::string profile;              ///< timing profile name, empty for a live instrument
  std::size_t field_rows = 0;       ///< survey frame size in pixels
  std::size_t field_cols = 0;
  SpatialCalibration calibration;   ///< of the survey frame
  EnergyAxis energy;                ///< of the spectra the instrument returns
  /// What one measurement is: spectrum (E = energy.channels) or diffraction pattern (ky, kx).
  /// Empty dims = a spectrum of energy.channels (instruments that predate shaped signals).
  SignalShape signal;
  std::vector<std::string> detectors;  ///< survey detectors, e.g. {"HAADF"}
  double default_dwell_s = 0.0;     ///< survey dwell used when SurveySettings leaves it 0
  double default_exposure_s = 0.0;  ///< spectrum exposure used when PointSettings leaves it 0
  double default_probe_current_pA = 0.0;
  double max_exposure_s = 0.0;      ///< hard limit per spectrum
  /// Capability: acquire_patch() works (a drift reference can be re-scanned).
  bool can_scan_patch = false;
  /// Capability: acquisitions proceed while the caller computes (submit returns before the
  /// exposure ends), so SessionConfig::overlap hides compute. The Session refuses overlap
  /// otherwise (issue 17).
  bool can_overlap = true;
  /// Capability: AcquisitionMode::si_scan is acquired as a synchronized spectrum-image scan
  /// (with its timing). The Session refuses si_scan otherwise.
  bool can_si_scan = true;
  /// The instrument is reached over a link that can be cut (a live server; issue 17): a run can
  /// end with a lost connection and be resumed (Session::resume_from) once it is back. false for
  /// the in-process simulator, whose runs end only by budget, strategy, stop or error.
  bool has_link = false;
};

/// A rectangular sub-scan of the field, e.g. a drift reference (issue 16). Pixel (i, j) of the
/// patch is commanded at survey-frame position (row0 + i + offset.row, col0 + j + offset.col):
/// `offset` (pixels, fractional) is the drift correction in force, so a correct correction
/// gives back the survey's patch. rows, cols ≥ 2 and the rectangle inside the field.
struct PatchScan {
  std::size_t row0 = 0, col0 = 0, rows = 0, cols = 0;
  Position offset{0.0, 0.0};
  SurveySettings settings;  ///< dwell, probe current, detector (0/empty = the defaults)
};

/// Predicted cost of one more spectrum, used by the Session to keep within budgets before it
/// commits the beam.
struct CostEstimate {
  double time_s = 0.0;          ///< session time one more point adds (steady state)
  double dose_e_per_A2 = 0.0;   ///< areal dose at the spot it lands on
  double electrons = 0.0;       ///< electrons delivered
};

class Instrument {
 public:
  virtual ~Instrument() = default;

  /// Calibrations, detectors, energy axis and limits. Never throws once constructed.
  virtual InstrumentInfo describe() const = 0;

  /// Scans a survey image of the whole field and returns it with timing and dose. Blocks until
  /// the image is available (advances session time in a simulation).
  /// Throws std::invalid_argument on impossible settings (dwell < 0 or not finite — 0 means the
  /// default — or an unknown detector).
  virtual Survey acquire_survey(const SurveySettings& settings) = 0;

  /// Queues spectra at positions (survey pixel frame) and returns immediately. Positions must be
  /// finite and inside the field — the Session checks; an instrument checks again and throws
  /// std::invalid_argument naming the position. mode picks point-by-point or synchronized scan.
  virtual void submit(std::span<const Position> positions, const PointSettings& settings,
                      AcquisitionMode mode) = 0;

  /// Spectra queued but not yet collected.
  virtual std::size_t in_flight() const = 0;

  /// Finished measurements, in acquisition order. With wait = true and in_flight() > 0, blocks
  /// (advances session time) until at least one is done; with wait = false returns only what is
  /// done already. Throws std::runtime_error on an instrument fault (lost connection); what was
  /// collected before is unaffected.
  virtual std::vector<Measurement> collect(bool wait) = 0;

  /// Accounts for seconds of strategy computation: a simulation advances its clock (acquisitions
  /// in flight progress meanwhile); a live instrument does nothing (real time has passed).
  /// Throws std::invalid_argument if seconds < 0 or not finite.
  virtual void elapse(double seconds) = 0;

  /// Blanks the beam (no dose while blanked). Idempotent.
  virtual void blank() = 0;

  /// Whether the beam is blanked now, as the instrument knows it (issue 17): the simulator's
  /// model (the beam is on only while an acquisition is in progress), a live server's record of
  /// the last blanker command it gave DM. std::nullopt when the instrument cannot tell (this
  /// default). A live instrument asks its server (one round trip); throws std::runtime_error when
  /// the server cannot be reached.
  virtual std::optional<bool> beam_blanked() const { return std::nullopt; }

  /// Session time in seconds since the instrument was created (simulated or wall clock).
  virtual double now_s() const = 0;

  /// Cost of one more spectrum with these settings in this mode (steady state).
  virtual CostEstimate estimate_point(const PointSettings& settings, AcquisitionMode mode) const = 0;

  /// Accumulated areal dose (e⁻/Å²) over the field, survey included, (field_rows, field_cols);
  /// std::nullopt when the instrument cannot know it.
  virtual std::optional<Image> dose_map() const { return std::nullopt; }

  /// Total electrons delivered to the sample so far (survey included).
  virtual double total_electrons() const = 0;

  /// Scans a patch of the field (a drift reference) and returns it as a Survey (image of
  /// (scan.rows, scan.cols), its timing and the dose it delivered, which also counts in
  /// dose_map() and total_electrons()). Blocks like acquire_survey; nothing may be in flight.
  /// Throws std::invalid_argument on a rectangle outside the field, rows/cols < 2, a non-finite
  /// offset or impossible settings; std::logic_error when describe().can_scan_patch is false
  /// (this default).
  virtual Survey acquire_patch(const PatchScan& scan);
};

}  // namespace autostem
