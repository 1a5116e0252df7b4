#pragma once
// Ground truth for a simulation (DESIGN.md §6): a survey image, optionally a spectrum image on
// the same pixel grid, labels, and the conditions the data were recorded at. A value type in
// core so that sim/ (which may depend on core only) can replay it; datasets/ builds it from files
// and phantoms.

#include <autostem/core/types.hpp>

#include <optional>
#include <string>
#include <vector>

namespace autostem {

/// Conditions a ground truth was recorded at; the simulator scales expected counts by
/// (current × time) / (recorded current × recorded time). 0 = unknown: the simulator then
/// assumes the data were recorded at the conditions it is asked to simulate (scale 1).
struct RecordingConditions {
  double probe_current_pA = 0.0;
  double exposure_s = 0.0;   ///< per spectrum
  double dwell_s = 0.0;      ///< per survey pixel
};

/// A labelled point (atom, dopant) in the survey pixel frame.
struct LabelledPoint {
  Position position;
  int label = 0;
};

struct GroundTruth {
  std::string source;            ///< file path(s) or "phantom:NAME(seed=…)", for provenance
  Image survey;                  ///< (rows, cols), required
  std::optional<SpectrumImage> spectrum_image;  ///< (rows, cols, E) on the survey grid
  /// 4D-STEM data (rows, cols, ky, kx) on the survey grid; when present the simulated instrument
  /// returns diffraction patterns instead of spectra. At most one of spectrum_image and four_d.
  std::optional<FourDStem> four_d;
  RecordingConditions recorded;
  /// Optional region-of-interest mask (rows, cols), 1 inside, 0 outside.
  std::optional<ImageArray> roi_mask;
  std::vector<LabelledPoint> points;  ///< optional labels

  std::size_t rows() const { return survey.rows(); }
  std::size_t cols() const { return survey.cols(); }

  /// Throws std::invalid_argument when the survey is empty, the spectrum image / 4D data / mask
  /// do not share the survey's (rows, cols) (naming both shapes), or both a spectrum image and 4D
  /// data are given.
  void validate() const;
};

}  // namespace autostem
