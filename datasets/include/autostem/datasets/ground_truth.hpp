#pragma once
// Ground truth from files (DESIGN.md §6): a spectrum image (y, x, E) and/or a survey image on
// the same pixel grid, with calibrations and the recording conditions found in the metadata.

#include <autostem/core/ground_truth.hpp>
#include <autostem/datasets/signal.hpp>

#include <filesystem>
#include <optional>
#include <string>

namespace autostem::datasets {

/// Length of one unit in nm: "nm" 1, "µm"/"um" 1000, "Å"/"A"/"angstrom" 0.1, "pm" 0.001,
/// "m" 1e9, "mm" 1e6. Empty units are taken as nm (HyperSpy files from atomap omit them).
/// Throws std::invalid_argument naming the unit when it is not a length.
double length_unit_in_nm(const std::string& units);

/// A number a file records, and the metadata key it came from (for messages).
struct RecordedValue {
  double value = 0.0;
  std::string key;
};

/// The per-spectrum exposure (s) a file records, if any: the first positive number among, in
/// order, HyperSpy's Acquisition_instrument.TEM.Detector.EELS.exposure and .EELS.dwell_time;
/// DigitalMicrograph's ImageTags.EELS.Acquisition.Exposure (s) (what HyperSpy reads as the EELS
/// dwell_time), ImageTags.SI.Acquisition.Pixel time (s), ImageTags.Acquisition.Parameters.High
/// Level.Exposure (s); TIA's ObjectInfo.AcquireInfo.DwellTimePath (.emi). nullopt when none.
std::optional<RecordedValue> recorded_exposure(const Signal& s);

/// Builds a ground truth from already-read signals.
///  - spectrum_image: 3-D (rows, cols, channels); the last axis is the energy axis
///    (offset_eV = offset, dispersion_eV = scale, must be > 0; units eV, or keV converted);
///    axes 0 and 1 give the pixel size (scale converted to nm). Values become float32.
///    A 4-D signal (rows, cols, ky, kx) is 4D-STEM data instead: it becomes gt.four_d (float32,
///    detector axes kept as detector_ky / detector_kx) and, without a survey, the survey is each
///    pattern's total counts (name "4D total counts").
///  - survey: 2-D (rows, cols); values become double; its calibration is the survey's.
/// With a survey alone there is no spectrum image; with a spectrum image alone the survey is its
/// total counts (name "SI total counts"). Recording conditions come from HyperSpy metadata when
/// present: Acquisition_instrument.TEM.Detector.EELS.exposure (s) → exposure_s,
/// Acquisition_instrument.TEM.dwell_time (s) → dwell_s, Acquisition_instrument.TEM.beam_current
/// (HyperSpy stores nA) → probe_current_pA × 1000; 0 where absent or 0.
/// source is stored for provenance. Throws std::invalid_argument when both are absent, when a
/// signal has the wrong number of dimensions, or when the grids differ (naming both shapes).
GroundTruth ground_truth_from_signals(const std::optional<Signal>& spectrum_image,
                                      const std::optional<Signal>& survey,
                                      const std::string& source);

/// Reads the files (any format read_signal understands) and calls ground_truth_from_signals.
/// Throws std::runtime_error from the readers (missing file, bad format) and
/// std::invalid_argument as ground_truth_from_signals, each naming the file(s).
GroundTruth load_ground_truth(std::optional<std::filesystem::path> spectrum_image,
                              std::optional<std::filesystem::path> survey);

}  // namespace autostem::datasets
