#include <autostem/core/session.hpp>

#include <autostem/core/statistics.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <deque>
#include <exception>
#include <map>
#include <sstream>
#include <string>

namespace autostem {

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

void Session::set_prediction_interval(std::size_t every) { prediction_every_ = every; }

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
  if (!is_finite(p))
    throw ProposalError("proposed position (" + fmt(p.row) + ", " + fmt(p.col) +
                        ") is not finite");
  // Pixel centres are at integer coordinates; the scanned field spans half a pixel beyond them.
  const double rmax = static_cast<double>(info.field_rows) - 0.5;
  const double cmax = static_cast<double>(info.field_cols) - 0.5;
  if (p.row < -0.5 || p.row >= rmax || p.col < -0.5 || p.col >= cmax)
    throw ProposalError("proposed position (row " + fmt(p.row) + ", col " + fmt(p.col) +
                        ") is outside the field [-0.5, " + fmt(rmax) + ") x [-0.5, " +
                        fmt(cmax) + ")");
}

RunSummary Session::run(const std::atomic<bool>* stop) {
  const auto wall0 = Clock::now();
  const InstrumentInfo info = instrument_.describe();
  const double field_area_A2 = static_cast<double>(info.field_rows * info.field_cols) *
                               info.calibration.pixel_area_A2();
  const std::size_t field_points = info.field_rows * info.field_cols;
  const std::size_t budget_points = config_.budget.max_points;
  const auto stop_requested = [&] { return stop && stop->load(); };

  RunSummary summary;
  auto total_dose = [&] { return instrument_.total_electrons() / field_area_A2; };

  // Charges strategy computation (wall seconds dt) to session time.
  auto charge = [&](double dt, bool decision) {
    double cost = 0.0;
    switch (config_.compute.kind) {
      case ComputeTiming::Kind::measured: cost = dt; break;
      case ComputeTiming::Kind::scaled: cost = dt * config_.compute.value; break;
      case ComputeTiming::Kind::fixed: cost = decision ? config_.compute.value : 0.0; break;
    }
    if (cost > 0.0) instrument_.elapse(cost);
  };

  // The instrument always scans a survey (a live server sets up its scan frame with it); a
  // resumed run's strategy sees the earlier run's survey, as it did then.
  Survey survey = instrument_.acquire_survey(config_.survey);
  summary.survey_time_s = survey.t_end_s - survey.t_start_s;
  if (resume_survey_) survey = *resume_survey_;

  StrategyContext context{info, config_.seed, budget_points, config_.point};
  {
    const auto t0 = Clock::now();
    strategy_.begin(survey, context);
    charge(seconds_since(t0), true);
  }
  const AcquisitionMode mode = config_.mode.value_or(strategy_.preferred_mode());
  const CostEstimate cost = instrument_.estimate_point(config_.point, mode);

  RunInfo run_info{strategy_.name(), strategy_.parameters(), config_.seed, info, config_};
  for (auto* s : sinks_) s->on_begin(run_info, survey);

  std::size_t count = 0;
  std::size_t since_prediction = 0;
  auto deliver = [&](std::vector<Measurement>& ms) {
    for (auto& m : ms) {
      m.index = count++;
      for (auto* s : sinks_) s->on_measurement(m);
    }
  };
  // Resume: the recorded measurements reach the sinks first, and wait (by requested position)
  // for the strategy to propose them again.
  using Key = std::pair<double, double>;
  std::map<Key, std::deque<Measurement>> replay;
  std::size_t replay_left = 0;
  if (resume_survey_) {
    std::vector<Measurement> recorded = std::move(resume_recorded_);
    resume_recorded_.clear();
    deliver(recorded);
    summary.resumed_measurements = recorded.size();
    for (auto& m : recorded) replay[{m.requested.row, m.requested.col}].push_back(std::move(m));
    replay_left = summary.resumed_measurements;
  }
  // Splits a proposal into the positions recorded earlier (answered from the record) and the
  // ones to acquire now.
  auto take_recorded = [&](std::vector<Position>& proposal) {
    std::vector<Measurement> answered;
    if (replay_left == 0) return answered;
    std::vector<Position> fresh;
    for (const auto& p : proposal) {
      auto it = replay.find({p.row, p.col});
      if (it != replay.end() && !it->second.empty()) {
        answered.push_back(std::move(it->second.front()));
        it->second.pop_front();
        --replay_left;
      } else {
        fresh.push_back(p);
      }
    }
    proposal = std::move(fresh);
    return answered;
  };
  auto drain = [&] {
    // Collect what the instrument is still acquiring: it is paid for (time and dose) and must
    // reach the results file.
    std::vector<Measurement> rest;
    while (instrument_.in_flight() > 0) {
      auto ms = instrument_.collect(true);
      if (ms.empty()) break;
      deliver(ms);
      rest.insert(rest.end(), std::make_move_iterator(ms.begin()),
                  std::make_move_iterator(ms.end()));
    }
    return rest;
  };

  // How many more points fit the budgets, counting those in flight.
  auto affordable = [&]() -> std::pair<std::size_t, StopReason> {
    const std::size_t committed = count - replay_left + instrument_.in_flight();
    if (committed >= budget_points) return {0, StopReason::budget_points};
    std::size_t n = std::min(config_.batch_size, budget_points - committed);
    if (cost.time_s > 0.0 && std::isfinite(config_.budget.max_time_s)) {
      const double left = config_.budget.max_time_s - instrument_.now_s() -
                          cost.time_s * static_cast<double>(instrument_.in_flight());
      const double fit = std::floor(left / cost.time_s);
      if (fit < 1.0) return {0, StopReason::budget_time};
      n = std::min(n, static_cast<std::size_t>(std::min(fit, 1e15)));
    }
    if (cost.electrons > 0.0 && std::isfinite(config_.budget.max_dose_e_per_A2)) {
      const double left_e = config_.budget.max_dose_e_per_A2 * field_area_A2 -
                            instrument_.total_electrons() -
                            cost.electrons * static_cast<double>(instrument_.in_flight());
      const double fit = std::floor(left_e / cost.electrons);
      if (fit < 1.0) return {0, StopReason::budget_dose};
      n = std::min(n, static_cast<std::size_t>(std::min(fit, 1e15)));
    }
    return {n, StopReason::strategy_done};
  };

  double pending_latency = 0.0;
  // Asks the strategy for up to n positions and checks every one before the instrument sees it.
  auto decide = [&](std::size_t n) {
    const auto t0 = Clock::now();
    std::vector<Position> proposal = strategy_.propose(n);
    const double dt = seconds_since(t0);
    pending_latency += dt;
    if (!config_.overlap || instrument_.in_flight() == 0) instrument_.blank();
    charge(dt, true);
    if (proposal.size() > n)
      throw ProposalError("strategy '" + strategy_.name() + "' proposed " +
                          std::to_string(proposal.size()) + " positions when asked for at most " +
                          std::to_string(n));
    for (const auto& p : proposal) check_position(p, info);
    return proposal;
  };

  std::vector<Position> next;
  bool have_next = false;
  try {
    for (;;) {
      if (stop_requested()) {
        summary.stop_reason = StopReason::operator_stop;
        break;
      }
      if (!have_next) {
        auto [n, why] = affordable();
        if (n == 0) {
          summary.stop_reason = why;
          break;
        }
        next = decide(n);
      }
      have_next = false;
      if (next.empty()) {
        summary.stop_reason = StopReason::strategy_done;
        break;
      }
      std::vector<Measurement> batch = take_recorded(next);
      if (!next.empty()) instrument_.submit(next, config_.point, mode);
      if (config_.overlap) {
        // Decide the next batch from what is known now, while this one is acquired.
        auto [n, why] = affordable();
        if (n > 0) {
          next = decide(n);
          have_next = true;
        }
      }
      while (instrument_.in_flight() > 0 && !stop_requested()) {
        auto ms = instrument_.collect(true);
        deliver(ms);
        batch.insert(batch.end(), std::make_move_iterator(ms.begin()),
                     std::make_move_iterator(ms.end()));
      }
      if (stop_requested()) {
        instrument_.blank();
        auto rest = drain();
        batch.insert(batch.end(), std::make_move_iterator(rest.begin()),
                     std::make_move_iterator(rest.end()));
      }
      {
        const auto t0 = Clock::now();
        strategy_.observe(batch);
        const double dt = seconds_since(t0);
        pending_latency += dt;
        charge(dt, false);
      }
      summary.decision_latency_s.push_back(pending_latency);
      pending_latency = 0.0;
      since_prediction += batch.size();
      if (prediction_every_ > 0 && since_prediction >= prediction_every_) {
        since_prediction = 0;
        if (auto p = strategy_.prediction())
          for (auto* s : sinks_) s->on_prediction(count, *p);
      }
      if (progress_)
        progress_(SessionProgress{count, std::min(budget_points, field_points), instrument_.now_s(),
                                  total_dose()});
    }
    instrument_.blank();
    drain();
  } catch (const std::exception& e) {
    summary.stop_reason = StopReason::error;
    summary.message = e.what();
    try {
      instrument_.blank();
      drain();
    } catch (const std::exception& e2) {
      summary.message += std::string("; while collecting the measurements in flight: ") + e2.what();
    }
  }

  summary.measurements = count;
  summary.resume_unused = replay_left;
  summary.decisions = summary.decision_latency_s.size();
  summary.time_s = instrument_.now_s();
  summary.electrons = instrument_.total_electrons();
  summary.dose_e_per_A2 = total_dose();
  std::optional<Image> dose_map = instrument_.dose_map();
  if (dose_map && dose_map->data.size() > 0) summary.max_dose_e_per_A2 = dose_map->data.maxCoeff();
  summary.wall_s = seconds_since(wall0);
  if (prediction_every_ > 0 && since_prediction > 0)
    if (auto p = strategy_.prediction())
      for (auto* s : sinks_) s->on_prediction(count, *p);
  for (auto* s : sinks_) s->on_end(summary, dose_map);
  if (summary.stop_reason == StopReason::error) throw SessionError(summary);
  return summary;
}

}  // namespace autostem
