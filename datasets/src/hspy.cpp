#include <autostem/datasets/hspy.hpp>

#include "h5.hpp"
#include "readers.hpp"

#include <charconv>
#include <complex>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <string_view>

namespace autostem::datasets {

namespace detail {

namespace {

struct MemType {
  DType dtype;
  h5::Handle owned;  // for compound/enum memory types
  hid_t id;
};

// HyperSpy's rgba8 (hyperspy.misc.rgb_tools): a structured dtype {R, G, B, A} of uint8, which
// h5py stores as an HDF5 compound of four 1-byte unsigned integers at offsets 0…3.
h5::Handle rgba8_type(hid_t member) {
  h5::Handle c(H5Tcreate(H5T_COMPOUND, 4), H5Tclose);
  const char* names[] = {"R", "G", "B", "A"};
  for (std::size_t i = 0; i < 4; ++i) H5Tinsert(c, names[i], i, member);
  return c;
}

bool is_rgba8_compound(hid_t type) {
  if (H5Tget_nmembers(type) != 4) return false;
  const char* names[] = {"R", "G", "B", "A"};
  for (unsigned i = 0; i < 4; ++i) {
    char* n = H5Tget_member_name(type, i);
    const bool same = n && std::strcmp(n, names[i]) == 0;
    H5free_memory(n);
    if (!same || H5Tget_member_class(type, i) != H5T_INTEGER) return false;
    h5::Handle m(H5Tget_member_type(type, i), H5Tclose);
    if (H5Tget_size(m) != 1 || H5Tget_sign(m) != H5T_SGN_NONE) return false;
  }
  return true;
}

// Chooses the dtype a dataset is kept as, and the memory type HDF5 converts it to (native byte
// order; float16 widens to float32; h5py's complex compound {r, i}; h5py's bool enum).
MemType memory_type(hid_t file_type, const std::string& context) {
  const H5T_class_t cls = H5Tget_class(file_type);
  const std::size_t size = H5Tget_size(file_type);
  switch (cls) {
    case H5T_INTEGER: {
      const bool is_signed = H5Tget_sign(file_type) == H5T_SGN_2;
      switch (size) {
        case 1: return {is_signed ? DType::int8 : DType::uint8, {}, is_signed ? H5T_NATIVE_INT8 : H5T_NATIVE_UINT8};
        case 2: return {is_signed ? DType::int16 : DType::uint16, {}, is_signed ? H5T_NATIVE_INT16 : H5T_NATIVE_UINT16};
        case 4: return {is_signed ? DType::int32 : DType::uint32, {}, is_signed ? H5T_NATIVE_INT32 : H5T_NATIVE_UINT32};
        case 8: return {is_signed ? DType::int64 : DType::uint64, {}, is_signed ? H5T_NATIVE_INT64 : H5T_NATIVE_UINT64};
        default: break;
      }
      break;
    }
    case H5T_FLOAT:
      if (size <= 4) return {DType::float32, {}, H5T_NATIVE_FLOAT};
      return {DType::float64, {}, H5T_NATIVE_DOUBLE};
    case H5T_ENUM: {
      if (H5Tget_nmembers(file_type) == 2 && size == 1) {
        char* n0 = H5Tget_member_name(file_type, 0);
        char* n1 = H5Tget_member_name(file_type, 1);
        const bool is_bool = n0 && n1 &&
                             ((std::strcmp(n0, "FALSE") == 0 && std::strcmp(n1, "TRUE") == 0) ||
                              (std::strcmp(n0, "TRUE") == 0 && std::strcmp(n1, "FALSE") == 0));
        H5free_memory(n0);
        H5free_memory(n1);
        if (is_bool) {
          h5::Handle t = h5::bool_type();
          hid_t id = t.get();
          return {DType::boolean, std::move(t), id};
        }
      }
      break;
    }
    case H5T_COMPOUND: {
      if (is_rgba8_compound(file_type)) {
        h5::Handle t = rgba8_type(H5T_NATIVE_UINT8);
        hid_t id = t.get();
        return {DType::rgba8, std::move(t), id};
      }
      if (H5Tget_nmembers(file_type) == 2 && H5Tget_member_class(file_type, 0) == H5T_FLOAT &&
          H5Tget_member_class(file_type, 1) == H5T_FLOAT) {
        h5::Handle m0(H5Tget_member_type(file_type, 0), H5Tclose);
        const bool single = H5Tget_size(m0) <= 4;
        const std::size_t es = single ? sizeof(float) : sizeof(double);
        char* n0 = H5Tget_member_name(file_type, 0);
        char* n1 = H5Tget_member_name(file_type, 1);
        h5::Handle t(H5Tcreate(H5T_COMPOUND, 2 * es), H5Tclose);
        H5Tinsert(t, n0, 0, single ? H5T_NATIVE_FLOAT : H5T_NATIVE_DOUBLE);
        H5Tinsert(t, n1, es, single ? H5T_NATIVE_FLOAT : H5T_NATIVE_DOUBLE);
        H5free_memory(n0);
        H5free_memory(n1);
        hid_t id = t.get();
        return {single ? DType::complex64 : DType::complex128, std::move(t), id};
      }
      break;
    }
    default: break;
  }
  throw std::runtime_error(context + ": unsupported HDF5 element type (class " +
                           std::to_string(static_cast<int>(cls)) + ", " + std::to_string(size) +
                           " bytes); expected integers, floats, h5py bool, complex or RGBA");
}

}  // namespace

Signal read_h5_dataset(hid_t dataset, const std::string& context) {
  h5::Handle type(H5Dget_type(dataset), H5Tclose);
  h5::Handle space(H5Dget_space(dataset), H5Sclose);
  const int ndim = H5Sget_simple_extent_ndims(space);
  if (ndim < 0) throw std::runtime_error(context + ": cannot read the dataspace");
  std::vector<hsize_t> dims(static_cast<std::size_t>(ndim));
  H5Sget_simple_extent_dims(space, dims.data(), nullptr);
  MemType mem = memory_type(type, context);

  Signal s;
  s.dtype = mem.dtype;
  std::size_t n = 1;
  for (int i = 0; i < ndim; ++i) {
    AxisCalibration a;
    a.name = "dim" + std::to_string(i);
    a.size = static_cast<std::size_t>(dims[static_cast<std::size_t>(i)]);
    n *= a.size;
    s.axes.push_back(a);
  }
  s.bytes.resize(n * dtype_size(s.dtype));
  if (n > 0 && H5Dread(dataset, mem.id, H5S_ALL, H5S_ALL, H5P_DEFAULT, s.bytes.data()) < 0)
    throw std::runtime_error(context + ": reading the data failed (corrupt or truncated file?)");
  return s;
}

std::vector<Signal> read_hdf5_generic(const std::filesystem::path& path) {
  h5::Handle file = h5::open_file(path, false);
  std::vector<Signal> out;
  std::function<void(hid_t, const std::string&)> walk = [&](hid_t group, const std::string& prefix) {
    for (const auto& name : h5::children(group)) {
      const std::string full = prefix + "/" + name;
      if (h5::is_group(group, name)) {
        h5::Handle g = h5::open_group(group, name);
        walk(g, full);
      } else if (h5::is_dataset(group, name)) {
        h5::Handle d = h5::open_dataset(group, name);
        h5::Handle space(H5Dget_space(d), H5Sclose);
        if (H5Sget_simple_extent_ndims(space) < 1 || H5Sget_simple_extent_npoints(space) < 1) continue;
        // Non-numeric datasets (strings, references, other compounds) are not signals; a
        // numeric one that cannot be read is an error.
        h5::Handle type(H5Dget_type(d), H5Tclose);
        try {
          (void)memory_type(type, full);
        } catch (const std::runtime_error&) {
          continue;
        }
        Signal s = read_h5_dataset(d, path.string() + ":" + full);
        s.title = full;
        out.push_back(std::move(s));
      }
    }
  };
  walk(file, "");
  if (out.empty())
    throw std::runtime_error(path.string() +
                             ": HDF5 file without any signal (no numeric data set with at least "
                             "one dimension)");
  return out;
}

}  // namespace detail

namespace {

void flatten_metadata(hid_t group, const std::string& prefix,
                      std::map<std::string, std::string>& out) {
  for (const auto& a : h5::attribute_names(group)) {
    if (auto text = h5::attr_text(group, a)) out[prefix + a] = *text;
  }
  for (const auto& name : h5::children(group)) {
    if (!h5::is_group(group, name)) continue;
    h5::Handle g = h5::open_group(group, name);
    flatten_metadata(g, prefix + name + ".", out);
  }
}

Signal read_experiment(hid_t experiments, const std::string& name, const std::filesystem::path& path) {
  const std::string where = path.string() + ": Experiments/" + name;
  h5::Handle group = h5::open_group(experiments, name);
  h5::Handle data = h5::open_dataset(group, "data");
  Signal s = detail::read_h5_dataset(data, where + "/data");

  for (std::size_t i = 0; i < s.axes.size(); ++i) {
    const std::string axis_name = "axis-" + std::to_string(i);
    if (!h5::is_group(group, axis_name))
      throw std::runtime_error(where + ": group '" + axis_name + "' is missing (the data has " +
                               std::to_string(s.axes.size()) + " dimensions; expected axis-0…axis-" +
                               std::to_string(s.axes.size() - 1) + ")");
    h5::Handle ag = h5::open_group(group, axis_name);
    AxisCalibration& a = s.axes[i];
    const std::size_t extent = a.size;
    a.name = h5::attr_string(ag, "name").value_or("");
    a.units = h5::attr_string(ag, "units").value_or("");
    if (a.units == "<undefined>") a.units.clear();
    if (a.name == "<undefined>") a.name.clear();
    a.offset = h5::attr_double(ag, "offset").value_or(0.0);
    a.scale = h5::attr_double(ag, "scale").value_or(1.0);
    a.navigate = h5::attr_bool(ag, "navigate").value_or(false);
    if (auto size = h5::attr_int(ag, "size"); size && static_cast<std::size_t>(*size) != extent)
      throw std::runtime_error(where + "/" + axis_name + ": attribute 'size' = " +
                               std::to_string(*size) + " but the data's dimension " +
                               std::to_string(i) + " has " + std::to_string(extent) + " elements");
  }

  if (h5::is_group(group, "metadata")) {
    h5::Handle md = h5::open_group(group, "metadata");
    flatten_metadata(md, "", s.metadata);
  }
  if (auto it = s.metadata.find("General.title"); it != s.metadata.end()) s.title = it->second;
  else s.title = name;
  if (s.title == "__unnamed__") s.title.clear();
  if (auto it = s.metadata.find("Signal.signal_type"); it != s.metadata.end()) s.signal_type = it->second;
  return s;
}

}  // namespace

std::vector<Signal> read_hspy(const std::filesystem::path& path) {
  if (!std::filesystem::exists(path)) throw std::runtime_error(path.string() + ": no such file");
  h5::Handle file = h5::open_file(path, false);
  if (!h5::is_group(file, "Experiments"))
    throw std::runtime_error(path.string() +
                             ": not a HyperSpy file (no 'Experiments' group at the root)");
  h5::Handle experiments = h5::open_group(file, "Experiments");
  std::vector<Signal> out;
  for (const auto& name : h5::children(experiments)) {
    if (!h5::is_group(experiments, name)) continue;
    h5::Handle g = h5::open_group(experiments, name);
    if (!h5::is_dataset(g, "data")) continue;
    out.push_back(read_experiment(experiments, name, path));
  }
  if (out.empty())
    throw std::runtime_error(path.string() +
                             ": HyperSpy file without any signal (no Experiments/<title>/data)");
  return out;
}

namespace {

// HDF5 file type for a dtype, as h5py writes it.
h5::Handle file_type(DType t) {
  auto copy = [](hid_t id) { return h5::Handle(H5Tcopy(id), H5Tclose); };
  switch (t) {
    case DType::boolean: return h5::bool_type();
    case DType::int8: return copy(H5T_STD_I8LE);
    case DType::uint8: return copy(H5T_STD_U8LE);
    case DType::int16: return copy(H5T_STD_I16LE);
    case DType::uint16: return copy(H5T_STD_U16LE);
    case DType::int32: return copy(H5T_STD_I32LE);
    case DType::uint32: return copy(H5T_STD_U32LE);
    case DType::int64: return copy(H5T_STD_I64LE);
    case DType::uint64: return copy(H5T_STD_U64LE);
    case DType::float32: return copy(H5T_IEEE_F32LE);
    case DType::float64: return copy(H5T_IEEE_F64LE);
    case DType::complex64:
    case DType::complex128: {
      const bool single = t == DType::complex64;
      const std::size_t es = single ? 4 : 8;
      h5::Handle c(H5Tcreate(H5T_COMPOUND, 2 * es), H5Tclose);
      H5Tinsert(c, "r", 0, single ? H5T_IEEE_F32LE : H5T_IEEE_F64LE);
      H5Tinsert(c, "i", es, single ? H5T_IEEE_F32LE : H5T_IEEE_F64LE);
      return c;
    }
    case DType::rgba8: return detail::rgba8_type(H5T_STD_U8LE);
  }
  throw std::invalid_argument("write_hspy: unknown dtype");
}

h5::Handle memory_type_for(DType t) {
  auto copy = [](hid_t id) { return h5::Handle(H5Tcopy(id), H5Tclose); };
  switch (t) {
    case DType::boolean: return h5::bool_type();
    case DType::int8: return copy(H5T_NATIVE_INT8);
    case DType::uint8: return copy(H5T_NATIVE_UINT8);
    case DType::int16: return copy(H5T_NATIVE_INT16);
    case DType::uint16: return copy(H5T_NATIVE_UINT16);
    case DType::int32: return copy(H5T_NATIVE_INT32);
    case DType::uint32: return copy(H5T_NATIVE_UINT32);
    case DType::int64: return copy(H5T_NATIVE_INT64);
    case DType::uint64: return copy(H5T_NATIVE_UINT64);
    case DType::float32: return copy(H5T_NATIVE_FLOAT);
    case DType::float64: return copy(H5T_NATIVE_DOUBLE);
    case DType::complex64:
    case DType::complex128: {
      const bool single = t == DType::complex64;
      const std::size_t es = single ? 4 : 8;
      h5::Handle c(H5Tcreate(H5T_COMPOUND, 2 * es), H5Tclose);
      H5Tinsert(c, "r", 0, single ? H5T_NATIVE_FLOAT : H5T_NATIVE_DOUBLE);
      H5Tinsert(c, "i", es, single ? H5T_NATIVE_FLOAT : H5T_NATIVE_DOUBLE);
      return c;
    }
    case DType::rgba8: return detail::rgba8_type(H5T_NATIVE_UINT8);
  }
  throw std::invalid_argument("write_hspy: unknown dtype");
}

void write_metadata_value(hid_t group, const std::string& key, const std::string& value) {
  double d = 0;
  auto r = std::from_chars(value.data(), value.data() + value.size(), d);
  if (!value.empty() && r.ec == std::errc() && r.ptr == value.data() + value.size()) {
    h5::set_attr(group, key, d);
  } else if (value == "true" || value == "false") {
    h5::set_attr_bool(group, key, value == "true");
  } else {
    h5::set_attr(group, key, value);
  }
}

}  // namespace

void write_hspy(const std::filesystem::path& path, const Signal& signal) {
  if (signal.axes.empty())
    throw std::invalid_argument(path.string() + ": write_hspy needs at least one axis");
  if (signal.bytes.size() != signal.size() * dtype_size(signal.dtype))
    throw std::invalid_argument(path.string() + ": signal holds " +
                                std::to_string(signal.bytes.size()) + " bytes but its shape needs " +
                                std::to_string(signal.size() * dtype_size(signal.dtype)));

  h5::Handle file = h5::create_file(path);
  h5::Handle root = h5::open_group(file, "/");
  h5::set_attr(root, "file_format", "HyperSpy");
  // 3.1 is what HyperSpy 1.7 (Debian 12) writes and reads without a warning; newer HyperSpy reads it too.
  h5::set_attr(root, "file_format_version", "3.1");

  const std::string title = signal.title.empty() ? "__unnamed__" : signal.title;
  if (title.find('/') != std::string::npos || title == "." )
    throw std::invalid_argument(path.string() + ": title '" + title +
                                "' cannot name an HDF5 group (contains '/')");
  h5::Handle experiments = h5::create_group(file, "Experiments");
  h5::Handle exp = h5::create_group(experiments, title);

  std::vector<hsize_t> dims;
  for (const auto& a : signal.axes) dims.push_back(a.size);
  h5::Handle space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose);
  h5::Handle ftype = file_type(signal.dtype);
  h5::Handle mtype = memory_type_for(signal.dtype);
  h5::Handle data(h5::check(H5Dcreate2(exp, "data", ftype, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                            path.string() + ": cannot create Experiments/" + title + "/data"),
                  H5Dclose);
  if (signal.size() > 0)
    h5::check_status(H5Dwrite(data, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, signal.bytes.data()),
              path.string() + ": writing the data failed");

  for (std::size_t i = 0; i < signal.axes.size(); ++i) {
    const auto& a = signal.axes[i];
    h5::Handle g = h5::create_group(exp, "axis-" + std::to_string(i));
    h5::set_attr(g, "_type", "UniformDataAxis");
    h5::set_attr_bool(g, "is_binned", false);
    h5::set_attr(g, "name", a.name);
    h5::set_attr_bool(g, "navigate", a.navigate);
    h5::set_attr(g, "offset", a.offset);
    h5::set_attr(g, "scale", a.scale);
    h5::set_attr(g, "size", static_cast<long long>(a.size));
    h5::set_attr(g, "units", a.units);
  }

  h5::Handle attributes = h5::create_group(exp, "attributes");
  h5::set_attr_bool(attributes, "_lazy", false);
  h5::set_attr_bool(attributes, "ragged", false);
  h5::create_group(exp, "learning_results");
  h5::Handle original = h5::create_group(exp, "original_metadata");
  h5::Handle md = h5::create_group(exp, "metadata");
  for (const auto& [full_key, value] : signal.metadata) {
    if (full_key == "General.title" || full_key == "Signal.signal_type") continue;
    // "original_metadata.A.b" goes to the original_metadata group (the file's own tags).
    constexpr std::string_view kOriginal = "original_metadata.";
    const bool in_original = full_key.compare(0, kOriginal.size(), kOriginal) == 0;
    const std::string key = in_original ? full_key.substr(kOriginal.size()) : full_key;
    const hid_t root = in_original ? original.get() : md.get();
    const auto dot = key.rfind('.');
    if (dot == std::string::npos) {
      write_metadata_value(root, key, value);
      continue;
    }
    std::string group_path = key.substr(0, dot);
    for (auto& c : group_path)
      if (c == '.') c = '/';
    h5::Handle g = h5::require_group(root, group_path);
    write_metadata_value(g, key.substr(dot + 1), value);
  }
  h5::Handle general = h5::require_group(md, "General");
  h5::set_attr(general, "title", signal.title);
  h5::Handle sig = h5::require_group(md, "Signal");
  h5::set_attr(sig, "signal_type", signal.signal_type);
  H5Fflush(file, H5F_SCOPE_GLOBAL);
}

}  // namespace autostem::datasets
