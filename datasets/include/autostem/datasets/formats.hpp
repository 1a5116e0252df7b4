#pragma once
// Readers for the microscope vendor formats (DigitalMicrograph DM3/DM4, FEI/TIA SER, EMD:
// Berkeley and Velox). The front door (read_signals in signal.hpp) calls these after
// detect_format has identified the file by content; they may also be called directly.
// Implemented in datasets/src/formats/ (built when datasets/formats.cmake is present).

#include <autostem/datasets/signal.hpp>

#include <filesystem>
#include <vector>

namespace autostem::datasets {

/// Every data set of a DigitalMicrograph DM3 or DM4 file (version told by the first 4 bytes),
/// thumbnails skipped, in file order. Calibrations follow MANIFEST.md: value = (index − Origin)
/// × Scale, i.e. offset = −Origin × Scale; DM's [x, y, E] dimensions become C-order axes
/// (E, y, x) re-ordered as HyperSpy presents them. Throws std::runtime_error naming the path and
/// the tag or structure that is wrong.
std::vector<Signal> read_dm(const std::filesystem::path& path);

/// Every data set of an FEI/TIA SER file (series of 1-D or 2-D elements), with calibrations.
/// Throws std::runtime_error naming the path and the problem.
std::vector<Signal> read_ser(const std::filesystem::path& path);

/// Every data set of an EMD file (Berkeley EMD 0.2 groups with emd_group_type = 1, or Thermo
/// Fisher Velox /Data groups: images, spectra, and SpectrumStream event streams decoded to a
/// (y, x, E) EDS spectrum image — frames and same-raster detector streams summed; docs/
/// robustness.md "Velox SpectrumStream"), with calibrations. Read in a child process (isolate.hpp:
/// a crash or a hang of libhdf5 on a corrupt file becomes an error; AUTOSTEM_HDF5_TIMEOUT_S,
/// default 300 s). Throws std::runtime_error naming the path and the problem (a stream shorter
/// than one frame, a channel ≥ bincount, more than 2^31 elements or AUTOSTEM_EMD_MAX_SI_BYTES).
std::vector<Signal> read_emd(const std::filesystem::path& path);

}  // namespace autostem::datasets
