// estimate_shift on a 128×128 pair (issue 16 target: ≤ 2 ms on one core), and the same with the
// integer peak only (upsample_factor 1) to show the refinement's share; locate_patch, the drift
// reference's two-stage registration of a 64×64 re-scan in a 128×128 survey (±16 px search, the
// DriftCorrector default). Synthetic band-limited texture with Poisson-like noise; the figures
// are in docs/performance.md ("Drift correction").
#include <autostem/core/random.hpp>
#include <autostem/imaging/image_ops.hpp>
#include <autostem/imaging/registration.hpp>

#include <benchmark/benchmark.h>

#include <random>

namespace {

using namespace autostem;

std::pair<ImageArray, ImageArray> pair_128() {
  std::mt19937_64 g(1);
  ImageArray a(160, 160);
  for (Eigen::Index i = 0; i < a.size(); ++i) a.data()[i] = random::uniform53(g);
  const ImageArray smooth = 30.0 + 200.0 * (gaussian_blur(a, 2.0) - 0.5);
  const ImageArray moved = fourier_shift(smooth, {1.37, -2.61});
  random::Normal noise(0.0, 5.0);
  ImageArray r = smooth.block(16, 16, 128, 128), m = moved.block(16, 16, 128, 128);
  for (Eigen::Index i = 0; i < r.size(); ++i) {
    r.data()[i] += noise(g);
    m.data()[i] += noise(g);
  }
  return {r, m};
}

void BM_EstimateShift128(benchmark::State& state) {
  const auto [r, m] = pair_128();
  ShiftOptions o;
  o.upsample_factor = static_cast<int>(state.range(0));
  for (auto _ : state) benchmark::DoNotOptimize(estimate_shift(r, m, o));
}
BENCHMARK(BM_EstimateShift128)->Arg(100)->Arg(1)->Unit(benchmark::kMillisecond);

void BM_LocatePatch64(benchmark::State& state) {
  const auto [r, m] = pair_128();
  // The re-scan: the moved image's 64×64 patch at (32, 32); the survey: the reference image.
  const ImageArray patch = m.block(32, 32, 64, 64);
  const double max_shift = static_cast<double>(state.range(0));
  for (auto _ : state) benchmark::DoNotOptimize(locate_patch(r, 32, 32, patch, max_shift));
}
BENCHMARK(BM_LocatePatch64)->Arg(16)->Arg(4)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
