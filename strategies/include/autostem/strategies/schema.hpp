#pragma once
// Parameter schemas: the one place a strategy (or atom finder) declares its parameters — name,
// type, range or choices, default, unit, one-line doc. From it come the validation of a user's
// Parameters, typed access with defaults, the provenance text of parameters(), the --help text
// and the table in docs/strategies.md (docs/design-notes.md, "Registries and parameter schemas").

#include <autostem/core/strategy.hpp>

#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <vector>

namespace autostem::strategies {

enum class ParamType {
  integer,  ///< a non-negative integer (std::size_t)
  number,   ///< a finite double
  choice,   ///< one of a list of words
  text,     ///< free text, optionally checked and canonicalised by ParamSpec::normalize
  boolean,  ///< true|false (also accepts 1|0, yes|no); written back as true|false
};

/// How a number's value is written back into parameters(). Each strategy keeps the text it
/// always wrote, so results files of the same run stay byte-identical.
enum class NumberText {
  fixed6,    ///< std::to_string: "0.100000"
  trimmed,   ///< std::to_string without trailing zeros: "0.1", "3"
  general6,  ///< std::ostream << v (6 significant digits, %g): "0.1", "1e-07"
};

/// One parameter. Build it with Schema's adders and the chainable setters below.
struct ParamSpec {
  std::string key;
  ParamType type = ParamType::text;
  std::string fallback;  ///< the default, as text (parsed like a user's value)
  std::string doc;       ///< one line
  std::string unit;      ///< e.g. "px"; empty when dimensionless
  double min = -std::numeric_limits<double>::infinity();
  double max = std::numeric_limits<double>::infinity();
  bool min_open = false, max_open = false;  ///< (min, …) rather than [min, …)
  std::vector<std::string> choices;         ///< choice: the valid words
  /// choice: the valid words computed when asked (e.g. reconstruction_methods()); overrides
  /// `choices` when set.
  std::function<std::vector<std::string>()> dynamic_choices;
  /// text: the allowed forms for help and messages, e.g. "all | class:K | defects".
  std::string forms;
  /// text: returns the canonical value of a user's text, or throws std::invalid_argument whose
  /// message says what is wrong (the schema adds strategy, key and value).
  std::function<std::string(const std::string&)> normalize;
  NumberText format = NumberText::fixed6;

  ParamSpec& at_least(double v) { min = v; min_open = false; return *this; }
  ParamSpec& above(double v) { min = v; min_open = true; return *this; }
  ParamSpec& at_most(double v) { max = v; max_open = false; return *this; }
  ParamSpec& below(double v) { max = v; max_open = true; return *this; }
  ParamSpec& in_unit(std::string u) { unit = std::move(u); return *this; }
  ParamSpec& written(NumberText f) { format = f; return *this; }

  /// The valid choices (choice), from dynamic_choices when set.
  std::vector<std::string> valid_choices() const;
  /// Range or choices in words: "(0, 1]", "≥ 1", "raster | serpentine", "" when unrestricted.
  std::string range_text() const;
  /// "integer", "number", "choice", "text", "bool".
  std::string type_name() const;
};

class Schema;

/// A user's Parameters checked against a Schema, with every default filled in.
class ParamValues {
 public:
  /// The canonical text of key (as parameters() writes it). Throws std::out_of_range for a key
  /// the schema does not declare.
  const std::string& text(const std::string& key) const;
  double number(const std::string& key) const;      ///< number or integer parameters
  std::size_t size(const std::string& key) const;   ///< integer parameters
  bool flag(const std::string& key) const;          ///< boolean parameters
  /// True when the user gave key (rather than the default applying).
  bool given(const std::string& key) const { return given_.count(key) > 0; }
  /// Every declared key with its canonical text: what parameters() returns.
  const Parameters& provenance() const { return text_; }

 private:
  friend class Schema;
  Parameters text_;
  std::map<std::string, double> number_;
  std::map<std::string, std::uint64_t> size_;
  std::map<std::string, char> given_;
};

/// The parameters of one strategy or atom finder.
class Schema {
 public:
  /// kind: "strategy" or "atom finder"; name: its registry name; summary: one line (what it does
  /// and where it comes from).
  Schema(std::string kind, std::string name, std::string summary);

  ParamSpec& integer(std::string key, std::size_t fallback, std::string doc);
  ParamSpec& number(std::string key, double fallback, std::string doc);
  ParamSpec& choice(std::string key, std::vector<std::string> choices, std::string fallback, std::string doc);
  ParamSpec& text(std::string key, std::string fallback, std::string forms, std::string doc);
  ParamSpec& boolean(std::string key, bool fallback, std::string doc);
  /// Keys starting with prefix (e.g. "finder.") belong to a nested schema (e.g. the atom finder's)
  /// and are not checked here; nested (may be empty) names it for the help and the docs.
  void nest(std::string prefix, std::function<const Schema&()> nested);

  /// Strategies only: declares that the plan depends on the survey image's content — `what` says
  /// what it looks for, e.g. "the gradient edges of the survey". A blank field gives such a
  /// strategy nothing to plan from, so `autostem estimate` refuses it without --survey.
  Schema& plans_from_survey(std::string what) { survey_use_ = std::move(what); return *this; }
  /// Strategies only: declares that it fits a model at (nearly) every decision, so its compute
  /// time per decision is part of the experiment time and `autostem estimate` needs that time on
  /// the computer that will run it (a profile's model_step_s or --compute).
  Schema& fits_model_per_decision() { model_per_decision_ = true; return *this; }
  /// What the strategy looks for in the survey; empty when its plan does not depend on it.
  const std::string& survey_use() const { return survey_use_; }
  bool model_per_decision() const { return model_per_decision_; }
  /// Both of the above in words, e.g. "plans from the gradient edges of the survey (needs a
  /// survey: …)"; empty when neither applies.
  std::string needs_text() const;

  /// Checks params and fills in the defaults. Throws std::invalid_argument naming "<kind>
  /// '<name>'", the key, the value and the range or choices: for an unknown key (listing the
  /// valid ones in declaration order), a value that does not parse, or one out of range.
  ParamValues parse(const Parameters& params) const;

  const std::string& kind() const { return kind_; }
  const std::string& name() const { return name_; }
  const std::string& summary() const { return summary_; }
  /// "strategy 'grid'", "atom finder 'log'": how messages name it.
  std::string subject() const { return kind_ + " '" + name_ + "'"; }
  const std::vector<ParamSpec>& params() const { return params_; }
  const std::string& nested_prefix() const { return prefix_; }
  /// The nested schema (nullptr when none).
  const Schema* nested() const { return nested_ ? &nested_() : nullptr; }

  /// Several lines for --help: the summary, then "  key = default  range  unit: doc" per
  /// parameter (nested ones prefixed).
  std::string help() const;
  /// A markdown section: "### name", the summary, a table | parameter | type | range | default |
  /// unit | description |, nested parameters as prefix.KEY rows.
  std::string markdown() const;

 private:
  ParamSpec& add(ParamSpec spec);
  std::string kind_, name_, summary_;
  std::vector<ParamSpec> params_;
  std::string prefix_;
  std::function<const Schema&()> nested_;
  std::string survey_use_;
  bool model_per_decision_ = false;
};

/// The text of v as `format` writes it.
std::string number_text(double v, NumberText format);

}  // namespace autostem::strategies
