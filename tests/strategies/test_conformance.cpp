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
//    stopping on budget or on its own word, and through the simulated backend.
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
