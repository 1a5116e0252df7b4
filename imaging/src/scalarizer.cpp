#include <autostem/imaging/scalarizer.hpp>
#include <autostem/imaging/diffraction.hpp>
#include <autostem/imaging/strain.hpp>

#include "spec_fields.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

namespace autostem {

namespace {

// Shortest text that reads back to the same double (for specs and messages).
std::string num(double v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

std::string axis_range(const EnergyAxis& a) {
  return num(a.energy_eV(0.0)) + "–" + num(a.energy_eV(static_cast<double>(a.channels) - 1.0)) +
         " eV (" + std::to_string(a.channels) + " channels of " + num(a.dispersion_eV) + " eV)";
}

void check_axis(const EnergyAxis& a, const std::string& what) {
  if (a.channels == 0 || !(a.dispersion_eV > 0.0) || !std::isfinite(a.dispersion_eV) ||
      !std::isfinite(a.offset_eV))
    throw std::invalid_argument(what + ": energy axis needs channels > 0 and a finite dispersion > 0 "
                                "eV/channel; got " + std::to_string(a.channels) +
                                " channels, dispersion " + num(a.dispersion_eV) + " eV");
}

}  // namespace

ChannelWindow channel_window(const EnergyAxis& axis, double lo_eV, double hi_eV,
                             const std::string& what) {
  check_axis(axis, what);
  // Appended piecewise: GCC 12's -Wrestrict misfires on "[" + std::string at -O3 (GCC PR 105329).
  std::string window = "[";
  window += num(lo_eV);
  window += ", ";
  window += num(hi_eV);
  window += "] eV";
  if (!std::isfinite(lo_eV) || !std::isfinite(hi_eV))
    throw std::invalid_argument(what + ": window " + window + " must be finite");
  if (!(hi_eV > lo_eV))
    throw std::invalid_argument(what + ": window " + window +
                                " is reversed or zero-width; expected LO < HI");
  constexpr double tol = 1e-9;  // channels
  const double c_lo = axis.channel_of(lo_eV);
  const double c_hi = axis.channel_of(hi_eV);
  const double last = static_cast<double>(axis.channels) - 1.0;
  if (c_lo < -tol || c_hi > last + tol)
    throw std::invalid_argument(what + ": window " + window + " lies outside the energy axis " +
                                axis_range(axis));
  const double first_ch = std::ceil(c_lo - tol);
  const double last_ch = std::floor(c_hi + tol);
  if (last_ch < first_ch)
    throw std::invalid_argument(what + ": window " + window +
                                " is empty: no channel centre lies inside (channels are " +
                                num(axis.dispersion_eV) + " eV apart, centres at " +
                                num(axis.offset_eV) + " + k × " + num(axis.dispersion_eV) + " eV)");
  return {static_cast<std::size_t>(first_ch), static_cast<std::size_t>(last_ch)};
}

// ---------------------------------------------------------------------------------------------
double Scalarizer::evaluate(std::span<const float> spectrum) const {
  const std::size_t n = expected_length();
  if (n == 0) return evaluate_unshaped(spectrum);
  if (spectrum.size() != n)
    throw std::invalid_argument(spec() + ": signal has " + std::to_string(spectrum.size()) +
                                " values; expected " + std::to_string(n));
  return evaluate_spectrum(spectrum);
}

double Scalarizer::evaluate(std::span<const float> pattern, std::size_t ky, std::size_t kx) const {
  if (ky == 0 || kx == 0 || pattern.size() != ky * kx)
    throw std::invalid_argument(spec() + ": pattern has " + std::to_string(pattern.size()) +
                                " values; expected ky × kx = " + std::to_string(ky) + " × " +
                                std::to_string(kx) + " (both > 0)");
  return evaluate_pattern(pattern, ky, kx);
}

double Scalarizer::evaluate_unshaped(std::span<const float>) const {
  throw std::invalid_argument(name() + ": needs a pattern shape; call evaluate(pattern, ky, kx) "
                              "or build it as '" + name() + ":KY:KX'");
}

double Scalarizer::evaluate_pattern(std::span<const float>, std::size_t, std::size_t) const {
  throw std::invalid_argument(spec() + ": " + name() + " scalarizes spectra, not diffraction "
                              "patterns (use com_shift)");
}

// ---------------------------------------------------------------------------------------------
WindowScalarizer::WindowScalarizer(const EnergyAxis& axis, double lo_eV, double hi_eV,
                                   const std::string& name)
    : axis_(axis), lo_eV_(lo_eV), hi_eV_(hi_eV),
      window_(channel_window(axis, lo_eV, hi_eV, name + ":" + num(lo_eV) + ":" + num(hi_eV))) {}

std::string WindowScalarizer::window_spec() const { return num(lo_eV_) + ":" + num(hi_eV_); }

double BandSum::evaluate_spectrum(std::span<const float> s) const {
  double sum = 0.0;
  for (std::size_t c = window_.first; c <= window_.last; ++c) sum += s[c];
  return sum;
}

double BandMean::evaluate_spectrum(std::span<const float> s) const {
  double sum = 0.0;
  for (std::size_t c = window_.first; c <= window_.last; ++c) sum += s[c];
  return sum / static_cast<double>(window_.size());
}

double BandMax::evaluate_spectrum(std::span<const float> s) const {
  double m = -std::numeric_limits<double>::infinity();
  for (std::size_t c = window_.first; c <= window_.last; ++c) m = std::max(m, double(s[c]));
  return m;
}

double PeakPosition::evaluate_spectrum(std::span<const float> s) const {
  std::size_t best = window_.first;
  for (std::size_t c = window_.first + 1; c <= window_.last; ++c)
    if (s[c] > s[best]) best = c;
  double shift = 0.0;
  if (best > window_.first && best < window_.last) {
    // Vertex of the parabola through (−1, y−), (0, y0), (1, y+).
    const double ym = s[best - 1], y0 = s[best], yp = s[best + 1];
    const double denom = ym - 2.0 * y0 + yp;
    if (denom < 0.0) shift = std::clamp(0.5 * (ym - yp) / denom, -0.5, 0.5);
  }
  return axis_.energy_eV(static_cast<double>(best) + shift);
}

// ---------------------------------------------------------------------------------------------
PeakRatio::PeakRatio(const EnergyAxis& axis, double lo1, double hi1, double lo2, double hi2)
    : num_(axis, lo1, hi1), den_(axis, lo2, hi2) {}

std::string PeakRatio::spec() const {
  const std::string a = num_.spec(), b = den_.spec();
  return "ratio:" + a.substr(a.find(':') + 1) + ":" + b.substr(b.find(':') + 1);
}

double PeakRatio::evaluate_spectrum(std::span<const float> s) const {
  return num_.evaluate(s) / den_.evaluate(s);
}

// ---------------------------------------------------------------------------------------------
EdgeIntensity::EdgeIntensity(const EnergyAxis& axis, double onset_eV, double width_eV)
    : EdgeIntensity(axis, onset_eV, width_eV, onset_eV - width_eV,
                    onset_eV - 0.5 * axis.dispersion_eV) {}

EdgeIntensity::EdgeIntensity(const EnergyAxis& axis, double onset_eV, double width_eV,
                             double pre_lo_eV, double pre_hi_eV)
    : axis_(axis), onset_eV_(onset_eV), width_eV_(width_eV), pre_lo_eV_(pre_lo_eV),
      pre_hi_eV_(pre_hi_eV) {
  const std::string what = "edge:" + num(onset_eV) + ":" + num(width_eV);
  if (!std::isfinite(onset_eV) || !(width_eV > 0.0) || !std::isfinite(width_eV))
    throw std::invalid_argument(what + ": expected a finite ONSET and WIDTH > 0 eV");
  signal_ = channel_window(axis, onset_eV, onset_eV + width_eV, what + " (edge window)");
  const std::string pre = what + " (pre-edge window [" + num(pre_lo_eV) + ", " + num(pre_hi_eV) +
                          "] eV)";
  if (!(pre_lo_eV > 0.0))
    throw std::invalid_argument(pre + ": the power-law background needs energies > 0 eV");
  if (!(pre_hi_eV < onset_eV))
    throw std::invalid_argument(pre + ": must end before the onset " + num(onset_eV) + " eV");
  pre_ = channel_window(axis, pre_lo_eV, pre_hi_eV, pre);
  if (pre_.size() < 2)
    throw std::invalid_argument(pre + ": holds " + std::to_string(pre_.size()) +
                                " channel; the power-law fit needs at least 2");
}

std::string EdgeIntensity::spec() const {
  return "edge:" + num(onset_eV_) + ":" + num(width_eV_) + ":" + num(pre_lo_eV_) + ":" +
         num(pre_hi_eV_);
}

EdgeIntensity::Background EdgeIntensity::fit_background(std::span<const float> s) const {
  // Ordinary least squares of y = ln I on x = ln E (Egerton §4.4.2, eq. 4.64 in log-log form).
  double sx = 0, sy = 0, sxx = 0, sxy = 0, n = 0, sum_all = 0;
  for (std::size_t c = pre_.first; c <= pre_.last; ++c) {
    sum_all += s[c];
    if (!(s[c] > 0.0f)) continue;
    const double x = std::log(axis_.energy_eV(static_cast<double>(c)));
    const double y = std::log(static_cast<double>(s[c]));
    sx += x; sy += y; sxx += x * x; sxy += x * y; n += 1;
  }
  const double det = n * sxx - sx * sx;
  if (n < 2 || !(det > 0.0)) return {sum_all / static_cast<double>(pre_.size()), 0.0};
  const double slope = (n * sxy - sx * sy) / det;
  const double intercept = (sy - slope * sx) / n;
  return {std::exp(intercept), -slope};
}

double EdgeIntensity::evaluate_spectrum(std::span<const float> s) const {
  const Background bg = fit_background(s);
  double sum = 0.0;
  for (std::size_t c = signal_.first; c <= signal_.last; ++c)
    sum += s[c] - bg.A * std::pow(axis_.energy_eV(static_cast<double>(c)), -bg.r);
  return sum;
}

// ---------------------------------------------------------------------------------------------
double com_shift(std::span<const float> p, std::size_t ky, std::size_t kx) {
  if (ky == 0 || kx == 0 || p.size() != ky * kx)
    throw std::invalid_argument("com_shift: pattern has " + std::to_string(p.size()) +
                                " values; expected ky × kx = " + std::to_string(ky) + " × " +
                                std::to_string(kx) + " (both > 0)");
  double total = 0, sr = 0, sc = 0;
  for (std::size_t r = 0; r < ky; ++r) {
    double row_sum = 0;
    for (std::size_t c = 0; c < kx; ++c) {
      const double v = p[r * kx + c];
      row_sum += v;
      sc += v * static_cast<double>(c);
    }
    total += row_sum;
    sr += row_sum * static_cast<double>(r);
  }
  if (!(total > 0.0)) return 0.0;
  // Relative to the optical axis of an fft-shifted pattern, (⌊ky/2⌋, ⌊kx/2⌋), as diffraction.hpp.
  const double dr = sr / total - static_cast<double>(ky / 2);
  const double dc = sc / total - static_cast<double>(kx / 2);
  return std::hypot(dr, dc);
}

ComShift::ComShift(std::size_t ky, std::size_t kx) : ky_(ky), kx_(kx) {
  if (ky == 0 || kx == 0)
    throw std::invalid_argument("com_shift:" + std::to_string(ky) + ":" + std::to_string(kx) +
                                ": pattern extents must be > 0");
}

std::string ComShift::spec() const {
  if (ky_ == 0) return "com_shift";
  return "com_shift:" + std::to_string(ky_) + ":" + std::to_string(kx_);
}

double ComShift::evaluate_spectrum(std::span<const float> s) const {
  return com_shift(s, ky_, kx_);
}

double ComShift::evaluate_pattern(std::span<const float> p, std::size_t ky, std::size_t kx) const {
  return com_shift(p, ky, kx);
}

// ---------------------------------------------------------------------------------------------
const std::vector<ScalarizerForm>& scalarizer_forms() {
  static const std::vector<ScalarizerForm> forms = {
      {"band_sum:LO:HI", "sum of the counts in the channels from LO to HI eV", "counts"},
      {"band_mean:LO:HI", "mean counts per channel from LO to HI eV", "counts"},
      {"band_max:LO:HI", "largest channel count from LO to HI eV", "counts"},
      {"edge:ONSET:WIDTH[:PRE_LO:PRE_HI]",
       "core-loss edge intensity: counts from ONSET to ONSET+WIDTH eV above a power-law background "
       "fitted from PRE_LO to PRE_HI eV (default: ONSET−WIDTH to just below ONSET), e.g. Cu-L2,3 "
       "edge:931:60:850:920",
       "counts"},
      {"ratio:LO1:HI1:LO2:HI2", "band_mean over LO1–HI1 eV divided by band_mean over LO2–HI2 eV",
       "dimensionless"},
      {"peak_position:LO:HI", "energy of the highest channel between LO and HI eV (sub-channel)", "eV"},
      {"com_shift[:KY:KX]",
       "centre-of-mass shift of a diffraction pattern of KY × KX detector pixels (4D-STEM)", "px"},
  };
  static const std::vector<ScalarizerForm> all = [] {
    auto v = forms;
    for (const auto& f : pattern_scalarizer_forms()) v.push_back(f);
    for (const auto& f : strain_scalarizer_forms()) v.push_back(f);
    return v;
  }();
  return all;
}

std::vector<std::string> scalarizer_syntax() {
  std::vector<std::string> out;
  for (const auto& f : scalarizer_forms()) out.push_back(f.syntax);
  return out;
}

namespace {

std::string syntax_list() {
  std::string out;
  for (const auto& s : scalarizer_syntax()) out += (out.empty() ? "" : ", ") + s;
  return out + " (energies in eV)";
}

std::size_t parse_extent(const std::string& spec, const std::string& field, std::size_t index) {
  std::size_t v = 0;
  auto r = std::from_chars(field.data(), field.data() + field.size(), v);
  if (field.empty() || r.ec != std::errc() || r.ptr != field.data() + field.size() || v == 0)
    throw std::invalid_argument("scalarizer '" + spec + "': field " + std::to_string(index) +
                                " is '" + field + "'; expected a positive integer");
  return v;
}

}  // namespace

std::unique_ptr<Scalarizer> make_scalarizer(const std::string& spec, const EnergyAxis& axis) {
  const auto fields = detail::split_spec(spec);
  const std::string& name = fields.front();
  const std::size_t nargs = fields.size() - 1;
  auto wrong_count = [&](const std::string& syntax) {
    return std::invalid_argument("scalarizer '" + spec + "': " + name + " takes " + syntax +
                                 "; got " + std::to_string(nargs) + " field" +
                                 (nargs == 1 ? "" : "s") + " after the name");
  };
  auto nums = [&]() {
    std::vector<double> v;
    for (std::size_t i = 1; i < fields.size(); ++i) v.push_back(detail::spec_number(spec, fields[i], i));
    return v;
  };
  // Window errors already name the window; prefix the spec so a command-line user sees both.
  auto build = [&](auto&& make) -> std::unique_ptr<Scalarizer> {
    try {
      return make();
    } catch (const std::invalid_argument& e) {
      std::string m = e.what();
      if (m.rfind(spec + ": ", 0) == 0) m.erase(0, spec.size() + 2);  // the spec is named once
      throw std::invalid_argument("scalarizer '" + spec + "': " + m);
    }
  };

  if (name == "band_sum" || name == "band_mean" || name == "band_max" ||
      name == "peak_position") {
    if (nargs != 2) throw wrong_count(name + ":LO:HI (2 energies)");
    const auto v = nums();
    return build([&]() -> std::unique_ptr<Scalarizer> {
      if (name == "band_sum") return std::make_unique<BandSum>(axis, v[0], v[1]);
      if (name == "band_mean") return std::make_unique<BandMean>(axis, v[0], v[1]);
      if (name == "band_max") return std::make_unique<BandMax>(axis, v[0], v[1]);
      return std::make_unique<PeakPosition>(axis, v[0], v[1]);
    });
  }
  if (name == "edge") {
    if (nargs != 2 && nargs != 4) throw wrong_count("edge:ONSET:WIDTH[:PRE_LO:PRE_HI] (2 or 4 energies)");
    const auto v = nums();
    return build([&]() -> std::unique_ptr<Scalarizer> {
      if (nargs == 2) return std::make_unique<EdgeIntensity>(axis, v[0], v[1]);
      return std::make_unique<EdgeIntensity>(axis, v[0], v[1], v[2], v[3]);
    });
  }
  if (name == "ratio") {
    if (nargs != 4) throw wrong_count("ratio:LO1:HI1:LO2:HI2 (4 energies)");
    const auto v = nums();
    return build([&] { return std::make_unique<PeakRatio>(axis, v[0], v[1], v[2], v[3]); });
  }
  if (name == "com_shift") {
    if (nargs == 0) return std::make_unique<ComShift>();
    if (nargs != 2) throw wrong_count("com_shift or com_shift:KY:KX (2 pattern extents)");
    return std::make_unique<ComShift>(parse_extent(spec, fields[1], 1),
                                      parse_extent(spec, fields[2], 2));
  }
  if (auto p = make_pattern_scalarizer(spec)) return p;
  if (auto p = make_strain_scalarizer(spec)) return p;
  throw std::invalid_argument("scalarizer '" + spec + "': unknown name '" + name +
                              "'; valid: " + syntax_list());
}

ImageArray scalarize(const SpectrumImage& si, const Scalarizer& scalarizer) {
  const EnergyAxis* a = scalarizer.energy_axis();
  const EnergyAxis& b = si.energy();
  if (a == nullptr) {
    if (scalarizer.expected_length() != si.channels())
      throw std::invalid_argument("scalarize: " + scalarizer.spec() + " expects signals of " +
                                  std::to_string(scalarizer.expected_length()) +
                                  " values; the spectrum image has " +
                                  std::to_string(si.channels()) + " channels");
  } else if (a->channels != b.channels ||
             std::abs(a->offset_eV - b.offset_eV) > 1e-9 * b.dispersion_eV ||
             std::abs(a->dispersion_eV - b.dispersion_eV) > 1e-12 * b.dispersion_eV) {
    throw std::invalid_argument("scalarize: " + scalarizer.spec() + " was built for the axis " +
                                axis_range(*a) + " but the spectrum image's axis is " +
                                axis_range(b));
  }
  ImageArray out(static_cast<Eigen::Index>(si.rows()), static_cast<Eigen::Index>(si.cols()));
  for (std::size_t r = 0; r < si.rows(); ++r)
    for (std::size_t c = 0; c < si.cols(); ++c)
      out(static_cast<Eigen::Index>(r), static_cast<Eigen::Index>(c)) =
          scalarizer.evaluate(si.spectrum(r, c));
  return out;
}

}  // namespace autostem
