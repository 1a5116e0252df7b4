// Low-rank spectrum-image reconstruction on the nanoparticles phantom (docs/compressed-sensing.md):
// 10 % random spectra with Poisson noise from the noise-free phantom SI (128×128×400), rebuilt by
// reconstruct_spectrum_image with k components and each spatial method, scored against the
// noise-free SI with mean_spectral_angle and per_channel_nrmse (median over channels); baseline:
// every pixel takes the nearest measured (noisy) spectrum.
// usage: cs_lowrank_check [K]

#include <autostem/core/random.hpp>
#include <autostem/imaging/metrics.hpp>
#include <autostem/imaging/reconstruction.hpp>
#include <autostem/datasets/phantoms.hpp>
#include <autostem/imaging/fista.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>

using namespace autostem;

namespace {

double median_finite(std::vector<double> v) {
  v.erase(std::remove_if(v.begin(), v.end(), [](double x) { return !std::isfinite(x); }), v.end());
  std::sort(v.begin(), v.end());
  return v.empty() ? NAN : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t k = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 6;
  const GroundTruth gt = datasets::make_phantom("nanoparticles", 0);
  const SpectrumImage& truth = *gt.spectrum_image;
  const std::size_t R = truth.rows(), C = truth.cols(), E = truth.channels();
  std::mt19937_64 rng(0);
  auto u = [](std::mt19937_64& g) { return random::canonical(g); };
  auto poisson = [&rng](double mean) { return random::poisson([&rng] { return random::canonical(rng); }, mean); };
  std::vector<Position> pos;
  std::vector<std::vector<float>> spectra;
  for (std::size_t r = 0; r < R; ++r)
    for (std::size_t c = 0; c < C; ++c) {
      if (u(rng) >= 0.1) continue;
      const auto s = truth.spectrum(r, c);
      std::vector<float> v(E);
      for (std::size_t e = 0; e < E; ++e) v[e] = float(poisson(s[e]));
      pos.push_back({double(r), double(c)});
      spectra.push_back(std::move(v));
    }
  std::printf("nanoparticles phantom SI %zu×%zu×%zu, %zu spectra (10 %%), Poisson noise\n", R, C, E,
              spectra.size());
  std::printf("| method | components | mean spectral angle (mrad) | median per-channel NRMSE | time (s) |\n|---|---|---|---|---|\n");
  // Baseline: nearest measured spectrum everywhere (no low-rank denoising).
  {
    std::vector<double> idx(pos.size());
    for (std::size_t i = 0; i < idx.size(); ++i) idx[i] = double(i);
    const ImageArray which = inpaint_nearest(pos, idx, R, C);
    SpectrumImage si(R, C, truth.energy());
    for (std::size_t r = 0; r < R; ++r)
      for (std::size_t c = 0; c < C; ++c) {
        const auto& s = spectra[std::size_t(which(r, c))];
        std::copy(s.begin(), s.end(), si.spectrum(r, c).begin());
      }
    std::printf("| nearest spectrum (no PCA) | – | %.2f | %.4f | – |\n",
                1e3 * mean_spectral_angle(truth, si), median_finite(per_channel_nrmse(truth, si)));
  }
  for (const char* m : {"nearest", "linear", "biharmonic", "tv", "fista"}) {
    LowRankOptions o;
    o.components = k;
    o.spatial.method = m;
    const auto t0 = std::chrono::steady_clock::now();
    const SpectrumImage si = reconstruct_spectrum_image(pos, spectra, R, C, truth.energy(), o);
    const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("| low rank, %s score maps | %zu | %.2f | %.4f | %.2f |\n", m, k,
                1e3 * mean_spectral_angle(truth, si), median_finite(per_channel_nrmse(truth, si)), t);
  }
  return 0;
}
