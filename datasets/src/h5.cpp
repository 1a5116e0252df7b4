#include "h5.hpp"

#include <charconv>
#include <cstring>
#include <stdexcept>

namespace autostem::datasets::h5 {

void silence() {
  static const bool done = [] {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    return true;
  }();
  (void)done;
}

hid_t check(hid_t id, const std::string& context) {
  if (id < 0) throw std::runtime_error(context);
  return id;
}

void check_status(herr_t status, const std::string& context) {
  if (status < 0) throw std::runtime_error(context);
}

Handle open_file(const std::filesystem::path& path, bool write) {
  silence();
  Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  // A results file may be open for writing by a running session; read without taking a lock.
  H5Pset_file_locking(fapl, false, true);
  hid_t id = H5Fopen(path.c_str(), write ? H5F_ACC_RDWR : H5F_ACC_RDONLY, fapl);
  if (id < 0) throw std::runtime_error(path.string() + ": cannot open as HDF5");
  return {id, H5Fclose};
}

Handle create_file(const std::filesystem::path& path) {
  silence();
  Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  H5Pset_file_locking(fapl, false, true);
  hid_t id = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  if (id < 0) throw std::runtime_error(path.string() + ": cannot create HDF5 file");
  return {id, H5Fclose};
}

Handle open_group(hid_t loc, const std::string& name) {
  return {check(H5Gopen2(loc, name.c_str(), H5P_DEFAULT), "cannot open group '" + name + "'"),
          H5Gclose};
}

Handle open_dataset(hid_t loc, const std::string& name) {
  return {check(H5Dopen2(loc, name.c_str(), H5P_DEFAULT), "cannot open dataset '" + name + "'"),
          H5Dclose};
}

Handle create_group(hid_t loc, const std::string& name) {
  return {check(H5Gcreate2(loc, name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                "cannot create group '" + name + "'"),
          H5Gclose};
}

Handle require_group(hid_t loc, const std::string& path) {
  if (exists(loc, path)) return open_group(loc, path);
  Handle lcpl(H5Pcreate(H5P_LINK_CREATE), H5Pclose);
  H5Pset_create_intermediate_group(lcpl, 1);
  return {check(H5Gcreate2(loc, path.c_str(), lcpl, H5P_DEFAULT, H5P_DEFAULT),
                "cannot create group '" + path + "'"),
          H5Gclose};
}

bool exists(hid_t loc, const std::string& path) {
  std::string partial;
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t slash = path.find('/', start);
    std::string part = path.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (!part.empty()) {
      partial += partial.empty() ? part : "/" + part;
      if (H5Lexists(loc, partial.c_str(), H5P_DEFAULT) <= 0) return false;
    }
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return true;
}

static H5O_type_t object_type(hid_t loc, const std::string& name) {
  if (!exists(loc, name)) return H5O_TYPE_UNKNOWN;
  H5O_info_t info;
  if (H5Oget_info_by_name(loc, name.c_str(), &info, H5P_DEFAULT) < 0) return H5O_TYPE_UNKNOWN;
  return info.type;
}

bool is_group(hid_t loc, const std::string& name) { return object_type(loc, name) == H5O_TYPE_GROUP; }
bool is_dataset(hid_t loc, const std::string& name) {
  return object_type(loc, name) == H5O_TYPE_DATASET;
}

std::vector<std::string> children(hid_t group) {
  std::vector<std::string> names;
  H5Literate(
      group, H5_INDEX_NAME, H5_ITER_INC, nullptr,
      [](hid_t, const char* name, const H5L_info_t*, void* data) -> herr_t {
        static_cast<std::vector<std::string>*>(data)->emplace_back(name);
        return 0;
      },
      &names);
  return names;
}

std::vector<std::string> attribute_names(hid_t obj) {
  std::vector<std::string> names;
  H5Aiterate2(
      obj, H5_INDEX_NAME, H5_ITER_INC, nullptr,
      [](hid_t, const char* name, const H5A_info_t*, void* data) -> herr_t {
        static_cast<std::vector<std::string>*>(data)->emplace_back(name);
        return 0;
      },
      &names);
  return names;
}

bool has_attr(hid_t obj, const std::string& name) { return H5Aexists(obj, name.c_str()) > 0; }

std::string format_double(double v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

namespace {

struct AttrData {
  H5T_class_t cls = H5T_NO_CLASS;
  hssize_t count = 0;
  std::vector<std::string> text;  // one per element
};

// Reads every element of an attribute as text; empty optional when missing/unsupported.
std::optional<AttrData> read_attr(hid_t obj, const std::string& name) {
  if (!has_attr(obj, name)) return std::nullopt;
  Handle attr(H5Aopen(obj, name.c_str(), H5P_DEFAULT), H5Aclose);
  if (!attr) return std::nullopt;
  Handle type(H5Aget_type(attr), H5Tclose);
  Handle space(H5Aget_space(attr), H5Sclose);
  AttrData out;
  out.cls = H5Tget_class(type);
  out.count = H5Sget_simple_extent_npoints(space);
  if (out.count <= 0 || out.count > 4096) {
    if (out.count == 0) return out;
    return std::nullopt;
  }
  const auto n = static_cast<std::size_t>(out.count);
  switch (out.cls) {
    case H5T_STRING: {
      if (H5Tis_variable_str(type) > 0) {
        Handle mem(H5Tcopy(H5T_C_S1), H5Tclose);
        H5Tset_size(mem, H5T_VARIABLE);
        H5Tset_cset(mem, H5Tget_cset(type));
        std::vector<char*> ptrs(n, nullptr);
        if (H5Aread(attr, mem, ptrs.data()) < 0) return std::nullopt;
        for (char* p : ptrs) {
          out.text.emplace_back(p ? p : "");
        }
        H5Dvlen_reclaim(mem, space, H5P_DEFAULT, ptrs.data());
      } else {
        std::size_t sz = H5Tget_size(type);
        Handle mem(H5Tcopy(H5T_C_S1), H5Tclose);
        H5Tset_size(mem, sz);
        H5Tset_cset(mem, H5Tget_cset(type));
        H5Tset_strpad(mem, H5T_STR_NULLPAD);
        std::vector<char> buf(sz * n + 1, '\0');
        if (H5Aread(attr, mem, buf.data()) < 0) return std::nullopt;
        for (std::size_t i = 0; i < n; ++i) {
          std::string s(buf.data() + i * sz, sz);
          s = s.substr(0, s.find('\0'));
          while (!s.empty() && s.back() == ' ') s.pop_back();
          out.text.push_back(s);
        }
      }
      return out;
    }
    case H5T_INTEGER: {
      std::vector<long long> v(n);
      if (H5Aread(attr, H5T_NATIVE_LLONG, v.data()) < 0) return std::nullopt;
      for (auto x : v) out.text.push_back(std::to_string(x));
      return out;
    }
    case H5T_FLOAT: {
      std::vector<double> v(n);
      if (H5Aread(attr, H5T_NATIVE_DOUBLE, v.data()) < 0) return std::nullopt;
      for (auto x : v) out.text.push_back(format_double(x));
      return out;
    }
    case H5T_ENUM: {
      Handle mem(H5Tget_native_type(type, H5T_DIR_ASCEND), H5Tclose);
      std::size_t sz = H5Tget_size(mem);
      std::vector<unsigned char> buf(sz * n);
      if (H5Aread(attr, mem, buf.data()) < 0) return std::nullopt;
      for (std::size_t i = 0; i < n; ++i) {
        char name_buf[64] = {0};
        if (H5Tenum_nameof(mem, buf.data() + i * sz, name_buf, sizeof name_buf) < 0) return std::nullopt;
        std::string s = name_buf;
        if (s == "TRUE") s = "true";
        if (s == "FALSE") s = "false";
        out.text.push_back(s);
      }
      return out;
    }
    default:
      return std::nullopt;
  }
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + v[i];
  return s;
}

}  // namespace

std::optional<std::string> attr_text(hid_t obj, const std::string& name) {
  auto a = read_attr(obj, name);
  if (!a) return std::nullopt;
  return join(a->text);
}

std::optional<std::string> attr_string(hid_t obj, const std::string& name) {
  auto a = read_attr(obj, name);
  if (!a || a->cls != H5T_STRING || a->text.empty()) return std::nullopt;
  return a->text.front();
}

std::optional<double> attr_double(hid_t obj, const std::string& name) {
  auto a = read_attr(obj, name);
  if (!a || a->text.size() != 1) return std::nullopt;
  if (a->cls != H5T_FLOAT && a->cls != H5T_INTEGER) {
    if (a->cls != H5T_STRING) return std::nullopt;
  }
  const std::string& s = a->text.front();
  double v = 0;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (r.ec != std::errc() || r.ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<long long> attr_int(hid_t obj, const std::string& name) {
  auto a = read_attr(obj, name);
  if (!a || a->text.size() != 1) return std::nullopt;
  const std::string& s = a->text.front();
  long long v = 0;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (r.ec == std::errc() && r.ptr == s.data() + s.size()) return v;
  auto d = attr_double(obj, name);
  if (d && *d == static_cast<double>(static_cast<long long>(*d))) return static_cast<long long>(*d);
  return std::nullopt;
}

std::optional<bool> attr_bool(hid_t obj, const std::string& name) {
  auto a = read_attr(obj, name);
  if (!a || a->text.size() != 1) return std::nullopt;
  const std::string& s = a->text.front();
  if (s == "true" || s == "True" || s == "1") return true;
  if (s == "false" || s == "False" || s == "0") return false;
  return std::nullopt;
}

Handle vlen_string_type() {
  Handle t(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(t, H5T_VARIABLE);
  H5Tset_cset(t, H5T_CSET_UTF8);
  return t;
}

Handle bool_type() {
  Handle t(H5Tenum_create(H5T_NATIVE_INT8), H5Tclose);
  std::int8_t f = 0, tr = 1;
  H5Tenum_insert(t, "FALSE", &f);
  H5Tenum_insert(t, "TRUE", &tr);
  return t;
}

namespace {
void write_scalar_attr(hid_t obj, const std::string& name, hid_t type, const void* value) {
  if (has_attr(obj, name)) {
    // Overwrite in place when the stored attribute has the same class (the results writer
    // updates its totals after every measurement; re-creating would churn the attribute heap).
    Handle attr(H5Aopen(obj, name.c_str(), H5P_DEFAULT), H5Aclose);
    Handle stored(H5Aget_type(attr), H5Tclose);
    Handle space(H5Aget_space(attr), H5Sclose);
    if (H5Tget_class(stored) == H5Tget_class(type) && H5Sget_simple_extent_npoints(space) == 1 &&
        H5Tis_variable_str(stored) == H5Tis_variable_str(type)) {
      check_status(H5Awrite(attr, type, value), "cannot write attribute '" + name + "'");
      return;
    }
    attr.reset();
    H5Adelete(obj, name.c_str());
  }
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  Handle attr(check(H5Acreate2(obj, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT),
                    "cannot create attribute '" + name + "'"),
              H5Aclose);
  check_status(H5Awrite(attr, type, value), "cannot write attribute '" + name + "'");
}
}  // namespace

void set_attr(hid_t obj, const std::string& name, const std::string& value) {
  Handle t = vlen_string_type();
  const char* p = value.c_str();
  write_scalar_attr(obj, name, t, &p);
}
void set_attr(hid_t obj, const std::string& name, const char* value) {
  set_attr(obj, name, std::string(value));
}
void set_attr(hid_t obj, const std::string& name, double value) {
  write_scalar_attr(obj, name, H5T_NATIVE_DOUBLE, &value);
}
void set_attr(hid_t obj, const std::string& name, long long value) {
  write_scalar_attr(obj, name, H5T_NATIVE_LLONG, &value);
}
void set_attr_bool(hid_t obj, const std::string& name, bool value) {
  Handle t = bool_type();
  std::int8_t v = value ? 1 : 0;
  write_scalar_attr(obj, name, t, &v);
}

}  // namespace autostem::datasets::h5
