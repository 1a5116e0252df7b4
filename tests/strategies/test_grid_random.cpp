// The grid and random strategies' own behaviour and the registry's refusals. What every
// registered strategy must do is in test_conformance.cpp.

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

}  // namespace

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
