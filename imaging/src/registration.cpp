// Phase-correlation registration with upsampled-DFT refinement (registration.hpp; docs/drift.md).
#include <autostem/imaging/registration.hpp>

#include "fft.hpp"

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <complex>
#include <limits>
#include <numbers>
#include <stdexcept>
#include <string>
#include <vector>

namespace autostem {

namespace {

using cd = std::complex<double>;
using CMatrix = Eigen::Matrix<cd, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
constexpr double two_pi = 2.0 * std::numbers::pi;

void check_image(const ImageArray& a, const char* name) {
  if (a.rows() < 8 || a.cols() < 8)
    throw std::invalid_argument(std::string("estimate_shift: ") + name + " is " +
                                std::to_string(a.rows()) + "×" + std::to_string(a.cols()) +
                                "; each side must be ≥ 8 px");
  for (Eigen::Index r = 0; r < a.rows(); ++r)
    for (Eigen::Index c = 0; c < a.cols(); ++c)
      if (!std::isfinite(a(r, c)))
        throw std::invalid_argument(std::string("estimate_shift: ") + name + " has a non-finite value at (" +
                                    std::to_string(r) + ", " + std::to_string(c) + ")");
}

/// Tukey window of n points, taper fraction alpha (scipy.signal.windows.tukey, sym=True).
std::vector<double> tukey(std::size_t n, double alpha) {
  std::vector<double> w(n, 1.0);
  if (alpha <= 0.0 || n < 2) return w;
  const double width = alpha * static_cast<double>(n - 1) / 2.0;
  for (std::size_t i = 0; i < n; ++i) {
    const double x = static_cast<double>(std::min(i, n - 1 - i));
    if (x < width) w[i] = 0.5 * (1.0 - std::cos(std::numbers::pi * x / width));
  }
  return w;
}

/// Signed DFT frequency index of bin k of n (numpy.fft.fftfreq × n: Nyquist is −n/2).
double freq(std::size_t k, std::size_t n) {
  return k < (n + 1) / 2 ? static_cast<double>(k) : static_cast<double>(k) - static_cast<double>(n);
}

/// Mean-removed, windowed image as a complex array, transformed in place (forward), into f.
void windowed_spectrum(const ImageArray& a, const std::vector<double>& wr, const std::vector<double>& wc,
                       std::vector<cd>& f) {
  const auto rows = static_cast<std::size_t>(a.rows()), cols = static_cast<std::size_t>(a.cols());
  const double mean = a.mean();
  f.resize(rows * cols);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t c = 0; c < cols; ++c)
      f[r * cols + c] = (a(static_cast<Eigen::Index>(r), static_cast<Eigen::Index>(c)) - mean) * wr[r] * wc[c];
  imaging::detail::fft2_cached(f.data(), rows, cols, false);
  f[0] = 0.0;  // the windowed mean: no information about the shift
}

std::vector<cd> windowed_spectrum(const ImageArray& a, const std::vector<double>& wr, const std::vector<double>& wc) {
  std::vector<cd> f;
  windowed_spectrum(a, wr, wc, f);
  return f;
}

/// Per-thread scratch of estimate_shift: arrays of 128×128 complex exceed malloc's mmap threshold,
/// and mapping / faulting them afresh on every call cost more than the FFTs.
struct Workspace {
  std::vector<cd> fr, fm, X, c;
  CMatrix R;
};

/// Texture SNR of a spectrum: (total variance − noise variance) / noise variance, the white noise
/// level taken as the mean power of the outer quarter (|k_r| > rows/4 and |k_c| > cols/4).
double spectrum_texture_snr(const std::vector<cd>& f, std::size_t rows, std::size_t cols) {
  double total = 0.0, band = 0.0;
  std::size_t nband = 0;
  for (std::size_t r = 0; r < rows; ++r) {
    const bool outer_r = std::abs(freq(r, rows)) > static_cast<double>(rows) / 4.0;
    for (std::size_t c = 0; c < cols; ++c) {
      const double p = std::norm(f[r * cols + c]);
      total += p;
      if (outer_r && std::abs(freq(c, cols)) > static_cast<double>(cols) / 4.0) {
        band += p;
        ++nband;
      }
    }
  }
  const double n = static_cast<double>(rows * cols);
  const double noise = nband ? band / static_cast<double>(nband) * (n - 1.0) : 0.0;  // Σ over k ≠ 0
  if (noise <= 0.0) return total > 0.0 ? std::numeric_limits<double>::infinity() : 0.0;
  return std::max(0.0, (total - noise) / noise);
}

/// c(x) = Σ_k R_k exp(+2πi (k_r x_r / N_r + k_c x_c / N_c)) on the grid x = centre + (a − h)/U,
/// a = 0…m−1, h = floor(m/2), per axis (Guizar-Sicairos et al. 2008: the DFT restricted to a small
/// upsampled window as two matrix products). Returns the real part, (m, m).
Eigen::MatrixXd upsampled_dft(const CMatrix& R, Position centre, double U, int m) {
  const auto rows = static_cast<std::size_t>(R.rows()), cols = static_cast<std::size_t>(R.cols());
  const double h = std::floor(m / 2.0);
  CMatrix Er(m, static_cast<Eigen::Index>(rows)), Ec(static_cast<Eigen::Index>(cols), m);
  for (int a = 0; a < m; ++a) {
    const double xr = centre.row + (a - h) / U, xc = centre.col + (a - h) / U;
    for (std::size_t k = 0; k < rows; ++k)
      Er(a, static_cast<Eigen::Index>(k)) = std::polar(1.0, two_pi * freq(k, rows) * xr / static_cast<double>(rows));
    for (std::size_t k = 0; k < cols; ++k)
      Ec(static_cast<Eigen::Index>(k), a) = std::polar(1.0, two_pi * freq(k, cols) * xc / static_cast<double>(cols));
  }
  const CMatrix out = (Er * R) * Ec;
  return out.real();
}

/// Refines `centre` to the grid point of the largest upsampled-DFT value within ±half px.
Position refine(const CMatrix& R, Position centre, double U, double half_px) {
  const int m = static_cast<int>(std::ceil(2.0 * half_px * U)) + 1;
  const double h = std::floor(m / 2.0);
  const Eigen::MatrixXd c = upsampled_dft(R, centre, U, m);
  Eigen::Index ar = 0, ac = 0;
  c.maxCoeff(&ar, &ac);
  return {centre.row + (static_cast<double>(ar) - h) / U, centre.col + (static_cast<double>(ac) - h) / U};
}


}  // namespace

TextureMeasure measure_texture(const ImageArray& image, double window_alpha) {
  check_image(image, "image");
  if (!(window_alpha >= 0.0 && window_alpha <= 1.0))
    throw std::invalid_argument("measure_texture: window_alpha " + std::to_string(window_alpha) + " not in [0, 1]");
  const auto rows = static_cast<std::size_t>(image.rows()), cols = static_cast<std::size_t>(image.cols());
  const auto f = windowed_spectrum(image, tukey(rows, window_alpha), tukey(cols, window_alpha));
  TextureMeasure t;
  t.texture_snr = spectrum_texture_snr(f, rows, cols);
  double band = 0.0;
  std::size_t nband = 0;
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t c = 0; c < cols; ++c)
      if (std::abs(freq(r, rows)) > static_cast<double>(rows) / 4.0 &&
          std::abs(freq(c, cols)) > static_cast<double>(cols) / 4.0) {
        band += std::norm(f[r * cols + c]);
        ++nband;
      }
  const double n = static_cast<double>(rows * cols);
  double total = 0.0;
  for (const cd& v : f) total += std::norm(v);
  // A tiny floor keeps noise-free images ordered by their gradient energy instead of all σ = 0.
  const double n0 = std::max(nband ? band / static_cast<double>(nband) : 0.0, 1e-12 * total / n);
  double gr = 0.0, gc = 0.0;
  for (std::size_t r = 0; r < rows; ++r) {
    const double kr = two_pi * freq(r, rows) / static_cast<double>(rows);
    for (std::size_t c = 0; c < cols; ++c) {
      const double kc = two_pi * freq(c, cols) / static_cast<double>(cols);
      const double s = std::max(0.0, std::norm(f[r * cols + c]) - n0);
      gr += kr * kr * s;
      gc += kc * kc * s;
    }
  }
  const double noise_var = n0 / n;
  const auto sigma = [&](double g) {
    g /= n;
    return g > 0.0 ? std::sqrt(2.0 * noise_var / g) : std::numeric_limits<double>::infinity();
  };
  t.predicted_sigma_px = {sigma(gr), sigma(gc)};
  return t;
}

ShiftEstimate estimate_shift(const ImageArray& reference, const ImageArray& moving, const ShiftOptions& o) {
  if (reference.rows() != moving.rows() || reference.cols() != moving.cols())
    throw std::invalid_argument("estimate_shift: reference is " + std::to_string(reference.rows()) + "×" +
                                std::to_string(reference.cols()) + " but moving is " +
                                std::to_string(moving.rows()) + "×" + std::to_string(moving.cols()));
  check_image(reference, "reference");
  check_image(moving, "moving");
  if (o.upsample_factor < 1)
    throw std::invalid_argument("estimate_shift: upsample_factor " + std::to_string(o.upsample_factor) + " < 1");
  if (!(o.max_shift_px >= 0.0) || !std::isfinite(o.max_shift_px))
    throw std::invalid_argument("estimate_shift: max_shift_px " + std::to_string(o.max_shift_px) + " must be ≥ 0");
  if (!(o.regularisation >= 0.0) || !std::isfinite(o.regularisation))
    throw std::invalid_argument("estimate_shift: regularisation " + std::to_string(o.regularisation) + " must be ≥ 0");
  if (!(o.window_alpha >= 0.0 && o.window_alpha <= 1.0))
    throw std::invalid_argument("estimate_shift: window_alpha " + std::to_string(o.window_alpha) + " not in [0, 1]");
  if (!(o.min_relative_confidence >= 0.0 && o.min_relative_confidence <= 1.0))
    throw std::invalid_argument("estimate_shift: min_relative_confidence " + std::to_string(o.min_relative_confidence) + " not in [0, 1]");
  if (!(o.min_texture_snr >= 0.0) || !std::isfinite(o.min_texture_snr))
    throw std::invalid_argument("estimate_shift: min_texture_snr " + std::to_string(o.min_texture_snr) + " must be ≥ 0");

  const auto rows = static_cast<std::size_t>(reference.rows()), cols = static_cast<std::size_t>(reference.cols());
  const std::size_t n = rows * cols;
  const auto wr = tukey(rows, o.window_alpha), wc = tukey(cols, o.window_alpha);
  thread_local Workspace ws;
  windowed_spectrum(reference, wr, wc, ws.fr);
  windowed_spectrum(moving, wr, wc, ws.fm);
  const std::vector<cd>& fr = ws.fr;
  const std::vector<cd>& fm = ws.fm;

  ShiftEstimate est;
  est.texture_snr = spectrum_texture_snr(fr, rows, cols);
  est.textured = est.texture_snr >= o.min_texture_snr;

  // Cross-power X = F_m·conj(F_r): its inverse DFT peaks at the shift (moving(x) = reference(x − s)
  // gives X = |F_r|² e^{−2πi k·s/N}).
  std::vector<cd>& X = ws.X;
  X.resize(n);
  double mean_abs = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    X[i] = fm[i] * std::conj(fr[i]);
    mean_abs += std::sqrt(std::norm(X[i]));
  }
  mean_abs /= static_cast<double>(n);
  CMatrix& R = ws.R;
  R.resize(static_cast<Eigen::Index>(rows), static_cast<Eigen::Index>(cols));
  const double floor_abs = o.regularisation * mean_abs + std::numeric_limits<double>::min();
  for (std::size_t i = 0; i < n; ++i) R.data()[i] = X[i] / (std::sqrt(std::norm(X[i])) + floor_abs);

  // Integer peak within the search window.
  std::vector<cd>& c = ws.c;
  c.assign(R.data(), R.data() + n);
  imaging::detail::fft2_cached(c.data(), rows, cols, true);
  const double half_r = static_cast<double>(rows) / 2.0 - 1.0, half_c = static_cast<double>(cols) / 2.0 - 1.0;
  const double lim_r = o.max_shift_px > 0.0 ? std::min(std::floor(o.max_shift_px), half_r) : half_r;
  const double lim_c = o.max_shift_px > 0.0 ? std::min(std::floor(o.max_shift_px), half_c) : half_c;
  double best = -std::numeric_limits<double>::infinity();
  Position peak{0.0, 0.0};
  for (std::size_t r = 0; r < rows; ++r) {
    const double sr = freq(r, rows);
    if (std::abs(sr) > lim_r) continue;
    for (std::size_t cc = 0; cc < cols; ++cc) {
      const double sc = freq(cc, cols);
      if (std::abs(sc) > lim_c) continue;
      if (const double v = c[r * cols + cc].real(); v > best) {
        best = v;
        peak = {sr, sc};
      }
    }
  }
  est.at_window_edge = std::abs(peak.row) >= lim_r || std::abs(peak.col) >= lim_c;

  // Sub-pixel refinement: the 1.5-px window of Guizar-Sicairos et al. at factor min(U, 10), then
  // ±1.5 steps of that grid at factor U (same grid points as a single pass at U, far fewer).
  Position s = peak;
  const double U = static_cast<double>(o.upsample_factor);
  if (o.upsample_factor > 1) {
    const double U1 = std::min(U, 10.0);
    s = refine(R, s, U1, 0.75);
    if (U > U1) s = refine(R, s, U, 1.5 / U1);
  }
  est.shift = s;
  if (o.max_shift_px > 0.0 && (std::abs(s.row) > o.max_shift_px || std::abs(s.col) > o.max_shift_px))
    est.at_window_edge = true;

  // Confidence and precision from the unweighted cross-power at the estimate: A_k = Re(X_k e^{+2πi k·s/N})
  // is |S_k|² in expectation (independent noise cancels).
  std::vector<cd> er(rows), ec(cols);
  for (std::size_t k = 0; k < rows; ++k) er[k] = std::polar(1.0, two_pi * freq(k, rows) * s.row / static_cast<double>(rows));
  for (std::size_t k = 0; k < cols; ++k) ec[k] = std::polar(1.0, two_pi * freq(k, cols) * s.col / static_cast<double>(cols));
  double pr = 0.0, pm = 0.0, aligned = 0.0, gr = 0.0, gc = 0.0;
  for (std::size_t r = 0; r < rows; ++r) {
    const double kr = two_pi * freq(r, rows) / static_cast<double>(rows);
    for (std::size_t cc = 0; cc < cols; ++cc) {
      const std::size_t i = r * cols + cc;
      const double a = (X[i] * er[r] * ec[cc]).real();
      const double kc = two_pi * freq(cc, cols) / static_cast<double>(cols);
      pr += std::norm(fr[i]);
      pm += std::norm(fm[i]);
      aligned += a;
      gr += kr * kr * a;
      gc += kc * kc * a;
    }
  }
  est.confidence = (pr > 0.0 && pm > 0.0) ? std::clamp(aligned / std::sqrt(pr * pm), 0.0, 1.0) : 0.0;
  // Parseval (unnormalised forward DFT): Σ_x |f|² = Σ_k |F|² / n.
  const double nd = static_cast<double>(n);
  const double noise_var = std::max(0.0, (pr + pm - 2.0 * aligned) / nd) / (2.0 * nd);
  const auto sigma = [&](double g) {
    g /= nd;
    return g > 0.0 ? std::sqrt(2.0 * noise_var / g) : std::numeric_limits<double>::infinity();
  };
  est.sigma_px = {sigma(gr), sigma(gc)};
  est.expected_confidence = std::isfinite(est.texture_snr) ? est.texture_snr / (1.0 + est.texture_snr) : 1.0;
  est.low_confidence = est.confidence < o.min_relative_confidence * est.expected_confidence;
  return est;
}

ImageArray fourier_shift(const ImageArray& image, Position shift) {
  if (image.size() == 0) throw std::invalid_argument("fourier_shift: empty image");
  if (!is_finite(shift)) throw std::invalid_argument("fourier_shift: shift is not finite");
  const auto rows = static_cast<std::size_t>(image.rows()), cols = static_cast<std::size_t>(image.cols());
  std::vector<cd> f(rows * cols);
  for (std::size_t i = 0; i < rows * cols; ++i) f[i] = image.data()[i];
  imaging::detail::fft2_cached(f.data(), rows, cols, false);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t c = 0; c < cols; ++c)
      f[r * cols + c] *= std::polar(1.0, -two_pi * (freq(r, rows) * shift.row / static_cast<double>(rows) +
                                                     freq(c, cols) * shift.col / static_cast<double>(cols)));
  imaging::detail::fft2_cached(f.data(), rows, cols, true);
  ImageArray out(image.rows(), image.cols());
  const double scale = 1.0 / static_cast<double>(rows * cols);
  for (std::size_t i = 0; i < rows * cols; ++i) out.data()[i] = f[i].real() * scale;
  return out;
}

ShiftEstimate locate_patch(const ImageArray& survey, std::size_t row0, std::size_t col0,
                           const ImageArray& patch, double max_shift_px, const ShiftOptions& options) {
  const auto h = static_cast<std::size_t>(patch.rows()), w = static_cast<std::size_t>(patch.cols());
  const auto R = static_cast<std::size_t>(survey.rows()), C = static_cast<std::size_t>(survey.cols());
  if (h < 8 || w < 8) throw std::invalid_argument("locate_patch: the patch is smaller than 8 px a side");
  if (row0 + h > R || col0 + w > C)
    throw std::invalid_argument("locate_patch: the reference window leaves the survey");
  if (!(max_shift_px >= 0.0) || !std::isfinite(max_shift_px))
    throw std::invalid_argument("locate_patch: max_shift_px must be finite and >= 0");
  if (!patch.allFinite()) throw std::invalid_argument("locate_patch: the patch has a non-finite value");
  const auto m = static_cast<long>(std::floor(max_shift_px));
  const double n = static_cast<double>(h * w);
  const double pm = patch.mean();
  const ImageArray pc = patch - pm;
  const double pss = pc.square().sum();
  // Integer stage: normalised cross-correlation over every window that stays inside the survey.
  double best = -2.0;
  long best_r = 0, best_c = 0;
  for (long dr = -m; dr <= m; ++dr) {
    const long r0 = static_cast<long>(row0) + dr;
    if (r0 < 0 || r0 + static_cast<long>(h) > static_cast<long>(R)) continue;
    for (long dc = -m; dc <= m; ++dc) {
      const long c0 = static_cast<long>(col0) + dc;
      if (c0 < 0 || c0 + static_cast<long>(w) > static_cast<long>(C)) continue;
      const auto win = survey.block(r0, c0, static_cast<Eigen::Index>(h), static_cast<Eigen::Index>(w));
      const double wm = win.sum() / n;
      const double wss = win.square().sum() - n * wm * wm;
      const double dot = (win * pc).sum();  // Σ (w − w̄)(p − p̄) = Σ w (p − p̄)
      const double ncc = (wss > 0.0 && pss > 0.0) ? dot / std::sqrt(wss * pss) : -1.0;
      if (ncc > best) {
        best = ncc;
        best_r = dr;
        best_c = dc;
      }
    }
  }
  // Sub-pixel stage on the integer-aligned pair (the residual is within ±1 px, so the pull of the
  // apodised correlation towards zero, proportional to the shift, stays small). Resampling the
  // survey at the shift found and measuring again removed that pull on smooth noise-free content
  // but added cubic-interpolation error on the SrTiO3 lattice (0.007 → 0.07 px), so one pass it is.
  const auto H = static_cast<Eigen::Index>(h), W = static_cast<Eigen::Index>(w);
  ShiftOptions sub = options;
  sub.max_shift_px = 2.0;
  const ImageArray aligned = survey.block(static_cast<Eigen::Index>(static_cast<long>(row0) + best_r),
                                          static_cast<Eigen::Index>(static_cast<long>(col0) + best_c), H, W);
  ShiftEstimate est = estimate_shift(aligned, patch, sub);
  est.shift = {est.shift.row - static_cast<double>(best_r), est.shift.col - static_cast<double>(best_c)};
  est.at_window_edge = m > 0 && (std::abs(best_r) == m || std::abs(best_c) == m);
  return est;
}

}  // namespace autostem
