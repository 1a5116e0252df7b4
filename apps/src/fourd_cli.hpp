#pragma once
// What the 4D-STEM commands (`strain`, `dpc`) share: opening a 4D file and reading a scan
// rotation given on the command line.

#include <autostem/core/ground_truth.hpp>
#include <autostem/imaging/diffraction.hpp>

#include <filesystem>
#include <string>

namespace autostem::cli {

/// The ground truth of a 4D-STEM file (Merlin .mib + .hdr, 4D .hspy, EMD/py4DSTEM, FPD HDF5)
/// through datasets::load_ground_truth; four_d is set. Throws std::invalid_argument naming the
/// file when it holds no 4D data, and what the readers throw.
GroundTruth load_four_d_file(const std::filesystem::path& file);

/// The scan rotation "DEG[:flip]" given to `option` (parse_scan_rotation). Throws UsageError
/// naming the option and the expected form.
ScanRotation scan_rotation_option(const std::string& option, const std::string& text);

}  // namespace autostem::cli
