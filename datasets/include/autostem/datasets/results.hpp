#pragma once
// The results file of a run (DESIGN.md §9; layout in docs/results-format.md): one HDF5 file,
// written as the run happens and flushed after every measurement, so that a run killed at any
// point (even by SIGKILL) leaves a readable file holding every measurement collected so far, and
// a reader can follow a run live.

#include <autostem/core/session.hpp>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace autostem::datasets {

/// Who/what produced the run, stored as root attributes.
struct ResultsProvenance {
  std::string profile;       ///< instrument timing profile (e.g. "rsi2024-remote"); empty = the instrument's
  std::string dataset;       ///< ground-truth source ("phantom:nanowire(seed=1)", file paths) or "live"
  std::string command_line;  ///< the command that started the run
  std::string version;       ///< autostem version; empty = AUTOSTEM_VERSION of this build
};

/// A MeasurementSink that writes the results file. Layout (docs/results-format.md):
///   /survey/image (rows, cols) float64, attrs dwell_s, probe_current_pA, detector,
///       pixel_size_nm, origin_row_nm, origin_col_nm, t_start_s, t_end_s, dose_e_per_A2, name, units
///   /energy_axis (group) attrs offset_eV, dispersion_eV, channels
///   /measurements/{position_px, commanded_position_px, actual_position_px} (N, 2) float64
///       (row, col; NaN = unknown): as the strategy proposed, where the beam was sent (minus the
///       drift correction), where it landed (simulated drift)
///   /measurements/signal (N, channels) float32; each row C-order in the shape named by the
///       measurements group's attrs signal_kind (spectrum | diffraction) and signal_shape
///       ("E" or "ky,kx"; channels = their product)
///   /measurements/{t_start_s, t_end_s, dose_e_per_A2, exposure_s, probe_current_pA} (N) float64
///   /predictions/step_K/{mean, uncertainty, acquisition} (rows, cols) float64
///   /drift/rescan_NNNN (drift correction): attrs after_measurements, t_start_s, t_end_s,
///       offset_{row,col}_px, measured_{row,col}_px, predicted_{row,col}_px, confidence,
///       dose_e_per_A2, warning, row0, col0; dataset patch (rows, cols) float64
///   /operator_events/event_NNNN (operator control, issue 18): attrs kind (pause | resume | stop |
///       exclude | restrict | clear_regions), session_time_s, wall_time_s (Unix s),
///       after_measurements, source; row0, col0, row1, col1 (survey px, inclusive) for regions
///   /dose_map (rows, cols) float64 e⁻/Å², written at the end when the instrument knows it
///   /strategy_parameters (group) one string attribute per parameter
///   root attrs: strategy, strategy_parameters (JSON text), seed, instrument, profile, dataset,
///     autostem_version, command_line, measurements, total_time_s, total_dose_e_per_A2,
///     max_dose_e_per_A2, stop_reason, complete (0 while running, 1 after on_end), …
/// The measurement datasets are chunked and extendible; every on_measurement extends them by one
/// row, updates the root totals and calls H5Fflush. The file is written at its final path
/// (overwritten if present) with HDF5 file locking off, so readers can follow it live.
class ResultsWriter final : public MeasurementSink {
 public:
  /// Creates (truncates) the file and writes the provenance attributes with complete = 0.
  /// Throws std::runtime_error naming the path when it cannot be created.
  ResultsWriter(std::filesystem::path path, ResultsProvenance provenance);
  ~ResultsWriter() override;
  ResultsWriter(const ResultsWriter&) = delete;
  ResultsWriter& operator=(const ResultsWriter&) = delete;

  /// Writes the survey, energy axis, strategy/instrument attributes, and creates the
  /// measurement datasets. Throws std::runtime_error on an HDF5 failure.
  void on_begin(const RunInfo& info, const Survey& survey) override;
  /// Appends one row to every measurement dataset and flushes. Throws std::invalid_argument if
  /// the signal's length differs from the first measurement's (or the energy axis' channels),
  /// std::logic_error before on_begin or after on_end.
  void on_measurement(const Measurement& m) override;
  /// Writes /predictions/step_<step>/{mean,uncertainty,acquisition} (the non-empty maps).
  void on_prediction(std::size_t step, const Prediction& p) override;
  /// Writes /drift/rescan_NNNN (attributes and the patch) and flushes.
  void on_drift(const DriftRecord& record) override;
  /// Writes /operator_events/event_NNNN (attributes kind, session_time_s, wall_time_s,
  /// after_measurements, source, and row0, col0, row1, col1 for a region) and flushes.
  void on_operator(const OperatorEvent& event) override;
  /// Writes the dose map and the summary attributes, sets complete = 1, and closes the file.
  void on_end(const RunSummary& summary, const std::optional<Image>& dose_map) override;

  const std::filesystem::path& path() const { return path_; }

 private:
  struct Impl;
  std::filesystem::path path_;
  std::unique_ptr<Impl> impl_;
};

/// A results file read back (by tests, `autostem reconstruct`, and analysis code).
struct RunRecord {
  Survey survey;                        ///< image with calibration; dwell, current, detector, times, dose
  EnergyAxis energy;
  std::vector<Position> requested;      ///< (N) as proposed, survey pixel frame
  std::vector<Position> actual;         ///< (N) NaN where unknown
  std::vector<Position> commanded;      ///< (N) where the beam was sent (= requested in old files)
  std::vector<DriftRecord> drift;       ///< the drift reference re-scans, in order
  std::vector<OperatorEvent> operator_events;  ///< operator control events, in order (issue 18)
  std::vector<std::vector<float>> signals;  ///< (N) × channels (each C-order in signal_shape)
  /// What each signal is: spectrum (E) or diffraction pattern (ky, kx), from the attributes
  /// measurements/signal_kind and signal_shape; files written before them read as a spectrum
  /// of the signal's length.
  SignalShape signal_shape;
  std::vector<double> t_start_s, t_end_s, dose_e_per_A2, exposure_s, probe_current_pA;  ///< (N)
  std::optional<ImageArray> dose_map;   ///< e⁻/Å², present when the run ended normally
  std::map<std::string, std::string> attributes;  ///< every root attribute as text
  Parameters strategy_parameters;
  std::vector<std::size_t> prediction_steps;      ///< steps with a stored prediction, ascending
  bool complete = false;                ///< on_end was reached
  std::size_t measurements() const { return requested.size(); }
  /// A root attribute, or throws std::out_of_range naming it.
  const std::string& attribute(const std::string& name) const;
};

/// True when path is an HDF5 file whose root attribute file_format is "autostem-results" (what
/// ResultsWriter writes); false for any other file, readable or not. Never throws.
bool is_results_file(const std::filesystem::path& path);

/// Reads a results file (complete, still being written, or left by a killed run). Reads only
/// the rows every measurement dataset has (a run killed between extending two datasets leaves
/// them uneven by one row). Throws std::runtime_error naming the file and the missing object
/// when it is not a results file.
RunRecord read_results(const std::filesystem::path& path);

/// The prediction stored at a step (empty arrays for maps that were not stored). Throws
/// std::runtime_error when the step is absent.
Prediction read_prediction(const std::filesystem::path& path, std::size_t step);

}  // namespace autostem::datasets
