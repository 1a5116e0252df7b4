// autostem info FILE: what a data file holds — kind, shape with axis names, dtype, calibration.

#include "cli.hpp"

#include <autostem/datasets/dm_tags.hpp>
#include <autostem/datasets/signal.hpp>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>
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

}  // namespace

int cmd_info(const std::vector<std::string>& args) {
  po::options_description o("autostem info options");
  o.add_options()("help,h", "this help")("file", po::value<std::string>()->required(), "data file")(
      "json", po::bool_switch(), "print as JSON")(
      "tags", po::bool_switch(), "DM3/DM4 only: print the whole tag tree as JSON");
  po::positional_options_description pos;
  pos.add("file", 1);
  po::variables_map vm;
  if (parse(args, o, vm,
            "usage: autostem info FILE [--json] [--tags]\n"
            "Describes every data set in FILE: kind, shape with axis names, dtype, and the\n"
            "calibration (offset, scale, units) of every axis. The reader is chosen by content.",
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
  const auto signals = datasets::read_signals(path);

  if (vm["json"].as<bool>()) {
    nlohmann::json j = {{"file", path}, {"format", datasets::format_name(format)}};
    for (const auto& s : signals) {
      nlohmann::json axes = nlohmann::json::array();
      for (const auto& a : s.axes)
        axes.push_back({{"name", a.name}, {"size", a.size}, {"offset", a.offset},
                        {"scale", a.scale}, {"units", a.units}, {"navigate", a.navigate}});
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
                  a.units.empty() ? "" : per.c_str(), a.navigate ? "(navigation)" : "(signal)");
      if (a.size > 0)
        std::printf("  → %s … %s %s", fmt(a.value(0)).c_str(),
                    fmt(a.value(static_cast<double>(a.size - 1))).c_str(), a.units.c_str());
      std::printf("\n");
    }
  }
  return 0;
}

}  // namespace autostem::cli
