// Diffraction patterns: CoM, virtual detectors, pattern scalarizers, scan rotation by minimal
// curl, and the probe × transmission model (diffraction.hpp).
#include <autostem/imaging/diffraction.hpp>

#include "fft.hpp"
#include "spec_fields.hpp"

#include <Eigen/Core>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cmath>
#include <numbers>
#include <sstream>
#include <stdexcept>

namespace autostem {

namespace {

void check_pattern(std::span<const float> p, std::size_t ky, std::size_t kx) {
  if (ky == 0 || kx == 0 || p.size() != ky * kx)
    throw std::invalid_argument("diffraction pattern has " + std::to_string(p.size()) +
                                " values; expected ky × kx = " + std::to_string(ky) + " × " +
                                std::to_string(kx) + " (both > 0)");
}

void check_mask(const PatternMask& m) {
  if (!(m.r_in_px >= 0.0) || !(m.r_out_px > m.r_in_px))
    throw std::invalid_argument("pattern mask: radii " + std::to_string(m.r_in_px) + " … " +
                                std::to_string(m.r_out_px) +
                                " px; expected 0 ≤ R_IN < R_OUT");
}

// The mask's pixels, row by row, as at most two runs of columns per row: the columns of row r
// inside the outer circle minus those inside the inner circle, with the exact per-pixel rule
// r_in² ≤ dy² + dx² < r_out² (dy, dx from the centre). Calls f(row, dy, c0, c1) for each
// non-empty run [c0, c1). Runs let the sums below be vectorised (Eigen) instead of testing
// every pixel: CoM + a virtual detector over a streamed .mib is issue 19's ≥ 1 GB/s target.
template <class F>
void for_masked_runs(std::size_t ky, std::size_t kx, const PatternMask& m, double cy, double cx, F&& f) {
  const double ro2 = m.r_out_px * m.r_out_px, ri2 = m.r_in_px * m.r_in_px;
  const bool no_outer = std::isinf(m.r_out_px);
  const auto kxd = static_cast<double>(kx);
  // The run of columns with dy² + dx² < r2 (a circle's chord, contiguous): a sqrt estimate
  // widened by a column each side, then shrunk with the exact test, so that the pixels are
  // exactly the per-pixel rule's.
  const auto chord = [&](double dy, double r2) -> std::pair<std::size_t, std::size_t> {
    const double w2 = r2 - dy * dy;
    if (!(w2 > 0.0)) return {0, 0};
    const double w = std::sqrt(w2);
    const double lo_d = std::clamp(std::floor(cx - w) - 1.0, 0.0, kxd);
    const double hi_d = std::clamp(std::ceil(cx + w) + 2.0, 0.0, kxd);
    auto lo = static_cast<std::size_t>(lo_d), hi = static_cast<std::size_t>(hi_d);
    const auto inside = [&](std::size_t c) {
      const double dx = static_cast<double>(c) - cx;
      return dy * dy + dx * dx < r2;
    };
    while (lo < hi && !inside(lo)) ++lo;
    while (hi > lo && !inside(hi - 1)) --hi;
    return {lo, hi};
  };
  for (std::size_t r = 0; r < ky; ++r) {
    const double dy = static_cast<double>(r) - cy;
    auto [o0, o1] = no_outer ? std::pair<std::size_t, std::size_t>{0, kx} : chord(dy, ro2);
    if (o0 >= o1) continue;
    auto [i0, i1] = ri2 > 0.0 ? chord(dy, ri2) : std::pair<std::size_t, std::size_t>{0, 0};
    if (i0 >= i1) {
      f(r, dy, o0, o1);
      continue;
    }
    if (o0 < i0) f(r, dy, o0, std::min(i0, o1));
    if (i1 < o1) f(r, dy, std::max(i1, o0), o1);
  }
}

// Default centre: the optical axis of an fft-shifted pattern, pixel (⌊ky/2⌋, ⌊kx/2⌋)
// (diffraction.hpp; numpy.fft.fftshift's zero frequency and the 4D phantom's).
std::pair<double, double> mask_centre(std::size_t ky, std::size_t kx, const PatternMask& m) {
  return {std::isnan(m.centre_row) ? static_cast<double>(ky / 2) : m.centre_row,
          std::isnan(m.centre_col) ? static_cast<double>(kx / 2) : m.centre_col};
}

std::string num(double v) {
  std::ostringstream o;
  o << v;
  return o.str();
}

}  // namespace

CentreOfMass centre_of_mass(std::span<const float> pattern, std::size_t ky, std::size_t kx,
                            const PatternMask& mask) {
  check_pattern(pattern, ky, kx);
  check_mask(mask);
  const auto [cy, cx] = mask_centre(ky, kx, mask);
  // dx per column as float; a run's Σ I and Σ I·dx are float (exact for integer counts below
  // 2^24 per run), the rows' sums are accumulated in double.
  Eigen::VectorXf dxs(static_cast<Eigen::Index>(kx));
  for (std::size_t c = 0; c < kx; ++c) dxs[static_cast<Eigen::Index>(c)] = static_cast<float>(static_cast<double>(c) - cx);
  double t = 0, sx = 0, sy = 0;
  for_masked_runs(ky, kx, mask, cy, cx, [&](std::size_t r, double dy, std::size_t c0, std::size_t c1) {
    const auto n = static_cast<Eigen::Index>(c1 - c0);
    const Eigen::Map<const Eigen::VectorXf> v(pattern.data() + r * kx + c0, n);
    const double row = v.sum();
    t += row;
    sy += row * dy;
    sx += v.dot(dxs.segment(static_cast<Eigen::Index>(c0), n));
  });
  CentreOfMass c;
  c.total = t;
  if (t > 0) {
    c.x_px = sx / t;
    c.y_px = sy / t;
  }
  return c;
}

double virtual_detector(std::span<const float> pattern, std::size_t ky, std::size_t kx,
                        const PatternMask& mask) {
  check_pattern(pattern, ky, kx);
  check_mask(mask);
  const auto [cy, cx] = mask_centre(ky, kx, mask);
  double t = 0;
  for_masked_runs(ky, kx, mask, cy, cx, [&](std::size_t r, double, std::size_t c0, std::size_t c1) {
    t += Eigen::Map<const Eigen::VectorXf>(pattern.data() + r * kx + c0, static_cast<Eigen::Index>(c1 - c0)).sum();
  });
  return t;
}

PatternScalarizer::PatternScalarizer(Quantity q, PatternMask mask, std::string alias)
    : q_(q), mask_(mask), alias_(std::move(alias)) {
  check_mask(mask_);
  if (std::isnan(mask_.centre_row) != std::isnan(mask_.centre_col) ||
      std::isinf(mask_.centre_row) || std::isinf(mask_.centre_col))
    throw std::invalid_argument(alias_ + ": the mask centre needs both CY and CX, finite");
}

std::string PatternScalarizer::spec() const {
  std::string s = alias_;
  const bool has_centre = !std::isnan(mask_.centre_row);
  const bool has_mask = !(mask_.r_in_px == 0.0 && std::isinf(mask_.r_out_px));
  if (alias_ == "bf") s += ":" + num(mask_.r_out_px);
  else if (has_mask || q_ == Quantity::virtual_detector || has_centre)
    s += ":" + num(mask_.r_in_px) + ":" + num(mask_.r_out_px);
  if (has_centre) s += ":" + num(mask_.centre_row) + ":" + num(mask_.centre_col);
  return s;
}

std::string PatternScalarizer::units() const {
  switch (q_) {
    case Quantity::com_angle: return "rad";
    case Quantity::virtual_detector: return "counts";
    default: return "px";
  }
}

double PatternScalarizer::evaluate_pattern(std::span<const float> p, std::size_t ky, std::size_t kx) const {
  if (q_ == Quantity::virtual_detector) return virtual_detector(p, ky, kx, mask_);
  const CentreOfMass c = centre_of_mass(p, ky, kx, mask_);
  switch (q_) {
    case Quantity::com_x: return c.x_px;
    case Quantity::com_y: return c.y_px;
    case Quantity::com_mag: return std::hypot(c.x_px, c.y_px);
    default: return std::atan2(c.y_px, c.x_px);
  }
}

double PatternScalarizer::evaluate_unshaped(std::span<const float> s) const {
  const std::size_t side = detail::square_pattern_side(s.size(), spec());
  return evaluate_pattern(s, side, side);
}

double PatternScalarizer::evaluate_spectrum(std::span<const float> s) const { return evaluate_unshaped(s); }

const std::vector<ScalarizerForm>& pattern_scalarizer_forms() {
  static const std::vector<ScalarizerForm> forms = {
      {"com_x[:R_IN:R_OUT[:CY:CX]]",
       "diffraction pattern: centre-of-mass column offset from the centre (default the pattern "
       "centre), optionally only over the annulus R_IN ≤ r < R_OUT detector px about (CY, CX)",
       "px"},
      {"com_y[:R_IN:R_OUT[:CY:CX]]", "diffraction pattern: centre-of-mass row offset, as com_x", "px"},
      {"com_mag[:R_IN:R_OUT[:CY:CX]]", "diffraction pattern: |centre-of-mass offset| (DPC magnitude)", "px"},
      {"com_angle[:R_IN:R_OUT[:CY:CX]]", "diffraction pattern: atan2(com_y, com_x)", "rad"},
      {"vdet:R_IN:R_OUT[:CY:CX]",
       "diffraction pattern: virtual annular detector, counts with R_IN ≤ r < R_OUT detector px", "counts"},
      {"bf:R[:CY:CX]", "diffraction pattern: virtual bright field, counts with r < R px", "counts"},
      {"abf:R_IN:R_OUT[:CY:CX]", "diffraction pattern: virtual annular bright field (= vdet)", "counts"},
      {"adf:R_IN:R_OUT[:CY:CX]", "diffraction pattern: virtual annular dark field (= vdet)", "counts"},
  };
  return forms;
}

std::unique_ptr<Scalarizer> make_pattern_scalarizer(const std::string& spec) {
  const std::vector<std::string> f = detail::split_spec(spec);
  const std::string& name = f.front();
  using Q = PatternScalarizer::Quantity;
  Q q;
  if (name == "com_x") q = Q::com_x;
  else if (name == "com_y") q = Q::com_y;
  else if (name == "com_mag") q = Q::com_mag;
  else if (name == "com_angle") q = Q::com_angle;
  else if (name == "vdet" || name == "bf" || name == "abf" || name == "adf") q = Q::virtual_detector;
  else return nullptr;
  std::vector<double> v;
  for (std::size_t i = 1; i < f.size(); ++i) {
    v.push_back(detail::spec_number(spec, f[i], i));
  }
  PatternMask m;
  auto centre = [&](std::size_t at) {
    if (v.size() == at + 2) {
      m.centre_row = v[at];
      m.centre_col = v[at + 1];
    }
  };
  try {
    if (name == "bf") {
      if (v.size() != 1 && v.size() != 3)
        throw std::invalid_argument("bf takes bf:R[:CY:CX]; got " + std::to_string(v.size()) + " fields");
      m.r_out_px = v[0];
      centre(1);
    } else if (q == Q::virtual_detector) {
      if (v.size() != 2 && v.size() != 4)
        throw std::invalid_argument(name + " takes " + name + ":R_IN:R_OUT[:CY:CX]; got " +
                                    std::to_string(v.size()) + " fields");
      m.r_in_px = v[0];
      m.r_out_px = v[1];
      centre(2);
    } else {
      if (v.size() != 0 && v.size() != 2 && v.size() != 4)
        throw std::invalid_argument(name + " takes " + name + "[:R_IN:R_OUT[:CY:CX]]; got " +
                                    std::to_string(v.size()) + " fields");
      if (v.size() >= 2) {
        m.r_in_px = v[0];
        m.r_out_px = v[1];
      }
      centre(2);
    }
    return std::make_unique<PatternScalarizer>(q, m, name);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument("scalarizer '" + spec + "': " + e.what());
  }
}

ImageArray scalarize(const FourDStem& data, const Scalarizer& scalarizer) {
  ImageArray out(static_cast<Eigen::Index>(data.rows()), static_cast<Eigen::Index>(data.cols()));
  for (std::size_t r = 0; r < data.rows(); ++r)
    for (std::size_t c = 0; c < data.cols(); ++c)
      out(static_cast<Eigen::Index>(r), static_cast<Eigen::Index>(c)) =
          scalarizer.evaluate(data.pattern(r, c), data.ky(), data.kx());
  return out;
}

// ---------------------------------------------------------------------------------------------
double bright_field_disc_radius_px(const FourDStem& d) {
  const std::size_t n = d.ky() * d.kx();
  if (d.rows() * d.cols() == 0 || n == 0)
    throw std::invalid_argument("bright_field_disc_radius_px: an empty scan or pattern");
  std::vector<double> mean(n, 0.0);
  for (std::size_t r = 0; r < d.rows(); ++r)
    for (std::size_t c = 0; c < d.cols(); ++c) {
      const auto p = d.pattern(r, c);
      for (std::size_t i = 0; i < n; ++i) mean[i] += p[i];
    }
  const double peak = *std::max_element(mean.begin(), mean.end());
  if (!(peak > 0.0))
    throw std::invalid_argument("the mean pattern has no positive counts: no central disc to size");
  const auto count = std::count_if(mean.begin(), mean.end(), [&](double v) { return v >= 0.5 * peak; });
  return std::sqrt(static_cast<double>(count) / std::numbers::pi);
}

void apply_scan_rotation(const ScanRotation& rot, const ImageArray& com_x, const ImageArray& com_y,
                         ImageArray& out_x, ImageArray& out_y) {
  const double c = std::cos(rot.rotation_rad), s = std::sin(rot.rotation_rad);
  const ImageArray xt = rot.flip ? ImageArray(-com_x) : com_x;
  out_x = c * xt - s * com_y;
  out_y = s * xt + c * com_y;
}

namespace {

double rotated_curl_rms(const ImageArray& x, const ImageArray& y, double theta, bool flip) {
  ImageArray fx, fy;
  apply_scan_rotation({theta, flip, 0.0}, x, y, fx, fy);
  return autostem::curl_rms(fx, fy);
}

}  // namespace

ScanRotation find_scan_rotation(const ImageArray& com_x, const ImageArray& com_y) {
  if (com_x.rows() != com_y.rows() || com_x.cols() != com_y.cols() || com_x.rows() < 3 || com_x.cols() < 3)
    throw std::invalid_argument("find_scan_rotation: CoM maps of " + std::to_string(com_x.rows()) + "×" +
                                std::to_string(com_x.cols()) + " and " + std::to_string(com_y.rows()) +
                                "×" + std::to_string(com_y.cols()) + "; expected one shape ≥ 3×3");
  constexpr double pi = std::numbers::pi;
  ScanRotation best{0.0, false, std::numeric_limits<double>::infinity()};
  for (bool flip : {false, true})
    for (int deg = 0; deg < 180; ++deg) {
      const double th = deg * pi / 180.0;
      const double k = rotated_curl_rms(com_x, com_y, th, flip);
      if (k < best.curl_rms) best = {th, flip, k};
    }
  // Golden-section refinement within ±1° of the best grid angle.
  double a = best.rotation_rad - pi / 180.0, b = best.rotation_rad + pi / 180.0;
  const double g = (std::sqrt(5.0) - 1.0) / 2.0;
  double c = b - g * (b - a), d = a + g * (b - a);
  double fc = rotated_curl_rms(com_x, com_y, c, best.flip), fd = rotated_curl_rms(com_x, com_y, d, best.flip);
  while (b - a > 1e-4) {
    if (fc < fd) {
      b = d; d = c; fd = fc; c = b - g * (b - a); fc = rotated_curl_rms(com_x, com_y, c, best.flip);
    } else {
      a = c; c = d; fc = fd; d = a + g * (b - a); fd = rotated_curl_rms(com_x, com_y, d, best.flip);
    }
  }
  const double th = (a + b) / 2.0;
  const double k = rotated_curl_rms(com_x, com_y, th, best.flip);
  if (k <= best.curl_rms) best = {std::fmod(th + pi, pi), best.flip, k};
  return best;
}

double curl_rms(const ImageArray& x, const ImageArray& y) {
  if (x.rows() != y.rows() || x.cols() != y.cols())
    throw std::invalid_argument("curl_rms: components of " + std::to_string(x.rows()) + "×" + std::to_string(x.cols()) +
                                " and " + std::to_string(y.rows()) + "×" + std::to_string(y.cols()));
  double s = 0;
  std::size_t n = 0;
  for (Eigen::Index r = 1; r + 1 < x.rows(); ++r)
    for (Eigen::Index c = 1; c + 1 < x.cols(); ++c) {
      const double k = (y(r, c + 1) - y(r, c - 1)) / 2.0 - (x(r + 1, c) - x(r - 1, c)) / 2.0;
      s += k * k;
      ++n;
    }
  return n ? std::sqrt(s / static_cast<double>(n)) : std::numeric_limits<double>::quiet_NaN();
}

void rotate_to_scan_frame(const ScanRotation& r, double& x, double& y) {
  const double c = std::cos(r.rotation_rad), s = std::sin(r.rotation_rad);
  const double xt = r.flip ? -x : x;
  const double yt = y;
  x = c * xt - s * yt;
  y = s * xt + c * yt;
}

ScanRotation resolve_half_turn(const ScanRotation& r, const ImageArray& com_x, const ImageArray& com_y,
                               const ImageArray& atoms_bright) {
  const Eigen::Index R = com_x.rows(), C = com_x.cols();
  if (com_y.rows() != R || com_y.cols() != C || atoms_bright.rows() != R || atoms_bright.cols() != C || R < 3 ||
      C < 3)
    throw std::invalid_argument("resolve_half_turn: CoM maps of " + std::to_string(R) + "×" + std::to_string(C) +
                                " and " + std::to_string(com_y.rows()) + "×" + std::to_string(com_y.cols()) +
                                ", image " + std::to_string(atoms_bright.rows()) + "×" +
                                std::to_string(atoms_bright.cols()) + "; expected one shape ≥ 3×3");
  ImageArray fx, fy;
  apply_scan_rotation(r, com_x, com_y, fx, fy);
  // Pearson correlation of div(f) and the image over the interior pixels.
  double sd = 0, si = 0, sdd = 0, sii = 0, sdi = 0;
  double n = 0;
  for (Eigen::Index i = 1; i + 1 < R; ++i)
    for (Eigen::Index j = 1; j + 1 < C; ++j) {
      const double d = (fx(i, j + 1) - fx(i, j - 1)) / 2.0 + (fy(i + 1, j) - fy(i - 1, j)) / 2.0;
      const double a = atoms_bright(i, j);
      sd += d, si += a, sdd += d * d, sii += a * a, sdi += d * a, n += 1;
    }
  const double cov = sdi / n - (sd / n) * (si / n);
  const double var = (sdd / n - (sd / n) * (sd / n)) * (sii / n - (si / n) * (si / n));
  const double corr = cov / std::sqrt(var);
  if (!std::isfinite(corr) || corr <= 0) return r;
  ScanRotation out = r;
  out.rotation_rad = std::fmod(r.rotation_rad + std::numbers::pi, 2 * std::numbers::pi);
  return out;
}

ImageArray integrate_com(const ImageArray& com_x, const ImageArray& com_y) {
  const Eigen::Index R = com_x.rows(), C = com_x.cols();
  if (com_y.rows() != R || com_y.cols() != C || R == 0 || C == 0)
    throw std::invalid_argument("integrate_com: CoM maps of " + std::to_string(R) + "×" + std::to_string(C) +
                                " and " + std::to_string(com_y.rows()) + "×" + std::to_string(com_y.cols()) +
                                "; expected one non-empty shape");
  // Even extension: x is odd under the column mirror (a gradient's x component flips sign),
  // even under the row mirror; y the other way round.
  const std::size_t R2 = 2 * static_cast<std::size_t>(R), C2 = 2 * static_cast<std::size_t>(C);
  std::vector<std::complex<double>> fx(R2 * C2), fy(R2 * C2);
  for (std::size_t r = 0; r < R2; ++r)
    for (std::size_t c = 0; c < C2; ++c) {
      const bool mr = r >= static_cast<std::size_t>(R), mc = c >= static_cast<std::size_t>(C);
      const auto sr = static_cast<Eigen::Index>(mr ? R2 - 1 - r : r);
      const auto sc = static_cast<Eigen::Index>(mc ? C2 - 1 - c : c);
      fx[r * C2 + c] = (mc ? -1.0 : 1.0) * com_x(sr, sc);
      fy[r * C2 + c] = (mr ? -1.0 : 1.0) * com_y(sr, sc);
    }
  imaging::detail::fft2(fx.data(), R2, C2, false);
  imaging::detail::fft2(fy.data(), R2, C2, false);
  constexpr double pi = std::numbers::pi;
  const std::complex<double> I(0.0, 1.0);
  for (std::size_t r = 0; r < R2; ++r) {
    const double ky = (r < (R2 + 1) / 2 ? double(r) : double(r) - double(R2)) / double(R2);
    for (std::size_t c = 0; c < C2; ++c) {
      const double kx = (c < (C2 + 1) / 2 ? double(c) : double(c) - double(C2)) / double(C2);
      const double k2 = kx * kx + ky * ky;
      // ∂/∂x ↔ 2πi kx: F[f] = (kx F[x] + ky F[y]) / (2πi |k|²).
      fx[r * C2 + c] = k2 > 0 ? (kx * fx[r * C2 + c] + ky * fy[r * C2 + c]) / (2.0 * pi * I * k2)
                              : std::complex<double>(0.0, 0.0);
    }
  }
  imaging::detail::fft2(fx.data(), R2, C2, true);
  ImageArray out(R, C);
  for (Eigen::Index r = 0; r < R; ++r)
    for (Eigen::Index c = 0; c < C; ++c) out(r, c) = fx[static_cast<std::size_t>(r) * C2 + static_cast<std::size_t>(c)].real();
  out -= out.mean();
  return out;
}

ScanRotation parse_scan_rotation(const std::string& text) {
  const auto fields = detail::split_spec(text);
  const std::string usage =
      "scan rotation '" + text + "': expected DEG or DEG:flip (degrees, as autostem dpc prints it)";
  if (fields.size() > 2 || (fields.size() == 2 && fields[1] != "flip")) throw std::invalid_argument(usage);
  const char* b = fields[0].c_str();
  char* e = nullptr;
  const double deg = std::strtod(b, &e);
  if (fields[0].empty() || e == b || *e != '\0' || !std::isfinite(deg)) throw std::invalid_argument(usage);
  return {deg * std::numbers::pi / 180.0, fields.size() == 2, 0.0};
}

std::string format_scan_rotation(const ScanRotation& r) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.4f%s", r.rotation_rad * 180.0 / std::numbers::pi, r.flip ? ":flip" : "");
  return buf;
}

// ---------------------------------------------------------------------------------------------
double electron_wavelength_A(double voltage_kV) {
  if (!(voltage_kV > 0)) throw std::invalid_argument("electron_wavelength_A: voltage must be > 0 kV");
  const double V = voltage_kV * 1e3;
  return 12.2643 / std::sqrt(V * (1.0 + 0.978476e-6 * V));
}

std::vector<std::complex<double>> stem_probe(std::size_t n, double pixel_A, double voltage_kV,
                                             double alpha_mrad, double defocus_A,
                                             double shift_row_px, double shift_col_px,
                                             double taper_mrad) {
  if (n == 0 || !(pixel_A > 0) || !(alpha_mrad > 0) || !(taper_mrad >= 0) || !(taper_mrad < 2 * alpha_mrad))
    throw std::invalid_argument("stem_probe: needs n > 0, pixel size > 0 Å, α > 0 mrad and 0 ≤ taper < 2α");
  const double lambda = electron_wavelength_A(voltage_kV);
  // The aperture passes λ|k| ≤ α − taper/2 fully and tapers as ½(1 + cos(π(λ|k| − α + taper/2)
  // / taper)) out to α + taper/2 (half transmission at α).
  const double k_in = (alpha_mrad - taper_mrad / 2) * 1e-3 / lambda;
  const double kmax = (alpha_mrad + taper_mrad / 2) * 1e-3 / lambda;  // 1/Å
  const double dk = 1.0 / (static_cast<double>(n) * pixel_A);
  constexpr double pi = std::numbers::pi;
  std::vector<std::complex<double>> psi(n * n);
  const double r0 = static_cast<double>(n / 2) + shift_row_px, c0 = static_cast<double>(n / 2) + shift_col_px;
  for (std::size_t i = 0; i < n; ++i) {
    const double ky = (i < (n + 1) / 2 ? double(i) : double(i) - double(n)) * dk;
    for (std::size_t j = 0; j < n; ++j) {
      const double kx = (j < (n + 1) / 2 ? double(j) : double(j) - double(n)) * dk;
      const double k2 = kx * kx + ky * ky;
      if (k2 > kmax * kmax) continue;
      const double chi = pi * lambda * defocus_A * k2;
      // The shift to (r0, c0) px: exp(−2πi k·r0) in the forward convention.
      const double ph = -chi - 2.0 * pi * (ky * r0 + kx * c0) * pixel_A;
      double a = 1.0;
      if (taper_mrad > 0 && k2 > k_in * k_in)
        a = 0.5 * (1.0 + std::cos(pi * (std::sqrt(k2) - k_in) / (kmax - k_in)));
      psi[i * n + j] = std::polar(a, ph);
    }
  }
  imaging::detail::fft2(psi.data(), n, n, true);
  double norm = 0;
  for (const auto& v : psi) norm += std::norm(v);
  if (norm > 0)
    for (auto& v : psi) v /= std::sqrt(norm);
  return psi;
}

void diffraction_pattern_into(std::span<const std::complex<double>> probe,
                              std::span<const std::complex<double>> transmission, std::size_t n,
                              std::vector<std::complex<double>>& w, std::span<float> out) {
  if (n == 0 || probe.size() != n * n || transmission.size() != n * n || out.size() != n * n)
    throw std::invalid_argument("diffraction_pattern: probe has " + std::to_string(probe.size()) +
                                ", transmission " + std::to_string(transmission.size()) +
                                " and the output " + std::to_string(out.size()) +
                                " values; expected n² = " + std::to_string(n * n));
  w.resize(n * n);
  for (std::size_t i = 0; i < n * n; ++i) w[i] = probe[i] * transmission[i];
  imaging::detail::fft2_cached(w.data(), n, n, false);
  const double scale = 1.0 / static_cast<double>(n * n);  // Parseval: Σ|W|²/n² = Σ|w|²
  const std::size_t h = n / 2;
  for (std::size_t i = 0; i < n; ++i) {
    float* row = out.data() + ((i + h) % n) * n;
    const std::complex<double>* src = w.data() + i * n;
    for (std::size_t j = 0; j < n; ++j) row[(j + h) % n] = static_cast<float>(std::norm(src[j]) * scale);
  }
}

std::vector<float> diffraction_pattern(std::span<const std::complex<double>> probe,
                                       std::span<const std::complex<double>> transmission,
                                       std::size_t n) {
  std::vector<float> out(n * n);
  std::vector<std::complex<double>> w;
  diffraction_pattern_into(probe, transmission, n, w, out);
  return out;
}

}  // namespace autostem
