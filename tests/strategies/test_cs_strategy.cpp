// Tests of the `cs` strategy and its sampling patterns (strategies/sparse.hpp).

#include <autostem/strategies/registry.hpp>
#include <autostem/strategies/sparse.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <stdexcept>
#include <string>

namespace autostem {
namespace {

using strategies::order_path;
using strategies::path_length;
using strategies::sampling_pattern;

std::set<std::pair<int, int>> distinct(const std::vector<Position>& p) {
  std::set<std::pair<int, int>> s;
  for (const auto& q : p) s.insert({int(q.row), int(q.col)});
  return s;
}

TEST(SamplingPattern, EveryPatternGivesNDistinctPixelsInTheField) {
  for (const char* pattern : {"random", "halton", "poisson", "lines"})
    for (std::size_t n : {1u, 50u, 777u, 2000u}) {
      const auto p = sampling_pattern(pattern, 40, 50, n, 3, 6);
      ASSERT_EQ(p.size(), n) << pattern;
      EXPECT_EQ(distinct(p).size(), n) << pattern;
      for (const auto& q : p) {
        EXPECT_EQ(q.row, std::round(q.row));
        EXPECT_GE(q.row, 0);
        EXPECT_LT(q.row, 40);
        EXPECT_GE(q.col, 0);
        EXPECT_LT(q.col, 50);
      }
      EXPECT_EQ(p, sampling_pattern(pattern, 40, 50, n, 3, 6)) << pattern << ": not deterministic";
    }
  EXPECT_EQ(sampling_pattern("random", 3, 3, 100, 1).size(), 9u);  // clamped to the field
}

// Blue noise: with 5 % of a 100×100 field, Bridson's radius sqrt(0.65/0.05) ≈ 3.6 px (maybe
// shrunk by 10 % a few times); rounding to pixel centres moves points by ≤ 0.71 px each. Uniform
// random points at that density have a nearest pair far closer (expected ~1 px).
TEST(SamplingPattern, PoissonDiscKeepsADistance) {
  const auto p = sampling_pattern("poisson", 100, 100, 500, 7);
  double dmin = 1e9;
  for (std::size_t i = 0; i < p.size(); ++i)
    for (std::size_t j = i + 1; j < p.size(); ++j)
      dmin = std::min(dmin, std::hypot(p[i].row - p[j].row, p[i].col - p[j].col));
  EXPECT_GE(dmin, 2.0);
  const auto u = sampling_pattern("random", 100, 100, 500, 7);
  double umin = 1e9;
  for (std::size_t i = 0; i < u.size(); ++i)
    for (std::size_t j = i + 1; j < u.size(); ++j)
      umin = std::min(umin, std::hypot(u[i].row - u[j].row, u[i].col - u[j].col));
  EXPECT_LT(umin, 2.0);
}

TEST(SamplingPattern, LinesAreHorizontalRuns) {
  const auto p = sampling_pattern("lines", 64, 64, 400, 2, 8);
  // Count runs of consecutive pixels along rows: with few overlaps most runs are 8 long.
  const auto s = distinct(p);
  std::size_t starts = 0;
  for (const auto& [r, c] : s)
    if (!s.count({r, c - 1})) ++starts;
  EXPECT_LE(starts, 400u / 8 + 15);
}

TEST(OrderPath, SerpentineAndNearestVisitEveryPointOnceAndShortenThePath) {
  const auto p = sampling_pattern("random", 80, 80, 320, 4);
  const auto s = order_path(p, "serpentine");
  const auto n = order_path(p, "nearest");
  EXPECT_EQ(distinct(s), distinct(p));
  EXPECT_EQ(distinct(n), distinct(p));
  EXPECT_EQ(s.size(), p.size());
  EXPECT_EQ(n.size(), p.size());
  const auto rows = order_path(p, "serpentine", 1);
  for (std::size_t i = 1; i < rows.size(); ++i) EXPECT_LE(rows[i - 1].row, rows[i].row);
  // Random order: ≈ n · 0.52·80 px (mean distance of two uniform points in a square of side 80)
  // ≈ 13,000 px; strip and greedy tours ≈ 0.92 and ≈ 0.9 × sqrt(n·area) ≈ 1,300 px.
  EXPECT_LT(path_length(s), 0.15 * path_length(p));
  EXPECT_LT(path_length(n), 0.15 * path_length(p));
  EXPECT_LT(path_length(s), path_length(rows));
  EXPECT_THROW(order_path(p, "tsp"), std::invalid_argument);
}

std::string message_of(const Parameters& p) {
  try {
    strategies::make_strategy("cs", p);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(no exception)";
}

TEST(CsStrategy, BadParametersNameTheValidChoices) {
  EXPECT_NE(message_of({{"fraction", "0"}}).find("fraction must be in (0, 1]"), std::string::npos);
  EXPECT_NE(message_of({{"fraction", "1.5"}}).find("fraction must be in (0, 1]"), std::string::npos);
  EXPECT_NE(message_of({{"pattern", "sobol"}}).find("random, halton, poisson, lines"), std::string::npos);
  EXPECT_NE(message_of({{"reconstruction", "magic"}}).find("biharmonic, fista, linear, nearest, particles, tv"),
            std::string::npos);
  EXPECT_NE(message_of({{"order", "x"}}).find("serpentine, nearest"), std::string::npos);
  EXPECT_NE(message_of({{"segment", "0"}}).find("segment"), std::string::npos);
  EXPECT_NE(message_of({{"colour", "red"}}).find("valid: fraction, pattern, segment, order, reconstruction"),
            std::string::npos);
}

TEST(CsStrategy, MeasuresTheFractionAndPredictsTheTotalCountsMap) {
  auto s = strategies::make_strategy(
      "cs", {{"fraction", "0.25"}, {"pattern", "poisson"}, {"reconstruction", "linear"}});
  InstrumentInfo info;
  info.field_rows = 30;
  info.field_cols = 40;
  StrategyContext ctx{info, 5, 0, {}};
  s->begin(Survey{}, ctx);
  EXPECT_FALSE(s->prediction().has_value());
  std::vector<Position> all;
  for (auto b = s->propose(64); !b.empty(); b = s->propose(64)) all.insert(all.end(), b.begin(), b.end());
  EXPECT_EQ(all.size(), 300u);  // ceil(0.25 · 1200)
  // Every spectrum has total counts 2·row + col + 1 (a plane): linear reconstruction is exact
  // inside the hull of the measured pixels.
  std::vector<Measurement> ms;
  for (const auto& p : all) {
    Measurement m;
    m.requested = p;
    m.signal = {float(p.row), float(p.row + p.col + 1)};
    ms.push_back(m);
  }
  s->observe(ms);
  const auto pred = s->prediction();
  ASSERT_TRUE(pred.has_value());
  ASSERT_EQ(pred->mean.rows(), 30);
  ASSERT_EQ(pred->mean.cols(), 40);
  for (const auto& p : all) EXPECT_DOUBLE_EQ(pred->mean(Eigen::Index(p.row), Eigen::Index(p.col)), 2 * p.row + p.col + 1);
  EXPECT_EQ(s->parameters().at("pattern"), "poisson");
}

}  // namespace
}  // namespace autostem
