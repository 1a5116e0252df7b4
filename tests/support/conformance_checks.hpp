#pragma once
// The strategy conformance checks (STYLE.md, after ns-3; issue 14) as plain functions that return
// what failed, so that one set of checks serves the gtest suite over every registered strategy
// (tests/strategies/test_conformance.cpp) and strategies written in Python
// (autostem.conformance(name), python/src/autostem_app.cpp; issue 20). A strategy, on a survey
// where it must find something (the atom planners on a honeycomb lattice, the others on a
// smooth, edge-rich image):
//  - proposes at least one point (a strategy that proposes nothing fails);
//  - proposes only finite positions inside the field, never more than asked for per propose(),
//    never the same position twice;
//  - gives the same sequence for the same seed (two instances), and begin() resets it;
//  - proposes at most StrategyContext::budget_points in all, then returns empty (its stop);
//  - runs through the real Session with a fake instrument (batch 1, batch 4 with overlap, batch
//    3), stopping on budget or on its own word, and through the simulated backend.

#include <autostem/backends/simulated.hpp>
#include <autostem/core/session.hpp>
#include <autostem/datasets/phantoms.hpp>
#include <autostem/strategies/atoms.hpp>
#include <autostem/strategies/registry.hpp>

#include "fake_instrument.hpp"
#include "lattice_survey.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace autostem::testing {

namespace conformance {

constexpr std::size_t kRows = 64, kCols = 64;

/// Default parameters, except where the defaults are too slow for a unit test.
inline Parameters small_settings(const std::string& name) {
  // dkl, gp: a handful of Adam steps and a short space-filling start (dkl.cpp).
  if (name == "dkl") return {{"train_iters", "2"}, {"init_iters", "4"}, {"n_init", "6"}, {"hidden", "16-16"}};
  if (name == "gp") return {{"train_iters", "2"}, {"init_iters", "4"}, {"n_init", "6"}};
  // dcnn: two of the shipped ensemble's models (atomnet_finder.cpp).
  if (name == "dcnn") return {{"finder.ensemble", "2"}};
  return {};
}

/// Points per Session / standalone run: small for the model strategies (one GP fit per step).
inline std::size_t budget_for(const std::string& name) { return name == "dkl" || name == "gp" ? 24 : 60; }

inline std::unique_ptr<Strategy> make(const std::string& name) {
  return strategies::make_strategy(name, small_settings(name));
}

/// Atom planners measure atoms only: they get a lattice survey.
inline bool atom_planner(const std::string& name) {
  static std::mutex mutex;
  static std::map<std::string, bool> known;  // building dcnn loads its models: ask once
  std::lock_guard lock(mutex);
  auto it = known.find(name);
  if (it == known.end())
    it = known.emplace(name, dynamic_cast<strategies::AtomPlanStrategy*>(make(name).get()) != nullptr).first;
  return it->second;
}

/// A smooth, edge-rich survey (kRows, kCols): a gentle ramp, a bright disc and a step.
inline ImageArray smooth_survey() {
  ImageArray a(kRows, kCols);
  for (std::size_t r = 0; r < kRows; ++r)
    for (std::size_t c = 0; c < kCols; ++c) {
      const double dr = double(r) - kRows / 2.0, dc = double(c) - kCols / 3.0;
      a(r, c) = 10.0 + 0.3 * double(r) + (dr * dr + dc * dc < 64.0 ? 90.0 : 0.0) + (c > 2 * kCols / 3 ? 50.0 : 0.0);
    }
  return a;
}

/// A graphene-like lattice (spacing 8 px) over the same field.
inline ImageArray lattice_survey() { return honeycomb(int(kRows), int(kCols), 8.0).survey.image.data; }

inline ImageArray survey_for(const std::string& name) {
  return atom_planner(name) ? lattice_survey() : smooth_survey();
}

inline InstrumentInfo field_info() { return FakeInstrument(kRows, kCols).describe(); }

/// begin() with budget_points = budget, then propose(batch) → observe until propose() returns
/// empty (at most budget + 2 calls). Each measurement's signal is the survey value at the
/// proposed pixel (4 channels, as FakeInstrument's energy axis). A propose() returning more than
/// batch positions is added to `failures`.
inline std::vector<Position> drive(Strategy& s, const ImageArray& image, std::uint64_t seed, std::size_t budget,
                                   std::size_t batch, bool* ended_empty, std::vector<std::string>& failures) {
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
    if (p.size() > batch)
      failures.push_back(s.name() + " proposed " + std::to_string(p.size()) + " positions when asked for " +
                         std::to_string(batch));
    std::vector<Measurement> ms;
    for (const auto& q : p) {
      Measurement m;
      m.index = out.size() + ms.size();
      m.requested = m.actual = q;
      const double rr = std::isfinite(q.row) ? q.row : 0.0, cc = std::isfinite(q.col) ? q.col : 0.0;
      const auto r = static_cast<Eigen::Index>(std::clamp(std::round(rr), 0.0, double(kRows - 1)));
      const auto c = static_cast<Eigen::Index>(std::clamp(std::round(cc), 0.0, double(kCols - 1)));
      for (int ch = 0; ch < 4; ++ch) m.signal.push_back(static_cast<float>(image(r, c) + ch));
      ms.push_back(std::move(m));
    }
    out.insert(out.end(), p.begin(), p.end());
    s.observe(ms);
  }
  return out;
}

inline std::size_t distinct(const std::vector<Position>& ps) {
  std::set<std::pair<double, double>> seen;
  for (const auto& p : ps) seen.insert({p.row, p.col});
  return seen.size();
}

}  // namespace conformance

/// Finite, distinct positions inside the field, at most the budget, then empty (seed 3, batch 7).
inline std::vector<std::string> check_proposals(const std::string& name) {
  using namespace conformance;
  std::vector<std::string> f;
  auto s = make(name);
  const std::size_t budget = budget_for(name);
  bool ended = false;
  const auto p = drive(*s, survey_for(name), 3, budget, 7, &ended, f);
  if (p.empty()) return {name + " proposed nothing on a survey made for it"};
  const InstrumentInfo info = field_info();
  for (const auto& q : p) {
    if (!(std::isfinite(q.row) && std::isfinite(q.col))) {
      f.push_back(name + " proposed a position that is not finite");
      return f;
    }
    try {
      Session::check_position(q, info);
    } catch (const std::exception& e) {
      f.push_back(name + ": " + e.what());
      return f;
    }
  }
  if (distinct(p) != p.size()) f.push_back(name + " proposed a position twice");
  if (p.size() > budget)
    f.push_back(name + " ignores StrategyContext::budget_points (" + std::to_string(p.size()) + " > " +
                std::to_string(budget) + ")");
  if (!ended)
    f.push_back(name + " still proposes after " + std::to_string(p.size()) + " points (budget " +
                std::to_string(budget) + ")");
  return f;
}

/// Same seed, same sequence (two instances); begin() resets all state (a second drive repeats).
inline std::vector<std::string> check_determinism(const std::string& name) {
  using namespace conformance;
  std::vector<std::string> f;
  auto a = make(name), b = make(name);
  const ImageArray survey = survey_for(name);
  const std::size_t budget = budget_for(name);
  bool ended = false;
  const auto pa = drive(*a, survey, 42, budget, 5, &ended, f);
  const auto pb = drive(*b, survey, 42, budget, 5, &ended, f);
  if (pa.empty()) return {name + " proposed nothing"};
  if (pa != pb) f.push_back(name + " gives different sequences for the same seed");
  if (drive(*a, survey, 42, budget, 5, &ended, f) != pa)
    f.push_back(name + ": a second begin() on the same object does not repeat the first run");
  return f;
}

/// The real Session over a fake instrument: stops on budget or on the strategy's word, with and
/// without overlap; never submits a position twice.
inline std::vector<std::string> check_session(const std::string& name) {
  using namespace conformance;
  std::vector<std::string> f;
  const std::size_t budget = budget_for(name);
  for (const auto& [batch, overlap] : {std::pair<std::size_t, bool>{1, false}, {4, true}, {3, false}}) {
    const std::string where = name + " (batch " + std::to_string(batch) + (overlap ? ", overlap)" : ")");
    auto s = make(name);
    FakeInstrument inst(kRows, kCols);
    inst.survey_image = survey_for(name);
    SessionConfig cfg;
    cfg.budget.max_points = budget;
    cfg.batch_size = batch;
    cfg.overlap = overlap;
    cfg.seed = 5;
    Session session(inst, *s, cfg);
    RunSummary r;
    try {
      r = session.run();
    } catch (const SessionError& e) {
      r = e.summary;
    }
    if (r.stop_reason != StopReason::budget_points && r.stop_reason != StopReason::strategy_done)
      f.push_back(where + " stopped on " + to_string(r.stop_reason) + ": " + r.message);
    if (r.measurements < 1) f.push_back(where + " measured nothing");
    if (r.measurements > budget) f.push_back(where + " measured more than the budget");
    if (r.stop_reason == StopReason::budget_points && r.measurements != budget)
      f.push_back(where + " stopped on the point budget after " + std::to_string(r.measurements) + " of " +
                  std::to_string(budget));
    if (inst.submitted.size() != r.measurements) f.push_back(where + ": submitted != measured");
    if (distinct(inst.submitted) != inst.submitted.size()) f.push_back(where + " submitted a position twice");
  }
  return f;
}

/// A run on the simulated backend (the nanowire phantom, the lattice for atom planners).
inline std::vector<std::string> check_simulated(const std::string& name) {
  using namespace conformance;
  std::vector<std::string> f;
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
  RunSummary r;
  try {
    r = session.run();
  } catch (const SessionError& e) {
    r = e.summary;
  }
  if (r.stop_reason != StopReason::budget_points && r.stop_reason != StopReason::strategy_done)
    f.push_back(name + " on the simulated backend stopped on " + to_string(r.stop_reason) + ": " + r.message);
  if (r.measurements < 1) f.push_back(name + " measured nothing on the " + phantom + " phantom");
  if (r.measurements > budget_for(name)) f.push_back(name + " measured more than the budget on the simulated backend");
  if (!(inst->total_electrons() > 0.0)) f.push_back(name + ": no electrons reached the simulated specimen");
  return f;
}

/// Every check above; empty = the strategy conforms.
inline std::vector<std::string> conformance_failures(const std::string& name) {
  std::vector<std::string> all;
  for (auto check : {&check_proposals, &check_determinism, &check_session, &check_simulated}) {
    auto f = check(name);
    all.insert(all.end(), f.begin(), f.end());
  }
  return all;
}

}  // namespace autostem::testing
