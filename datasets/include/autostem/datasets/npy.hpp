#pragma once
// NumPy's .npy format (NEP 1; numpy.lib.format): "\x93NUMPY", version byte pair (1.0, 2.0 or
// 3.0), a little-endian header length (uint16 for 1.0, uint32 for 2.0/3.0), and a Python dict
// literal {'descr': '<f8', 'fortran_order': False, 'shape': (256, 256), } padded with spaces to
// a multiple of 64 bytes; then the raw array.

#include <autostem/datasets/signal.hpp>

#include <filesystem>

namespace autostem::datasets {

/// Reads a .npy array: bool, (u)int8…64, float32/64, complex64/128, either byte order,
/// C or Fortran order. The result is C order in native byte order, with uncalibrated axes
/// (name "dimN", offset 0, scale 1, no units, not navigating) and title = the file stem.
/// float16 ('<f2') is widened to float32. Throws std::runtime_error naming the file and the
/// problem (bad magic, unknown version, unparsable header, unsupported descr, truncated data).
Signal read_npy(const std::filesystem::path& path);

/// Writes a signal as a version 1.0 .npy file, C order, native (little-endian) byte order.
/// Calibrations and metadata are not stored (the format has no place for them). Throws
/// std::invalid_argument for rgba8, std::runtime_error when the file cannot be written.
void write_npy(const std::filesystem::path& path, const Signal& signal);

}  // namespace autostem::datasets
