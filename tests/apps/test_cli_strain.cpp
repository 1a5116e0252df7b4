// `autostem strain` end to end (issue 19): an NBED 4D-STEM phantom with a disc of 1 % applied
// εxx, written as a 4D HyperSpy file; the command finds the central disc's radius, the reference
// lattice of an unstrained band of the scan, the strain inside the disc, prints the strain_*
// scalarizer specs (which make_scalarizer accepts and which give the strain of a pattern), and
// writes the four maps as .hspy.
#include <autostem/datasets/hspy.hpp>
#include <autostem/datasets/signal.hpp>
#include <autostem/imaging/scalarizer.hpp>
#include <autostem/sim/fourd_phantom.hpp>

#include "cli_runner.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

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
  const auto j = nlohmann::json::parse(r.out.substr(r.out.rfind('{', r.out.find("\"file\""))));
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
