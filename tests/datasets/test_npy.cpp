// NumPy .npy reader (NEP 1) on the real graphene files and on hand-made headers.
#include <autostem/datasets/npy.hpp>

#include <gtest/gtest.h>
#include <test_data.hpp>

#include <algorithm>
#include <cstring>
#include <fstream>

#include <unistd.h>

namespace ds = autostem::datasets;
namespace fs = std::filesystem;

namespace {

fs::path temp_path(const std::string& name) {
  return fs::temp_directory_path() / ("autostem_test_npy_" + std::to_string(::getpid()) + "_" + name);
}

// Writes magic + version + header (padded to 64 bytes per NEP 1) + payload.
void write_npy_raw(const fs::path& p, int major, std::string header, const std::string& payload) {
  const std::size_t prefix = major == 1 ? 10 : 12;
  const std::size_t total = prefix + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::string out = std::string("\x93NUMPY", 6) + static_cast<char>(major) + '\0';
  const auto n = static_cast<std::uint32_t>(header.size());
  out += static_cast<char>(n & 0xff);
  out += static_cast<char>((n >> 8) & 0xff);
  if (major != 1) {
    out += static_cast<char>((n >> 16) & 0xff);
    out += static_cast<char>((n >> 24) & 0xff);
  }
  std::ofstream(p, std::ios::binary) << out << header << payload;
}

}  // namespace

TEST(Npy, GrapheneSiFloat64) {
  // MANIFEST: 256×256 float64, values 0…200.
  AUTOSTEM_REQUIRE_DATA(path, "haadf/graphene/G-Si-2nm.npy");
  const ds::Signal s = ds::read_signal(path);
  EXPECT_EQ(s.dtype, ds::DType::float64);
  ASSERT_EQ(s.shape(), (std::vector<std::size_t>{256, 256}));
  const auto v = s.to_double();
  auto [lo, hi] = std::minmax_element(v.begin(), v.end());
  EXPECT_NEAR(*lo, 0.0, 1e-9);
  EXPECT_NEAR(*hi, 200.0, 1e-9);
  EXPECT_EQ(s.title, "G-Si-2nm");
  EXPECT_EQ(s.axes[0].scale, 1.0);  // uncalibrated
}

TEST(Npy, GrainBoundaryFloat32) {
  // MANIFEST: 512×512 float32.
  AUTOSTEM_REQUIRE_DATA(path, "haadf/graphene/G-GrainBoundary-4nm.npy");
  const ds::Signal s = ds::read_signal(path);
  EXPECT_EQ(s.dtype, ds::DType::float32);
  ASSERT_EQ(s.shape(), (std::vector<std::size_t>{512, 512}));
  const auto v = s.to_float();
  EXPECT_TRUE(std::all_of(v.begin(), v.end(), [](float x) { return std::isfinite(x); }));
}

TEST(Npy, BigEndianAndFortranOrder) {
  const fs::path p = temp_path("be_f.npy");
  // shape (2, 3) int32 big-endian, Fortran order: memory holds columns, a[i][j] = 10 i + j.
  std::string payload;
  for (int j = 0; j < 3; ++j)
    for (int i = 0; i < 2; ++i) {
      const std::int32_t v = 10 * i + j - 5;
      const auto u = static_cast<std::uint32_t>(v);
      payload += static_cast<char>(u >> 24);
      payload += static_cast<char>((u >> 16) & 0xff);
      payload += static_cast<char>((u >> 8) & 0xff);
      payload += static_cast<char>(u & 0xff);
    }
  write_npy_raw(p, 1, "{'descr': '>i4', 'fortran_order': True, 'shape': (2, 3), }", payload);
  const ds::Signal s = ds::read_npy(p);
  EXPECT_EQ(s.dtype, ds::DType::int32);
  ASSERT_EQ(s.shape(), (std::vector<std::size_t>{2, 3}));
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j) EXPECT_EQ(s.value(static_cast<std::size_t>(i * 3 + j)), 10 * i + j - 5);
  fs::remove(p);
}

TEST(Npy, Version2And3Headers1DAndHalf) {
  const fs::path p = temp_path("v2.npy");
  std::string payload;
  for (std::uint16_t h : {0x3c00, 0xc000, 0x3800}) {  // float16 1.0, −2.0, 0.5
    payload += static_cast<char>(h & 0xff);
    payload += static_cast<char>(h >> 8);
  }
  write_npy_raw(p, 2, "{'descr': '<f2', 'fortran_order': False, 'shape': (3,), }", payload);
  ds::Signal s = ds::read_npy(p);
  EXPECT_EQ(s.dtype, ds::DType::float32);
  ASSERT_EQ(s.shape(), (std::vector<std::size_t>{3}));
  EXPECT_EQ(s.value(0), 1.0);
  EXPECT_EQ(s.value(1), -2.0);
  EXPECT_EQ(s.value(2), 0.5);

  std::string u16;
  for (std::uint16_t v : {1, 2, 65535, 4}) {
    u16 += static_cast<char>(v & 0xff);
    u16 += static_cast<char>(v >> 8);
  }
  write_npy_raw(p, 3, "{\"descr\": \"<u2\", \"fortran_order\": False, \"shape\": (2, 2)}", u16);
  s = ds::read_npy(p);
  EXPECT_EQ(s.dtype, ds::DType::uint16);
  EXPECT_EQ(s.value(2), 65535.0);
  fs::remove(p);
}

TEST(Npy, WriterRoundTrip) {
  const fs::path p = temp_path("rt.npy");
  ds::Signal s;
  s.dtype = ds::DType::complex128;
  s.axes = {{"", "", 0, 1, 2, false}, {"", "", 0, 1, 2, false}};
  const std::complex<double> z[4] = {{1, 2}, {3, 4}, {-5, 6}, {7, -8}};
  s.bytes.resize(sizeof z);
  std::memcpy(s.bytes.data(), z, sizeof z);
  ds::write_npy(p, s);
  EXPECT_EQ(ds::detect_format(p), ds::FileFormat::npy);
  const ds::Signal r = ds::read_signal(p);
  EXPECT_EQ(r.dtype, ds::DType::complex128);
  EXPECT_EQ(r.bytes, s.bytes);
  EXPECT_EQ(r.shape(), s.shape());
  fs::remove(p);
}

TEST(Npy, ErrorsNameFileAndProblem) {
  const fs::path p = temp_path("bad.npy");
  write_npy_raw(p, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (100, 100), }", "short");
  try {
    ds::read_npy(p);
    ADD_FAILURE();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(p.string()), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
  }
  write_npy_raw(p, 1, "{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (1,), }", std::string(8, '\0'));
  EXPECT_THROW(ds::read_npy(p), std::runtime_error);
  write_npy_raw(p, 7, "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }", std::string(8, '\0'));
  try {
    ds::read_npy(p);
    ADD_FAILURE();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("version 7"), std::string::npos) << e.what();
  }
  fs::remove(p);
}
