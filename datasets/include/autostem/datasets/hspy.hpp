#pragma once
// HyperSpy's HDF5 layout (.hspy; also HyperSpy-written .hdf5): reading and writing.
// Layout (rosettasciio hspy plugin, file_format_version 3.x): the array is
// Experiments/<title>/data; axis N of the array is the group Experiments/<title>/axis-N with
// attributes name, units, offset, scale, size, navigate; metadata/ holds nested groups whose
// attributes are the metadata leaves.

#include <autostem/datasets/signal.hpp>

#include <filesystem>
#include <vector>

namespace autostem::datasets {

/// Every Experiments/<title> group of a HyperSpy HDF5 file, in name order. The dtype is kept
/// (float16 becomes float32 through HDF5's conversion; h5py's complex compounds become
/// complex64/128, its bool enum becomes boolean, HyperSpy's rgba8 compound {R, G, B, A} of uint8
/// becomes rgba8). Metadata: every attribute below metadata/ as
/// "Group.Sub.key" → text. Throws std::runtime_error naming the file and what is missing (no
/// Experiments group, no data, axis-N absent or its size disagreeing with the array).
std::vector<Signal> read_hspy(const std::filesystem::path& path);

/// Writes one signal as a HyperSpy file (file_format "HyperSpy", file_format_version "3.1"),
/// loadable by HyperSpy ≥ 1.7 / rosettasciio: Experiments/<title or __unnamed__>/data with the
/// signal's dtype, axis-N groups (name, units, offset, scale, size, navigate, is_binned, _type
/// "UniformDataAxis"), metadata/General/title, metadata/Signal/signal_type, and the signal's
/// flattened metadata as nested groups (numbers stored as float64, the rest as strings).
/// rgba8 is written as HyperSpy writes its rgba8 signals (hyperspy.misc.rgb_tools): an HDF5
/// compound {R, G, B, A} of uint8, which hs.load returns with the structured dtype rgba8.
/// Overwrites the file. Throws std::invalid_argument for inconsistent axes/bytes, std::runtime_error when the file cannot be written.
void write_hspy(const std::filesystem::path& path, const Signal& signal);

}  // namespace autostem::datasets
