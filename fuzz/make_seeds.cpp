// Writes small seed files for the fuzz corpora: DM3/DM4 in both byte orders (image and spectrum
// image, via the fixture writer), a 2-D and a 1-D TIA .ser series, a Berkeley EMD and a
// minimal Velox EMD with and without a spectrum stream. Usage: make_seeds OUT_DIR (writes OUT_DIR/corpus_{dm,ser,emd}/seed_*).
#include "formats_internal.hpp"

#include <hdf5.h>

#include <complex>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace ad = autostem::datasets;
namespace fs = std::filesystem;

namespace {

void save(const fs::path& p, const std::vector<std::byte>& b) {
  std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}
template <class T>
void put(std::vector<std::byte>& v, T x) {
  const auto* p = reinterpret_cast<const std::byte*>(&x);
  v.insert(v.end(), p, p + sizeof(T));
}

std::vector<std::byte> ser(bool two_d) {
  std::vector<std::byte> v;
  put<std::uint16_t>(v, 0x4949);
  put<std::uint16_t>(v, 0x0197);
  put<std::uint16_t>(v, two_d ? 0x0220 : 0x0210);
  put<std::uint32_t>(v, two_d ? 0x4122 : 0x4120);
  put<std::uint32_t>(v, 0x4152);
  put<std::uint32_t>(v, 2);
  put<std::uint32_t>(v, 2);
  const std::size_t at = v.size();
  if (two_d) put<std::uint64_t>(v, 0);
  else put<std::uint32_t>(v, 0);
  put<std::uint32_t>(v, 1);
  put<std::uint32_t>(v, 2);
  put<double>(v, 0);
  put<double>(v, 1);
  put<std::int32_t>(v, 0);
  put<std::uint32_t>(v, 6);
  for (char c : std::string("Number")) v.push_back(static_cast<std::byte>(c));
  put<std::uint32_t>(v, 0);
  std::vector<std::uint64_t> offs;
  for (int e = 0; e < 2; ++e) {
    offs.push_back(v.size());
    if (two_d) {
      for (int k = 0; k < 2; ++k) {
        put<double>(v, -1e-9);
        put<double>(v, 1e-11);
        put<std::int32_t>(v, 0);
      }
      put<std::uint16_t>(v, 2);
      put<std::uint32_t>(v, 8);
      put<std::uint32_t>(v, 8);
      for (int i = 0; i < 64; ++i) put<std::uint16_t>(v, static_cast<std::uint16_t>(i * 7 + e));
    } else {
      put<double>(v, 100);
      put<double>(v, 0.5);
      put<std::int32_t>(v, 3);
      put<std::uint16_t>(v, 7);
      put<std::uint32_t>(v, 16);
      for (int i = 0; i < 16; ++i) put<float>(v, static_cast<float>(i));
    }
  }
  const std::uint64_t table = v.size();
  if (two_d) std::memcpy(v.data() + at, &table, 8);
  else {
    const auto t32 = static_cast<std::uint32_t>(table);
    std::memcpy(v.data() + at, &t32, 4);
  }
  for (auto o : offs) two_d ? put<std::uint64_t>(v, o) : put<std::uint32_t>(v, static_cast<std::uint32_t>(o));
  for (std::size_t i = 0; i < offs.size(); ++i) two_d ? put<std::uint64_t>(v, 0) : put<std::uint32_t>(v, 0);
  return v;
}

void str_attr(hid_t o, const char* n, const char* v) {
  const hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, std::strlen(v) + 1);
  const hid_t s = H5Screate(H5S_SCALAR);
  const hid_t a = H5Acreate2(o, n, t, s, H5P_DEFAULT, H5P_DEFAULT);
  H5Awrite(a, t, v);
  H5Aclose(a);
  H5Sclose(s);
  H5Tclose(t);
}

hid_t dset(hid_t loc, const char* name, hid_t ft, hid_t mt, std::vector<hsize_t> dims, const void* data) {
  const hid_t s = H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
  const hid_t d = H5Dcreate2(loc, name, ft, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Dwrite(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
  H5Sclose(s);
  return d;
}

void berkeley(const fs::path& p) {
  const hid_t f = H5Fcreate(p.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  const hid_t g = H5Gcreate2(f, "data", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  const hid_t e = H5Gcreate2(g, "img", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  const int one = 1;
  const hid_t s = H5Screate(H5S_SCALAR);
  const hid_t a = H5Acreate2(e, "emd_group_type", H5T_STD_I32LE, s, H5P_DEFAULT, H5P_DEFAULT);
  H5Awrite(a, H5T_NATIVE_INT, &one);
  H5Aclose(a);
  H5Sclose(s);
  std::vector<float> d(24, 1.5f);
  H5Dclose(dset(e, "data", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, {4, 6}, d.data()));
  const double y[4] = {0, 1, 2, 3}, x[6] = {0, 2, 4, 6, 8, 10};
  hid_t d1 = dset(e, "dim1", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, {4}, y);
  str_attr(d1, "name", "y");
  str_attr(d1, "units", "nm");
  H5Dclose(d1);
  hid_t d2 = dset(e, "dim2", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, {6}, x);
  str_attr(d2, "name", "x");
  str_attr(d2, "units", "nm");
  H5Dclose(d2);
  H5Gclose(e);
  H5Gclose(g);
  H5Fclose(f);
}

void velox(const fs::path& p) {
  const hid_t f = H5Fcreate(p.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  const hid_t d = H5Gcreate2(f, "Data", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  const hid_t im = H5Gcreate2(d, "Image", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  const hid_t g = H5Gcreate2(im, "ab12", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  std::vector<std::uint16_t> v(4 * 4 * 2, 7);
  H5Dclose(dset(g, "Data", H5T_STD_U16LE, H5T_NATIVE_UINT16, {4, 4, 2}, v.data()));
  const std::string json = R"({"BinaryResult":{"Detector":"HAADF","PixelSize":{"width":"1e-10","height":"1e-10"},"PixelUnitX":"m","PixelUnitY":"m"},"Detectors":{"Detector-1":{"DetectorName":"HAADF","OffsetEnergy":"0","Dispersion":"10"}}})";
  std::vector<std::uint8_t> m((json.size() + 4) * 2, 0);
  for (std::size_t i = 0; i < json.size(); ++i) m[2 * i] = m[2 * i + 1] = static_cast<std::uint8_t>(json[i]);
  H5Dclose(dset(g, "Metadata", H5T_STD_U8LE, H5T_NATIVE_UINT8, {json.size() + 4, 2}, m.data()));
  H5Gclose(g);
  H5Gclose(im);
  const hid_t sp = H5Gcreate2(d, "Spectrum", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  const hid_t s1 = H5Gcreate2(sp, "s", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  std::vector<std::uint32_t> c(32, 3);
  H5Dclose(dset(s1, "Data", H5T_STD_U32LE, H5T_NATIVE_UINT32, {32, 1}, c.data()));
  std::vector<std::uint8_t> m1(json.size() + 1, 0);
  std::memcpy(m1.data(), json.data(), json.size());
  H5Dclose(dset(s1, "Metadata", H5T_STD_U8LE, H5T_NATIVE_UINT8, {json.size() + 1, 1}, m1.data()));
  H5Gclose(s1);
  H5Gclose(sp);
  H5Gclose(d);
  H5Fclose(f);
}

// A Velox EDS spectrum stream: 3 × 4 pixels, 16 channels, 2 frames; AcquisitionSettings as a
// one-element variable-length string (as Velox writes it), the stream's Metadata as uint8 JSON.
void velox_stream(const fs::path& p) {
  const hid_t f = H5Fcreate(p.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  const hsize_t one = 1;
  auto vlen = [&](hid_t loc, const char* name, const std::string& text) {
    const hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    const hid_t s = H5Screate_simple(1, &one, nullptr);
    const hid_t d = H5Dcreate2(loc, name, t, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    const char* ptr = text.c_str();
    H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, &ptr);
    H5Dclose(d);
    H5Sclose(s);
    H5Tclose(t);
  };
  vlen(f, "Version", R"({"format": "Velox", "version": "11"})");
  const hid_t d = H5Gcreate2(f, "Data", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  const hid_t ss = H5Gcreate2(d, "SpectrumStream", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  const hid_t g = H5Gcreate2(ss, "5e", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  std::vector<std::uint16_t> stream;
  for (int fr = 0; fr < 2; ++fr)
    for (int px = 0; px < 12; ++px) {
      for (int k = 0; k < px % 3 + fr; ++k) stream.push_back(static_cast<std::uint16_t>((3 * px + 5 * fr + 7 * k) % 16));
      stream.push_back(65535);
    }
  H5Dclose(dset(g, "Data", H5T_STD_U16LE, H5T_NATIVE_UINT16, {stream.size(), 1}, stream.data()));
  vlen(g, "AcquisitionSettings",
       R"({"bincount": "16", "StreamEncoding": "uint16", "RasterScanDefinition": {"Width": "4", "Height": "3"}})");
  const std::string json = R"({"BinaryResult":{"Detector":"SuperXG21","PixelSize":{"width":"2e-10","height":"2e-10"},"PixelUnitX":"m"},"Detectors":{"Detector-3":{"DetectorName":"SuperXG21","Dispersion":"10","OffsetEnergy":"-250"}}})";
  std::vector<std::uint8_t> m(json.size() + 1, 0);
  std::memcpy(m.data(), json.data(), json.size());
  H5Dclose(dset(g, "Metadata", H5T_STD_U8LE, H5T_NATIVE_UINT8, {json.size() + 1, 1}, m.data()));
  H5Gclose(g);
  H5Gclose(ss);
  H5Gclose(d);
  H5Fclose(f);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  const fs::path out = argv[1];
  fs::create_directories(out / "corpus_dm");
  fs::create_directories(out / "corpus_ser");
  fs::create_directories(out / "corpus_emd");
  std::vector<std::int16_t> img(8 * 8);
  for (std::size_t i = 0; i < img.size(); ++i) img[i] = static_cast<std::int16_t>(i);
  ad::detail::DMWriteImage im;
  im.dm_data_type = 1;
  im.dims = {8, 8};
  im.units = {"nm", "nm"};
  im.scales = {0.5, 0.5};
  im.data = {reinterpret_cast<const std::byte*>(img.data()), img.size() * 2};
  im.element_swap_width = 2;
  im.string_tags["Acquisition.Device.Name"] = "seed";
  for (int v : {3, 4})
    for (bool le : {true, false})
      save(out / "corpus_dm" / ("seed_img_dm" + std::to_string(v) + (le ? "le" : "be")), ad::detail::write_dm(im, v, le));
  std::vector<float> si(4 * 3 * 16, 2.0f);
  ad::detail::DMWriteImage s;
  s.dm_data_type = 2;
  s.dims = {4, 3, 16};
  s.units = {"nm", "nm", "eV"};
  s.format = "Spectrum image";
  s.signal = "EELS";
  s.data = {reinterpret_cast<const std::byte*>(si.data()), si.size() * 4};
  save(out / "corpus_dm" / "seed_si_dm4", ad::detail::write_dm(s, 4, true));
  save(out / "corpus_dm" / "seed_si_dm3be", ad::detail::write_dm(s, 3, false));
  std::vector<std::complex<float>> fft(5 * 3, {1.0f, -1.0f});
  ad::detail::DMWriteImage pk;
  pk.dm_data_type = 27;
  pk.dims = {5, 5};
  pk.data = {reinterpret_cast<const std::byte*>(fft.data()), fft.size() * 8};
  save(out / "corpus_dm" / "seed_packed_dm4", ad::detail::write_dm(pk, 4, true));
  save(out / "corpus_ser" / "seed_2d.ser", ser(true));
  save(out / "corpus_ser" / "seed_1d.ser", ser(false));
  berkeley(out / "corpus_emd" / "seed_berkeley.emd");
  velox(out / "corpus_emd" / "seed_velox.emd");
  velox_stream(out / "corpus_emd" / "seed_velox_stream.emd");
  return 0;
}
