#pragma once
// Timing profiles of the simulated instrument (DESIGN.md §5 "Timing"): every latency of the
// survey, point-by-point and synchronized spectrum-image acquisitions, read from a data file in
// profiles/ (INI, `key = value`, `#` comments). The equations that combine them are the methods
// below; docs/models.md derives each number of the shipped profiles from seed 002 (§IV.b, §V).

#include <autostem/core/types.hpp>

#include <cstddef>
#include <string>
#include <vector>

namespace autostem::sim {

/// One named number of a profile, for listings (`autostem profiles`).
struct ProfileParameter {
  std::string key;          ///< the INI key, e.g. "set_beam_position_s"
  double value = 0.0;
  std::string unit;         ///< e.g. "s", "B/s", "pA"
  std::string description;  ///< one line
};

struct TimingProfile {
  std::string name;         ///< e.g. "rsi2024-remote"
  std::string description;  ///< one line, from the file
  std::string source_path;  ///< the file it was read from (empty when built in code)

  // --- session (seed 002 table) ---
  double connection_s = 0.0;         ///< establishing the client–server connection, once
  double camera_activation_s = 0.0;  ///< activating the spectrometer camera, once

  // --- link (transfers) ---
  double link_bandwidth_Bps = 1.0;   ///< effective bytes/s of a data transfer, > 0
  double link_latency_s = 0.0;       ///< per transfer

  // --- survey (DigiScan frame) ---
  double default_dwell_s = 0.0;       ///< per pixel
  double line_flyback_s = 0.0;        ///< per scan line
  double frame_overhead_s = 0.0;      ///< start/stop of a frame, image creation
  double survey_bytes_per_pixel = 0.0;  ///< serialized size of one survey value on the link

  // --- point mode (remote beam placement + single spectrum) ---
  double set_beam_position_s = 0.0;
  double read_beam_position_s = 0.0;
  double settle_s = 0.0;              ///< scan-coil settling after a move
  double default_exposure_s = 0.0;
  double readout_s = 0.0;             ///< camera readout of one spectrum
  double spectrum_bytes_per_channel = 0.0;
  /// Channels the camera reads out and sends per spectrum (timing only); 0 = the number of
  /// channels of the simulated spectra.
  double spectrum_channels = 0.0;
  double software_overhead_s = 0.0;   ///< server + client processing per spectrum
  double spectrum_setup_s = 0.0;      ///< camera prepare at the first spectrum / on a settings change

  // --- si_scan mode (synchronized DigiScan + spectrometer) ---
  double si_pixel_overhead_s = 0.0;   ///< readout/sync per pixel on top of the exposure
  double si_line_flyback_s = 0.0;     ///< per change of scan line
  double si_setup_s = 0.0;            ///< preparing an SI acquisition (first / settings change)

  // --- beam and limits ---
  double probe_current_pA = 0.0;      ///< default probe current
  double max_exposure_s = 0.0;        ///< hard limit per spectrum

  // --- strategy compute on the computer that runs it (optional) ---
  /// Seconds a model strategy (dkl, gp: Schema::model_per_decision) spends per decision on the
  /// computer that drives the microscope; 0 = not known. `autostem estimate` charges it per
  /// decision (as --compute fixed:S) instead of this computer's wall time.
  double model_step_s = 0.0;

  // --- optional defaults of the physical models (see SimConfig::from_profile) ---
  double noise_gain = 1.0;
  double noise_dark_offset = 0.0;
  double noise_readout_sigma = 2.0;
  double drift_velocity_row_nm_per_s = 0.0;
  double drift_velocity_col_nm_per_s = 0.0;
  double drift_random_walk_nm_per_sqrt_s = 0.0;
  double drift_jitter_amplitude_nm = 0.0;
  double drift_jitter_period_s = 0.0;
  double drift_settling_velocity_row_nm_per_s = 0.0;
  double drift_settling_velocity_col_nm_per_s = 0.0;
  double drift_settling_tau_s = 0.0;
  double drift_jumps_per_s = 0.0;
  double drift_jump_nm = 0.0;

  /// Reads a profile. name_or_path is a built-in name (one of builtin_names(), read from
  /// AUTOSTEM_PROFILE_DIR/<name>.ini) or a path to an .ini file. Every timing key is required;
  /// noise_* and drift_* keys are optional.
  /// Throws std::invalid_argument: unknown built-in name (listing the built-in names), file not
  /// readable, unknown key, missing key, or a value that is not a number or out of range — the
  /// message names the file and the key.
  static TimingProfile load(const std::string& name_or_path);
  /// Names of the profiles shipped in profiles/: rsi2024-remote, rsi2024-local, ideal.
  static std::vector<std::string> builtin_names();
  /// Directory the built-in profiles are read from (AUTOSTEM_PROFILE_DIR, overridable at run
  /// time with the environment variable of the same name).
  static std::string profile_dir();

  /// Every numeric key with its value, unit and description, in file order.
  std::vector<ProfileParameter> parameters() const;
  /// Checks every value's range; throws std::invalid_argument naming `where` and the key.
  void validate(const std::string& where) const;

  // --- the timing equations (docs/models.md §1); all results in seconds ---

  /// Survey frame: rows×cols×dwell + rows×line_flyback + frame_overhead + transfer of
  /// rows×cols×survey_bytes_per_pixel. dwell_s ≤ 0 means default_dwell_s.
  double survey_time_s(std::size_t rows, std::size_t cols, double dwell_s = 0.0) const;
  /// One data transfer on the link: bytes / link_bandwidth_Bps + link_latency_s.
  double transfer_time_s(double bytes) const;
  /// Transfer of one spectrum of `channels` channels (spectrum_channels overrides when > 0).
  double spectrum_transfer_s(std::size_t channels) const;
  /// Steady-state point-mode acquisition: set_beam_position + settle + read_beam_position +
  /// exposure + readout + spectrum transfer + software_overhead.
  double point_time_s(double exposure_s, std::size_t channels) const;
  /// Time before the exposure starts within a point acquisition (move, settle, read-back).
  double point_pre_exposure_s() const { return set_beam_position_s + settle_s + read_beam_position_s; }
  /// Steady-state si_scan pixel: exposure + si_pixel_overhead (line flyback charged apart).
  double si_pixel_time_s(double exposure_s) const { return exposure_s + si_pixel_overhead_s; }
  /// One spectrum on a freshly connected instrument (seed 002 table, "Acquire eels exposure"):
  /// connection + camera activation + spectrum_setup + point_time_s(exposure).
  double isolated_point_time_s(double exposure_s, std::size_t channels) const;
  /// A full rows×cols synchronized spectrum image from a freshly prepared camera: camera
  /// activation + si_setup + rows×cols×si_pixel_time + (rows−1)×si_line_flyback.
  double si_grid_time_s(std::size_t rows, std::size_t cols, double exposure_s) const;
};

}  // namespace autostem::sim
