// Signal type, dtype helpers, format detection by content and the reader front door.
#include <autostem/datasets/signal.hpp>

#include <hdf5.h>

#include <gtest/gtest.h>
#include <test_data.hpp>

#include <cstring>
#include <fstream>

#include <unistd.h>

namespace ds = autostem::datasets;
namespace fs = std::filesystem;

namespace {

fs::path temp_path(const std::string& name) {
  return fs::temp_directory_path() / ("autostem_test_signal_" + std::to_string(::getpid()) + "_" + name);
}

void write_bytes(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary);
  out << bytes;
}

ds::Signal make_signal(ds::DType t, std::vector<std::size_t> shape) {
  ds::Signal s;
  s.dtype = t;
  for (auto n : shape) {
    autostem::AxisCalibration a;
    a.size = n;
    s.axes.push_back(a);
  }
  s.bytes.resize(s.size() * ds::dtype_size(t));
  return s;
}

}  // namespace

TEST(DType, SizesAndNames) {
  EXPECT_EQ(ds::dtype_size(ds::DType::int16), 2u);
  EXPECT_EQ(ds::dtype_size(ds::DType::complex128), 16u);
  EXPECT_EQ(ds::dtype_size(ds::DType::rgba8), 4u);
  EXPECT_EQ(ds::dtype_size(ds::DType::boolean), 1u);
  EXPECT_STREQ(ds::dtype_name(ds::DType::float32), "float32");
  EXPECT_STREQ(ds::dtype_name(ds::DType::boolean), "bool");
  EXPECT_STREQ(ds::dtype_name(ds::DType::rgba8), "rgba8");
}

TEST(Signal, ValuesAndViews) {
  ds::Signal s = make_signal(ds::DType::int16, {2, 3});
  const std::int16_t v[6] = {-3, 0, 7, 100, -32768, 32767};
  std::memcpy(s.bytes.data(), v, sizeof v);
  EXPECT_EQ(s.shape(), (std::vector<std::size_t>{2, 3}));
  EXPECT_EQ(s.size(), 6u);
  EXPECT_DOUBLE_EQ(s.value(4), -32768.0);
  EXPECT_EQ(s.to_double()[5], 32767.0);
  EXPECT_EQ(s.to_float()[0], -3.0f);
  EXPECT_EQ(s.as<std::int16_t>()[2], 7);
  EXPECT_EQ(s.as<std::uint16_t>().size(), 6u);  // same size and kind: allowed
  EXPECT_THROW(s.as<float>(), std::invalid_argument);
  EXPECT_THROW(s.as<std::int32_t>(), std::invalid_argument);
  EXPECT_THROW(s.value(6), std::out_of_range);

  ds::Signal c = make_signal(ds::DType::complex64, {2});
  const std::complex<float> z[2] = {{1.5f, -2.0f}, {3.0f, 4.0f}};
  std::memcpy(c.bytes.data(), z, sizeof z);
  EXPECT_EQ(c.value(1), 3.0);  // real part
  EXPECT_EQ((c.as<std::complex<float>>()[0]), (std::complex<float>{1.5f, -2.0f}));
  EXPECT_THROW(c.as<double>(), std::invalid_argument);

  ds::Signal rgba = make_signal(ds::DType::rgba8, {1});
  rgba.bytes = {std::byte{9}, std::byte{8}, std::byte{7}, std::byte{0}};
  EXPECT_EQ(rgba.value(0), 9.0);  // R
}

TEST(DetectFormat, RealFiles) {
  fs::path hspy;
  { AUTOSTEM_REQUIRE_DATA(path, "eels/cuzn_si/CuZn_HAADF.hspy"); hspy = path; }
  fs::path atomap;
  { AUTOSTEM_REQUIRE_DATA(path, "haadf/atomap_sto/test_ADF_cropped.hdf5"); atomap = path; }
  fs::path npy;
  { AUTOSTEM_REQUIRE_DATA(path, "haadf/graphene/G-Si-2nm.npy"); npy = path; }
  fs::path dm3;
  { AUTOSTEM_REQUIRE_DATA(path, "eels/spectra/EELS_STO.dm3"); dm3 = path; }
  fs::path dm4;
  { AUTOSTEM_REQUIRE_DATA(path, "eels/si_dm4/EELS_SI.dm4"); dm4 = path; }
  fs::path ser;
  { AUTOSTEM_REQUIRE_DATA(path, "haadf/sto_ser/16_STOimage_1.ser"); ser = path; }
  fs::path fpd;
  { AUTOSTEM_REQUIRE_DATA(path, "4dstem/fpd_merlin/fpd_file_test.hdf5"); fpd = path; }
  EXPECT_EQ(ds::detect_format(hspy), ds::FileFormat::hspy);
  EXPECT_EQ(ds::detect_format(atomap), ds::FileFormat::hspy);  // HyperSpy HDF5 named .hdf5
  EXPECT_EQ(ds::detect_format(npy), ds::FileFormat::npy);
  EXPECT_EQ(ds::detect_format(dm3), ds::FileFormat::dm3);
  EXPECT_EQ(ds::detect_format(dm4), ds::FileFormat::dm4);
  EXPECT_EQ(ds::detect_format(ser), ds::FileFormat::ser);
  // MANIFEST: the fpd file has root version_major and groups with emd_group_type = 1.
  EXPECT_EQ(ds::detect_format(fpd), ds::FileFormat::emd_berkeley);
}

TEST(DetectFormat, ByContentNotExtension) {
  const fs::path junk = temp_path("junk.hspy");
  write_bytes(junk, "this is plain text, not HDF5");
  EXPECT_EQ(ds::detect_format(junk), ds::FileFormat::unknown);
  try {
    ds::read_signals(junk);
    ADD_FAILURE() << "expected an exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(junk.string()), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("not a recognised format"), std::string::npos) << e.what();
  }
  fs::remove(junk);

  const fs::path dm = temp_path("fake.bin");
  write_bytes(dm, std::string("\x00\x00\x00\x04\x00\x00\x00\x00", 8));
  EXPECT_EQ(ds::detect_format(dm), ds::FileFormat::dm4);
  write_bytes(dm, std::string("\x49\x49\x97\x01\x10\x02\x00\x00", 8));
  EXPECT_EQ(ds::detect_format(dm), ds::FileFormat::ser);
  fs::remove(dm);
}

TEST(DetectFormat, MissingFileNamesPath) {
  const fs::path missing = temp_path("does_not_exist.hspy");
  try {
    ds::detect_format(missing);
    ADD_FAILURE() << "expected an exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(missing.string()), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("no such file"), std::string::npos) << e.what();
  }
  EXPECT_THROW(ds::read_signal(missing), std::runtime_error);
}

TEST(DetectFormat, Hdf5WithUserBlockAndWithoutSignal) {
  // An HDF5 file with a 512-byte user block: the signature sits at offset 512 (HDF5 spec §2.1).
  const fs::path p = temp_path("userblock.h5");
  {
    hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
    H5Pset_userblock(fcpl, 512);
    hid_t f = H5Fcreate(p.c_str(), H5F_ACC_TRUNC, fcpl, H5P_DEFAULT);
    ASSERT_GE(f, 0);
    hid_t g = H5Gcreate2(f, "empty_group", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Gclose(g);
    H5Fclose(f);
    H5Pclose(fcpl);
  }
  EXPECT_EQ(ds::detect_format(p), ds::FileFormat::hdf5_other);
  try {
    ds::read_signals(p);
    ADD_FAILURE() << "expected an exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("without any signal"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(p.string()), std::string::npos) << e.what();
  }
  // The generic HDF5 reader returns numeric datasets, named by their path.
  {
    hid_t f = H5Fopen(p.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    hsize_t dims[2] = {2, 3};
    hid_t sp = H5Screate_simple(2, dims, nullptr);
    hid_t d = H5Dcreate2(f, "empty_group/values", H5T_STD_I32BE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    const std::int32_t v[6] = {1, 2, 3, 4, 5, -6};
    H5Dwrite(d, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
    H5Dclose(d);
    H5Sclose(sp);
    H5Fclose(f);
  }
  auto all = ds::read_signals(p);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].title, "/empty_group/values");
  EXPECT_EQ(all[0].dtype, ds::DType::int32);
  EXPECT_EQ(all[0].shape(), (std::vector<std::size_t>{2, 3}));
  EXPECT_EQ(all[0].value(5), -6.0);  // big-endian on disk, native in memory
  fs::remove(p);
}
