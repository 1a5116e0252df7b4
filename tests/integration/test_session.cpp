// The Session's contract (core/session.hpp) against an in-memory instrument: every proposal is
// checked before the instrument sees it, budgets hold, every measurement reaches the sinks — also
// when the strategy or the instrument fails or the operator stops.

#include <autostem/core/session.hpp>
#include <autostem/strategies/grid.hpp>

#include "fake_instrument.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <thread>

using namespace autostem;
using autostem::testing::FakeInstrument;
using autostem::testing::RecordingSink;

namespace {

/// Proposes a fixed script of batches.
class ScriptedStrategy final : public Strategy {
 public:
  explicit ScriptedStrategy(std::vector<std::vector<Position>> script) : script_(std::move(script)) {}
  std::string name() const override { return "scripted"; }
  Parameters parameters() const override { return {}; }
  void begin(const Survey&, const StrategyContext&) override { next_ = 0; }
  std::vector<Position> propose(std::size_t) override {
    ++proposals;
    return next_ < script_.size() ? script_[next_++] : std::vector<Position>{};
  }
  void observe(std::span<const Measurement> ms) override { observed += ms.size(); }
  std::size_t observed = 0, proposals = 0;

 private:
  std::vector<std::vector<Position>> script_;
  std::size_t next_ = 0;
};

}  // namespace

TEST(Session, GridVisitsEveryPixelOnceAndSinksSeeEachMeasurement) {
  FakeInstrument inst(4, 5);
  strategies::GridStrategy grid;
  SessionConfig cfg;
  cfg.compute.kind = ComputeTiming::Kind::fixed;
  cfg.compute.value = 0.0;
  Session session(inst, grid, cfg);
  RecordingSink sink;
  session.add_sink(sink);
  const RunSummary s = session.run();
  EXPECT_EQ(s.measurements, 20u);
  EXPECT_EQ(s.stop_reason, StopReason::strategy_done);
  ASSERT_EQ(sink.measurements.size(), 20u);
  EXPECT_TRUE(sink.began && sink.ended);
  for (std::size_t i = 0; i < 20; ++i) {
    EXPECT_EQ(sink.measurements[i].index, i);
    EXPECT_EQ(sink.measurements[i].requested.row, double(i / 5));
    EXPECT_EQ(sink.measurements[i].requested.col, double(i % 5));
  }
  EXPECT_DOUBLE_EQ(s.time_s, 20.0);  // 1 s per point, no compute charged
}

TEST(Session, PointBudgetIsNeverExceeded) {
  FakeInstrument inst(10, 10);
  strategies::GridStrategy grid;
  SessionConfig cfg;
  cfg.budget.max_points = 7;
  cfg.batch_size = 3;
  Session session(inst, grid, cfg);
  const RunSummary s = session.run();
  EXPECT_EQ(s.measurements, 7u);
  EXPECT_EQ(inst.submitted.size(), 7u);
  EXPECT_EQ(s.stop_reason, StopReason::budget_points);
}

TEST(Session, TimeBudgetStopsBeforeItIsExceeded) {
  FakeInstrument inst(10, 10);
  strategies::GridStrategy grid;
  SessionConfig cfg;
  cfg.compute.kind = ComputeTiming::Kind::fixed;
  cfg.compute.value = 0.0;
  cfg.budget.max_time_s = 12.5;  // 1 s per point
  Session session(inst, grid, cfg);
  const RunSummary s = session.run();
  EXPECT_EQ(s.measurements, 12u);
  EXPECT_LE(s.time_s, 12.5);
  EXPECT_EQ(s.stop_reason, StopReason::budget_time);
}

TEST(Session, DoseBudgetCountsElectronsOverTheField) {
  FakeInstrument inst(10, 10);  // pixel 1 nm → field area 100 px × 100 Å² = 1e4 Å²
  inst.point_electrons = 1e4;   // 1 e-/Å² of field-mean dose per point
  strategies::GridStrategy grid;
  SessionConfig cfg;
  cfg.budget.max_dose_e_per_A2 = 5.5;
  Session session(inst, grid, cfg);
  const RunSummary s = session.run();
  EXPECT_EQ(s.measurements, 5u);
  EXPECT_NEAR(s.dose_e_per_A2, 5.0, 1e-12);
  EXPECT_EQ(s.stop_reason, StopReason::budget_dose);
}

TEST(Session, RefusesNonFiniteAndOutOfFieldProposalsAndKeepsWhatWasMeasured) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (const Position bad : {Position{nan, 1.0}, Position{2.0, 99.0}, Position{-0.6, 0.0},
                             Position{0.0, std::numeric_limits<double>::infinity()}}) {
    FakeInstrument inst(8, 8);
    ScriptedStrategy strat({{{1, 1}, {2, 2}}, {bad}});
    SessionConfig cfg;
    cfg.batch_size = 2;
    Session session(inst, strat, cfg);
    RecordingSink sink;
    session.add_sink(sink);
    try {
      session.run();
      FAIL() << "expected SessionError";
    } catch (const SessionError& e) {
      EXPECT_NE(std::string(e.what()).find("proposed position"), std::string::npos) << e.what();
      EXPECT_EQ(e.summary.stop_reason, StopReason::error);
      EXPECT_EQ(e.summary.measurements, 2u);
    }
    EXPECT_EQ(inst.submitted.size(), 2u) << "the bad position must never reach the instrument";
    EXPECT_EQ(sink.measurements.size(), 2u);
    EXPECT_TRUE(sink.ended);
    EXPECT_EQ(sink.summary.stop_reason, StopReason::error);
  }
}

TEST(Session, InstrumentFaultEndsTheRunWithEverythingCollectedSoFar) {
  FakeInstrument inst(8, 8);
  inst.fail_on_collect = 4;
  strategies::GridStrategy grid;
  Session session(inst, grid, SessionConfig{});
  RecordingSink sink;
  session.add_sink(sink);
  EXPECT_THROW(session.run(), SessionError);
  // Three collected before the fault; the Session then drains the instrument and, since this
  // fake's fault is transient, also recovers the spectrum that was in flight.
  EXPECT_EQ(sink.measurements.size(), 4u);
  EXPECT_EQ(inst.submitted.size(), 4u);
  EXPECT_TRUE(sink.ended);
  EXPECT_NE(sink.summary.message.find("connection lost"), std::string::npos);
}

TEST(Session, OperatorStopEndsCleanly) {
  FakeInstrument inst(8, 8);
  strategies::GridStrategy grid;
  Session session(inst, grid, SessionConfig{});
  RecordingSink sink;
  session.add_sink(sink);
  std::atomic<bool> stop{false};
  session.set_progress([&](const SessionProgress& p) {
    if (p.measurements == 10) stop = true;
  });
  const RunSummary s = session.run(&stop);
  EXPECT_EQ(s.stop_reason, StopReason::operator_stop);
  EXPECT_EQ(s.measurements, 10u);
  EXPECT_EQ(sink.measurements.size(), 10u);
  EXPECT_GE(inst.blanks, 1u);
}

TEST(Session, OverlapProposesTheNextBatchWhileTheCurrentOneIsInFlight) {
  FakeInstrument inst(8, 8);
  ScriptedStrategy strat({{{0, 0}}, {{0, 1}}, {{0, 2}}});
  SessionConfig cfg;
  cfg.overlap = true;
  cfg.compute.kind = ComputeTiming::Kind::fixed;
  cfg.compute.value = 0.5;
  Session session(inst, strat, cfg);
  const RunSummary s = session.run();
  EXPECT_EQ(s.measurements, 3u);
  // With overlap the three 1 s spectra and 4 × 0.5 s of decisions (the last one returns nothing)
  // are charged on one clock; the fake instrument is serial, so this checks the bookkeeping,
  // not the sim's parallelism (tests/sim does that).
  EXPECT_EQ(strat.observed, 3u);
  EXPECT_EQ(strat.proposals, 4u);
}

TEST(Session, RejectsImpossibleSettings) {
  FakeInstrument inst(4, 4);
  strategies::GridStrategy grid;
  SessionConfig cfg;
  cfg.point.exposure_s = -1.0;
  EXPECT_THROW(Session(inst, grid, cfg), std::invalid_argument);
  cfg = {};
  cfg.point.exposure_s = 100.0;  // above the fake's 10 s limit
  EXPECT_THROW(Session(inst, grid, cfg), std::invalid_argument);
  cfg = {};
  cfg.batch_size = 0;
  EXPECT_THROW(Session(inst, grid, cfg), std::invalid_argument);
  cfg = {};
  cfg.budget.max_time_s = std::numeric_limits<double>::quiet_NaN();
  EXPECT_THROW(Session(inst, grid, cfg), std::invalid_argument);
}

namespace {

/// A DriftCorrection with a known prediction d̂(t) = (0.1·t, −0.05·t) px, due every 3
/// measurements; counts its calls.
class LinearDrift final : public DriftCorrection {
 public:
  void begin(const Survey&, const InstrumentInfo& info) override {
    began = true;
    EXPECT_TRUE(info.can_scan_patch);
  }
  bool due(std::size_t measurements, double) const override { return measurements >= last_ + 3; }
  DriftRecord update(Instrument& instrument, std::size_t measurements) override {
    last_ = measurements;
    PatchScan scan{0, 0, 4, 4, {0.0, 0.0}, {}};
    Survey p = instrument.acquire_patch(scan);
    DriftRecord r;
    r.after_measurements = measurements;
    r.t_start_s = p.t_start_s;
    r.t_end_s = p.t_end_s;
    r.predicted = predicted_px(p.t_end_s);
    if (measurements == 6) r.warning = "test warning";
    return r;
  }
  Position predicted_px(double t) const override { return {0.1 * t, -0.05 * t}; }
  bool began = false;

 private:
  std::size_t last_ = 0;
};

}  // namespace

TEST(Session, DriftCorrectionCommandsEachPositionMinusThePredictedDriftAndKeepsTheRequestedOne) {
  FakeInstrument inst(20, 20);
  std::vector<std::vector<Position>> script;
  for (int i = 0; i < 10; ++i) script.push_back({{10.0 + i * 0.5, 10.0}});
  ScriptedStrategy strategy(script);
  SessionConfig cfg;
  cfg.compute.kind = ComputeTiming::Kind::fixed;
  cfg.compute.value = 0.0;
  Session session(inst, strategy, cfg);
  LinearDrift drift;
  session.set_drift_correction(drift);
  struct DriftSink final : MeasurementSink {
    std::vector<Measurement> ms;
    std::vector<DriftRecord> drift;
    void on_begin(const RunInfo&, const Survey&) override {}
    void on_measurement(const Measurement& m) override { ms.push_back(m); }
    void on_drift(const DriftRecord& r) override { drift.push_back(r); }
    void on_end(const RunSummary&, const std::optional<Image>&) override {}
  } sink;
  session.add_sink(sink);
  const RunSummary s = session.run();
  EXPECT_TRUE(drift.began);
  ASSERT_EQ(sink.ms.size(), 10u);
  // Re-scans after 3, 6 and 9 measurements, before the next batch, each 2 s.
  ASSERT_EQ(sink.drift.size(), 3u);
  EXPECT_EQ(inst.patches, 3u);
  EXPECT_EQ(s.drift_rescans, 3u);
  EXPECT_EQ(s.drift_warnings, 1u);
  EXPECT_DOUBLE_EQ(s.drift_time_s, 6.0);
  EXPECT_DOUBLE_EQ(s.time_s, 10.0 + 6.0);
  for (std::size_t i = 0; i < 10; ++i) {
    const Measurement& m = sink.ms[i];
    EXPECT_EQ(m.requested, script[i][0]) << i;  // the strategy's position is kept
    // Commanded at p − d̂(t) with t the middle of the expected exposure (1 s per point).
    const double t = m.t_start_s + 0.5;
    EXPECT_NEAR(m.commanded.row, script[i][0].row - 0.1 * t, 1e-12) << i;
    EXPECT_NEAR(m.commanded.col, script[i][0].col + 0.05 * t, 1e-12) << i;
    EXPECT_EQ(inst.submitted[i], m.commanded);  // what the instrument was sent
  }
}

TEST(Session, WithoutDriftCorrectionTheCommandedPositionIsTheRequestedOne) {
  FakeInstrument inst(4, 4);
  strategies::GridStrategy grid;
  SessionConfig cfg;
  cfg.compute.kind = ComputeTiming::Kind::fixed;
  cfg.compute.value = 0.0;
  Session session(inst, grid, cfg);
  RecordingSink sink;
  session.add_sink(sink);
  session.run();
  ASSERT_EQ(sink.measurements.size(), 16u);
  for (const auto& m : sink.measurements) EXPECT_EQ(m.commanded, m.requested);
  EXPECT_EQ(inst.patches, 0u);
}

TEST(Session, DriftCorrectionOnAnInstrumentThatCannotScanAPatchIsRefused) {
  // The default Instrument::acquire_patch throws std::logic_error naming the instrument.
  struct NoPatch final : Instrument {
    FakeInstrument f{4, 4};
    InstrumentInfo describe() const override { auto i = f.describe(); i.can_scan_patch = false; return i; }
    Survey acquire_survey(const SurveySettings& s) override { return f.acquire_survey(s); }
    void submit(std::span<const Position> p, const PointSettings& s, AcquisitionMode m) override { f.submit(p, s, m); }
    std::size_t in_flight() const override { return f.in_flight(); }
    std::vector<Measurement> collect(bool w) override { return f.collect(w); }
    void elapse(double s) override { f.elapse(s); }
    void blank() override {}
    double now_s() const override { return f.now_s(); }
    CostEstimate estimate_point(const PointSettings& s, AcquisitionMode m) const override { return f.estimate_point(s, m); }
    double total_electrons() const override { return f.total_electrons(); }
  } inst;
  try {
    inst.acquire_patch(PatchScan{0, 0, 2, 2, {0, 0}, {}});
    FAIL() << "expected std::logic_error";
  } catch (const std::logic_error& e) {
    EXPECT_NE(std::string(e.what()).find("'fake' cannot scan a reference patch"), std::string::npos) << e.what();
  }
  // The Session refuses before the survey, with the reason.
  ScriptedStrategy strategy({{{1.0, 1.0}}});
  Session session(inst, strategy, SessionConfig{});
  LinearDrift drift;
  session.set_drift_correction(drift);
  try {
    session.run();
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("'fake' cannot"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(drift.began);
}

namespace {

/// One point per call along the first row(s); prediction() costs 3 ms of wall time.
class SlowPredictionStrategy final : public Strategy {
 public:
  explicit SlowPredictionStrategy(std::size_t n) : n_(n) {}
  std::string name() const override { return "slow-prediction"; }
  Parameters parameters() const override { return {}; }
  void begin(const Survey& s, const StrategyContext&) override { cols_ = s.image.cols(); next_ = 0; }
  std::vector<Position> propose(std::size_t) override {
    if (next_ >= n_) return {};
    const std::size_t i = next_++;
    return {Position{double(i / cols_), double(i % cols_)}};
  }
  void observe(std::span<const Measurement>) override {}
  std::optional<Prediction> prediction() const override {
    std::this_thread::sleep_for(std::chrono::milliseconds(3));
    return Prediction{ImageArray::Zero(2, 2), ImageArray::Zero(2, 2), ImageArray::Zero(2, 2)};
  }

 private:
  std::size_t n_, cols_ = 1, next_ = 0;
};

class PredictionSink final : public MeasurementSink {
 public:
  std::vector<std::size_t> steps;
  void on_begin(const RunInfo&, const Survey&) override {}
  void on_measurement(const Measurement&) override {}
  void on_prediction(std::size_t step, const Prediction&) override { steps.push_back(step); }
  void on_end(const RunSummary&, const std::optional<Image>&) override {}
};

RunSummary run_with_prediction_budget(double fraction, PredictionSink& sink) {
  FakeInstrument inst(10, 10);
  SlowPredictionStrategy st(60);
  SessionConfig cfg;
  cfg.compute.kind = ComputeTiming::Kind::fixed;
  cfg.compute.value = 0.0;
  Session session(inst, st, cfg);
  session.add_sink(sink);
  session.set_prediction_interval(5, fraction);
  return session.run();
}

}  // namespace

TEST(Session, PredictionMapsStayUnderTheirWallTimeBudgetAndTheLastIsAlwaysStored) {
  // fraction 1: the maps may take all the wall time, so every due one (each 5 measurements) is stored.
  PredictionSink all;
  const RunSummary a = run_with_prediction_budget(1.0, all);
  EXPECT_EQ(a.predictions_skipped, 0u);
  ASSERT_EQ(all.steps.size(), 12u);
  EXPECT_EQ(all.steps.front(), 5u);
  EXPECT_EQ(all.steps.back(), 60u);
  EXPECT_EQ(a.predictions_stored, 12u);

  // fraction 0.1: the measurements cost next to nothing, the 3-ms maps dominate: after the first,
  // due maps are skipped, and the final state is still stored.
  PredictionSink capped;
  const RunSummary c = run_with_prediction_budget(0.1, capped);
  ASSERT_GE(capped.steps.size(), 2u);
  EXPECT_LT(capped.steps.size(), 6u);
  EXPECT_EQ(capped.steps.front(), 5u);
  EXPECT_EQ(capped.steps.back(), 60u);
  EXPECT_EQ(c.predictions_stored, capped.steps.size());
  // 12 due maps: each is stored or counted as skipped once; the final one is stored.
  EXPECT_EQ(c.predictions_stored + c.predictions_skipped, 13u);

  PredictionSink unused;
  FakeInstrument inst(4, 4);
  SlowPredictionStrategy st(4);
  Session session(inst, st, SessionConfig{});
  EXPECT_THROW(session.set_prediction_interval(5, 0.0), std::invalid_argument);
  EXPECT_THROW(session.set_prediction_interval(5, 1.5), std::invalid_argument);
  EXPECT_THROW(session.set_prediction_interval(5, std::nan("")), std::invalid_argument);
}

TEST(Session, RequestsTheInstrumentCannotHonourAreRefusedBeforeTheSurvey) {
  // issue 17: capabilities in InstrumentInfo; si_scan or overlap on an instrument that does not
  // offer them is refused with the reason, never run another way.
  struct Limited final : Instrument {
    FakeInstrument f{4, 4};
    bool overlap = true, si = true;
    std::size_t surveys = 0;
    InstrumentInfo describe() const override {
      auto i = f.describe();
      i.can_overlap = overlap;
      i.can_si_scan = si;
      return i;
    }
    Survey acquire_survey(const SurveySettings& s) override { ++surveys; return f.acquire_survey(s); }
    void submit(std::span<const Position> p, const PointSettings& s, AcquisitionMode m) override { f.submit(p, s, m); }
    std::size_t in_flight() const override { return f.in_flight(); }
    std::vector<Measurement> collect(bool w) override { return f.collect(w); }
    void elapse(double s) override { f.elapse(s); }
    void blank() override {}
    double now_s() const override { return f.now_s(); }
    CostEstimate estimate_point(const PointSettings& s, AcquisitionMode m) const override { return f.estimate_point(s, m); }
    double total_electrons() const override { return f.total_electrons(); }
  };
  const auto refused = [](Limited& inst, SessionConfig c, const std::string& why) {
    ScriptedStrategy strategy({{{1.0, 1.0}}});
    Session session(inst, strategy, c);
    try {
      session.run();
      ADD_FAILURE() << "expected std::invalid_argument: " << why;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
    }
    EXPECT_EQ(inst.surveys, 0u) << "refused before the beam was used";
  };
  {
    Limited inst;
    inst.si = false;
    SessionConfig c;
    c.mode = AcquisitionMode::si_scan;
    refused(inst, c, "cannot acquire a synchronized spectrum image (si_scan); run with --mode point");
    c.mode = AcquisitionMode::point;  // the same instrument in point mode runs
    ScriptedStrategy strategy({{{1.0, 1.0}}});
    Session session(inst, strategy, c);
    EXPECT_EQ(session.run().measurements, 1u);
  }
  {
    Limited inst;
    inst.overlap = false;
    SessionConfig c;
    c.overlap = true;
    refused(inst, c, "cannot acquire while the strategy computes; run without --overlap");
  }
}

// Operator control (issue 18): pause holds the run (no measurement) until resume, stop ends it
// as an operator stop with every measurement delivered, a restriction confines the proposals,
// and the sinks see each applied event with its session time and measurement count.
namespace {
struct EventSink final : MeasurementSink {
  std::vector<Measurement> measurements;
  std::vector<OperatorEvent> events;
  std::atomic<int> pauses{0};           // read by the operator thread
  std::atomic<std::size_t> count{0};    // read by the operator thread
  void on_begin(const RunInfo&, const Survey&) override {}
  void on_measurement(const Measurement& m) override {
    measurements.push_back(m);
    ++count;
  }
  void on_operator(const OperatorEvent& e) override {
    events.push_back(e);
    if (e.kind == OperatorEvent::Kind::pause) ++pauses;
  }
  void on_end(const RunSummary&, const std::optional<Image>&) override {}
};
}  // namespace

TEST(SessionOperator, PauseResumeStopAndRestrict) {
  FakeInstrument inst(16, 16);
  strategies::GridStrategy grid;
  SessionConfig cfg;
  Session session(inst, grid, cfg);
  OperatorControl control;
  control.restrict_to({4.0, 0.0, 7.0, 15.0}, "test");  // rows 4…7 only
  session.set_operator_control(control);
  EventSink sink;
  session.add_sink(sink);
  session.set_progress([&](const SessionProgress& p) {
    if (p.measurements == 10 || p.measurements == 20) control.pause("test");
  });
  std::thread op([&] {
    // Wait until the Session applied the pause, check that nothing is measured, resume, stop.
    // Wait until the Session applied the pause, check that nothing is measured, resume; at the
    // second pause, stop (a stop ends a pause).
    for (int i = 0; i < 400 && sink.pauses < 1; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    const std::size_t before = sink.count;
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    EXPECT_EQ(sink.count.load(), before) << "measured while paused";
    EXPECT_EQ(before, 10u);
    control.resume("test");
    for (int i = 0; i < 400 && sink.pauses < 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    control.stop("test");
  });
  const RunSummary r = session.run();
  op.join();
  ASSERT_EQ(sink.pauses.load(), 2);
  EXPECT_EQ(r.stop_reason, StopReason::operator_stop);
  EXPECT_EQ(r.measurements, 20u);
  EXPECT_EQ(sink.measurements.size(), r.measurements);
  EXPECT_LE(r.measurements, 64u) << "the restriction holds 4 rows of 16";
  for (const auto& m : sink.measurements) {
    EXPECT_GE(m.requested.row, 4.0);
    EXPECT_LE(m.requested.row, 7.0);
  }
  EXPECT_GT(r.excluded_proposals, 0u);
  ASSERT_EQ(sink.events.size(), 5u);  // restrict, pause, resume, pause, stop
  EXPECT_EQ(sink.events[2].kind, OperatorEvent::Kind::resume);
  EXPECT_EQ(sink.events[4].kind, OperatorEvent::Kind::stop);
  EXPECT_EQ(sink.events[4].after_measurements, 20u);
  EXPECT_EQ(sink.events[0].kind, OperatorEvent::Kind::restrict_to);
  EXPECT_EQ(sink.events[0].after_measurements, 0u);
  EXPECT_EQ(sink.events[1].kind, OperatorEvent::Kind::pause);
  EXPECT_EQ(sink.events[1].after_measurements, 10u);
  EXPECT_GT(r.paused_wall_s, 0.1);
  for (const auto& e : sink.events) EXPECT_EQ(e.source, "test");
  EXPECT_EQ(r.operator_events, sink.events.size());
}

TEST(SessionOperator, ARegionOutsideEverythingEndsTheRunBounded) {
  FakeInstrument inst(8, 8);
  strategies::GridStrategy grid;
  Session session(inst, grid, SessionConfig{});
  OperatorControl control;
  control.exclude({-1.0, -1.0, 9.0, 9.0});  // the whole field
  session.set_operator_control(control);
  const RunSummary r = session.run();
  EXPECT_EQ(r.stop_reason, StopReason::strategy_done);
  EXPECT_EQ(r.measurements, 0u);
  EXPECT_LE(r.excluded_proposals, 64u);
}

TEST(SessionOperator, RejectsMalformedRegions) {
  OperatorControl control;
  EXPECT_THROW(control.exclude({5.0, 0.0, 4.0, 1.0}), std::invalid_argument);
  EXPECT_THROW(control.restrict_to({0.0, std::nan(""), 1.0, 1.0}), std::invalid_argument);
  EXPECT_TRUE(control.take().empty());
}
