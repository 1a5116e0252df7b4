#pragma once
// HyperSpy's metadata layout for what autostem writes as .hspy (issue 20): the file's own tags in
// original_metadata, and the instrument settings HyperSpy's readers map into
// metadata.Acquisition_instrument under HyperSpy's names (`convert`, `reconstruct`).

#include <autostem/core/types.hpp>
#include <autostem/datasets/signal.hpp>

#include <filesystem>
#include <map>
#include <string>

namespace autostem::cli {

/// The metadata to write for a signal read from `file` (datasets::read_signals): keys in
/// HyperSpy's own namespaces (General., Signal., Acquisition_instrument., Sample.) kept as they
/// are; every other key — the file's tags — moved under "original_metadata." (which
/// datasets::write_hspy writes into the original_metadata group), for DM files nested as
/// HyperSpy's DM reader nests them (original_metadata.ImageList.TagGroup0.ImageTags…); and, for
/// DM files, the tags that HyperSpy 1.7's DM reader maps into Acquisition_instrument (beam
/// energy kV, stage tilt and position, acquisition mode, beam current nA, magnification, camera
/// length, microscope, EELS collection and convergence angles mrad, exposure or dwell time s,
/// frame number, aperture size mm, spectrometer; hyperspy/io_plugins/digital_micrograph.py,
/// get_mapping) added under those names. Values are the readers' text (numbers stay numbers).
/// Throws nothing.
std::map<std::string, std::string> hyperspy_metadata(const datasets::Signal& signal, const std::filesystem::path& file);

/// What a derived signal keeps of its source's metadata (hyperspy_metadata's result): the
/// Acquisition_instrument.* and original_metadata.* keys.
std::map<std::string, std::string> source_metadata(const std::map<std::string, std::string>& hyperspy);

/// A (rows, cols) map over a 4D data set's scan as a float32 HyperSpy signal: axes y, x in nm
/// from the data's calibration, title, and Signal.quantity = quantity when not empty (`strain`,
/// `dpc` maps). Throws nothing.
datasets::Signal scan_map_signal(const ImageArray& map, const FourDStem& data, const std::string& title,
                                 const std::string& quantity);

}  // namespace autostem::cli
