// `autostem atoms` end to end (issue 9): the graphene and SrTiO3 images of MANIFEST.md, the CSV
// and overlay it leaves, and the one-line errors for bad input.
#include <autostem/datasets/npy.hpp>

#include "test_data.hpp"

#include "cli_runner.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <utility>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace {

using Result = autostem::testing::CliResult;
using autostem::testing::run_cli;

fs::path temp_file(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("autostem_cli_atoms_" + std::to_string(getpid()));
  fs::create_directories(dir);
  return dir / name;
}

std::vector<std::string> lines(const fs::path& p) {
  std::ifstream f(p);
  std::vector<std::string> out;
  for (std::string l; std::getline(f, l);) out.push_back(l);
  return out;
}

fs::path write_array(const std::string& name, const std::vector<std::size_t>& shape, double value) {
  autostem::datasets::Signal s;
  s.dtype = autostem::datasets::DType::float64;
  std::size_t n = 1;
  for (std::size_t d : shape) {
    autostem::AxisCalibration a;
    a.size = d;
    s.axes.push_back(a);
    n *= d;
  }
  s.bytes.resize(n * sizeof(double));
  for (std::size_t i = 0; i < n; ++i) std::memcpy(s.bytes.data() + i * sizeof(double), &value, sizeof(double));
  const fs::path p = temp_file(name);
  autostem::datasets::write_npy(p, s);
  return p;
}

const char* kHeader = "row_px,col_px,class,probability,uncertainty";

}  // namespace

// MANIFEST.md: G-Si-2nm.npy holds 140 atoms (AtomNet labels), one of them a Si dopant.
TEST(CliAtoms, GrapheneCsvAndOverlay) {
  AUTOSTEM_REQUIRE_DATA(img, "haadf/graphene/G-Si-2nm.npy");
  const fs::path csv = temp_file("gsi.csv");
  const auto r = run_cli("atoms '" + img.string() + "' --out '" + csv.string() + "'");
  ASSERT_EQ(r.status, 0) << r.out;
  const auto l = lines(csv);
  ASSERT_FALSE(l.empty());
  EXPECT_EQ(l[0], kHeader);
  // The LoG baseline finds 152 candidates for the 140 atoms (see tests/imaging/test_atoms.cpp).
  EXPECT_GT(l.size() - 1, 120u) << r.out;
  EXPECT_LT(l.size() - 1, 175u) << r.out;
  EXPECT_NE(r.out.find("atoms in"), std::string::npos) << r.out;
  if (fs::exists("/usr/bin/gnuplot")) {
    EXPECT_TRUE(fs::exists(fs::path(csv).replace_extension(".png"))) << r.out;
    EXPECT_GT(fs::file_size(fs::path(csv).replace_extension(".png")), 1000u);
  }
}

// MANIFEST.md: the SrTiO3 ADF image (HyperSpy HDF5); classify=otsu gives A (0) and B (1) columns.
TEST(CliAtoms, SrTiO3TwoClassesFromHdf5) {
  AUTOSTEM_REQUIRE_DATA(img, "haadf/atomap_sto/test_ADF_cropped.hdf5");
  const fs::path csv = temp_file("sto.csv");
  const auto r = run_cli("atoms '" + img.string() + "' --param classify=otsu --no-png --out '" + csv.string() + "'");
  ASSERT_EQ(r.status, 0) << r.out;
  std::size_t a = 0, b = 0;
  const auto l = lines(csv);
  for (std::size_t i = 1; i < l.size(); ++i) {
    const auto f = l[i].find(',', l[i].find(',') + 1);
    (l[i][f + 1] == '0' ? a : b)++;
  }
  EXPECT_GT(a, 100u);
  EXPECT_GT(b, 100u);
  EXPECT_FALSE(fs::exists(fs::path(csv).replace_extension(".png")));
}

// Issue 15: G-Si-2nm with a saturating disc (radius 70 px, 3 × the maximum, centre (180, 170)).
// The regions that are not lattice are written beside the CSV (OUT_regions.npy, uint8, same
// shape: 1 = bright at the disc, 0 = lattice far from it) and no atom is reported inside the disc.
TEST(CliAtoms, RegionsThatAreNotLatticeAreWrittenAsAMask) {
  AUTOSTEM_REQUIRE_DATA(img, "haadf/graphene/G-Si-2nm.npy");
  auto sig = autostem::datasets::read_npy(img);
  ASSERT_EQ(sig.dtype, autostem::datasets::DType::float64);
  const auto shape = sig.shape();
  ASSERT_EQ(shape.size(), 2u);
  const std::size_t rows = shape[0], cols = shape[1];
  auto v = sig.to_double();
  const double top = 3.0 * *std::max_element(v.begin(), v.end());
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t c = 0; c < cols; ++c)
      if (std::hypot(static_cast<double>(r) - 180.0, static_cast<double>(c) - 170.0) <= 70.0) v[r * cols + c] = top;
  std::memcpy(sig.bytes.data(), v.data(), v.size() * sizeof(double));
  const fs::path blob = temp_file("gsi_blob.npy");
  autostem::datasets::write_npy(blob, sig);
  const fs::path csv = temp_file("gsi_blob.csv");
  const auto r = run_cli("atoms '" + blob.string() + "' --no-png --out '" + csv.string() + "'");
  ASSERT_EQ(r.status, 0) << r.out;
  const fs::path mask = temp_file("gsi_blob_regions.npy");
  ASSERT_TRUE(fs::exists(mask)) << r.out;
  EXPECT_NE(r.out.find("regions: "), std::string::npos) << r.out;
  const auto m = autostem::datasets::read_npy(mask);
  EXPECT_EQ(m.dtype, autostem::datasets::DType::uint8);
  ASSERT_EQ(m.shape(), shape);
  EXPECT_EQ(m.value(180 * cols + 170), 1.0);  // bright, at the disc's centre
  EXPECT_EQ(m.value(30 * cols + 30), 0.0);    // lattice, far from it
  std::size_t inside = 0, total = 0;
  const auto l = lines(csv);
  for (std::size_t i = 1; i < l.size(); ++i) {
    double row = 0, col = 0;
    ASSERT_EQ(std::sscanf(l[i].c_str(), "%lf,%lf", &row, &col), 2) << l[i];
    ++total;
    inside += std::hypot(row - 180.0, col - 170.0) <= 70.0;
  }
  EXPECT_GT(total, 60u) << r.out;  // the lattice part holds ≈ 110 of the image's atoms
  EXPECT_EQ(inside, 0u);
  // --regions names the file; mask=none writes none
  const fs::path named = temp_file("named_regions.npy");
  EXPECT_EQ(run_cli("atoms '" + blob.string() + "' --no-png --regions '" + named.string() + "' --out '" +
                    temp_file("b2.csv").string() + "'").status, 0);
  EXPECT_TRUE(fs::exists(named));
  const auto none = run_cli("atoms '" + blob.string() + "' --no-png --param mask=none --out '" +
                            temp_file("b3.csv").string() + "'");
  EXPECT_EQ(none.status, 0) << none.out;
  EXPECT_FALSE(fs::exists(temp_file("b3_regions.npy")));
}

TEST(CliAtoms, NoAtomsStillWritesTheHeader) {
  const fs::path flat = write_array("flat.npy", {64, 64}, 3.0);
  const fs::path csv = temp_file("flat.csv");
  const auto r = run_cli("atoms '" + flat.string() + "' --out '" + csv.string() + "'");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("no atoms found"), std::string::npos) << r.out;
  const auto l = lines(csv);
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(l[0], kHeader);
}

TEST(CliAtoms, BadInputGivesOneLineErrors) {
  const fs::path cube = write_array("cube.npy", {4, 16, 16}, 1.0);
  auto r = run_cli("atoms '" + cube.string() + "' --out '" + temp_file("x.csv").string() + "'");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("3-D"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("expected a 2-D image"), std::string::npos) << r.out;

  const fs::path empty = write_array("empty.npy", {0, 16}, 1.0);
  r = run_cli("atoms '" + empty.string() + "' --out '" + temp_file("x.csv").string() + "'");
  EXPECT_NE(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("empty"), std::string::npos) << r.out;

  const fs::path flat = write_array("flat2.npy", {32, 32}, 1.0);
  r = run_cli("atoms '" + flat.string() + "' --method magic --out '" + temp_file("x.csv").string() + "'");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("unknown --method 'magic'"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("log"), std::string::npos) << r.out;

  r = run_cli("atoms '" + flat.string() + "' --model /nonexistent/model --out '" + temp_file("x.csv").string() + "'");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("no such directory"), std::string::npos) << r.out;

  r = run_cli("atoms /nonexistent/image.npy --out '" + temp_file("x.csv").string() + "'");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("image.npy"), std::string::npos) << r.out;

  r = run_cli("atoms '" + flat.string() + "' --param sigma_px --out '" + temp_file("x.csv").string() + "'");
  EXPECT_EQ(r.status, 2) << r.out;
}

// The atom plan strategy in `autostem run`: on the lattice phantom it measures the defects; on a
// survey without atoms (the nanowire phantom at 64×64 px: 3 nm pixels) it ends cleanly and says so.
TEST(CliAtoms, RunOnLatticeAndWithoutAtoms) {
  auto r = run_cli("run --phantom lattice --strategy atoms --param target=defects --seed 4 --out '" +
                   temp_file("lat.h5").string() + "'");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("atoms found (finder log"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("no atoms found"), std::string::npos) << r.out;
  r = run_cli("run --phantom nanowire --phantom-shape 64x64 --strategy atoms --seed 1 --out '" + temp_file("nw.h5").string() + "'");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("no atoms found in the survey"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("measurements            0"), std::string::npos) << r.out;
}

namespace {
std::string file_bytes(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}
}  // namespace

// `autostem train-atoms` (issue 15): the microscope recipe (contaminated, vacuum-edged,
// gradient-laden phantoms) is reproducible — the same seed writes byte-identical weights, another
// seed other weights; a bad recipe is a one-line usage error. Tiny settings so that it runs in
// seconds; the shipped models use the defaults (docs/dcnn.md).
TEST(CliTrainAtoms, SameSeedSameWeights) {
  const std::string common = " --kind graphene --ensemble 2 --widths 2-4 --iterations 4 --images 6 --recipe microscope";
  const auto a = temp_file("train_a"), b = temp_file("train_b"), c = temp_file("train_c");
  for (const auto& [dir, seed] : {std::pair{a, 3}, std::pair{b, 3}, std::pair{c, 4}}) {
    fs::remove_all(dir);
    const auto r = run_cli("train-atoms --out '" + dir.string() + "' --seed " + std::to_string(seed) + common);
    ASSERT_EQ(r.status, 0) << r.out;
    ASSERT_TRUE(fs::exists(dir / "graphene" / "weights.pt")) << r.out;
  }
  EXPECT_EQ(file_bytes(a / "graphene" / "weights.pt"), file_bytes(b / "graphene" / "weights.pt"));
  EXPECT_NE(file_bytes(a / "graphene" / "weights.pt"), file_bytes(c / "graphene" / "weights.pt"));
  EXPECT_NE(file_bytes(a / "graphene" / "manifest.json").find("\"recipe\": \"microscope\""), std::string::npos);
  const auto bad = run_cli("train-atoms --out '" + a.string() + "' --recipe dirty");
  EXPECT_EQ(bad.status, 2) << bad.out;
  EXPECT_NE(bad.out.find("--recipe"), std::string::npos) << bad.out;
  // The perovskite phantoms' projection mix and Z-exponent range (issue 15) are checked too.
  const auto bad_z = run_cli("train-atoms --out '" + a.string() + "' --kind perovskite --z-exponent 2.0-1.2");
  EXPECT_EQ(bad_z.status, 2) << bad_z.out;
  EXPECT_NE(bad_z.out.find("--z-exponent"), std::string::npos) << bad_z.out;
  const auto bad_p = run_cli("train-atoms --out '" + a.string() + "' --kind perovskite --p110 1.5");
  EXPECT_EQ(bad_p.status, 2) << bad_p.out;
  EXPECT_NE(bad_p.out.find("--p110"), std::string::npos) << bad_p.out;
  for (const auto& d : {a, b, c}) fs::remove_all(d);
}
