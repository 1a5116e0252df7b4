// EMD files through the HDF5 C API: Berkeley EMD 0.2 (groups with attribute emd_group_type = 1
// holding "data" and "dim1"…"dimN") and Thermo Fisher Velox (/Data/<kind>/<id>/{Data, Metadata}
// with JSON metadata stored as uint8 arrays).
#include <autostem/datasets/formats.hpp>

#include "../h5.hpp"
#include "byte_cursor.hpp"
#include "formats_internal.hpp"
#include "transpose.hpp"

#include <hdf5.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <cmath>
#include <functional>
#include <optional>

namespace autostem::datasets {
namespace detail {
namespace {

using Hid = h5::Handle;  // the one RAII handle of autostem::datasets (h5.hpp)

// HDF5 prints its error stack to stderr by default; a reader reports through exceptions instead.
class QuietHdf5 {
 public:
  QuietHdf5() {
    H5Eget_auto2(H5E_DEFAULT, &func_, &data_);
    if (!std::getenv("AUTOSTEM_HDF5_VERBOSE")) H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  }
  ~QuietHdf5() { H5Eset_auto2(H5E_DEFAULT, func_, data_); }

 private:
  H5E_auto2_t func_ = nullptr;
  void* data_ = nullptr;
};

[[noreturn]] void emd_error(const std::string& source, const std::string& where, const std::string& what) {
  throw std::runtime_error(source + ": " + where + ": " + what);
}

bool link_exists(hid_t loc, const std::string& path) {
  // Check each component so that a missing intermediate group is not an HDF5 error.
  std::size_t start = 0;
  while (start <= path.size()) {
    const auto slash = path.find('/', start);
    const std::string prefix = path.substr(0, slash);
    if (!prefix.empty() && H5Lexists(loc, prefix.c_str(), H5P_DEFAULT) <= 0) return false;
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return true;
}

std::optional<std::string> attr_string(hid_t obj, const char* name) {
  if (H5Aexists(obj, name) <= 0) return std::nullopt;
  Hid a(H5Aopen(obj, name, H5P_DEFAULT), H5Aclose);
  if (!a) return std::nullopt;
  Hid t(H5Aget_type(a.get()), H5Tclose);
  if (!t || H5Tget_class(t.get()) != H5T_STRING) return std::nullopt;
  Hid space(H5Aget_space(a.get()), H5Sclose);
  if (H5Sget_simple_extent_npoints(space.get()) != 1) return std::nullopt;
  if (H5Tis_variable_str(t.get()) > 0) {
    Hid mt(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(mt.get(), H5T_VARIABLE);
    H5Tset_cset(mt.get(), H5Tget_cset(t.get()));  // no ASCII ↔ UTF-8 conversion in HDF5
    char* s = nullptr;
    if (H5Aread(a.get(), mt.get(), &s) < 0 || !s) return std::nullopt;
    std::string out(s);
    H5free_memory(s);
    return out;
  }
  const std::size_t n = H5Tget_size(t.get());
  if (n == 0 || n > (1u << 20)) return std::nullopt;
  std::string out(n, '\0');
  Hid mt(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(mt.get(), n);
  H5Tset_cset(mt.get(), H5Tget_cset(t.get()));
  if (H5Aread(a.get(), mt.get(), out.data()) < 0) return std::nullopt;
  out.resize(std::strlen(out.c_str()));
  return out;
}

std::optional<double> attr_number(hid_t obj, const char* name) {
  if (H5Aexists(obj, name) <= 0) return std::nullopt;
  Hid a(H5Aopen(obj, name, H5P_DEFAULT), H5Aclose);
  if (!a) return std::nullopt;
  Hid t(H5Aget_type(a.get()), H5Tclose);
  const auto cls = H5Tget_class(t.get());
  if (cls != H5T_INTEGER && cls != H5T_FLOAT) return std::nullopt;
  Hid space(H5Aget_space(a.get()), H5Sclose);
  if (H5Sget_simple_extent_npoints(space.get()) != 1) return std::nullopt;
  double v = 0;
  if (H5Aread(a.get(), H5T_NATIVE_DOUBLE, &v) < 0) return std::nullopt;
  return v;
}

struct MemType {
  DType dtype;
  hid_t mem;  // a predefined native type, or a compound we own
  bool owned = false;
};

std::optional<MemType> memory_type(hid_t file_type) {
  const auto cls = H5Tget_class(file_type);
  const std::size_t size = H5Tget_size(file_type);
  if (cls == H5T_INTEGER) {
    const bool sign = H5Tget_sign(file_type) == H5T_SGN_2;
    switch (size) {
      case 1: return MemType{sign ? DType::int8 : DType::uint8, sign ? H5T_NATIVE_INT8 : H5T_NATIVE_UINT8};
      case 2: return MemType{sign ? DType::int16 : DType::uint16, sign ? H5T_NATIVE_INT16 : H5T_NATIVE_UINT16};
      case 4: return MemType{sign ? DType::int32 : DType::uint32, sign ? H5T_NATIVE_INT32 : H5T_NATIVE_UINT32};
      case 8: return MemType{sign ? DType::int64 : DType::uint64, sign ? H5T_NATIVE_INT64 : H5T_NATIVE_UINT64};
      default: return std::nullopt;
    }
  }
  if (cls == H5T_FLOAT) {
    if (size <= 4) return MemType{DType::float32, H5T_NATIVE_FLOAT};
    if (size == 8) return MemType{DType::float64, H5T_NATIVE_DOUBLE};
    return std::nullopt;
  }
  if (cls == H5T_ENUM && size == 1) return MemType{DType::boolean, H5T_NATIVE_UINT8};
  if (cls == H5T_COMPOUND && H5Tget_nmembers(file_type) == 2) {
    Hid m0(H5Tget_member_type(file_type, 0), H5Tclose), m1(H5Tget_member_type(file_type, 1), H5Tclose);
    if (H5Tget_class(m0.get()) != H5T_FLOAT || H5Tget_class(m1.get()) != H5T_FLOAT) return std::nullopt;
    const std::size_t s = H5Tget_size(m0.get());
    if (s != H5Tget_size(m1.get()) || (s != 4 && s != 8)) return std::nullopt;
    char* n0 = H5Tget_member_name(file_type, 0);
    char* n1 = H5Tget_member_name(file_type, 1);
    const hid_t ct = H5Tcreate(H5T_COMPOUND, 2 * s);
    H5Tinsert(ct, n0, 0, s == 4 ? H5T_NATIVE_FLOAT : H5T_NATIVE_DOUBLE);
    H5Tinsert(ct, n1, s, s == 4 ? H5T_NATIVE_FLOAT : H5T_NATIVE_DOUBLE);
    H5free_memory(n0);
    H5free_memory(n1);
    return MemType{s == 4 ? DType::complex64 : DType::complex128, ct, true};
  }
  return std::nullopt;
}

// Reads a whole dataset, keeping its dtype. The declared size is checked against what the file
// stores (compression rarely exceeds 1000:1) before anything is allocated.
Signal read_dataset(hid_t file, const std::string& path, const std::string& source) {
  Hid d(H5Dopen2(file, path.c_str(), H5P_DEFAULT), H5Dclose);
  if (!d) emd_error(source, path, "cannot open dataset");
  Hid t(H5Dget_type(d.get()), H5Tclose);
  auto mt = memory_type(t.get());
  if (!mt) emd_error(source, path, "unsupported HDF5 data type (expected integer, float, bool or complex)");
  Hid owned_mem(mt->owned ? mt->mem : -1, H5Tclose);
  Hid space(H5Dget_space(d.get()), H5Sclose);
  const int rank = H5Sget_simple_extent_ndims(space.get());
  if (rank < 0 || rank > 32) emd_error(source, path, "invalid dataspace rank");
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
  H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  const std::size_t es = dtype_size(mt->dtype);
  std::uint64_t n = 1;
  for (auto v : dims) {
    if (v == 0) emd_error(source, path, "dataset has an empty dimension");
    if (n > (std::uint64_t{1} << 40) / v) emd_error(source, path, "dataset declares more than 2^40 elements");
    n *= v;
  }
  const std::uint64_t storage = H5Dget_storage_size(d.get());
  const std::uint64_t allowed = std::max<std::uint64_t>(storage * 1000, std::uint64_t{64} << 20);
  if (n * es > allowed)
    emd_error(source, path, "dataset declares " + std::to_string(n * es) + " bytes but stores only " +
                                std::to_string(storage) + " (corrupt or hostile file)");
  Signal s;
  s.dtype = mt->dtype;
  s.title = path;
  resize_for_overwrite_large(s.bytes, static_cast<std::size_t>(n * es));
  if (H5Dread(d.get(), mt->mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, s.bytes.data()) < 0)
    emd_error(source, path, "reading the data failed (corrupt file?)");
  for (int i = 0; i < rank; ++i) {
    AxisCalibration a;
    a.size = static_cast<std::size_t>(dims[static_cast<std::size_t>(i)]);
    a.name = "dim" + std::to_string(i + 1);
    s.axes.push_back(a);
  }
  return s;
}

// Berkeley dimK: a 1-D vector of axis values; offset = first, scale = second − first.
void calibrate_berkeley_axis(hid_t file, const std::string& group, std::size_t k, AxisCalibration& axis,
                             const std::string& source) {
  const std::string path = group + "/dim" + std::to_string(k + 1);
  if (!link_exists(file, path)) return;
  Hid d(H5Dopen2(file, path.c_str(), H5P_DEFAULT), H5Dclose);
  if (!d) return;
  if (auto n = attr_string(d.get(), "name")) axis.name = *n;
  if (auto u = attr_string(d.get(), "units")) axis.units = *u;
  Hid space(H5Dget_space(d.get()), H5Sclose);
  const hssize_t npts = H5Sget_simple_extent_npoints(space.get());
  if (npts < 1 || H5Sget_simple_extent_ndims(space.get()) != 1) return;
  Hid t(H5Dget_type(d.get()), H5Tclose);
  const auto cls = H5Tget_class(t.get());
  if (cls != H5T_INTEGER && cls != H5T_FLOAT) return;
  const hsize_t count = std::min<hsize_t>(static_cast<hsize_t>(npts), 2);
  double v[2] = {0, 0};
  const hsize_t start = 0;
  Hid mspace(H5Screate_simple(1, &count, nullptr), H5Sclose);
  H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, &start, nullptr, &count, nullptr);
  if (H5Dread(d.get(), H5T_NATIVE_DOUBLE, mspace.get(), space.get(), H5P_DEFAULT, v) < 0)
    emd_error(source, path, "cannot read the axis values");
  axis.offset = v[0];
  if (count == 2 && std::isfinite(v[1] - v[0])) axis.scale = v[1] - v[0];
}

// Collects groups carrying emd_group_type = 1, depth-first in name order.
void find_berkeley_groups(hid_t file, const std::string& path, int depth, std::vector<std::string>& out,
                          std::size_t& visited) {
  if (depth > 32 || ++visited > 100000) return;
  Hid g(H5Gopen2(file, path.c_str(), H5P_DEFAULT), H5Gclose);
  if (!g) return;
  if (auto t = attr_number(g.get(), "emd_group_type"); t && *t == 1) out.push_back(path);
  H5G_info_t info{};
  if (H5Gget_info(g.get(), &info) < 0) return;
  for (hsize_t i = 0; i < info.nlinks && i < 100000; ++i) {
    char name[1024];
    const ssize_t len = H5Lget_name_by_idx(g.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name, H5P_DEFAULT);
    if (len <= 0 || static_cast<std::size_t>(len) >= sizeof name) continue;
    H5L_info_t li{};
    if (H5Lget_info(g.get(), name, &li, H5P_DEFAULT) < 0 || li.type != H5L_TYPE_HARD) continue;
    H5O_info_t oi{};
    if (H5Oget_info_by_name(g.get(), name, &oi, H5P_DEFAULT) < 0 || oi.type != H5O_TYPE_GROUP) continue;
    find_berkeley_groups(file, (path == "/" ? "" : path) + "/" + name, depth + 1, out, visited);
  }
}

std::vector<std::string> child_names(hid_t file, const std::string& path) {
  std::vector<std::string> out;
  if (!link_exists(file, path)) return out;
  Hid g(H5Gopen2(file, path.c_str(), H5P_DEFAULT), H5Gclose);
  if (!g) return out;
  H5G_info_t info{};
  if (H5Gget_info(g.get(), &info) < 0) return out;
  for (hsize_t i = 0; i < info.nlinks && i < 10000; ++i) {
    char name[1024];
    const ssize_t len = H5Lget_name_by_idx(g.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name, H5P_DEFAULT);
    if (len > 0 && static_cast<std::size_t>(len) < sizeof name) out.emplace_back(name);
  }
  return out;
}

// Velox metadata flattened to "A.B.C" → scalar text while nlohmann_json parses it (SAX events),
// so that the keys read before an error are kept: Velox documents cut short still give their
// calibration. Array elements are keyed by index ("A.0.B"); numbers keep their text as written;
// true/false/null become that text; a later duplicate key wins. Stops (keeping what it has) past
// 64 levels of nesting or 100000 keys.
class JsonFlattener : public nlohmann::json_sax<nlohmann::json> {
 public:
  explicit JsonFlattener(std::map<std::string, std::string>& out) : out_(out) {}

  bool null() override { return scalar("null"); }
  bool boolean(bool v) override { return scalar(v ? "true" : "false"); }
  bool number_integer(number_integer_t v) override { return scalar(std::to_string(v)); }
  bool number_unsigned(number_unsigned_t v) override { return scalar(std::to_string(v)); }
  bool number_float(number_float_t, const string_t& text) override { return scalar(text); }
  bool string(string_t& v) override { return scalar(v); }
  bool binary(binary_t&) override { return false; }
  bool start_object(std::size_t) override { return open(false); }
  bool key(string_t& k) override {
    frames_.back().key = k;
    return true;
  }
  bool end_object() override { return close(); }
  bool start_array(std::size_t) override { return open(true); }
  bool end_array() override { return close(); }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    return false;
  }

 private:
  struct Frame {
    std::string path;  // the container's own key
    bool array = false;
    std::size_t next_index = 0;
    std::string key;  // the current member's key (objects)
  };
  std::map<std::string, std::string>& out_;
  std::vector<Frame> frames_;

  // The key of the value about to be delivered (advancing the array index).
  std::string member_key() {
    if (frames_.empty()) return "";
    Frame& f = frames_.back();
    const std::string k = f.array ? std::to_string(f.next_index++) : f.key;
    return f.path.empty() ? k : f.path + "." + k;
  }
  bool accept() const { return frames_.size() <= 64 && out_.size() <= 100000; }
  bool scalar(std::string text) {
    if (!accept()) return false;
    out_[member_key()] = std::move(text);
    return true;
  }
  bool open(bool array) {
    if (!accept()) return false;
    std::string path = member_key();
    frames_.push_back(Frame{std::move(path), array, 0, {}});
    return true;
  }
  bool close() {
    frames_.pop_back();
    return true;
  }
};

// Flattens text into out (JsonFlattener); true when its first JSON value parsed whole (text after
// it is ignored). On a parse error out keeps the keys read before it.
bool flatten_json(const std::string& text, std::map<std::string, std::string>& out) {
  JsonFlattener flattener(out);
  return nlohmann::json::sax_parse(text, &flattener, nlohmann::json::input_format_t::json,
                                   /*strict=*/false);
}

// The text of a Velox JSON document. Metadata is a (length, frames) uint8 array, NUL-padded,
// whose frame-0 column is used; AcquisitionSettings (spectrum streams) is a one-element HDF5
// string dataset (variable length in Velox's files, fixed length when h5py writes bytes). Both
// are accepted for either. Returns nullopt when the path does not exist.
std::optional<std::string> velox_text(hid_t file, const std::string& path, const std::string& source) {
  if (!link_exists(file, path)) return std::nullopt;
  {
    Hid d(H5Dopen2(file, path.c_str(), H5P_DEFAULT), H5Dclose);
    if (!d) emd_error(source, path, "cannot open dataset");
    Hid t(H5Dget_type(d.get()), H5Tclose);
    if (H5Tget_class(t.get()) == H5T_STRING) {
      Hid space(H5Dget_space(d.get()), H5Sclose);
      const int rank = H5Sget_simple_extent_ndims(space.get());
      if (rank < 0 || rank > 32 || H5Sget_simple_extent_npoints(space.get()) < 1)
        emd_error(source, path, "empty or invalid string dataset");
      // Select the first element only.
      std::vector<hsize_t> start(static_cast<std::size_t>(rank), 0), count(static_cast<std::size_t>(rank), 1);
      if (rank > 0 &&
          H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr) < 0)
        emd_error(source, path, "cannot select the first string");
      Hid mspace(H5Screate(H5S_SCALAR), H5Sclose);
      Hid mt(H5Tcopy(H5T_C_S1), H5Tclose);
      // Same character set as the file (h5py and Velox write UTF-8): HDF5 does not convert
      // between ASCII and UTF-8 strings.
      H5Tset_cset(mt.get(), H5Tget_cset(t.get()));
      if (H5Tis_variable_str(t.get()) > 0) {
        H5Tset_size(mt.get(), H5T_VARIABLE);
        char* text = nullptr;
        if (H5Dread(d.get(), mt.get(), mspace.get(), space.get(), H5P_DEFAULT, &text) < 0 || !text)
          emd_error(source, path, "cannot read the variable-length string (corrupt file?)");
        std::string out(text);
        H5free_memory(text);
        return out;
      }
      const std::size_t n = H5Tget_size(t.get());
      if (n == 0 || n > (std::size_t{1} << 24))
        emd_error(source, path, "fixed-length string of " + std::to_string(n) + " bytes (expected 1 byte to 16 MiB)");
      H5Tset_size(mt.get(), n);
      H5Tset_strpad(mt.get(), H5T_STR_NULLPAD);
      std::string out(n, '\0');
      if (H5Dread(d.get(), mt.get(), mspace.get(), space.get(), H5P_DEFAULT, out.data()) < 0)
        emd_error(source, path, "cannot read the string (corrupt file?)");
      out.resize(std::strlen(out.c_str()));
      return out;
    }
  }
  Signal raw = read_dataset(file, path, source);
  if (raw.dtype != DType::uint8 && raw.dtype != DType::int8) return std::string();
  const std::size_t len = raw.axes.empty() ? 0 : raw.axes[0].size;
  const std::size_t cols = raw.axes.size() > 1 ? raw.size() / std::max<std::size_t>(len, 1) : 1;
  std::string text;
  text.reserve(len);
  for (std::size_t r = 0; r < len; ++r) {
    const char ch = static_cast<char>(raw.bytes[r * cols]);
    if (ch == '\0') break;
    text += ch;
  }
  return text;
}

// A Velox JSON document flattened to "A.B.C" → scalar text; empty if the path does not exist.
std::map<std::string, std::string> velox_json(hid_t file, const std::string& path, const std::string& source) {
  std::map<std::string, std::string> out;
  const auto text = velox_text(file, path, source);
  if (!text) return out;
  flatten_json(*text, out);  // partial metadata is kept even if the JSON is cut short
  return out;
}

double number_or(const std::map<std::string, std::string>& m, const std::string& key, double fallback) {
  const auto it = m.find(key);
  if (it == m.end()) return fallback;
  char* end = nullptr;
  const double v = std::strtod(it->second.c_str(), &end);
  return end != it->second.c_str() && std::isfinite(v) ? v : fallback;
}

std::string text_or(const std::map<std::string, std::string>& m, const std::string& key, std::string fallback = {}) {
  const auto it = m.find(key);
  return it == m.end() ? fallback : it->second;
}

void add_metadata(Signal& s, const std::map<std::string, std::string>& meta) {
  std::size_t budget = 4096;
  for (const auto& [k, v] : meta) {
    if (budget-- == 0) break;
    s.metadata["Velox." + k] = v;
  }
}

// Energy calibration of the detector named in BinaryResult.Detector: Detectors.*.OffsetEnergy
// and .Dispersion (eV).
void velox_energy_axis(const std::map<std::string, std::string>& meta, AxisCalibration& axis) {
  const std::string det = text_or(meta, "BinaryResult.Detector");
  for (const auto& [k, v] : meta) {
    if (k.rfind("Detectors.", 0) != 0 || k.size() < 13 || k.substr(k.size() - 13) != ".DetectorName") continue;
    if (!det.empty() && v.find(det) == std::string::npos && det.find(v) == std::string::npos) continue;
    const std::string base = k.substr(0, k.size() - 13);
    axis.offset = number_or(meta, base + ".OffsetEnergy", 0.0);
    axis.scale = number_or(meta, base + ".Dispersion", 1.0);
    break;
  }
  axis.units = "eV";
  axis.name = "Energy";
}

void velox_xy(const std::map<std::string, std::string>& meta, AxisCalibration& y, AxisCalibration& x) {
  x.scale = number_or(meta, "BinaryResult.PixelSize.width", 1.0);
  y.scale = number_or(meta, "BinaryResult.PixelSize.height", 1.0);
  x.offset = number_or(meta, "BinaryResult.Offset.x", 0.0);
  y.offset = number_or(meta, "BinaryResult.Offset.y", 0.0);
  x.units = text_or(meta, "BinaryResult.PixelUnitX");
  y.units = text_or(meta, "BinaryResult.PixelUnitY");
  x.name = "x";
  y.name = "y";
}

// ---- Velox spectrum streams (EDS spectrum images) -------------------------------------------
// /Data/SpectrumStream/<id>/Data is a 1-D or (n, 1) uint16/uint32 event stream: 65535 ends the
// current scan pixel (raster order, x fastest; after Width × Height pixels the next frame starts
// at pixel 0 and frames are summed), any other value v is one X-ray count in energy channel v.
// AcquisitionSettings gives "bincount" and RasterScanDefinition {Width, Height}; the stream's
// Metadata gives the energy calibration (Detectors.*.Dispersion / OffsetEnergy, eV) and the
// pixel size (BinaryResult.PixelSize, m). Layout as documented by RosettaSciIO/HyperSpy's
// FeiSpectrumStream reader (information from FEI), re-implemented here.

constexpr std::uint32_t kStreamPixelMarker = 65535;
constexpr std::uint64_t kMaxSpectrumImageElements = std::uint64_t{1} << 31;

// Upper bound on the bytes of one decoded spectrum image: 2^31 elements × 4 bytes by default,
// lowered by AUTOSTEM_EMD_MAX_SI_BYTES (e.g. on small machines, and by the fuzz target).
std::uint64_t max_spectrum_image_bytes() {
  std::uint64_t cap = kMaxSpectrumImageElements * 4;
  if (const char* env = std::getenv("AUTOSTEM_EMD_MAX_SI_BYTES"); env && *env) {
    char* end = nullptr;
    const unsigned long long v = std::strtoull(env, &end, 10);
    if (end && *end == '\0' && v > 0) cap = std::min<std::uint64_t>(cap, v);
  }
  return cap;
}

// A non-negative integer setting ("4096" or 4096); nullopt if missing or not an integer.
std::optional<std::uint64_t> uint_setting(const std::map<std::string, std::string>& m, const std::string& key) {
  const auto it = m.find(key);
  if (it == m.end()) return std::nullopt;
  const std::string& t = it->second;
  if (t.empty() || t.size() > 19 || !std::all_of(t.begin(), t.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  return std::strtoull(t.c_str(), nullptr, 10);
}

struct VeloxStream {
  std::string path;  // /Data/SpectrumStream/<id>
  std::uint64_t width = 0, height = 0, bincount = 0;
  Signal raw;                                    // the event stream, flat, uint16 or uint32
  std::map<std::string, std::string> settings;  // AcquisitionSettings, flattened
  std::map<std::string, std::string> meta;      // Metadata, flattened (may be empty)
  AxisCalibration energy;
  bool energy_calibrated = false;
  std::string detector;
  std::uint64_t markers = 0, events = 0;
};

template <class T>
std::span<const T> stream_values(const Signal& raw) {
  return {reinterpret_cast<const T*>(raw.bytes.data()), raw.bytes.size() / sizeof(T)};
}

// Energy axis of a spectrum stream from its Metadata: the detector named by
// BinaryResult.Detector (matched as in velox_energy_axis) that has a Dispersion. False if none.
bool stream_energy_axis(const std::map<std::string, std::string>& meta, AxisCalibration& axis) {
  const std::string det = text_or(meta, "BinaryResult.Detector");
  for (const auto& [k, v] : meta) {
    if (k.rfind("Detectors.", 0) != 0 || k.size() < 13 || k.substr(k.size() - 13) != ".DetectorName") continue;
    if (!det.empty() && v.find(det) == std::string::npos && det.find(v) == std::string::npos) continue;
    const std::string base = k.substr(0, k.size() - 13);
    const double dispersion = number_or(meta, base + ".Dispersion", 0.0);
    if (!(dispersion > 0)) continue;
    axis.offset = number_or(meta, base + ".OffsetEnergy", 0.0);
    axis.scale = dispersion;
    axis.units = "eV";
    axis.name = "Energy";
    return true;
  }
  axis.offset = 0;
  axis.scale = 1;
  axis.units.clear();
  axis.name = "Energy channel";
  return false;
}

// Reads and checks one stream's settings and events (no spectrum image is allocated here).
// Returns nullopt for a stream without RasterScanDefinition (a point-spectrum stream, whose
// spectrum Velox also stores under /Data/Spectrum).
std::optional<VeloxStream> load_velox_stream(hid_t file, const std::string& path, const std::string& source) {
  VeloxStream st;
  st.path = path;
  const std::string settings_path = path + "/AcquisitionSettings";
  const auto text = velox_text(file, settings_path, source);
  if (!text)
    emd_error(source, settings_path,
              "missing: a spectrum stream cannot be decoded without its AcquisitionSettings (bincount, "
              "RasterScanDefinition)");
  if (!flatten_json(*text, st.settings))
    emd_error(source, settings_path, "AcquisitionSettings is not valid JSON");
  const bool has_raster = std::any_of(st.settings.begin(), st.settings.end(), [](const auto& kv) {
    return kv.first.rfind("RasterScanDefinition.", 0) == 0;
  });
  if (!has_raster) return std::nullopt;
  const auto bincount = uint_setting(st.settings, "bincount");
  const auto width = uint_setting(st.settings, "RasterScanDefinition.Width");
  const auto height = uint_setting(st.settings, "RasterScanDefinition.Height");
  if (!bincount || *bincount == 0 || *bincount > 65535)
    emd_error(source, settings_path,
              "bincount is " + text_or(st.settings, "bincount", "missing") +
                  " (expected an integer 1…65535: channel 65535 is the pixel marker)");
  if (!width || !height || *width == 0 || *height == 0 || *width > (1u << 20) || *height > (1u << 20))
    emd_error(source, settings_path,
              "RasterScanDefinition Width × Height is " + text_or(st.settings, "RasterScanDefinition.Width", "?") +
                  " × " + text_or(st.settings, "RasterScanDefinition.Height", "?") + " (expected integers 1…2^20)");
  st.bincount = *bincount;
  st.width = *width;
  st.height = *height;
  const std::uint64_t pixels = st.width * st.height;
  const std::uint64_t cap_bytes = max_spectrum_image_bytes();
  // Checked before the stream is read: a hostile header must not cost a huge allocation.
  if (pixels > kMaxSpectrumImageElements / st.bincount || pixels * st.bincount * 2 > cap_bytes)
    emd_error(source, settings_path,
              "the spectrum image would be Height × Width × bincount = " + std::to_string(st.height) + " × " +
                  std::to_string(st.width) + " × " + std::to_string(st.bincount) + " = " +
                  std::to_string(pixels * st.bincount) + " elements, over the limit of 2^31 elements or " +
                  std::to_string(cap_bytes) + " bytes (AUTOSTEM_EMD_MAX_SI_BYTES)");
  const std::string encoding = text_or(st.settings, "StreamEncoding");
  if (!encoding.empty() && encoding != "uint16" && encoding != "uint32")
    emd_error(source, settings_path, "StreamEncoding '" + encoding + "' (expected uint16 or uint32)");

  const std::string data_path = path + "/Data";
  if (!link_exists(file, data_path)) emd_error(source, data_path, "missing: a spectrum stream without its event data");
  st.raw = read_dataset(file, data_path, source);
  if (st.raw.dtype != DType::uint16 && st.raw.dtype != DType::uint32)
    emd_error(source, data_path, "event stream must be uint16 or uint32");
  if (st.raw.axes.size() > 2 || (st.raw.axes.size() == 2 && st.raw.axes[1].size != 1))
    emd_error(source, data_path, "event stream must be 1-D or (n, 1)");

  auto scan = [&](auto values) {
    std::uint64_t i = 0;
    for (const auto v : values) {
      if (v == kStreamPixelMarker) {
        ++st.markers;
      } else if (v >= st.bincount) {
        emd_error(source, data_path,
                  "event " + std::to_string(i) + " is channel " + std::to_string(v) + ", not below bincount " +
                      std::to_string(st.bincount));
      } else {
        ++st.events;
      }
      ++i;
    }
  };
  if (st.raw.dtype == DType::uint16) scan(stream_values<std::uint16_t>(st.raw));
  else scan(stream_values<std::uint32_t>(st.raw));
  // Every pixel is ended by a marker; the last pixel of a frame may lack it. A stream that does
  // not reach the last pixel of the first frame is refused (it is truncated, or the raster is not
  // the one the stream was recorded with).
  if (st.markers + 1 < pixels)
    emd_error(source, data_path,
              "the stream is shorter than one frame: " + std::to_string(st.markers) + " pixel markers for a " +
                  std::to_string(st.width) + " × " + std::to_string(st.height) + " raster (" +
                  std::to_string(pixels) + " pixels)");

  st.meta = velox_json(file, path + "/Metadata", source);
  st.energy.size = static_cast<std::size_t>(st.bincount);
  st.energy_calibrated = stream_energy_axis(st.meta, st.energy);
  st.detector = text_or(st.meta, "BinaryResult.Detector");
  return st;
}

std::string frames_text(const VeloxStream& st) {
  const std::uint64_t pixels = st.width * st.height;
  const std::uint64_t full = st.markers / pixels, rest = st.markers % pixels;
  std::string t = std::to_string(full) + " complete frame" + (full == 1 ? "" : "s");
  if (rest != 0) t += " + a partial frame (" + std::to_string(rest) + " of " + std::to_string(pixels) + " pixels ended)";
  return t;
}

// Adds the counts of `st` into `out` (Height, Width, bincount), element type Out.
template <class Out, class In>
void accumulate_stream(std::span<const In> values, std::uint64_t pixels, std::uint64_t bincount, Out* out) {
  std::uint64_t pixel = 0;
  for (const In v : values) {
    if (v == kStreamPixelMarker) {
      if (++pixel == pixels) pixel = 0;
    } else {
      out[pixel * bincount + v] += 1;
    }
  }
}

// Decodes streams that share raster, bincount and energy axis into one (y, x, E) Signal, their
// counts summed (Velox records one stream per EDS detector segment). uint16 when no pixel has
// more than 65535 events in all (so no channel can overflow), uint32 otherwise.
Signal decode_stream_group(const std::vector<const VeloxStream*>& group) {
  const VeloxStream& first = *group.front();
  const std::uint64_t pixels = first.width * first.height, bins = first.bincount;
  std::vector<std::uint64_t> per_pixel(static_cast<std::size_t>(pixels), 0);
  for (const VeloxStream* st : group) {
    auto count = [&](auto values) {
      std::uint64_t pixel = 0;
      for (const auto v : values) {
        if (v == kStreamPixelMarker) {
          if (++pixel == pixels) pixel = 0;
        } else {
          ++per_pixel[static_cast<std::size_t>(pixel)];
        }
      }
    };
    if (st->raw.dtype == DType::uint16) count(stream_values<std::uint16_t>(st->raw));
    else count(stream_values<std::uint32_t>(st->raw));
  }
  const std::uint64_t most = *std::max_element(per_pixel.begin(), per_pixel.end());
  Signal s;
  s.dtype = most <= 65535 ? DType::uint16 : DType::uint32;
  const std::uint64_t n = pixels * bins;
  if (n * dtype_size(s.dtype) > max_spectrum_image_bytes())
    throw std::runtime_error("the spectrum image needs " + std::to_string(n * dtype_size(s.dtype)) +
                             " bytes, over the limit of " + std::to_string(max_spectrum_image_bytes()) +
                             " (AUTOSTEM_EMD_MAX_SI_BYTES)");
  s.bytes.assign(static_cast<std::size_t>(n * dtype_size(s.dtype)), std::byte{0});
  for (const VeloxStream* st : group) {
    auto add = [&](auto values) {
      if (s.dtype == DType::uint16)
        accumulate_stream(values, pixels, bins, reinterpret_cast<std::uint16_t*>(s.bytes.data()));
      else
        accumulate_stream(values, pixels, bins, reinterpret_cast<std::uint32_t*>(s.bytes.data()));
    };
    if (st->raw.dtype == DType::uint16) add(stream_values<std::uint16_t>(st->raw));
    else add(stream_values<std::uint32_t>(st->raw));
  }
  AxisCalibration y, x;
  y.size = static_cast<std::size_t>(first.height);
  x.size = static_cast<std::size_t>(first.width);
  velox_xy(first.meta, y, x);
  y.navigate = x.navigate = true;
  s.axes = {y, x, first.energy};
  s.signal_type = "EDS";
  s.title = first.detector.empty() ? "EDS spectrum image" : first.detector;
  if (group.size() > 1) s.title += " (sum of " + std::to_string(group.size()) + " spectrum streams)";
  add_metadata(s, first.meta);
  for (const auto& [k, v] : first.settings) s.metadata["Velox.AcquisitionSettings." + k] = v;
  std::string paths, frames, detectors;
  std::uint64_t events = 0;
  for (const VeloxStream* st : group) {
    paths += (paths.empty() ? "" : ", ") + st->path;
    frames += (frames.empty() ? "" : "; ") + frames_text(*st);
    detectors += (detectors.empty() ? "" : ", ") + (st->detector.empty() ? std::string("?") : st->detector);
    events += st->events;
  }
  s.metadata["autostem.spectrum_stream.paths"] = paths;
  s.metadata["autostem.spectrum_stream.detectors"] = detectors;
  s.metadata["autostem.spectrum_stream.frames"] = frames + " (frames summed)";
  s.metadata["autostem.spectrum_stream.counts"] = std::to_string(events);
  if (!first.energy_calibrated)
    s.metadata["autostem.calibration.energy"] =
        "uncalibrated: no Detectors entry with a Dispersion for detector '" + first.detector + "' in " + first.path +
        "/Metadata; the energy axis is the channel index";
  if (first.meta.find("BinaryResult.PixelSize.width") == first.meta.end())
    s.metadata["autostem.calibration.xy"] =
        "uncalibrated: no BinaryResult.PixelSize in " + first.path + "/Metadata; x and y are pixel indices";
  return s;
}

// Every spectrum stream under /Data/SpectrumStream, decoded; streams that share raster,
// bincount and energy calibration are summed into one spectrum image.
std::vector<Signal> read_velox_streams(hid_t file, const std::string& source, std::vector<std::string>& skipped) {
  std::vector<VeloxStream> streams;
  for (const auto& id : child_names(file, "/Data/SpectrumStream")) {
    const std::string base = "/Data/SpectrumStream/" + id;
    auto st = load_velox_stream(file, base, source);
    if (!st) {
      skipped.push_back(base + " (no RasterScanDefinition: a point-spectrum stream)");
      continue;
    }
    streams.push_back(std::move(*st));
  }
  std::vector<std::vector<const VeloxStream*>> groups;
  for (const auto& st : streams) {
    auto same = [&](const VeloxStream* o) {
      return o->width == st.width && o->height == st.height && o->bincount == st.bincount &&
             o->energy_calibrated == st.energy_calibrated && o->energy.offset == st.energy.offset &&
             o->energy.scale == st.energy.scale;
    };
    auto g = std::find_if(groups.begin(), groups.end(), [&](const auto& grp) { return same(grp.front()); });
    if (g == groups.end()) groups.push_back({&st});
    else g->push_back(&st);
  }
  std::vector<Signal> out;
  for (const auto& g : groups) {
    try {
      out.push_back(decode_stream_group(g));
    } catch (const std::runtime_error& e) {
      emd_error(source, g.front()->path, e.what());
    }
  }
  return out;
}

// Whether a dataset is a rank-3 array of numbers wider than a byte (a spectrum-image cube rather
// than an encoded blob). Reads only the header.
bool numeric_cube(hid_t file, const std::string& path) {
  if (!link_exists(file, path)) return false;
  Hid d(H5Dopen2(file, path.c_str(), H5P_DEFAULT), H5Dclose);
  if (!d) return false;
  Hid t(H5Dget_type(d.get()), H5Tclose);
  const auto cls = H5Tget_class(t.get());
  if ((cls != H5T_INTEGER && cls != H5T_FLOAT) || H5Tget_size(t.get()) < 2) return false;
  Hid space(H5Dget_space(d.get()), H5Sclose);
  return H5Sget_simple_extent_ndims(space.get()) == 3;
}

std::vector<Signal> read_velox(hid_t file, const std::string& source) {
  std::vector<Signal> out;
  std::vector<std::string> skipped;
  for (const auto& id : child_names(file, "/Data/Image")) {
    const std::string base = "/Data/Image/" + id;
    Signal s = read_dataset(file, base + "/Data", source);
    const auto meta = velox_json(file, base + "/Metadata", source);
    if (s.axes.size() != 3) emd_error(source, base + "/Data", "expected (y, x, frames)");
    const std::size_t ny = s.axes[0].size, nx = s.axes[1].size, nf = s.axes[2].size;
    AxisCalibration y, x;
    y.size = ny;
    x.size = nx;
    velox_xy(meta, y, x);
    if (nf == 1) {
      s.axes = {y, x};
    } else {
      s.bytes = transpose_first_to_last(s.bytes, ny * nx, nf, dtype_size(s.dtype));
      AxisCalibration f;
      f.name = "frame";
      f.size = nf;
      f.navigate = true;
      s.axes = {f, y, x};
    }
    s.title = text_or(meta, "BinaryResult.Detector", id);
    add_metadata(s, meta);
    out.push_back(std::move(s));
  }
  for (const char* kind : {"Spectrum", "SpectrumImage"}) {
    for (const auto& id : child_names(file, std::string("/Data/") + kind)) {
      const std::string base = std::string("/Data/") + kind + "/" + id;
      // Velox's own /Data/SpectrumImage/<id>/Data is a uint8 blob in an undocumented encoding
      // (next to SpectrumImageSettings); the spectrum image is decoded from the spectrum stream.
      if (std::string_view(kind) == "SpectrumImage" && !numeric_cube(file, base + "/Data")) {
        skipped.push_back(base + " (Velox's undocumented spectrum-image encoding; decoded from /Data/SpectrumStream instead)");
        continue;
      }
      Signal s = read_dataset(file, base + "/Data", source);
      const auto meta = velox_json(file, base + "/Metadata", source);
      // Drop trailing length-1 frame axes: (channels, 1) → (channels).
      while (s.axes.size() > 1 && s.axes.back().size == 1) s.axes.pop_back();
      AxisCalibration e;
      e.size = s.axes.back().size;
      velox_energy_axis(meta, e);
      if (s.axes.size() == 1) {
        s.axes = {e};
      } else if (s.axes.size() == 3) {
        AxisCalibration y, x;
        y.size = s.axes[0].size;
        x.size = s.axes[1].size;
        velox_xy(meta, y, x);
        y.navigate = x.navigate = true;
        s.axes = {y, x, e};
      } else {
        skipped.push_back(base + " (unexpected rank)");
        continue;
      }
      s.signal_type = "EDS";
      s.title = text_or(meta, "BinaryResult.Detector", id);
      add_metadata(s, meta);
      out.push_back(std::move(s));
    }
  }
  for (auto& si : read_velox_streams(file, source, skipped)) out.push_back(std::move(si));
  if (out.empty())
    emd_error(source, "/Data", skipped.empty() ? "Velox file without images, spectra or spectrum streams"
                                                : "only point-spectrum streams, which this reader does not decode");
  std::string note;
  for (const auto& sk : skipped) note += (note.empty() ? "" : ", ") + sk;
  if (!note.empty()) out.front().metadata["autostem.skipped"] = note;
  return out;
}

// Whether a dataset holds numbers the reader can keep (EMD files also carry text/opaque headers
// in data groups, e.g. Merlin's binary_hdr).
bool numeric_dataset(hid_t file, const std::string& path) {
  Hid d(H5Dopen2(file, path.c_str(), H5P_DEFAULT), H5Dclose);
  if (!d) return false;
  Hid t(H5Dget_type(d.get()), H5Tclose);
  auto mt = memory_type(t.get());
  if (mt && mt->owned) H5Tclose(mt->mem);
  return mt.has_value();
}

std::vector<Signal> read_berkeley(hid_t file, const std::vector<std::string>& groups, const std::string& source) {
  std::vector<Signal> out;
  std::string skipped;
  for (const auto& g : groups) {
    const std::string data = g + "/data";
    if (!link_exists(file, data)) emd_error(source, g, "EMD data group without a 'data' dataset");
    if (!numeric_dataset(file, data)) {
      skipped += (skipped.empty() ? "" : ", ") + data;
      continue;
    }
    Signal s = read_dataset(file, data, source);
    for (std::size_t k = 0; k < s.axes.size(); ++k) calibrate_berkeley_axis(file, g, k, s.axes[k], source);
    s.title = g.substr(g.rfind('/') + 1);
    s.metadata["EMD.group"] = g;
    out.push_back(std::move(s));
  }
  if (out.empty()) emd_error(source, groups.front(), "no EMD data group holds numeric data");
  if (!skipped.empty()) out.front().metadata["autostem.skipped"] = skipped + " (not numeric)";
  return out;
}

// The fpd package's HDF5 (Berkeley EMD 0.2 groups, root attribute fpd_version; MANIFEST
// 4dstem/fpd_merlin) stores the 4D-STEM data as fpd_expt/fpd_data/data (scanY, scanX, colour,
// detY, detX). That data set becomes the file's main signal, 4D (the colour axis of length 1
// dropped), scan axes navigating and uncalibrated (their units "pixel" cleared); DAC, exposure, threshold and sum images follow it.
void fpd_data_first(std::vector<Signal>& signals) {
  for (std::size_t i = 0; i < signals.size(); ++i) {
    Signal& s = signals[i];
    const auto g = s.metadata.find("EMD.group");
    if (g == s.metadata.end() || !g->second.ends_with("/fpd_data")) continue;
    if (s.axes.size() == 5 && s.axes[2].size == 1) s.axes.erase(s.axes.begin() + 2);
    if (s.axes.size() == 4) {
      // The scan axes say units "pixel": uncalibrated (MANIFEST: no calibration stored).
      for (int k = 0; k < 2; ++k)
        if (s.axes[k].units == "pixel") s.axes[k].units.clear();
      s.axes[0].navigate = s.axes[1].navigate = true;
      s.axes[2].navigate = s.axes[3].navigate = false;
      s.signal_type.clear();  // HyperSpy 1.7 knows no 4D-STEM signal type
    }
    std::rotate(signals.begin(), signals.begin() + static_cast<std::ptrdiff_t>(i),
                signals.begin() + static_cast<std::ptrdiff_t>(i) + 1);
    return;
  }
}

std::vector<Signal> read_emd_file(hid_t file, const std::string& source) {
  std::vector<std::string> groups;
  std::size_t visited = 0;
  find_berkeley_groups(file, "/", 0, groups, visited);
  if (!groups.empty()) {
    auto signals = read_berkeley(file, groups, source);
    if (H5Aexists_by_name(file, "/", "fpd_version", H5P_DEFAULT) > 0) fpd_data_first(signals);
    return signals;
  }
  if (link_exists(file, "/Data")) return read_velox(file, source);
  emd_error(source, "/", "neither Berkeley EMD groups (emd_group_type = 1) nor a Velox /Data group");
}

}  // namespace

std::vector<Signal> read_emd_bytes(std::span<const std::byte> bytes, const std::string& source) {
  QuietHdf5 quiet;
  if (bytes.size() < 8 || std::memcmp(bytes.data(), "\x89HDF\r\n\x1a\n", 8) != 0)
    emd_error(source, "header", "not an HDF5 file (missing the HDF5 signature at byte 0)");
  Hid fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  H5Pset_fapl_core(fapl.get(), 1 << 16, 0);
  if (H5Pset_file_image(fapl.get(), const_cast<std::byte*>(bytes.data()), bytes.size()) < 0)
    emd_error(source, "header", "HDF5 refused the file image");
  // The core driver refuses a file image whose name exists on disk, so the image gets a name
  // that cannot; `source` only labels messages.
  Hid file(H5Fopen("/nonexistent/autostem-emd-file-image", H5F_ACC_RDONLY, fapl.get()), H5Fclose);
  if (!file) emd_error(source, "header", "HDF5 cannot open the file image (corrupt?)");
  return read_emd_file(file.get(), source);
}

}  // namespace detail

std::vector<Signal> read_emd(const std::filesystem::path& path) {
  detail::QuietHdf5 quiet;
  detail::Hid file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (!file) throw std::runtime_error(path.string() + ": HDF5 cannot open the file (missing or not HDF5)");
  return detail::read_emd_file(file.get(), path.string());
}

}  // namespace autostem::datasets
