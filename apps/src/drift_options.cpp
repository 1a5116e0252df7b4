#include "drift_options.hpp"

#include <autostem/sim/models.hpp>

#include <algorithm>
#include <cmath>
#include <sstream>

namespace autostem::cli {

void add_drift_options(po::options_description& o) {
  std::string presets;
  for (const auto& n : sim::drift_preset_names()) presets += (presets.empty() ? "" : " | ") + n;
  o.add_options()
      ("drift", po::value<std::string>()->default_value("off"),
       ("simulated specimen drift: " + presets +
        " (settled ≈0.7 nm/min; after-stage-move ≈5 nm/min decaying over ~10 min; docs/models.md)")
           .c_str())
      ("drift-correction", po::value<std::string>()->default_value("off"),
       "re-scan a reference patch and correct every position for the measured drift: off | "
       "every:N (after N measurements) | seconds:T | every:N,seconds:T (docs/drift.md); bench: "
       "variants separated by '/' run each strategy with each, e.g. off/every:50")
      ("drift-patch", po::value<std::size_t>(), "side of the drift reference patch, px (default 64)")
      ("drift-reference", po::value<std::string>(),
       "corner ROW,COL of the drift reference patch in survey px (default: the most textured patch)");
}

std::string drift_preset(const po::variables_map& vm) {
  const std::string name = vm.count("drift") ? vm["drift"].as<std::string>() : "off";
  const auto names = sim::drift_preset_names();
  if (std::find(names.begin(), names.end(), name) == names.end()) {
    std::string valid;
    for (const auto& n : names) valid += (valid.empty() ? "" : ", ") + n;
    throw UsageError("--drift '" + name + "' is not one of " + valid);
  }
  return name;
}

namespace {

double number_after(const std::string& item, std::size_t colon, const std::string& spec) {
  try {
    std::size_t used = 0;
    const std::string v = item.substr(colon + 1);
    const double x = std::stod(v, &used);
    if (used != v.size()) throw std::invalid_argument("trailing");
    return x;
  } catch (const std::exception&) {
    throw UsageError("--drift-correction '" + spec + "': '" + item + "' needs a number after ':'");
  }
}

}  // namespace

std::optional<DriftCorrectorOptions> drift_correction_options(const po::variables_map& vm) {
  const std::string spec = vm.count("drift-correction") ? vm["drift-correction"].as<std::string>() : "off";
  if (spec.find('/') != std::string::npos)
    throw UsageError("--drift-correction '" + spec + "': several variants (A/B) are for `autostem bench` only");
  return parse_drift_correction(spec, vm);
}

std::vector<std::pair<std::string, std::optional<DriftCorrectorOptions>>> drift_correction_variants(
    const po::variables_map& vm) {
  const std::string spec = vm.count("drift-correction") ? vm["drift-correction"].as<std::string>() : "off";
  std::vector<std::pair<std::string, std::optional<DriftCorrectorOptions>>> out;
  std::stringstream items(spec);
  std::string item;
  while (std::getline(items, item, '/')) {
    for (const auto& [seen, o] : out)
      if (seen == item) throw UsageError("--drift-correction '" + spec + "' names '" + item + "' twice");
    out.emplace_back(item, parse_drift_correction(item, vm));
  }
  if (out.empty()) throw UsageError("--drift-correction is empty");
  return out;
}

std::optional<DriftCorrectorOptions> parse_drift_correction(const std::string& spec, const po::variables_map& vm) {
  if (spec == "off") {
    for (const char* k : {"drift-patch", "drift-reference"})
      if (vm.count(k) && vm["drift-correction"].as<std::string>() == "off")
        throw UsageError(std::string("--") + k + " needs --drift-correction every:N or seconds:T");
    return std::nullopt;
  }
  DriftCorrectorOptions o;
  o.every_measurements = 0;
  o.every_s = 0.0;
  const std::string forms = "; expected off, every:N, seconds:T or every:N,seconds:T";
  std::stringstream items(spec);
  std::string item;
  while (std::getline(items, item, ',')) {
    const auto colon = item.find(':');
    const std::string kind = item.substr(0, colon);
    if (colon == std::string::npos || (kind != "every" && kind != "seconds"))
      throw UsageError("--drift-correction '" + spec + "': '" + item + "' is not understood" + forms);
    const double x = number_after(item, colon, spec);
    if (kind == "every") {
      if (!(x >= 1.0) || x != std::floor(x) || x > 1e12)
        throw UsageError("--drift-correction '" + spec + "': every:N needs a whole number N ≥ 1");
      o.every_measurements = static_cast<std::size_t>(x);
    } else {
      if (!(x > 0.0) || !std::isfinite(x))
        throw UsageError("--drift-correction '" + spec + "': seconds:T needs a finite T > 0");
      o.every_s = x;
    }
  }
  if (o.every_measurements == 0 && o.every_s == 0.0)
    throw UsageError("--drift-correction '" + spec + "' sets no cadence" + forms);
  if (vm.count("drift-patch")) {
    o.patch_px = vm["drift-patch"].as<std::size_t>();
    if (o.patch_px < 8) throw UsageError("--drift-patch must be at least 8 px");
  }
  if (vm.count("drift-reference")) {
    const std::string ref = vm["drift-reference"].as<std::string>();
    const auto comma = ref.find(',');
    try {
      if (comma == std::string::npos) throw std::invalid_argument("no comma");
      std::size_t u1 = 0, u2 = 0;
      const long long r = std::stoll(ref.substr(0, comma), &u1);
      const long long c = std::stoll(ref.substr(comma + 1), &u2);
      if (u1 != comma || u2 != ref.size() - comma - 1 || r < 0 || c < 0) throw std::invalid_argument("bad");
      o.row0 = static_cast<std::size_t>(r);
      o.col0 = static_cast<std::size_t>(c);
    } catch (const std::exception&) {
      throw UsageError("--drift-reference '" + ref + "' is not ROW,COL (two whole numbers ≥ 0)");
    }
  }
  return o;
}

std::string describe(const DriftCorrectorOptions& o) {
  std::ostringstream s;
  if (o.every_measurements > 0) s << "every " << o.every_measurements << " measurements";
  if (o.every_measurements > 0 && o.every_s > 0) s << " or ";
  if (o.every_s > 0) s << "every " << o.every_s << " s";
  s << ", " << o.patch_px << " px reference";
  if (o.row0 && o.col0) s << " at " << *o.row0 << "," << *o.col0;
  return s.str();
}

namespace {

class TimingOnlyDriftCorrection final : public DriftCorrection {
 public:
  explicit TimingOnlyDriftCorrection(DriftCorrectorOptions o) : o_(std::move(o)) {}
  void begin(const Survey& survey, const InstrumentInfo& info) override {
    if (!info.can_scan_patch)
      throw std::logic_error("instrument '" + info.name + "' cannot scan a reference patch");
    rows_ = std::min(o_.patch_px, info.field_rows);
    cols_ = std::min(o_.patch_px, info.field_cols);
    settings_.dwell_s = survey.dwell_s;
    settings_.probe_current_pA = survey.probe_current_pA;
    last_t_ = survey.t_end_s;
  }
  bool due(std::size_t n, double t) const override {
    return (o_.every_measurements > 0 && n >= last_n_ + o_.every_measurements) ||
           (o_.every_s > 0 && t - last_t_ >= o_.every_s);
  }
  DriftRecord update(Instrument& instrument, std::size_t n) override {
    Survey p = instrument.acquire_patch(PatchScan{o_.row0.value_or(0), o_.col0.value_or(0), rows_, cols_,
                                                  {0.0, 0.0}, settings_});
    last_n_ = n;
    last_t_ = p.t_end_s;
    DriftRecord r;
    r.after_measurements = n;
    r.t_start_s = p.t_start_s;
    r.t_end_s = p.t_end_s;
    r.dose_e_per_A2 = p.dose_e_per_A2;
    r.row0 = o_.row0.value_or(0);
    r.col0 = o_.col0.value_or(0);
    return r;
  }
  Position predicted_px(double) const override { return {0.0, 0.0}; }

 private:
  DriftCorrectorOptions o_;
  std::size_t rows_ = 0, cols_ = 0, last_n_ = 0;
  double last_t_ = 0.0;
  SurveySettings settings_;
};

}  // namespace

std::unique_ptr<DriftCorrection> make_timing_only_drift_correction(const DriftCorrectorOptions& o) {
  return std::make_unique<TimingOnlyDriftCorrection>(o);
}

}  // namespace autostem::cli
