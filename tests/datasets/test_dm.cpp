// DigitalMicrograph DM3/DM4 reader: every fixture under dm/ and eels/ listed in MANIFEST.md,
// plus round trips through the fixture writer (both versions, both byte orders).
#include <autostem/datasets/dm_tags.hpp>
#include <autostem/datasets/formats.hpp>

#include "formats_internal.hpp"
#include "test_data.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <fstream>
#include <numeric>

namespace ad = autostem::datasets;
using ad::DType;

namespace {

struct TypeCase {
  int k;
  DType dtype;
  bool dm3;
};

// MANIFEST.md, dm/: K is the DM data type; 27 and 28 exist only as .dm4.
const std::vector<TypeCase> kTypes = {
    {1, DType::int16, true},      {2, DType::float32, true},     {3, DType::complex64, true},
    {5, DType::complex64, true},  {6, DType::uint8, true},       {7, DType::int32, true},
    {8, DType::rgba8, true},      {9, DType::int8, true},        {10, DType::uint16, true},
    {11, DType::uint32, true},    {12, DType::float64, true},    {13, DType::complex128, true},
    {14, DType::boolean, true},   {23, DType::rgba8, true},      {27, DType::complex64, false},
    {28, DType::complex128, false}};

// Expected C-order contents: 1D [1, 2]; 2D [[1, 2], [3, 4]]; 3D 1 + x + 2y + 4z.
std::vector<double> expected_values(int ndim) {
  const std::size_t n = std::size_t{1} << ndim;
  std::vector<double> v(n);
  std::iota(v.begin(), v.end(), 1.0);
  return v;
}

// Checks one element against `want` in the dtype's own representation.
void expect_element(const ad::Signal& s, std::size_t i, double want, const std::string& ctx) {
  switch (s.dtype) {
    case DType::rgba8: {
      // R = G = B = value, A = 0 (MANIFEST). Bytes are stored R, G, B, A.
      const auto* p = reinterpret_cast<const std::uint8_t*>(s.bytes.data()) + 4 * i;
      EXPECT_EQ(p[0], want) << ctx;
      EXPECT_EQ(p[1], want) << ctx;
      EXPECT_EQ(p[2], want) << ctx;
      EXPECT_EQ(p[3], 0) << ctx;
      break;
    }
    case DType::complex64:
      EXPECT_EQ(s.as<std::complex<float>>()[i], std::complex<float>(static_cast<float>(want), 0.0f)) << ctx;
      break;
    case DType::complex128:
      EXPECT_EQ(s.as<std::complex<double>>()[i], std::complex<double>(want, 0.0)) << ctx;
      break;
    case DType::boolean:
      // DM's binary type stores nonzero for every value written (all of 1…8 are true).
      EXPECT_EQ(s.value(i), 1.0) << ctx;
      break;
    default:
      EXPECT_EQ(s.value(i), want) << ctx;
  }
}

}  // namespace

// MANIFEST dm/rosettasciio/{1D,2D,3D}/test-K.dm3|dm4: dtype, shape and exact values.
TEST(DMReader, RosettaTypeFixturesHaveExactDtypeShapeAndValues) {
  int files = 0;
  for (int ndim = 1; ndim <= 3; ++ndim) {
    for (const auto& tc : kTypes) {
      for (const char* ext : {"dm3", "dm4"}) {
        if (std::string(ext) == "dm3" && !tc.dm3) continue;
        const std::string rel = "dm/rosettasciio/" + std::to_string(ndim) + "D/test-" + std::to_string(tc.k) + "." + ext;
        AUTOSTEM_REQUIRE_DATA(path, rel);
        const auto sigs = ad::read_dm(path);
        ASSERT_EQ(sigs.size(), 1u) << rel << ": the RGBA thumbnail must be skipped";
        const auto& s = sigs[0];
        EXPECT_EQ(s.dtype, tc.dtype) << rel << " got " << ad::dtype_name(s.dtype);
        ASSERT_EQ(s.ndim(), static_cast<std::size_t>(ndim)) << rel;
        for (const auto& a : s.axes) EXPECT_EQ(a.size, 2u) << rel;
        const auto want = expected_values(ndim);
        ASSERT_EQ(s.size(), want.size()) << rel;
        for (std::size_t i = 0; i < want.size(); ++i) expect_element(s, i, want[i], rel + " element " + std::to_string(i));
        ++files;
      }
    }
  }
  EXPECT_EQ(files, 3 * (14 * 2 + 2));
}

// 3D fixtures: value = 1 + x + 2y + 4z means C order (z, y, x) is kept for image stacks.
TEST(DMReader, ThreeDStackKeepsZYXOrder) {
  AUTOSTEM_REQUIRE_DATA(path, "dm/rosettasciio/3D/test-1.dm4");
  const auto s = ad::read_dm(path).at(0);
  for (std::size_t z = 0; z < 2; ++z)
    for (std::size_t y = 0; y < 2; ++y)
      for (std::size_t x = 0; x < 2; ++x) EXPECT_EQ(s.value(z * 4 + y * 2 + x), 1.0 + x + 2 * y + 4 * z);
  EXPECT_TRUE(s.axes[0].navigate);
  EXPECT_FALSE(s.axes[2].navigate);
}

// MANIFEST: multi_signal.dm3 has two data sets; HAADF 512×512 uint16 sums to exactly 949490255,
// the 512-point line plot sums to ≈28.0858.
TEST(DMReader, MultiSignalExposesBothDataSets) {
  AUTOSTEM_REQUIRE_DATA(path, "dm/rosettasciio/2D/multi_signal.dm3");
  const auto sigs = ad::read_dm(path);
  ASSERT_EQ(sigs.size(), 2u);
  const auto& img = sigs[0];
  EXPECT_EQ(img.dtype, DType::uint16);
  EXPECT_EQ(img.shape(), (std::vector<std::size_t>{512, 512}));
  std::uint64_t sum = 0;
  for (auto v : img.as<std::uint16_t>()) sum += v;
  EXPECT_EQ(sum, 949490255u);
  const auto& plot = sigs[1];
  EXPECT_EQ(plot.shape(), (std::vector<std::size_t>{512}));
  const auto v = plot.to_double();
  EXPECT_NEAR(std::accumulate(v.begin(), v.end(), 0.0), 28.0858, 5e-4);
}

// MANIFEST dm/ncempy: int16, C-order (66, 65, 64), value = x index, scales 2 pm (x), 3 nm (y),
// 4 µm (z), origins 0 — in both DM3 and DM4.
TEST(DMReader, NcempyThreeDInt16) {
  for (const char* ext : {"dm3", "dm4"}) {
    AUTOSTEM_REQUIRE_DATA(path, std::string("dm/ncempy/dmTest_3D_int16_64,65,66.") + ext);
    const auto s = ad::read_dm(path).at(0);
    EXPECT_EQ(s.dtype, DType::int16);
    ASSERT_EQ(s.shape(), (std::vector<std::size_t>{66, 65, 64}));
    const auto d = s.as<std::int16_t>();
    std::size_t bad = 0;
    for (std::size_t i = 0; i < d.size(); ++i) bad += d[i] != static_cast<std::int16_t>(i % 64);
    EXPECT_EQ(bad, 0u) << ext;
    EXPECT_DOUBLE_EQ(s.axes[2].scale, 2.0);
    EXPECT_EQ(s.axes[2].units, "pm");
    EXPECT_DOUBLE_EQ(s.axes[1].scale, 3.0);
    EXPECT_EQ(s.axes[1].units, "nm");
    EXPECT_DOUBLE_EQ(s.axes[0].scale, 4.0);
    EXPECT_EQ(s.axes[0].units, "um");  // DM writes the micro sign as "u" here
    for (const auto& a : s.axes) EXPECT_EQ(a.offset, 0.0);
  }
}

// MANIFEST: float32, C-order (64, 128), value = column index, 1 nm (x) and 2 Å (y).
TEST(DMReader, NcempyNonSquareDifferentPixelSizes) {
  for (const char* ext : {"dm3", "dm4"}) {
    AUTOSTEM_REQUIRE_DATA(path, std::string("dm/ncempy/dmTest_float32_nonSquare_diffPixelSize.") + ext);
    const auto s = ad::read_dm(path).at(0);
    EXPECT_EQ(s.dtype, DType::float32);
    ASSERT_EQ(s.shape(), (std::vector<std::size_t>{64, 128}));
    const auto d = s.as<float>();
    for (std::size_t i = 0; i < d.size(); ++i) ASSERT_EQ(d[i], static_cast<float>(i % 128)) << ext << " " << i;
    EXPECT_DOUBLE_EQ(s.axes[1].scale, 1.0);
    EXPECT_EQ(s.axes[1].units, "nm");
    EXPECT_DOUBLE_EQ(s.axes[0].scale, 2.0);
    EXPECT_EQ(s.axes[0].units, "A");  // ångström written as "A"
  }
}

// MANIFEST eels/si_dm4/EELS_SI.dm4: 2×2×2048 float32, 1.992 nm/px, E = 300 eV + 1 eV/ch,
// values −27.7…8634; dwell 19.95 ms, convergence 21 mrad, collection 62 mrad, date 2019-05-14.
TEST(DMReader, EelsSpectrumImageIsYXE) {
  AUTOSTEM_REQUIRE_DATA(path, "eels/si_dm4/EELS_SI.dm4");
  const auto sigs = ad::read_dm(path);
  ASSERT_EQ(sigs.size(), 1u);
  const auto& s = sigs[0];
  EXPECT_EQ(s.dtype, DType::float32);
  ASSERT_EQ(s.shape(), (std::vector<std::size_t>{2, 2, 2048}));
  EXPECT_EQ(s.signal_type, "EELS");
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(s.axes[static_cast<std::size_t>(i)].units, "µm");
    EXPECT_NEAR(s.axes[static_cast<std::size_t>(i)].scale * 1000.0, 1.992, 5e-4);
    EXPECT_TRUE(s.axes[static_cast<std::size_t>(i)].navigate);
  }
  EXPECT_EQ(s.axes[2].units, "eV");
  EXPECT_EQ(s.axes[2].name, "Energy loss");
  EXPECT_DOUBLE_EQ(s.axes[2].offset, 300.0);
  EXPECT_DOUBLE_EQ(s.axes[2].scale, 1.0);
  EXPECT_FALSE(s.axes[2].navigate);
  const auto v = s.to_double();
  const auto [mn, mx] = std::minmax_element(v.begin(), v.end());
  EXPECT_NEAR(*mn, -27.7, 0.05);
  EXPECT_NEAR(*mx, 8634.0, 1.0);
  // The [x, y, E] → (y, x, E) transpose itself is checked exactly in
  // DMWriterRoundTrip.SpectrumImageTransposedToYXE.
  EXPECT_EQ(s.metadata.at("ImageTags.EELS.Experimental Conditions.Convergence semi-angle (mrad)"), "21");
  EXPECT_EQ(s.metadata.at("ImageTags.EELS.Experimental Conditions.Collection semi-angle (mrad)"), "62");
  EXPECT_NEAR(std::stod(s.metadata.at("ImageTags.EELS.Acquisition.Exposure (s)")), 0.01995, 5e-5);
  EXPECT_EQ(s.metadata.at("ImageTags.SI.Acquisition.Date"), "14/05/2019");
}

// MANIFEST eels/spectra/08_carbon.dm3: 2048 channels stored 1×2048; Origin −2400, Scale 0.1 eV →
// 240.0…444.7 eV; first value 21281; 'Acquisition Device Name' = 'EF-CCD'.
TEST(DMReader, CarbonSpectrumCalibrationAndDevice) {
  AUTOSTEM_REQUIRE_DATA(path, "eels/spectra/08_carbon.dm3");
  const auto s = ad::read_dm(path).at(0);
  ASSERT_EQ(s.shape(), (std::vector<std::size_t>{2048}));
  const auto& e = s.axes[0];
  EXPECT_EQ(e.units, "eV");
  // DM stores Scale as float32 (0.1 → 0.100000001490116), so −Origin × Scale = 240.0000036:
  // tolerances follow float32 precision (ε ≈ 6e-8 relative).
  EXPECT_NEAR(e.value(0), 240.0, 1e-5);
  EXPECT_NEAR(e.value(2047), 444.7, 1e-4);
  EXPECT_NEAR(e.scale, 0.1, 1e-8);
  EXPECT_EQ(s.value(0), 21281.0);
  EXPECT_EQ(s.metadata.at("ImageTags.Acquisition.Device.Name"), "EF-CCD");
  EXPECT_EQ(s.metadata.at("ImageTags.DataBar.Device Name"), "EF-CCD");
}

// MANIFEST eels/spectra/EELS_STO.dm3: 2048 channels, 350–861.75 eV, 0.25 eV/ch.
TEST(DMReader, StoSpectrumCalibration) {
  AUTOSTEM_REQUIRE_DATA(path, "eels/spectra/EELS_STO.dm3");
  const auto s = ad::read_dm(path).at(0);
  ASSERT_EQ(s.shape(), (std::vector<std::size_t>{2048}));
  EXPECT_DOUBLE_EQ(s.axes[0].scale, 0.25);
  EXPECT_DOUBLE_EQ(s.axes[0].value(0), 350.0);
  EXPECT_DOUBLE_EQ(s.axes[0].value(2047), 861.75);
  EXPECT_EQ(s.signal_type, "EELS");
}

// MANIFEST: test_STEM_image.dm3 68×68, 0.2485 nm/px; test_diffraction_pattern.dm3 87×87 in 1/nm;
// test_stackbuilder_imagestack.dm3 3×2×16.
TEST(DMReader, OtherRosettaFixtures) {
  {
    AUTOSTEM_REQUIRE_DATA(path, "dm/rosettasciio/2D/test_STEM_image.dm3");
    const auto s = ad::read_dm(path).at(0);
    EXPECT_EQ(s.shape(), (std::vector<std::size_t>{68, 68}));
    EXPECT_NEAR(s.axes[1].scale, 0.2485, 1e-4);
    EXPECT_EQ(s.axes[1].units, "nm");
  }
  {
    AUTOSTEM_REQUIRE_DATA(path, "dm/rosettasciio/2D/test_diffraction_pattern.dm3");
    const auto s = ad::read_dm(path).at(0);
    EXPECT_EQ(s.shape(), (std::vector<std::size_t>{87, 87}));
    EXPECT_EQ(s.axes[0].units, "1/nm");
  }
  {
    AUTOSTEM_REQUIRE_DATA(path, "dm/rosettasciio/test_stackbuilder_imagestack.dm3");
    const auto s = ad::read_dm(path).at(0);
    EXPECT_EQ(s.shape(), (std::vector<std::size_t>{3, 2, 16}));
  }
}

// test_fft_packed_complex8.dm4 (DataType 27) stores the half plane (5 × 3 complex) of the FFT
// of a 5×5 image whose rows are equal ([0…4] up to a constant): the reader rebuilds the full,
// centred 5×5 array by Hermitian symmetry. What it decodes to: row 2 (ky = 0) is
// [conj F(2), conj F(1), 50, F(1), F(2)] with F(1) = −12.5 − 17.2048i, F(2) = −12.5 − 4.0615i;
// every other row is ~0 (|v| < 1e-6). (The sign of the imaginary parts is DM's convention.)
TEST(DMReader, PackedComplexFftIsUnpacked) {
  AUTOSTEM_REQUIRE_DATA(path, "dm/rosettasciio/2D/test_fft_packed_complex8.dm4");
  const auto s = ad::read_dm(path).at(0);
  EXPECT_EQ(s.dtype, DType::complex64);
  ASSERT_EQ(s.shape(), (std::vector<std::size_t>{5, 5}));
  const auto d = s.as<std::complex<float>>();
  const std::complex<float> f1(-12.5f, -17.204775f), f2(-12.5f, -4.0614958f);
  const std::complex<float> row2[5] = {std::conj(f2), std::conj(f1), {50.0f, 0.0f}, f1, f2};
  for (std::size_t c = 0; c < 5; ++c) EXPECT_LT(std::abs(d[10 + c] - row2[c]), 1e-4) << c;
  for (std::size_t r : {0u, 1u, 3u, 4u})
    for (std::size_t c = 0; c < 5; ++c) EXPECT_LT(std::abs(d[r * 5 + c]), 1e-6) << r << "," << c;
}

// The tag tree: groups, lists, scalars, strings, structs and arrays of structs.
TEST(DMTags, TreeHoldsEveryKindOfTag) {
  AUTOSTEM_REQUIRE_DATA(path, "dm/rosettasciio/2D/test-1.dm3");
  const auto dm = ad::read_dm_tags(path);
  EXPECT_EQ(dm.version, 3);
  EXPECT_TRUE(dm.little_endian);
  const auto* type = dm.root.find("ImageList.1.ImageData.DataType");
  ASSERT_NE(type, nullptr);
  EXPECT_EQ(type->number(), 1.0);
  const auto* color = dm.root.find("DocumentObjectList.0.BackgroundColor");
  ASSERT_NE(color, nullptr);
  EXPECT_EQ(color->kind, ad::TagKind::structure);
  ASSERT_EQ(color->children.size(), 3u);
  for (const auto& f : color->children) EXPECT_EQ(f.number(), -1.0);  // int16 0xFFFF
  const auto* clut = dm.root.find("DocumentObjectList.0.ImageDisplayInfo.CLUT");
  ASSERT_NE(clut, nullptr);
  EXPECT_EQ(clut->kind, ad::TagKind::array);
  ASSERT_EQ(clut->children.size(), 256u);
  EXPECT_EQ(clut->children[1].children[0].number(), 257.0);
  const auto* name = dm.root.find("ImageList.1.Name");
  ASSERT_NE(name, nullptr);
  EXPECT_EQ(name->text(), "test");
  const auto* data = dm.root.find("ImageList.1.ImageData.Data");
  ASSERT_NE(data, nullptr);
  EXPECT_EQ(std::get<ad::TagArray>(data->value).count, 4u);
}

TEST(DMTags, JsonIsWellFormedAndHasTheValues) {
  AUTOSTEM_REQUIRE_DATA(path, "dm/rosettasciio/2D/test-1.dm4");
  const auto dm = ad::read_dm_tags(path);
  EXPECT_EQ(dm.version, 4);
  const std::string json = ad::tags_to_json(dm.root);
  EXPECT_NE(json.find("\"DataType\": 1"), std::string::npos);
  EXPECT_NE(json.find("\"BackgroundColor\": [-1, -1, -1]"), std::string::npos);
  EXPECT_NE(json.find("\"Name\": \"test\""), std::string::npos);
  // Brackets balance outside strings.
  int depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < json.size(); ++i) {
    const char c = json[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '{' || c == '[') ++depth;
    else if (c == '}' || c == ']') {
      ASSERT_GE(--depth, 0);
    }
  }
  EXPECT_EQ(depth, 0);
  EXPECT_FALSE(in_string);
}

// ---- round trips through the fixture writer ------------------------------------------------

namespace {

template <class T>
std::span<const std::byte> bytes_of(const std::vector<T>& v) {
  return {reinterpret_cast<const std::byte*>(v.data()), v.size() * sizeof(T)};
}

}  // namespace

// A spectrum image [x, y, E] = [3, 2, 5] with value 100 E + 10 y + x must come out as
// (y, x, E) with energy fastest, calibrations intact, for DM3/DM4 and both byte orders.
TEST(DMWriterRoundTrip, SpectrumImageTransposedToYXE) {
  std::vector<float> data(3 * 2 * 5);
  for (int e = 0; e < 5; ++e)
    for (int y = 0; y < 2; ++y)
      for (int x = 0; x < 3; ++x) data[static_cast<std::size_t>((e * 2 + y) * 3 + x)] = static_cast<float>(100 * e + 10 * y + x);
  ad::detail::DMWriteImage im;
  im.dm_data_type = 2;
  im.dims = {3, 2, 5};
  im.origins = {0, 0, -200};
  im.scales = {2.5, 2.5, 0.5};
  im.units = {"nm", "nm", "eV"};
  im.data = bytes_of(data);
  im.element_swap_width = 4;
  im.format = "Spectrum image";
  im.signal = "EELS";
  im.number_tags["EELS.Acquisition.Exposure (s)"] = 0.25;
  for (int version : {3, 4}) {
    for (bool le : {true, false}) {
      const auto file = ad::detail::write_dm(im, version, le);
      const auto sigs = ad::read_dm_bytes(file, "roundtrip");
      ASSERT_EQ(sigs.size(), 1u);
      const auto& s = sigs[0];
      ASSERT_EQ(s.shape(), (std::vector<std::size_t>{2, 3, 5})) << version << le;
      const auto d = s.as<float>();
      for (int y = 0; y < 2; ++y)
        for (int x = 0; x < 3; ++x)
          for (int e = 0; e < 5; ++e)
            ASSERT_EQ(d[static_cast<std::size_t>((y * 3 + x) * 5 + e)], static_cast<float>(100 * e + 10 * y + x))
                << "DM" << version << (le ? " LE" : " BE");
      EXPECT_EQ(s.axes[2].name, "Energy loss");
      EXPECT_DOUBLE_EQ(s.axes[2].offset, 100.0);  // −Origin × Scale = 200 × 0.5
      EXPECT_DOUBLE_EQ(s.axes[2].value(4), 102.0);
      EXPECT_DOUBLE_EQ(s.axes[0].scale, 2.5);
      EXPECT_EQ(s.metadata.at("ImageTags.EELS.Acquisition.Exposure (s)"), "0.25");
    }
  }
}

// Every integer and float type survives both byte orders bit for bit.
TEST(DMWriterRoundTrip, BigAndLittleEndianAllWidths) {
  const std::vector<std::int16_t> i16 = {-3, 2, 32000, -32000};
  const std::vector<std::uint32_t> u32 = {1, 0xDEADBEEF, 7, 0};
  const std::vector<double> f64 = {1.5, -2.25, 1e300, 0.0};
  const std::vector<std::complex<float>> c64 = {{1, -1}, {2, 0.5}, {0, 0}, {-4, 8}};
  struct Case {
    int type;
    std::span<const std::byte> data;
    std::size_t swap;
    DType dtype;
  };
  const Case cases[] = {{1, bytes_of(i16), 2, DType::int16},
                        {11, bytes_of(u32), 4, DType::uint32},
                        {12, bytes_of(f64), 8, DType::float64},
                        {3, bytes_of(c64), 4, DType::complex64}};
  for (const auto& c : cases) {
    ad::detail::DMWriteImage im;
    im.dm_data_type = c.type;
    im.dims = {2, 2};
    im.data = c.data;
    im.element_swap_width = c.swap;
    for (int version : {3, 4})
      for (bool le : {true, false}) {
        const auto s = ad::read_dm_bytes(ad::detail::write_dm(im, version, le), "rt").at(0);
        EXPECT_EQ(s.dtype, c.dtype);
        ASSERT_EQ(s.bytes.size(), c.data.size());
        EXPECT_TRUE(std::equal(s.bytes.begin(), s.bytes.end(), c.data.begin()))
            << "type " << c.type << " DM" << version << (le ? " LE" : " BE");
      }
  }
}

TEST(DMReader, ErrorsNameTheFile) {
  const auto tmp = std::filesystem::temp_directory_path() / "autostem_not_dm.dm3";
  {
    std::ofstream(tmp, std::ios::binary) << "this is not a DM file at all";
  }
  try {
    ad::read_dm(tmp);
    FAIL() << "expected an exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("autostem_not_dm.dm3"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("version"), std::string::npos) << e.what();
  }
  std::filesystem::remove(tmp);
  EXPECT_THROW(ad::read_dm("/nonexistent/file.dm4"), std::runtime_error);
}
