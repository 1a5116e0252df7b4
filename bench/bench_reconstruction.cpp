// Reconstruction from sparse samples: TV and FISTA on a 512×512 image at 10 % random sampling
// (target ≤ 1 s each on 2 cores), the low-rank path on a 128×128×1024 spectrum image (target
// ≤ 10 s), and the direct methods for comparison. Figures and machine: docs/performance.md.
//
//   build-*/bench/bench_reconstruction --benchmark_filter=. --benchmark_repetitions=3

#include <autostem/core/random.hpp>
#include <autostem/imaging/reconstruction.hpp>
#include <autostem/imaging/fista.hpp>

#include <benchmark/benchmark.h>

#include <cmath>
#include <random>

namespace {

using namespace autostem;

/// A lattice-like image: two sets of Gaussian-ish columns from products of cosines, plus
/// Poisson noise in the samples (expected counts 100–1100).
ImageArray lattice(Eigen::Index n) {
  ImageArray img(n, n);
  for (Eigen::Index r = 0; r < n; ++r)
    for (Eigen::Index c = 0; c < n; ++c) {
      const double a = std::cos(2 * M_PI * r / 12.3) * std::cos(2 * M_PI * c / 12.3);
      img(r, c) = 600 + 500 * a * std::abs(a);
    }
  return img;
}

struct Samples {
  std::vector<Position> pos;
  std::vector<double> val;
};

Samples sample(const ImageArray& img, double fraction, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto u = [](std::mt19937_64& g) { return random::canonical(g); };
  Samples s;
  for (Eigen::Index r = 0; r < img.rows(); ++r)
    for (Eigen::Index c = 0; c < img.cols(); ++c)
      if (u(rng) < fraction) {
        s.pos.push_back({double(r), double(c)});
        s.val.push_back(random::poisson([&rng] { return random::canonical(rng); }, img(r, c)));
      }
  return s;
}

void run_method(benchmark::State& state, const char* method) {
  const auto n = static_cast<Eigen::Index>(state.range(0));
  const Samples s = sample(lattice(n), 0.1, 1);
  ReconstructionOptions o;
  o.method = method;
  ReconstructionReport rep;
  // One call outside the timing: fista's FFTW plans are made once per shape and process
  // (FFTW_MEASURE, ~1 s at 512²); steady state is what a strategy or a batch of maps sees.
  reconstruct(s.pos, s.val, std::size_t(n), std::size_t(n), o, &rep);
  for (auto _ : state) {
    ImageArray out = reconstruct(s.pos, s.val, std::size_t(n), std::size_t(n), o, &rep);
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["iterations"] = double(rep.iterations);
  state.counters["samples"] = double(s.pos.size());
}

void BM_Tv(benchmark::State& state) { run_method(state, "tv"); }
void BM_Fista(benchmark::State& state) { run_method(state, "fista"); }
void BM_Linear(benchmark::State& state) { run_method(state, "linear"); }
void BM_Nearest(benchmark::State& state) { run_method(state, "nearest"); }
void BM_Biharmonic(benchmark::State& state) { run_method(state, "biharmonic"); }

BENCHMARK(BM_Tv)->Arg(512)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Fista)->Arg(512)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Linear)->Arg(512)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Nearest)->Arg(512)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Biharmonic)->Arg(256)->Unit(benchmark::kMillisecond);

/// Low-rank SI: 128×128×1024, three spectral components with smooth spatial weights plus
/// Poisson noise, 10 % of the spectra measured; 8 components, score maps by state.range(0):
/// 0 = biharmonic, 1 = tv, 2 = fista, 3 = linear.
void BM_LowRank(benchmark::State& state) {
  const std::size_t R = 128, C = 128, E = 1024;
  const char* methods[] = {"biharmonic", "tv", "fista", "linear"};
  std::mt19937_64 rng(2);
  auto u = [](std::mt19937_64& g) { return random::canonical(g); };
  std::vector<Position> pos;
  std::vector<std::vector<float>> spectra;
  for (std::size_t r = 0; r < R; ++r)
    for (std::size_t c = 0; c < C; ++c) {
      if (u(rng) >= 0.1) continue;
      const double w1 = 0.5 + 0.5 * std::sin(r / 9.0), w2 = 0.5 + 0.5 * std::cos(c / 7.0),
                   w3 = double(r + c) / (R + C);
      std::vector<float> s(E);
      for (std::size_t e = 0; e < E; ++e) {
        const double x = double(e);
        const double mean = 50 + 400 * w1 * std::exp(-0.5 * std::pow((x - 200) / 30, 2)) +
                            300 * w2 * std::exp(-0.5 * std::pow((x - 500) / 60, 2)) +
                            200 * w3 * std::exp(-x / 300);
        s[e] = float(random::poisson([&rng] { return random::canonical(rng); }, mean));
      }
      pos.push_back({double(r), double(c)});
      spectra.push_back(std::move(s));
    }
  LowRankOptions o;
  o.components = 8;
  o.spatial.method = methods[state.range(0)];
  for (auto _ : state) {
    SpectrumImage si = reconstruct_spectrum_image(pos, spectra, R, C, EnergyAxis{0, 1, E}, o);
    benchmark::DoNotOptimize(si.data().data());
  }
  state.SetLabel(std::string("score maps: ") + methods[state.range(0)]);
  state.counters["spectra"] = double(spectra.size());
}
BENCHMARK(BM_LowRank)->DenseRange(0, 3)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
