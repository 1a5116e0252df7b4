#include <autostem/sim/simulated_instrument.hpp>

#include <autostem/core/field.hpp>

#include <algorithm>
#include <cstdio>
#include <cmath>
#include <stdexcept>
#include <string>
#include <utility>

namespace autostem::sim {

namespace {

std::string fmt(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

void check_noise(const NoiseModel& n) {
  auto bad = [](double v) { return !std::isfinite(v) || v < 0.0; };
  if (bad(n.gain) || bad(n.dark_offset) || bad(n.readout_sigma))
    throw std::invalid_argument("SimConfig.noise: gain = " + fmt(n.gain) + ", dark_offset = " +
                                fmt(n.dark_offset) + ", readout_sigma = " + fmt(n.readout_sigma) +
                                "; each must be a finite number >= 0");
}

// Ratio of a simulated condition to the recorded one; 1 when the recorded one is unknown (0).
double ratio(double simulated, double recorded) { return recorded > 0.0 ? simulated / recorded : 1.0; }

// Noise of a measured diffraction pattern (4D ground truth). Pixelated 4D-STEM detectors count
// electrons (Medipix3 in the Merlin, the ARINA's hybrid pixels): Poisson statistics only, one count
// per electron, no dark offset and no read noise; on or off with the configured model. The
// spectrometer-camera model (readout_sigma = 2 counts rms per channel by default) on each of a
// 64² pattern's 4096 pixels would put 2·√(Σ x²)/N ≈ 0.019 px of noise into each CoM component at
// N = 1.25·10⁵ electrons, 3.5 times the Poisson noise (docs/4dstem.md).
NoiseModel counting_noise(const NoiseModel& configured) {
  NoiseModel n;
  n.enabled = configured.enabled;
  n.gain = 1.0;
  n.dark_offset = 0.0;
  n.readout_sigma = 0.0;
  return n;
}

}  // namespace

SimConfig SimConfig::from_profile(TimingProfile profile, std::uint64_t seed) {
  SimConfig c;
  c.noise.gain = profile.noise_gain;
  c.noise.dark_offset = profile.noise_dark_offset;
  c.noise.readout_sigma = profile.noise_readout_sigma;
  c.drift.velocity_row_nm_per_s = profile.drift_velocity_row_nm_per_s;
  c.drift.velocity_col_nm_per_s = profile.drift_velocity_col_nm_per_s;
  c.drift.random_walk_nm_per_sqrt_s = profile.drift_random_walk_nm_per_sqrt_s;
  c.drift.jitter_amplitude_nm = profile.drift_jitter_amplitude_nm;
  c.drift.jitter_period_s = profile.drift_jitter_period_s;
  c.drift.settling_velocity_row_nm_per_s = profile.drift_settling_velocity_row_nm_per_s;
  c.drift.settling_velocity_col_nm_per_s = profile.drift_settling_velocity_col_nm_per_s;
  c.drift.settling_tau_s = profile.drift_settling_tau_s;
  c.drift.jumps_per_s = profile.drift_jumps_per_s;
  c.drift.jump_nm = profile.drift_jump_nm;
  c.profile = std::move(profile);
  c.seed = seed;
  return c;
}

SimulatedInstrument::SimulatedInstrument(GroundTruth truth, SimConfig config)
    : truth_(std::move(truth)),
      config_(std::move(config)),
      survey_rng_(component_stream(config_.seed, static_cast<std::uint64_t>(Stream::survey_noise))),
      spectrum_rng_(component_stream(config_.seed, static_cast<std::uint64_t>(Stream::spectrum_noise))),
      patch_rng_(component_stream(config_.seed, static_cast<std::uint64_t>(Stream::patch_noise))),
      drift_(config_.drift, component_stream(config_.seed, static_cast<std::uint64_t>(Stream::drift))) {
  truth_.validate();
  config_.profile.validate("SimConfig.profile '" + config_.profile.name + "'");
  check_noise(config_.noise);
  if (!std::isfinite(config_.probe_current_pA) || config_.probe_current_pA < 0.0)
    throw std::invalid_argument("SimConfig.probe_current_pA = " + fmt(config_.probe_current_pA) +
                                "; expected a finite number >= 0 (0 = profile default)");
  if (!std::isfinite(config_.damage.critical_dose_e_per_A2) ||
      config_.damage.critical_dose_e_per_A2 < 0.0)
    throw std::invalid_argument("SimConfig.damage.critical_dose_e_per_A2 = " +
                                fmt(config_.damage.critical_dose_e_per_A2) +
                                "; expected a finite number > 0, or 0 for no damage");
  if (config_.detector) {
    if (!truth_.four_d)
      throw std::invalid_argument("SimConfig.detector = '" + config_.detector->name +
                                  "': a pixelated-detector profile times diffraction patterns, but "
                                  "ground truth '" + truth_.source + "' has no 4D-STEM data");
    if (!(config_.detector->frame_time_s > 0.0) || !std::isfinite(config_.detector->frame_time_s))
      throw std::invalid_argument("SimConfig.detector = '" + config_.detector->name +
                                  "': frame_time_s = " + fmt(config_.detector->frame_time_s) +
                                  "; expected a finite number > 0");
  }
  const double px = truth_.survey.calibration.pixel_size_nm;
  if (!std::isfinite(px) || px <= 0.0)
    throw std::invalid_argument("ground truth '" + truth_.source + "': survey pixel_size_nm = " +
                                fmt(px) + "; expected a finite number > 0");
  dose_ = ImageArray::Zero(static_cast<Eigen::Index>(truth_.rows()),
                           static_cast<Eigen::Index>(truth_.cols()));
}

std::size_t SimulatedInstrument::channels() const {
  if (truth_.four_d) return truth_.four_d->ky() * truth_.four_d->kx();
  return truth_.spectrum_image ? truth_.spectrum_image->channels() : 1;
}

SignalShape SimulatedInstrument::signal_shape() const {
  if (truth_.four_d) return truth_.four_d->pattern_shape();
  return SignalShape::spectrum(channels());
}

InstrumentInfo SimulatedInstrument::describe() const {
  InstrumentInfo info;
  info.name = "simulated STEM (" + config_.profile.name +
              (config_.detector ? ", detector " + config_.detector->name : std::string()) + ")";
  info.profile = config_.profile.name;
  info.field_rows = truth_.rows();
  info.field_cols = truth_.cols();
  info.calibration = truth_.survey.calibration;
  info.energy = truth_.spectrum_image ? truth_.spectrum_image->energy() : EnergyAxis{0.0, 1.0, 1};
  info.signal = signal_shape();
  info.detectors = {truth_.survey.name.empty() ? std::string("HAADF") : truth_.survey.name};
  info.default_dwell_s = config_.profile.default_dwell_s;
  info.default_exposure_s = default_exposure_s();
  info.default_probe_current_pA = resolve_current(0.0, "describe");
  info.max_exposure_s = config_.profile.max_exposure_s;
  info.can_scan_patch = true;
  return info;
}

double SimulatedInstrument::resolve_current(double requested_pA, const char* what) const {
  if (!std::isfinite(requested_pA) || requested_pA < 0.0)
    throw std::invalid_argument(std::string(what) + ".probe_current_pA = " + fmt(requested_pA) +
                                "; expected a finite number >= 0 (0 = default)");
  if (requested_pA > 0.0) return requested_pA;
  if (config_.probe_current_pA > 0.0) return config_.probe_current_pA;
  // A 4D ground truth that records its probe current (the 4D phantoms) is measured at it.
  if (truth_.four_d && truth_.recorded.probe_current_pA > 0.0) return truth_.recorded.probe_current_pA;
  return config_.profile.probe_current_pA;
}

double SimulatedInstrument::default_exposure_s() const {
  if (truth_.four_d && config_.detector) return config_.detector->frame_time_s;
  // A 4D ground truth that records its frame time (the 4D phantoms) is measured at that frame: a
  // pixelated detector's frame (1 ms on a Merlin), not the profile's spectrum exposure (0.25 s).
  if (truth_.four_d && truth_.recorded.exposure_s > 0.0) return truth_.recorded.exposure_s;
  return config_.profile.default_exposure_s;
}

double SimulatedInstrument::resolve_exposure(double requested_s, bool check_limits) const {
  if (!std::isfinite(requested_s) || requested_s < 0.0)
    throw std::invalid_argument("PointSettings.exposure_s = " + fmt(requested_s) +
                                "; expected a finite number > 0 (0 = default)");
  const double exposure = requested_s > 0.0 ? requested_s : default_exposure_s();
  if (!check_limits) return exposure;
  if (exposure > config_.profile.max_exposure_s)
    throw std::invalid_argument("PointSettings.exposure_s = " + fmt(exposure) +
                                " s exceeds the instrument's max_exposure_s = " +
                                fmt(config_.profile.max_exposure_s) + " s");
  if (config_.detector && exposure < config_.detector->frame_time_s * (1.0 - 1e-9))
    throw std::invalid_argument("PointSettings.exposure_s = " + fmt(exposure) +
                                " s is shorter than detector '" + config_.detector->name +
                                "''s frame time " + fmt(config_.detector->frame_time_s) + " s");
  return exposure;
}

void SimulatedInstrument::ensure_connected(double& t) {
  if (!connected_) {
    t += config_.profile.connection_s;
    connected_ = true;
  }
}

std::pair<double, double> SimulatedInstrument::survey_conditions(const SurveySettings& settings,
                                                                 const char* what) const {
  if (!std::isfinite(settings.dwell_s) || settings.dwell_s < 0.0)
    throw std::invalid_argument(std::string(what) + ".dwell_s = " + fmt(settings.dwell_s) +
                                "; expected a finite number > 0 (0 = default)");
  const double current = resolve_current(settings.probe_current_pA, what);
  const std::string detector = describe().detectors.front();
  if (!settings.detector.empty() && settings.detector != detector)
    throw std::invalid_argument(std::string(what) + ".detector = '" + settings.detector +
                                "'; this simulated instrument has only '" + detector + "'");
  const double dwell = settings.dwell_s > 0.0 ? settings.dwell_s : config_.profile.default_dwell_s;
  return {dwell, current};
}

Survey SimulatedInstrument::acquire_survey(const SurveySettings& settings) {
  const auto [dwell, current] = survey_conditions(settings, "SurveySettings");
  const std::string detector = describe().detectors.front();

  // The scan waits for the spectra already queued.
  while (busy_ || !queue_.empty())
    if (!sim_.step()) break;

  Survey s;
  s.t_start_s = sim_.now_s();
  double duration = 0.0;
  ensure_connected(duration);
  duration += config_.profile.survey_time_s(truth_.rows(), truth_.cols(), dwell);
  sim_.run_for(from_seconds(duration));
  s.t_end_s = sim_.now_s();

  const double scale = ratio(current, truth_.recorded.probe_current_pA) *
                       ratio(dwell, truth_.recorded.dwell_s);
  s.image = truth_.survey;
  s.image.data = truth_.survey.data * scale;
  if (config_.damage.enabled())
    s.image.data *= (-dose_ / config_.damage.critical_dose_e_per_A2).exp();
  std::span<double> values(s.image.data.data(), static_cast<std::size_t>(s.image.data.size()));
  apply_noise(config_.noise, survey_rng_, values);
  s.dwell_s = dwell;
  s.probe_current_pA = current;
  s.detector = detector;

  const double pixel_area = truth_.survey.calibration.pixel_area_A2();
  const double pixels = static_cast<double>(truth_.rows() * truth_.cols());
  s.dose_e_per_A2 = electrons(current, dwell) / pixel_area;
  dose_ += s.dose_e_per_A2;
  total_electrons_ += electrons(current, dwell * pixels);
  return s;
}

void SimulatedInstrument::check_position(const Position& p) const {
  check_inside_field("SimulatedInstrument::submit: position", p, truth_.rows(), truth_.cols());
}

void SimulatedInstrument::submit(std::span<const Position> positions, const PointSettings& settings,
                                 AcquisitionMode mode) {
  const double exposure = resolve_exposure(settings.exposure_s);
  const double current = resolve_current(settings.probe_current_pA, "PointSettings");
  for (const Position& p : positions) check_position(p);
  for (const Position& p : positions) queue_.push_back(Job{p, exposure, current, mode});
  start_next();
}

Position SimulatedInstrument::drifted(const Position& p, double t_s) {
  if (config_.drift.is_zero()) return p;
  const auto [drow, dcol] = drift_.displacement_nm(t_s);
  const double px = truth_.survey.calibration.pixel_size_nm;
  return {p.row + drow / px, p.col + dcol / px};
}

double SimulatedInstrument::spectrum_scale(double current_pA, double exposure_s) const {
  const double recorded_time = (truth_.spectrum_image || truth_.four_d)
                                   ? truth_.recorded.exposure_s
                                   : truth_.recorded.dwell_s;
  return ratio(current_pA, truth_.recorded.probe_current_pA) * ratio(exposure_s, recorded_time);
}

SimulatedInstrument::Bilinear SimulatedInstrument::bilinear(const Position& actual,
                                                             double scale) const {
  const double max_r = static_cast<double>(truth_.rows() - 1);
  const double max_c = static_cast<double>(truth_.cols() - 1);
  // Clamp at the field edge: a probe that drifted out of the field sees the edge pixels.
  const double r = std::clamp(std::isfinite(actual.row) ? actual.row : 0.0, 0.0, max_r);
  const double c = std::clamp(std::isfinite(actual.col) ? actual.col : 0.0, 0.0, max_c);
  Bilinear b;
  b.r0 = static_cast<std::size_t>(std::floor(r));
  b.c0 = static_cast<std::size_t>(std::floor(c));
  b.r1 = std::min(b.r0 + 1, truth_.rows() - 1);
  b.c1 = std::min(b.c0 + 1, truth_.cols() - 1);
  const double fr = r - static_cast<double>(b.r0), fc = c - static_cast<double>(b.c0);
  const auto i = [](std::size_t v) { return static_cast<Eigen::Index>(v); };
  const auto& D = config_.damage;
  b.w00 = (1 - fr) * (1 - fc) * scale * D.factor(dose_(i(b.r0), i(b.c0)));
  b.w01 = (1 - fr) * fc * scale * D.factor(dose_(i(b.r0), i(b.c1)));
  b.w10 = fr * (1 - fc) * scale * D.factor(dose_(i(b.r1), i(b.c0)));
  b.w11 = fr * fc * scale * D.factor(dose_(i(b.r1), i(b.c1)));
  return b;
}

std::vector<double> SimulatedInstrument::expected_signal(const Position& actual, double scale) const {
  const auto [r0, c0, r1, c1, w00, w01, w10, w11] = bilinear(actual, scale);
  const auto i = [](std::size_t v) { return static_cast<Eigen::Index>(v); };

  std::vector<double> out(channels());
  // Spectra and diffraction patterns are interpolated alike between the four nearest pixels.
  const auto blend = [&](std::span<const float> s00, std::span<const float> s01,
                         std::span<const float> s10, std::span<const float> s11) {
    for (std::size_t k = 0; k < out.size(); ++k)
      out[k] = w00 * s00[k] + w01 * s01[k] + w10 * s10[k] + w11 * s11[k];
  };
  if (truth_.four_d) {
    const auto& f = *truth_.four_d;
    blend(f.pattern(r0, c0), f.pattern(r0, c1), f.pattern(r1, c0), f.pattern(r1, c1));
  } else if (truth_.spectrum_image) {
    const auto& si = *truth_.spectrum_image;
    blend(si.spectrum(r0, c0), si.spectrum(r0, c1), si.spectrum(r1, c0), si.spectrum(r1, c1));
  } else {
    const auto& d = truth_.survey.data;
    out[0] = w00 * d(i(r0), i(c0)) + w01 * d(i(r0), i(c1)) + w10 * d(i(r1), i(c0)) +
             w11 * d(i(r1), i(c1));
  }
  return out;
}

void SimulatedInstrument::add_dose(const Position& actual, double dose_e_per_A2) {
  const auto clampi = [](double v, std::size_t n) {
    const double x = std::isfinite(v) ? std::round(v) : 0.0;
    return static_cast<Eigen::Index>(std::clamp(x, 0.0, static_cast<double>(n - 1)));
  };
  dose_(clampi(actual.row, truth_.rows()), clampi(actual.col, truth_.cols())) += dose_e_per_A2;
}

Survey SimulatedInstrument::acquire_patch(const PatchScan& scan) {
  if (in_flight() > 0)
    throw std::invalid_argument("SimulatedInstrument::acquire_patch: " +
                                std::to_string(in_flight()) +
                                " acquisitions in flight; collect them before scanning a patch");
  if (scan.rows < 2 || scan.cols < 2)
    throw std::invalid_argument("PatchScan: rows = " + std::to_string(scan.rows) + ", cols = " +
                                std::to_string(scan.cols) + "; a patch needs at least 2 x 2 pixels");
  if (scan.row0 >= truth_.rows() || scan.rows > truth_.rows() - scan.row0 ||
      scan.col0 >= truth_.cols() || scan.cols > truth_.cols() - scan.col0)
    throw std::invalid_argument(
        "PatchScan: rectangle rows [" + std::to_string(scan.row0) + ", " +
        std::to_string(scan.row0 + scan.rows) + ") x cols [" + std::to_string(scan.col0) + ", " +
        std::to_string(scan.col0 + scan.cols) + ") is not inside the " +
        std::to_string(truth_.rows()) + " x " + std::to_string(truth_.cols()) + " field");
  if (!std::isfinite(scan.offset.row) || !std::isfinite(scan.offset.col))
    throw std::invalid_argument("PatchScan.offset = (" + fmt(scan.offset.row) + ", " +
                                fmt(scan.offset.col) + ") px; expected finite values");
  const auto [dwell, current] = survey_conditions(scan.settings, "PatchScan.settings");

  Survey s;
  s.t_start_s = sim_.now_s();
  double lead = 0.0;  // seconds before the beam reaches the first pixel
  ensure_connected(lead);
  const double duration = lead + config_.profile.survey_time_s(scan.rows, scan.cols, dwell);
  const double line_s = static_cast<double>(scan.cols) * dwell + config_.profile.line_flyback_s;
  const double t_end_s = to_seconds(sim_.now() + from_seconds(duration));

  // Every pixel's value is computed with the dose held before the patch (as the survey), the
  // dose is added afterwards where each pixel landed.
  const double scale = ratio(current, truth_.recorded.probe_current_pA) *
                       ratio(dwell, truth_.recorded.dwell_s);
  const auto& d = truth_.survey.data;
  const auto ix = [](std::size_t v) { return static_cast<Eigen::Index>(v); };
  s.image.calibration = truth_.survey.calibration;
  s.image.name = truth_.survey.name;
  s.image.units = truth_.survey.units;
  s.image.data.resize(ix(scan.rows), ix(scan.cols));
  std::vector<Position> landed;
  landed.reserve(scan.rows * scan.cols);
  for (std::size_t i = 0; i < scan.rows; ++i)
    for (std::size_t j = 0; j < scan.cols; ++j) {
      // Clamped to the end of the scan (the clock is in whole ns): the drift must never be
      // sampled after a time the clock has not reached.
      const double t = std::min(s.t_start_s + lead + static_cast<double>(i) * line_s +
                                    static_cast<double>(j) * dwell,
                                t_end_s);
      // The corner first, then whole pixels: (row0 + offset) + i, as a scan over the rectangle
      // whose corner is row0 + offset (DigiScan's sub-region scan, docs/live-protocol.md), so a
      // rehearsal that receives only that corner lands every pixel on the same double.
      const Position commanded{(static_cast<double>(scan.row0) + scan.offset.row) + static_cast<double>(i),
                               (static_cast<double>(scan.col0) + scan.offset.col) + static_cast<double>(j)};
      const Position at = drifted(commanded, t);
      const auto [r0, c0, r1, c1, w00, w01, w10, w11] = bilinear(at, scale);
      s.image.data(ix(i), ix(j)) = w00 * d(ix(r0), ix(c0)) + w01 * d(ix(r0), ix(c1)) +
                                   w10 * d(ix(r1), ix(c0)) + w11 * d(ix(r1), ix(c1));
      landed.push_back(at);
    }
  std::span<double> values(s.image.data.data(), static_cast<std::size_t>(s.image.data.size()));
  apply_noise(config_.noise, patch_rng_, values);
  sim_.run_for(from_seconds(duration));
  s.t_end_s = sim_.now_s();
  s.dwell_s = dwell;
  s.probe_current_pA = current;
  s.detector = describe().detectors.front();
  s.dose_e_per_A2 = electrons(current, dwell) / truth_.survey.calibration.pixel_area_A2();
  for (const Position& p : landed) add_dose(p, s.dose_e_per_A2);
  total_electrons_ += electrons(current, dwell * static_cast<double>(scan.rows * scan.cols));
  blanked_ = true;
  return s;
}

void SimulatedInstrument::start_next() {
  if (busy_ || queue_.empty()) return;
  const Job job = queue_.front();
  queue_.pop_front();
  busy_ = true;

  const TimingProfile& p = config_.profile;
  double pre = 0.0;  // seconds from the start of this acquisition to the beam landing
  ensure_connected(pre);
  if (const auto& d = config_.detector) {
    // A pixelated detector (DetectorProfile): its frame is the exposure; no spectrometer.
    double post = 0.0;
    if (!prepared_ || prepared_->mode != job.mode || prepared_->exposure_s != job.exposure_s) {
      if (job.mode != AcquisitionMode::point) pre += d->scan_setup_s;
      prepared_ = Prepared{job.mode, job.exposure_s};
      last_si_row_.reset();
    }
    if (job.mode == AcquisitionMode::point) {
      pre += p.point_pre_exposure_s();
      post = d->point_overhead_s;
    } else {
      const long row = std::lround(job.requested.row);
      if (last_si_row_ && *last_si_row_ != row) pre += d->scan_line_overhead_s;
      last_si_row_ = row;
    }
    finish_job(job, pre, post);
    return;
  }
  if (!camera_active_) {
    pre += p.camera_activation_s;
    camera_active_ = true;
  }
  if (!prepared_ || prepared_->mode != job.mode || prepared_->exposure_s != job.exposure_s) {
    pre += job.mode == AcquisitionMode::point ? p.spectrum_setup_s : p.si_setup_s;
    prepared_ = Prepared{job.mode, job.exposure_s};
    last_si_row_.reset();
  }
  double post = 0.0;  // seconds from the end of the exposure to the spectrum being available
  if (job.mode == AcquisitionMode::point) {
    pre += p.point_pre_exposure_s();
    post = p.readout_s + p.spectrum_transfer_s(channels()) + p.software_overhead_s;
  } else {
    const long row = std::lround(job.requested.row);
    if (last_si_row_ && *last_si_row_ != row) pre += p.si_line_flyback_s;
    last_si_row_ = row;
    post = p.si_pixel_overhead_s;
  }
  finish_job(job, pre, post);
}

void SimulatedInstrument::finish_job(const Job& job, double pre, double post) {
  const Time t0 = sim_.now();
  const Time t_beam = t0 + from_seconds(pre);
  const Time t_end = t_beam + from_seconds(job.exposure_s + post);
  sim_.schedule_at(t_end, [this, job, t0, t_beam, t_end] {
    Measurement m;
    m.index = next_index_++;
    m.requested = job.requested;
    m.commanded = job.requested;
    m.actual = drifted(job.requested, to_seconds(t_beam));
    m.exposure_s = job.exposure_s;
    m.probe_current_pA = job.current_pA;
    m.t_start_s = to_seconds(t0);
    m.t_end_s = to_seconds(t_end);

    std::vector<double> lambda = expected_signal(m.actual, spectrum_scale(job.current_pA, job.exposure_s));
    apply_noise(truth_.four_d ? counting_noise(config_.noise) : config_.noise, spectrum_rng_, std::span<double>(lambda));
    m.signal.assign(lambda.begin(), lambda.end());
    m.shape = signal_shape();

    // Dose lands in the pixel the drifted probe was in (clamped to the field).
    const double e = electrons(job.current_pA, job.exposure_s);
    m.dose_e_per_A2 = e / truth_.survey.calibration.pixel_area_A2();
    add_dose(m.actual, m.dose_e_per_A2);
    total_electrons_ += e;
    blanked_ = true;

    done_.push_back(std::move(m));
    busy_ = false;
    start_next();
  });
}

std::size_t SimulatedInstrument::in_flight() const {
  return queue_.size() + (busy_ ? 1 : 0) + done_.size();
}

std::vector<Measurement> SimulatedInstrument::collect(bool wait) {
  if (wait)
    while (done_.empty() && (busy_ || !queue_.empty()))
      if (!sim_.step()) break;
  return std::exchange(done_, {});
}

void SimulatedInstrument::elapse(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0.0)
    throw std::invalid_argument("SimulatedInstrument::elapse: seconds = " + fmt(seconds) +
                                "; expected a finite number >= 0");
  sim_.run_for(from_seconds(seconds));
}

CostEstimate SimulatedInstrument::estimate_point(const PointSettings& settings,
                                                 AcquisitionMode mode) const {
  const double exposure = resolve_exposure(settings.exposure_s, /*check_limits=*/false);
  const double current = resolve_current(settings.probe_current_pA, "PointSettings");
  const TimingProfile& p = config_.profile;
  CostEstimate c;
  if (const auto& d = config_.detector) {
    c.time_s = mode == AcquisitionMode::point
                   ? p.point_pre_exposure_s() + exposure + d->point_overhead_s
                   : exposure + d->scan_line_overhead_s / static_cast<double>(truth_.cols());
  } else {
    c.time_s = mode == AcquisitionMode::point
                   ? p.point_time_s(exposure, channels())
                   : p.si_pixel_time_s(exposure) +
                         p.si_line_flyback_s / static_cast<double>(truth_.cols());
  }
  c.electrons = electrons(current, exposure);
  c.dose_e_per_A2 = c.electrons / truth_.survey.calibration.pixel_area_A2();
  return c;
}

std::optional<Image> SimulatedInstrument::dose_map() const {
  Image img;
  img.data = dose_;
  img.calibration = truth_.survey.calibration;
  img.name = "dose";
  img.units = "e-/A^2";
  return img;
}

}  // namespace autostem::sim
