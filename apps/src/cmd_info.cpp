// autostem info FILE: what a data file holds — kind, shape with axis names, dtype, calibration;
// for an autostem results file (docs/results-format.md), a summary of the run.

#include "cli.hpp"

#include <autostem/datasets/dm_tags.hpp>
#include <autostem/datasets/ground_truth.hpp>
#include <autostem/datasets/results.hpp>
#include <autostem/datasets/signal.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <limits>
#include <set>
#include <sstream>

namespace autostem::cli {

namespace {

bool is_energy(const AxisCalibration& a) { return a.units == "eV" || a.units == "keV"; }

/// Short axis label for the shape line: y, x, E, or the axis name.
std::string short_name(const AxisCalibration& a) {
  if (is_energy(a)) return "E";
  return a.name.empty() ? "?" : a.name;
}

/// What a microscopist would call the data set.
std::string kind_of(const datasets::Signal& s) {
  const auto n = s.ndim();
  const bool energy_last = n > 0 && is_energy(s.axes.back());
  if (n == 1) return energy_last ? "spectrum" : "1-D signal";
  if (n == 2) return energy_last ? "line scan (spectra)" : "image";
  if (n == 3) return energy_last ? "spectrum image" : "image stack";
  if (n == 4) return "4D-STEM";
  return std::to_string(n) + "-D signal";
}

std::string fmt(double v) {
  std::ostringstream o;
  o.precision(6);
  o << v;
  return o.str();
}

bool is_length(const AxisCalibration& a) {
  if (a.units.empty()) return false;
  try {
    (void)datasets::length_unit_in_nm(a.units);
    return true;
  } catch (const std::invalid_argument&) {
    return false;
  }
}

/// What an axis is to a microscopist: a scan axis (y/x in a length unit, or an uncalibrated y/x
/// of an image), energy, a diffraction (reciprocal-space) axis, or else HyperSpy's role.
std::string axis_role(const AxisCalibration& a) {
  if (is_energy(a)) return "energy";
  if (a.units.find("1/") != std::string::npos || a.units.find("1 /") != std::string::npos)
    return "diffraction";
  if (is_length(a) || (a.units.empty() && (a.name == "x" || a.name == "y"))) return "scan";
  return a.navigate ? "navigation" : "signal";
}

// ---- autostem results files (docs/results-format.md) ----

std::string attr(const datasets::RunRecord& r, const std::string& key, const std::string& fallback = "") {
  const auto it = r.attributes.find(key);
  return it == r.attributes.end() ? fallback : it->second;
}

double attr_number(const datasets::RunRecord& r, const std::string& key) {
  try {
    return std::stod(attr(r, key, "nan"));
  } catch (const std::exception&) {
    return std::numeric_limits<double>::quiet_NaN();
  }
}

/// The distinct values of a per-measurement column, for "exposure 0.1 s" or "0.1–0.2 s".
std::string value_range(const std::vector<double>& v, const std::string& unit) {
  if (v.empty()) return "";
  const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
  return *lo == *hi ? fmt(*lo) + " " + unit : fmt(*lo) + "…" + fmt(*hi) + " " + unit;
}

nlohmann::json run_json(const std::string& path, const datasets::RunRecord& r) {
  nlohmann::json params = nlohmann::json::object();
  for (const auto& [k, v] : r.strategy_parameters) params[k] = v;
  nlohmann::json j = {
      {"file", path},
      {"format", "autostem-results"},
      {"file_format_version", attr(r, "file_format_version")},
      {"complete", r.complete},
      {"strategy", attr(r, "strategy")},
      {"strategy_parameters", params},
      {"seed", attr(r, "seed")},  // text: a uint64 seed may exceed JSON's exact integers
      {"profile", attr(r, "profile")},
      {"instrument", attr(r, "instrument")},
      {"dataset", attr(r, "dataset")},
      {"field", {r.survey.image.rows(), r.survey.image.cols()}},
      {"pixel_size_nm", r.survey.image.calibration.pixel_size_nm},
      {"measurements", r.measurements()},
      {"signal", r.signal_shape.describe()},
      {"time_s", attr_number(r, "total_time_s")},
      {"survey_time_s", r.survey.t_end_s - r.survey.t_start_s},
      {"dose_e_per_A2", attr_number(r, "total_dose_e_per_A2")},
      {"max_dose_e_per_A2", attr_number(r, "max_dose_e_per_A2")},
      {"stop_reason", attr(r, "stop_reason")},
      {"prediction_steps", r.prediction_steps},
      {"command_line", attr(r, "command_line")},
      {"autostem_version", attr(r, "autostem_version")},
  };
  if (!r.exposure_s.empty()) {
    j["exposure_s"] = {*std::min_element(r.exposure_s.begin(), r.exposure_s.end()),
                       *std::max_element(r.exposure_s.begin(), r.exposure_s.end())};
  }
  if (r.signal_shape.kind == SignalKind::spectrum && r.energy.channels > 0)
    j["energy_eV"] = {r.energy.offset_eV,
                      r.energy.offset_eV + r.energy.dispersion_eV * double(r.energy.channels - 1)};
  if (!attr(r, "message").empty()) j["message"] = attr(r, "message");
  if (!r.drift.empty() || r.attributes.count("drift_rescans")) {
    std::size_t warned = 0;
    for (const auto& d : r.drift) warned += d.warning.empty() ? 0 : 1;
    j["drift_correction"] = {{"rescans", r.drift.size()},
                             {"time_s", attr_number(r, "drift_time_s")},
                             {"warnings", warned},
                             {"clamped", attr(r, "drift_clamped", "0")}};
  }
  return j;
}

void print_run(const std::string& path, const datasets::RunRecord& r) {
  std::printf("%s: autostem results file (format %s), %s\n", path.c_str(),
              attr(r, "file_format_version", "?").c_str(),
              r.complete ? "complete" : "INCOMPLETE (the run was cut off or is still running)");
  std::string params;
  for (const auto& [k, v] : r.strategy_parameters) params += (params.empty() ? "" : ", ") + k + "=" + v;
  std::printf("  strategy                %s%s\n", attr(r, "strategy", "?").c_str(),
              params.empty() ? " (default parameters)" : (" (" + params + ")").c_str());
  std::printf("  seed                    %s\n", attr(r, "seed", "?").c_str());
  std::printf("  profile                 %s\n", attr(r, "profile", "?").c_str());
  std::printf("  instrument              %s\n", attr(r, "instrument", "?").c_str());
  std::printf("  dataset                 %s\n", attr(r, "dataset", "?").c_str());
  const auto& cal = r.survey.image.calibration;
  std::printf("  field                   %zu × %zu px (y, x), %s nm/px\n", r.survey.image.rows(),
              r.survey.image.cols(), fmt(cal.pixel_size_nm).c_str());
  std::string what = r.signal_shape.describe();
  if (r.signal_shape.kind == SignalKind::spectrum && r.energy.channels > 0)
    what += ", " + fmt(r.energy.offset_eV) + "…" +
            fmt(r.energy.offset_eV + r.energy.dispersion_eV * double(r.energy.channels - 1)) + " eV";
  std::printf("  measurements            %zu (%s; %.4g of the field's pixels)\n", r.measurements(),
              what.c_str(),
              double(r.measurements()) / std::max<double>(1.0, double(r.survey.image.rows() * r.survey.image.cols())));
  if (!r.exposure_s.empty())
    std::printf("  exposure                %s per measurement at %s\n", value_range(r.exposure_s, "s").c_str(),
                value_range(r.probe_current_pA, "pA").c_str());
  const double t = attr_number(r, "total_time_s");
  std::printf("  experiment time         %s (%.4g s; survey %.3g s)\n", format_duration(t).c_str(), t,
              r.survey.t_end_s - r.survey.t_start_s);
  std::printf("  dose                    %.4g e-/A^2 over the field (max %.4g e-/A^2 at one pixel)\n",
              attr_number(r, "total_dose_e_per_A2"), attr_number(r, "max_dose_e_per_A2"));
  if (!r.drift.empty() || r.attributes.count("drift_rescans")) {
    std::size_t warned = 0;
    for (const auto& d : r.drift) warned += d.warning.empty() ? 0 : 1;
    std::printf("  drift correction        %zu reference re-scans, %.3g s, %zu warned, %s positions clamped\n",
                r.drift.size(), attr_number(r, "drift_time_s"), warned, attr(r, "drift_clamped", "0").c_str());
  }
  const std::string msg = attr(r, "message");
  std::printf("  stopped                 %s%s%s\n", attr(r, "stop_reason", "?").c_str(),
              msg.empty() ? "" : ": ", msg.c_str());
  if (!r.prediction_steps.empty())
    std::printf("  predictions             %zu stored (steps %zu…%zu)\n", r.prediction_steps.size(),
                r.prediction_steps.front(), r.prediction_steps.back());
  std::printf("  command                 %s\n", attr(r, "command_line").c_str());
  std::printf("  (the stored arrays: autostem info --raw %s)\n", path.c_str());
}

}  // namespace

int cmd_info(const std::vector<std::string>& args) {
  po::options_description o("autostem info options");
  o.add_options()("help,h", "this help")("file", po::value<std::string>()->required(), "data file")(
      "json", po::bool_switch(), "print as JSON")(
      "tags", po::bool_switch(), "DM3/DM4 only: print the whole tag tree as JSON")(
      "raw", po::bool_switch(),
      "autostem results files: list the stored arrays instead of summarising the run");
  po::positional_options_description pos;
  pos.add("file", 1);
  po::variables_map vm;
  if (parse(args, o, vm,
            "usage: autostem info FILE [--json] [--tags] [--raw]\n"
            "Describes every data set in FILE: kind, shape with axis names, dtype, and the\n"
            "calibration (offset, scale, units) and role (scan, energy, diffraction, navigation,\n"
            "signal) of every axis. The reader is chosen by content. For a results file of\n"
            "`autostem run` it summarises the run (strategy, parameters, seed, profile,\n"
            "measurements, field, time, dose, stop reason, drift correction); --raw lists its arrays.",
            &pos))
    return 0;
  const std::string path = vm["file"].as<std::string>();
  const auto format = datasets::detect_format(path);
  if (vm["tags"].as<bool>()) {
    if (format != datasets::FileFormat::dm3 && format != datasets::FileFormat::dm4)
      throw std::runtime_error(path + ": --tags needs a DM3/DM4 file; this is " +
                               datasets::format_name(format));
    std::cout << datasets::tags_to_json(datasets::read_dm_tags(path).root) << std::endl;
    return 0;
  }
  if (format == datasets::FileFormat::hdf5_other && !vm["raw"].as<bool>() &&
      datasets::is_results_file(path)) {
    const auto run = datasets::read_results(path);
    if (vm["json"].as<bool>()) std::cout << run_json(path, run).dump(2) << std::endl;
    else print_run(path, run);
    return 0;
  }
  const auto signals = datasets::read_signals(path);

  if (vm["json"].as<bool>()) {
    nlohmann::json j = {{"file", path}, {"format", datasets::format_name(format)}};
    for (const auto& s : signals) {
      nlohmann::json axes = nlohmann::json::array();
      for (const auto& a : s.axes)
        axes.push_back({{"name", a.name}, {"size", a.size}, {"offset", a.offset},
                        {"scale", a.scale}, {"units", a.units}, {"navigate", a.navigate},
                        {"role", axis_role(a)}});
      j["signals"].push_back({{"title", s.title}, {"kind", kind_of(s)},
                              {"signal_type", s.signal_type}, {"dtype", datasets::dtype_name(s.dtype)},
                              {"shape", s.shape()}, {"axes", axes}});
    }
    std::cout << j.dump(2) << std::endl;
    return 0;
  }
  std::printf("%s: %s, %zu data set%s\n", path.c_str(), datasets::format_name(format),
              signals.size(), signals.size() == 1 ? "" : "s");
  for (std::size_t i = 0; i < signals.size(); ++i) {
    const auto& s = signals[i];
    std::string shape, names;
    for (const auto& a : s.axes) {
      shape += (shape.empty() ? "" : " × ") + std::to_string(a.size);
      names += (names.empty() ? "" : ", ") + short_name(a);
    }
    std::printf("[%zu] \"%s\" — %s%s, %s, %s (%s)\n", i, s.title.c_str(), kind_of(s).c_str(),
                s.signal_type.empty() ? "" : (" (" + s.signal_type + ")").c_str(),
                datasets::dtype_name(s.dtype), shape.c_str(), names.c_str());
    for (std::size_t k = 0; k < s.axes.size(); ++k) {
      const auto& a = s.axes[k];
      const std::string u = a.units.empty() ? "(no units)" : a.units;
      const std::string per = is_energy(a) ? "/channel" : "/px";
      std::printf("    axis %zu  %-12s %6zu  offset %s %s, scale %s %s%s  %s", k, a.name.c_str(),
                  a.size, fmt(a.offset).c_str(), u.c_str(), fmt(a.scale).c_str(), u.c_str(),
                  a.units.empty() ? "" : per.c_str(), ("(" + axis_role(a) + ")").c_str());
      if (a.size > 0)
        std::printf("  → %s … %s %s", fmt(a.value(0)).c_str(),
                    fmt(a.value(static_cast<double>(a.size - 1))).c_str(), a.units.c_str());
      std::printf("\n");
    }
  }
  return 0;
}

}  // namespace autostem::cli
