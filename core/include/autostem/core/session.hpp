#pragma once
// The Session: the one driver of an experiment for every backend (DESIGN.md §4). Like pagmo2's
// problem wrapper it stands between a user component (the Strategy) and the Instrument, checks
// every proposal (finite, inside the field, within the budgets of points, time and dose) before
// the instrument sees it, hands each measurement to the sinks as it arrives, and stops cleanly on
// budget, on the strategy's word, on an operator's stop or on an error.

#include <autostem/core/drift.hpp>
#include <autostem/core/instrument.hpp>
#include <autostem/core/operator_control.hpp>
#include <autostem/core/strategy.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace autostem {

/// Limits of one experiment. Defaults: unlimited.
struct Budget {
  std::size_t max_points = std::numeric_limits<std::size_t>::max();
  double max_time_s = std::numeric_limits<double>::infinity();
  /// Limit on the run's total dose, defined as total electrons / field area (e⁻/Å²), the same
  /// quantity as RunSummary::dose_e_per_A2.
  double max_dose_e_per_A2 = std::numeric_limits<double>::infinity();
};

/// How strategy computation is charged to session time (DESIGN.md §5 "Compute").
struct ComputeTiming {
  enum class Kind { measured, scaled, fixed } kind = Kind::measured;
  double value = 1.0;  ///< scale factor (scaled) or seconds per decision (fixed)
};

struct SessionConfig {
  Budget budget;
  SurveySettings survey;
  PointSettings point;
  std::uint64_t seed = 0;
  std::size_t batch_size = 1;  ///< max positions per propose() call
  /// std::nullopt = the strategy's preferred mode.
  std::optional<AcquisitionMode> mode;
  ComputeTiming compute;
  /// When true, the strategy proposes the next batch while the current one is acquired (its
  /// compute hides behind the exposure); when false the beam is blanked while it thinks.
  bool overlap = false;
};

/// Provenance of a run, given to sinks at begin.
struct RunInfo {
  std::string strategy;
  Parameters strategy_parameters;
  std::uint64_t seed = 0;
  InstrumentInfo instrument;
  SessionConfig config;
};

/// Why a session ended.
enum class StopReason { strategy_done, budget_points, budget_time, budget_dose, operator_stop, error };
const char* to_string(StopReason r);

struct RunSummary {
  std::size_t measurements = 0;
  double time_s = 0.0;            ///< session time at the end, survey included
  double survey_time_s = 0.0;
  double dose_e_per_A2 = 0.0;     ///< total electrons / field area
  double max_dose_e_per_A2 = 0.0; ///< maximum of the dose map (0 when unknown)
  double electrons = 0.0;
  double wall_s = 0.0;            ///< real time the run took
  StopReason stop_reason = StopReason::strategy_done;
  std::string message;            ///< error text when stop_reason == error
  /// Resumed runs (Session::resume_from): measurements taken from the earlier run's file, and
  /// how many of them the strategy never proposed again (its decisions diverged; they are still
  /// in the sinks' output). Both 0 for a fresh run.
  std::size_t resumed_measurements = 0;
  std::size_t resume_unused = 0;
  std::vector<double> decision_latency_s;  ///< wall time of each propose()+observe() cycle
  std::size_t decisions = 0;
  /// Drift correction (Session::set_drift_correction): re-scans of the reference, the session
  /// time they took, and how many of them warned (rejected estimate or fallback).
  std::size_t drift_rescans = 0;
  double drift_time_s = 0.0;
  std::size_t drift_warnings = 0;
  /// Corrected positions that fell outside the field and were moved to its edge.
  std::size_t drift_clamped = 0;
  std::size_t predictions_stored = 0;   ///< prediction maps passed to the sinks
  std::size_t predictions_skipped = 0;  ///< due but skipped by the wall-time cap (set_prediction_interval)
  /// Operator control (set_operator_control): events applied, and proposals dropped because they
  /// fell in an excluded region or outside the restriction (never measured).
  std::size_t operator_events = 0;
  std::size_t excluded_proposals = 0;
  /// Wall seconds the run spent paused by the operator (not charged to session time).
  double paused_wall_s = 0.0;
  /// Median and 95th percentile of decision_latency_s (0 when empty).
  double latency_median_s() const;
  double latency_p95_s() const;
};

/// Receives the run as it happens (the HDF5 results writer, progress displays, tests).
class MeasurementSink {
 public:
  virtual ~MeasurementSink() = default;
  virtual void on_begin(const RunInfo& info, const Survey& survey) = 0;
  /// Called once per measurement as soon as it is collected, before the strategy sees it.
  virtual void on_measurement(const Measurement& m) = 0;
  /// Called at chosen steps with the strategy's prediction (if it has one).
  virtual void on_prediction(std::size_t /*step*/, const Prediction& /*p*/) {}
  /// Called after each re-scan of the drift reference (only with drift correction on).
  virtual void on_drift(const DriftRecord& /*record*/) {}
  /// Called for each operator event the Session applied (only with set_operator_control), with
  /// its session time and the number of measurements delivered before it.
  virtual void on_operator(const OperatorEvent& /*event*/) {}
  /// Called exactly once, also when the run ended by error or operator stop.
  virtual void on_end(const RunSummary& summary, const std::optional<Image>& dose_map) = 0;
};

/// A proposal the Session refused: names the position and why.
class ProposalError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

/// Thrown by Session::run when the strategy or the instrument failed; by then every collected
/// measurement has reached the sinks and on_end has been called. what() is the original message.
class SessionError : public std::runtime_error {
 public:
  explicit SessionError(RunSummary s) : std::runtime_error(s.message), summary(std::move(s)) {}
  RunSummary summary;
};

/// Progress reported after each batch.
struct SessionProgress {
  std::size_t measurements = 0;
  std::size_t budget_points = 0;  ///< effective point budget (field size when unlimited)
  double time_s = 0.0;
  double dose_e_per_A2 = 0.0;
};

class Session {
 public:
  /// Neither instrument nor strategy is owned; both must outlive the Session.
  /// Throws std::invalid_argument on impossible settings (batch_size 0, negative exposure/dwell,
  /// NaN budgets, exposure above the instrument's max_exposure_s).
  Session(Instrument& instrument, Strategy& strategy, SessionConfig config);

  void add_sink(MeasurementSink& sink);
  void set_progress(std::function<void(const SessionProgress&)> callback);
  /// Continues an earlier run instead of starting afresh (`autostem run --resume`): run() still
  /// has the instrument scan a survey (a live server sets up its scan frame with it), but begins
  /// the strategy on `survey` (the earlier run's, also what the sinks get), hands every
  /// `recorded` measurement to the sinks first (so a new results file holds the whole run), and
  /// answers each proposal that equals a recorded measurement's requested position (exactly,
  /// in the survey pixel frame) with that measurement instead of acquiring it again. A
  /// deterministic strategy with the earlier run's parameters and seed thus replays its
  /// decisions and continues where the run stopped: nothing is lost and no point is measured
  /// twice. Budgets count the recorded measurements as spent points; session time and dose
  /// count from the resume (the instrument's clock starts again). Throws std::invalid_argument
  /// when the survey is empty or a recorded position is not finite.
  void resume_from(Survey survey, std::vector<Measurement> recorded);

  /// Turns drift correction on (issue 16, docs/drift.md): after the survey the Session calls
  /// correction.begin(); before each batch, when correction.due(), it re-scans the reference
  /// (correction.update(), between batches, nothing in flight) and hands the record to the
  /// sinks (on_drift); every position is commanded at p − correction.predicted_px(t) (clamped
  /// to the field), and each Measurement keeps `requested` = the strategy's position and
  /// `commanded` = where the beam was sent. The re-scans' time and dose count against the
  /// budgets. run() throws std::invalid_argument before the survey when the instrument cannot
  /// scan a patch (InstrumentInfo::can_scan_patch). Not owned; must outlive run().
  void set_drift_correction(DriftCorrection& correction);

  /// How often (in measurements) the strategy's prediction is passed to sinks; 0 = never.
  /// max_wall_fraction (0 < f ≤ 1, default 0.1) caps the cost: a due prediction is skipped while
  /// the wall time spent computing and storing predictions exceeds f × the run's wall time so
  /// far (issue 21: a cs run on 256×256 stored ≈ 650 biharmonic reconstructions, one every 10
  /// measurements, and took > 15 min). The first due one and the final one are always passed.
  /// Throws std::invalid_argument when f is not in (0, 1].
  void set_prediction_interval(std::size_t every_n_measurements, double max_wall_fraction = 0.1);

  /// Lets an operator steer the run (issue 18, docs/live-view.md). Between batches (never while
  /// waiting on the requester) the Session takes the queued requests, applies them and hands
  /// each to the sinks (on_operator): pause blanks the beam and waits (wall time, not session
  /// time) until resume or stop; stop ends the run like the `stop` flag of run()
  /// (StopReason::operator_stop, measurements in flight collected); exclude / restrict_to change
  /// where measurements are allowed (OperatorRegions). Every proposal outside the allowed region
  /// is dropped before the instrument sees it (RunSummary::excluded_proposals) and the strategy
  /// is asked again for the rest of its batch; after field rows × cols dropped proposals in a
  /// row the Session ends with strategy_done (the strategy proposes only excluded positions).
  /// Positions already sent to the instrument are still acquired. Not owned; must outlive run().
  void set_operator_control(OperatorControl& control);

  /// Runs the experiment: survey, then propose/acquire/observe until a stop condition. If stop
  /// is given and becomes true, the session blanks the beam, collects what is in flight, and
  /// ends with StopReason::operator_stop. Errors from the strategy or the instrument end the run
  /// with StopReason::error after every sink has seen every collected measurement and on_end;
  /// then SessionError (carrying the summary) is thrown. Errors before the first measurement
  /// (survey, strategy begin) propagate unchanged. Returns the summary.
  RunSummary run(const std::atomic<bool>* stop = nullptr);

  /// Checks one proposal against the field; throws ProposalError naming it.
  static void check_position(const Position& p, const InstrumentInfo& info);

 private:
  class Run;  // one experiment's state and steps (session.cpp)

  Instrument& instrument_;
  Strategy& strategy_;
  SessionConfig config_;
  std::vector<MeasurementSink*> sinks_;
  std::function<void(const SessionProgress&)> progress_;
  std::size_t prediction_every_ = 0;
  double prediction_wall_fraction_ = 0.1;
  DriftCorrection* drift_ = nullptr;
  OperatorControl* operator_ = nullptr;
  std::optional<Survey> resume_survey_;
  std::vector<Measurement> resume_recorded_;
};

}  // namespace autostem
