#include <autostem/core/session.hpp>

#include <autostem/core/field.hpp>
#include <autostem/core/statistics.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <deque>
#include <exception>
#include <map>
#include <sstream>
#include <string>
#include <thread>

namespace autostem {

const char* to_string(OperatorEvent::Kind k) {
  switch (k) {
    case OperatorEvent::Kind::pause: return "pause";
    case OperatorEvent::Kind::resume: return "resume";
    case OperatorEvent::Kind::stop: return "stop";
    case OperatorEvent::Kind::exclude: return "exclude";
    case OperatorEvent::Kind::restrict_to: return "restrict";
    case OperatorEvent::Kind::clear_regions: return "clear_regions";
  }
  return "?";
}

void OperatorControl::request(OperatorEvent::Kind kind, FieldRect rect, std::string source) {
  using K = OperatorEvent::Kind;
  if (kind == K::exclude || kind == K::restrict_to) {
    const bool finite = std::isfinite(rect.row0) && std::isfinite(rect.row1) && std::isfinite(rect.col0) &&
                        std::isfinite(rect.col1);
    if (!finite || rect.row1 < rect.row0 || rect.col1 < rect.col0)
      throw std::invalid_argument("operator region: expected finite row0 <= row1 and col0 <= col1 (survey px)");
  }
  OperatorEvent e;
  e.kind = kind;
  e.rect = rect;
  e.source = std::move(source);
  e.wall_time_s = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(std::move(e));
  }
  if (kind == K::stop) stop_.store(true);
  cv_.notify_all();
}

std::vector<OperatorEvent> OperatorControl::take() {
  std::lock_guard lock(mutex_);
  std::vector<OperatorEvent> out;
  out.swap(queue_);
  return out;
}

void OperatorControl::wait_for_request(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  cv_.wait_for(lock, timeout, [&] { return !queue_.empty(); });
}

const char* to_string(StopReason r) {
  switch (r) {
    case StopReason::strategy_done: return "strategy_done";
    case StopReason::budget_points: return "budget_points";
    case StopReason::budget_time: return "budget_time";
    case StopReason::budget_dose: return "budget_dose";
    case StopReason::operator_stop: return "operator_stop";
    case StopReason::error: return "error";
  }
  return "?";
}

namespace {

std::string fmt(double x) {
  std::ostringstream s;
  s << x;
  return s.str();
}

void require(bool ok, const std::string& what) {
  if (!ok) throw std::invalid_argument("session settings: " + what);
}

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

}  // namespace

double RunSummary::latency_median_s() const { return percentile(decision_latency_s, 50.0); }
double RunSummary::latency_p95_s() const { return percentile(decision_latency_s, 95.0); }

Session::Session(Instrument& instrument, Strategy& strategy, SessionConfig config)
    : instrument_(instrument), strategy_(strategy), config_(std::move(config)) {
  const auto& c = config_;
  require(c.batch_size > 0, "batch size must be at least 1");
  require(std::isfinite(c.point.exposure_s) && c.point.exposure_s >= 0.0,
          "exposure must be a finite number of seconds > 0, got " + fmt(c.point.exposure_s));
  require(std::isfinite(c.survey.dwell_s) && c.survey.dwell_s >= 0.0,
          "dwell must be a finite number of seconds > 0, got " + fmt(c.survey.dwell_s));
  require(std::isfinite(c.point.probe_current_pA) && c.point.probe_current_pA >= 0.0,
          "probe current must be finite and > 0 pA, got " + fmt(c.point.probe_current_pA));
  require(std::isfinite(c.survey.probe_current_pA) && c.survey.probe_current_pA >= 0.0,
          "survey probe current must be finite and > 0 pA, got " +
              fmt(c.survey.probe_current_pA));
  require(!std::isnan(c.budget.max_time_s) && c.budget.max_time_s > 0.0,
          "time budget must be > 0 s, got " + fmt(c.budget.max_time_s));
  require(!std::isnan(c.budget.max_dose_e_per_A2) && c.budget.max_dose_e_per_A2 > 0.0,
          "dose budget must be > 0 e-/A^2, got " + fmt(c.budget.max_dose_e_per_A2));
  require(c.budget.max_points > 0, "point budget must be at least 1");
  require(std::isfinite(c.compute.value) && c.compute.value >= 0.0,
          "compute timing value must be finite and >= 0, got " + fmt(c.compute.value));
  const InstrumentInfo info = instrument_.describe();
  const double exposure = c.point.exposure_s > 0 ? c.point.exposure_s : info.default_exposure_s;
  require(info.max_exposure_s <= 0.0 || exposure <= info.max_exposure_s,
          "exposure " + fmt(exposure) + " s exceeds the instrument's limit of " +
              fmt(info.max_exposure_s) + " s");
}

void Session::add_sink(MeasurementSink& sink) { sinks_.push_back(&sink); }

void Session::set_progress(std::function<void(const SessionProgress&)> callback) {
  progress_ = std::move(callback);
}

void Session::set_prediction_interval(std::size_t every, double max_wall_fraction) {
  if (!(max_wall_fraction > 0.0 && max_wall_fraction <= 1.0))
    throw std::invalid_argument("Session: prediction wall-time fraction " + std::to_string(max_wall_fraction) +
                                " is not in (0, 1]");
  prediction_every_ = every;
  prediction_wall_fraction_ = max_wall_fraction;
}

void Session::set_drift_correction(DriftCorrection& correction) { drift_ = &correction; }

void Session::set_operator_control(OperatorControl& control) { operator_ = &control; }

void Session::resume_from(Survey survey, std::vector<Measurement> recorded) {
  if (survey.image.data.size() == 0)
    throw std::invalid_argument("resume: the earlier run's survey is empty");
  for (const auto& m : recorded)
    if (!is_finite(m.requested))
      throw std::invalid_argument("resume: recorded measurement " + std::to_string(m.index) +
                                  " has a non-finite requested position");
  resume_survey_ = std::move(survey);
  resume_recorded_ = std::move(recorded);
}

void Session::check_position(const Position& p, const InstrumentInfo& info) {
  if (!inside_field(p, info.field_rows, info.field_cols))
    throw ProposalError(outside_field_message("proposed position", p, info.field_rows, info.field_cols));
}

// One experiment, step by step. Session::run reads as the list of these steps; each member
// function is one step a reader can follow on its own.
class Session::Run {
 public:
  Run(Session& session, const std::atomic<bool>* stop)
      : s_(session),
        instrument_(session.instrument_),
        strategy_(session.strategy_),
        config_(session.config_),
        stop_(stop),
        wall0_(Clock::now()),
        info_(instrument_.describe()),
        field_area_A2_(static_cast<double>(info_.field_rows * info_.field_cols) *
                       info_.calibration.pixel_area_A2()),
        field_points_(info_.field_rows * info_.field_cols),
        budget_points_(config_.budget.max_points) {}

  /// Survey, strategy begin and the sinks' on_begin. Errors here propagate unchanged.
  void start();
  /// Propose / acquire / observe until a stop condition; errors end the run with
  /// StopReason::error after every measurement in flight has reached the sinks.
  void loop();
  /// Summary, final prediction and on_end; throws SessionError when the run ended in error.
  RunSummary finish();

 private:
  bool stop_requested() const { return (stop_ && stop_->load()) || operator_stop_; }
  double total_dose() const { return instrument_.total_electrons() / field_area_A2_; }
  void charge(double wall_s, bool decision);
  void deliver(std::vector<Measurement>& ms);
  void replay_recorded();
  std::vector<Measurement> take_recorded(std::vector<Position>& proposal);
  std::vector<Measurement> drain();
  std::pair<std::size_t, StopReason> affordable() const;
  std::vector<Position> decide(std::size_t n);
  /// One cycle: submit `next`, maybe decide the following batch (overlap), collect, observe.
  /// Returns false when the run must stop (summary_.stop_reason set).
  bool cycle();
  void observe(std::span<const Measurement> batch);
  void publish_prediction_if_due(std::size_t arrived);
  void publish_prediction();
  void rescan_drift_reference_if_due();
  void submit(const std::vector<Position>& positions);
  void deliver_one(Measurement& m);
  void report_progress();
  void apply_operator_events();
  void wait_while_paused();
  std::vector<Position> allowed_only(std::vector<Position> proposal);

  Session& s_;
  Instrument& instrument_;
  Strategy& strategy_;
  const SessionConfig& config_;
  const std::atomic<bool>* stop_;
  const Clock::time_point wall0_;
  const InstrumentInfo info_;
  const double field_area_A2_;
  const std::size_t field_points_;
  const std::size_t budget_points_;

  RunSummary summary_;
  AcquisitionMode mode_ = AcquisitionMode::point;
  CostEstimate cost_;
  std::size_t count_ = 0;             // measurements delivered to the sinks
  std::size_t since_prediction_ = 0;  // measurements since the last prediction reached the sinks
  double prediction_wall_s_ = 0.0;    // wall time spent in prediction() and the sinks' on_prediction
  std::size_t skipped_mark_ = 0;      // since_prediction_ when the last skipped map was counted
  double pending_latency_ = 0.0;      // wall seconds of the current decision cycle
  std::vector<Position> next_;        // the batch decided ahead (overlap)
  bool have_next_ = false;
  // Resume: recorded measurements wait (by requested position) for the strategy to propose them.
  std::map<std::pair<double, double>, std::deque<Measurement>> replay_;
  std::size_t replay_left_ = 0;
  // Positions as the strategy proposed them, in submission order (instruments acquire FIFO):
  // each arriving measurement gets its `requested` back, its `commanded` is what was sent.
  std::deque<Position> submitted_;
  // Operator control: regions where measuring is allowed, pause and stop as applied.
  OperatorRegions regions_;
  bool paused_ = false;
  bool operator_stop_ = false;
  std::size_t dropped_in_a_row_ = 0;  // proposals dropped since the last allowed one
};

// Charges strategy computation (wall seconds) to session time (DESIGN.md §5 "Compute").
void Session::Run::charge(double wall_s, bool decision) {
  double cost = 0.0;
  switch (config_.compute.kind) {
    case ComputeTiming::Kind::measured: cost = wall_s; break;
    case ComputeTiming::Kind::scaled: cost = wall_s * config_.compute.value; break;
    case ComputeTiming::Kind::fixed: cost = decision ? config_.compute.value : 0.0; break;
  }
  if (cost > 0.0) instrument_.elapse(cost);
}

void Session::Run::deliver(std::vector<Measurement>& ms) {
  for (auto& m : ms) deliver_one(m);
}

void Session::Run::deliver_one(Measurement& m) {
  if (!submitted_.empty()) {  // acquired now (not replayed from a resumed run's file)
    if (!is_finite(m.commanded)) m.commanded = m.requested;
    m.requested = submitted_.front();
    submitted_.pop_front();
  }
  m.index = count_++;
  for (auto* sink : s_.sinks_) sink->on_measurement(m);
}

// Sends a batch to the instrument, each position corrected by the predicted drift at the time
// it is expected to be acquired (DriftCorrection; positions unchanged without it).
void Session::Run::submit(const std::vector<Position>& positions) {
  submitted_.insert(submitted_.end(), positions.begin(), positions.end());
  if (!s_.drift_) {
    instrument_.submit(positions, config_.point, mode_);
    return;
  }
  std::vector<Position> commanded;
  commanded.reserve(positions.size());
  const double t0 = instrument_.now_s();
  const double max_r = static_cast<double>(info_.field_rows) - 1.0;
  const double max_c = static_cast<double>(info_.field_cols) - 1.0;
  for (std::size_t i = 0; i < positions.size(); ++i) {
    const double t = t0 + cost_.time_s * (static_cast<double>(i) + 0.5);
    const Position d = s_.drift_->predicted_px(t);
    Position c{positions[i].row - d.row, positions[i].col - d.col};
    if (!is_finite(c)) c = positions[i];  // a broken prediction never moves the beam
    const Position clamped{std::clamp(c.row, 0.0, max_r), std::clamp(c.col, 0.0, max_c)};
    if (!(clamped == c)) ++summary_.drift_clamped;
    commanded.push_back(clamped);
  }
  instrument_.submit(commanded, config_.point, mode_);
}

// Drift correction: re-scans the reference between batches when it is due (nothing in flight).
void Session::Run::rescan_drift_reference_if_due() {
  if (!s_.drift_ || instrument_.in_flight() > 0) return;
  if (!s_.drift_->due(count_, instrument_.now_s())) return;
  instrument_.blank();
  const double t0 = instrument_.now_s();
  DriftRecord record = s_.drift_->update(instrument_, count_);
  ++summary_.drift_rescans;
  summary_.drift_time_s += instrument_.now_s() - t0;
  if (!record.warning.empty()) ++summary_.drift_warnings;
  for (auto* sink : s_.sinks_) sink->on_drift(record);
}

void Session::Run::start() {
  if (s_.drift_ && !info_.can_scan_patch)
    throw std::invalid_argument("drift correction needs an instrument that can re-scan a reference patch; '" +
                                info_.name + "' cannot (run without --drift-correction)");
  // Capabilities (issue 17): a request the instrument cannot honour is refused before the beam
  // is used, never quietly run another way.
  if (config_.mode.value_or(strategy_.preferred_mode()) == AcquisitionMode::si_scan && !info_.can_si_scan)
    throw std::invalid_argument("'" + info_.name + "' cannot acquire a synchronized spectrum image (si_scan"
                                + std::string(config_.mode ? "" : ", the strategy's preferred mode") +
                                "); run with --mode point");
  if (config_.overlap && !info_.can_overlap)
    throw std::invalid_argument("'" + info_.name + "' cannot acquire while the strategy computes; "
                                "run without --overlap");
  // The instrument always scans a survey (a live server sets up its scan frame with it); a
  // resumed run's strategy sees the earlier run's survey, as it did then.
  Survey survey = instrument_.acquire_survey(config_.survey);
  summary_.survey_time_s = survey.t_end_s - survey.t_start_s;
  if (s_.drift_) s_.drift_->begin(survey, info_);  // the reference comes from this scan
  if (s_.resume_survey_) survey = *s_.resume_survey_;

  StrategyContext context{info_, config_.seed, budget_points_, config_.point};
  {
    const auto t0 = Clock::now();
    strategy_.begin(survey, context);
    charge(seconds_since(t0), true);
  }
  mode_ = config_.mode.value_or(strategy_.preferred_mode());
  cost_ = instrument_.estimate_point(config_.point, mode_);

  RunInfo run_info{strategy_.name(), strategy_.parameters(), config_.seed, info_, config_};
  for (auto* sink : s_.sinks_) sink->on_begin(run_info, survey);
  if (s_.resume_survey_) replay_recorded();
}

// Resume: the recorded measurements reach the sinks first, and wait (by requested position)
// for the strategy to propose them again.
void Session::Run::replay_recorded() {
  std::vector<Measurement> recorded = std::move(s_.resume_recorded_);
  s_.resume_recorded_.clear();
  deliver(recorded);
  summary_.resumed_measurements = recorded.size();
  for (auto& m : recorded) replay_[{m.requested.row, m.requested.col}].push_back(std::move(m));
  replay_left_ = summary_.resumed_measurements;
}

// Splits a proposal into the positions recorded earlier (answered from the record) and the ones
// to acquire now.
std::vector<Measurement> Session::Run::take_recorded(std::vector<Position>& proposal) {
  std::vector<Measurement> answered;
  if (replay_left_ == 0) return answered;
  std::vector<Position> fresh;
  for (const auto& p : proposal) {
    auto it = replay_.find({p.row, p.col});
    if (it != replay_.end() && !it->second.empty()) {
      answered.push_back(std::move(it->second.front()));
      it->second.pop_front();
      --replay_left_;
    } else {
      fresh.push_back(p);
    }
  }
  proposal = std::move(fresh);
  return answered;
}

// Collects what the instrument is still acquiring: it is paid for (time and dose) and must reach
// the results file.
std::vector<Measurement> Session::Run::drain() {
  std::vector<Measurement> rest;
  while (instrument_.in_flight() > 0) {
    auto ms = instrument_.collect(true);
    if (ms.empty()) break;
    deliver(ms);
    rest.insert(rest.end(), std::make_move_iterator(ms.begin()), std::make_move_iterator(ms.end()));
  }
  return rest;
}

// How many more points fit the budgets, counting those in flight; 0 with the budget that binds.
std::pair<std::size_t, StopReason> Session::Run::affordable() const {
  const std::size_t committed = count_ - replay_left_ + instrument_.in_flight();
  if (committed >= budget_points_) return {0, StopReason::budget_points};
  std::size_t n = std::min(config_.batch_size, budget_points_ - committed);
  const auto in_flight = static_cast<double>(instrument_.in_flight());
  if (cost_.time_s > 0.0 && std::isfinite(config_.budget.max_time_s)) {
    const double left = config_.budget.max_time_s - instrument_.now_s() - cost_.time_s * in_flight;
    const double fit = std::floor(left / cost_.time_s);
    if (fit < 1.0) return {0, StopReason::budget_time};
    n = std::min(n, static_cast<std::size_t>(std::min(fit, 1e15)));
  }
  if (cost_.electrons > 0.0 && std::isfinite(config_.budget.max_dose_e_per_A2)) {
    const double left_e = config_.budget.max_dose_e_per_A2 * field_area_A2_ -
                          instrument_.total_electrons() - cost_.electrons * in_flight;
    const double fit = std::floor(left_e / cost_.electrons);
    if (fit < 1.0) return {0, StopReason::budget_dose};
    n = std::min(n, static_cast<std::size_t>(std::min(fit, 1e15)));
  }
  return {n, StopReason::strategy_done};
}

// Asks the strategy for up to n positions and checks every one before the instrument sees it.
std::vector<Position> Session::Run::decide(std::size_t n) {
  const auto t0 = Clock::now();
  std::vector<Position> proposal = strategy_.propose(n);
  const double dt = seconds_since(t0);
  pending_latency_ += dt;
  if (!config_.overlap || instrument_.in_flight() == 0) instrument_.blank();
  charge(dt, true);
  if (proposal.size() > n)
    throw ProposalError("strategy '" + strategy_.name() + "' proposed " +
                        std::to_string(proposal.size()) + " positions when asked for at most " +
                        std::to_string(n));
  for (const auto& p : proposal) check_position(p, info_);
  if (regions_.empty() || proposal.empty()) return proposal;
  // Operator regions: drop what is not allowed and ask again for the rest of the batch, until
  // something is allowed, the strategy is done, or it proposed a field's worth of dropped points.
  std::vector<Position> allowed = allowed_only(std::move(proposal));
  while (allowed.empty() && dropped_in_a_row_ > 0 && dropped_in_a_row_ < field_points_) {
    const auto t1 = Clock::now();
    std::vector<Position> again = strategy_.propose(n);
    const double dt1 = seconds_since(t1);
    pending_latency_ += dt1;
    charge(dt1, true);
    if (again.empty()) break;
    if (again.size() > n)
      throw ProposalError("strategy '" + strategy_.name() + "' proposed " + std::to_string(again.size()) +
                          " positions when asked for at most " + std::to_string(n));
    for (const auto& p : again) check_position(p, info_);
    allowed = allowed_only(std::move(again));
  }
  return allowed;
}

// Drops the positions the operator's regions do not allow (counted in the summary).
std::vector<Position> Session::Run::allowed_only(std::vector<Position> proposal) {
  if (regions_.empty()) return proposal;
  std::vector<Position> allowed;
  for (const auto& p : proposal) {
    if (regions_.allows(p)) {
      allowed.push_back(p);
      dropped_in_a_row_ = 0;
    } else {
      ++summary_.excluded_proposals;
      ++dropped_in_a_row_;
    }
  }
  return allowed;
}

// Takes the operator's queued requests and applies them in order (between batches).
void Session::Run::apply_operator_events() {
  if (!s_.operator_) return;
  using K = OperatorEvent::Kind;
  for (OperatorEvent& e : s_.operator_->take()) {
    e.session_time_s = instrument_.now_s();
    e.after_measurements = count_;
    switch (e.kind) {
      case K::pause: paused_ = true; break;
      case K::resume: paused_ = false; break;
      case K::stop: operator_stop_ = true; break;
      case K::exclude: regions_.exclude.push_back(e.rect); break;
      case K::restrict_to: regions_.restrict_to.push_back(e.rect); break;
      case K::clear_regions: regions_ = {}; break;
    }
    ++summary_.operator_events;
    for (auto* sink : s_.sinks_) sink->on_operator(e);
  }
}

// Paused by the operator: the beam is blanked and the Session waits (wall time) for resume/stop.
void Session::Run::wait_while_paused() {
  if (!s_.operator_) return;
  apply_operator_events();
  if (!paused_ || stop_requested()) return;
  instrument_.blank();
  const auto t0 = Clock::now();
  while (paused_ && !stop_requested()) {
    s_.operator_->wait_for_request(std::chrono::milliseconds(50));
    apply_operator_events();
  }
  summary_.paused_wall_s += seconds_since(t0);
}

void Session::Run::observe(std::span<const Measurement> batch) {
  const auto t0 = Clock::now();
  strategy_.observe(batch);
  const double dt = seconds_since(t0);
  pending_latency_ += dt;
  charge(dt, false);
  summary_.decision_latency_s.push_back(pending_latency_);
  pending_latency_ = 0.0;
}

void Session::Run::publish_prediction_if_due(std::size_t arrived) {
  since_prediction_ += arrived;
  if (s_.prediction_every_ == 0 || since_prediction_ < s_.prediction_every_) return;
  // Over the wall-time cap: skip, but keep counting so the next arrival checks again and the
  // final map (finish) is still stored.
  if (summary_.predictions_stored > 0 &&
      prediction_wall_s_ > s_.prediction_wall_fraction_ * seconds_since(wall0_)) {
    if (since_prediction_ - skipped_mark_ >= s_.prediction_every_) {  // one more interval passed
      ++summary_.predictions_skipped;
      skipped_mark_ = since_prediction_;
    }
    return;
  }
  since_prediction_ = 0;
  skipped_mark_ = 0;
  publish_prediction();
}

void Session::Run::publish_prediction() {
  const auto t0 = Clock::now();
  if (auto p = strategy_.prediction()) {
    for (auto* sink : s_.sinks_) sink->on_prediction(count_, *p);
    ++summary_.predictions_stored;
  }
  prediction_wall_s_ += seconds_since(t0);
}

void Session::Run::report_progress() {
  if (s_.progress_)
    s_.progress_(SessionProgress{count_, std::min(budget_points_, field_points_),
                                 instrument_.now_s(), total_dose()});
}

bool Session::Run::cycle() {
  wait_while_paused();
  if (stop_requested()) {
    summary_.stop_reason = StopReason::operator_stop;
    return false;
  }
  // The expected cost of this batch, asked again each time (issue 17): a live instrument's
  // running mean of what points have cost so far, the simulator's model.
  cost_ = instrument_.estimate_point(config_.point, mode_);
  const bool ahead = have_next_;  // next_ was decided during the previous batch (overlap)
  if (!have_next_) {
    auto [n, why] = affordable();
    if (n == 0) {
      summary_.stop_reason = why;
      return false;
    }
    next_ = decide(n);
  }
  have_next_ = false;
  if (next_.empty()) {
    summary_.stop_reason = StopReason::strategy_done;
    return false;
  }
  std::vector<Measurement> batch = take_recorded(next_);
  if (ahead) next_ = allowed_only(std::move(next_));  // regions drawn meanwhile
  if (!next_.empty()) {
    rescan_drift_reference_if_due();
    submit(next_);
  }
  if (config_.overlap) {
    // Decide the next batch from what is known now, while this one is acquired.
    auto [n, why] = affordable();
    if (n > 0) {
      next_ = decide(n);
      have_next_ = true;
    }
  }
  while (instrument_.in_flight() > 0 && !stop_requested()) {
    auto ms = instrument_.collect(true);
    deliver(ms);
    batch.insert(batch.end(), std::make_move_iterator(ms.begin()), std::make_move_iterator(ms.end()));
  }
  if (stop_requested()) {
    instrument_.blank();
    auto rest = drain();
    batch.insert(batch.end(), std::make_move_iterator(rest.begin()),
                 std::make_move_iterator(rest.end()));
  }
  observe(batch);
  publish_prediction_if_due(batch.size());
  report_progress();
  return true;
}

// Every exit blanks the beam after the last acquisition (issue 17): what is still in flight is
// acquired while it drains — a live server unblanks for each of those spectra — so the beam is
// blanked before the drain (nothing new starts blanked-in-between on the simulator) and again
// after it, on the normal path and on the error path alike.
void Session::Run::loop() {
  try {
    while (cycle()) {
    }
    instrument_.blank();
    drain();
    instrument_.blank();
  } catch (const std::exception& e) {
    summary_.stop_reason = StopReason::error;
    summary_.message = e.what();
    try {
      instrument_.blank();
      drain();
    } catch (const std::exception& e2) {
      summary_.message += std::string("; while collecting the measurements in flight: ") + e2.what();
    }
    try {
      instrument_.blank();
    } catch (const std::exception& e3) {
      summary_.message += std::string("; while blanking the beam: ") + e3.what();
    }
  }
}

RunSummary Session::Run::finish() {
  summary_.measurements = count_;
  summary_.resume_unused = replay_left_;
  summary_.decisions = summary_.decision_latency_s.size();
  summary_.time_s = instrument_.now_s();
  summary_.electrons = instrument_.total_electrons();
  summary_.dose_e_per_A2 = total_dose();
  std::optional<Image> dose_map = instrument_.dose_map();
  if (dose_map && dose_map->data.size() > 0) summary_.max_dose_e_per_A2 = dose_map->data.maxCoeff();
  summary_.wall_s = seconds_since(wall0_);
  if (s_.prediction_every_ > 0 && since_prediction_ > 0) publish_prediction();
  for (auto* sink : s_.sinks_) sink->on_end(summary_, dose_map);
  if (summary_.stop_reason == StopReason::error) throw SessionError(summary_);
  return summary_;
}

RunSummary Session::run(const std::atomic<bool>* stop) {
  Run run(*this, stop);
  try {
    run.start();
  } catch (...) {
    // A refusal, a failed survey or a strategy's begin() that throws: the beam is left blanked.
    try {
      instrument_.blank();
    } catch (...) {
    }
    throw;
  }
  run.loop();
  return run.finish();
}

}  // namespace autostem
