// HyperSpy .hspy reader and writer, on the real files of MANIFEST.md and on round trips.
#include <autostem/datasets/hspy.hpp>

#include <hdf5.h>

#include <gtest/gtest.h>
#include <test_data.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include <unistd.h>

namespace ds = autostem::datasets;
namespace fs = std::filesystem;

namespace {

fs::path temp_path(const std::string& name) {
  return fs::temp_directory_path() / ("autostem_test_hspy_" + std::to_string(::getpid()) + "_" + name);
}

std::pair<double, double> min_max(const ds::Signal& s) {
  auto v = s.to_double();
  auto [lo, hi] = std::minmax_element(v.begin(), v.end());
  return {*lo, *hi};
}

// A python3 with h5py, or "" (h5py is optional: python3-h5py on Debian).
std::string python_with_h5py() {
  for (const char* py : {"/usr/bin/python3", "python3"}) {
    const std::string cmd = std::string(py) + " -c 'import h5py' >/dev/null 2>&1";
    if (std::system(cmd.c_str()) == 0) return py;
  }
  return "";
}

}  // namespace

TEST(Hspy, CuZnSpectrumImage) {
  // MANIFEST: (50, 40, 162) int16 (y, x, E); 0.9214 nm/px; E = 700 eV + 8 eV/ch; values 65…19288.
  AUTOSTEM_REQUIRE_DATA(path, "eels/cuzn_si/CuZn_EELS_mapping_tutorial.hspy");
  const ds::Signal s = ds::read_signal(path);
  EXPECT_EQ(s.dtype, ds::DType::int16);
  ASSERT_EQ(s.shape(), (std::vector<std::size_t>{50, 40, 162}));
  EXPECT_EQ(s.title, "EELS Spectrum Image");
  EXPECT_EQ(s.signal_type, "EELS");
  EXPECT_EQ(s.axes[0].name, "y");
  EXPECT_EQ(s.axes[1].name, "x");
  EXPECT_NEAR(s.axes[0].scale, 0.9214, 5e-5);
  EXPECT_NEAR(s.axes[1].scale, 0.9214, 5e-5);
  EXPECT_EQ(s.axes[0].units, "nm");
  EXPECT_TRUE(s.axes[0].navigate);
  EXPECT_TRUE(s.axes[1].navigate);
  EXPECT_FALSE(s.axes[2].navigate);
  EXPECT_EQ(s.axes[2].units, "eV");
  EXPECT_DOUBLE_EQ(s.axes[2].offset, 700.0);
  EXPECT_DOUBLE_EQ(s.axes[2].scale, 8.0);
  auto [lo, hi] = min_max(s);
  EXPECT_EQ(lo, 65.0);
  EXPECT_EQ(hi, 19288.0);
  EXPECT_EQ(s.metadata.at("Acquisition_instrument.TEM.beam_energy"), "200");
  EXPECT_EQ(s.metadata.at("Acquisition_instrument.TEM.microscope"), "JEOL ARM200F");
  EXPECT_EQ(s.metadata.at("Acquisition_instrument.TEM.Detector.EELS.collection_angle"), "36");
}

TEST(Hspy, CuZnHaadf) {
  // MANIFEST: (50, 40) uint16, 0.9214 nm/px, values 0…2352.
  AUTOSTEM_REQUIRE_DATA(path, "eels/cuzn_si/CuZn_HAADF.hspy");
  const ds::Signal s = ds::read_signal(path);
  EXPECT_EQ(s.dtype, ds::DType::uint16);
  ASSERT_EQ(s.shape(), (std::vector<std::size_t>{50, 40}));
  EXPECT_EQ(s.title, "Gatan HAADF");
  auto [lo, hi] = min_max(s);
  EXPECT_EQ(lo, 0.0);
  EXPECT_EQ(hi, 2352.0);
}

TEST(Hspy, AtomapFloat16) {
  // MANIFEST: (400, 380) float16, 9.326 pm/px (stored as 0.009326 with no units).
  AUTOSTEM_REQUIRE_DATA(path, "haadf/atomap_sto/test_ADF_cropped.hdf5");
  const ds::Signal s = ds::read_signal(path);
  EXPECT_EQ(s.dtype, ds::DType::float32);  // float16 widened by HDF5's conversion
  ASSERT_EQ(s.shape(), (std::vector<std::size_t>{400, 380}));
  EXPECT_NEAR(s.axes[1].scale * 1000.0, 9.326, 5e-4);
  EXPECT_EQ(s.title, "");  // "__unnamed__" in the file
  auto v = s.to_float();
  EXPECT_TRUE(std::all_of(v.begin(), v.end(), [](float x) { return std::isfinite(x); }));
  auto [lo, hi] = min_max(s);
  EXPECT_LT(lo, hi);
}

TEST(Hspy, LowLossLineScanHasZeroLossPeakNearZero) {
  // MANIFEST: (10, 512) float32, E = −50 eV + 1 eV/ch; zero-loss peak near 0 eV.
  AUTOSTEM_REQUIRE_DATA(path, "eels/lsmo_sto_linescan/LSMO_STO_linescan_low_loss.hspy");
  const ds::Signal s = ds::read_signal(path);
  ASSERT_EQ(s.shape(), (std::vector<std::size_t>{10, 512}));
  EXPECT_EQ(s.dtype, ds::DType::float32);
  EXPECT_DOUBLE_EQ(s.axes[1].offset, -50.0);
  const auto v = s.to_double();
  std::vector<double> sum(512, 0.0);
  for (std::size_t i = 0; i < 10; ++i)
    for (std::size_t k = 0; k < 512; ++k) sum[k] += v[i * 512 + k];
  const auto peak = static_cast<double>(std::max_element(sum.begin(), sum.end()) - sum.begin());
  EXPECT_NEAR(s.axes[1].value(peak), 0.0, 2.0);
  EXPECT_NEAR(std::stod(s.metadata.at("Acquisition_instrument.TEM.dwell_time")), 9.4427e-05, 1e-8);
}

TEST(Hspy, RoundTripKeepsDtypeAxesValuesMetadata) {
  const fs::path p = temp_path("roundtrip.hspy");
  for (ds::DType t : {ds::DType::int16, ds::DType::uint16, ds::DType::uint8, ds::DType::int64,
                      ds::DType::float32, ds::DType::float64, ds::DType::complex64, ds::DType::boolean}) {
    ds::Signal s;
    s.title = "Round trip";
    s.signal_type = "EELS";
    s.dtype = t;
    s.axes = {{"y", "nm", 1.0, 0.5, 3, true}, {"x", "µm", -2.0, 0.25, 4, true}, {"Energy loss", "eV", 700.0, 8.0, 5, false}};
    s.bytes.resize(s.size() * ds::dtype_size(t));
    for (std::size_t i = 0; i < s.size(); ++i) {
      std::byte* b = s.bytes.data() + i * ds::dtype_size(t);
      switch (t) {
        case ds::DType::int16: { std::int16_t v = static_cast<std::int16_t>(i * 7) - 20; std::memcpy(b, &v, 2); break; }
        case ds::DType::uint16: { std::uint16_t v = static_cast<std::uint16_t>(i * 1000); std::memcpy(b, &v, 2); break; }
        case ds::DType::uint8: { std::uint8_t v = static_cast<std::uint8_t>(i); std::memcpy(b, &v, 1); break; }
        case ds::DType::int64: { std::int64_t v = static_cast<std::int64_t>(i) * 10000000000LL; std::memcpy(b, &v, 8); break; }
        case ds::DType::float32: { float v = 0.5f * static_cast<float>(i); std::memcpy(b, &v, 4); break; }
        case ds::DType::float64: { double v = 0.1 * static_cast<double>(i); std::memcpy(b, &v, 8); break; }
        case ds::DType::complex64: { std::complex<float> v(static_cast<float>(i), -1.0f); std::memcpy(b, &v, 8); break; }
        case ds::DType::boolean: { std::uint8_t v = i % 3 == 0; std::memcpy(b, &v, 1); break; }
        default: break;
      }
    }
    s.metadata["Acquisition_instrument.TEM.beam_energy"] = "200";
    s.metadata["Acquisition_instrument.TEM.Detector.EELS.exposure"] = "0.5";
    s.metadata["Sample.description"] = "test sample";
    ds::write_hspy(p, s);
    EXPECT_EQ(ds::detect_format(p), ds::FileFormat::hspy);
    const ds::Signal r = ds::read_signal(p);
    SCOPED_TRACE(ds::dtype_name(t));
    EXPECT_EQ(r.dtype, t);
    EXPECT_EQ(r.bytes, s.bytes);
    EXPECT_EQ(r.title, s.title);
    EXPECT_EQ(r.signal_type, "EELS");
    ASSERT_EQ(r.axes.size(), 3u);
    for (std::size_t i = 0; i < 3; ++i) {
      EXPECT_EQ(r.axes[i].name, s.axes[i].name);
      EXPECT_EQ(r.axes[i].units, s.axes[i].units);
      EXPECT_EQ(r.axes[i].offset, s.axes[i].offset);
      EXPECT_EQ(r.axes[i].scale, s.axes[i].scale);
      EXPECT_EQ(r.axes[i].size, s.axes[i].size);
      EXPECT_EQ(r.axes[i].navigate, s.axes[i].navigate);
    }
    EXPECT_EQ(r.metadata.at("Acquisition_instrument.TEM.beam_energy"), "200");
    EXPECT_EQ(r.metadata.at("Acquisition_instrument.TEM.Detector.EELS.exposure"), "0.5");
    EXPECT_EQ(r.metadata.at("Sample.description"), "test sample");
  }
  fs::remove(p);
}

TEST(Hspy, WrittenFileReadsWithH5py) {
  const std::string py = python_with_h5py();
  if (py.empty()) AUTOSTEM_SKIP_OR_FAIL("python3 with h5py not available (Debian python3-h5py)");
  const fs::path p = temp_path("h5py.hspy");
  ds::Signal s;
  s.title = "EELS map";
  s.signal_type = "EELS";
  s.dtype = ds::DType::float32;
  s.axes = {{"y", "nm", 0.0, 1.5, 2, true}, {"x", "nm", 0.0, 1.5, 3, true}, {"Energy loss", "eV", -5.0, 0.2, 4, false}};
  std::vector<float> v(24);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i);
  s.bytes.resize(v.size() * 4);
  std::memcpy(s.bytes.data(), v.data(), s.bytes.size());
  ds::write_hspy(p, s);
  const std::string script =
      "import h5py, sys\n"
      "f = h5py.File(sys.argv[1], 'r')\n"
      "assert f.attrs['file_format'] == 'HyperSpy', f.attrs['file_format']\n"
      "assert f.attrs['file_format_version'] == '3.1'\n"
      "g = f['Experiments/EELS map']\n"
      "d = g['data'][()]\n"
      "assert d.shape == (2, 3, 4) and str(d.dtype) == 'float32', (d.shape, d.dtype)\n"
      "assert d[1, 2, 3] == 23.0\n"
      "a = g['axis-2'].attrs\n"
      "assert a['name'] == 'Energy loss' and a['units'] == 'eV'\n"
      "assert a['offset'] == -5.0 and abs(a['scale'] - 0.2) < 1e-12 and a['size'] == 4\n"
      "assert a['navigate'] is False or str(a['navigate']) == 'False', repr(a['navigate'])\n"
      "assert type(g['axis-0'].attrs['navigate']).__name__ == 'bool_'\n"
      "assert g['metadata/General'].attrs['title'] == 'EELS map'\n"
      "assert g['metadata/Signal'].attrs['signal_type'] == 'EELS'\n";
  const fs::path sp = temp_path("check.py");
  std::ofstream(sp) << script;
  const std::string cmd = py + " " + sp.string() + " '" + p.string() + "'";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  fs::remove(sp);
  fs::remove(p);
}

TEST(Hspy, MissingAxisNamesFileAndAxis) {
  const fs::path p = temp_path("noaxis.hspy");
  ds::Signal s;
  s.title = "t";
  s.dtype = ds::DType::uint8;
  s.axes = {{"y", "", 0.0, 1.0, 2, false}, {"x", "", 0.0, 1.0, 2, false}};
  s.bytes.resize(4);
  ds::write_hspy(p, s);
  {
    hid_t f = H5Fopen(p.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ASSERT_GE(f, 0);
    ASSERT_GE(H5Ldelete(f, "Experiments/t/axis-1", H5P_DEFAULT), 0);
    H5Fclose(f);
  }
  try {
    ds::read_signal(p);
    ADD_FAILURE() << "expected an exception";
  } catch (const std::runtime_error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(p.string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("axis-1"), std::string::npos) << msg;
  }
  fs::remove(p);
}

TEST(Hspy, WriterRejectsInconsistentSignal) {
  ds::Signal s;
  s.dtype = ds::DType::float32;
  s.axes = {{"x", "", 0.0, 1.0, 4, false}};
  s.bytes.resize(3);  // needs 16
  EXPECT_THROW(ds::write_hspy(temp_path("bad.hspy"), s), std::invalid_argument);
  s.dtype = ds::DType::rgba8;
  s.bytes.resize(15);  // needs 16
  EXPECT_THROW(ds::write_hspy(temp_path("bad.hspy"), s), std::invalid_argument);
}

// RGB(A) DM images (issue 21): written as HyperSpy writes rgba8 — an HDF5 compound {R, G, B, A}
// of uint8 (hyperspy.misc.rgb_tools) — and read back as rgba8. hs.load of such a file is checked
// against hs.load of the DM originals in tests/apps/test_convert_hyperspy.py.
TEST(Hspy, Rgba8RoundTripsAsHyperSpysCompound) {
  ds::Signal s;
  s.title = "rgb";
  s.dtype = ds::DType::rgba8;
  s.axes = {{"y", "", 0.0, 1.0, 2, false}, {"x", "", 0.0, 1.0, 2, false}};
  for (int i = 0; i < 4; ++i)
    for (int c = 0; c < 4; ++c) s.bytes.push_back(static_cast<std::byte>(10 * i + c));
  const fs::path p = temp_path("rgba.hspy");
  ds::write_hspy(p, s);
  const ds::Signal back = ds::read_signal(p);
  EXPECT_EQ(back.dtype, ds::DType::rgba8);
  ASSERT_EQ(back.shape(), (std::vector<std::size_t>{2, 2}));
  EXPECT_EQ(back.bytes, s.bytes);
  EXPECT_DOUBLE_EQ(back.value(3), 30.0);  // R of the last pixel
  fs::remove(p);
}
