// Merlin .mib reader and 4D ground truth: every fixture in MANIFEST.md 4dstem/merlin (shape,
// dtype, maximum, sum, brightest summed pixel), the 1-bit raw (R64) single and quad frames
// checked against the processed frames of the same detector, scan shapes from the caller and the
// .hdr, interrupted scans, damaged headers, and the FPD HDF5 file (4dstem/fpd_merlin).
#include <autostem/datasets/ground_truth.hpp>
#include <autostem/datasets/mib.hpp>
#include <autostem/datasets/signal.hpp>

#include "test_data.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <numeric>

namespace ad = autostem::datasets;
namespace fs = std::filesystem;

namespace {

struct Stats {
  double sum = 0, max = 0;
  std::size_t argmax_row = 0, argmax_col = 0;  // of the pattern summed over the scan
};

Stats stats(const ad::Signal& s) {
  const auto shape = s.shape();
  const std::size_t ky = shape[shape.size() - 2], kx = shape.back();
  const auto v = s.to_double();
  std::vector<double> summed(ky * kx, 0.0);
  Stats st;
  for (std::size_t i = 0; i < v.size(); ++i) {
    st.sum += v[i];
    st.max = std::max(st.max, v[i]);
    summed[i % (ky * kx)] += v[i];
  }
  const auto it = std::max_element(summed.begin(), summed.end());
  const auto k = static_cast<std::size_t>(it - summed.begin());
  st.argmax_row = k / kx;
  st.argmax_col = k % kx;
  return st;
}

double correlation(const std::vector<float>& a, const std::vector<float>& b) {
  const double n = static_cast<double>(a.size());
  const double ma = std::accumulate(a.begin(), a.end(), 0.0) / n;
  const double mb = std::accumulate(b.begin(), b.end(), 0.0) / n;
  double sab = 0, saa = 0, sbb = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) * (a[i] - ma);
    sbb += (b[i] - mb) * (b[i] - mb);
  }
  return sab / std::sqrt(saa * sbb);
}

std::vector<float> frame(const fs::path& p, std::size_t i = 0) {
  ad::MibFile f(p);
  std::vector<float> out(f.ky() * f.kx());
  f.read_frame(i, out);
  return out;
}

std::vector<float> flip_rows(const std::vector<float>& v, std::size_t ky, std::size_t kx) {
  std::vector<float> o(v.size());
  for (std::size_t r = 0; r < ky; ++r)
    std::copy_n(v.begin() + static_cast<std::ptrdiff_t>(r * kx), kx,
                o.begin() + static_cast<std::ptrdiff_t>((ky - 1 - r) * kx));
  return o;
}

std::vector<float> flip_cols(const std::vector<float>& v, std::size_t ky, std::size_t kx) {
  std::vector<float> o(v.size());
  for (std::size_t r = 0; r < ky; ++r)
    for (std::size_t c = 0; c < kx; ++c) o[r * kx + (kx - 1 - c)] = v[r * kx + c];
  return o;
}

void copy_prefix(const fs::path& from, const fs::path& to, std::size_t bytes) {
  std::ifstream in(from, std::ios::binary);
  std::vector<char> c((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  c.resize(std::min(c.size(), bytes));
  std::ofstream(to, std::ios::binary).write(c.data(), static_cast<std::streamsize>(c.size()));
}

struct Fixture {
  const char* file;
  std::size_t frames, ky, kx;
  ad::DType dtype;
  double max, sum;
};

}  // namespace

// MANIFEST.md 4dstem/merlin: shapes, dtypes, maxima and sums of every processed fixture.
TEST(Mib, EveryManifestFixtureReadsWithItsShapeSumAndMaximum) {
  const Fixture fixtures[] = {
      {"001_4x2_6bit.mib", 8, 256, 256, ad::DType::uint8, 63, 3623664},
      {"002_4x2_6bit_roi128.mib", 8, 128, 256, ad::DType::uint8, 63, 3263829},
      {"Single_1_Frame_CounterDepth_1_Rows_256.mib", 1, 256, 256, ad::DType::uint8, 1, 2398},
      {"Single_1_Frame_CounterDepth_6_Rows_256.mib", 1, 256, 256, ad::DType::uint8, 63, 24336},
      {"Single_1_Frame_CounterDepth_12_Rows_256.mib", 1, 256, 256, ad::DType::uint16, 2239, 28911},
      {"Single_1_Frame_CounterDepth_24_Rows_256.mib", 1, 256, 256, ad::DType::uint32, 2255, 29416},
      {"Quad_1_Frame_CounterDepth_6_Rows_256.mib", 1, 512, 512, ad::DType::uint8, 63, 115263},
      {"Quad_1_Frame_CounterDepth_12_Rows_256.mib", 1, 512, 512, ad::DType::uint16, 4093, 845907},
      {"Quad_1_Frame_CounterDepth_24_Rows_256.mib", 1, 512, 512, ad::DType::uint32, 4095, 778764},
      {"Single_9_Frame_CounterDepth_6_Rows_256.mib", 9, 256, 256, ad::DType::uint8, 63, 217684},
      {"Single_9_Frame_CounterDepth_12_Rows_256.mib", 9, 256, 256, ad::DType::uint16, -1, 260753},
  };
  for (const auto& f : fixtures) {
    SCOPED_TRACE(f.file);
    AUTOSTEM_REQUIRE_DATA(path, fs::path("4dstem/merlin") / f.file);
    EXPECT_EQ(ad::detect_format(path), ad::FileFormat::mib);
    const ad::Signal s = ad::read_signal(path);  // the front door, as `autostem info` uses
    ASSERT_EQ(s.ndim(), 4u);
    EXPECT_EQ(s.shape(), (std::vector<std::size_t>{1, f.frames, f.ky, f.kx}));
    EXPECT_TRUE(s.axes[0].navigate && s.axes[1].navigate && !s.axes[2].navigate && !s.axes[3].navigate);
    EXPECT_EQ(s.dtype, f.dtype);
    const Stats st = stats(s);
    EXPECT_EQ(st.sum, f.sum);
    if (f.max >= 0) {
      EXPECT_EQ(st.max, f.max);
    }
    EXPECT_EQ(s.metadata.at("Merlin.frames_in_file"), std::to_string(f.frames));
  }
}

// MANIFEST: brightest summed pixel (row 120, col 21) and (row 60, col 19), in file row order.
TEST(Mib, BrightestSummedPixelIsInFileRowOrder) {
  AUTOSTEM_REQUIRE_DATA(a, "4dstem/merlin/001_4x2_6bit.mib");
  AUTOSTEM_REQUIRE_DATA(b, "4dstem/merlin/002_4x2_6bit_roi128.mib");
  const Stats sa = stats(ad::read_mib(a)), sb = stats(ad::read_mib(b));
  EXPECT_EQ(sa.argmax_row, 120u);
  EXPECT_EQ(sa.argmax_col, 21u);
  EXPECT_EQ(sb.argmax_row, 60u);
  EXPECT_EQ(sb.argmax_col, 19u);
}

TEST(Mib, HeadersGiveCounterDepthShutterAndFramePeriod) {
  AUTOSTEM_REQUIRE_DATA(p6, "4dstem/merlin/Single_9_Frame_CounterDepth_6_Rows_256.mib");
  AUTOSTEM_REQUIRE_DATA(p12, "4dstem/merlin/Single_9_Frame_CounterDepth_12_Rows_256.mib");
  for (const auto& p : {p6, p12}) {
    ad::MibFile f(p);
    EXPECT_EQ(f.header().chips, 1);
    EXPECT_EQ(f.header().header_bytes, 384u);
    EXPECT_DOUBLE_EQ(f.header().shutter_s, 0.001);
    EXPECT_EQ(f.frame_header(8).sequence, 9u);
    // MANIFEST: 1 ms shutter → 1.000 ms per frame at 6 and 12 bit (timestamps in ns).
    ASSERT_TRUE(f.frame_period_s());
    EXPECT_NEAR(*f.frame_period_s(), 1.000e-3, 0.0005e-3);
  }
  EXPECT_EQ(ad::MibFile(p6).header().counter_depth, 6);
  EXPECT_EQ(ad::MibFile(p12).header().counter_depth, 12);
  EXPECT_EQ(ad::MibFile(p12).frame_stride_bytes(), 384u + 2u * 256u * 256u);
}

// R64 1-bit: the single-chip raw frame decodes to 0/1 counts that match the processed 1-bit
// frame taken moments later on the same detector (not the same exposure: near, not equal).
TEST(Mib, RawOneBitSingleDecodesLikeTheProcessedFrame) {
  AUTOSTEM_REQUIRE_DATA(raw, "4dstem/merlin/Single_1_Frame_CounterDepth_1_Rows_256RAW.mib");
  AUTOSTEM_REQUIRE_DATA(u08, "4dstem/merlin/Single_1_Frame_CounterDepth_1_Rows_256.mib");
  const ad::Signal s = ad::read_signal(raw);
  EXPECT_EQ(s.shape(), (std::vector<std::size_t>{1, 1, 256, 256}));
  EXPECT_EQ(s.metadata.at("Merlin.pixel_type"), "R64");
  const Stats st = stats(s);
  EXPECT_EQ(st.max, 1.0);
  EXPECT_GT(st.sum, 2000.0);
  const auto a = frame(raw), b = frame(u08);
  const double c = correlation(a, b);
  EXPECT_GT(c, 0.95);
  EXPECT_GT(c, correlation(flip_rows(a, 256, 256), b) + 0.5);
  EXPECT_GT(c, correlation(flip_cols(a, 256, 256), b) + 0.5);
}

// R64 quad: 1024×256 stored, 512×512 decoded with quadrants 3 and 4 flipped; the decoded frame
// correlates with the processed 6-bit quad frame, and clearly better than with either flip.
TEST(Mib, RawOneBitQuadAssemblesTheQuadrants) {
  AUTOSTEM_REQUIRE_DATA(raw, "4dstem/merlin/Quad_1_Frame_CounterDepth_1_Rows_256RAW.mib");
  AUTOSTEM_REQUIRE_DATA(q6, "4dstem/merlin/Quad_1_Frame_CounterDepth_6_Rows_256.mib");
  ad::MibFile f(raw);
  EXPECT_EQ(f.header().width, 1024u);
  EXPECT_EQ(f.header().height, 256u);
  EXPECT_EQ(f.header().header_bytes, 768u);
  EXPECT_EQ(f.ky(), 512u);
  EXPECT_EQ(f.kx(), 512u);
  EXPECT_EQ(f.frame_stride_bytes(), 33536u);  // MANIFEST: 768 + 1024·256 bits
  const auto a = frame(raw), b = frame(q6);
  const double c = correlation(a, b);
  EXPECT_GT(c, 0.7);
  EXPECT_GT(c, correlation(flip_rows(a, 512, 512), b) + 0.3);
  EXPECT_GT(c, correlation(flip_cols(a, 512, 512), b) + 0.3);
}

TEST(Mib, ScanShapeFromTheCallerOrderTheFramesRowByRow) {
  AUTOSTEM_REQUIRE_DATA(p, "4dstem/merlin/001_4x2_6bit.mib");
  const ad::Signal one_row = ad::read_mib(p);
  EXPECT_EQ(one_row.metadata.at("Merlin.scan_shape_source"), "none");
  const ad::Signal s = ad::read_mib(p, {2, 4, true});
  EXPECT_EQ(s.shape(), (std::vector<std::size_t>{2, 4, 256, 256}));
  EXPECT_EQ(s.metadata.at("Merlin.scan_shape_source"), "caller");
  EXPECT_EQ(s.metadata.count("Merlin.warning"), 0u);
  // Scan pixel (1, 2) is frame 6 of the file.
  const auto f6 = frame(p, 6);
  const std::size_t n = 256 * 256;
  for (std::size_t i = 0; i < n; i += 97) EXPECT_EQ(s.value((1 * 4 + 2) * n + i), f6[i]);
  // The front door takes the shape from AUTOSTEM_MIB_SCAN.
  ::setenv("AUTOSTEM_MIB_SCAN", "2x4", 1);
  EXPECT_EQ(ad::read_signal(p).shape(), (std::vector<std::size_t>{2, 4, 256, 256}));
  ::setenv("AUTOSTEM_MIB_SCAN", "2by4", 1);
  EXPECT_THROW(ad::read_signal(p), std::invalid_argument);
  ::unsetenv("AUTOSTEM_MIB_SCAN");
}

TEST(Mib, ScanShapeFromTheHdrLineTrigger) {
  AUTOSTEM_REQUIRE_DATA(p, "4dstem/merlin/001_4x2_6bit.mib");
  const fs::path dir = fs::temp_directory_path() / ("autostem_mib_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  fs::copy_file(p, dir / "scan.mib", fs::copy_options::overwrite_existing);
  {
    std::ofstream h(dir / "scan.hdr");
    h << "HDR,\t\nFrames in Acquisition (Number):\t8\nFrames per Trigger (Number):\t4\nEnd\t\n";
  }
  const ad::Signal s = ad::read_mib(dir / "scan.mib");
  EXPECT_EQ(s.shape(), (std::vector<std::size_t>{2, 4, 256, 256}));
  EXPECT_EQ(s.metadata.at("Merlin.scan_shape_source"), "hdr");
  EXPECT_EQ(s.metadata.at("Merlin.hdr.Frames per Trigger (Number)"), "4");
  fs::remove_all(dir);
}

// An interrupted acquisition (the file stops after 7 of 8 frames): the complete rows with a
// warning, or a clear error when partial scans are refused or not one row is complete.
TEST(Mib, InterruptedScanKeepsCompleteRowsOrFailsClearly) {
  AUTOSTEM_REQUIRE_DATA(p, "4dstem/merlin/001_4x2_6bit.mib");
  const fs::path dir = fs::temp_directory_path() / ("autostem_mib_int_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::size_t stride = 384 + 256 * 256;
  copy_prefix(p, dir / "cut.mib", 7 * stride + 1000);  // 7 frames and a torn eighth
  ad::MibFile f(dir / "cut.mib");
  EXPECT_EQ(f.frames(), 7u);
  const ad::Signal s = ad::read_mib(dir / "cut.mib", {2, 4, true});
  EXPECT_EQ(s.shape(), (std::vector<std::size_t>{1, 4, 256, 256}));
  ASSERT_EQ(s.metadata.count("Merlin.warning"), 1u);
  EXPECT_NE(s.metadata.at("Merlin.warning").find("needs 8 frames but the file holds 7"), std::string::npos);
  try {
    ad::read_mib(dir / "cut.mib", {2, 4, false});
    ADD_FAILURE() << "a refused partial scan must throw";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("interrupted"), std::string::npos) << e.what();
  }
  EXPECT_THROW(ad::read_mib(dir / "cut.mib", {1, 8, true}), std::runtime_error);  // no full row
  // Without a scan shape: one row of the 7 complete frames, and the .hdr's 8 noted.
  copy_prefix(fs::path(p).replace_extension(".hdr"), dir / "cut.hdr", 1 << 20);
  const ad::Signal row = ad::read_mib(dir / "cut.mib");
  EXPECT_EQ(row.shape(), (std::vector<std::size_t>{1, 7, 256, 256}));
  EXPECT_NE(row.metadata.at("Merlin.warning").find("announces 8 frames"), std::string::npos);
  fs::remove_all(dir);
}

TEST(Mib, DamagedHeadersGiveErrorsNamingTheProblem) {
  EXPECT_THROW(ad::parse_mib_frame_header("MQ1,000001,00384"), std::invalid_argument);
  EXPECT_THROW(ad::parse_mib_frame_header("XQ1,000001,00384,01,0256,0256,U08,1x1,01,t,0.1"),
               std::invalid_argument);
  try {
    ad::parse_mib_frame_header("MQ1,000001,00384,01,0256,0256,F64,   1x1,01,t,0.001");
    ADD_FAILURE();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("F64"), std::string::npos);
  }
  const auto h = ad::parse_mib_frame_header(
      "MQ1,000003,00384,01,0256,0128,U16,   1x1,01,2021-04-15 14:43:47.008505,0.001000,0,0,0,"
      "MQ1A,2021-04-15T13:43:47.008505401Z,1000000ns,12,");
  EXPECT_EQ(h.sequence, 3u);
  EXPECT_EQ(h.height, 128u);
  EXPECT_EQ(h.layout, "1x1");
  EXPECT_EQ(h.counter_depth, 12);
  const fs::path junk = fs::temp_directory_path() / ("autostem_mib_junk_" + std::to_string(::getpid()) + ".mib");
  std::ofstream(junk) << "MQ1,000001,00384,01,0256,0256,U08,1x1,01,t,0.1,";
  EXPECT_THROW(ad::MibFile{junk}, std::runtime_error);  // shorter than one frame
  fs::remove(junk);
}

// A .mib becomes 4D ground truth: four_d (rows, cols, ky, kx) and, without a survey, each
// pattern's total counts as the survey.
TEST(Mib, GroundTruthFromAMibIsFourDimensional) {
  AUTOSTEM_REQUIRE_DATA(p, "4dstem/merlin/001_4x2_6bit.mib");
  ::setenv("AUTOSTEM_MIB_SCAN", "2x4", 1);
  const auto gt = ad::load_ground_truth(p, std::nullopt);
  ::unsetenv("AUTOSTEM_MIB_SCAN");
  ASSERT_TRUE(gt.four_d.has_value());
  EXPECT_FALSE(gt.spectrum_image.has_value());
  EXPECT_EQ(gt.four_d->rows(), 2u);
  EXPECT_EQ(gt.four_d->cols(), 4u);
  EXPECT_EQ(gt.four_d->ky(), 256u);
  EXPECT_EQ(gt.survey.name, "4D total counts");
  EXPECT_EQ(gt.survey.data.sum(), 3623664.0);
  const auto f5 = frame(p, 5);
  EXPECT_EQ(gt.survey.data(1, 1), std::accumulate(f5.begin(), f5.end(), 0.0));
}

// MANIFEST 4dstem/fpd_merlin: fpd_expt/fpd_data/data (2, 2, 1, 256, 256) big-endian uint16,
// values 0…3493, read as 4D (the colour axis of length 1 dropped).
TEST(Mib, FpdHdf5ReadsAsFourDimensional) {
  AUTOSTEM_REQUIRE_DATA(p, "4dstem/fpd_merlin/fpd_file_test.hdf5");
  const ad::Signal s = ad::read_signal(p);
  EXPECT_EQ(s.shape(), (std::vector<std::size_t>{2, 2, 256, 256}));
  EXPECT_EQ(s.dtype, ad::DType::uint16);
  const Stats st = stats(s);
  EXPECT_EQ(st.max, 3493.0);
  EXPECT_EQ(st.sum, 3288875.0);  // numpy: f['fpd_expt/fpd_data/data'][...].sum()
  const auto gt = ad::load_ground_truth(p, std::nullopt);
  ASSERT_TRUE(gt.four_d.has_value());
  EXPECT_EQ(gt.four_d->rows(), 2u);
}
