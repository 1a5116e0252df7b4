// EMD reader: Berkeley EMD and Velox files written here with the HDF5 C API (no real EMD
// fixture is in MANIFEST.md). The Velox file is a minimal synthetic one following the published
// layout (/Data/Image/<id>/{Data (y, x, frames), Metadata (JSON as uint8, (length, frames))},
// /Data/Spectrum/<id>/…) — not a file written by Velox.
#include <autostem/datasets/formats.hpp>

#include "../isolate.hpp"
#include "formats_internal.hpp"
#include "test_data.hpp"

#include <gtest/gtest.h>
#include <hdf5.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <random>

#include <unistd.h>

namespace ad = autostem::datasets;

namespace {

std::filesystem::path tmp(const std::string& name) {
  return std::filesystem::temp_directory_path() / ("autostem_test_" + std::to_string(::getpid()) + "_" + name);
}

std::vector<std::byte> slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::vector<char> c((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> b(c.size());
  std::memcpy(b.data(), c.data(), c.size());
  return b;
}

void string_attr(hid_t obj, const char* name, const std::string& value, bool variable) {
  const hid_t t = H5Tcopy(H5T_C_S1);
  if (variable) H5Tset_size(t, H5T_VARIABLE);
  else H5Tset_size(t, value.size() + 1);
  const hid_t s = H5Screate(H5S_SCALAR);
  const hid_t a = H5Acreate2(obj, name, t, s, H5P_DEFAULT, H5P_DEFAULT);
  if (variable) {
    const char* p = value.c_str();
    H5Awrite(a, t, &p);
  } else {
    H5Awrite(a, t, value.c_str());
  }
  H5Aclose(a);
  H5Sclose(s);
  H5Tclose(t);
}

void int_attr(hid_t obj, const char* name, int value) {
  const hid_t s = H5Screate(H5S_SCALAR);
  const hid_t a = H5Acreate2(obj, name, H5T_STD_I32LE, s, H5P_DEFAULT, H5P_DEFAULT);
  H5Awrite(a, H5T_NATIVE_INT, &value);
  H5Aclose(a);
  H5Sclose(s);
}

template <class T>
hid_t dataset(hid_t loc, const char* name, hid_t file_type, hid_t mem_type, const std::vector<hsize_t>& dims,
              const std::vector<T>& data) {
  const hid_t s = H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
  const hid_t d = H5Dcreate2(loc, name, file_type, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Dwrite(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data.data());
  H5Sclose(s);
  return d;
}

// Berkeley EMD 0.2: /data/haadf (emd_group_type = 1) with data (4, 3) int16, value = 10 r + c,
// dim1 = 5 + 0.25 r nm ("y", fixed-length string attributes), dim2 = −1 + 2 c Å ("x",
// variable-length); and /data/si with a (2, 2, 5) float32 cube.
std::filesystem::path write_berkeley() {
  const auto path = tmp("berkeley.emd");
  const hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  string_attr(f, "version_major", "0", false);
  const hid_t data = H5Gcreate2(f, "data", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  const hid_t g = H5Gcreate2(data, "haadf", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  int_attr(g, "emd_group_type", 1);
  std::vector<std::int16_t> v(12);
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 3; ++c) v[static_cast<std::size_t>(r * 3 + c)] = static_cast<std::int16_t>(10 * r + c);
  H5Dclose(dataset(g, "data", H5T_STD_I16LE, H5T_NATIVE_INT16, {4, 3}, v));
  const hid_t d1 = dataset(g, "dim1", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, {4}, std::vector<double>{5, 5.25, 5.5, 5.75});
  string_attr(d1, "name", "y", false);
  string_attr(d1, "units", "[n_m]", false);
  H5Dclose(d1);
  const hid_t d2 = dataset(g, "dim2", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, {3}, std::vector<double>{-1, 1, 3});
  string_attr(d2, "name", "x", true);
  string_attr(d2, "units", "A", true);
  H5Dclose(d2);
  H5Gclose(g);
  const hid_t si = H5Gcreate2(data, "si", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  int_attr(si, "emd_group_type", 1);
  std::vector<float> cube(20);
  for (std::size_t i = 0; i < cube.size(); ++i) cube[i] = static_cast<float>(i) * 0.5f;
  H5Dclose(dataset(si, "data", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, {2, 2, 5}, cube));
  H5Gclose(si);
  H5Gclose(data);
  H5Fclose(f);
  return path;
}

void json_metadata(hid_t g, const std::string& json, hsize_t frames) {
  std::vector<std::uint8_t> m((json.size() + 16) * frames, 0);
  const hsize_t len = json.size() + 16;
  for (hsize_t f = 0; f < frames; ++f)
    for (std::size_t i = 0; i < json.size(); ++i) m[i * frames + f] = static_cast<std::uint8_t>(json[i]);
  H5Dclose(dataset(g, "Metadata", H5T_STD_U8LE, H5T_NATIVE_UINT8, {len, frames}, m));
}

std::filesystem::path write_velox() {
  const auto path = tmp("velox.emd");
  const hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  const hid_t data = H5Gcreate2(f, "Data", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  const hid_t images = H5Gcreate2(data, "Image", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  // A single-frame 3 × 4 HAADF image, value = 100 y + x.
  {
    const hid_t g = H5Gcreate2(images, "0a1b", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    std::vector<std::uint16_t> v(12);
    for (int y = 0; y < 3; ++y)
      for (int x = 0; x < 4; ++x) v[static_cast<std::size_t>(y * 4 + x)] = static_cast<std::uint16_t>(100 * y + x);
    H5Dclose(dataset(g, "Data", H5T_STD_U16LE, H5T_NATIVE_UINT16, {3, 4, 1}, v));
    json_metadata(g,
                  R"({"BinaryResult": {"Detector": "HAADF", "PixelSize": {"width": "2.5e-10", "height": "3e-10"},
                      "PixelUnitX": "m", "PixelUnitY": "m", "Offset": {"x": "-1e-9", "y": "2e-9"}},
                      "Optics": {"AccelerationVoltage": "300000"}, "Scan": {"DwellTime": "2e-06"},
                      "Escaped": "a\"b\\c\u00b5"})",
                  1);
    H5Gclose(g);
  }
  // A 2-frame 2 × 2 stack, value = 10 frame + pixel.
  {
    const hid_t g = H5Gcreate2(images, "9f", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    std::vector<float> v(8);
    for (int p = 0; p < 4; ++p)
      for (int fr = 0; fr < 2; ++fr) v[static_cast<std::size_t>(p * 2 + fr)] = static_cast<float>(10 * fr + p);
    H5Dclose(dataset(g, "Data", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, {2, 2, 2}, v));
    json_metadata(g, R"({"BinaryResult": {"Detector": "BF", "PixelSize": {"width": "1e-9", "height": "1e-9"}}})", 2);
    H5Gclose(g);
  }
  H5Gclose(images);
  const hid_t spectra = H5Gcreate2(data, "Spectrum", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  {
    const hid_t g = H5Gcreate2(spectra, "s1", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    std::vector<std::uint32_t> v(16);
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<std::uint32_t>(i * i);
    H5Dclose(dataset(g, "Data", H5T_STD_U32LE, H5T_NATIVE_UINT32, {16, 1}, v));
    json_metadata(g,
                  R"({"BinaryResult": {"Detector": "SuperXG21"}, "Detectors": {"Detector-0": {"DetectorName": "BF"},
                      "Detector-5": {"DetectorName": "SuperXG21", "OffsetEnergy": "-480", "Dispersion": "5"}}})",
                  1);
    H5Gclose(g);
  }
  H5Gclose(spectra);
  H5Gclose(data);
  H5Fclose(f);
  return path;
}

int try_parse(std::span<const std::byte> bytes) {
  try {
    const auto sigs = ad::detail::read_emd_bytes(bytes, "fuzzed.emd");
    return sigs.empty() ? 0 : 1;
  } catch (const std::exception&) {
    return 0;
  }
}

}  // namespace

TEST(EMDReader, BerkeleyDataAndDims) {
  const auto path = write_berkeley();
  for (int pass = 0; pass < 2; ++pass) {
    const auto sigs = pass == 0 ? ad::read_emd(path) : ad::detail::read_emd_bytes(slurp(path), path.string());
    ASSERT_EQ(sigs.size(), 2u);
    const auto& s = sigs[0];
    EXPECT_EQ(s.title, "haadf");
    EXPECT_EQ(s.dtype, ad::DType::int16);
    ASSERT_EQ(s.shape(), (std::vector<std::size_t>{4, 3}));
    for (std::size_t i = 0; i < 12; ++i) EXPECT_EQ(s.value(i), static_cast<double>(10 * (i / 3) + i % 3));
    EXPECT_EQ(s.axes[0].name, "y");
    EXPECT_EQ(s.axes[0].units, "[n_m]");
    EXPECT_DOUBLE_EQ(s.axes[0].offset, 5.0);
    EXPECT_DOUBLE_EQ(s.axes[0].scale, 0.25);
    EXPECT_EQ(s.axes[1].name, "x");
    EXPECT_EQ(s.axes[1].units, "A");
    EXPECT_DOUBLE_EQ(s.axes[1].offset, -1.0);
    EXPECT_DOUBLE_EQ(s.axes[1].scale, 2.0);
    const auto& si = sigs[1];
    EXPECT_EQ(si.shape(), (std::vector<std::size_t>{2, 2, 5}));
    EXPECT_EQ(si.value(19), 9.5);
    EXPECT_EQ(si.axes[2].scale, 1.0);  // no dim3: uncalibrated
  }
  std::filesystem::remove(path);
}

TEST(EMDReader, VeloxImagesStacksAndSpectra) {
  const auto path = write_velox();
  const auto sigs = ad::read_emd(path);
  ASSERT_EQ(sigs.size(), 3u);
  const auto& img = sigs[0];
  EXPECT_EQ(img.title, "HAADF");
  EXPECT_EQ(img.dtype, ad::DType::uint16);
  ASSERT_EQ(img.shape(), (std::vector<std::size_t>{3, 4}));
  for (std::size_t i = 0; i < 12; ++i) EXPECT_EQ(img.value(i), static_cast<double>(100 * (i / 4) + i % 4));
  EXPECT_DOUBLE_EQ(img.axes[1].scale, 2.5e-10);
  EXPECT_DOUBLE_EQ(img.axes[0].scale, 3e-10);
  EXPECT_DOUBLE_EQ(img.axes[1].offset, -1e-9);
  EXPECT_EQ(img.axes[1].units, "m");
  EXPECT_EQ(img.metadata.at("Velox.Optics.AccelerationVoltage"), "300000");
  EXPECT_EQ(img.metadata.at("Velox.Scan.DwellTime"), "2e-06");
  EXPECT_EQ(img.metadata.at("Velox.Escaped"), "a\"b\\c\xc2\xb5");
  const auto& stack = sigs[1];
  ASSERT_EQ(stack.shape(), (std::vector<std::size_t>{2, 2, 2}));  // (frames, y, x)
  EXPECT_TRUE(stack.axes[0].navigate);
  for (std::size_t fr = 0; fr < 2; ++fr)
    for (std::size_t p = 0; p < 4; ++p) EXPECT_EQ(stack.value(fr * 4 + p), static_cast<double>(10 * fr + p));
  const auto& spec = sigs[2];
  ASSERT_EQ(spec.shape(), (std::vector<std::size_t>{16}));
  EXPECT_EQ(spec.axes[0].units, "eV");
  EXPECT_DOUBLE_EQ(spec.axes[0].offset, -480.0);
  EXPECT_DOUBLE_EQ(spec.axes[0].scale, 5.0);
  EXPECT_EQ(spec.value(15), 225.0);
  std::filesystem::remove(path);
}

// MANIFEST 4dstem/fpd_merlin/fpd_file_test.hdf5: a real Berkeley EMD file; fpd_expt/fpd_data/data
// is (2, 2, 1, 256, 256) big-endian uint16 with values 0…3493 (read into native byte order).
// Since issue 19 the fpd file's 4D-STEM data come first, as 4D (the colour axis of length 1
// dropped), scan axes navigating.
TEST(EMDReader, RealBerkeleyFileFromMerlin) {
  AUTOSTEM_REQUIRE_DATA(path, "4dstem/fpd_merlin/fpd_file_test.hdf5");
  const auto sigs = ad::read_emd(path);
  ASSERT_FALSE(sigs.empty());
  EXPECT_EQ(sigs.front().metadata.at("EMD.group"), "/fpd_expt/fpd_data");
  const ad::Signal* data = &sigs.front();
  EXPECT_EQ(data->dtype, ad::DType::uint16);
  ASSERT_EQ(data->shape(), (std::vector<std::size_t>{2, 2, 256, 256}));
  EXPECT_TRUE(data->axes[0].navigate && data->axes[1].navigate && !data->axes[2].navigate);
  EXPECT_EQ(data->axes[2].name, "detY");
  const auto v = data->as<std::uint16_t>();
  EXPECT_EQ(*std::max_element(v.begin(), v.end()), 3493);
  EXPECT_EQ(*std::min_element(v.begin(), v.end()), 0);
}

TEST(EMDReader, NonEmdHdf5AndGarbageAreErrors) {
  const auto path = tmp("plain.h5");
  const hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  H5Dclose(dataset(f, "x", H5T_STD_I32LE, H5T_NATIVE_INT32, {2}, std::vector<std::int32_t>{1, 2}));
  H5Fclose(f);
  try {
    ad::read_emd(path);
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("emd_group_type"), std::string::npos) << e.what();
  }
  std::filesystem::remove(path);
  const std::string junk = "definitely not HDF5";
  EXPECT_THROW(ad::detail::read_emd_bytes({reinterpret_cast<const std::byte*>(junk.data()), junk.size()}, "junk"),
               std::runtime_error);
}

// Truncations of both synthetic files, and bit flips of the Velox one, through the in-memory
// path. Bit flips in the Berkeley file are not tested here: libhdf5 1.10.8 (Debian 12) itself
// crashes (out-of-bounds memcpy in H5HG_read) when a corrupted global-heap entry backs a
// variable-length string attribute — a bug inside HDF5 that no caller can guard against; see
// docs/robustness.md.
TEST(EMDRobustness, PrefixesAndBitFlips) {
  int round = 0;
  for (const auto& path : {write_berkeley(), write_velox()}) {
    auto bytes = slurp(path);
    std::filesystem::remove(path);
    for (std::size_t n = 0; n < bytes.size(); n += 61) EXPECT_EQ(try_parse({bytes.data(), n}), 0) << n;
    EXPECT_EQ(try_parse(bytes), 1);
    if (round++ == 0) continue;
    std::mt19937_64 rng(11);
    for (int i = 0; i < 300; ++i) {
      const std::size_t at = rng() % bytes.size();
      const auto bit = std::byte{static_cast<unsigned char>(1u << (rng() % 8))};
      bytes[at] ^= bit;
      try_parse(bytes);
      bytes[at] ^= bit;
    }
  }
}

// The Berkeley fixture's bit flips, which crash libhdf5 1.10.8 in-process (docs/robustness.md),
// go through read_signals(), which reads HDF5 files in a child process: every flip must give a
// result or a std::runtime_error, and this process must survive to count them.
TEST(EMDRobustness, BerkeleyBitFlipsThroughTheIsolatedReader) {
  const auto original = write_berkeley();
  auto bytes = slurp(original);
  std::filesystem::remove(original);
  const auto path = tmp("flipped_berkeley.emd");
  std::mt19937_64 rng(11);
  constexpr int kFlips = 100;
  int read_ok = 0, refused = 0, crashed = 0;
  for (int i = 0; i < kFlips; ++i) {
    const std::size_t at = rng() % bytes.size();
    const auto bit = std::byte{static_cast<unsigned char>(1u << (rng() % 8))};
    bytes[at] ^= bit;
    {
      std::ofstream out(path, std::ios::binary | std::ios::trunc);
      out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    }
    try {
      const auto sigs = ad::read_signals(path);
      ++read_ok;
    } catch (const std::runtime_error& e) {
      const std::string m = e.what();
      EXPECT_NE(m.find(path.string()), std::string::npos) << m;
      if (m.find("crashed") != std::string::npos) ++crashed;
      ++refused;
    }
    bytes[at] ^= bit;
  }
  std::filesystem::remove(path);
  EXPECT_EQ(read_ok + refused, kFlips);
  EXPECT_GT(refused, 0);  // some flips hit the structure
  std::cout << "[ info ] " << kFlips << " bit flips: " << read_ok << " read, " << refused << " refused (" << crashed
            << " of them by a crash of libhdf5 in the reader process)\n";
}

// ---- Velox spectrum streams (EDS spectrum images) --------------------------------------------
// Synthetic files following the layout RosettaSciIO documents for Velox (not files written by
// Velox; none is in MANIFEST.md): /Data/SpectrumStream/<id>/Data is an event stream in which
// 65535 ends a pixel and any other value is one count in that energy channel;
// AcquisitionSettings is a one-element JSON string dataset ("bincount", RasterScanDefinition).
namespace {

constexpr std::size_t kSW = 4, kSH = 3, kSBins = 16, kSFrames = 2;

// The known spectrum image: in frame f, pixel p = y·W + x gets (p % 3 + f) events in channels
// (3p + 5f + 7k) % 16, k = 0…; pixel 0 of frame 0 gets none.
struct StreamFixture {
  std::vector<std::uint32_t> stream;  // events and markers, every pixel ended by 65535
  std::vector<std::uint32_t> expected = std::vector<std::uint32_t>(kSH * kSW * kSBins, 0);
  std::uint64_t events = 0;
};

StreamFixture make_stream() {
  StreamFixture fx;
  for (std::size_t f = 0; f < kSFrames; ++f)
    for (std::size_t p = 0; p < kSW * kSH; ++p) {
      for (std::size_t k = 0; k < p % 3 + f; ++k) {
        const std::size_t c = (3 * p + 5 * f + 7 * k) % kSBins;
        fx.stream.push_back(static_cast<std::uint32_t>(c));
        ++fx.expected[p * kSBins + c];
        ++fx.events;
      }
      fx.stream.push_back(65535);
    }
  return fx;
}

enum class SettingsStorage { vlen_string, fixed_string, uint8_column, absent };

struct StreamSpec {
  std::string id = "3f7a";
  std::vector<std::uint32_t> values;
  bool uint32 = false;
  bool column = true;  // (n, 1) as Velox writes it; false: 1-D (n)
  std::string settings = R"({"bincount": "16", "StreamEncoding": "uint16", "RasterScanDefinition": {"Width": "4", "Height": "3"}})";
  SettingsStorage storage = SettingsStorage::vlen_string;
  std::string metadata = R"({"BinaryResult": {"Detector": "SuperXG21", "PixelSize": {"width": "2e-10", "height": "3e-10"},
      "PixelUnitX": "m", "PixelUnitY": "m", "Offset": {"x": "1e-9", "y": "0"}},
      "Detectors": {"Detector-0": {"DetectorName": "HAADF"},
                    "Detector-3": {"DetectorName": "SuperXG21", "Dispersion": "10", "OffsetEnergy": "-250"}}})";
};

void write_string_dataset(hid_t g, const char* name, const std::string& text, SettingsStorage storage) {
  if (storage == SettingsStorage::absent) return;
  if (storage == SettingsStorage::uint8_column) {
    json_metadata(g, text, 1);  // writes "Metadata"; rename below
    H5Lmove(g, "Metadata", g, name, H5P_DEFAULT, H5P_DEFAULT);
    return;
  }
  const hid_t t = H5Tcopy(H5T_C_S1);
  const hsize_t one = 1;
  const hid_t s = H5Screate_simple(1, &one, nullptr);
  if (storage == SettingsStorage::vlen_string) {
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);  // as h5py (and Velox) write them: HDF5 does not convert UTF-8 to ASCII
    const hid_t d = H5Dcreate2(g, name, t, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    const char* p = text.c_str();
    H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, &p);
    H5Dclose(d);
  } else {
    H5Tset_size(t, text.size());
    H5Tset_strpad(t, H5T_STR_NULLPAD);
    const hid_t d = H5Dcreate2(g, name, t, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, text.data());
    H5Dclose(d);
  }
  H5Sclose(s);
  H5Tclose(t);
}

// A Velox file (with /Version, so that the front door classifies it) holding the given streams,
// when `with_image` a 3 × 4 HAADF image, and when `with_si_blob` a /Data/SpectrumImage group as
// Velox writes it next to the streams (a uint8 blob in an undocumented encoding).
std::filesystem::path write_velox_streams(const std::string& name, const std::vector<StreamSpec>& specs,
                                          bool with_image = false, bool with_si_blob = false) {
  const auto path = tmp(name);
  const hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  write_string_dataset(f, "Version", R"({"format": "Velox", "version": "11"})", SettingsStorage::vlen_string);
  const hid_t data = H5Gcreate2(f, "Data", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  if (with_image) {
    const hid_t images = H5Gcreate2(data, "Image", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    const hid_t g = H5Gcreate2(images, "aa", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dclose(dataset(g, "Data", H5T_STD_U16LE, H5T_NATIVE_UINT16, {3, 4, 1}, std::vector<std::uint16_t>(12, 5)));
    json_metadata(g, R"({"BinaryResult": {"Detector": "HAADF"}})", 1);
    H5Gclose(g);
    H5Gclose(images);
  }
  if (with_si_blob) {
    const hid_t si = H5Gcreate2(data, "SpectrumImage", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    const hid_t g = H5Gcreate2(si, "bb", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dclose(dataset(g, "Data", H5T_STD_U8LE, H5T_NATIVE_UINT8, {64, 1}, std::vector<std::uint8_t>(64, 9)));
    write_string_dataset(g, "SpectrumImageSettings", R"({"endFramePosition": "2"})", SettingsStorage::fixed_string);
    H5Gclose(g);
    H5Gclose(si);
  }
  const hid_t streams = H5Gcreate2(data, "SpectrumStream", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  for (const auto& sp : specs) {
    const hid_t g = H5Gcreate2(streams, sp.id.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    std::vector<hsize_t> dims{sp.values.size()};
    if (sp.column) dims.push_back(1);
    if (sp.uint32) {
      H5Dclose(dataset(g, "Data", H5T_STD_U32LE, H5T_NATIVE_UINT32, dims, sp.values));
    } else {
      std::vector<std::uint16_t> v(sp.values.begin(), sp.values.end());
      H5Dclose(dataset(g, "Data", H5T_STD_U16LE, H5T_NATIVE_UINT16, dims, v));
    }
    write_string_dataset(g, "AcquisitionSettings", sp.settings, sp.storage);
    if (!sp.metadata.empty()) json_metadata(g, sp.metadata, 1);
    H5Gclose(g);
  }
  H5Gclose(streams);
  H5Gclose(data);
  H5Fclose(f);
  return path;
}

std::string emd_error_of(const std::filesystem::path& path) {
  try {
    ad::read_emd(path);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

// The known 3 × 4 × 16, 2-frame spectrum image in every storage variant: uint16/uint32 streams,
// (n, 1) and 1-D, settings as a variable-length string, a fixed-length string and a uint8 column,
// read from the file, from a file image and through the front door (child-process reader).
TEST(EMDVeloxStream, DecodesCountsShapeAndCalibrations) {
  const auto fx = make_stream();
  struct Variant {
    bool uint32, column;
    SettingsStorage storage;
  };
  for (const Variant v : {Variant{false, true, SettingsStorage::vlen_string}, Variant{true, false, SettingsStorage::fixed_string},
                          Variant{false, false, SettingsStorage::uint8_column}}) {
    StreamSpec sp;
    sp.values = fx.stream;
    sp.uint32 = v.uint32;
    sp.column = v.column;
    sp.storage = v.storage;
    const auto path = write_velox_streams("stream.emd", {sp});
    EXPECT_EQ(ad::detect_format(path), ad::FileFormat::emd_velox);
    for (int pass = 0; pass < 3; ++pass) {
      const auto sigs = pass == 0   ? ad::read_emd(path)
                        : pass == 1 ? ad::detail::read_emd_bytes(slurp(path), path.string())
                                    : ad::read_signals(path);
      ASSERT_EQ(sigs.size(), 1u) << pass;
      const auto& s = sigs[0];
      EXPECT_EQ(s.signal_type, "EDS");
      EXPECT_EQ(s.title, "SuperXG21");
      EXPECT_EQ(s.dtype, ad::DType::uint16);
      ASSERT_EQ(s.shape(), (std::vector<std::size_t>{kSH, kSW, kSBins}));
      const auto counts = s.as<std::uint16_t>();
      for (std::size_t i = 0; i < fx.expected.size(); ++i) ASSERT_EQ(counts[i], fx.expected[i]) << "element " << i;
      EXPECT_EQ(s.axes[0].name, "y");
      EXPECT_DOUBLE_EQ(s.axes[0].scale, 3e-10);
      EXPECT_EQ(s.axes[0].units, "m");
      EXPECT_TRUE(s.axes[0].navigate);
      EXPECT_DOUBLE_EQ(s.axes[1].scale, 2e-10);
      EXPECT_DOUBLE_EQ(s.axes[1].offset, 1e-9);
      EXPECT_TRUE(s.axes[1].navigate);
      EXPECT_EQ(s.axes[2].name, "Energy");
      EXPECT_EQ(s.axes[2].units, "eV");
      EXPECT_DOUBLE_EQ(s.axes[2].offset, -250.0);
      EXPECT_DOUBLE_EQ(s.axes[2].scale, 10.0);
      EXPECT_FALSE(s.axes[2].navigate);
      EXPECT_EQ(s.metadata.at("autostem.spectrum_stream.frames"), "2 complete frames (frames summed)");
      EXPECT_EQ(s.metadata.at("autostem.spectrum_stream.counts"), std::to_string(fx.events));
      EXPECT_EQ(s.metadata.at("autostem.spectrum_stream.paths"), "/Data/SpectrumStream/3f7a");
      EXPECT_EQ(s.metadata.at("Velox.AcquisitionSettings.bincount"), "16");
      EXPECT_EQ(s.metadata.count("autostem.calibration.energy"), 0u);
    }
    std::filesystem::remove(path);
  }
}

// Super-X records one stream per detector segment: streams with the same raster and energy axis
// are summed; a stream whose last pixel lacks its marker, and a partial last frame, still decode.
TEST(EMDVeloxStream, SumsDetectorStreamsAndKeepsPartialFrames) {
  const auto fx = make_stream();
  StreamSpec a, b;
  a.values = fx.stream;
  b.id = "9c";
  b.values = fx.stream;
  b.values.pop_back();  // the last pixel's marker is optional
  const auto path = write_velox_streams("stream_sum.emd", {a, b}, /*with_image=*/true, /*with_si_blob=*/true);
  auto sigs = ad::read_emd(path);
  ASSERT_EQ(sigs.size(), 2u);  // the HAADF image, then the summed spectrum image (not the blob)
  EXPECT_NE(sigs[0].metadata.at("autostem.skipped").find("/Data/SpectrumImage/bb (Velox's undocumented"),
            std::string::npos)
      << sigs[0].metadata.at("autostem.skipped");
  EXPECT_EQ(sigs[1].title, "SuperXG21 (sum of 2 spectrum streams)");
  auto counts = sigs[1].as<std::uint16_t>();
  for (std::size_t i = 0; i < fx.expected.size(); ++i) ASSERT_EQ(counts[i], 2 * fx.expected[i]) << i;
  EXPECT_EQ(sigs[1].metadata.at("autostem.spectrum_stream.counts"), std::to_string(2 * fx.events));
  EXPECT_EQ(sigs[1].metadata.at("autostem.spectrum_stream.frames"),
            "2 complete frames; 1 complete frame + a partial frame (11 of 12 pixels ended) (frames summed)");
  std::filesystem::remove(path);

  // A third frame that stops after pixel 4: events 1, 2 in pixel 0, channel 3 in pixel 4.
  StreamSpec c;
  c.values = fx.stream;
  for (std::uint32_t v : {1u, 2u, 65535u, 65535u, 65535u, 65535u, 3u, 65535u}) c.values.push_back(v);
  const auto path2 = write_velox_streams("stream_partial.emd", {c});
  sigs = ad::read_emd(path2);
  ASSERT_EQ(sigs.size(), 1u);
  auto expected = fx.expected;
  ++expected[0 * kSBins + 1];
  ++expected[0 * kSBins + 2];
  ++expected[4 * kSBins + 3];
  counts = sigs[0].as<std::uint16_t>();
  for (std::size_t i = 0; i < expected.size(); ++i) ASSERT_EQ(counts[i], expected[i]) << i;
  EXPECT_EQ(sigs[0].metadata.at("autostem.spectrum_stream.frames"),
            "2 complete frames + a partial frame (5 of 12 pixels ended) (frames summed)");
  std::filesystem::remove(path2);
}

// Without the stream's Metadata the axes are indices, and the metadata says so; a pixel with more
// than 65535 events makes the spectrum image uint32.
TEST(EMDVeloxStream, UncalibratedFallbackAndWideCounts) {
  StreamSpec sp;
  sp.metadata.clear();
  sp.uint32 = true;
  sp.values.assign(70000, 5);  // pixel 0: 70000 counts in channel 5
  sp.values.insert(sp.values.end(), kSW * kSH, 65535);
  const auto path = write_velox_streams("stream_nometa.emd", {sp});
  const auto sigs = ad::read_emd(path);
  ASSERT_EQ(sigs.size(), 1u);
  const auto& s = sigs[0];
  EXPECT_EQ(s.dtype, ad::DType::uint32);
  EXPECT_EQ(s.as<std::uint32_t>()[5], 70000u);
  EXPECT_EQ(s.as<std::uint32_t>()[6], 0u);
  EXPECT_EQ(s.axes[2].name, "Energy channel");
  EXPECT_EQ(s.axes[2].units, "");
  EXPECT_EQ(s.axes[2].scale, 1.0);
  EXPECT_EQ(s.axes[2].offset, 0.0);
  EXPECT_NE(s.metadata.at("autostem.calibration.energy").find("channel index"), std::string::npos);
  EXPECT_NE(s.metadata.at("autostem.calibration.xy").find("pixel indices"), std::string::npos);
  std::filesystem::remove(path);
}

// Each bad stream gives a std::runtime_error naming the file, the HDF5 path and the problem.
TEST(EMDVeloxStream, BadStreamsAreClearErrors) {
  const auto fx = make_stream();
  auto expect_error = [](const StreamSpec& sp, const std::string& where, const std::vector<std::string>& words) {
    const auto path = write_velox_streams("stream_bad.emd", {sp});
    const std::string m = emd_error_of(path);
    EXPECT_NE(m.find(path.string()), std::string::npos) << m;
    EXPECT_NE(m.find(where), std::string::npos) << m;
    for (const auto& w : words) EXPECT_NE(m.find(w), std::string::npos) << "'" << w << "' not in: " << m;
    // The child-process front door gives the same message.
    try {
      ad::read_signals(path);
      ADD_FAILURE() << "read_signals accepted " << where;
    } catch (const std::runtime_error& e) {
      EXPECT_EQ(std::string(e.what()), m);
    }
    std::filesystem::remove(path);
  };
  StreamSpec sp;
  sp.values = fx.stream;
  sp.values[3] = 16;  // a channel not below bincount 16
  expect_error(sp, "/Data/SpectrumStream/3f7a/Data", {"event 3 is channel 16", "bincount 16"});

  sp.values = fx.stream;
  sp.settings = R"({"bincount": "4096", "RasterScanDefinition": {"Width": "65536", "Height": "65536"}})";
  expect_error(sp, "/Data/SpectrumStream/3f7a/AcquisitionSettings",
               {"65536 × 65536 × 4096", "17592186044416 elements", "2^31"});

  sp.settings = R"({"bincount": "16", "RasterScanDefinition": {"Width": "4", "Height": "30"}})";
  expect_error(sp, "/Data/SpectrumStream/3f7a/Data", {"shorter than one frame", "24 pixel markers", "4 × 30"});

  sp.settings = R"({"bincount": "0", "RasterScanDefinition": {"Width": "4", "Height": "3"}})";
  expect_error(sp, "/Data/SpectrumStream/3f7a/AcquisitionSettings", {"bincount is 0"});
  sp.settings = R"({"bincount": "70000", "RasterScanDefinition": {"Width": "4", "Height": "3"}})";
  expect_error(sp, "/Data/SpectrumStream/3f7a/AcquisitionSettings", {"bincount is 70000"});
  sp.settings = R"({"bincount": "16", "RasterScanDefinition": {"Width": "-4", "Height": "3"}})";
  expect_error(sp, "/Data/SpectrumStream/3f7a/AcquisitionSettings", {"Width × Height is -4 × 3"});
  sp.settings = R"({"bincount": "16", "RasterScanDefinition": {"Width": "4", "Height": "3"}, "StreamEncoding": "float"})";
  expect_error(sp, "/Data/SpectrumStream/3f7a/AcquisitionSettings", {"StreamEncoding 'float'"});
  sp.settings = R"({"bincount": "16", "RasterScanDefinition": {"Width": "4", )";
  expect_error(sp, "/Data/SpectrumStream/3f7a/AcquisitionSettings", {"not valid JSON"});

  sp = StreamSpec{};
  sp.values = fx.stream;
  sp.storage = SettingsStorage::absent;
  expect_error(sp, "/Data/SpectrumStream/3f7a/AcquisitionSettings", {"missing", "bincount"});
}

// A point-spectrum stream (no RasterScanDefinition) is listed as skipped next to the images; alone,
// it is an error that says why.
TEST(EMDVeloxStream, PointSpectrumStreamsAreSkipped) {
  StreamSpec sp;
  sp.values = {1, 2, 3};
  sp.settings = R"({"bincount": "16", "StreamEncoding": "uint16"})";
  auto path = write_velox_streams("stream_point.emd", {sp}, /*with_image=*/true);
  const auto sigs = ad::read_emd(path);
  ASSERT_EQ(sigs.size(), 1u);
  EXPECT_NE(sigs[0].metadata.at("autostem.skipped").find("/Data/SpectrumStream/3f7a (no RasterScanDefinition"),
            std::string::npos);
  std::filesystem::remove(path);
  path = write_velox_streams("stream_point_only.emd", {sp});
  EXPECT_NE(emd_error_of(path).find("only point-spectrum streams"), std::string::npos) << emd_error_of(path);
  std::filesystem::remove(path);
}

// Prefixes of the stream file (in-process) and bit flips (through the child-process front door:
// the settings are a variable-length string, whose corrupt global-heap entries crash libhdf5
// 1.10.8 in-process, see docs/robustness.md): a result or a std::runtime_error, never a crash.
TEST(EMDRobustness, SpectrumStreamPrefixesAndBitFlips) {
  StreamSpec sp;
  sp.values = make_stream().stream;
  const auto original = write_velox_streams("stream_fuzz.emd", {sp});
  auto bytes = slurp(original);
  std::filesystem::remove(original);
  for (std::size_t n = 0; n < bytes.size(); n += 37) EXPECT_EQ(try_parse({bytes.data(), n}), 0) << n;
  EXPECT_EQ(try_parse(bytes), 1);
  const auto path = tmp("flipped_stream.emd");
  std::mt19937_64 rng(5);
  constexpr int kFlips = 100;
  int read_ok = 0, refused = 0;
  for (int i = 0; i < kFlips; ++i) {
    const std::size_t at = rng() % bytes.size();
    const auto bit = std::byte{static_cast<unsigned char>(1u << (rng() % 8))};
    bytes[at] ^= bit;
    {
      std::ofstream out(path, std::ios::binary | std::ios::trunc);
      out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    }
    try {
      for (const auto& s : ad::read_signals(path)) {
        std::size_t n = 1;
        for (const auto& a : s.axes) n *= a.size;
        EXPECT_EQ(n * ad::dtype_size(s.dtype), s.bytes.size());
      }
      ++read_ok;
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
      ++refused;
    }
    bytes[at] ^= bit;
  }
  std::filesystem::remove(path);
  EXPECT_EQ(read_ok + refused, kFlips);
  std::cout << "[ info ] " << kFlips << " bit flips of the stream file: " << read_ok << " read, " << refused
            << " refused\n";
}

// A corrupt file can make libhdf5 1.10.8 loop forever inside H5HG_read (found by fuzz_emd, see
// docs/robustness.md); the child-process reader stops a child that sends nothing within
// AUTOSTEM_HDF5_TIMEOUT_S and says so. Here the child just sleeps.
TEST(EMDRobustness, IsolatedReaderStopsAHungChild) {
  namespace dd = ad::detail;
  ::setenv("AUTOSTEM_HDF5_TIMEOUT_S", "1", 1);
  const auto start = std::chrono::steady_clock::now();
  try {
    dd::run_isolated(
        "hung.emd", [](dd::PipeWriter&) { ::sleep(60); }, [](dd::PipeReader&) {});
    ADD_FAILURE() << "no timeout";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("hung.emd: the reader process did not finish within 1 s"), std::string::npos)
        << e.what();
  }
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(waited, 10.0);
  // A child that answers in time is unaffected.
  std::uint64_t got = 0;
  dd::run_isolated(
      "quick.emd", [](dd::PipeWriter& w) { w.write_u64(42); }, [&](dd::PipeReader& r) { got = r.read_u64(); });
  EXPECT_EQ(got, 42u);
  ::unsetenv("AUTOSTEM_HDF5_TIMEOUT_S");
  EXPECT_EQ(dd::hdf5_timeout_s(), 300.0);
}
