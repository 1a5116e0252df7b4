// Parameter schemas and the registries (docs/design-notes.md, "Registries and parameter
// schemas"), and the toy strategy of docs/strategies.md.
#include <autostem/core/registry.hpp>
#include <autostem/strategies/atoms.hpp>
#include <autostem/strategies/registry.hpp>
#include <autostem/strategies/schema.hpp>

#include <gtest/gtest.h>

#include <algorithm>

namespace autostem::strategies {
StrategyInfo toy_strategy();  // tests/strategies/toy_strategy.cpp
}

using namespace autostem;
using namespace autostem::strategies;

namespace {

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(no exception)";
}

Schema sample_schema() {
  Schema s("strategy", "sample", "a schema for tests");
  s.number("fraction", 0.1, "share").above(0).at_most(1);
  s.integer("step", 2, "step").at_least(1).in_unit("px");
  s.choice("order", {"a", "b"}, "a", "order");
  s.boolean("refine", true, "refine");
  s.number("sigma_px", 1.0, "sigma").at_least(0).written(NumberText::trimmed);
  return s;
}

}  // namespace

TEST(Schema, DefaultsAndTypedValues) {
  const ParamValues v = sample_schema().parse({{"step", "5"}, {"refine", "no"}});
  EXPECT_DOUBLE_EQ(v.number("fraction"), 0.1);
  EXPECT_EQ(v.size("step"), 5u);
  EXPECT_EQ(v.text("order"), "a");
  EXPECT_FALSE(v.flag("refine"));
  EXPECT_TRUE(v.given("step"));
  EXPECT_FALSE(v.given("order"));
  // Provenance: every key, canonical text in the declared format.
  const Parameters p = v.provenance();
  EXPECT_EQ(p.size(), 5u);
  EXPECT_EQ(p.at("fraction"), "0.100000");
  EXPECT_EQ(p.at("refine"), "false");
  EXPECT_EQ(p.at("sigma_px"), "1");
  // Parsing the provenance again gives the same provenance.
  EXPECT_EQ(sample_schema().parse(p).provenance(), p);
}

TEST(Schema, ErrorsNameTheStrategyKeyValueAndRange) {
  const Schema s = sample_schema();
  const std::string unknown = message_of([&] { s.parse({{"colour", "red"}}); });
  EXPECT_NE(unknown.find("strategy 'sample': unknown parameter 'colour'; valid: fraction, step, order, refine, sigma_px"),
            std::string::npos)
      << unknown;
  EXPECT_NE(message_of([&] { s.parse({{"fraction", "1.5"}}); }).find("strategy 'sample': fraction must be in (0, 1], got 1.5"),
            std::string::npos);
  EXPECT_NE(message_of([&] { s.parse({{"step", "0"}}); }).find("step must be ≥ 1, got 0"), std::string::npos);
  EXPECT_NE(message_of([&] { s.parse({{"step", "-1"}}); }).find("step='-1' is not a non-negative integer"),
            std::string::npos);
  EXPECT_NE(message_of([&] { s.parse({{"fraction", "x"}}); }).find("fraction='x' is not a finite number"),
            std::string::npos);
  EXPECT_NE(message_of([&] { s.parse({{"order", "c"}}); }).find("order='c' is not one of a, b"), std::string::npos);
  EXPECT_NE(message_of([&] { s.parse({{"refine", "maybe"}}); }).find("refine='maybe' is not true or false"),
            std::string::npos);
}

TEST(Schema, HelpAndMarkdownComeFromTheDeclarations) {
  const Schema s = sample_schema();
  const std::string h = s.help();
  EXPECT_NE(h.find("sample: a schema for tests"), std::string::npos) << h;
  EXPECT_NE(h.find("step [2] ≥ 1 (px): step"), std::string::npos) << h;
  const std::string md = s.markdown();
  EXPECT_NE(md.find("| `order` | choice | a \\| b | `a` |  | order |"), std::string::npos) << md;
  EXPECT_NE(md.find("| `fraction` | number | (0, 1] | `0.1` |"), std::string::npos) << md;
}

TEST(Registry, NamesSortedUnknownListsValidReplaceOnReregister) {
  Registry<std::function<int()>> r("widget");
  r.add("b", "second", [] { return 2; });
  r.add("a", "first", [] { return 1; });
  EXPECT_EQ(r.names(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(r.unknown_message("x"), "unknown widget 'x'; valid: a, b");
  EXPECT_THROW(r.at("x"), std::invalid_argument);
  r.add("a", "replaced", [] { return 3; });
  EXPECT_EQ(r.at("a").make(), 3);
  EXPECT_EQ(r.at("a").info, "replaced");
  EXPECT_THROW(r.add("", "", [] { return 0; }), std::invalid_argument);
  EXPECT_THROW(r.add("c", "", std::function<int()>{}), std::invalid_argument);
}

TEST(StrategySchemas, EveryBuiltInStrategyHasOneAndItsParametersMatch) {
  for (const auto& name : strategy_names()) {
    const Schema s = strategy_schema(name);
    EXPECT_EQ(s.name(), name);
    EXPECT_FALSE(s.summary().empty()) << name;
    EXPECT_NE(strategy_help(name).find(s.summary()), std::string::npos) << name;
    // parameters() reports exactly the schema's keys (the atom planners add their finder's).
    std::vector<std::string> keys;
    for (const auto& p : s.params()) keys.push_back(p.key);
    for (const auto& [k, v] : make_strategy(name)->parameters()) {
      if (k == "finder" || k.rfind("finder.", 0) == 0) continue;
      EXPECT_NE(std::find(keys.begin(), keys.end(), k), keys.end()) << name << ": " << k;
    }
  }
  EXPECT_NE(strategies_markdown().find("### grid"), std::string::npos);
  EXPECT_NE(strategies_markdown().find("| `finder.classify` | choice | none \\| outlier \\| otsu |"), std::string::npos);
}

TEST(StrategySchemas, ProvenanceTextIsUnchanged) {
  // The text each strategy always wrote into results files (before the schemas).
  EXPECT_EQ(make_strategy("random", {{"fraction", "0.25"}})->parameters().at("fraction"), "0.250000");
  EXPECT_EQ(make_strategy("cs")->parameters().at("fraction"), "0.100000");
  EXPECT_EQ(make_strategy("edge", {{"sigma_px", "1.25"}})->parameters().at("sigma_px"), "1.25");
  EXPECT_EQ(make_strategy("edge", {{"threshold", "otsu"}})->parameters().count("k"), 0u);
  EXPECT_EQ(make_strategy("grid", {{"step", "007"}})->parameters().at("step"), "7");
  const Parameters a = make_strategy("atoms", {{"fraction", "1e-7"}, {"finder.refine", "no"}})->parameters();
  EXPECT_EQ(a.at("fraction"), "1e-07");
  EXPECT_EQ(a.at("neighbour_factor"), "1.3");
  EXPECT_EQ(a.at("finder.refine"), "false");
  EXPECT_EQ(a.at("target"), "all");
}

TEST(ToyStrategy, OneFileAndOneLineMakeAStrategy) {
  register_strategy(toy_strategy());  // the one line
  const auto names = strategy_names();
  ASSERT_NE(std::find(names.begin(), names.end(), "toy"), names.end());
  auto s = make_strategy("toy", {{"step", "3"}, {"count", "4"}});
  InstrumentInfo info;
  info.field_rows = 20;
  info.field_cols = 30;
  StrategyContext ctx;
  ctx.instrument = info;
  Survey survey;
  s->begin(survey, ctx);
  const auto p = s->propose(100);
  ASSERT_EQ(p.size(), 4u);
  EXPECT_EQ(p[3], (Position{9, 9}));
  EXPECT_TRUE(s->propose(1).empty());
  EXPECT_EQ(s->parameters(), (Parameters{{"step", "3"}, {"count", "4"}}));
  // Validated by its schema.
  EXPECT_NE(message_of([] { make_strategy("toy", {{"step", "0"}}); }).find("strategy 'toy': step must be ≥ 1"),
            std::string::npos);
  EXPECT_NE(message_of([] { make_strategy("toy", {{"size", "2"}}); }).find("valid: step, count"), std::string::npos);
  EXPECT_NE(strategy_help("toy").find("step [1] ≥ 1 (px)"), std::string::npos) << strategy_help("toy");
}
