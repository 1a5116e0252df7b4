// Drift Kalman filter and the DriftCorrection service (drift_corrector.hpp; docs/drift.md).
#include <autostem/imaging/drift_corrector.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>

namespace autostem {

namespace {

void require_nonneg(double v, const char* name) {
  if (!(v >= 0.0) || !std::isfinite(v))
    throw std::invalid_argument(std::string(name) + " = " + std::to_string(v) + "; must be finite and ≥ 0");
}

std::string fmt(double v, int precision = 3) {
  std::ostringstream s;
  s.precision(precision);
  s << v;
  return s.str();
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// DriftKalman

DriftKalman::DriftKalman(double t0_s, const DriftKalmanOptions& options) : options_(options), t_(t0_s) {
  if (!std::isfinite(t0_s)) throw std::invalid_argument("DriftKalman: t0_s is not finite");
  require_nonneg(options.position_diffusion_px2_per_s, "DriftKalman: position_diffusion_px2_per_s");
  require_nonneg(options.velocity_diffusion_px2_per_s3, "DriftKalman: velocity_diffusion_px2_per_s3");
  require_nonneg(options.initial_velocity_sigma_px_per_s, "DriftKalman: initial_velocity_sigma_px_per_s");
  require_nonneg(options.initial_position_sigma_px, "DriftKalman: initial_position_sigma_px");
  for (auto& a : axes_) {
    a.P = {options.initial_position_sigma_px * options.initial_position_sigma_px, 0.0, 0.0,
           options.initial_velocity_sigma_px_per_s * options.initial_velocity_sigma_px_per_s};
  }
}

DriftKalman::Axis DriftKalman::propagated(const Axis& a, double dt) const {
  Axis b;
  b.x = {a.x[0] + dt * a.x[1], a.x[1]};
  const double p00 = a.P[0], p01 = a.P[1], p11 = a.P[3];
  // F P Fᵀ with F = [[1, dt], [0, 1]].
  double q00 = p00 + 2.0 * dt * p01 + dt * dt * p11, q01 = p01 + dt * p11, q11 = p11;
  if (dt > 0.0) {
    const double qv = options_.velocity_diffusion_px2_per_s3, qp = options_.position_diffusion_px2_per_s;
    q00 += qv * dt * dt * dt / 3.0 + qp * dt;
    q01 += qv * dt * dt / 2.0;
    q11 += qv * dt;
  }
  b.P = {q00, q01, q01, q11};
  return b;
}

void DriftKalman::update(double t_s, Position measured_px, Position sigma_px) {
  if (!std::isfinite(t_s)) throw std::invalid_argument("DriftKalman::update: t_s is not finite");
  if (t_s < t_)
    throw std::invalid_argument("DriftKalman::update: t_s " + fmt(t_s, 10) + " s is before the last update " +
                                fmt(t_, 10) + " s");
  if (!is_finite(measured_px)) throw std::invalid_argument("DriftKalman::update: measured_px is not finite");
  if (!(sigma_px.row > 0.0) || !(sigma_px.col > 0.0) || !is_finite(sigma_px))
    throw std::invalid_argument("DriftKalman::update: sigma_px (" + fmt(sigma_px.row) + ", " + fmt(sigma_px.col) +
                                ") must be finite and > 0");
  const double dt = t_s - t_;
  const double z[2] = {measured_px.row, measured_px.col};
  const double r[2] = {sigma_px.row * sigma_px.row, sigma_px.col * sigma_px.col};
  for (int k = 0; k < 2; ++k) {
    Axis a = propagated(axes_[static_cast<std::size_t>(k)], dt);
    const double S = a.P[0] + r[k];
    const double K0 = a.P[0] / S, K1 = a.P[2] / S;
    const double innovation = z[k] - a.x[0];
    a.x = {a.x[0] + K0 * innovation, a.x[1] + K1 * innovation};
    // P = P⁻ − K P⁻₍0,·₎, kept symmetric.
    const double p00 = a.P[0] - K0 * a.P[0], p01 = a.P[1] - K0 * a.P[1], p11 = a.P[3] - K1 * a.P[1];
    a.P = {p00, p01, p01, p11};
    axes_[static_cast<std::size_t>(k)] = a;
  }
  t_ = t_s;
  ++updates_;
}

Position DriftKalman::predict(double t_s) const {
  if (!std::isfinite(t_s)) throw std::invalid_argument("DriftKalman::predict: t_s is not finite");
  const double dt = t_s - t_;
  return {axes_[0].x[0] + dt * axes_[0].x[1], axes_[1].x[0] + dt * axes_[1].x[1]};
}

Position DriftKalman::predict_sigma(double t_s) const {
  if (!std::isfinite(t_s)) throw std::invalid_argument("DriftKalman::predict_sigma: t_s is not finite");
  const double dt = t_s - t_;
  return {std::sqrt(std::max(0.0, propagated(axes_[0], dt).P[0])),
          std::sqrt(std::max(0.0, propagated(axes_[1], dt).P[0]))};
}

// ---------------------------------------------------------------------------------------------
// Reference patch

ReferencePatch select_reference_patch(const ImageArray& survey, std::size_t side_px, double margin_px,
                                      double min_texture_snr) {
  const auto rows = static_cast<std::size_t>(survey.rows()), cols = static_cast<std::size_t>(survey.cols());
  if (rows < 8 || cols < 8)
    throw std::invalid_argument("select_reference_patch: survey " + std::to_string(rows) + "×" +
                                std::to_string(cols) + " is smaller than 8 px");
  if (side_px < 8 || side_px > std::min(rows, cols))
    throw std::invalid_argument("select_reference_patch: patch side " + std::to_string(side_px) +
                                " px must be in [8, " + std::to_string(std::min(rows, cols)) + "]");
  if (!survey.allFinite()) throw std::invalid_argument("select_reference_patch: survey has non-finite values");
  require_nonneg(margin_px, "select_reference_patch: margin_px");
  const double vmax = survey.maxCoeff();
  const std::size_t stride = std::max<std::size_t>(1, side_px / 4);
  const auto range = [&](std::size_t n) {
    // Candidate corners lo…hi: keep margin_px from the border when the field allows.
    const auto m = static_cast<std::size_t>(std::ceil(margin_px));
    std::size_t lo = 0, hi = n - side_px;
    if (n >= side_px + 2 * m) lo = m, hi = n - side_px - m;
    return std::pair{lo, hi};
  };
  const auto [r_lo, r_hi] = range(rows);
  const auto [c_lo, c_hi] = range(cols);
  ReferencePatch best;
  best.predicted_sigma_px = std::numeric_limits<double>::infinity();
  bool found = false;
  double best_snr = 0.0;
  for (std::size_t r0 = r_lo; r0 <= r_hi; r0 += stride) {
    for (std::size_t c0 = c_lo; c0 <= c_hi; c0 += stride) {
      const auto block = survey.block(static_cast<Eigen::Index>(r0), static_cast<Eigen::Index>(c0),
                                      static_cast<Eigen::Index>(side_px), static_cast<Eigen::Index>(side_px));
      const auto saturated = (block >= vmax).count();
      if (static_cast<double>(saturated) > 0.01 * static_cast<double>(side_px * side_px)) continue;
      const TextureMeasure t = measure_texture(ImageArray(block));
      best_snr = std::max(best_snr, t.texture_snr);
      if (t.texture_snr < min_texture_snr) continue;
      const double s = std::max(t.predicted_sigma_px.row, t.predicted_sigma_px.col);
      if (!found || s < best.predicted_sigma_px) {
        best = {r0, c0, side_px, side_px, t.texture_snr, s};
        found = true;
      }
    }
  }
  if (!found)
    throw std::invalid_argument("select_reference_patch: no " + std::to_string(side_px) + "-px patch of the " +
                                std::to_string(rows) + "×" + std::to_string(cols) +
                                " survey has texture (best texture SNR " + fmt(best_snr) + " < " +
                                fmt(min_texture_snr) + ")");
  return best;
}

// ---------------------------------------------------------------------------------------------
// DriftCorrector

DriftCorrector::DriftCorrector(DriftCorrectorOptions options) : options_(std::move(options)) {
  const auto& o = options_;
  if (o.patch_px < 8) throw std::invalid_argument("DriftCorrector: patch_px " + std::to_string(o.patch_px) + " < 8");
  if (o.upsample_factor < 1)
    throw std::invalid_argument("DriftCorrector: upsample_factor " + std::to_string(o.upsample_factor) + " < 1");
  if (!(o.min_confidence >= 0.0 && o.min_confidence <= 1.0))
    throw std::invalid_argument("DriftCorrector: min_confidence " + fmt(o.min_confidence) + " not in [0, 1]");
  require_nonneg(o.every_s, "DriftCorrector: every_s");
  require_nonneg(o.max_shift_px, "DriftCorrector: max_shift_px");
  require_nonneg(o.min_sigma_px, "DriftCorrector: min_sigma_px");
  require_nonneg(o.sigma_scale, "DriftCorrector: sigma_scale");
  if (o.row0.has_value() != o.col0.has_value())
    throw std::invalid_argument("DriftCorrector: give both row0 and col0 of the reference patch, or neither");
  kalman_ = DriftKalman(0.0, o.kalman);  // validates the Kalman options now
}

void DriftCorrector::begin(const Survey& survey, const InstrumentInfo& info) {
  if (!info.can_scan_patch)
    throw std::logic_error("DriftCorrector: instrument '" + info.name +
                           "' cannot scan a patch (can_scan_patch is false); drift correction needs it");
  const ImageArray& img = survey.image.data;
  const auto rows = static_cast<std::size_t>(img.rows()), cols = static_cast<std::size_t>(img.cols());
  if (rows < 8 || cols < 8)
    throw std::invalid_argument("DriftCorrector: survey " + std::to_string(rows) + "×" + std::to_string(cols) +
                                " is smaller than 8 px");
  const std::size_t side = std::min({options_.patch_px, rows, cols});
  const double max_shift = options_.max_shift_px > 0.0 ? options_.max_shift_px : static_cast<double>(side) / 4.0;
  if (options_.row0) {
    const std::size_t r0 = *options_.row0, c0 = *options_.col0;
    if (r0 + side > rows || c0 + side > cols)
      throw std::invalid_argument("DriftCorrector: reference patch at (" + std::to_string(r0) + ", " +
                                  std::to_string(c0) + ") of side " + std::to_string(side) +
                                  " px leaves the " + std::to_string(rows) + "×" + std::to_string(cols) + " survey");
    const ImageArray block = img.block(static_cast<Eigen::Index>(r0), static_cast<Eigen::Index>(c0),
                                       static_cast<Eigen::Index>(side), static_cast<Eigen::Index>(side));
    const TextureMeasure t = measure_texture(block, options_.shift.window_alpha);
    if (t.texture_snr < options_.shift.min_texture_snr)
      throw std::invalid_argument("DriftCorrector: the user's reference patch at (" + std::to_string(r0) + ", " +
                                  std::to_string(c0) + ") has no texture (texture SNR " + fmt(t.texture_snr) +
                                  " < " + fmt(options_.shift.min_texture_snr) + ")");
    reference_ = {r0, c0, side, side, t.texture_snr,
                  std::max(t.predicted_sigma_px.row, t.predicted_sigma_px.col)};
  } else {
    reference_ = select_reference_patch(img, side, max_shift, options_.shift.min_texture_snr);
  }
  survey_ = survey;
  reference_image_ = img.block(static_cast<Eigen::Index>(reference_.row0), static_cast<Eigen::Index>(reference_.col0),
                               static_cast<Eigen::Index>(side), static_cast<Eigen::Index>(side));
  // The survey defines the frame at the moment it scanned the patch: its centre row, assuming a
  // raster scan at constant rate from t_start_s to t_end_s.
  double t0 = survey.t_end_s;
  if (survey.t_end_s > survey.t_start_s)
    t0 = survey.t_start_s + (survey.t_end_s - survey.t_start_s) *
                                (static_cast<double>(reference_.row0) + 0.5 * static_cast<double>(side)) /
                                static_cast<double>(rows);
  kalman_ = DriftKalman(t0, options_.kalman);
  last_measurements_ = 0;
  last_time_s_ = survey.t_end_s;
  begun_ = true;
}

bool DriftCorrector::due(std::size_t measurements, double t_s) const {
  if (!begun_) return false;
  if (options_.every_measurements > 0 && measurements >= last_measurements_ + options_.every_measurements) return true;
  return options_.every_s > 0.0 && t_s - last_time_s_ >= options_.every_s;
}

Position DriftCorrector::predicted_px(double t_s) const {
  if (!begun_) return {0.0, 0.0};
  return kalman_.predict(t_s);
}

DriftRecord DriftCorrector::update(Instrument& instrument, std::size_t measurements) {
  if (!begun_) throw std::logic_error("DriftCorrector::update called before begin()");
  DriftRecord rec;
  rec.after_measurements = measurements;
  rec.t_start_s = instrument.now_s();
  const Position d_hat = predicted_px(rec.t_start_s);
  rec.offset = {-d_hat.row, -d_hat.col};
  rec.row0 = reference_.row0;
  rec.col0 = reference_.col0;
  SurveySettings settings{survey_.dwell_s, survey_.probe_current_pA, survey_.detector};

  ShiftOptions so = options_.shift;
  so.upsample_factor = options_.upsample_factor;
  so.max_shift_px = options_.max_shift_px > 0.0 ? options_.max_shift_px : static_cast<double>(reference_.rows) / 4.0;

  // Why an estimate is not usable, or "" when it is.
  const auto problem = [&](const ImageArray& ref, const ImageArray& scanned, const ShiftOptions& opt,
                           ShiftEstimate& est) -> std::string {
    try {
      // The reference patch is found in the survey around its corner (two-stage, no pull towards
      // zero); the full-field fallback compares two same-size images.
      est = (&ref == &reference_image_)
                ? locate_patch(survey_.image.data, reference_.row0, reference_.col0, scanned, opt.max_shift_px, opt)
                : estimate_shift(ref, scanned, opt);
    } catch (const std::invalid_argument& e) {
      return std::string("re-scan unusable: ") + e.what();
    }
    if (!est.textured)
      return "reference has no texture (texture SNR " + fmt(est.texture_snr) + " < " + fmt(opt.min_texture_snr) + ")";
    if (est.at_window_edge) return "shift beyond the search window (±" + fmt(opt.max_shift_px) + " px)";
    if (est.low_confidence)
      return "confidence " + fmt(est.confidence) + " < " + fmt(opt.min_relative_confidence) + " × expected " +
             fmt(est.expected_confidence) + " (reference lost, or a shift beyond the window on a lattice)";
    if (est.confidence < options_.min_confidence)
      return "low confidence " + fmt(est.confidence) + " < " + fmt(options_.min_confidence) + " (reference lost?)";
    return {};
  };
  const auto accept = [&](const ShiftEstimate& est, double t_s) {
    rec.measured = {-rec.offset.row - est.shift.row, -rec.offset.col - est.shift.col};
    rec.confidence = est.confidence;
    const Position sigma{std::max(options_.sigma_scale * est.sigma_px.row, options_.min_sigma_px),
                         std::max(options_.sigma_scale * est.sigma_px.col, options_.min_sigma_px)};
    kalman_.update(std::max(t_s, kalman_.last_time_s()), rec.measured,
                   Position{std::isfinite(sigma.row) && sigma.row > 0 ? sigma.row : 1.0,
                            std::isfinite(sigma.col) && sigma.col > 0 ? sigma.col : 1.0});
  };

  const Survey patch = instrument.acquire_patch(
      PatchScan{reference_.row0, reference_.col0, reference_.rows, reference_.cols, rec.offset, settings});
  rec.patch = patch.image;
  rec.dose_e_per_A2 = patch.dose_e_per_A2;
  rec.t_end_s = patch.t_end_s;
  ShiftEstimate est;
  const std::string why = problem(reference_image_, patch.image.data, so, est);
  if (why.empty()) {
    accept(est, 0.5 * (patch.t_start_s + patch.t_end_s));
  } else {
    rec.confidence = est.confidence;
    // Fallback: re-survey the whole field at the same offset and register it against the survey.
    const Survey field = instrument.acquire_patch(PatchScan{0, 0, survey_.image.rows(), survey_.image.cols(),
                                                            rec.offset, settings});
    rec.dose_e_per_A2 += field.dose_e_per_A2;
    rec.t_end_s = field.t_end_s;
    ShiftOptions fo = so;
    fo.max_shift_px = static_cast<double>(std::min(survey_.image.rows(), survey_.image.cols())) / 4.0;
    ShiftEstimate fest;
    const std::string why_field = problem(survey_.image.data, field.image.data, fo, fest);
    if (why_field.empty()) {
      accept(fest, 0.5 * (field.t_start_s + field.t_end_s));
      rec.warning = why + "; re-surveyed the field and measured the drift on it";
    } else {
      rec.warning = why + "; re-survey failed too (" + why_field + "); kept the prediction";
    }
  }
  rec.predicted = kalman_.predict(rec.t_end_s);
  last_measurements_ = measurements;
  last_time_s_ = rec.t_start_s;  // cadence between re-scan starts
  return rec;
}

}  // namespace autostem
