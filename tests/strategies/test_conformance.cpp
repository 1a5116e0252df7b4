// Strategy conformance (STYLE.md, after ns-3; issue 14): one parameterised suite over every name in
// the strategy registry — the LibTorch strategies (dkl, gp, dcnn) included when LibTorch is built —
// each built with its default parameters (plus the small settings below where the defaults are too
// slow for a unit test). Every strategy, on a survey where it must find something (the atom
// planners on a honeycomb lattice, the others on a smooth, edge-rich image):
//  - proposes at least one point (a strategy that proposes nothing fails);
//  - proposes only finite positions inside the field, never more than asked for per propose(),
//    never the same position twice;
//  - gives the same sequence for the same seed (two instances);
//  - proposes at most StrategyContext::budget_points in all, then returns empty (its stop);
//  - runs through the real Session with a fake instrument (batch 1, and batch 4 with overlap),
//    stopping on budget or on its own word, and through the simulated backend;
//  - never measures inside an operator's exclusion drawn before or during the run (issue 18).

#include <autostem/backends/simulated.hpp>
#include <autostem/core/session.hpp>
#include <autostem/datasets/phantoms.hpp>
#include <autostem/strategies/atoms.hpp>
#include <autostem/strategies/registry.hpp>
#ifdef AUTOSTEM_HAVE_TORCH
#include <autostem/strategies/torch.hpp>
#endif

#include "fake_instrument.hpp"
#include "lattice_survey.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

using namespace autostem;
using autostem::testing::FakeInstrument;

namespace {

constexpr std::size_t kRows = 64, kCols = 64;

/// Every registered strategy, the LibTorch ones registered first when they are built.
std::vector<std::string> all_strategy_names() {
#ifdef AUTOSTEM_HAVE_TORCH
  strategies::register_torch_strategies();
#endif
  return strategies::strategy_names();
}

/// Default parameters, except where the defaults are too slow for a unit test.
Parameters small_settings(const std::string& name) {
  // dkl, gp: a handful of Adam steps and a short space-filling start (dkl.cpp).
  if (name == "dkl") return {{"train_iters", "2"}, {"init_iters", "4"}, {"n_init", "6"}, {"hidden", "16-16"}};
  if (name == "gp") return {{"train_iters", "2"}, {"init_iters", "4"}, {"n_init", "6"}};
  // dcnn: two of the shipped ensemble's models (atomnet_finder.cpp).
  if (name == "dcnn") return {{"finder.ensemble", "2"}};
  return {};
}

/// Points per Session / standalone run: small for the model strategies (one GP fit per step).
std::size_t budget_for(const std::string& name) { return name == "dkl" || name == "gp" ? 24 : 60; }

std::unique_ptr<Strategy> make(const std::string& name) {
  return strategies::make_strategy(name, small_settings(name));
}

/// Atom planners measure atoms only: they get a lattice survey.
bool atom_planner(const std::string& name) {
  static std::map<std::string, bool> known;  // building dcnn loads its models: ask once
  auto it = known.find(name);
  if (it == known.end())
    it = known.emplace(name, dynamic_cast<strategies::AtomPlanStrategy*>(make(name).get()) != nullptr).first;
  return it->second;
}

/// A smooth, edge-rich survey (kRows, kCols): a gentle ramp, a bright disc and a step.
ImageArray smooth_survey() {
  ImageArray a(kRows, kCols);
  for (std::size_t r = 0; r < kRows; ++r)
    for (std::size_t c = 0; c < kCols; ++c) {
      const double dr = double(r) - kRows / 2.0, dc = double(c) - kCols / 3.0;
      a(r, c) = 10.0 + 0.3 * double(r) + (dr * dr + dc * dc < 64.0 ? 90.0 : 0.0) + (c > 2 * kCols / 3 ? 50.0 : 0.0);
    }
  return a;
}

/// A graphene-like lattice (spacing 8 px) over the same field.
ImageArray lattice_survey() { return autostem::testing::honeycomb(int(kRows), int(kCols), 8.0).survey.image.data; }

ImageArray survey_for(const std::string& name) { return atom_planner(name) ? lattice_survey() : smooth_survey(); }

InstrumentInfo field_info() { return FakeInstrument(kRows, kCols).describe(); }

/// begin() with budget_points = budget, then propose(batch) → observe until propose() returns
/// empty (at most budget + 2 calls). Each measurement's signal is the survey value at the
/// proposed pixel (4 channels, as FakeInstrument's energy axis). Checks the per-call limit.
std::vector<Position> drive(Strategy& s, const ImageArray& image, std::uint64_t seed, std::size_t budget,
                            std::size_t batch, bool* ended_empty) {
  Survey survey;
  survey.image.data = image;
  StrategyContext ctx{field_info(), seed, budget, {}};
  s.begin(survey, ctx);
  std::vector<Position> out;
  *ended_empty = false;
  for (std::size_t call = 0; call < budget + 2; ++call) {
    const auto p = s.propose(batch);
    if (p.empty()) {
      *ended_empty = true;
      break;
    }
    EXPECT_LE(p.size(), batch) << s.name() << " proposed more than asked for";
    std::vector<Measurement> ms;
    for (const auto& q : p) {
      Measurement m;
      m.index = out.size() + ms.size();
      m.requested = m.actual = q;
      const auto r = static_cast<Eigen::Index>(std::clamp(std::round(q.row), 0.0, double(kRows - 1)));
      const auto c = static_cast<Eigen::Index>(std::clamp(std::round(q.col), 0.0, double(kCols - 1)));
      for (int ch = 0; ch < 4; ++ch) m.signal.push_back(static_cast<float>(image(r, c) + ch));
      ms.push_back(std::move(m));
    }
    out.insert(out.end(), p.begin(), p.end());
    s.observe(ms);
  }
  return out;
}

std::size_t distinct(const std::vector<Position>& ps) {
  std::set<std::pair<double, double>> seen;
  for (const auto& p : ps) seen.insert({p.row, p.col});
  return seen.size();
}

class Conformance : public ::testing::TestWithParam<std::string> {};

}  // namespace

// The registry holds what this build claims: the built-in strategies always, the LibTorch ones
// when LibTorch is built (so a strategy cannot silently drop out of this suite).
TEST(ConformanceRegistry, EveryStrategyOfThisBuildIsInstantiated) {
  const auto names = all_strategy_names();
  std::vector<std::string> expected = {"atoms", "cs", "edge", "grid", "random"};
#ifdef AUTOSTEM_HAVE_TORCH
  expected.insert(expected.end(), {"dcnn", "dkl", "gp"});
#endif
  for (const auto& e : expected) EXPECT_NE(std::find(names.begin(), names.end(), e), names.end()) << e;
}

TEST_P(Conformance, ProposesFiniteDistinctPointsInsideTheFieldWithinTheBudget) {
  const std::string name = GetParam();
  auto s = make(name);
  const std::size_t budget = budget_for(name);
  bool ended = false;
  const auto p = drive(*s, survey_for(name), 3, budget, 7, &ended);
  ASSERT_FALSE(p.empty()) << name << " proposed nothing on a survey made for it";
  const InstrumentInfo info = field_info();
  for (const auto& q : p) {
    ASSERT_TRUE(std::isfinite(q.row) && std::isfinite(q.col)) << name;
    ASSERT_NO_THROW(Session::check_position(q, info)) << name << " (" << q.row << ", " << q.col << ")";
  }
  EXPECT_EQ(distinct(p), p.size()) << name << " proposed a position twice";
  // Its stop: at most budget_points in all, then propose() returns empty.
  EXPECT_LE(p.size(), budget) << name << " ignores StrategyContext::budget_points";
  EXPECT_TRUE(ended) << name << " still proposes after " << p.size() << " points (budget " << budget << ")";
}

TEST_P(Conformance, SameSeedSameSequenceAndBeginResets) {
  const std::string name = GetParam();
  auto a = make(name), b = make(name);
  const ImageArray survey = survey_for(name);
  const std::size_t budget = budget_for(name);
  bool ended = false;
  const auto pa = drive(*a, survey, 42, budget, 5, &ended);
  const auto pb = drive(*b, survey, 42, budget, 5, &ended);
  ASSERT_FALSE(pa.empty()) << name;
  ASSERT_EQ(pa.size(), pb.size()) << name;
  for (std::size_t i = 0; i < pa.size(); ++i) EXPECT_EQ(pa[i], pb[i]) << name << " #" << i;
  // begin() resets all state: a second run on the same object repeats the first.
  EXPECT_EQ(drive(*a, survey, 42, budget, 5, &ended), pa) << name;
}

TEST_P(Conformance, SessionStopsOnBudgetOrItsOwnWordWithAndWithoutOverlap) {
  const std::string name = GetParam();
  const std::size_t budget = budget_for(name);
  for (const auto& [batch, overlap] : {std::pair<std::size_t, bool>{1, false}, {4, true}, {3, false}}) {
    SCOPED_TRACE(name + " batch " + std::to_string(batch) + (overlap ? " overlap" : ""));
    auto s = make(name);
    FakeInstrument inst(kRows, kCols);
    inst.survey_image = survey_for(name);
    SessionConfig cfg;
    cfg.budget.max_points = budget;
    cfg.batch_size = batch;
    cfg.overlap = overlap;
    cfg.seed = 5;
    Session session(inst, *s, cfg);
    const RunSummary r = session.run();
    EXPECT_TRUE(r.stop_reason == StopReason::budget_points || r.stop_reason == StopReason::strategy_done)
        << to_string(r.stop_reason) << ": " << r.message;
    EXPECT_GE(r.measurements, 1u);
    EXPECT_LE(r.measurements, budget);
    if (r.stop_reason == StopReason::budget_points) {
      EXPECT_EQ(r.measurements, budget);
    }
    EXPECT_EQ(inst.submitted.size(), r.measurements);
    EXPECT_EQ(distinct(inst.submitted), inst.submitted.size());
  }
}

TEST_P(Conformance, RunsOnTheSimulatedBackend) {
  const std::string name = GetParam();
  const std::string phantom = atom_planner(name) ? "lattice" : "nanowire";
  backends::SimulatedOptions o;
  o.seed = 7;
  auto inst = backends::make_simulated_instrument(datasets::make_phantom(phantom, 7, kRows, kCols), o);
  auto s = make(name);
  SessionConfig cfg;
  cfg.budget.max_points = budget_for(name);
  cfg.batch_size = 4;
  cfg.overlap = true;
  cfg.seed = 7;
  Session session(*inst, *s, cfg);
  const RunSummary r = session.run();
  EXPECT_TRUE(r.stop_reason == StopReason::budget_points || r.stop_reason == StopReason::strategy_done)
      << to_string(r.stop_reason) << ": " << r.message;
  EXPECT_GE(r.measurements, 1u) << name << " measured nothing on the " << phantom << " phantom";
  EXPECT_LE(r.measurements, budget_for(name));
  EXPECT_GT(inst->total_electrons(), 0.0);
}

INSTANTIATE_TEST_SUITE_P(AllStrategies, Conformance, ::testing::ValuesIn(all_strategy_names()),
                         [](const auto& info) { return info.param; });

namespace {

/// Draws an exclusion after `after` measurements (as the live view's operator would) and keeps
/// the operator events the Session applied.
struct ExcludeAfter final : MeasurementSink {
  OperatorControl& control;
  std::size_t after;
  FieldRect rect;
  std::vector<OperatorEvent> applied;
  std::vector<Measurement> measured;
  ExcludeAfter(OperatorControl& c, std::size_t n, FieldRect r) : control(c), after(n), rect(r) {}
  void on_begin(const RunInfo&, const Survey&) override {}
  void on_measurement(const Measurement& m) override {
    measured.push_back(m);
    if (measured.size() == after) control.exclude(rect, "test");
  }
  void on_operator(const OperatorEvent& e) override { applied.push_back(e); }
  void on_end(const RunSummary&, const std::optional<Image>&) override {}
};

}  // namespace

// Operator regions (issue 18): an exclusion drawn before the run and one drawn mid-run are never
// measured, the strategy is asked again instead (bounded: the run ends by budget or by its own
// word, never in error), and the Session hands each applied event to the sinks.
TEST_P(Conformance, HonoursOperatorExclusionsBeforeAndDuringTheRun) {
  const std::string name = GetParam();
  const std::size_t budget = budget_for(name);
  const FieldRect early{0.0, 0.0, 31.0, 31.0};             // top-left quarter, from the start
  const FieldRect late{40.0, 36.0, 63.0, 63.0};            // bottom-right block, after 5 points
  for (const auto& [batch, overlap] : {std::pair<std::size_t, bool>{1, false}, {4, true}}) {
    SCOPED_TRACE(name + " batch " + std::to_string(batch) + (overlap ? " overlap" : ""));
    auto s = make(name);
    FakeInstrument inst(kRows, kCols);
    inst.survey_image = survey_for(name);
    SessionConfig cfg;
    cfg.budget.max_points = budget;
    cfg.batch_size = batch;
    cfg.overlap = overlap;
    cfg.seed = 5;
    Session session(inst, *s, cfg);
    OperatorControl control;
    control.exclude(early, "test");
    session.set_operator_control(control);
    ExcludeAfter sink(control, 5, late);
    session.add_sink(sink);
    const RunSummary r = session.run();
    EXPECT_TRUE(r.stop_reason == StopReason::budget_points || r.stop_reason == StopReason::strategy_done)
        << to_string(r.stop_reason) << ": " << r.message;
    ASSERT_EQ(sink.applied.size(), 2u) << "both exclusions reach the sinks";
    EXPECT_EQ(sink.applied[0].after_measurements, 0u);
    EXPECT_GE(sink.applied[1].after_measurements, 5u);
    EXPECT_EQ(r.operator_events, 2u);
    EXPECT_LE(r.excluded_proposals, kRows * kCols) << "dropped proposals are bounded";
    for (const auto& m : sink.measured) {
      EXPECT_FALSE(early.contains(m.requested)) << "#" << m.index << " (" << m.requested.row << ", "
                                                << m.requested.col << ") inside the first exclusion";
      // Applied between batches (nothing in flight); a batch decided ahead (overlap) is checked
      // again before it is submitted.
      if (m.index >= sink.applied[1].after_measurements)
        EXPECT_FALSE(late.contains(m.requested)) << "#" << m.index << " (" << m.requested.row << ", "
                                                 << m.requested.col << ") inside the later exclusion";
    }
    EXPECT_EQ(inst.submitted.size(), r.measurements);
  }
}
