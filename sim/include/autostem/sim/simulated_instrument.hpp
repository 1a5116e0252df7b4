#pragma once
// The simulated microscope (DESIGN.md §5): replays a GroundTruth through the timing, dose, noise
// and drift models on a discrete-event engine. Implements the same Instrument contract as the
// live DigitalMicrograph backend, so a strategy cannot tell them apart. Deterministic for a seed;
// no wall clock anywhere. Models and defaults: docs/models.md.

#include <autostem/core/ground_truth.hpp>
#include <autostem/core/instrument.hpp>
#include <autostem/sim/engine.hpp>
#include <autostem/sim/models.hpp>
#include <autostem/sim/detector_profile.hpp>
#include <autostem/sim/timing_profile.hpp>

#include <cstdint>
#include <deque>
#include <optional>
#include <utility>
#include <vector>

namespace autostem::sim {

/// Everything a SimulatedInstrument needs besides the ground truth. The profile must be a loaded
/// one (TimingProfile::load): a default-constructed profile fails validation.
struct SimConfig {
  TimingProfile profile;
  NoiseModel noise;
  DriftModel drift;
  double probe_current_pA = 0.0;  ///< 0 = a 4D ground truth's recorded current, else the profile's probe_current_pA
  std::uint64_t seed = 0;
  DamageModel damage;             ///< off by default
  /// 4D-STEM (issue 19): a pixelated detector profile (DetectorProfile::load) that times each
  /// diffraction pattern instead of the spectroscopy part of `profile`. Point mode: beam move
  /// (profile: set + settle + read back) + exposure + point_overhead_s; si_scan mode (the
  /// synchronized 4D scan): exposure per pattern, scan_line_overhead_s per new line and
  /// scan_setup_s once. The exposure defaults to the frame time and may not be shorter.
  /// Needs 4D ground truth. std::nullopt = spectroscopy timing (also for patterns).
  std::optional<DetectorProfile> detector;

  /// A config whose noise and drift come from the profile's optional noise_* / drift_* keys.
  static SimConfig from_profile(TimingProfile profile, std::uint64_t seed = 0);
};

/// Random-stream ids of the components (component_stream(seed, id)).
enum class Stream : std::uint64_t { survey_noise = 1, spectrum_noise = 2, drift = 3, patch_noise = 4 };

class SimulatedInstrument final : public autostem::Instrument {
 public:
  /// Throws std::invalid_argument when the ground truth is invalid (GroundTruth::validate), the
  /// profile fails TimingProfile::validate, the drift model has a non-finite value, or the noise
  /// model has a negative/non-finite gain, offset or sigma, the probe current is negative, the
  /// critical dose of the damage model is negative or not finite, or a detector profile is given
  /// for ground truth without diffraction patterns (or has a frame time ≤ 0).
  SimulatedInstrument(GroundTruth truth, SimConfig config);

  /// Field = the ground truth's survey shape and calibration; energy axis = the spectrum
  /// image's, or a 1-channel axis (offset 0, 1 eV/ch) when the ground truth has none.
  InstrumentInfo describe() const override;

  /// The ground-truth survey scaled by (current × dwell)/(recorded current × recorded dwell)
  /// (faded by the DamageModel with the dose each pixel held before the scan) with the NoiseModel
  /// applied; takes TimingProfile::survey_time_s (after the spectra in
  /// flight have finished). Dose: current × dwell per pixel over the pixel area, uniform.
  /// Throws std::invalid_argument on a negative/non-finite dwell or current or a detector other
  /// than the survey's.
  Survey acquire_survey(const SurveySettings& settings) override;

  /// Scans a patch of the field (a drift reference; Instrument::acquire_patch). Pixel (i, j)
  /// (0 ≤ i < scan.rows, 0 ≤ j < scan.cols) is commanded at c = ((row0 + offset.row) + i,
  /// (col0 + offset.col) + j) (the corner first: what a sub-region scan given only its corner
  /// commands, so the fake DM reproduces it bit for bit) and lands at c + d(t_ij)/pixel_size_nm,
  /// the drift sampled when the beam reaches that pixel, so drift during the patch distorts it
  /// (scan distortion). Timing:
  /// the survey's equation for a rows×cols frame (TimingProfile::survey_time_s, plus the
  /// connection when none was made yet); pixel (i, j) is reached at t_start (+ connection) +
  /// i·(cols·dwell + line_flyback_s) + j·dwell (frame overhead and transfer after the last
  /// line). Value: the ground-truth survey at the landed position (bilinear, clamped at the
  /// field edge, as expected_signal; faded by the DamageModel with the dose held before the
  /// patch), scaled by (current × dwell)/(recorded current × recorded dwell) as acquire_survey,
  /// with the NoiseModel applied from its own stream (Stream::patch_noise). Dose: current ×
  /// dwell electrons per pixel into the survey pixel the probe landed in (rounded, clamped);
  /// Survey::dose_e_per_A2 is that per-pixel areal dose. Result image (scan.rows, scan.cols),
  /// the survey's calibration, name and units.
  /// Throws std::invalid_argument when something is in flight, rows or cols < 2, the rectangle
  /// is not inside the field, the offset is not finite, or on settings acquire_survey rejects.
  Survey acquire_patch(const PatchScan& scan) override;

  /// Queues the positions; they are acquired one after another on the engine (time advances only
  /// in collect(), elapse() or acquire_survey()). Throws std::invalid_argument naming the first
  /// non-finite or out-of-field position ([-0.5, rows-0.5) × [-0.5, cols-0.5)), or an exposure
  /// that is ≤ 0 after defaults, not finite, or above the profile's max_exposure_s; nothing is
  /// queued then.
  void submit(std::span<const Position> positions, const PointSettings& settings,
              AcquisitionMode mode) override;
  /// Queued + being acquired + finished but not yet collected.
  std::size_t in_flight() const override;
  /// Finished measurements in acquisition order; with wait = true runs the engine until at least
  /// one is done (or nothing is left in flight). Never throws for a fault: the model has none.
  std::vector<Measurement> collect(bool wait) override;
  /// Advances the clock; acquisitions in flight progress. Throws std::invalid_argument if
  /// seconds < 0 or not finite.
  void elapse(double seconds) override;
  /// The beam is blanked between exposures in this model; blank() only records the request.
  void blank() override { blanked_ = true; }
  /// false while an acquisition is in progress at the session time (from its start to the end
  /// of its exposure and readout: conservative, the beam is on for part of it), true otherwise.
  std::optional<bool> beam_blanked() const override { return !busy_; }
  double now_s() const override { return sim_.now_s(); }
  /// Steady state (no one-off setup): TimingProfile::point_time_s, or si_pixel_time_s plus one
  /// line flyback per field width; electrons = current × exposure × 6.2415e6 over one pixel's
  /// area. Throws std::invalid_argument on a negative/non-finite exposure or current.
  CostEstimate estimate_point(const PointSettings& settings, AcquisitionMode mode) const override;
  /// Areal dose (e⁻/Å²) per survey pixel: the survey's uniform dose plus, for each spectrum,
  /// current × exposure electrons over the area of the pixel the drifted probe landed in (the
  /// probe footprint is taken to be one survey pixel; see docs/models.md §2).
  std::optional<Image> dose_map() const override;
  double total_electrons() const override { return total_electrons_; }

  const SimConfig& config() const { return config_; }
  const GroundTruth& ground_truth() const { return truth_; }
  /// The engine, for tests and for co-simulating other components on the same clock.
  Simulation& simulation() { return sim_; }
  /// Expected counts (noise-free) of the signal at a position (survey pixel frame) for the given
  /// electrons-per-recorded-electrons scale; bilinear between the 4 nearest pixels, clamped at
  /// the field edge, each pixel faded by the DamageModel with the dose it holds now. Result has
  /// describe().energy.channels values.
  std::vector<double> expected_signal(const Position& actual, double scale) const;

 private:
  struct Job {
    Position requested;
    double exposure_s;
    double current_pA;
    AcquisitionMode mode;
  };
  struct Prepared {
    AcquisitionMode mode;
    double exposure_s;
  };

  void ensure_connected(double& t);
  void start_next();
  /// Schedules the end of `job`: beam lands `pre` s from now, the signal is ready
  /// exposure + `post` s later.
  void finish_job(const Job& job, double pre, double post);
  /// The exposure of PointSettings after defaults; throws std::invalid_argument when not
  /// finite or < 0, and with check_limits when above max_exposure_s or (with a detector)
  /// shorter than its frame time.
  double resolve_exposure(double requested_s, bool check_limits = true) const;
  void check_position(const Position& p) const;
  /// requested_pA if > 0, else SimConfig::probe_current_pA if > 0, else the recorded current of a
  /// 4D ground truth if it has one, else the profile's. Throws for a negative or non-finite value.
  double resolve_current(double requested_pA, const char* what) const;
  /// Exposure when PointSettings leaves it 0 (s): for a 4D ground truth the detector profile's
  /// frame_time_s (SimConfig::detector), else its recorded frame time if it has one (the 4D
  /// phantoms); else the profile's default_exposure_s.
  double default_exposure_s() const;
  double spectrum_scale(double current_pA, double exposure_s) const;
  Position drifted(const Position& p, double t_s);
  std::size_t channels() const;
  /// Bilinear weights (already × scale × damage factor) of the 4 pixels around a position,
  /// clamped at the field edge (expected_signal's interpolation).
  struct Bilinear {
    std::size_t r0, c0, r1, c1;
    double w00, w01, w10, w11;
  };
  Bilinear bilinear(const Position& actual, double scale) const;
  /// Dwell (s) and current (pA) of survey settings after defaults; throws as acquire_survey.
  std::pair<double, double> survey_conditions(const SurveySettings& settings, const char* what) const;
  void add_dose(const Position& actual, double dose_e_per_A2);
  SignalShape signal_shape() const;  ///< spectrum (channels) or diffraction (ky, kx)

  GroundTruth truth_;
  SimConfig config_;
  Simulation sim_;
  Rng survey_rng_, spectrum_rng_, patch_rng_;
  DriftProcess drift_;

  std::deque<Job> queue_;
  bool busy_ = false;
  std::vector<Measurement> done_;
  std::size_t next_index_ = 0;
  bool connected_ = false;
  bool camera_active_ = false;
  std::optional<Prepared> prepared_;
  std::optional<long> last_si_row_;
  bool blanked_ = true;

  ImageArray dose_;           ///< e⁻/Å², (rows, cols)
  double total_electrons_ = 0.0;
};

}  // namespace autostem::sim
