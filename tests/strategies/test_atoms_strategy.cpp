// The atom plan strategy ("atoms") and the atom finder registry (issue 9). Strategies may not link
// datasets, so the surveys are small honeycomb lattices (tests/support/lattice_survey.hpp):
// Gaussian columns on a graphene-like lattice with one vacancy and one bright (Si-like) dopant.
#include <autostem/core/session.hpp>
#include <autostem/strategies/atoms.hpp>
#include <autostem/strategies/edge.hpp>
#include <autostem/strategies/registry.hpp>

#include "fake_instrument.hpp"
#include "lattice_survey.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

using namespace autostem;
using autostem::testing::FakeInstrument;
using autostem::testing::honeycomb;

namespace {

std::vector<Position> run_plan(Strategy& s, const Survey& survey, std::size_t budget = 0) {
  FakeInstrument inst(survey.image.rows(), survey.image.cols());
  StrategyContext ctx{inst.describe(), 1, budget, {}};
  s.begin(survey, ctx);
  std::vector<Position> out;
  for (auto p = s.propose(16); !p.empty(); p = s.propose(16)) out.insert(out.end(), p.begin(), p.end());
  return out;
}

double nearest_distance(const Position& p, const std::vector<Position>& set) {
  double d = 1e300;
  for (const auto& q : set) d = std::min(d, std::hypot(p.row - q.row, p.col - q.col));
  return d;
}

}  // namespace

TEST(AtomFinderRegistry, LogIsBuiltInAndUnknownNamesAreRefused) {
  const auto names = strategies::atom_finder_names();
  EXPECT_NE(std::find(names.begin(), names.end(), "log"), names.end());
  try {
    strategies::make_atom_finder("magic");
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("log"), std::string::npos) << e.what();
  }
  EXPECT_THROW(strategies::make_atom_finder("log", {{"classify", "colour"}}), std::invalid_argument);
  EXPECT_THROW(strategies::make_atom_finder("log", {{"sigma", "2"}}), std::invalid_argument);
  EXPECT_EQ(strategies::make_atom_finder("log")->parameters().at("classify"), "outlier");
}

TEST(AtomPlan, AllAtomsOnAShortPath) {
  const auto L = honeycomb(80, 96, 8.0);
  auto s = strategies::make_strategy("atoms");
  const auto plan = run_plan(*s, L.survey);
  auto& ap = dynamic_cast<strategies::AtomPlanStrategy&>(*s);
  EXPECT_NEAR(ap.spacing_px(), 8.0, 0.5);
  // Every planned point is on a true atom (sub-pixel), and nearly every atom is planned.
  std::size_t on_atom = 0;
  for (const auto& p : plan) on_atom += nearest_distance(p, L.atoms) < 1.0;
  EXPECT_EQ(on_atom, plan.size());
  EXPECT_GT(static_cast<double>(plan.size()), 0.95 * static_cast<double>(L.atoms.size()));
  EXPECT_LE(plan.size(), L.atoms.size());
  // Short path: within 25 % of (number of steps × spacing), the length of an ideal atom-to-atom
  // tour (a honeycomb has no Hamiltonian path of unit steps across row ends).
  std::vector<std::size_t> order(plan.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  const double len = strategies::path_length(plan, order);
  EXPECT_LT(len, 1.25 * 8.0 * static_cast<double>(plan.size() - 1));
  EXPECT_NE(ap.status().find("atoms found"), std::string::npos);
}

TEST(AtomPlan, DefectsAreTheDopantAndTheVacancy) {
  const auto L = honeycomb(80, 96, 8.0);
  auto s = strategies::make_strategy("atoms", {{"target", "defects"}});
  const auto plan = run_plan(*s, L.survey);
  ASSERT_FALSE(plan.empty());
  // The bright dopant is a defect (rare class 1 from the outlier rule) and the vacancy site
  // (centroid of its three 2-coordinated neighbours) is planned within 1 px.
  EXPECT_LT(nearest_distance(L.dopant, plan), 1.0);
  EXPECT_LT(nearest_distance(L.vacancy, plan), 1.0);
  // Few points: the dopant, the vacancy's 3 neighbours and its site.
  EXPECT_LE(plan.size(), 6u);

  auto c1 = strategies::make_strategy("atoms", {{"target", "class:1"}});
  const auto p1 = run_plan(*c1, L.survey);
  ASSERT_EQ(p1.size(), 1u);
  EXPECT_LT(nearest_distance(L.dopant, p1), 1.0);
}

TEST(AtomPlan, CapsAndUncertainOrder) {
  const auto L = honeycomb(80, 96, 8.0);
  auto s = strategies::make_strategy("atoms", {{"max_points", "10"}});
  EXPECT_EQ(run_plan(*s, L.survey).size(), 10u);
  auto f = strategies::make_strategy("atoms", {{"fraction", "0.001"}});
  EXPECT_EQ(run_plan(*f, L.survey).size(), 7u);  // 0.001 × 7680 px
  EXPECT_EQ(run_plan(*s, L.survey, 4).size(), 4u);  // the session's budget
  auto u = strategies::make_strategy("atoms", {{"target", "uncertain"}, {"max_points", "5"}});
  const auto pu = run_plan(*u, L.survey);
  auto& au = dynamic_cast<strategies::AtomPlanStrategy&>(*u);
  // No uncertainty from LoG: least probable (weakest response) first.
  double pmin = 1e9;
  for (const auto& a : au.atoms()) pmin = std::min(pmin, a.probability);
  for (const auto& a : au.atoms())
    if (a.probability == pmin) {
      EXPECT_LT(nearest_distance(a.position, {pu.front()}), 1e-9);
    }
}

TEST(AtomPlan, NoAtomsEndsCleanlyAndSaysSo) {
  Survey flat;
  flat.image.data = ImageArray::Constant(32, 40, 7.0);
  auto s = strategies::make_strategy("atoms");
  FakeInstrument inst(32, 40);
  StrategyContext ctx{inst.describe(), 1, 0, {}};
  s->begin(flat, ctx);
  EXPECT_TRUE(s->propose(8).empty());
  auto& ap = dynamic_cast<strategies::AtomPlanStrategy&>(*s);
  EXPECT_NE(ap.status().find("no atoms found"), std::string::npos) << ap.status();
  Survey bad;
  EXPECT_THROW(s->begin(bad, ctx), std::invalid_argument);
}

TEST(AtomPlan, BadParametersAndFinderPassThrough) {
  EXPECT_THROW(strategies::make_strategy("atoms", {{"target", "everything"}}), std::invalid_argument);
  EXPECT_THROW(strategies::make_strategy("atoms", {{"target", "class:x"}}), std::invalid_argument);
  EXPECT_THROW(strategies::make_strategy("atoms", {{"fraction", "2"}}), std::invalid_argument);
  EXPECT_THROW(strategies::make_strategy("atoms", {{"neighbour_factor", "0.5"}}), std::invalid_argument);
  EXPECT_THROW(strategies::make_strategy("atoms", {{"finder.nonsense", "1"}}), std::invalid_argument);
  auto s = strategies::make_strategy("atoms", {{"finder.classify", "none"}});
  EXPECT_EQ(s->parameters().at("finder.classify"), "none");
  EXPECT_EQ(s->parameters().at("finder"), "log");

  // A registered finder receives its "finder." parameters and feeds the plan.
  struct Fixed : strategies::AtomFinder {
    Parameters p;
    explicit Fixed(Parameters q) : p(std::move(q)) {}
    std::string name() const override { return "fixed"; }
    Parameters parameters() const override { return p; }
    std::vector<Atom> find(const Image&) override {
      return {Atom{{2, 3}, 0, 0.9, 0.1}, Atom{{10, 20}, 1, 0.5, 0.4}, Atom{{5, 5}, 0, 0.7, 0.2}};
    }
  };
  strategies::register_atom_finder("fixed", "test finder", [](const Parameters& p) { return std::make_unique<Fixed>(p); });
  auto plan = strategies::make_atom_plan_strategy("fixed-plan", "fixed", {{"finder.model", "DIR"}, {"target", "uncertain"}});
  EXPECT_EQ(plan->parameters().at("finder.model"), "DIR");
  Survey sv;
  sv.image.data = ImageArray::Zero(24, 32);
  const auto pts = run_plan(*plan, sv);
  ASSERT_EQ(pts.size(), 3u);
  EXPECT_EQ(pts[0], (Position{10, 20}));  // the most uncertain first
  EXPECT_EQ(pts[2], (Position{2, 3}));
}

TEST(AtomPlan, SessionRunWithoutAtomsEndsCleanly) {
  // FakeInstrument's survey is all zeros: no atoms, so the run ends at once without measuring.
  auto s = strategies::make_strategy("atoms", {{"target", "defects"}});
  FakeInstrument inst(48, 64);
  SessionConfig cfg;
  cfg.budget.max_points = 100;
  Session session(inst, *s, cfg);
  const RunSummary r = session.run();
  EXPECT_EQ(r.measurements, 0u);
  EXPECT_TRUE(inst.submitted.empty());
}
