#pragma once
// Private: pieces shared between the HDF5-based readers (hspy.cpp) and the front door
// (signal.cpp). Not installed, not public.

#include <autostem/datasets/signal.hpp>

#include <hdf5.h>

#include <filesystem>
#include <string>
#include <vector>

namespace autostem::datasets::detail {

/// Reads a whole HDF5 dataset into a Signal, keeping its dtype (see read_hspy). Axes are
/// uncalibrated ("dimN"). context names the file and dataset for error messages.
Signal read_h5_dataset(hid_t dataset, const std::string& context);

/// Any HDF5 file: every numeric dataset with at least one dimension, uncalibrated, titled by its
/// path. Throws std::runtime_error when there is none.
std::vector<Signal> read_hdf5_generic(const std::filesystem::path& path);

}  // namespace autostem::datasets::detail
