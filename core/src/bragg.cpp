#include <autostem/core/atoms.hpp>
#include <autostem/core/bragg.hpp>
#include <autostem/core/image_ops.hpp>

#include <unsupported/Eigen/FFT>

#include <algorithm>
#include <cmath>
#include <complex>
#include <stdexcept>
#include <string>
#include <vector>

namespace autostem {

namespace {

using cplx = std::complex<double>;
using CArray = Eigen::Array<cplx, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// 2-D DFT by rows then columns with Eigen's FFT (kissfft: any length). Inverse includes 1/(R·C).
void fft2(CArray& a, bool inverse) {
  Eigen::FFT<double> fft;
  std::vector<cplx> in, out;
  for (Eigen::Index r = 0; r < a.rows(); ++r) {
    in.assign(a.row(r).data(), a.row(r).data() + a.cols());
    if (inverse) fft.inv(out, in); else fft.fwd(out, in);
    for (Eigen::Index c = 0; c < a.cols(); ++c) a(r, c) = out[static_cast<std::size_t>(c)];
  }
  in.resize(static_cast<std::size_t>(a.rows()));
  for (Eigen::Index c = 0; c < a.cols(); ++c) {
    for (Eigen::Index r = 0; r < a.rows(); ++r) in[static_cast<std::size_t>(r)] = a(r, c);
    if (inverse) fft.inv(out, in); else fft.fwd(out, in);
    for (Eigen::Index r = 0; r < a.rows(); ++r) a(r, c) = out[static_cast<std::size_t>(r)];
  }
}

// Signed frequency index of DFT bin i of n: 0, 1, …, ⌈n/2⌉−1, −⌊n/2⌋, …, −1.
double signed_bin(Eigen::Index i, Eigen::Index n) { return static_cast<double>(2 * i < n ? i : i - n); }

}  // namespace

ImageArray bragg_filter(const ImageArray& image, const BraggFilterOptions& o) {
  const std::string who = "bragg_filter: ";
  if (image.size() == 0) throw std::invalid_argument(who + "the image is empty");
  if (image.rows() < 16 || image.cols() < 16)
    throw std::invalid_argument(who + "the image is " + std::to_string(image.rows()) + "×" +
                                std::to_string(image.cols()) + " px; each side must be ≥ 16 px");
  if (!image.isFinite().all()) throw std::invalid_argument(who + "the image holds NaN or ±inf");
  if (!(o.spacing_px >= 0) || !std::isfinite(o.spacing_px))
    throw std::invalid_argument(who + "spacing_px must be ≥ 0 (0 = estimate)");
  if (!(o.min_frequency > 0) || !(o.max_frequency > o.min_frequency) || !std::isfinite(o.max_frequency))
    throw std::invalid_argument(who + "need 0 < min_frequency < max_frequency (units of 1/spacing)");
  if (!(o.relative_power > 0 && o.relative_power <= 1))
    throw std::invalid_argument(who + "relative_power must be in (0, 1]");
  if (!(o.spot_sigma > 0) || !std::isfinite(o.spot_sigma)) throw std::invalid_argument(who + "spot_sigma must be > 0");

  const double s = o.spacing_px > 0 ? o.spacing_px : estimate_atom_spacing_px(image);
  const Eigen::Index R = image.rows(), C = image.cols();
  const double dR = static_cast<double>(R), dC = static_cast<double>(C);
  const double mean = image.mean();

  CArray F(R, C);
  for (Eigen::Index r = 0; r < R; ++r)
    for (Eigen::Index c = 0; c < C; ++c) F(r, c) = cplx(image(r, c) - mean, 0.0);
  fft2(F, false);

  // Power spectrum in centred layout (row u ↔ frequency bin u − R/2), smoothed by σ = 1 bin.
  ImageArray P(R, C);
  for (Eigen::Index r = 0; r < R; ++r)
    for (Eigen::Index c = 0; c < C; ++c) P((r + R / 2) % R, (c + C / 2) % C) = std::norm(F(r, c));
  const ImageArray Ps = gaussian_blur(P, 1.0);

  // Candidates: 5×5 local maxima in the band min_frequency ≤ |g|·s ≤ max_frequency.
  struct Spot {
    double kr, kc, power;  // signed frequency bins
  };
  std::vector<Spot> cand;
  for (Eigen::Index u = 0; u < R; ++u)
    for (Eigen::Index v = 0; v < C; ++v) {
      const double kr = static_cast<double>(u - R / 2), kc = static_cast<double>(v - C / 2);
      const double g = std::hypot(kr / dR, kc / dC) * s;
      if (g < o.min_frequency || g > o.max_frequency) continue;
      const double p = Ps(u, v);
      if (!(p > 0)) continue;
      bool is_max = true;
      for (Eigen::Index du = -2; du <= 2 && is_max; ++du)
        for (Eigen::Index dv = -2; dv <= 2; ++dv) {
          const Eigen::Index uu = u + du, vv = v + dv;
          if ((du == 0 && dv == 0) || uu < 0 || vv < 0 || uu >= R || vv >= C) continue;
          if (Ps(uu, vv) > p) {
            is_max = false;
            break;
          }
        }
      if (is_max) cand.push_back({kr, kc, p});
    }
  std::stable_sort(cand.begin(), cand.end(), [](const Spot& a, const Spot& b) { return a.power > b.power; });
  std::vector<Spot> kept;
  for (const auto& sp : cand) {
    if (sp.power < o.relative_power * cand.front().power) break;
    if (o.max_spots > 0 && kept.size() >= o.max_spots) break;
    kept.push_back(sp);
  }

  // Mask in the DFT's natural layout: min(Σ spot windows, 1) + centre window.
  const double sr = o.spot_sigma * dR / s, sc = o.spot_sigma * dC / s;  // window std in bins
  ImageArray spots = ImageArray::Zero(R, C);
  for (const auto& sp : kept) {
    const auto r0 = static_cast<Eigen::Index>(std::floor(sp.kr - 4 * sr)), r1 = static_cast<Eigen::Index>(std::ceil(sp.kr + 4 * sr));
    const auto c0 = static_cast<Eigen::Index>(std::floor(sp.kc - 4 * sc)), c1 = static_cast<Eigen::Index>(std::ceil(sp.kc + 4 * sc));
    for (Eigen::Index kr = r0; kr <= r1; ++kr)
      for (Eigen::Index kc = c0; kc <= c1; ++kc) {
        const double a = (static_cast<double>(kr) - sp.kr) / sr, b = (static_cast<double>(kc) - sp.kc) / sc;
        spots(((kr % R) + R) % R, ((kc % C) + C) % C) += std::exp(-0.5 * (a * a + b * b));
      }
  }
  for (Eigen::Index r = 0; r < R; ++r)
    for (Eigen::Index c = 0; c < C; ++c) {
      const double a = signed_bin(r, R) / sr, b = signed_bin(c, C) / sc;
      F(r, c) *= std::min(spots(r, c), 1.0) + std::exp(-0.5 * (a * a + b * b));
    }
  fft2(F, true);
  ImageArray out(R, C);
  for (Eigen::Index r = 0; r < R; ++r)
    for (Eigen::Index c = 0; c < C; ++c) out(r, c) = F(r, c).real() + mean;
  return out;
}

}  // namespace autostem
