#include <autostem/sim/detector_profile.hpp>

#include <autostem/config.hpp>
#include <autostem/core/types.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>

namespace autostem::sim {

namespace {

std::string trim(const std::string& s) {
  const auto a = s.find_first_not_of(" \t\r");
  if (a == std::string::npos) return "";
  const auto b = s.find_last_not_of(" \t\r");
  return s.substr(a, b - a + 1);
}

std::string detector_dir() {
  if (const char* env = std::getenv("AUTOSTEM_PROFILE_DIR"); env && *env)
    return (std::filesystem::path(env) / "detectors").string();
  return (std::filesystem::path(AUTOSTEM_PROFILE_DIR) / "detectors").string();
}

}  // namespace

std::vector<std::string> DetectorProfile::builtin_names() {
  return {"merlin-single-1bit", "merlin-single-6bit", "merlin-single-12bit", "merlin-single-24bit",
          "merlin-quad-12bit",  "arina",              "empad"};
}

DetectorProfile DetectorProfile::load(const std::string& name_or_path) {
  namespace fs = std::filesystem;
  const auto names = builtin_names();
  fs::path path;
  if (std::find(names.begin(), names.end(), name_or_path) != names.end()) {
    path = fs::path(detector_dir()) / (name_or_path + ".ini");
  } else if (name_or_path.find('/') != std::string::npos || fs::path(name_or_path).extension() == ".ini") {
    path = name_or_path;
  } else {
    std::string list;
    for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
    throw std::invalid_argument("detector profile '" + name_or_path +
                                "': not a built-in detector (" + list + ") and not an .ini path");
  }
  std::ifstream in(path);
  if (!in) throw std::invalid_argument("detector profile " + path.string() + ": cannot read the file");
  const std::string where = "detector profile " + path.string();
  std::map<std::string, std::string> kv;
  std::string line;
  while (std::getline(in, line)) {
    if (auto h = line.find('#'); h != std::string::npos) line.erase(h);
    line = trim(line);
    if (line.empty()) continue;
    const auto eq = line.find('=');
    if (eq == std::string::npos) throw std::invalid_argument(where + ": line '" + line + "' is not key = value");
    kv[trim(line.substr(0, eq))] = trim(line.substr(eq + 1));
  }
  DetectorProfile p;
  p.source_path = path.string();
  auto take_text = [&](const char* key) {
    auto it = kv.find(key);
    if (it == kv.end()) throw std::invalid_argument(where + ": key '" + key + "' is missing");
    std::string v = it->second;
    kv.erase(it);
    return v;
  };
  auto take = [&](const char* key, bool positive) {
    const std::string t = take_text(key);
    double v = 0;
    const auto r = std::from_chars(t.data(), t.data() + t.size(), v);
    if (r.ec != std::errc() || r.ptr != t.data() + t.size() || !std::isfinite(v) || v < 0 || (positive && v == 0))
      throw std::invalid_argument(where + ": key '" + key + "' = '" + t + "'; expected a " +
                                  (positive ? "positive" : "non-negative") + " number");
    return v;
  };
  p.name = take_text("name");
  p.description = take_text("description");
  p.frame_time_s = take("frame_time_s", true);
  p.ky = static_cast<std::size_t>(take("ky", true));
  p.kx = static_cast<std::size_t>(take("kx", true));
  p.bits_per_pixel = take("bits_per_pixel", true);
  p.header_bytes = take("header_bytes", false);
  p.scan_line_overhead_s = take("scan_line_overhead_s", false);
  p.scan_setup_s = take("scan_setup_s", false);
  p.point_overhead_s = take("point_overhead_s", false);
  if (!kv.empty()) throw std::invalid_argument(where + ": unknown key '" + kv.begin()->first + "'");
  return p;
}

double DetectorProfile::bytes_per_pattern() const {
  return static_cast<double>(ky * kx) * bits_per_pixel / 8.0 + header_bytes;
}

double DetectorProfile::scan_frames_s(std::size_t rows, std::size_t cols) const {
  return static_cast<double>(rows * cols) * frame_time_s;
}

double DetectorProfile::scan_time_s(std::size_t rows, std::size_t cols) const {
  return scan_setup_s + scan_frames_s(rows, cols) +
         static_cast<double>(rows > 0 ? rows - 1 : 0) * scan_line_overhead_s;
}

double DetectorProfile::point_time_s(std::size_t n, double beam_move_s) const {
  return static_cast<double>(n) * (beam_move_s + frame_time_s + point_overhead_s);
}

double DetectorProfile::electrons_per_pattern(double probe_current_pA) const {
  return electrons(probe_current_pA, frame_time_s);
}

}  // namespace autostem::sim
