// FEI/TIA SER reader: the real STO image (MANIFEST haadf/sto_ser), synthetic 1-D and 2-D series
// written here byte by byte from the format description, and damaged input.
#include <autostem/datasets/formats.hpp>

#include "formats_internal.hpp"
#include "test_data.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <random>

namespace ad = autostem::datasets;

namespace {

std::vector<std::byte> slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::vector<char> c((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> b(c.size());
  std::memcpy(b.data(), c.data(), c.size());
  return b;
}

template <class T>
void put(std::vector<std::byte>& v, T x) {
  const auto* p = reinterpret_cast<const std::byte*>(&x);
  v.insert(v.end(), p, p + sizeof(T));  // SER is little-endian, as is the test machine
}
void put_str(std::vector<std::byte>& v, const std::string& s) {
  put<std::uint32_t>(v, static_cast<std::uint32_t>(s.size()));
  for (char c : s) v.push_back(static_cast<std::byte>(c));
}

// A SER file of `elements` data elements in one "Number" series dimension (TIA's file frame:
// header, dimension array, offset tables); element(v, e) appends element e's bytes.
template <class Element>
std::vector<std::byte> synthetic_series(std::uint32_t data_type_id, std::uint32_t elements, Element element) {
  std::vector<std::byte> v;
  put<std::uint16_t>(v, 0x4949);
  put<std::uint16_t>(v, 0x0197);
  put<std::uint16_t>(v, 0x0210);
  put<std::uint32_t>(v, data_type_id);
  put<std::uint32_t>(v, 0x4152);
  put<std::uint32_t>(v, elements);  // total
  put<std::uint32_t>(v, elements);  // valid
  const std::size_t offset_field = v.size();
  put<std::uint32_t>(v, 0);  // patched below
  put<std::uint32_t>(v, 1);  // one series dimension
  put<std::uint32_t>(v, elements);
  put<double>(v, 0.0);
  put<double>(v, 1.0);
  put<std::int32_t>(v, 0);
  put_str(v, "Number");
  put_str(v, "");
  std::vector<std::uint32_t> offsets;
  for (std::uint32_t e = 0; e < elements; ++e) {
    offsets.push_back(static_cast<std::uint32_t>(v.size()));
    element(v, static_cast<int>(e));
  }
  const auto table = static_cast<std::uint32_t>(v.size());
  std::memcpy(v.data() + offset_field, &table, 4);
  for (auto o : offsets) put<std::uint32_t>(v, o);
  for (std::uint32_t e = 0; e < elements; ++e) put<std::uint32_t>(v, 0);  // tag offsets (unused)
  return v;
}

// A series of 3 spectra of 4 float32 channels: value = 10 × element + channel. Channel
// calibration offset 100 eV at element 2, 0.5 eV/channel → value(i) = 100 + (i − 2) × 0.5.
std::vector<std::byte> synthetic_1d_series() {
  return synthetic_series(0x4120, 3, [](std::vector<std::byte>& v, int e) {
    put<double>(v, 100.0);
    put<double>(v, 0.5);
    put<std::int32_t>(v, 2);
    put<std::uint16_t>(v, 7);  // float32
    put<std::uint32_t>(v, 4);
    for (int c = 0; c < 4; ++c) put<float>(v, static_cast<float>(10 * e + c));
  });
}

// A series of 2 images of 2 rows × 3 columns, uint16, stored as TIA stores them: x fastest and
// the rows bottom up. Stored value = 100 × element + 10 × stored row + column. Pixel calibration
// 2e-10 m with element 0 at −3e-10 m.
std::vector<std::byte> synthetic_2d_series() {
  return synthetic_series(0x4122, 2, [](std::vector<std::byte>& v, int e) {
    for (int axis = 0; axis < 2; ++axis) {  // x, then y
      put<double>(v, -3e-10);
      put<double>(v, 2e-10);
      put<std::int32_t>(v, 0);
    }
    put<std::uint16_t>(v, 2);  // uint16
    put<std::uint32_t>(v, 3);  // size x
    put<std::uint32_t>(v, 2);  // size y
    for (int r = 0; r < 2; ++r)
      for (int c = 0; c < 3; ++c) put<std::uint16_t>(v, static_cast<std::uint16_t>(100 * e + 10 * r + c));
  });
}

int try_parse(std::span<const std::byte> bytes) {
  try {
    const auto sigs = ad::detail::read_ser_bytes(bytes, "fuzzed.ser");
    for (const auto& s : sigs) {
      std::size_t n = 1;
      for (const auto& a : s.axes) n *= a.size;
      if (n * ad::dtype_size(s.dtype) != s.bytes.size()) ADD_FAILURE() << "inconsistent Signal";
    }
    return 1;
  } catch (const std::exception&) {
    return 0;
  }
}

}  // namespace

// MANIFEST haadf/sto_ser/16_STOimage_1.ser: 1024×1024 uint16, 10.013 pm/px, values 16121…24376,
// 80 kV, 29 µs dwell (from the .emi companion).
TEST(SERReader, StoImage) {
  AUTOSTEM_REQUIRE_DATA(path, "haadf/sto_ser/16_STOimage_1.ser");
  const auto sigs = ad::read_ser(path);
  ASSERT_EQ(sigs.size(), 1u);
  const auto& s = sigs[0];
  EXPECT_EQ(s.dtype, ad::DType::uint16);
  ASSERT_EQ(s.shape(), (std::vector<std::size_t>{1024, 1024}));
  const auto d = s.as<std::uint16_t>();
  const auto [mn, mx] = std::minmax_element(d.begin(), d.end());
  EXPECT_EQ(*mn, 16121);
  EXPECT_EQ(*mx, 24376);
  // HyperSpy's orientation (hs.load: TIA's bottom-up rows flipped; values read with HyperSpy
  // 1.7.3): row 0 starts 18024 18416 18350 19660 18707, the last row 19351 18863 18726 18870 17890.
  EXPECT_EQ((std::vector<std::uint16_t>(d.begin(), d.begin() + 5)),
            (std::vector<std::uint16_t>{18024, 18416, 18350, 19660, 18707}));
  EXPECT_EQ((std::vector<std::uint16_t>(d.begin() + 1023 * 1024, d.begin() + 1023 * 1024 + 5)),
            (std::vector<std::uint16_t>{19351, 18863, 18726, 18870, 17890}));
  ASSERT_EQ(s.axes[0].name, "y");
  ASSERT_EQ(s.axes[1].name, "x");
  for (const auto& a : s.axes) {
    EXPECT_EQ(a.units, "nm");  // TIA's metres, in nm as HyperSpy shows them
    EXPECT_NEAR(a.scale * 1e3, 10.013, 5e-4);
    EXPECT_NEAR(a.offset, -512 * a.scale, 1e-9);  // centred: TIA's CalibrationElement is 512
  }
  EXPECT_EQ(s.metadata.at("ObjectInfo.ExperimentalDescription.High tension (kV)"), "80");
  EXPECT_NEAR(std::stod(s.metadata.at("ObjectInfo.AcquireInfo.DwellTimePath")), 29e-6, 1e-9);
  EXPECT_EQ(s.metadata.at("ObjectInfo.ExperimentalConditions.MicroscopeConditions.AcceleratingVoltage"), "80000.0");
}

TEST(SERReader, OneDimensionalSeriesWithCalibrationElement) {
  const auto bytes = synthetic_1d_series();
  const auto s = ad::detail::read_ser_bytes(bytes, "synthetic.ser").at(0);
  EXPECT_EQ(s.dtype, ad::DType::float32);
  ASSERT_EQ(s.shape(), (std::vector<std::size_t>{3, 4}));
  EXPECT_TRUE(s.axes[0].navigate);
  EXPECT_EQ(s.axes[0].name, "Number");
  EXPECT_DOUBLE_EQ(s.axes[1].value(2), 100.0);
  EXPECT_DOUBLE_EQ(s.axes[1].value(0), 99.0);
  EXPECT_DOUBLE_EQ(s.axes[1].scale, 0.5);
  const auto d = s.as<float>();
  for (int e = 0; e < 3; ++e)
    for (int c = 0; c < 4; ++c) EXPECT_EQ(d[static_cast<std::size_t>(e * 4 + c)], static_cast<float>(10 * e + c));
}

// HyperSpy (fei.py / rosettasciio tia: data[..., ::-1, :]) and ncempy flip TIA's bottom-up rows;
// so does autostem since issue 21 (before, row 0 was TIA's first stored row). Metres become nm.
TEST(SERReader, TwoDimensionalElementsAreFlippedLikeHyperSpy) {
  const auto bytes = synthetic_2d_series();
  const auto s = ad::detail::read_ser_bytes(bytes, "synthetic2d.ser").at(0);
  ASSERT_EQ(s.shape(), (std::vector<std::size_t>{2, 2, 3}));
  EXPECT_TRUE(s.axes[0].navigate);
  EXPECT_FALSE(s.axes[1].navigate);
  EXPECT_EQ(s.axes[1].name, "y");
  EXPECT_EQ(s.axes[2].name, "x");
  const auto d = s.as<std::uint16_t>();
  // Element e, displayed row r = stored row 1 − r.
  EXPECT_EQ((std::vector<std::uint16_t>(d.begin(), d.end())),
            (std::vector<std::uint16_t>{10, 11, 12, 0, 1, 2, 110, 111, 112, 100, 101, 102}));
  for (std::size_t k : {1u, 2u}) {
    EXPECT_EQ(s.axes[k].units, "nm");
    EXPECT_NEAR(s.axes[k].scale, 0.2, 1e-12);
    EXPECT_NEAR(s.axes[k].offset, -0.3, 1e-12);
  }
}

TEST(SERReader, EmiObjectInfoIsFlattened) {
  const std::string emi = "junk<ObjectInfo><AcquireInfo><DwellTimePath>0.000029</DwellTimePath></AcquireInfo>"
                          "<ExperimentalDescription><Root><Data><Label>High tension</Label><Value>300</Value>"
                          "<Unit>kV</Unit></Data></Root></ExperimentalDescription></ObjectInfo>junk";
  const auto m = ad::detail::parse_emi_object_info({reinterpret_cast<const std::byte*>(emi.data()), emi.size()});
  EXPECT_EQ(m.at("ObjectInfo.AcquireInfo.DwellTimePath"), "0.000029");
  EXPECT_EQ(m.at("ObjectInfo.ExperimentalDescription.High tension (kV)"), "300");
}

TEST(SERRobustness, EveryPrefixOfSyntheticAndStridedRealFile) {
  const auto syn = synthetic_1d_series();
  int ok = 0;
  for (std::size_t n = 0; n <= syn.size(); ++n) ok += try_parse({syn.data(), n});
  // Only prefixes that reach through the data-offset table parse: the 12 bytes of tag offsets
  // after it are not needed, so the last 13 prefixes succeed.
  EXPECT_EQ(ok, 13);
  AUTOSTEM_REQUIRE_DATA(path, "haadf/sto_ser/16_STOimage_1.ser");
  const auto bytes = slurp(path);
  // All prefixes through the header and element header (first 4 KiB), then every 4099th.
  for (std::size_t n = 0; n <= bytes.size(); n += n < 4096 ? 1 : 4099) try_parse({bytes.data(), n});
}

TEST(SERRobustness, BitFlipsAndHostileSizes) {
  std::mt19937_64 rng(7);
  auto syn = synthetic_1d_series();
  for (std::size_t at = 0; at < syn.size(); ++at)
    for (int bit = 0; bit < 8; ++bit) {
      syn[at] ^= std::byte{static_cast<unsigned char>(1u << bit)};
      try_parse(syn);
      syn[at] ^= std::byte{static_cast<unsigned char>(1u << bit)};
    }
  // Element length 2^32 − 1 in a tiny file.
  auto hostile = synthetic_1d_series();
  const std::uint32_t huge = 0xFFFFFFFFu;
  const std::size_t first_elem = 30 + 38;  // 30-byte header + one dimension record ("Number")
  std::memcpy(hostile.data() + first_elem + 8 + 8 + 4 + 2, &huge, 4);
  try {
    ad::detail::read_ser_bytes(hostile, "hostile.ser");
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("hostile.ser"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("4294967295 values"), std::string::npos) << e.what();
  }
}
