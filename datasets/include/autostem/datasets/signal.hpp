#pragma once
// An n-dimensional signal as read from a file (HyperSpy .hspy, NumPy .npy, DM3/DM4, FEI SER,
// EMD): typed raw values in C order with one calibration per axis, plus flattened metadata.
// Readers keep the file's dtype exactly; conversions to float/double are explicit.

#include <autostem/core/types.hpp>

#include <complex>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace autostem::datasets {

enum class DType {
  boolean, int8, uint8, int16, uint16, int32, uint32, int64, uint64,
  float32, float64, complex64, complex128,
  rgba8  ///< 4 × uint8 per element (R, G, B, A)
};

/// Bytes per element of a dtype.
std::size_t dtype_size(DType t);
/// NumPy-style name: "int16", "float32", "complex64", "rgba8", "bool".
const char* dtype_name(DType t);

struct Signal {
  std::string title;        ///< e.g. HyperSpy's metadata.General.title or DM's image name
  std::string signal_type;  ///< e.g. "EELS", "" when unknown
  DType dtype = DType::float64;
  /// One per array dimension, C order (slowest first); axes[i].size is the extent of dim i.
  std::vector<AxisCalibration> axes;
  /// size() × dtype_size(dtype) bytes, native byte order, C order.
  std::vector<std::byte> bytes;
  /// Selected metadata flattened to "Group.Sub.key" → text (e.g. "Acquisition_instrument.TEM.
  /// Detector.EELS.exposure" → "0.1").
  std::map<std::string, std::string> metadata;

  std::vector<std::size_t> shape() const;
  std::size_t size() const;  ///< number of elements
  std::size_t ndim() const { return axes.size(); }

  /// Element flat (C order) as double: the real part for complex, R for rgba8, 0/1 for bool.
  /// Throws std::out_of_range.
  double value(std::size_t flat) const;
  /// All elements converted as value() does.
  std::vector<double> to_double() const;
  std::vector<float> to_float() const;

  /// Typed view; throws std::invalid_argument if T does not match dtype's size and kind.
  template <class T>
  std::span<const T> as() const {
    check_view(sizeof(T), type_tag<T>());
    return {reinterpret_cast<const T*>(bytes.data()), size()};
  }

 private:
  template <class T>
  static constexpr int type_tag() {
    if constexpr (std::is_same_v<T, std::complex<float>> || std::is_same_v<T, std::complex<double>>) return 2;
    else if constexpr (std::is_floating_point_v<T>) return 1;
    else return 0;
  }
  void check_view(std::size_t elem_size, int kind) const;
};

/// File formats the front door recognises by content (magic bytes / HDF5 attributes).
/// mib: Quantum Detectors Merlin (mib.hpp), read as 4D (scan y, x; ky, kx). `unknown` stays last.
enum class FileFormat { hspy, emd_berkeley, emd_velox, hdf5_other, npy, dm3, dm4, ser, mib, unknown };
const char* format_name(FileFormat f);

/// Looks at the first bytes (and for HDF5 the root attributes) of a file.
/// Throws std::runtime_error if the file cannot be opened (names the path and the OS error).
FileFormat detect_format(const std::filesystem::path& path);

/// Every data set in the file (DM thumbnails skipped), in file order. The reader is chosen by
/// detect_format, never by extension alone. Throws std::runtime_error with the path and the
/// problem (not found, not a recognised format, corrupt structure, missing axes).
std::vector<Signal> read_signals(const std::filesystem::path& path);

/// The main data set of a file: the first of read_signals(). Throws as read_signals.
Signal read_signal(const std::filesystem::path& path);

}  // namespace autostem::datasets
