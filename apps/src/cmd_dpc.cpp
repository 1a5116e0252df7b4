// autostem dpc FILE: centre-of-mass (DPC) maps of a 4D-STEM data set in the scan frame (issue
// 19): the CoM of every pattern, the detector's rotation and flip relative to the scan found by
// minimising the curl of the CoM field (py4DSTEM / LiberTEM's DPC calibration), its half-turn
// settled by the divergence against the virtual ADF image, and the integrated CoM (iDPC). The
// rotation it prints is what `autostem strain --scan-rotation` and the strain_* specs take.

#include "cli.hpp"
#include "fourd_cli.hpp"
#include "hyperspy_metadata.hpp"

#include <autostem/core/statistics.hpp>
#include <autostem/datasets/hspy.hpp>
#include <autostem/datasets/signal.hpp>
#include <autostem/imaging/diffraction.hpp>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <numbers>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace autostem::cli {

namespace {

/// "R_IN:R_OUT[:CY:CX]" (detector px) → the mask, read as the com_* scalarizers read theirs
/// (make_pattern_scalarizer). Throws UsageError naming the problem.
PatternMask parse_mask(const std::string& text) {
  try {
    const auto s = make_pattern_scalarizer("com_x:" + text);
    return dynamic_cast<const PatternScalarizer&>(*s).mask();
  } catch (const std::invalid_argument& e) {
    throw UsageError("--mask '" + text + "': expected R_IN:R_OUT[:CY:CX] (detector px, 0 <= R_IN < R_OUT): " +
                     e.what());
  }
}


}  // namespace

int cmd_dpc(const std::vector<std::string>& args) {
  po::options_description o("autostem dpc options");
  o.add_options()("help,h", "this help")
      ("file", po::value<std::string>(), "4D-STEM file (Merlin .mib + .hdr, 4D .hspy, EMD/py4DSTEM, FPD HDF5)")
      ("mask", po::value<std::string>(),
       "CoM over the annulus R_IN:R_OUT[:CY:CX] detector px, as the com_* scalarizers (default: every pixel "
       "about the pattern centre)")
      ("rotation", po::value<std::string>()->default_value("auto"),
       "auto (the curl-free rotation and flip; the half-turn from the divergence against the virtual ADF) "
       "or DEG[:flip] given by hand (degrees; flip = detector x mirrored first)")
      ("out", po::value<std::string>(),
       "directory for the maps as HyperSpy files: com_x, com_y (scan frame, px), com_mag, icom, adf")
      ("json", po::bool_switch(), "print one JSON object instead of text");
  po::positional_options_description pos;
  pos.add("file", 1);
  po::variables_map vm;
  if (parse(args, o, vm,
            "usage: autostem dpc FILE [--mask R_IN:R_OUT[:CY:CX]] [--rotation auto|DEG[:flip]] [--out DIR] [--json]\n"
            "Centre-of-mass (DPC) maps in the scan frame, the detector's scan rotation and flip, the\n"
            "integrated CoM (docs/4dstem.md \"Scan rotation\").\n"
            "  autostem dpc scan.hspy --out dpc\n"
            "  autostem strain nbed.hspy --scan-rotation DEG[:flip]   # with the rotation dpc printed",
            &pos))
    return 0;
  if (!vm.count("file")) throw UsageError("give the 4D-STEM file");
  const std::filesystem::path file = vm["file"].as<std::string>();
  const GroundTruth gt = load_four_d_file(file);
  const FourDStem& d = *gt.four_d;
  const bool json = vm["json"].as<bool>();
  const PatternMask mask = vm.count("mask") ? parse_mask(vm["mask"].as<std::string>()) : PatternMask{};
  const std::string rot_text = vm["rotation"].as<std::string>();
  std::optional<ScanRotation> given;
  if (rot_text != "auto") given = scan_rotation_option("--rotation", rot_text);
  if (d.rows() < 3 || d.cols() < 3)
    throw std::invalid_argument("the scan is " + std::to_string(d.rows()) + "x" + std::to_string(d.cols()) +
                                "; the curl and divergence of the CoM field need at least 3x3 positions");

  // CoM of every pattern and a virtual ADF beyond the bright-field disc (1.25 R_BF to the edge).
  const double r_bf = bright_field_disc_radius_px(d);
  PatternMask adf_mask;
  adf_mask.r_in_px = 1.25 * r_bf;
  const auto R = static_cast<Eigen::Index>(d.rows()), C = static_cast<Eigen::Index>(d.cols());
  ImageArray cx(R, C), cy(R, C), adf(R, C);
  if (!json)
    std::fprintf(stderr, "autostem dpc: centre of mass of %zu patterns (%zux%zu detector px)...\n",
                 d.rows() * d.cols(), d.ky(), d.kx());
  for (Eigen::Index r = 0; r < R; ++r)
    for (Eigen::Index c = 0; c < C; ++c) {
      const auto p = d.pattern(std::size_t(r), std::size_t(c));
      const auto m = centre_of_mass(p, d.ky(), d.kx(), mask);
      cx(r, c) = m.x_px;
      cy(r, c) = m.y_px;
      adf(r, c) = virtual_detector(p, d.ky(), d.kx(), adf_mask);
    }
  const double adf_total = adf.sum();

  ScanRotation rot;
  std::string source;
  if (given) {
    rot = *given;
    source = "--rotation";
  } else {
    rot = find_scan_rotation(cx, cy);
    if (adf_total > 0) {
      rot = resolve_half_turn(rot, cx, cy, adf);
      source = "curl minimum; half-turn from the divergence against the virtual ADF";
    } else {
      source = "curl minimum; half-turn NOT settled (no counts beyond the bright-field disc): θ or θ + 180°";
    }
  }
  ImageArray sx, sy;
  apply_scan_rotation(rot, cx, cy, sx, sy);
  rot.curl_rms = curl_rms(sx, sy);
  const double curl_raw = curl_rms(cx, cy);
  const ImageArray mag = (sx.square() + sy.square()).sqrt();
  const ImageArray icom = integrate_com(sx, sy);
  const std::string spec = format_scan_rotation(rot);
  const double deg = rot.rotation_rad * 180.0 / std::numbers::pi;

  nlohmann::json j = {{"file", file.string()},
                      {"scan", {d.rows(), d.cols()}},
                      {"pattern", {d.ky(), d.kx()}},
                      {"bright_field_radius_px", r_bf},
                      {"rotation_deg", deg},
                      {"flip", rot.flip},
                      {"rotation_source", source},
                      {"scan_rotation", spec},
                      {"curl_rms_detector_axes", curl_raw},
                      {"curl_rms_scan_axes", rot.curl_rms},
                      {"com_mag_median_px", percentile(std::span<const double>(mag.data(), std::size_t(mag.size())), 50)}};
  if (vm.count("out")) {
    const std::filesystem::path dir = vm["out"].as<std::string>();
    std::filesystem::create_directories(dir);
    datasets::write_hspy(dir / "com_x.hspy", scan_map_signal(sx, d, "com_x", "CoM x, scan frame (px)"));
    datasets::write_hspy(dir / "com_y.hspy", scan_map_signal(sy, d, "com_y", "CoM y, scan frame (px)"));
    datasets::write_hspy(dir / "com_mag.hspy", scan_map_signal(mag, d, "com_mag", "|CoM| (px)"));
    datasets::write_hspy(dir / "icom.hspy", scan_map_signal(icom, d, "icom", "integrated CoM (px x scan px)"));
    datasets::write_hspy(dir / "adf.hspy", scan_map_signal(adf, d, "adf", "virtual ADF (counts)"));
    j["out"] = dir.string();
  }
  if (json) {
    std::cout << j.dump() << "\n";
    return 0;
  }
  std::printf("autostem dpc: %s, %zux%zu scan of %zux%zu patterns\n", file.string().c_str(), d.rows(), d.cols(),
              d.ky(), d.kx());
  std::printf("  bright-field disc radius %.3f px; virtual ADF from %.3f px to the detector edge\n", r_bf,
              adf_mask.r_in_px);
  std::printf("  scan rotation %.4f deg%s (%s)\n", deg, rot.flip ? ", detector x mirrored (flip)" : "", source.c_str());
  std::printf("  RMS curl of the CoM field: %.4g px per scan px on the detector axes, %.4g on the scan axes\n",
              curl_raw, rot.curl_rms);
  std::printf("  median |CoM| %.4g px\n", j["com_mag_median_px"].get<double>());
  std::printf("  strain along the scan axes: autostem strain FILE --scan-rotation %s\n", spec.c_str());
  if (vm.count("out"))
    std::printf("wrote %s/{com_x,com_y,com_mag,icom,adf}.hspy\n", vm["out"].as<std::string>().c_str());
  return 0;
}

}  // namespace autostem::cli
