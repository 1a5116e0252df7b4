// One conformance suite that every registered strategy passes (STYLE.md, after ns-3): proposals
// inside the field and finite, the Session's point budget respected, the same seed giving the same
// proposals, and no need for observations before the first proposal.

#include <autostem/core/session.hpp>
#include <autostem/strategies/registry.hpp>

#include "fake_instrument.hpp"

#include <gtest/gtest.h>

#include <set>

using namespace autostem;
using autostem::testing::FakeInstrument;

namespace {

Survey make_survey(std::size_t rows, std::size_t cols) {
  // A survey with structure (a bright disc and a step) so image-driven strategies find something.
  Survey s;
  s.image.data = ImageArray::Zero(rows, cols);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t c = 0; c < cols; ++c) {
      const double dr = double(r) - rows / 2.0, dc = double(c) - cols / 3.0;
      s.image.data(r, c) = (dr * dr + dc * dc < 36.0 ? 100.0 : 10.0) + (c > 2 * cols / 3 ? 50.0 : 0.0);
    }
  return s;
}

std::vector<Position> all_proposals(Strategy& s, std::uint64_t seed, std::size_t budget) {
  FakeInstrument inst(24, 32);
  StrategyContext ctx{inst.describe(), seed, budget, {}};
  s.begin(make_survey(24, 32), ctx);
  std::vector<Position> out;
  for (int guard = 0; guard < 100000; ++guard) {
    auto p = s.propose(7);
    if (p.empty()) break;
    EXPECT_LE(p.size(), 7u);
    out.insert(out.end(), p.begin(), p.end());
    if (out.size() >= budget) break;
  }
  return out;
}

class Conformance : public ::testing::TestWithParam<std::string> {};

}  // namespace

TEST_P(Conformance, ProposalsAreFiniteAndInsideTheField) {
  auto s = strategies::make_strategy(GetParam());
  FakeInstrument inst(24, 32);
  for (const auto& p : all_proposals(*s, 3, 24 * 32))
    EXPECT_NO_THROW(Session::check_position(p, inst.describe())) << GetParam();
}

TEST_P(Conformance, SameSeedSameProposals) {
  auto a = strategies::make_strategy(GetParam());
  auto b = strategies::make_strategy(GetParam());
  const auto pa = all_proposals(*a, 42, 200), pb = all_proposals(*b, 42, 200);
  ASSERT_EQ(pa.size(), pb.size());
  for (std::size_t i = 0; i < pa.size(); ++i) EXPECT_EQ(pa[i], pb[i]) << GetParam() << " #" << i;
  // begin() resets all state: a second run on the same object repeats itself.
  EXPECT_EQ(all_proposals(*a, 42, 200).size(), pa.size());
}

TEST_P(Conformance, SessionKeepsThePointBudget) {
  auto s = strategies::make_strategy(GetParam());
  FakeInstrument inst(24, 32);
  SessionConfig cfg;
  cfg.budget.max_points = 25;
  cfg.batch_size = 4;
  Session session(inst, *s, cfg);
  const RunSummary r = session.run();
  EXPECT_LE(r.measurements, 25u);
  EXPECT_EQ(inst.submitted.size(), r.measurements);
}

TEST_P(Conformance, ProposesWithoutAnyObservation) {
  auto s = strategies::make_strategy(GetParam());
  FakeInstrument inst(24, 32);
  StrategyContext ctx{inst.describe(), 1, 50, {}};
  s->begin(make_survey(24, 32), ctx);
  // The atom planners (atoms, dcnn) measure atoms only. This survey (a disc and a step) has
  // none, so an empty plan is their documented outcome ("no atoms found", issue 9);
  // tests/strategies/test_atoms_strategy.cpp checks that they propose on lattices.
  const bool atom_planner = GetParam() == "atoms" || GetParam() == "dcnn";
  const bool none = s->propose(1).empty();
  if (!atom_planner) {
    EXPECT_FALSE(none) << GetParam() << " proposed nothing at the start";
  }
  s->observe({});
  SUCCEED();
}

INSTANTIATE_TEST_SUITE_P(AllStrategies, Conformance,
                         ::testing::ValuesIn(strategies::strategy_names()),
                         [](const auto& info) { return info.param; });

TEST(RandomStrategy, DistinctPositionsWithinBudget) {
  for (const char* seq : {"uniform", "halton"}) {
    auto s = strategies::make_strategy("random", {{"sequence", seq}});
    const auto p = all_proposals(*s, 9, 200);
    EXPECT_EQ(p.size(), 200u) << seq;
    std::set<std::pair<double, double>> distinct;
    for (const auto& q : p) distinct.insert({q.row, q.col});
    EXPECT_EQ(distinct.size(), p.size()) << seq;
  }
}

TEST(RandomStrategy, DifferentSeedsDiffer) {
  auto s = strategies::make_strategy("random");
  const auto a = all_proposals(*s, 1, 50), b = all_proposals(*s, 2, 50);
  EXPECT_NE(a, b);
}

TEST(GridStrategy, SerpentineReversesOddRowsAndStepSkips) {
  auto s = strategies::make_strategy("grid", {{"pattern", "serpentine"}, {"step", "2"}});
  const auto p = all_proposals(*s, 0, 1000);
  ASSERT_EQ(p.size(), 12u * 16u);
  EXPECT_EQ(p[0], (Position{0, 0}));
  EXPECT_EQ(p[15], (Position{0, 30}));
  EXPECT_EQ(p[16], (Position{2, 30}));  // second line runs backwards
}

TEST(Registry, UnknownNamesAndParametersAreRefusedWithTheValidOnes) {
  try {
    strategies::make_strategy("magic");
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("grid"), std::string::npos) << e.what();
  }
  EXPECT_THROW(strategies::make_strategy("grid", {{"colour", "red"}}), std::invalid_argument);
  EXPECT_THROW(strategies::make_strategy("random", {{"fraction", "0"}}), std::invalid_argument);
  EXPECT_THROW(strategies::make_strategy("random", {{"fraction", "1.5"}}), std::invalid_argument);
  EXPECT_THROW(strategies::parse_parameters("step"), std::invalid_argument);
  EXPECT_EQ(strategies::parse_parameters("a=1,b=x").at("b"), "x");
}
