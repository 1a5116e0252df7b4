// `autostem strain` end to end (issue 19): an NBED 4D-STEM phantom with a disc of 1 % applied
// εxx, written as a 4D HyperSpy file; the command finds the central disc's radius, the reference
// lattice of an unstrained band of the scan, the strain inside the disc, prints the strain_*
// scalarizer specs (which make_scalarizer accepts and which give the strain of a pattern), and
// writes the four maps as .hspy.
#include <autostem/datasets/hspy.hpp>
#include <autostem/datasets/signal.hpp>
#include <autostem/imaging/scalarizer.hpp>
#include <autostem/sim/fourd_phantom.hpp>

#include "cli_json.hpp"
#include "cli_runner.hpp"

#include "dpc_phantom.hpp"
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <string>
#include <unistd.h>

namespace fs = std::filesystem;
namespace as = autostem::sim;
using autostem::testing::run_cli;

namespace {

fs::path temp_dir() {
  const fs::path dir = fs::temp_directory_path() / ("autostem_cli_strain_" + std::to_string(getpid()));
  fs::create_directories(dir);
  return dir;
}

// 80 kV, α = 5 mrad (taper 2 mrad), 0.1 Å sampling, 256² detector: discs of radius ≈ 3.1 px,
// graphene's {100} spots 12 px out; 12 × 12 scan at 4 Å over a graphene sheet whose disc of
// radius 12 Å at the centre carries εxx = 1 %.
autostem::GroundTruth strained_phantom() {
  as::FourDPhantomConfig cfg;
  cfg.voltage_kV = 80;
  cfg.alpha_mrad = 5.0;
  cfg.aperture_taper_mrad = 2.0;
  cfg.pixel_A = 0.1;
  cfg.detector_px = 256;
  cfg.scan_rows = cfg.scan_cols = 12;
  cfg.scan_step_px = 40;
  const double W = double(11 * 40 + 256) * 0.1;
  as::Strain s;
  s.exx = 0.01;
  s.x0_A = s.y0_A = W / 2;
  s.radius_A = 12.0;
  return as::make_fourd_phantom(as::graphene(W, W, 0.0, s), cfg);
}

void write_4d(const fs::path& path, const autostem::FourDStem& d) {
  autostem::datasets::Signal s;
  s.title = "NBED phantom";
  s.dtype = autostem::datasets::DType::float32;
  s.axes = {{"y", "nm", 0, d.calibration().pixel_size_nm, d.rows(), true},
            {"x", "nm", 0, d.calibration().pixel_size_nm, d.cols(), true},
            {"ky", "", 0, 1, d.ky(), false},
            {"kx", "", 0, 1, d.kx(), false}};
  s.bytes.resize(d.data().size() * sizeof(float));
  std::memcpy(s.bytes.data(), d.data().data(), s.bytes.size());
  autostem::datasets::write_hspy(path, s);
}

}  // namespace

TEST(CliStrain, ReferenceBasisAndStrainOfAnNbedScan) {
  const auto gt = strained_phantom();
  const fs::path dir = temp_dir();
  const fs::path file = dir / "nbed.hspy";
  write_4d(file, *gt.four_d);
  // Reference: scan rows 0–1 (probe ≥ 18 Å from the disc centre, beyond its 12 Å radius and the
  // probe tails).
  const auto r = run_cli("strain '" + file.string() + "' --reference 0:2:0:12 --json --out '" +
                         (dir / "maps").string() + "'");
  ASSERT_EQ(r.status, 0) << r.out;
  const auto j = autostem::testing::last_json(r.out);
  // Central disc: α/λ × window = 5 mrad / 0.04176 Å × 25.6 Å = 3.07 px (the taper softens the edge).
  EXPECT_NEAR(j["disc_radius_px"].get<double>(), 3.07, 0.3) << r.out;
  // Graphene {100}: 25.6 Å / 2.1304 Å = 12.02 px.
  const double g1 = std::hypot(j["reference"]["g1_px"][0].get<double>(), j["reference"]["g1_px"][1].get<double>());
  const double g2 = std::hypot(j["reference"]["g2_px"][0].get<double>(), j["reference"]["g2_px"][1].get<double>());
  EXPECT_NEAR(g1, 12.02, 0.05) << r.out;
  EXPECT_NEAR(g2, 12.02, 0.05) << r.out;
  EXPECT_EQ(j["fitted_patterns"].get<std::size_t>(), 144u) << r.out;
  for (const char* m : {"strain_xx", "strain_yy", "strain_xy", "strain_rot"})
    EXPECT_TRUE(fs::exists(dir / "maps" / (std::string(m) + ".hspy"))) << m;

  // The printed spec is a scalarizer: at the disc centre (scan 5–6, 5–6) εxx ≈ 1 %, εyy ≈ 0; far
  // from it (corner) ≈ 0.
  const std::string spec_xx = j["maps"]["strain_xx"]["spec"], spec_yy = j["maps"]["strain_yy"]["spec"];
  const auto xx = autostem::make_scalarizer(spec_xx, {});
  const auto yy = autostem::make_scalarizer(spec_yy, {});
  const auto& d = *gt.four_d;
  double centre = 0;
  for (std::size_t r0 : {5, 6})
    for (std::size_t c0 : {5, 6}) centre += xx->evaluate(d.pattern(r0, c0), d.ky(), d.kx()) / 4;
  EXPECT_NEAR(centre, 0.01, 0.002) << spec_xx;
  EXPECT_NEAR(yy->evaluate(d.pattern(5, 5), d.ky(), d.kx()), 0.0, 0.002) << spec_yy;
  EXPECT_NEAR(xx->evaluate(d.pattern(11, 0), d.ky(), d.kx()), 0.0, 0.002) << spec_xx;

  // Text output names the scalarizer specs; bad input is refused with a named problem.
  const auto text = run_cli("strain '" + file.string() + "' --reference 0:2:0:12");
  ASSERT_EQ(text.status, 0) << text.out;
  EXPECT_NE(text.out.find(spec_xx), std::string::npos) << text.out;
  const auto bad = run_cli("strain '" + file.string() + "' --reference 0:20:0:12");
  EXPECT_EQ(bad.status, 2) << bad.out;
  EXPECT_NE(bad.out.find("beyond the 12x12 scan"), std::string::npos) << bad.out;
  fs::remove_all(dir);
}

namespace {

// The same data seen by a detector whose axes are swapped (transposed patterns): detector x =
// scan y and detector y = scan x, i.e. the scan rotation 270° with the detector x mirrored.
autostem::FourDStem transposed(const autostem::FourDStem& d) {
  autostem::FourDStem t = d;
  for (std::size_t r = 0; r < d.rows(); ++r)
    for (std::size_t c = 0; c < d.cols(); ++c) {
      const auto src = d.pattern(r, c);
      auto dst = t.pattern(r, c);
      for (std::size_t i = 0; i < d.ky(); ++i)
        for (std::size_t j = 0; j < d.kx(); ++j) dst[i * d.kx() + j] = src[j * d.kx() + i];
    }
  return t;
}

double json_angle_error_deg(double got, double want) {
  const double e = std::fmod(std::abs(got - want), 360.0);
  return std::min(e, 360.0 - e);
}

}  // namespace

// A strain along the scan's x shows as εyy on a transposed detector; --scan-rotation 270:flip
// (what autostem dpc finds for such a detector) puts it back along x, and the printed specs carry
// the rotation.
TEST(CliStrain, ScanRotationTurnsTheStrainToTheScanAxes) {
  const auto gt = strained_phantom();
  const fs::path dir = temp_dir() / "rot";
  fs::create_directories(dir);
  const fs::path file = dir / "nbed_t.hspy";
  write_4d(file, transposed(*gt.four_d));
  const auto p95 = [](const nlohmann::json& j, const char* m) { return j["maps"][m]["p95"].get<double>(); };
  const auto raw = run_cli("strain '" + file.string() + "' --reference 0:2:0:12 --json");
  ASSERT_EQ(raw.status, 0) << raw.out;
  const auto jr = autostem::testing::last_json(raw.out);
  EXPECT_NEAR(p95(jr, "strain_yy"), 0.01, 0.002) << raw.out;
  EXPECT_NEAR(p95(jr, "strain_xx"), 0.0, 0.002) << raw.out;
  const auto fixed = run_cli("strain '" + file.string() + "' --reference 0:2:0:12 --scan-rotation 270:flip --json");
  ASSERT_EQ(fixed.status, 0) << fixed.out;
  const auto jf = autostem::testing::last_json(fixed.out);
  EXPECT_NEAR(p95(jf, "strain_xx"), 0.01, 0.002) << fixed.out;
  EXPECT_NEAR(p95(jf, "strain_yy"), 0.0, 0.002) << fixed.out;
  // The spec with the rotation gives the scan-frame strain of one pattern.
  const std::string spec = jf["maps"]["strain_xx"]["spec"];
  EXPECT_NE(spec.find(":270.0000:flip"), std::string::npos) << spec;
  const auto t = transposed(*gt.four_d);
  double centre = 0;
  for (std::size_t r0 : {5, 6})
    for (std::size_t c0 : {5, 6}) centre += autostem::make_scalarizer(spec, {})->evaluate(t.pattern(r0, c0), t.ky(), t.kx()) / 4;
  EXPECT_NEAR(centre, 0.01, 0.002) << spec;
  const auto bad = run_cli("strain '" + file.string() + "' --scan-rotation 30:mirror");
  EXPECT_EQ(bad.status, 2) << bad.out;
  EXPECT_NE(bad.out.find("DEG or DEG:flip"), std::string::npos) << bad.out;
  fs::remove_all(dir);
}

// autostem dpc on atomic-resolution DPC data (graphene, α = 25 mrad): the detector's own axes give
// 0° and no flip; a transposed detector gives 270° with flip; the maps are written as .hspy.
TEST(CliDpc, ScanRotationOfAGrapheneScanAndItsTransposedDetector) {
  const auto gt = autostem::testing::graphene_dpc_phantom();
  const fs::path dir = temp_dir() / "dpc";
  fs::create_directories(dir);
  write_4d(dir / "own.hspy", *gt.four_d);
  write_4d(dir / "swapped.hspy", transposed(*gt.four_d));
  const auto own = run_cli("dpc '" + (dir / "own.hspy").string() + "' --json --out '" + (dir / "maps").string() + "'");
  ASSERT_EQ(own.status, 0) << own.out;
  const auto jo = autostem::testing::last_json(own.out);
  EXPECT_FALSE(jo["flip"].get<bool>()) << own.out;
  EXPECT_LT(json_angle_error_deg(jo["rotation_deg"].get<double>(), 0.0), 0.5) << own.out;
  for (const char* m : {"com_x", "com_y", "com_mag", "icom", "adf"})
    EXPECT_TRUE(fs::exists(dir / "maps" / (std::string(m) + ".hspy"))) << m;
  const auto sw = run_cli("dpc '" + (dir / "swapped.hspy").string() + "' --json");
  ASSERT_EQ(sw.status, 0) << sw.out;
  const auto js = autostem::testing::last_json(sw.out);
  EXPECT_TRUE(js["flip"].get<bool>()) << sw.out;
  EXPECT_LT(json_angle_error_deg(js["rotation_deg"].get<double>(), 270.0), 0.5) << sw.out;
  EXPECT_LT(js["curl_rms_scan_axes"].get<double>(), 0.2 * js["curl_rms_detector_axes"].get<double>()) << sw.out;
  // Text output names the option for strain; a malformed rotation is refused.
  const auto text = run_cli("dpc '" + (dir / "swapped.hspy").string() + "'");
  ASSERT_EQ(text.status, 0) << text.out;
  const auto at = text.out.find("--scan-rotation ");
  ASSERT_NE(at, std::string::npos) << text.out;
  const std::string given = text.out.substr(at + 16, text.out.find('\n', at) - at - 16);
  EXPECT_LT(json_angle_error_deg(std::stod(given), 270.0), 0.5) << given;
  EXPECT_NE(given.find(":flip"), std::string::npos) << given;
  const auto bad = run_cli("dpc '" + (dir / "own.hspy").string() + "' --rotation sideways");
  EXPECT_EQ(bad.status, 2) << bad.out;
  // --mask takes the com_* scalarizers' annulus; a malformed one is refused with the expected form.
  const auto masked = run_cli("dpc '" + (dir / "own.hspy").string() + "' --mask 0:20 --json");
  EXPECT_EQ(masked.status, 0) << masked.out;
  const auto bad_mask = run_cli("dpc '" + (dir / "own.hspy").string() + "' --mask 5");
  EXPECT_EQ(bad_mask.status, 2) << bad_mask.out;
  EXPECT_NE(bad_mask.out.find("R_IN:R_OUT[:CY:CX]"), std::string::npos) << bad_mask.out;
  fs::remove_all(dir);
}
