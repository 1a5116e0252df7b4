#include <autostem/imaging/atoms.hpp>
#include <autostem/imaging/bragg.hpp>
#include <autostem/imaging/image_ops.hpp>

#include "fft.hpp"

#include <algorithm>
#include <cmath>
#include <complex>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

namespace autostem {

namespace {

using cplx = std::complex<double>;
using CArray = Eigen::Array<cplx, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// 2-D DFT of a row-major array with the imaging library's FFT (FFTW). Inverse includes 1/(R·C).
void fft2(CArray& a, bool inverse) {
  imaging::detail::fft2(a.data(), static_cast<std::size_t>(a.rows()),
                        static_cast<std::size_t>(a.cols()), inverse);
}

// Signed frequency index of DFT bin i of n: 0, 1, …, ⌈n/2⌉−1, −⌊n/2⌋, …, −1.
double signed_bin(Eigen::Index i, Eigen::Index n) { return static_cast<double>(2 * i < n ? i : i - n); }

}  // namespace

namespace {

void check_options(const ImageArray& image, const BraggFilterOptions& o) {
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
}

struct Spot {
  double kr, kc, power;  // signed frequency bins of the unpadded R × C grid
};

// The Bragg spots of F = DFT(image − mean) (R × C): 5×5 local maxima of the power spectrum
// (smoothed by σ = 1 bin) in the band min_frequency ≤ |g|·s ≤ max_frequency, strongest first,
// those above relative_power × the strongest, at most max_spots.
std::vector<Spot> find_spots(const CArray& F, double s, const BraggFilterOptions& o) {
  const Eigen::Index R = F.rows(), C = F.cols();
  const double dR = static_cast<double>(R), dC = static_cast<double>(C);
  // Power spectrum in centred layout (row u ↔ frequency bin u − R/2), smoothed by σ = 1 bin.
  ImageArray P(R, C);
  for (Eigen::Index r = 0; r < R; ++r)
    for (Eigen::Index c = 0; c < C; ++c) P((r + R / 2) % R, (c + C / 2) % C) = std::norm(F(r, c));
  const ImageArray Ps = gaussian_blur(P, 1.0);

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
  return kept;
}

// Normalised convolution (Knutsson & Westin 1993, CVPR): every window of the mask is the same
// Gaussian in frequency, i.e. a demodulation with one real-space Gaussian kernel w; near the
// border w covers zeros, which scales each local fringe amplitude by (w ∗ 1_image)(x) without
// changing its phase. Returns that low-pass of the indicator on the R × C image (≥ 1e-3), by
// which the filtered image is divided; all ones without padding.
ImageArray border_weight(Eigen::Index R, Eigen::Index C, Eigen::Index pad, const ImageArray& centre) {
  ImageArray weight = ImageArray::Ones(R, C);
  if (pad == 0) return weight;
  CArray M = CArray::Zero(centre.rows(), centre.cols());
  M.block(pad, pad, R, C).setConstant(cplx(1.0, 0.0));
  fft2(M, false);
  M *= centre.cast<cplx>();
  fft2(M, true);
  for (Eigen::Index r = 0; r < R; ++r)
    for (Eigen::Index c = 0; c < C; ++c) weight(r, c) = std::max(M(r + pad, c + pad).real(), 1e-3);
  return weight;
}

}  // namespace

ImageArray bragg_filter(const ImageArray& image, const BraggFilterOptions& o) {
  check_options(image, o);
  const double s = o.spacing_px > 0 ? o.spacing_px : estimate_atom_spacing_px(image);
  const Eigen::Index R = image.rows(), C = image.cols();
  const double dR = static_cast<double>(R), dC = static_cast<double>(C);
  const double mean = image.mean();

  CArray F(R, C);
  for (Eigen::Index r = 0; r < R; ++r)
    for (Eigen::Index c = 0; c < C; ++c) F(r, c) = cplx(image(r, c) - mean, 0.0);
  fft2(F, false);
  const std::vector<Spot> kept = find_spots(F, s, o);

  // The filter runs on a grid of RP × CP with the image (minus its mean) at offset (pad, pad) and
  // zeros around it (pad = 0: the image itself, periodic boundary). Spot frequencies found above
  // in bins of R × C are rescaled to bins of RP × CP.
  const Eigen::Index pad = o.edge == BraggEdge::normalized
                               ? static_cast<Eigen::Index>(std::ceil(4.0 * s / (2.0 * 3.14159265358979323846 * o.spot_sigma)))
                               : 0;
  const Eigen::Index RP = R + 2 * pad, CP = C + 2 * pad;
  const double dRP = static_cast<double>(RP), dCP = static_cast<double>(CP);
  if (pad > 0) {
    F = CArray::Zero(RP, CP);
    for (Eigen::Index r = 0; r < R; ++r)
      for (Eigen::Index c = 0; c < C; ++c) F(r + pad, c + pad) = cplx(image(r, c) - mean, 0.0);
    fft2(F, false);
  }

  // Window std in bins of the (padded) grid; each window is a Gaussian around its spot.
  const double sr = o.spot_sigma * dRP / s, sc = o.spot_sigma * dCP / s;
  const auto add_window = [&](ImageArray& m, double kr, double kc) {
    const auto r0 = static_cast<Eigen::Index>(std::floor(kr - 4 * sr)), r1 = static_cast<Eigen::Index>(std::ceil(kr + 4 * sr));
    const auto c0 = static_cast<Eigen::Index>(std::floor(kc - 4 * sc)), c1 = static_cast<Eigen::Index>(std::ceil(kc + 4 * sc));
    for (Eigen::Index ur = r0; ur <= r1; ++ur)
      for (Eigen::Index uc = c0; uc <= c1; ++uc) {
        const double a = (static_cast<double>(ur) - kr) / sr, b = (static_cast<double>(uc) - kc) / sc;
        m(((ur % RP) + RP) % RP, ((uc % CP) + CP) % CP) += std::exp(-0.5 * (a * a + b * b));
      }
  };
  ImageArray centre(RP, CP);
  for (Eigen::Index r = 0; r < RP; ++r)
    for (Eigen::Index c = 0; c < CP; ++c) {
      const double a = signed_bin(r, RP) / sr, b = signed_bin(c, CP) / sc;
      centre(r, c) = std::exp(-0.5 * (a * a + b * b));
    }
  const ImageArray weight = border_weight(R, C, pad, centre);

  // One mask: min(Σ spot windows, 1) + centre window.
  ImageArray spots = ImageArray::Zero(RP, CP);
  for (const auto& k : kept) add_window(spots, k.kr * dRP / dR, k.kc * dCP / dC);
  for (Eigen::Index r = 0; r < RP; ++r)
    for (Eigen::Index c = 0; c < CP; ++c) F(r, c) *= std::min(spots(r, c), 1.0) + centre(r, c);
  fft2(F, true);
  ImageArray out(R, C);
  for (Eigen::Index r = 0; r < R; ++r)
    for (Eigen::Index c = 0; c < C; ++c) out(r, c) = F(r + pad, c + pad).real() / weight(r, c) + mean;
  return out;
}

double lattice_snr(const ImageArray& image, double spacing_px) {
  const std::string who = "lattice_snr: ";
  if (image.size() == 0) throw std::invalid_argument(who + "the image is empty");
  if (image.rows() < 16 || image.cols() < 16)
    throw std::invalid_argument(who + "the image is " + std::to_string(image.rows()) + "×" +
                                std::to_string(image.cols()) + " px; each side must be ≥ 16 px");
  if (!image.isFinite().all()) throw std::invalid_argument(who + "the image holds NaN or ±inf");
  if (!(spacing_px > 1) || !std::isfinite(spacing_px)) throw std::invalid_argument(who + "spacing_px must be > 1");
  const Eigen::Index R = image.rows(), C = image.cols();
  const double dR = static_cast<double>(R), dC = static_cast<double>(C), n = dR * dC;
  const double mean = image.mean();
  CArray F(R, C);
  for (Eigen::Index r = 0; r < R; ++r)
    for (Eigen::Index c = 0; c < C; ++c) F(r, c) = cplx(image(r, c) - mean, 0.0);
  fft2(F, false);
  const double f_noise = std::max(2.5 / spacing_px, 0.25);
  std::vector<double> high;
  double band_sum = 0;
  std::size_t band_n = 0;
  for (Eigen::Index r = 0; r < R; ++r)
    for (Eigen::Index c = 0; c < C; ++c) {
      const double f = std::hypot(signed_bin(r, R) / dR, signed_bin(c, C) / dC);
      const double p = std::norm(F(r, c)) / n;
      if (f >= f_noise) high.push_back(p);
      const double g = f * spacing_px;
      if (g >= 0.35 && g <= 1.5) {
        band_sum += p;
        ++band_n;
      }
    }
  if (high.empty()) return 0.0;
  std::nth_element(high.begin(), high.begin() + static_cast<std::ptrdiff_t>(high.size() / 2), high.end());
  const double w = high[high.size() / 2] / std::log(2.0);
  if (!(w > 0)) return band_sum > 0 ? std::numeric_limits<double>::infinity() : 0.0;
  const double signal = (band_sum - static_cast<double>(band_n) * w) / n;
  return std::sqrt(std::max(signal, 0.0) / w);
}

}  // namespace autostem
