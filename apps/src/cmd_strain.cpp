// autostem strain FILE: strain maps of an NBED 4D-STEM data set (imaging/strain.hpp) and the
// reference reciprocal basis that the strain_* scalarizers need (issue 19): disc detection by
// template cross-correlation, a lattice fit per pattern, the reference = the median lattice of an
// unstrained region of the scan (py4DSTEM's get_reference_g1g2), εxx, εyy, εxy, rotation.

#include "cli.hpp"
#include "fourd_cli.hpp"
#include "hyperspy_metadata.hpp"

#include <autostem/core/statistics.hpp>
#include <autostem/datasets/hspy.hpp>
#include <autostem/datasets/signal.hpp>
#include <autostem/imaging/diffraction.hpp>
#include <autostem/imaging/strain.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <numbers>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

namespace autostem::cli {

namespace {

/// "R0:R1:C0:C1" → scan rows [R0, R1) and columns [C0, C1). Throws UsageError.
std::array<std::size_t, 4> parse_region(const std::string& text, std::size_t rows, std::size_t cols) {
  const std::string usage = "--reference '" + text + "': expected ROW0:ROW1:COL0:COL1 (scan pixels, end exclusive)";
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= text.size(); ++i)
    if (i == text.size() || text[i] == ':') {
      parts.push_back(text.substr(start, i - start));
      start = i + 1;
    }
  if (parts.size() != 4) throw UsageError(usage);
  std::array<std::size_t, 4> v{};
  for (std::size_t k = 0; k < 4; ++k) {
    const char* b = parts[k].data();
    const char* e = b + parts[k].size();
    if (b == e || std::from_chars(b, e, v[k]).ptr != e) throw UsageError(usage);
  }
  if (v[0] >= v[1] || v[2] >= v[3] || v[1] > rows || v[3] > cols)
    throw UsageError("--reference '" + text + "': an empty region or beyond the " + std::to_string(rows) + "x" +
                     std::to_string(cols) + " scan (ROW0 < ROW1 <= rows, COL0 < COL1 <= cols)");
  return v;
}


}  // namespace

int cmd_strain(const std::vector<std::string>& args) {
  po::options_description o("autostem strain options");
  o.add_options()("help,h", "this help")
      ("file", po::value<std::string>(), "4D-STEM file (Merlin .mib + .hdr, 4D .hspy, EMD/py4DSTEM, FPD HDF5)")
      ("disc-radius", po::value<double>(),
       "Bragg disc radius, detector px (default: the mean pattern's central disc, the equal-area "
       "radius of the pixels at or above half its maximum)")
      ("reference", po::value<std::string>(),
       "unstrained reference region ROW0:ROW1:COL0:COL1 in scan pixels, end exclusive (default: "
       "the whole scan)")
      ("min-intensity", po::value<double>()->default_value(5e-5),
       "keep discs whose correlation is at least this fraction of the strongest's (the central "
       "disc, usually; single-layer graphene's {100} discs carry ≈ 2e-4 of it at 80 kV)")
      ("scan-rotation", po::value<std::string>(),
       "DEG[:flip]: the detector's rotation (and mirror) relative to the scan, as autostem dpc prints it; "
       "the strain is then along the scan axes (default: along the detector axes)")
      ("out", po::value<std::string>(),
       "directory for the maps as HyperSpy files: strain_xx/yy/xy.hspy (dimensionless) and "
       "strain_rot.hspy (rad)")
      ("json", po::bool_switch(), "print one JSON object instead of text");
  po::positional_options_description pos;
  pos.add("file", 1);
  po::variables_map vm;
  if (parse(args, o, vm,
            "usage: autostem strain FILE [--disc-radius R] [--reference R0:R1:C0:C1] [--scan-rotation DEG[:flip]] [--out DIR]\n"
            "Strain maps of an NBED 4D-STEM data set (docs/4dstem.md \"Strain\") and the reference\n"
            "basis for the strain_xx|yy|xy|rot:R:G1Y:G1X:G2Y:G2X scalarizers of run and bench.\n"
            "  autostem strain scan.mib --reference 0:8:0:8 --out maps",
            &pos))
    return 0;
  if (!vm.count("file")) throw UsageError("give the 4D-STEM file");
  const std::filesystem::path file = vm["file"].as<std::string>();
  const GroundTruth gt = load_four_d_file(file);
  const FourDStem& d = *gt.four_d;
  const bool json = vm["json"].as<bool>();

  const bool radius_given = vm.count("disc-radius") > 0;
  const double R = radius_given ? vm["disc-radius"].as<double>() : bright_field_disc_radius_px(d);
  if (!(R > 0.0)) throw UsageError("--disc-radius must be > 0 px");
  std::array<std::size_t, 4> reg{0, d.rows(), 0, d.cols()};
  if (vm.count("reference")) reg = parse_region(vm["reference"].as<std::string>(), d.rows(), d.cols());
  std::vector<std::uint8_t> region(d.rows() * d.cols(), 0);
  for (std::size_t r = reg[0]; r < reg[1]; ++r)
    for (std::size_t c = reg[2]; c < reg[3]; ++c) region[r * d.cols() + c] = 1;

  DiscDetectionOptions opt;
  opt.disc_radius_px = R;
  opt.min_relative_intensity = vm["min-intensity"].as<double>();
  if (!(opt.min_relative_intensity > 0.0 && opt.min_relative_intensity < 1.0))
    throw UsageError("--min-intensity must lie in (0, 1)");
  if (!json)
    std::fprintf(stderr, "autostem strain: fitting the lattice of %zu patterns (%zux%zu detector px)...\n",
                 d.rows() * d.cols(), d.ky(), d.kx());
  std::optional<ScanRotation> scan_rot;
  if (vm.count("scan-rotation")) scan_rot = scan_rotation_option("--scan-rotation", vm["scan-rotation"].as<std::string>());
  StrainMaps maps;
  try {
    maps = strain_map(d, opt, region, scan_rot.value_or(ScanRotation{}));
  } catch (const std::invalid_argument& e) {
    char hint[160];
    std::snprintf(hint, sizeof hint, " (disc radius %.3f px %s; strain needs separated Bragg discs, NBED: check "
                  "--disc-radius and --min-intensity)", R, radius_given ? "given" : "from the mean pattern");
    throw std::invalid_argument(e.what() + std::string(hint));
  }
  const DiffractionLattice& ref = maps.reference;

  struct Component {
    const char* name;
    const ImageArray* map;
    const char* units;
  };
  const Component comps[] = {{"strain_xx", &maps.exx, ""}, {"strain_yy", &maps.eyy, ""},
                             {"strain_xy", &maps.exy, ""}, {"strain_rot", &maps.rotation_rad, "rad"}};
  std::size_t fitted = 0;
  for (Eigen::Index i = 0; i < maps.exx.size(); ++i) fitted += std::isfinite(maps.exx.data()[i]) ? 1 : 0;
  char tail[200];
  std::snprintf(tail, sizeof tail, ":%.6g:%.6g:%.6g:%.6g:%.6g", R, ref.g1_row, ref.g1_col, ref.g2_row, ref.g2_col);
  std::string spec_tail = tail;
  if (scan_rot) spec_tail += ":" + format_scan_rotation(*scan_rot);

  nlohmann::json j = {{"file", file.string()},
                      {"scan", {d.rows(), d.cols()}},
                      {"pattern", {d.ky(), d.kx()}},
                      {"disc_radius_px", R},
                      {"disc_radius_source", radius_given ? "--disc-radius" : "mean pattern's central disc"},
                      {"reference_region", {reg[0], reg[1], reg[2], reg[3]}},
                      {"reference", {{"g1_px", {ref.g1_row, ref.g1_col}}, {"g2_px", {ref.g2_row, ref.g2_col}},
                                     {"origin_px", {ref.origin_row, ref.origin_col}}}},
                      {"fitted_patterns", fitted},
                      {"axes", scan_rot ? "scan (rotation " + format_scan_rotation(*scan_rot) + ")" : "detector"}};
  for (const auto& c : comps) {
    std::vector<double> v;
    for (Eigen::Index i = 0; i < c.map->size(); ++i)
      if (std::isfinite(c.map->data()[i])) v.push_back(c.map->data()[i]);
    // Over the fitted patterns; NaN when none was fitted (autostem::percentile gives 0 there).
    const auto pct = [&](double p) { return v.empty() ? std::nan("") : percentile(v, p); };
    j["maps"][c.name] = {{"median", pct(50)}, {"p5", pct(5)}, {"p95", pct(95)},
                         {"spec", std::string(c.name) + spec_tail}};
  }
  if (vm.count("out")) {
    const std::filesystem::path dir = vm["out"].as<std::string>();
    std::filesystem::create_directories(dir);
    for (const auto& c : comps)
      datasets::write_hspy(dir / (std::string(c.name) + ".hspy"), scan_map_signal(*c.map, d, c.name, c.units));
    j["out"] = dir.string();
  }
  if (json) {
    std::cout << j.dump() << "\n";
    return 0;
  }
  std::printf("autostem strain: %s, %zux%zu scan of %zux%zu patterns\n", file.string().c_str(), d.rows(), d.cols(),
              d.ky(), d.kx());
  std::printf("  disc radius %.3f px (%s)\n", R, radius_given ? "--disc-radius" : "from the mean pattern's central disc");
  std::printf("  reference: median lattice of scan rows %zu-%zu, cols %zu-%zu: g1 = (%.4f, %.4f) px, "
              "g2 = (%.4f, %.4f) px (row, col), |g1| = %.4f, |g2| = %.4f px\n",
              reg[0], reg[1] - 1, reg[2], reg[3] - 1, ref.g1_row, ref.g1_col, ref.g2_row, ref.g2_col,
              std::hypot(ref.g1_row, ref.g1_col), std::hypot(ref.g2_row, ref.g2_col));
  std::printf("  lattice fitted in %zu of %zu patterns (NaN elsewhere)\n\n", fitted, d.rows() * d.cols());
  std::printf("  %-10s %10s %10s %10s   %s\n", "map", "median", "5 %", "95 %", "--scalarizer for run/bench");
  for (const auto& c : comps) {
    const auto& s = j["maps"][c.name];
    const double k = std::strcmp(c.units, "rad") == 0 ? 1.0 : 100.0;
    std::printf("  %-10s %9.4f%s %9.4f%s %9.4f%s   %s\n", c.name, k * s["median"].get<double>(), k == 1 ? " " : "%",
                k * s["p5"].get<double>(), k == 1 ? " " : "%", k * s["p95"].get<double>(), k == 1 ? " " : "%",
                s["spec"].get<std::string>().c_str());
  }
  if (scan_rot)
    std::printf("  (strain in %%, rotation in rad; x = scan columns, y = scan rows: detector turned by %s)\n",
                format_scan_rotation(*scan_rot).c_str());
  else
    std::printf("  (strain in %%, rotation in rad; x = detector columns, y = rows; --scan-rotation for the scan axes)\n");
  if (vm.count("out")) std::printf("wrote %s/strain_{xx,yy,xy,rot}.hspy\n", vm["out"].as<std::string>().c_str());
  return 0;
}

}  // namespace autostem::cli
