// Metrics on 256×256 maps: SSIM, NRMSE/PSNR, recall, simple regret, the nearest-neighbour
// inpainting, and scalarizing a spectrum image. Run: bench_metrics (Release build).
#include <autostem/imaging/metrics.hpp>
#include <autostem/imaging/image_ops.hpp>
#include <autostem/imaging/scalarizer.hpp>

#include <benchmark/benchmark.h>

#include <cmath>
#include <random>
#include <vector>

namespace {

using autostem::ImageArray;
using autostem::Position;

ImageArray smooth_map(int n, std::uint64_t seed) {
  std::mt19937_64 g(seed);
  ImageArray m(n, n);
  for (int r = 0; r < n; ++r)
    for (int c = 0; c < n; ++c)
      m(r, c) = std::sin(r / 9.0) * std::cos(c / 13.0) + 0.1 * double(g() >> 11) * 0x1.0p-53;
  return m;
}

std::vector<Position> random_positions(int n, std::size_t count, std::uint64_t seed) {
  std::mt19937_64 g(seed);
  std::vector<Position> ps(count);
  for (auto& p : ps) p = {double(g() % n), double(g() % n)};
  return ps;
}

void BM_Ssim256(benchmark::State& st) {
  const ImageArray a = smooth_map(256, 1), b = smooth_map(256, 2);
  for (auto _ : st) benchmark::DoNotOptimize(autostem::ssim(a, b));
}
BENCHMARK(BM_Ssim256)->Unit(benchmark::kMillisecond);

void BM_NrmsePsnr256(benchmark::State& st) {
  const ImageArray a = smooth_map(256, 1), b = smooth_map(256, 2);
  for (auto _ : st) {
    benchmark::DoNotOptimize(autostem::nrmse(a, b));
    benchmark::DoNotOptimize(autostem::psnr(a, b));
  }
}
BENCHMARK(BM_NrmsePsnr256)->Unit(benchmark::kMicrosecond);

// Recall curve of N positions against the top-1 % mask of a 256×256 map.
void BM_RecallCurve256(benchmark::State& st) {
  const ImageArray t = smooth_map(256, 1);
  const ImageArray mask = autostem::top_fraction_mask(t, 0.01);
  const auto ps = random_positions(256, static_cast<std::size_t>(st.range(0)), 3);
  for (auto _ : st) benchmark::DoNotOptimize(autostem::recall_curve(mask, ps));
  st.SetItemsProcessed(st.iterations() * st.range(0));
}
BENCHMARK(BM_RecallCurve256)->Arg(655)->Arg(6554)->Unit(benchmark::kMicrosecond);

void BM_RegretCurve256(benchmark::State& st) {
  const ImageArray t = smooth_map(256, 1);
  const auto ps = random_positions(256, 6554, 3);
  for (auto _ : st) benchmark::DoNotOptimize(autostem::simple_regret_curve(t, ps));
}
BENCHMARK(BM_RegretCurve256)->Unit(benchmark::kMicrosecond);

// Nearest-neighbour inpainting of a 256×256 map from 1 %, 5 % and 20 % samples.
void BM_InpaintNearest256(benchmark::State& st) {
  const ImageArray t = smooth_map(256, 1);
  const auto ps = random_positions(256, static_cast<std::size_t>(st.range(0)), 4);
  const auto vs = autostem::sample_bilinear(t, ps);
  for (auto _ : st) benchmark::DoNotOptimize(autostem::inpaint_nearest(ps, vs, 256, 256));
}
BENCHMARK(BM_InpaintNearest256)->Arg(655)->Arg(3277)->Arg(13107)->Unit(benchmark::kMillisecond);

void BM_TopFractionMask256(benchmark::State& st) {
  const ImageArray t = smooth_map(256, 1);
  for (auto _ : st) benchmark::DoNotOptimize(autostem::top_fraction_mask(t, 0.01));
}
BENCHMARK(BM_TopFractionMask256)->Unit(benchmark::kMicrosecond);

// Ground-truth map of the Cu-L2,3 preset over a 256×256×162 spectrum image on the CuZn axis.
void BM_ScalarizeEdge256(benchmark::State& st) {
  const autostem::EnergyAxis axis{700.0, 8.0, 162};
  autostem::SpectrumImage si(256, 256, axis);
  auto d = si.data();
  for (std::size_t i = 0; i < d.size(); ++i) {
    const double E = axis.energy_eV(double(i % 162));
    d[i] = float(1e4 * std::pow(900.0 / E, 3.0) + (E >= 931 ? 50.0 : 0.0));
  }
  const auto s = autostem::make_scalarizer("edge:931:60:850:920", axis);
  for (auto _ : st) benchmark::DoNotOptimize(autostem::scalarize(si, *s));
}
BENCHMARK(BM_ScalarizeEdge256)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
