#pragma once
// Private RAII helpers over the HDF5 C API, shared by the .hspy reader/writer, the format
// detector and the results writer. Never included from a public header: HDF5 stays private to
// autostem::datasets (DESIGN.md §3).

#include <hdf5.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace autostem::datasets::h5 {

/// Owns one HDF5 identifier and closes it with the matching H5?close on destruction.
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle() = default;
  Handle(hid_t id, Closer close) : id_(id), close_(close) {}
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  Handle(Handle&& o) noexcept : id_(std::exchange(o.id_, H5I_INVALID_HID)), close_(o.close_) {}
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = std::exchange(o.id_, H5I_INVALID_HID);
      close_ = o.close_;
    }
    return *this;
  }
  ~Handle() { reset(); }
  void reset() {
    if (id_ >= 0 && close_) close_(id_);
    id_ = H5I_INVALID_HID;
  }
  hid_t get() const { return id_; }
  operator hid_t() const { return id_; }
  explicit operator bool() const { return id_ >= 0; }

 private:
  hid_t id_ = H5I_INVALID_HID;
  Closer close_ = nullptr;
};

/// Turns off HDF5's automatic error-stack printing (we report errors by exception). Idempotent.
void silence();

/// Returns id; throws std::runtime_error(context) when id < 0 (a failed H5?open/create).
hid_t check(hid_t id, const std::string& context);
/// Throws std::runtime_error(context) when status < 0 (a failed H5?write/extend).
void check_status(herr_t status, const std::string& context);

Handle open_file(const std::filesystem::path& path, bool write);
/// Creates (truncating) a file; file locking off so that readers can follow it live.
Handle create_file(const std::filesystem::path& path);
Handle open_group(hid_t loc, const std::string& name);
Handle open_dataset(hid_t loc, const std::string& name);
Handle create_group(hid_t loc, const std::string& name);
/// Opens the group, creating it (and its parents) when missing.
Handle require_group(hid_t loc, const std::string& path);

/// True when every component of the '/'-separated path exists below loc.
bool exists(hid_t loc, const std::string& path);
bool is_group(hid_t loc, const std::string& name);
bool is_dataset(hid_t loc, const std::string& name);
/// Names of the direct children of a group, in creation/name order.
std::vector<std::string> children(hid_t group);
std::vector<std::string> attribute_names(hid_t obj);

bool has_attr(hid_t obj, const std::string& name);
/// Attribute as text: strings as is, numbers via std::to_chars-like formatting, booleans as
/// "true"/"false", small arrays as "a, b, c". std::nullopt when missing or unsupported.
std::optional<std::string> attr_text(hid_t obj, const std::string& name);
std::optional<std::string> attr_string(hid_t obj, const std::string& name);
std::optional<double> attr_double(hid_t obj, const std::string& name);
std::optional<long long> attr_int(hid_t obj, const std::string& name);
std::optional<bool> attr_bool(hid_t obj, const std::string& name);

/// Writers: create or replace a scalar attribute.
void set_attr(hid_t obj, const std::string& name, const std::string& value);
void set_attr(hid_t obj, const std::string& name, const char* value);
void set_attr(hid_t obj, const std::string& name, double value);
void set_attr(hid_t obj, const std::string& name, long long value);
/// A boolean stored as h5py does (enum FALSE=0/TRUE=1 over int8), so numpy reads numpy.bool_.
void set_attr_bool(hid_t obj, const std::string& name, bool value);

/// Variable-length UTF-8 string type (h5py's str).
Handle vlen_string_type();
/// h5py's boolean enum type.
Handle bool_type();

/// Formats a double with the shortest round-trip representation.
std::string format_double(double v);

}  // namespace autostem::datasets::h5
