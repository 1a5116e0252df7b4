#include <autostem/strategies/schema.hpp>

#include <charconv>
#include <cmath>
#include <sstream>
#include <stdexcept>

namespace autostem::strategies {

namespace {

std::string joined(const std::vector<std::string>& v, const std::string& sep) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : sep) + x;
  return s;
}

// Shortest text that parses back to exactly v (defaults are stored as text and parsed like a
// user's value, so they must survive the round trip).
std::string round_trip(double v) {
  char buf[64];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, p) : std::to_string(v);
}

std::string bound(double v) { return number_text(v, NumberText::general6); }

// Markdown table cell: '|' would end the cell.
std::string cell(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '|') out += '\\';
    out += c;
  }
  return out;
}

}  // namespace

std::string number_text(double v, NumberText format) {
  switch (format) {
    case NumberText::fixed6:
      return std::to_string(v);
    case NumberText::trimmed: {
      std::string s = std::to_string(v);
      s.erase(s.find_last_not_of('0') + 1);
      if (!s.empty() && s.back() == '.') s.pop_back();
      return s;
    }
    case NumberText::general6: {
      std::ostringstream s;
      s << v;
      return s.str();
    }
  }
  return std::to_string(v);
}

// ---------------------------------------------------------------------------------------------
std::vector<std::string> ParamSpec::valid_choices() const {
  return dynamic_choices ? dynamic_choices() : choices;
}

std::string ParamSpec::range_text() const {
  switch (type) {
    case ParamType::choice:
      return joined(valid_choices(), " | ");
    case ParamType::text:
      return forms;
    case ParamType::boolean:
      return "true | false";
    case ParamType::integer:
    case ParamType::number: {
      const bool lo = std::isfinite(min), hi = std::isfinite(max);
      if (lo && hi)
        return std::string(min_open ? "(" : "[") + bound(min) + ", " + bound(max) + (max_open ? ")" : "]");
      if (lo) return (min_open ? "> " : "≥ ") + bound(min);
      if (hi) return (max_open ? "< " : "≤ ") + bound(max);
      return type == ParamType::integer ? "≥ 0" : "";
    }
  }
  return "";
}

std::string ParamSpec::type_name() const {
  switch (type) {
    case ParamType::integer: return "integer";
    case ParamType::number: return "number";
    case ParamType::choice: return "choice";
    case ParamType::text: return "text";
    case ParamType::boolean: return "bool";
  }
  return "";
}

// ---------------------------------------------------------------------------------------------
const std::string& ParamValues::text(const std::string& key) const { return text_.at(key); }
double ParamValues::number(const std::string& key) const { return number_.at(key); }
std::size_t ParamValues::size(const std::string& key) const {
  return static_cast<std::size_t>(size_.at(key));
}
bool ParamValues::flag(const std::string& key) const { return text_.at(key) == "true"; }

// ---------------------------------------------------------------------------------------------
Schema::Schema(std::string kind, std::string name, std::string summary)
    : kind_(std::move(kind)), name_(std::move(name)), summary_(std::move(summary)) {}

ParamSpec& Schema::add(ParamSpec spec) {
  for (const auto& p : params_)
    if (p.key == spec.key) throw std::logic_error(subject() + ": parameter '" + spec.key + "' declared twice");
  params_.push_back(std::move(spec));
  return params_.back();
}

ParamSpec& Schema::integer(std::string key, std::size_t fallback, std::string doc) {
  ParamSpec s;
  s.key = std::move(key);
  s.type = ParamType::integer;
  s.fallback = std::to_string(fallback);
  s.doc = std::move(doc);
  return add(std::move(s));
}

ParamSpec& Schema::number(std::string key, double fallback, std::string doc) {
  ParamSpec s;
  s.key = std::move(key);
  s.type = ParamType::number;
  s.fallback = round_trip(fallback);
  s.doc = std::move(doc);
  return add(std::move(s));
}

ParamSpec& Schema::choice(std::string key, std::vector<std::string> choices, std::string fallback, std::string doc) {
  ParamSpec s;
  s.key = std::move(key);
  s.type = ParamType::choice;
  s.choices = std::move(choices);
  s.fallback = std::move(fallback);
  s.doc = std::move(doc);
  return add(std::move(s));
}

ParamSpec& Schema::text(std::string key, std::string fallback, std::string forms, std::string doc) {
  ParamSpec s;
  s.key = std::move(key);
  s.type = ParamType::text;
  s.fallback = std::move(fallback);
  s.forms = std::move(forms);
  s.doc = std::move(doc);
  return add(std::move(s));
}

ParamSpec& Schema::boolean(std::string key, bool fallback, std::string doc) {
  ParamSpec s;
  s.key = std::move(key);
  s.type = ParamType::boolean;
  s.fallback = fallback ? "true" : "false";
  s.doc = std::move(doc);
  return add(std::move(s));
}

void Schema::nest(std::string prefix, std::function<const Schema&()> nested) {
  prefix_ = std::move(prefix);
  nested_ = std::move(nested);
}

ParamValues Schema::parse(const Parameters& params) const {
  const std::string who = subject();
  for (const auto& [key, value] : params) {
    if (!prefix_.empty() && key.rfind(prefix_, 0) == 0) continue;
    bool known = false;
    for (const auto& p : params_) known = known || p.key == key;
    if (!known) {
      std::vector<std::string> keys;
      for (const auto& p : params_) keys.push_back(p.key);
      if (!prefix_.empty()) keys.push_back(prefix_ + "KEY");
      throw std::invalid_argument(who + ": unknown parameter '" + key + "'; valid: " +
                                  (keys.empty() ? "(none)" : joined(keys, ", ")));
    }
  }
  ParamValues out;
  for (const auto& p : params_) {
    auto it = params.find(p.key);
    const bool given = it != params.end();
    const std::string& t = given ? it->second : p.fallback;
    if (given) out.given_[p.key] = 1;
    const auto out_of_range = [&] {
      return std::invalid_argument(who + ": " + p.key + " must be " +
                                   (p.range_text().rfind("[", 0) == 0 || p.range_text().rfind("(", 0) == 0
                                        ? "in " : "") +
                                   p.range_text() + ", got " + t);
    };
    const auto in_range = [&](double v) {
      return (p.min_open ? v > p.min : v >= p.min) && (p.max_open ? v < p.max : v <= p.max);
    };
    switch (p.type) {
      case ParamType::integer: {
        std::uint64_t v = 0;
        auto [e, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
        if (ec != std::errc() || e != t.data() + t.size())
          throw std::invalid_argument(who + ": parameter " + p.key + "='" + t + "' is not a non-negative integer");
        if (!in_range(static_cast<double>(v))) throw out_of_range();
        out.size_[p.key] = v;
        out.number_[p.key] = static_cast<double>(v);
        out.text_[p.key] = std::to_string(v);
        break;
      }
      case ParamType::number: {
        double v = 0.0;
        auto [e, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
        if (ec != std::errc() || e != t.data() + t.size() || !std::isfinite(v))
          throw std::invalid_argument(who + ": parameter " + p.key + "='" + t + "' is not a finite number");
        if (!in_range(v)) throw out_of_range();
        out.number_[p.key] = v;
        out.text_[p.key] = number_text(v, p.format);
        break;
      }
      case ParamType::choice: {
        const auto valid = p.valid_choices();
        bool ok = false;
        for (const auto& c : valid) ok = ok || c == t;
        if (!ok)
          throw std::invalid_argument(who + ": " + p.key + "='" + t + "' is not one of " + joined(valid, ", "));
        out.text_[p.key] = t;
        break;
      }
      case ParamType::boolean: {
        if (t == "true" || t == "1" || t == "yes") out.text_[p.key] = "true";
        else if (t == "false" || t == "0" || t == "no") out.text_[p.key] = "false";
        else throw std::invalid_argument(who + ": " + p.key + "='" + t + "' is not true or false");
        break;
      }
      case ParamType::text: {
        if (!p.normalize) {
          out.text_[p.key] = t;
          break;
        }
        try {
          out.text_[p.key] = p.normalize(t);
        } catch (const std::invalid_argument& e) {
          throw std::invalid_argument(who + ": " + p.key + "='" + t + "': " + e.what());
        }
        break;
      }
    }
  }
  return out;
}

// The strategy's needs in words (help and docs): a survey with content, a model per decision.
std::string Schema::needs_text() const {
  std::string s;
  if (!survey_use_.empty()) s += "plans from " + survey_use_ + " (needs a survey: estimate --survey FILE)";
  if (model_per_decision_)
    s += std::string(s.empty() ? "" : "; ") +
         "fits a model at every decision (estimate charges the profile's model_step_s or --compute)";
  return s;
}

std::string Schema::help() const {
  std::string s = name_ + ": " + summary_ + "\n";
  if (const std::string needs = needs_text(); !needs.empty()) s += "    " + needs + "\n";
  const auto rows = [&](const Schema& sc, const std::string& prefix, std::string& out) {
    for (const auto& p : sc.params()) {
      out += "    " + prefix + p.key + " [" + p.fallback + "]";
      const std::string r = p.range_text();
      if (!r.empty()) out += " " + r;
      if (!p.unit.empty()) out += " (" + p.unit + ")";
      out += ": " + p.doc + "\n";
    }
  };
  rows(*this, "", s);
  if (const Schema* n = nested()) {
    s += "    " + prefix_ + "KEY: parameters of the " + n->subject() + ":\n";
    rows(*n, prefix_, s);
  }
  return s;
}

std::string Schema::markdown() const {
  std::string s = "### " + name_ + "\n\n" + summary_ + "\n\n";
  if (const std::string needs = needs_text(); !needs.empty()) s += "Needs: " + needs + ".\n\n";
  s += "| parameter | type | range | default | unit | description |\n";
  s += "|---|---|---|---|---|---|\n";
  const auto rows = [&](const Schema& sc, const std::string& prefix) {
    for (const auto& p : sc.params())
      s += "| `" + prefix + p.key + "` | " + p.type_name() + " | " + cell(p.range_text()) + " | " +
           (p.fallback.empty() ? "" : "`" + cell(p.fallback) + "`") + " | " + cell(p.unit) + " | " +
           cell(p.doc) + " |\n";
  };
  rows(*this, "");
  if (const Schema* n = nested()) rows(*n, prefix_);
  return s;
}

}  // namespace autostem::strategies
