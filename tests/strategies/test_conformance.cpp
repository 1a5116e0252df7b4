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
// The checks themselves are tests/support/conformance_checks.hpp, shared with the Python package
// (autostem.conformance, for strategies written in Python; issue 20).

#include <autostem/strategies/registry.hpp>
#ifdef AUTOSTEM_HAVE_TORCH
#include <autostem/strategies/torch.hpp>
#endif

#include "conformance_checks.hpp"

#include <gtest/gtest.h>

#include <algorithm>

using namespace autostem;
using namespace autostem::testing;
using conformance::budget_for;
using conformance::make;
using conformance::survey_for;
using conformance::kRows;
using conformance::kCols;

namespace {

/// Every registered strategy, the LibTorch ones registered first when they are built.
std::vector<std::string> all_strategy_names() {
#ifdef AUTOSTEM_HAVE_TORCH
  strategies::register_torch_strategies();
#endif
  return strategies::strategy_names();
}

/// One gtest failure per failed check, so each names the strategy and what it did.
void expect_none(const std::vector<std::string>& failures) {
  for (const auto& f : failures) ADD_FAILURE() << f;
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
  expect_none(autostem::testing::check_proposals(GetParam()));
}

TEST_P(Conformance, SameSeedSameSequenceAndBeginResets) {
  expect_none(autostem::testing::check_determinism(GetParam()));
}

TEST_P(Conformance, SessionStopsOnBudgetOrItsOwnWordWithAndWithoutOverlap) {
  expect_none(autostem::testing::check_session(GetParam()));
}

TEST_P(Conformance, RunsOnTheSimulatedBackend) {
  expect_none(autostem::testing::check_simulated(GetParam()));
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
      if (m.index >= sink.applied[1].after_measurements) {
        EXPECT_FALSE(late.contains(m.requested)) << "#" << m.index << " (" << m.requested.row << ", "
                                                 << m.requested.col << ") inside the later exclusion";
      }
    }
    EXPECT_EQ(inst.submitted.size(), r.measurements);
  }
}
