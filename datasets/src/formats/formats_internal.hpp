#pragma once
// Private entry points of the vendor-format readers that work on a file image in memory (used by
// the public readers, the unit tests, the fuzz targets and the benchmarks), and a minimal DM
// writer for test and benchmark fixtures. Not installed.

#include <autostem/datasets/signal.hpp>

#include <cstddef>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace autostem::datasets::detail {

/// Every data element of a TIA .ser image held in memory. Throws std::runtime_error naming
/// `source` and the byte offset. `emi` (may be empty) is the companion .emi file's bytes, whose
/// <ObjectInfo> XML is flattened into each Signal's metadata.
std::vector<Signal> read_ser_bytes(std::span<const std::byte> ser, const std::string& source,
                                   std::span<const std::byte> emi = {});

/// Flattens the <ObjectInfo>…</ObjectInfo> XML found in an .emi file image into
/// "ObjectInfo.A.B" → text (ExperimentalDescription entries become
/// "ObjectInfo.ExperimentalDescription.<Label> (<Unit>)"). Returns an empty map if none is found.
std::map<std::string, std::string> parse_emi_object_info(std::span<const std::byte> emi);

/// Every data set of an EMD (Berkeley or Velox) file image, opened through HDF5's core driver.
std::vector<Signal> read_emd_bytes(std::span<const std::byte> file, const std::string& source);

/// A minimal DigitalMicrograph writer for fixtures: one ImageList entry (preceded by a 1×1 RGBA
/// thumbnail when `thumbnail`), DataType `dm_data_type`, dimensions in DM order (x first),
/// Calibrations.Dimension with (origin, scale, units) per dimension, optional ImageTags
/// (flat name → string or number) and an optional "Meta Data.Format". `data` holds the elements
/// in native byte order, x fastest; they are written in the requested byte order.
struct DMWriteImage {
  int dm_data_type = 2;
  std::vector<std::uint64_t> dims;
  std::vector<double> origins, scales;
  std::vector<std::string> units;
  std::span<const std::byte> data;
  std::size_t element_swap_width = 4;  ///< word width to swap for big-endian output
  std::string name = "test";
  std::string format;  ///< ImageTags."Meta Data".Format, e.g. "Spectrum image"
  std::string signal;  ///< ImageTags."Meta Data".Signal, e.g. "EELS"
  std::map<std::string, double> number_tags;       ///< under ImageTags
  std::map<std::string, std::string> string_tags;  ///< under ImageTags
};
std::vector<std::byte> write_dm(const DMWriteImage& image, int version, bool little_endian,
                                bool thumbnail = true);

}  // namespace autostem::datasets::detail
